//! State written with schema 1 is read, and migrated, by this version.

use std::sync::Arc;

use hoist_state::{
    FileStore, PgStore, ResourceStatus, RunOutcome, SCHEMA_VERSION, SqliteStore, StateError,
    StateStore, SystemState,
};

const FIXTURE: &str = include_str!("../fixtures/v1-shop.state.json");

/// What every store must make of the schema-1 `shop` state.
fn check_migrated(s: &SystemState) {
    assert_eq!(s.schema, SCHEMA_VERSION);
    assert!(
        s.resources.values().all(|r| r.identity.is_none()),
        "unknown before schema 3"
    );
    assert_eq!(s.system, "shop");
    assert_eq!(s.generation, 1);
    assert_eq!(s.resources.len(), 2);
    let net = &s.resources["web/net"];
    assert_eq!(net.status, ResourceStatus::Created);
    assert_eq!(net.provider_id.as_deref(), Some("net-0002"));
    assert_eq!(net.outputs["cidr"], "10.0.0.0/16");
    assert_eq!(net.generation, 1, "from the token");
    assert_eq!(net.tags["hoist:token"], net.token);
    assert_eq!(net.tags["hoist:resource"], "web/net");
    assert_eq!(net.tags["hoist:system"], "shop");
    assert_eq!(s.resources["web/subnet"].status, ResourceStatus::Creating);
    assert_eq!(s.resources["web/subnet"].deps, ["web/net"]);
    assert_eq!(s.tasks["cfg/hello"].attempts, 1);
    let outcomes: Vec<RunOutcome> = s.runs.iter().map(|r| r.outcome).collect();
    assert_eq!(
        outcomes,
        [
            RunOutcome::Succeeded,
            RunOutcome::Succeeded,
            RunOutcome::Failed
        ]
    );
    let ids: Vec<&str> = s.runs.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["v1-0", "v1-1", "v1-2"]);
    assert_eq!(s.runs[2].by, "bob@laptop");
    assert_eq!(s.runs[0].finished, Some(1_700_000_010));
    assert_eq!((s.lkg.as_ref(), s.lkb.as_ref()), (None, None));
}

#[tokio::test]
async fn a_schema_1_json_file_is_read_and_rewritten_in_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    std::fs::write(store.path_for("shop"), FIXTURE).unwrap();
    let s = store.load("shop").await.unwrap().unwrap();
    check_migrated(&s);
    // The next write stores the current schema.
    store
        .apply("shop", None, &[hoist_state::Change::SetGeneration(2)])
        .await
        .unwrap();
    let text = std::fs::read_to_string(store.path_for("shop")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["schema"], hoist_state::SCHEMA_VERSION);
    assert!(v["runs"][0].get("success").is_none() && v["runs"][0]["outcome"] == "succeeded");
}

/// The schema-1 rows of the fixture, as hoist 1's tables would hold them (`?` placeholders
/// are filled per backend).
fn v1_rows() -> Vec<String> {
    let s: serde_json::Value = serde_json::from_str(FIXTURE).unwrap();
    let q = |v: &serde_json::Value| match v {
        serde_json::Value::Null => "NULL".to_string(),
        serde_json::Value::String(t) => format!("'{}'", t.replace('\'', "''")),
        other => format!("'{}'", other.to_string().replace('\'', "''")),
    };
    let mut out = vec![format!(
        "INSERT INTO {{s}}.systems (name, generation) VALUES ('shop', {})",
        s["generation"]
    )];
    for r in s["resources"].as_object().unwrap().values() {
        out.push(format!(
            "INSERT INTO {{s}}.resources (system, key, name, kind, provider, deps, status, token, provider_id, outputs, error) \
             VALUES ('shop', {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
            q(&r["key"]), q(&r["name"]), q(&r["kind"]), q(&r["provider"]), q(&r["deps"]), q(&r["status"]),
            q(&r["token"]), q(&r["provider_id"]), q(&r["outputs"]), q(&r["error"])
        ));
    }
    for t in s["tasks"].as_object().unwrap().values() {
        out.push(format!(
            "INSERT INTO {{s}}.tasks (system, key, status, attempts, host, error) VALUES ('shop', {}, {}, {}, {}, {})",
            q(&t["key"]), q(&t["status"]), t["attempts"], q(&t["host"]), q(&t["error"])
        ));
    }
    for (i, r) in s["runs"].as_array().unwrap().iter().enumerate() {
        out.push(format!(
            "INSERT INTO {{s}}.runs (system, seq, action, started, finished, success, by_) VALUES ('shop', {}, {}, {}, {}, {}, {})",
            i + 1, q(&r["action"]), r["started"], r["finished"], r["success"], q(&r["by"])
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_sqlite_database_is_migrated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let old = SqliteStore::open_at_schema(&path, 1).unwrap();
        let sql: Vec<String> = v1_rows().iter().map(|r| r.replace("{s}.", "")).collect();
        old.with(move |c| {
            for s in &sql {
                c.execute_batch(s).unwrap();
            }
            let v: u32 = c
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .unwrap();
            assert_eq!(v, 1);
            Ok(())
        })
        .await
        .unwrap();
    }
    let store: Arc<dyn StateStore> = Arc::new(SqliteStore::open(&path).unwrap());
    check_migrated(&store.load("shop").await.unwrap().unwrap());
    let new = SqliteStore::open(&path).unwrap();
    let v = new
        .with(|c| {
            Ok(
                c.query_row("PRAGMA user_version", [], |r| r.get::<_, u32>(0))
                    .unwrap(),
            )
        })
        .await
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);

    // A database from a newer hoist is refused.
    new.with(|c| {
        c.pragma_update(None, "user_version", 99).unwrap();
        Ok(())
    })
    .await
    .unwrap();
    drop(new);
    drop(store);
    match SqliteStore::open(&path) {
        Err(e @ StateError::TooNew { found: 99, .. }) => {
            assert!(e.to_string().contains("upgrade hoist"), "{e}");
        }
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schema_1_postgres_database_is_migrated() {
    let Some(url) = crate::pg_url() else { return };
    let schema = crate::pg_schema("migrate");
    {
        let old = PgStore::connect_at_schema(&url, &schema, 1).await.unwrap();
        old.batch(&v1_rows().join(";\n")).await.unwrap();
    }
    let store = PgStore::connect_in(&url, &schema).await.unwrap();
    check_migrated(&store.load("shop").await.unwrap().unwrap());
    store
        .batch("UPDATE {s}.schema_version SET version = 99")
        .await
        .unwrap();
    let e = PgStore::connect_in(&url, &schema).await.unwrap_err();
    assert!(matches!(e, StateError::TooNew { found: 99, .. }), "{e}");
    crate::pg_drop(&url, &schema).await;
}
