//! The deterministic text rendering of a [`Plan`] (what `hoist plan` prints).

use std::fmt::{self, Write as _};

use super::vars::NoOutputs;
use super::{Plan, PlannedHost, PlannedTask};
use crate::config::{Action, CopySource};
use crate::secret::{REDACTED, scrub};

fn spec_text(p: &Plan, r: &super::PlannedResource) -> String {
    // An argument may hold a secret taken from a variable.
    scrub(&spec_fields(p, r), &p.secrets)
}

fn spec_fields(p: &Plan, r: &super::PlannedResource) -> String {
    // Placeholders are shown as what they stand for.
    let mut spec = r.spec.clone();
    for sr in &r.refs {
        let target = &p.resources[sr.target.index()];
        let shown = match &sr.field {
            None => serde_json::Value::String(format!("<{}>", target.key())),
            Some(f) => serde_json::Value::String(format!(
                "<{}:{f}, known after provisioning>",
                target.key()
            )),
        };
        if let Some(slot) = spec.pointer_mut(&sr.pointer) {
            *slot = shown;
        }
    }
    // Keys in sorted order whatever serde_json's map keeps (its `preserve_order` feature may be
    // switched on by any crate in the build), so the text never depends on the build.
    match sorted(spec) {
        serde_json::Value::Object(m) => m
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                other => format!("{k}={other}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    }
}

/// `v` with every object's keys in sorted order.
fn sorted(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(m) => {
            let by_key: std::collections::BTreeMap<String, serde_json::Value> =
                m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            serde_json::Value::Object(by_key.into_iter().collect())
        }
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(sorted).collect())
        }
        other => other,
    }
}

impl Plan {
    /// A one-line description of where a role's tasks run.
    pub fn host_text(&self, host: &PlannedHost) -> String {
        match host {
            PlannedHost::Resource { resource, output } => {
                format!(
                    "{}:{output}, known after provisioning",
                    self.resources[resource.index()].key()
                )
            }
            PlannedHost::Address(a) => a.clone(),
            PlannedHost::Local(d) => format!("local:{}", d.display()),
            PlannedHost::None => "<no host>".into(),
        }
    }

    /// A one-line description of a task's action.
    pub fn action_text(&self, t: &PlannedTask) -> String {
        let a = &t.action;
        let s = match a {
            Action::Null => "null".to_string(),
            Action::Ping => "ping".to_string(),
            Action::Command { argv, .. } => format!(
                "command {}",
                shlex::try_join(argv.iter().map(String::as_str)).unwrap_or_default()
            ),
            Action::Shell { line, .. } => format!("shell {line:?}"),
            Action::Script { path, args, .. } => {
                format!("script {} {}", path.display(), args.join(" "))
                    .trim_end()
                    .to_string()
            }
            Action::Copy {
                src: CopySource::Path(p),
                dest,
                ..
            } => format!("copy {} -> {dest}", p.display()),
            Action::Copy {
                src: CopySource::Content(_),
                dest,
                ..
            } => format!("copy <content> -> {dest}"),
            Action::Template {
                src: CopySource::Path(p),
                dest,
                ..
            } => format!("template {} -> {dest}", p.display()),
            Action::Template {
                src: CopySource::Content(_),
                dest,
                ..
            } => format!("template <text> -> {dest}"),
            Action::Local { argv, shell: true } => format!("local-shell {:?}", argv.join(" ")),
            Action::Local { argv, shell: false } => format!("local {}", argv.join(" ")),
        };
        scrub(&s, &self.secrets)
    }

    /// The plan as text: resources by parallel group, values known after provisioning, roles
    /// with their hosts, tasks by parallel group with the hosts they run on. Deterministic.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = self.render_into(&mut o);
        o
    }

    fn render_into(&self, o: &mut String) -> fmt::Result {
        writeln!(o, "Plan for system `{}`", self.system)?;
        writeln!(
            o,
            "\nInfrastructure: {} resource{} in {} parallel group{}",
            self.resources.len(),
            if self.resources.len() == 1 { "" } else { "s" },
            self.resource_waves.len(),
            if self.resource_waves.len() == 1 {
                ""
            } else {
                "s"
            }
        )?;
        for (i, w) in self.resource_waves.iter().enumerate() {
            writeln!(o, "  group {}:", i + 1)?;
            for id in w {
                let r = &self.resources[id.index()];
                writeln!(
                    o,
                    "    + {} ({}, via {}) {}",
                    r.key(),
                    r.kind,
                    r.provider,
                    spec_text(self, r)
                )?;
            }
        }
        let mut deferred: Vec<String> = Vec::new();
        for r in &self.resources {
            for sr in &r.refs {
                if let Some(f) = &sr.field {
                    deferred.push(format!("{}:{f}", self.resources[sr.target.index()].key()));
                }
            }
        }
        for role in &self.roles {
            if let PlannedHost::Resource { resource, output } = &role.host {
                deferred.push(format!(
                    "{}:{output}",
                    self.resources[resource.index()].key()
                ));
            }
        }
        for s in self.scopes.iter().chain([&self.overrides]) {
            for v in &s.vars {
                if let super::PVal::Out { resource, field } = &v.value {
                    deferred.push(format!(
                        "{}:{field}",
                        self.resources[resource.index()].key()
                    ));
                }
            }
        }
        deferred.sort();
        deferred.dedup();
        if !deferred.is_empty() {
            writeln!(o, "\nKnown after provisioning:")?;
            for d in deferred {
                writeln!(o, "  {d}")?;
            }
        }
        if !self.roles.is_empty() {
            writeln!(o, "\nRoles: {}", self.roles.len())?;
            for r in &self.roles {
                writeln!(o, "  {} on {}", r.address(), self.host_text(&r.host))?;
                for v in self.visible_vars(r.id, &NoOutputs) {
                    let shown = match &v.value {
                        Ok(e) if e.secret => REDACTED.to_string(),
                        Ok(e) => e.text.clone(),
                        Err(e) => format!("<error: {e}>"),
                    };
                    writeln!(
                        o,
                        "      {}{} = {}",
                        v.name,
                        if v.in_env { "" } else { " (not in env)" },
                        scrub(&shown, &self.secrets)
                    )?;
                }
            }
        }
        if !self.tasks.is_empty() {
            writeln!(
                o,
                "\nConfiguration: {} task{} in {} parallel group{}",
                self.tasks.len(),
                if self.tasks.len() == 1 { "" } else { "s" },
                self.task_waves.len(),
                if self.task_waves.len() == 1 { "" } else { "s" }
            )?;
            for (i, w) in self.task_waves.iter().enumerate() {
                writeln!(o, "  group {}:", i + 1)?;
                for id in w {
                    let t = &self.tasks[id.index()];
                    let on = if t.action.is_local() {
                        "the controller".to_string()
                    } else if t.run_on.0 == u32::MAX {
                        "<no role>".to_string()
                    } else {
                        let r = &self.roles[t.run_on.index()];
                        format!("{} ({})", r.address(), self.host_text(&r.host))
                    };
                    let after = if t.deps.is_empty() {
                        String::new()
                    } else {
                        let names: Vec<String> =
                            t.deps.iter().map(|d| self.tasks[d.index()].key()).collect();
                        format!(" after {}", names.join(", "))
                    };
                    writeln!(
                        o,
                        "    - {}: {} on {on}{after}",
                        t.key(),
                        self.action_text(t)
                    )?;
                }
            }
        }
        if !self.warnings.is_empty() {
            writeln!(o, "\nWarnings:")?;
            for w in &self.warnings {
                writeln!(o, "  warning: {w}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}
