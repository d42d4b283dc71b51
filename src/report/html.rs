//! The tearsheet as an HTML page: the statistics table and three SVG charts drawn with
//! plotters (equity curve, drawdown, P&L by symbol). One self-contained file, no scripts.

use std::fmt::Write as _;

use anyhow::anyhow;
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::tearsheet::{Tearsheet, rows};

const WIDTH: u32 = 960;
const HEIGHT: u32 = 320;
/// Charts draw at most this many points: the curve is thinned to the last value per bucket.
const MAX_POINTS: usize = 2000;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The curve thinned to at most `MAX_POINTS`, as (hours since the first point, value).
fn thin(curve: &[(i64, f64)]) -> Vec<(f64, f64)> {
    let Some(&(start, _)) = curve.first() else { return Vec::new() };
    let step = curve.len().div_ceil(MAX_POINTS).max(1);
    let hours = |ts: i64| (ts - start) as f64 / 3.6e12;
    let mut points: Vec<(f64, f64)> =
        curve.chunks(step).filter_map(|c| c.last()).map(|(t, v)| (hours(*t), *v)).collect();
    points.insert(0, (0.0, curve[0].1));
    points
}

/// A padded value range that is never empty.
fn span(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() {
        return 0.0..1.0;
    }
    let pad = ((hi - lo) * 0.05).max(hi.abs().max(1.0) * 1e-6);
    (lo - pad)..(hi + pad)
}

fn line_chart(title: &str, y_desc: &str, points: &[(f64, f64)], color: RGBColor) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("{title}: {e}"))?;
        let x_end = points.last().map_or(1.0, |p| p.0.max(1e-9));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(90)
            .build_cartesian_2d(0.0..x_end, span(points.iter().map(|p| p.1)))
            .map_err(|e| anyhow!("{title}: {e}"))?;
        chart
            .configure_mesh()
            .x_desc("hours since the first P&L row")
            .y_desc(y_desc)
            .draw()
            .map_err(|e| anyhow!("{title}: {e}"))?;
        chart.draw_series(LineSeries::new(points.iter().copied(), &color)).map_err(|e| anyhow!("{title}: {e}"))?;
        root.present().map_err(|e| anyhow!("{title}: {e}"))?;
    }
    Ok(svg)
}

fn symbol_chart(pnl: &[(String, f64)]) -> anyhow::Result<String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT + 40)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| anyhow!("P&L by symbol: {e}"))?;
        let n = pnl.len().max(1);
        let y = span(pnl.iter().map(|p| p.1).chain([0.0]));
        let mut chart = ChartBuilder::on(&root)
            .caption("P&L by symbol", ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(70)
            .y_label_area_size(90)
            .build_cartesian_2d((0..n).into_segmented(), y)
            .map_err(|e| anyhow!("P&L by symbol: {e}"))?;
        let name = |v: &SegmentValue<usize>| match v {
            SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => pnl.get(*i).map_or(String::new(), |p| p.0.clone()),
            SegmentValue::Last => String::new(),
        };
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(n)
            .x_label_formatter(&name)
            .x_label_style(("sans-serif", 10).into_font().transform(FontTransform::Rotate90))
            .y_desc("P&L")
            .draw()
            .map_err(|e| anyhow!("P&L by symbol: {e}"))?;
        chart
            .draw_series(pnl.iter().enumerate().map(|(i, (_, v))| {
                let color = if *v >= 0.0 { GREEN.mix(0.7) } else { RED.mix(0.7) };
                let (lo, hi) = if *v >= 0.0 { (0.0, *v) } else { (*v, 0.0) };
                let mut bar =
                    Rectangle::new([(SegmentValue::Exact(i), hi), (SegmentValue::Exact(i + 1), lo)], color.filled());
                bar.set_margin(0, 0, 1, 1);
                bar
            }))
            .map_err(|e| anyhow!("P&L by symbol: {e}"))?;
        root.present().map_err(|e| anyhow!("P&L by symbol: {e}"))?;
    }
    Ok(svg)
}

/// The HTML page of a run's tearsheet, from its statistics, its equity curve (event time,
/// equity) and each symbol's P&L.
pub fn page(run: &str, sheet: &Tearsheet, curve: &[(i64, f64)], pnl: &[(String, f64)]) -> anyhow::Result<String> {
    let equity = thin(curve);
    let mut peak = f64::NEG_INFINITY;
    let drawdown: Vec<(f64, f64)> = equity
        .iter()
        .map(|&(t, e)| {
            peak = peak.max(e);
            (t, (e / peak - 1.0) * 100.0)
        })
        .collect();
    let mut html = String::new();
    let title = format!("tradeflow tearsheet: {}", escape(run));
    let _ = write!(
        html,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{title}</title>\n<style>\n\
         body {{ font-family: sans-serif; margin: 2em; color: #222; }}\n\
         table {{ border-collapse: collapse; }}\n\
         td {{ padding: 0.2em 1em 0.2em 0; border-bottom: 1px solid #ddd; }}\n\
         td:first-child {{ color: #555; }}\n\
         </style>\n</head>\n<body>\n<h1>{title}</h1>\n<table>\n"
    );
    for (what, value) in rows(sheet) {
        let _ = writeln!(html, "<tr><td>{}</td><td>{}</td></tr>", escape(what), escape(&value));
    }
    html.push_str("</table>\n<p>Returns per period are the change of the period's last equity; statistics follow empyrical's conventions (risk-free rate 0).</p>\n");
    html.push_str(&line_chart("Equity", "equity", &equity, BLUE)?);
    html.push('\n');
    html.push_str(&line_chart("Drawdown", "% below the peak", &drawdown, RED)?);
    html.push('\n');
    html.push_str(&symbol_chart(pnl)?);
    html.push_str("\n</body>\n</html>\n");
    Ok(html)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thinning_keeps_the_first_and_last_points_and_bounds_the_count() {
        let curve: Vec<(i64, f64)> = (0..10_001).map(|i| (i as i64 * 3_600_000_000_000 / 1000, i as f64)).collect();
        let points = thin(&curve);
        assert!(points.len() <= MAX_POINTS + 1, "{}", points.len());
        assert_eq!(points.first(), Some(&(0.0, 0.0)));
        assert_eq!(points.last(), Some(&(10.0, 10_000.0)));
    }

    #[test]
    fn names_are_escaped() {
        assert_eq!(escape("<a&b>\""), "&lt;a&amp;b&gt;&quot;");
    }
}
