//! What the SQL stores share: the tables' column values as plain Rust values, and conversions
//! between them and the records. Structured fields (deps, outputs, tags, versions) are JSON
//! text; enums are their snake_case names; times and counters are 64-bit integers.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{ResourceRecord, RunRecord, StateError, TaskRecord, VersionRecord};

pub(crate) fn enum_text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        other => format!("{other:?}"),
    }
}

pub(crate) fn enum_parse<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_value(serde_json::Value::String(s.to_string()))
        .map_err(|e| format!("bad value {s:?}: {e}"))
}

pub(crate) fn json_text<T: Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

pub(crate) fn json_parse<T: DeserializeOwned>(s: &str) -> Result<T, String> {
    serde_json::from_str(s).map_err(|e| format!("bad JSON {s:?}: {e}"))
}

pub(crate) fn i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub(crate) fn u(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A `resources` row.
pub(crate) struct ResourceRow {
    pub key: String,
    pub name: String,
    pub kind: String,
    pub provider: String,
    pub deps: String,
    pub status: String,
    pub token: String,
    pub provider_id: Option<String>,
    pub outputs: String,
    pub error: Option<String>,
    pub tags: String,
    pub generation: i64,
    pub identity: Option<String>,
    pub spec: Option<String>,
    pub incarnation: i64,
    pub protect: bool,
    pub deposed_of: Option<String>,
    pub updating: Option<String>,
}

impl ResourceRow {
    pub(crate) fn from_record(r: &ResourceRecord) -> Self {
        ResourceRow {
            key: r.key.clone(),
            name: r.name.clone(),
            kind: r.kind.clone(),
            provider: r.provider.clone(),
            deps: json_text(&r.deps),
            status: enum_text(&r.status),
            token: r.token.clone(),
            provider_id: r.provider_id.clone(),
            outputs: json_text(&r.outputs),
            error: r.error.clone(),
            tags: json_text(&r.tags),
            generation: i(r.generation),
            identity: r.identity.as_ref().map(json_text),
            spec: r.spec.as_ref().map(json_text),
            incarnation: i64::from(r.incarnation),
            protect: r.protect,
            deposed_of: r.deposed_of.clone(),
            updating: r.updating.as_ref().map(json_text),
        }
    }

    pub(crate) fn into_record(self) -> Result<ResourceRecord, String> {
        Ok(ResourceRecord {
            deps: json_parse(&self.deps)?,
            status: enum_parse(&self.status)?,
            outputs: json_parse(&self.outputs)?,
            tags: json_parse(&self.tags)?,
            generation: u(self.generation),
            identity: self.identity.as_deref().map(json_parse).transpose()?,
            spec: self.spec.as_deref().map(json_parse).transpose()?,
            incarnation: u32::try_from(self.incarnation).unwrap_or(0),
            protect: self.protect,
            deposed_of: self.deposed_of,
            updating: self.updating.as_deref().map(json_parse).transpose()?,
            key: self.key,
            name: self.name,
            kind: self.kind,
            provider: self.provider,
            token: self.token,
            provider_id: self.provider_id,
            error: self.error,
        })
    }
}

/// A `tasks` row.
pub(crate) struct TaskRow {
    pub key: String,
    pub status: String,
    pub attempts: i64,
    pub host: String,
    pub error: Option<String>,
    pub fingerprint: Option<String>,
}

impl TaskRow {
    pub(crate) fn from_record(t: &TaskRecord) -> Self {
        TaskRow {
            key: t.key.clone(),
            status: enum_text(&t.status),
            attempts: i64::from(t.attempts),
            host: t.host.clone(),
            error: t.error.clone(),
            fingerprint: t.fingerprint.as_ref().map(json_text),
        }
    }

    pub(crate) fn into_record(self) -> Result<TaskRecord, String> {
        Ok(TaskRecord {
            status: enum_parse(&self.status)?,
            attempts: u32::try_from(self.attempts).unwrap_or(0),
            key: self.key,
            host: self.host,
            error: self.error,
            fingerprint: self.fingerprint.as_deref().map(json_parse).transpose()?,
        })
    }
}

/// A `runs` row.
pub(crate) struct RunRow {
    pub id: String,
    pub action: String,
    pub started: i64,
    pub finished: Option<i64>,
    pub outcome: String,
    pub by: String,
    pub detail: Option<String>,
}

impl RunRow {
    pub(crate) fn from_record(r: &RunRecord) -> Self {
        RunRow {
            id: r.id.clone(),
            action: r.action.clone(),
            started: i(r.started),
            finished: r.finished.map(i),
            outcome: enum_text(&r.outcome),
            by: r.by.clone(),
            detail: r.detail.clone(),
        }
    }

    pub(crate) fn into_record(self) -> Result<RunRecord, String> {
        Ok(RunRecord {
            outcome: enum_parse(&self.outcome)?,
            started: u(self.started),
            finished: self.finished.map(u),
            id: self.id,
            action: self.action,
            by: self.by,
            detail: self.detail,
        })
    }
}

pub(crate) fn version_text(v: Option<&VersionRecord>) -> Option<String> {
    v.map(json_text)
}

pub(crate) fn version_parse(s: Option<String>) -> Result<Option<VersionRecord>, String> {
    s.map(|s| json_parse(&s)).transpose()
}

pub(crate) fn corrupt(system: &str, location: &str, message: impl std::fmt::Display) -> StateError {
    StateError::Corrupt {
        system: system.to_string(),
        location: location.to_string(),
        message: message.to_string(),
    }
}
