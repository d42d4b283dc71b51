//! Arrow record batches as ILP rows: the same columns the Parquet files have, with the `ts`
//! column as the designated timestamp and the low-cardinality text columns as SYMBOLs.

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, TimestampNanosecondType, UInt64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use questdb::ingress::{Buffer, ColumnName, TableName, TimestampNanos};

/// Text columns written as SYMBOL (interned by QuestDB), matching `deploy/questdb/schema.sql`.
const SYMBOL_COLUMNS: [&str; 7] = ["symbol", "account", "source", "kind", "side", "model", "rule"];

/// The QuestDB table a stream lands in.
pub fn table_name(prefix: &str, stream: &str) -> String {
    let base = if stream == "dead_letters" { "late_and_dead_letters" } else { stream };
    format!("{prefix}{base}")
}

/// A column name QuestDB accepts: anything but letters, digits and `_` becomes `_`
/// (`bbands_20_2.5_2` → `bbands_20_2_5_2`).
fn column_name(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect()
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Symbol,
    Text,
    Float,
    Integer,
    Timestamp,
}

/// How one stream's columns become ILP: names checked once, symbols first (ILP requires it),
/// the designated timestamp last.
#[derive(Debug)]
pub struct TableLayout {
    table: String,
    /// (index in the batch, ILP name, kind), symbols first.
    columns: Vec<(usize, String, Kind)>,
    designated: usize,
}

impl TableLayout {
    pub fn new(table: &str, schema: &Schema) -> Result<Self, String> {
        TableName::new(table).map_err(|e| format!("table `{table}`: {}", e.msg()))?;
        let designated = schema.index_of("ts").map_err(|_| format!("table `{table}` has no `ts` column"))?;
        let mut columns = Vec::new();
        for (i, field) in schema.fields().iter().enumerate() {
            if i == designated {
                continue;
            }
            let kind = match field.data_type() {
                DataType::Utf8 if SYMBOL_COLUMNS.contains(&field.name().as_str()) => Kind::Symbol,
                DataType::Utf8 => Kind::Text,
                DataType::Float64 => Kind::Float,
                DataType::UInt64 => Kind::Integer,
                DataType::Timestamp(TimeUnit::Nanosecond, _) => Kind::Timestamp,
                other => return Err(format!("table `{table}` column `{}`: no ILP type for {other}", field.name())),
            };
            let name = column_name(field.name());
            ColumnName::new(&name).map_err(|e| format!("table `{table}` column `{name}`: {}", e.msg()))?;
            columns.push((i, name, kind));
        }
        columns.sort_by_key(|(_, _, kind)| *kind != Kind::Symbol);
        Ok(TableLayout { table: table.to_owned(), columns, designated })
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Appends every row of `batch` to `buffer`, recording where each row ends (to find a row
    /// the server refuses by its line number). Nulls are left out, as ILP expects.
    pub fn encode(&self, batch: &RecordBatch, buffer: &mut Buffer, row_ends: &mut Vec<usize>) -> Result<(), String> {
        let at = batch.column(self.designated).as_primitive::<TimestampNanosecondType>();
        let table = TableName::new_unchecked(&self.table);
        for row in 0..batch.num_rows() {
            let encoded = (|| -> questdb::Result<()> {
                buffer.table(table)?;
                for (index, name, kind) in &self.columns {
                    let column = batch.column(*index);
                    if column.is_null(row) {
                        continue;
                    }
                    let name = ColumnName::new_unchecked(name);
                    match kind {
                        Kind::Symbol => buffer.symbol(name, column.as_string::<i32>().value(row))?,
                        Kind::Text => buffer.column_str(name, column.as_string::<i32>().value(row))?,
                        Kind::Float => buffer.column_f64(name, column.as_primitive::<Float64Type>().value(row))?,
                        Kind::Integer => {
                            let v = column.as_primitive::<UInt64Type>().value(row);
                            buffer.column_i64(name, i64::try_from(v).unwrap_or(i64::MAX))?
                        }
                        Kind::Timestamp => buffer.column_ts(
                            name,
                            TimestampNanos::new(column.as_primitive::<TimestampNanosecondType>().value(row)),
                        )?,
                    };
                }
                buffer.at(TimestampNanos::new(at.value(row)))
            })();
            if let Err(e) = encoded {
                // Leave the buffer as it was before this row.
                buffer.rewind_to_marker().ok();
                return Err(format!("table `{}` row {row}: {}", self.table, e.msg()));
            }
            buffer.set_marker().map_err(|e| e.msg().to_owned())?;
            row_ends.push(buffer.len());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use questdb::ingress::ProtocolVersion;
    use tradeflow_operators::{Order, OrderKind, Side, Symbol, SymbolTable};

    use super::*;
    use crate::connectors::arrow_rows::{ArrowRecord, RowContext};

    fn order(id: &str, limit: Option<f64>) -> Order {
        Order {
            ts: 1_700_000_000_123_456_789,
            id: id.into(),
            account: "paper".into(),
            symbol: Symbol(0),
            side: Side::Buy,
            qty: 10.0,
            kind: OrderKind::Market,
            limit_price: limit,
            expires: None,
            decision_price: 100.25,
            reason: "trend \"up\", breakout".into(),
        }
    }

    #[test]
    fn rows_put_symbols_first_leave_nulls_out_and_escape_text() {
        let ctx = RowContext { symbols: Arc::new(SymbolTable::new(["AAPL"])), ..Default::default() };
        let batch = Order::to_batch(&[order("a-1", None), order("a-2", Some(99.5))], &ctx).unwrap();
        let layout = TableLayout::new("orders", &batch.schema()).unwrap();
        let mut buffer = Buffer::new(ProtocolVersion::V1);
        buffer.set_marker().unwrap();
        let mut ends = Vec::new();
        layout.encode(&batch, &mut buffer, &mut ends).unwrap();
        let text = String::from_utf8(buffer.as_bytes().to_vec()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "orders,account=paper,symbol=AAPL,side=buy,kind=market id=\"a-1\",qty=10.0,decision_price=100.25,\
             reason=\"trend \\\"up\\\", breakout\" 1700000000123456789"
        );
        assert!(lines[1].contains("limit_price=99.5"), "{}", lines[1]);
        assert_eq!(ends, [lines[0].len() + 1, text.len()]);
    }

    #[test]
    fn column_names_questdb_refuses_are_rewritten() {
        assert_eq!(column_name("bbands_20_2.5_2_upperband"), "bbands_20_2_5_2_upperband");
        assert_eq!(table_name("tf_", "dead_letters"), "tf_late_and_dead_letters");
    }
}
