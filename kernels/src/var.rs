//! Monte-Carlo value at risk and expected shortfall of a portfolio.

use cudarc::driver::PushKernelArg;

use crate::gpu::{Gpu, launch_error};
use crate::twin::{self, BLOCK, grid};
use crate::{KernelError, Kernels};

/// Losses of a portfolio over one period, positive numbers in the portfolio's currency.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VarEstimate {
    pub var95: f64,
    pub cvar95: f64,
    pub var99: f64,
    pub cvar99: f64,
    pub paths: u32,
}

impl Kernels {
    /// P&L of `paths` simulated paths: `mean_pnl + loadings . z` with z standard normals from
    /// Philox4x32-10 keyed by `seed` (path `p` is the same on every backend and every run).
    pub fn mc_pnl(&self, loadings: &[f64], mean_pnl: f64, paths: u32, seed: u64) -> Result<Vec<f64>, KernelError> {
        let assets = u32::try_from(loadings.len()).map_err(|_| KernelError::Input("too many assets".into()))?;
        if let Some(bad) = loadings.iter().chain([&mean_pnl]).find(|v| !v.is_finite()) {
            return Err(KernelError::Input(format!("portfolio loadings must be finite, found {bad}")));
        }
        let mut pnl = vec![0.0f64; paths as usize];
        if paths == 0 {
            return Ok(pnl);
        }
        match self.gpu() {
            Some(gpu) => {
                let _serial = gpu.serial();
                let l = gpu.upload(loadings)?;
                let mut result = gpu.zeros::<f64>(pnl.len())?;
                let mut b = gpu.stream().launch_builder(gpu.function("tf_mc_pnl")?);
                b.arg(&l).arg(&assets).arg(&mean_pnl).arg(&paths).arg(&seed).arg(&mut result);
                // SAFETY: the arguments match tf_mc_pnl in cuda/mc_var.cu.
                unsafe { b.launch(Gpu::config(paths)) }.map_err(launch_error)?;
                gpu.download(&result, &mut pnl)?;
            }
            // SAFETY: `pnl` holds one value per path; `loadings` holds `assets` values.
            None => unsafe {
                twin::tf_twin_mc_pnl(
                    grid(paths),
                    BLOCK,
                    loadings.as_ptr(),
                    assets,
                    mean_pnl,
                    paths,
                    seed,
                    pnl.as_mut_ptr(),
                )
            },
        }
        Ok(pnl)
    }
}

/// The lower Cholesky factor (row-major, n x n) of a symmetric positive definite matrix.
pub fn cholesky(matrix: &[f64], n: usize) -> Result<Vec<f64>, String> {
    if matrix.len() != n * n {
        return Err(format!("a {n} x {n} matrix needs {} values, not {}", n * n, matrix.len()));
    }
    let mut l = vec![0.0; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = matrix[i * n + i] - dot;
                if d.is_nan() || d <= 0.0 {
                    return Err(format!("the covariance is not positive definite (pivot {i} is {d})"));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (matrix[i * n + j] - dot) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// VaR and CVaR at `level` (0.95, 0.99) of simulated P&L, as positive losses: with the
/// `m = ceil((1 - level) n)` worst paths, VaR is the best of them and CVaR their mean.
/// Reorders `pnl`.
pub fn quantile_loss(pnl: &mut [f64], level: f64) -> (f64, f64) {
    if pnl.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let m = (((1.0 - level) * pnl.len() as f64).ceil() as usize).clamp(1, pnl.len());
    pnl.select_nth_unstable_by(m - 1, f64::total_cmp);
    let var = -pnl[m - 1];
    let cvar = -pnl[..m].iter().sum::<f64>() / m as f64;
    (var, cvar)
}

/// VaR and CVaR at 95% and 99% of positions worth `values` whose one-period returns are
/// normal with `means` and `covariance` (row-major), by `paths` Monte-Carlo paths.
pub fn portfolio_var(
    kernels: &Kernels,
    covariance: &[f64],
    means: &[f64],
    values: &[f64],
    paths: u32,
    seed: u64,
) -> Result<VarEstimate, KernelError> {
    let n = values.len();
    if means.len() != n {
        return Err(KernelError::Input(format!("{} means for {n} positions", means.len())));
    }
    let l = match cholesky(covariance, n) {
        Ok(l) => l,
        // Returns that move together exactly (or a short window) leave the covariance singular:
        // a ridge of a millionth of the mean variance keeps the factor real.
        Err(_) => {
            let ridge = (0..n).map(|i| covariance[i * n + i]).sum::<f64>() / n.max(1) as f64 * 1e-6;
            let mut ridged = covariance.to_vec();
            (0..n).for_each(|i| ridged[i * n + i] += ridge.max(1e-18));
            cholesky(&ridged, n).map_err(KernelError::Input)?
        }
    };
    let loadings: Vec<f64> = (0..n).map(|j| (j..n).map(|i| values[i] * l[i * n + j]).sum()).collect();
    let mean_pnl: f64 = values.iter().zip(means).map(|(v, m)| v * m).sum();
    let mut pnl = kernels.mc_pnl(&loadings, mean_pnl, paths, seed)?;
    let (var95, cvar95) = quantile_loss(&mut pnl, 0.95);
    let (var99, cvar99) = quantile_loss(&mut pnl, 0.99);
    Ok(VarEstimate { var95, cvar95, var99, cvar99, paths })
}
