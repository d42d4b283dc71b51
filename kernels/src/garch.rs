//! GARCH(1,1) per series: fit, log-likelihood and one-step volatility forecast.

use cudarc::driver::PushKernelArg;

use crate::gpu::{Gpu, launch_error};
use crate::twin::{self, BLOCK, grid};
use crate::{KernelError, Kernels, Ragged};

const FIT_OUTPUTS: usize = 8;

/// How to fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GarchOptions {
    /// Fix the mean at zero instead of fitting a constant mean.
    pub zero_mean: bool,
    /// Returns are multiplied by this before the fit (100: percent, as `arch` recommends, so
    /// that omega is not vanishingly small). Parameters and the log-likelihood are in these units.
    pub scale: f64,
    /// Nelder-Mead iterations per pass (two passes).
    pub max_iterations: u32,
}

impl Default for GarchOptions {
    fn default() -> Self {
        GarchOptions { zero_mean: false, scale: 100.0, max_iterations: 2000 }
    }
}

/// GARCH(1,1) parameters, in the fit's scale.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GarchParams {
    pub mu: f64,
    pub omega: f64,
    pub alpha: f64,
    pub beta: f64,
}

/// One series' fit. `params`, `loglik` and `variance_next` are in the scaled units.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GarchFit {
    pub params: GarchParams,
    pub loglik: f64,
    /// The conditional variance forecast for the next period.
    pub variance_next: f64,
    pub backcast: f64,
    pub iterations: u32,
    pub observations: u32,
    pub scale: f64,
}

impl GarchFit {
    pub fn persistence(&self) -> f64 {
        self.params.alpha + self.params.beta
    }

    /// Next-period volatility in return units.
    pub fn vol_next(&self) -> f64 {
        self.variance_next.sqrt() / self.scale
    }

    /// Next-period volatility annualized over `periods_per_year`.
    pub fn vol_annualized(&self, periods_per_year: f64) -> f64 {
        self.vol_next() * periods_per_year.sqrt()
    }

    pub fn is_valid(&self) -> bool {
        self.loglik.is_finite() && self.variance_next.is_finite() && self.variance_next > 0.0
    }
}

fn scaled(returns: &Ragged<f64>, scale: f64) -> Result<Ragged<f64>, KernelError> {
    if !(scale.is_finite() && scale > 0.0) {
        return Err(KernelError::Input(format!("GARCH scale must be positive, not {scale}")));
    }
    if let Some(bad) = returns.values().iter().find(|v| !v.is_finite()) {
        return Err(KernelError::Input(format!("GARCH returns must be finite, found {bad}")));
    }
    let mut out = Ragged::with_capacity(returns.rows(), returns.values().len());
    for r in 0..returns.rows() {
        out.push_iter(returns.row(r).iter().map(|v| v * scale));
    }
    Ok(out)
}

impl Kernels {
    /// Fits GARCH(1,1) to every row of `returns` (in return units, oldest first).
    pub fn garch_fit(&self, returns: &Ragged<f64>, opts: GarchOptions) -> Result<Vec<GarchFit>, KernelError> {
        let y = scaled(returns, opts.scale)?;
        let rows = y.rows_u32()?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![0.0f64; rows as usize * FIT_OUTPUTS];
        let zero_mean = i32::from(opts.zero_mean);
        match self.gpu() {
            Some(gpu) => {
                let _serial = gpu.serial();
                let values = gpu.upload(y.values())?;
                let offsets = gpu.upload(y.offsets())?;
                let mut result = gpu.zeros::<f64>(out.len())?;
                let mut b = gpu.stream().launch_builder(gpu.function("tf_garch_fit")?);
                b.arg(&values).arg(&offsets).arg(&rows).arg(&zero_mean).arg(&opts.max_iterations).arg(&mut result);
                // SAFETY: the arguments match tf_garch_fit in cuda/garch.cu.
                unsafe { b.launch(Gpu::config(rows)) }.map_err(launch_error)?;
                gpu.download(&result, &mut out)?;
            }
            // SAFETY: the offsets index within the values; `out` holds FIT_OUTPUTS per row.
            None => unsafe {
                twin::tf_twin_garch_fit(
                    grid(rows),
                    BLOCK,
                    y.values().as_ptr(),
                    y.offsets().as_ptr(),
                    rows,
                    zero_mean,
                    opts.max_iterations,
                    out.as_mut_ptr(),
                )
            },
        }
        Ok(out
            .chunks_exact(FIT_OUTPUTS)
            .enumerate()
            .map(|(r, o)| GarchFit {
                params: GarchParams { mu: o[0], omega: o[1], alpha: o[2], beta: o[3] },
                loglik: o[4],
                variance_next: o[5],
                backcast: o[6],
                iterations: if o[7].is_finite() { o[7] as u32 } else { 0 },
                observations: y.row(r).len() as u32,
                scale: opts.scale,
            })
            .collect())
    }

    /// The log-likelihood and next-period variance of every row at given parameters (one per
    /// row, in the scaled units), with the fit's backcast.
    pub fn garch_loglik_at(
        &self,
        returns: &Ragged<f64>,
        opts: GarchOptions,
        params: &[GarchParams],
    ) -> Result<Vec<(f64, f64)>, KernelError> {
        let y = scaled(returns, opts.scale)?;
        let rows = y.rows_u32()?;
        if params.len() != y.rows() {
            return Err(KernelError::Input(format!("{} parameter sets for {} series", params.len(), y.rows())));
        }
        if rows == 0 {
            return Ok(Vec::new());
        }
        let flat: Vec<f64> = params.iter().flat_map(|p| [p.mu, p.omega, p.alpha, p.beta]).collect();
        let mut out = vec![0.0f64; rows as usize * 2];
        let zero_mean = i32::from(opts.zero_mean);
        match self.gpu() {
            Some(gpu) => {
                let _serial = gpu.serial();
                let values = gpu.upload(y.values())?;
                let offsets = gpu.upload(y.offsets())?;
                let p = gpu.upload(&flat)?;
                let mut result = gpu.zeros::<f64>(out.len())?;
                let mut b = gpu.stream().launch_builder(gpu.function("tf_garch_loglik_at")?);
                b.arg(&values).arg(&offsets).arg(&rows).arg(&zero_mean).arg(&p).arg(&mut result);
                // SAFETY: the arguments match tf_garch_loglik_at in cuda/garch.cu.
                unsafe { b.launch(Gpu::config(rows)) }.map_err(launch_error)?;
                gpu.download(&result, &mut out)?;
            }
            // SAFETY: four parameters and two outputs per row.
            None => unsafe {
                twin::tf_twin_garch_loglik_at(
                    grid(rows),
                    BLOCK,
                    y.values().as_ptr(),
                    y.offsets().as_ptr(),
                    rows,
                    zero_mean,
                    flat.as_ptr(),
                    out.as_mut_ptr(),
                )
            },
        }
        Ok(out.chunks_exact(2).map(|o| (o[0], o[1])).collect())
    }
}
