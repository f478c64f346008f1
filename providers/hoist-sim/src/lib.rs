//! The built-in simulated cloud.
