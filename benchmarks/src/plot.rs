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

/// An SVG's opening: its size, a white ground and `title` above.
fn start(title: &str) -> String {
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
    svg
}

/// The legend line of series number `index`.
fn legend(svg: &mut String, index: usize, name: &str, colour: &str) {
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

/// A vertical grid line at `x`, labelled under the axis.
fn x_gridline(svg: &mut String, x: f64, label: &str) {
    let _ = writeln!(
        svg,
        r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{}" stroke="#ddd"/><text x="{x:.1}" y="{}" text-anchor="middle">{label}</text>"##,
        HEIGHT - BOTTOM,
        HEIGHT - BOTTOM + 16.0
    );
}

/// A horizontal grid line at `y`, labelled left of the axis.
fn y_gridline(svg: &mut String, y: f64, label: &str) {
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#eee"/><text x="{}" y="{:.1}" text-anchor="end">{label}</text>"##,
        WIDTH - RIGHT,
        LEFT - 6.0,
        y + 4.0
    );
}

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
    let mut svg = start(title);
    for decade in DECADES.0..=DECADES.1 {
        let x = x_of(10f64.powi(decade));
        let label = match decade {
            0..=2 => format!("{} µs", 10i64.pow(decade.unsigned_abs())),
            3..=5 => format!("{} ms", 10i64.pow(decade.unsigned_abs() - 3)),
            _ => format!("{} s", 10i64.pow(decade.unsigned_abs() - 6)),
        };
        x_gridline(&mut svg, x, &label);
    }
    for tenth in 0..=10 {
        let fraction = f64::from(tenth) / 10.0;
        let y = y_of(fraction);
        y_gridline(&mut svg, y, &format!("{}%", tenth * 10));
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
        legend(&mut svg, index, name, colour);
    }
    svg.push_str("</svg>\n");
    svg
}

/// A log-log line plot: one line per series of (x, y) points, both axes in
/// whole decades spanning the data.
#[derive(Debug)]
pub struct LinePlot<'a> {
    /// Above the plot.
    pub title: &'a str,
    /// Under the x axis.
    pub x_label: &'a str,
    /// Beside the y axis.
    pub y_label: &'a str,
    /// Each series' name and points (positive x and y).
    pub series: &'a [(String, Vec<(f64, f64)>)],
}

impl LinePlot<'_> {
    /// The plot as SVG.
    pub fn svg(&self) -> String {
        let points = self.series.iter().flat_map(|(_, points)| points.iter());
        let decades = |values: Vec<f64>| {
            let low = values
                .iter()
                .copied()
                .fold(f64::INFINITY, f64::min)
                .max(1e-3);
            let high = values
                .iter()
                .copied()
                .fold(f64::NEG_INFINITY, f64::max)
                .max(low * 10.0);
            (low.log10().floor() as i32, high.log10().ceil() as i32)
        };
        let (x_decades, y_decades) = (
            decades(points.clone().map(|(x, _)| *x).collect()),
            decades(points.map(|(_, y)| *y).collect()),
        );
        let scale = |value: f64, (low, high): (i32, i32)| {
            (value.max(1e-3).log10() - f64::from(low)) / f64::from((high - low).max(1))
        };
        let x_at = |x: f64| LEFT + scale(x, x_decades) * (WIDTH - LEFT - RIGHT);
        let y_at = |y: f64| HEIGHT - BOTTOM - scale(y, y_decades) * (HEIGHT - TOP - BOTTOM);
        let mut svg = start(self.title);
        for decade in x_decades.0..=x_decades.1 {
            let x = x_at(10f64.powi(decade));
            x_gridline(&mut svg, x, &number(10f64.powi(decade)));
        }
        for decade in y_decades.0..=y_decades.1 {
            let y = y_at(10f64.powi(decade));
            y_gridline(&mut svg, y, &number(10f64.powi(decade)));
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{} (log scale)</text>"#,
            WIDTH / 2.0,
            HEIGHT - 12.0,
            self.x_label
        );
        let _ = writeln!(
            svg,
            r#"<text x="14" y="{}" text-anchor="middle" transform="rotate(-90 14 {})">{} (log scale)</text>"#,
            HEIGHT / 2.0,
            HEIGHT / 2.0,
            self.y_label
        );
        for (index, (name, points)) in self.series.iter().enumerate() {
            let colour = COLOURS[(index + 1) % COLOURS.len()];
            let line: String = points
                .iter()
                .map(|(x, y)| format!("{:.1},{:.1} ", x_at(*x), y_at(*y)))
                .collect();
            let _ = writeln!(
                svg,
                r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{line}"/>"#
            );
            for (x, y) in points {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                    x_at(*x),
                    y_at(*y)
                );
            }
            legend(&mut svg, index, name, colour);
        }
        svg.push_str("</svg>\n");
        svg
    }
}

/// A power of ten as a short label: 0.01, 1, 100, 10k, 1M.
fn number(value: f64) -> String {
    match value {
        v if v >= 1e6 => format!("{}M", v / 1e6),
        v if v >= 1e4 => format!("{}k", v / 1e3),
        v => format!("{v}"),
    }
}
