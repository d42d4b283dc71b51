//! Commands beside `run`: batch runs of the dataflow's own state machines over a file, and the
//! Kafka tools.

pub mod client;
pub mod garch;
pub mod indicators;
pub mod kafka;
pub mod questdb;
pub mod sentiment;
