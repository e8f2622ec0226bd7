//! Slash commands in pull-request comments, and what `/apply` requires before it runs.

use super::status::newest_of_key;
use super::{ObservedStatus, StageDef, StageStatus};
use crate::UnixTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a comment asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routed {
    /// The comment is not a slash command (a normal comment, a path like `/tmp/x`).
    NotACommand,
    /// A command of another bot (a word of `ignore_commands`): no reply.
    Ignored,
    /// A slash command nobody configured: the reply lists the known ones.
    Unknown {
        /// The command word as written.
        word: String,
    },
    /// A configured command.
    Command {
        /// The command's name as configured (`bootstrap plan`).
        name: String,
        /// The rest of the line, trimmed.
        args: String,
    },
}

/// Routes a comment: its first non-empty line, trimmed, must start with `/` directly followed
/// by a word of letters, digits and `-`. A two-word command (`/bootstrap plan`) matches before
/// a one-word one (`/bootstrap`); words match case-insensitively; `name` is the configured
/// spelling. Configured commands win over `ignore` words.
pub fn route_comment(body: &str, commands: &[&str], ignore: &[String]) -> Routed {
    let Some(line) = body.lines().map(str::trim).find(|l| !l.is_empty()) else {
        return Routed::NotACommand;
    };
    let Some(rest) = line.strip_prefix('/') else {
        return Routed::NotACommand;
    };
    let words = word_spans(rest);
    let Some(&(start, end)) = words.first() else {
        return Routed::NotACommand;
    };
    let first = &rest[start..end];
    if start != 0 || !is_command_word(first) {
        return Routed::NotACommand;
    }
    if let Some(&(s2, e2)) = words.get(1) {
        let second = &rest[s2..e2];
        if let Some(name) = commands.iter().find(|c| names_words(c, &[first, second])) {
            return Routed::Command {
                name: (*name).to_owned(),
                args: rest[e2..].trim().to_owned(),
            };
        }
    }
    if let Some(name) = commands.iter().find(|c| names_words(c, &[first])) {
        return Routed::Command {
            name: (*name).to_owned(),
            args: rest[end..].trim().to_owned(),
        };
    }
    if ignore.iter().any(|w| w.trim().eq_ignore_ascii_case(first)) {
        return Routed::Ignored;
    }
    Routed::Unknown {
        word: first.to_owned(),
    }
}

/// Byte ranges of the whitespace-separated words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

fn is_command_word(word: &str) -> bool {
    !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// Whether command `name` is exactly `words`, ignoring ASCII case.
fn names_words(name: &str, words: &[&str]) -> bool {
    let mut parts = name.split_whitespace();
    words
        .iter()
        .all(|w| parts.next().is_some_and(|p| p.eq_ignore_ascii_case(w)))
        && parts.next().is_none()
}

/// A pull-request review's state, as GitHub names it (`APPROVED`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReviewState {
    /// Approved.
    Approved,
    /// Changes requested.
    ChangesRequested,
    /// A comment only: does not change the reviewer's verdict.
    Commented,
    /// An approval or change request dismissed later: no verdict.
    Dismissed,
    /// Not submitted yet: not visible to others, ignored.
    Pending,
}

impl ReviewState {
    /// Every state, in a stable order.
    pub const ALL: [ReviewState; 5] = [
        ReviewState::Approved,
        ReviewState::ChangesRequested,
        ReviewState::Commented,
        ReviewState::Dismissed,
        ReviewState::Pending,
    ];

    /// GitHub's name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Dismissed => "DISMISSED",
            ReviewState::Pending => "PENDING",
        }
    }

    /// Parses GitHub's name (any case); `None` for a state this version does not know.
    pub fn parse(s: &str) -> Option<ReviewState> {
        ReviewState::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// One review of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The reviewer's login (compared case-insensitively, as GitHub logins are).
    pub reviewer: String,
    /// Its state.
    pub state: ReviewState,
    /// When it was submitted (`None` while pending).
    pub submitted_at: Option<UnixTime>,
    /// GitHub's review id: orders reviews submitted in the same second.
    pub id: u64,
}

/// Whether the pull request is approved as GitHub counts it: per reviewer, the latest review
/// that is neither a comment nor pending (by submission time, then id) is their verdict; at
/// least one verdict must approve and none may request changes. A dismissed latest review is
/// no verdict.
pub fn is_approved(reviews: &[Review]) -> bool {
    let mut verdicts: BTreeMap<String, &Review> = BTreeMap::new();
    for review in reviews {
        if matches!(review.state, ReviewState::Commented | ReviewState::Pending) {
            continue;
        }
        let who = review.reviewer.to_ascii_lowercase();
        match verdicts.get(&who) {
            Some(prev) if (prev.submitted_at, prev.id) > (review.submitted_at, review.id) => {}
            _ => {
                verdicts.insert(who, review);
            }
        }
    }
    let approved = verdicts.values().any(|r| r.state == ReviewState::Approved);
    let blocked = verdicts
        .values()
        .any(|r| r.state == ReviewState::ChangesRequested);
    approved && !blocked
}

/// The plan stages that have not succeeded according to the commit statuses (never to the
/// comment's state, which anyone with comment rights could forge): `plan_stages`, or when
/// `None` every stage whose key starts with `plan-`. Skipped is not success here: `/apply`
/// after a skipped plan would apply an unreviewed change.
pub fn unmet_plans(
    stages: &[StageDef],
    plan_stages: Option<&[String]>,
    statuses: &[ObservedStatus],
) -> Vec<String> {
    let keys: Vec<&str> = match plan_stages {
        Some(keys) => keys.iter().map(String::as_str).collect(),
        None => stages
            .iter()
            .map(|s| s.key.as_str())
            .filter(|k| k.starts_with("plan-"))
            .collect(),
    };
    keys.into_iter()
        .filter(|key| newest_of_key(statuses, key) != Some(StageStatus::Success))
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::{commit_status_for, default_stages, status_context};

    fn routed_command(name: &str, args: &str) -> Routed {
        Routed::Command {
            name: name.into(),
            args: args.into(),
        }
    }

    #[test]
    fn comments_route_to_commands() {
        let commands = [
            "plan",
            "apply",
            "bootstrap plan",
            "bootstrap apply",
            "e2e",
            "Review",
        ];
        let ignore: Vec<String> = ["retest", "lgtm", "hold"].map(String::from).to_vec();
        let cases = [
            ("/plan", routed_command("plan", "")),
            (
                "/plan extra args  here ",
                routed_command("plan", "extra args  here"),
            ),
            ("/PLAN", routed_command("plan", "")),
            (
                "/Bootstrap  Plan -target=x",
                routed_command("bootstrap plan", "-target=x"),
            ),
            ("/bootstrap apply", routed_command("bootstrap apply", "")),
            ("/review now", routed_command("Review", "now")),
            ("/review", routed_command("Review", "")),
            (
                "\n\n  \r\n  /apply  \nsecond line",
                routed_command("apply", ""),
            ),
            ("/e2e\tsmoke", routed_command("e2e", "smoke")),
            (
                "/bootstrap",
                Routed::Unknown {
                    word: "bootstrap".into(),
                },
            ),
            (
                "/Frobnicate the thing",
                Routed::Unknown {
                    word: "Frobnicate".into(),
                },
            ),
            ("/lgtm", Routed::Ignored),
            ("/LGTM thanks", Routed::Ignored),
            ("/hold cancel", Routed::Ignored),
            ("please /plan", Routed::NotACommand),
            ("looks good\n/plan", Routed::NotACommand),
            ("/tmp/x is full", Routed::NotACommand),
            ("/ plan", Routed::NotACommand),
            ("/", Routed::NotACommand),
            ("/über", Routed::NotACommand),
            ("", Routed::NotACommand),
            (" \n\t\n", Routed::NotACommand),
            ("> /plan", Routed::NotACommand),
        ];
        for (body, want) in cases {
            assert_eq!(route_comment(body, &commands, &ignore), want, "{body:?}");
        }
        // A configured command wins over an ignored word of the same name.
        assert_eq!(
            route_comment("/hold", &["hold"], &ignore),
            routed_command("hold", "")
        );
        assert_eq!(
            route_comment("/plan", &[], &ignore),
            Routed::Unknown {
                word: "plan".into()
            }
        );
    }

    fn review(who: &str, state: ReviewState, at: i64, id: u64) -> Review {
        Review {
            reviewer: who.into(),
            state,
            submitted_at: Some(at),
            id,
        }
    }

    #[test]
    fn approval_counts_the_latest_verdict_per_reviewer() {
        use ReviewState::*;
        let cases: Vec<(&str, Vec<Review>, bool)> = vec![
            ("no reviews", vec![], false),
            ("one approval", vec![review("ann", Approved, 10, 1)], true),
            (
                "only a comment",
                vec![review("ann", Commented, 10, 1)],
                false,
            ),
            (
                "comment after approval keeps it",
                vec![
                    review("ann", Approved, 10, 1),
                    review("ann", Commented, 20, 2),
                ],
                true,
            ),
            (
                "changes requested, then approved by the same reviewer",
                vec![
                    review("ann", ChangesRequested, 10, 1),
                    review("ann", Approved, 20, 2),
                ],
                true,
            ),
            (
                "approved, then changes requested",
                vec![
                    review("ann", Approved, 10, 1),
                    review("ann", ChangesRequested, 20, 2),
                ],
                false,
            ),
            (
                "two reviewers, one requests changes",
                vec![
                    review("ann", Approved, 10, 1),
                    review("bob", ChangesRequested, 5, 2),
                ],
                false,
            ),
            (
                "the latest is dismissed",
                vec![
                    review("ann", Approved, 10, 1),
                    review("ann", Dismissed, 20, 2),
                ],
                false,
            ),
            (
                "a dismissed change request does not block another's approval",
                vec![
                    review("ann", Approved, 10, 1),
                    review("bob", Dismissed, 20, 2),
                ],
                true,
            ),
            (
                "the order in the list does not matter",
                vec![
                    review("ann", Approved, 30, 3),
                    review("ann", ChangesRequested, 10, 1),
                ],
                true,
            ),
            (
                "same second: the higher id is later",
                vec![
                    review("ann", Approved, 10, 2),
                    review("ann", ChangesRequested, 10, 1),
                ],
                true,
            ),
            (
                "logins compare case-insensitively",
                vec![
                    review("Ann", Approved, 10, 1),
                    review("ann", ChangesRequested, 20, 2),
                ],
                false,
            ),
            (
                "a pending review is ignored",
                vec![
                    review("ann", Approved, 10, 1),
                    Review {
                        reviewer: "ann".into(),
                        state: Pending,
                        submitted_at: None,
                        id: 9,
                    },
                ],
                true,
            ),
        ];
        for (name, reviews, want) in cases {
            assert_eq!(is_approved(&reviews), want, "{name}");
        }
    }

    #[test]
    fn review_states_parse_from_github() {
        for state in ReviewState::ALL {
            assert_eq!(ReviewState::parse(state.as_str()), Some(state));
        }
        assert_eq!(ReviewState::parse("approved"), Some(ReviewState::Approved));
        assert_eq!(ReviewState::parse("REQUESTED"), None);
    }

    fn observed(key: &str, status: StageStatus, at: i64) -> ObservedStatus {
        let (state, description) = commit_status_for(status, Some(at), None);
        ObservedStatus {
            context: status_context(key),
            state: state.into(),
            description: Some(description),
            target_url: None,
            updated_at: at,
        }
    }

    #[test]
    fn unmet_plans_come_from_the_statuses() {
        use StageStatus::*;
        let stages = default_stages();
        let all_plans = [
            "plan-bootstrap",
            "plan-platform",
            "plan-data-staging",
            "plan-data-prod",
        ];
        let all_ok: Vec<ObservedStatus> =
            all_plans.iter().map(|k| observed(k, Success, 10)).collect();
        let mut skipped = all_ok.clone();
        skipped[1] = observed("plan-platform", Skipped, 11);
        let mut newer_failure = all_ok.clone();
        newer_failure.push(observed("plan-data-prod", Failure, 20));
        let mut older_failure = all_ok.clone();
        older_failure.insert(0, observed("plan-data-prod", Failure, 5));
        let mut upper = all_ok.clone();
        upper[0].context = "SHIPYARD/Plan-Bootstrap".into();
        let only = vec!["plan-platform".to_owned()];
        type Case<'a> = (
            &'a str,
            Option<&'a [String]>,
            Vec<ObservedStatus>,
            Vec<&'a str>,
        );
        let cases: Vec<Case> = vec![
            ("nothing reported", None, vec![], all_plans.to_vec()),
            ("all succeeded", None, all_ok.clone(), vec![]),
            (
                "skipped is not success",
                None,
                skipped,
                vec!["plan-platform"],
            ),
            (
                "running",
                None,
                vec![observed("plan-platform", Running, 1)],
                all_plans.to_vec(),
            ),
            (
                "a newer failure",
                None,
                newer_failure,
                vec!["plan-data-prod"],
            ),
            ("an older failure", None, older_failure, vec![]),
            ("contexts in any case", None, upper, vec![]),
            (
                "configured plan stages",
                Some(&only),
                vec![],
                vec!["plan-platform"],
            ),
            (
                "configured plan stages met",
                Some(&only),
                vec![observed("plan-platform", Success, 1)],
                vec![],
            ),
        ];
        for (name, plan_stages, statuses, want) in cases {
            assert_eq!(unmet_plans(&stages, plan_stages, &statuses), want, "{name}");
        }
    }
}
