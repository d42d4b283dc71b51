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

# Spec (tradeflow's naming) -> TA-Lib call on (open, high, low, close, volume). Every TA-Lib
# function tradeflow implements, at TA-Lib's defaults and at other parameters.
SPECS = {
    "sma_30": lambda o, h, l, c, v: talib.SMA(c, 30),
    "sma_7": lambda o, h, l, c, v: talib.SMA(c, 7),
    "ema_30": lambda o, h, l, c, v: talib.EMA(c, 30),
    "ema_12": lambda o, h, l, c, v: talib.EMA(c, 12),
    "ema_26": lambda o, h, l, c, v: talib.EMA(c, 26),
    "ema_1": lambda o, h, l, c, v: talib.EMA(c, 1),
    "wma_30": lambda o, h, l, c, v: talib.WMA(c, 30),
    "wma_5": lambda o, h, l, c, v: talib.WMA(c, 5),
    "dema_30": lambda o, h, l, c, v: talib.DEMA(c, 30),
    "tema_30": lambda o, h, l, c, v: talib.TEMA(c, 30),
    "trima_30": lambda o, h, l, c, v: talib.TRIMA(c, 30),
    "trima_7": lambda o, h, l, c, v: talib.TRIMA(c, 7),
    "kama_30": lambda o, h, l, c, v: talib.KAMA(c, 30),
    "kama_10": lambda o, h, l, c, v: talib.KAMA(c, 10),
    "t3_5_0.7": lambda o, h, l, c, v: talib.T3(c, 5, 0.7),
    "t3_8_0.5": lambda o, h, l, c, v: talib.T3(c, 8, 0.5),
    "rsi_14": lambda o, h, l, c, v: talib.RSI(c, 14),
    "rsi_2": lambda o, h, l, c, v: talib.RSI(c, 2),
    "cmo_14": lambda o, h, l, c, v: talib.CMO(c, 14),
    "roc_10": lambda o, h, l, c, v: talib.ROC(c, 10),
    "mom_10": lambda o, h, l, c, v: talib.MOM(c, 10),
    "apo_12_26": lambda o, h, l, c, v: talib.APO(c, 12, 26, 0),
    "ppo_12_26": lambda o, h, l, c, v: talib.PPO(c, 12, 26, 0),
    "trix_30": lambda o, h, l, c, v: talib.TRIX(c, 30),
    "trix_5": lambda o, h, l, c, v: talib.TRIX(c, 5),
    "macd_12_26_9": lambda o, h, l, c, v: talib.MACD(c, 12, 26, 9),
    "macd_5_35_5": lambda o, h, l, c, v: talib.MACD(c, 5, 35, 5),
    "bbands_5_2_2": lambda o, h, l, c, v: talib.BBANDS(c, 5, 2, 2, 0),
    "bbands_20_2_2": lambda o, h, l, c, v: talib.BBANDS(c, 20, 2, 2, 0),
    "bbands_10_1.5_2.5": lambda o, h, l, c, v: talib.BBANDS(c, 10, 1.5, 2.5, 0),
    "stddev_5_1": lambda o, h, l, c, v: talib.STDDEV(c, 5, 1),
    "stddev_20_2": lambda o, h, l, c, v: talib.STDDEV(c, 20, 2),
    "var_5_1": lambda o, h, l, c, v: talib.VAR(c, 5, 1),
    "trange": lambda o, h, l, c, v: talib.TRANGE(h, l, c),
    "atr_14": lambda o, h, l, c, v: talib.ATR(h, l, c, 14),
    "natr_14": lambda o, h, l, c, v: talib.NATR(h, l, c, 14),
    "plus_di_14": lambda o, h, l, c, v: talib.PLUS_DI(h, l, c, 14),
    "minus_di_14": lambda o, h, l, c, v: talib.MINUS_DI(h, l, c, 14),
    "dx_14": lambda o, h, l, c, v: talib.DX(h, l, c, 14),
    "adx_14": lambda o, h, l, c, v: talib.ADX(h, l, c, 14),
    "adxr_14": lambda o, h, l, c, v: talib.ADXR(h, l, c, 14),
    "stoch_5_3_3": lambda o, h, l, c, v: talib.STOCH(h, l, c, 5, 3, 0, 3, 0),
    "stochf_5_3": lambda o, h, l, c, v: talib.STOCHF(h, l, c, 5, 3, 0),
    "stochrsi_14_5_3": lambda o, h, l, c, v: talib.STOCHRSI(c, 14, 5, 3, 0),
    "willr_14": lambda o, h, l, c, v: talib.WILLR(h, l, c, 14),
    "cci_14": lambda o, h, l, c, v: talib.CCI(h, l, c, 14),
    "mfi_14": lambda o, h, l, c, v: talib.MFI(h, l, c, v, 14),
    "ultosc_7_14_28": lambda o, h, l, c, v: talib.ULTOSC(h, l, c, 7, 14, 28),
    "aroon_14": lambda o, h, l, c, v: talib.AROON(h, l, 14),
    "aroonosc_14": lambda o, h, l, c, v: talib.AROONOSC(h, l, 14),
    "bop": lambda o, h, l, c, v: talib.BOP(o, h, l, c),
    "obv": lambda o, h, l, c, v: talib.OBV(c, v),
    "ad": lambda o, h, l, c, v: talib.AD(h, l, c, v),
    "adosc_3_10": lambda o, h, l, c, v: talib.ADOSC(h, l, c, v, 3, 10),
    "linearreg_14": lambda o, h, l, c, v: talib.LINEARREG(c, 14),
    "linearreg_slope_14": lambda o, h, l, c, v: talib.LINEARREG_SLOPE(c, 14),
    "midpoint_14": lambda o, h, l, c, v: talib.MIDPOINT(c, 14),
    "midprice_14": lambda o, h, l, c, v: talib.MIDPRICE(h, l, 14),
    "sar_0.02_0.2": lambda o, h, l, c, v: talib.SAR(h, l, 0.02, 0.2),
    "sar_0.05_0.3": lambda o, h, l, c, v: talib.SAR(h, l, 0.05, 0.3),
}
OUTPUTS = {
    "macd": ["macd", "macdsignal", "macdhist"],
    "bbands": ["upperband", "middleband", "lowerband"],
    "stoch": ["slowk", "slowd"],
    "stochf": ["fastk", "fastd"],
    "stochrsi": ["fastk", "fastd"],
    "aroon": ["aroondown", "aroonup"],
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
    with open(os.path.join(out_dir, "specs.txt"), "w") as f:
        f.write("\n".join(SPECS) + "\n")
    print(f"wrote {len(list(inputs()))} inputs to {out_dir} with TA-Lib {talib.__ta_version__.decode()}")


if __name__ == "__main__":
    main()
