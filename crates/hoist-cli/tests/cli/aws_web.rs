//! The `aws_web` example (`cargo run -p hoist-cloud-examples --example aws_web`)
//! killed with `kill -9` at random moments against moto; `hoist down --yes` in the same
//! directory, with the same AWS environment, then leaves none of the system's objects.
//!
//! The example keeps its state in `.hoist/state.db` in its working directory (the default),
//! and `hoist down` finds it there, as a user who lost the terminal would.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::{Bed, HOIST, example_exe, seed, text};

/// The example started in the bed's directory, with the bed's AWS environment and no
/// `HOIST_STATE` (so its state is `.hoist/state.db` there).
fn spawn_example(bed: &Bed, exe: &Path) -> std::process::Child {
    let mut c = Command::new(exe);
    bed.env(&mut c);
    c.env_remove("HOIST_STATE")
        .env_remove("HOIST_TESTBED")
        .env_remove("HOIST_AWS_IMAGE")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The AWS secret key and session token appear in no output and in no file the run wrote
/// (the state database, its journal files).
#[track_caller]
fn assert_no_credentials(bed: &Bed, output: &str) {
    let m = bed.aws.as_ref().unwrap();
    let secrets = [&m.creds.secret_access_key, &m.creds.session_token];
    for s in secrets {
        assert!(!output.contains(s.as_str()), "a credential in the output");
    }
    let mut files = vec![bed.dir.path().to_path_buf()];
    while let Some(p) = files.pop() {
        if p.is_dir() {
            files.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else {
            let bytes = std::fs::read(&p).unwrap_or_default();
            for s in secrets {
                assert!(
                    !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                    "a credential in {}",
                    p.display()
                );
            }
        }
    }
}

/// The example's system name.
const SYSTEM: &str = "aws-web";

/// `hoist down --yes` in the bed's directory: no `--state`, no `--system`.
fn hoist_down_here(bed: &Bed) -> std::process::Output {
    let mut c = Command::new(HOIST);
    bed.env(&mut c);
    c.env_remove("HOIST_STATE")
        .args(["down", "--yes"])
        .output()
        .unwrap()
}

#[test]
fn aws_web_killed_at_random_moments_is_torn_down_by_hoist_down() {
    let test = "aws_web_killed_at_random_moments_is_torn_down_by_hoist_down";
    let Some(url) = hoist::aws::testing::moto_url(test) else {
        return;
    };
    let mut rng = fastrand::Rng::with_seed(seed(test));
    let exe = example_exe("hoist-cloud-examples", "aws_web");

    // One whole run, as `cargo run -p hoist-cloud-examples --example aws_web` makes it, to
    // time it.
    let bed = Bed::moto(&url, test);
    let t0 = Instant::now();
    let out = spawn_example(&bed, &exe).wait_with_output().unwrap();
    let full = t0.elapsed();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains("Objects of the system left in the cloud: 0"),
        "{log}"
    );
    assert!(bed.dir.path().join(".hoist/state.db").exists());
    assert_no_credentials(&bed, &log);

    let mut with_objects = 0;
    for k in 0..6 {
        // A fresh directory each time: a state of its own, as in a new checkout.
        let bed = Bed::moto(&url, &format!("{test}-{k}"));
        let at =
            Duration::from_micros(rng.u64(0..=u64::try_from(full.as_micros() * 9 / 10).unwrap()));
        let mut child = spawn_example(&bed, &exe);
        std::thread::sleep(at);
        let _ = child.kill(); // SIGKILL
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let phase = stdout
            .lines()
            .rev()
            .find(|l| l.contains("== ") || l.starts_with("Tearing") || l.starts_with("Initiating"))
            .unwrap_or("before the first phase");
        let before = bed.objects(SYSTEM).len();
        eprintln!("{test}: kill {k} at {at:?} ({phase}): {before} objects in moto");
        if before > 0 {
            with_objects += 1;
        }
        let down = hoist_down_here(&bed);
        let down_text = text(&down);
        if bed.dir.path().join(".hoist/state.db").exists() {
            // Torn down, or nothing to tear down (killed before its first intent).
            assert!(down.status.success(), "hoist down --yes: {down_text}");
        } else {
            // Killed before it opened its state: there must be nothing to tear down.
            assert!(down_text.contains("no hoist state"), "{down_text}");
        }
        assert_no_credentials(&bed, &format!("{}{down_text}", text(&out)));
        let left = bed.objects(SYSTEM);
        assert!(
            left.is_empty(),
            "kill {k} at {at:?}: hoist down left {left:?}\n{down_text}"
        );
    }
    assert!(
        with_objects >= 1,
        "no kill landed while the system had objects in moto (full run {full:?})"
    );
}
