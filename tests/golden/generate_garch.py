"""Golden GARCH(1,1) fits from the `arch` package, for tests/garch_against_arch.rs.

Simulates four GARCH(1,1) series (seeded), writes their closes as a bar file
(ts, symbol, open, high, low, close, volume: the `tradeflow indicators` and `tradeflow garch`
input), and fits each series' log returns of the close, in percent (x100, arch's advice), with
arch: a constant mean and a zero mean, Gaussian errors. Writes per (symbol, mean model) the
parameters, the log-likelihood and the one-step variance forecast.

    python tests/golden/generate_garch.py tests/golden/garch
"""

import os
import sys

import numpy as np
from arch import arch_model

SERIES = [
    # symbol, mu (%), omega (%^2), alpha, beta, observations
    ("TYPICAL", 0.03, 0.02, 0.08, 0.90, 1500),
    ("JUMPY", -0.01, 0.10, 0.15, 0.70, 1000),
    ("CALM", 0.00, 0.50, 0.05, 0.30, 800),
    ("PERSISTENT", 0.02, 0.005, 0.04, 0.95, 2000),
]


def simulate(rng, mu, omega, alpha, beta, n):
    burn = 500
    e = np.zeros(n + burn)
    s2 = omega / (1.0 - alpha - beta)
    for t in range(n + burn):
        if t > 0:
            s2 = omega + alpha * e[t - 1] ** 2 + beta * s2
        e[t] = np.sqrt(s2) * rng.standard_normal()
    return (mu + e[burn:]) / 100.0


def main(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(20261122)
    start = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z
    day = 86_400_000_000_000
    bars = ["ts,symbol,open,high,low,close,volume"]
    fits = ["symbol,mean,mu,omega,alpha,beta,loglik,variance_next,observations"]
    for symbol, mu, omega, alpha, beta, n in SERIES:
        r = simulate(rng, mu, omega, alpha, beta, n)
        closes = 100.0 * np.exp(np.concatenate([[0.0], np.cumsum(r)]))
        closes = [float(c) for c in closes]
        for i, c in enumerate(closes):
            bars.append(f"{start + i * day},{symbol},{c!r},{c!r},{c!r},{c!r},1000")
        # The returns as the Rust side computes them from the file's closes.
        parsed = np.array(closes)
        y = 100.0 * np.log(parsed[1:] / parsed[:-1])
        for mean in ["constant", "zero"]:
            model = arch_model(y, mean="Constant" if mean == "constant" else "Zero", vol="GARCH", p=1, q=1,
                               dist="normal", rescale=False)
            res = model.fit(disp="off", options={"ftol": 1e-12, "maxiter": 2000})
            p = res.params
            variance_next = res.forecast(horizon=1, reindex=False).variance.values[-1, 0]
            values = [p.get("mu", 0.0), p["omega"], p["alpha[1]"], p["beta[1]"], res.loglikelihood, variance_next]
            fits.append(f"{symbol},{mean}," + ",".join(repr(float(v)) for v in values) + f",{len(y)}")
    with open(os.path.join(out, "prices.csv"), "w") as f:
        f.write("\n".join(bars) + "\n")
    with open(os.path.join(out, "arch_fits.csv"), "w") as f:
        f.write("\n".join(fits) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
