//! Reports over a finished run: performance statistics of a return series (the tearsheet).

pub mod stats;
pub mod tearsheet;
