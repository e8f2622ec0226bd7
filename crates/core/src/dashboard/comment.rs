//! Finding and reading a dashboard comment.
//!
//! A comment is the dashboard of a commit when its first line is that commit's marker; a
//! comment that quotes the marker anywhere else is not. Its state is the last
//! `<!-- shipyard-state:… -->` comment, so text earlier in the body (which is escaped anyway)
//! cannot supply another. Whether the comment was written by the tool is the caller's check:
//! a forged state reads like any other here.

use super::{DashboardState, SCHEMA};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Opens the HTML comment that carries the state.
pub(super) const STATE_OPEN: &str = "<!-- shipyard-state:";
/// Closes it.
pub(super) const STATE_CLOSE: &str = " -->";

/// The most characters of a problem's reason kept: reasons quote parser messages, which may
/// quote the text that failed.
const MAX_REASON_CHARS: usize = 200;

/// Why a dashboard's state could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct StateProblem {
    /// What is wrong, in words.
    pub reason: String,
}

impl StateProblem {
    fn new(reason: impl Into<String>) -> StateProblem {
        let reason: String = reason.into();
        let reason = if reason.chars().count() > MAX_REASON_CHARS {
            let mut cut: String = reason.chars().take(MAX_REASON_CHARS - 1).collect();
            cut.push('…');
            cut
        } else {
            reason
        };
        StateProblem { reason }
    }
}

/// What a comment body is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedComment {
    /// Not the dashboard of this commit (another comment, or another commit's dashboard).
    NotADashboard,
    /// The dashboard of this commit, with its state or why the state cannot be read.
    Dashboard {
        /// The state, or the problem to put in the rebuilt state's history.
        state: Result<DashboardState, StateProblem>,
    },
}

/// The first seven characters of a sha (all of it when shorter).
pub fn short_sha(sha: &str) -> &str {
    match sha.char_indices().nth(7) {
        Some((end, _)) => &sha[..end],
        None => sha,
    }
}

/// The first line of the dashboard of `sha`: `<!-- shipyard-dashboard:<short sha> -->`.
pub fn marker(sha: &str) -> String {
    format!("<!-- shipyard-dashboard:{} -->", short_sha(sha))
}

/// Whether `body` is the dashboard of `sha`: its first line (a trailing `\r` allowed) is the
/// marker. Says nothing about whether the state reads.
pub fn is_dashboard_for(body: &str, sha: &str) -> bool {
    let first = body.split('\n').next().unwrap_or("");
    first.strip_suffix('\r').unwrap_or(first) == marker(sha)
}

/// Reads a comment: whether it is the dashboard of `sha` and, if so, its state. Never panics;
/// any problem with the state (missing, not base64, not JSON, another schema, another commit)
/// is an `Err` the caller turns into a rebuilt state.
pub fn parse_comment(body: &str, sha: &str) -> ParsedComment {
    if !is_dashboard_for(body, sha) {
        return ParsedComment::NotADashboard;
    }
    ParsedComment::Dashboard {
        state: read_state(body, sha),
    }
}

fn read_state(body: &str, sha: &str) -> Result<DashboardState, StateProblem> {
    let start = body
        .rfind(STATE_OPEN)
        .ok_or_else(|| StateProblem::new("the comment has no state"))?;
    let rest = &body[start + STATE_OPEN.len()..];
    let end = rest
        .find("-->")
        .ok_or_else(|| StateProblem::new("the state comment is not closed"))?;
    let encoded = rest[..end].trim();
    let json = STANDARD
        .decode(encoded)
        .map_err(|e| StateProblem::new(format!("the state is not base64: {e}")))?;
    let value: serde_json::Value = serde_json::from_slice(&json)
        .map_err(|e| StateProblem::new(format!("the state is not JSON: {e}")))?;
    // The schema first, so a newer writer's state is named as such, not as a field error.
    match value.get("schema").map(serde_json::Value::as_u64) {
        Some(Some(s)) if s == u64::from(SCHEMA) => {}
        Some(Some(s)) => {
            return Err(StateProblem::new(format!(
                "the state has schema {s}; this version reads schema {SCHEMA}"
            )));
        }
        Some(None) => return Err(StateProblem::new("the state's schema is not a number")),
        None => return Err(StateProblem::new("the state has no schema")),
    }
    let state: DashboardState = serde_json::from_value(value)
        .map_err(|e| StateProblem::new(format!("the state does not read: {e}")))?;
    if state.sha != sha {
        // The full sha: the marker already matched the short one.
        let other: String = state.sha.chars().take(40).collect();
        return Err(StateProblem::new(format!(
            "the state is for another commit ({other})"
        )));
    }
    Ok(state)
}
