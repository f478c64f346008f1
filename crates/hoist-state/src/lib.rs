//! The recorded state of a system and the stores that keep it.
//!
//! [`SystemState`] is what teardown and resume run from: the concrete resource graph (keys,
//! which are model paths, kinds, providers, recorded dependency edges, provider ids, outputs,
//! tags, idempotency tokens, generation), the task results, the run history and the last known
//! good and bad versions. It is a versioned DTO, separate from the model types, so that state
//! written by one version of hoist is read by the next ([`SCHEMA_VERSION`], [`from_json`]).
//! Secrets are never part of it.
//!
//! # Writing: a journal of changes
//!
//! Only the orchestrator's scheduler writes state, one [`Change`] (or a few, atomically) at a
//! time through [`StateStore::apply`]: the intent before every mutating cloud call, the outcome
//! after it. Each write is durable when it returns, and costs what it changes, not the size of
//! the state. [`StateStore::save`] replaces a whole state (import, tests).
//!
//! # Locking: one writer per system
//!
//! A lock with a lease and a heartbeat ([`LockGuard`]); writes made under it are *fenced* with
//! its id, so a writer whose lock was taken over cannot write any more. See [`lock`](mod@lock).
//!
//! # Stores
//!
//! | store | for | durability |
//! |---|---|---|
//! | [`SqliteStore`] | the default: one file per project, `.hoist/state.db` | WAL, `synchronous=FULL`, one transaction per write |
//! | [`PgStore`] | teams: a shared PostgreSQL database, by URL | one transaction per write |
//! | [`FileStore`] | one JSON file per system (readable, diffable) | temporary file, fsync, rename |
//! | [`MemoryStore`] | tests, one process | none |
//!
//! [`open`] picks one from a URL or a path.

mod edit;
mod file;
pub mod lock;
mod memory;
mod migrate;
mod pg;
mod record;
mod sql;
mod sqlite;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use edit::EditError;
pub use file::FileStore;
/// The identity of a cloud, recorded with each resource (defined with the provider trait).
pub use hoist_provider::CloudIdentity;
pub use lock::{
    LockAttempt, LockGuard, LockHolder, LockInfo, LockOptions, LockRequest, force_unlock, hostname,
    machine_id, pid_alive,
};
pub use memory::MemoryStore;
pub use migrate::{from_json, from_value};
pub use pg::PgStore;
pub use record::{
    Change, ResourceRecord, ResourceStatus, RunOutcome, RunRecord, SCHEMA_VERSION, SystemState,
    TaskRecord, TaskStatus, VersionRecord, deposed_key,
};
pub use sqlite::SqliteStore;

/// Where the default store lives, relative to the project directory.
pub const DEFAULT_STATE_PATH: &str = ".hoist/state.db";

/// A state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// Reading or writing failed.
    #[error("state store {location}: {message}")]
    Io {
        /// Where (a path or URL).
        location: String,
        /// What happened.
        message: String,
    },
    /// The stored state cannot be read.
    #[error("state of system `{system}` at {location} is corrupt: {message}")]
    Corrupt {
        /// System.
        system: String,
        /// Where.
        location: String,
        /// Why.
        message: String,
    },
    /// The state was written by a newer hoist.
    #[error(
        "state of system `{system}` has schema version {found}, newer than this hoist understands ({SCHEMA_VERSION}); upgrade hoist"
    )]
    TooNew {
        /// System (or the store, for a database written by a newer hoist).
        system: String,
        /// Version found.
        found: u32,
    },
    /// Another writer holds the system's lock.
    #[error(
        "system `{system}` is locked: {lock}. Wait for that run to finish (or ask to wait for the lock); if it is dead, its lease expires by itself, or remove the lock with `hoist unlock --force`"
    )]
    Locked {
        /// System.
        system: String,
        /// The lock and its holder.
        lock: Box<LockInfo>,
    },
    /// A write was fenced with a lock that is no longer held (taken over after its lease ran
    /// out, or force-unlocked).
    #[error(
        "the lock on system `{system}` was lost (its lease expired and another writer took it over, or it was force-unlocked){}; nothing was written",
        match .holder { Some(h) => format!(": now {h}"), None => String::new() }
    )]
    LockLost {
        /// System.
        system: String,
        /// Who holds the lock now, if anyone.
        holder: Option<Box<LockInfo>>,
    },
}

/// Where system states are kept.
///
/// Every write is durable when it returns. A write with a `fence` (a lock id) is refused with
/// [`StateError::LockLost`] unless that lock is still the system's lock, checked in the same
/// transaction.
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The state of `system`, or `None` if it has none.
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError>;

    /// Applies `changes` to `system`'s state atomically (creating the state if it has none).
    async fn apply(
        &self,
        system: &str,
        fence: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StateError>;

    /// Replaces the state of `state.system` as a whole.
    async fn save(&self, state: &SystemState) -> Result<(), StateError>;

    /// The systems that have state here, sorted.
    async fn systems(&self) -> Result<Vec<String>, StateError>;

    /// Takes `system`'s lock if it is free, expired, or held by `req.steal`. Prefer
    /// [`LockGuard::acquire`], which waits, heartbeats and records take-overs.
    async fn lock_try(&self, system: &str, req: &LockRequest) -> Result<LockAttempt, StateError>;

    /// Extends the lease of lock `id` to `lease` from now. False if `id` is no longer the lock.
    async fn lock_renew(&self, system: &str, id: &str, lease: Duration)
    -> Result<bool, StateError>;

    /// Removes lock `id` (nothing if it is no longer the lock).
    async fn lock_release(&self, system: &str, id: &str) -> Result<(), StateError>;

    /// The current lock, if any.
    async fn lock_info(&self, system: &str) -> Result<Option<LockInfo>, StateError>;

    /// Removes the lock, whoever holds it, returning it. Prefer [`force_unlock`], which
    /// records it.
    async fn lock_break(&self, system: &str) -> Result<Option<LockInfo>, StateError>;

    /// A description for messages (a path or URL, without a password).
    fn location(&self) -> String;
}

/// Opens a store: `postgres://…` or `postgresql://…` is a [`PgStore`] (schema `hoist`, or the
/// one named by a `hoist_schema=NAME` query parameter, which is not passed on to PostgreSQL);
/// `memory:` is a fresh [`MemoryStore`]; `json:DIR` is a [`FileStore`]; anything else is the
/// path of a [`SqliteStore`] file.
pub async fn open(url_or_path: &str) -> Result<Arc<dyn StateStore>, StateError> {
    if url_or_path.starts_with("postgres://") || url_or_path.starts_with("postgresql://") {
        let (url, schema) = pg::split_schema(url_or_path);
        return Ok(Arc::new(PgStore::connect_in(&url, &schema).await?));
    }
    if url_or_path == "memory:" {
        return Ok(Arc::new(MemoryStore::new()));
    }
    if let Some(dir) = url_or_path.strip_prefix("json:") {
        return Ok(Arc::new(FileStore::new(dir)));
    }
    let path = url_or_path.strip_prefix("sqlite:").unwrap_or(url_or_path);
    Ok(Arc::new(SqliteStore::open(path)?))
}

/// Checks that `fence` is the current lock's id (shared by the stores).
pub(crate) fn check_fence(
    system: &str,
    fence: Option<&str>,
    current: Option<&LockInfo>,
) -> Result<(), StateError> {
    match fence {
        Some(f) if current.map(|l| l.id.as_str()) != Some(f) => Err(StateError::LockLost {
            system: system.to_string(),
            holder: current.cloned().map(Box::new),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
