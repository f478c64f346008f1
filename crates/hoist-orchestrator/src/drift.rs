//! Drift: every recorded object read back through [`Provisioner::read`] and compared with what
//! state says (deleted outside hoist, or outputs that differ). Reading changes nothing; what
//! a refresh would record is [`Drift::changes`].

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use hoist_provider::{Provisioner, ReadRequest};
use hoist_state::{Change, ResourceRecord, ResourceStatus, SystemState};
use serde::Serialize;
use serde_json::Value;
use tokio::task::JoinSet;
use tracing::Instrument as _;

/// What a refresh found, per recorded object.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Drift {
    /// The system.
    pub system: String,
    /// Every recorded object that was read, in key order.
    pub resources: Vec<ResourceDrift>,
}

/// One recorded object, as read back.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ResourceDrift {
    /// Its key (`web/app[0]`).
    pub key: String,
    /// Kind.
    pub kind: String,
    /// What was found.
    #[serde(flatten)]
    pub found: Found,
}

/// What reading an object back found.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "found")]
#[non_exhaustive]
pub enum Found {
    /// As recorded.
    InSync,
    /// The cloud no longer has it.
    Deleted,
    /// Some outputs differ from the recorded ones.
    Changed {
        /// The outputs that differ.
        outputs: Vec<OutputDrift>,
    },
    /// It could not be read (the error, scrubbed of secrets).
    Unreadable {
        /// Why.
        error: String,
    },
}

/// An output whose value differs from the recorded one.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OutputDrift {
    /// The output's name.
    pub name: String,
    /// As recorded.
    pub recorded: Option<Value>,
    /// As read now.
    pub now: Option<Value>,
}

impl Drift {
    /// True if some object was deleted or changed outside hoist.
    pub fn has_drift(&self) -> bool {
        self.resources
            .iter()
            .any(|r| matches!(r.found, Found::Deleted | Found::Changed { .. }))
    }

    /// The entry of `key`, if it was read.
    pub fn resource(&self, key: &str) -> Option<&ResourceDrift> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// What recording the drift changes in `state`: a deleted object's record goes (so the
    /// next run makes it again), a changed one's outputs are the ones read.
    pub(crate) fn changes(&self, state: &SystemState) -> Vec<Change> {
        self.resources
            .iter()
            .filter_map(|r| {
                let rec = state.resources.get(&r.key)?;
                match &r.found {
                    Found::Deleted => Some(Change::RemoveResource(r.key.clone())),
                    Found::Changed { outputs } => {
                        let mut rec = rec.clone();
                        for o in outputs {
                            match &o.now {
                                Some(v) => rec.outputs.insert(o.name.clone(), v.clone()),
                                None => rec.outputs.remove(&o.name),
                            };
                        }
                        Some(Change::PutResource(rec))
                    }
                    _ => None,
                }
            })
            .collect()
    }
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Drift of system `{}`:", self.system)?;
        let (mut in_sync, mut changed, mut deleted, mut unreadable) = (0, 0, 0, 0);
        for r in &self.resources {
            match &r.found {
                Found::InSync => in_sync += 1,
                Found::Deleted => {
                    deleted += 1;
                    writeln!(f, "  - {} ({}): deleted outside hoist", r.key, r.kind)?;
                }
                Found::Changed { outputs } => {
                    changed += 1;
                    writeln!(f, "  ~ {} ({}): changed outside hoist", r.key, r.kind)?;
                    for o in outputs {
                        let show = |v: &Option<Value>| {
                            v.as_ref().map_or_else(|| "(none)".into(), Value::to_string)
                        };
                        writeln!(
                            f,
                            "      {}: {} -> {}",
                            o.name,
                            show(&o.recorded),
                            show(&o.now)
                        )?;
                    }
                }
                Found::Unreadable { error } => {
                    unreadable += 1;
                    writeln!(f, "  ? {} ({}): cannot read it: {error}", r.key, r.kind)?;
                }
            }
        }
        write!(
            f,
            "{in_sync} in sync, {changed} changed, {deleted} deleted, {unreadable} unreadable."
        )
    }
}

/// Reads every created object `state` records (deposed ones aside) back through its proxy,
/// at most `concurrency` at a time. Never writes anything.
pub(crate) async fn read_back(
    proxies: &[Arc<dyn Provisioner>],
    state: &SystemState,
    secrets: &[hoist_core::Secret],
    concurrency: usize,
) -> Drift {
    let recs: Vec<&ResourceRecord> = state
        .resources
        .values()
        .filter(|r| r.status == ResourceStatus::Created && r.deposed_of.is_none())
        .collect();
    let permits = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut reads = JoinSet::new();
    let mut found: Vec<Option<Found>> = vec![None; recs.len()];
    for (i, r) in recs.iter().enumerate() {
        let Some(p) = proxies.iter().find(|p| p.name() == r.provider).cloned() else {
            found[i] = Some(Found::Unreadable {
                error: format!("no proxy named `{}`", r.provider),
            });
            continue;
        };
        let req = ReadRequest {
            system: state.system.clone(),
            key: r.key.clone(),
            kind: r.kind.clone(),
            id: r.provider_id.clone().unwrap_or_default(),
            outputs: r.outputs.clone(),
        };
        let permits = permits.clone();
        let span = tracing::info_span!("provider.call", provider = %r.provider, op = "read", resource = %r.key);
        reads.spawn(
            async move {
                let _p = permits.acquire_owned().await;
                (i, p.read(&req).await)
            }
            .instrument(span),
        );
    }
    while let Some(Ok((i, read))) = reads.join_next().await {
        found[i] = Some(match read {
            Ok(None) => Found::Deleted,
            Ok(Some(now)) => compare(recs[i], &now.outputs),
            Err(e) => Found::Unreadable {
                error: hoist_core::secret::scrub(&e.to_string(), secrets),
            },
        });
    }
    let resources = recs
        .iter()
        .zip(found)
        .map(|(r, found)| ResourceDrift {
            key: r.key.clone(),
            kind: r.kind.clone(),
            found: found.unwrap_or_else(|| Found::Unreadable {
                error: "the worker reading it panicked".into(),
            }),
        })
        .collect();
    Drift {
        system: state.system.clone(),
        resources,
    }
}

/// The outputs of `rec` that differ from `now`.
fn compare(rec: &ResourceRecord, now: &hoist_provider::OutputMap) -> Found {
    let names: BTreeSet<&String> = rec.outputs.keys().chain(now.keys()).collect();
    let outputs: Vec<OutputDrift> = names
        .into_iter()
        .filter(|n| rec.outputs.get(*n) != now.get(*n))
        .map(|n| OutputDrift {
            name: n.clone(),
            recorded: rec.outputs.get(n).cloned(),
            now: now.get(n).cloned(),
        })
        .collect();
    if outputs.is_empty() {
        Found::InSync
    } else {
        Found::Changed { outputs }
    }
}
