//! `hoist state export` / `import`: JSON round trips between stores and backends, states from
//! an older hoist (schema 1) imported and migrated, newer ones refused; teardown from an
//! imported state.

use hoist::state::{RunOutcome, SCHEMA_VERSION, SystemState};

use crate::common::{Bed, pg_drop, pg_url, text};

const V1: &str = include_str!("../../../hoist-state/tests/fixtures/v1-shop.state.json");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_and_import_round_trip_and_teardown_runs_from_the_imported_state() {
    let bed = Bed::sqlite(1);
    bed.up("shop");
    let out = bed.hoist(&["state", "export"]);
    assert!(out.status.success(), "{}", text(&out));
    let exported: SystemState = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(exported, bed.state("shop").await.unwrap());
    assert_eq!(exported.schema, SCHEMA_VERSION);
    assert_eq!(exported.resources.len(), 19);
    let file = bed.dir.path().join("shop.json");
    std::fs::write(&file, &out.stdout).unwrap();

    // Into another SQLite store, then into PostgreSQL (when there is one).
    let mut targets = vec![(bed.dir.path().join("other.db").display().to_string(), None)];
    if let Some((url, schema)) = pg_url("export") {
        targets.push((url, Some(schema)));
    }
    for (i, (target, schema)) in targets.iter().enumerate() {
        let f = file.display().to_string();
        let import = bed.hoist(&["state", "import", &f, "--state", target]);
        assert!(import.status.success(), "{}", text(&import));
        let store = hoist::state::open(target).await.unwrap();
        let mut got = store.load("shop").await.unwrap().unwrap();
        let run = got.runs.pop().unwrap();
        assert_eq!(
            (run.action.as_str(), run.outcome),
            ("import", RunOutcome::Succeeded)
        );
        assert_eq!(got, exported, "{target}");
        let list = bed.hoist(&["state", "list", "--state", target]);
        assert_eq!(String::from_utf8_lossy(&list.stdout).trim(), "shop");

        // Not over an existing state, unless asked to.
        let again = bed.hoist(&["state", "import", &f, "--state", target]);
        assert!(!again.status.success());
        assert!(text(&again).contains("--replace"), "{}", text(&again));
        let replace = bed.hoist(&["state", "import", &f, "--replace", "--state", target]);
        assert!(replace.status.success(), "{}", text(&replace));
        let wrong = bed.hoist(&[
            "state", "import", &f, "--system", "other", "--state", target,
        ]);
        assert!(text(&wrong).contains("not `other`"), "{}", text(&wrong));

        // The last copy tears the system down: the imported state is all it takes.
        if i + 1 == targets.len() {
            let down = bed.hoist(&["down", "--yes", "--state", target]);
            assert!(down.status.success(), "{}", text(&down));
            assert!(bed.objects("shop").is_empty());
        }
        if let Some(schema) = schema {
            pg_drop(target, schema).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_export_is_imported_and_a_newer_one_is_refused() {
    let bed = Bed::sqlite(1);
    let v1 = bed.dir.path().join("v1.json");
    std::fs::write(&v1, V1).unwrap();
    let out = bed.hoist(&["state", "import", &v1.display().to_string()]);
    assert!(out.status.success(), "{}", text(&out));
    let s = bed.state("shop").await.unwrap();
    assert_eq!(s.schema, SCHEMA_VERSION);
    assert_eq!(s.resources["web/net"].tags["hoist:resource"], "web/net");
    assert_eq!(s.runs.iter().filter(|r| r.id.starts_with("v1-")).count(), 3);
    let status = bed.hoist(&["status"]);
    let st = text(&status);
    assert!(
        st.contains("web/subnet")
            && st.contains("creating")
            && st.contains(&format!("schema {SCHEMA_VERSION}")),
        "{st}"
    );

    let mut newer: serde_json::Value = serde_json::from_str(V1).unwrap();
    newer["schema"] = serde_json::json!(SCHEMA_VERSION + 1);
    newer["system"] = serde_json::json!("future");
    let f = bed.dir.path().join("newer.json");
    std::fs::write(&f, newer.to_string()).unwrap();
    let out = bed.hoist(&["state", "import", &f.display().to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("upgrade hoist"), "{}", text(&out));
    assert!(bed.state("future").await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_names_what_is_missing() {
    let bed = Bed::sqlite(1);
    let out = bed.hoist(&["down", "--yes"]);
    assert!(text(&out).contains("no hoist state at"), "{}", text(&out));
    assert!(
        !std::path::Path::new(&bed.state).exists(),
        "nothing was created"
    );
    // A state with no system in it (a run killed before it recorded anything): nothing to do.
    hoist::state::open(&bed.state).await.unwrap();
    let out = bed.hoist(&["down", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("nothing to tear down: no system is recorded"),
        "{}",
        text(&out)
    );
    bed.up("a");
    bed.up("b");
    let out = bed.hoist(&["status"]);
    assert!(
        text(&out).contains("several systems (a, b)"),
        "{}",
        text(&out)
    );
    let out = bed.hoist(&["down", "--system", "a"]);
    assert!(
        text(&out).contains("--yes") && text(&out).contains("19 recorded"),
        "{}",
        text(&out)
    );
    // Without the cloud's location, teardown names the missing proxy.
    let out = std::process::Command::new(crate::common::HOIST)
        .args(["down", "--yes", "--system", "a", "--state", &bed.state])
        .env_remove("HOIST_SIM_STATE")
        .output()
        .unwrap();
    assert!(text(&out).contains("HOIST_SIM_STATE"), "{}", text(&out));
    assert_eq!(bed.objects("a").len(), 19);
    bed.down("a");
    bed.down("b");
}

/// A model field renamed: `hoist state mv` records the objects under the new addresses, and
/// the next initiate with the renamed model makes nothing new; `hoist state rm` forgets.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_mv_follows_a_renamed_field_and_state_rm_forgets() {
    use hoist::{Model, Multi, Network, Server, Subnet};

    #[derive(Model)]
    struct Before {
        net: Network,
        subnet: Subnet,
        srv: Multi<Server>,
    }
    #[derive(Model)]
    struct After {
        net: Network,
        subnet: Subnet,
        servers: Multi<Server>,
    }
    let before = || {
        let r = Before::refs();
        Before {
            net: Network::new("10.40.0.0/16"),
            subnet: Subnet::new(r.net.clone(), "10.40.1.0/24"),
            srv: Multi::new(Server::new("debian-12", "small", r.subnet.clone())).keys(0..2),
        }
    };
    let after = || {
        let r = After::refs();
        After {
            net: Network::new("10.40.0.0/16"),
            subnet: Subnet::new(r.net.clone(), "10.40.1.0/24"),
            servers: Multi::new(Server::new("debian-12", "small", r.subnet.clone())).keys(0..2),
        }
    };
    let bed = Bed::sqlite(0);
    let cloud = hoist::sim::SimCloud::builder().persist(&bed.sim).build();
    let store = hoist::state::open(&bed.state).await.unwrap();
    let orch = |b: hoist::OrchestrationBuilder| {
        b.provisioner(std::sync::Arc::new(cloud.clone()))
            .state(store.clone())
            .build()
            .unwrap()
    };
    let up = orch(hoist::Orchestration::builder("shop").infra("web", before()));
    assert!(up.initiate_system().await.unwrap().success);

    let bad = bed.hoist(&["state", "mv", "web/srv[", "web/servers"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(text(&bad).contains("bad address"), "{}", text(&bad));
    let nothing = bed.hoist(&["state", "mv", "web/nope", "web/servers"]);
    assert!(
        text(&nothing).contains("no resource or task"),
        "{}",
        text(&nothing)
    );

    let out = bed.hoist(&["state", "mv", "web/srv", "web/servers"]);
    assert!(out.status.success(), "{}", text(&out));
    let s = bed.state("shop").await.unwrap();
    let keys: Vec<&str> = s.resources.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        ["web/net", "web/servers[0]", "web/servers[1]", "web/subnet"]
    );
    assert_eq!(s.runs.last().unwrap().action, "state-mv");

    let creates = cloud.calls().total_creates();
    let renamed = orch(hoist::Orchestration::builder("shop").infra("web", after()));
    let report = renamed.initiate_system().await.unwrap();
    assert!(report.nothing_to_do, "{report}");
    assert_eq!(cloud.calls().total_creates(), creates, "no replacement");

    let out = bed.hoist(&["state", "rm", "web/servers[1]"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(bed.state("shop").await.unwrap().resources.len(), 3);
    assert_eq!(cloud.count(), 4, "the cloud is not touched");
}
