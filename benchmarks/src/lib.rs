//! cronlock measured next to tokio-cron-scheduler and a naive baseline (one
//! tokio task per job sleeping to its next second): how late fires start,
//! how many are missed or doubled, idle CPU, memory and start-up.
//!
//! The driver is the `peers` binary; `scripts/bench-peers` runs it with the
//! criterion benchmarks. Each measured system runs in its own process so
//! memory and CPU figures are its alone.

pub mod deployments;
pub mod fires;
pub mod plot;
pub mod process;
pub mod systems;
