//! Task defaults: the default task role (nearest enclosing `TaskDefaults` wins, a task's own
//! role beats them), run_from, credential precedence and retry policies.

use std::path::PathBuf;
use std::time::Duration;

use hoist::*;

use crate::{Catalog, expand, plan_of, task, task_host_role, task_role};

#[derive(Model)]
struct Infra {
    net: Network,
    subnet: Subnet,
    app: Server,
    bastion: Server,
}

fn infra() -> Infra {
    let r = Infra::refs();
    let mut bastion = Server::new("debian-12", "small", r.subnet.clone());
    bastion.cloud = Some("other".into());
    Infra {
        net: Network::new("10.0.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.0.1.0/24"),
        app: Server::new("debian-12", "small", r.subnet.clone()),
        bastion,
    }
}

#[derive(Model)]
struct Ns {
    web: Role,
    db: Role,
    bastion: Role,
    fixed: Role,
}

fn ns() -> Ns {
    let r = Infra::refs();
    Ns {
        web: Role::on(r.app.clone()).var("WHO", "web"),
        db: Role::on(r.app).var("WHO", "db"),
        bastion: Role::on(r.bastion).var("WHO", "bastion"),
        fixed: Role::on("10.9.9.9").var("WHO", "fixed"),
    }
}

#[derive(Model)]
struct Inner {
    defaults: TaskDefaults,
    a: Task,
    b: Task,
    own: Task,
}

#[derive(Model)]
struct Plain {
    x: Task,
}

#[derive(Model)]
struct Cfg {
    defaults: TaskDefaults,
    top: Task,
    inner: Inner,
    plain: Plain,
    partial: Inner,
}

fn cfg(root: TaskDefaults, inner: TaskDefaults, partial: TaskDefaults) -> Cfg {
    let n = Ns::refs();
    let inner_of = |d: TaskDefaults| Inner {
        defaults: d,
        a: Task::shell("echo !{WHO}").user("task-user"),
        b: Task::shell("echo b"),
        own: Task::shell("echo own").role(n.fixed.clone()),
    };
    Cfg {
        defaults: root,
        top: Task::shell("echo top"),
        inner: inner_of(inner),
        plain: Plain { x: Task::ping() },
        partial: inner_of(partial),
    }
}

#[test]
fn the_nearest_enclosing_defaults_give_the_task_role_and_a_task_own_role_wins() {
    let (infra, ns) = (infra(), ns());
    let n = Ns::refs();
    let cfg = cfg(
        TaskDefaults::role(n.web),
        TaskDefaults::role(n.db),
        // defaults without a role: the role comes from further out
        TaskDefaults::default().user("someone"),
    );
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    let roles: Vec<(&str, String)> = [
        "top",
        "inner.a",
        "inner.b",
        "inner.own",
        "plain.x",
        "partial.a",
        "partial.own",
    ]
    .into_iter()
    .map(|t| (t, task_role(&p, t)))
    .collect();
    assert_eq!(
        roles,
        [
            ("top", "web".to_string()),
            ("inner.a", "db".to_string()),
            ("inner.b", "db".to_string()),
            ("inner.own", "fixed".to_string()),
            ("plain.x", "web".to_string()),
            ("partial.a", "web".to_string()),
            ("partial.own", "fixed".to_string()),
        ]
    );
    assert_eq!(
        expand(&p, &task_role(&p, "inner.a"), "!{WHO}").unwrap(),
        "db"
    );
}

#[test]
fn run_from_runs_on_another_role_host_with_the_task_role_variables() {
    #[derive(Model)]
    struct C {
        defaults: TaskDefaults,
        hop: Task,
        direct: Task,
        via_task: Task,
    }
    let (infra, ns) = (infra(), ns());
    let n = Ns::refs();
    let cfg = C {
        defaults: TaskDefaults {
            run_from: Some(n.bastion.clone()),
            ..TaskDefaults::role(n.web.clone())
        },
        hop: Task::shell("echo !{WHO}"),
        direct: Task::shell("echo !{WHO}")
            .run_from(n.fixed.clone())
            .role(n.db),
        via_task: Task::shell("echo !{WHO}").run_from(n.fixed),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    assert_eq!(
        (task_role(&p, "hop"), task_host_role(&p, "hop")),
        ("web".into(), "bastion".into())
    );
    assert_eq!(
        (task_role(&p, "direct"), task_host_role(&p, "direct")),
        ("db".into(), "fixed".into())
    );
    assert_eq!(
        (task_role(&p, "via_task"), task_host_role(&p, "via_task")),
        ("web".into(), "fixed".into())
    );
    // variables come from the task role, not from the host's
    assert_eq!(expand(&p, &task_role(&p, "hop"), "!{WHO}").unwrap(), "web");
    let text = p.render();
    assert!(
        text.contains("- cfg/hop: shell \"echo !{WHO}\" on ns/bastion (web/bastion:ip"),
        "{text}"
    );
}

fn creds(user: &str, pw: &str, key: &str) -> Credentials {
    let opt = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Credentials {
        user: opt(user),
        password: opt(pw).map(Secret::new),
        key_file: opt(key).map(PathBuf::from),
    }
}

fn shown(c: &Credentials) -> (String, String, String) {
    (
        c.user.clone().unwrap_or_default(),
        c.password
            .as_ref()
            .map(|p| p.expose().to_string())
            .unwrap_or_default(),
        c.key_file
            .as_ref()
            .map(|k| k.display().to_string())
            .unwrap_or_default(),
    )
}

#[test]
fn credentials_resolve_per_field_task_then_role_then_cloud_of_the_host_then_defaults() {
    #[derive(Model)]
    struct C {
        defaults: TaskDefaults,
        top: Task,
        inner: Inner,
        on_fixed: Task,
        via_bastion: Task,
    }
    let (infra, ns) = (infra(), ns());
    let n = Ns::refs();
    let cfg = C {
        defaults: TaskDefaults::role(n.web.clone()).user("root-user"),
        top: Task::shell("true"),
        inner: Inner {
            defaults: TaskDefaults::default().password(Secret::new("inner-pw")),
            a: Task::shell("true").user("task-user"),
            b: Task::shell("true"),
            own: Task::shell("true")
                .role(n.fixed.clone())
                .key_file("/keys/own"),
        },
        on_fixed: Task::shell("true").role(n.fixed),
        via_bastion: Task::shell("true").run_from(n.bastion),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg)
            .catalog(&Catalog)
            .cloud_credentials("sim", creds("sim-user", "sim-pw", "/keys/sim"))
            .cloud_credentials("other", creds("other-user", "other-pw", "/keys/other")),
    );
    let got = |t: &str| shown(&task(&p, t).creds);
    let s = |a: &str, b: &str, c: &str| (a.to_string(), b.to_string(), c.to_string());
    // the cloud's credentials are more specific than the model-wide defaults
    assert_eq!(got("top"), s("sim-user", "sim-pw", "/keys/sim"));
    assert_eq!(got("inner.a"), s("task-user", "sim-pw", "/keys/sim"));
    assert_eq!(got("inner.b"), s("sim-user", "sim-pw", "/keys/sim"));
    // a literal-address host has no provider: no cloud credentials
    assert_eq!(got("inner.own"), s("root-user", "inner-pw", "/keys/own"));
    assert_eq!(got("on_fixed"), s("root-user", "", ""));
    // the provider is that of the host the task runs on
    assert_eq!(
        got("via_bastion"),
        s("other-user", "other-pw", "/keys/other")
    );
    assert_eq!(
        p.resources
            .iter()
            .find(|r| r.path.to_string() == "bastion")
            .unwrap()
            .provider,
        "other"
    );
    // passwords are secrets of the plan
    let exposed: Vec<&str> = p.secrets().iter().map(Secret::expose).collect();
    assert!(
        exposed.contains(&"inner-pw") && exposed.contains(&"sim-pw"),
        "{exposed:?}"
    );
}

/// Every combination of the four places a login can be set: the more specific wins (the
/// task's own, then its role's, then its host's cloud's, then the model-wide defaults).
#[test]
fn credentials_the_more_specific_setting_wins_in_every_combination() {
    #[derive(Model)]
    struct Ns1 {
        web: Role,
    }
    #[derive(Model)]
    struct C {
        defaults: TaskDefaults,
        t: Task,
    }
    let infra = infra();
    let levels = ["task", "role", "cloud", "defaults"];
    for combo in 0u8..16 {
        let set = |i: usize| combo & (1 << i) != 0;
        let mut role = Role::on(Infra::refs().app);
        if set(1) {
            role = role.user("role-user");
        }
        let ns = Ns1 { web: role };
        let mut defaults = TaskDefaults::role(Ns1::refs().web);
        if set(3) {
            defaults = defaults.user("defaults-user");
        }
        let mut t = Task::shell("true");
        if set(0) {
            t = t.user("task-user");
        }
        let cfg = C { defaults, t };
        let mut input = PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg)
            .catalog(&Catalog);
        if set(2) {
            input = input.cloud_credentials("sim", creds("cloud-user", "", ""));
        }
        let p = plan_of(input);
        let want = (0..4)
            .find(|&i| set(i))
            .map_or(String::new(), |i| format!("{}-user", levels[i]));
        assert_eq!(
            task(&p, "t").creds.user.clone().unwrap_or_default(),
            want,
            "set: {:?}",
            (0..4)
                .filter(|&i| set(i))
                .map(|i| levels[i])
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn retry_policy_comes_from_the_task_else_the_nearest_defaults_else_one_attempt() {
    #[derive(Model)]
    struct C {
        defaults: TaskDefaults,
        top: Task,
        inner: Inner,
        own: Task,
        timed: Task,
    }
    #[derive(Model)]
    struct Bare {
        t: Task,
    }
    let (infra, ns) = (infra(), ns());
    let n = Ns::refs();
    let linear = RetryPolicy::attempts(3).linear(Duration::from_secs(15));
    let cfg = C {
        defaults: TaskDefaults::role(n.web.clone()).retry(linear),
        top: Task::shell("true"),
        inner: Inner {
            defaults: TaskDefaults::default().retry(RetryPolicy::attempts(5)),
            a: Task::shell("true"),
            b: Task::shell("true").retry(RetryPolicy::attempts(2)),
            own: Task::shell("true").role(n.fixed),
        },
        own: Task::shell("true").retry(RetryPolicy::attempts(1)),
        // a timeout alone keeps the default retries
        timed: Task::shell("true").timeout(Duration::from_secs(30)),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &cfg),
    );
    assert_eq!(task(&p, "top").retry, linear);
    assert_eq!(
        task(&p, "top").retry.delay_before(3),
        Duration::from_secs(30)
    );
    assert_eq!(task(&p, "inner.a").retry, RetryPolicy::attempts(5));
    assert_eq!(task(&p, "inner.own").retry, RetryPolicy::attempts(5));
    assert_eq!(task(&p, "inner.b").retry, RetryPolicy::attempts(2));
    assert_eq!(task(&p, "own").retry, RetryPolicy::attempts(1));
    assert_eq!(
        task(&p, "timed").retry,
        linear.timeout(Duration::from_secs(30))
    );

    let bare = Bare {
        t: Task::shell("true").role(n.web),
    };
    let p = plan_of(
        PlanInput::new("t")
            .infra("web", &infra)
            .namespace("ns", &ns)
            .config("cfg", &bare),
    );
    assert_eq!(task(&p, "t").retry, RetryPolicy::default());
    assert_eq!(task(&p, "t").retry.attempts, 1);
}

#[test]
fn local_and_null_tasks_need_no_role() {
    #[derive(Model)]
    struct C {
        n: Task,
        l: Task,
        s: Task,
    }
    let cfg = C {
        n: Task::null(),
        l: Task::local("echo hi"),
        s: Task::local_shell("echo hi | wc -c"),
    };
    let p = plan_of(PlanInput::new("t").config("cfg", &cfg));
    assert_eq!(p.tasks.len(), 3);
    assert!(
        p.render()
            .contains("- cfg/l: local echo hi on the controller")
    );
}
