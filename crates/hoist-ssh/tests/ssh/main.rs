//! SSH tests.
