//! Running one [`hoist_core::Action`]: `!{}` expansion, skip conditions, the program or file
//! transfer on the host through a [`Transport`], result checking and secret scrubbing.

use std::collections::{BTreeMap, HashSet};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use hoist_core::namespace::{Piece, parse_template};
use hoist_core::secret::scrub;
use hoist_core::{Action, CopySource, Secret};

use crate::local::{command_for, run_process, unique_suffix};
use crate::sudo::{Become, BecomeTransport};
use crate::transport::{
    ExecOutput, ExecRequest, Program, Transport, TransportError, argv_to_shell,
};

/// Where a task's variables come from: the task role's view of the namespace.
pub trait VarSource: Send + Sync {
    /// Expands `!{NAME}` patterns from the task role's point of view; Err(message) if a variable is missing.
    fn expand(&self, text: &str) -> Result<String, String>;
    /// Every visible variable (name -> value), the template context.
    fn context(&self) -> BTreeMap<String, String>;
}

/// A [`VarSource`] over a fixed map of already-resolved values (tests, tools, simple callers).
///
/// ```
/// use hoist_exec::{MapVars, VarSource};
/// let vars = MapVars::new().with("USER", "ada");
/// assert_eq!(vars.expand("/home/!{USER} !!{X}").unwrap(), "/home/ada !{X}");
/// assert!(vars.expand("!{NOPE}").unwrap_err().contains("NOPE"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct MapVars {
    vars: BTreeMap<String, String>,
}

impl MapVars {
    /// No variables.
    pub fn new() -> Self {
        MapVars::default()
    }

    /// Adds (or replaces) a variable.
    #[must_use]
    pub fn with(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars.insert(name.into(), value.into());
        self
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapVars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        MapVars {
            vars: iter
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }
}

impl VarSource for MapVars {
    fn expand(&self, text: &str) -> Result<String, String> {
        let mut out = String::with_capacity(text.len());
        for piece in parse_template(text)? {
            match piece {
                Piece::Lit(s) => out.push_str(s),
                Piece::EscapedOpen => out.push_str("!{"),
                Piece::Var(name) => match self.vars.get(name) {
                    Some(v) => out.push_str(v),
                    None => return Err(format!("variable `{name}` is not defined")),
                },
            }
        }
        Ok(out)
    }

    fn context(&self) -> BTreeMap<String, String> {
        self.vars.clone()
    }
}

/// Everything a task needs besides its action.
pub struct TaskContext<'a> {
    /// The host's transport; `None` only for local actions ([`Action::Local`], [`Action::Null`]).
    pub transport: Option<&'a dyn Transport>,
    /// The task role's variables.
    pub vars: &'a dyn VarSource,
    /// The role's `in_env` variables; put into every remote command's environment.
    pub env: Vec<(String, String)>,
    /// Per-attempt time limit for commands.
    pub timeout: Option<Duration>,
    /// Secret values scrubbed from every output and message returned.
    pub secrets: &'a [Secret],
    /// Base for relative local paths (scripts, copy sources, template files) and the working
    /// directory of local commands.
    pub local_dir: PathBuf,
    /// Run the task's remote commands and file writes as another user through `sudo` (see
    /// [`Become`]); `None` runs them as the login user. Local actions ignore it.
    pub become_: Option<Become>,
}

impl<'a> TaskContext<'a> {
    /// A context with no environment, no time limit, no secrets and the current directory as
    /// the local base directory.
    pub fn new(transport: Option<&'a dyn Transport>, vars: &'a dyn VarSource) -> Self {
        TaskContext {
            transport,
            vars,
            env: Vec::new(),
            timeout: None,
            secrets: &[],
            local_dir: PathBuf::from("."),
            become_: None,
        }
    }

    fn local_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.local_dir.join(p)
        }
    }

    fn transport(&self) -> Result<&'a dyn Transport, TaskError> {
        self.transport.ok_or_else(|| {
            TaskError::new(
                TaskErrorKind::Transport,
                "no transport: this task needs a host",
            )
        })
    }

    /// `!{}`-expands `text`; `what` names the argument in the error.
    fn expand(&self, what: &str, text: &str) -> Result<String, TaskError> {
        self.vars
            .expand(text)
            .map_err(|m| TaskError::new(TaskErrorKind::MissingVariable, format!("{what}: {m}")))
    }

    fn expand_opt(&self, what: &str, text: Option<&String>) -> Result<Option<String>, TaskError> {
        text.map(|t| self.expand(what, t)).transpose()
    }

    fn expand_path(&self, what: &str, p: &Path) -> Result<PathBuf, TaskError> {
        match p.to_str() {
            Some(s) => Ok(PathBuf::from(self.expand(what, s)?)),
            None => Ok(p.to_path_buf()),
        }
    }

    fn request(&self, program: Program, cwd: Option<String>) -> ExecRequest {
        ExecRequest {
            program,
            env: self.env.clone(),
            cwd,
            timeout: self.timeout,
            stdin: None,
        }
    }
}

/// How a task that did not fail ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// The task ran (a command ran, a file was written).
    Changed,
    /// The task did not run; the reason (e.g. "`/opt/app` exists").
    Skipped(String),
    /// The task ran and changed nothing (null, ping).
    Unchanged,
}

/// A task that did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSuccess {
    /// How it ended.
    pub outcome: TaskOutcome,
    /// The captured output of the command it ran, if any (secrets scrubbed).
    pub output: Option<ExecOutput>,
}

impl TaskSuccess {
    fn changed(output: Option<ExecOutput>) -> Self {
        TaskSuccess {
            outcome: TaskOutcome::Changed,
            output,
        }
    }

    fn unchanged() -> Self {
        TaskSuccess {
            outcome: TaskOutcome::Unchanged,
            output: None,
        }
    }
}

/// Why a task failed. Displays as its message (secrets scrubbed).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TaskError {
    /// The kind of failure.
    pub kind: TaskErrorKind,
    /// What went wrong, naming the command and the host.
    pub message: String,
    /// The captured stdout/stderr of a failed command.
    pub output: Option<ExecOutput>,
}

impl TaskError {
    /// An error with no captured output.
    pub fn new(kind: TaskErrorKind, message: impl Into<String>) -> Self {
        TaskError {
            kind,
            message: message.into(),
            output: None,
        }
    }

    fn transport(what: &str, e: &TransportError) -> Self {
        // A program that cannot be started is a failed command, as over SSH (exit 127).
        let kind = match e {
            TransportError::Timeout { .. } => TaskErrorKind::Timeout,
            TransportError::Spawn { .. } => TaskErrorKind::Failed,
            TransportError::BadRequest { .. } => TaskErrorKind::BadArgument,
            _ => TaskErrorKind::Transport,
        };
        TaskError::new(kind, format!("{what}: {e}"))
    }

    fn local_io(what: &str, path: &Path, e: &std::io::Error) -> Self {
        TaskError::new(
            TaskErrorKind::LocalIo,
            format!("{what} {}: {e}", path.display()),
        )
    }
}

/// The kinds of task failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TaskErrorKind {
    /// A command exited with a non-zero status, was killed by a signal or could not be started,
    /// or a precondition on the host failed (a missing `chdir`, a failed `chown`).
    Failed,
    /// A command did not finish within the time limit.
    Timeout,
    /// The host could not be reached or a file operation on it failed (or there is no transport).
    Transport,
    /// A `!{NAME}` names no visible variable.
    MissingVariable,
    /// A template does not parse, or uses an undefined variable.
    Template,
    /// A local file (script, copy source, template) could not be read.
    LocalIo,
    /// The action's arguments are unusable (e.g. an empty command).
    BadArgument,
}

/// Runs one action. Every string argument is `!{}`-expanded first (the content of a
/// [`Action::Copy`] is copied literally); secrets of `cx` are scrubbed from every message and
/// captured output returned. With [`TaskContext::become_`] set, every remote operation runs
/// as that user through `sudo` ([`BecomeTransport`]).
pub async fn run_action(action: &Action, cx: &TaskContext<'_>) -> Result<TaskSuccess, TaskError> {
    let result = match (&cx.become_, cx.transport) {
        (Some(b), Some(t)) if !action.is_local() => {
            let wrapped = BecomeTransport::new(t, b);
            let cx2 = TaskContext {
                transport: Some(&wrapped),
                vars: cx.vars,
                env: cx.env.clone(),
                timeout: cx.timeout,
                secrets: cx.secrets,
                local_dir: cx.local_dir.clone(),
                become_: None,
            };
            run_inner(action, &cx2).await
        }
        _ => run_inner(action, cx).await,
    };
    match result {
        Ok(mut s) => {
            if let TaskOutcome::Skipped(reason) = &mut s.outcome {
                *reason = scrub(reason, cx.secrets);
            }
            s.output = s.output.map(|o| scrub_output(o, cx.secrets));
            Ok(s)
        }
        Err(mut e) => {
            e.message = scrub(&e.message, cx.secrets);
            e.output = e.output.map(|o| scrub_output(o, cx.secrets));
            Err(e)
        }
    }
}

fn scrub_output(mut o: ExecOutput, secrets: &[Secret]) -> ExecOutput {
    o.stdout = scrub(&o.stdout, secrets);
    o.stderr = scrub(&o.stderr, secrets);
    o
}

async fn run_inner(action: &Action, cx: &TaskContext<'_>) -> Result<TaskSuccess, TaskError> {
    match action {
        Action::Null => Ok(TaskSuccess {
            outcome: TaskOutcome::Unchanged,
            output: None,
        }),
        Action::Ping => ping(cx).await,
        Action::Command {
            argv,
            chdir,
            creates,
            removes,
        } => {
            let t = cx.transport()?;
            let argv = argv
                .iter()
                .map(|a| cx.expand("command argument", a))
                .collect::<Result<Vec<_>, _>>()?;
            if argv.is_empty() {
                return Err(TaskError::new(
                    TaskErrorKind::BadArgument,
                    "command has no program",
                ));
            }
            let display = argv_to_shell(&argv);
            let paths = CmdPaths::expand(cx, chdir.as_ref(), creates.as_ref(), removes.as_ref())?;
            run_command(
                t,
                cx,
                Program::Argv(argv),
                &format!("command `{display}`"),
                paths,
            )
            .await
        }
        Action::Shell {
            line,
            chdir,
            creates,
            removes,
        } => {
            let t = cx.transport()?;
            let line = cx.expand("shell line", line)?;
            let paths = CmdPaths::expand(cx, chdir.as_ref(), creates.as_ref(), removes.as_ref())?;
            let what = format!("command `{line}`");
            run_command(t, cx, Program::Shell(line), &what, paths).await
        }
        Action::Script {
            path,
            args,
            process_vars,
            creates,
            removes,
        } => {
            script(
                cx,
                path,
                args,
                *process_vars,
                creates.as_ref(),
                removes.as_ref(),
            )
            .await
        }
        Action::Copy {
            src,
            dest,
            mode,
            owner,
            group,
        } => copy(cx, src, dest, *mode, owner.as_ref(), group.as_ref()).await,
        Action::Template { src, dest, mode } => template(cx, src, dest, *mode).await,
        Action::Local { argv, shell } => local(cx, argv, *shell).await,
        other => Err(TaskError::new(
            TaskErrorKind::BadArgument,
            format!("unsupported action `{}`", other.kind()),
        )),
    }
}

async fn ping(cx: &TaskContext<'_>) -> Result<TaskSuccess, TaskError> {
    let t = cx.transport()?;
    let req = ExecRequest::argv(["true"]).with_timeout(cx.timeout);
    tracing::debug!(host = t.host(), "ping");
    let what = format!("ping of {}", t.host());
    let out = t
        .exec(&req)
        .await
        .map_err(|e| TaskError::transport(&what, &e))?;
    if out.success() {
        Ok(TaskSuccess {
            outcome: TaskOutcome::Unchanged,
            output: None,
        })
    } else {
        Err(TaskError {
            kind: TaskErrorKind::Failed,
            message: format!("{what} failed: `true` {}", out.status_text()),
            output: Some(out),
        })
    }
}

/// The expanded `chdir`/`creates`/`removes` of a command.
struct CmdPaths {
    chdir: Option<String>,
    creates: Option<String>,
    removes: Option<String>,
}

impl CmdPaths {
    fn expand(
        cx: &TaskContext<'_>,
        chdir: Option<&String>,
        creates: Option<&String>,
        removes: Option<&String>,
    ) -> Result<Self, TaskError> {
        Ok(CmdPaths {
            chdir: cx.expand_opt("chdir", chdir)?,
            creates: cx.expand_opt("creates", creates)?,
            removes: cx.expand_opt("removes", removes)?,
        })
    }
}

/// `path` on the host, relative to `dir` unless absolute.
fn join_remote(dir: &str, path: &str) -> String {
    if path.starts_with('/') || dir.is_empty() {
        path.to_string()
    } else if dir.ends_with('/') {
        format!("{dir}{path}")
    } else {
        format!("{dir}/{path}")
    }
}

/// The reason to skip, if `creates` exists or `removes` does not (relative to `base`).
async fn skip_reason(
    t: &dyn Transport,
    base: Option<&str>,
    creates: Option<&String>,
    removes: Option<&String>,
) -> Result<Option<String>, TaskError> {
    let resolve = |p: &str| base.map_or_else(|| p.to_string(), |b| join_remote(b, p));
    if let Some(c) = creates {
        let p = resolve(c);
        if t.exists(&p)
            .await
            .map_err(|e| TaskError::transport("checking `creates`", &e))?
        {
            return Ok(Some(format!("`{p}` exists")));
        }
    }
    if let Some(r) = removes {
        let p = resolve(r);
        if !t
            .exists(&p)
            .await
            .map_err(|e| TaskError::transport("checking `removes`", &e))?
        {
            return Ok(Some(format!("`{p}` does not exist")));
        }
    }
    Ok(None)
}

async fn run_command(
    t: &dyn Transport,
    cx: &TaskContext<'_>,
    program: Program,
    what: &str,
    paths: CmdPaths,
) -> Result<TaskSuccess, TaskError> {
    if let Some(dir) = &paths.chdir {
        let ok = t
            .is_dir(dir)
            .await
            .map_err(|e| TaskError::transport("checking `chdir`", &e))?;
        if !ok {
            return Err(TaskError::new(
                TaskErrorKind::Failed,
                format!(
                    "chdir `{dir}` does not exist (or is not a directory) on {}",
                    t.host()
                ),
            ));
        }
    }
    if let Some(reason) = skip_reason(
        t,
        paths.chdir.as_deref(),
        paths.creates.as_ref(),
        paths.removes.as_ref(),
    )
    .await?
    {
        return Ok(TaskSuccess {
            outcome: TaskOutcome::Skipped(reason),
            output: None,
        });
    }
    exec_checked(t, cx, cx.request(program, paths.chdir), what).await
}

/// Runs `req`; a non-zero exit is a [`TaskErrorKind::Failed`] carrying the output.
async fn exec_checked(
    t: &dyn Transport,
    cx: &TaskContext<'_>,
    req: ExecRequest,
    what: &str,
) -> Result<TaskSuccess, TaskError> {
    tracing::debug!(host = t.host(), cwd = ?req.cwd, "running {}", scrub(what, cx.secrets));
    let out = t
        .exec(&req)
        .await
        .map_err(|e| TaskError::transport(what, &e))?;
    check_output(out, what, t.host())
}

fn check_output(out: ExecOutput, what: &str, host: &str) -> Result<TaskSuccess, TaskError> {
    if out.success() {
        Ok(TaskSuccess::changed(Some(out)))
    } else {
        Err(TaskError {
            kind: TaskErrorKind::Failed,
            message: format!("{what} {} on {host}", out.status_text()),
            output: Some(out),
        })
    }
}

async fn script(
    cx: &TaskContext<'_>,
    path: &Path,
    args: &[String],
    process_vars: bool,
    creates: Option<&String>,
    removes: Option<&String>,
) -> Result<TaskSuccess, TaskError> {
    let t = cx.transport()?;
    let path = cx.expand_path("script path", path)?;
    let args = args
        .iter()
        .map(|a| cx.expand("script argument", a))
        .collect::<Result<Vec<_>, _>>()?;
    let creates = cx.expand_opt("creates", creates)?;
    let removes = cx.expand_opt("removes", removes)?;
    if let Some(reason) = skip_reason(t, None, creates.as_ref(), removes.as_ref()).await? {
        return Ok(TaskSuccess {
            outcome: TaskOutcome::Skipped(reason),
            output: None,
        });
    }

    let local = cx.local_path(&path);
    let mut bytes = tokio::fs::read(&local)
        .await
        .map_err(|e| TaskError::local_io("cannot read script", &local, &e))?;
    if process_vars {
        let text = String::from_utf8(bytes).map_err(|_| {
            TaskError::new(
                TaskErrorKind::BadArgument,
                format!(
                    "script {} is not UTF-8 text: cannot expand `!{{}}` in it",
                    local.display()
                ),
            )
        })?;
        let mut out = String::with_capacity(text.len());
        for (i, line) in text.split_inclusive('\n').enumerate() {
            out.push_str(&cx.expand(&format!("script {} line {}", local.display(), i + 1), line)?);
        }
        bytes = out.into_bytes();
    }

    // A unique name per run: parallel tasks never share (or clobber) a temporary script.
    let base: String = path
        .file_name()
        .map(|n| {
            n.to_string_lossy()
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || "._-".contains(c) {
                        c
                    } else {
                        '_'
                    }
                })
                .collect()
        })
        .unwrap_or_else(|| "script".into());
    let remote = join_remote(&t.temp_dir(), &format!("hoist-{base}-{}", unique_suffix()));
    let what = format!(
        "script `{}`",
        argv_to_shell(&[&[path.to_string_lossy().into_owned()], args.as_slice()].concat())
    );
    t.put_file(&remote, &bytes, 0o700)
        .await
        .map_err(|e| TaskError::transport(&format!("uploading {what}"), &e))?;

    let argv: Vec<String> = std::iter::once(remote.clone()).chain(args).collect();
    let result = exec_checked(t, cx, cx.request(Program::Argv(argv), None), &what).await;
    if let Err(e) = t.remove_file(&remote).await {
        tracing::warn!(host = t.host(), path = %remote, error = %scrub(&e.to_string(), cx.secrets), "cannot remove temporary script");
    }
    result
}

/// Runs `chown`/`chgrp` (recursively for directories) on `paths` if an owner or group is set.
async fn set_owner(
    t: &dyn Transport,
    cx: &TaskContext<'_>,
    owner: Option<&str>,
    group: Option<&str>,
    paths: &[String],
    recursive: bool,
) -> Result<(), TaskError> {
    if paths.is_empty() {
        return Ok(());
    }
    let (program, spec) = match (owner, group) {
        (None, None) => return Ok(()),
        (Some(o), None) => ("chown", o.to_string()),
        (Some(o), Some(g)) => ("chown", format!("{o}:{g}")),
        (None, Some(g)) => ("chgrp", g.to_string()),
    };
    let mut argv = vec![program.to_string()];
    if recursive {
        argv.push("-R".into());
    }
    argv.push("--".into());
    argv.push(spec);
    argv.extend(paths.iter().cloned());
    let what = format!("`{}`", argv_to_shell(&argv));
    let req = ExecRequest::new(Program::Argv(argv)).with_timeout(cx.timeout);
    exec_checked(t, cx, req, &what).await.map(|_| ())
}

fn local_mode(meta: &std::fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

fn utf8_name(path: &Path) -> Result<String, TaskError> {
    let name = path.file_name().unwrap_or(path.as_os_str());
    name.to_str().map(str::to_string).ok_or_else(|| {
        TaskError::new(
            TaskErrorKind::BadArgument,
            format!("local file name {} is not UTF-8", path.display()),
        )
    })
}

async fn copy(
    cx: &TaskContext<'_>,
    src: &CopySource,
    dest: &str,
    mode: Option<u32>,
    owner: Option<&String>,
    group: Option<&String>,
) -> Result<TaskSuccess, TaskError> {
    let t = cx.transport()?;
    let dest = cx.expand("copy destination", dest)?;
    let owner = cx.expand_opt("owner", owner)?;
    let group = cx.expand_opt("group", group)?;
    let upload = |p: &str| format!("copying to {p}");

    let mut changed = true;
    match src {
        CopySource::Content(text) => {
            changed = put_if_changed(t, &dest, text.as_bytes(), mode.unwrap_or(0o644))
                .await
                .map_err(|e| TaskError::transport(&upload(&dest), &e))?;
            set_owner(t, cx, owner.as_deref(), group.as_deref(), &[dest], false).await?;
        }
        CopySource::Path(p) => {
            let p = cx.expand_path("copy source", p)?;
            let local = cx.local_path(&p);
            let meta = tokio::fs::metadata(&local)
                .await
                .map_err(|e| TaskError::local_io("cannot read copy source", &local, &e))?;
            if meta.is_dir() {
                // rsync's rule: "dir/" copies the contents, "dir" the directory itself.
                let contents_only =
                    p.as_os_str().as_encoded_bytes().ends_with(b"/") || local.file_name().is_none();
                let dest_existed = t
                    .is_dir(&dest)
                    .await
                    .map_err(|e| TaskError::transport(&upload(&dest), &e))?;
                let root = if contents_only {
                    dest.clone()
                } else {
                    // `dest` itself is created like `mkdir -p` would; `dest/dir` below gets the
                    // local directory's mode.
                    t.mkdir_all(&dest, 0o755)
                        .await
                        .map_err(|e| TaskError::transport(&upload(&dest), &e))?;
                    join_remote(&dest, &utf8_name(&local)?)
                };
                let top = copy_tree(t, &local, &root, local_mode(&meta), mode).await?;
                let chown_paths = if contents_only && dest_existed {
                    top
                } else {
                    vec![root]
                };
                set_owner(
                    t,
                    cx,
                    owner.as_deref(),
                    group.as_deref(),
                    &chown_paths,
                    true,
                )
                .await?;
            } else if meta.is_file() {
                let target = if dest.ends_with('/')
                    || t.is_dir(&dest)
                        .await
                        .map_err(|e| TaskError::transport(&upload(&dest), &e))?
                {
                    join_remote(&dest, &utf8_name(&local)?)
                } else {
                    dest
                };
                let bytes = tokio::fs::read(&local)
                    .await
                    .map_err(|e| TaskError::local_io("cannot read copy source", &local, &e))?;
                let mode = mode.unwrap_or_else(|| local_mode(&meta));
                changed = put_if_changed(t, &target, &bytes, mode)
                    .await
                    .map_err(|e| TaskError::transport(&upload(&target), &e))?;
                set_owner(t, cx, owner.as_deref(), group.as_deref(), &[target], false).await?;
            } else {
                return Err(TaskError::new(
                    TaskErrorKind::BadArgument,
                    format!(
                        "copy source {} is neither a regular file nor a directory",
                        local.display()
                    ),
                ));
            }
        }
    }
    Ok(if changed {
        TaskSuccess::changed(None)
    } else {
        TaskSuccess::unchanged()
    })
}

/// Writes `bytes` to the host file `path` with permission bits `mode`, unless the host
/// already has exactly that file (or cannot say): true if it wrote. (Owner and group are not
/// compared.)
async fn put_if_changed(
    t: &dyn Transport,
    path: &str,
    bytes: &[u8],
    mode: u32,
) -> Result<bool, TransportError> {
    let len = u64::try_from(bytes.len()).unwrap_or(u64::MAX);
    if let Ok(Some(have)) = t.read_file(path, len).await
        && have.bytes == bytes
        && have.mode == mode
    {
        return Ok(false);
    }
    t.put_file(path, bytes, mode).await?;
    Ok(true)
}

/// Copies the local directory `local` to the host directory `remote` (created with `dir_mode`
/// if missing), recursively. Files keep their local modes unless `file_mode` is given,
/// directories keep theirs. Returns the host paths of the top-level entries copied.
async fn copy_tree(
    t: &dyn Transport,
    local: &Path,
    remote: &str,
    dir_mode: u32,
    file_mode: Option<u32>,
) -> Result<Vec<String>, TaskError> {
    const MAX_DEPTH: usize = 64;
    let upload = |p: &str| format!("copying to {p}");
    let mut top = Vec::new();
    let mut work = vec![(local.to_path_buf(), remote.to_string(), dir_mode, 0usize)];
    while let Some((ldir, rdir, mode, depth)) = work.pop() {
        if depth > MAX_DEPTH {
            return Err(TaskError::new(
                TaskErrorKind::BadArgument,
                format!(
                    "copy source {} is nested more than {MAX_DEPTH} levels deep (a symbolic link loop?)",
                    local.display()
                ),
            ));
        }
        t.mkdir_all(&rdir, mode)
            .await
            .map_err(|e| TaskError::transport(&upload(&rdir), &e))?;
        let mut entries = Vec::new();
        let mut rd = tokio::fs::read_dir(&ldir)
            .await
            .map_err(|e| TaskError::local_io("cannot read directory", &ldir, &e))?;
        while let Some(entry) = rd
            .next_entry()
            .await
            .map_err(|e| TaskError::local_io("cannot read directory", &ldir, &e))?
        {
            entries.push(entry.path());
        }
        entries.sort();
        for lpath in entries {
            let rpath = join_remote(&rdir, &utf8_name(&lpath)?);
            // Follows symbolic links, like a plain `cp -r` of what they point to.
            let meta = tokio::fs::metadata(&lpath)
                .await
                .map_err(|e| TaskError::local_io("cannot read", &lpath, &e))?;
            if meta.is_dir() {
                work.push((lpath, rpath.clone(), local_mode(&meta), depth + 1));
            } else if meta.is_file() {
                let bytes = tokio::fs::read(&lpath)
                    .await
                    .map_err(|e| TaskError::local_io("cannot read", &lpath, &e))?;
                t.put_file(
                    &rpath,
                    &bytes,
                    file_mode.unwrap_or_else(|| local_mode(&meta)),
                )
                .await
                .map_err(|e| TaskError::transport(&upload(&rpath), &e))?;
            } else {
                tracing::warn!(path = %lpath.display(), "skipping a local file that is neither a regular file nor a directory");
                continue;
            }
            if depth == 0 {
                top.push(rpath);
            }
        }
    }
    Ok(top)
}

async fn template(
    cx: &TaskContext<'_>,
    src: &CopySource,
    dest: &str,
    mode: Option<u32>,
) -> Result<TaskSuccess, TaskError> {
    let t = cx.transport()?;
    let dest = cx.expand("template destination", dest)?;
    let (name, text) = match src {
        CopySource::Content(text) => (format!("template for {dest}"), text.clone()),
        CopySource::Path(p) => {
            let p = cx.expand_path("template source", p)?;
            let local = cx.local_path(&p);
            let text = tokio::fs::read_to_string(&local)
                .await
                .map_err(|e| TaskError::local_io("cannot read template", &local, &e))?;
            (format!("template {}", p.display()), text)
        }
    };
    let text = cx.expand(&name, &text)?;
    let rendered = render(&name, &text, &cx.vars.context())
        .map_err(|m| TaskError::new(TaskErrorKind::Template, m))?;
    let changed = put_if_changed(t, &dest, rendered.as_bytes(), mode.unwrap_or(0o644))
        .await
        .map_err(|e| TaskError::transport(&format!("writing {name} to {dest}"), &e))?;
    Ok(if changed {
        TaskSuccess::changed(None)
    } else {
        TaskSuccess::unchanged()
    })
}

/// Renders `text` with minijinja: strict undefined variables, no auto-escaping, trailing
/// newline kept. An undefined variable is named in the error.
fn render(name: &str, text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let env = hoist_core::template::environment();
    let tmpl = env
        .template_from_named_str(name, text)
        .map_err(|e| format!("{name}: {e}"))?;
    tmpl.render(vars).map_err(|e| {
        if e.kind() == minijinja::ErrorKind::UndefinedError {
            let globals: HashSet<&str> = env.globals().map(|(k, _)| k).collect();
            let mut missing: Vec<String> = tmpl
                .undeclared_variables(false)
                .into_iter()
                .filter(|v| !vars.contains_key(v) && !globals.contains(v.as_str()))
                .collect();
            missing.sort();
            if !missing.is_empty() {
                let list = missing
                    .iter()
                    .map(|m| format!("`{m}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let s = if missing.len() == 1 { "" } else { "s" };
                return format!("{name}: undefined variable{s} {list} ({e})");
            }
        }
        format!("{name}: {e}")
    })
}

/// Runs on the controller: never touches a transport.
async fn local(
    cx: &TaskContext<'_>,
    argv: &[String],
    shell: bool,
) -> Result<TaskSuccess, TaskError> {
    const HOST: &str = "the controller";
    let argv = argv
        .iter()
        .map(|a| cx.expand("local command argument", a))
        .collect::<Result<Vec<_>, _>>()?;
    let program = if shell {
        let Some(line) = argv.first() else {
            return Err(TaskError::new(
                TaskErrorKind::BadArgument,
                "local shell command has no line",
            ));
        };
        Program::Shell(line.clone())
    } else {
        if argv.is_empty() {
            return Err(TaskError::new(
                TaskErrorKind::BadArgument,
                "local command has no program",
            ));
        }
        Program::Argv(argv.clone())
    };
    let what = format!("local command `{}`", program.display());
    let mut cmd = command_for(&program, HOST)
        .map_err(|e| TaskError::new(TaskErrorKind::BadArgument, e.to_string()))?;
    if shell {
        // Further words become the line's positional parameters ($1, $2, ...).
        cmd.arg("hoist-local").args(&argv[1..]);
    }
    cmd.envs(cx.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&cx.local_dir);
    tracing::debug!(dir = %cx.local_dir.display(), "running {}", scrub(&what, cx.secrets));
    let out = run_process(cmd, &program, None, cx.timeout, HOST)
        .await
        .map_err(|e| TaskError::transport(&what, &e))?;
    check_output(out, &what, HOST)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalTransport;
    use std::time::Instant;
    use tempfile::TempDir;

    /// A sandbox host, a local directory and a few variables.
    struct Fixture {
        host_dir: TempDir,
        local_dir: TempDir,
        host: LocalTransport,
        vars: MapVars,
    }

    impl Fixture {
        fn new() -> Self {
            let host_dir = TempDir::new().unwrap();
            let local_dir = TempDir::new().unwrap();
            let host = LocalTransport::sandbox(host_dir.path());
            let vars = MapVars::new()
                .with("NAME", "World")
                .with("PLACE", "the sandbox")
                .with("GREETING", "hello");
            Fixture {
                host_dir,
                local_dir,
                host,
                vars,
            }
        }

        fn cx(&self) -> TaskContext<'_> {
            TaskContext {
                transport: Some(&self.host),
                vars: &self.vars,
                env: Vec::new(),
                timeout: Some(Duration::from_secs(30)),
                secrets: &[],
                local_dir: self.local_dir.path().to_path_buf(),
                become_: None,
            }
        }

        fn on_host(&self, p: &str) -> PathBuf {
            self.host_dir.path().join(p)
        }

        fn local_file(&self, p: &str, text: &str, mode: u32) {
            let path = self.local_dir.path().join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        }

        fn temp_entries(&self) -> Vec<String> {
            let tmp = self.on_host(".tmp");
            match std::fs::read_dir(tmp) {
                Ok(rd) => rd
                    .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                    .collect(),
                Err(_) => Vec::new(),
            }
        }
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    fn command(argv: &[&str]) -> Action {
        Action::Command {
            argv: argv.iter().map(|s| (*s).to_string()).collect(),
            chdir: None,
            creates: None,
            removes: None,
        }
    }

    fn shell(line: &str) -> Action {
        Action::Shell {
            line: line.into(),
            chdir: None,
            creates: None,
            removes: None,
        }
    }

    fn stdout(s: &TaskSuccess) -> &str {
        &s.output.as_ref().unwrap().stdout
    }

    #[tokio::test]
    async fn command_does_not_interpret_redirection() {
        let f = Fixture::new();
        let s = run_action(&command(&["echo", "hi", ">", "out.txt"]), &f.cx())
            .await
            .unwrap();
        assert_eq!(s.outcome, TaskOutcome::Changed);
        assert_eq!(stdout(&s), "hi > out.txt\n");
        assert!(!f.on_host("out.txt").exists());
    }

    #[tokio::test]
    async fn shell_interprets_redirection() {
        let f = Fixture::new();
        let s = run_action(&shell("echo hi > out.txt"), &f.cx())
            .await
            .unwrap();
        assert_eq!(s.outcome, TaskOutcome::Changed);
        assert_eq!(stdout(&s), "");
        assert_eq!(
            std::fs::read_to_string(f.on_host("out.txt")).unwrap(),
            "hi\n"
        );
    }

    #[tokio::test]
    async fn arguments_are_expanded_and_missing_variables_fail() {
        let f = Fixture::new();
        let s = run_action(&command(&["echo", "!{GREETING}", "!{NAME}"]), &f.cx())
            .await
            .unwrap();
        assert_eq!(stdout(&s), "hello World\n");

        let err = run_action(&shell("echo !{NOPE} > ran"), &f.cx())
            .await
            .unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::MissingVariable);
        assert!(err.message.contains("NOPE"), "{err}");
        assert!(!f.on_host("ran").exists());
    }

    #[tokio::test]
    async fn creates_and_removes_skip() {
        let f = Fixture::new();
        std::fs::write(f.on_host("marker"), "").unwrap();

        let a = Action::Shell {
            line: "touch ran1".into(),
            chdir: None,
            creates: Some("marker".into()),
            removes: None,
        };
        let s = run_action(&a, &f.cx()).await.unwrap();
        assert!(
            matches!(&s.outcome, TaskOutcome::Skipped(r) if r.contains("marker") && r.contains("exists")),
            "{s:?}"
        );
        assert!(!f.on_host("ran1").exists());

        let a = Action::Shell {
            line: "touch ran2".into(),
            chdir: None,
            creates: None,
            removes: Some("missing".into()),
        };
        let s = run_action(&a, &f.cx()).await.unwrap();
        assert!(
            matches!(&s.outcome, TaskOutcome::Skipped(r) if r.contains("does not exist")),
            "{s:?}"
        );
        assert!(!f.on_host("ran2").exists());

        // The conditions hold: the command runs.
        let a = Action::Shell {
            line: "touch ran3".into(),
            chdir: None,
            creates: Some("missing".into()),
            removes: Some("marker".into()),
        };
        assert_eq!(
            run_action(&a, &f.cx()).await.unwrap().outcome,
            TaskOutcome::Changed
        );
        assert!(f.on_host("ran3").exists());

        // Relative to chdir, with variables.
        std::fs::create_dir(f.on_host("sub")).unwrap();
        std::fs::write(f.on_host("sub/World.done"), "").unwrap();
        let a = Action::Command {
            argv: vec!["touch".into(), "ran4".into()],
            chdir: Some("sub".into()),
            creates: Some("!{NAME}.done".into()),
            removes: None,
        };
        assert!(matches!(
            run_action(&a, &f.cx()).await.unwrap().outcome,
            TaskOutcome::Skipped(_)
        ));
        assert!(!f.on_host("sub/ran4").exists());
    }

    #[tokio::test]
    async fn chdir_is_the_working_directory_and_must_exist() {
        let f = Fixture::new();
        std::fs::create_dir(f.on_host("work")).unwrap();
        let a = Action::Command {
            argv: vec!["touch".into(), "here".into()],
            chdir: Some("work".into()),
            creates: None,
            removes: None,
        };
        run_action(&a, &f.cx()).await.unwrap();
        assert!(f.on_host("work/here").exists());

        let a = Action::Shell {
            line: "touch there".into(),
            chdir: Some("no/such/dir".into()),
            creates: None,
            removes: None,
        };
        let err = run_action(&a, &f.cx()).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Failed);
        assert!(
            err.message.contains("chdir `no/such/dir` does not exist"),
            "{err}"
        );
        assert!(err.message.contains(f.host.host()), "{err}");
        assert_eq!(
            std::fs::read_dir(f.host_dir.path()).unwrap().count(),
            1,
            "nothing else ran"
        );
    }

    #[tokio::test]
    async fn non_zero_exit_fails_with_separate_output() {
        let f = Fixture::new();
        let err = run_action(&shell("echo to-out; echo to-err >&2; exit 3"), &f.cx())
            .await
            .unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Failed);
        assert_eq!(
            err.to_string(),
            format!(
                "command `echo to-out; echo to-err >&2; exit 3` exited with status 3 on {}",
                f.host.host()
            )
        );
        let out = err.output.unwrap();
        assert_eq!(out.exit_code, Some(3));
        assert_eq!(out.stdout, "to-out\n");
        assert_eq!(out.stderr, "to-err\n");

        let err = run_action(&command(&["false"]), &f.cx()).await.unwrap_err();
        assert!(
            err.message
                .starts_with("command `false` exited with status 1 on local:"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn timeout_fires() {
        let f = Fixture::new();
        let mut cx = f.cx();
        cx.timeout = Some(Duration::from_millis(200));
        let start = Instant::now();
        let err = run_action(&command(&["sleep", "5"]), &cx)
            .await
            .unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Timeout, "{err}");
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "took {:?}",
            start.elapsed()
        );
        assert!(
            err.message.contains("sleep 5") && err.message.contains("200ms"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn script_is_processed_run_from_a_unique_path_and_removed() {
        let f = Fixture::new();
        f.local_file(
            "scripts/setup.sh",
            "#!/bin/sh\necho \"!{GREETING} $1 from $0\"\necho '!{PLACE}' > result\n",
            0o644,
        );
        let a = Action::Script {
            path: "scripts/setup.sh".into(),
            args: vec!["!{NAME}".into()],
            process_vars: true,
            creates: None,
            removes: None,
        };
        let s = run_action(&a, &f.cx()).await.unwrap();
        let out = stdout(&s);
        let tmp = f.host.temp_dir();
        assert!(
            out.starts_with(&format!("hello World from {tmp}/hoist-setup.sh-")),
            "{out}"
        );
        assert_eq!(
            std::fs::read_to_string(f.on_host("result")).unwrap(),
            "the sandbox\n"
        );
        assert_eq!(f.temp_entries(), Vec::<String>::new());

        // Two runs use different paths.
        let s2 = run_action(&a, &f.cx()).await.unwrap();
        assert_ne!(stdout(&s2), out);
    }

    #[tokio::test]
    async fn failing_script_is_removed_too() {
        let f = Fixture::new();
        f.local_file("fail.sh", "#!/bin/sh\necho partial\nexit 4\n", 0o755);
        let a = Action::Script {
            path: "fail.sh".into(),
            args: vec!["x y".into()],
            process_vars: false,
            creates: None,
            removes: None,
        };
        let err = run_action(&a, &f.cx()).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Failed);
        assert!(
            err.message
                .starts_with("script `fail.sh 'x y'` exited with status 4"),
            "{err}"
        );
        assert_eq!(err.output.unwrap().stdout, "partial\n");
        assert_eq!(f.temp_entries(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn script_with_a_missing_variable_fails_before_uploading() {
        let f = Fixture::new();
        f.local_file("s.sh", "#!/bin/sh\ntouch ran\necho !{MISSING}\n", 0o755);
        let a = Action::Script {
            path: "s.sh".into(),
            args: vec![],
            process_vars: true,
            creates: None,
            removes: None,
        };
        let err = run_action(&a, &f.cx()).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::MissingVariable);
        assert!(
            err.message.contains("MISSING") && err.message.contains("line 3"),
            "{err}"
        );
        assert!(!f.on_host("ran").exists());
        assert_eq!(f.temp_entries(), Vec::<String>::new());

        let a = Action::Script {
            path: "nope.sh".into(),
            args: vec![],
            process_vars: false,
            creates: None,
            removes: None,
        };
        assert_eq!(
            run_action(&a, &f.cx()).await.unwrap_err().kind,
            TaskErrorKind::LocalIo
        );
    }

    fn copy(src: CopySource, dest: &str, mode: Option<u32>) -> Action {
        Action::Copy {
            src,
            dest: dest.into(),
            mode,
            owner: None,
            group: None,
        }
    }

    #[tokio::test]
    async fn copy_content_with_mode() {
        let f = Fixture::new();
        let a = copy(
            CopySource::Content("secret=!{NAME}\n".into()),
            "app-!{NAME}.conf",
            Some(0o600),
        );
        assert_eq!(
            run_action(&a, &f.cx()).await.unwrap().outcome,
            TaskOutcome::Changed
        );
        let p = f.on_host("app-World.conf");
        // Copy content is literal; the destination is expanded.
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "secret=!{NAME}\n");
        assert_eq!(mode_of(&p), 0o600);

        let a = copy(CopySource::Content("x".into()), "default.conf", None);
        run_action(&a, &f.cx()).await.unwrap();
        assert_eq!(mode_of(&f.on_host("default.conf")), 0o644);
    }

    #[tokio::test]
    async fn copies_and_templates_change_nothing_when_the_host_has_the_file() {
        let f = Fixture::new();
        let outcome = |a: Action| {
            let cx = f.cx();
            async move { run_action(&a, &cx).await.unwrap().outcome }
        };
        let content = |text: &str, mode| copy(CopySource::Content(text.into()), "c.conf", mode);
        assert_eq!(outcome(content("a", None)).await, TaskOutcome::Changed);
        assert_eq!(outcome(content("a", None)).await, TaskOutcome::Unchanged);
        assert_eq!(outcome(content("b", None)).await, TaskOutcome::Changed);
        assert_eq!(
            outcome(content("b", Some(0o600))).await,
            TaskOutcome::Changed
        );
        assert_eq!(mode_of(&f.on_host("c.conf")), 0o600);

        f.local_file("files/motd", "hi\n", 0o644);
        let file = || copy(CopySource::Path("files/motd".into()), "motd", None);
        assert_eq!(outcome(file()).await, TaskOutcome::Changed);
        assert_eq!(outcome(file()).await, TaskOutcome::Unchanged);
        std::fs::write(f.on_host("motd"), "edited on the host\n").unwrap();
        assert_eq!(outcome(file()).await, TaskOutcome::Changed, "put back");
        assert_eq!(std::fs::read_to_string(f.on_host("motd")).unwrap(), "hi\n");

        let tpl = |text: &str| Action::Template {
            src: CopySource::Content(text.into()),
            dest: "t.txt".into(),
            mode: None,
        };
        assert_eq!(outcome(tpl("{{ NAME }}")).await, TaskOutcome::Changed);
        assert_eq!(outcome(tpl("{{ NAME }}")).await, TaskOutcome::Unchanged);
        assert_eq!(
            outcome(tpl("!{NAME}")).await,
            TaskOutcome::Unchanged,
            "same text"
        );
        assert_eq!(outcome(tpl("{{ PLACE }}")).await, TaskOutcome::Changed);
    }

    #[tokio::test]
    async fn copy_file_keeps_or_sets_mode() {
        let f = Fixture::new();
        f.local_file("bin/tool", "#!/bin/sh\n", 0o750);
        run_action(
            &copy(CopySource::Path("bin/tool".into()), "tool", None),
            &f.cx(),
        )
        .await
        .unwrap();
        assert_eq!(mode_of(&f.on_host("tool")), 0o750);
        assert_eq!(
            std::fs::read_to_string(f.on_host("tool")).unwrap(),
            "#!/bin/sh\n"
        );

        // Into an existing directory: keeps the name.
        std::fs::create_dir(f.on_host("opt")).unwrap();
        run_action(
            &copy(CopySource::Path("bin/tool".into()), "opt", Some(0o700)),
            &f.cx(),
        )
        .await
        .unwrap();
        assert_eq!(mode_of(&f.on_host("opt/tool")), 0o700);

        let err = run_action(
            &copy(CopySource::Path("missing".into()), "x", None),
            &f.cx(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::LocalIo);
    }

    fn make_tree(f: &Fixture) {
        f.local_file("site/index.html", "<h1>hi</h1>\n", 0o640);
        f.local_file("site/cgi/run.sh", "#!/bin/sh\n", 0o755);
        std::fs::set_permissions(
            f.local_dir.path().join("site/cgi"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
    }

    fn layout(root: &Path) -> Vec<(String, u32)> {
        fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, u32)>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                out.push((
                    p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                    mode_of(&p),
                ));
                if p.is_dir() {
                    walk(root, &p, out);
                }
            }
        }
        let mut out = Vec::new();
        walk(root, root, &mut out);
        out.sort();
        out
    }

    #[tokio::test]
    async fn directory_copy_with_trailing_slash_copies_the_contents() {
        let f = Fixture::new();
        make_tree(&f);
        run_action(
            &copy(CopySource::Path("site/".into()), "www", None),
            &f.cx(),
        )
        .await
        .unwrap();
        assert_eq!(
            layout(&f.on_host("www")),
            vec![
                ("cgi".into(), 0o750),
                ("cgi/run.sh".into(), 0o755),
                ("index.html".into(), 0o640)
            ]
        );
    }

    #[tokio::test]
    async fn directory_copy_without_trailing_slash_copies_the_directory() {
        let f = Fixture::new();
        make_tree(&f);
        std::fs::create_dir(f.on_host("www")).unwrap();
        run_action(&copy(CopySource::Path("site".into()), "www", None), &f.cx())
            .await
            .unwrap();
        assert_eq!(
            layout(&f.on_host("www")),
            vec![
                ("site".into(), mode_of(&f.local_dir.path().join("site"))),
                ("site/cgi".into(), 0o750),
                ("site/cgi/run.sh".into(), 0o755),
                ("site/index.html".into(), 0o640),
            ]
        );

        // `mode` applies to every file.
        run_action(
            &copy(CopySource::Path("site".into()), "www2", Some(0o600)),
            &f.cx(),
        )
        .await
        .unwrap();
        assert_eq!(mode_of(&f.on_host("www2/site/index.html")), 0o600);
        assert_eq!(mode_of(&f.on_host("www2/site/cgi/run.sh")), 0o600);
        assert_eq!(mode_of(&f.on_host("www2/site/cgi")), 0o750);
    }

    #[tokio::test]
    async fn copy_owner_runs_chown() {
        let f = Fixture::new();
        let me = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let me = String::from_utf8(me.stdout).unwrap().trim().to_string();
        let mut a = copy(CopySource::Content("x".into()), "owned", None);
        if let Action::Copy { owner, .. } = &mut a {
            *owner = Some(me.clone());
        }
        run_action(&a, &f.cx()).await.unwrap();
        assert!(f.on_host("owned").exists());

        if let Action::Copy { owner, .. } = &mut a {
            *owner = Some("no-such-user-hoist".into());
        }
        let err = run_action(&a, &f.cx()).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Failed);
        assert!(err.message.contains("chown -- no-such-user-hoist"), "{err}");
        assert!(err.output.unwrap().stderr.contains("no-such-user-hoist"));
    }

    #[tokio::test]
    async fn template_renders_jinja_and_bang_variables() {
        let f = Fixture::new();
        let a = Action::Template {
            src: CopySource::Content("Hello {{ NAME }} from !{PLACE} <&>\n".into()),
            dest: "hello.html".into(),
            mode: None,
        };
        assert_eq!(
            run_action(&a, &f.cx()).await.unwrap().outcome,
            TaskOutcome::Changed
        );
        let p = f.on_host("hello.html");
        assert_eq!(
            std::fs::read_to_string(&p).unwrap(),
            "Hello World from the sandbox <&>\n"
        );
        assert_eq!(mode_of(&p), 0o644);

        f.local_file(
            "t/app.conf.j2",
            "{% for x in [1, 2] %}{{ GREETING }}{{ x }} {% endfor %}!{NAME}\n",
            0o644,
        );
        let a = Action::Template {
            src: CopySource::Path("t/app.conf.j2".into()),
            dest: "app.conf".into(),
            mode: Some(0o640),
        };
        run_action(&a, &f.cx()).await.unwrap();
        assert_eq!(
            std::fs::read_to_string(f.on_host("app.conf")).unwrap(),
            "hello1 hello2 World\n"
        );
        assert_eq!(mode_of(&f.on_host("app.conf")), 0o640);
    }

    #[tokio::test]
    async fn template_with_missing_variables_fails() {
        let f = Fixture::new();
        let a = Action::Template {
            src: CopySource::Content("x={{ UNDEFINED_ONE }}\n".into()),
            dest: "t1".into(),
            mode: None,
        };
        let err = run_action(&a, &f.cx()).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Template);
        assert!(err.message.contains("`UNDEFINED_ONE`"), "{err}");
        assert!(!f.on_host("t1").exists());

        let a = Action::Template {
            src: CopySource::Content("x=!{UNDEFINED_TWO}\n".into()),
            dest: "t2".into(),
            mode: None,
        };
        let err = run_action(&a, &f.cx()).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::MissingVariable);
        assert!(err.message.contains("UNDEFINED_TWO"), "{err}");
        assert!(!f.on_host("t2").exists());

        let a = Action::Template {
            src: CopySource::Content("{% if %}".into()),
            dest: "t3".into(),
            mode: None,
        };
        assert_eq!(
            run_action(&a, &f.cx()).await.unwrap_err().kind,
            TaskErrorKind::Template
        );
    }

    #[tokio::test]
    async fn local_commands_run_on_the_controller_without_a_transport() {
        let f = Fixture::new();
        let mut cx = f.cx();
        cx.transport = None;
        cx.env = vec![("X".into(), "it's \"quoted\"".into())];

        let a = Action::Local {
            argv: vec!["echo $X > out.txt; pwd".into()],
            shell: true,
        };
        let s = run_action(&a, &cx).await.unwrap();
        assert_eq!(s.outcome, TaskOutcome::Changed);
        assert_eq!(stdout(&s).trim(), f.local_dir.path().to_str().unwrap());
        assert_eq!(
            std::fs::read_to_string(f.local_dir.path().join("out.txt")).unwrap(),
            "it's \"quoted\"\n"
        );
        // The sandbox host was never touched.
        assert_eq!(std::fs::read_dir(f.host_dir.path()).unwrap().count(), 0);

        let a = Action::Local {
            argv: vec!["echo".into(), "!{NAME}".into(), ">".into(), "x".into()],
            shell: false,
        };
        let s = run_action(&a, &cx).await.unwrap();
        assert_eq!(stdout(&s), "World > x\n");
        assert!(!f.local_dir.path().join("x").exists());

        let a = Action::Local {
            argv: vec!["/no/such/program".into()],
            shell: false,
        };
        let err = run_action(&a, &cx).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Failed);
        assert!(
            err.message
                .contains("cannot start `/no/such/program` on the controller"),
            "{err}"
        );

        let a = Action::Local {
            argv: vec!["exit 2".into()],
            shell: true,
        };
        let err = run_action(&a, &cx).await.unwrap_err();
        assert_eq!(err.kind, TaskErrorKind::Failed);
        assert_eq!(
            err.message,
            "local command `exit 2` exited with status 2 on the controller"
        );

        cx.timeout = Some(Duration::from_millis(200));
        let a = Action::Local {
            argv: vec!["sleep".into(), "5".into()],
            shell: false,
        };
        assert_eq!(
            run_action(&a, &cx).await.unwrap_err().kind,
            TaskErrorKind::Timeout
        );
    }

    #[tokio::test]
    async fn remote_actions_need_a_transport() {
        let f = Fixture::new();
        let mut cx = f.cx();
        cx.transport = None;
        for a in [
            Action::Ping,
            shell("true"),
            copy(CopySource::Content(String::new()), "x", None),
        ] {
            let err = run_action(&a, &cx).await.unwrap_err();
            assert_eq!(err.kind, TaskErrorKind::Transport);
            assert!(err.message.contains("no transport"), "{err}");
        }
        assert_eq!(
            run_action(&Action::Null, &cx).await.unwrap().outcome,
            TaskOutcome::Unchanged
        );
        assert_eq!(
            run_action(&Action::Ping, &f.cx()).await.unwrap().outcome,
            TaskOutcome::Unchanged
        );
    }

    #[tokio::test]
    async fn env_vars_reach_commands() {
        let f = Fixture::new();
        let tricky = "two words, 'single' and \"double\" quotes, $HOME and `backticks`; rm -rf /";
        let mut cx = f.cx();
        cx.env = vec![
            ("APP_MODE".into(), "prod".into()),
            ("TRICKY".into(), tricky.into()),
        ];
        let s = run_action(&command(&["printenv", "TRICKY"]), &cx)
            .await
            .unwrap();
        assert_eq!(stdout(&s), format!("{tricky}\n"));
        let s = run_action(&shell("echo \"$APP_MODE|$TRICKY\""), &cx)
            .await
            .unwrap();
        assert_eq!(stdout(&s), format!("prod|{tricky}\n"));
    }

    #[tokio::test]
    async fn secrets_are_scrubbed() {
        let f = Fixture::new();
        let secrets = [Secret::new("hunter2")];
        let mut cx = f.cx();
        cx.secrets = &secrets;
        cx.env = vec![("PW".into(), "hunter2".into())];

        let err = run_action(
            &shell("echo token=$PW; echo bad hunter2 >&2; exit 1 # hunter2"),
            &cx,
        )
        .await
        .unwrap_err();
        assert!(!err.message.contains("hunter2"), "{err}");
        assert!(err.message.contains("<redacted>"), "{err}");
        let out = err.output.unwrap();
        assert_eq!(out.stdout, "token=<redacted>\n");
        assert_eq!(out.stderr, "bad <redacted>\n");

        let s = run_action(&command(&["printenv", "PW"]), &cx)
            .await
            .unwrap();
        assert_eq!(stdout(&s), "<redacted>\n");
    }
}
