//! The benchmark table: one row per measured quantity, printed as an aligned Markdown table.

use std::time::Duration;

/// Whether a measurement is within its bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the bar.
    Meets,
    /// Outside the bar.
    Misses,
    /// No bar applies: the row is there for context (e.g. the worst of the runs whose median is
    /// held to the bar). Printed as a dash; never counts as missed.
    Context,
}

impl Verdict {
    /// `Meets` when `ok`.
    pub fn from_ok(ok: bool) -> Verdict {
        if ok { Verdict::Meets } else { Verdict::Misses }
    }

    /// Whether the bar is met (a [`Verdict::Context`] row has none to miss).
    pub fn is_met(self) -> bool {
        self != Verdict::Misses
    }

    fn as_str(self) -> &'static str {
        match self {
            Verdict::Meets => "meets",
            Verdict::Misses => "misses",
            Verdict::Context => "–",
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone)]
pub struct Row {
    /// Scenario id, e.g. `P1`.
    pub id: &'static str,
    /// What was measured.
    pub scenario: String,
    /// Shipyard's number.
    pub measured: String,
    /// The baseline measured in the same run.
    pub baseline: String,
    /// Measured relative to the baseline.
    pub ratio: String,
    /// The bar the measurement is held to.
    pub bar: String,
    /// Whether the bar is met.
    pub verdict: Verdict,
}

const HEADERS: [&str; 7] = [
    "id", "scenario", "measured", "baseline", "ratio", "bar", "verdict",
];

fn cells(row: &Row) -> [&str; 7] {
    [
        row.id,
        &row.scenario,
        &row.measured,
        &row.baseline,
        &row.ratio,
        &row.bar,
        row.verdict.as_str(),
    ]
}

fn width(s: &str) -> usize {
    s.chars().count()
}

fn line(out: &mut String, cells: &[&str], widths: &[usize]) {
    out.push('|');
    for (cell, w) in cells.iter().zip(widths) {
        out.push(' ');
        out.push_str(cell);
        out.push_str(&" ".repeat(w - width(cell)));
        out.push_str(" |");
    }
    out.push('\n');
}

/// The rows as an aligned Markdown table, ending in a newline.
pub fn render(rows: &[Row]) -> String {
    let mut widths = HEADERS.map(width);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(cells(row)) {
            *w = (*w).max(width(cell));
        }
    }
    let mut out = String::new();
    line(&mut out, &HEADERS, &widths);
    out.push('|');
    for w in &widths {
        out.push_str(&"-".repeat(w + 2));
        out.push('|');
    }
    out.push('\n');
    for row in rows {
        line(&mut out, &cells(row), &widths);
    }
    out
}

/// A duration in seconds, e.g. `1.234 s`.
pub fn secs(d: Duration) -> String {
    format!("{:.3} s", d.as_secs_f64())
}

/// Milliseconds, e.g. `123.4 ms`.
pub fn millis(ms: f64) -> String {
    format!("{ms:.1} ms")
}

/// `measured / baseline`, e.g. `0.048×`; a dash when the baseline is zero.
pub fn ratio(measured: f64, baseline: f64) -> String {
    if baseline > 0.0 {
        format!("{:.3}×", measured / baseline)
    } else {
        "–".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_line_up() {
        let rows = [Row {
            id: "P1",
            scenario: "wall time".to_owned(),
            measured: "1.000 s".to_owned(),
            baseline: "25.000 s".to_owned(),
            ratio: ratio(1.0, 25.0),
            bar: "≤ 3 s".to_owned(),
            verdict: Verdict::Meets,
        }];
        let text = render(&rows);
        let widths: Vec<usize> = text.lines().map(width).collect();
        assert_eq!(widths.len(), 3);
        assert!(widths.iter().all(|w| *w == widths[0]), "{text}");
        assert!(text.contains("| 0.040× "), "{text}");
    }

    #[test]
    fn a_context_row_is_not_a_miss() {
        assert!(Verdict::Context.is_met());
        assert!(!Verdict::Misses.is_met());
        assert_eq!(Verdict::Context.as_str(), "–");
    }

    #[test]
    fn ratio_without_baseline_is_a_dash() {
        assert_eq!(ratio(1.0, 0.0), "–");
    }
}
