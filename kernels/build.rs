//! Compiles every kernel's CUDA source as C++ (through `cuda/shim.h`) into the CPU twins.

fn main() {
    for file in ["shim.h", "twins.cpp", "indicators.cu", "garch.cu", "mc_var.cu", "cup_handle.cu"] {
        println!("cargo:rerun-if-changed=cuda/{file}");
    }
    cc::Build::new()
        .cpp(true)
        .std("c++20")
        .file("cuda/twins.cpp")
        .include("cuda")
        // The twins must round as the GPU build does (`--fmad=false`) and as the streaming
        // operators do: no fused multiply-adds, no reassociation.
        .flag_if_supported("-ffp-contract=off")
        .flag_if_supported("-fno-fast-math")
        .opt_level(2)
        .warnings(true)
        .compile("tradeflow_twins");
}
