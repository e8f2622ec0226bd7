//! Stages as GitHub commit statuses, both ways.
//!
//! GitHub knows only `error`, `failure`, `pending` and `success`, so two of the five stage
//! statuses share a GitHub state with another and the description's first word tells them
//! apart. A skipped stage is a `success`, so that it never blocks a required check.

use super::render::clock;
use super::{ObservedStatus, STATUS_CONTEXT_PREFIX, StageDef, StageStatus};
use crate::UnixTime;

/// The longest description GitHub accepts for a commit status.
pub const MAX_DESCRIPTION_CHARS: usize = 140;

/// The commit status that records a stage: GitHub's state and a description of at most
/// [`MAX_DESCRIPTION_CHARS`] characters. The description starts with the status word
/// (`running since 10:42 UTC` for a running stage whose start is known); a note follows after
/// ` — `, on one line and cut with `…` to fit.
pub fn commit_status_for(
    status: StageStatus,
    started_at: Option<UnixTime>,
    note: Option<&str>,
) -> (&'static str, String) {
    let (state, word) = match status {
        StageStatus::Pending => ("pending", "pending".to_owned()),
        StageStatus::Running => (
            "pending",
            match started_at {
                Some(t) => format!("running since {} UTC", clock(t)),
                None => "running".to_owned(),
            },
        ),
        StageStatus::Success => ("success", "success".to_owned()),
        StageStatus::Failure => ("failure", "failure".to_owned()),
        StageStatus::Skipped => ("success", "skipped".to_owned()),
    };
    let note = note
        .map(|n| n.split_whitespace().collect::<Vec<_>>().join(" "))
        .filter(|n| !n.is_empty());
    let Some(note) = note else {
        return (state, word);
    };
    let full = format!("{word} — {note}");
    if full.chars().count() <= MAX_DESCRIPTION_CHARS {
        return (state, full);
    }
    let mut cut: String = full.chars().take(MAX_DESCRIPTION_CHARS - 1).collect();
    cut.push('…');
    (state, cut)
}

/// The stage status a commit status records, as [`commit_status_for`] wrote it. Statuses set by
/// hand read sensibly too: `error` is a failure, a `pending` without `running` is pending.
/// `None` for a GitHub state this version does not know.
pub fn status_from_commit(state: &str, description: Option<&str>) -> Option<StageStatus> {
    let word = description
        .and_then(|d| d.split_whitespace().next())
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .unwrap_or("");
    let state = state.trim();
    if state.eq_ignore_ascii_case("pending") {
        Some(if word.eq_ignore_ascii_case("running") {
            StageStatus::Running
        } else {
            StageStatus::Pending
        })
    } else if state.eq_ignore_ascii_case("success") {
        Some(if word.eq_ignore_ascii_case("skipped") {
            StageStatus::Skipped
        } else {
            StageStatus::Success
        })
    } else if state.eq_ignore_ascii_case("failure") || state.eq_ignore_ascii_case("error") {
        Some(StageStatus::Failure)
    } else {
        None
    }
}

/// The commit status context of a stage: `shipyard/<key>`.
pub fn status_context(stage_key: &str) -> String {
    format!("{STATUS_CONTEXT_PREFIX}{stage_key}")
}

/// The stage a commit status context records, if any. GitHub treats contexts
/// case-insensitively (a status for `Shipyard/Apply` replaces one for `shipyard/apply`), so
/// this does too.
pub fn stage_of_context<'a>(context: &str, stages: &'a [StageDef]) -> Option<&'a StageDef> {
    let prefix = context.get(..STATUS_CONTEXT_PREFIX.len())?;
    if !prefix.eq_ignore_ascii_case(STATUS_CONTEXT_PREFIX) {
        return None;
    }
    let key = &context[STATUS_CONTEXT_PREFIX.len()..];
    stages.iter().find(|s| s.key.eq_ignore_ascii_case(key))
}

/// What the statuses say about one stage.
pub(super) struct Seen<'d, 's> {
    pub def: &'d StageDef,
    pub observed: &'s ObservedStatus,
    pub status: StageStatus,
    /// The link, an empty `target_url` read as none.
    pub link: Option<String>,
}

/// The newest readable status of each stage of `stages` (in `stages` order). The combined view
/// already has one per context, but a list of statuses may hold several: the newest wins, and
/// of equal times the later in the list.
pub(super) fn newest_per_stage<'d, 's>(
    statuses: &'s [ObservedStatus],
    stages: &'d [StageDef],
) -> Vec<Seen<'d, 's>> {
    let mut seen: Vec<Seen<'d, 's>> = Vec::new();
    for observed in statuses {
        let Some(def) = stage_of_context(&observed.context, stages) else {
            continue;
        };
        let Some(status) = status_from_commit(&observed.state, observed.description.as_deref())
        else {
            continue;
        };
        let link = observed.target_url.clone().filter(|u| !u.is_empty());
        let entry = Seen {
            def,
            observed,
            status,
            link,
        };
        match seen.iter_mut().find(|s| std::ptr::eq(s.def, def)) {
            Some(s) if s.observed.updated_at > observed.updated_at => {}
            Some(s) => *s = entry,
            None => seen.push(entry),
        }
    }
    seen.sort_by_key(|s| {
        stages
            .iter()
            .position(|d| std::ptr::eq(d, s.def))
            .unwrap_or(usize::MAX)
    });
    seen
}

/// The newest readable status of context `shipyard/<key>`, whether or not `key` is configured.
pub(super) fn newest_of_key(statuses: &[ObservedStatus], key: &str) -> Option<StageStatus> {
    let context = status_context(key);
    let mut best: Option<(&ObservedStatus, StageStatus)> = None;
    for observed in statuses {
        if !observed.context.eq_ignore_ascii_case(&context) {
            continue;
        }
        let Some(status) = status_from_commit(&observed.state, observed.description.as_deref())
        else {
            continue;
        };
        match best {
            Some((b, _)) if b.updated_at > observed.updated_at => {}
            _ => best = Some((observed, status)),
        }
    }
    best.map(|(_, s)| s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::default_stages;

    #[test]
    fn every_status_maps_to_a_commit_status_and_back() {
        // 1_800_000_000 is 2027-01-15 08:00:00 UTC.
        let at = Some(1_800_000_000 + 42 * 60 + 2 * 3600);
        let cases = [
            (StageStatus::Pending, None, "pending", "pending"),
            (StageStatus::Pending, at, "pending", "pending"),
            (
                StageStatus::Running,
                at,
                "pending",
                "running since 10:42 UTC",
            ),
            (StageStatus::Running, None, "pending", "running"),
            (StageStatus::Success, at, "success", "success"),
            (StageStatus::Failure, None, "failure", "failure"),
            (StageStatus::Skipped, None, "success", "skipped"),
        ];
        for (status, started, want_state, want_description) in cases {
            let (state, description) = commit_status_for(status, started, None);
            assert_eq!(
                (state, description.as_str()),
                (want_state, want_description)
            );
            assert_eq!(
                status_from_commit(state, Some(&description)),
                Some(status),
                "{status:?}"
            );
            // With a note, the first word still tells the status.
            let (state, description) = commit_status_for(status, started, Some("see the log"));
            assert_eq!(description, format!("{want_description} — see the log"));
            assert_eq!(status_from_commit(state, Some(&description)), Some(status));
        }
        for status in StageStatus::ALL {
            let (state, description) = commit_status_for(status, Some(0), Some("x"));
            assert_eq!(status_from_commit(state, Some(&description)), Some(status));
        }
    }

    #[test]
    fn commit_states_read_back_including_hand_made_ones() {
        let cases = [
            ("pending", None, Some(StageStatus::Pending)),
            ("pending", Some(""), Some(StageStatus::Pending)),
            ("pending", Some("pending"), Some(StageStatus::Pending)),
            (
                "pending",
                Some("Running since 10:42 UTC"),
                Some(StageStatus::Running),
            ),
            (
                "pending",
                Some("running, 3 of 5"),
                Some(StageStatus::Running),
            ),
            (
                "pending",
                Some("queued behind running jobs"),
                Some(StageStatus::Pending),
            ),
            ("success", None, Some(StageStatus::Success)),
            ("success", Some("skipped"), Some(StageStatus::Skipped)),
            ("success", Some("all 12 passed"), Some(StageStatus::Success)),
            ("failure", Some("skipped"), Some(StageStatus::Failure)),
            ("failure", None, Some(StageStatus::Failure)),
            ("error", Some("runner lost"), Some(StageStatus::Failure)),
            ("SUCCESS", None, Some(StageStatus::Success)),
            ("neutral", None, None),
            ("", None, None),
        ];
        for (state, description, want) in cases {
            assert_eq!(
                status_from_commit(state, description),
                want,
                "{state} {description:?}"
            );
        }
    }

    #[test]
    fn descriptions_stay_within_140_chars_and_on_one_line() {
        let long = "é".repeat(300);
        let (_, d) = commit_status_for(StageStatus::Failure, None, Some(&long));
        assert_eq!(d.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(d.starts_with("failure — éé") && d.ends_with('…'), "{d}");
        let (_, d) = commit_status_for(
            StageStatus::Running,
            Some(0),
            Some("line one\r\n  line\ttwo\n"),
        );
        assert_eq!(d, "running since 00:00 UTC — line one line two");
        let (_, d) = commit_status_for(StageStatus::Success, None, Some(" \n "));
        assert_eq!(d, "success");
        // Exactly at the limit: nothing cut.
        let note = "n".repeat(MAX_DESCRIPTION_CHARS - "success — ".chars().count());
        let (_, d) = commit_status_for(StageStatus::Success, None, Some(&note));
        assert_eq!(d.chars().count(), MAX_DESCRIPTION_CHARS);
        assert!(!d.ends_with('…'));
    }

    #[test]
    fn contexts_match_stages_case_insensitively() {
        let stages = default_stages();
        let cases = [
            ("shipyard/apply", Some("apply")),
            ("Shipyard/Apply", Some("apply")),
            ("SHIPYARD/PLAN-DATA-PROD", Some("plan-data-prod")),
            ("shipyard/", None),
            ("shipyard/unknown", None),
            ("shipyard/apply ", None),
            ("ci/apply", None),
            ("apply", None),
            ("shipyar", None),
            ("shipyard\u{e9}/apply", None),
            ("", None),
        ];
        for (context, want) in cases {
            assert_eq!(
                stage_of_context(context, &stages).map(|s| s.key.as_str()),
                want,
                "{context:?}"
            );
        }
        assert_eq!(status_context("e2e"), "shipyard/e2e");
        for s in &stages {
            assert_eq!(stage_of_context(&status_context(&s.key), &stages), Some(s));
        }
    }
}
