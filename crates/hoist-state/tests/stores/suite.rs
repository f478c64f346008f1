//! The behaviour every store must have.

use std::collections::BTreeMap;
use std::time::Duration;

use hoist_state::{
    Change, LockGuard, LockHolder, LockOptions, LockRequest, ResourceRecord, ResourceStatus,
    RunOutcome, RunRecord, StateError, SystemState, TaskRecord, TaskStatus, VersionRecord,
    force_unlock,
};

use crate::Reopen;

fn system(tag: &str) -> String {
    format!("sys-{tag}-{}", fastrand::u32(..))
}

pub fn resource(s: &SystemState, key: &str, status: ResourceStatus) -> ResourceRecord {
    ResourceRecord {
        key: key.into(),
        name: key.replace('/', "."),
        kind: "core.server".into(),
        provider: "sim".into(),
        deps: vec!["web/subnet".into()],
        status,
        token: s.token_for(key),
        provider_id: (status == ResourceStatus::Created).then(|| "srv-0001".into()),
        outputs: BTreeMap::from([("ip".to_string(), serde_json::json!("10.0.1.4"))]),
        error: None,
        tags: BTreeMap::from([("hoist:resource".to_string(), key.to_string())]),
        generation: s.generation,
        identity: Some(hoist_state::CloudIdentity::new("sim", "store-1").in_region("r1")),
        spec: Some(
            serde_json::json!({"size": "small", "user_data": {"$secret": "hmac-sha256:00", "key": "k"}}),
        ),
        incarnation: 2,
        protect: true,
        deposed_of: key
            .contains('~')
            .then(|| key.split('~').next().unwrap_or_default().to_string()),
        updating: (key == "web/db").then(|| serde_json::json!({"size": "large"})),
    }
}

pub async fn run(reopen: Reopen) {
    journal_and_reload(&reopen).await;
    save_replaces_everything(&reopen).await;
    fencing(&reopen).await;
    lock_contention_and_waiting(&reopen).await;
    lease_expiry_and_takeover(&reopen).await;
    heartbeat_keeps_a_short_lease(&reopen).await;
    dead_holder_on_this_host(&reopen).await;
    forced_unlock_is_recorded(&reopen).await;
    many_small_writes(&reopen).await;
}

async fn journal_and_reload(reopen: &Reopen) {
    let store = reopen().await;
    let sys = system("journal");
    assert_eq!(store.load(&sys).await.unwrap(), None);
    let mut expect = SystemState::new(&sys);
    let run = RunRecord::start("initiate", "me@here");
    let changes = vec![
        Change::PutRun(run.clone()),
        Change::PutResource(resource(&expect, "web/net", ResourceStatus::Created)),
        Change::PutResource(resource(&expect, "web/db", ResourceStatus::Creating)),
        Change::PutTask(TaskRecord {
            key: "cfg/t".into(),
            status: TaskStatus::Failed,
            attempts: 3,
            host: "h1".into(),
            error: Some("exit 1".into()),
            fingerprint: Some(BTreeMap::from([("action".to_string(), "0f".to_string())])),
        }),
        Change::SetLastKnownGood(Some(VersionRecord {
            version: "1.2".into(),
            run: run.id.clone(),
            at: 7,
        })),
    ];
    for c in &changes {
        store
            .apply(&sys, None, std::slice::from_ref(c))
            .await
            .unwrap();
    }
    expect.apply_all(&changes);
    let more = vec![
        Change::RemoveResource("web/net".into()),
        Change::PutRun(run.clone().finish(RunOutcome::Failed).with_detail("d")),
        Change::PutRun(RunRecord::start("teardown", "you@there")),
        Change::SetGeneration(3),
        Change::SetLastKnownBad(Some(VersionRecord {
            version: "1.3".into(),
            run: "r".into(),
            at: 9,
        })),
    ];
    store.apply(&sys, None, &more).await.unwrap();
    expect.apply_all(&more);
    // Read back through another handle (another connection).
    let other = reopen().await;
    let got = other.load(&sys).await.unwrap().unwrap();
    assert_eq!(got, expect, "{}", store.location());
    assert_eq!(got.runs.len(), 2, "a run is updated in place");
    assert!(other.systems().await.unwrap().contains(&sys));
    store
        .apply(&sys, None, &[Change::ClearTasks])
        .await
        .unwrap();
    assert!(other.load(&sys).await.unwrap().unwrap().tasks.is_empty());
}

async fn save_replaces_everything(reopen: &Reopen) {
    let store = reopen().await;
    let sys = system("save");
    let mut s = SystemState::new(&sys);
    s.generation = 5;
    let r = resource(&s, "a/b", ResourceStatus::Deleting);
    s.resources.insert(r.key.clone(), r);
    s.runs
        .push(RunRecord::start("import", "x@y").finish(RunOutcome::Succeeded));
    store
        .apply(
            &sys,
            None,
            &[Change::PutResource(resource(
                &s,
                "old/one",
                ResourceStatus::Created,
            ))],
        )
        .await
        .unwrap();
    store.save(&s).await.unwrap();
    assert_eq!(reopen().await.load(&sys).await.unwrap().unwrap(), s);
}

async fn fencing(reopen: &Reopen) {
    let store = reopen().await;
    let sys = system("fence");
    let guard = LockGuard::acquire(
        store.clone(),
        &sys,
        &LockHolder::current("t"),
        LockOptions::default(),
    )
    .await
    .unwrap();
    store
        .apply(&sys, Some(guard.id()), &[Change::SetGeneration(1)])
        .await
        .unwrap();
    let e = store
        .apply(&sys, Some("lock-not-mine"), &[Change::SetGeneration(2)])
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::LockLost { .. }), "{e}");
    assert!(e.to_string().contains("nothing was written"), "{e}");
    assert_eq!(store.load(&sys).await.unwrap().unwrap().generation, 1);
    guard.release().await.unwrap();
    assert_eq!(store.lock_info(&sys).await.unwrap(), None);
}

async fn lock_contention_and_waiting(reopen: &Reopen) {
    let a = reopen().await;
    let b = reopen().await;
    let sys = system("contention");
    let holder = LockHolder {
        action: "initiate".into(),
        ..LockHolder::current("x")
    };
    let ga = LockGuard::acquire(a.clone(), &sys, &holder, LockOptions::default())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let e = LockGuard::acquire(
        b.clone(),
        &sys,
        &LockHolder::current("teardown"),
        LockOptions::default(),
    )
    .await
    .unwrap_err();
    let StateError::Locked { lock, .. } = &e else {
        panic!("{e}")
    };
    assert_eq!(lock.id, ga.id());
    assert!(lock.age() >= Duration::from_millis(40), "{lock}");
    let msg = e.to_string();
    let pid = holder.pid.to_string();
    for part in [
        &*holder.who,
        &*holder.host,
        &*pid,
        "initiate",
        "hoist unlock --force",
    ] {
        assert!(msg.contains(part), "`{part}` is not in: {msg}");
    }
    // Waiting: the second writer gets it once the first releases.
    let release = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        ga.release().await.unwrap();
    });
    let opts = LockOptions {
        wait: Some(Duration::from_secs(10)),
        ..LockOptions::default()
    };
    let t0 = std::time::Instant::now();
    let gb = LockGuard::acquire(b.clone(), &sys, &LockHolder::current("teardown"), opts)
        .await
        .unwrap();
    assert!(t0.elapsed() >= Duration::from_millis(150));
    release.await.unwrap();
    // A wait that runs out names the holder too.
    let short = LockOptions {
        wait: Some(Duration::from_millis(100)),
        ..LockOptions::default()
    };
    let e = LockGuard::acquire(a.clone(), &sys, &holder, short)
        .await
        .unwrap_err();
    assert!(matches!(e, StateError::Locked { .. }), "{e}");
    gb.release().await.unwrap();
}

async fn lease_expiry_and_takeover(reopen: &Reopen) {
    let a = reopen().await;
    let b = reopen().await;
    let sys = system("expiry");
    let lease = LockOptions {
        lease: Duration::from_millis(300),
        wait: None,
    };
    let mut ga = LockGuard::acquire(a.clone(), &sys, &LockHolder::current("hung"), lease)
        .await
        .unwrap();
    ga.stop_heartbeat(); // the holder hangs
    let e = LockGuard::acquire(b.clone(), &sys, &LockHolder::current("second"), lease).await;
    assert!(
        matches!(e, Err(StateError::Locked { .. })),
        "not before the lease runs out"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    let info = b.lock_info(&sys).await.unwrap().unwrap();
    assert!(info.expired(), "{info}");
    let gb = LockGuard::acquire(b.clone(), &sys, &LockHolder::current("second"), lease)
        .await
        .unwrap();
    assert_eq!(gb.replaced().map(|l| l.id.as_str()), Some(ga.id()));
    let runs = b.load(&sys).await.unwrap().unwrap().runs;
    let takeover = runs
        .iter()
        .find(|r| r.action == "lock-takeover")
        .expect("recorded");
    assert!(
        takeover
            .detail
            .as_deref()
            .unwrap()
            .contains("lease had expired"),
        "{takeover:?}"
    );
    // The old holder wakes up: its writes are refused, its renewals fail.
    let e = a
        .apply(&sys, Some(ga.id()), &[Change::SetGeneration(9)])
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            StateError::LockLost {
                holder: Some(_),
                ..
            }
        ),
        "{e}"
    );
    assert!(!a.lock_renew(&sys, ga.id(), lease.lease).await.unwrap());
    // Releasing the old guard does not release the new lock.
    ga.release().await.unwrap();
    assert_eq!(b.lock_info(&sys).await.unwrap().unwrap().id, gb.id());
    gb.release().await.unwrap();
}

async fn heartbeat_keeps_a_short_lease(reopen: &Reopen) {
    let a = reopen().await;
    let sys = system("heartbeat");
    let lease = LockOptions {
        lease: Duration::from_millis(300),
        wait: None,
    };
    let ga = LockGuard::acquire(a.clone(), &sys, &LockHolder::current("busy"), lease)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    let e = LockGuard::acquire(reopen().await, &sys, &LockHolder::current("second"), lease).await;
    assert!(
        matches!(e, Err(StateError::Locked { .. })),
        "renewed past three leases"
    );
    assert!(!ga.is_lost());
    a.apply(&sys, Some(ga.id()), &[Change::SetGeneration(1)])
        .await
        .unwrap();
    ga.release().await.unwrap();
}

async fn dead_holder_on_this_host(reopen: &Reopen) {
    let store = reopen().await;
    let sys = system("dead");
    // A process of this host that no longer exists took the lock with a long lease.
    let dead = LockHolder {
        pid: u32::MAX - 11,
        ..LockHolder::current("initiate")
    };
    let req = LockRequest {
        holder: dead,
        lease: Duration::from_secs(3600),
        steal: None,
    };
    assert!(matches!(
        store.lock_try(&sys, &req).await.unwrap(),
        hoist_state::LockAttempt::Acquired { .. }
    ));
    let g = LockGuard::acquire(
        store.clone(),
        &sys,
        &LockHolder::current("teardown"),
        LockOptions::default(),
    )
    .await
    .unwrap();
    assert_eq!(g.replaced().unwrap().holder.pid, u32::MAX - 11);
    let runs = store.load(&sys).await.unwrap().unwrap().runs;
    assert!(
        runs[0]
            .detail
            .as_deref()
            .unwrap()
            .contains("no longer exists"),
        "{runs:?}"
    );
    // One of another machine is not touched, even under the same host name (a container).
    g.release().await.unwrap();
    let far = LockHolder {
        host: "elsewhere".into(),
        pid: u32::MAX - 11,
        machine: "another-boot/pid:[1]".into(),
        ..LockHolder::current("initiate")
    };
    let req = LockRequest {
        holder: far,
        lease: Duration::from_secs(3600),
        steal: None,
    };
    store.lock_try(&sys, &req).await.unwrap();
    let e = LockGuard::acquire(
        store.clone(),
        &sys,
        &LockHolder::current("teardown"),
        LockOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().contains("`elsewhere`"), "{e}");
    store.lock_break(&sys).await.unwrap();
}

async fn forced_unlock_is_recorded(reopen: &Reopen) {
    let store = reopen().await;
    let sys = system("force");
    let ga = LockGuard::acquire(
        store.clone(),
        &sys,
        &LockHolder::current("stuck"),
        LockOptions::default(),
    )
    .await
    .unwrap();
    let admin = LockHolder::current("unlock");
    let removed = force_unlock(&*store, &sys, &admin).await.unwrap().unwrap();
    assert_eq!(removed.id, ga.id());
    assert_eq!(store.lock_info(&sys).await.unwrap(), None);
    let runs = store.load(&sys).await.unwrap().unwrap().runs;
    let r = runs.iter().find(|r| r.action == "force-unlock").unwrap();
    assert_eq!(r.by, admin.by());
    assert!(r.detail.as_deref().unwrap().contains("stuck"), "{r:?}");
    assert!(r.success());
    // The stuck holder's writes now fail.
    assert!(
        store
            .apply(&sys, Some(ga.id()), &[Change::ClearTasks])
            .await
            .is_err()
    );
    drop(ga);
}

async fn many_small_writes(reopen: &Reopen) {
    let store = reopen().await;
    let sys = system("many");
    let s = SystemState::new(&sys);
    // The file store rewrites the whole file per write: fewer rounds there.
    let n = match store.location().as_str() {
        "memory" => 1000,
        l if !l.ends_with(".db") && !l.starts_with("postgres") => 100,
        _ => 300,
    };
    let t0 = std::time::Instant::now();
    for k in 0..n {
        let r = resource(&s, &format!("m/r[{k}]"), ResourceStatus::Creating);
        store
            .apply(&sys, None, &[Change::PutResource(r)])
            .await
            .unwrap();
    }
    let per = t0.elapsed() / n;
    eprintln!(
        "{}: {per:?} per journaled write of one resource among {n}",
        store.location()
    );
    assert_eq!(
        store.load(&sys).await.unwrap().unwrap().resources.len(),
        n as usize
    );
}
