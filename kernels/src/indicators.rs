//! Batched indicators: EMA, RSI, rolling mean, variance and z-score of every row's window.

use cudarc::driver::{DeviceRepr, PushKernelArg, ValidAsZeroBits};

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

/// A precision the batched indicators run in: its kernel entry point and its CPU twin.
trait Precision: DeviceRepr + ValidAsZeroBits + Copy + Default {
    const ENTRY: &'static str;
    /// Runs the twin over `rows` rows; `out` holds [`OUTPUTS`] values per row.
    ///
    /// # Safety
    /// `offsets` has `rows + 1` entries indexing within `closes`; `out` is long enough.
    unsafe fn twin(closes: *const Self, offsets: *const u32, rows: u32, p: IndicatorParams, out: *mut Self);
}

impl Precision for f64 {
    const ENTRY: &'static str = "tf_batched_indicators_f64";
    unsafe fn twin(closes: *const f64, offsets: *const u32, rows: u32, p: IndicatorParams, out: *mut f64) {
        // SAFETY: the caller's promise.
        unsafe {
            twin::tf_twin_batched_indicators_f64(
                grid(rows),
                BLOCK,
                closes,
                offsets,
                rows,
                p.ema_period,
                p.rsi_period,
                p.window,
                out,
            )
        }
    }
}

impl Precision for f32 {
    const ENTRY: &'static str = "tf_batched_indicators_f32";
    unsafe fn twin(closes: *const f32, offsets: *const u32, rows: u32, p: IndicatorParams, out: *mut f32) {
        // SAFETY: the caller's promise.
        unsafe {
            twin::tf_twin_batched_indicators_f32(
                grid(rows),
                BLOCK,
                closes,
                offsets,
                rows,
                p.ema_period,
                p.rsi_period,
                p.window,
                out,
            )
        }
    }
}

impl Kernels {
    /// The indicators of every row of `closes` (oldest first), as the streaming operators
    /// would give them after the same closes.
    pub fn indicators(&self, closes: &Ragged<f64>, p: IndicatorParams) -> Result<Vec<IndicatorRow>, KernelError> {
        self.batched(closes, p)
    }

    /// The same in single precision: about 1e-4 relative to the f64 values on prices of a few
    /// hundred (RSI within 0.01 points), the price of half the memory traffic.
    pub fn indicators_f32(
        &self,
        closes: &Ragged<f32>,
        p: IndicatorParams,
    ) -> Result<Vec<IndicatorRow<f32>>, KernelError> {
        self.batched(closes, p)
    }

    fn batched<R: Precision>(
        &self,
        closes: &Ragged<R>,
        p: IndicatorParams,
    ) -> Result<Vec<IndicatorRow<R>>, KernelError> {
        p.check()?;
        let rows = closes.rows_u32()?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![R::default(); rows as usize * OUTPUTS];
        match self.gpu() {
            Some(gpu) => launch(gpu, R::ENTRY, closes, p, &mut out)?,
            // SAFETY: the offsets index within the values; `out` holds OUTPUTS values per row.
            None => unsafe { R::twin(closes.values().as_ptr(), closes.offsets().as_ptr(), rows, p, out.as_mut_ptr()) },
        }
        Ok(out.chunks_exact(OUTPUTS).map(IndicatorRow::from_slice).collect())
    }
}

fn launch<R: Precision>(
    gpu: &Gpu,
    entry: &str,
    closes: &Ragged<R>,
    p: IndicatorParams,
    out: &mut [R],
) -> Result<(), KernelError> {
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
