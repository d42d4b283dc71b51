//! tradeflow, the application: the CLI's commands, job configs, connectors (simulator, files,
//! Parquet), and the job runner that attaches them to the trading graph.

pub mod cluster;
pub mod commands;
pub mod config;
pub mod connectors;
pub mod fuzzing;
pub mod job;
pub mod kernels_config;
pub mod progress;
pub mod report;
pub mod sentiment;
pub mod server;
pub mod snapshots;
pub mod timefmt;
pub mod watch;
