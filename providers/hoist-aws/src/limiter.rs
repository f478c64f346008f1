//! The request rate limiter shared by every worker of one [`AwsCloud`](crate::AwsCloud).
//!
//! A reservation-based token bucket: each call reserves the next free slot (at most `burst`
//! slots ahead of the steady rate) and sleeps until it, so waiting callers are served in
//! arrival order and the average rate never exceeds the limit however many workers call at
//! once. When EC2 still answers "throttled" (after the SDK's own retries), the rate is halved
//! for a while and recovers additively on success (AIMD), so a whole orchestration backs off,
//! not just the call that was throttled.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A shared token bucket.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    max_rate: f64,
    burst: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Current rate, calls per second (≤ `max_rate`).
    rate: f64,
    /// When the next call may start if the bucket is empty.
    next: Option<Instant>,
}

impl RateLimiter {
    /// At most `rate` calls per second on average, bursts of `burst`.
    pub(crate) fn new(rate: f64, burst: u32) -> Self {
        let rate = if rate.is_finite() && rate > 0.0 {
            rate
        } else {
            f64::MAX
        };
        RateLimiter {
            max_rate: rate,
            burst: f64::from(burst.max(1)),
            state: Mutex::new(State { rate, next: None }),
        }
    }

    /// Waits for a slot.
    pub(crate) async fn acquire(&self) {
        let at = {
            let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if s.rate >= f64::MAX / 2.0 {
                return;
            }
            let now = Instant::now();
            let interval = Duration::from_secs_f64(1.0 / s.rate);
            // The bucket refills at `rate`: a slot may be as far back as `burst` intervals.
            let earliest = now.checked_sub(interval.mul_f64(self.burst)).unwrap_or(now);
            let slot = s.next.map_or(earliest, |n| n.max(earliest));
            s.next = Some(slot + interval);
            slot
        };
        if at > Instant::now() {
            tokio::time::sleep_until(at).await;
        }
    }

    /// The cloud throttled us: halve the rate (down to one call per second).
    pub(crate) fn throttled(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let base = if s.rate >= f64::MAX / 2.0 {
            50.0
        } else {
            s.rate
        };
        s.rate = (base / 2.0).max(1.0);
    }

    /// A call succeeded: recover towards the configured rate.
    pub(crate) fn succeeded(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.rate < self.max_rate {
            s.rate = (s.rate + 0.5).min(self.max_rate);
        }
    }

    /// The current rate, calls per second.
    #[cfg(test)]
    pub(crate) fn rate(&self) -> f64 {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn bounds_the_average_rate_across_workers() {
        let l = std::sync::Arc::new(RateLimiter::new(10.0, 5));
        let t0 = Instant::now();
        let mut js = tokio::task::JoinSet::new();
        for _ in 0..25 {
            let l = l.clone();
            js.spawn(async move {
                l.acquire().await;
                Instant::now()
            });
        }
        let mut last = t0;
        while let Some(t) = js.join_next().await {
            last = last.max(t.unwrap());
        }
        // 5 at once (burst), then 20 more at 10/s: about 2 s.
        let took = last - t0;
        assert!(took >= Duration::from_millis(1900), "{took:?}");
        assert!(took <= Duration::from_millis(2100), "{took:?}");
    }

    #[test]
    fn throttling_halves_and_success_recovers() {
        let l = RateLimiter::new(20.0, 1);
        l.throttled();
        assert!((l.rate() - 10.0).abs() < 1e-9);
        for _ in 0..100 {
            l.succeeded();
        }
        assert!((l.rate() - 20.0).abs() < 1e-9);
    }
}
