//! Privilege escalation: running a task's remote commands and file writes as another user
//! through `sudo` ([`Become`]).
//!
//! [`run_action`](crate::run_action) wraps the task's transport in a [`BecomeTransport`] when
//! [`TaskContext::become_`](crate::TaskContext::become_) is set, so every remote operation of
//! the task goes through `sudo`:
//!
//! - a command becomes `sudo -S -p '<marker>' -u USER -- /bin/sh -c '<the command line>'`
//!   (the line from [`request_to_shell`], so the working directory and environment survive
//!   sudo's `env_reset`). The password is fed on standard input, followed by a unique
//!   synchronisation line; the inner shell discards input up to that line before running the
//!   command. So the password never reaches the command, even where sudo does not ask for it
//!   (a `NOPASSWD` rule, cached credentials). The prompt marker is removed from the captured
//!   standard error. Without a password: `sudo -n` (fails at once instead of waiting for one).
//! - a file write streams the bytes through standard input into `cat` running as USER, into a
//!   temporary sibling of the destination, then `chmod` and `mv -f` over the destination: the
//!   file belongs to USER, readers never see half a file, and no copy readable by others is
//!   left anywhere;
//! - `mkdir_all`, `exists`, `is_dir` and `remove_file` are `mkdir -p -m`, `test -e`, `test -d`
//!   and `rm -f` as USER.
//!
//! The password is never logged: [`ExecRequest`]'s `Debug` shows only the input's length.

use hoist_core::Secret;

use crate::local::unique_suffix;
use crate::transport::{
    ExecOutput, ExecRequest, Program, Transport, TransportError, request_to_shell, shell_quote,
};

/// Run a task as `user` through `sudo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Become {
    /// The user to run as (`root` for plain `sudo`).
    pub user: String,
    /// The login user's sudo password; `None` runs `sudo -n` (no prompt: the host must not
    /// ask for a password).
    pub password: Option<Secret>,
}

impl Become {
    /// Become `user`, with no password (`sudo -n`).
    pub fn user(user: impl Into<String>) -> Self {
        Become {
            user: user.into(),
            password: None,
        }
    }

    /// Sets the sudo password.
    #[must_use]
    pub fn with_password(mut self, password: Option<Secret>) -> Self {
        self.password = password;
        self
    }
}

/// A [`Transport`] that runs everything on `inner` as another user through `sudo` (see the
/// module documentation). Used by [`run_action`](crate::run_action); public so that other
/// callers (tools, tests) can use the same wrapping.
pub struct BecomeTransport<'a> {
    inner: &'a dyn Transport,
    become_: &'a Become,
    prompt: String,
    sync: String,
}

impl<'a> BecomeTransport<'a> {
    /// Wraps `inner`.
    pub fn new(inner: &'a dyn Transport, become_: &'a Become) -> Self {
        let id = unique_suffix();
        BecomeTransport {
            inner,
            become_,
            // `%` starts an escape in sudo prompts: the marker has none.
            prompt: format!("[hoist-sudo-prompt-{id}]"),
            sync: format!("hoist-sudo-input-{id}"),
        }
    }

    /// The request that runs `req` as the become user: `sudo ... -- /bin/sh -c LINE`.
    pub fn wrap(&self, req: &ExecRequest) -> ExecRequest {
        self.wrap_line(&request_to_shell(req), req.stdin.as_deref(), req)
    }

    fn wrap_line(&self, line: &str, stdin: Option<&[u8]>, req: &ExecRequest) -> ExecRequest {
        let user = self.become_.user.clone();
        let (argv, input): (Vec<String>, Option<Vec<u8>>) = match &self.become_.password {
            Some(pw) => {
                let inner = format!(
                    "while IFS= read -r hoist_sync; do [ \"$hoist_sync\" = {} ] && break; done; {line}",
                    shell_quote(&self.sync)
                );
                let mut input = Vec::with_capacity(
                    pw.expose().len() + self.sync.len() + 2 + stdin.map_or(0, <[u8]>::len),
                );
                input.extend_from_slice(pw.expose().as_bytes());
                input.push(b'\n');
                input.extend_from_slice(self.sync.as_bytes());
                input.push(b'\n');
                input.extend_from_slice(stdin.unwrap_or_default());
                let argv = [
                    "sudo",
                    "-S",
                    "-p",
                    &self.prompt,
                    "-u",
                    &user,
                    "--",
                    "/bin/sh",
                    "-c",
                    &inner,
                ];
                (argv.map(String::from).to_vec(), Some(input))
            }
            None => {
                let argv = ["sudo", "-n", "-u", &user, "--", "/bin/sh", "-c", line];
                (argv.map(String::from).to_vec(), stdin.map(<[u8]>::to_vec))
            }
        };
        ExecRequest {
            program: Program::Argv(argv),
            env: Vec::new(),
            cwd: None,
            timeout: req.timeout,
            stdin: input,
        }
    }

    /// Runs a shell line as the become user; the prompt marker is removed from stderr.
    async fn run(&self, line: &str, stdin: Option<&[u8]>) -> Result<ExecOutput, TransportError> {
        let req = ExecRequest::shell(line);
        self.exec_wrapped(self.wrap_line(line, stdin, &req)).await
    }

    async fn exec_wrapped(&self, req: ExecRequest) -> Result<ExecOutput, TransportError> {
        let mut out = self.inner.exec(&req).await?;
        if out.stderr.contains(&self.prompt) {
            out.stderr = out.stderr.replace(&self.prompt, "");
        }
        Ok(out)
    }

    /// Runs a file operation; a failure is an I/O error on `path` with sudo's message.
    async fn file_op(
        &self,
        path: &str,
        line: &str,
        stdin: Option<&[u8]>,
    ) -> Result<ExecOutput, TransportError> {
        let out = self.run(line, stdin).await?;
        if out.success() {
            Ok(out)
        } else {
            Err(self.io_err(path, &out))
        }
    }

    fn io_err(&self, path: &str, out: &ExecOutput) -> TransportError {
        let detail = out.stderr.trim();
        TransportError::Io {
            host: self.inner.host().to_string(),
            path: Some(path.to_string()),
            message: format!(
                "as user {} (sudo): {}{}",
                self.become_.user,
                out.status_text(),
                if detail.is_empty() {
                    String::new()
                } else {
                    format!(": {detail}")
                }
            ),
        }
    }

    /// `test FLAG path` as the become user: exit 0 → true, 1 → false, else an error.
    async fn test(&self, flag: &str, path: &str) -> Result<bool, TransportError> {
        let out = self
            .run(&format!("test {flag} {}", shell_quote(path)), None)
            .await?;
        match out.exit_code {
            Some(0) => Ok(true),
            Some(1) => Ok(false),
            _ => Err(self.io_err(path, &out)),
        }
    }
}

#[async_trait::async_trait]
impl Transport for BecomeTransport<'_> {
    fn host(&self) -> &str {
        self.inner.host()
    }

    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
        self.exec_wrapped(self.wrap(req)).await
    }

    async fn put_file(&self, path: &str, bytes: &[u8], mode: u32) -> Result<(), TransportError> {
        let (dir, name) = match path.rsplit_once('/') {
            Some((d, n)) => (format!("{d}/"), n),
            None => (String::new(), path),
        };
        if name.is_empty() {
            return Err(TransportError::Io {
                host: self.inner.host().to_string(),
                path: Some(path.to_string()),
                message: "not a file path".into(),
            });
        }
        let tmp = shell_quote(&format!("{dir}.{name}.hoist-{}", unique_suffix()));
        let line = format!(
            "umask 077; cat > {tmp} && chmod {mode:o} {tmp} && mv -f -- {tmp} {dest} || {{ rm -f -- {tmp}; exit 1; }}",
            dest = shell_quote(path),
        );
        self.file_op(path, &line, Some(bytes)).await.map(|_| ())
    }

    async fn mkdir_all(&self, path: &str, mode: u32) -> Result<(), TransportError> {
        let p = shell_quote(path);
        let line = format!("test -d {p} || mkdir -p -m {mode:o} -- {p}");
        self.file_op(path, &line, None).await.map(|_| ())
    }

    async fn exists(&self, path: &str) -> Result<bool, TransportError> {
        self.test("-e", path).await
    }

    async fn is_dir(&self, path: &str) -> Result<bool, TransportError> {
        self.test("-d", path).await
    }

    async fn remove_file(&self, path: &str) -> Result<(), TransportError> {
        let line = format!("rm -f -- {}", shell_quote(path));
        self.file_op(path, &line, None).await.map(|_| ())
    }

    fn temp_dir(&self) -> String {
        self.inner.temp_dir()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Records requests and answers every one with success.
    struct Recorder {
        seen: Mutex<Vec<ExecRequest>>,
        stderr: String,
    }

    #[async_trait::async_trait]
    impl Transport for Recorder {
        fn host(&self) -> &str {
            "rec"
        }
        async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError> {
            self.seen.lock().unwrap().push(req.clone());
            Ok(ExecOutput {
                exit_code: Some(0),
                signal: None,
                stdout: String::new(),
                stderr: self.stderr.clone(),
            })
        }
        async fn put_file(&self, _: &str, _: &[u8], _: u32) -> Result<(), TransportError> {
            unreachable!("a become transport writes files through sudo")
        }
        async fn mkdir_all(&self, _: &str, _: u32) -> Result<(), TransportError> {
            unreachable!()
        }
        async fn exists(&self, _: &str) -> Result<bool, TransportError> {
            unreachable!()
        }
        async fn is_dir(&self, _: &str) -> Result<bool, TransportError> {
            unreachable!()
        }
        async fn remove_file(&self, _: &str) -> Result<(), TransportError> {
            unreachable!()
        }
        fn temp_dir(&self) -> String {
            "/tmp".into()
        }
    }

    fn argv(req: &ExecRequest) -> &[String] {
        match &req.program {
            Program::Argv(a) => a,
            Program::Shell(_) => panic!("expected argv"),
        }
    }

    #[tokio::test]
    async fn commands_run_through_sudo_with_the_password_on_stdin() {
        let rec = Recorder {
            seen: Mutex::new(Vec::new()),
            stderr: String::new(),
        };
        let b = Become::user("app").with_password(Some(Secret::new("pw 1")));
        let t = BecomeTransport::new(&rec, &b);
        let req = ExecRequest::argv(["echo", "a b"])
            .with_env("X", "1")
            .with_cwd("/srv")
            .with_timeout(Some(std::time::Duration::from_secs(3)));
        t.exec(&req).await.unwrap();
        let seen = rec.seen.lock().unwrap();
        let w = &seen[0];
        let a = argv(w);
        assert_eq!(&a[..2], ["sudo", "-S"]);
        assert_eq!(a[2], "-p");
        assert!(a[3].starts_with("[hoist-sudo-prompt-") && !a[3].contains('%'));
        assert_eq!(&a[4..9], ["-u", "app", "--", "/bin/sh", "-c"]);
        assert!(
            a[9].ends_with("cd -- /srv && exec env X=1 echo 'a b'"),
            "{}",
            a[9]
        );
        assert!(!a.iter().any(|x| x.contains("pw 1")), "{a:?}");
        let stdin = String::from_utf8(w.stdin.clone().unwrap()).unwrap();
        assert!(stdin.starts_with("pw 1\nhoist-sudo-input-"), "{stdin:?}");
        assert_eq!(w.timeout, Some(std::time::Duration::from_secs(3)));
        assert!(w.env.is_empty() && w.cwd.is_none());
        assert!(!format!("{w:?}").contains("pw 1"));
    }

    #[tokio::test]
    async fn without_a_password_sudo_does_not_prompt() {
        let rec = Recorder {
            seen: Mutex::new(Vec::new()),
            stderr: String::new(),
        };
        let b = Become::user("root");
        let t = BecomeTransport::new(&rec, &b);
        t.exec(&ExecRequest::shell("id -u")).await.unwrap();
        let seen = rec.seen.lock().unwrap();
        assert_eq!(
            argv(&seen[0]),
            [
                "sudo",
                "-n",
                "-u",
                "root",
                "--",
                "/bin/sh",
                "-c",
                "exec /bin/sh -c 'id -u'"
            ]
        );
        assert_eq!(seen[0].stdin, None);
    }

    #[tokio::test]
    async fn the_prompt_marker_is_removed_from_stderr() {
        let b = Become::user("root").with_password(Some(Secret::new("x")));
        let rec = Recorder {
            seen: Mutex::new(Vec::new()),
            stderr: String::new(),
        };
        let t = BecomeTransport::new(&rec, &b);
        let rec2 = Recorder {
            seen: Mutex::new(Vec::new()),
            stderr: format!("{}warning\n", t.prompt),
        };
        let t2 = BecomeTransport {
            inner: &rec2,
            become_: &b,
            prompt: t.prompt.clone(),
            sync: t.sync.clone(),
        };
        let out = t2.exec(&ExecRequest::shell("true")).await.unwrap();
        assert_eq!(out.stderr, "warning\n");
    }

    #[tokio::test]
    async fn file_writes_stream_through_sudo() {
        let rec = Recorder {
            seen: Mutex::new(Vec::new()),
            stderr: String::new(),
        };
        let b = Become::user("app");
        let t = BecomeTransport::new(&rec, &b);
        t.put_file("/etc/app/it's.conf", b"data", 0o640)
            .await
            .unwrap();
        t.mkdir_all("rel dir", 0o750).await.unwrap();
        assert!(t.exists("/x").await.unwrap());
        let seen = rec.seen.lock().unwrap();
        let line = &argv(&seen[0])[7];
        assert!(
            line.contains("cat > '/etc/app/.it'\\''s.conf.hoist-"),
            "{line}"
        );
        assert!(line.contains("chmod 640 "), "{line}");
        assert!(line.contains("mv -f -- "), "{line}");
        assert_eq!(seen[0].stdin.as_deref(), Some(&b"data"[..]));
        assert!(
            argv(&seen[1])[7].contains("mkdir -p -m 750 -- 'rel dir'"),
            "{:?}",
            argv(&seen[1])
        );
        assert!(argv(&seen[2])[7].contains("test -e /x"));
    }
}
