//! Ctrl-C during `hoist down`: the first interrupt stops the teardown gracefully (calls in
//! flight finish and are recorded, the lock is released, exit code 130); the next `hoist down`
//! finishes the job.

use std::io::{BufRead as _, BufReader, Read as _};

use hoist::state::RunOutcome;

use crate::common::{Bed, signal, text};

#[test]
fn an_interrupted_teardown_stops_gracefully_and_the_next_one_finishes() {
    let system = "ctrl-c";
    // 150 ms per call: the teardown takes about a second.
    let bed = Bed::sqlite(150);
    bed.up(system);
    let before = bed.objects(system).len();
    let mut child = bed.spawn_hoist(&["down", "--yes", "--system", system]);
    // Interrupt once the teardown has deleted something (its progress lines say so).
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while !log.contains("deleted") {
        if err.read_line(&mut log).unwrap() == 0 {
            panic!("hoist down ended before deleting anything: {log}");
        }
    }
    signal(child.id(), "INT");
    err.read_to_string(&mut log).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{log}");
    assert!(
        log.contains("hoist: interrupted: letting the calls in flight finish"),
        "{log}"
    );
    assert!(log.contains("stopped on request"), "{log}");

    // Stopped part-way, with the state agreeing with the cloud and the lock released.
    let left = bed.objects(system);
    assert!(
        !left.is_empty() && left.len() < before,
        "{} of {before} objects left\n{log}",
        left.len()
    );
    let state = bed.state_blocking(system).unwrap();
    let mut recorded: Vec<&str> = state.resources.keys().map(String::as_str).collect();
    let mut in_cloud: Vec<&str> = left.iter().map(|o| o.key.as_str()).collect();
    recorded.sort_unstable();
    in_cloud.sort_unstable();
    assert_eq!(recorded, in_cloud, "the state records what is left");
    assert_eq!(
        state.runs.last().map(|r| r.outcome),
        Some(RunOutcome::Cancelled),
        "{:?}",
        state.runs
    );
    let status = bed.hoist(&["status", "--system", system]);
    assert!(text(&status).contains("lock: free"), "{}", text(&status));

    bed.down(system);
    assert!(bed.objects(system).is_empty());
}
