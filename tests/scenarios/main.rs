//! Cross-crate scenarios: whole orchestrations (plan, provision, configure, tear down) on the
//! simulated cloud and on local sandbox hosts, one module per area. Shared helpers live in the
//! `hoist_tests` library (`tests/src/lib.rs`).
//!
//! Timing-sensitive scenarios (parallelism, throttling back-off) run on a paused tokio clock,
//! so their makespans are exact and they take no real time.

mod adoption;
mod cancel;
mod checks;
mod day2;
mod drift;
mod events;
mod failures;
mod fingerprints;
mod handlers;
mod identity;
mod journal;
mod migration;
mod parallelism;
mod partial;
mod quickstart;
mod readiness;
mod rerun;
mod resume;
mod retry;
mod role_vars;
mod secrets;
mod targeting;
mod teardown;
mod throttling;
