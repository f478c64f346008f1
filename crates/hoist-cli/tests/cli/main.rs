//! The `hoist` command line and the state machinery across processes, against the persistent
//! simulated cloud: crash tests (`kill -9` at random moments of initiate and teardown, then
//! teardown from state and re-initiate), lock contention between processes on SQLite and
//! PostgreSQL (waiting, lease expiry and take-over, forced unlock), export and import, and the
//! secrets canary.
//!
//! PostgreSQL tests read `HOIST_TEST_PG_URL` (set by `scripts/test`, which starts a cluster
//! with `scripts/postgres`); without it they are skipped with a message, except under
//! `CI=true`, where that is a failure.

mod common;
mod crash;
mod export;
mod locks;
mod secrets;
