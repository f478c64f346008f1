use super::*;

fn sample() -> SystemState {
    let mut s = SystemState::new("demo");
    s.resources.insert(
        "web/db".into(),
        ResourceRecord {
            key: "web/db".into(),
            name: "db".into(),
            kind: "core.server".into(),
            provider: "sim".into(),
            deps: vec!["web/subnet".into()],
            status: ResourceStatus::Created,
            token: s.token_for("web/db"),
            provider_id: Some("srv-0001".into()),
            outputs: [("ip".to_string(), serde_json::json!("10.0.1.4"))].into(),
            error: None,
            tags: [("hoist:system".to_string(), "demo".to_string())].into(),
            generation: 0,
            identity: Some(CloudIdentity::new("sim", "store-1")),
            spec: Some(serde_json::json!({"size": "small"})),
            incarnation: 1,
            protect: true,
            deposed_of: None,
            updating: None,
        },
    );
    s
}

#[tokio::test]
async fn file_store_round_trips_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let st = FileStore::new(dir.path().join(".hoist"));
    assert_eq!(st.load("demo").await.unwrap(), None);
    st.save(&sample()).await.unwrap();
    let again = FileStore::new(dir.path().join(".hoist"));
    assert_eq!(again.load("demo").await.unwrap(), Some(sample()));
    assert_eq!(again.systems().await.unwrap(), ["demo"]);
}

#[tokio::test]
async fn newer_schema_is_refused_and_corruption_named() {
    let dir = tempfile::tempdir().unwrap();
    let st = FileStore::new(dir.path());
    let mut s = sample();
    s.schema = SCHEMA_VERSION + 1;
    st.save(&s).await.unwrap();
    assert!(
        matches!(st.load("demo").await, Err(StateError::TooNew { found, .. }) if found == SCHEMA_VERSION + 1)
    );
    std::fs::write(st.path_for("demo"), b"{ not json").unwrap();
    let e = st.load("demo").await.unwrap_err().to_string();
    assert!(e.contains("corrupt"), "{e}");
}

#[test]
fn tokens_change_with_generation() {
    let mut s = SystemState::new("demo");
    let a = s.token_for("web/db");
    s.generation += 1;
    assert_ne!(a, s.token_for("web/db"));
    assert_eq!(migrate::generation_of_token(&s.token_for("x")), Some(1));
}

#[test]
fn changes_apply_in_memory() {
    let mut s = sample();
    let run = RunRecord::start("initiate", "me@here");
    s.apply_all(&[
        Change::PutRun(run.clone()),
        Change::RemoveResource("web/db".into()),
        Change::SetGeneration(4),
        Change::PutTask(TaskRecord {
            key: "cfg/t".into(),
            status: TaskStatus::Succeeded,
            attempts: 1,
            host: "h".into(),
            error: None,
            fingerprint: None,
        }),
    ]);
    assert!(s.resources.is_empty() && s.generation == 4 && s.tasks.len() == 1);
    s.apply(&Change::PutRun(run.clone().finish(RunOutcome::Failed)));
    assert_eq!(s.runs.len(), 1, "a run is updated in place, by id");
    assert_eq!(s.runs[0].outcome, RunOutcome::Failed);
    s.apply(&Change::ClearTasks);
    assert!(s.tasks.is_empty());
}

#[test]
fn lock_decisions() {
    let holder = LockHolder::current("test");
    let req = LockRequest {
        holder: holder.clone(),
        lease: std::time::Duration::from_secs(10),
        steal: None,
    };
    let lock::Decision::Take {
        new: first,
        replaced: None,
    } = lock::decide(None, &req, 1000)
    else {
        panic!("a free lock is taken")
    };
    assert_eq!(first.expires_ms, 11_000);
    let mut cur = first.clone();
    cur.now_ms = 5000;
    let lock::Decision::Held(held) = lock::decide(Some(cur.clone()), &req, 5000) else {
        panic!("a held lock stands")
    };
    assert_eq!(held.age(), std::time::Duration::from_secs(4));
    let msg = StateError::Locked {
        system: "demo".into(),
        lock: Box::new(held),
    }
    .to_string();
    assert!(
        msg.contains(&holder.host) && msg.contains("4.0s") && msg.contains("test"),
        "{msg}"
    );
    // Stolen by id, or taken over once expired.
    let steal = LockRequest {
        steal: Some(first.id.clone()),
        ..req.clone()
    };
    assert!(matches!(
        lock::decide(Some(cur.clone()), &steal, 5000),
        lock::Decision::Take { .. }
    ));
    cur.now_ms = 11_000;
    let lock::Decision::Take {
        replaced: Some(old),
        ..
    } = lock::decide(Some(cur), &req, 11_000)
    else {
        panic!("an expired lock is taken over")
    };
    assert_eq!(old.id, first.id);
}

#[test]
fn this_process_is_alive_and_a_made_up_one_is_not() {
    assert!(pid_alive(std::process::id()));
    assert!(!pid_alive(u32::MAX - 7));
}
