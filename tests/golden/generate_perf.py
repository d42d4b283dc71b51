#!/usr/bin/env python3
"""Generates the performance-statistics golden files that tests/perf_golden.rs checks
tradeflow's tearsheet against.

    python3 tests/golden/generate_perf.py [OUT_DIR]      # default: tests/golden/perf

Conventions: simple daily returns, 252 periods a year, risk-free rate 0. The empyrical measures
come from `empyrical-reloaded` (0.7.1); win rate, profit factor, average win and loss, and the
longest drawdown come from `quantstats` (0.0.86): win rate = gaining periods / non-zero periods,
profit factor = sum of gains / |sum of losses|, the longest drawdown in days of a daily index
(so one period a day: the periods spent below a previous peak). Undefined values (no
dispersion, no losses) are written as null.
"""

import json
import math
import os
import sys

import empyrical as ep
import numpy as np
import pandas as pd
import quantstats as qs

PERIODS = 252


def series():
    rng = np.random.default_rng(20261122)
    yield "normal_1000", rng.normal(0.0004, 0.012, 1000)
    crash = rng.normal(0.0005, 0.01, 500)
    crash[200] = -0.25
    crash[201:260] = np.abs(crash[201:260]) * 0.5
    yield "crash_and_recovery", crash
    yield "only_gains", rng.uniform(0.0001, 0.01, 100)
    yield "short_30", rng.normal(0.001, 0.02, 30)
    yield "with_flat_days", np.where(rng.uniform(size=400) < 0.3, 0.0, rng.normal(0.0, 0.015, 400))


def longest_drawdown(daily):
    details = qs.stats.drawdown_details(qs.stats.to_drawdown_series(daily))
    return int(details["days"].max()) if len(details) else 0


def finite(x):
    x = float(x)
    return x if math.isfinite(x) else None


def stats(r):
    daily = pd.Series(r, index=pd.date_range("2000-01-01", periods=len(r), freq="D"))
    has_losses, has_wins = bool((r < 0).any()), bool((r > 0).any())
    return {
        "periods": len(r),
        "total_return": finite(ep.cum_returns_final(r)),
        "annual_return": finite(ep.annual_return(r, annualization=PERIODS)),
        "annual_volatility": finite(ep.annual_volatility(r, annualization=PERIODS)),
        "sharpe": finite(ep.sharpe_ratio(r, risk_free=0, annualization=PERIODS)),
        "sortino": finite(ep.sortino_ratio(r, required_return=0, annualization=PERIODS)),
        "calmar": finite(ep.calmar_ratio(r, annualization=PERIODS)),
        "max_drawdown": finite(ep.max_drawdown(r)),
        "max_drawdown_periods": longest_drawdown(daily),
        "win_rate": finite(qs.stats.win_rate(daily)) if (r != 0).any() else None,
        "profit_factor": finite(qs.stats.profit_factor(daily)) if has_losses else None,
        "avg_win": finite(qs.stats.avg_win(daily)) if has_wins else None,
        "avg_loss": finite(qs.stats.avg_loss(daily)) if has_losses else None,
        "var_95": finite(ep.value_at_risk(r, cutoff=0.05)),
        "cvar_95": finite(ep.conditional_value_at_risk(r, cutoff=0.05)),
        "var_99": finite(ep.value_at_risk(r, cutoff=0.01)),
        "cvar_99": finite(ep.conditional_value_at_risk(r, cutoff=0.01)),
    }


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "perf")
    os.makedirs(out_dir, exist_ok=True)
    names = []
    for name, r in series():
        r = np.asarray(r, dtype=float)
        doc = {"periods_per_year": PERIODS, "returns": [float(x) for x in r], "expected": stats(r)}
        with open(os.path.join(out_dir, f"{name}.json"), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
        names.append(name)
    print(f"wrote {len(names)} series to {out_dir} with empyrical {ep.__version__}")


if __name__ == "__main__":
    main()
