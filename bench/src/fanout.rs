//! The SSH fan-out benchmark's common parts: arguments, the test bed's hosts, the controller
//! CPU time of this process, and the result line.
//!
//! Every program of the benchmark does the same work per host: connect, run 10 commands one
//! after the other (`/bin/echo 0` … `/bin/echo 9`), then upload a 1 MB file over SFTP; all
//! hosts at once. The commands name `/bin/echo` so that every tool runs a program on the host:
//! a bare `echo` is a shell builtin when a shell line runs it (the floor, pyinfra) but a
//! program when a tool runs an argv (hoist's command task, Ansible's `command`). It prints one
//! line
//!
//! ```text
//! RESULT tool=<name> hosts=<n> wall_s=<seconds> cpu_s=<seconds> connections=<n>
//! ```
//!
//! where `wall_s` runs from just before the first connection (after argument parsing) to the
//! end of the work, and `cpu_s` is this process's user + system time (all threads) over the
//! same span.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Commands each host runs, one after the other.
pub const COMMANDS: usize = 10;

/// The command line of command `i` (the same for every tool of the benchmark).
pub fn command(i: usize) -> String {
    format!("/bin/echo {i}")
}

/// Command-line arguments shared by the fan-out programs.
#[derive(Clone, Debug)]
pub struct Args {
    /// The test bed directory (`scripts/testbed up N DIR`).
    pub testbed: PathBuf,
    /// How many of its hosts to use (the first ones).
    pub hosts: usize,
    /// The local file to upload (1 MB).
    pub payload: PathBuf,
    /// Where to upload it on each host.
    pub dest: String,
    /// Hosts worked on at once (hoist: tasks in flight; the floor uses no limit).
    pub concurrency: usize,
    /// The boolean flags given (`--name`), among those the program allows.
    pub flags: Vec<String>,
}

impl Args {
    /// Parses `--testbed DIR --hosts N --payload FILE --dest PATH [--concurrency N]` and the
    /// boolean flags in `allowed_flags` (e.g. `--timeline`).
    pub fn parse(usage: &str, allowed_flags: &[&str]) -> Result<Args, String> {
        let mut testbed = None;
        let mut hosts = None;
        let mut payload = None;
        let mut dest = None;
        let mut concurrency = 50;
        let mut flags = Vec::new();
        let mut it = std::env::args().skip(1);
        while let Some(a) = it.next() {
            let mut val = |name: &str| it.next().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--testbed" => testbed = Some(PathBuf::from(val("--testbed")?)),
                "--hosts" => hosts = Some(parse_num(&val("--hosts")?, "--hosts")?),
                "--payload" => payload = Some(PathBuf::from(val("--payload")?)),
                "--dest" => dest = Some(val("--dest")?),
                "--concurrency" => {
                    concurrency = parse_num(&val("--concurrency")?, "--concurrency")?;
                }
                "-h" | "--help" => return Err(usage.to_string()),
                f if allowed_flags.contains(&f) => flags.push(f.to_string()),
                other => return Err(format!("unknown argument `{other}`\n{usage}")),
            }
        }
        let missing = |n: &str| format!("{n} is required\n{usage}");
        Ok(Args {
            testbed: testbed.ok_or_else(|| missing("--testbed"))?,
            hosts: hosts.ok_or_else(|| missing("--hosts"))?,
            payload: payload.ok_or_else(|| missing("--payload"))?,
            dest: dest.ok_or_else(|| missing("--dest"))?,
            concurrency: concurrency.max(1),
            flags,
        })
    }
}

impl Args {
    /// True if the boolean flag `name` (`--name`) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }
}

fn parse_num(s: &str, name: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("{name}: expected a positive number, not `{s}`")),
    }
}

/// One host of the test bed.
#[derive(Clone, Debug)]
pub struct Host {
    /// `hostI`.
    pub name: String,
    /// Its loopback address.
    pub address: String,
    /// Its SSH port.
    pub port: u16,
    /// The login user.
    pub user: String,
}

/// The first `n` hosts of the test bed in `dir` (from `DIR/hosts.tsv`). Refuses any address
/// outside 127.0.0.0/8: the benchmark never connects anywhere but the test bed.
pub fn testbed_hosts(dir: &Path, n: usize) -> Result<Vec<Host>, String> {
    let path = dir.join("hosts.tsv");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut hosts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split('\t').collect();
        let [name, address, port, user] = f[..] else {
            return Err(format!("{}:{}: expected 4 fields", path.display(), i + 1));
        };
        let ip: std::net::Ipv4Addr = address
            .parse()
            .map_err(|_| format!("{}:{}: bad address `{address}`", path.display(), i + 1))?;
        if !ip.is_loopback() {
            return Err(format!(
                "{}:{}: {address} is not a loopback address; the benchmark only talks to the test bed",
                path.display(),
                i + 1
            ));
        }
        hosts.push(Host {
            name: name.to_string(),
            address: address.to_string(),
            port: port
                .parse()
                .map_err(|_| format!("{}:{}: bad port `{port}`", path.display(), i + 1))?,
            user: user.to_string(),
        });
    }
    if hosts.len() < n {
        return Err(format!(
            "the test bed in {} has {} hosts, {n} wanted",
            dir.display(),
            hosts.len()
        ));
    }
    hosts.truncate(n);
    Ok(hosts)
}

/// User + system CPU time of this process so far, all threads (`/proc/self/stat`).
pub fn cpu_time() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return Duration::ZERO;
    };
    // The command name (field 2) is in parentheses and may hold spaces: count from its end.
    let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Duration::ZERO;
    };
    // rest: " state(3) ppid(4) … utime(14) stime(15)"
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|s| s.parse::<u64>().ok()).unwrap_or(0);
    let total = ticks(11) + ticks(12);
    let hz = clock_ticks();
    Duration::from_secs(total / hz) + Duration::from_nanos((total % hz) * 1_000_000_000 / hz)
}

/// The kernel's clock tick (`AT_CLKTCK` from `/proc/self/auxv`), 100 if unknown.
fn clock_ticks() -> u64 {
    const AT_CLKTCK: u64 = 17;
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return 100;
    };
    auxv.chunks_exact(16)
        .map(|c| {
            let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]));
            (word(&c[..8]), word(&c[8..]))
        })
        .find(|(k, _)| *k == AT_CLKTCK)
        .map_or(100, |(_, v)| v.max(1))
}

/// Wall and CPU time since it was started.
#[derive(Clone, Copy, Debug)]
pub struct Stopwatch {
    wall: Instant,
    cpu: Duration,
}

impl Stopwatch {
    /// Starts now.
    pub fn start() -> Self {
        Stopwatch {
            wall: Instant::now(),
            cpu: cpu_time(),
        }
    }

    /// Prints the result line (see the module documentation).
    pub fn report(&self, tool: &str, hosts: usize, connections: u64) {
        let wall = self.wall.elapsed();
        let cpu = cpu_time().saturating_sub(self.cpu);
        println!(
            "RESULT tool={tool} hosts={hosts} wall_s={:.3} cpu_s={:.3} connections={connections}",
            wall.as_secs_f64(),
            cpu.as_secs_f64()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_grows() {
        let a = cpu_time();
        let mut x = 0u64;
        let t = Instant::now();
        while t.elapsed() < Duration::from_millis(50) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
        assert!(cpu_time() > a);
        assert!(clock_ticks() > 0);
    }

    #[test]
    fn reads_hosts_and_refuses_other_addresses() {
        let dir = std::env::temp_dir().join(format!("hoist-bench-tsv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("hosts.tsv"),
            "# name\taddress\tport\tuser\nhost1\t127.0.1.1\t2400\troot\nhost2\t127.0.1.2\t2400\troot\n",
        )
        .unwrap();
        let h = testbed_hosts(&dir, 1).unwrap();
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].address.as_str(), h[0].port), ("127.0.1.1", 2400));
        assert!(testbed_hosts(&dir, 3).is_err());
        std::fs::write(dir.join("hosts.tsv"), "h\t10.0.0.1\t22\troot\n").unwrap();
        assert!(testbed_hosts(&dir, 1).unwrap_err().contains("loopback"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
