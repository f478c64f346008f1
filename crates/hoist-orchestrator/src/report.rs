//! What a run did: the report returned by `initiate_system` and `teardown_system`.

use std::fmt::{self, Write as _};
use std::time::Duration;

/// What happened to one resource in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ResourceOutcome {
    /// Created in this run.
    Created,
    /// Adopted: an interrupted earlier run had created it.
    Adopted,
    /// Already created by an earlier run, and unchanged: nothing done.
    AlreadyPresent,
    /// Changed in place in this run.
    Updated,
    /// Replaced in this run: a new object made (the old one deleted, or deposed until it is).
    Replaced,
    /// Deleted in this run.
    Deleted,
    /// Already gone when the run deleted it (deleted outside hoist): forgotten.
    AlreadyAbsent,
    /// A create that failed or was interrupted had made nothing (its token found no object):
    /// forgotten.
    NotCreated,
    /// Not found in the cloud, and kept in the state: the teardown found most of its objects
    /// gone, which usually means the proxy talks to another cloud than the state was made in,
    /// and stopped before forgetting them (see
    /// [`OrchestrationBuilder::forget_missing`](crate::OrchestrationBuilder::forget_missing)).
    Missing,
    /// Failed.
    Failed,
    /// Not attempted: something it depends on failed, or the run was stopped.
    NotAttempted,
}

impl ResourceOutcome {
    /// The outcome as the word progress lines and reports show.
    pub fn word(&self) -> &'static str {
        match self {
            ResourceOutcome::Created => "created",
            ResourceOutcome::Adopted => "adopted",
            ResourceOutcome::AlreadyPresent => "present",
            ResourceOutcome::Updated => "updated",
            ResourceOutcome::Replaced => "replaced",
            ResourceOutcome::Deleted => "deleted",
            ResourceOutcome::AlreadyAbsent => "absent",
            ResourceOutcome::NotCreated => "not created",
            ResourceOutcome::Missing => "MISSING",
            ResourceOutcome::Failed => "FAILED",
            ResourceOutcome::NotAttempted => "not attempted",
        }
    }
}

impl ResourceReport {
    /// The line of recorded resource `rec` with `outcome` (its recorded id, no error).
    pub(crate) fn of_record(
        rec: &hoist_state::ResourceRecord,
        outcome: ResourceOutcome,
        attempts: u32,
        duration: Duration,
    ) -> Self {
        ResourceReport {
            key: rec.key.clone(),
            kind: rec.kind.clone(),
            provider: rec.provider.clone(),
            outcome,
            attempts,
            duration,
            provider_id: rec.provider_id.clone(),
            error: None,
        }
    }
}

/// `items` joined with commas, at most `n` of them, then "and N more".
pub(crate) fn list_some(items: &[String], n: usize) -> String {
    let mut s = items
        .iter()
        .take(n)
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > n {
        s.push_str(&format!(" and {} more", items.len() - n));
    }
    s
}

/// One resource in a report.
#[derive(Clone, Debug)]
pub struct ResourceReport {
    /// Its address (`web/app[0]`).
    pub key: String,
    /// Kind.
    pub kind: String,
    /// Proxy name.
    pub provider: String,
    /// Outcome.
    pub outcome: ResourceOutcome,
    /// Provider calls made (including retries).
    pub attempts: u32,
    /// Time spent.
    pub duration: Duration,
    /// Provider id, if any.
    pub provider_id: Option<String>,
    /// The error, if it failed.
    pub error: Option<String>,
}

/// What happened to one task in a run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TaskOutcome {
    /// Ran and changed something (or could not tell).
    Changed,
    /// Ran; nothing needed changing.
    Unchanged,
    /// Skipped by `creates` / `removes`.
    Skipped(String),
    /// Succeeded in an earlier run, doing what it would do now (same fingerprint): not run
    /// again.
    AlreadyDone,
    /// Failed after all attempts.
    Failed,
    /// Not run: a task it depends on failed, its host was not ready, or the run was stopped.
    NotRun,
}

/// Output captured from a failed remote command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedOutput {
    /// Exit code, if it exited.
    pub exit_code: Option<i32>,
    /// Standard output (secrets scrubbed).
    pub stdout: String,
    /// Standard error (secrets scrubbed).
    pub stderr: String,
}

/// One task in a report.
#[derive(Clone, Debug)]
pub struct TaskReport {
    /// Its address (`cfg/deploy[app[0]]`).
    pub key: String,
    /// The host it ran on.
    pub host: String,
    /// Outcome.
    pub outcome: TaskOutcome,
    /// Attempts made.
    pub attempts: u32,
    /// Time spent.
    pub duration: Duration,
    /// The error, if it failed (secrets scrubbed).
    pub error: Option<String>,
    /// Captured output of the failed command, if any.
    pub output: Option<CapturedOutput>,
}

/// The result of `initiate_system` or `teardown_system`.
#[derive(Clone, Debug)]
pub struct Report {
    /// System name.
    pub system: String,
    /// `initiate` or `teardown`.
    pub action: &'static str,
    /// True if everything asked for succeeded.
    pub success: bool,
    /// True if the run was cancelled (the report is partial).
    pub cancelled: bool,
    /// True if there was nothing to do (everything already done).
    pub nothing_to_do: bool,
    /// Resources, in the order they finished.
    pub resources: Vec<ResourceReport>,
    /// Tasks, in the order they finished.
    pub tasks: Vec<TaskReport>,
    /// Warnings (variables left out of environments, …).
    pub warnings: Vec<String>,
    /// Wall time.
    pub duration: Duration,
}

impl Report {
    pub(crate) fn new(system: &str, action: &'static str) -> Self {
        Report {
            system: system.to_string(),
            action,
            success: true,
            cancelled: false,
            nothing_to_do: false,
            resources: Vec::new(),
            tasks: Vec::new(),
            warnings: Vec::new(),
            duration: Duration::ZERO,
        }
    }

    /// The report of resource `key`.
    pub fn resource(&self, key: &str) -> Option<&ResourceReport> {
        self.resources.iter().find(|r| r.key == key)
    }

    /// The report of task `key`.
    pub fn task(&self, key: &str) -> Option<&TaskReport> {
        self.tasks.iter().find(|t| t.key == key)
    }

    /// Resources with `outcome`.
    pub fn count_resources(&self, outcome: &ResourceOutcome) -> usize {
        self.resources
            .iter()
            .filter(|r| &r.outcome == outcome)
            .count()
    }

    /// Tasks with `outcome` (compared by variant).
    pub fn count_tasks(&self, f: impl Fn(&TaskOutcome) -> bool) -> usize {
        self.tasks.iter().filter(|t| f(&t.outcome)).count()
    }

    /// Failed resources and tasks.
    pub fn failures(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .resources
            .iter()
            .filter(|r| r.outcome == ResourceOutcome::Failed)
            .map(|r| {
                format!(
                    "resource {}: {}",
                    r.key,
                    r.error.as_deref().unwrap_or("failed")
                )
            })
            .collect();
        v.extend(
            self.tasks
                .iter()
                .filter(|t| t.outcome == TaskOutcome::Failed)
                .map(|t| {
                    format!(
                        "task {} on {}: {}",
                        t.key,
                        t.host,
                        t.error.as_deref().unwrap_or("failed")
                    )
                }),
        );
        v
    }
}

fn secs(d: Duration) -> String {
    format!("{:.2}s", d.as_secs_f64())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut o = String::new();
        let status = if self.cancelled {
            "CANCELLED"
        } else if self.success {
            "OK"
        } else {
            "FAILED"
        };
        let _ = writeln!(
            o,
            "{} of `{}`: {status} in {}",
            self.action,
            self.system,
            secs(self.duration)
        );
        if self.nothing_to_do {
            let _ = writeln!(o, "  nothing to do: everything is already in place");
        }
        if !self.resources.is_empty() {
            let _ = writeln!(o, "  resources:");
            for r in &self.resources {
                let what = r.outcome.word();
                let _ = write!(
                    o,
                    "    {what:<13} {:<28} {:<20} {}",
                    r.key,
                    r.kind,
                    r.provider_id.as_deref().unwrap_or("-")
                );
                if r.attempts > 1 {
                    let _ = write!(o, " ({} attempts)", r.attempts);
                }
                let _ = writeln!(o, " {}", secs(r.duration));
                if let Some(e) = &r.error {
                    let _ = writeln!(o, "                  error: {e}");
                }
            }
        }
        if !self.tasks.is_empty() {
            let _ = writeln!(o, "  tasks:");
            for t in &self.tasks {
                let what = match &t.outcome {
                    TaskOutcome::Changed => "changed".to_string(),
                    TaskOutcome::Unchanged => "ok".to_string(),
                    TaskOutcome::Skipped(_) => "skipped".to_string(),
                    TaskOutcome::AlreadyDone => "done before".to_string(),
                    TaskOutcome::Failed => "FAILED".to_string(),
                    TaskOutcome::NotRun => "not run".to_string(),
                };
                let _ = write!(o, "    {what:<13} {:<36} on {}", t.key, t.host);
                if t.attempts > 1 {
                    let _ = write!(o, " ({} attempts)", t.attempts);
                }
                let _ = writeln!(o, " {}", secs(t.duration));
                if let Some(e) = &t.error {
                    let _ = writeln!(o, "                  error: {e}");
                }
                if let Some(out) = &t.output {
                    for (name, text) in [("stdout", &out.stdout), ("stderr", &out.stderr)] {
                        if !text.trim().is_empty() {
                            let _ = writeln!(o, "                  {name}:");
                            for l in text.lines().take(20) {
                                let _ = writeln!(o, "                    | {l}");
                            }
                        }
                    }
                }
            }
        }
        for w in &self.warnings {
            let _ = writeln!(o, "  warning: {w}");
        }
        f.write_str(&o)
    }
}
