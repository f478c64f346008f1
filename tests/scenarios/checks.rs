//! What the plan checks is found before any provider call: a missing template source, a
//! template that does not parse, a key the namespace does not declare. The orchestration
//! fails with the plan's errors and the cloud sees no call at all.

use std::time::Duration;

use hoist::{Model, MultiTask, OrchestrationError, Task};
use hoist_tests::{Fleet, FleetRoles, assert_success, builder, sim};

#[derive(Model)]
struct Conf {
    conf: MultiTask<Task>,
}

fn conf(task: impl Fn(hoist::Ref<hoist::Role>) -> Task + Send + Sync + 'static) -> Conf {
    Conf {
        conf: MultiTask::new(task, FleetRoles::refs().srv.all()),
    }
}

#[tokio::test]
async fn template_problems_fail_the_plan_before_any_provider_call() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("templates")).unwrap();
    std::fs::write(dir.path().join("templates/ok.j2"), "id = {{ ID }}\n").unwrap();
    std::fs::write(dir.path().join("templates/bad.j2"), "id = {{ ID \n").unwrap();
    for (src, why) in [
        ("templates/missing.j2", "cannot be read"),
        ("templates/bad.j2", "does not parse"),
    ] {
        let cloud = sim(Duration::ZERO);
        let orch = builder("checks", &cloud)
            .infra("fleet", Fleet::new(2))
            .namespace("ns", FleetRoles::new(2))
            .config("cfg", conf(move |r| Task::template(src, "id.conf").role(r)))
            .local_dir(dir.path())
            .build()
            .unwrap();
        let err = orch.initiate_system().await.unwrap_err();
        let OrchestrationError::Plan(e) = &err else {
            panic!("{err}");
        };
        assert!(e.to_string().contains(why), "{e}");
        let calls = cloud.calls();
        assert_eq!(
            (calls.total_creates(), calls.total_deletes(), calls.find),
            (0, 0, 0),
            "no provider call"
        );
        assert!(orch.state().await.unwrap().is_none(), "no run was recorded");
    }
    // The same with the file present goes through, and renders it.
    let cloud = sim(Duration::ZERO);
    let orch = builder("checks", &cloud)
        .infra("fleet", Fleet::new(2))
        .namespace("ns", FleetRoles::new(2))
        .config(
            "cfg",
            conf(|r| Task::template("templates/ok.j2", "id.conf").role(r)),
        )
        .local_dir(dir.path())
        .build()
        .unwrap();
    assert_success(&orch.initiate_system().await.unwrap());
}

#[test]
fn a_sudo_password_too_short_to_hide_is_refused() {
    let cloud = sim(Duration::ZERO);
    let err = builder("checks", &cloud)
        .sudo_password(hoist::Secret::new("pw"))
        .build()
        .err()
        .expect("refused");
    assert!(err.to_string().contains("at least 6"), "{err}");
}
