//! The [`Transport`] trait: how tasks reach a host (run a program, put a file, make a
//! directory, test a path), plus the POSIX shell quoting helpers that line-based transports
//! (SSH) need to build command lines safely.

use std::fmt;
use std::time::Duration;

/// A way to run programs and manage files on one host.
///
/// Implementations: [`LocalTransport`](crate::LocalTransport) (a sandbox directory on the
/// controller); an SSH transport implements the same trait. Relative paths are relative to the
/// host's login directory (the sandbox directory for a local sandbox, `$HOME` over SSH).
#[async_trait::async_trait]
pub trait Transport: Send + Sync {
    /// Human-readable host name for messages ("local:/tmp/x", "10.0.0.5").
    fn host(&self) -> &str;

    /// Runs a program to completion and returns its exit status and captured output.
    ///
    /// A non-zero exit is *not* an error here (it is an [`ExecOutput`] with that exit code);
    /// errors are reserved for failures to start or talk to the program, and for
    /// [`ExecRequest::timeout`] expiring ([`TransportError::Timeout`], the program is killed).
    async fn exec(&self, req: &ExecRequest) -> Result<ExecOutput, TransportError>;

    /// Writes `bytes` to the file `path` (replacing it) and sets its permission bits to `mode`.
    /// The parent directory must exist.
    async fn put_file(&self, path: &str, bytes: &[u8], mode: u32) -> Result<(), TransportError>;

    /// Creates the directory `path` and any missing parents. If `path` itself is created it gets
    /// the permission bits `mode`; an existing directory is left as it is.
    async fn mkdir_all(&self, path: &str, mode: u32) -> Result<(), TransportError>;

    /// True if `path` exists (following symbolic links).
    async fn exists(&self, path: &str) -> Result<bool, TransportError>;

    /// True if `path` exists and is a directory (following symbolic links).
    async fn is_dir(&self, path: &str) -> Result<bool, TransportError>;

    /// Removes the file `path`. Removing a file that does not exist succeeds.
    async fn remove_file(&self, path: &str) -> Result<(), TransportError>;

    /// A directory for temporary files on the host (e.g. "/tmp").
    fn temp_dir(&self) -> String;

    /// The content and permission bits of the regular file `path` (following symbolic
    /// links), if it is one of at most `max_len` bytes; `None` otherwise, and from transports
    /// that cannot read files back (the default). Copies and templates compare with it, and
    /// report no change (writing nothing) when the host already has the file.
    async fn read_file(
        &self,
        _path: &str,
        _max_len: u64,
    ) -> Result<Option<HostFile>, TransportError> {
        Ok(None)
    }
}

/// A file as a host has it ([`Transport::read_file`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFile {
    /// The content.
    pub bytes: Vec<u8>,
    /// The permission bits (`0o644`).
    pub mode: u32,
}

/// What to run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Program {
    /// A program and its arguments, run without any shell interpretation: `>`, `|`, `$X` and
    /// `*` are ordinary characters of the arguments.
    Argv(Vec<String>),
    /// A shell line, run with `/bin/sh -c line` (metacharacters work).
    Shell(String),
}

impl Program {
    /// The program as one line of text for messages: a shell-quoted argv, or the shell line.
    pub fn display(&self) -> String {
        match self {
            Program::Argv(argv) => argv_to_shell(argv),
            Program::Shell(line) => line.clone(),
        }
    }
}

/// A request to run a program on a host.
#[derive(Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// What to run.
    pub program: Program,
    /// Extra environment variables (name, value), set for the program only.
    pub env: Vec<(String, String)>,
    /// Working directory (relative paths are relative to the login directory); `None` for the
    /// login directory itself.
    pub cwd: Option<String>,
    /// Time limit; the program is killed and [`TransportError::Timeout`] returned when it
    /// expires.
    pub timeout: Option<Duration>,
    /// Bytes fed to the program's standard input (`None`: empty input).
    pub stdin: Option<Vec<u8>>,
}

impl ExecRequest {
    /// A request for `program` with no environment, the default directory, no time limit and
    /// no input.
    pub fn new(program: Program) -> Self {
        ExecRequest {
            program,
            env: Vec::new(),
            cwd: None,
            timeout: None,
            stdin: None,
        }
    }

    /// A request to run a program with arguments (no shell).
    pub fn argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        ExecRequest::new(Program::Argv(argv.into_iter().map(Into::into).collect()))
    }

    /// A request to run a shell line.
    pub fn shell(line: impl Into<String>) -> Self {
        ExecRequest::new(Program::Shell(line.into()))
    }

    /// Adds one environment variable.
    #[must_use]
    pub fn with_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((name.into(), value.into()));
        self
    }

    /// Sets the working directory.
    #[must_use]
    pub fn with_cwd(mut self, cwd: impl Into<String>) -> Self {
        self.cwd = Some(cwd.into());
        self
    }

    /// Sets the time limit.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Sets the standard input.
    #[must_use]
    pub fn with_stdin(mut self, stdin: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(stdin.into());
        self
    }
}

/// Environment values and standard input may hold secrets: `Debug` shows variable names and the
/// input's length only.
impl fmt::Debug for ExecRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let env: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ExecRequest")
            .field("program", &self.program)
            .field("env", &env)
            .field("cwd", &self.cwd)
            .field("timeout", &self.timeout)
            .field("stdin_len", &self.stdin.as_ref().map(Vec::len))
            .finish()
    }
}

/// The result of a program that ran to its end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOutput {
    /// Exit code, if the program exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended the program, by its name without `SIG` ("KILL", "TERM"), as SSH
    /// reports it.
    pub signal: Option<String>,
    /// Captured standard output (lossy UTF-8).
    pub stdout: String,
    /// Captured standard error (lossy UTF-8), kept apart from `stdout`.
    pub stderr: String,
}

impl ExecOutput {
    /// True if the program exited with status 0.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0)
    }

    /// How the program ended, for messages: "exited with status 2", "was killed by signal
    /// KILL".
    pub fn status_text(&self) -> String {
        match (&self.exit_code, &self.signal) {
            (Some(code), _) => format!("exited with status {code}"),
            (None, Some(sig)) => format!("was killed by signal {sig}"),
            (None, None) => "ended without an exit status".to_string(),
        }
    }
}

/// Why a transport could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// The host could not be reached or logged in to.
    #[error("cannot connect to {host}: {message}")]
    Connect {
        /// The host.
        host: String,
        /// What went wrong.
        message: String,
    },
    /// A program did not finish in time and was killed.
    #[error("timed out after {after:?} on {host}")]
    Timeout {
        /// The host.
        host: String,
        /// The time limit that expired.
        after: Duration,
    },
    /// A program could not be started.
    #[error("cannot start `{program}` on {host}: {message}")]
    Spawn {
        /// The host.
        host: String,
        /// The program (as text).
        program: String,
        /// What went wrong.
        message: String,
    },
    /// A file operation (or the I/O of a running program) failed.
    #[error("{}", io_text(host, path.as_deref(), message))]
    Io {
        /// The host.
        host: String,
        /// The path involved, if any.
        path: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// The request itself is unusable (e.g. an empty argv).
    #[error("bad request for {host}: {message}")]
    BadRequest {
        /// The host.
        host: String,
        /// What is wrong.
        message: String,
    },
}

fn io_text(host: &str, path: Option<&str>, message: &str) -> String {
    match path {
        Some(p) => format!("{p} on {host}: {message}"),
        None => format!("I/O error on {host}: {message}"),
    }
}

impl TransportError {
    /// The host the error happened on.
    pub fn host(&self) -> &str {
        match self {
            TransportError::Connect { host, .. }
            | TransportError::Timeout { host, .. }
            | TransportError::Spawn { host, .. }
            | TransportError::Io { host, .. }
            | TransportError::BadRequest { host, .. } => host,
        }
    }

    /// True for [`TransportError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        matches!(self, TransportError::Timeout { .. })
    }
}

/// Quotes `s` as one word for a POSIX shell: unchanged if it contains only characters that
/// are never special (`A-Za-z0-9_@%+=:,./-`), otherwise in single quotes with each `'` written
/// as `'\''`. The empty string becomes `''`.
///
/// ```
/// use hoist_exec::shell_quote;
/// assert_eq!(shell_quote("abc.txt"), "abc.txt");
/// assert_eq!(shell_quote("a b"), "'a b'");
/// assert_eq!(shell_quote("it's"), r"'it'\''s'");
/// assert_eq!(shell_quote(""), "''");
/// ```
pub fn shell_quote(s: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !s.is_empty() && s.chars().all(safe) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Quotes every word of `argv` with [`shell_quote`] and joins them with spaces, so that a
/// POSIX shell splits the line back into exactly `argv`, with no expansion or redirection.
///
/// ```
/// use hoist_exec::argv_to_shell;
/// let argv = ["echo".to_string(), "hi".into(), ">".into(), "$HOME".into()];
/// assert_eq!(argv_to_shell(&argv), "echo hi '>' '$HOME'");
/// ```
pub fn argv_to_shell(argv: &[String]) -> String {
    argv.iter()
        .map(|a| shell_quote(a))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The whole request (working directory, environment and program; not the input or the time
/// limit) as one POSIX shell line, for transports that can only send a command line (an SSH
/// exec channel). Every path, name, value and argument is quoted, so values with spaces,
/// quotes, `$` or newlines arrive unchanged and nothing is interpreted except, for
/// [`Program::Shell`], the shell line itself.
///
/// ```
/// use hoist_exec::{request_to_shell, ExecRequest};
/// let req = ExecRequest::argv(["echo", "a b"]).with_env("X", "it's").with_cwd("/srv");
/// assert_eq!(request_to_shell(&req), r"cd -- /srv && exec env 'X=it'\''s' echo 'a b'");
/// ```
pub fn request_to_shell(req: &ExecRequest) -> String {
    let mut line = String::new();
    if let Some(cwd) = &req.cwd {
        line.push_str("cd -- ");
        line.push_str(&shell_quote(cwd));
        line.push_str(" && ");
    }
    let mut words: Vec<String> = Vec::new();
    if !req.env.is_empty() {
        words.push("env".into());
        for (k, v) in &req.env {
            words.push(shell_quote(&format!("{k}={v}")));
        }
    }
    match &req.program {
        Program::Argv(argv) => {
            // `env` would take a program name containing `=` for an assignment: go through a
            // shell that execs its arguments instead.
            if !req.env.is_empty() && argv.first().is_some_and(|p| p.contains('=')) {
                words.extend(["/bin/sh", "-c", "'exec \"$@\"'", "sh"].map(String::from));
            }
            words.extend(argv.iter().map(|a| shell_quote(a)));
        }
        Program::Shell(l) => {
            words.extend(["/bin/sh".to_string(), "-c".to_string(), shell_quote(l)]);
        }
    }
    line.push_str("exec ");
    line.push_str(&words.join(" "));
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn sh(line: &str) -> std::process::Output {
        tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(line)
            .output()
            .await
            .unwrap()
    }

    #[test]
    fn quoting_basics() {
        assert_eq!(shell_quote("plain-word_1.2/x"), "plain-word_1.2/x");
        assert_eq!(shell_quote("$HOME"), "'$HOME'");
        assert_eq!(shell_quote("a'b'c"), r"'a'\''b'\''c'");
        assert_eq!(shell_quote("*"), "'*'");
        assert_eq!(shell_quote("~"), "'~'");
        assert_eq!(argv_to_shell(&[]), "");
    }

    #[tokio::test]
    async fn quoted_argv_round_trips_through_a_real_shell() {
        let tricky = [
            "plain",
            "two words",
            "it's",
            "\"double\"",
            "$HOME `id` $(id)",
            "a\nb",
            ">",
            "|",
            ";",
            "*",
            "",
            "\\back\\slash",
            "'",
            "ünïcødé",
        ];
        let argv: Vec<String> = std::iter::once("printf".to_string())
            .chain(std::iter::once("[%s]\\n".to_string()))
            .chain(tricky.iter().map(|s| (*s).to_string()))
            .collect();
        let out = sh(&argv_to_shell(&argv)).await;
        assert!(out.status.success());
        let expected: String = tricky.iter().map(|s| format!("[{s}]\n")).collect();
        assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);
    }

    #[tokio::test]
    async fn request_line_quotes_env_and_cwd() {
        let dir = tempfile::TempDir::new().unwrap();
        let cwd = dir.path().join("a dir with 'quotes'");
        std::fs::create_dir(&cwd).unwrap();
        let value = "spaces and 'single' \"double\" $HOME `x` ; rm -rf /";
        let req = ExecRequest::shell("printf '%s|%s|%s' \"$V\" \"$W\" \"$(pwd)\"")
            .with_env("V", value)
            .with_env("W", "")
            .with_cwd(cwd.to_str().unwrap());
        let out = sh(&request_to_shell(&req)).await;
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("{value}||{}", cwd.display())
        );

        let req = ExecRequest::argv(["printenv", "V"]).with_env("V", value);
        let out = sh(&request_to_shell(&req)).await;
        assert_eq!(String::from_utf8(out.stdout).unwrap(), format!("{value}\n"));
    }

    #[test]
    fn debug_hides_env_values_and_stdin() {
        let req = ExecRequest::argv(["x"])
            .with_env("PASSWORD", "hunter2")
            .with_stdin("hunter2");
        let dbg = format!("{req:?}");
        assert!(dbg.contains("PASSWORD"));
        assert!(!dbg.contains("hunter2"), "{dbg}");
    }

    #[test]
    fn error_messages_name_the_host() {
        let e = TransportError::Io {
            host: "10.0.0.5".into(),
            path: Some("/etc/x".into()),
            message: "permission denied".into(),
        };
        assert_eq!(e.to_string(), "/etc/x on 10.0.0.5: permission denied");
        let e = TransportError::Timeout {
            host: "h".into(),
            after: Duration::from_millis(200),
        };
        assert_eq!(e.to_string(), "timed out after 200ms on h");
        assert_eq!(e.host(), "h");
        assert!(e.is_timeout());
    }
}
