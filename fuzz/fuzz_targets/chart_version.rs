//! Untrusted CI job logs through the chart version scanner: any bytes, split into chunks at any
//! place, with the default pattern. It must never panic, and what it finds must look like one
//! value from one line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use regex::Regex;
use shipyard_core::chart::{ChartVersionScanner, DEFAULT_PATTERN};
use std::sync::OnceLock;

fn pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    P.get_or_init(|| Regex::new(DEFAULT_PATTERN).expect("the default pattern compiles"))
}

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size, so chunk boundaries are fuzzed too.
    let (size, log) = match data.split_first() {
        Some((s, rest)) => (usize::from(*s).max(1), rest),
        None => (1, data),
    };
    let mut scanner = ChartVersionScanner::new(pattern());
    for chunk in log.chunks(size) {
        scanner.feed(chunk);
    }
    if let Some(v) = scanner.finish() {
        assert!(!v.is_empty() && v.chars().count() <= 128);
        assert!(!v.contains('\n') && !v.contains('\r'));
    }
});
