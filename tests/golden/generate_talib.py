#!/usr/bin/env python3
"""Generates the TA-Lib golden files that tests/talib_golden.rs checks tradeflow's indicators
against.

    python3 tests/golden/generate_talib.py [OUT_DIR]      # default: tests/golden/talib

Needs the `ta-lib` (0.8.2) and `numpy` packages from PyPI; deploy/scripts/test.sh installs
them, regenerates the files into a temporary folder and fails if they differ from the
committed ones. Each input is written as `inputs/NAME.csv` (ts,symbol,open,high,low,close,
volume) and TA-Lib's outputs as `NAME.csv` (ts, then one column per indicator output, empty
where TA-Lib gives NaN). Floats are written with repr(), which round-trips exactly.
"""

import csv
import os
import sys

import numpy as np
import talib

# Column name (tradeflow's naming) -> TA-Lib call on (open, high, low, close, volume).
SPECS = {
    "ema_12": lambda o, h, l, c, v: talib.EMA(c, timeperiod=12),
    "ema_26": lambda o, h, l, c, v: talib.EMA(c, timeperiod=26),
    "ema_30": lambda o, h, l, c, v: talib.EMA(c, timeperiod=30),
    "ema_1": lambda o, h, l, c, v: talib.EMA(c, timeperiod=1),
    "rsi_14": lambda o, h, l, c, v: talib.RSI(c, timeperiod=14),
    "rsi_2": lambda o, h, l, c, v: talib.RSI(c, timeperiod=2),
    "macd_12_26_9": lambda o, h, l, c, v: talib.MACD(c, fastperiod=12, slowperiod=26, signalperiod=9),
    "macd_5_35_5": lambda o, h, l, c, v: talib.MACD(c, fastperiod=5, slowperiod=35, signalperiod=5),
    "bbands_20_2_2": lambda o, h, l, c, v: talib.BBANDS(c, timeperiod=20, nbdevup=2, nbdevdn=2),
    "bbands_5_2_2": lambda o, h, l, c, v: talib.BBANDS(c, timeperiod=5, nbdevup=2, nbdevdn=2),
    "bbands_10_1.5_2.5": lambda o, h, l, c, v: talib.BBANDS(c, timeperiod=10, nbdevup=1.5, nbdevdn=2.5),
}
OUTPUTS = {
    "macd": ["macd", "macdsignal", "macdhist"],
    "bbands": ["upperband", "middleband", "lowerband"],
}

START_NS = 1_704_205_800_000_000_000  # 2024-01-02T14:30:00Z
MINUTE_NS = 60_000_000_000


def ohlcv_from_closes(rng, closes, volume_scale=1000.0):
    n = len(closes)
    opens = np.concatenate([[closes[0]], closes[:-1]])
    spread = np.abs(rng.normal(0.0, 0.002, n)) * closes
    highs = np.maximum(opens, closes) + spread
    lows = np.minimum(opens, closes) - spread * rng.uniform(0.0, 1.0, n)
    volumes = np.round(rng.lognormal(0.0, 0.5, n) * volume_scale)
    return opens, highs, lows, closes, volumes


def random_walk(rng, n, start=100.0, vol=0.01):
    return start * np.exp(np.cumsum(rng.normal(0.0, vol, n)))


def inputs():
    rng = np.random.default_rng(20240102)
    walk = random_walk(rng, 2000)
    yield "random_walk", ohlcv_from_closes(rng, walk)

    flat = np.full(300, 50.0)
    yield "flat", (flat.copy(), flat.copy(), flat.copy(), flat.copy(), np.full(300, 100.0))

    jumps = random_walk(rng, 600)
    for i in (100, 250, 400):
        jumps[i:] *= 1.5 if i != 250 else 0.5
    yield "gaps_and_jumps", ohlcv_from_closes(rng, jumps)

    yield "tiny_prices", ohlcv_from_closes(rng, random_walk(rng, 500, start=0.0001))
    yield "huge_prices", ohlcv_from_closes(rng, random_walk(rng, 500, start=1.0e7))
    o, h, l, c, _ = ohlcv_from_closes(rng, random_walk(rng, 400))
    yield "zero_volume", (o, h, l, c, np.zeros(400))


def columns_of(name, result):
    if isinstance(result, tuple):
        family = name.split("_")[0]
        return [(f"{name}_{out}", arr) for out, arr in zip(OUTPUTS[family], result)]
    return [(name, result)]


def cell(x):
    return "" if np.isnan(x) else repr(float(x))


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "talib")
    os.makedirs(os.path.join(out_dir, "inputs"), exist_ok=True)
    for name, (o, h, l, c, v) in inputs():
        ts = [START_NS + (i + 1) * MINUTE_NS for i in range(len(c))]
        with open(os.path.join(out_dir, "inputs", f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["ts", "symbol", "open", "high", "low", "close", "volume"])
            for i in range(len(c)):
                w.writerow([ts[i], "GOLD", repr(float(o[i])), repr(float(h[i])), repr(float(l[i])), repr(float(c[i])), repr(float(v[i]))])
        columns = []
        for spec, call in SPECS.items():
            columns.extend(columns_of(spec, call(o, h, l, c, v)))
        with open(os.path.join(out_dir, f"{name}.csv"), "w", newline="") as f:
            w = csv.writer(f, lineterminator="\n")
            w.writerow(["ts"] + [col for col, _ in columns])
            for i in range(len(c)):
                w.writerow([ts[i]] + [cell(arr[i]) for _, arr in columns])
    print(f"wrote {len(list(inputs()))} inputs to {out_dir} with TA-Lib {talib.__ta_version__.decode()}")


if __name__ == "__main__":
    main()
