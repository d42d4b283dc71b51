//! Where records come from and where they go: the simulator, files, Parquet.

pub mod arrow_rows;
pub mod files;
pub mod parquet;
pub mod rng;
pub mod simulator;
