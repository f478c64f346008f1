//! The one bounded retry loop: provider calls, lookups, task attempts and readiness checks
//! all go through [`retry`].

use std::future::Future;
use std::time::Duration;

use hoist_core::RetryPolicy;

use crate::cancel::Cancel;

/// Calls `op` (with the 1-based attempt number) until it succeeds, fails with an error that
/// `retryable` rejects, runs out of the policy's attempts, or the run is cancelled. Before each
/// further attempt it calls `on_retry(failed_attempt, error, delay)` and waits the policy's
/// delay (cut short by a cancellation, which returns the last error). Returns the result and
/// the number of attempts made.
pub(crate) async fn retry<T, E, Fut>(
    policy: &RetryPolicy,
    cancel: &Cancel,
    retryable: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(u32, &E, Duration),
    mut op: impl FnMut(u32) -> Fut,
) -> (Result<T, E>, u32)
where
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match op(attempt).await {
            Ok(v) => return (Ok(v), attempt),
            Err(e) if attempt < attempts && retryable(&e) && !cancel.is_cancelled() => {
                let delay = policy.delay_before(attempt + 1);
                on_retry(attempt, &e, delay);
                tokio::select! {
                    () = cancel.cancelled() => return (Err(e), attempt),
                    () = tokio::time::sleep(delay) => {}
                }
            }
            Err(e) => return (Err(e), attempt),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn policy(n: u32) -> RetryPolicy {
        RetryPolicy::attempts(n).constant(Duration::from_millis(1))
    }

    #[tokio::test]
    async fn retries_retryable_errors_up_to_the_limit() {
        let calls = AtomicU32::new(0);
        let mut retried = Vec::new();
        let (r, n) = retry(
            &policy(3),
            &Cancel::default(),
            |_: &&str| true,
            |a, _, _| retried.push(a),
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), _>("boom") }
            },
        )
        .await;
        assert_eq!((r, n), (Err("boom"), 3));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        assert_eq!(retried, vec![1, 2]);
    }

    #[tokio::test]
    async fn stops_at_a_permanent_error_and_at_success() {
        let (r, n) = retry(
            &policy(5),
            &Cancel::default(),
            |e: &&str| *e == "again",
            |_, _, _| {},
            |a| async move { if a == 1 { Err("again") } else { Err("fatal") } },
        )
        .await;
        assert_eq!((r, n), (Err::<(), _>("fatal"), 2));
        let (r, n) = retry(
            &policy(5),
            &Cancel::default(),
            |_: &&str| true,
            |_, _, _| {},
            |a| async move { if a < 3 { Err("again") } else { Ok(a) } },
        )
        .await;
        assert_eq!((r, n), (Ok(3), 3));
    }

    #[tokio::test]
    async fn a_cancelled_run_makes_no_further_attempt() {
        let cancel = Cancel::default();
        cancel.cancel();
        let (r, n) = retry(
            &policy(5),
            &cancel,
            |_: &&str| true,
            |_, _, _| {},
            |_| async { Err::<(), _>("boom") },
        )
        .await;
        assert_eq!((r, n), (Err("boom"), 1));
    }
}
