//! The cup-and-handle scan (definition in `cuda/cup_handle.cu`).

use cudarc::driver::{DeviceRepr, PushKernelArg};
use serde::Deserialize;

use crate::gpu::{Gpu, launch_error};
use crate::twin::{self, BLOCK, grid};
use crate::{KernelError, Kernels, Ragged};

const OUTPUTS: usize = 6;

/// The pattern's definition, in bars and fractions (see `cuda/cup_handle.cu`); also the job
/// config's `[kernels.cup_handle]` section.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CupParams {
    pub min_cup: u32,
    pub max_cup: u32,
    pub min_handle: u32,
    pub max_handle: u32,
    pub min_depth: f64,
    pub max_depth: f64,
    pub rim_tolerance: f64,
    pub symmetry_tolerance: f64,
    pub max_retrace: f64,
    pub volume_ratio: f64,
}

// SAFETY: #[repr(C)] plain data with the layout of TfCupParams.
unsafe impl DeviceRepr for CupParams {}

impl Default for CupParams {
    /// Minute bars: a cup of 20 to 90 bars, 0.5% to 8% deep, a handle of 2 to 15 bars.
    fn default() -> Self {
        CupParams {
            min_cup: 20,
            max_cup: 90,
            min_handle: 2,
            max_handle: 15,
            min_depth: 0.005,
            max_depth: 0.08,
            rim_tolerance: 0.01,
            symmetry_tolerance: 0.25,
            max_retrace: 0.5,
            volume_ratio: 1.5,
        }
    }
}

impl CupParams {
    pub fn check(&self) -> Result<(), String> {
        let p = self;
        if p.min_cup < 2 || p.max_cup < p.min_cup || p.min_handle < 1 || p.max_handle < p.min_handle {
            return Err(format!(
                "cup-and-handle bars: need 2 <= min_cup <= max_cup and 1 <= min_handle <= max_handle, got cup {}..{} handle {}..{}",
                p.min_cup, p.max_cup, p.min_handle, p.max_handle
            ));
        }
        let fractions = [
            ("min_depth", p.min_depth),
            ("max_depth", p.max_depth),
            ("rim_tolerance", p.rim_tolerance),
            ("symmetry_tolerance", p.symmetry_tolerance),
            ("max_retrace", p.max_retrace),
        ];
        if let Some((name, v)) = fractions.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0 && *v <= 1.0)) {
            return Err(format!("cup-and-handle {name} = {v}: expected a fraction in (0, 1]"));
        }
        if p.min_depth > p.max_depth || !(p.volume_ratio.is_finite() && p.volume_ratio > 0.0) {
            return Err(format!(
                "cup-and-handle: min_depth {} above max_depth {}, or volume_ratio {} not positive",
                p.min_depth, p.max_depth, p.volume_ratio
            ));
        }
        Ok(())
    }

    /// Bars a scan needs to see a whole pattern.
    pub fn bars(&self) -> usize {
        (self.max_cup + self.max_handle + 2) as usize
    }
}

/// The best pattern in a row, if any (indices into the row).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CupHandle {
    pub confidence: f64,
    pub left_rim: usize,
    pub bottom: usize,
    pub right_rim: usize,
    pub depth: f64,
    pub retrace: f64,
}

impl Kernels {
    /// Scans every row of `closes` (with `volumes` at the same positions); returns each row's
    /// confidence (0 without a pattern) and its best pattern.
    pub fn cup_handle(
        &self,
        closes: &Ragged<f64>,
        volumes: &[f64],
        params: CupParams,
    ) -> Result<Vec<(f64, Option<CupHandle>)>, KernelError> {
        params.check().map_err(KernelError::Input)?;
        if volumes.len() != closes.values().len() {
            return Err(KernelError::Input(format!("{} volumes for {} closes", volumes.len(), closes.values().len())));
        }
        let rows = closes.rows_u32()?;
        if rows == 0 {
            return Ok(Vec::new());
        }
        let mut out = vec![0.0f64; rows as usize * OUTPUTS];
        let mut found = [0u32];
        match self.gpu() {
            Some(gpu) => {
                let _serial = gpu.serial();
                let c = gpu.upload(closes.values())?;
                let v = gpu.upload(volumes)?;
                let offsets = gpu.upload(closes.offsets())?;
                let mut result = gpu.zeros::<f64>(out.len())?;
                let mut count = gpu.zeros::<u32>(1)?;
                let mut b = gpu.stream().launch_builder(gpu.function("tf_cup_handle")?);
                b.arg(&c).arg(&v).arg(&offsets).arg(&rows).arg(&params).arg(&mut result).arg(&mut count);
                // SAFETY: the arguments match tf_cup_handle in cuda/cup_handle.cu.
                unsafe { b.launch(Gpu::config(rows)) }.map_err(launch_error)?;
                gpu.download(&result, &mut out)?;
                gpu.download(&count, &mut found)?;
            }
            // SAFETY: volumes match the closes; `out` holds OUTPUTS per row.
            None => unsafe {
                twin::tf_twin_cup_handle(
                    grid(rows),
                    BLOCK,
                    closes.values().as_ptr(),
                    volumes.as_ptr(),
                    closes.offsets().as_ptr(),
                    rows,
                    params,
                    out.as_mut_ptr(),
                    found.as_mut_ptr(),
                )
            },
        }
        let hits: Vec<_> = out
            .chunks_exact(OUTPUTS)
            .map(|o| {
                let hit = (o[0] > 0.0).then(|| CupHandle {
                    confidence: o[0],
                    left_rim: o[1] as usize,
                    bottom: o[2] as usize,
                    right_rim: o[3] as usize,
                    depth: o[4],
                    retrace: o[5],
                });
                (o[0], hit)
            })
            .collect();
        debug_assert_eq!(hits.iter().filter(|h| h.1.is_some()).count(), found[0] as usize);
        Ok(hits)
    }
}
