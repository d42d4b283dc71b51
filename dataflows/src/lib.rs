//! tradeflow's dataflow graphs, built from the operators crate.
//!
//! [`trading::trading_graph`] is the one graph every mode runs: a backtest, a paper session and
//! a live session differ only in the sources and sinks the application attaches to it.

pub mod kernel_columns;
pub mod portfolio_var;
pub mod trading;

pub use trading::{StrategistSetup, TradingInputs, TradingOutputs, TradingParams, trading_graph};
