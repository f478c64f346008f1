//! Lock contention between processes, on SQLite and on PostgreSQL: a second writer is refused
//! with the holder's name, host, pid and the lock's age, or waits; a hung holder's lease
//! expires and is taken over (and the holder's later writes are refused); a forced unlock is
//! recorded in the run history.

use std::io::Read as _;
use std::time::{Duration, Instant};

use crate::common::{Bed, pg_drop, pg_url, signal, text};

async fn contention(bed: &Bed) {
    let system = "locked";
    bed.up(system);
    let (holder, _out) = bed.hold(system, 5_000, 1_500, false);
    let pid = holder.id();
    std::thread::sleep(Duration::from_millis(100));

    // A second writer is refused at once, and told who holds the lock.
    let t0 = Instant::now();
    let out = bed.hoist(&["down", "--yes", "--system", system]);
    assert_eq!(out.status.code(), Some(75), "{}", text(&out));
    let msg = text(&out);
    let host = hoist::state::hostname();
    for part in [
        "is locked",
        &format!("on host `{host}`"),
        &format!("pid {pid}"),
        "hold",
        "hoist unlock --force",
    ] {
        assert!(msg.contains(part), "`{part}` is not in: {msg}");
    }
    assert!(t0.elapsed() < Duration::from_secs(1), "it did not wait");
    assert_eq!(bed.objects(system).len(), 19, "nothing was deleted");

    // One that asks to wait gets the lock when the holder lets go.
    let t0 = Instant::now();
    let out = bed.hoist(&["down", "--yes", "--wait", "20s", "--system", system]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        t0.elapsed() >= Duration::from_millis(800),
        "it waited: {:?}",
        t0.elapsed()
    );
    assert!(bed.objects(system).is_empty());
    let mut holder = holder;
    assert!(holder.wait().unwrap().success());
}

async fn lease_expiry(bed: &Bed) {
    let system = "expiry";
    bed.up(system);
    let (mut holder, mut out) = bed.hold(system, 500, 1_000, true);
    let pid = holder.id();
    // The holder hangs: its heartbeat stops.
    signal(pid, "STOP");
    let refused = bed.hoist(&["down", "--yes", "--system", system]);
    assert_eq!(
        refused.status.code(),
        Some(75),
        "the lease has not run out yet: {}",
        text(&refused)
    );
    std::thread::sleep(Duration::from_millis(700));
    let status = bed.hoist(&["status", "--system", system]);
    assert!(text(&status).contains("lease expired"), "{}", text(&status));
    // Its lease has run out: another process takes the lock over and tears down.
    let down = bed.hoist(&["down", "--yes", "--system", system]);
    assert!(down.status.success(), "{}", text(&down));
    assert!(bed.objects(system).is_empty());
    let runs = bed.state(system).await.unwrap().runs;
    let takeover = runs
        .iter()
        .find(|r| r.action == "lock-takeover")
        .expect("the take-over is recorded");
    let detail = takeover.detail.as_deref().unwrap();
    assert!(
        detail.contains("lease had expired") && detail.contains(&format!("pid {pid}")),
        "{detail}"
    );
    // The holder wakes up: its write is refused.
    signal(pid, "CONT");
    let code = holder.wait().unwrap().code();
    let mut said = String::new();
    out.read_to_string(&mut said).unwrap();
    assert_eq!(code, Some(3), "{said}");
    assert!(
        said.contains("write refused") && said.contains("was lost"),
        "{said}"
    );
}

async fn forced_unlock(bed: &Bed) {
    let system = "forced";
    bed.up(system);
    let (mut holder, mut out) = bed.hold(system, 60_000, 1_500, true);
    let pid = holder.id();
    let no = bed.hoist(&["unlock", "--system", system]);
    assert!(!no.status.success());
    assert!(
        text(&no).contains(&format!("pid {pid}")) && text(&no).contains("--force"),
        "{}",
        text(&no)
    );
    let yes = bed.hoist(&["unlock", "--force", "--system", system]);
    assert!(yes.status.success(), "{}", text(&yes));
    assert!(text(&yes).contains("removed the lock"), "{}", text(&yes));
    let runs = bed.state(system).await.unwrap().runs;
    let r = runs
        .iter()
        .find(|r| r.action == "force-unlock")
        .expect("recorded");
    assert!(
        r.detail.as_deref().unwrap().contains(&format!("pid {pid}")),
        "{r:?}"
    );
    let json = bed.hoist(&["status", "--json", "--system", system]);
    assert!(String::from_utf8_lossy(&json.stdout).contains("\"force-unlock\""));
    // The old holder's write is refused; the system can be torn down.
    assert_eq!(holder.wait().unwrap().code(), Some(3));
    let mut said = String::new();
    out.read_to_string(&mut said).unwrap();
    assert!(said.contains("write refused"), "{said}");
    bed.down(system);
    assert!(bed.objects(system).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lock_contention_between_processes() {
    contention(&Bed::sqlite(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lease_expiry_and_takeover() {
    lease_expiry(&Bed::sqlite(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_forced_unlock_is_recorded() {
    forced_unlock(&Bed::sqlite(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lock_contention_between_processes() {
    let Some((url, schema)) = pg_url("contention") else {
        return;
    };
    contention(&Bed::postgres(&url, 1)).await;
    pg_drop(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lease_expiry_and_takeover() {
    let Some((url, schema)) = pg_url("expiry") else {
        return;
    };
    lease_expiry(&Bed::postgres(&url, 1)).await;
    pg_drop(&url, &schema).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_forced_unlock_is_recorded() {
    let Some((url, schema)) = pg_url("forced") else {
        return;
    };
    forced_unlock(&Bed::postgres(&url, 1)).await;
    pg_drop(&url, &schema).await;
}
