//! Every kernel's CPU twin (the kernel's own CUDA source, compiled for the host) against an
//! independent Rust reference.

use proptest::prelude::*;
use tradeflow_kernels::{
    CupParams, GarchOptions, GarchParams, IndicatorParams, Kernels, Ragged, philox4x32_10, portfolio_var,
};
use tradeflow_operators::indicators::{Ema, Indicator, Ohlcv, Rsi, Variance, ZScore};

fn close_enough(got: f64, want: f64, rel: f64) -> bool {
    (got.is_nan() && want.is_nan()) || (got - want).abs() <= rel * want.abs().max(1e-300) || got == want
}

fn walk(seed: u64, n: usize, start: f64) -> Vec<f64> {
    // A small xorshift walk: the data need only be varied, not random in any strong sense.
    let mut state = seed.max(1);
    let mut price = start;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let step = (state % 2001) as f64 / 1000.0 - 1.0;
            price = (price * (1.0 + 0.01 * step)).max(0.01);
            price
        })
        .collect()
}

/// The streaming operators' values after `closes`.
fn streaming(closes: &[f64], p: IndicatorParams) -> [f64; 5] {
    let (mut ema, mut rsi) = (Ema::new(p.ema_period as usize), Rsi::new(p.rsi_period as usize));
    let (mut var, mut z) = (Variance::new(p.window as usize), ZScore::new(p.window as usize));
    let mut out = [f64::NAN; 5];
    for &c in closes {
        out[0] = ema.push(c);
        out[1] = rsi.push(c);
        let (mean, variance) = var.push_with_mean(c);
        (out[2], out[3]) = (mean, variance);
        let bar = Ohlcv { ts: 0, open: c, high: c, low: c, close: c, volume: 1.0 };
        z.update(&bar, &mut out[4..5]);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn batched_indicators_equal_the_streaming_operators(
        seed in 1u64..1_000_000,
        lengths in proptest::collection::vec(0usize..300, 1..40),
        ema_period in 1u32..40,
        rsi_period in 1u32..30,
        window in 1u32..60,
    ) {
        let p = IndicatorParams { ema_period, rsi_period, window };
        let rows: Vec<Vec<f64>> = lengths.iter().enumerate().map(|(i, &n)| walk(seed + i as u64, n, 50.0 + i as f64)).collect();
        let batch = Ragged::from_rows(&rows);
        let got = Kernels::cpu().indicators(&batch, p).unwrap();
        for (row, g) in rows.iter().zip(&got) {
            let want = streaming(row, p);
            let g = [g.ema, g.rsi, g.mean, g.variance, g.zscore];
            for k in 0..5 {
                prop_assert!(close_enough(g[k], want[k], 1e-9), "output {k} of a {}-close row: {} vs {}", row.len(), g[k], want[k]);
            }
        }
    }
}

#[test]
fn single_precision_indicators_stay_within_their_stated_tolerance() {
    let p = IndicatorParams { ema_period: 20, rsi_period: 14, window: 30 };
    let rows: Vec<Vec<f64>> = (0..50).map(|i| walk(7 + i, 400, 20.0 + 10.0 * i as f64)).collect();
    let wide = Kernels::cpu().indicators(&Ragged::from_rows(&rows), p).unwrap();
    let narrow_rows: Vec<Vec<f32>> = rows.iter().map(|r| r.iter().map(|&v| v as f32).collect()).collect();
    let narrow = Kernels::cpu().indicators_f32(&Ragged::from_rows(&narrow_rows), p).unwrap();
    for (w, n) in wide.iter().zip(&narrow) {
        assert!(close_enough(n.ema as f64, w.ema, 1e-4), "ema {} vs {}", n.ema, w.ema);
        assert!(close_enough(n.mean as f64, w.mean, 1e-4), "mean {} vs {}", n.mean, w.mean);
        assert!((n.rsi as f64 - w.rsi).abs() < 0.01, "rsi {} vs {}", n.rsi, w.rsi);
        assert!(close_enough(n.variance as f64, w.variance, 1e-2), "variance {} vs {}", n.variance, w.variance);
    }
}

/// GARCH(1,1) log-likelihood written out plainly, with arch's backcast.
fn garch_loglik(y: &[f64], p: GarchParams, backcast_mean: f64) -> (f64, f64) {
    let tau = y.len().min(75);
    let weights: Vec<f64> = (0..tau).map(|i| 0.94f64.powi(i as i32)).collect();
    let total: f64 = weights.iter().sum();
    let backcast: f64 = (0..tau).map(|i| (y[i] - backcast_mean).powi(2) * weights[i] / total).sum();
    let mut s2 = p.omega + (p.alpha + p.beta) * backcast;
    let mut ll = 0.0;
    let mut last = 0.0;
    for (t, &v) in y.iter().enumerate() {
        if t > 0 {
            s2 = p.omega + p.alpha * last * last + p.beta * s2;
        }
        last = v - p.mu;
        ll -= 0.5 * ((2.0 * std::f64::consts::PI).ln() + s2.ln() + last * last / s2);
    }
    (ll, p.omega + p.alpha * last * last + p.beta * s2)
}

fn log_returns(closes: &[f64]) -> Vec<f64> {
    closes.windows(2).map(|w| (w[1] / w[0]).ln()).collect()
}

#[test]
fn garch_loglik_equals_the_plain_formula() {
    let series: Vec<Vec<f64>> = (0..6).map(|i| log_returns(&walk(100 + i, 300 + 50 * i as usize, 100.0))).collect();
    let batch = Ragged::from_rows(&series);
    let params: Vec<GarchParams> = (0..6)
        .map(|i| GarchParams {
            mu: 0.01 * i as f64,
            omega: 0.05 + 0.01 * i as f64,
            alpha: 0.05,
            beta: 0.9 - 0.1 * i as f64,
        })
        .collect();
    let opts = GarchOptions::default();
    let got = Kernels::cpu().garch_loglik_at(&batch, opts, &params).unwrap();
    for ((y, p), (ll, next)) in series.iter().zip(&params).zip(got) {
        let scaled: Vec<f64> = y.iter().map(|v| v * 100.0).collect();
        let mean = scaled.iter().sum::<f64>() / scaled.len() as f64;
        let (want_ll, want_next) = garch_loglik(&scaled, *p, mean);
        assert!(close_enough(ll, want_ll, 1e-12), "{ll} vs {want_ll}");
        assert!(close_enough(next, want_next, 1e-12), "{next} vs {want_next}");
    }
}

#[test]
fn garch_fit_is_a_local_maximum_within_the_constraints() {
    let series: Vec<Vec<f64>> = (0..4).map(|i| log_returns(&walk(900 + i, 600, 100.0))).collect();
    let fits = Kernels::cpu().garch_fit(&Ragged::from_rows(&series), GarchOptions::default()).unwrap();
    for (y, fit) in series.iter().zip(&fits) {
        let p = fit.params;
        assert!(p.omega > 0.0 && p.alpha >= 0.0 && p.beta >= 0.0 && p.alpha + p.beta < 1.0, "{p:?}");
        let scaled: Vec<f64> = y.iter().map(|v| v * 100.0).collect();
        let mean = scaled.iter().sum::<f64>() / scaled.len() as f64;
        let (best, _) = garch_loglik(&scaled, p, mean);
        assert!(close_enough(fit.loglik, best, 1e-12));
        for (dm, dw, da, db) in
            [(1e-3, 0.0, 0.0, 0.0), (0.0, 1e-3, 0.0, 0.0), (0.0, 0.0, 1e-3, 0.0), (0.0, 0.0, 0.0, 1e-3)]
        {
            for sign in [-1.0, 1.0] {
                let q = GarchParams {
                    mu: p.mu + sign * dm,
                    omega: p.omega * (1.0 + sign * dw),
                    alpha: p.alpha + sign * da,
                    beta: p.beta + sign * db,
                };
                if q.alpha < 0.0 || q.beta < 0.0 || q.alpha + q.beta >= 1.0 {
                    continue;
                }
                let (ll, _) = garch_loglik(&scaled, q, mean);
                assert!(ll <= best + 1e-6 * best.abs(), "{q:?} gives {ll} > {best}");
            }
        }
    }
}

/// Philox4x32-10 written out from the paper, for the twin to agree with.
fn philox_reference(mut ctr: [u32; 4], mut key: [u32; 2]) -> [u32; 4] {
    for round in 0..10 {
        if round > 0 {
            key[0] = key[0].wrapping_add(0x9E37_79B9);
            key[1] = key[1].wrapping_add(0xBB67_AE85);
        }
        let p0 = u64::from(0xD251_1F53u32) * u64::from(ctr[0]);
        let p1 = u64::from(0xCD9E_8D57u32) * u64::from(ctr[2]);
        ctr = [((p1 >> 32) as u32) ^ ctr[1] ^ key[0], p1 as u32, ((p0 >> 32) as u32) ^ ctr[3] ^ key[1], p0 as u32];
    }
    ctr
}

#[test]
fn philox_matches_the_random123_known_answers() {
    // Known-answer vectors of Random123 (kat_vectors: philox4x32 10).
    assert_eq!(philox4x32_10([0; 4], [0; 2]), [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]);
    assert_eq!(philox4x32_10([u32::MAX; 4], [u32::MAX; 2]), [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]);
    assert_eq!(
        philox4x32_10([0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0]),
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
    );
    for i in 0..1000u32 {
        let ctr = [i, i.wrapping_mul(2_654_435_761), 7, i ^ 0xdead_beef];
        assert_eq!(philox4x32_10(ctr, [i, !i]), philox_reference(ctr, [i, !i]));
    }
}

#[test]
fn monte_carlo_paths_equal_the_reference_path_by_path() {
    let loadings = [120.0, -35.5, 0.0, 80.25, 10.0, 3.0, -1.0];
    let seed = 0x1234_5678_9abc_def0u64;
    let pnl = Kernels::cpu().mc_pnl(&loadings, 2.5, 2000, seed).unwrap();
    let key = [seed as u32, (seed >> 32) as u32];
    for (path, got) in pnl.iter().enumerate() {
        let mut want = 2.5;
        for block in 0..loadings.len().div_ceil(4) {
            let r = philox_reference([path as u32, block as u32, 0, 0], key);
            let u = |b: u32| (f64::from(b) + 0.5) * 2.0f64.powi(-32);
            let mut z = [0.0; 4];
            for pair in 0..2 {
                let radius = (-2.0 * u(r[2 * pair]).ln()).sqrt();
                let angle = 2.0 * std::f64::consts::PI * u(r[2 * pair + 1]);
                z[2 * pair] = radius * angle.cos();
                z[2 * pair + 1] = radius * angle.sin();
            }
            for (j, zj) in z.iter().enumerate() {
                if let Some(l) = loadings.get(block * 4 + j) {
                    want += l * zj;
                }
            }
        }
        assert!(close_enough(*got, want, 1e-12), "path {path}: {got} vs {want}");
    }
}

/// The standard normal quantile at 0.95 and 0.99 and its density there.
const Z95: f64 = 1.644_853_626_951_472_2;
const Z99: f64 = 2.326_347_874_040_841;

fn density(z: f64) -> f64 {
    (-0.5 * z * z).exp() / (2.0 * std::f64::consts::PI).sqrt()
}

#[test]
fn monte_carlo_var_matches_the_gaussian_closed_form_at_a_million_paths() {
    // Three correlated assets, daily-sized moves.
    let sd = [0.02, 0.015, 0.03];
    let corr = [[1.0, 0.6, -0.2], [0.6, 1.0, 0.1], [-0.2, 0.1, 1.0]];
    let cov: Vec<f64> = (0..9).map(|k| sd[k / 3] * sd[k % 3] * corr[k / 3][k % 3]).collect();
    let means = [0.0005, 0.0002, -0.0001];
    let values = [1_000_000.0, -400_000.0, 250_000.0];
    let est = portfolio_var(&Kernels::cpu(), &cov, &means, &values, 1_000_000, 42).unwrap();
    let mu: f64 = values.iter().zip(means).map(|(v, m)| v * m).sum();
    let sigma = (0..9).map(|k| values[k / 3] * values[k % 3] * cov[k]).sum::<f64>().sqrt();
    for (got, want, what) in [
        (est.var95, Z95 * sigma - mu, "VaR 95"),
        (est.var99, Z99 * sigma - mu, "VaR 99"),
        (est.cvar95, sigma * density(Z95) / 0.05 - mu, "CVaR 95"),
        (est.cvar99, sigma * density(Z99) / 0.01 - mu, "CVaR 99"),
    ] {
        assert!((got / want - 1.0).abs() < 0.01, "{what}: {got:.2} vs closed form {want:.2}");
    }
}

/// A cup of `width` bars `depth` deep with rims at 100 after a rising lead-in, a handle, and a
/// breakout bar at 101 with `breakout_volume`.
fn planted(lead: usize, width: usize, depth: f64, handle: &[f64], breakout_volume: f64) -> (Vec<f64>, Vec<f64>) {
    let mut closes: Vec<f64> = (0..lead).map(|i| 80.0 + 19.0 * i as f64 / lead as f64).collect();
    closes.extend((0..=width).map(|k| 100.0 - depth * 100.0 * (std::f64::consts::PI * k as f64 / width as f64).sin()));
    closes.extend_from_slice(handle);
    closes.push(101.0);
    let mut volumes = vec![1000.0; closes.len()];
    *volumes.last_mut().unwrap() = breakout_volume;
    (closes, volumes)
}

/// The definition in cuda/cup_handle.cu, checked by brute force over every (l, r).
fn cup_reference(c: &[f64], v: &[f64], p: &CupParams) -> f64 {
    let n = c.len();
    if n < 4 {
        return 0.0;
    }
    let e = n - 1;
    let score = |miss: f64, tol: f64| (1.0 - 0.5 * miss / tol).clamp(0.5, 1.0);
    let mut best = 0.0f64;
    for r in 1..e {
        let h = e - 1 - r;
        if h < p.min_handle as usize || h > p.max_handle as usize || c[e] <= c[r] {
            continue;
        }
        let handle = &c[r + 1..e];
        let (hl, hh) = handle.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        if hh > c[r] {
            continue;
        }
        for l in 0..r.saturating_sub(1) {
            let width = r - l;
            if width < p.min_cup as usize || width > p.max_cup as usize {
                continue;
            }
            let interior = &c[l + 1..r];
            let high = interior.iter().cloned().fold(f64::MIN, f64::max);
            let low = interior.iter().cloned().fold(f64::MAX, f64::min);
            // On a tie the rightmost lowest close is the bottom.
            let bottom = l + 1 + interior.iter().rposition(|&x| x == low).unwrap_or(0);
            let (lower, higher) = (c[l].min(c[r]), c[l].max(c[r]));
            if high.is_nan() || high >= lower {
                continue;
            }
            let depth = (lower - low) / higher;
            let mismatch = (c[l] - c[r]).abs() / higher;
            let skew = ((bottom - l) as f64 / width as f64 - 0.5).abs();
            let retrace = (c[r] - hl) / (c[r] - low);
            let mean_volume = v[l..e].iter().sum::<f64>() / (e - l) as f64;
            if depth < p.min_depth
                || depth > p.max_depth
                || mismatch > p.rim_tolerance
                || skew > p.symmetry_tolerance
                || retrace.is_nan()
                || retrace <= 0.0
                || retrace > p.max_retrace
                || v[e] < p.volume_ratio * mean_volume
            {
                continue;
            }
            let vol = (v[e] / (2.0 * p.volume_ratio * mean_volume)).clamp(0.5, 1.0);
            let conf = (score(skew, p.symmetry_tolerance)
                + score(mismatch, p.rim_tolerance)
                + score(retrace, p.max_retrace)
                + vol)
                / 4.0;
            best = best.max(conf);
        }
    }
    best
}

const HANDLE: [f64; 6] = [99.5, 99.2, 99.0, 99.1, 99.4, 99.7];

#[test]
fn cup_and_handle_is_found_where_planted_and_nowhere_else() {
    let p = CupParams::default();
    let (c, v) = planted(60, 40, 0.04, &HANDLE, 3000.0);
    let (flat_c, flat_v) = planted(60, 40, 0.04, &HANDLE, 1000.0);
    let (deep_c, deep_v) = planted(60, 40, 0.04, &[99.0, 96.0, 95.0, 97.0, 99.0, 99.5], 3000.0);
    let trend: Vec<f64> = (0..120).map(|i| 100.0 + 0.1 * i as f64).collect();
    let rows = Ragged::from_rows([&c[..], &flat_c[..], &deep_c[..], &trend[..]]);
    let volumes: Vec<f64> = [&v[..], &flat_v[..], &deep_v[..], &vec![1000.0; 120][..]].concat();
    let hits = Kernels::cpu().cup_handle(&rows, &volumes, p).unwrap();
    let hit = hits[0].1.expect("the planted pattern is found");
    assert_eq!((hit.left_rim, hit.bottom, hit.right_rim), (60, 80, 100));
    assert!((hit.depth - 0.04).abs() < 1e-12 && (hit.retrace - 0.25).abs() < 1e-9, "{hit:?}");
    assert!(hits[0].0 > 0.9, "{}", hits[0].0);
    assert_eq!(hits[1].0, 0.0, "no breakout volume, no pattern");
    assert_eq!(hits[2].0, 0.0, "a handle retracing 5/4 of the cup is no handle");
    assert_eq!(hits[3].0, 0.0, "a straight trend has no cup");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn cup_and_handle_confidence_equals_the_brute_force_definition(
        seed in 1u64..1_000_000,
        width in 20usize..80,
        depth in 0.002f64..0.1,
        noise in 0.0f64..0.004,
        breakout_volume in 500.0f64..5000.0,
    ) {
        let p = CupParams::default();
        let (mut c, v) = planted(30, width, depth, &HANDLE, breakout_volume);
        let jitter = walk(seed, c.len(), 1.0);
        for (x, j) in c.iter_mut().zip(&jitter) {
            *x *= 1.0 + noise * (j - 1.0);
        }
        let hits = Kernels::cpu().cup_handle(&Ragged::from_rows([&c[..]]), &v, p).unwrap();
        let want = cup_reference(&c, &v, &p);
        prop_assert!((hits[0].0 - want).abs() < 1e-12, "kernel {} vs reference {want}", hits[0].0);
        // The planted handle dips to 99.0 under rims at 100: it retraces at most half of a cup
        // at least 2% deep (a shallower cup's handle retraces too much to be one).
        if breakout_volume >= 2000.0 && noise < 0.0002 && (0.021..0.07).contains(&depth) {
            prop_assert!(want > 0.0, "a clean planted pattern is a pattern");
        }
    }
}
