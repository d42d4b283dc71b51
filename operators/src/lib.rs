//! tradeflow's event model and streaming operators.
//!
//! Pure state machines (a bar builder, an indicator, the risk book, the paper broker) live
//! beside the timely operator that drives them, so that each can be tested without a dataflow.
//! Nothing here does I/O except through a trait the application implements
//! ([`RecordSink`], [`EventReader`]).

pub mod after;
pub mod bars;
pub mod batch;
pub mod broker;
pub mod call;
pub mod event;
pub mod indicate;
pub mod indicators;
pub mod live_control;
pub mod reconcile;
pub mod risk;
pub mod sentiment;
pub mod sink;
pub mod snapshot;
pub mod source;
pub mod stash;
pub mod strategy;
pub mod symbols;
pub mod testing;
pub mod time;

pub use bars::Bars;
pub use event::*;
pub use symbols::SymbolTable;
pub use time::{EpochClock, Watermark};
