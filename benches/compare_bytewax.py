"""tradeflow against what a user would pick instead, on the same ticks, in one run.

Ticks -> 1-minute event-time OHLCV bars per symbol -> EMA(20) and RSI(14) on the bar closes, in
  - tradeflow: the trading graph's own bar and indicator operators, one worker
    (`cargo bench --bench pipeline -- compare TICKS.csv`);
  - Bytewax 0.21: its event-time tumbling windows (fold_window) and a stateful map, input
    batches of 10,000, one worker;
  - pandas resample + TA-Lib, in batch.
Every system starts from the ticks already in memory; each prints the same digest (the sum
over symbols of the last EMA(20) and RSI(14)), so the three are seen to compute the same thing.

    python -m venv target/benchenv
    target/benchenv/bin/pip install bytewax==0.21.1 pandas==3.1.1 numpy ta-lib==0.8.2
    target/benchenv/bin/python benches/compare_bytewax.py [--symbols 50] [--ticks 2000000]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import talib

START_NS = 1_704_205_800_000_000_000  # 2024-01-02T14:30:00Z


def generate(symbols, ticks, seed=7):
    """Random-walk ticks, 3 a second per symbol, in time order."""
    rng = np.random.default_rng(seed)
    per = ticks // symbols
    step_ns = 1_000_000_000 // 3
    ts = START_NS + np.repeat(np.arange(per, dtype=np.int64) * step_ns, symbols) + np.tile(
        np.arange(symbols, dtype=np.int64) * 1000, per
    )
    sym = np.tile(np.arange(symbols), per)
    prices = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 2e-4, size=(per, symbols)), axis=0)).reshape(-1)
    prices = np.round(prices, 4)
    sizes = rng.integers(1, 500, size=per * symbols)
    names = np.array([f"S{i:04d}" for i in range(symbols)])
    return pd.DataFrame({"ts": ts, "symbol": names[sym], "price": prices, "size": sizes.astype(float)})


def ema_talib(prev, x, period, seen, seed_total):
    """TA-Lib's EMA, one value at a time: seeded by the simple average of the first `period`."""
    seen += 1
    if seen < period:
        return None, seen, seed_total + x
    if seen == period:
        return (seed_total + x) / period, seen, seed_total + x
    return prev + (x - prev) * (2.0 / (period + 1)), seen, seed_total


def bytewax_run(df):
    import bytewax.operators as op
    import bytewax.operators.windowing as win
    from bytewax.dataflow import Dataflow
    from bytewax.operators.windowing import EventClock, TumblingWindower
    from bytewax.testing import TestingSink, TestingSource, run_main

    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    items = [
        (s, epoch + timedelta(microseconds=int(t) // 1000), p, z)
        for s, t, p, z in zip(df.symbol.values, df.ts.values, df.price.values, df["size"].values)
    ]
    out = []
    flow = Dataflow("bars_and_indicators")
    ticks = op.input("ticks", flow, TestingSource(items, batch_size=10_000))
    keyed = op.key_on("by_symbol", ticks, lambda t: t[0])
    clock = EventClock(lambda t: t[1], wait_for_system_duration=timedelta(0))
    windower = TumblingWindower(length=timedelta(minutes=1), align_to=datetime(2024, 1, 1, tzinfo=timezone.utc))

    def fold(bar, t):
        price, size = t[2], t[3]
        if bar is None:
            return [price, price, price, price, size]
        bar[1] = max(bar[1], price)
        bar[2] = min(bar[2], price)
        bar[3] = price
        bar[4] += size
        return bar

    def merge(a, b):
        return [a[0], max(a[1], b[1]), min(a[2], b[2]), b[3], a[4] + b[4]]

    bars = win.fold_window("ohlcv_1m", keyed, clock, windower, lambda: None, fold, merge)

    def indicators(state, window_bar):
        _, bar = window_bar
        close = bar[3]
        if state is None:
            state = {"ema": None, "seen": 0, "seed": 0.0, "prev": None, "n": 0, "gain": 0.0, "loss": 0.0, "rsi": None}
        state["ema"], state["seen"], state["seed"] = ema_talib(state["ema"], close, 20, state["seen"], state["seed"])
        # TA-Lib's RSI(14): plain averages of the first 14 changes, then Wilder's smoothing.
        if state["prev"] is not None:
            change = close - state["prev"]
            state["n"] += 1
            gain, loss = max(change, 0.0), max(-change, 0.0)
            if state["n"] <= 14:
                state["gain"] += gain
                state["loss"] += loss
                if state["n"] == 14:
                    state["gain"] /= 14
                    state["loss"] /= 14
            else:
                state["gain"] = (state["gain"] * 13 + gain) / 14
                state["loss"] = (state["loss"] * 13 + loss) / 14
            if state["n"] >= 14:
                total = state["gain"] + state["loss"]
                state["rsi"] = 0.0 if total == 0 else 100.0 * state["gain"] / total
        state["prev"] = close
        return state, (state["ema"], state["rsi"])

    values = op.stateful_map("ema_rsi", bars.down, indicators)
    op.output("out", values, TestingSink(out))
    started = time.perf_counter()
    run_main(flow)
    seconds = time.perf_counter() - started
    last = {}
    for key, (ema, rsi) in out:
        last[key] = (ema, rsi)
    digest = sum(e + r for e, r in last.values() if e is not None and r is not None)
    return seconds, len(out), digest


def pandas_run(df):
    frame = df.copy()
    frame.index = pd.to_datetime(frame.ts, unit="ns", utc=True)
    started = time.perf_counter()
    digest, bars = 0.0, 0
    for _, g in frame.groupby("symbol", sort=False):
        ohlcv = g.price.resample("1min").ohlc()
        ohlcv["volume"] = g["size"].resample("1min").sum()
        ohlcv = ohlcv.dropna()
        close = ohlcv.close.to_numpy()
        ema = talib.EMA(close, timeperiod=20)
        rsi = talib.RSI(close, timeperiod=14)
        bars += len(close)
        digest += ema[-1] + rsi[-1]
    return time.perf_counter() - started, bars, digest


def tradeflow_run(path):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run(
        ["cargo", "bench", "--quiet", "--bench", "pipeline", "--", "compare", path],
        cwd=root, capture_output=True, text=True, check=True,
    ).stdout
    line = next(l for l in out.splitlines() if l.startswith("compare "))
    fields = dict(kv.split("=") for kv in line.split()[1:])
    return float(fields["seconds"]), int(fields["bars"]), float(fields["digest"])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--symbols", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=2_000_000)
    args = parser.parse_args()
    df = generate(args.symbols, args.ticks)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "ticks.csv")
        df.to_csv(path, index=False)
        results = {"tradeflow": tradeflow_run(path)}
    results["pandas + TA-Lib"] = pandas_run(df)
    results["Bytewax"] = bytewax_run(df)
    n = len(df)
    base = results["tradeflow"][0]
    print(f"{n} ticks, {args.symbols} symbols, one worker each; seconds from ticks in memory to indicators out")
    print(f"{'system':<18} {'seconds':>9} {'ticks/s':>12} {'bars':>8} {'digest':>16} {'time vs tradeflow':>18}")
    for name, (seconds, bars, digest) in results.items():
        print(f"{name:<18} {seconds:>9.3f} {n / seconds:>12,.0f} {bars:>8} {digest:>16.6f} {seconds / base:>17.1f}x")


if __name__ == "__main__":
    sys.exit(main())
