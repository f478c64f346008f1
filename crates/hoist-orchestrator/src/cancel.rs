//! Cancellation of a run: the token the scheduler watches and the handle users hold.

use std::sync::{Arc, Mutex, PoisonError};

use tokio_util::sync::CancellationToken;

/// Stops a running orchestration: no new work is scheduled, work in flight finishes, and the
/// run returns its partial report.
#[derive(Clone)]
pub struct CancelHandle(pub(crate) Cancel);

impl CancelHandle {
    /// Requests cancellation.
    pub fn cancel(&self) {
        self.0.cancel();
    }
}

/// The cancellation shared by an orchestration and its handles. A cancellation applies to the
/// run in progress (or, if none is, to the next one) and is spent when that run ends: the run
/// after it starts afresh (to resume, or to tear down what was made).
#[derive(Clone, Default)]
pub(crate) struct Cancel(Arc<Mutex<CancellationToken>>);

impl Cancel {
    fn token(&self) -> CancellationToken {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn cancel(&self) {
        self.token().cancel();
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.token().is_cancelled()
    }

    /// Resolves when the run is cancelled.
    pub(crate) async fn cancelled(&self) {
        self.token().cancelled_owned().await;
    }

    /// Called when a run ends, after its events were delivered: later runs are not cancelled.
    pub(crate) fn spend(&self) {
        let mut t = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if t.is_cancelled() {
            *t = CancellationToken::new();
        }
    }
}
