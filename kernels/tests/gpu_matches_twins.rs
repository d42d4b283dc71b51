//! On a machine with a CUDA GPU: every kernel on the GPU against its CPU twin (the same
//! source). Ignored elsewhere; run with `cargo test -p tradeflow-kernels --test
//! gpu_matches_twins -- --ignored` where a GPU and NVRTC are present.

use tradeflow_kernels::{CupParams, GarchOptions, GpuPolicy, IndicatorParams, Kernels, Ragged};

fn gpu() -> Kernels {
    let kernels = Kernels::select(GpuPolicy::Require).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("backend: {}", kernels.describe());
    kernels
}

fn walk(seed: u64, n: usize, start: f64) -> Vec<f64> {
    let mut state = seed.max(1);
    let mut price = start;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            price *= 1.0 + 0.01 * ((state % 2001) as f64 / 1000.0 - 1.0);
            price
        })
        .collect()
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b || (a.is_nan() && b.is_nan()) { 0.0 } else { (a - b).abs() / b.abs().max(1e-300) }
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gpu_indicators_equal_the_twin() {
    let gpu = gpu();
    let rows: Vec<Vec<f64>> = (0..500).map(|i| walk(i + 1, 390, 50.0 + i as f64)).collect();
    let batch = Ragged::from_rows(&rows);
    let p = IndicatorParams { ema_period: 20, rsi_period: 14, window: 30 };
    let (g, c) = (gpu.indicators(&batch, p).unwrap(), Kernels::cpu().indicators(&batch, p).unwrap());
    let worst = g
        .iter()
        .zip(&c)
        .flat_map(|(g, c)| {
            [
                rel(g.ema, c.ema),
                rel(g.rsi, c.rsi),
                rel(g.mean, c.mean),
                rel(g.variance, c.variance),
                rel(g.zscore, c.zscore),
            ]
        })
        .fold(0.0, f64::max);
    eprintln!("indicators: worst relative difference {worst:e}");
    assert!(worst < 1e-12);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gpu_garch_fits_equal_the_twin() {
    let gpu = gpu();
    let rows: Vec<Vec<f64>> =
        (0..200).map(|i| walk(i + 7, 501, 100.0).windows(2).map(|w| (w[1] / w[0]).ln()).collect()).collect();
    let batch = Ragged::from_rows(&rows);
    let opts = GarchOptions::default();
    let (g, c) = (gpu.garch_fit(&batch, opts).unwrap(), Kernels::cpu().garch_fit(&batch, opts).unwrap());
    let worst_ll = g.iter().zip(&c).map(|(g, c)| rel(g.loglik, c.loglik)).fold(0.0, f64::max);
    let worst_vol = g.iter().zip(&c).map(|(g, c)| rel(g.vol_next(), c.vol_next())).fold(0.0, f64::max);
    eprintln!("garch: worst relative difference log-likelihood {worst_ll:e}, forecast volatility {worst_vol:e}");
    assert!(worst_ll < 1e-9 && worst_vol < 1e-6);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gpu_monte_carlo_paths_equal_the_twin() {
    let gpu = gpu();
    let loadings: Vec<f64> = (0..20).map(|i| 1000.0 * (i as f64 - 9.5)).collect();
    let (g, c) = (
        gpu.mc_pnl(&loadings, 3.0, 1_000_000, 99).unwrap(),
        Kernels::cpu().mc_pnl(&loadings, 3.0, 1_000_000, 99).unwrap(),
    );
    let worst = g.iter().zip(&c).map(|(g, c)| (g - c).abs()).fold(0.0, f64::max);
    let scale = loadings.iter().map(|l| l * l).sum::<f64>().sqrt();
    eprintln!("monte carlo: worst absolute difference {worst:e} on a P&L scale of {scale:.0}");
    assert!(worst < 1e-9 * scale);
}

#[test]
#[ignore = "needs a CUDA GPU"]
fn gpu_cup_and_handle_scan_equals_the_twin() {
    let gpu = gpu();
    let rows: Vec<Vec<f64>> = (0..500).map(|i| walk(i + 3, 120, 100.0)).collect();
    let volumes: Vec<f64> = (0..500 * 120).map(|i| 1000.0 + (i % 17) as f64 * 100.0).collect();
    let batch = Ragged::from_rows(&rows);
    let p = CupParams { rim_tolerance: 0.05, volume_ratio: 1.0, ..CupParams::default() };
    let (g, c) =
        (gpu.cup_handle(&batch, &volumes, p).unwrap(), Kernels::cpu().cup_handle(&batch, &volumes, p).unwrap());
    let found = c.iter().filter(|h| h.1.is_some()).count();
    eprintln!("cup and handle: {found} of 500 random walks hold a (loose) pattern");
    assert_eq!(g, c);
}
