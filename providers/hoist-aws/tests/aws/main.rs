//! The AWS provider against a real EC2 emulator (moto_server), one integration binary.
//!
//! Every test gets an account of its own in moto (`x-moto-account-id`), so tests are
//! independent and can run in parallel against one server. Without `HOIST_TEST_MOTO_URL` the
//! tests skip with a printed reason, except under `CI=true`, where they fail.

mod support;

mod cycle;
mod day2;
mod faults;
mod idempotency;
mod web;
