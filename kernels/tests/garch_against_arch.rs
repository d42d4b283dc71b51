//! GARCH(1,1) fits against the Python `arch` package on the same returns (golden files from
//! tests/golden/generate_garch.py): the log-likelihood at arch's parameters, the fitted
//! log-likelihood, and the one-step volatility forecast.

use std::collections::BTreeMap;
use std::path::Path;

use tradeflow_kernels::{GarchOptions, GarchParams, Kernels, Ragged};

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/garch").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Log returns of the close per symbol, in file order.
fn returns() -> BTreeMap<String, Vec<f64>> {
    let mut closes: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in golden("prices.csv").lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        closes.entry(f[1].to_string()).or_default().push(f[5].parse().unwrap());
    }
    closes.into_iter().map(|(s, c)| (s, c.windows(2).map(|w| (w[1] / w[0]).ln()).collect())).collect()
}

struct ArchFit {
    symbol: String,
    zero_mean: bool,
    params: GarchParams,
    loglik: f64,
    variance_next: f64,
}

fn arch_fits() -> Vec<ArchFit> {
    golden("arch_fits.csv")
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let num = |i: usize| f[i].parse::<f64>().unwrap();
            ArchFit {
                symbol: f[0].to_string(),
                zero_mean: f[1] == "zero",
                params: GarchParams { mu: num(2), omega: num(3), alpha: num(4), beta: num(5) },
                loglik: num(6),
                variance_next: num(7),
            }
        })
        .collect()
}

#[test]
fn garch_matches_arch_on_the_golden_series() {
    let returns = returns();
    let kernels = Kernels::cpu();
    let fits = arch_fits();
    assert_eq!(fits.len(), 8);
    for zero_mean in [false, true] {
        let opts = GarchOptions { zero_mean, ..GarchOptions::default() };
        let cases: Vec<&ArchFit> = fits.iter().filter(|f| f.zero_mean == zero_mean).collect();
        let batch = Ragged::from_rows(cases.iter().map(|c| &returns[&c.symbol]));
        let at_arch =
            kernels.garch_loglik_at(&batch, opts, &cases.iter().map(|c| c.params).collect::<Vec<_>>()).unwrap();
        let ours = kernels.garch_fit(&batch, opts).unwrap();
        for ((case, (ll_at_arch, next_at_arch)), fit) in cases.iter().zip(at_arch).zip(ours) {
            let what = format!("{} ({} mean)", case.symbol, if zero_mean { "zero" } else { "constant" });
            let rel = |a: f64, b: f64| (a - b).abs() / b.abs();
            assert!(
                rel(ll_at_arch, case.loglik) < 1e-6,
                "{what}: log-likelihood at arch's parameters {ll_at_arch} vs {}",
                case.loglik
            );
            assert!(
                rel(next_at_arch, case.variance_next) < 1e-6,
                "{what}: forecast at arch's parameters {next_at_arch} vs {}",
                case.variance_next
            );
            assert!(
                fit.loglik >= case.loglik - 1e-4 * case.loglik.abs(),
                "{what}: fitted log-likelihood {} worse than arch's {} ({:?} vs {:?})",
                fit.loglik,
                case.loglik,
                fit.params,
                case.params
            );
            let (vol, arch_vol) = (fit.variance_next.sqrt(), case.variance_next.sqrt());
            assert!(rel(vol, arch_vol) < 0.01, "{what}: forecast volatility {vol} vs arch's {arch_vol}");
            eprintln!(
                "{what}: loglik {:.6} (arch {:.6}), alpha {:.4} beta {:.4} (arch {:.4} {:.4}), vol {:.5} (arch {:.5})",
                fit.loglik,
                case.loglik,
                fit.params.alpha,
                fit.params.beta,
                case.params.alpha,
                case.params.beta,
                vol,
                arch_vol
            );
        }
    }
}
