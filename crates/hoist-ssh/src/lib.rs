//! The SSH transport of hoist: [`SshConnector`] (a [`hoist_exec::Connector`]) opens
//! [`SshTransport`]s (a [`hoist_exec::Transport`]) to hosts reached by address, with
//! [`russh`] and [`russh_sftp`] (pure Rust, async, no `ssh` processes).
//!
//! # Design
//!
//! **One connection per host, reused.** The connector caches one authenticated connection
//! per (address, port, login user, jump host). Every transport and every task for that host
//! shares it: a command is an *exec channel* on that connection, file operations go through
//! one *SFTP channel* per connection (opened on first use). Concurrent first connects to the
//! same host wait for one handshake instead of making several. A connection that ended
//! (closed by the server, keepalive timeout) is replaced on next use.
//! [`SshConnector::connections_opened`] counts handshakes.
//!
//! **Channel cap.** Channels are multiplexed on the connection, but OpenSSH refuses more than
//! `MaxSessions` (default 10) session channels per connection. A semaphore per connection caps
//! the channels open at once ([`SshConnectorBuilder::max_channels`], default 8; the SFTP
//! channel holds one permit while open); more commands wait for a free channel. The time
//! limit of a command starts when it has its channel.
//!
//! **Bounded connecting.** A global semaphore limits handshakes in progress
//! ([`SshConnectorBuilder::max_handshakes`], default 32, so a fan-out to hundreds of hosts does
//! not trip sshd's `MaxStartups`). Each attempt (TCP, handshake, host key, authentication) has
//! a time limit ([`SshConnectorBuilder::connect_timeout`], default 10 s); transient failures
//! (refused, reset, timed out) are retried a bounded number of times within a bounded time,
//! after randomised exponential pauses ([`SshConnectorBuilder::connect_retries`]). Keepalives
//! detect hosts that stop answering on an open connection.
//!
//! **Host keys are always verified** ([`known_hosts`]): against an OpenSSH `known_hosts` file
//! (plain, wildcard and hashed `|1|salt|hash` entries; `[host]:port` for ports other than 22;
//! `@revoked`). A key other than the recorded one — of any type — aborts the connection with
//! an error naming the host, the file and line and both SHA256 fingerprints. A host not in the
//! file is an error naming it and the offered fingerprint, unless trust-on-first-use is
//! enabled ([`SshConnectorBuilder::trust_on_first_use`]), which records the key in the file.
//! There is no "accept any key" mode.
//!
//! **Authentication**: key files (ed25519, ECDSA, RSA with SHA-2 signatures; encrypted keys
//! with a passphrase), then the ssh-agent at `$SSH_AUTH_SOCK`, then a password; the target's
//! [`hoist_core::Credentials`] (user, key file, password) override the connector's defaults.
//! Secrets are [`hoist_core::Secret`]s and are never logged.
//!
//! **Jump hosts** (`HostTarget::jump = "[user@]host[:port]"`): the target's connection runs
//! inside a `direct-tcpip` channel of the jump host's (cached, shared) connection; the target's
//! host key is verified as the target's.
//!
//! **Commands**: [`hoist_exec::request_to_shell`] turns a request into one command line
//! (working directory, environment — sshd usually refuses `setenv` — and the quoted program),
//! run with an exec request; stdin is fed then closed; stdout and stderr are kept apart; the
//! exit code comes from `exit-status`, a signal from `exit-signal`. When the time limit
//! expires the program is sent `KILL`, the channel closed, and
//! [`hoist_exec::TransportError::Timeout`] returned.
//!
//! **Files**: `put_file` writes a temporary sibling over SFTP, sets the exact mode and renames
//! it over the destination (`posix-rename@openssh.com`); `mkdir_all`, `exists`, `is_dir` and
//! `remove_file` are SFTP `mkdir`/`stat`/`remove`.
//!
//! Privilege escalation (`sudo`) is not the transport's business: `hoist_exec::run_action`
//! wraps any transport in a [`hoist_exec::BecomeTransport`] for tasks with a become user.
//!
//! Tracing: spans `ssh_connect` (host, user, jump), `ssh_exec` and `ssh_put_file` (host);
//! command lines, passwords and passphrases are never recorded.

mod conn;
mod connector;
mod error;
pub mod known_hosts;
mod transport;

pub use connector::{SshConnector, SshConnectorBuilder};
pub use error::SshError;
pub use known_hosts::{HostKeyStatus, KnownHosts};
pub use transport::SshTransport;
