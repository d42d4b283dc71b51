//! Every indicator by name: its parameters with TA-Lib's defaults, its outputs, its lookback,
//! and how to build its state machine. The config, the `indicators` command and the README
//! table all read this one list.

use super::*;

/// One parameter of an indicator.
#[derive(Debug, PartialEq)]
pub struct Param {
    pub name: &'static str,
    pub default: f64,
    pub min: f64,
    pub max: f64,
    pub integer: bool,
}

impl Param {
    const fn period(name: &'static str, default: f64, min: f64) -> Self {
        Param { name, default, min, max: 100_000.0, integer: true }
    }
    const fn factor(name: &'static str, default: f64, max: f64) -> Self {
        Param { name, default, min: 0.0, max, integer: false }
    }

    pub(super) fn parse(&self, text: &str) -> Result<f64, String> {
        let value: f64 = text.parse().map_err(|_| format!("must be a number, got `{text}`"))?;
        if self.integer && (value.fract() != 0.0 || text.contains('.')) {
            return Err(format!("must be an integer, got `{text}`"));
        }
        if !(value.is_finite() && value >= self.min && value <= self.max) {
            return Err(format!("must be at least {} and at most {}, got `{text}`", self.min, self.max));
        }
        Ok(value)
    }
}

/// One indicator.
#[derive(Debug)]
pub struct Definition {
    /// TA-Lib's function name in lower case.
    pub name: &'static str,
    pub description: &'static str,
    pub params: &'static [Param],
    /// TA-Lib's output names (one entry for single-output functions).
    pub outputs: &'static [&'static str],
    pub(super) build: fn(&[f64]) -> Box<dyn Indicator>,
    pub(super) lookback: fn(&[f64]) -> usize,
    pub(super) check: fn(&[f64]) -> Result<(), String>,
}

impl PartialEq for Definition {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

fn ok(_: &[f64]) -> Result<(), String> {
    Ok(())
}

#[inline]
fn n(p: &[f64], i: usize) -> usize {
    p[i] as usize
}

const PERIOD_30: &[Param] = &[Param::period("timeperiod", 30.0, 1.0)];
const PERIOD_14: &[Param] = &[Param::period("timeperiod", 14.0, 2.0)];
const PERIOD_10: &[Param] = &[Param::period("timeperiod", 10.0, 1.0)];
const NONE: &[Param] = &[];
const FAST_SLOW: &[Param] = &[Param::period("fastperiod", 12.0, 2.0), Param::period("slowperiod", 26.0, 2.0)];

/// Every indicator tradeflow computes, TA-Lib's first.
pub static INDICATORS: &[Definition] = &[
    Definition {
        name: "sma",
        description: "simple moving average",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Sma::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "ema",
        description: "exponential moving average, seeded with the SMA of the first values",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Ema::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "wma",
        description: "linearly weighted moving average",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Wma::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "dema",
        description: "double exponential moving average",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Dema::new(n(p, 0))),
        lookback: |p| 2 * (n(p, 0) - 1),
        check: ok,
    },
    Definition {
        name: "tema",
        description: "triple exponential moving average",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Tema::new(n(p, 0))),
        lookback: |p| 3 * (n(p, 0) - 1),
        check: ok,
    },
    Definition {
        name: "trima",
        description: "triangular moving average",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Trima::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "kama",
        description: "Kaufman adaptive moving average",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Kama::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "t3",
        description: "Tillson T3 moving average",
        params: &[Param::period("timeperiod", 5.0, 2.0), Param::factor("vfactor", 0.7, 1.0)],
        outputs: &["real"],
        build: |p| Box::new(T3::new(n(p, 0), p[1])),
        lookback: |p| 6 * (n(p, 0) - 1),
        check: ok,
    },
    Definition {
        name: "rsi",
        description: "relative strength index (Wilder)",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Rsi::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "cmo",
        description: "Chande momentum oscillator",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Cmo::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "roc",
        description: "rate of change, percent",
        params: PERIOD_10,
        outputs: &["real"],
        build: |p| Box::new(Roc::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "mom",
        description: "momentum, close minus close n bars ago",
        params: PERIOD_10,
        outputs: &["real"],
        build: |p| Box::new(Mom::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "apo",
        description: "absolute price oscillator (SMA)",
        params: FAST_SLOW,
        outputs: &["real"],
        build: |p| Box::new(PriceOscillator::new(n(p, 0), n(p, 1), false)),
        lookback: |p| n(p, 0).max(n(p, 1)) - 1,
        check: ok,
    },
    Definition {
        name: "ppo",
        description: "percentage price oscillator (SMA)",
        params: FAST_SLOW,
        outputs: &["real"],
        build: |p| Box::new(PriceOscillator::new(n(p, 0), n(p, 1), true)),
        lookback: |p| n(p, 0).max(n(p, 1)) - 1,
        check: ok,
    },
    Definition {
        name: "trix",
        description: "one-bar rate of change of a triple EMA, percent",
        params: PERIOD_30,
        outputs: &["real"],
        build: |p| Box::new(Trix::new(n(p, 0))),
        lookback: |p| 3 * (n(p, 0) - 1) + 1,
        check: ok,
    },
    Definition {
        name: "macd",
        description: "moving average convergence/divergence",
        params: &[
            Param::period("fastperiod", 12.0, 2.0),
            Param::period("slowperiod", 26.0, 2.0),
            Param::period("signalperiod", 9.0, 1.0),
        ],
        outputs: &["macd", "macdsignal", "macdhist"],
        build: |p| Box::new(Macd::new(n(p, 0), n(p, 1), n(p, 2))),
        lookback: |p| n(p, 0).max(n(p, 1)) - 1 + n(p, 2) - 1,
        check: ok,
    },
    Definition {
        name: "bbands",
        description: "Bollinger bands (SMA, population deviation)",
        params: &[
            Param::period("timeperiod", 5.0, 2.0),
            Param::factor("nbdevup", 2.0, 100.0),
            Param::factor("nbdevdn", 2.0, 100.0),
        ],
        outputs: &["upperband", "middleband", "lowerband"],
        build: |p| Box::new(Bbands::new(n(p, 0), p[1], p[2])),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "stddev",
        description: "population standard deviation times nbdev",
        params: &[Param::period("timeperiod", 5.0, 2.0), Param::factor("nbdev", 1.0, 100.0)],
        outputs: &["real"],
        build: |p| Box::new(StdDev::new(n(p, 0), p[1])),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "var",
        description: "population variance (nbdev is accepted and ignored, as in TA-Lib)",
        params: &[Param::period("timeperiod", 5.0, 1.0), Param::factor("nbdev", 1.0, 100.0)],
        outputs: &["real"],
        build: |p| Box::new(Variance::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "trange",
        description: "true range",
        params: NONE,
        outputs: &["real"],
        build: |_| Box::new(TRange::new()),
        lookback: |_| 1,
        check: ok,
    },
    Definition {
        name: "atr",
        description: "average true range (Wilder)",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Atr::new(n(p, 0), false)),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "natr",
        description: "normalized average true range, percent of close",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Atr::new(n(p, 0), true)),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "plus_di",
        description: "plus directional indicator",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Di::new(n(p, 0), true)),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "minus_di",
        description: "minus directional indicator",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Di::new(n(p, 0), false)),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "dx",
        description: "directional movement index",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Dx::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "adx",
        description: "average directional movement index",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Adx::new(n(p, 0))),
        lookback: |p| 2 * n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "adxr",
        description: "ADX rating",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Adxr::new(n(p, 0))),
        lookback: |p| 3 * n(p, 0) - 2,
        check: ok,
    },
    Definition {
        name: "stoch",
        description: "slow stochastic (SMA smoothing)",
        params: &[
            Param::period("fastk_period", 5.0, 1.0),
            Param::period("slowk_period", 3.0, 1.0),
            Param::period("slowd_period", 3.0, 1.0),
        ],
        outputs: &["slowk", "slowd"],
        build: |p| Box::new(Stoch::new(n(p, 0), n(p, 1), n(p, 2))),
        lookback: |p| n(p, 0) - 1 + n(p, 1) - 1 + n(p, 2) - 1,
        check: ok,
    },
    Definition {
        name: "stochf",
        description: "fast stochastic (SMA smoothing)",
        params: &[Param::period("fastk_period", 5.0, 1.0), Param::period("fastd_period", 3.0, 1.0)],
        outputs: &["fastk", "fastd"],
        build: |p| Box::new(StochF::new(n(p, 0), n(p, 1))),
        lookback: |p| n(p, 0) - 1 + n(p, 1) - 1,
        check: ok,
    },
    Definition {
        name: "stochrsi",
        description: "fast stochastic of the RSI",
        params: &[
            Param::period("timeperiod", 14.0, 2.0),
            Param::period("fastk_period", 5.0, 1.0),
            Param::period("fastd_period", 3.0, 1.0),
        ],
        outputs: &["fastk", "fastd"],
        build: |p| Box::new(StochRsi::new(n(p, 0), n(p, 1), n(p, 2))),
        lookback: |p| n(p, 0) + n(p, 1) - 1 + n(p, 2) - 1,
        check: ok,
    },
    Definition {
        name: "willr",
        description: "Williams' %R",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Willr::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "cci",
        description: "commodity channel index",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Cci::new(n(p, 0))),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "mfi",
        description: "money flow index",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Mfi::new(n(p, 0))),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "ultosc",
        description: "ultimate oscillator",
        params: &[
            Param::period("timeperiod1", 7.0, 1.0),
            Param::period("timeperiod2", 14.0, 1.0),
            Param::period("timeperiod3", 28.0, 1.0),
        ],
        outputs: &["real"],
        build: |p| Box::new(UltOsc::new(n(p, 0), n(p, 1), n(p, 2))),
        lookback: |p| n(p, 0).max(n(p, 1)).max(n(p, 2)),
        check: ok,
    },
    Definition {
        name: "aroon",
        description: "Aroon down and up",
        params: PERIOD_14,
        outputs: &["aroondown", "aroonup"],
        build: |p| Box::new(Aroon::new(n(p, 0), false)),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "aroonosc",
        description: "Aroon oscillator, up minus down",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Aroon::new(n(p, 0), true)),
        lookback: |p| n(p, 0),
        check: ok,
    },
    Definition {
        name: "bop",
        description: "balance of power",
        params: NONE,
        outputs: &["real"],
        build: |_| Box::new(Bop),
        lookback: |_| 0,
        check: ok,
    },
    Definition {
        name: "obv",
        description: "on-balance volume",
        params: NONE,
        outputs: &["real"],
        build: |_| Box::new(Obv::default()),
        lookback: |_| 0,
        check: ok,
    },
    Definition {
        name: "ad",
        description: "Chaikin accumulation/distribution line",
        params: NONE,
        outputs: &["real"],
        build: |_| Box::new(Ad::default()),
        lookback: |_| 0,
        check: ok,
    },
    Definition {
        name: "adosc",
        description: "Chaikin A/D oscillator",
        params: &[Param::period("fastperiod", 3.0, 2.0), Param::period("slowperiod", 10.0, 2.0)],
        outputs: &["real"],
        build: |p| Box::new(AdOsc::new(n(p, 0), n(p, 1))),
        lookback: |p| n(p, 0).max(n(p, 1)) - 1,
        check: ok,
    },
    Definition {
        name: "linearreg",
        description: "least-squares line value at the newest bar",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(LinearReg::new(n(p, 0), false)),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "linearreg_slope",
        description: "least-squares line slope per bar",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(LinearReg::new(n(p, 0), true)),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "midpoint",
        description: "(highest close + lowest close) / 2",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Midpoint::new(n(p, 0), true)),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "midprice",
        description: "(highest high + lowest low) / 2",
        params: PERIOD_14,
        outputs: &["real"],
        build: |p| Box::new(Midpoint::new(n(p, 0), false)),
        lookback: |p| n(p, 0) - 1,
        check: ok,
    },
    Definition {
        name: "sar",
        description: "parabolic stop and reverse",
        params: &[Param::factor("acceleration", 0.02, 1.0), Param::factor("maximum", 0.2, 1.0)],
        outputs: &["real"],
        build: |p| Box::new(Sar::new(p[0], p[1])),
        lookback: |_| 1,
        check: ok,
    },
];
