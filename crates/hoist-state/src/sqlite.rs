//! [`SqliteStore`]: the embedded default, one SQLite file per project.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension as _, TransactionBehavior, params};

use crate::lock::{Decision, decide, local_now};
use crate::sql::{ResourceRow, RunRow, TaskRow, corrupt, i, u, version_parse, version_text};
use crate::{
    Change, LockAttempt, LockHolder, LockInfo, LockRequest, SCHEMA_VERSION, StateError, StateStore,
    SystemState, check_fence,
};

/// The schema, one script per version: script `n` takes a database from version `n` to
/// `n + 1` (`PRAGMA user_version`).
const MIGRATIONS: [&str; 5] = [
    // 1: the tables of schema 1.
    "CREATE TABLE systems (
        name TEXT PRIMARY KEY,
        generation INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE resources (
        system TEXT NOT NULL,
        key TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        provider TEXT NOT NULL,
        deps TEXT NOT NULL,
        status TEXT NOT NULL,
        token TEXT NOT NULL,
        provider_id TEXT,
        outputs TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (system, key)
    );
    CREATE TABLE tasks (
        system TEXT NOT NULL,
        key TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        host TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (system, key)
    );
    CREATE TABLE runs (
        system TEXT NOT NULL,
        seq INTEGER NOT NULL,
        action TEXT NOT NULL,
        started INTEGER NOT NULL,
        finished INTEGER NOT NULL,
        success INTEGER NOT NULL,
        by_ TEXT NOT NULL,
        PRIMARY KEY (system, seq)
    );
    CREATE TABLE locks (
        system TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        who TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        action TEXT NOT NULL,
        acquired_ms INTEGER NOT NULL,
        renewed_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );",
    // 2: resource tags and generation, runs with ids and outcomes, lkg/lkb.
    "ALTER TABLE systems ADD COLUMN lkg TEXT;
    ALTER TABLE systems ADD COLUMN lkb TEXT;
    ALTER TABLE resources ADD COLUMN tags TEXT NOT NULL DEFAULT '{}';
    ALTER TABLE resources ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
    UPDATE resources SET
        generation = CASE WHEN instr(token, '-g') > 0
            THEN CAST(substr(token, instr(token, '-g') + 2) AS INTEGER)
            ELSE (SELECT generation FROM systems WHERE name = resources.system) END,
        tags = json_object('hoist:system', system, 'hoist:resource', key, 'hoist:token', token);
    CREATE TABLE runs2 (
        system TEXT NOT NULL,
        id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        action TEXT NOT NULL,
        started INTEGER NOT NULL,
        finished INTEGER,
        outcome TEXT NOT NULL,
        by_ TEXT NOT NULL,
        detail TEXT,
        PRIMARY KEY (system, id)
    );
    INSERT INTO runs2 SELECT system, 'v1-' || (seq - 1), seq, action, started, finished,
        CASE WHEN success THEN 'succeeded' ELSE 'failed' END, by_, NULL FROM runs;
    DROP TABLE runs;
    ALTER TABLE runs2 RENAME TO runs;
    CREATE UNIQUE INDEX runs_seq ON runs (system, seq);
    ALTER TABLE locks ADD COLUMN machine TEXT NOT NULL DEFAULT '';",
    // 3: the identity of the cloud each resource was made in (JSON; NULL: unknown).
    "ALTER TABLE resources ADD COLUMN identity TEXT;",
    // 4: what day 2 compares and protects (see `SCHEMA_VERSION`).
    "ALTER TABLE resources ADD COLUMN spec TEXT;
    ALTER TABLE resources ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE resources ADD COLUMN protect INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE resources ADD COLUMN deposed_of TEXT;",
    // 5: the spec of an update whose outcome is unknown (JSON; NULL: none), task fingerprints.
    "ALTER TABLE resources ADD COLUMN updating TEXT;
    ALTER TABLE tasks ADD COLUMN fingerprint TEXT;",
];

/// The embedded default store: every system of a project in one SQLite file (by default
/// [`DEFAULT_STATE_PATH`](crate::DEFAULT_STATE_PATH), `.hoist/state.db`), through `rusqlite`
/// with SQLite bundled: nothing to install or set up.
///
/// Durable across `kill -9` (and power loss) at any instant: WAL journal,
/// `synchronous=FULL`, and one `BEGIN IMMEDIATE` transaction per write, so a write is either
/// wholly there or not at all. Several processes may use one file; writers take turns (busy
/// timeout 30 s). The schema is created on first use and migrated from older versions.
#[derive(Clone)]
pub struct SqliteStore {
    path: PathBuf,
    conn: Arc<Mutex<Connection>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn io(path: &Path, e: impl std::fmt::Display) -> StateError {
    StateError::Io {
        location: path.display().to_string(),
        message: e.to_string(),
    }
}

impl SqliteStore {
    /// Opens (creating it, and its directory, if needed) the store at `path`, migrating its
    /// schema to the current version. Refuses a file written by a newer hoist.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StateError> {
        Self::open_at_schema(path, SCHEMA_VERSION)
    }

    /// Opens `.hoist/state.db` in the current directory.
    pub fn open_default() -> Result<SqliteStore, StateError> {
        Self::open(crate::DEFAULT_STATE_PATH)
    }

    /// Opens the store migrating it only up to schema `version` (tests of migrations: makes a
    /// database as an older hoist did). Such a store can only be used through [`Self::with`].
    #[doc(hidden)]
    pub fn open_at_schema(path: impl AsRef<Path>, version: u32) -> Result<SqliteStore, StateError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let mut conn = Connection::open(&path).map_err(|e| io(&path, e))?;
        conn.busy_timeout(Duration::from_secs(30))
            .map_err(|e| io(&path, e))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| io(&path, e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(io(
                &path,
                format!("cannot switch to WAL journal mode (got {mode})"),
            ));
        }
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| io(&path, e))?;
        migrate(&mut conn, version).map_err(|e| match e {
            MigrateError::TooNew(found) => StateError::TooNew {
                system: format!("(every system in {})", path.display()),
                found,
            },
            MigrateError::Sql(e) => io(&path, format!("cannot create or migrate the schema: {e}")),
        })?;
        Ok(SqliteStore {
            path,
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the connection, on a blocking thread (tests and tools: raw SQL).
    #[doc(hidden)]
    pub async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StateError> + Send + 'static,
    ) -> Result<T, StateError> {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || f(&mut lock(&conn)))
            .await
            .map_err(|e| io(&self.path, e))?
    }

    fn loc(&self) -> String {
        self.path.display().to_string()
    }
}

fn lock(c: &Mutex<Connection>) -> MutexGuard<'_, Connection> {
    c.lock().unwrap_or_else(PoisonError::into_inner)
}

enum MigrateError {
    TooNew(u32),
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for MigrateError {
    fn from(e: rusqlite::Error) -> Self {
        MigrateError::Sql(e)
    }
}

fn migrate(conn: &mut Connection, target: u32) -> Result<(), MigrateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(MigrateError::TooNew(found));
    }
    for v in found..target {
        tx.execute_batch(MIGRATIONS[v as usize])?;
        tracing::debug!(to = v + 1, "state schema migrated");
    }
    if target > found {
        tx.pragma_update(None, "user_version", target)?;
    }
    tx.commit()?;
    Ok(())
}

type Tx<'a> = rusqlite::Transaction<'a>;

fn read_lock(tx: &Tx<'_>, system: &str) -> rusqlite::Result<Option<LockInfo>> {
    tx.query_row(
        "SELECT id, who, host, pid, action, acquired_ms, renewed_ms, expires_ms, machine
         FROM locks WHERE system = ?1",
        [system],
        |r| {
            Ok(LockInfo {
                id: r.get(0)?,
                holder: LockHolder {
                    who: r.get(1)?,
                    host: r.get(2)?,
                    pid: r.get(3)?,
                    action: r.get(4)?,
                    machine: r.get(8)?,
                },
                acquired_ms: u(r.get(5)?),
                renewed_ms: u(r.get(6)?),
                expires_ms: u(r.get(7)?),
                now_ms: local_now(),
            })
        },
    )
    .optional()
}

fn write_change(tx: &Tx<'_>, system: &str, c: &Change) -> rusqlite::Result<()> {
    match c {
        Change::PutResource(r) => {
            let r = ResourceRow::from_record(r);
            tx.execute(
                "INSERT OR REPLACE INTO resources (system, key, name, kind, provider, deps, status,
                    token, provider_id, outputs, error, tags, generation, identity, spec,
                    incarnation, protect, deposed_of, updating)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                    ?17, ?18, ?19)",
                params![
                    system,
                    r.key,
                    r.name,
                    r.kind,
                    r.provider,
                    r.deps,
                    r.status,
                    r.token,
                    r.provider_id,
                    r.outputs,
                    r.error,
                    r.tags,
                    r.generation,
                    r.identity,
                    r.spec,
                    r.incarnation,
                    r.protect,
                    r.deposed_of,
                    r.updating
                ],
            )?;
        }
        Change::RemoveResource(k) => {
            tx.execute(
                "DELETE FROM resources WHERE system = ?1 AND key = ?2",
                params![system, k],
            )?;
        }
        Change::PutTask(t) => {
            let t = TaskRow::from_record(t);
            tx.execute(
                "INSERT OR REPLACE INTO tasks (system, key, status, attempts, host, error,
                    fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    system,
                    t.key,
                    t.status,
                    t.attempts,
                    t.host,
                    t.error,
                    t.fingerprint
                ],
            )?;
        }
        Change::RemoveTask(k) => {
            tx.execute(
                "DELETE FROM tasks WHERE system = ?1 AND key = ?2",
                params![system, k],
            )?;
        }
        Change::ClearTasks => {
            tx.execute("DELETE FROM tasks WHERE system = ?1", [system])?;
        }
        Change::SetGeneration(g) => {
            tx.execute(
                "UPDATE systems SET generation = ?2 WHERE name = ?1",
                params![system, i(*g)],
            )?;
        }
        Change::SetLastKnownGood(v) => {
            tx.execute(
                "UPDATE systems SET lkg = ?2 WHERE name = ?1",
                params![system, version_text(v.as_ref())],
            )?;
        }
        Change::SetLastKnownBad(v) => {
            tx.execute(
                "UPDATE systems SET lkb = ?2 WHERE name = ?1",
                params![system, version_text(v.as_ref())],
            )?;
        }
        Change::PutRun(r) => {
            let r = RunRow::from_record(r);
            tx.execute(
                "INSERT INTO runs (system, id, seq, action, started, finished, outcome, by_, detail)
                 VALUES (?1, ?2, (SELECT COALESCE(MAX(seq), 0) + 1 FROM runs WHERE system = ?1),
                         ?3, ?4, ?5, ?6, ?7, ?8)
                 ON CONFLICT (system, id) DO UPDATE SET action = excluded.action,
                    started = excluded.started, finished = excluded.finished,
                    outcome = excluded.outcome, by_ = excluded.by_, detail = excluded.detail",
                params![system, r.id, r.action, r.started, r.finished, r.outcome, r.by, r.detail],
            )?;
        }
    }
    Ok(())
}

fn ensure_system(tx: &Tx<'_>, system: &str) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO systems (name, generation) VALUES (?1, 0)",
        [system],
    )?;
    Ok(())
}

fn load(tx: &Tx<'_>, system: &str, loc: &str) -> Result<Option<SystemState>, StateError> {
    let sql = |e: rusqlite::Error| corrupt(system, loc, e);
    let bad = |e: String| corrupt(system, loc, e);
    let Some((generation, lkg, lkb)) = tx
        .query_row(
            "SELECT generation, lkg, lkb FROM systems WHERE name = ?1",
            [system],
            |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            },
        )
        .optional()
        .map_err(sql)?
    else {
        return Ok(None);
    };
    let mut s = SystemState::new(system);
    s.generation = u(generation);
    s.lkg = version_parse(lkg).map_err(bad)?;
    s.lkb = version_parse(lkb).map_err(bad)?;
    let mut st = tx
        .prepare(
            "SELECT key, name, kind, provider, deps, status, token, provider_id, outputs, error,
                tags, generation, identity, spec, incarnation, protect, deposed_of, updating
                FROM resources WHERE system = ?1 ORDER BY key",
        )
        .map_err(sql)?;
    let rows = st
        .query_map([system], |r| {
            Ok(ResourceRow {
                key: r.get(0)?,
                name: r.get(1)?,
                kind: r.get(2)?,
                provider: r.get(3)?,
                deps: r.get(4)?,
                status: r.get(5)?,
                token: r.get(6)?,
                provider_id: r.get(7)?,
                outputs: r.get(8)?,
                error: r.get(9)?,
                tags: r.get(10)?,
                generation: r.get(11)?,
                identity: r.get(12)?,
                spec: r.get(13)?,
                incarnation: r.get(14)?,
                protect: r.get(15)?,
                deposed_of: r.get(16)?,
                updating: r.get(17)?,
            })
        })
        .map_err(sql)?;
    for row in rows {
        let rec = row.map_err(sql)?.into_record().map_err(bad)?;
        s.resources.insert(rec.key.clone(), rec);
    }
    let mut st = tx
        .prepare(
            "SELECT key, status, attempts, host, error, fingerprint FROM tasks WHERE system = ?1
                ORDER BY key",
        )
        .map_err(sql)?;
    let rows = st
        .query_map([system], |r| {
            Ok(TaskRow {
                key: r.get(0)?,
                status: r.get(1)?,
                attempts: r.get(2)?,
                host: r.get(3)?,
                error: r.get(4)?,
                fingerprint: r.get(5)?,
            })
        })
        .map_err(sql)?;
    for row in rows {
        let rec = row.map_err(sql)?.into_record().map_err(bad)?;
        s.tasks.insert(rec.key.clone(), rec);
    }
    let mut st = tx
        .prepare(
            "SELECT id, action, started, finished, outcome, by_, detail FROM runs
             WHERE system = ?1 ORDER BY seq",
        )
        .map_err(sql)?;
    let rows = st
        .query_map([system], |r| {
            Ok(RunRow {
                id: r.get(0)?,
                action: r.get(1)?,
                started: r.get(2)?,
                finished: r.get(3)?,
                outcome: r.get(4)?,
                by: r.get(5)?,
                detail: r.get(6)?,
            })
        })
        .map_err(sql)?;
    for row in rows {
        s.runs.push(row.map_err(sql)?.into_record().map_err(bad)?);
    }
    Ok(Some(s))
}

#[async_trait]
impl StateStore for SqliteStore {
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        let (system, loc) = (system.to_string(), self.loc());
        self.with(move |c| {
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(|e| corrupt(&system, &loc, e))?;
            load(&tx, &system, &loc)
        })
        .await
    }

    async fn apply(
        &self,
        system: &str,
        fence: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StateError> {
        let (system, fence, changes, path) = (
            system.to_string(),
            fence.map(str::to_string),
            changes.to_vec(),
            self.path.clone(),
        );
        self.with(move |c| {
            let e = |e: rusqlite::Error| io(&path, e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            check_fence(
                &system,
                fence.as_deref(),
                read_lock(&tx, &system).map_err(e)?.as_ref(),
            )?;
            ensure_system(&tx, &system).map_err(e)?;
            for ch in &changes {
                write_change(&tx, &system, ch).map_err(e)?;
            }
            tx.commit().map_err(e)
        })
        .await
    }

    async fn save(&self, state: &SystemState) -> Result<(), StateError> {
        let (state, path) = (state.clone(), self.path.clone());
        self.with(move |c| {
            let e = |e: rusqlite::Error| io(&path, e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let s = state.system.as_str();
            for t in ["resources", "tasks", "runs"] {
                tx.execute(&format!("DELETE FROM {t} WHERE system = ?1"), [s])
                    .map_err(e)?;
            }
            ensure_system(&tx, s).map_err(e)?;
            let mut changes = vec![
                Change::SetGeneration(state.generation),
                Change::SetLastKnownGood(state.lkg.clone()),
                Change::SetLastKnownBad(state.lkb.clone()),
            ];
            changes.extend(state.resources.values().cloned().map(Change::PutResource));
            changes.extend(state.tasks.values().cloned().map(Change::PutTask));
            changes.extend(state.runs.iter().cloned().map(Change::PutRun));
            for ch in &changes {
                write_change(&tx, s, ch).map_err(e)?;
            }
            tx.commit().map_err(e)
        })
        .await
    }

    async fn systems(&self) -> Result<Vec<String>, StateError> {
        let path = self.path.clone();
        self.with(move |c| {
            let e = |e: rusqlite::Error| io(&path, e);
            let mut st = c
                .prepare("SELECT name FROM systems ORDER BY name")
                .map_err(e)?;
            let names = st.query_map([], |r| r.get::<_, String>(0)).map_err(e)?;
            names.collect::<Result<Vec<_>, _>>().map_err(e)
        })
        .await
    }

    async fn lock_try(&self, system: &str, req: &LockRequest) -> Result<LockAttempt, StateError> {
        let (system, req, path) = (system.to_string(), req.clone(), self.path.clone());
        self.with(move |c| {
            let e = |e: rusqlite::Error| io(&path, e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let cur = read_lock(&tx, &system).map_err(e)?;
            let out = match decide(cur, &req, local_now()) {
                Decision::Take { new, replaced } => {
                    tx.execute(
                        "INSERT OR REPLACE INTO locks (system, id, who, host, pid, action,
                            acquired_ms, renewed_ms, expires_ms, machine)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            system,
                            new.id,
                            new.holder.who,
                            new.holder.host,
                            new.holder.pid,
                            new.holder.action,
                            i(new.acquired_ms),
                            i(new.renewed_ms),
                            i(new.expires_ms),
                            new.holder.machine
                        ],
                    )
                    .map_err(e)?;
                    LockAttempt::Acquired {
                        id: new.id,
                        replaced,
                    }
                }
                Decision::Held(held) => LockAttempt::Held(held),
            };
            tx.commit().map_err(e)?;
            Ok(out)
        })
        .await
    }

    async fn lock_renew(
        &self,
        system: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, StateError> {
        let (system, id, path) = (system.to_string(), id.to_string(), self.path.clone());
        self.with(move |c| {
            let now = local_now();
            let until = now.saturating_add(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
            let n = c
                .execute(
                    "UPDATE locks SET renewed_ms = ?3, expires_ms = ?4 WHERE system = ?1 AND id = ?2",
                    params![system, id, i(now), i(until)],
                )
                .map_err(|e| io(&path, e))?;
            Ok(n == 1)
        })
        .await
    }

    async fn lock_release(&self, system: &str, id: &str) -> Result<(), StateError> {
        let (system, id, path) = (system.to_string(), id.to_string(), self.path.clone());
        self.with(move |c| {
            c.execute(
                "DELETE FROM locks WHERE system = ?1 AND id = ?2",
                params![system, id],
            )
            .map_err(|e| io(&path, e))?;
            Ok(())
        })
        .await
    }

    async fn lock_info(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let (system, path) = (system.to_string(), self.path.clone());
        self.with(move |c| {
            let e = |e: rusqlite::Error| io(&path, e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(e)?;
            read_lock(&tx, &system).map_err(e)
        })
        .await
    }

    async fn lock_break(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let (system, path) = (system.to_string(), self.path.clone());
        self.with(move |c| {
            let e = |e: rusqlite::Error| io(&path, e);
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(e)?;
            let cur = read_lock(&tx, &system).map_err(e)?;
            tx.execute("DELETE FROM locks WHERE system = ?1", [&system])
                .map_err(e)?;
            tx.commit().map_err(e)?;
            Ok(cur)
        })
        .await
    }

    fn location(&self) -> String {
        self.loc()
    }
}
