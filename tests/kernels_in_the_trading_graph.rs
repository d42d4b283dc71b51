//! The demo with its batched kernels (CPU twins here): GARCH volatility sizes the positions,
//! the Monte-Carlo VaR reaches its sink and the tearsheet, and both are the same on 1 and 2
//! workers.

mod common;

use std::path::{Path, PathBuf};

/// The demo, two hours of eight symbols, sized by the GARCH forecast.
fn demo(dir: &Path) -> PathBuf {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/configs/demo.toml")).unwrap();
    let config = demo
        .replacen("duration_s = 23400", "duration_s = 7200", 1)
        .replacen("symbols = 50", "symbols = 8", 1)
        .replacen("sizing = \"kelly\"", "sizing = \"vol_target\"", 1)
        .replacen("paths = 100000", "paths = 20000", 1);
    assert!(
        config.contains("vol_column = \"garch_vol\"") && config.contains("[kernels.var]"),
        "the demo has the kernels on"
    );
    assert!(config.contains("sizing = \"vol_target\""));
    common::write_config(dir, "demo.toml", &config)
}

#[test]
fn garch_sizing_and_monte_carlo_var_run_in_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let config = demo(dir.path());
    let (one, two) = (dir.path().join("one"), dir.path().join("two"));
    common::run_job(&config, &one, &["-w", "1"]);
    common::run_job(&config, &two, &["-w", "2"]);

    // The GARCH column: NaN until a symbol's first fit, then a per-bar volatility of the size
    // the realized volatility of the same bars has.
    let indicators = common::Table::read(&one, "indicators");
    let median = |column: &str| {
        let mut v: Vec<f64> = indicators.f64(column).into_iter().filter(|v| v.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        (v.len(), v[v.len() / 2])
    };
    let ((forecasts, garch), (_, realized)) = (median("garch_vol"), median("realvol_30"));
    assert!(forecasts > 8 * 30, "{forecasts} GARCH forecasts");
    assert!((0.5..2.0).contains(&(garch / realized)), "median GARCH forecast {garch} vs realized {realized}");

    // Entries are sized by it.
    let sizing = common::Table::read(&one, "audit").text("sizing");
    let by_forecast =
        sizing.iter().filter(|s| s.contains("vol_target: |strength|") && s.contains("/ forecast")).count();
    assert!(by_forecast > 0, "no entry was sized by the GARCH forecast: {:?}", &sizing[..sizing.len().min(5)]);

    // The VaR stream: every five minutes while positions are held.
    let var = common::Table::read(&one, "var");
    assert!(var.len() >= 5, "{} VaR estimates", var.len());
    for ((v95, v99), (c95, c99)) in
        var.f64("var95").iter().zip(var.f64("var99")).zip(var.f64("cvar95").iter().zip(var.f64("cvar99")))
    {
        assert!(*v95 > 0.0 && v99 > *v95 && *c95 >= *v95 && c99 >= v99, "var {v95} {v99} cvar {c95} {c99}");
    }
    assert!(var.u64("paths").iter().all(|p| *p == 20_000));

    // One worker or two: the same forecasts, orders and estimates.
    for stream in ["indicators", "orders", "var"] {
        assert_eq!(
            common::Table::read(&one, stream).sorted_rows(&[]),
            common::Table::read(&two, stream).sorted_rows(&[]),
            "{stream} differs between 1 and 2 workers"
        );
    }

    let report = common::ok(&["report", one.to_str().unwrap()]);
    assert!(report.contains("MC VaR / CVaR 99%"), "{report}");
}

#[test]
fn requiring_a_gpu_that_is_not_there_is_refused_before_start() {
    if tradeflow_kernels::Kernels::select(tradeflow_kernels::GpuPolicy::Require).is_ok() {
        return; // a GPU machine: `require` is satisfied, nothing to refuse
    }
    let dir = tempfile::tempdir().unwrap();
    let config = std::fs::read_to_string(demo(dir.path())).unwrap().replacen("gpu = \"auto\"", "gpu = \"require\"", 1);
    let path = common::write_config(dir.path(), "require.toml", &config);
    let out = common::tradeflow(&["validate", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kernels.gpu: gpu = \"require\" but no GPU can be used"), "{err}");
}
