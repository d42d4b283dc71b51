//! Every kernel source compiles to PTX with NVRTC, for the GPUs tradeflow targets.
//!
//! NVRTC comes from the PyPI wheel `nvidia-cuda-nvrtc-cu12` (the test script installs it and
//! puts it on `LD_LIBRARY_PATH`). With `REQUIRE_NVRTC=1`, as in CI, a missing NVRTC fails the
//! test instead of skipping it.

use tradeflow_kernels::source::{ENTRY_POINTS, SOURCES, compile_ptx, nvrtc_present};

#[test]
fn every_kernel_compiles_to_ptx_with_nvrtc() {
    if !nvrtc_present() {
        let required = std::env::var("REQUIRE_NVRTC").is_ok_and(|v| v == "1");
        assert!(!required, "REQUIRE_NVRTC=1 but libnvrtc.so is not on LD_LIBRARY_PATH");
        eprintln!("skipped: NVRTC is not installed (deploy/scripts/test.sh installs it)");
        return;
    }
    // Turing (the oldest NVRTC 13 still targets), Ampere and Hopper.
    for arch in ["compute_75", "compute_80", "compute_90"] {
        for ((name, source), (_, entries)) in SOURCES.iter().zip(ENTRY_POINTS.iter()) {
            let ptx = compile_ptx(name, source, Some(arch)).unwrap_or_else(|e| panic!("{arch}: {e}"));
            // PTX_DIR keeps the PTX, for `ptxas -v` (registers and shared memory per kernel).
            if let Ok(dir) = std::env::var("PTX_DIR") {
                let path = std::path::Path::new(&dir).join(format!("{}.{arch}.ptx", name.trim_end_matches(".cu")));
                std::fs::write(&path, &ptx).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
            let target = arch.replace("compute", "sm");
            assert!(ptx.contains(&format!(".target {target}")), "{name} for {arch}: no .target {target}");
            for entry in entries.iter() {
                assert!(ptx.contains(&format!(".entry {entry}(")), "{name} for {arch}: no entry point {entry}");
            }
            // Double precision stays double: the kernels promise f64 results.
            if *name != "mc_var.cu" || arch == "compute_90" {
                assert!(ptx.contains(".f64"), "{name}: no f64 arithmetic in the PTX");
            }
        }
    }
}
