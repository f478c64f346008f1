//! The quick start end to end: the web system on the simulated cloud, configured, inspected
//! and torn down.

use std::path::PathBuf;
use std::time::Duration;

use hoist::{ResourceOutcome, TaskOutcome};
use hoist_tests::{
    assert_success, builder, output_of, read, resource_outcomes, sandbox_of, sim, sorted, state_of,
    tasks_where,
};
use hoist_webapp::{WebConfig, WebInfra, WebNamespace, WebParams};

#[tokio::test]
async fn quick_start_provisions_configures_and_tears_down() {
    let params = WebParams::default();
    let cloud = sim(Duration::ZERO);
    let orch = builder("quickstart", &cloud)
        .infra("web", WebInfra::new(&params))
        .namespace("ns", WebNamespace::new(&params))
        .config("cfg", WebConfig::new())
        .build()
        .unwrap();
    let plan = orch.plan().unwrap();
    let planned = sorted(plan.resources.iter().map(hoist::PlannedResource::key));
    assert_eq!(
        planned.len(),
        4 + params.apps + 2,
        "net, subnet, sg, db, apps, lb, lb_ip: {planned:?}"
    );

    let report = orch.initiate_system().await.unwrap();
    assert_success(&report);
    let outcomes = resource_outcomes(&report);
    assert_eq!(sorted(outcomes.keys()), planned, "{report}");
    assert!(
        outcomes.values().all(|o| *o == ResourceOutcome::Created),
        "{report}"
    );
    assert_eq!(cloud.count(), planned.len());
    assert_eq!(report.tasks.len(), plan.tasks.len(), "{report}");
    assert_eq!(
        tasks_where(&report, |o| matches!(
            o,
            TaskOutcome::Failed | TaskOutcome::NotRun
        )),
        Vec::<String>::new()
    );

    // The rendered files really are on the simulated hosts, wired to the provisioned addresses.
    let state = state_of(&orch).await;
    let db_ip = output_of(&state, "web/db", "private_ip");
    let app0 = sandbox_of(&state, "web/app[0]");
    let app_conf = read(&app0, "etc/app.conf");
    assert!(
        app_conf.contains(&format!("host = {db_ip}\n")),
        "app.conf does not name the db ({db_ip}):\n{app_conf}"
    );
    assert!(app_conf.contains("name = app-0\n"), "{app_conf}");
    let lb_conf = read(&sandbox_of(&state, "web/lb"), "lb.conf");
    for k in 0..params.apps {
        let ip = output_of(&state, &format!("web/app[{k}]"), "private_ip");
        let line = format!("server app{k} {ip}:{} check", params.app_port);
        assert!(
            lb_conf.contains(&line),
            "lb.conf lacks `{line}`:\n{lb_conf}"
        );
    }
    assert!(
        read(&sandbox_of(&state, "web/db"), "data/init.sql")
            .contains("CREATE DATABASE shop OWNER app;")
    );

    let sandboxes: Vec<PathBuf> = state
        .resources
        .values()
        .filter_map(|r| r.outputs.get("sandbox")?.as_str().map(PathBuf::from))
        .collect();
    assert!(
        sandboxes.len() > params.apps && sandboxes.iter().all(|d| d.is_dir()),
        "{sandboxes:?}"
    );

    let down = orch.teardown_system().await.unwrap();
    assert_success(&down);
    assert_eq!(
        down.count_resources(&ResourceOutcome::Deleted),
        planned.len(),
        "{down}"
    );
    assert_eq!(cloud.count(), 0);
    assert!(cloud.sandboxes().is_empty());
    for d in &sandboxes {
        assert!(!d.exists(), "sandbox {} is left behind", d.display());
    }
    assert!(state_of(&orch).await.resources.is_empty());
}
