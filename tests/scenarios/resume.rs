//! Resume: a run that failed part-way is re-run, and only what is not done yet is done.

use std::sync::Arc;
use std::time::Duration;

use hoist::provider::ErrorKind;
use hoist::sim::Fault;
use hoist::state::{FileStore, ResourceStatus};
use hoist::{
    Deps, HostRef, Model, Network, PublicIp, ResourceOutcome, Role, Server, Subnet, Task,
    TaskOutcome,
};
use hoist_tests::{
    assert_success, builder, local_builder, outcome_map, resource_outcomes, sim, state_of,
    task_outcomes,
};

/// Two servers side by side; `a` has a public IP.
#[derive(Model)]
struct Pair {
    net: Network,
    subnet: Subnet,
    a: Server,
    b: Server,
    a_ip: PublicIp,
}

fn pair() -> Pair {
    let r = Pair::refs();
    Pair {
        net: Network::new("10.40.0.0/16"),
        subnet: Subnet::new(r.net.clone(), "10.40.1.0/24"),
        a: Server::new("debian-12", "small", r.subnet.clone()),
        b: Server::new("debian-12", "small", r.subnet.clone()),
        a_ip: PublicIp::new(r.a.clone()),
    }
}

/// Run 1 fails on `infra/a`; run 2 resumes, either on the same orchestration or (a new
/// process) on a new one built from the same models and the same state file.
#[tokio::test]
async fn a_failed_create_is_resumed_without_duplicates() {
    use ResourceOutcome::{AlreadyPresent, Created, Failed, NotAttempted};
    for new_process in [false, true] {
        let cloud = sim(Duration::ZERO);
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FileStore::new(dir.path()));
        let quota = Fault::once(ErrorKind::QuotaExceeded, "vCPU limit reached");
        cloud.faults().fail_create("infra/a", quota);
        let make = || {
            builder("resume", &cloud)
                .infra("infra", pair())
                .state(store.clone())
                .fail_fast()
                .build()
                .unwrap()
        };
        let orch = make();
        let planned = orch.plan().unwrap().resources.len();

        let first = orch.initiate_system().await.unwrap();
        assert!(!first.success && !first.cancelled, "{first}");
        let expect = outcome_map(&[
            ("infra/net", Created),
            ("infra/subnet", Created),
            ("infra/a", Failed),
            ("infra/b", Created),
            ("infra/a_ip", NotAttempted),
        ]);
        assert_eq!(resource_outcomes(&first), expect, "{first}");
        let error = first.resource("infra/a").unwrap().error.clone().unwrap();
        assert!(error.contains("vCPU limit reached"), "{first}");
        assert_eq!(
            cloud.count(),
            3,
            "the independent server that finished stays"
        );
        let state = state_of(&orch).await;
        assert_eq!(state.resources["infra/a"].status, ResourceStatus::Failed);
        assert!(
            !state.resources.contains_key("infra/a_ip"),
            "never attempted: not recorded"
        );

        let orch = if new_process { make() } else { orch };
        let before = cloud.calls();
        let second = orch.initiate_system().await.unwrap();
        assert_success(&second);
        let expect = outcome_map(&[
            ("infra/net", AlreadyPresent),
            ("infra/subnet", AlreadyPresent),
            ("infra/a", Created),
            ("infra/b", AlreadyPresent),
            ("infra/a_ip", Created),
        ]);
        assert_eq!(resource_outcomes(&second), expect, "{second}");
        let after = cloud.calls();
        let new_creates = |kind: &str| after.creates(kind) - before.creates(kind);
        assert_eq!(new_creates("core.network") + new_creates("core.subnet"), 0);
        assert_eq!(
            new_creates("core.server"),
            1,
            "only the failed server is created again"
        );
        assert_eq!(new_creates("core.public_ip"), 1);
        assert_eq!(
            after.find - before.find,
            1,
            "the failed create is first looked up"
        );
        assert_eq!(cloud.count(), planned, "no duplicates");
        for key in expect.keys() {
            let n = cloud.objects().iter().filter(|o| &o.key == key).count();
            assert_eq!(n, 1, "{key}");
        }
        let state = state_of(&orch).await;
        assert!(
            state
                .resources
                .values()
                .all(|r| r.status == ResourceStatus::Created)
        );
    }
}

#[tokio::test]
async fn a_failed_task_is_resumed_and_succeeded_tasks_are_not_run_again() {
    #[derive(Model)]
    struct Ns {
        host: Role,
    }
    #[derive(Model)]
    struct Cfg {
        first: Task,
        gate: Task,
        last: Task,
        deps: Deps,
    }
    let dir = tempfile::tempdir().unwrap();
    let ns = Ns {
        host: Role::on(HostRef::local(dir.path())),
    };
    let r = Cfg::refs();
    let role = Ns::refs().host;
    let cfg = Cfg {
        first: Task::shell("echo run >> first.log").role(role.clone()),
        gate: Task::shell("test -f open").role(role.clone()),
        last: Task::shell("echo run >> last.log").role(role),
        deps: Deps::new([r.first | r.gate | r.last]),
    };
    let orch = local_builder("resume-cfg")
        .namespace("ns", ns)
        .config("cfg", cfg)
        .build()
        .unwrap();

    let first = orch.initiate_system().await.unwrap();
    assert!(!first.success, "{first}");
    let outcomes = task_outcomes(&first);
    assert_eq!(outcomes["cfg/first"], TaskOutcome::Changed);
    assert_eq!(outcomes["cfg/gate"], TaskOutcome::Failed);
    assert_eq!(outcomes["cfg/last"], TaskOutcome::NotRun);

    std::fs::write(dir.path().join("open"), "").unwrap();
    let second = orch.initiate_system().await.unwrap();
    assert_success(&second);
    let outcomes = task_outcomes(&second);
    assert_eq!(outcomes["cfg/first"], TaskOutcome::AlreadyDone);
    assert_eq!(outcomes["cfg/gate"], TaskOutcome::Changed);
    assert_eq!(outcomes["cfg/last"], TaskOutcome::Changed);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("first.log")).unwrap(),
        "run\n",
        "not run again"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("last.log")).unwrap(),
        "run\n"
    );
}
