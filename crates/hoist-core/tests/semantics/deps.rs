//! The dependency algebra: `a | b` orders, `a & b` / `group([..])` groups; `X | Y` links
//! every exit of X to every entry of Y; structs of tasks are single nodes; cycles are named.

use hoist::*;

use crate::{diag_of, edge_set, edges, errors_of, plan_of, task, task_waves};

#[derive(Model)]
struct Ns {
    web: Role,
}

fn ns() -> Ns {
    Ns {
        web: Role::on("10.0.0.1"),
    }
}

#[derive(Model)]
struct Cfg {
    a: Task,
    b: Task,
    c: Task,
    d: Task,
    e: Task,
    deps: Deps,
}

fn cfg(deps: impl FnOnce(CfgRefs) -> Deps) -> Cfg {
    Cfg {
        a: Task::null(),
        b: Task::null(),
        c: Task::null(),
        d: Task::null(),
        e: Task::null(),
        deps: deps(Cfg::refs()),
    }
}

fn edges_of(deps: impl FnOnce(CfgRefs) -> Deps) -> std::collections::BTreeSet<(String, String)> {
    let ns = ns();
    let cfg = cfg(deps);
    edges(&plan_of(
        PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg),
    ))
}

#[test]
fn pipe_orders_b_after_a() {
    assert_eq!(
        edges_of(|r| Deps::new([r.a | r.b])),
        edge_set(&[("a", "b")])
    );
}

#[test]
fn a_chain_of_pipes_is_a_chain_of_edges() {
    assert_eq!(
        edges_of(|r| Deps::new([r.a | r.b | r.c])),
        edge_set(&[("a", "b"), ("b", "c")])
    );
}

#[test]
fn ampersand_group_then_task_links_every_member_to_the_task() {
    assert_eq!(
        edges_of(|r| Deps::new([(r.a & r.b) | r.c])),
        edge_set(&[("a", "c"), ("b", "c")])
    );
}

#[test]
fn group_to_group_links_every_exit_to_every_entry() {
    assert_eq!(
        edges_of(|r| Deps::new([group([r.a, r.b]) | group([r.c, r.d])])),
        edge_set(&[("a", "c"), ("a", "d"), ("b", "c"), ("b", "d")])
    );
}

#[test]
fn nested_expressions_use_the_entries_and_exits_of_each_part() {
    // a, then (b alongside (c then d)), then e
    assert_eq!(
        edges_of(|r| Deps::new([r.a | (r.b & (r.c | r.d)) | r.e])),
        edge_set(&[("a", "b"), ("a", "c"), ("c", "d"), ("b", "e"), ("d", "e")])
    );
    // (a then b) alongside c, all before d
    assert_eq!(
        edges_of(|r| Deps::new([group([r.a | r.b, dep(r.c)]) | r.d])),
        edge_set(&[("a", "b"), ("b", "d"), ("c", "d")])
    );
}

#[test]
fn several_expressions_accumulate_and_duplicate_edges_collapse() {
    assert_eq!(
        edges_of(|r| Deps::new([r.a.clone() | r.b.clone(), r.a | r.b.clone(), r.c | r.b])),
        edge_set(&[("a", "b"), ("c", "b")])
    );
}

#[test]
fn tasks_not_mentioned_have_no_dependencies_and_run_in_the_first_wave() {
    let ns = ns();
    let cfg = cfg(|r| Deps::new([r.a | r.b | r.c]));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert!(task(&p, "d").deps.is_empty());
    assert!(task(&p, "e").deps.is_empty());
    assert_eq!(task_waves(&p), [vec!["a", "d", "e"], vec!["b"], vec!["c"]]);
}

#[test]
fn no_deps_means_one_wave() {
    let ns = ns();
    let cfg = cfg(|_| Deps::none());
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert!(edges(&p).is_empty());
    assert_eq!(task_waves(&p), [vec!["a", "b", "c", "d", "e"]]);
}

#[test]
fn waves_follow_the_longest_chain() {
    let ns = ns();
    let cfg = cfg(|r| Deps::new([r.a.clone() | r.b | r.c.clone(), r.a | r.c, r.d | r.e]));
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(task_waves(&p), [vec!["a", "d"], vec!["b", "e"], vec!["c"]]);
}

#[test]
fn a_task_cycle_is_rejected_naming_the_cycle() {
    let ns = ns();
    let cfg = cfg(|r| Deps::new([r.a.clone() | r.b | r.c.clone(), r.c | r.a]));
    let e = errors_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    let d = diag_of(&e, DiagKind::TaskCycle);
    assert_eq!(d.model, "cfg");
    // the cycle is named with its first task repeated at the end, whichever task it starts at
    let names: Vec<&str> = d
        .message
        .rsplit(": ")
        .next()
        .unwrap()
        .split(" -> ")
        .collect();
    assert_eq!(names.len(), 4, "{d}");
    assert_eq!(names.first(), names.last(), "{d}");
    let mut members: Vec<&str> = names[..3].to_vec();
    members.sort_unstable();
    assert_eq!(members, ["cfg/a", "cfg/b", "cfg/c"], "{d}");
}

#[test]
fn a_task_after_itself_is_a_cycle() {
    // `a | a`, and a task after a group that holds it, are loops (as in Actuator).
    let ns = ns();
    let itself = cfg(|r| Deps::new([r.a.clone() | r.a]));
    let e = errors_of(
        PlanInput::new("t")
            .namespace("ns", &ns)
            .config("cfg", &itself),
    );
    let d = diag_of(&e, DiagKind::TaskCycle);
    assert!(d.message.ends_with(": cfg/a -> cfg/a"), "{d}");
    let after_group = cfg(|r| Deps::new([(r.a.clone() & r.b.clone()) | r.b]));
    let e = errors_of(
        PlanInput::new("t")
            .namespace("ns", &ns)
            .config("cfg", &after_group),
    );
    let d = diag_of(&e, DiagKind::TaskCycle);
    assert!(d.message.ends_with(": cfg/b -> cfg/b"), "{d}");
}

/// A nested config model: a struct of tasks with its own dependencies.
#[derive(Model, Clone)]
struct Setup {
    fetch: Task,
    build: Task,
    lint: Task,
    deps: Deps,
}

#[derive(Model)]
struct Outer {
    pre: Task,
    setup: Setup,
    post: Task,
    deps: Deps,
}

#[test]
fn a_struct_of_tasks_is_one_node_entered_at_its_entries_and_left_at_its_exits() {
    let ns = ns();
    let s = Setup::siblings();
    let r = Outer::refs();
    let cfg = Outer {
        pre: Task::null(),
        setup: Setup {
            fetch: Task::null(),
            build: Task::null(),
            lint: Task::null(),
            // fetch then build; lint unordered
            deps: Deps::new([s.fetch | s.build]),
        },
        post: Task::null(),
        deps: Deps::new([r.pre | r.setup | r.post]),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(
        edges(&p),
        edge_set(&[
            ("setup.fetch", "setup.build"),
            // entries of setup: fetch, lint
            ("pre", "setup.fetch"),
            ("pre", "setup.lint"),
            // exits of setup: build, lint
            ("setup.build", "post"),
            ("setup.lint", "post"),
        ])
    );
    assert_eq!(
        task_waves(&p),
        [
            vec!["pre"],
            vec!["setup.fetch", "setup.lint"],
            vec!["setup.build"],
            vec!["post"]
        ]
    );
}

#[test]
fn a_multi_of_tasks_is_one_node_too() {
    #[derive(Model)]
    struct C {
        first: Task,
        steps: Multi<Task>,
        last: Task,
        deps: Deps,
    }
    let ns = ns();
    let r = C::refs();
    let cfg = C {
        first: Task::null(),
        steps: Multi::new(Task::null()).keys(0..2),
        last: Task::null(),
        deps: Deps::new([r.first | r.steps | r.last]),
    };
    let p = plan_of(PlanInput::new("t").namespace("ns", &ns).config("cfg", &cfg));
    assert_eq!(
        edges(&p),
        edge_set(&[
            ("first", "steps[0]"),
            ("first", "steps[1]"),
            ("steps[0]", "last"),
            ("steps[1]", "last"),
        ])
    );
}
