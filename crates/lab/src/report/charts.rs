//! The report's charts, drawn with plotters into SVG text (inlined in `index.html`).
//!
//! Text is measured with the committed DejaVu Sans (`assets/`), registered once, so no
//! system font or fontconfig is needed; browsers draw it with their own sans-serif.
//! Plotters ignores rotated text, so axis units are in the titles, not on the axes.

use std::error::Error;
use std::sync::Once;

use plotters::prelude::*;

use crate::matrix::Topology;
use crate::results::{Curve, Outcome};

/// The font the charts' text is measured with.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// Chart size in pixels.
const SIZE: (u32, u32) = (760, 400);

type Drawn = Result<(), Box<dyn Error>>;

fn register_font() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // The font is committed and valid; a failure would only leave text unmeasured.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
}

/// The colour of each topology, the same in every chart.
pub fn topology_color(topology: Topology) -> RGBColor {
    match topology {
        Topology::Centralized => RGBColor(31, 119, 180),
        Topology::Partitioned => RGBColor(214, 39, 40),
        Topology::Replicated => RGBColor(44, 160, 44),
        Topology::Deployed => RGBColor(148, 103, 189),
    }
}

/// A colour per series `index` (policies), Belady in black.
fn series_color(index: usize, name: &str) -> RGBColor {
    const COLORS: [RGBColor; 12] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
        RGBColor(188, 189, 34),
        RGBColor(23, 190, 207),
        RGBColor(0, 70, 140),
        RGBColor(160, 80, 0),
    ];
    if name == "belady" {
        BLACK
    } else {
        COLORS[index % COLORS.len()]
    }
}

/// The legend, in a box at `position`.
fn legend<'a, CT>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, CT>,
    position: SeriesLabelPosition,
) -> Drawn
where
    CT: plotters::coord::CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// A legend's key for a line of `color`.
fn line_key(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(3))
}

/// A share as a percentage on an axis that has room for labels below zero (left blank).
fn percent_above_zero(y: &f64) -> String {
    if *y < 0.0 {
        String::new()
    } else {
        format!("{:.0}%", y * 100.0)
    }
}

/// Draws with `draw` into a fresh SVG, or an SVG that says what went wrong.
fn svg(draw: impl FnOnce(DrawingArea<SVGBackend<'_>, plotters::coord::Shift>) -> Drawn) -> String {
    register_font();
    let mut text = String::new();
    let result = {
        let root = SVGBackend::with_string(&mut text, SIZE).into_drawing_area();
        draw(root)
    };
    match result {
        Ok(()) => text,
        Err(error) => format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\"><text x=\"10\" y=\"20\">chart not drawn: {}</text></svg>",
            SIZE.0,
            SIZE.1,
            super::html::escape(&error.to_string())
        ),
    }
}

/// Response time of each query over the run, one line per topology (a moving median of 25
/// queries over faint points), as the original lab plotted it.
pub fn timeline(runs: &[&Outcome]) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let queries = runs
            .iter()
            .map(|o| o.timeline.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let mut all: Vec<f64> = runs
            .iter()
            .flat_map(|o| o.timeline.iter().map(|t| t.latency_us as f64 / 1000.0))
            .collect();
        all.sort_by(f64::total_cmp);
        // The top 0.5 % would squash everything else: the axis stops at p99.5.
        let top = all
            .get((all.len() as f64 * 0.995) as usize)
            .copied()
            .unwrap_or(1.0)
            .max(0.01);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Response time per query over the run (ms; line: moving median)",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..queries as f64, 0f64..top * 1.05)?;
        chart
            .configure_mesh()
            .x_desc("query")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for run in runs {
            let color = topology_color(run.config.topology);
            let points: Vec<(f64, f64)> = run
                .timeline
                .iter()
                .enumerate()
                .map(|(i, t)| (i as f64, (t.latency_us as f64 / 1000.0).min(top * 1.05)))
                .collect();
            // At most ~2 000 faint points per run keep the SVG small; the median line uses
            // every query.
            let stride = (points.len() / 2000).max(1);
            chart.draw_series(
                points
                    .iter()
                    .step_by(stride)
                    .map(|&point| Circle::new(point, 1, color.mix(0.18).filled())),
            )?;
            let median = moving_median(&points, (points.len() / 400).max(25));
            chart
                .draw_series(LineSeries::new(median, color.stroke_width(2)))?
                .label(run.config.topology.name())
                .legend(line_key(color));
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present()?;
        Ok(())
    })
}

fn moving_median(points: &[(f64, f64)], window: usize) -> Vec<(f64, f64)> {
    points
        .chunks(window)
        .map(|chunk| {
            let mut ys: Vec<f64> = chunk.iter().map(|p| p.1).collect();
            ys.sort_by(f64::total_cmp);
            let x = chunk.iter().map(|p| p.0).sum::<f64>() / chunk.len() as f64;
            (x, ys[ys.len() / 2])
        })
        .collect()
}

/// The latency distribution of each run (x: µs, log scale; y: share of requests at most
/// that slow).
pub fn latency_cdf(runs: &[&Outcome], title: &str) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let max = runs
            .iter()
            .flat_map(|o| o.latency_cdf.iter().map(|p| p.1))
            .fold(10.0f64, f64::max);
        let min = runs
            .iter()
            .flat_map(|o| o.latency_cdf.iter().map(|p| p.1))
            .fold(max, f64::min)
            .max(1.0);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(52)
            .build_cartesian_2d((min * 0.9..max * 1.1).log_scale(), 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("latency (µs, log scale)")
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()?;
        for run in runs {
            let color = topology_color(run.config.topology);
            chart
                .draw_series(LineSeries::new(
                    run.latency_cdf.iter().map(|&(q, us)| (us.max(1.0), q)),
                    color.stroke_width(2),
                ))?
                .label(run.config.topology.name())
                .legend(line_key(color));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)?;
        root.present()?;
        Ok(())
    })
}

/// Grouped bars: for each group (a policy), one bar per topology.
pub fn grouped_bars(title: &str, groups: &[(String, Vec<(Topology, f64)>)]) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let width = groups.len().max(1) as f64;
        let top = groups
            .iter()
            .flat_map(|(_, bars)| bars.iter().map(|b| b.1))
            .fold(0.1f64, f64::max)
            .min(1.0);
        // Room under zero for the group names (plotters places numeric labels itself),
        // on two staggered lines when there are many groups; room above for the legend.
        let staggered = groups.len() > 6;
        let floor = -top * if staggered { 0.14 } else { 0.08 };
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(10)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..width, floor..top * 1.3)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_label_formatter(&percent_above_zero)
            .draw()?;
        let mut legend_done = std::collections::HashSet::new();
        for (index, (name, bars)) in groups.iter().enumerate() {
            let slot = 0.8 / bars.len().max(1) as f64;
            for (position, (topology, value)) in bars.iter().enumerate() {
                let color = topology_color(*topology);
                let x0 = index as f64 + 0.1 + position as f64 * slot;
                let bar = chart.draw_series(std::iter::once(Rectangle::new(
                    [(x0, 0.0), (x0 + slot * 0.9, *value)],
                    color.filled(),
                )))?;
                if legend_done.insert(*topology) {
                    bar.label(topology.name()).legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
                    });
                }
                chart.draw_series(std::iter::once(Text::new(
                    format!("{:.0}", value * 100.0),
                    (x0, *value + top * 0.01),
                    ("sans-serif", 11).into_font().color(&BLACK.mix(0.7)),
                )))?;
            }
            let line = if staggered && index % 2 == 1 {
                0.75
            } else {
                0.3
            };
            chart.draw_series(std::iter::once(Text::new(
                name.clone(),
                (index as f64 + 0.1, floor * line),
                ("sans-serif", 12).into_font(),
            )))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present()?;
        Ok(())
    })
}

/// Hit ratio against cache size, one curve per policy, Belady in black.
pub fn memory_curves(curve: &Curve) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let mut policies: Vec<&str> = curve.points.iter().map(|p| p.policy.as_str()).collect();
        policies.dedup();
        let max_x = curve
            .points
            .iter()
            .map(|p| p.fraction * 100.0)
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                format!(
                    "Hit ratio vs memory, {} (one cache, offline; x: % of the table's {} KiB)",
                    curve.workload,
                    curve.table_bytes / 1024
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..max_x * 1.02, 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("cache size (% of the table)")
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .draw()?;
        for (index, policy) in policies.iter().enumerate() {
            let color = series_color(index, policy);
            let width = if *policy == "belady" { 3 } else { 2 };
            chart
                .draw_series(LineSeries::new(
                    curve
                        .points
                        .iter()
                        .filter(|p| p.policy == *policy)
                        .map(|p| (p.fraction * 100.0, p.hit_ratio)),
                    color.stroke_width(width),
                ))?
                .label(*policy)
                .legend(line_key(color));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.4))
            .label_font(("sans-serif", 11))
            .draw()?;
        root.present()?;
        Ok(())
    })
}

/// Throughput against concurrent clients, one line per topology.
pub fn throughput_vs_clients(series: &[(Topology, Vec<(usize, f64)>)]) -> String {
    svg(|root| {
        root.fill(&WHITE)?;
        let max_x = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.0))
            .max()
            .unwrap_or(1)
            .max(2) as f64;
        let max_y = series
            .iter()
            .flat_map(|(_, points)| points.iter().map(|p| p.1))
            .fold(1.0f64, f64::max);
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "Throughput vs concurrent clients (requests/s)",
                ("sans-serif", 17),
            )
            .margin(12)
            .x_label_area_size(32)
            .y_label_area_size(60)
            .build_cartesian_2d(0f64..max_x * 1.05, 0f64..max_y * 1.15)?;
        chart.configure_mesh().x_desc("clients").draw()?;
        for (topology, points) in series {
            let color = topology_color(*topology);
            let line: Vec<(f64, f64)> = points.iter().map(|&(c, t)| (c as f64, t)).collect();
            chart.draw_series(LineSeries::new(line.clone(), color.stroke_width(2)))?;
            chart
                .draw_series(line.iter().map(|&p| Circle::new(p, 4, color.filled())))?
                .label(topology.name())
                .legend(move |(x, y)| Circle::new((x + 6, y), 4, color.filled()));
        }
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
        root.present()?;
        Ok(())
    })
}

/// Stacked bars: the share of reads each tier answered, per labelled run.
pub fn tier_shares(title: &str, runs: &[(String, &Outcome)]) -> String {
    const TIERS: [(&str, RGBColor); 3] = [
        ("near", RGBColor(44, 160, 44)),
        ("shared", RGBColor(31, 119, 180)),
        ("store", RGBColor(214, 39, 40)),
    ];
    svg(|root| {
        root.fill(&WHITE)?;
        let width = runs.len().max(1) as f64;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 17))
            .margin(12)
            .x_label_area_size(10)
            .y_label_area_size(52)
            .build_cartesian_2d(0f64..width, -0.1f64..1.12)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(0)
            .y_label_formatter(&percent_above_zero)
            .draw()?;
        for (tier, (name, color)) in TIERS.iter().enumerate() {
            let color = *color;
            let bars = chart.draw_series(runs.iter().enumerate().map(|(index, (_, run))| {
                let shares = [run.shares.near, run.shares.shared, run.shares.store];
                let below: f64 = shares[..tier].iter().sum();
                Rectangle::new(
                    [
                        (index as f64 + 0.15, below),
                        (index as f64 + 0.85, below + shares[tier]),
                    ],
                    color.filled(),
                )
            }))?;
            bars.label(*name).legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled())
            });
        }
        for (index, (label, _)) in runs.iter().enumerate() {
            chart.draw_series(std::iter::once(Text::new(
                label.clone(),
                (index as f64 + 0.15, -0.04),
                ("sans-serif", 11).into_font(),
            )))?;
        }
        legend(&mut chart, SeriesLabelPosition::UpperRight)?;
        root.present()?;
        Ok(())
    })
}
