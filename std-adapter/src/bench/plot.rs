//! SVG charts of benchmark results (feature `plot`): a generic x/y line chart
//! ([`xy_chart`], [`Chart`], [`charts`]) and the two charts of `ringwire bench --plot`
//! ([`latency_chart`]: the round-trip percentile curve of each transport;
//! [`throughput_chart`]: one-way throughput against payload size).
//!
//! Drawn with `plotters`' SVG backend only, without its font features: the SVG holds `<text>`
//! elements and the viewer's fonts draw them, so nothing here needs fontconfig or a font file
//! (text widths for the layout are estimated). Each series is a line with a marker on every
//! point (a one-point series shows as a marker) and an entry in the chart's legend.
//!
//! ```no_run
//! use ringwire::bench::plot::{Series, xy_chart};
//!
//! let series = [Series {
//!     name: "fan-out, shm".into(),
//!     points: vec![(1.0, 310.0), (4.0, 420.0), (16.0, 760.0)],
//! }];
//! xy_chart(
//!     std::path::Path::new("fanout.svg"),
//!     "p50 per subscriber",
//!     "subscribers",
//!     "ns",
//!     true,
//!     false,
//!     &series,
//! )?;
//! # Ok::<(), ringwire::bench::BenchError>(())
//! ```

use std::ops::Range;
use std::path::Path;

use plotters::coord::Shift;
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;

use crate::bench::link::{BenchError, Result, fail};
use crate::bench::stats::{self, Row};

/// Width of the SVG, in pixels.
pub const WIDTH: u32 = 1000;
/// Height of each chart in the SVG, in pixels.
pub const CHART_HEIGHT: u32 = 650;

/// One line of a chart: a name (its legend entry) and its points, in drawing order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    /// The legend entry.
    pub name: String,
    /// `(x, y)` points, joined in this order. On a logarithmic axis, points with a coordinate
    /// of zero or less are left out.
    pub points: Vec<(f64, f64)>,
}

/// One chart: a title, two axes and its series.
#[derive(Clone, Debug)]
pub struct Chart {
    /// Caption above the chart.
    pub title: String,
    /// Description of the x axis.
    pub x_label: String,
    /// Description of the y axis.
    pub y_label: String,
    /// Logarithmic x axis.
    pub log_x: bool,
    /// Logarithmic y axis.
    pub log_y: bool,
    /// Tick labels of the x axis (default [`format_number`]).
    pub x_format: fn(f64) -> String,
    /// Tick labels of the y axis (default [`format_number`]).
    pub y_format: fn(f64) -> String,
    /// The lines.
    pub series: Vec<Series>,
}

impl Chart {
    /// A chart with linear axes, plain number ticks and no series.
    pub fn new(title: &str, x_label: &str, y_label: &str) -> Chart {
        Chart {
            title: title.into(),
            x_label: x_label.into(),
            y_label: y_label.into(),
            log_x: false,
            log_y: false,
            x_format: format_number,
            y_format: format_number,
            series: Vec::new(),
        }
    }
}

/// A tick label for a plain number: `0.5`, `12`, `3500`, `1.2e7`.
pub fn format_number(v: f64) -> String {
    if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.1e}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A tick label for nanoseconds: `850 ns`, `12.3 us`, `4.56 ms`.
pub fn format_nanos(v: f64) -> String {
    stats::format_ns(v.max(0.0).round() as u64)
}

/// A tick label for a byte count: `8 B`, `64 KiB`, `4 MiB`, and decimal units for the other
/// round numbers a log axis picks (`1 kB`, `10 MB`).
pub fn format_bytes(v: f64) -> String {
    let n = v.max(0.0).round() as usize;
    match n {
        _ if n >= 1024 && n.is_multiple_of(1024) => stats::format_size(n),
        _ if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{} MB", n / 1_000_000),
        _ if n >= 1_000 && n.is_multiple_of(1_000) => format!("{} kB", n / 1_000),
        _ => stats::format_size(n),
    }
}

/// The x position of a percentile on a latency-distribution chart: `1 / (1 - p/100)`, so
/// 0 % is 1, 90 % is 10, 99 % is 100 and 99.9 % is 1000 (equal steps on a log axis).
pub fn percentile_x(percentile: f64) -> f64 {
    1.0 / (1.0 - percentile / 100.0)
}

/// The tick label of a [`percentile_x`] position: `50%`, `99.9%`.
pub fn format_percentile_x(x: f64) -> String {
    let p = 100.0 * (1.0 - 1.0 / x.max(1.0));
    let s = format!("{p:.4}");
    format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Draws one chart into an SVG file at `path`: the generic entry point, for any x/y data.
pub fn xy_chart(
    path: &Path,
    title: &str,
    x_label: &str,
    y_label: &str,
    log_x: bool,
    log_y: bool,
    series: &[Series],
) -> Result<()> {
    let mut chart = Chart::new(title, x_label, y_label);
    chart.log_x = log_x;
    chart.log_y = log_y;
    chart.series = series.to_vec();
    charts(path, &[chart])
}

/// Draws `charts` one below the other into an SVG file at `path`.
pub fn charts(path: &Path, charts: &[Chart]) -> Result<()> {
    let svg = charts_svg(charts)?;
    std::fs::write(path, svg).map_err(|e| fail(&format!("writing {}", path.display()), e))
}

/// [`charts`] as SVG text.
pub fn charts_svg(charts: &[Chart]) -> Result<String> {
    let mut svg = String::new();
    {
        let height = CHART_HEIGHT * u32::try_from(charts.len().max(1)).unwrap_or(1);
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail("plot", e))?;
        let areas = root.split_evenly((charts.len().max(1), 1));
        for (area, chart) in areas.iter().zip(charts) {
            draw(area, chart)?;
        }
        root.present().map_err(|e| fail("plot", e))?;
    }
    Ok(svg)
}

/// The points of `c` that its axes can show.
fn visible(c: &Chart) -> Vec<Vec<(f64, f64)>> {
    c.series
        .iter()
        .map(|s| {
            s.points
                .iter()
                .copied()
                .filter(|&(x, y)| {
                    x.is_finite() && y.is_finite() && (!c.log_x || x > 0.0) && (!c.log_y || y > 0.0)
                })
                .collect()
        })
        .collect()
}

/// The axis range around `values`: a little margin, whole powers of ten on a log axis.
fn span(values: impl Iterator<Item = f64>, log: bool) -> Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return if log { 1.0..10.0 } else { 0.0..1.0 };
    }
    if log {
        let lo = 10f64.powf(lo.log10().floor());
        let hi = 10f64.powf(hi.log10().ceil());
        if hi > lo { lo..hi } else { lo..lo * 10.0 }
    } else {
        let pad = ((hi - lo) * 0.05).max(hi.abs() * 0.05).max(1e-9);
        let lo = if lo >= 0.0 && lo - pad < 0.0 {
            0.0
        } else {
            lo - pad
        };
        lo..hi + pad
    }
}

fn draw<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &Chart) -> Result<()> {
    let points = visible(c);
    let xs = span(points.iter().flatten().map(|p| p.0), c.log_x);
    let ys = span(points.iter().flatten().map(|p| p.1), c.log_y);
    match (c.log_x, c.log_y) {
        (false, false) => draw_in(area, c, &points, xs, ys),
        (true, false) => draw_in(area, c, &points, xs.log_scale(), ys),
        (false, true) => draw_in(area, c, &points, xs, ys.log_scale()),
        (true, true) => draw_in(area, c, &points, xs.log_scale(), ys.log_scale()),
    }
}

fn draw_in<DB, X, Y>(
    area: &DrawingArea<DB, Shift>,
    c: &Chart,
    points: &[Vec<(f64, f64)>],
    x: X,
    y: Y,
) -> Result<()>
where
    DB: DrawingBackend,
    X: AsRangedCoord<Value = f64>,
    Y: AsRangedCoord<Value = f64>,
    X::CoordDescType: ValueFormatter<f64>,
    Y::CoordDescType: ValueFormatter<f64>,
{
    let e = |e| fail("plot", e);
    let mut chart = ChartBuilder::on(area)
        .caption(&c.title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(90)
        .build_cartesian_2d(x, y)
        .map_err(e)?;
    let (xf, yf) = (c.x_format, c.y_format);
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .x_label_formatter(&|v| xf(*v))
        .y_label_formatter(&|v| yf(*v))
        .label_style(("sans-serif", 13))
        .axis_desc_style(("sans-serif", 15))
        .draw()
        .map_err(e)?;
    for (i, (series, pts)) in c.series.iter().zip(points).enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(e)?
            .label(series.name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
            .map_err(e)?;
    }
    if !c.series.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .label_font(("sans-serif", 13))
            .draw()
            .map_err(e)?;
    }
    Ok(())
}

/// A row's name in the charts' legends: case group and transport.
pub fn series_name(row: &Row) -> String {
    format!("{} {}", row.group, row.label)
}

/// The round-trip latency distribution: one percentile curve per transport (its smallest
/// measured size; every repeat's round trips together), x the percentile on a
/// [`percentile_x`] log axis, y the round trip on a log axis. Legend: [`series_name`] and the
/// size, e.g. `ringwire-shm busy poll: PUB/SUB, PUSH/PULL (8 B)`.
pub fn latency_chart(rows: &[Row]) -> Chart {
    let mut chart = Chart::new(
        "Round-trip latency distribution (percentile curve per transport)",
        "percentile",
        "round trip",
    );
    chart.log_x = true;
    chart.log_y = true;
    chart.x_format = format_percentile_x;
    chart.y_format = format_nanos;
    let mut seen: Vec<&str> = Vec::new();
    for row in rows {
        if row.rtt_curve.is_empty() || seen.contains(&row.id.as_str()) {
            continue;
        }
        // The transport's smallest size with a curve.
        let Some(r) = rows
            .iter()
            .filter(|r| r.id == row.id && !r.rtt_curve.is_empty())
            .min_by_key(|r| r.size)
        else {
            continue;
        };
        seen.push(&row.id);
        let samples: u64 = r.rtt_runs.iter().map(|l| l.samples).sum();
        let mut points: Vec<(f64, f64)> = Vec::new();
        for &(p, ns) in &r.rtt_curve {
            let x = if p >= 100.0 {
                // The maximum: the last of `samples` samples.
                let last = points.last().map_or(1.0, |q| q.0);
                (samples as f64).max(last)
            } else {
                percentile_x(p)
            };
            points.push((x, ns as f64));
        }
        chart.series.push(Series {
            name: format!("{} ({})", series_name(r), stats::format_size(r.size)),
            points,
        });
    }
    chart
}

/// One-way throughput against payload size: one line per transport with throughput rows,
/// x the message size (log), y megabytes (10⁶ bytes) per second (log). Legend:
/// [`series_name`].
pub fn throughput_chart(rows: &[Row]) -> Chart {
    let mut chart = Chart::new(
        "One-way throughput by payload size",
        "message size",
        "MB/s (10^6 bytes per second)",
    );
    chart.log_x = true;
    chart.log_y = true;
    chart.x_format = format_bytes;
    let mut seen: Vec<&str> = Vec::new();
    for row in rows {
        if row.msgs_per_sec.is_none() || seen.contains(&row.id.as_str()) {
            continue;
        }
        seen.push(&row.id);
        let mut points: Vec<(f64, f64)> = rows
            .iter()
            .filter(|r| r.id == row.id)
            .filter_map(|r| Some((r.size as f64, r.bytes_per_sec()? / 1e6)))
            .collect();
        points.sort_by(|a, b| a.0.total_cmp(&b.0));
        chart.series.push(Series {
            name: series_name(row),
            points,
        });
    }
    chart
}

/// `ringwire bench --plot`: [`latency_chart`] above [`throughput_chart`] in one SVG file.
pub fn report(path: &Path, rows: &[Row]) -> Result<()> {
    if rows.is_empty() {
        return Err(BenchError("plot: no results to draw".into()));
    }
    charts(path, &[latency_chart(rows), throughput_chart(rows)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_labels() {
        assert_eq!(format_percentile_x(1.0), "0%");
        assert_eq!(format_percentile_x(2.0), "50%");
        assert_eq!(format_percentile_x(1000.0), "99.9%");
        assert!((percentile_x(99.0) - 100.0).abs() < 1e-9);
        assert_eq!(format_number(3500.0), "3500");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(12_000_000.0), "1.2e7");
        assert_eq!(format_bytes(65536.0), "64 KiB");
        assert_eq!(format_bytes(1e4), "10 kB");
        assert_eq!(format_bytes(1e7), "10 MB");
        assert_eq!(format_bytes(100.0), "100 B");
        assert_eq!(format_nanos(1500.0), "1500 ns");
    }

    #[test]
    fn ranges() {
        assert_eq!(span([3.0, 420.0].into_iter(), true), 1.0..1000.0);
        assert_eq!(span([100.0].into_iter(), true), 100.0..1000.0);
        assert_eq!(span(std::iter::empty(), false), 0.0..1.0);
        let r = span([10.0, 20.0].into_iter(), false);
        assert!(r.start < 10.0 && r.end > 20.0);
    }

    #[test]
    fn svg_has_text_and_one_legend_entry_per_series() {
        let series = vec![
            Series {
                name: "alpha <&> one".into(),
                points: vec![(1.0, 2.0), (10.0, 30.0), (0.0, 5.0)],
            },
            Series {
                name: "beta".into(),
                points: vec![(4.0, 8.0)],
            },
        ];
        let mut c = Chart::new("Title", "x axis", "y axis");
        c.log_x = true;
        c.series = series;
        let svg = charts_svg(&[c.clone(), Chart::new("Empty", "x", "y")]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        // The contents of the <text> elements, trimmed.
        let texts: Vec<&str> = svg
            .split("<text")
            .skip(1)
            .filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim()))
            .collect();
        let count = |s: &str| texts.iter().filter(|&&t| t == s).count();
        assert_eq!((count("Title"), count("Empty"), count("x axis")), (1, 1, 1));
        assert_eq!(count("alpha &lt;&amp;&gt; one"), 1, "{texts:?}");
        assert_eq!(count("beta"), 1);
    }
}
