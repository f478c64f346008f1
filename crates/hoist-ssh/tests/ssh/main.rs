//! The SSH transport against real OpenSSH hosts (`scripts/testbed`): commands, every task
//! kind, other users, host key policy, authentication, jump hosts, time limits, faulty hosts,
//! connection reuse, and sudo through an orchestration.

mod auth;
mod exec;
mod faults;
mod hostkeys;
mod rerun;
mod sudo;
mod tasks;
mod testbed;

use std::sync::Arc;

use hoist_exec::{ExecOutput, ExecRequest, Transport};
use hoist_ssh::SshTransport;

/// Runs a shell line and returns its output (any exit status).
pub async fn sh(t: &SshTransport, line: &str) -> ExecOutput {
    t.exec(&ExecRequest::shell(line))
        .await
        .unwrap_or_else(|e| panic!("`{line}`: {e}"))
}

/// Runs a shell line that must succeed; its stdout.
pub async fn ok(t: &SshTransport, line: &str) -> String {
    let out = sh(t, line).await;
    assert!(out.success(), "`{line}`: {out:?}");
    out.stdout
}

/// Shorthand for the transport type the connector returns.
pub type Host = Arc<SshTransport>;
