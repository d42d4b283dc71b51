//! Reports over a finished run: performance statistics of a return series (the tearsheet), as
//! text, JSON and an HTML page with charts.

pub mod html;
pub mod stats;
pub mod tearsheet;
