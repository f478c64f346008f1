//! What the plan checks before any provider is called, beyond references: templates (syntax,
//! the variables they read), the local sources tasks send, keys a multi does not declare; and
//! the warnings for what is allowed but probably not meant.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hoist::*;

use crate::{assert_in_user_code, diag_of, errors_of, plan_of};

/// Local files from a map (what the orchestrator reads from its local directory).
struct Files(BTreeMap<PathBuf, String>);

impl Files {
    fn new(files: &[(&str, &str)]) -> Self {
        Files(
            files
                .iter()
                .map(|(p, t)| (PathBuf::from(p), t.to_string()))
                .collect(),
        )
    }
}

impl LocalFiles for Files {
    fn read_text(&self, path: &Path) -> Result<String, String> {
        self.0
            .get(path)
            .cloned()
            .ok_or_else(|| "No such file or directory (os error 2)".into())
    }
    fn exists(&self, path: &Path) -> bool {
        self.0.contains_key(path)
    }
}

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    db: Server,
    app: Multi<Server>,
}

fn infra() -> Infra {
    let i = Infra::refs();
    Infra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(i.net.clone(), "10.0.1.0/24"),
        db: Server::new("debian-12", "small", i.subnet.clone()),
        app: Multi::new(Server::new("debian-12", "small", i.subnet.clone())),
    }
}

#[derive(Model)]
struct Ns {
    vars: Vars,
    app: Multi<Role>,
}

fn ns() -> Ns {
    Ns {
        vars: Vars::new()
            .set("PORT", "8080")
            .set("DB_HOST", Infra::refs().db.out().private_ip),
        app: Multi::new(Role::on(Infra::refs().app.mine())).keys(0..3),
    }
}

#[derive(Model)]
struct Cfg {
    conf: MultiTask<Task>,
}

/// Plans the web system with `task` on every app role and `files` on the controller.
fn input_with<'a>(infra: &'a Infra, ns: &'a Ns, cfg: &'a Cfg, files: &'a Files) -> PlanInput<'a> {
    PlanInput::new("t")
        .infra("web", infra)
        .namespace("ns", ns)
        .config("cfg", cfg)
        .files(files)
}

fn cfg(task: impl Fn(Ref<Role>) -> Task + Send + Sync + 'static) -> Cfg {
    Cfg {
        conf: MultiTask::new(task, Ns::refs().app.all()),
    }
}

/// The errors of a plan of one task per app role, as text (one line per error, locations
/// without line numbers).
fn errors(task: impl Fn(Ref<Role>) -> Task + Send + Sync + 'static, files: &Files) -> String {
    let (infra, ns, cfg) = (infra(), ns(), cfg(task));
    let e = errors_of(input_with(&infra, &ns, &cfg, files));
    let re = regex::Regex::new(r":\d+\)").unwrap();
    re.replace_all(&e.to_string(), ":<line>)").into_owned()
}

#[test]
fn a_template_that_does_not_parse_is_an_error_before_any_provider_call() {
    let e = errors(
        |r| Task::template_text("port = {{ PORT ", "app.conf").role(r),
        &Files::new(&[]),
    );
    insta::assert_snapshot!("template_syntax", e);
}

#[test]
fn a_template_reading_a_variable_no_role_has_is_an_error() {
    let e = errors(
        |r| Task::template_text("port = {{ PORT }}\nhost = {{ DB_HOTS }}\n", "app.conf").role(r),
        &Files::new(&[]),
    );
    insta::assert_snapshot!("template_unknown_variable", e);
}

#[test]
fn values_known_only_after_provisioning_are_fine_in_templates() {
    let (infra, ns) = (infra(), ns());
    let files = Files::new(&[("templates/app.conf.j2", "db = {{ DB_HOST }}:{{ PORT }}\n")]);
    let cfg = cfg(|r| Task::template("templates/app.conf.j2", "app.conf").role(r));
    let p = plan_of(input_with(&infra, &ns, &cfg, &files));
    assert_eq!(p.tasks.len(), 3);
}

#[test]
fn template_copy_and_script_sources_must_exist() {
    let e = errors(
        |r| Task::template("templates/missing.j2", "app.conf").role(r),
        &Files::new(&[]),
    );
    insta::assert_snapshot!("template_source_missing", e);
    let e = errors(
        |r| Task::copy("files/nope.tar", "/srv/app.tar").role(r),
        &Files::new(&[]),
    );
    assert!(
        e.contains("copy source `files/nope.tar` does not exist"),
        "{e}"
    );
    let e = errors(|r| Task::script("setup.sh").role(r), &Files::new(&[]));
    assert!(e.contains("script `setup.sh` does not exist"), "{e}");
    // A source file's own text is checked like an inline template.
    let e = errors(
        |r| Task::template("t.j2", "app.conf").role(r),
        &Files::new(&[("t.j2", "{% if PORT %}open\n")]),
    );
    assert!(e.contains("the template does not parse"), "{e}");
}

#[test]
fn a_reference_to_a_key_the_namespace_does_not_declare_is_an_error() {
    #[derive(Model)]
    struct One {
        extra: Task,
    }
    let (infra, ns) = (infra(), ns());
    let one = One {
        extra: Task::shell("echo hi").role(Ns::refs().app.at(7)),
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &one),
    );
    let re = regex::Regex::new(r":\d+\)").unwrap();
    insta::assert_snapshot!("undeclared_key", re.replace_all(&e.to_string(), ":<line>)"));
}

#[test]
fn warnings_for_what_is_allowed_but_probably_not_meant() {
    #[derive(Model)]
    struct Ns2 {
        vars: Vars,
        more: Vars,
        app: Multi<Role>,
    }
    #[derive(Model)]
    struct Cfg2 {
        typo: MultiTask<Task>,
    }
    let infra = infra();
    let ns = Ns2 {
        vars: Vars::new().set("PORT", "8080").set("PORT", "8081"),
        more: Vars::new().set("USER", "app"),
        app: Multi::new(Role::on(Infra::refs().app.mine()).var("USER", "web")).keys(0..2),
    };
    let cfg = Cfg2 {
        typo: MultiTask::new(
            |r| Task::shell("echo !{PORT}").role(r),
            Ns2::refs().app.matching("^aap"),
        ),
    };
    let ns_vars_twice = Ns2 {
        vars: Vars::new().set("PORT", "8080"),
        more: Vars::new().set("PORT", "9090"),
        app: Multi::new(Role::on(Infra::refs().app.mine())).keys(0..1),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg)
            .override_var("PROT", "9999"),
    );
    assert!(p.tasks.is_empty());
    assert_in_user_code(&p.warnings);
    let p2 = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns_vars_twice),
    );
    assert_in_user_code(&p2.warnings);
    let re = regex::Regex::new(r":\d+").unwrap();
    let text: Vec<String> = p
        .warnings
        .iter()
        .chain(&p2.warnings)
        .map(|w| re.replace_all(&w.to_string(), ":<line>").into_owned())
        .collect();
    insta::assert_snapshot!("warnings", text.join("\n"));
}

/// A provider that knows the sizes `small` and `large` only.
struct Sizes;

impl ProviderCatalog for Sizes {
    fn assign(&self, _kind: &str, _cloud: Option<&str>) -> Result<String, String> {
        Ok("sim".into())
    }
    fn check(&self, _provider: &str, kind: &str, spec: &serde_json::Value) -> Vec<String> {
        match spec.get("size").and_then(|s| s.as_str()) {
            Some(s) if kind == "core.server" && s != "small" && s != "large" => {
                vec![format!("size: unknown size {s:?}")]
            }
            _ => Vec::new(),
        }
    }
}

#[derive(Model)]
struct SizedInfra {
    net: Network,
    subnet: Subnet,
    app: Multi<Server>,
    db: Server,
}

#[derive(Model)]
struct SizedNs {
    vars: Vars,
    app: Multi<Role>,
}

fn sized_infra() -> SizedInfra {
    let i = SizedInfra::refs();
    SizedInfra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(i.net.clone(), "!{SUBNET}"),
        app: Multi::new(Server::new("debian-12", "!{APP_SIZE}", i.subnet.clone())),
        db: Server::new("debian-12", "!{DB_SIZE}", i.subnet.clone()),
    }
}

fn sized_ns(vars: Vars) -> SizedNs {
    SizedNs {
        vars,
        app: Multi::from_fn(|k| {
            let size = if k.as_str() == "0" { "large" } else { "small" };
            Role::on(SizedInfra::refs().app.mine()).var("APP_SIZE", size)
        })
        .keys(0..2),
    }
}

fn sized(vars: Vars, overrides: &[(&str, &str)]) -> Result<Plan, PlanError> {
    let (infra, ns) = (sized_infra(), sized_ns(vars));
    let mut input = PlanInput::new("t")
        .infra("web", &infra)
        .namespace("ns", &ns)
        .catalog(&Sizes);
    for (k, v) in overrides {
        input = input.override_var(k, *v);
    }
    plan(&input)
}

#[test]
fn resource_arguments_take_values_from_the_namespace() {
    let globals = || {
        Vars::new()
            .set("SUBNET", "10.0.7.0/24")
            .set("DB_SIZE", "large")
    };
    let p = sized(globals(), &[]).unwrap_or_else(|e| panic!("{e}"));
    let spec = |k: &str| p.resource_by_key(k).unwrap().spec.clone();
    // from the role on the server
    assert_eq!(spec("web/app[0]")["size"], "large");
    assert_eq!(spec("web/app[1]")["size"], "small");
    // from the namespace's top level, for resources no role runs on
    assert_eq!(spec("web/db")["size"], "large");
    assert_eq!(spec("web/subnet")["cidr"], "10.0.7.0/24");
    // overrides follow through
    let p = sized(globals(), &[("APP_SIZE", "small"), ("DB_SIZE", "small")]).unwrap();
    assert_eq!(
        p.resource_by_key("web/app[0]").unwrap().spec["size"],
        "small"
    );
    assert_eq!(p.resource_by_key("web/db").unwrap().spec["size"], "small");
    // and the checks see the final values
    let e = sized(globals(), &[("DB_SIZE", "huge")]).unwrap_err();
    assert!(e.to_string().contains("unknown size \"huge\""), "{e}");
    let e = sized(globals().set("SUBNET", "10.1.0.0/24"), &[]).unwrap_err();
    assert!(
        e.to_string()
            .contains("is not inside the network's 10.0.0.0/16"),
        "{e}"
    );
    let e = sized(globals().set("SUBNET", "10.0.7.1/24"), &[]).unwrap_err();
    assert!(e.to_string().contains("host bits set"), "{e}");
}

#[test]
fn resource_arguments_from_variables_report_what_is_wrong() {
    let e = sized(Vars::new().set("SUBNET", "10.0.7.0/24"), &[]).unwrap_err();
    assert_in_user_code(&e.diagnostics);
    let d = e
        .diagnostics
        .iter()
        .find(|d| d.path.to_string() == "db")
        .unwrap();
    assert_eq!(d.kind, DiagKind::MissingVariable);
    assert!(
        d.message
            .starts_with("size: \"!{DB_SIZE}\": no variable `DB_SIZE`"),
        "{d}"
    );
    // A value known only after provisioning cannot be an argument.
    let later = Vars::new()
        .set("SUBNET", "10.0.7.0/24")
        .set("DB_SIZE", SizedInfra::refs().app.at(0).out().private_ip);
    let e = sized(later, &[]).unwrap_err();
    assert!(
        e.to_string().contains("known only after provisioning"),
        "{e}"
    );
}

#[test]
fn partial_expansion_leaves_unknown_names_in_place() {
    let (infra, ns) = (infra(), ns());
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    let r = p.role_by_path("ns", "app[0]").unwrap().id;
    assert_eq!(
        p.expand_partial(
            r,
            "port !{PORT}, !{NOPE}, !!{LIT}, db !{DB_HOST}",
            &plan::NoOutputs
        ),
        "port 8080, !{NOPE}, !{LIT}, db <known after provisioning: web/db:private_ip>"
    );
    assert!(p.expand(r, "!{NOPE}", &plan::NoOutputs).is_err());
}

#[test]
fn a_secret_too_short_to_hide_is_refused() {
    #[derive(Model)]
    struct Sec {
        vars: Vars,
        web: Role,
    }
    let ns = Sec {
        vars: Vars::new()
            .secret("PIN", Secret::new("1"))
            .secret("OK", Secret::new("long-enough")),
        web: Role::on("127.0.0.1"),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns));
    let d = diag_of(&e, DiagKind::BadArgument);
    assert!(
        d.message.contains("`PIN`") && d.message.contains("at least 6"),
        "{d}"
    );
    assert_eq!(e.diagnostics.len(), 1, "{e}");
}
