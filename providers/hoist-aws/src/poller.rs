//! A small shared poller for instance states: every instance waited for in one region is
//! looked up by the same `DescribeInstances` call, so waiting for a hundred instances costs a
//! handful of calls, not a hundred per poll.
//!
//! There is no background task (a proxy may outlive the runtime that first used it): waiters
//! register their instance ids, and a waiter whose id is due (never polled yet, or polled one
//! interval ago) and not covered by a poll in flight becomes the poller for every due id: after
//! a short gathering pause (letting concurrent launches join the batch) it describes them all
//! (filter `instance-id`, 200 per call, so an id that is not visible yet is simply absent
//! instead of failing the call), publishes the results and wakes the others. An id never
//! waits behind a poll that does not cover it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;
use hoist_provider::{ErrorKind, ProvisionError};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cloud::Inner;

/// The pause before a poll, which lets instances launched at about the same time share it.
const GATHER: Duration = Duration::from_millis(50);

/// What one poll saw of an instance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Observed {
    /// `pending`, `running`, `shutting-down`, `terminated`, `stopping`, `stopped`, or
    /// `missing` (not returned by the last poll).
    pub state: String,
    /// Private IPv4 address.
    pub private_ip: Option<String>,
    /// Public IPv4 address.
    pub public_ip: Option<String>,
    /// Availability zone.
    pub availability_zone: Option<String>,
}

impl Observed {
    pub(crate) fn from_instance(i: &aws_sdk_ec2::types::Instance) -> Self {
        Observed {
            state: i
                .state()
                .and_then(|s| s.name())
                .map_or_else(|| "unknown".into(), |n| n.as_str().to_string()),
            private_ip: i.private_ip_address().map(str::to_string),
            public_ip: i.public_ip_address().map(str::to_string),
            availability_zone: i
                .placement()
                .and_then(|p| p.availability_zone())
                .map(str::to_string),
        }
    }
}

/// What a waiter is waiting for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Want {
    /// `running` (fails on `terminated`, `shutting-down` and `stopped`).
    Running,
    /// `terminated`, or gone.
    Terminated,
}

/// One watched instance.
#[derive(Default)]
struct Watch {
    /// Waiters.
    waiters: usize,
    /// What the last poll that covered it saw.
    seen: Option<Observed>,
    /// A poll covering it is in flight.
    in_poll: bool,
    /// When the last poll covering it finished.
    polled_at: Option<Instant>,
}

impl Watch {
    /// When it should next be polled: soon if no poll has covered it yet, else one interval
    /// after the last.
    fn due(&self, interval: Duration) -> Option<Instant> {
        if self.in_poll {
            None
        } else {
            Some(self.polled_at.map_or_else(Instant::now, |t| t + interval))
        }
    }
}

/// The poller of one region.
pub(crate) struct Poller {
    watched: Mutex<HashMap<String, Watch>>,
    notify: Notify,
}

impl Poller {
    pub(crate) fn new() -> Self {
        Poller {
            watched: Mutex::new(HashMap::new()),
            notify: Notify::new(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, HashMap<String, Watch>> {
        self.watched.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until instance `id` is in the wanted state, or `timeout` passes.
    pub(crate) async fn wait(
        &self,
        cloud: &Inner,
        client: &Client,
        id: &str,
        want: Want,
        timeout: Duration,
    ) -> Result<Observed, ProvisionError> {
        let start = Instant::now();
        let deadline = start + timeout;
        {
            let mut st = self.st();
            let w = st.entry(id.to_string()).or_default();
            w.waiters += 1;
            if !w.in_poll {
                w.seen = None;
                w.polled_at = None;
            }
        }
        let result = self
            .wait_registered(cloud, client, id, want, start, deadline)
            .await;
        let mut st = self.st();
        if let Some(w) = st.get_mut(id) {
            w.waiters -= 1;
            if w.waiters == 0 {
                st.remove(id);
            }
        }
        result
    }

    fn verdict(
        cloud: &Inner,
        id: &str,
        want: Want,
        o: &Observed,
        start: Instant,
    ) -> Option<Result<Observed, ProvisionError>> {
        match (want, o.state.as_str()) {
            (Want::Running, "running") => Some(Ok(o.clone())),
            (Want::Running, "terminated" | "shutting-down" | "stopped" | "stopping") => {
                Some(Err(ProvisionError::new(
                    ErrorKind::Other,
                    format!("instance {id} is {} instead of running", o.state),
                )
                .with_code("InstanceNotRunning")))
            }
            (Want::Running, "missing")
                if Instant::now() - start > cloud.settings.not_found_timeout =>
            {
                Some(Err(ProvisionError::new(
                    ErrorKind::NotFound,
                    format!("instance {id} never became visible"),
                )
                .with_code("InvalidInstanceID.NotFound")))
            }
            (Want::Terminated, "terminated" | "missing") => Some(Ok(o.clone())),
            _ => None,
        }
    }

    async fn wait_registered(
        &self,
        cloud: &Inner,
        client: &Client,
        id: &str,
        want: Want,
        start: Instant,
        deadline: Instant,
    ) -> Result<Observed, ProvisionError> {
        let interval = cloud.settings.poll_interval;
        // A short pause before a poll lets concurrent launches share it.
        let gather = GATHER;
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (seen, due, polled_at) = {
                let st = self.st();
                let w = st.get(id);
                (
                    w.and_then(|w| w.seen.clone()),
                    w.and_then(|w| w.due(interval)),
                    w.and_then(|w| w.polled_at),
                )
            };
            if let Some(o) = seen
                && let Some(v) = Self::verdict(cloud, id, want, &o, start)
            {
                return v;
            }
            if Instant::now() >= deadline {
                let what = match want {
                    Want::Running => "running",
                    Want::Terminated => "terminated",
                };
                return Err(ProvisionError::new(
                    ErrorKind::Transient,
                    format!(
                        "instance {id} was not {what} after {:?}",
                        deadline.saturating_duration_since(start)
                    ),
                )
                .with_code("WaitTimeout"));
            }
            match due {
                // No poll covers this id: become the poller for every id that is due.
                Some(at) => {
                    tokio::time::sleep_until((at.max(Instant::now()) + gather).min(deadline)).await;
                    let batch: Vec<String> = {
                        let mut st = self.st();
                        let now = Instant::now();
                        let is_due = |w: &Watch| {
                            !w.in_poll && w.polled_at.is_none_or(|t| t + interval <= now)
                        };
                        // Another waiter may have polled it while this one paused.
                        if !st
                            .get(id)
                            .is_some_and(|w| is_due(w) && w.polled_at == polled_at)
                        {
                            continue;
                        }
                        let batch: Vec<String> = st
                            .iter()
                            .filter(|(_, w)| is_due(w))
                            .map(|(k, _)| k.clone())
                            .collect();
                        for k in &batch {
                            if let Some(w) = st.get_mut(k) {
                                w.in_poll = true;
                            }
                        }
                        batch
                    };
                    let r = self.poll(cloud, client, &batch).await;
                    {
                        let mut st = self.st();
                        let now = Instant::now();
                        let mut seen = r.as_ref().ok().cloned().unwrap_or_default();
                        for k in &batch {
                            if let Some(w) = st.get_mut(k) {
                                w.in_poll = false;
                                w.polled_at = Some(now);
                                if r.is_ok() {
                                    w.seen = Some(seen.remove(k).unwrap_or_else(|| Observed {
                                        state: "missing".into(),
                                        ..Observed::default()
                                    }));
                                }
                            }
                        }
                    }
                    self.notify.notify_waiters();
                    r?;
                }
                // A poll covering it is in flight: wait for its results.
                None => {
                    let _ = tokio::time::timeout_at(deadline, notified).await;
                }
            }
        }
    }

    /// Describes `ids` (200 per call).
    async fn poll(
        &self,
        cloud: &Inner,
        client: &Client,
        ids: &[String],
    ) -> Result<HashMap<String, Observed>, ProvisionError> {
        let mut seen: HashMap<String, Observed> = HashMap::new();
        for chunk in ids.chunks(200) {
            let filter = Filter::builder()
                .name("instance-id")
                .set_values(Some(chunk.to_vec()))
                .build();
            let out = cloud
                .call(
                    "DescribeInstances",
                    client.describe_instances().filters(filter).send(),
                )
                .await?;
            for r in out.reservations() {
                for i in r.instances() {
                    if let Some(iid) = i.instance_id() {
                        seen.insert(iid.to_string(), Observed::from_instance(i));
                    }
                }
            }
        }
        Ok(seen)
    }
}
