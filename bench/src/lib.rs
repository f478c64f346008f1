//! Helpers shared by the benchmark programs in `src/bin/`.
//!
//! The SSH fan-out programs (`ssh_fanout_hoist`, `ssh_fanout_floor`) take the same arguments,
//! read the same test bed (`scripts/testbed`) and print their result in the same form, so
//! that `bench/run-ssh-fanout.sh` can run them side by side with Ansible and pyinfra.

pub mod fanout;
pub mod scale;
