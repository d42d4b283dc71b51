//! Performance statistics of a return series, with empyrical's conventions (and quantstats'
//! for the win/loss figures): simple returns per period, `periods_per_year` periods a year
//! (252 for daily), risk-free rate 0, sample standard deviation (ddof 1), historical VaR by
//! linear interpolation between order statistics.

use serde::Serialize;

/// Everything the tearsheet shows about a return series. NaN where a statistic is undefined
/// (too few periods, no dispersion, no drawdown).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Performance {
    pub periods: usize,
    pub total_return: f64,
    /// Compound annual growth rate.
    pub annual_return: f64,
    pub annual_volatility: f64,
    pub sharpe: f64,
    pub sortino: f64,
    pub calmar: f64,
    /// The largest fall from a running peak (including the starting value), as a negative fraction.
    pub max_drawdown: f64,
    /// The longest stretch, in periods, spent below a previous peak.
    pub max_drawdown_periods: usize,
    /// Share of non-zero periods that gained.
    pub win_rate: f64,
    /// Sum of gains over the absolute sum of losses.
    pub profit_factor: f64,
    pub avg_win: f64,
    pub avg_loss: f64,
    pub var_95: f64,
    pub cvar_95: f64,
    pub var_99: f64,
    pub cvar_99: f64,
}

fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() { f64::NAN } else { xs.iter().sum::<f64>() / xs.len() as f64 }
}

fn sample_std(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// numpy's default percentile: linear interpolation between the closest order statistics.
fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - lo as f64)
}

/// empyrical's CVaR: the mean of the `floor((n - 1) cutoff) + 1` smallest returns.
fn cvar(sorted: &[f64], cutoff: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let k = ((sorted.len() - 1) as f64 * cutoff) as usize;
    mean(&sorted[..=k])
}

/// The statistics of `returns` (simple returns, one per period).
pub fn performance(returns: &[f64], periods_per_year: f64) -> Performance {
    let n = returns.len();
    let growth: f64 = returns.iter().map(|r| 1.0 + r).product();
    let total_return = if n == 0 { f64::NAN } else { growth - 1.0 };
    let annual_return = if n == 0 { f64::NAN } else { growth.powf(periods_per_year / n as f64) - 1.0 };
    let sd = sample_std(returns);
    let annual_volatility = sd * periods_per_year.sqrt();
    let sharpe = if sd > 0.0 { mean(returns) / sd * periods_per_year.sqrt() } else { f64::NAN };
    let downside =
        (returns.iter().map(|r| r.min(0.0).powi(2)).sum::<f64>() / n as f64).sqrt() * periods_per_year.sqrt();
    let sortino = if downside > 0.0 { mean(returns) * periods_per_year / downside } else { f64::NAN };

    let (mut value, mut peak) = (1.0f64, 1.0f64);
    let (mut max_drawdown, mut under, mut longest) = (0.0f64, 0usize, 0usize);
    for r in returns {
        value *= 1.0 + r;
        peak = peak.max(value);
        max_drawdown = max_drawdown.min((value - peak) / peak);
        under = if value < peak { under + 1 } else { 0 };
        longest = longest.max(under);
    }
    let max_drawdown = if n == 0 { f64::NAN } else { max_drawdown };
    let calmar = if max_drawdown < 0.0 { annual_return / max_drawdown.abs() } else { f64::NAN };

    let wins: Vec<f64> = returns.iter().copied().filter(|r| *r > 0.0).collect();
    let losses: Vec<f64> = returns.iter().copied().filter(|r| *r < 0.0).collect();
    let decided = wins.len() + losses.len();
    let win_rate = if decided > 0 { wins.len() as f64 / decided as f64 } else { f64::NAN };
    let loss_sum: f64 = losses.iter().sum();
    let profit_factor = if loss_sum < 0.0 { wins.iter().sum::<f64>() / loss_sum.abs() } else { f64::NAN };

    let mut sorted = returns.to_vec();
    sorted.sort_by(f64::total_cmp);
    Performance {
        periods: n,
        total_return,
        annual_return,
        annual_volatility,
        sharpe,
        sortino,
        calmar,
        max_drawdown,
        max_drawdown_periods: longest,
        win_rate,
        profit_factor,
        avg_win: mean(&wins),
        avg_loss: mean(&losses),
        var_95: percentile(&sorted, 0.05),
        cvar_95: cvar(&sorted, 0.05),
        var_99: percentile(&sorted, 0.01),
        cvar_99: cvar(&sorted, 0.01),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_series_by_hand() {
        let p = performance(&[0.10, -0.20, 0.05], 252.0);
        assert!((p.total_return - (1.1 * 0.8 * 1.05 - 1.0)).abs() < 1e-15);
        assert!((p.max_drawdown - (-0.2)).abs() < 1e-15, "peak 1.1, trough 0.88");
        assert_eq!(p.max_drawdown_periods, 2);
        assert_eq!(p.win_rate, 2.0 / 3.0);
        assert!((p.profit_factor - 0.15 / 0.2).abs() < 1e-15);
        assert!(performance(&[], 252.0).total_return.is_nan());
        assert!(performance(&[0.01, 0.01], 252.0).sharpe.is_nan(), "no dispersion");
    }
}
