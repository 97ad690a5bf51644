//! The lateness plot: one cumulative distribution per system, as SVG.

use std::fmt::Write as _;

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 400.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 50.0;
/// The x axis spans 10 µs to 10 s, logarithmic.
const DECADES: (i32, i32) = (1, 7);
const COLOURS: [&str; 5] = ["#7f7f7f", "#1f77b4", "#2ca02c", "#d62728", "#9467bd"];

fn x_of(late_us: f64) -> f64 {
    let (low, high) = (f64::from(DECADES.0), f64::from(DECADES.1));
    let decade = late_us.max(10f64.powf(low)).log10().min(high);
    LEFT + (decade - low) / (high - low) * (WIDTH - LEFT - RIGHT)
}

fn y_of(fraction: f64) -> f64 {
    HEIGHT - BOTTOM - fraction * (HEIGHT - TOP - BOTTOM)
}

/// An SVG of the share of fires started within each lateness, per system.
/// `series` holds each system's name and its sorted lateness in µs.
pub fn lateness_cdf(title: &str, series: &[(String, Vec<i64>)]) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{title}</text>"#,
        WIDTH / 2.0
    );
    for decade in DECADES.0..=DECADES.1 {
        let x = x_of(10f64.powi(decade));
        let label = match decade {
            0..=2 => format!("{} µs", 10i64.pow(decade.unsigned_abs())),
            3..=5 => format!("{} ms", 10i64.pow(decade.unsigned_abs() - 3)),
            _ => format!("{} s", 10i64.pow(decade.unsigned_abs() - 6)),
        };
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
            HEIGHT - BOTTOM,
            HEIGHT - BOTTOM + 16.0
        );
    }
    for tenth in 0..=10 {
        let fraction = f64::from(tenth) / 10.0;
        let y = y_of(fraction);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{}%</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tenth * 10
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">start − tick (log scale)</text>"#,
        WIDTH / 2.0,
        HEIGHT - 12.0
    );
    for (index, (name, late_us)) in series.iter().enumerate() {
        let colour = COLOURS[index % COLOURS.len()];
        let step = (late_us.len() / 400).max(1);
        let mut points = String::new();
        for (rank, late) in late_us
            .iter()
            .enumerate()
            .step_by(step)
            .chain(late_us.last().map(|last| (late_us.len() - 1, last)))
        {
            let fraction = (rank + 1) as f64 / late_us.len() as f64;
            let _ = write!(points, "{:.1},{:.1} ", x_of(*late as f64), y_of(fraction));
        }
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>"#
        );
        let legend_y = TOP + 16.0 * index as f64 + 8.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{}" y1="{legend_y}" x2="{}" y2="{legend_y}" stroke="{colour}" stroke-width="3"/><text x="{}" y="{}">{name}</text>"#,
            LEFT + 10.0,
            LEFT + 30.0,
            LEFT + 36.0,
            legend_y + 4.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}
