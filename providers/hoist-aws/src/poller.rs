//! A small shared poller for instance states: every instance waited for in one region is
//! looked up by the same `DescribeInstances` call, so waiting for a hundred instances costs a
//! handful of calls, not a hundred per poll.
//!
//! There is no background task (a proxy may outlive the runtime that first used it): waiters
//! register their instance ids, and whichever waiter finds no poll in progress becomes the
//! poller for everyone: it waits for the pacing interval (letting concurrent launches join the
//! batch), describes every registered id (filter `instance-id`, 200 per call, so an id that is
//! not visible yet is simply absent instead of failing the call), publishes the results and
//! wakes the others.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Filter;
use hoist_provider::{ErrorKind, ProvisionError};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::cloud::Inner;

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

#[derive(Default)]
struct PollState {
    /// Registered ids (with the number of waiters) and what the last poll saw.
    watched: HashMap<String, (usize, Option<Observed>)>,
    /// When the last poll finished.
    last: Option<Instant>,
}

/// The poller of one region.
pub(crate) struct Poller {
    state: Mutex<PollState>,
    polling: tokio::sync::Mutex<()>,
    notify: Notify,
}

impl Poller {
    pub(crate) fn new() -> Self {
        Poller {
            state: Mutex::new(PollState::default()),
            polling: tokio::sync::Mutex::new(()),
            notify: Notify::new(),
        }
    }

    fn st(&self) -> std::sync::MutexGuard<'_, PollState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
            let e = st.watched.entry(id.to_string()).or_insert((0, None));
            e.0 += 1;
            e.1 = None;
        }
        let result = self
            .wait_registered(cloud, client, id, want, start, deadline)
            .await;
        let mut st = self.st();
        if let Some(e) = st.watched.get_mut(id) {
            e.0 -= 1;
            if e.0 == 0 {
                st.watched.remove(id);
            }
        }
        result
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
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let seen = self.st().watched.get(id).and_then(|e| e.1.clone());
            if let Some(o) = seen {
                match (want, o.state.as_str()) {
                    (Want::Running, "running") => return Ok(o),
                    (Want::Running, "terminated" | "shutting-down" | "stopped" | "stopping") => {
                        return Err(ProvisionError::new(
                            ErrorKind::Other,
                            format!("instance {id} is {} instead of running", o.state),
                        )
                        .with_code("InstanceNotRunning"));
                    }
                    (Want::Running, "missing")
                        if Instant::now() - start > cloud.settings.not_found_timeout =>
                    {
                        return Err(ProvisionError::new(
                            ErrorKind::NotFound,
                            format!("instance {id} never became visible"),
                        )
                        .with_code("InvalidInstanceID.NotFound"));
                    }
                    (Want::Terminated, "terminated" | "missing") => return Ok(o),
                    _ => {}
                }
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
            match self.polling.try_lock() {
                Ok(guard) => {
                    let interval = cloud.settings.poll_interval;
                    let gather = interval.min(Duration::from_millis(50));
                    let last = self.st().last;
                    let at = last.map_or(Instant::now() + gather, |l| {
                        (l + interval).max(Instant::now() + gather)
                    });
                    tokio::time::sleep_until(at.min(deadline)).await;
                    let r = self.poll(cloud, client).await;
                    self.st().last = Some(Instant::now());
                    drop(guard);
                    self.notify.notify_waiters();
                    r?;
                }
                Err(_) => {
                    // Someone else is polling: wait for its results (or the deadline).
                    let _ = tokio::time::timeout_at(deadline, notified).await;
                }
            }
        }
    }

    /// Describes every registered instance and records what it saw.
    async fn poll(&self, cloud: &Inner, client: &Client) -> Result<(), ProvisionError> {
        let ids: Vec<String> = self.st().watched.keys().cloned().collect();
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
        let mut st = self.st();
        for id in ids {
            if let Some(e) = st.watched.get_mut(&id) {
                e.1 = Some(seen.remove(&id).unwrap_or_else(|| Observed {
                    state: "missing".into(),
                    ..Observed::default()
                }));
            }
        }
        Ok(())
    }
}
