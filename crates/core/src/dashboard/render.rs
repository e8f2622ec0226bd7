//! The comment body: marker, table, history and the encoded state; and the size rule.
//!
//! Rendering is deterministic (no clock): a live "running for 3m" would change the body on every
//! write. Every piece of reported text (notes, links, names) goes through [`escape_cell`] or
//! [`markdown_link`], so no report can end a table cell, open an HTML comment or close the
//! history's `<details>`.

use super::comment::{STATE_CLOSE, STATE_OPEN, marker, short_sha};
use super::{
    DASHBOARD_HISTORY_STAGE, DashboardState, HistoryEntry, MAX_COMMENT_CHARS, StageDef, StageState,
    StageStatus,
};
use crate::UnixTime;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// How many of the newest history entries the size rule keeps while it can still cut notes.
const KEEP_HISTORY: usize = 20;

/// The comment body for `state`. Rows follow `stages`, then any stage of the state that is not
/// configured (sorted by key, named by key). The last line carries the state, base64-encoded
/// JSON, which [`super::parse_comment`] reads back exactly. No size limit: see
/// [`render_fitting`].
pub fn render(state: &DashboardState, stages: &[StageDef]) -> String {
    let mut out = String::new();
    out.push_str(&marker(&state.sha));
    out.push('\n');
    let short = short_sha(&state.sha);
    if !short.is_empty() && short.chars().all(|c| c.is_ascii_alphanumeric()) {
        out.push_str(&format!("## ⚙️ Commit Dashboard `{short}`\n"));
    } else {
        out.push_str(&format!("## ⚙️ Commit Dashboard {}\n", escape_cell(short)));
    }
    render_body(&mut out, state, stages);
    out
}

/// The marker on the first line of the comment `shipyard serve` keeps on a release's pull
/// request (one per pull request, whichever release last moved it).
pub const RELEASE_MARKER: &str = "<!-- shipyard-release -->";

/// Whether `body` is a release comment: [`RELEASE_MARKER`] is its first line.
pub fn is_release_comment(body: &str) -> bool {
    body.lines()
        .next()
        .is_some_and(|first| first.trim_end_matches('\r') == RELEASE_MARKER)
}

/// The comment on a release's pull request: the same table, history and state as a commit
/// dashboard, under a heading naming the release (`title`, plain text) and a link to its page.
pub fn render_release(
    state: &DashboardState,
    stages: &[StageDef],
    title: &str,
    link: &str,
) -> String {
    let mut out = String::new();
    out.push_str(RELEASE_MARKER);
    out.push('\n');
    out.push_str(&format!("## 🚢 {}\n", escape_cell(title)));
    out.push_str(&labelled_link("Open the release in Shipyard", link));
    out.push_str("\n\n");
    render_body(&mut out, state, stages);
    out
}

/// Table, history and the encoded state, shared by both kinds of comment.
fn render_body(out: &mut String, state: &DashboardState, stages: &[StageDef]) {
    out.push_str("| Stage | Status | Output | Time |\n|---|---|---|---|\n");
    let pending = StageState::default();
    for def in stages {
        let shown = state.stages.get(&def.key).unwrap_or(&pending);
        out.push_str(&table_row(&def.name, shown));
    }
    for (key, shown) in &state.stages {
        if !stages.iter().any(|d| d.key == *key) {
            out.push_str(&table_row(key, shown));
        }
    }
    if !state.history.is_empty() || state.history_trimmed > 0 {
        // Blank lines around the list: GitHub reads Markdown inside an HTML block only there.
        out.push_str("\n<details><summary>History</summary>\n\n");
        for entry in state.history.iter().rev() {
            out.push_str(&history_line(entry, stages));
        }
        if state.history_trimmed > 0 {
            out.push_str(&format!(
                "- … {} older {} trimmed to keep this comment within GitHub's size limit\n",
                state.history_trimmed,
                if state.history_trimmed == 1 {
                    "entry"
                } else {
                    "entries"
                }
            ));
        }
        out.push_str("\n</details>\n");
    }
    out.push_str(STATE_OPEN);
    out.push_str(&encode_state(state));
    out.push_str(STATE_CLOSE);
}

/// Base64 of the state's JSON. Serialising these types cannot fail (every map key is a
/// string); if it ever did, the empty payload reads back as a corrupt state, which is rebuilt
/// from the commit statuses rather than crashing a writer.
fn encode_state(state: &DashboardState) -> String {
    serde_json::to_vec(state)
        .map(|json| STANDARD.encode(json))
        .unwrap_or_default()
}

fn table_row(name: &str, shown: &StageState) -> String {
    let mut status = match (shown.status, shown.started_at) {
        (StageStatus::Running, Some(t)) => format!("🔄 running since {} UTC", clock(t)),
        (s, _) => format!("{} {}", s.icon(), s.as_str()),
    };
    if let Some(note) = shown.note.as_deref().filter(|n| !n.is_empty()) {
        status.push_str(" — ");
        status.push_str(&escape_cell(note));
    }
    let output = shown.link.as_deref().map(markdown_link).unwrap_or_default();
    let time = match (
        shown.status.is_finished(),
        shown.started_at,
        shown.finished_at,
    ) {
        (true, Some(start), Some(end)) => duration(end.saturating_sub(start)).unwrap_or_default(),
        _ => String::new(),
    };
    let mut row = String::from("|");
    for cell in [escape_cell(name), status, output, time] {
        // An empty cell as ` |`, as people write it.
        if !cell.is_empty() {
            row.push(' ');
            row.push_str(&cell);
        }
        row.push_str(" |");
    }
    row.push('\n');
    row
}

fn history_line(entry: &HistoryEntry, stages: &[StageDef]) -> String {
    let mut line = format!("- {} UTC", date_time(entry.at));
    if entry.stage != DASHBOARD_HISTORY_STAGE {
        let name = stages
            .iter()
            .find(|d| d.key == entry.stage)
            .map_or(entry.stage.as_str(), |d| d.name.as_str());
        line.push_str(&format!(
            " · {} · {} {}",
            escape_cell(name),
            entry.status.icon(),
            entry.status.as_str()
        ));
    }
    // No `@`: a mention would notify the person on every edit of the comment.
    if let Some(by) = entry.by.as_deref().filter(|b| !b.is_empty()) {
        line.push_str(" · by ");
        line.push_str(&escape_cell(by));
    }
    if let Some(link) = entry.link.as_deref() {
        line.push_str(" · ");
        line.push_str(&markdown_link(link));
    }
    if let Some(note) = entry.note.as_deref().filter(|n| !n.is_empty()) {
        line.push_str(" · ");
        line.push_str(&escape_cell(note));
    }
    line.push('\n');
    line
}

/// Reported text made safe for a table cell (and a list item): `\` and `|` are
/// backslash-escaped (GitHub splits cells on unescaped pipes, inside code spans too), line
/// breaks become `<br>`, and `<` before a tag or comment start becomes `&lt;`, `-->` becomes
/// `--&gt;`, so no text opens or closes HTML (a `</details>`, an `<!--` hiding the rest).
/// Other text, backticks and emoji included, is kept as written.
pub fn escape_cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            '|' => out.push_str("\\|"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("<br>");
            }
            '\n' => out.push_str("<br>"),
            '<' if chars
                .peek()
                .is_some_and(|n| n.is_ascii_alphabetic() || matches!(n, '/' | '!' | '?')) =>
            {
                out.push_str("&lt;");
            }
            '>' if out.ends_with("--") => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `[run](link)` for an http(s) link, with the characters that could end the link or the cell
/// (`(`, `)`, whitespace, `|`, `<`, `>`, `\`, `"`, backticks, controls) percent-encoded; any
/// other link is shown as escaped text, since a `javascript:` or relative link is not a run.
pub(super) fn markdown_link(link: &str) -> String {
    labelled_link("run", link)
}

/// [`markdown_link`] with another label (plain text, no brackets).
fn labelled_link(label: &str, link: &str) -> String {
    if !is_http(link) {
        return escape_cell(link);
    }
    let mut url = String::with_capacity(link.len());
    for c in link.chars() {
        if c.is_control()
            || matches!(c, '(' | ')' | '<' | '>' | '|' | '\\' | '"' | '`')
            || c.is_whitespace()
        {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                url.push_str(&format!("%{b:02X}"));
            }
        } else {
            url.push(c);
        }
    }
    format!("[{label}]({url})")
}

/// Whether `link` is an absolute http(s) URL with something after the scheme.
pub(super) fn is_http(link: &str) -> bool {
    let lower = |n: usize| link.get(..n).map(str::to_ascii_lowercase);
    let rest = if lower(8).as_deref() == Some("https://") {
        &link[8..]
    } else if lower(7).as_deref() == Some("http://") {
        &link[7..]
    } else {
        return false;
    };
    !rest.is_empty()
}

/// `HH:MM` of a unix time, in UTC.
pub(super) fn clock(t: UnixTime) -> String {
    let secs = t.rem_euclid(86_400);
    format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60)
}

/// `YYYY-MM-DD HH:MM` of a unix time, in UTC.
fn date_time(t: UnixTime) -> String {
    let (y, m, d) = civil_date(t.div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02} {}", clock(t))
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`). Exact for every i64 day count a unix time in seconds can give.
fn civil_date(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    // d is in 1..=31 and m in 1..=12 by construction.
    (y, m as u32, d as u32)
}

/// `45s`, `2m 10s`, `1h 3m`; `None` for a negative span (clocks of different runners).
fn duration(secs: i64) -> Option<String> {
    match secs {
        s if s < 0 => None,
        s if s < 60 => Some(format!("{s}s")),
        s if s < 3600 => Some(format!("{}m {}s", s / 60, s % 60)),
        s => Some(format!("{}h {}m", s / 3600, s % 3600 / 60)),
    }
}

fn fits(body: &str) -> bool {
    body.chars().count() <= MAX_COMMENT_CHARS
}

/// Renders `state` within [`MAX_COMMENT_CHARS`], changing `state` to exactly what the body
/// holds, so the comment always fits and always reads back ([`super::parse_comment`] gives the
/// changed `state`). In order, as far as needed:
/// 1. the oldest history entries go, down to the newest 20 (the last history line counts
///    them: [`DashboardState::history_trimmed`]);
/// 2. the longest notes are cut, stage notes and history notes alike, all to one common length
///    chosen as long as fits, ending `… (cut; full output: <link>)` with the entry's own http(s)
///    link, else `run_link`, else `… (cut)`; the state carries the cut notes too (base64 costs
///    a third more than the text);
/// 3. the rest of the history goes;
/// 4. notes, then links, then rows of stages that are not configured go.
///
/// A body can only stay over the limit when the configured stage names or the sha alone exceed
/// it.
pub fn render_fitting(
    state: &mut DashboardState,
    stages: &[StageDef],
    run_link: Option<&str>,
) -> String {
    let body = render(state, stages);
    if fits(&body) {
        return body;
    }
    if let Some(body) = trim_history(state, stages, KEEP_HISTORY) {
        return body;
    }
    if let Some(body) = cut_notes(state, stages, run_link) {
        return body;
    }
    if let Some(body) = trim_history(state, stages, 0) {
        return body;
    }
    // Only a state written by hand (or by a very different writer) gets here.
    for note in state.stages.values_mut().map(|s| &mut s.note) {
        *note = None;
    }
    for entry in &mut state.history {
        entry.note = None;
    }
    let body = render(state, stages);
    if fits(&body) {
        return body;
    }
    for shown in state.stages.values_mut() {
        shown.link = None;
    }
    let body = render(state, stages);
    if fits(&body) {
        return body;
    }
    state
        .stages
        .retain(|key, _| stages.iter().any(|d| d.key == *key));
    render(state, stages)
}

/// Drops the fewest oldest history entries that make the body fit, keeping at least `keep`.
/// Returns the body when it fits; otherwise leaves `state` with only the `keep` newest.
fn trim_history(state: &mut DashboardState, stages: &[StageDef], keep: usize) -> Option<String> {
    let most = state.history.len().saturating_sub(keep);
    if most == 0 {
        return None;
    }
    let dropped = |n: usize| {
        let mut s = state.clone();
        s.history.drain(..n);
        s.history_trimmed = s.history_trimmed.saturating_add(n as u64);
        let body = render(&s, stages);
        (s, body)
    };
    let (s, body) = dropped(most);
    if !fits(&body) {
        *state = s;
        return None;
    }
    // Smallest n in lo..=hi that fits; `hi` is known to.
    let (mut lo, mut hi, mut best) = (1, most, (s, body));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let (s, body) = dropped(mid);
        if fits(&body) {
            hi = mid;
            best = (s, body);
        } else {
            lo = mid + 1;
        }
    }
    *state = best.0;
    Some(best.1)
}

/// Cuts every note longer than a common length, the longest length that fits. Returns the body
/// when some length fits; otherwise leaves every note cut to nothing but its suffix.
fn cut_notes(
    state: &mut DashboardState,
    stages: &[StageDef],
    run_link: Option<&str>,
) -> Option<String> {
    let longest = state
        .stages
        .values()
        .filter_map(|s| s.note.as_deref())
        .chain(state.history.iter().filter_map(|h| h.note.as_deref()))
        .map(|n| n.chars().count())
        .max()?;
    let capped = |cap: usize| {
        let mut s = state.clone();
        for shown in s.stages.values_mut() {
            let link = shown.link.clone();
            cut_note(&mut shown.note, cap, link.as_deref(), run_link);
        }
        for entry in &mut s.history {
            let link = entry.link.clone();
            cut_note(&mut entry.note, cap, link.as_deref(), run_link);
        }
        let body = render(&s, stages);
        (s, body)
    };
    let (s, body) = capped(0);
    if !fits(&body) {
        *state = s;
        return None;
    }
    // Largest cap in lo..hi that fits: `lo` is known to, `hi` (nothing cut) is known not to.
    let (mut lo, mut hi, mut best) = (0, longest, (s, body));
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        let (s, body) = capped(mid);
        if fits(&body) {
            lo = mid;
            best = (s, body);
        } else {
            hi = mid;
        }
    }
    *state = best.0;
    Some(best.1)
}

/// Cuts `note` to `cap` characters plus the cut suffix, when that makes it shorter.
fn cut_note(note: &mut Option<String>, cap: usize, own_link: Option<&str>, run_link: Option<&str>) {
    let Some(text) = note.as_deref() else {
        return;
    };
    let suffix = match own_link.filter(|l| is_http(l)).or(run_link) {
        Some(link) => format!("… (cut; full output: {link})"),
        None => "… (cut)".to_owned(),
    };
    if text.chars().count() <= cap.saturating_add(suffix.chars().count()) {
        return;
    }
    let mut cut: String = text.chars().take(cap).collect();
    cut.push_str(&suffix);
    *note = Some(cut);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_escaped() {
        let cases = [
            ("plain text", "plain text"),
            ("a | b", "a \\| b"),
            ("a\\|b", "a\\\\\\|b"),
            ("one\ntwo", "one<br>two"),
            ("one\r\ntwo\rthree", "one<br>two<br>three"),
            ("<!-- hidden -->", "&lt;!-- hidden --&gt;"),
            ("</details>", "&lt;/details>"),
            ("<img src=x>", "&lt;img src=x>"),
            ("x < y && y > z", "x < y && y > z"),
            ("a -> b --> c", "a -> b --&gt; c"),
            ("`make plan` failed", "`make plan` failed"),
            ("🚀 done ⏭️", "🚀 done ⏭️"),
            (
                "<!-- shipyard-state:abc -->",
                "&lt;!-- shipyard-state:abc --&gt;",
            ),
            ("", ""),
            ("<", "<"),
        ];
        for (text, want) in cases {
            assert_eq!(escape_cell(text), want, "{text:?}");
        }
    }

    #[test]
    fn only_http_links_become_links_and_cannot_break_out() {
        let cases = [
            (
                "https://github.com/acme/infra/actions/runs/1",
                "[run](https://github.com/acme/infra/actions/runs/1)",
            ),
            ("HTTP://ci.example/x", "[run](HTTP://ci.example/x)"),
            (
                "https://x.example/a) [evil](https://evil.example",
                "[run](https://x.example/a%29%20[evil]%28https://evil.example)",
            ),
            ("https://x.example/a|b", "[run](https://x.example/a%7Cb)"),
            (
                "https://x.example/\n# h",
                "[run](https://x.example/%0A#%20h)",
            ),
            ("https://x.example/é", "[run](https://x.example/é)"),
            ("javascript:alert(1)", "javascript:alert(1)"),
            ("/relative|path", "/relative\\|path"),
            ("https://", "https://"),
            ("", ""),
        ];
        for (link, want) in cases {
            assert_eq!(markdown_link(link), want, "{link:?}");
        }
    }

    #[test]
    fn times_and_durations() {
        let cases = [
            (0, "1970-01-01 00:00"),
            (1_800_000_000, "2027-01-15 08:00"),
            (951_782_400, "2000-02-29 00:00"),
            (-1, "1969-12-31 23:59"),
            (4_102_444_799, "2099-12-31 23:59"),
        ];
        for (t, want) in cases {
            assert_eq!(date_time(t), want, "{t}");
        }
        // Extremes do not overflow.
        let _ = date_time(i64::MIN);
        let _ = date_time(i64::MAX);
        let cases = [
            (0, Some("0s")),
            (45, Some("45s")),
            (59, Some("59s")),
            (60, Some("1m 0s")),
            (130, Some("2m 10s")),
            (3599, Some("59m 59s")),
            (3600, Some("1h 0m")),
            (3780, Some("1h 3m")),
            (90_000, Some("25h 0m")),
            (-5, None),
        ];
        for (secs, want) in cases {
            assert_eq!(duration(secs).as_deref(), want, "{secs}");
        }
    }

    #[test]
    fn notes_are_cut_only_when_that_shortens_them() {
        let mut note = Some("x".repeat(20));
        cut_note(&mut note, 5, None, None);
        assert_eq!(note.as_deref(), Some("xxxxx… (cut)"));
        let mut note = Some("short".to_owned());
        cut_note(&mut note, 0, None, None);
        assert_eq!(note.as_deref(), Some("short"));
        let mut note = Some("é".repeat(100));
        cut_note(&mut note, 3, Some("ftp://x"), Some("https://run/1"));
        assert_eq!(
            note.as_deref(),
            Some("ééé… (cut; full output: https://run/1)")
        );
        let mut note = Some("y".repeat(100));
        cut_note(&mut note, 1, Some("https://own/2"), Some("https://run/1"));
        assert_eq!(
            note.as_deref(),
            Some("y… (cut; full output: https://own/2)")
        );
    }
}
