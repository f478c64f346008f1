//! The `hoist` command line and the state machinery across processes: crash tests (`kill -9`
//! at random moments of initiate and teardown, then teardown from state and re-initiate),
//! against the persistent simulated cloud and against moto; the `aws_web` example killed and
//! torn down by `hoist down`; Ctrl-C during `hoist down`; lock contention between processes on SQLite and PostgreSQL
//! (waiting, lease expiry and take-over, forced unlock); export and import; the secrets canary.
//!
//! PostgreSQL tests read `HOIST_TEST_PG_URL` (set by `scripts/test`, which starts a cluster
//! with `scripts/postgres`), moto tests `HOIST_TEST_MOTO_URL` (`scripts/moto`); without them
//! they are skipped with a message, except under `CI=true`, where that is a failure.

mod aws_web;
mod common;
mod crash;
mod export;
mod identity;
mod interrupt;
mod locks;
mod readme;
mod secrets;
