//! Where records come from and where they go: the simulator, files, Kafka, Parquet.

pub mod arrow_rows;
pub mod files;
pub mod kafka;
pub mod parquet;
pub mod preloaded;
pub mod questdb;
pub mod rng;
pub mod simulator;
