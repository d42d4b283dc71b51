//! Each kernel for 500 symbols: the CPU twin, and the GPU where one is present.
//!
//! `cargo bench -p tradeflow-kernels` (set `LD_LIBRARY_PATH` to NVRTC's folder for the GPU).

use criterion::{Criterion, criterion_group, criterion_main};
use tradeflow_kernels::{CupParams, GarchOptions, GpuPolicy, IndicatorParams, Kernels, Ragged, portfolio_var};

const SYMBOLS: usize = 500;

fn walk(seed: u64, n: usize) -> Vec<f64> {
    let mut state = seed.max(1);
    let mut price = 100.0;
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

fn backends() -> Vec<(&'static str, Kernels)> {
    let mut out = vec![("cpu", Kernels::cpu())];
    if let Ok(gpu) = Kernels::select(GpuPolicy::Require) {
        out.push(("gpu", gpu));
    }
    out
}

fn kernels(c: &mut Criterion) {
    let closes = Ragged::from_rows((0..SYMBOLS as u64).map(|i| walk(i + 1, 390)));
    let returns = Ragged::from_rows(
        (0..SYMBOLS as u64).map(|i| walk(i + 1, 391).windows(2).map(|w| (w[1] / w[0]).ln()).collect::<Vec<_>>()),
    );
    let bars = Ragged::from_rows((0..SYMBOLS as u64).map(|i| walk(i + 1, 120)));
    let volumes = vec![1000.0; bars.values().len()];
    // 50 positions, a diagonal-dominant covariance.
    let n = 50;
    let cov: Vec<f64> = (0..n * n).map(|k| if k / n == k % n { 4e-4 } else { 1e-4 }).collect();
    let values: Vec<f64> = (0..n).map(|i| 10_000.0 * (i as f64 - 20.0)).collect();
    let means = vec![0.0; n];
    for (name, k) in backends() {
        let mut group = c.benchmark_group(format!("kernels_{name}_500_symbols"));
        group.sample_size(10);
        let p = IndicatorParams { ema_period: 20, rsi_period: 14, window: 30 };
        group.bench_function("indicators_390_bars", |b| b.iter(|| k.indicators(&closes, p).unwrap()));
        group.bench_function("garch_fit_390_returns", |b| {
            b.iter(|| k.garch_fit(&returns, GarchOptions::default()).unwrap())
        });
        group.bench_function("cup_handle_120_bars", |b| {
            b.iter(|| k.cup_handle(&bars, &volumes, CupParams::default()).unwrap())
        });
        group.bench_function("var_50_positions_100k_paths", |b| {
            b.iter(|| portfolio_var(&k, &cov, &means, &values, 100_000, 7).unwrap())
        });
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
