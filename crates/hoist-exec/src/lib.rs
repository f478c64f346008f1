//! Config tasks and the transports that run them.
