//! SSH fan-out, the floor: a minimal hand-written russh program doing the benchmark's work
//! and nothing else.
//!
//! ```text
//! scripts/testbed up --port 2400 50 /tmp/tb
//! cargo run --release -p hoist-bench --bin ssh_fanout_floor -- \
//!     --testbed /tmp/tb --hosts 50 --payload /tmp/payload.bin --dest /tmp/payload.bin
//! ```
//!
//! Per host, all hosts at once: one TCP connection and SSH handshake (russh's default
//! algorithms, like hoist), public-key authentication with the test bed's key, 10 exec
//! channels one after the other (`/bin/echo 0` … `/bin/echo 9`, each checked for exit status
//! 0 and its output), then one SFTP channel writing the 1 MB payload (32 KiB writes, 16 in
//! flight; no temporary file, no rename, no mode change). The host key must
//! be the one recorded for `[address]:port` in the test bed's `known_hosts`: anything else
//! aborts. Prints a `RESULT` line (see `hoist_bench::fanout`); exits 1 if anything failed.
//! `--timeline` also prints (to stderr) the median and longest time per host of connecting,
//! of the 10 commands and of the upload.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use hoist_bench::fanout::{self, Args, Host, Stopwatch};
use russh::ChannelMsg;
use russh::client::{self, Handle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags};

const USAGE: &str =
    "usage: ssh_fanout_floor --testbed DIR --hosts N --payload FILE --dest PATH [--timeline]";
/// SFTP write size and writes in flight.
const CHUNK: usize = 32 * 1024;
const IN_FLIGHT: usize = 16;

/// Accepts exactly the host keys recorded for the host.
struct Verify {
    expected: Vec<PublicKey>,
}

impl client::Handler for Verify {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        offered: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        Ok(match offered {
            PublicKeyOrCertificate::PublicKey { key, .. } => self.expected.contains(key),
            PublicKeyOrCertificate::Certificate(_) => false,
        })
    }
}

async fn one_host(
    host: Host,
    expected: Vec<PublicKey>,
    key: Arc<PrivateKey>,
    payload: Arc<Vec<u8>>,
    dest: String,
) -> Result<[Duration; 3], String> {
    let t0 = Instant::now();
    let label = format!("{}:{}", host.address, host.port);
    let err = |what: &str, e: &dyn std::fmt::Display| format!("{label}: {what}: {e}");
    let config = Arc::new(client::Config {
        nodelay: true,
        ..Default::default()
    });
    let tcp = tokio::net::TcpStream::connect((host.address.as_str(), host.port))
        .await
        .map_err(|e| err("connect", &e))?;
    tcp.set_nodelay(true).map_err(|e| err("nodelay", &e))?;
    let mut ssh: Handle<Verify> = client::connect_stream(config, tcp, Verify { expected })
        .await
        .map_err(|e| err("handshake (or host key not the recorded one)", &e))?;
    let auth = ssh
        .authenticate_publickey(&host.user, PrivateKeyWithHashAlg::new(key, None))
        .await
        .map_err(|e| err("authentication", &e))?;
    if !auth.success() {
        return Err(format!("{label}: the key was refused"));
    }
    let t1 = t0.elapsed();

    for i in 0..fanout::COMMANDS {
        let mut ch = ssh
            .channel_open_session()
            .await
            .map_err(|e| err("channel", &e))?;
        ch.exec(true, fanout::command(i).as_bytes())
            .await
            .map_err(|e| err("exec", &e))?;
        let mut status = None;
        let mut stdout = Vec::new();
        while let Some(msg) = ch.wait().await {
            match msg {
                ChannelMsg::Data { data } => stdout.extend_from_slice(&data),
                ChannelMsg::ExitStatus { exit_status } => status = Some(exit_status),
                ChannelMsg::Failure => return Err(format!("{label}: exec refused")),
                _ => {}
            }
        }
        if status != Some(0) || stdout != format!("{i}\n").as_bytes() {
            return Err(format!(
                "{label}: `{}` ended with {status:?}, output {:?}",
                fanout::command(i),
                String::from_utf8_lossy(&stdout)
            ));
        }
    }

    let t2 = t0.elapsed();
    let ch = ssh
        .channel_open_session()
        .await
        .map_err(|e| err("channel", &e))?;
    ch.request_subsystem(true, "sftp")
        .await
        .map_err(|e| err("sftp subsystem", &e))?;
    let sftp = RawSftpSession::new(ch.into_stream());
    sftp.init().await.map_err(|e| err("sftp init", &e))?;
    let handle = sftp
        .open(
            dest.as_str(),
            OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
            FileAttributes::empty(),
        )
        .await
        .map_err(|e| err("sftp open", &e))?
        .handle;
    let chunks: Vec<(u64, Vec<u8>)> = payload
        .chunks(CHUNK)
        .enumerate()
        .map(|(i, c)| ((i * CHUNK) as u64, c.to_vec()))
        .collect();
    futures::stream::iter(chunks)
        .map(|(offset, chunk)| sftp.write(handle.as_str(), offset, chunk))
        .buffer_unordered(IN_FLIGHT)
        .try_for_each(|_| async { Ok(()) })
        .await
        .map_err(|e| err("sftp write", &e))?;
    sftp.close(handle.as_str())
        .await
        .map_err(|e| err("sftp close", &e))?;
    let t3 = t0.elapsed();
    let _ = ssh
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok([t1, t2 - t1, t3 - t2])
}

async fn run(args: Args) -> Result<u64, String> {
    let hosts = fanout::testbed_hosts(&args.testbed, args.hosts)?;
    let payload = Arc::new(
        std::fs::read(&args.payload).map_err(|e| format!("{}: {e}", args.payload.display()))?,
    );
    let known_hosts = args.testbed.join("known_hosts");
    let watch = Stopwatch::start();

    let key = Arc::new(
        russh::keys::load_secret_key(args.testbed.join("id_ed25519"), None)
            .map_err(|e| format!("the test bed's key: {e}"))?,
    );
    let mut set = tokio::task::JoinSet::new();
    for h in hosts {
        let expected =
            russh::keys::known_hosts::known_host_keys_path(&h.address, h.port, &known_hosts)
                .map_err(|e| format!("{}: {e}", known_hosts.display()))?
                .into_iter()
                .map(|(_, k)| k)
                .collect::<Vec<_>>();
        if expected.is_empty() {
            return Err(format!(
                "{} has no key for {}:{}",
                known_hosts.display(),
                h.address,
                h.port
            ));
        }
        set.spawn(one_host(
            h,
            expected,
            key.clone(),
            payload.clone(),
            args.dest.clone(),
        ));
    }
    let mut done = 0;
    let mut phases = [Vec::new(), Vec::new(), Vec::new()];
    while let Some(r) = set.join_next().await {
        let times = r.map_err(|e| e.to_string())??;
        for (v, t) in phases.iter_mut().zip(times) {
            v.push(t);
        }
        done += 1;
    }
    watch.report("floor", args.hosts, done);
    if args.flag("--timeline") {
        let [connect, commands, upload] = phases.map(|mut v| {
            v.sort();
            let q = |f: f64| v[((v.len() - 1) as f64 * f) as usize].as_secs_f64() * 1000.0;
            format!("median {:.0} ms, max {:.0} ms", q(0.5), q(1.0))
        });
        eprintln!("timeline: per host: connect {connect}; 10 commands {commands}; upload {upload}");
    }
    Ok(done)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match Args::parse(USAGE, &["--timeline"]) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(args).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ssh_fanout_floor: {e}");
            ExitCode::FAILURE
        }
    }
}
