//! Shared helpers: a test bed (a cloud, the persistent simulated one or moto, and a state
//! store, in a temporary directory), running the binaries, and reading the cloud.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use hoist::Secret;
use hoist::aws::testing::{MotoCredentials, account_for, moto_account_credentials};
use hoist::aws::{AwsCloud, AwsCredentials};
use hoist::sim::SimCloud;

/// The `hoist` binary.
pub const HOIST: &str = env!("CARGO_BIN_EXE_hoist");
/// The crash target.
pub const TARGET: &str = env!("CARGO_BIN_EXE_hoist-crash-target");

/// Servers of the demo system the crash target initiates (19 resources).
pub const SERVERS: usize = 12;

/// Servers of the demo after its day-2 change (`DemoInfra::day2`): three fewer.
pub const DAY2_SERVERS: usize = SERVERS - 3;

/// A cloud and a state store location, with a temporary directory as the working directory.
pub struct Bed {
    pub dir: tempfile::TempDir,
    /// The persistent simulated cloud's file (used unless `aws` is set).
    pub sim: PathBuf,
    /// `--state`: a SQLite path or a PostgreSQL URL.
    pub state: String,
    pub latency_ms: u64,
    /// Instead of the simulated cloud: moto, through the standard AWS variables.
    pub aws: Option<Moto>,
}

/// moto as the processes see it, through the standard AWS variables: `AWS_ENDPOINT_URL`,
/// `AWS_REGION`, and temporary credentials of an account of the bed's own (so that what other
/// tests, or an aborted earlier run in a long-lived moto, left there never meets it).
pub struct Moto {
    pub url: String,
    pub region: String,
    pub creds: MotoCredentials,
}

/// Runs a future to completion on a thread of its own (the tests call this from inside, and
/// outside, a runtime).
pub fn block_on<T: Send + 'static>(f: impl Future<Output = T> + Send + 'static) -> T {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    })
    .join()
    .unwrap()
}

/// One object of a system in the cloud.
#[derive(Debug)]
pub struct Obj {
    /// The resource key it was made for (its `hoist:resource` tag on AWS).
    pub key: String,
    /// Its kind in the cloud (`aws.vpc`, ...; the resource kind on the simulated cloud).
    pub kind: String,
    pub id: String,
}

impl Bed {
    /// A bed with its state in `<dir>/.hoist/state.db`.
    pub fn sqlite(latency_ms: u64) -> Bed {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join(".hoist/state.db").display().to_string();
        Bed {
            sim: dir.path().join("sim.json"),
            dir,
            state,
            latency_ms,
            aws: None,
        }
    }

    /// A bed on moto (`url`), in a moto account of its own for `tag` (unique per run), with
    /// its state in `<dir>/.hoist/state.db`.
    pub fn moto(url: &str, tag: &str) -> Bed {
        let (u, account) = (url.to_string(), account_for(tag));
        let creds = block_on(async move { moto_account_credentials(&u, &account).await })
            .unwrap_or_else(|e| panic!("an account of its own in moto at {url}: {e}"));
        let mut b = Bed::sqlite(0);
        b.aws = Some(Moto {
            url: url.to_string(),
            region: "us-east-1".into(),
            creds,
        });
        b
    }

    /// A bed with its state in PostgreSQL (`url` with a `hoist_schema`).
    pub fn postgres(url: &str, latency_ms: u64) -> Bed {
        let mut b = Bed::sqlite(latency_ms);
        b.state = url.to_string();
        b
    }

    /// The environment of every process of the bed: the cloud's location and the state's.
    pub fn env(&self, c: &mut Command) {
        c.env("HOIST_STATE", &self.state)
            .env_remove("HOIST_SYSTEM")
            .current_dir(self.dir.path());
        match &self.aws {
            None => {
                c.env("HOIST_SIM_STATE", &self.sim)
                    .env("HOIST_SIM_LATENCY_MS", self.latency_ms.to_string());
            }
            Some(m) => {
                c.env_remove("HOIST_SIM_STATE")
                    .env("AWS_ENDPOINT_URL", &m.url)
                    .env("AWS_REGION", &m.region)
                    .env("AWS_ACCESS_KEY_ID", &m.creds.access_key_id)
                    .env("AWS_SECRET_ACCESS_KEY", &m.creds.secret_access_key)
                    .env("AWS_SESSION_TOKEN", &m.creds.session_token)
                    .env("AWS_EC2_METADATA_DISABLED", "true")
                    .env_remove("AWS_PROFILE")
                    .env_remove("AWS_ENDPOINT_URL_EC2")
                    .env_remove("AWS_DEFAULT_REGION");
            }
        }
    }

    /// `hoist ARGS` to completion.
    pub fn hoist(&self, args: &[&str]) -> Output {
        let mut c = Command::new(HOIST);
        self.env(&mut c);
        c.args(args).output().unwrap()
    }

    /// `hoist ARGS`, started.
    pub fn spawn_hoist(&self, args: &[&str]) -> Child {
        let mut c = Command::new(HOIST);
        self.env(&mut c);
        c.args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// The crash target initiating `system`, started.
    pub fn spawn_up(&self, system: &str) -> Child {
        self.spawn_target_up(system, &["--servers", &SERVERS.to_string()])
    }

    /// The crash target initiating `system` after a day-2 change (`DemoInfra::day2` with
    /// [`DAY2_SERVERS`] servers), started.
    pub fn spawn_up_day2(&self, system: &str) -> Child {
        self.spawn_target_up(system, &["--day2", "--servers", &DAY2_SERVERS.to_string()])
    }

    fn spawn_target_up(&self, system: &str, extra: &[&str]) -> Child {
        let mut c = Command::new(TARGET);
        self.env(&mut c);
        c.args([
            "up",
            "--state",
            &self.state,
            "--system",
            system,
            "--cloud",
            if self.aws.is_some() { "aws" } else { "sim" },
        ])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
    }

    /// The crash target initiating `system` with a service at `version` on every server (see
    /// `demo::DemoServiceTasks`).
    pub fn spawn_up_service(&self, system: &str, version: &str) -> Child {
        self.spawn_target_up(
            system,
            &["--servers", &SERVERS.to_string(), "--service", version],
        )
    }

    /// [`spawn_up_service`](Self::spawn_up_service) to completion; panics unless it succeeded.
    pub fn up_service(&self, system: &str, version: &str) -> Duration {
        finished(
            Instant::now(),
            self.spawn_up_service(system, version),
            system,
        )
    }

    /// The crash target initiating `system`, to completion; panics unless it succeeded.
    pub fn up(&self, system: &str) -> Duration {
        finished(Instant::now(), self.spawn_up(system), system)
    }

    /// The crash target initiating `system` after a day-2 change, to completion; panics
    /// unless it succeeded.
    pub fn up_day2(&self, system: &str) -> Duration {
        finished(Instant::now(), self.spawn_up_day2(system), system)
    }

    /// `hoist down --yes --system S` to completion; panics unless it succeeded.
    pub fn down(&self, system: &str) {
        let out = self.hoist(&["down", "--yes", "--system", system]);
        assert!(
            out.status.success(),
            "teardown of {system} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The crash target holding `system`'s lock; returns once it says it holds it.
    pub fn hold(
        &self,
        system: &str,
        lease_ms: u64,
        hold_ms: u64,
        then_write: bool,
    ) -> (Child, BufReader<std::process::ChildStdout>) {
        let mut c = Command::new(TARGET);
        self.env(&mut c);
        c.args(["hold", "--state", &self.state, "--system", system])
            .args([
                "--lease-ms",
                &lease_ms.to_string(),
                "--hold-ms",
                &hold_ms.to_string(),
            ]);
        if then_write {
            c.arg("--then-write");
        }
        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("locked "),
            "the holder did not take the lock: {line:?}"
        );
        (child, out)
    }

    /// The live objects of `system` in the cloud (read by listing: on moto, every object
    /// tagged with the system, in the bed's region).
    pub fn objects(&self, system: &str) -> Vec<Obj> {
        let Some(m) = &self.aws else {
            return SimCloud::builder()
                .persist(&self.sim)
                .build()
                .objects()
                .into_iter()
                .filter(|o| o.tags.get("hoist:system").map(String::as_str) == Some(system))
                .map(|o| Obj {
                    key: o.key,
                    kind: o.kind,
                    id: o.id,
                })
                .collect();
        };
        let aws = AwsCloud::builder()
            .endpoint(&m.url)
            .region(&m.region)
            .credentials(AwsCredentials::Static {
                access_key_id: m.creds.access_key_id.clone(),
                secret_access_key: Secret::new(m.creds.secret_access_key.clone()),
                session_token: Some(Secret::new(m.creds.session_token.clone())),
            })
            .build();
        let system = system.to_string();
        block_on(async move { aws.inventory(&system).await })
            .unwrap_or_else(|e| panic!("listing the objects of {} in moto: {e}", m.region))
            .into_iter()
            .map(|o| Obj {
                key: o.resource.unwrap_or_default(),
                kind: o.kind.to_string(),
                id: o.id,
            })
            .collect()
    }

    /// Live objects of `system` per resource key and kind (`key kind`).
    pub fn per_key(&self, system: &str) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for o in self.objects(system) {
            *m.entry(format!("{} {}", o.key, o.kind)).or_insert(0) += 1;
        }
        m
    }

    /// The state, through the library, from a thread of its own (for tests without a
    /// runtime).
    pub fn state_blocking(&self, system: &str) -> Option<hoist::state::SystemState> {
        let (state, system) = (self.state.clone(), system.to_string());
        block_on(async move {
            hoist::state::open(&state)
                .await
                .unwrap()
                .load(&system)
                .await
                .unwrap()
        })
    }

    /// The state, through the library.
    pub async fn state(&self, system: &str) -> Option<hoist::state::SystemState> {
        hoist::state::open(&self.state)
            .await
            .unwrap()
            .load(system)
            .await
            .unwrap()
    }
}

/// Sends a signal with `kill(1)` (no unsafe code here).
/// Waits for an initiate started at `t0`; panics unless it succeeded.
fn finished(t0: Instant, child: Child, system: &str) -> Duration {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "initiate of {system} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t0.elapsed()
}

pub fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{sig} {pid}");
}

/// The test database URL with a fresh schema, or `None` (skip) outside CI.
pub fn pg_url(tag: &str) -> Option<(String, String)> {
    let url = match std::env::var("HOIST_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => u,
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!(
                "HOIST_TEST_PG_URL is not set, but CI=true: PostgreSQL tests must run in CI (scripts/test starts a cluster with scripts/postgres)"
            )
        }
        _ => {
            eprintln!(
                "skipped: HOIST_TEST_PG_URL is not set (start a cluster: export HOIST_TEST_PG_URL=\"$(scripts/postgres up /tmp/hoist-pg)\")"
            );
            return None;
        }
    };
    let schema = format!("cli_{tag}_{}_{}", std::process::id(), fastrand::u32(..));
    let sep = if url.contains('?') { '&' } else { '?' };
    Some((format!("{url}{sep}hoist_schema={schema}"), schema))
}

/// Drops a test schema.
pub async fn pg_drop(url_with_schema: &str, schema: &str) {
    let base = url_with_schema
        .split("hoist_schema=")
        .next()
        .unwrap()
        .trim_end_matches(['?', '&']);
    if let Ok(s) = hoist::state::PgStore::connect_at_schema(base, schema, 0).await {
        let _ = s.batch("DROP SCHEMA IF EXISTS {s} CASCADE").await;
    }
}

/// The seed of a randomized test: `HOIST_CRASH_SEED`, or a fresh one; printed.
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("HOIST_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    eprintln!("{test}: seed {seed} (rerun with HOIST_CRASH_SEED={seed})");
    seed
}

/// Text of a process's output streams.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The executable of example `name` of `package`, as the test build made it (`cargo nextest run --workspace` and
/// `cargo test --workspace` build every example); built with cargo when it is missing.
pub fn example_exe(package: &str, name: &str) -> PathBuf {
    // <target>/<profile>/deps/cli-<hash> → <target>/<profile>/examples
    let exe = std::env::current_exe().unwrap();
    let examples = exe.parent().unwrap().parent().unwrap().join("examples");
    let newest = |dir: &Path| {
        std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| {
                let f = e.file_name().to_string_lossy().into_owned();
                (f == name || f.starts_with(&format!("{name}-"))) && !f.contains('.')
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .max()
            .map(|(_, p)| p)
    };
    if let Some(p) = newest(&examples) {
        return p;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["build", "-p", package, "--example", name])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "building the example {name}: {}",
        text(&out)
    );
    newest(&examples).unwrap_or_else(|| panic!("no {name} in {}", examples.display()))
}
