//! Commands and files over one connection.

use std::time::{Duration, Instant};

use hoist_exec::{ExecRequest, Transport, TransportError};

use crate::testbed::Testbed;
use crate::{ok, sh};

#[tokio::test]
async fn exit_codes_signals_and_separate_streams() {
    let Some(bed) = Testbed::up(1) else { return };
    let ssh = bed.connector();
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    assert_eq!(
        t.host(),
        format!("{}:{}", bed.hosts[0].address, bed.hosts[0].port)
    );

    let out = sh(&t, "echo out; echo err >&2; exit 3").await;
    assert_eq!(out.exit_code, Some(3));
    assert_eq!(out.signal, None);
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");

    // The host is a real host of its own.
    assert_eq!(ok(&t, "hostname").await, "host1\n");

    // A signal is reported by name, from `exit-signal`.
    let out = sh(&t, "kill -TERM $$").await;
    assert_eq!(out.exit_code, None, "{out:?}");
    assert_eq!(out.signal.as_deref(), Some("TERM"));

    // argv: nothing is interpreted, every word arrives as it is.
    let tricky = ["a b", "it's", "$HOME", "`id`", ">", "*", "", "x\ny"];
    let mut argv = vec!["printf".to_string(), "[%s]".into()];
    argv.extend(tricky.iter().map(|s| (*s).to_string()));
    let out = t.exec(&ExecRequest::argv(argv)).await.unwrap();
    assert_eq!(
        out.stdout,
        tricky.iter().map(|s| format!("[{s}]")).collect::<String>()
    );

    // Environment (through the command line, not setenv), working directory, stdin.
    ok(&t, "mkdir -p 'dir with space'").await;
    let req = ExecRequest::shell("printf '%s|%s|' \"$V\" \"$(pwd)\"; cat")
        .with_env("V", "x'y \"z\" $HOME")
        .with_cwd("dir with space")
        .with_stdin("from stdin\n");
    let out = t.exec(&req).await.unwrap();
    assert!(out.success(), "{out:?}");
    assert_eq!(
        out.stdout,
        "x'y \"z\" $HOME|/root/dir with space|from stdin\n"
    );

    // A missing program is exit 127, not a transport error.
    let out = t
        .exec(&ExecRequest::argv(["/no/such/program"]))
        .await
        .unwrap();
    assert_eq!(out.exit_code, Some(127));
    assert!(matches!(
        t.exec(&ExecRequest::argv(Vec::<String>::new())).await,
        Err(TransportError::BadRequest { .. })
    ));

    // Large output in both streams at once, and large input.
    let out = sh(
        &t,
        "head -c 3000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2",
    )
    .await;
    assert_eq!(out.stdout.len(), 3_000_000);
    assert_eq!(out.stderr.len(), 1_000_000);
    let big = vec![b'z'; 2_500_000];
    let out = t
        .exec(&ExecRequest::argv(["wc", "-c"]).with_stdin(big))
        .await
        .unwrap();
    assert_eq!(out.stdout.trim(), "2500000");
    assert_eq!(ssh.connections_opened(), 1);
}

#[tokio::test]
async fn files_over_sftp() {
    let Some(bed) = Testbed::up(1) else { return };
    let ssh = bed.connector();
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();

    // 1 MB with a mode, replacing an existing file, no temporary file left.
    let data: Vec<u8> = (0..1_048_576u32).map(|i| (i % 251) as u8).collect();
    ok(&t, "echo old > big.bin; chmod 600 big.bin").await;
    let t0 = Instant::now();
    t.put_file("big.bin", &data, 0o640).await.unwrap();
    eprintln!("1 MB upload: {:?}", t0.elapsed());
    let local_sum = {
        let dir = tempfile::TempDir::new().unwrap();
        let p = dir.path().join("big.bin");
        std::fs::write(&p, &data).unwrap();
        let o = std::process::Command::new("sha256sum")
            .arg(&p)
            .output()
            .unwrap();
        String::from_utf8(o.stdout)
            .unwrap()
            .split(' ')
            .next()
            .unwrap()
            .to_string()
    };
    let remote = ok(
        &t,
        "sha256sum big.bin | cut -d' ' -f1; stat -c %a big.bin; ls -A",
    )
    .await;
    assert_eq!(remote, format!("{local_sum}\n640\nbig.bin\n"));

    // Exact modes whatever the umask, setuid included; absolute paths.
    t.put_file("/tmp/s", b"#!/bin/sh\n", 0o4755).await.unwrap();
    assert_eq!(ok(&t, "stat -c %a /tmp/s").await, "4755\n");
    assert!(t.put_file("no/such/dir/f", b"x", 0o644).await.is_err());

    // mkdir_all: parents made, the last one with the mode; existing left alone.
    t.mkdir_all("a/b/c", 0o705).await.unwrap();
    assert_eq!(ok(&t, "stat -c %a a/b/c").await, "705\n");
    t.mkdir_all("a/b/c", 0o700).await.unwrap();
    assert_eq!(ok(&t, "stat -c %a a/b/c").await, "705\n");
    t.mkdir_all("/tmp/x/y/", 0o750).await.unwrap();
    assert_eq!(ok(&t, "stat -c %a /tmp/x/y").await, "750\n");
    let e = t.mkdir_all("big.bin/sub", 0o755).await.unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");

    // exists / is_dir (following links) / remove_file.
    ok(&t, "ln -s a link; ln -s /nowhere dangling").await;
    assert!(t.exists("big.bin").await.unwrap());
    assert!(t.exists("link").await.unwrap());
    assert!(t.is_dir("link").await.unwrap());
    assert!(!t.exists("dangling").await.unwrap());
    assert!(!t.is_dir("big.bin").await.unwrap());
    assert!(!t.exists("nope").await.unwrap());
    assert!(!t.is_dir("nope").await.unwrap());
    t.remove_file("big.bin").await.unwrap();
    t.remove_file("big.bin").await.unwrap();
    assert!(!t.exists("big.bin").await.unwrap());
    assert_eq!(t.temp_dir(), "/tmp");
    assert_eq!(ssh.connections_opened(), 1);
}

#[tokio::test]
async fn per_command_timeout_kills_and_the_connection_stays_usable() {
    let Some(bed) = Testbed::up(1) else { return };
    let ssh = bed.connector();
    let t = ssh.connect_host(&bed.target(0, None)).await.unwrap();
    let t0 = Instant::now();
    let err = t
        .exec(
            &ExecRequest::shell("sleep 3; touch /root/not-killed")
                .with_timeout(Some(Duration::from_millis(500))),
        )
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(err.is_timeout(), "{err}");
    assert_eq!(err.host(), t.host());
    assert!(err.to_string().contains(t.host()), "{err}");
    assert!(took < Duration::from_secs(2), "{took:?}");

    // Still usable; the program was killed (its follow-up never ran).
    assert_eq!(ok(&t, "echo alive").await, "alive\n");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!t.exists("/root/not-killed").await.unwrap());

    // A caller that gives up (drops the call) gets the same: the program is killed.
    let req = ExecRequest::shell("sleep 3; touch /root/not-killed-2");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), t.exec(&req))
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!t.exists("/root/not-killed-2").await.unwrap());

    // The connector's default time limit applies to requests without one.
    let ssh2 = bed
        .builder()
        .command_timeout(Some(Duration::from_millis(300)))
        .build();
    let t2 = ssh2.connect_host(&bed.target(0, None)).await.unwrap();
    assert!(
        t2.exec(&ExecRequest::argv(["sleep", "5"]))
            .await
            .unwrap_err()
            .is_timeout()
    );
    assert_eq!(ok(&t, "echo fine").await, "fine\n");
}

#[tokio::test]
async fn many_tasks_share_one_connection_with_a_channel_cap() {
    let Some(bed) = Testbed::up(1) else { return };
    let ssh = bed.builder().max_channels(4).build();
    // Every connect for the same host gets the same connection.
    let mut hosts = Vec::new();
    for _ in 0..5 {
        hosts.push(ssh.connect_host(&bed.target(0, None)).await.unwrap());
    }
    let t0 = Instant::now();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..40 {
        let t = hosts[i % hosts.len()].clone();
        set.spawn(async move {
            // Each command counts the commands running at the same time on the host.
            let line = "mkdir /tmp/run.$$; sleep 0.2; n=$(ls -d /tmp/run.* | wc -l); rmdir /tmp/run.$$; echo $n";
            let out = t.exec(&ExecRequest::shell(line)).await.unwrap();
            assert!(out.success(), "{out:?}");
            t.put_file(&format!("f{i}"), format!("{i}").as_bytes(), 0o600)
                .await
                .unwrap();
            assert!(t.exists(&format!("f{i}")).await.unwrap());
            out.stdout.trim().parse::<usize>().unwrap()
        });
    }
    let mut most = 0;
    while let Some(r) = set.join_next().await {
        most = most.max(r.unwrap());
    }
    let took = t0.elapsed();
    assert_eq!(ssh.connections_opened(), 1);
    assert_eq!(ssh.live_connections(), 1);
    // Multiplexed, but never more than 4 channels at once (SFTP's included).
    assert!(
        (2..=4).contains(&most),
        "at most {most} commands ran at once"
    );
    assert!(
        took >= Duration::from_millis(2000),
        "the cap was not applied: {took:?}"
    );
    // sshd saw one connection: one per-connection sshd process for root besides the listener.
    let t = &hosts[0];
    assert_eq!(ok(t, "ls f* | wc -l").await.trim(), "40");
    let sessions = ok(t, SESSIONS_OF_THIS_HOST).await;
    assert_eq!(sessions.trim(), "1", "sshd sessions: {sessions}");

    // A closed connection is replaced on next use.
    ssh.close_all().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!hosts[0].is_connected());
    assert_eq!(ok(&hosts[0], "echo again").await, "again\n");
    assert_eq!(ssh.connections_opened(), 2);
}

/// Counts this host's per-connection `sshd: root@notty` processes (same UTS namespace).
const SESSIONS_OF_THIS_HOST: &str = r#"me=$(readlink /proc/self/ns/uts); n=0
for p in /proc/[0-9]*; do
  [ "$(readlink "$p/ns/uts" 2>/dev/null)" = "$me" ] || continue
  case "$(tr '\0' ' ' < "$p/cmdline" 2>/dev/null)" in "sshd: root@notty"*) n=$((n+1));; esac
done
echo $n"#;
