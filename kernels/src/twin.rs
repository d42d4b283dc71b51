//! The CPU twins: the kernels' own CUDA sources compiled as C++ by `build.rs`, one C entry
//! point per kernel that walks the launch grid serially.

use crate::pattern::CupParams;

/// Threads per block, on the GPU and in the twins' grid walk alike.
pub(crate) const BLOCK: u32 = 64;

pub(crate) fn grid(items: u32) -> u32 {
    items.div_ceil(BLOCK).max(1)
}

unsafe extern "C" {
    pub(crate) fn tf_twin_batched_indicators_f64(
        grid: u32,
        block: u32,
        closes: *const f64,
        offsets: *const u32,
        rows: u32,
        ema_period: u32,
        rsi_period: u32,
        window: u32,
        out: *mut f64,
    );
    pub(crate) fn tf_twin_batched_indicators_f32(
        grid: u32,
        block: u32,
        closes: *const f32,
        offsets: *const u32,
        rows: u32,
        ema_period: u32,
        rsi_period: u32,
        window: u32,
        out: *mut f32,
    );
    pub(crate) fn tf_twin_garch_fit(
        grid: u32,
        block: u32,
        y: *const f64,
        offsets: *const u32,
        rows: u32,
        zero_mean: i32,
        max_iterations: u32,
        out: *mut f64,
    );
    pub(crate) fn tf_twin_garch_loglik_at(
        grid: u32,
        block: u32,
        y: *const f64,
        offsets: *const u32,
        rows: u32,
        zero_mean: i32,
        params: *const f64,
        out: *mut f64,
    );
    pub(crate) fn tf_twin_philox_block(c0: u32, c1: u32, c2: u32, c3: u32, key0: u32, key1: u32, out: *mut u32);
    pub(crate) fn tf_twin_mc_pnl(
        grid: u32,
        block: u32,
        loadings: *const f64,
        assets: u32,
        mean_pnl: f64,
        paths: u32,
        seed: u64,
        pnl: *mut f64,
    );
    pub(crate) fn tf_twin_cup_handle(
        grid: u32,
        block: u32,
        closes: *const f64,
        volumes: *const f64,
        offsets: *const u32,
        rows: u32,
        params: CupParams,
        out: *mut f64,
        found: *mut u32,
    );
}

/// Philox4x32-10 of one counter block under a key, through the kernel's own code.
pub fn philox4x32_10(counter: [u32; 4], key: [u32; 2]) -> [u32; 4] {
    let mut out = [0u32; 4];
    // SAFETY: `out` holds the four words the kernel writes.
    unsafe {
        tf_twin_philox_block(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out.as_mut_ptr());
    }
    out
}
