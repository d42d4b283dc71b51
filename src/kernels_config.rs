//! The `[kernels]` section: which batched kernels run, on which backend.

use std::sync::Arc;

use serde::Deserialize;
use tradeflow_dataflows::kernel_columns::{BatchedIndicators, GarchSetup, KernelSetup};
use tradeflow_dataflows::portfolio_var::{VarParams, VarSetup};
use tradeflow_kernels::{CupParams, GpuPolicy, IndicatorParams, Kernels};
use tradeflow_operators::SECOND;

/// `[kernels]`: nothing runs unless a subsection is present.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KernelsSection {
    /// `off`, `auto` (the GPU when one can be used, else the CPU twins) or `require`.
    pub gpu: Option<String>,
    pub garch: Option<GarchSection>,
    /// `[kernels.cup_handle]`: adds the `cup_handle` column (pattern confidence 0..1); the
    /// keys are [`CupParams`]' fields.
    pub cup_handle: Option<CupParams>,
    pub indicators: Option<BatchedSection>,
    pub var: Option<VarSection>,
}

/// `[kernels.garch]`: adds the `garch_vol` column (next bar's forecast volatility).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GarchSection {
    /// Bar returns in each fit.
    pub window: usize,
    /// Returns a symbol needs before its first fit.
    pub min_returns: usize,
    /// Bars between fits (the forecast follows the GARCH recursion in between).
    pub refit_every: usize,
    pub zero_mean: bool,
}

impl Default for GarchSection {
    fn default() -> Self {
        GarchSection { window: 390, min_returns: 60, refit_every: 30, zero_mean: false }
    }
}

/// `[kernels.indicators]`: adds `k_ema_N`, `k_rsi_N`, `k_mean_N`, `k_var_N`, `k_zscore_N`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BatchedSection {
    pub ema: u32,
    pub rsi: u32,
    pub window: u32,
    /// Closes each launch sees per symbol.
    pub history: usize,
}

impl Default for BatchedSection {
    fn default() -> Self {
        BatchedSection { ema: 20, rsi: 14, window: 30, history: 200 }
    }
}

/// `[kernels.var]`: the `var` stream.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VarSection {
    pub every_s: f64,
    pub window: usize,
    pub min_observations: usize,
    pub horizon_bars: u32,
    pub paths: u32,
    pub seed: u64,
}

impl Default for VarSection {
    fn default() -> Self {
        VarSection { every_s: 300.0, window: 120, min_observations: 30, horizon_bars: 390, paths: 100_000, seed: 7 }
    }
}

/// The kernels a job runs, resolved: columns to add and the VaR.
pub struct KernelPlan {
    pub columns: Option<KernelSetup>,
    pub var: Option<VarParams>,
}

impl KernelsSection {
    /// Checks every value, then opens the backend (so `gpu = "require"` fails here, before the
    /// job starts).
    pub fn plan(&self) -> Result<KernelPlan, String> {
        let policy: GpuPolicy = self.gpu.as_deref().unwrap_or("auto").parse().map_err(|e| format!("kernels.{e}"))?;
        if self.gpu.is_some()
            && self.garch.is_none()
            && self.cup_handle.is_none()
            && self.indicators.is_none()
            && self.var.is_none()
        {
            return Err("kernels.gpu is set but no kernel is: add [kernels.garch], [kernels.cup_handle], [kernels.indicators] or [kernels.var]".into());
        }
        let garch = self
            .garch
            .as_ref()
            .map(|g| {
                if g.window < 20 || g.min_returns < 10 || g.min_returns > g.window || g.refit_every == 0 {
                    return Err(format!(
                        "kernels.garch: need window >= 20, 10 <= min_returns <= window and refit_every >= 1 (got window {}, min_returns {}, refit_every {})",
                        g.window, g.min_returns, g.refit_every
                    ));
                }
                Ok(GarchSetup { window: g.window, min_returns: g.min_returns, refit_every: g.refit_every, zero_mean: g.zero_mean })
            })
            .transpose()?;
        let cup_handle =
            self.cup_handle.map(|p| p.check().map(|_| p).map_err(|e| format!("kernels.{e}"))).transpose()?;
        let indicators = self
            .indicators
            .as_ref()
            .map(|b| {
                if b.ema == 0 || b.rsi == 0 || b.window == 0 || b.history < b.window as usize {
                    return Err(format!(
                        "kernels.indicators: periods must be at least 1 and history ({}) at least the window ({})",
                        b.history, b.window
                    ));
                }
                Ok(BatchedIndicators {
                    params: IndicatorParams { ema_period: b.ema, rsi_period: b.rsi, window: b.window },
                    history: b.history,
                })
            })
            .transpose()?;
        let var = self
            .var
            .as_ref()
            .map(|v| {
                if !(v.every_s.is_finite() && v.every_s >= 1.0) {
                    return Err(format!("kernels.var.every_s must be at least 1, got {}", v.every_s));
                }
                if v.window < 3 || v.min_observations < 2 || v.min_observations > v.window {
                    return Err(format!(
                        "kernels.var: need window >= 3 and 2 <= min_observations <= window (got {} and {})",
                        v.window, v.min_observations
                    ));
                }
                if !(100..=100_000_000).contains(&v.paths) || v.horizon_bars == 0 {
                    return Err(format!(
                        "kernels.var: paths must be between 100 and 100000000 and horizon_bars at least 1 (got {} and {})",
                        v.paths, v.horizon_bars
                    ));
                }
                Ok(VarSetup {
                    every: (v.every_s * SECOND as f64).round() as i64,
                    window: v.window,
                    min_observations: v.min_observations,
                    horizon_bars: v.horizon_bars,
                    paths: v.paths,
                    seed: v.seed,
                })
            })
            .transpose()?;
        if garch.is_none() && cup_handle.is_none() && indicators.is_none() && var.is_none() {
            return Ok(KernelPlan { columns: None, var: None });
        }
        let kernels = Kernels::shared(policy).map_err(|e| format!("kernels.gpu: {e}"))?;
        let columns = (garch.is_some() || cup_handle.is_some() || indicators.is_some()).then(|| KernelSetup {
            kernels: Arc::clone(&kernels),
            garch,
            cup_handle,
            indicators,
        });
        Ok(KernelPlan { columns, var: var.map(|setup| VarParams { kernels, setup }) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<KernelPlan, String> {
        toml::from_str::<KernelsSection>(text).map_err(|e| e.to_string())?.plan()
    }

    #[test]
    fn kernel_sections_are_checked_before_start() {
        let e = plan("[cup_handle]\nmin_cup = 1").err().unwrap();
        assert!(e.contains("kernels.cup-and-handle bars: need 2 <= min_cup"), "{e}");
        let e = plan("[cup_handle]\nhandle = 3").err().unwrap();
        assert!(e.contains("unknown field `handle`"), "{e}");
        let e = plan("gpu = \"sometimes\"\n[garch]").err().unwrap();
        assert!(e.contains("kernels.gpu = \"sometimes\": expected"), "{e}");
        let e = plan("gpu = \"off\"").err().unwrap();
        assert!(e.contains("no kernel is"), "{e}");
        let e = plan("[var]\npaths = 10").err().unwrap();
        assert!(e.contains("paths must be between 100"), "{e}");
        let ok = plan("gpu = \"off\"\n[cup_handle]\nmax_cup = 60\n[garch]\n").unwrap();
        let columns = ok.columns.expect("columns");
        assert_eq!(columns.columns(), ["garch_vol", "cup_handle"]);
        assert_eq!(columns.cup_handle.map(|c| c.max_cup), Some(60));
        assert!(ok.var.is_none());
    }
}
