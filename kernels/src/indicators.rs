//! Batched indicators: EMA, RSI, rolling mean, variance and z-score of every row's window.

use cudarc::driver::PushKernelArg;

use crate::gpu::{Gpu, launch_error};
use crate::twin::{self, BLOCK, grid};
use crate::{KernelError, Kernels, Ragged};

const OUTPUTS: usize = 5;

/// Periods of the batched indicators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndicatorParams {
    pub ema_period: u32,
    pub rsi_period: u32,
    /// Length of the rolling mean, variance and z-score window.
    pub window: u32,
}

impl IndicatorParams {
    fn check(&self) -> Result<(), KernelError> {
        if self.ema_period == 0 || self.rsi_period == 0 || self.window == 0 {
            return Err(KernelError::Input(format!("indicator periods must be at least 1: {self:?}")));
        }
        Ok(())
    }
}

/// One row's values after its last close (NaN until a value's lookback is met).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct IndicatorRow<R = f64> {
    pub ema: R,
    pub rsi: R,
    pub mean: R,
    pub variance: R,
    pub zscore: R,
}

impl<R: Copy> IndicatorRow<R> {
    fn from_slice(v: &[R]) -> Self {
        IndicatorRow { ema: v[0], rsi: v[1], mean: v[2], variance: v[3], zscore: v[4] }
    }
}

impl Kernels {
    /// The indicators of every row of `closes` (oldest first), as the streaming operators
    /// would give them after the same closes.
    pub fn indicators(&self, closes: &Ragged<f64>, p: IndicatorParams) -> Result<Vec<IndicatorRow>, KernelError> {
        p.check()?;
        let rows = closes.rows_u32()?;
        let mut out = vec![0.0f64; rows as usize * OUTPUTS];
        if rows == 0 {
            return Ok(Vec::new());
        }
        match self.gpu() {
            Some(gpu) => launch(gpu, "tf_batched_indicators_f64", closes, p, &mut out)?,
            // SAFETY: the offsets index within `values`, `out` holds OUTPUTS values per row.
            None => unsafe {
                twin::tf_twin_batched_indicators_f64(
                    grid(rows),
                    BLOCK,
                    closes.values().as_ptr(),
                    closes.offsets().as_ptr(),
                    rows,
                    p.ema_period,
                    p.rsi_period,
                    p.window,
                    out.as_mut_ptr(),
                )
            },
        }
        Ok(out.chunks_exact(OUTPUTS).map(IndicatorRow::from_slice).collect())
    }

    /// The same in single precision: about 1e-4 relative to the f64 values on prices of a few
    /// hundred (RSI within 0.01 points), the price of half the memory traffic.
    pub fn indicators_f32(
        &self,
        closes: &Ragged<f32>,
        p: IndicatorParams,
    ) -> Result<Vec<IndicatorRow<f32>>, KernelError> {
        p.check()?;
        let rows = closes.rows_u32()?;
        let mut out = vec![0.0f32; rows as usize * OUTPUTS];
        if rows == 0 {
            return Ok(Vec::new());
        }
        match self.gpu() {
            Some(gpu) => launch(gpu, "tf_batched_indicators_f32", closes, p, &mut out)?,
            // SAFETY: as above.
            None => unsafe {
                twin::tf_twin_batched_indicators_f32(
                    grid(rows),
                    BLOCK,
                    closes.values().as_ptr(),
                    closes.offsets().as_ptr(),
                    rows,
                    p.ema_period,
                    p.rsi_period,
                    p.window,
                    out.as_mut_ptr(),
                )
            },
        }
        Ok(out.chunks_exact(OUTPUTS).map(IndicatorRow::from_slice).collect())
    }
}

fn launch<R>(gpu: &Gpu, entry: &str, closes: &Ragged<R>, p: IndicatorParams, out: &mut [R]) -> Result<(), KernelError>
where
    R: cudarc::driver::DeviceRepr + cudarc::driver::ValidAsZeroBits + Copy + Default,
{
    let _serial = gpu.serial();
    let rows = closes.rows_u32()?;
    let values = gpu.upload(closes.values())?;
    let offsets = gpu.upload(closes.offsets())?;
    let mut result = gpu.zeros::<R>(out.len())?;
    let f = gpu.function(entry)?;
    let mut b = gpu.stream().launch_builder(f);
    b.arg(&values).arg(&offsets).arg(&rows).arg(&p.ema_period).arg(&p.rsi_period).arg(&p.window).arg(&mut result);
    // SAFETY: the arguments match the kernel's signature in cuda/indicators.cu.
    unsafe { b.launch(Gpu::config(rows)) }.map_err(launch_error)?;
    gpu.download(&result, out)
}
