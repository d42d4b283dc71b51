#!/usr/bin/env python3
"""tradeflow's full indicator set against TA-Lib in batch, on the same bars, in one run.

    python3 benches/talib_ratio.py            # needs ta-lib and numpy (tests/golden/requirements.txt)

Writes 50 symbols x 2,000 one-minute bars to a temporary CSV, times TA-Lib computing every
indicator tradeflow has (at TA-Lib's defaults) over each symbol's arrays, runs
`cargo bench --bench indicators -- full_set` on the same file (TRADEFLOW_BENCH_BARS), and prints
bars per second for each and the ratio. TA-Lib works on whole arrays at once; tradeflow updates
one bar at a time, as a stream must.
"""

import csv
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np
import talib

SYMBOLS, BARS = 50, 2000


def talib_full_set(o, h, l, c, v):
    """Every TA-Lib function tradeflow implements, at TA-Lib's defaults."""
    return [
        talib.SMA(c), talib.EMA(c), talib.WMA(c), talib.DEMA(c), talib.TEMA(c), talib.TRIMA(c), talib.KAMA(c), talib.T3(c),
        talib.RSI(c), talib.CMO(c), talib.ROC(c), talib.MOM(c), talib.APO(c), talib.PPO(c), talib.TRIX(c), talib.MACD(c),
        talib.BBANDS(c), talib.STDDEV(c), talib.VAR(c), talib.TRANGE(h, l, c), talib.ATR(h, l, c), talib.NATR(h, l, c),
        talib.PLUS_DI(h, l, c), talib.MINUS_DI(h, l, c), talib.DX(h, l, c), talib.ADX(h, l, c), talib.ADXR(h, l, c),
        talib.STOCH(h, l, c), talib.STOCHF(h, l, c), talib.STOCHRSI(c), talib.WILLR(h, l, c), talib.CCI(h, l, c),
        talib.MFI(h, l, c, v), talib.ULTOSC(h, l, c), talib.AROON(h, l), talib.AROONOSC(h, l), talib.BOP(o, h, l, c),
        talib.OBV(c, v), talib.AD(h, l, c, v), talib.ADOSC(h, l, c, v), talib.LINEARREG(c), talib.LINEARREG_SLOPE(c),
        talib.MIDPOINT(c), talib.MIDPRICE(h, l), talib.SAR(h, l),
    ]


def main():
    rng = np.random.default_rng(1)
    series = []
    for _ in range(SYMBOLS):
        c = 100 * np.exp(np.cumsum(rng.normal(0, 0.005, BARS)))
        o = np.concatenate([[c[0]], c[:-1]])
        h = np.maximum(o, c) * (1 + np.abs(rng.normal(0, 0.001, BARS)))
        l = np.minimum(o, c) * (1 - np.abs(rng.normal(0, 0.001, BARS)))
        v = np.round(rng.lognormal(7, 0.5, BARS))
        series.append((o, h, l, c, v))
    fd, path = tempfile.mkstemp(suffix=".csv")
    with os.fdopen(fd, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "symbol", "open", "high", "low", "close", "volume"])
        for i in range(BARS):
            for s, (o, h, l, c, v) in enumerate(series):
                w.writerow([i, f"S{s:02}"] + [repr(float(x[i])) for x in (o, h, l, c, v)])

    best = float("inf")
    for _ in range(20):
        start = time.perf_counter()
        for o, h, l, c, v in series:
            talib_full_set(o, h, l, c, v)
        best = min(best, time.perf_counter() - start)
    talib_rate = SYMBOLS * BARS / best

    env = dict(os.environ, TRADEFLOW_BENCH_BARS=path)
    out = subprocess.run(
        ["cargo", "bench", "--bench", "indicators", "--", "full_set", "--output-format", "bencher"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(path)
    rates = {m.group(1): SYMBOLS * BARS / (int(m.group(2).replace(",", "")) / 1e9)
             for m in re.finditer(r"test full_set/(\w+) \.\.\. bench:\s+([\d,]+) ns/iter", out)}
    if "update" not in rates:
        sys.exit(f"could not read the benchmark output:\n{out}")
    print(f"bars: {SYMBOLS} symbols x {BARS}, {len(talib_full_set(*series[0]))} TA-Lib functions at defaults")
    print(f"TA-Lib {talib.__ta_version__.decode()} batch (best of 20): {talib_rate:,.0f} bars/s")
    for name, rate in rates.items():
        print(f"tradeflow streaming {name}: {rate:,.0f} bars/s  (x{rate / talib_rate:.2f} of TA-Lib batch)")


if __name__ == "__main__":
    main()
