//! The Helm chart version a CI run produced, read from its job log: the **last** match of
//! `ci.chart_version_pattern`, line by line.
//!
//! Logs are untrusted text of any size. The scanner takes them in chunks as they are downloaded,
//! keeps at most one line (bounded) in memory, drops GitHub's timestamp prefix
//! (`2024-01-01T00:00:00.0000000Z `), tolerates CRLF and quoted values, and never panics.

use regex::Regex;

/// Longest line considered; a longer line is skipped whole (a cut line could yield a cut version).
pub const MAX_LINE_BYTES: usize = 16 * 1024;

/// Longest version kept (anything longer is not a chart version).
const MAX_VERSION_CHARS: usize = 128;

/// The default pattern: `CHART_VERSION=<value>`.
pub const DEFAULT_PATTERN: &str = r"CHART_VERSION=(\S+)";

/// Reads a chart version from a log given in chunks.
#[derive(Debug)]
pub struct ChartVersionScanner<'p> {
    pattern: &'p Regex,
    line: Vec<u8>,
    overlong: bool,
    last: Option<String>,
}

impl<'p> ChartVersionScanner<'p> {
    /// A scanner for `pattern`: its first capture group is the version (the whole match when it
    /// has no group).
    pub fn new(pattern: &'p Regex) -> Self {
        ChartVersionScanner {
            pattern,
            line: Vec::new(),
            overlong: false,
            last: None,
        }
    }

    /// Takes the next bytes of the log.
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while let Some(nl) = chunk.iter().position(|&b| b == b'\n') {
            self.push(&chunk[..nl]);
            self.end_line();
            chunk = &chunk[nl + 1..];
        }
        self.push(chunk);
    }

    /// The last version found, once the whole log has been fed.
    pub fn finish(mut self) -> Option<String> {
        self.end_line();
        self.last
    }

    fn push(&mut self, bytes: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.line.len());
        if bytes.len() > room {
            self.overlong = true;
        }
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn end_line(&mut self) {
        if !self.overlong {
            let raw = String::from_utf8_lossy(&self.line);
            if let Some(v) = version_in_line(self.pattern, &raw) {
                self.last = Some(v);
            }
        }
        self.line.clear();
        self.overlong = false;
    }
}

/// The version in one log line, if the pattern matches it.
fn version_in_line(pattern: &Regex, line: &str) -> Option<String> {
    let line = strip_timestamp(line.trim_end_matches('\r'));
    let caps = pattern.captures_iter(line).last()?;
    let found = caps.get(1).or_else(|| caps.get(0))?.as_str();
    let value = found
        .trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '`')
        .trim_end_matches([',', ';'])
        .trim_matches(|c| c == '"' || c == '\'');
    (!value.is_empty() && value.chars().count() <= MAX_VERSION_CHARS).then(|| value.to_owned())
}

/// Drops a leading `YYYY-MM-DDTHH:MM:SS(.fraction)Z ` as GitHub puts on every log line.
fn strip_timestamp(line: &str) -> &str {
    let b = line.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|s| s.iter().all(u8::is_ascii_digit));
    let shaped = b.len() > 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T';
    if !shaped {
        return line;
    }
    match line.find(' ') {
        Some(sp) if line[..sp].ends_with('Z') => &line[sp + 1..],
        _ => line,
    }
}

/// Reads the chart version from a whole log held in memory.
pub fn chart_version(pattern: &Regex, log: &[u8]) -> Option<String> {
    let mut s = ChartVersionScanner::new(pattern);
    s.feed(log);
    s.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default() -> Regex {
        Regex::new(DEFAULT_PATTERN).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn last_match_wins_and_prefixes_go() {
        let log = "2024-01-01T00:00:00.0000000Z Starting helm job\r\n\
                   2024-01-01T00:00:01.1234567Z CHART_VERSION=1.1.936\r\n\
                   2024-01-01T00:00:02.0000000Z echo done\r\n\
                   2024-01-01T00:00:03.0000000Z CHART_VERSION=\"1.1.937\"\r\n\
                   2024-01-01T00:00:04.0000000Z Cleaning up\r\n";
        assert_eq!(
            chart_version(&default(), log.as_bytes()).as_deref(),
            Some("1.1.937")
        );
    }

    #[test]
    fn quotes_crlf_and_no_trailing_newline() {
        for (log, want) in [
            ("CHART_VERSION='2.0.1'", Some("2.0.1")),
            ("x\nCHART_VERSION=3.4.5\r", Some("3.4.5")),
            ("export CHART_VERSION=\"0.9.0-rc.1\";", Some("0.9.0-rc.1")),
            ("CHART_VERSION=", None),
            ("nothing here\n", None),
            ("", None),
        ] {
            assert_eq!(
                chart_version(&default(), log.as_bytes()).as_deref(),
                want,
                "{log:?}"
            );
        }
    }

    #[test]
    fn chunks_split_anywhere_give_the_same_answer() {
        let log = b"a\n2024-01-01T00:00:01Z CHART_VERSION=1.2.3\nb\nCHART_VERSION=1.2.4\nend";
        for size in 1..log.len() {
            let pattern = default();
            let mut s = ChartVersionScanner::new(&pattern);
            for chunk in log.chunks(size) {
                s.feed(chunk);
            }
            assert_eq!(s.finish().as_deref(), Some("1.2.4"), "chunks of {size}");
        }
    }

    #[test]
    fn other_patterns_and_bad_bytes() {
        let p = Regex::new(r"chart version: v?([0-9][0-9.]*)").unwrap_or_else(|e| panic!("{e}"));
        let mut log = b"\xff\xfe garbage\n".to_vec();
        log.extend_from_slice(b"Packaged chart version: v4.5.6\n");
        assert_eq!(chart_version(&p, &log).as_deref(), Some("4.5.6"));
        // A pattern without a group takes the whole match.
        let p = Regex::new(r"\d+\.\d+\.\d+").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(chart_version(&p, b"v 7.8.9 x").as_deref(), Some("7.8.9"));
    }

    #[test]
    fn overlong_lines_are_cut_not_kept() {
        let mut log = b"CHART_VERSION=1.0.0\n".to_vec();
        log.extend_from_slice(&vec![b'x'; MAX_LINE_BYTES - 10]);
        log.extend_from_slice(b"CHART_VERSION=9.9.9123456789\nend\n");
        // The overlong line is skipped whole, never read as a cut `9.9.9…`.
        assert_eq!(chart_version(&default(), &log).as_deref(), Some("1.0.0"));
    }

    /// Generated logs (a fixed seed, so failures repeat) mixing the pieces a parser trips on.
    #[test]
    fn generated_logs_never_panic_and_give_one_line_values() {
        const PIECES: [&[u8]; 12] = [
            b"CHART_VERSION=",
            b"2024-01-01T00:00:00.0000000Z ",
            b"\r\n",
            b"\n",
            b"\"",
            b"'",
            b"1.1.937",
            b" ",
            b"\xff\xfe",
            b"=",
            b"Z ",
            b"\xe2\x82",
        ];
        let pattern = default();
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let mut log = Vec::new();
            for _ in 0..(next() % 40) {
                log.extend_from_slice(PIECES[(next() % PIECES.len() as u64) as usize]);
            }
            let size = (next() % 16 + 1) as usize;
            let mut s = ChartVersionScanner::new(&pattern);
            for chunk in log.chunks(size) {
                s.feed(chunk);
            }
            if let Some(v) = s.finish() {
                assert!(
                    !v.is_empty() && v.chars().count() <= MAX_VERSION_CHARS,
                    "{v:?}"
                );
                assert!(!v.contains('\n') && !v.contains('\r'), "{v:?}");
            }
        }
    }
}
