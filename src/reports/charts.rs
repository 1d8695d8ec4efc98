//! The report's charts as inline SVG drawn on the server: readable without JS, printable, sized by their
//! `viewBox` so they shrink with the page. Each chart carries a title for screen readers; the page shows
//! its numbers in a table beside it.

use std::fmt::Write;

/// The drawing area, in SVG units.
const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 200.0;
/// Room for the value labels on the left and the day labels below.
const LEFT: f64 = 44.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// Colours of the series, in order (also print well in grey).
pub const COLOURS: [&str; 4] = ["#2563eb", "#f59e0b", "#10b981", "#dc2626"];

/// One named series of values, one per day.
pub struct Series<'a> {
    /// Its name in the legend and the tooltips.
    pub name: String,
    /// A value per day; none where there is nothing to draw.
    pub values: &'a [Option<i64>],
}

/// Bars per day, the series stacked on each other (one series: plain bars).
pub fn bars(title: &str, days: &[String], series: &[Series<'_>]) -> String {
    let totals: Vec<i64> = (0..days.len()).map(|d| series.iter().map(|s| s.values.get(d).copied().flatten().unwrap_or(0)).sum()).collect();
    let top = nice(totals.iter().copied().max().unwrap_or(0));
    let mut svg = frame(title, days, top, series);
    let slot = (WIDTH - LEFT) / days.len().max(1) as f64;
    let width = (slot * 0.7).max(1.0);
    for (d, day) in days.iter().enumerate() {
        let mut base = 0;
        for (s, one) in series.iter().enumerate() {
            let value = one.values.get(d).copied().flatten().unwrap_or(0);
            if value <= 0 {
                continue;
            }
            let (y0, y1) = (y(base, top), y(base + value, top));
            let x = LEFT + slot * d as f64 + (slot - width) / 2.0;
            let _ = write!(
                svg,
                r#"<rect x="{x:.1}" y="{y1:.1}" width="{width:.1}" height="{:.1}" fill="{}"><title>{} · {}: {value}</title></rect>"#,
                y0 - y1,
                COLOURS[s % COLOURS.len()],
                escape(day),
                escape(&one.name)
            );
            base += value;
        }
    }
    svg.push_str("</svg>");
    svg
}

/// Lines per day (e.g. the median and the 90th percentile); a day without a value breaks the line.
pub fn lines(title: &str, days: &[String], series: &[Series<'_>]) -> String {
    let top = nice(series.iter().flat_map(|s| s.values.iter().copied().flatten()).max().unwrap_or(0));
    let mut svg = frame(title, days, top, series);
    let slot = (WIDTH - LEFT) / days.len().max(1) as f64;
    for (s, one) in series.iter().enumerate() {
        let colour = COLOURS[s % COLOURS.len()];
        let mut path = String::new();
        let mut pen_down = false;
        for (d, value) in one.values.iter().enumerate() {
            let Some(value) = value else {
                pen_down = false;
                continue;
            };
            let (x, yv) = (LEFT + slot * (d as f64 + 0.5), y(*value, top));
            let _ = write!(path, "{}{x:.1},{yv:.1} ", if pen_down { "L" } else { "M" });
            pen_down = true;
            let _ = write!(
                svg,
                r#"<circle cx="{x:.1}" cy="{yv:.1}" r="3" fill="{colour}"><title>{} · {}: {value}</title></circle>"#,
                escape(days.get(d).map_or("", String::as_str)),
                escape(&one.name)
            );
        }
        if !path.is_empty() {
            let _ = write!(svg, r#"<path d="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#, path.trim_end());
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The opening of a chart: the SVG element with its title, the legend in the title for readers, the value
/// grid and the day labels (at most about ten, evenly spaced).
fn frame(title: &str, days: &[String], top: i64, series: &[Series<'_>]) -> String {
    let legend: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    let mut svg = format!(
        r#"<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" font-size="11" font-family="sans-serif"><title>{}</title>"#,
        escape(&format!("{title}: {}", legend.join(", "))),
        escape(title)
    );
    for step in 0..=2 {
        let value = top * step / 2;
        let yv = y(value, top);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" x2="{WIDTH}" y1="{yv:.1}" y2="{yv:.1}" stroke="#d1d5db" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="#4b5563">{}</text>"##,
            LEFT - 4.0,
            yv + 4.0,
            short(value)
        );
    }
    let slot = (WIDTH - LEFT) / days.len().max(1) as f64;
    let every = days.len().div_ceil(10).max(1);
    for (d, day) in days.iter().enumerate().filter(|(d, _)| d % every == 0) {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="middle" fill="#4b5563">{}</text>"##,
            LEFT + slot * (d as f64 + 0.5),
            HEIGHT - 6.0,
            escape(day.get(5..).unwrap_or(day))
        );
    }
    svg
}

/// The vertical position of `value` on a scale up to `top`.
fn y(value: i64, top: i64) -> f64 {
    let plot = HEIGHT - BOTTOM - TOP;
    HEIGHT - BOTTOM - plot * value as f64 / top.max(1) as f64
}

/// A round upper bound for the scale: 1, 2 or 5 times a power of ten, at least `max`.
fn nice(max: i64) -> i64 {
    let mut power = 1;
    loop {
        for step in [1, 2, 5] {
            if step * power >= max.max(1) {
                return step * power;
            }
        }
        power *= 10;
    }
}

/// A scale label: 1 500 000 → `1.5M`, 12 000 → `12k`.
fn short(value: i64) -> String {
    match value {
        v if v >= 1_000_000 => format!("{}M", trim(v as f64 / 1_000_000.0)),
        v if v >= 10_000 => format!("{}k", trim(v as f64 / 1_000.0)),
        v => v.to_string(),
    }
}

fn trim(value: f64) -> String {
    let text = format!("{value:.1}");
    text.strip_suffix(".0").map(str::to_string).unwrap_or(text)
}

/// Text made safe inside SVG markup.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_stack_and_lines_break_where_a_day_has_nothing() {
        let days: Vec<String> = ["2026-03-01", "2026-03-02", "2026-03-03"].map(String::from).to_vec();
        let svg = bars("Orders <&>", &days, &[Series { name: "a".into(), values: &[Some(2), Some(0), Some(5)] }, Series { name: "b".into(), values: &[Some(3), None, None] }]);
        assert_eq!(svg.matches("<rect").count(), 3, "zero and missing values draw nothing: {svg}");
        assert!(svg.contains("Orders &lt;&amp;&gt;") && svg.contains("2026-03-01 · a: 2"), "{svg}");
        let svg = lines("p", &days, &[Series { name: "p50".into(), values: &[Some(10), None, Some(30)] }]);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert_eq!(svg.matches('M').count(), 2, "a gap starts a new stroke: {svg}");
        assert_eq!((nice(0), nice(7), nice(12), nice(4500)), (1, 10, 20, 5000));
        assert_eq!((short(1_500_000), short(12_000), short(950)), ("1.5M".to_string(), "12k".to_string(), "950".to_string()));
    }
}
