//! Multi-tasks: one template fanned out over a selection of roles, one child per role named
//! `<field>[<role short name>]`; selections by all / list / key / keys / regex / predicate /
//! union / field; a nested config model as the template.

use hoist::*;

use crate::{edge_set, edges, expand, plan_of, task, task_paths, task_role};

#[derive(Model, Clone)]
struct Cell {
    leader: Role,
    workers: Multi<Role>,
}

#[derive(Model)]
struct Ns {
    db: Role,
    web: Role,
    app: Multi<Role>,
    region: Multi<Role>,
    grid: Multi<Cell>,
    vars: Vars,
}

fn ns() -> Ns {
    Ns {
        db: Role::on("10.0.0.1").var("ID", "db"),
        web: Role::on("10.0.0.2").var("ID", "web"),
        app: Multi::from_fn(|k| Role::on("10.0.1.1").var("ID", format!("app-{k}"))).keys(0..4),
        region: Multi::new(Role::on("10.0.2.1")).keys(["eu-west", "eu-north", "us-east"]),
        grid: Multi::new(Cell {
            leader: Role::on("10.0.3.1"),
            workers: Multi::new(Role::on("10.0.3.2")).keys(0..2),
        })
        .keys(["a", "b"]),
        vars: Vars::new().set("ID", "any"),
    }
}

#[derive(Model)]
struct Fan {
    deploy: MultiTask<Task>,
}

/// The child task paths of a multi-task over `sel`, and checks each child's role.
fn fan_out(sel: impl FnOnce(NsRefs) -> Selection) -> Vec<String> {
    let ns = ns();
    let cfg = Fan {
        deploy: MultiTask::new(|r| Task::shell("deploy !{ID}").role(r), sel(Ns::refs())),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    for t in &p.tasks {
        // every child runs with the role it was made for: its name is that role's name
        let role = &p.roles[t.role.index()];
        let path = t.path.to_string();
        let key = path
            .strip_prefix("deploy[")
            .and_then(|s| s.strip_suffix(']'))
            .unwrap();
        // A child is keyed by its role's path: its address names the role it is for.
        assert_eq!(key, role.path.to_string(), "{path} runs as {}", role.path);
        assert_eq!(t.run_on, t.role);
    }
    task_paths(&p)
}

#[test]
fn fan_out_over_all_children_of_a_multi_role() {
    let want = [
        "deploy[app[0]]",
        "deploy[app[1]]",
        "deploy[app[2]]",
        "deploy[app[3]]",
    ];
    assert_eq!(fan_out(|r| r.app.all()), want);
    // a multi reference converts to "all its children"
    assert_eq!(fan_out(|r| r.app.into()), want);
}

#[test]
fn fan_out_over_an_explicit_list_of_roles() {
    assert_eq!(
        fan_out(|r| [r.web, r.db].into()),
        ["deploy[db]", "deploy[web]"]
    );
    assert_eq!(
        fan_out(|r| vec![r.app.at(2), r.db].into()),
        ["deploy[app[2]]", "deploy[db]"]
    );
    assert_eq!(fan_out(|r| r.web.into()), ["deploy[web]"]);
}

#[test]
fn fan_out_over_one_key_or_a_key_set() {
    assert_eq!(fan_out(|r| r.app.key(1)), ["deploy[app[1]]"]);
    assert_eq!(
        fan_out(|r| r.app.keys([0, 2])),
        ["deploy[app[0]]", "deploy[app[2]]"]
    );
    // a key selection picks among existing children; it does not create any
    assert_eq!(fan_out(|r| r.app.keys([3, 9])), ["deploy[app[3]]"]);
}

#[test]
fn fan_out_over_keys_matching_or_not_matching_a_regex() {
    assert_eq!(
        fan_out(|r| r.region.matching("^eu-")),
        ["deploy[region[eu-north]]", "deploy[region[eu-west]]"]
    );
    assert_eq!(
        fan_out(|r| r.region.not_matching("^eu-")),
        ["deploy[region[us-east]]"]
    );
    assert_eq!(
        fan_out(|r| r.app.matching("^[13]$")),
        ["deploy[app[1]]", "deploy[app[3]]"]
    );
}

#[test]
fn fan_out_over_keys_satisfying_a_predicate() {
    assert_eq!(
        fan_out(|r| r
            .app
            .filter(|k| k.as_str().parse::<u32>().is_ok_and(|n| n % 2 == 0))),
        ["deploy[app[0]]", "deploy[app[2]]"]
    );
}

#[test]
fn fan_out_over_a_union_removes_duplicates() {
    assert_eq!(
        fan_out(|r| r
            .app
            .key(0)
            .union(r.db.clone())
            .union(r.region.matching("us"))
            .union(r.db)),
        ["deploy[app[0]]", "deploy[db]", "deploy[region[us-east]]"]
    );
}

#[test]
fn fan_out_into_a_field_of_each_child_of_a_multi_group() {
    // `grid[a].leader` and `grid[b].leader` have the same short name; children are named by
    // the role path so each name stays tied to one role however the grid grows or shrinks
    assert_eq!(
        fan_out(|r| r.grid.all().field("leader")),
        ["deploy[grid[a].leader]", "deploy[grid[b].leader]"]
    );
    assert_eq!(
        fan_out(|r| r.grid.key("b").field("leader")),
        ["deploy[grid[b].leader]"]
    );
    // and a multi inside a group: its children, by key
    assert_eq!(
        fan_out(|r| r.grid.at("a").workers.all()),
        ["deploy[grid[a].workers[0]]", "deploy[grid[a].workers[1]]"]
    );
}

#[test]
fn each_child_sees_the_variables_of_its_own_role() {
    let ns = ns();
    let cfg = Fan {
        deploy: MultiTask::new(|r| Task::shell("deploy !{ID}").role(r), Ns::refs().app),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    for k in 0..4 {
        let t = format!("deploy[app[{k}]]");
        assert_eq!(task_role(&p, &t), format!("app[{k}]"));
        assert_eq!(
            expand(&p, &format!("app[{k}]"), "!{ID}").unwrap(),
            format!("app-{k}")
        );
    }
}

#[test]
fn the_selection_includes_children_made_by_references_elsewhere() {
    #[derive(Model)]
    struct Ns2 {
        app: Multi<Role>,
    }
    #[derive(Model)]
    struct Cfg2 {
        one: Task,
        all: MultiTask<Task>,
    }
    let ns = Ns2 {
        app: Multi::new(Role::on("10.0.0.1")),
    };
    let cfg = Cfg2 {
        one: Task::ping().role(Ns2::refs().app.at(7)),
        all: MultiTask::new(|r| Task::ping().role(r), Ns2::refs().app),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(task_paths(&p), ["all[app[7]]", "one"]);
}

/// A nested config model: a struct of tasks with its own defaults and dependencies.
#[derive(Model, Clone)]
struct Deploy {
    defaults: TaskDefaults,
    install: Task,
    configure: Task,
    start: Task,
    deps: Deps,
}

impl Deploy {
    fn new(role: Ref<Role>) -> Self {
        let s = Deploy::siblings();
        Deploy {
            defaults: TaskDefaults::role(role),
            install: Task::shell("install app"),
            configure: Task::template_text("id={{ ID }} !{ID}", "/etc/app.conf"),
            start: Task::shell("systemctl start app"),
            deps: Deps::new([s.install | s.configure | s.start]),
        }
    }
}

#[derive(Model)]
struct Cfg {
    setup: Task,
    deploy: MultiTask<Deploy>,
    finish: Task,
    deps: Deps,
}

#[test]
fn a_nested_config_model_as_template_is_spliced_in_once_per_role() {
    let ns = ns();
    let r = Cfg::refs();
    let cfg = Cfg {
        setup: Task::shell("prepare").role(Ns::refs().db),
        deploy: MultiTask::new(Deploy::new, Ns::refs().app.keys([1, 2])),
        finish: Task::shell("announce").role(Ns::refs().web),
        deps: Deps::new([r.setup | r.deploy | r.finish]),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    let mut want = vec![];
    for k in [1, 2] {
        let c = format!("deploy[app[{k}]]");
        want.push(("setup".to_string(), format!("{c}.install")));
        want.push((format!("{c}.install"), format!("{c}.configure")));
        want.push((format!("{c}.configure"), format!("{c}.start")));
        want.push((format!("{c}.start"), "finish".to_string()));
        for t in ["install", "configure", "start"] {
            // the template's own defaults give each child its role
            assert_eq!(task_role(&p, &format!("{c}.{t}")), format!("app[{k}]"));
        }
    }
    assert_eq!(edges(&p), want.into_iter().collect());
    assert_eq!(task(&p, "setup").deps, vec![]);
}

#[test]
fn a_multi_task_with_no_roles_has_no_children_and_dependencies_pass_through_it() {
    #[derive(Model)]
    struct Ns2 {
        db: Role,
        app: Multi<Role>,
    }
    let ns = Ns2 {
        db: Role::on("10.0.0.1"),
        app: Multi::new(Role::on("10.0.0.2")),
    };
    let r = Cfg::refs();
    let cfg = Cfg {
        setup: Task::shell("prepare").role(Ns2::refs().db),
        deploy: MultiTask::new(Deploy::new, Ns2::refs().app),
        finish: Task::shell("announce").role(Ns2::refs().db),
        deps: Deps::new([r.setup | r.deploy | r.finish]),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(task_paths(&p), ["finish", "setup"]);
    assert_eq!(edges(&p), edge_set(&[("setup", "finish")]));
}
