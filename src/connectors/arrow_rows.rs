//! Every record type as Arrow columns: one schema per stream, shared by the Parquet sink and
//! (later) other columnar sinks.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, RecordBatch, StringArray, TimestampNanosecondArray, UInt64Array};
use arrow_schema::ArrowError;
use tradeflow_operators::{
    Audit, Bar, DeadLetter, Expiry, Fill, IndicatorSet, News, Order, Pnl, PortfolioVar, Position, RiskEvent, Sentiment,
    Signal, SymbolTable, Tick,
};

/// What a sink needs to turn records into columns: names for interned symbols, and the
/// indicator columns.
#[derive(Clone, Debug, Default)]
pub struct RowContext {
    pub symbols: Arc<SymbolTable>,
    pub indicator_columns: Arc<Vec<String>>,
}

/// A record type that can be written as Arrow columns.
pub trait ArrowRecord: Sized + 'static {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError>;
}

fn ts<R>(rows: &[R], f: impl Fn(&R) -> i64) -> ArrayRef {
    Arc::new(TimestampNanosecondArray::from_iter_values(rows.iter().map(f)).with_timezone("UTC"))
}

fn ts_opt<R>(rows: &[R], f: impl Fn(&R) -> Option<i64>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<TimestampNanosecondArray>().with_timezone("UTC"))
}

fn float<R>(rows: &[R], f: impl Fn(&R) -> f64) -> ArrayRef {
    Arc::new(Float64Array::from_iter_values(rows.iter().map(f)))
}

/// Missing (and NaN) values become nulls.
fn float_opt<R>(rows: &[R], f: impl Fn(&R) -> Option<f64>) -> ArrayRef {
    Arc::new(rows.iter().map(|r| f(r).filter(|v| !v.is_nan())).collect::<Float64Array>())
}

fn uint<R>(rows: &[R], f: impl Fn(&R) -> u64) -> ArrayRef {
    Arc::new(UInt64Array::from_iter_values(rows.iter().map(f)))
}

fn text<'a, R: 'a>(rows: &'a [R], f: impl Fn(&'a R) -> &'a str) -> ArrayRef {
    Arc::new(StringArray::from_iter_values(rows.iter().map(f)))
}

fn text_opt<'a, R: 'a>(rows: &'a [R], f: impl Fn(&'a R) -> Option<&'a str>) -> ArrayRef {
    Arc::new(rows.iter().map(f).collect::<StringArray>())
}

fn batch(columns: Vec<(&str, ArrayRef, bool)>) -> Result<RecordBatch, ArrowError> {
    RecordBatch::try_from_iter_with_nullable(columns)
}

macro_rules! symbol_col {
    ($rows:expr, $ctx:expr) => {
        text($rows, |r| $ctx.symbols.name(r.symbol))
    };
}

impl ArrowRecord for Tick {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("price", float(rows, |r| r.price), false),
            ("size", float(rows, |r| r.size), false),
            ("bid", float_opt(rows, |r| r.bid), true),
            ("ask", float_opt(rows, |r| r.ask), true),
        ])
    }
}

impl ArrowRecord for Bar {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.end), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("start", ts(rows, |r| r.start), false),
            ("open", float(rows, |r| r.open), false),
            ("high", float(rows, |r| r.high), false),
            ("low", float(rows, |r| r.low), false),
            ("close", float(rows, |r| r.close), false),
            ("volume", float(rows, |r| r.volume), false),
            ("vwap", float(rows, |r| r.vwap), false),
            ("trades", uint(rows, |r| r.trades), false),
        ])
    }
}

impl ArrowRecord for IndicatorSet {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        let mut columns = vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("close", float(rows, |r| r.close), false),
        ];
        for (i, name) in ctx.indicator_columns.iter().enumerate() {
            columns.push((name.as_str(), float_opt(rows, |r| r.values.get(i).copied()), true));
        }
        batch(columns)
    }
}

impl ArrowRecord for News {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        let names: Vec<String> =
            rows.iter().map(|r| r.symbols.iter().map(|s| ctx.symbols.name(*s)).collect::<Vec<_>>().join("|")).collect();
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("id", text(rows, |r| &r.id), false),
            ("source", text(rows, |r| &r.source), false),
            ("headline", text(rows, |r| &r.headline), false),
            ("body", text(rows, |r| &r.body), false),
            ("symbols", text(&names, |n| n), false),
        ])
    }
}

impl ArrowRecord for Sentiment {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("news_id", text(rows, |r| &r.news_id), false),
            ("score", float(rows, |r| r.score), false),
            ("confidence", float(rows, |r| r.confidence), false),
            ("model", text(rows, |r| &r.model), false),
            ("latency_ns", uint(rows, |r| r.latency_ns.max(0) as u64), false),
            ("cost_usd", float(rows, |r| r.cost_usd), false),
        ])
    }
}

impl ArrowRecord for Signal {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("strength", float(rows, |r| r.strength), false),
            ("confidence", float(rows, |r| r.confidence), false),
            ("price", float(rows, |r| r.price), false),
            ("volatility", float_opt(rows, |r| Some(r.volatility)), true),
            ("reasons", text(rows, |r| &r.reasons), false),
            ("inputs", text(rows, |r| &r.inputs), false),
        ])
    }
}

impl ArrowRecord for Order {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("id", text(rows, |r| &r.id), false),
            ("account", text(rows, |r| &r.account), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("side", text(rows, |r| r.side.as_str()), false),
            ("qty", float(rows, |r| r.qty), false),
            ("kind", text(rows, |r| r.kind.as_str()), false),
            ("limit_price", float_opt(rows, |r| r.limit_price), true),
            ("expires", ts_opt(rows, |r| r.expires), true),
            ("decision_price", float(rows, |r| r.decision_price), false),
            ("reason", text(rows, |r| &r.reason), false),
        ])
    }
}

impl ArrowRecord for Fill {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("order_id", text(rows, |r| &r.order_id), false),
            ("account", text(rows, |r| &r.account), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("side", text(rows, |r| r.side.as_str()), false),
            ("qty", float(rows, |r| r.qty), false),
            ("price", float(rows, |r| r.price), false),
            ("fee", float(rows, |r| r.fee), false),
        ])
    }
}

impl ArrowRecord for Position {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("account", text(rows, |r| &r.account), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("qty", float(rows, |r| r.qty), false),
            ("avg_price", float(rows, |r| r.avg_price), false),
            ("realized_pnl", float(rows, |r| r.realized_pnl), false),
        ])
    }
}

impl ArrowRecord for Pnl {
    fn to_batch(rows: &[Self], _ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("account", text(rows, |r| &r.account), false),
            ("cash", float(rows, |r| r.cash), false),
            ("equity", float(rows, |r| r.equity), false),
            ("realized", float(rows, |r| r.realized), false),
            ("unrealized", float(rows, |r| r.unrealized), false),
            ("fees", float(rows, |r| r.fees), false),
            ("gross_exposure", float(rows, |r| r.gross_exposure), false),
            ("peak_equity", float(rows, |r| r.peak_equity), false),
            ("drawdown", float(rows, |r| r.drawdown), false),
            ("day_pnl", float(rows, |r| r.day_pnl), false),
            ("week_pnl", float(rows, |r| r.week_pnl), false),
        ])
    }
}

impl ArrowRecord for PortfolioVar {
    fn to_batch(rows: &[Self], _ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("account", text(rows, |r| &r.account), false),
            ("positions", uint(rows, |r| u64::from(r.positions)), false),
            ("gross", float(rows, |r| r.gross), false),
            ("var95", float(rows, |r| r.var95), false),
            ("cvar95", float(rows, |r| r.cvar95), false),
            ("var99", float(rows, |r| r.var99), false),
            ("cvar99", float(rows, |r| r.cvar99), false),
            ("paths", uint(rows, |r| u64::from(r.paths)), false),
            ("observations", uint(rows, |r| u64::from(r.observations)), false),
            ("horizon_bars", uint(rows, |r| u64::from(r.horizon_bars)), false),
        ])
    }
}

impl ArrowRecord for RiskEvent {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("account", text(rows, |r| &r.account), false),
            ("kind", text(rows, |r| r.kind.as_str()), false),
            ("rule", text(rows, |r| &r.rule), false),
            ("symbol", text_opt(rows, |r| r.symbol.map(|s| ctx.symbols.name(s))), true),
            ("detail", text(rows, |r| &r.detail), false),
        ])
    }
}

impl ArrowRecord for Expiry {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("order_id", text(rows, |r| &r.order_id), false),
            ("account", text(rows, |r| &r.account), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("side", text(rows, |r| r.side.as_str()), false),
            ("qty", float(rows, |r| r.qty), false),
        ])
    }
}

impl ArrowRecord for Audit {
    fn to_batch(rows: &[Self], ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("order_id", text(rows, |r| &r.order_id), false),
            ("account", text(rows, |r| &r.account), false),
            ("symbol", symbol_col!(rows, ctx), false),
            ("strength", float_opt(rows, |r| Some(r.strength)), true),
            ("confidence", float_opt(rows, |r| Some(r.confidence)), true),
            ("reasons", text(rows, |r| &r.reasons), false),
            ("inputs", text(rows, |r| &r.inputs), false),
            ("sizing", text(rows, |r| &r.sizing), false),
            ("checks", text(rows, |r| &r.checks), false),
        ])
    }
}

impl ArrowRecord for DeadLetter {
    fn to_batch(rows: &[Self], _ctx: &RowContext) -> Result<RecordBatch, ArrowError> {
        batch(vec![
            ("ts", ts(rows, |r| r.ts), false),
            ("origin", text(rows, |r| &r.origin), false),
            ("reason", text(rows, |r| &r.reason), false),
            ("raw", text(rows, |r| &r.raw), false),
        ])
    }
}
