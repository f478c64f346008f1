//! Variables: `!{NAME}` expansion from the asking role, scoping, overrides, `in_env`,
//! escapes, names, cycles, missing and unset variables, secrets and infra outputs.

use hoist::*;

use crate::{Provisioned, diag_of, env, errors_of, expand, plan_of, res, role, task, var};

#[derive(Model)]
struct Ns {
    alice: Role,
    bob: Role,
    vars: Vars,
}

fn two_users(vars: Vars) -> Ns {
    Ns {
        alice: Role::on("10.0.0.1").var("USER", "alice"),
        bob: Role::on("10.0.0.2").var("USER", "bob"),
        vars,
    }
}

#[test]
fn a_global_variable_expands_from_the_point_of_view_of_the_asking_role() {
    let ns = two_users(Vars::new().set("HOME", "/home/!{USER}"));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(var(&p, "alice", "HOME").unwrap(), "/home/alice");
    assert_eq!(var(&p, "bob", "HOME").unwrap(), "/home/bob");
    assert_eq!(
        expand(&p, "bob", "cd !{HOME} && ls").unwrap(),
        "cd /home/bob && ls"
    );
}

#[test]
fn expansion_is_recursive_and_repeated_references_are_fine() {
    let ns = two_users(
        Vars::new()
            .set("HOME", "/home/!{USER}")
            .set("BIN", "!{HOME}/bin")
            .set("TWICE", "!{USER}-!{USER}"),
    );
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(var(&p, "alice", "BIN").unwrap(), "/home/alice/bin");
    assert_eq!(var(&p, "alice", "TWICE").unwrap(), "alice-alice");
}

#[derive(Model, Clone)]
struct Tier {
    app: Multi<Role>,
    vars: Vars,
}

#[derive(Model)]
struct Scoped {
    tier: Tier,
    other: Role,
    vars: Vars,
}

fn scoped() -> Scoped {
    let level = |n: &str| {
        Vars::new()
            .set("LEVEL", n)
            .set(&format!("ONLY_{}", n.to_uppercase()), n)
    };
    Scoped {
        tier: Tier {
            app: Multi::new(Role::on("10.0.0.1").vars(level("role")))
                .vars(level("multi").set("SHADOWED_BY_ROLE", "multi"))
                .keys([0]),
            vars: level("group").set("SHADOWED_BY_MULTI", "group"),
        },
        other: Role::on("10.0.0.2"),
        vars: level("root").set("SHADOWED_BY_GROUP", "root"),
    }
}

#[test]
fn variables_are_scoped_role_then_multi_then_group_then_namespace_root() {
    let ns = scoped();
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    let r = "tier.app[0]";
    assert_eq!(var(&p, r, "LEVEL").unwrap(), "role");
    assert_eq!(var(&p, r, "ONLY_ROLE").unwrap(), "role");
    assert_eq!(var(&p, r, "ONLY_MULTI").unwrap(), "multi");
    assert_eq!(var(&p, r, "ONLY_GROUP").unwrap(), "group");
    assert_eq!(var(&p, r, "ONLY_ROOT").unwrap(), "root");
    assert_eq!(var(&p, r, "SHADOWED_BY_ROLE").unwrap(), "multi");
    assert_eq!(var(&p, r, "SHADOWED_BY_MULTI").unwrap(), "group");
    assert_eq!(var(&p, r, "SHADOWED_BY_GROUP").unwrap(), "root");
    // a role outside the group sees only the root
    assert_eq!(var(&p, "other", "LEVEL").unwrap(), "root");
    assert!(matches!(
        var(&p, "other", "ONLY_GROUP"),
        Err(VarError::Missing { .. })
    ));
}

#[test]
fn overrides_plan_input_beats_everything_and_a_block_override_masks_its_own_block() {
    let ns = Ns {
        alice: Role::on("10.0.0.1").var("X", "alice's own"),
        bob: Role::on("10.0.0.2"),
        vars: Vars::new()
            .set("X", "root")
            .override_var("X", "root override")
            .set("Y", "root"),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    // Actuator's lookup: own overrides, own variables, then the container's
    assert_eq!(var(&p, "alice", "X").unwrap(), "alice's own");
    assert_eq!(var(&p, "bob", "X").unwrap(), "root override");

    let p = plan_of(
        PlanInput::new("t")
            .namespace("ns", &ns)
            .override_var("X", "global")
            .override_var("Y", "g"),
    );
    assert_eq!(var(&p, "alice", "X").unwrap(), "global");
    assert_eq!(var(&p, "bob", "X").unwrap(), "global");
    assert_eq!(var(&p, "bob", "Y").unwrap(), "g");
}

#[test]
fn an_override_fills_a_variable_declared_without_a_value() {
    let ns = two_users(Vars::new().unset("DB_URL"));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(
        var(&p, "alice", "DB_URL"),
        Err(VarError::Unset {
            name: "DB_URL".into(),
            role: "ns/alice".into()
        })
    );
    let p = plan_of(
        PlanInput::new("t")
            .namespace("ns", &ns)
            .override_var("DB_URL", "pg://x"),
    );
    assert_eq!(var(&p, "alice", "DB_URL").unwrap(), "pg://x");
}

#[test]
fn in_env_false_variables_stay_out_of_task_env_but_expand_in_others() {
    let ns = two_users(
        Vars::new()
            .var(Var::new("BASE", "/opt").in_env(false))
            .set("APP_DIR", "!{BASE}/app"),
    );
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    let (e, errs) = env(&p, "alice");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(e.get("APP_DIR").map(String::as_str), Some("/opt/app"));
    assert_eq!(e.get("USER").map(String::as_str), Some("alice"));
    assert!(!e.contains_key("BASE"));
    // still usable for expansion and in templates
    assert_eq!(expand(&p, "alice", "!{BASE}").unwrap(), "/opt");
    assert_eq!(
        p.template_context(role(&p, "alice").id, &crate::NotYet)
            .get("BASE")
            .map(String::as_str),
        Some("/opt")
    );
}

#[test]
fn double_bang_escapes_a_literal_open_pattern() {
    let ns = two_users(Vars::new().set("LIT", "!!{USER}").set("VIA", "[!{LIT}]"));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(var(&p, "alice", "LIT").unwrap(), "!{USER}");
    // the escaped text is not expanded again when another variable uses it
    assert_eq!(var(&p, "alice", "VIA").unwrap(), "[!{USER}]");
    assert_eq!(
        expand(&p, "alice", "echo '!!{x}' !{USER}").unwrap(),
        "echo '!{x}' alice"
    );
}

#[test]
fn variable_names_with_dashes_and_dots_can_be_referred_to() {
    let ns = two_users(Vars::new().set("my-var", "dash").set("app.port", "8080"));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    assert_eq!(
        expand(&p, "bob", "!{my-var}:!{app.port}").unwrap(),
        "dash:8080"
    );
}

#[test]
fn a_variable_cycle_is_detected_and_named() {
    let ns = two_users(
        Vars::new()
            .set("A", "!{B}")
            .set("B", "x!{C}")
            .set("C", "!{A}")
            .set("OK", "fine"),
    );
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    let e = var(&p, "alice", "A").unwrap_err();
    assert_eq!(
        e,
        VarError::Cycle {
            cycle: vec!["A".into(), "B".into(), "C".into(), "A".into()]
        }
    );
    assert!(e.to_string().contains("A -> B -> C -> A"), "{e}");
    assert_eq!(var(&p, "alice", "OK").unwrap(), "fine");
}

#[test]
fn a_variable_cycle_used_by_a_task_is_a_plan_error() {
    #[derive(Model)]
    struct Cfg {
        t: Task,
    }
    let ns = two_users(Vars::new().set("A", "!{B}").set("B", "!{A}"));
    let cfg = Cfg {
        t: Task::shell("echo !{A}").role(Ns::refs().alice),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    let d = diag_of(&e, DiagKind::VariableCycle);
    assert_eq!(
        (d.model.as_str(), d.path.to_string().as_str()),
        ("cfg", "t")
    );
    assert!(d.message.contains("A -> B -> A"), "{d}");
}

#[test]
fn a_missing_variable_names_the_variable_the_role_and_the_chain() {
    let ns = two_users(Vars::new().set("URL", "http://!{HOST}:80"));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns));
    let e = var(&p, "bob", "URL").unwrap_err();
    assert_eq!(
        e,
        VarError::Missing {
            name: "HOST".into(),
            role: "ns/bob".into(),
            via: vec!["URL".into()]
        }
    );
    let msg = e.to_string();
    assert!(
        msg.contains("`HOST`") && msg.contains("`ns/bob`") && msg.contains("URL"),
        "{msg}"
    );
}

#[test]
fn a_missing_variable_in_a_task_is_a_plan_error_naming_variable_and_role() {
    #[derive(Model)]
    struct Cfg {
        t: Task,
    }
    let ns = two_users(Vars::new());
    let cfg = Cfg {
        t: Task::shell("echo !{NOPE}").role(Ns::refs().bob),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    let d = diag_of(&e, DiagKind::MissingVariable);
    assert_eq!(d.path.to_string(), "t");
    assert!(
        d.message.contains("`NOPE`") && d.message.contains("`ns/bob`"),
        "{d}"
    );
}

#[test]
fn a_malformed_pattern_in_a_task_is_a_bad_argument() {
    #[derive(Model)]
    struct Cfg {
        t: Task,
    }
    let ns = two_users(Vars::new());
    let cfg = Cfg {
        t: Task::shell("echo !{USER").role(Ns::refs().bob),
    };
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert!(
        diag_of(&e, DiagKind::BadArgument)
            .message
            .contains("unterminated"),
        "{e}"
    );
}

#[derive(Model)]
struct Cfg {
    run: Task,
}

#[test]
fn one_broken_variable_does_not_break_tasks_it_becomes_a_warning() {
    let ns = two_users(
        Vars::new()
            .set("GOOD", "ok")
            .set("BROKEN", "!{NOPE}")
            .set("LOOP", "!{LOOP}"),
    );
    let cfg = Cfg {
        run: Task::shell("echo !{GOOD}").role(Ns::refs().alice),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(p.tasks.len(), 1);
    let mut kinds: Vec<(DiagKind, String)> = p
        .warnings
        .iter()
        .map(|w| (w.kind, w.path.to_string()))
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            (DiagKind::MissingVariable, "alice".to_string()),
            (DiagKind::VariableCycle, "alice".to_string())
        ]
    );
    assert!(p.warnings.iter().any(|w| w.message.contains("BROKEN")));
    let (e, errs) = env(&p, "alice");
    assert_eq!(e.get("GOOD").map(String::as_str), Some("ok"));
    assert!(!e.contains_key("BROKEN") && !e.contains_key("LOOP"));
    assert_eq!(errs.len(), 2);
    // warnings are about roles that run tasks: bob runs none
    assert!(p.warnings.iter().all(|w| w.path.to_string() == "alice"));
    assert!(p.render().contains("Warnings:"));
}

#[test]
fn secret_variables_are_redacted_in_the_rendered_plan_and_listed_by_secrets() {
    let ns = two_users(
        Vars::new()
            .secret("DB_PASSWORD", Secret::new("hunter2"))
            .set("DSN", "pg://app:!{DB_PASSWORD}@db/app"),
    );
    let cfg = Cfg {
        run: Task::shell("psql !{DSN} -c 'select hunter2'")
            .role(Ns::refs().alice)
            .password(Secret::new("login-pw")),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    let exposed: Vec<&str> = p.secrets().iter().map(Secret::expose).collect();
    assert!(
        exposed.contains(&"hunter2") && exposed.contains(&"login-pw"),
        "{exposed:?}"
    );
    let text = p.render();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(!text.contains("login-pw"), "{text}");
    assert!(text.contains("DB_PASSWORD = <redacted>"), "{text}");
    assert!(text.contains("DSN = <redacted>"), "{text}");
    assert!(
        !format!("{p:?}").contains("login-pw"),
        "Debug of the plan leaks a password"
    );
    // the task still gets the real value in its environment
    let (e, _) = env(&p, "alice");
    assert_eq!(
        e.get("DSN").map(String::as_str),
        Some("pg://app:hunter2@db/app")
    );
    assert!(
        p.var_value(role(&p, "alice").id, "DSN", &crate::NotYet)
            .unwrap()
            .secret
    );
    assert_eq!(
        task(&p, "run").creds.password.as_ref().map(Secret::expose),
        Some("login-pw")
    );
}

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    db: Server,
}

#[test]
fn an_infra_output_variable_is_known_after_provisioning_and_resolves_through_outputs() {
    let r = Infra::refs();
    let infra = Infra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        db: Server::new("debian-12", "small", r.subnet.clone()),
    };
    let ns = two_users(
        Vars::new()
            .set("DB_HOST", r.db.out().private_ip)
            .set("DB_URL", "pg://!{DB_HOST}:5432/app"),
    );
    let cfg = Cfg {
        run: Task::shell("psql !{DB_URL}").role(Ns::refs().alice),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    let alice = role(&p, "alice").id;

    let at_plan = p.var_value(alice, "DB_URL", &crate::NotYet).unwrap();
    assert!(at_plan.deferred);
    assert_eq!(
        at_plan.text,
        "pg://<known after provisioning: web/db:private_ip>:5432/app"
    );
    // deferred variables are neither errors nor environment entries at plan time
    let (e, errs) = env(&p, "alice");
    assert!(
        errs.is_empty() && !e.contains_key("DB_URL"),
        "{e:?} {errs:?}"
    );
    assert!(p.warnings.is_empty(), "{:?}", p.warnings);
    assert!(p.render().contains("web/db:private_ip"));

    let outs = Provisioned::new(&p).out("web/db", "private_ip", "10.0.1.9");
    let after = p.var_value(alice, "DB_URL", &outs).unwrap();
    assert!(!after.deferred);
    assert_eq!(after.text, "pg://10.0.1.9:5432/app");
    let (e, errs) = p.task_env(alice, &outs);
    assert!(errs.is_empty());
    assert!(e.contains(&("DB_URL".to_string(), "pg://10.0.1.9:5432/app".to_string())));
    // non-string outputs are shown as JSON
    let outs = Provisioned::new(&p).out("web/db", "private_ip", 7);
    assert_eq!(p.var_value(alice, "DB_HOST", &outs).unwrap().text, "7");
    let _ = res(&p, "web/db");
}
