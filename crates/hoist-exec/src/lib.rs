//! Config tasks and the transports that run them.
//!
//! The config model in `hoist-core` describes *what* a task does as data
//! ([`hoist_core::Action`]); this crate *executes* actions:
//!
//! - [`Transport`] is how a task reaches a host: run a program ([`ExecRequest`] →
//!   [`ExecOutput`], stdout and stderr kept apart, exit code or signal, optional time limit),
//!   put a file with a mode, make directories, test and remove paths. It is an object-safe
//!   `#[async_trait]` trait, so the scheduler holds hosts as `&dyn Transport` / `Arc<dyn
//!   Transport>`.
//! - [`LocalTransport`] is a "local sandbox host": a directory on the controller that plays a
//!   host (its working directory and `HOME`), used by the simulated cloud and by tests.
//! - [`run_action`] runs one action against a [`TaskContext`] (transport, the task role's
//!   variables through [`VarSource`], environment, time limit, secrets, local base directory):
//!   `!{}` expansion, `creates`/`removes` skips, `chdir` checks, commands without a shell,
//!   shell lines, scripts uploaded to unique temporary paths and always removed, file and
//!   directory copies (rsync's trailing-slash rule, modes kept, owner/group by name),
//!   minijinja templates with strict undefined variables, and local commands that never touch
//!   a transport. Failures are typed ([`TaskErrorKind`]) and carry the captured output; every
//!   message and output is scrubbed of the context's secrets.
//! - [`Become`] (on [`TaskContext::become_`]) runs a task's remote commands and file writes as
//!   another user through `sudo`, over any transport ([`BecomeTransport`]); the sudo password
//!   goes to `sudo -S` on standard input and never reaches the command.
//!
//! An SSH transport plugs in later by implementing [`Transport`]: an exec channel per
//! [`ExecRequest`] (the request turned into one command line with [`request_to_shell`], which
//! quotes the working directory, every environment value and every argument with
//! [`shell_quote`] / [`argv_to_shell`]), exit status and signal from the protocol, SFTP for
//! [`Transport::put_file`] and the path operations. Nothing in [`run_action`] needs to change.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use hoist_core::Action;
//! use hoist_exec::{LocalTransport, MapVars, TaskContext, TaskOutcome, run_action};
//!
//! let dir = tempfile::TempDir::new().unwrap();
//! let host = LocalTransport::sandbox(dir.path());
//! let vars = MapVars::new().with("NAME", "world");
//! let cx = TaskContext::new(Some(&host), &vars);
//! let action = Action::Shell { line: "echo hello !{NAME}".into(), chdir: None, creates: None, removes: None };
//! let done = run_action(&action, &cx).await.unwrap();
//! assert_eq!(done.outcome, TaskOutcome::Changed);
//! assert_eq!(done.output.unwrap().stdout, "hello world\n");
//! # }
//! ```

pub mod connect;
pub mod local;
pub mod sudo;
pub mod task;
pub mod transport;

pub use connect::{ConnectError, ConnectFailure, Connector, HostTarget};
pub use local::LocalTransport;
pub use sudo::{Become, BecomeTransport};
pub use task::{
    MapVars, TaskContext, TaskError, TaskErrorKind, TaskOutcome, TaskSuccess, VarSource, run_action,
};
pub use transport::{
    ExecOutput, ExecRequest, HostFile, Program, Transport, TransportError, argv_to_shell,
    request_to_shell, shell_quote,
};
