//! The config model's vocabulary: tasks, their actions, task defaults, retry policies,
//! multi-tasks and the dependency algebra (`a | b`, `a & b`).

use std::fmt;
use std::ops::{BitAnd, BitOr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::component::{Component, ErasedMultiTask, Visit};
use crate::namespace::Role;
use crate::path::SourceLoc;
use crate::reference::{HasRefPath, MultiRef, Ref, RefPath};
use crate::secret::Secret;
use crate::select::Selection;

/// Where a [`Action::Copy`] takes its bytes from.
#[derive(Clone, Debug)]
pub enum CopySource {
    /// A local file, or a local directory. For a directory, a trailing `/` copies its contents
    /// into `dest`; without it the directory itself is created under `dest` (rsync's rule).
    Path(PathBuf),
    /// Literal content (`!{}`-expanded when the action is a template).
    Content(String),
}

/// What a task does. The strings are `!{}`-expanded from the task role's variables just before
/// the task runs (so infra outputs are known).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Action {
    /// Nothing (for tests and as a join point).
    Null,
    /// Log in to the host; succeeds if the transport works.
    Ping,
    /// Run a program with arguments, no shell: `>` and `|` are ordinary arguments.
    Command {
        /// Program and arguments.
        argv: Vec<String>,
        /// Working directory; a missing directory fails the task.
        chdir: Option<String>,
        /// Skip the task if this path exists.
        creates: Option<String>,
        /// Skip the task if this path does not exist.
        removes: Option<String>,
    },
    /// Run a shell line with `/bin/sh -c`.
    Shell {
        /// The line.
        line: String,
        /// Working directory.
        chdir: Option<String>,
        /// Skip if this path exists.
        creates: Option<String>,
        /// Skip if this path does not exist.
        removes: Option<String>,
    },
    /// Upload a local script to a unique temporary path, run it with arguments, remove it.
    Script {
        /// Local script.
        path: PathBuf,
        /// Arguments.
        args: Vec<String>,
        /// Expand `!{}` in every line of the script first (a missing variable fails the task).
        process_vars: bool,
        /// Skip if this path exists.
        creates: Option<String>,
        /// Skip if this path does not exist.
        removes: Option<String>,
    },
    /// Copy a file, a directory or a content string to the host.
    Copy {
        /// Source.
        src: CopySource,
        /// Destination path on the host.
        dest: String,
        /// File mode, e.g. `0o644` (default: the local file's mode, or 0o644 for content).
        mode: Option<u32>,
        /// Owner, by name.
        owner: Option<String>,
        /// Group, by name.
        group: Option<String>,
    },
    /// Render a template (minijinja, with the task role's variables as context, after `!{}`
    /// expansion) and write it to the host. A missing variable fails the task.
    Template {
        /// Template source (a local file or literal text).
        src: CopySource,
        /// Destination path on the host.
        dest: String,
        /// File mode.
        mode: Option<u32>,
    },
    /// Run a program on the controller (never touches the host).
    Local {
        /// Program and arguments; or a single shell line when `shell` is set.
        argv: Vec<String>,
        /// Run `argv[0]` with `/bin/sh -c`.
        shell: bool,
    },
}

impl Action {
    /// A short name of the action kind: `command`, `shell`, `copy`, …
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Null => "null",
            Action::Ping => "ping",
            Action::Command { .. } => "command",
            Action::Shell { .. } => "shell",
            Action::Script { .. } => "script",
            Action::Copy { .. } => "copy",
            Action::Template { .. } => "template",
            Action::Local { shell: false, .. } => "local-command",
            Action::Local { shell: true, .. } => "local-shell",
        }
    }

    /// True if the action runs on the controller and needs no host.
    pub fn is_local(&self) -> bool {
        matches!(self, Action::Null | Action::Local { .. })
    }
}

/// Remote login credentials. Each field is resolved independently: task, then the task
/// defaults of the enclosing structs (innermost first), then the per-provider cloud
/// credentials of the host's provider.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Credentials {
    /// Remote user.
    pub user: Option<String>,
    /// Password (for login or sudo).
    pub password: Option<Secret>,
    /// Private key file.
    pub key_file: Option<PathBuf>,
}

impl Credentials {
    /// Fills the unset fields of `self` from `other`.
    #[must_use]
    pub fn or(mut self, other: &Credentials) -> Self {
        if self.user.is_none() {
            self.user.clone_from(&other.user);
        }
        if self.password.is_none() {
            self.password.clone_from(&other.password);
        }
        if self.key_file.is_none() {
            self.key_file.clone_from(&other.key_file);
        }
        self
    }
}

/// How a failed task is retried.
///
/// ```
/// use std::time::Duration;
/// use hoist_core::RetryPolicy;
/// let p = RetryPolicy::attempts(3).linear(Duration::from_secs(15));
/// assert_eq!(p.delay_before(2), Duration::from_secs(15));
/// assert_eq!(p.delay_before(3), Duration::from_secs(30));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts (at least 1).
    pub attempts: u32,
    /// Delay before the second attempt.
    pub initial: Duration,
    /// Growth of the delay: `Linear` is Actuator's `n × interval`.
    pub growth: Growth,
    /// Time limit of one attempt.
    pub attempt_timeout: Option<Duration>,
}

/// How retry delays grow.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Growth {
    /// Same delay every time.
    Constant,
    /// `(n-1) × initial` before attempt `n`.
    Linear,
    /// `initial × factor^(n-2)` before attempt `n`.
    Exponential(f64),
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 1,
            initial: Duration::ZERO,
            growth: Growth::Constant,
            attempt_timeout: None,
        }
    }
}

impl RetryPolicy {
    /// `n` attempts in all, no delay.
    pub fn attempts(n: u32) -> Self {
        RetryPolicy {
            attempts: n.max(1),
            ..Default::default()
        }
    }

    /// Linear back-off: `(n-1) × interval` before attempt `n`.
    #[must_use]
    pub fn linear(mut self, interval: Duration) -> Self {
        self.initial = interval;
        self.growth = Growth::Linear;
        self
    }

    /// Constant delay between attempts.
    #[must_use]
    pub fn constant(mut self, delay: Duration) -> Self {
        self.initial = delay;
        self.growth = Growth::Constant;
        self
    }

    /// Exponential back-off.
    #[must_use]
    pub fn exponential(mut self, initial: Duration, factor: f64) -> Self {
        self.initial = initial;
        self.growth = Growth::Exponential(factor);
        self
    }

    /// A time limit for each attempt.
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.attempt_timeout = Some(t);
        self
    }

    /// The delay before attempt `n` (1-based; no delay before the first).
    pub fn delay_before(&self, n: u32) -> Duration {
        if n <= 1 {
            return Duration::ZERO;
        }
        match self.growth {
            Growth::Constant => self.initial,
            Growth::Linear => self.initial * (n - 1),
            Growth::Exponential(f) => self
                .initial
                .mul_f64(f.powi(i32::try_from(n - 2).unwrap_or(i32::MAX))),
        }
    }
}

/// A config task: an [`Action`] run on the host of a role.
///
/// ```
/// use hoist_core::{Task, RetryPolicy};
/// let t = Task::shell("echo ready > /tmp/ready").retry(RetryPolicy::attempts(3));
/// assert_eq!(t.action().kind(), "shell");
/// ```
#[derive(Clone, Debug)]
pub struct Task {
    action: Action,
    run_when: RunWhen,
    changed_when: ChangedWhen,
    become_user: Option<String>,
    role: Option<Ref<Role>>,
    run_from: Option<Ref<Role>>,
    creds: Credentials,
    retry: Option<RetryPolicy>,
    timeout: Option<Duration>,
    problems: Vec<String>,
    loc: SourceLoc,
}

impl Task {
    #[track_caller]
    fn with(action: Action) -> Self {
        Task {
            action,
            run_when: RunWhen::default(),
            changed_when: ChangedWhen::default(),
            become_user: None,
            role: None,
            run_from: None,
            creds: Credentials::default(),
            retry: None,
            timeout: None,
            problems: Vec::new(),
            loc: SourceLoc::caller(),
        }
    }

    /// A task that does nothing.
    #[track_caller]
    pub fn null() -> Self {
        Task::with(Action::Null)
    }

    /// Checks that the host can be logged in to.
    #[track_caller]
    pub fn ping() -> Self {
        Task::with(Action::Ping)
    }

    /// Runs a command line split into words (quotes respected), without a shell.
    #[track_caller]
    pub fn command(line: &str) -> Self {
        match shlex::split(line) {
            Some(argv) if !argv.is_empty() => Task::command_argv(argv),
            _ => {
                let mut t = Task::with(Action::Command {
                    argv: vec![line.to_string()],
                    chdir: None,
                    creates: None,
                    removes: None,
                });
                t.problems.push(format!(
                    "command {line:?} has unbalanced quotes or is empty"
                ));
                t
            }
        }
    }

    /// Runs a program with explicit arguments, without a shell.
    #[track_caller]
    pub fn command_argv<S: Into<String>>(argv: impl IntoIterator<Item = S>) -> Self {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        let mut t = Task::with(Action::Command {
            argv,
            chdir: None,
            creates: None,
            removes: None,
        });
        if matches!(&t.action, Action::Command { argv, .. } if argv.is_empty()) {
            t.problems.push("command has no program".into());
        }
        t
    }

    /// Runs a shell line.
    #[track_caller]
    pub fn shell(line: &str) -> Self {
        Task::with(Action::Shell {
            line: line.to_string(),
            chdir: None,
            creates: None,
            removes: None,
        })
    }

    /// Uploads and runs a local script.
    #[track_caller]
    pub fn script(path: impl Into<PathBuf>) -> Self {
        Task::with(Action::Script {
            path: path.into(),
            args: Vec::new(),
            process_vars: false,
            creates: None,
            removes: None,
        })
    }

    /// Copies a local file or directory to `dest`.
    #[track_caller]
    pub fn copy(src: impl Into<PathBuf>, dest: &str) -> Self {
        Task::with(Action::Copy {
            src: CopySource::Path(src.into()),
            dest: dest.into(),
            mode: None,
            owner: None,
            group: None,
        })
    }

    /// Writes `content` to `dest`.
    #[track_caller]
    pub fn copy_content(content: &str, dest: &str) -> Self {
        Task::with(Action::Copy {
            src: CopySource::Content(content.into()),
            dest: dest.into(),
            mode: None,
            owner: None,
            group: None,
        })
    }

    /// Renders the local template file `src` to `dest`.
    #[track_caller]
    pub fn template(src: impl Into<PathBuf>, dest: &str) -> Self {
        Task::with(Action::Template {
            src: CopySource::Path(src.into()),
            dest: dest.into(),
            mode: None,
        })
    }

    /// Renders the template text `text` to `dest`.
    #[track_caller]
    pub fn template_text(text: &str, dest: &str) -> Self {
        Task::with(Action::Template {
            src: CopySource::Content(text.into()),
            dest: dest.into(),
            mode: None,
        })
    }

    /// Runs a command on the controller (split into words, no shell).
    #[track_caller]
    pub fn local(line: &str) -> Self {
        let argv = shlex::split(line).unwrap_or_else(|| vec![line.to_string()]);
        Task::with(Action::Local { argv, shell: false })
    }

    /// Runs a shell line on the controller.
    #[track_caller]
    pub fn local_shell(line: &str) -> Self {
        Task::with(Action::Local {
            argv: vec![line.to_string()],
            shell: true,
        })
    }

    /// The role whose variables the task sees and (unless `run_from`) whose host it runs on.
    #[must_use]
    pub fn role(mut self, role: Ref<Role>) -> Self {
        self.role = Some(role);
        self
    }

    /// Runs on this role's host, with the task role's variables (e.g. a bastion).
    #[must_use]
    pub fn run_from(mut self, role: Ref<Role>) -> Self {
        self.run_from = Some(role);
        self
    }

    /// Remote user.
    #[must_use]
    pub fn user(mut self, user: &str) -> Self {
        self.creds.user = Some(user.into());
        self
    }

    /// Run as root through `sudo` (Ansible's `become`). A sudo password, if the hosts need
    /// one, is given once to the orchestration and shared by every host.
    #[must_use]
    pub fn sudo(self) -> Self {
        self.become_user("root")
    }

    /// Run as `user` through `sudo`.
    #[must_use]
    pub fn become_user(mut self, user: &str) -> Self {
        if self.action.is_local() {
            self.problems.push(format!(
                "`become` is not an argument of a {} task",
                self.action.kind()
            ));
        }
        self.become_user = Some(user.into());
        self
    }

    /// Runs on every run, whatever changed (a health check), instead of only when what it
    /// does changed.
    #[must_use]
    pub fn always(mut self) -> Self {
        self.run_when = RunWhen::Always;
        self
    }

    /// Runs only when one of the tasks it follows (its dependencies) changed something in
    /// this run, or in a run that stopped before it ran: a handler, as Ansible's `notify`
    /// (restart a service when its configuration changed).
    #[must_use]
    pub fn handler(mut self) -> Self {
        self.run_when = RunWhen::Notified;
        self
    }

    /// When a command, shell line or script counts as having changed something (by default,
    /// whenever it runs; copies and templates compare content instead).
    #[must_use]
    pub fn changed_when(mut self, c: ChangedWhen) -> Self {
        self.changed_when = c;
        self
    }

    /// When the task runs again after it succeeded.
    pub fn run_when(&self) -> RunWhen {
        self.run_when
    }

    /// When the task counts as having changed something.
    pub fn changed_when_rule(&self) -> &ChangedWhen {
        &self.changed_when
    }

    /// The user the task runs as through `sudo`, if any.
    pub fn become_as(&self) -> Option<&str> {
        self.become_user.as_deref()
    }

    /// Password.
    #[must_use]
    pub fn password(mut self, p: Secret) -> Self {
        self.creds.password = Some(p);
        self
    }

    /// Private key file.
    #[must_use]
    pub fn key_file(mut self, p: impl Into<PathBuf>) -> Self {
        self.creds.key_file = Some(p.into());
        self
    }

    /// Retry policy.
    #[must_use]
    pub fn retry(mut self, p: RetryPolicy) -> Self {
        self.retry = Some(p);
        self
    }

    /// Time limit of each attempt. It applies to whichever retry policy the task ends up
    /// with (its own, or its defaults').
    #[must_use]
    pub fn timeout(mut self, t: Duration) -> Self {
        self.timeout = Some(t);
        self
    }

    fn set_opt(&mut self, arg: &str, f: impl FnOnce(&mut Action) -> bool) {
        if !f(&mut self.action) {
            self.problems.push(format!(
                "`{arg}` is not an argument of a {} task",
                self.action.kind()
            ));
        }
    }

    /// Working directory (command, shell).
    #[must_use]
    pub fn chdir(mut self, dir: &str) -> Self {
        self.set_opt("chdir", |a| match a {
            Action::Command { chdir, .. } | Action::Shell { chdir, .. } => {
                *chdir = Some(dir.into());
                true
            }
            _ => false,
        });
        self
    }

    /// Skip when `path` exists (command, shell, script).
    #[must_use]
    pub fn creates(mut self, path: &str) -> Self {
        self.set_opt("creates", |a| match a {
            Action::Command { creates, .. }
            | Action::Shell { creates, .. }
            | Action::Script { creates, .. } => {
                *creates = Some(path.into());
                true
            }
            _ => false,
        });
        self
    }

    /// Skip when `path` does not exist (command, shell, script).
    #[must_use]
    pub fn removes(mut self, path: &str) -> Self {
        self.set_opt("removes", |a| match a {
            Action::Command { removes, .. }
            | Action::Shell { removes, .. }
            | Action::Script { removes, .. } => {
                *removes = Some(path.into());
                true
            }
            _ => false,
        });
        self
    }

    /// Script arguments.
    #[must_use]
    pub fn args<S: Into<String>>(mut self, a: impl IntoIterator<Item = S>) -> Self {
        let a: Vec<String> = a.into_iter().map(Into::into).collect();
        self.set_opt("args", |x| match x {
            Action::Script { args, .. } => {
                *args = a;
                true
            }
            _ => false,
        });
        self
    }

    /// Expand `!{}` in the script's lines before uploading it.
    #[must_use]
    pub fn process_vars(mut self) -> Self {
        self.set_opt("process_vars", |x| match x {
            Action::Script { process_vars, .. } => {
                *process_vars = true;
                true
            }
            _ => false,
        });
        self
    }

    /// File mode (copy, template).
    #[must_use]
    pub fn mode(mut self, m: u32) -> Self {
        self.set_opt("mode", |x| match x {
            Action::Copy { mode, .. } | Action::Template { mode, .. } => {
                *mode = Some(m);
                true
            }
            _ => false,
        });
        self
    }

    /// File owner by name (copy).
    #[must_use]
    pub fn owner(mut self, o: &str) -> Self {
        self.set_opt("owner", |x| match x {
            Action::Copy { owner, .. } => {
                *owner = Some(o.into());
                true
            }
            _ => false,
        });
        self
    }

    /// File group by name (copy).
    #[must_use]
    pub fn group(mut self, g: &str) -> Self {
        self.set_opt("group", |x| match x {
            Action::Copy { group, .. } => {
                *group = Some(g.into());
                true
            }
            _ => false,
        });
        self
    }

    /// The action.
    pub fn action(&self) -> &Action {
        &self.action
    }
    /// The task role, if set on the task.
    pub fn task_role(&self) -> Option<&Ref<Role>> {
        self.role.as_ref()
    }
    /// The run-from role, if set.
    pub fn run_from_role(&self) -> Option<&Ref<Role>> {
        self.run_from.as_ref()
    }
    /// Credentials set on the task.
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }
    /// Retry policy set on the task (with the task's timeout, if set).
    pub fn retry_policy(&self) -> Option<RetryPolicy> {
        self.retry.map(|p| self.timeout.map_or(p, |t| p.timeout(t)))
    }
    /// Time limit of each attempt set on the task.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.timeout
    }
    /// Bad arguments found while building the task (reported by the plan).
    pub fn problems(&self) -> &[String] {
        &self.problems
    }
    /// Where the task was declared.
    pub fn loc(&self) -> SourceLoc {
        self.loc
    }
    /// The action, the `become` user and the change rule, moved out (the planner's copy of a
    /// task is not needed after it).
    pub(crate) fn into_action(self) -> (Action, Option<String>, ChangedWhen) {
        (self.action, self.become_user, self.changed_when)
    }
}

/// When a task that succeeded runs again ([`Task::always`], [`Task::handler`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RunWhen {
    /// When what it does changed: its action, the variables it reads, the files it sends,
    /// its host or user (its fingerprint). The default.
    #[default]
    Changed,
    /// On every run.
    Always,
    /// Only when a task it follows changed something (a handler).
    Notified,
}

/// When a command counts as having changed something ([`Task::changed_when`]); what decides
/// whether handlers that follow it run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChangedWhen {
    /// Whenever it runs (unless `creates`/`removes` skip it). The default.
    #[default]
    Always,
    /// Never: a check or a query.
    Never,
    /// When its standard output contains this text (`"installed"`).
    StdoutContains(String),
}

/// Defaults for every task in the enclosing struct and the structs inside it (unless they set
/// their own): the default task role, run-from role, credentials and retry policy.
#[derive(Clone, Debug, Default)]
pub struct TaskDefaults {
    /// Default task role.
    pub role: Option<Ref<Role>>,
    /// Default run-from role.
    pub run_from: Option<Ref<Role>>,
    /// Default credentials.
    pub creds: Credentials,
    /// Default retry policy.
    pub retry: Option<RetryPolicy>,
}

impl TaskDefaults {
    /// Defaults with a task role.
    pub fn role(role: Ref<Role>) -> Self {
        TaskDefaults {
            role: Some(role),
            ..Default::default()
        }
    }

    /// Sets the remote user.
    #[must_use]
    pub fn user(mut self, u: &str) -> Self {
        self.creds.user = Some(u.into());
        self
    }

    /// Sets the password.
    #[must_use]
    pub fn password(mut self, p: Secret) -> Self {
        self.creds.password = Some(p);
        self
    }

    /// Sets the private key file.
    #[must_use]
    pub fn key_file(mut self, p: impl Into<PathBuf>) -> Self {
        self.creds.key_file = Some(p.into());
        self
    }

    /// Sets the retry policy.
    #[must_use]
    pub fn retry(mut self, p: RetryPolicy) -> Self {
        self.retry = Some(p);
        self
    }
}

/// A dependency expression over tasks, multi-tasks and task groups (structs of tasks).
///
/// `a | b`: `b` starts after `a` succeeded (every exit of `a` before every entry of `b`).
/// `a & b`: grouped, no order between them. Expressions nest.
#[derive(Clone)]
pub enum DepExpr {
    /// A task, a multi-task or a struct of tasks.
    Node(RefPath),
    /// In order.
    Seq(Vec<DepExpr>),
    /// Unordered.
    Par(Vec<DepExpr>),
}

impl fmt::Debug for DepExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DepExpr::Node(p) => write!(f, "{p}"),
            DepExpr::Seq(v) => {
                f.write_str("(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" | ")?;
                    }
                    write!(f, "{e:?}")?;
                }
                f.write_str(")")
            }
            DepExpr::Par(v) => {
                f.write_str("(")?;
                for (i, e) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" & ")?;
                    }
                    write!(f, "{e:?}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// Unordered group of dependency expressions (Actuator's `TaskGroup`).
pub fn group<E: Into<DepExpr>>(items: impl IntoIterator<Item = E>) -> DepExpr {
    DepExpr::Par(items.into_iter().map(Into::into).collect())
}

/// A dependency expression for anything that can be one (a task ref, a struct-of-tasks refs).
pub fn dep(x: impl Into<DepExpr>) -> DepExpr {
    x.into()
}

impl From<Ref<Task>> for DepExpr {
    fn from(r: Ref<Task>) -> Self {
        DepExpr::Node(r.ref_path().clone())
    }
}

impl<T: Component> From<Ref<MultiTask<T>>> for DepExpr {
    fn from(r: Ref<MultiTask<T>>) -> Self {
        DepExpr::Node(r.ref_path().clone())
    }
}

impl<T: Component> From<MultiRef<T>> for DepExpr {
    fn from(r: MultiRef<T>) -> Self {
        DepExpr::Node(r.ref_path().clone())
    }
}

impl<R: Into<DepExpr>> BitOr<R> for DepExpr {
    type Output = DepExpr;
    fn bitor(self, rhs: R) -> DepExpr {
        match self {
            DepExpr::Seq(mut v) => {
                v.push(rhs.into());
                DepExpr::Seq(v)
            }
            other => DepExpr::Seq(vec![other, rhs.into()]),
        }
    }
}

impl<R: Into<DepExpr>> BitAnd<R> for DepExpr {
    type Output = DepExpr;
    fn bitand(self, rhs: R) -> DepExpr {
        match self {
            DepExpr::Par(mut v) => {
                v.push(rhs.into());
                DepExpr::Par(v)
            }
            other => DepExpr::Par(vec![other, rhs.into()]),
        }
    }
}

macro_rules! dep_ops {
    ($($t:ty),*) => {$(
        impl<R: Into<DepExpr>> BitOr<R> for $t {
            type Output = DepExpr;
            fn bitor(self, rhs: R) -> DepExpr {
                DepExpr::from(self) | rhs
            }
        }
        impl<R: Into<DepExpr>> BitAnd<R> for $t {
            type Output = DepExpr;
            fn bitand(self, rhs: R) -> DepExpr {
                DepExpr::from(self) & rhs
            }
        }
    )*};
}
dep_ops!(Ref<Task>);

impl<T: Component, R: Into<DepExpr>> BitOr<R> for Ref<MultiTask<T>> {
    type Output = DepExpr;
    fn bitor(self, rhs: R) -> DepExpr {
        DepExpr::from(self) | rhs
    }
}

impl<T: Component, R: Into<DepExpr>> BitAnd<R> for Ref<MultiTask<T>> {
    type Output = DepExpr;
    fn bitand(self, rhs: R) -> DepExpr {
        DepExpr::from(self) & rhs
    }
}

/// The task dependencies of the enclosing struct (a field of type `Deps`).
///
/// ```
/// # extern crate hoist_core as hoist;
/// use hoist_core::{Deps, Task, Model, dep};
/// #[derive(Model)]
/// struct Cfg { a: Task, b: Task, c: Task, deps: Deps }
/// let r = Cfg::refs();
/// let cfg = Cfg {
///     a: Task::null(), b: Task::null(), c: Task::null(),
///     deps: Deps::new([(r.a & r.b) | r.c]),
/// };
/// # let _ = cfg;
/// ```
#[derive(Clone, Debug)]
pub struct Deps {
    exprs: Vec<DepExpr>,
    loc: SourceLoc,
}

impl Deps {
    /// Dependencies from expressions.
    #[track_caller]
    pub fn new<E: Into<DepExpr>>(exprs: impl IntoIterator<Item = E>) -> Self {
        Deps {
            exprs: exprs.into_iter().map(Into::into).collect(),
            loc: SourceLoc::caller(),
        }
    }

    /// No dependencies.
    #[track_caller]
    pub fn none() -> Self {
        Deps {
            exprs: Vec::new(),
            loc: SourceLoc::caller(),
        }
    }

    /// The expressions.
    pub fn exprs(&self) -> &[DepExpr] {
        &self.exprs
    }

    /// Where they were declared.
    pub fn loc(&self) -> SourceLoc {
        self.loc
    }
}

/// One template (a task, or a struct of tasks) fanned out over a set of roles: one child per
/// selected role, named `<field>[<role name>]`, each built by calling the template function
/// with that role. The role set is fixed when the plan is made.
///
/// ```
/// # extern crate hoist_core as hoist;
/// use hoist_core::{Model, Multi, MultiTask, Role, Task};
/// #[derive(Model)]
/// struct Ns { app: Multi<Role> }
/// let ns = Ns::refs();
/// let t = MultiTask::new(|role| Task::ping().role(role), ns.app.all());
/// # let _ = t;
/// ```
pub struct MultiTask<T> {
    make: Arc<dyn Fn(Ref<Role>) -> T + Send + Sync>,
    roles: Selection,
    loc: SourceLoc,
}

impl<T: Component> MultiTask<T> {
    /// A multi-task over `roles` (a multi-role, a selection or an explicit list of roles).
    #[track_caller]
    pub fn new(
        template: impl Fn(Ref<Role>) -> T + Send + Sync + 'static,
        roles: impl Into<Selection>,
    ) -> Self {
        MultiTask {
            make: Arc::new(template),
            roles: roles.into(),
            loc: SourceLoc::caller(),
        }
    }
}

impl<T> Clone for MultiTask<T> {
    fn clone(&self) -> Self {
        MultiTask {
            make: self.make.clone(),
            roles: self.roles.clone(),
            loc: self.loc,
        }
    }
}

impl<T> fmt::Debug for MultiTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MultiTask")
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl<T: Component> ErasedMultiTask for MultiTask<T> {
    fn selection(&self) -> &Selection {
        &self.roles
    }
    fn child(&self, role: RefPath) -> Box<dyn Visit> {
        Box::new((self.make)(Ref::at(role)))
    }
    fn loc(&self) -> SourceLoc {
        self.loc
    }
    fn clone_box(&self) -> Box<dyn ErasedMultiTask> {
        Box::new(self.clone())
    }
}
