//! Partial runs: infra only; configuration only, against local hosts and fixed hosts.

use std::time::Duration;

use hoist::{
    EventKind, FixedHost, HostRef, Model, Phase, ResourceOutcome, Role, Secret, Task, TaskOutcome,
};
use hoist_tests::{
    Fleet, Recorder, assert_success, builder, local_builder, read, resources_with, sim, sorted,
};

#[tokio::test]
async fn infra_only_provisions_and_runs_no_tasks() {
    let cloud = sim(Duration::ZERO);
    let rec = Recorder::new();
    let orch = builder("infra-only", &cloud)
        .infra("fleet", Fleet::new(3))
        .subscribe(rec.clone())
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);
    assert_eq!(
        resources_with(&report, &ResourceOutcome::Created),
        sorted(Fleet::keys("fleet", 3))
    );
    assert!(report.tasks.is_empty());
    assert_eq!(cloud.count(), 5);
    let phases: Vec<Phase> = rec
        .kinds()
        .into_iter()
        .filter_map(|k| match k {
            EventKind::PhaseStarting(p) => Some(p),
            _ => None,
        })
        .collect();
    assert_eq!(phases, [Phase::Provisioning]);
    assert_success(&orch.teardown_system().await.unwrap());
}

#[derive(Model)]
struct Ns {
    web: Role,
    db: Role,
}

#[derive(Model)]
struct Files {
    who: hoist::MultiTask<Task>,
    greeting: Task,
    conf: Task,
}

fn files() -> Files {
    let ns = Ns::refs();
    let both = hoist::Selection::from(vec![ns.web.clone(), ns.db.clone()]);
    Files {
        who: hoist::MultiTask::new(|r| Task::shell("echo !{NAME} > who.txt").role(r), both),
        greeting: Task::copy_content("hello\n", "greeting.txt").role(ns.web.clone()),
        conf: Task::template_text("name = {{ NAME }}\nport = {{ PORT }}\n", "db.conf").role(ns.db),
    }
}

#[tokio::test]
async fn config_only_against_local_hosts_needs_no_cloud() {
    let dir = tempfile::tempdir().unwrap();
    let (web, db) = (dir.path().join("web"), dir.path().join("db"));
    let ns = Ns {
        web: Role::on(HostRef::local(&web)).var("NAME", "web"),
        db: Role::on(HostRef::local(&db))
            .var("NAME", "db")
            .var("PORT", "5432")
            .var("UNUSED", Secret::new("never-used")),
    };
    let orch = local_builder("config-only")
        .namespace("ns", ns)
        .config("cfg", files())
        .build()
        .unwrap();
    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);
    assert!(report.resources.is_empty());
    assert_eq!(
        report.count_tasks(|o| *o == TaskOutcome::Changed),
        4,
        "{report}"
    );
    assert_eq!(read(&web, "who.txt"), "web\n");
    assert_eq!(read(&db, "who.txt"), "db\n");
    assert_eq!(read(&web, "greeting.txt"), "hello\n");
    assert_eq!(read(&db, "db.conf"), "name = db\nport = 5432\n");
}

#[derive(Model)]
struct Hosts {
    h: FixedHost,
}

#[derive(Model)]
struct OneRole {
    host: Role,
}

#[derive(Model)]
struct Hello {
    hello: Task,
}

/// The same config against three forms of a local host: a local host ref, a `local:` address,
/// and a fixed-host infra resource with a `local:` address (the built-in fixed proxy).
#[tokio::test]
async fn every_form_of_fixed_local_host_is_configured() {
    for form in ["HostRef::local", "address", "FixedHost"] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host");
        std::fs::create_dir_all(&path).unwrap();
        let addr = format!("local:{}", path.display());
        let host: HostRef = match form {
            "HostRef::local" => HostRef::local(&path),
            "address" => HostRef::from(addr.as_str()),
            _ => HostRef::from(Hosts::refs().h),
        };
        let b = local_builder("fixed")
            .namespace(
                "ns",
                OneRole {
                    host: Role::on(host).var("FORM", form),
                },
            )
            .config(
                "cfg",
                Hello {
                    hello: Task::shell("echo !{FORM} > hello.txt").role(OneRole::refs().host),
                },
            );
        let b = if form == "FixedHost" {
            b.infra(
                "hosts",
                Hosts {
                    h: FixedHost::new(addr.clone()),
                },
            )
        } else {
            b
        };
        let orch = b.build().unwrap();
        let report = orch.initiate_system().await.unwrap();
        assert!(report.success, "{form}:\n{report}");
        assert_eq!(read(&path, "hello.txt"), format!("{form}\n"), "{form}");
        if form == "FixedHost" {
            let r = report.resource("hosts/h").unwrap();
            assert_eq!(
                (r.outcome.clone(), r.provider.as_str()),
                (ResourceOutcome::Created, hoist::FIXED_PROXY)
            );
            let down = orch.teardown_system().await.unwrap();
            assert_success(&down);
            assert!(
                path.join("hello.txt").exists(),
                "a fixed host is not deleted, only forgotten"
            );
        }
    }
}
