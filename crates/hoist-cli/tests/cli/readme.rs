//! A program that follows the README (the quick start: the default state in
//! `.hoist/state.db`, the simulated cloud in `.hoist/sim/`), killed with `kill -9` at random
//! moments, is torn down by `hoist down --yes` in its directory, with no option and no
//! variable: the state is kept by default.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hoist::sim::{DEFAULT_PERSIST_PATH, SimCloud};

use crate::common::{HOIST, example_exe, seed, text};

const SYSTEM: &str = "quickstart";

/// The quick start's objects left in the simulated cloud of `dir`.
fn objects(dir: &Path) -> usize {
    let file = dir.join(DEFAULT_PERSIST_PATH);
    if !file.exists() {
        return 0;
    }
    SimCloud::builder()
        .persist(file)
        .build()
        .objects()
        .into_iter()
        .filter(|o| o.tags.get("hoist:system").map(String::as_str) == Some(SYSTEM))
        .count()
}

/// `exe` (or `hoist ARGS`) in `dir`, with none of hoist's variables set.
fn command(exe: &Path, dir: &Path) -> Command {
    let mut c = Command::new(exe);
    c.current_dir(dir)
        .env_remove("HOIST_STATE")
        .env_remove("HOIST_SYSTEM")
        .env_remove("HOIST_SIM_STATE")
        .env_remove("HOIST_SIM_LATENCY_MS")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

#[test]
fn the_quick_start_killed_at_random_moments_is_torn_down_by_hoist_down() {
    let test = "the_quick_start_killed_at_random_moments_is_torn_down_by_hoist_down";
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let exe = example_exe("hoist-examples", "quickstart");

    // One whole run, to time it: it tears down what it made, and keeps its state.
    let dir = tempfile::tempdir().unwrap();
    let t0 = Instant::now();
    let out = command(&exe, dir.path()).output().unwrap();
    let full = t0.elapsed();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Objects of the system left in the simulated cloud: 0"),
        "{log}"
    );
    assert!(
        dir.path().join(".hoist/state.db").exists(),
        "state kept by default"
    );

    let mut with_objects = 0;
    for k in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let at =
            Duration::from_micros(rng.u64(0..=u64::try_from(full.as_micros() * 9 / 10).unwrap()));
        let mut child = command(&exe, dir.path()).spawn().unwrap();
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let _ = child.wait_with_output().unwrap();
        let before = objects(dir.path());
        eprintln!("{test}: kill {k} at {at:?}: {before} objects");
        with_objects += usize::from(before > 0);
        let down = command(Path::new(HOIST), dir.path())
            .args(["down", "--yes"])
            .output()
            .unwrap();
        let t = text(&down);
        if dir.path().join(".hoist/state.db").exists() {
            assert!(down.status.success(), "kill {k} at {at:?}: hoist down: {t}");
        } else {
            assert_eq!(before, 0, "objects but no state: {t}");
        }
        assert_eq!(
            objects(dir.path()),
            0,
            "kill {k} at {at:?}: left behind\n{t}"
        );
    }
    assert!(
        with_objects >= 1,
        "no kill landed while the system had objects (full run {full:?})"
    );
}
