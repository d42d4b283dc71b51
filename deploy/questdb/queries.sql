-- Analysis queries over tradeflow's QuestDB tables (deploy/questdb/schema.sql).
-- Run one with `tradeflow sql "..."`, or all with `tradeflow sql --file deploy/questdb/queries.sql`.
-- Every statement here is checked for QuestDB syntax in CI (@questdb/sql-parser).

-- 1. OHLCV resampling: 5-minute bars from the 1-second bars, per symbol.
SELECT ts, symbol, first(open) AS open, max(high) AS high, min(low) AS low, last(close) AS close,
       sum(volume) AS volume
FROM bars_1s
WHERE symbol = 'BABA'
SAMPLE BY 5m ALIGN TO CALENDAR;

-- 2. The latest price of every symbol.
SELECT ts, symbol, price, bid, ask FROM ticks LATEST ON ts PARTITION BY symbol;

-- 3. VWAP per symbol and hour, from the ticks.
SELECT ts, symbol, sum(price * size) / sum(size) AS vwap, sum(size) AS volume, count() AS ticks
FROM ticks
SAMPLE BY 1h;

-- 4. The P&L curve: equity per minute, with the running peak and drawdown.
SELECT ts, account, last(equity) AS equity, last(peak_equity) AS peak, last(drawdown) AS drawdown
FROM pnl
SAMPLE BY 1m;

-- 5. Maximum drawdown and final equity per account.
SELECT account, max(drawdown) AS max_drawdown, last(equity) AS final_equity, max(peak_equity) AS peak
FROM pnl;

-- 6. Slippage: each fill against the price its order was decided at, in basis points
--    (positive: paid more than decided on a buy, or received less on a sell).
SELECT f.ts, f.symbol, f.side, f.qty, o.decision_price, f.price,
       CASE WHEN f.side = 'buy' THEN (f.price - o.decision_price) / o.decision_price * 10000
            ELSE (o.decision_price - f.price) / o.decision_price * 10000 END AS slippage_bps
FROM fills f
JOIN orders o ON f.order_id = o.id;

-- 7. Average slippage and fees per symbol.
SELECT f.symbol, count() AS fills, avg((f.price - o.decision_price) / o.decision_price * 10000) AS avg_move_bps,
       sum(f.fee) AS fees
FROM fills f
JOIN orders o ON f.order_id = o.id
GROUP BY f.symbol
ORDER BY fees DESC;

-- 8. Sentiment against the next bar's return: each score with the first full 1-minute bar that
--    starts after it. ASOF JOIN takes the latest bar ending at or before the (shifted) time, so
--    shifting the score by two minutes picks the bar ending in (ts + 1m, ts + 2m].
SELECT s.news_ts, s.symbol, s.score, s.confidence, b.ts AS bar_end, (b.close - b.open) / b.open AS next_bar_return
FROM (SELECT ts AS news_ts, dateadd('m', 2, ts) AS ts, symbol, score, confidence FROM sentiment) timestamp(ts) s
ASOF JOIN bars_1m b ON (symbol);

-- 9. Rejected orders by rule, per account and day.
SELECT ts, account, rule, count() AS refusals
FROM risk_events
WHERE kind = 'rejected'
SAMPLE BY 1d;

-- 10. Indicator snapshot at each order: the latest indicator row of the order's symbol at or
--     before the order's time.
SELECT o.ts, o.id, o.symbol, o.side, o.qty, i.close, i.rsi_14, i.ema_12, i.ema_26, i.macd_12_26_9_macdhist
FROM orders o
ASOF JOIN indicators i ON (symbol);

-- 11. Late and dead-lettered input per reason and hour.
SELECT ts, reason, count() AS letters
FROM late_and_dead_letters
SAMPLE BY 1h;

-- 12. Late records only, by input (file or topic partition).
SELECT left(origin, strpos(origin, '@') - 1) AS input, count() AS late
FROM late_and_dead_letters
WHERE reason LIKE 'late%';

-- 13. Open positions now: the latest position row per account and symbol, non-zero only.
SELECT * FROM (
  SELECT ts, account, symbol, qty, avg_price, realized_pnl FROM positions LATEST ON ts PARTITION BY account, symbol
) WHERE qty != 0;

-- 14. Signals per symbol and hour, with the mean strength of those that led to an order.
SELECT s.ts, s.symbol, count() AS signals, avg(s.strength) AS mean_strength
FROM signals s
SAMPLE BY 1h;

-- 15. Fills per minute across all symbols, gaps filled with zero.
SELECT ts, count() AS fills, sum(qty * price) AS notional
FROM fills
SAMPLE BY 1m FILL(0);

-- 16. Kill switch and limit history: every risk event that is not a routine refusal.
SELECT ts, account, kind, rule, symbol, detail
FROM risk_events
WHERE kind != 'rejected'
ORDER BY ts;
