//! Every modelling mistake is reported by `plan()` (never a panic) with the model, the path,
//! a source location and a message; several mistakes are all reported at once.

use hoist::*;
use serde::Serialize;

use crate::{Catalog, diag_keys, diag_of, diags_of, errors_of};

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    db: Server,
    app: Multi<Server>,
}

fn infra() -> Infra {
    let r = Infra::refs();
    Infra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        db: Server::new("debian-12", "small", r.subnet.clone()),
        app: Multi::new(Server::new("debian-12", "small", r.subnet.clone())).keys(0..2),
    }
}

#[derive(Model)]
struct Ns {
    web: Role,
    nohost: Role,
}

fn ns() -> Ns {
    Ns {
        web: Role::on("10.0.0.1"),
        nohost: Role::new(),
    }
}

#[derive(Model)]
struct One {
    t: Task,
}

fn one_task(t: Task) -> PlanError {
    let (infra, ns) = (infra(), ns());
    let cfg = One { t };
    errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    )
}

/// A group written once whose author used `Group::refs()` where `siblings()` was meant.
#[derive(Model, Clone)]
struct Deploy {
    install: Task,
    start: Task,
    deps: Deps,
}

#[test]
fn a_group_using_refs_instead_of_siblings_is_an_unresolved_reference_not_part_of_the_orchestration()
{
    #[derive(Model)]
    struct Cfg {
        blue: Deploy,
    }
    let (infra, ns) = (infra(), ns());
    let wrong = Deploy::refs();
    let cfg = Cfg {
        blue: Deploy {
            install: Task::null(),
            start: Task::null(),
            deps: Deps::new([wrong.install | wrong.start]),
        },
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    let d = diags_of(&e, DiagKind::UnresolvedReference);
    assert_eq!(d.len(), 2, "{e}");
    for d in d {
        assert_eq!(
            (d.model.as_str(), d.path.to_string().as_str()),
            ("cfg", "blue.deps")
        );
        assert!(d.message.contains("not part of this orchestration"), "{d}");
        assert!(
            d.message.contains("Deploy::siblings()"),
            "the message suggests the fix: {d}"
        );
    }
}

#[test]
fn wrong_kind_a_resource_where_a_role_is_needed() {
    let e = one_task(Task::ping().role(Ref::at(Infra::refs().db.ref_path().clone())));
    let d = diag_of(&e, DiagKind::WrongKind);
    assert_eq!(d.path.to_string(), "t");
    assert!(
        d.message.contains("Infra.db")
            && d.message.contains("a resource")
            && d.message.contains("a role"),
        "{d}"
    );
}

#[test]
fn wrong_kind_a_multi_task_over_servers_instead_of_roles() {
    #[derive(Model)]
    struct Cfg {
        fan: MultiTask<Task>,
    }
    let (infra, ns) = (infra(), ns());
    let cfg = Cfg {
        fan: MultiTask::new(|r| Task::ping().role(r), Infra::refs().app.all()),
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    let d = diags_of(&e, DiagKind::WrongKind);
    assert_eq!(d.len(), 2, "{e}");
    assert!(
        d.iter()
            .all(|d| d.path.to_string() == "fan" && d.message.contains("not a role")),
        "{e}"
    );
}

#[test]
fn mine_without_a_key_is_an_unresolved_reference() {
    #[derive(Model)]
    struct Ns2 {
        r: Role,
    }
    let infra = infra();
    let ns = Ns2 {
        r: Role::on(Infra::refs().app.mine()),
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    let d = diag_of(&e, DiagKind::UnresolvedReference);
    assert_eq!(d.path.to_string(), "r");
    assert!(d.message.contains("no key"), "{d}");
}

#[test]
fn indexing_a_component_that_is_not_a_multi_is_reported() {
    #[derive(Model)]
    struct Ns2 {
        r: Role,
    }
    let infra = infra();
    let bad: Ref<Server> = Ref::at(RefPath::model::<Infra>().field("db").key(1));
    let ns = Ns2 { r: Role::on(bad) };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns),
    );
    assert!(
        diag_of(&e, DiagKind::UnresolvedReference)
            .message
            .contains("not a multi component"),
        "{e}"
    );
}

#[test]
fn two_models_of_one_type_make_type_refs_ambiguous() {
    #[derive(Model)]
    struct Ns2 {
        r: Role,
    }
    let (a, b) = (infra(), infra());
    let ns = Ns2 {
        r: Role::on(Infra::refs().db),
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("a", &a)
            .infra("b", &b)
            .namespace("ns", &ns),
    );
    let d = diags_of(&e, DiagKind::UnresolvedReference);
    // every type-rooted reference is ambiguous, the infra's own `Infra::refs()` included
    assert!(d.iter().all(|d| d.message.contains("is ambiguous")), "{e}");
    assert!(
        d.iter()
            .any(|d| d.model == "ns" && d.path.to_string() == "r"),
        "{e}"
    );
}

#[test]
fn missing_variable_names_the_variable_and_the_role() {
    let e = one_task(Task::shell("echo !{NOPE}").role(Ns::refs().web));
    let d = diag_of(&e, DiagKind::MissingVariable);
    assert!(
        d.message.contains("`NOPE`") && d.message.contains("`ns/web`"),
        "{d}"
    );
}

#[test]
fn task_with_no_role_is_reported() {
    let e = one_task(Task::shell("echo hi"));
    let d = diag_of(&e, DiagKind::NoRole);
    assert_eq!(
        (d.model.as_str(), d.path.to_string().as_str()),
        ("cfg", "t")
    );
}

#[test]
fn task_on_a_role_with_no_host_is_reported() {
    let e = one_task(Task::shell("echo hi").role(Ns::refs().nohost));
    let d = diag_of(&e, DiagKind::NoHost);
    assert!(d.message.contains("nohost"), "{d}");
}

#[test]
fn bad_argument_on_a_task_is_reported() {
    let e = one_task(Task::shell("echo hi").role(Ns::refs().web).mode(0o644));
    let d = diag_of(&e, DiagKind::BadArgument);
    assert!(
        d.message
            .contains("`mode` is not an argument of a shell task"),
        "{d}"
    );
    let e = one_task(Task::command("echo 'unbalanced").role(Ns::refs().web));
    assert!(
        diag_of(&e, DiagKind::BadArgument)
            .message
            .contains("unbalanced"),
        "{e}"
    );
}

#[derive(Model)]
struct Nets {
    bad: Network,
    good: Network,
    outside: Subnet,
    inside: Subnet,
}

#[test]
fn bad_cidr_and_subnet_outside_its_network_are_bad_arguments() {
    let r = Nets::refs();
    let nets = Nets {
        bad: Network::new("10.0.0.1/16"),
        good: Network::new("192.168.0.0/16"),
        outside: Subnet::new(r.good.clone(), "10.5.0.0/24"),
        inside: Subnet::new(r.good.clone(), "192.168.4.0/24"),
    };
    let e = errors_of(PlanInput::new("t").infra("web", &nets));
    assert_eq!(
        diag_keys(&e),
        [
            (DiagKind::BadArgument, "web".to_string(), "bad".to_string()),
            (
                DiagKind::BadArgument,
                "web".to_string(),
                "outside".to_string()
            ),
        ]
    );
    assert!(e.diagnostics[0].message.contains("host bits set"), "{e}");
    assert!(e.diagnostics[1].message.contains("not inside"), "{e}");
}

#[test]
fn a_bad_regex_in_a_selection_is_a_bad_argument() {
    #[derive(Model)]
    struct Ns2 {
        app: Multi<Role>,
    }
    #[derive(Model)]
    struct Cfg {
        fan: MultiTask<Task>,
    }
    let ns = Ns2 {
        app: Multi::new(Role::on("10.0.0.1")).keys(0..2),
    };
    let cfg = Cfg {
        fan: MultiTask::new(
            |r| Task::ping().role(r),
            Ns2::refs().app.matching("(unclosed"),
        ),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    let d = diag_of(&e, DiagKind::BadArgument);
    assert_eq!(d.path.to_string(), "fan");
    assert!(
        d.message.contains("regular expression") && d.message.contains("(unclosed"),
        "{d}"
    );
}

#[test]
fn a_resource_in_a_namespace_model_is_a_wrong_model() {
    #[derive(Model)]
    struct Ns2 {
        web: Role,
        stray: FixedHost,
    }
    #[derive(Model)]
    struct Cfg {
        role: Role,
        t: Task,
    }
    let ns = Ns2 {
        web: Role::on("10.0.0.1"),
        stray: FixedHost::new("10.0.0.2"),
    };
    let cfg = Cfg {
        role: Role::on("10.0.0.3"),
        t: Task::ping().role(Ns2::refs().web),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(
        diag_keys(&e),
        [
            (DiagKind::WrongModel, "cfg".to_string(), "role".to_string()),
            (DiagKind::WrongModel, "ns".to_string(), "stray".to_string()),
        ]
    );
    assert!(
        e.diagnostics[1]
            .message
            .contains("a resource belongs in an infra model"),
        "{e}"
    );
}

#[test]
fn two_models_with_the_same_name_are_reported() {
    let (infra, ns) = (infra(), ns());
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("web", &ns),
    );
    let d = diag_of(&e, DiagKind::DuplicateName);
    assert_eq!(d.model, "web");
    assert!(d.message.contains("`web`"), "{d}");
}

#[test]
fn an_exclusion_that_names_nothing_is_reported() {
    #[derive(Model)]
    struct Other {
        x: Network,
    }
    let infra = infra();
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .exclude(&Other::refs().x),
    );
    assert!(
        diag_of(&e, DiagKind::UnresolvedReference)
            .message
            .contains("exclusion"),
        "{e}"
    );
}

#[test]
fn no_provisioner_for_a_resource_is_reported() {
    let mut infra = infra();
    infra.db.cloud = Some("nowhere".into());
    let e = errors_of(PlanInput::new("t").infra("web", &infra).catalog(&Catalog));
    let d = diag_of(&e, DiagKind::NoProvider);
    assert_eq!(d.path.to_string(), "db");
    assert!(d.message.contains("nowhere"), "{d}");
}

#[test]
fn an_invalid_variable_name_is_a_bad_argument() {
    #[derive(Model)]
    struct Ns2 {
        vars: Vars,
    }
    let ns = Ns2 {
        vars: Vars::new().set("1st", "x").set("has space", "y"),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(diags_of(&e, DiagKind::BadArgument).len(), 2, "{e}");
}

/// A resource kind of the test's own: a peer that refers to another peer.
#[derive(Clone, Serialize)]
struct Peer {
    name: String,
    peer: Option<Ref<Peer>>,
}

hoist::resource_outputs!(PeerOutputs { id: String });

impl Resource for Peer {
    const KIND: &'static str = "test.peer";
    type Outputs = PeerOutputs;
    fn outputs(at: RefPath) -> PeerOutputs {
        PeerOutputs::at(at)
    }
}

#[derive(Model)]
struct Peers {
    a: Peer,
    b: Peer,
    c: Peer,
    lone: Peer,
}

#[test]
fn a_resource_cycle_is_reported_naming_the_cycle() {
    let r = Peers::refs();
    let peers = Peers {
        a: Peer {
            name: "a".into(),
            peer: Some(r.b.clone()),
        },
        b: Peer {
            name: "b".into(),
            peer: Some(r.c.clone()),
        },
        c: Peer {
            name: "c".into(),
            peer: Some(r.a.clone()),
        },
        lone: Peer {
            name: "lone".into(),
            peer: None,
        },
    };
    let e = errors_of(PlanInput::new("t").infra("web", &peers));
    let d = diag_of(&e, DiagKind::ResourceCycle);
    let names: Vec<&str> = d
        .message
        .rsplit(": ")
        .next()
        .unwrap()
        .split(" -> ")
        .collect();
    assert_eq!(names.len(), 4, "{d}");
    assert_eq!(names.first(), names.last(), "{d}");
    let mut members = names[..3].to_vec();
    members.sort_unstable();
    assert_eq!(members, ["web/a", "web/b", "web/c"], "{d}");
}

#[test]
fn a_resource_may_refer_to_its_own_kind_without_a_cycle() {
    let r = Peers::refs();
    let peers = Peers {
        a: Peer {
            name: "a".into(),
            peer: Some(r.b.clone()),
        },
        b: Peer {
            name: "b".into(),
            peer: Some(r.c.clone()),
        },
        c: Peer {
            name: "c".into(),
            peer: None,
        },
        lone: Peer {
            name: "lone".into(),
            peer: None,
        },
    };
    let p = crate::plan_of(PlanInput::new("t").infra("web", &peers));
    assert_eq!(
        crate::resource_waves(&p),
        [vec!["c", "lone"], vec!["b"], vec!["a"]]
    );
}

// ---- many mistakes at once

#[derive(Model, Clone)]
struct Cell {
    server: Server,
    ip: PublicIp,
}

#[derive(Model)]
struct BadInfra {
    net: Network,
    other: Network,
    subnet: Subnet,
    cell: Cell,
}

#[derive(Model)]
struct BadNs {
    web: Role,
    app: Multi<Role>,
    nohost: Role,
    stray: FixedHost,
    vars: Vars,
}

#[derive(Model)]
struct BadCfg {
    a: Task,
    b: Task,
    loose: Task,
    homeless: Task,
    looping: Task,
    missing: Task,
    moded: Task,
    fan: MultiTask<Task>,
    deps: Deps,
}

fn broken_system() -> (BadInfra, BadNs, BadCfg) {
    let r = BadInfra::refs();
    let infra = BadInfra {
        net: Network::new("10.0.0.1/16"),
        other: Network::new("172.16.0.0/16"),
        subnet: Subnet::new(r.other.clone(), "10.9.0.0/24"),
        cell: Cell {
            server: Server::new("debian-12", "small", r.subnet.clone()),
            // should have been `Cell::siblings().server`
            ip: PublicIp::new(Cell::refs().server),
        },
    };
    let ns = BadNs {
        web: Role::on("10.0.0.1"),
        app: Multi::new(Role::on("10.0.0.5")).keys(0..2),
        nohost: Role::new(),
        stray: FixedHost::new("10.0.0.2"),
        vars: Vars::new().set("A", "!{B}").set("B", "!{A}"),
    };
    let n = BadNs::refs();
    let c = BadCfg::refs();
    let cfg = BadCfg {
        a: Task::shell("a").role(n.web.clone()),
        b: Task::shell("b").role(n.web.clone()),
        loose: Task::shell("no role"),
        homeless: Task::shell("no host").role(n.nohost),
        looping: Task::shell("echo !{A}").role(n.web.clone()),
        missing: Task::shell("echo !{NOPE}").role(n.web.clone()),
        moded: Task::shell("echo").role(n.web).mode(0o600),
        fan: MultiTask::new(|r| Task::ping().role(r), n.app.matching("[")),
        deps: Deps::new([c.a.clone() | c.b.clone(), c.b | c.a]),
    };
    (infra, ns, cfg)
}

#[test]
fn many_mistakes_are_all_reported_at_once_located_and_sorted() {
    let (infra, ns, cfg) = broken_system();
    let e = errors_of(
        PlanInput::new("broken")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    let kinds: std::collections::BTreeSet<DiagKind> =
        e.diagnostics.iter().map(|d| d.kind).collect();
    for k in [
        DiagKind::UnresolvedReference,
        DiagKind::MissingVariable,
        DiagKind::VariableCycle,
        DiagKind::TaskCycle,
        DiagKind::NoRole,
        DiagKind::NoHost,
        DiagKind::BadArgument,
        DiagKind::WrongModel,
    ] {
        assert!(kinds.contains(&k), "{k:?} missing from:\n{e}");
    }
    // sorted by model, path, kind
    let keys = diag_keys(&e);
    let mut sorted = keys.clone();
    sorted.sort_by(|a, b| (&a.1, &a.2, a.0).cmp(&(&b.1, &b.2, b.0)));
    let as_paths = |v: &[(DiagKind, String, String)]| {
        v.iter()
            .map(|k| (k.1.clone(), k.2.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(as_paths(&keys), as_paths(&sorted));
    // every line of the report names its source file and line
    let text = e.to_string();
    assert!(text.starts_with(&format!(
        "the models have {} errors; nothing was provisioned\n",
        e.diagnostics.len()
    )));
    for d in &e.diagnostics {
        assert!(
            text.contains(&format!("({}:{})", d.loc.file, d.loc.line)),
            "{d:?} not in:\n{text}"
        );
        assert!(d.loc.file.ends_with("errors.rs"), "{d:?}");
    }

    // the stable parts, one line per diagnostic
    let summary: String = e
        .diagnostics
        .iter()
        .map(|d| format!("{:?} | {} | {} | {}\n", d.kind, d.model, d.path, d.message))
        .collect();
    insta::assert_snapshot!("many_mistakes_summary", summary);
    // the full report, with line numbers blanked out
    let re = regex::Regex::new(r":\d+\)").unwrap();
    insta::assert_snapshot!("many_mistakes_report", re.replace_all(&text, ":<line>)"));
}

#[test]
fn planning_the_broken_system_twice_reports_the_same_thing() {
    let (infra, ns, cfg) = broken_system();
    let input = || {
        PlanInput::new("broken")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg)
    };
    assert_eq!(
        hoist::plan(&input()).unwrap_err(),
        hoist::plan(&input()).unwrap_err()
    );
}

#[test]
fn variables_dependencies_and_defaults_outside_their_kind_of_model_are_wrong_models() {
    #[derive(Model)]
    struct Ns2 {
        web: Role,
        deps: Deps,
        defaults: TaskDefaults,
    }
    #[derive(Model)]
    struct Cfg {
        vars: Vars,
        steps: Multi<Task>,
        t: Task,
    }
    #[derive(Model)]
    struct Infra2 {
        net: Network,
        vars: Vars,
    }
    let n = Ns2::refs();
    let ns = Ns2 {
        web: Role::on("10.0.0.1"),
        deps: Deps::none(),
        defaults: TaskDefaults::role(n.web.clone()),
    };
    let cfg = Cfg {
        // would be silently ignored: tasks see namespace variables only
        vars: Vars::new().set("X", "from cfg"),
        steps: Multi::new(Task::null()).vars(Vars::new().set("Y", "y")),
        t: Task::shell("echo hi").role(n.web),
    };
    let infra = Infra2 {
        net: Network::new("10.0.0.0/16"),
        vars: Vars::new().set("Z", "z"),
    };
    let e = errors_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    let got: Vec<(String, String, bool)> = diags_of(&e, DiagKind::WrongModel)
        .iter()
        .map(|d| {
            (
                d.model.clone(),
                d.path.to_string(),
                d.message.contains("belong in a"),
            )
        })
        .collect();
    let want: Vec<(String, String, bool)> = [
        ("cfg", "steps"),
        ("cfg", "vars"),
        ("ns", "defaults"),
        ("ns", "deps"),
        ("web", "vars"),
    ]
    .iter()
    .map(|(m, p)| ((*m).to_string(), (*p).to_string(), true))
    .collect();
    assert_eq!(got, want, "{e}");
}
