-- tradeflow's QuestDB tables: one per stream the job writes (the sink's table names; with
-- `output.questdb.table_prefix` set, create them with that prefix). Columns match the Parquet
-- files column for column; `ts` is the designated timestamp (nanosecond event time; QuestDB
-- keeps microseconds). Text with few distinct values is SYMBOL.
--
-- Every table is WAL with DEDUP UPSERT KEYS: a replay after a crash resends rows the server
-- may already hold (an HTTP timeout does not mean they were not written), and the keys make
-- the second copy replace the first instead of doubling it. Each key is what identifies a row
-- in its stream: (time, symbol) for per-symbol series, the deterministic order id for orders,
-- the input position (file:line, topic/partition@offset) for dead letters.
--
-- Apply with `tradeflow questdb init` (every statement is IF NOT EXISTS). The sink also works
-- without it (ILP creates missing tables), but then there is no DEDUP and no SYMBOL typing.

CREATE TABLE IF NOT EXISTS ticks (
  ts TIMESTAMP, symbol SYMBOL, price DOUBLE, size DOUBLE, bid DOUBLE, ask DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, symbol);

CREATE TABLE IF NOT EXISTS news (
  ts TIMESTAMP, source SYMBOL, id VARCHAR, headline VARCHAR, body VARCHAR, symbols VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, id);

CREATE TABLE IF NOT EXISTS bars_1s (
  ts TIMESTAMP, symbol SYMBOL, start TIMESTAMP, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
  volume DOUBLE, vwap DOUBLE, trades LONG
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, symbol);

CREATE TABLE IF NOT EXISTS bars_1m (
  ts TIMESTAMP, symbol SYMBOL, start TIMESTAMP, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
  volume DOUBLE, vwap DOUBLE, trades LONG
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, symbol);

-- One column per configured indicator (`tradeflow indicators` lists the names); ILP adds the
-- columns of a job's indicator set as they first arrive, these are the demo's.
CREATE TABLE IF NOT EXISTS indicators (
  ts TIMESTAMP, symbol SYMBOL, close DOUBLE,
  ema_12 DOUBLE, ema_26 DOUBLE, rsi_14 DOUBLE,
  macd_12_26_9_macd DOUBLE, macd_12_26_9_macdsignal DOUBLE, macd_12_26_9_macdhist DOUBLE,
  bbands_20_2_2_upperband DOUBLE, bbands_20_2_2_middleband DOUBLE, bbands_20_2_2_lowerband DOUBLE,
  resistance_break_50 DOUBLE, support_50_1 DOUBLE, realvol_30 DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, symbol);

CREATE TABLE IF NOT EXISTS sentiment (
  ts TIMESTAMP, symbol SYMBOL, news_id VARCHAR, score DOUBLE, confidence DOUBLE, model SYMBOL,
  latency_ns LONG, cost_usd DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, symbol, news_id);

CREATE TABLE IF NOT EXISTS signals (
  ts TIMESTAMP, symbol SYMBOL, strength DOUBLE, confidence DOUBLE, price DOUBLE, volatility DOUBLE,
  reasons VARCHAR, inputs VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, symbol);

CREATE TABLE IF NOT EXISTS orders (
  ts TIMESTAMP, id VARCHAR, account SYMBOL, symbol SYMBOL, side SYMBOL, qty DOUBLE, kind SYMBOL,
  limit_price DOUBLE, expires TIMESTAMP, decision_price DOUBLE, reason VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, id);

CREATE TABLE IF NOT EXISTS fills (
  ts TIMESTAMP, order_id VARCHAR, account SYMBOL, symbol SYMBOL, side SYMBOL, qty DOUBLE,
  price DOUBLE, fee DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, order_id);

CREATE TABLE IF NOT EXISTS expiries (
  ts TIMESTAMP, order_id VARCHAR, account SYMBOL, symbol SYMBOL, side SYMBOL, qty DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, order_id);

CREATE TABLE IF NOT EXISTS audit (
  ts TIMESTAMP, order_id VARCHAR, account SYMBOL, symbol SYMBOL, strength DOUBLE, confidence DOUBLE,
  reasons VARCHAR, inputs VARCHAR, sizing VARCHAR, checks VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, order_id);

CREATE TABLE IF NOT EXISTS positions (
  ts TIMESTAMP, account SYMBOL, symbol SYMBOL, qty DOUBLE, avg_price DOUBLE, realized_pnl DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, account, symbol);

CREATE TABLE IF NOT EXISTS pnl (
  ts TIMESTAMP, account SYMBOL, cash DOUBLE, equity DOUBLE, realized DOUBLE, unrealized DOUBLE,
  fees DOUBLE, gross_exposure DOUBLE, peak_equity DOUBLE, drawdown DOUBLE, day_pnl DOUBLE,
  week_pnl DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, account);

CREATE TABLE IF NOT EXISTS risk_events (
  ts TIMESTAMP, account SYMBOL, kind SYMBOL, rule SYMBOL, symbol SYMBOL, detail VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, account, kind, rule, symbol, detail);

CREATE TABLE IF NOT EXISTS var (
  ts TIMESTAMP, account SYMBOL, positions LONG, gross DOUBLE, var95 DOUBLE, cvar95 DOUBLE,
  var99 DOUBLE, cvar99 DOUBLE, paths LONG, observations LONG, horizon_bars LONG
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, account);

CREATE TABLE IF NOT EXISTS late_and_dead_letters (
  ts TIMESTAMP, origin VARCHAR, reason VARCHAR, raw VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL
DEDUP UPSERT KEYS(ts, origin);
