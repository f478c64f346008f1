//! A rough fan-out measurement (ignored by default; run with `--ignored --nocapture`): 50
//! hosts, each connect + 10 commands + a 1 MB upload, all at once.

use std::time::Instant;

use hoist_exec::{ExecRequest, Transport as _};

use crate::testbed::Testbed;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test: run with --ignored --nocapture"]
async fn fan_out_50_hosts() {
    let n = 50;
    let Some(bed) = Testbed::up(n) else { return };
    let ssh = bed.connector();
    let data = vec![7u8; 1 << 20];
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        let ssh = ssh.clone();
        let target = bed.target(i, None);
        let data = data.clone();
        set.spawn(async move {
            let t = ssh.connect_host(&target).await.unwrap();
            for k in 0..10 {
                let out = t
                    .exec(&ExecRequest::argv(["echo", &k.to_string()]))
                    .await
                    .unwrap();
                assert!(out.success());
            }
            t.put_file("upload.bin", &data, 0o644).await.unwrap();
        });
    }
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    eprintln!(
        "{n} hosts x (connect + 10 commands + 1 MB upload): {:?} ({} connections)",
        t0.elapsed(),
        ssh.connections_opened()
    );
    assert_eq!(ssh.connections_opened(), n as u64);
}
