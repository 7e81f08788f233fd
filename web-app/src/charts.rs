//! Charts drawn as SVG: bars (with DP error bars), histograms and lines. The geometry is
//! plain functions (tested natively); the components only place it.

use leptos::prelude::*;

/// One bar: a label, a value and, for a DP statistic, its guaranteed interval.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// Label under the bar.
    pub label: String,
    /// Height.
    pub value: f64,
    /// Interval `(low, high)` drawn as an error bar.
    pub interval: Option<(f64, f64)>,
}

const W: f64 = 480.0;
const H: f64 = 220.0;
const PAD_L: f64 = 48.0;
const PAD_B: f64 = 36.0;
const PAD_T: f64 = 12.0;

/// A "nice" upper end for an axis holding `max` (1, 2 or 5 × 10^k).
pub fn nice_max(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * mag)
}

/// The axis top for `values`: counts (all whole numbers) get a multiple of 4, so the
/// five ticks are whole numbers too; other values a [`nice_max`].
pub fn axis_top(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(0.0, f64::max);
    if values.iter().all(|v| v.fract() == 0.0) && max < 1e9 {
        (max.max(1.0) / 4.0).ceil() * 4.0
    } else {
        nice_max(max)
    }
}

/// The y coordinate of `v` on an axis from 0 to `top`.
pub fn y_of(v: f64, top: f64) -> f64 {
    let plot = H - PAD_B - PAD_T;
    let clamped = v.clamp(0.0, top);
    PAD_T + plot * (1.0 - clamped / top)
}

/// Bars' x positions and width for `n` bars.
pub fn bar_slots(n: usize) -> (Vec<f64>, f64) {
    let n = n.max(1);
    let slot = (W - PAD_L - 8.0) / n as f64;
    let width = slot * 0.62;
    let xs = (0..n)
        .map(|i| PAD_L + slot * i as f64 + (slot - width) / 2.0)
        .collect();
    (xs, width)
}

fn axis(top: f64) -> impl IntoView {
    let ticks = [0.0, 0.25, 0.5, 0.75, 1.0];
    view! {
        <g class="axis">
            <line x1=PAD_L y1=PAD_T x2=PAD_L y2=H - PAD_B />
            <line x1=PAD_L y1=H - PAD_B x2=W - 4.0 y2=H - PAD_B />
            {ticks
                .iter()
                .map(|t| {
                    let v = top * t;
                    let y = y_of(v, top);
                    view! {
                        <line class="grid" x1=PAD_L y1=y x2=W - 4.0 y2=y />
                        <text x=PAD_L - 6.0 y=y + 4.0 text-anchor="end">
                            {fmt_num(v)}
                        </text>
                    }
                })
                .collect_view()}
        </g>
    }
}

/// The figure both charts share: the SVG with its accessible description (every value
/// in words), the axis up to `top`, the marks, and the caption.
fn frame(title: String, desc: String, top: f64, marks: impl IntoView) -> impl IntoView {
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=format!("{title}. {desc}")>
                {axis(top)}
                {marks}
            </svg>
            <figcaption>{title}</figcaption>
        </figure>
    }
}

/// A category label under the plot at `x`.
fn x_label(x: f64, label: String) -> impl IntoView {
    view! {
        <text class="label" x=x y=H - PAD_B + 16.0 text-anchor="middle">
            {label}
        </text>
    }
}

/// A number for an axis or label: integers plainly, others with 1–2 decimals.
pub fn fmt_num(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A bar chart; bars with an interval get an error bar.
#[component]
pub fn BarChart(#[prop(into)] title: String, bars: Vec<Bar>) -> impl IntoView {
    let tops: Vec<f64> = bars
        .iter()
        .map(|b| b.interval.map_or(b.value, |(_, hi)| hi.max(b.value)))
        .collect();
    let top = if bars.iter().any(|b| b.interval.is_some()) {
        nice_max(tops.iter().copied().fold(0.0, f64::max))
    } else {
        axis_top(&tops)
    };
    let (xs, width) = bar_slots(bars.len());
    let desc = bars
        .iter()
        .map(|b| match b.interval {
            Some((lo, hi)) => format!(
                "{}: {} ({}–{})",
                b.label,
                fmt_num(b.value),
                fmt_num(lo),
                fmt_num(hi)
            ),
            None => format!("{}: {}", b.label, fmt_num(b.value)),
        })
        .collect::<Vec<_>>()
        .join("; ");
    let marks = bars
        .iter()
        .zip(xs)
        .map(|(b, x)| {
            let y = y_of(b.value, top);
            let cx = x + width / 2.0;
            view! {
                <rect class="bar" x=x y=y width=width height=(H - PAD_B - y).max(0.0)>
                    <title>{format!("{}: {}", b.label, fmt_num(b.value))}</title>
                </rect>
                {b
                    .interval
                    .map(|(lo, hi)| {
                        let (ylo, yhi) = (y_of(lo, top), y_of(hi, top));
                        view! {
                            <g class="errbar">
                                <line x1=cx y1=ylo x2=cx y2=yhi />
                                <line x1=cx - 6.0 y1=ylo x2=cx + 6.0 y2=ylo />
                                <line x1=cx - 6.0 y1=yhi x2=cx + 6.0 y2=yhi />
                            </g>
                        }
                    })}
                {x_label(cx, b.label.clone())}
            }
        })
        .collect_view();
    frame(title, desc, top, marks)
}

/// A line chart of `(label, value)` points.
#[component]
pub fn LineChart(#[prop(into)] title: String, points: Vec<(String, f64)>) -> impl IntoView {
    let top = axis_top(&points.iter().map(|p| p.1).collect::<Vec<_>>());
    let (xs, width) = bar_slots(points.len());
    let coords: Vec<(f64, f64)> = xs
        .iter()
        .zip(&points)
        .map(|(x, (_, v))| (x + width / 2.0, y_of(*v, top)))
        .collect();
    let path = coords
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect::<Vec<_>>()
        .join(" ");
    let desc = points
        .iter()
        .map(|(l, v)| format!("{l}: {}", fmt_num(*v)))
        .collect::<Vec<_>>()
        .join("; ");
    let marks = view! {
                <polyline class="line" points=path />
                {coords
                    .iter()
                    .zip(&points)
                    .map(|((x, y), (l, v))| {
                        view! {
                            <circle class="dot" cx=*x cy=*y r="4">
                                <title>{format!("{l}: {}", fmt_num(*v))}</title>
                            </circle>
                            {x_label(*x, l.clone())}
                        }
                    })
                    .collect_view()}
    };
    frame(title, desc, top, marks)
}

/// Labels of a histogram's bins from the field's range and edges: `[lo, e1)`, …,
/// `[ek, hi]`.
pub fn bin_labels(lo: i64, hi: i64, edges: &[i64]) -> Vec<String> {
    let mut bounds = vec![lo];
    bounds.extend_from_slice(edges);
    let mut out: Vec<String> = bounds
        .windows(2)
        .filter_map(|w| match w {
            [a, b] => Some(format!("{a}–{}", b.saturating_sub(1))),
            _ => None,
        })
        .collect();
    out.push(format!("{}–{hi}", bounds.last().copied().unwrap_or(lo)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_ends_are_nice() {
        assert_eq!(nice_max(0.0), 1.0);
        assert_eq!(nice_max(3.0), 5.0);
        assert_eq!(nice_max(7.2), 10.0);
        assert_eq!(nice_max(120.0), 200.0);
        assert_eq!(nice_max(f64::NAN), 1.0);
    }

    #[test]
    fn count_axes_have_whole_ticks() {
        assert_eq!(axis_top(&[0.0, 1.0, 1.0]), 4.0);
        assert_eq!(axis_top(&[9.0]), 12.0);
        assert_eq!(axis_top(&[0.5]), 0.5);
    }

    #[test]
    fn y_maps_zero_to_the_axis_and_top_to_the_top() {
        assert_eq!(y_of(0.0, 10.0), H - PAD_B);
        assert_eq!(y_of(10.0, 10.0), PAD_T);
        assert_eq!(y_of(-5.0, 10.0), H - PAD_B);
        assert_eq!(y_of(50.0, 10.0), PAD_T);
    }

    #[test]
    fn slots_fit_inside_the_plot() {
        let (xs, w) = bar_slots(3);
        assert_eq!(xs.len(), 3);
        assert!(xs[0] >= PAD_L && xs[2] + w <= W);
    }

    #[test]
    fn bins_cover_the_range() {
        assert_eq!(
            bin_labels(20, 250, &[60, 100]),
            ["20–59", "60–99", "100–250"]
        );
        assert_eq!(bin_labels(0, 1, &[]), ["0–1"]);
    }
}
