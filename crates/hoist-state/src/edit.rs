//! Edits of a recorded state that touch no cloud: `hoist state mv` (a model field renamed, so
//! that it is not a delete plus a create) and `hoist state rm` (objects gone for good).
//!
//! Both select by address: the resources and tasks whose key is the address, or lies below it
//! (`web/app` selects `web/app[0]`, `web/app[1].disk`, …).

use crate::{Change, ResourceRecord, ResourceStatus, SystemState, TaskRecord};

/// An edit that cannot be made; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// Nothing is recorded at the address.
    #[error("no resource or task of system `{system}` is recorded at `{at}`")]
    NothingAt {
        /// System.
        system: String,
        /// The address.
        at: String,
    },
    /// The new address is taken.
    #[error("`{key}` cannot move to `{to}`: something is already recorded there")]
    Taken {
        /// The key that would move.
        key: String,
        /// Where it would go.
        to: String,
    },
    /// A resource is in the middle of a create or delete.
    #[error(
        "`{key}` has a create or delete in progress (recorded as {status}): run `hoist recover` (or the interrupted run) first, or force it"
    )]
    Pending {
        /// The key.
        key: String,
        /// Its status.
        status: String,
    },
}

/// The rest of `key` after `at`, if `key` is `at` or lies below it.
fn below<'k>(key: &'k str, at: &str) -> Option<&'k str> {
    let rest = key.strip_prefix(at)?;
    (rest.is_empty() || rest.starts_with('.') || rest.starts_with('[')).then_some(rest)
}

fn status_text(s: ResourceStatus) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

impl SystemState {
    /// The changes that record everything at `from` (and below it) under `to` instead,
    /// dependency edges included. Refuses a resource whose create or delete is in progress,
    /// and a destination that is taken.
    ///
    /// ```
    /// use hoist_state::SystemState;
    /// let s = SystemState::new("demo");
    /// assert!(s.moved("web/app", "web/apps").is_err()); // nothing recorded there
    /// ```
    pub fn moved(&self, from: &str, to: &str) -> Result<Vec<Change>, EditError> {
        let renamed = |key: &str| below(key, from).map(|rest| format!("{to}{rest}"));
        let mut changes = Vec::new();
        let mut moved = 0;
        for r in self.resources.values() {
            let Some(key) = renamed(&r.key) else { continue };
            if r.status != ResourceStatus::Created {
                return Err(EditError::Pending {
                    key: r.key.clone(),
                    status: status_text(r.status),
                });
            }
            if self.resources.contains_key(&key) && renamed(&key).is_none() {
                return Err(EditError::Taken {
                    key: r.key.clone(),
                    to: key,
                });
            }
            moved += 1;
            changes.push(Change::RemoveResource(r.key.clone()));
        }
        for t in self.tasks.values() {
            let Some(key) = renamed(&t.key) else { continue };
            if self.tasks.contains_key(&key) && renamed(&key).is_none() {
                return Err(EditError::Taken {
                    key: t.key.clone(),
                    to: key,
                });
            }
            moved += 1;
            changes.push(Change::RemoveTask(t.key.clone()));
            changes.push(Change::PutTask(TaskRecord { key, ..t.clone() }));
        }
        if moved == 0 {
            return Err(EditError::NothingAt {
                system: self.system.clone(),
                at: from.to_string(),
            });
        }
        // Every resource that moves or depends on one that moves is written again.
        for r in self.resources.values() {
            let key = renamed(&r.key);
            let deps: Vec<String> = r
                .deps
                .iter()
                .map(|d| renamed(d).unwrap_or_else(|| d.clone()))
                .collect();
            if key.is_none() && deps == r.deps {
                continue;
            }
            let key = key.unwrap_or_else(|| r.key.clone());
            changes.push(Change::PutResource(ResourceRecord {
                name: key.clone(),
                key,
                deps,
                ..r.clone()
            }));
        }
        Ok(changes)
    }

    /// The changes that forget everything at `at` (and below it), without touching the
    /// cloud: for objects that are gone for good, or that hoist should stop managing. A
    /// resource whose create or delete is in progress is refused (its token is how an object
    /// an interrupted create made is found) unless `force`.
    pub fn removed(&self, at: &str, force: bool) -> Result<Vec<Change>, EditError> {
        if !force
            && let Some(r) = self
                .resources
                .values()
                .find(|r| below(&r.key, at).is_some() && r.status != ResourceStatus::Created)
        {
            return Err(EditError::Pending {
                key: r.key.clone(),
                status: status_text(r.status),
            });
        }
        let mut changes: Vec<Change> = self
            .resources
            .keys()
            .filter(|k| below(k, at).is_some())
            .map(|k| Change::RemoveResource(k.clone()))
            .collect();
        changes.extend(
            self.tasks
                .keys()
                .filter(|k| below(k, at).is_some())
                .map(|k| Change::RemoveTask(k.clone())),
        );
        if changes.is_empty() {
            return Err(EditError::NothingAt {
                system: self.system.clone(),
                at: at.to_string(),
            });
        }
        let gone = changes
            .iter()
            .filter(|c| matches!(c, Change::RemoveResource(_)))
            .count();
        if gone > 0 && gone == self.resources.len() {
            // Nothing left: a new generation, as after a teardown, so that the next initiate
            // makes new objects with new tokens.
            changes.push(Change::SetGeneration(self.generation + 1));
            changes.push(Change::ClearTasks);
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn rec(s: &SystemState, key: &str, deps: &[&str]) -> ResourceRecord {
        ResourceRecord {
            key: key.into(),
            name: key.into(),
            kind: "core.server".into(),
            provider: "sim".into(),
            deps: deps.iter().map(|d| d.to_string()).collect(),
            status: ResourceStatus::Created,
            token: s.token_for(key),
            provider_id: Some(format!("id-{key}")),
            outputs: BTreeMap::new(),
            error: None,
            tags: BTreeMap::new(),
            generation: 0,
            identity: None,
            spec: None,
            incarnation: 0,
            protect: false,
            deposed_of: None,
            updating: None,
        }
    }

    fn state() -> SystemState {
        let mut s = SystemState::new("demo");
        for (k, d) in [
            ("web/net", &[][..]),
            ("web/app[0]", &["web/net"][..]),
            ("web/app[1]", &["web/net"][..]),
            ("web/apps_lb", &["web/app[0]", "web/app[1]"][..]),
        ] {
            let r = rec(&s, k, d);
            s.resources.insert(k.into(), r);
        }
        s
    }

    #[test]
    fn a_move_renames_keys_below_and_dependency_edges() {
        let mut s = state();
        let changes = s.moved("web/app", "web/servers").unwrap();
        s.apply_all(&changes);
        let keys: Vec<&str> = s.resources.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["web/apps_lb", "web/net", "web/servers[0]", "web/servers[1]"]
        );
        assert_eq!(
            s.resources["web/apps_lb"].deps,
            ["web/servers[0]", "web/servers[1]"],
            "`web/apps_lb` is not below `web/app`, but depends on it"
        );
        assert_eq!(
            s.resources["web/servers[0]"].provider_id.as_deref(),
            Some("id-web/app[0]")
        );
    }

    #[test]
    fn a_move_refuses_what_it_cannot_do() {
        let mut s = state();
        assert!(matches!(
            s.moved("web/nope", "web/x"),
            Err(EditError::NothingAt { .. })
        ));
        assert!(matches!(
            s.moved("web/app[0]", "web/app[1]"),
            Err(EditError::Taken { .. })
        ));
        s.resources.get_mut("web/net").unwrap().status = ResourceStatus::Creating;
        let e = s.moved("web/net", "web/network").unwrap_err();
        assert!(e.to_string().contains("hoist recover"), "{e}");
    }

    #[test]
    fn a_removal_forgets_what_lies_below() {
        let mut s = state();
        let changes = s.removed("web/app", false).unwrap();
        s.apply_all(&changes);
        assert_eq!(s.resources.len(), 2);
        assert!(s.removed("web/app", false).is_err());
        let changes = s.removed("web", false).unwrap_err();
        assert!(
            matches!(changes, EditError::NothingAt { .. }),
            "`web` is a model, not a prefix"
        );
        for k in ["web/net", "web/apps_lb"] {
            let c = s.removed(k, false).unwrap();
            s.apply_all(&c);
        }
        assert_eq!(s.generation, 1, "emptied: a new generation");
    }

    #[test]
    fn a_removal_of_a_pending_create_needs_force() {
        let mut s = state();
        s.resources.get_mut("web/app[1]").unwrap().status = ResourceStatus::Creating;
        let e = s.removed("web/app", false).unwrap_err();
        assert!(
            matches!(&e, EditError::Pending { key, status } if key == "web/app[1]" && status == "creating"),
            "{e}"
        );
        assert!(e.to_string().contains("force"), "{e}");
        let changes = s.removed("web/app", true).unwrap();
        s.apply_all(&changes);
        assert_eq!(s.resources.len(), 2);
    }
}
