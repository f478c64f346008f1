//! Re-running an orchestration against real hosts: a succeeded task runs again exactly where
//! what it does changed (its fingerprint), and a no-change re-run connects to no host.

use std::sync::Arc;
use std::time::Duration;

use hoist_core::{Model, Multi, MultiTask, Role, Task};
use hoist_orchestrator::{Orchestration, Readiness, TaskOutcome};
use hoist_state::MemoryStore;

use crate::ok;
use crate::testbed::Testbed;

#[derive(Model)]
#[hoist(crate = "hoist_core")]
struct Ns {
    host: Multi<Role>,
}

#[derive(Model)]
#[hoist(crate = "hoist_core")]
struct Cfg {
    /// A template reading WHO.
    greet: MultiTask<Task>,
    /// A command reading nothing but its host.
    stamp: MultiTask<Task>,
}

fn orch(bed: &Testbed, store: &Arc<MemoryStore>, who: [&'static str; 3]) -> Orchestration {
    let hosts = bed.hosts.clone();
    let ns = Ns {
        host: Multi::from_fn(move |k| {
            let i = k.as_str().parse::<usize>().unwrap_or(0);
            let h = &hosts[i];
            Role::on(h.address.as_str()).port(h.port).var("WHO", who[i])
        })
        .keys(0..3),
    };
    let all = || Ns::refs().host.all();
    let cfg = Cfg {
        greet: MultiTask::new(
            |r| Task::template_text("hello {{ WHO }}\n", "/root/greeting").role(r),
            all(),
        ),
        stamp: MultiTask::new(|r| Task::shell("hostname >> /root/stamps").role(r), all()),
    };
    Orchestration::builder("rerun")
        .state(store.clone())
        .namespace("ns", ns)
        .config("cfg", cfg)
        .connector(Arc::new(bed.connector()))
        .readiness(Readiness {
            attempts: 2,
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            ..Readiness::default()
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn only_the_hosts_whose_template_inputs_changed_run_it_again() {
    let Some(bed) = Testbed::up(3) else { return };
    let store = Arc::new(MemoryStore::new());
    let first = orch(&bed, &store, ["ann", "bob", "cy"])
        .initiate_system()
        .await
        .unwrap();
    assert!(first.success, "{first}");

    // Nothing changed: nothing runs.
    let again = orch(&bed, &store, ["ann", "bob", "cy"])
        .initiate_system()
        .await
        .unwrap();
    assert!(again.nothing_to_do, "{again}");

    // host 1's WHO changed: its template only.
    let changed = orch(&bed, &store, ["ann", "bea", "cy"]);
    let diff = changed.diff().await.unwrap();
    let planned: Vec<&str> = diff.tasks.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(planned, ["cfg/greet[host[1]]"], "{diff}");
    let report = changed.initiate_system().await.unwrap();
    assert!(report.success, "{report}");
    let ran: Vec<&str> = report
        .tasks
        .iter()
        .filter(|t| t.outcome != TaskOutcome::AlreadyDone)
        .map(|t| t.key.as_str())
        .collect();
    assert_eq!(ran, ["cfg/greet[host[1]]"], "{report}");
    let ssh = bed.connector();
    for (i, who) in ["ann", "bea", "cy"].into_iter().enumerate() {
        let t = ssh.connect_host(&bed.target(i, None)).await.unwrap();
        assert_eq!(ok(&t, "cat /root/greeting").await, format!("hello {who}\n"));
        let stamps = ok(&t, "wc -l < /root/stamps").await;
        assert_eq!(stamps.trim(), "1", "host {i}: the command ran once");
    }
}

#[tokio::test]
async fn a_copy_the_host_already_has_changes_nothing_over_sftp() {
    use hoist_core::{Action, CopySource};
    use hoist_exec::{MapVars, TaskContext, TaskOutcome as Outcome, run_action};

    let Some(bed) = Testbed::up(1) else { return };
    let t = bed
        .connector()
        .connect_host(&bed.target(0, None))
        .await
        .unwrap();
    let vars = MapVars::new();
    let cx = TaskContext::new(Some(&*t), &vars);
    // Larger than one SFTP read, so that reading back takes several.
    let big: String = (0..20_000).map(|i| format!("line {i}\n")).collect();
    let copy = |text: &str, mode| Action::Copy {
        src: CopySource::Content(text.into()),
        dest: "/root/big.txt".into(),
        mode: Some(mode),
        owner: None,
        group: None,
    };
    let outcome = |a: Action| {
        let cx = &cx;
        async move { run_action(&a, cx).await.unwrap().outcome }
    };
    assert_eq!(outcome(copy(&big, 0o640)).await, Outcome::Changed);
    assert_eq!(outcome(copy(&big, 0o640)).await, Outcome::Unchanged);
    assert_eq!(outcome(copy(&big, 0o600)).await, Outcome::Changed, "mode");
    ok(&t, "echo edited >> /root/big.txt").await;
    assert_eq!(
        outcome(copy(&big, 0o600)).await,
        Outcome::Changed,
        "content"
    );
    let sum = ok(&t, "wc -l < /root/big.txt").await;
    assert_eq!(sum.trim(), "20000");
    assert_eq!(ok(&t, "stat -c %a /root/big.txt").await.trim(), "600");
}
