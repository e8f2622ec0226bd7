//! Untrusted pull-request comments through the dashboard reader: any text (invalid UTF-8 read
//! lossily) for one fixed commit. Reading must never panic, and a state it accepts must render
//! to a body that reads back to the same state, also once fitted within the size limit.

#![no_main]

use libfuzzer_sys::fuzz_target;
use shipyard_core::dashboard::{self, MAX_COMMENT_CHARS, ParsedComment};

/// The commit the seeds' dashboards belong to.
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fuzz_target!(|data: &[u8]| {
    let body = String::from_utf8_lossy(data);
    let ParsedComment::Dashboard { state: Ok(state) } = dashboard::parse_comment(&body, SHA) else {
        return;
    };
    let stages = dashboard::default_stages();
    let again = dashboard::render(&state, &stages);
    assert_eq!(
        dashboard::parse_comment(&again, SHA),
        ParsedComment::Dashboard {
            state: Ok(state.clone())
        }
    );
    let mut fitted = state;
    let body = dashboard::render_fitting(&mut fitted, &stages, Some("https://ci.example/run/1"));
    assert!(body.chars().count() <= MAX_COMMENT_CHARS);
    assert_eq!(
        dashboard::parse_comment(&body, SHA),
        ParsedComment::Dashboard { state: Ok(fitted) }
    );
});
