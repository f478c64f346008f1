//! `cargo run -p hoist-cloud-examples --example aws_web` against moto (what CI runs): the
//! example's own code, with an account of its own in moto.

use hoist::aws::testing::{account_for, moto_url};
use hoist_cloud_examples::{AwsWebOptions, aws_web};

#[tokio::test]
async fn aws_web_runs_against_moto_and_leaves_nothing() {
    let test = "aws_web_runs_against_moto_and_leaves_nothing";
    let Some(url) = moto_url(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let opts = AwsWebOptions {
        system: "aws-web-test".into(),
        endpoint: Some(url),
        region: "us-east-1".into(),
        image: "ami-12c6146b".into(),
        testbed: None,
        headers: vec![("x-moto-account-id".into(), account_for(test))],
        state: dir.path().join("state.db").display().to_string(),
    };
    let mut out = Vec::new();
    let summary = aws_web(&opts, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(summary.success(), "{summary:?}\n{text}");
    assert!(!summary.configured);
    assert!(text.contains("skipping the configuration phase"), "{text}");
    assert!(
        text.contains("Objects of the system left in the cloud: 0"),
        "{text}"
    );
}

/// `HOIST_TESTBED=DIR cargo run -p hoist-cloud-examples --example aws_web`: the configuration
/// phase runs on real sshd hosts (scripts/testbed, loopback only), each standing in for an
/// instance through an explicit address override; moto's addresses are never dialled.
#[tokio::test]
async fn aws_web_configures_a_test_bed_in_place_of_the_instances() {
    use std::path::Path;
    use std::process::Command;

    let test = "aws_web_configures_a_test_bed_in_place_of_the_instances";
    let Some(url) = moto_url(test) else { return };
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let sshd = Path::new("/usr/sbin/sshd").exists();
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let can_start = sshd && root;
    if !can_start && !ci {
        eprintln!("skipping {test}: scripts/testbed needs root and openssh-server");
        return;
    }
    // One test bed at a time on this machine (the SSH tests take the same lock).
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(std::env::temp_dir().join("hoist-ssh-testbed.lock"))
        .unwrap();
    lock.lock().unwrap();
    let tmp = tempfile::Builder::new()
        .prefix("hoist-aws-web-bed-")
        .tempdir()
        .unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let dir = tmp.path().join("bed");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/testbed");
    let mut started = false;
    let mut last = String::new();
    for attempt in 0..8u32 {
        let port = 20000 + (std::process::id().wrapping_mul(11) + attempt * 977) % 20000;
        let out = Command::new(&script)
            .args(["up", "--port", &port.to_string(), "4"])
            .arg(&dir)
            .output()
            .unwrap();
        if out.status.success() {
            started = true;
            break;
        }
        last = String::from_utf8_lossy(&out.stderr).into_owned();
        if !last.contains("in use") {
            break;
        }
    }
    assert!(started, "scripts/testbed up 4 failed: {last}");
    struct Down<'a>(&'a Path, &'a Path);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = Command::new(self.0).arg("down").arg(self.1).status();
        }
    }
    let _down = Down(&script, &dir);

    let opts = AwsWebOptions {
        system: "aws-web-bed".into(),
        endpoint: Some(url),
        region: "us-east-1".into(),
        image: "ami-12c6146b".into(),
        testbed: Some(dir.clone()),
        headers: vec![("x-moto-account-id".into(), account_for(test))],
        state: tmp.path().join("state.db").display().to_string(),
    };
    let mut out = Vec::new();
    let summary = aws_web(&opts, &mut out).await.unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(summary.success(), "{summary:?}\n{text}");
    assert!(summary.configured, "{text}");
    assert!(
        text.contains("host web/lb_ip is reached at the test-bed host 127."),
        "{text}"
    );
    assert!(text.contains("cfg/lb_verify"), "{text}");
    assert!(
        text.contains("Objects of the system left in the cloud: 0"),
        "{text}"
    );
}
