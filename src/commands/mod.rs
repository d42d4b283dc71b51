//! Batch commands that run the dataflow's own state machines over a file.

pub mod indicators;
