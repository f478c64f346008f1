//! [`PgStore`]: the shared store for teams, in a PostgreSQL database.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Mutex, MutexGuard};
use tokio_postgres::{Client, NoTls, Transaction};

use crate::lock::{Decision, decide};
use crate::sql::{ResourceRow, RunRow, TaskRow, corrupt, i, u, version_parse, version_text};
use crate::{
    Change, LockAttempt, LockHolder, LockInfo, LockRequest, SCHEMA_VERSION, StateError, StateStore,
    SystemState, check_fence,
};

/// The default PostgreSQL schema the tables live in.
pub const DEFAULT_SCHEMA: &str = "hoist";

/// The schema, one script per version (`{s}` is the PostgreSQL schema): script `n` takes the
/// tables from version `n` to `n + 1` (recorded in `{s}.schema_version`).
const MIGRATIONS: [&str; 5] = [
    "CREATE TABLE {s}.systems (
        name TEXT PRIMARY KEY,
        generation BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE {s}.resources (
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
    CREATE TABLE {s}.tasks (
        system TEXT NOT NULL,
        key TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts BIGINT NOT NULL,
        host TEXT NOT NULL,
        error TEXT,
        PRIMARY KEY (system, key)
    );
    CREATE TABLE {s}.runs (
        system TEXT NOT NULL,
        seq BIGINT NOT NULL,
        action TEXT NOT NULL,
        started BIGINT NOT NULL,
        finished BIGINT NOT NULL,
        success BOOLEAN NOT NULL,
        by_ TEXT NOT NULL,
        PRIMARY KEY (system, seq)
    );
    CREATE TABLE {s}.locks (
        system TEXT PRIMARY KEY,
        id TEXT NOT NULL,
        who TEXT NOT NULL,
        host TEXT NOT NULL,
        pid BIGINT NOT NULL,
        action TEXT NOT NULL,
        acquired_ms BIGINT NOT NULL,
        renewed_ms BIGINT NOT NULL,
        expires_ms BIGINT NOT NULL
    );",
    "ALTER TABLE {s}.systems ADD COLUMN lkg TEXT, ADD COLUMN lkb TEXT;
    ALTER TABLE {s}.resources ADD COLUMN tags TEXT NOT NULL DEFAULT '{}',
        ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
    UPDATE {s}.resources r SET
        generation = COALESCE(substring(r.token from '-g([0-9]+)$')::bigint,
            (SELECT generation FROM {s}.systems WHERE name = r.system), 0),
        tags = jsonb_build_object('hoist:system', r.system, 'hoist:resource', r.key,
            'hoist:token', r.token)::text;
    CREATE TABLE {s}.runs2 (
        system TEXT NOT NULL,
        id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        action TEXT NOT NULL,
        started BIGINT NOT NULL,
        finished BIGINT,
        outcome TEXT NOT NULL,
        by_ TEXT NOT NULL,
        detail TEXT,
        PRIMARY KEY (system, id)
    );
    INSERT INTO {s}.runs2 SELECT system, 'v1-' || (seq - 1), seq, action, started, finished,
        CASE WHEN success THEN 'succeeded' ELSE 'failed' END, by_, NULL FROM {s}.runs;
    DROP TABLE {s}.runs;
    ALTER TABLE {s}.runs2 RENAME TO runs;
    CREATE UNIQUE INDEX ON {s}.runs (system, seq);
    ALTER TABLE {s}.locks ADD COLUMN machine TEXT NOT NULL DEFAULT '';",
    "ALTER TABLE {s}.resources ADD COLUMN identity TEXT;",
    "ALTER TABLE {s}.resources ADD COLUMN spec TEXT;
    ALTER TABLE {s}.resources ADD COLUMN incarnation BIGINT NOT NULL DEFAULT 0;
    ALTER TABLE {s}.resources ADD COLUMN protect BOOLEAN NOT NULL DEFAULT FALSE;
    ALTER TABLE {s}.resources ADD COLUMN deposed_of TEXT;",
    "ALTER TABLE {s}.resources ADD COLUMN updating TEXT;
    ALTER TABLE {s}.tasks ADD COLUMN fingerprint TEXT;",
];

/// The tables, for [`PgStore::dump`].
const TABLES: [&str; 5] = ["systems", "resources", "tasks", "runs", "locks"];

/// The shared store: every system's state in a PostgreSQL database, reached by URL
/// (`postgres://user:password@127.0.0.1:5432/db`) with `tokio-postgres`, without TLS (for a
/// database on this machine or a trusted network).
///
/// Tables live in one PostgreSQL schema (`hoist` unless told otherwise), created on first use
/// and migrated from older versions under an advisory lock, so concurrent first uses are safe.
/// Every write is one transaction. Lock times are the server's clock, so writers on machines
/// whose clocks disagree still agree on leases.
#[derive(Clone)]
pub struct PgStore {
    client: Arc<Mutex<Client>>,
    /// To reconnect when the connection drops (it holds the password: never printed).
    url: String,
    schema: String,
    location: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish()
    }
}

/// Splits a `hoist_schema=NAME` query parameter off a URL: the URL without it, and the schema
/// ([`DEFAULT_SCHEMA`] if absent).
pub(crate) fn split_schema(url: &str) -> (String, String) {
    let Some((base, query)) = url.split_once('?') else {
        return (url.to_string(), DEFAULT_SCHEMA.to_string());
    };
    let mut schema = DEFAULT_SCHEMA.to_string();
    let rest: Vec<&str> = query
        .split('&')
        .filter(|kv| match kv.strip_prefix("hoist_schema=") {
            Some(s) => {
                schema = s.to_string();
                false
            }
            None => !kv.is_empty(),
        })
        .collect();
    let url = if rest.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", rest.join("&"))
    };
    (url, schema)
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "postgres://…".into();
    };
    let (auth, host) = match rest.split_once('@') {
        Some((a, h)) => (Some(a), h),
        None => (None, rest),
    };
    let auth = auth.map(|a| match a.split_once(':') {
        Some((user, _)) => format!("{user}:***@"),
        None => format!("{a}@"),
    });
    let host = host.split('?').next().unwrap_or(host);
    format!("{scheme}://{}{host}", auth.unwrap_or_default())
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A stable 64-bit key for advisory locks.
fn key(parts: &[&str]) -> i64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parts.iter().flat_map(|p| p.bytes().chain([0])) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_ne_bytes(h.to_ne_bytes())
}

const NOW_MS: &str = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/// Opens a connection and drives it on a task of its own.
async fn open(url: &str, location: &str) -> Result<Client, String> {
    let (client, conn) =
        tokio::time::timeout(Duration::from_secs(10), tokio_postgres::connect(url, NoTls))
            .await
            .map_err(|_| "cannot connect: timed out after 10 s".to_string())?
            .map_err(|e| format!("cannot connect: {e}"))?;
    let loc = location.to_string();
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::warn!(store = %loc, error = %e, "state database connection ended");
        }
    });
    Ok(client)
}

impl PgStore {
    /// Connects to `url` and uses the tables in schema `hoist`, creating or migrating them.
    pub async fn connect(url: &str) -> Result<PgStore, StateError> {
        Self::connect_in(url, DEFAULT_SCHEMA).await
    }

    /// Connects to `url` and uses the tables in schema `schema` (lower-case letters, digits and
    /// `_`), creating or migrating them.
    pub async fn connect_in(url: &str, schema: &str) -> Result<PgStore, StateError> {
        Self::connect_at_schema(url, schema, SCHEMA_VERSION).await
    }

    /// Connects migrating only up to `version` (tests of migrations; 0: connect only).
    #[doc(hidden)]
    pub async fn connect_at_schema(
        url: &str,
        schema: &str,
        version: u32,
    ) -> Result<PgStore, StateError> {
        let location = format!("{} (schema {schema})", redact(url));
        let err = |m: String| StateError::Io {
            location: location.clone(),
            message: m,
        };
        if !valid_schema(schema) {
            return Err(err(format!(
                "bad schema name {schema:?}: use lower-case letters, digits and `_`"
            )));
        }
        let client = open(url, &location).await.map_err(err)?;
        let store = PgStore {
            client: Arc::new(Mutex::new(client)),
            url: url.to_string(),
            schema: schema.to_string(),
            location,
        };
        store.migrate(version).await?;
        Ok(store)
    }

    /// The connection, reconnected first if it dropped (a restarted server, a network cut, an
    /// idle timeout): up to 4 attempts over about 3 seconds.
    async fn client(&self) -> Result<MutexGuard<'_, Client>, StateError> {
        let mut c = self.client.lock().await;
        if !c.is_closed() {
            return Ok(c);
        }
        let mut last = String::new();
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            match open(&self.url, &self.location).await {
                Ok(new) => {
                    tracing::warn!(store = %self.location, "reconnected to the state database");
                    *c = new;
                    return Ok(c);
                }
                Err(e) => last = e,
            }
        }
        Err(self.io(format!(
            "the connection to the state database dropped, and reconnecting failed: {last}"
        )))
    }

    /// One fenced write of `changes`, in one transaction.
    async fn apply_in(
        &self,
        c: &mut Client,
        system: &str,
        fence: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StateError> {
        let tx = c.transaction().await.map_err(|e| self.io(e))?;
        if fence.is_some() {
            // FOR SHARE: a take-over (which updates this row) waits for this write to commit.
            let cur = self.read_lock(&tx, system, "FOR SHARE").await?;
            check_fence(system, fence, cur.as_ref())?;
        }
        self.ensure_system(&tx, system).await?;
        for ch in changes {
            self.write_change(&tx, system, ch)
                .await
                .map_err(|e| self.io(e))?;
        }
        tx.commit().await.map_err(|e| self.io(e))
    }

    fn sql(&self, text: &str) -> String {
        text.replace("{s}", &self.schema)
    }

    fn io(&self, e: impl std::fmt::Display) -> StateError {
        StateError::Io {
            location: self.location.clone(),
            message: e.to_string(),
        }
    }

    async fn migrate(&self, target: u32) -> Result<(), StateError> {
        if target == 0 {
            // Connect only (tests: drop a schema whatever its version).
            return Ok(());
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.io(e))?;
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&key(&["hoist-schema", &self.schema])],
        )
        .await
        .map_err(|e| self.io(e))?;
        tx.batch_execute(&self.sql(
            "CREATE SCHEMA IF NOT EXISTS {s};
             CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER NOT NULL);",
        ))
        .await
        .map_err(|e| self.io(e))?;
        let row = tx
            .query_opt(&self.sql("SELECT version FROM {s}.schema_version"), &[])
            .await
            .map_err(|e| self.io(e))?;
        let found = match row {
            Some(r) => u32::try_from(r.get::<_, i32>(0)).unwrap_or(0),
            None => {
                tx.execute(&self.sql("INSERT INTO {s}.schema_version VALUES (0)"), &[])
                    .await
                    .map_err(|e| self.io(e))?;
                0
            }
        };
        if found > SCHEMA_VERSION {
            return Err(StateError::TooNew {
                system: format!("(every system in {})", self.location),
                found,
            });
        }
        for v in found..target {
            tx.batch_execute(&self.sql(MIGRATIONS[v as usize]))
                .await
                .map_err(|e| self.io(format!("cannot migrate the schema to {}: {e}", v + 1)))?;
        }
        if target > found {
            let t = i32::try_from(target).unwrap_or(i32::MAX);
            tx.execute(
                &self.sql("UPDATE {s}.schema_version SET version = $1"),
                &[&t],
            )
            .await
            .map_err(|e| self.io(e))?;
        }
        tx.commit().await.map_err(|e| self.io(e))
    }

    /// The PostgreSQL schema the tables are in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Every row of every table, as PostgreSQL's text form of the row (tests: proves what is
    /// and is not stored).
    #[doc(hidden)]
    pub async fn dump(&self) -> Result<Vec<String>, StateError> {
        let c = self.client().await?;
        let mut out = Vec::new();
        for t in TABLES {
            let rows = c
                .query(&self.sql(&format!("SELECT t::text FROM {{s}}.{t} t")), &[])
                .await
                .map_err(|e| self.io(e))?;
            out.extend(
                rows.iter()
                    .map(|r| format!("{t}: {}", r.get::<_, String>(0))),
            );
        }
        Ok(out)
    }

    /// Runs one SQL batch (tests: make an old-schema database, drop a test schema).
    #[doc(hidden)]
    pub async fn batch(&self, sql: &str) -> Result<(), StateError> {
        let c = self.client().await?;
        c.batch_execute(&self.sql(sql))
            .await
            .map_err(|e| self.io(e))
    }

    async fn read_lock(
        &self,
        tx: &Transaction<'_>,
        system: &str,
        for_: &str,
    ) -> Result<Option<LockInfo>, StateError> {
        let row = tx
            .query_opt(
                &self.sql(&format!(
                    "SELECT id, who, host, pid, action, acquired_ms, renewed_ms, expires_ms, {NOW_MS},
                        machine
                     FROM {{s}}.locks WHERE system = $1 {for_}"
                )),
                &[&system],
            )
            .await
            .map_err(|e| self.io(e))?;
        Ok(row.map(|r| LockInfo {
            id: r.get(0),
            holder: LockHolder {
                who: r.get(1),
                host: r.get(2),
                pid: u32::try_from(r.get::<_, i64>(3)).unwrap_or(0),
                action: r.get(4),
                machine: r.get(9),
            },
            acquired_ms: u(r.get(5)),
            renewed_ms: u(r.get(6)),
            expires_ms: u(r.get(7)),
            now_ms: u(r.get(8)),
        }))
    }

    async fn write_change(
        &self,
        tx: &Transaction<'_>,
        system: &str,
        c: &Change,
    ) -> Result<(), tokio_postgres::Error> {
        match c {
            Change::PutResource(r) => {
                let r = ResourceRow::from_record(r);
                tx.execute(
                    &self.sql(
                        "INSERT INTO {s}.resources (system, key, name, kind, provider, deps, status,
                            token, provider_id, outputs, error, tags, generation, identity, spec,
                            incarnation, protect, deposed_of, updating)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14,
                            $15, $16, $17, $18, $19)
                         ON CONFLICT (system, key) DO UPDATE SET name = excluded.name,
                            kind = excluded.kind, provider = excluded.provider,
                            deps = excluded.deps, status = excluded.status,
                            token = excluded.token, provider_id = excluded.provider_id,
                            outputs = excluded.outputs, error = excluded.error,
                            tags = excluded.tags, generation = excluded.generation,
                            identity = excluded.identity, spec = excluded.spec,
                            incarnation = excluded.incarnation, protect = excluded.protect,
                            deposed_of = excluded.deposed_of, updating = excluded.updating",
                    ),
                    &[
                        &system,
                        &r.key,
                        &r.name,
                        &r.kind,
                        &r.provider,
                        &r.deps,
                        &r.status,
                        &r.token,
                        &r.provider_id,
                        &r.outputs,
                        &r.error,
                        &r.tags,
                        &r.generation,
                        &r.identity,
                        &r.spec,
                        &r.incarnation,
                        &r.protect,
                        &r.deposed_of,
                        &r.updating,
                    ],
                )
                .await?;
            }
            Change::RemoveResource(k) => {
                tx.execute(
                    &self.sql("DELETE FROM {s}.resources WHERE system = $1 AND key = $2"),
                    &[&system, k],
                )
                .await?;
            }
            Change::PutTask(t) => {
                let t = TaskRow::from_record(t);
                tx.execute(
                    &self.sql(
                        "INSERT INTO {s}.tasks (system, key, status, attempts, host, error,
                            fingerprint)
                         VALUES ($1, $2, $3, $4, $5, $6, $7)
                         ON CONFLICT (system, key) DO UPDATE SET status = excluded.status,
                            attempts = excluded.attempts, host = excluded.host,
                            error = excluded.error, fingerprint = excluded.fingerprint",
                    ),
                    &[
                        &system,
                        &t.key,
                        &t.status,
                        &t.attempts,
                        &t.host,
                        &t.error,
                        &t.fingerprint,
                    ],
                )
                .await?;
            }
            Change::RemoveTask(k) => {
                tx.execute(
                    &self.sql("DELETE FROM {s}.tasks WHERE system = $1 AND key = $2"),
                    &[&system, k],
                )
                .await?;
            }
            Change::ClearTasks => {
                tx.execute(
                    &self.sql("DELETE FROM {s}.tasks WHERE system = $1"),
                    &[&system],
                )
                .await?;
            }
            Change::SetGeneration(g) => {
                tx.execute(
                    &self.sql("UPDATE {s}.systems SET generation = $2 WHERE name = $1"),
                    &[&system, &i(*g)],
                )
                .await?;
            }
            Change::SetLastKnownGood(v) => {
                tx.execute(
                    &self.sql("UPDATE {s}.systems SET lkg = $2 WHERE name = $1"),
                    &[&system, &version_text(v.as_ref())],
                )
                .await?;
            }
            Change::SetLastKnownBad(v) => {
                tx.execute(
                    &self.sql("UPDATE {s}.systems SET lkb = $2 WHERE name = $1"),
                    &[&system, &version_text(v.as_ref())],
                )
                .await?;
            }
            Change::PutRun(r) => {
                let r = RunRow::from_record(r);
                tx.execute(
                    &self.sql(
                        "INSERT INTO {s}.runs (system, id, seq, action, started, finished, outcome,
                            by_, detail)
                         VALUES ($1, $2,
                            (SELECT COALESCE(MAX(seq), 0) + 1 FROM {s}.runs WHERE system = $1),
                            $3, $4, $5, $6, $7, $8)
                         ON CONFLICT (system, id) DO UPDATE SET action = excluded.action,
                            started = excluded.started, finished = excluded.finished,
                            outcome = excluded.outcome, by_ = excluded.by_,
                            detail = excluded.detail",
                    ),
                    &[
                        &system,
                        &r.id,
                        &r.action,
                        &r.started,
                        &r.finished,
                        &r.outcome,
                        &r.by,
                        &r.detail,
                    ],
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn ensure_system(&self, tx: &Transaction<'_>, system: &str) -> Result<(), StateError> {
        tx.execute(
            &self.sql(
                "INSERT INTO {s}.systems (name, generation) VALUES ($1, 0)
                 ON CONFLICT (name) DO NOTHING",
            ),
            &[&system],
        )
        .await
        .map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Serializes lock operations on `system` (until the transaction ends).
    async fn lock_ops(&self, tx: &Transaction<'_>, system: &str) -> Result<(), StateError> {
        tx.execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&key(&["hoist-lock", &self.schema, system])],
        )
        .await
        .map_err(|e| self.io(e))?;
        Ok(())
    }
}

#[async_trait]
impl StateStore for PgStore {
    async fn load(&self, system: &str) -> Result<Option<SystemState>, StateError> {
        let mut c = self.client().await?;
        let loc = self.location.clone();
        let sql = |e: tokio_postgres::Error| corrupt(system, &loc, e);
        let bad = |e: String| corrupt(system, &loc, e);
        // One snapshot for all tables.
        let tx = c
            .build_transaction()
            .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(|e| self.io(e))?;
        let Some(sys) = tx
            .query_opt(
                &self.sql("SELECT generation, lkg, lkb FROM {s}.systems WHERE name = $1"),
                &[&system],
            )
            .await
            .map_err(sql)?
        else {
            return Ok(None);
        };
        let mut s = SystemState::new(system);
        s.generation = u(sys.get(0));
        s.lkg = version_parse(sys.get(1)).map_err(bad)?;
        s.lkb = version_parse(sys.get(2)).map_err(bad)?;
        for r in tx
            .query(
                &self.sql(
                    "SELECT key, name, kind, provider, deps, status, token, provider_id, outputs,
                        error, tags, generation, identity, spec, incarnation, protect,
                        deposed_of, updating FROM {s}.resources WHERE system = $1
                        ORDER BY key",
                ),
                &[&system],
            )
            .await
            .map_err(sql)?
        {
            let rec = ResourceRow {
                key: r.get(0),
                name: r.get(1),
                kind: r.get(2),
                provider: r.get(3),
                deps: r.get(4),
                status: r.get(5),
                token: r.get(6),
                provider_id: r.get(7),
                outputs: r.get(8),
                error: r.get(9),
                tags: r.get(10),
                generation: r.get(11),
                identity: r.get(12),
                spec: r.get(13),
                incarnation: r.get(14),
                protect: r.get(15),
                deposed_of: r.get(16),
                updating: r.get(17),
            }
            .into_record()
            .map_err(bad)?;
            s.resources.insert(rec.key.clone(), rec);
        }
        for r in tx
            .query(
                &self.sql(
                    "SELECT key, status, attempts, host, error, fingerprint FROM {s}.tasks
                     WHERE system = $1 ORDER BY key",
                ),
                &[&system],
            )
            .await
            .map_err(sql)?
        {
            let rec = TaskRow {
                key: r.get(0),
                status: r.get(1),
                attempts: r.get(2),
                host: r.get(3),
                error: r.get(4),
                fingerprint: r.get(5),
            }
            .into_record()
            .map_err(bad)?;
            s.tasks.insert(rec.key.clone(), rec);
        }
        for r in tx
            .query(
                &self.sql(
                    "SELECT id, action, started, finished, outcome, by_, detail FROM {s}.runs
                     WHERE system = $1 ORDER BY seq",
                ),
                &[&system],
            )
            .await
            .map_err(sql)?
        {
            s.runs.push(
                RunRow {
                    id: r.get(0),
                    action: r.get(1),
                    started: r.get(2),
                    finished: r.get(3),
                    outcome: r.get(4),
                    by: r.get(5),
                    detail: r.get(6),
                }
                .into_record()
                .map_err(bad)?,
            );
        }
        tx.commit().await.map_err(|e| self.io(e))?;
        Ok(Some(s))
    }

    async fn apply(
        &self,
        system: &str,
        fence: Option<&str>,
        changes: &[Change],
    ) -> Result<(), StateError> {
        let mut c = self.client().await?;
        match self.apply_in(&mut c, system, fence, changes).await {
            // The connection dropped: reconnect and write again. Safe even if the first
            // commit went through unseen: every change is an upsert, a delete or a set.
            Err(e) if c.is_closed() => {
                tracing::warn!(store = %self.location, error = %e, "state write lost with its connection; retrying");
                drop(c);
                let mut c = self.client().await?;
                self.apply_in(&mut c, system, fence, changes).await
            }
            r => r,
        }
    }

    async fn save(&self, state: &SystemState) -> Result<(), StateError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.io(e))?;
        let s = state.system.as_str();
        for t in ["resources", "tasks", "runs"] {
            tx.execute(
                &self.sql(&format!("DELETE FROM {{s}}.{t} WHERE system = $1")),
                &[&s],
            )
            .await
            .map_err(|e| self.io(e))?;
        }
        self.ensure_system(&tx, s).await?;
        let mut changes = vec![
            Change::SetGeneration(state.generation),
            Change::SetLastKnownGood(state.lkg.clone()),
            Change::SetLastKnownBad(state.lkb.clone()),
        ];
        changes.extend(state.resources.values().cloned().map(Change::PutResource));
        changes.extend(state.tasks.values().cloned().map(Change::PutTask));
        changes.extend(state.runs.iter().cloned().map(Change::PutRun));
        for ch in &changes {
            self.write_change(&tx, s, ch)
                .await
                .map_err(|e| self.io(e))?;
        }
        tx.commit().await.map_err(|e| self.io(e))
    }

    async fn systems(&self) -> Result<Vec<String>, StateError> {
        let c = self.client().await?;
        let rows = c
            .query(&self.sql("SELECT name FROM {s}.systems ORDER BY name"), &[])
            .await
            .map_err(|e| self.io(e))?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    async fn lock_try(&self, system: &str, req: &LockRequest) -> Result<LockAttempt, StateError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.io(e))?;
        self.lock_ops(&tx, system).await?;
        let cur = self.read_lock(&tx, system, "FOR UPDATE").await?;
        let now = match &cur {
            Some(l) => l.now_ms,
            None => {
                let r = tx
                    .query_one(&format!("SELECT {NOW_MS}"), &[])
                    .await
                    .map_err(|e| self.io(e))?;
                u(r.get(0))
            }
        };
        let out = match decide(cur, req, now) {
            Decision::Take { new, replaced } => {
                tx.execute(
                    &self.sql(
                        "INSERT INTO {s}.locks (system, id, who, host, pid, action, acquired_ms,
                            renewed_ms, expires_ms, machine)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                         ON CONFLICT (system) DO UPDATE SET id = excluded.id, who = excluded.who,
                            host = excluded.host, pid = excluded.pid, action = excluded.action,
                            acquired_ms = excluded.acquired_ms, renewed_ms = excluded.renewed_ms,
                            expires_ms = excluded.expires_ms, machine = excluded.machine",
                    ),
                    &[
                        &system,
                        &new.id,
                        &new.holder.who,
                        &new.holder.host,
                        &i64::from(new.holder.pid),
                        &new.holder.action,
                        &i(new.acquired_ms),
                        &i(new.renewed_ms),
                        &i(new.expires_ms),
                        &new.holder.machine,
                    ],
                )
                .await
                .map_err(|e| self.io(e))?;
                LockAttempt::Acquired {
                    id: new.id,
                    replaced,
                }
            }
            Decision::Held(held) => LockAttempt::Held(held),
        };
        tx.commit().await.map_err(|e| self.io(e))?;
        Ok(out)
    }

    async fn lock_renew(
        &self,
        system: &str,
        id: &str,
        lease: Duration,
    ) -> Result<bool, StateError> {
        let c = self.client().await?;
        let lease = i(u64::try_from(lease.as_millis()).unwrap_or(u64::MAX));
        let n = c
            .execute(
                &self.sql(&format!(
                    "UPDATE {{s}}.locks SET renewed_ms = {NOW_MS}, expires_ms = {NOW_MS} + $3
                     WHERE system = $1 AND id = $2"
                )),
                &[&system, &id, &lease],
            )
            .await
            .map_err(|e| self.io(e))?;
        Ok(n == 1)
    }

    async fn lock_release(&self, system: &str, id: &str) -> Result<(), StateError> {
        let c = self.client().await?;
        c.execute(
            &self.sql("DELETE FROM {s}.locks WHERE system = $1 AND id = $2"),
            &[&system, &id],
        )
        .await
        .map_err(|e| self.io(e))?;
        Ok(())
    }

    async fn lock_info(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.io(e))?;
        let l = self.read_lock(&tx, system, "").await?;
        tx.commit().await.map_err(|e| self.io(e))?;
        Ok(l)
    }

    async fn lock_break(&self, system: &str) -> Result<Option<LockInfo>, StateError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(|e| self.io(e))?;
        self.lock_ops(&tx, system).await?;
        let cur = self.read_lock(&tx, system, "FOR UPDATE").await?;
        tx.execute(
            &self.sql("DELETE FROM {s}.locks WHERE system = $1"),
            &[&system],
        )
        .await
        .map_err(|e| self.io(e))?;
        tx.commit().await.map_err(|e| self.io(e))?;
        Ok(cur)
    }

    fn location(&self) -> String {
        self.location.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_and_redacted() {
        assert_eq!(
            split_schema("postgres://u:p@127.0.0.1:5432/db?hoist_schema=t1&sslmode=disable"),
            (
                "postgres://u:p@127.0.0.1:5432/db?sslmode=disable".into(),
                "t1".into()
            )
        );
        assert_eq!(
            split_schema("postgres://u@127.0.0.1/db"),
            ("postgres://u@127.0.0.1/db".into(), "hoist".into())
        );
        assert_eq!(
            redact("postgres://u:secret@127.0.0.1:5432/db?x=1"),
            "postgres://u:***@127.0.0.1:5432/db"
        );
        assert!(valid_schema("hoist_t1") && !valid_schema("x; DROP") && !valid_schema(""));
    }
}
