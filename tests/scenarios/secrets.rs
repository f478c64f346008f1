//! The secrets canary: a secret really used by tasks and a template never shows up in events,
//! reports, plans or recorded state.

use std::sync::Arc;

use hoist::state::FileStore;
use hoist::{HostRef, Model, Role, Secret, Task, TaskOutcome};
use hoist_tests::{Recorder, local_builder, read, state_of};

const CANARY: &str = "canary-3f9a1c";

#[derive(Model)]
struct Ns {
    host: Role,
}

#[derive(Model)]
struct Cfg {
    tpl: Task,
    env: Task,
    leak: Task,
}

#[tokio::test]
async fn a_secret_is_used_but_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let host = dir.path().join("host");
    let states = tempfile::tempdir().unwrap();
    let store = Arc::new(FileStore::new(states.path()));
    let role = Ns::refs().host;
    let ns = Ns {
        host: Role::on(HostRef::local(&host)).var("CANARY", Secret::new(CANARY)),
    };
    let cfg = Cfg {
        tpl: Task::template_text("token = {{ CANARY }}\n", "secret.conf").role(role.clone()),
        env: Task::shell("printf '%s\\n' \"$CANARY\" > env.txt").role(role.clone()),
        leak: Task::shell("echo !{CANARY} > canary.txt; echo \"out !{CANARY}\"; echo \"err !{CANARY}\" >&2; exit 4")
            .role(role),
    };
    let rec = Recorder::new();
    let orch = local_builder("secrets")
        .namespace("ns", ns)
        .config("cfg", cfg)
        .keep_going()
        .state(store.clone())
        .subscribe(rec.clone())
        .build()
        .unwrap();

    let plan = orch.plan().unwrap();
    let report = orch.initiate_system().await.unwrap();

    // It was really used.
    assert_eq!(read(&host, "secret.conf"), format!("token = {CANARY}\n"));
    assert_eq!(read(&host, "env.txt"), format!("{CANARY}\n"));
    assert_eq!(read(&host, "canary.txt"), format!("{CANARY}\n"));
    let leak = report.task("cfg/leak").unwrap();
    assert_eq!(leak.outcome, TaskOutcome::Failed, "{report}");
    let out = leak.output.as_ref().unwrap();
    assert_eq!(out.exit_code, Some(4));
    assert!(
        out.stdout.starts_with("out ") && out.stderr.starts_with("err "),
        "{out:?}"
    );
    assert!(
        leak.error.as_deref().unwrap().contains("canary.txt"),
        "the failed command is named: {report}"
    );

    // But shown nowhere.
    assert_success_elsewhere(&report);
    let events = rec.events();
    assert!(events.len() > 5);
    for e in &events {
        assert!(!format!("{e:?}").contains(CANARY), "in an event: {e:?}");
    }
    let shown = [
        ("report (Display)", report.to_string()),
        ("report (Debug)", format!("{report:?}")),
        ("plan (render)", plan.render()),
        ("plan (Display)", plan.to_string()),
        ("plan (Debug)", format!("{plan:?}")),
        (
            "state (JSON)",
            serde_json::to_string(&state_of(&orch).await).unwrap(),
        ),
        ("state (Debug)", format!("{:?}", state_of(&orch).await)),
        (
            "state file",
            std::fs::read_to_string(store.path_for("secrets")).unwrap(),
        ),
    ];
    for (what, text) in &shown {
        assert!(
            !text.contains(CANARY),
            "the secret shows in the {what}:\n{text}"
        );
    }
    assert!(
        shown[0].1.contains("| err "),
        "the captured stderr is in the report, scrubbed:\n{}",
        shown[0].1
    );
}

fn assert_success_elsewhere(report: &hoist::Report) {
    for key in ["cfg/tpl", "cfg/env"] {
        assert_eq!(
            report.task(key).unwrap().outcome,
            TaskOutcome::Changed,
            "{report}"
        );
    }
}
