//! The typed, ordered event stream of a run, delivered to subscribers off the scheduler.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use crate::report::ResourceOutcome;

/// The phase of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Phase {
    /// Creating resources.
    Provisioning,
    /// Waiting for hosts to accept connections.
    Readiness,
    /// Running config tasks.
    Configuration,
    /// Deleting resources.
    Teardown,
    /// Deleting, in an initiate, the objects no model makes any more, and the old objects of
    /// replacements (before provisioning for those deleted first, after it for the others).
    Deletion,
    /// Reconciling pending intents with the cloud (`recover_system`).
    Recovery,
}

/// What a run does to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResourceAction {
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Replace it with a new object.
    Replace,
    /// Delete it.
    Delete,
}

/// One event. Events are delivered in the order the scheduler emitted them; `seq` numbers them.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A run starts.
    OrchestrationStarting {
        /// `initiate` or `teardown`.
        action: &'static str,
    },
    /// A run ended.
    OrchestrationFinished {
        /// Whether it succeeded.
        success: bool,
        /// Whether it was cancelled.
        cancelled: bool,
    },
    /// A phase starts.
    PhaseStarting(Phase),
    /// A phase ended.
    PhaseFinished {
        /// The phase.
        phase: Phase,
        /// Whether everything in it succeeded.
        success: bool,
    },
    /// The run found nothing to do.
    NothingToDo,
    /// A resource call starts.
    ResourceStarting {
        /// Resource key.
        key: String,
        /// What is done.
        action: ResourceAction,
    },
    /// A resource call succeeded (or found there was nothing to do).
    ResourceFinished {
        /// Resource key.
        key: String,
        /// What happened: created, adopted, deleted, absent, not created, missing.
        outcome: ResourceOutcome,
    },
    /// A resource call failed and will be retried.
    ResourceRetrying {
        /// Resource key.
        key: String,
        /// The attempt that failed (1-based).
        attempt: u32,
        /// Why.
        error: String,
    },
    /// A resource call failed for good.
    ResourceFailed {
        /// Resource key.
        key: String,
        /// Why.
        error: String,
    },
    /// A host is ready (or not) for configuration.
    HostReady {
        /// Host description.
        host: String,
        /// Whether it answered.
        ready: bool,
    },
    /// A task attempt starts.
    TaskStarting {
        /// Task key.
        key: String,
        /// Host.
        host: String,
        /// Attempt (1-based).
        attempt: u32,
    },
    /// A task succeeded.
    TaskFinished {
        /// Task key.
        key: String,
        /// Host.
        host: String,
        /// `changed`, `unchanged` or `skipped: …`.
        outcome: String,
    },
    /// A task attempt failed and the task will be retried.
    TaskRetrying {
        /// Task key.
        key: String,
        /// The attempt that failed.
        attempt: u32,
        /// Delay before the next attempt.
        delay: Duration,
        /// Why.
        error: String,
    },
    /// A task failed for good.
    TaskFailed {
        /// Task key.
        key: String,
        /// Host.
        host: String,
        /// Why (secrets scrubbed).
        error: String,
    },
}

/// An event with its sequence number and time since the run started.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// 0, 1, 2, … within a run.
    pub seq: u64,
    /// Time since the run started.
    pub elapsed: Duration,
    /// System name.
    pub system: String,
    /// What happened.
    pub kind: EventKind,
}

impl Event {
    /// The event as one progress line, for the milestones a person watching a run wants to
    /// see (phases; resources created, adopted, deleted, retried or failed; tasks finished or
    /// failed), or `None` for the rest. What the examples and the `hoist` command print.
    ///
    /// ```
    /// use std::time::Duration;
    /// use hoist_orchestrator::{Event, EventKind, ResourceOutcome};
    ///
    /// let e = Event {
    ///     seq: 3,
    ///     elapsed: Duration::from_millis(1250),
    ///     system: "shop".into(),
    ///     kind: EventKind::ResourceFinished { key: "web/db".into(), outcome: ResourceOutcome::Created },
    /// };
    /// assert_eq!(e.progress_line().unwrap(), "[   1.25s]   created   web/db");
    /// ```
    pub fn progress_line(&self) -> Option<String> {
        let what = match &self.kind {
            EventKind::PhaseStarting(p) => format!("== {p:?}"),
            EventKind::ResourceFinished { key, outcome } => {
                format!("  {:<9} {key}", outcome.word())
            }
            EventKind::ResourceRetrying {
                key,
                attempt,
                error,
            } => format!("  retrying {key} (attempt {attempt} failed: {error})"),
            EventKind::ResourceFailed { key, error } | EventKind::TaskFailed { key, error, .. } => {
                format!("  FAILED    {key}: {error}")
            }
            EventKind::TaskFinished { key, outcome, .. } => format!("  {outcome:<9} {key}"),
            _ => return None,
        };
        Some(format!("[{:7.2}s] {what}", self.elapsed.as_secs_f64()))
    }
}

/// Receives events, one at a time, in order, on a thread of its own (a slow subscriber never
/// blocks the scheduler).
pub trait EventSink: Send + Sync + 'static {
    /// Called once per event.
    fn on_event(&self, event: &Event);
}

impl<F: Fn(&Event) + Send + Sync + 'static> EventSink for F {
    fn on_event(&self, event: &Event) {
        self(event);
    }
}

/// The scheduler's side: numbers events and queues them for the delivery task. Cloneable so
/// workers can report retries; numbering and sending happen under one lock, so delivery order
/// is numbering order.
#[derive(Clone)]
pub(crate) struct Emitter {
    inner: Arc<std::sync::Mutex<(u64, mpsc::UnboundedSender<Event>)>>,
    start: tokio::time::Instant,
    system: Arc<str>,
}

impl Emitter {
    /// Starts a delivery thread for `sinks`; the returned receiver resolves after the emitter
    /// is dropped and every event was delivered.
    ///
    /// Sinks are synchronous callbacks that may block, so they run on a thread of their own,
    /// never on a runtime worker (on a `current_thread` runtime that would stall the scheduler).
    /// Without sinks there is no thread: events are only logged (`hoist::events`, debug), and
    /// the scheduler does not wake another thread for every event.
    pub(crate) fn start(
        system: &str,
        sinks: Vec<Arc<dyn EventSink>>,
    ) -> (Emitter, tokio::sync::oneshot::Receiver<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
        let (done_tx, done_rx) = tokio::sync::oneshot::channel();
        if sinks.is_empty() {
            // Nobody to deliver to: the channel is closed at once, sends are no-ops.
            drop(rx);
            let _ = done_tx.send(());
            return (Emitter::new(system, tx), done_rx);
        }
        // Sinks may still use the runtime (spawn, send on channels) as they could on a task.
        let runtime = tokio::runtime::Handle::try_current().ok();
        let deliver = move || {
            let _entered = runtime.as_ref().map(tokio::runtime::Handle::enter);
            while let Some(e) = rx.blocking_recv() {
                for s in &sinks {
                    s.on_event(&e);
                }
            }
            let _ = done_tx.send(());
        };
        if let Err(e) = std::thread::Builder::new()
            .name("hoist-events".into())
            .spawn(deliver)
        {
            // No thread: events are dropped (the receiver resolves at once), the run goes on.
            tracing::warn!(error = %e, "cannot start the event delivery thread");
        }
        (Emitter::new(system, tx), done_rx)
    }

    fn new(system: &str, tx: mpsc::UnboundedSender<Event>) -> Emitter {
        Emitter {
            inner: Arc::new(std::sync::Mutex::new((0, tx))),
            start: tokio::time::Instant::now(),
            system: Arc::from(system),
        }
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        let Ok(mut g) = self.inner.lock() else { return };
        tracing::debug!(target: "hoist::events", seq = g.0, event = ?kind);
        if g.1.is_closed() {
            g.0 += 1;
            return;
        }
        let e = Event {
            seq: g.0,
            elapsed: self.start.elapsed(),
            system: self.system.to_string(),
            kind,
        };
        g.0 += 1;
        let _ = g.1.send(e);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    fn seq_of(em: &Emitter) -> u64 {
        em.inner.lock().unwrap().0
    }

    #[tokio::test]
    async fn without_sinks_events_are_numbered_and_delivery_is_done_at_once() {
        let (em, done) = Emitter::start("sys", Vec::new());
        em.emit(EventKind::NothingToDo);
        em.emit(EventKind::PhaseStarting(Phase::Configuration));
        assert_eq!(seq_of(&em), 2);
        // Resolved while the emitter is still alive: there is nothing to wait for.
        tokio::time::timeout(Duration::from_secs(5), done)
            .await
            .expect("delivery resolves at once")
            .expect("delivery reports done");
        em.emit(EventKind::NothingToDo);
        assert_eq!(seq_of(&em), 3);
    }

    #[tokio::test]
    async fn sinks_get_every_event_in_order() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        let sink: Arc<dyn EventSink> =
            Arc::new(move |e: &Event| g.lock().unwrap().push((e.seq, e.kind.clone())));
        let (em, done) = Emitter::start("sys", vec![sink]);
        em.emit(EventKind::NothingToDo);
        em.emit(EventKind::PhaseStarting(Phase::Readiness));
        em.emit(EventKind::NothingToDo);
        drop(em);
        done.await.unwrap();
        let got = got.lock().unwrap();
        assert_eq!(
            *got,
            vec![
                (0, EventKind::NothingToDo),
                (1, EventKind::PhaseStarting(Phase::Readiness)),
                (2, EventKind::NothingToDo),
            ]
        );
    }
}
