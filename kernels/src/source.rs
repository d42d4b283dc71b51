//! The CUDA sources, as compiled by NVRTC for the GPU (the twins get them from `build.rs`).

/// Every kernel source file: its name and its text.
pub const SOURCES: [(&str, &str); 4] = [
    ("indicators.cu", include_str!("../cuda/indicators.cu")),
    ("garch.cu", include_str!("../cuda/garch.cu")),
    ("mc_var.cu", include_str!("../cuda/mc_var.cu")),
    ("cup_handle.cu", include_str!("../cuda/cup_handle.cu")),
];

/// The entry points each source defines, by source name.
pub const ENTRY_POINTS: [(&str, &[&str]); 4] = [
    ("indicators.cu", &["tf_batched_indicators_f64", "tf_batched_indicators_f32"]),
    ("garch.cu", &["tf_garch_fit", "tf_garch_loglik_at"]),
    ("mc_var.cu", &["tf_philox_block", "tf_mc_pnl"]),
    ("cup_handle.cu", &["tf_cup_handle"]),
];

/// Whether NVRTC can be loaded (it is found through `LD_LIBRARY_PATH`).
pub fn nvrtc_present() -> bool {
    // SAFETY: only tries to open the shared library; nothing from it is called.
    unsafe { cudarc::nvrtc::sys::is_culib_present() }
}

/// Compiles one source to PTX for `arch` (for example `compute_90`), with the options the
/// launcher uses. The caller checks [`nvrtc_present`] first: cudarc panics without NVRTC.
pub fn compile_ptx(name: &str, source: &str, arch: Option<&'static str>) -> Result<String, String> {
    let options = cudarc::nvrtc::CompileOptions {
        // Multiply and add rounded separately, as on the CPU twin and in the streaming operators.
        fmad: Some(false),
        arch,
        name: Some(name.to_string()),
        ..Default::default()
    };
    cudarc::nvrtc::compile_ptx_with_opts(source, options)
        .map(|ptx| ptx.to_src())
        .map_err(|e| format!("NVRTC could not compile {name}: {e:?}"))
}
