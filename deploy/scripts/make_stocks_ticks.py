#!/usr/bin/env python3
"""Writes configs/data/stocks_daily.csv, the replay file of configs/backtest.toml.

Source: the daily bars of AAPL, FB, GOOG, IBM and MSFT (2000-03-01 to 2013-03-01, Quandl WIKI
prices, declared public domain) in the PyPI package bokeh-sampledata (_data/stocks.csv.gz).
Each trading day becomes one tick at the close (20:00 UTC) at the split- and dividend-adjusted
close, with the volume scaled by the same factor (so that it counts adjusted shares), sorted by
time as a stream replay needs.

    pip download --no-deps bokeh-sampledata==2026.1 -d /tmp/bsd && unzip -o /tmp/bsd/*.whl -d /tmp/bsd
    python3 deploy/scripts/make_stocks_ticks.py /tmp/bsd/bokeh_sampledata/_data/stocks.csv.gz
"""

import csv
import gzip
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "configs" / "data" / "stocks_daily.csv"


def main(source: str) -> None:
    rows = []
    with gzip.open(source, "rt", newline="") as f:
        for r in csv.DictReader(f):
            close, adj = float(r["Close"]), float(r["Adj Close"])
            if close <= 0 or adj <= 0:
                continue
            factor = adj / close
            rows.append((f"{r['Date']}T20:00:00Z", r["Ticker"], round(adj, 6), round(float(r["Volume"]) / factor)))
    rows.sort()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["ts", "symbol", "price", "size"])
        w.writerows(rows)
    print(f"{OUT}: {len(rows)} ticks")


if __name__ == "__main__":
    main(sys.argv[1])
