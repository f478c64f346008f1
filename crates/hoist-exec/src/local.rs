//! [`LocalTransport`]: a "host" that is a sandbox directory on the controller, and the process
//! runner shared with local (controller-side) tasks.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::AsyncWriteExt;

use crate::transport::{ExecOutput, ExecRequest, HostFile, Program, Transport, TransportError};

/// The `PATH` used when the controller has none.
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// A local sandbox host: programs run on the controller with the sandbox directory as their
/// working directory and `HOME`; relative paths (of files and of [`ExecRequest::cwd`]) are
/// resolved against the sandbox directory, absolute paths are used as they are.
///
/// The environment of a program is `PATH` (from the controller), `HOME` and the request's
/// variables; nothing else of the controller's environment leaks in, as on a remote host.
/// Each program runs in its own process group; when a time limit expires (or the call is
/// cancelled) the whole group is killed.
///
/// ```no_run
/// # async fn demo() -> Result<(), hoist_exec::TransportError> {
/// use hoist_exec::{ExecRequest, LocalTransport, Transport};
/// let host = LocalTransport::sandbox("/tmp/host-a");
/// let out = host.exec(&ExecRequest::shell("echo $HOME")).await?;
/// assert_eq!(out.stdout, "/tmp/host-a\n");
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct LocalTransport {
    root: PathBuf,
    host: String,
}

impl LocalTransport {
    /// A sandbox host rooted at `dir` (created if missing, best effort; a later operation
    /// reports the error if it cannot be).
    pub fn sandbox(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        // Absolute, so that `temp_dir()` and messages mean the same from any directory.
        let root = std::path::absolute(&dir).unwrap_or(dir);
        if let Err(e) = std::fs::create_dir_all(&root) {
            tracing::debug!(dir = %root.display(), error = %e, "cannot create sandbox directory");
        }
        let host = format!("local:{}", root.display());
        LocalTransport { root, host }
    }

    /// The sandbox directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `path` resolved against the sandbox directory (absolute paths are returned as they are).
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.root.join(p)
        }
    }

    fn io_err(&self, path: &str, e: &io::Error) -> TransportError {
        TransportError::Io {
            host: self.host.clone(),
            path: Some(path.to_string()),
            message: e.to_string(),
        }
    }
}

#[async_trait::async_trait]
impl Transport for LocalTransport {
    fn host(&self) -> &str {
        &self.host
    }

    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        let mut cmd = command_for(&req.program, &self.host)?;
        let cwd = match &req.cwd {
            Some(c) => self.resolve(c),
            None => self.root.clone(),
        };
        if !tokio::fs::metadata(&cwd).await.is_ok_and(|m| m.is_dir()) {
            return Err(TransportError::Io {
                host: self.host.clone(),
                path: Some(cwd.to_string_lossy().into_owned()),
                message: "working directory does not exist".into(),
            });
        }
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into()),
            )
            .env("HOME", &self.root)
            .envs(req.env.iter().map(|(k, v)| (k, v)))
            .current_dir(cwd);
        run_process(
            cmd,
            &req.program,
            req.stdin.as_deref(),
            req.timeout,
            &self.host,
        )
        .await
    }

    async fn put_file(&self, path: &str, bytes: &[u8], mode: u32) -> Result<(), TransportError> {
        let target = self.resolve(path);
        let name = target.file_name().ok_or_else(|| TransportError::Io {
            host: self.host.clone(),
            path: Some(path.to_string()),
            message: "not a file path".into(),
        })?;
        // Write a sibling temporary file, set its mode, then rename it over the target: readers
        // never see a half-written file or a file with the wrong permissions.
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".hoist-{}", unique_suffix()));
        let tmp = target.with_file_name(tmp_name);
        let result = async {
            tokio::fs::write(&tmp, bytes).await?;
            tokio::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(mode)).await?;
            tokio::fs::rename(&tmp, &target).await
        }
        .await;
        if let Err(e) = result {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(self.io_err(path, &e));
        }
        Ok(())
    }

    async fn mkdir_all(&self, path: &str, mode: u32) -> Result<(), TransportError> {
        let dir = self.resolve(path);
        if tokio::fs::metadata(&dir).await.is_ok_and(|m| m.is_dir()) {
            return Ok(());
        }
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| self.io_err(path, &e))?;
        tokio::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode))
            .await
            .map_err(|e| self.io_err(path, &e))
    }

    async fn exists(&self, path: &str) -> Result<bool, TransportError> {
        tokio::fs::try_exists(self.resolve(path))
            .await
            .map_err(|e| self.io_err(path, &e))
    }

    async fn is_dir(&self, path: &str) -> Result<bool, TransportError> {
        match tokio::fs::metadata(self.resolve(path)).await {
            Ok(m) => Ok(m.is_dir()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.io_err(path, &e)),
        }
    }

    async fn read_file(
        &self,
        path: &str,
        max_len: u64,
    ) -> Result<Option<HostFile>, TransportError> {
        let target = self.resolve(path);
        let meta = match tokio::fs::metadata(&target).await {
            Ok(m) if m.is_file() && m.len() <= max_len => m,
            Ok(_) => return Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.io_err(path, &e)),
        };
        let bytes = tokio::fs::read(&target)
            .await
            .map_err(|e| self.io_err(path, &e))?;
        Ok(Some(HostFile {
            bytes,
            mode: meta.permissions().mode() & 0o7777,
        }))
    }

    async fn remove_file(&self, path: &str) -> Result<(), TransportError> {
        match tokio::fs::remove_file(self.resolve(path)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.io_err(path, &e)),
        }
    }

    fn temp_dir(&self) -> String {
        let dir = self.root.join(".tmp");
        if let Err(e) = std::fs::create_dir_all(&dir) {
            tracing::debug!(dir = %dir.display(), error = %e, "cannot create sandbox temp directory");
        }
        dir.to_string_lossy().into_owned()
    }
}

/// A suffix unique within this machine: process id, a counter, and the clock's nanoseconds.
pub(crate) fn unique_suffix() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{nanos:08x}", std::process::id())
}

/// A command for `program` (no environment or directory set yet).
pub(crate) fn command_for(
    program: &Program,
    host: &str,
) -> Result<tokio::process::Command, TransportError> {
    match program {
        Program::Argv(argv) => {
            let (first, rest) = argv
                .split_first()
                .ok_or_else(|| TransportError::BadRequest {
                    host: host.to_string(),
                    message: "empty argv: no program to run".into(),
                })?;
            let mut cmd = tokio::process::Command::new(first);
            cmd.args(rest);
            Ok(cmd)
        }
        Program::Shell(line) => {
            let mut cmd = tokio::process::Command::new("/bin/sh");
            cmd.arg("-c").arg(line);
            Ok(cmd)
        }
    }
}

/// Kills a process group when dropped, unless disarmed (the program ended by itself).
struct GroupKiller {
    pgid: Option<u32>,
}

impl Drop for GroupKiller {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // No `unsafe` (so no `libc::kill`) in this workspace: the shell's `kill` builtin
            // does it (always there, unlike `/usr/bin/kill`). Killing the group reaches what a
            // shell started in the background, too.
            let _ = std::process::Command::new("/bin/sh")
                .args(["-c", "kill -9 -\"$1\"", "sh", &pgid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Runs a prepared command: output captured apart, optional input, optional time limit, its
/// own process group killed on timeout or cancellation.
pub(crate) async fn run_process(
    mut cmd: tokio::process::Command,
    program: &Program,
    stdin: Option<&[u8]>,
    timeout: Option<Duration>,
    host: &str,
) -> Result<ExecOutput, TransportError> {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .kill_on_drop(true)
    .process_group(0);
    let mut child = spawn(&mut cmd, program, host).await?;
    let mut killer = GroupKiller { pgid: child.id() };

    let input = child.stdin.take().zip(stdin.map(<[u8]>::to_vec));
    let feed = async move {
        if let Some((mut pipe, bytes)) = input {
            // A program that does not read its input closes the pipe: not an error.
            let _ = pipe.write_all(&bytes).await;
            let _ = pipe.shutdown().await;
        }
    };
    let run = async move {
        let (out, ()) = tokio::join!(child.wait_with_output(), feed);
        out
    };
    let output = match timeout {
        Some(limit) => match tokio::time::timeout(limit, run).await {
            Ok(out) => out,
            Err(_elapsed) => {
                drop(killer);
                return Err(TransportError::Timeout {
                    host: host.to_string(),
                    after: limit,
                });
            }
        },
        None => run.await,
    };
    // The program ended by itself: leave anything it deliberately started in the background.
    killer.pgid = None;
    let output = output.map_err(|e| TransportError::Io {
        host: host.to_string(),
        path: None,
        message: format!("waiting for `{}`: {e}", program.display()),
    })?;
    Ok(ExecOutput {
        exit_code: output.status.code(),
        signal: output.status.signal().map(signal_name),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Spawns, retrying briefly on `ETXTBSY`: a script written just before can still be open for
/// writing in a child that another thread forked but has not yet exec'd.
async fn spawn(
    cmd: &mut tokio::process::Command,
    program: &Program,
    host: &str,
) -> Result<tokio::process::Child, TransportError> {
    let mut attempt = 0;
    loop {
        match cmd.spawn() {
            Ok(child) => return Ok(child),
            Err(e) if e.kind() == io::ErrorKind::ExecutableFileBusy && attempt < 20 => {
                attempt += 1;
                tokio::time::sleep(Duration::from_millis(5 * attempt)).await;
            }
            Err(e) => {
                return Err(TransportError::Spawn {
                    host: host.to_string(),
                    program: program.display(),
                    message: e.to_string(),
                });
            }
        }
    }
}

/// The name of a signal without `SIG`, as SSH reports it.
fn signal_name(sig: i32) -> String {
    let name = match sig {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        4 => "ILL",
        5 => "TRAP",
        6 => "ABRT",
        7 => "BUS",
        8 => "FPE",
        9 => "KILL",
        10 => "USR1",
        11 => "SEGV",
        12 => "USR2",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return format!("SIG{sig}"),
    };
    name.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;
    use tempfile::TempDir;

    fn sandbox() -> (TempDir, LocalTransport) {
        let dir = TempDir::new().unwrap();
        let t = LocalTransport::sandbox(dir.path());
        (dir, t)
    }

    #[tokio::test]
    async fn runs_in_the_sandbox_with_home_set() {
        let (dir, t) = sandbox();
        let out = t
            .exec(&ExecRequest::shell("pwd; echo $HOME; echo err >&2"))
            .await
            .unwrap();
        let root = dir.path().to_str().unwrap();
        assert_eq!(out.stdout, format!("{root}\n{root}\n"));
        assert_eq!(out.stderr, "err\n");
        assert!(out.success());
        assert_eq!(t.host(), format!("local:{root}"));
    }

    #[tokio::test]
    async fn relative_cwd_and_paths_resolve_against_the_sandbox() {
        let (dir, t) = sandbox();
        t.mkdir_all("a/b", 0o750).await.unwrap();
        let meta = std::fs::metadata(dir.path().join("a/b")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o750);
        assert!(t.is_dir("a/b").await.unwrap());
        assert!(!t.is_dir("a/missing").await.unwrap());

        t.put_file("a/b/f.txt", b"data", 0o640).await.unwrap();
        let f = dir.path().join("a/b/f.txt");
        assert_eq!(std::fs::read(&f).unwrap(), b"data");
        assert_eq!(
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
            0o640
        );
        assert!(t.exists("a/b/f.txt").await.unwrap());
        assert!(t.exists(f.to_str().unwrap()).await.unwrap());
        // Only the file remains in the directory: no temporary leftovers.
        assert_eq!(
            std::fs::read_dir(dir.path().join("a/b")).unwrap().count(),
            1
        );

        let out = t
            .exec(&ExecRequest::argv(["cat", "f.txt"]).with_cwd("a/b"))
            .await
            .unwrap();
        assert_eq!(out.stdout, "data");

        t.remove_file("a/b/f.txt").await.unwrap();
        assert!(!f.exists());
        t.remove_file("a/b/f.txt").await.unwrap();
    }

    #[tokio::test]
    async fn put_file_into_a_missing_directory_fails_naming_the_path() {
        let (_dir, t) = sandbox();
        let err = t.put_file("nope/f", b"x", 0o644).await.unwrap_err();
        assert!(
            matches!(&err, TransportError::Io { path: Some(p), .. } if p == "nope/f"),
            "{err}"
        );
        assert!(err.to_string().contains(t.host()));
    }

    #[tokio::test]
    async fn env_is_clean_but_keeps_path() {
        let (_dir, t) = sandbox();
        assert!(std::env::var_os("PATH").is_some());
        let out = t
            .exec(&ExecRequest::argv(["env"]).with_env("GREETING", "hello 'world' \"x\" $Y"))
            .await
            .unwrap();
        let vars: Vec<&str> = out.stdout.lines().collect();
        assert!(
            vars.contains(&"GREETING=hello 'world' \"x\" $Y"),
            "{vars:?}"
        );
        assert!(vars.iter().any(|v| v.starts_with("PATH=")));
        assert!(vars.iter().any(|v| v.starts_with("HOME=")));
        assert!(
            !vars.iter().any(|v| v.starts_with("CARGO")),
            "controller env leaked: {vars:?}"
        );
    }

    #[tokio::test]
    async fn stdin_is_fed() {
        let (_dir, t) = sandbox();
        let out = t
            .exec(&ExecRequest::argv(["cat"]).with_stdin("in put"))
            .await
            .unwrap();
        assert_eq!(out.stdout, "in put");
        let out = t.exec(&ExecRequest::argv(["cat"])).await.unwrap();
        assert_eq!(out.stdout, "");
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let (dir, t) = sandbox();
        let start = Instant::now();
        // The background job outlives the shell unless the whole group is killed.
        let req = ExecRequest::shell("(sleep 1; touch late) & sleep 5; touch after")
            .with_timeout(Some(Duration::from_millis(200)));
        let err = t.exec(&req).await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(start.elapsed() < Duration::from_secs(3));
        tokio::time::sleep(Duration::from_millis(1500)).await;
        assert!(
            !dir.path().join("late").exists(),
            "background job survived the timeout"
        );
        assert!(!dir.path().join("after").exists());
    }

    #[tokio::test]
    async fn signal_and_spawn_errors() {
        let (_dir, t) = sandbox();
        let out = t.exec(&ExecRequest::shell("kill -TERM $$")).await.unwrap();
        assert_eq!(out.exit_code, None);
        assert_eq!(out.signal.as_deref(), Some("TERM"));
        assert_eq!(out.status_text(), "was killed by signal TERM");

        let err = t
            .exec(&ExecRequest::argv(["/no/such/program"]))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::Spawn { .. }), "{err}");
        let err = t
            .exec(&ExecRequest::argv(Vec::<String>::new()))
            .await
            .unwrap_err();
        assert!(matches!(err, TransportError::BadRequest { .. }), "{err}");
    }

    #[tokio::test]
    async fn missing_working_directory_is_reported() {
        let (_dir, t) = sandbox();
        let err = t
            .exec(&ExecRequest::argv(["true"]).with_cwd("nope"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("working directory does not exist"),
            "{err}"
        );
    }

    #[test]
    fn relative_sandbox_is_made_absolute() {
        let t = LocalTransport::sandbox(format!(
            ".hoist-exec-relative-sandbox-{}",
            std::process::id()
        ));
        assert!(t.root().is_absolute());
        assert!(Path::new(&t.temp_dir()).is_absolute());
        let _ = std::fs::remove_dir_all(t.root());
    }

    #[test]
    fn temp_dir_is_created_in_the_sandbox() {
        let (dir, t) = sandbox();
        let tmp = t.temp_dir();
        assert_eq!(Path::new(&tmp), dir.path().join(".tmp"));
        assert!(Path::new(&tmp).is_dir());
        assert_ne!(unique_suffix(), unique_suffix());
    }
}
