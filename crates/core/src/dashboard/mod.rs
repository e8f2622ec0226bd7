//! The pull-request dashboard: one comment per commit of a pull request that tracks every CI
//! stage of that commit, updated in place.
//!
//! Everything here is pure; the `pr-dashboard` subcommand does the GitHub calls. The pieces:
//! - the state ([`DashboardState`]) kept base64-encoded in the comment's last HTML comment, so no
//!   text in it can break the Markdown; the table is derived from it and never parsed back;
//! - the renderer ([`render`], [`render_fitting`]) and the reader ([`parse_comment`]), which
//!   round-trip exactly, and the size rule that keeps a body under GitHub's limit;
//! - the commit statuses ([`commit_status_for`], [`status_from_commit`]): stage results live
//!   there because a status write is never lost, while a comment edit can be overwritten by a
//!   concurrent writer; the comment converges on what the statuses say
//!   ([`DashboardState::apply_statuses`], [`DashboardState::shows_all`]);
//! - slash commands ([`route_comment`]) and what `/apply` requires ([`is_approved`],
//!   [`unmet_plans`]);
//! - the configuration model ([`DashboardConfig`]); another crate reads the YAML file.

mod commands;
mod comment;
mod config;
mod render;
mod status;

pub use commands::{Review, ReviewState, Routed, is_approved, route_comment, unmet_plans};
pub use comment::{
    ParsedComment, StateProblem, is_dashboard_for, marker, parse_comment, short_sha,
};
pub use config::{CommandDef, DashboardConfig, Requirement};
pub use render::{
    RELEASE_MARKER, escape_cell, is_release_comment, render, render_fitting, render_release,
};
pub use status::{
    MAX_DESCRIPTION_CHARS, commit_status_for, stage_of_context, status_context, status_from_commit,
};

use crate::UnixTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The version of the state's JSON. A comment carrying another schema is reported as a problem
/// (and rebuilt by the caller), never half-read.
pub const SCHEMA: u32 = 1;

/// The most characters a rendered body may have. GitHub refuses bodies over 65,536 characters
/// without saying whether it counts characters or bytes; the margin covers either reading for
/// the mostly-ASCII bodies rendered here.
pub const MAX_COMMENT_CHARS: usize = 60_000;

/// The prefix of the commit status contexts that record stages (`shipyard/<stage key>`).
pub const STATUS_CONTEXT_PREFIX: &str = "shipyard/";

/// The `stage` of history entries about the dashboard itself rather than a stage (a rebuilt
/// state). Reserved: the configuration refuses it as a stage key.
pub const DASHBOARD_HISTORY_STAGE: &str = "dashboard";

/// Where one stage of a commit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StageStatus {
    /// Not started.
    #[default]
    Pending,
    /// Started, not finished.
    Running,
    /// Finished and succeeded.
    Success,
    /// Finished and failed.
    Failure,
    /// Not run for this commit; counts as finished.
    Skipped,
}

impl StageStatus {
    /// Every status, in a stable order.
    pub const ALL: [StageStatus; 5] = [
        StageStatus::Pending,
        StageStatus::Running,
        StageStatus::Success,
        StageStatus::Failure,
        StageStatus::Skipped,
    ];

    /// The lowercase word used on the command line, in the state and in the comment.
    pub fn as_str(self) -> &'static str {
        match self {
            StageStatus::Pending => "pending",
            StageStatus::Running => "running",
            StageStatus::Success => "success",
            StageStatus::Failure => "failure",
            StageStatus::Skipped => "skipped",
        }
    }

    /// Parses [`StageStatus::as_str`] (exactly: the command line is strict).
    pub fn parse(s: &str) -> Option<StageStatus> {
        StageStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// The icon shown before the word.
    pub fn icon(self) -> &'static str {
        match self {
            StageStatus::Pending => "⏳",
            StageStatus::Running => "🔄",
            StageStatus::Success => "✅",
            StageStatus::Failure => "❌",
            StageStatus::Skipped => "⏭️",
        }
    }

    /// Whether the stage has ended (success, failure or skipped).
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            StageStatus::Success | StageStatus::Failure | StageStatus::Skipped
        )
    }
}

/// One stage of the dashboard as configured: its key (in commands, contexts and the state) and
/// the name shown in the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageDef {
    /// `[a-z0-9][a-z0-9-]{0,39}`; the commit status context is `shipyard/<key>`.
    pub key: String,
    /// The name in the table's first column.
    pub name: String,
}

impl StageDef {
    /// A stage with `key` and `name`.
    pub fn new(key: &str, name: &str) -> StageDef {
        StageDef {
            key: key.to_owned(),
            name: name.to_owned(),
        }
    }
}

/// The stages used when the repository configures none.
pub fn default_stages() -> Vec<StageDef> {
    [
        ("plan-bootstrap", "Plan: bootstrap"),
        ("plan-platform", "Plan: platform"),
        ("plan-data-staging", "Plan: data-staging"),
        ("plan-data-prod", "Plan: data-prod"),
        ("apply", "Apply"),
        ("e2e", "E2E Tests"),
        ("review", "AI Review"),
    ]
    .into_iter()
    .map(|(key, name)| StageDef::new(key, name))
    .collect()
}

/// What the dashboard shows for one stage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StageState {
    /// Where the stage stands.
    pub status: StageStatus,
    /// The run that reported it (shown as `[run](…)` when it is an http(s) link).
    pub link: Option<String>,
    /// When it last became running; unknown when it was only ever seen finished.
    pub started_at: Option<UnixTime>,
    /// When it finished; cleared when it goes back to pending or running.
    pub finished_at: Option<UnixTime>,
    /// Free text from the reporter (an error line, a summary), shown after the status.
    pub note: Option<String>,
}

/// One change of a stage, kept in the comment's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// When the change happened.
    pub at: UnixTime,
    /// The stage key ([`DASHBOARD_HISTORY_STAGE`] for entries about the dashboard itself).
    pub stage: String,
    /// The status it went to.
    pub status: StageStatus,
    /// The run that reported it.
    pub link: Option<String>,
    /// Who reported it; `None` when it was read from a commit status.
    pub by: Option<String>,
    /// The note given with the change.
    pub note: Option<String>,
}

/// Everything a dashboard comment records, serialised as JSON inside the comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DashboardState {
    /// [`SCHEMA`].
    pub schema: u32,
    /// Increased by the caller on every write; not unique across writers and not a lock.
    pub revision: u64,
    /// The full commit sha the dashboard belongs to.
    pub sha: String,
    /// The pull request number.
    pub pr: u64,
    /// Stage key → what is shown. Stages never reported are absent (shown as pending).
    pub stages: BTreeMap<String, StageState>,
    /// Every change, oldest first (rendered newest first).
    pub history: Vec<HistoryEntry>,
    /// How many of the oldest history entries were dropped to keep the comment within the size
    /// limit; the comment says so on its last history line. Absent from the JSON when zero.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub history_trimmed: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// One stage report: `pr-dashboard update`, or a command's stage going running → done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StageUpdate {
    /// The stage key.
    pub stage: String,
    /// The new status.
    pub status: StageStatus,
    /// The run's link; `None` keeps the current one.
    pub link: Option<String>,
    /// The note; `None` keeps the current one.
    pub note: Option<String>,
    /// Who reports it (the Actions actor).
    pub by: Option<String>,
    /// When.
    pub at: UnixTime,
}

/// One commit status as GitHub reports it (the newest per context in the combined view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedStatus {
    /// `shipyard/<key>` for stages; anything else belongs to other tools.
    pub context: String,
    /// GitHub's state: `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// The description; its first word tells running, pending and skipped apart.
    pub description: Option<String>,
    /// The link; GitHub may report an empty string for none.
    pub target_url: Option<String>,
    /// When the status was set.
    pub updated_at: UnixTime,
}

impl DashboardState {
    /// An empty dashboard (every stage pending) for commit `sha` on pull request `pr`.
    pub fn new(sha: &str, pr: u64) -> DashboardState {
        DashboardState {
            schema: SCHEMA,
            revision: 0,
            sha: sha.to_owned(),
            pr,
            stages: BTreeMap::new(),
            history: Vec::new(),
            history_trimmed: 0,
        }
    }

    /// Applies one stage update. Returns false, leaving `self` exactly as it was, when status,
    /// link and note would stay the same (a `None` link or note keeps the current one): such an
    /// update must cause no write. Otherwise updates the times (see [`StageState`]), appends a
    /// history entry and returns true. `revision` is the caller's to bump.
    pub fn apply(&mut self, update: &StageUpdate) -> bool {
        let current = self.stages.get(&update.stage).cloned().unwrap_or_default();
        let link = update.link.clone().or_else(|| current.link.clone());
        let note = update.note.clone().or_else(|| current.note.clone());
        if update.status == current.status && link == current.link && note == current.note {
            return false;
        }
        let next = transition(&current, update.status, update.at, link.clone(), note);
        self.stages.insert(update.stage.clone(), next);
        self.record(HistoryEntry {
            at: update.at,
            stage: update.stage.clone(),
            status: update.status,
            link,
            by: update.by.clone(),
            // The note said with this change; a kept note is not repeated.
            note: update.note.clone(),
        });
        true
    }

    /// Merges what the commit statuses say: they are authoritative for status and link (no
    /// status write is ever lost), while notes and history stay from the state. Each stage the
    /// state did not show that way yet gets a history entry (`by: None`). Contexts other than
    /// `shipyard/<a key of stages>` (case-insensitive) and unknown GitHub states are ignored.
    /// Returns whether anything changed.
    pub fn apply_statuses(&mut self, statuses: &[ObservedStatus], stages: &[StageDef]) -> bool {
        let mut changed = false;
        for seen in status::newest_per_stage(statuses, stages) {
            let current = self.stages.get(&seen.def.key).cloned().unwrap_or_default();
            if current.status == seen.status && current.link == seen.link {
                continue;
            }
            let next = transition(
                &current,
                seen.status,
                seen.observed.updated_at,
                seen.link.clone(),
                current.note.clone(),
            );
            self.stages.insert(seen.def.key.clone(), next);
            self.record(HistoryEntry {
                at: seen.observed.updated_at,
                stage: seen.def.key.clone(),
                status: seen.status,
                link: seen.link,
                by: None,
                note: None,
            });
            changed = true;
        }
        changed
    }

    /// Whether every stage status in `statuses` is shown with the same status and link: when it
    /// is, a writer may stop; when not, another writer's result arrived after this one rendered.
    pub fn shows_all(&self, statuses: &[ObservedStatus], stages: &[StageDef]) -> bool {
        status::newest_per_stage(statuses, stages)
            .into_iter()
            .all(|seen| {
                let shown = self.stages.get(&seen.def.key).cloned().unwrap_or_default();
                shown.status == seen.status && shown.link == seen.link
            })
    }

    /// Adds `entry` after every entry that is not later than it, so the history stays in time
    /// order when statuses set earlier are merged after later updates.
    fn record(&mut self, entry: HistoryEntry) {
        let at = self.history.partition_point(|h| h.at <= entry.at);
        self.history.insert(at, entry);
    }
}

/// The stage state after it goes to `status` at `at`.
fn transition(
    current: &StageState,
    status: StageStatus,
    at: UnixTime,
    link: Option<String>,
    note: Option<String>,
) -> StageState {
    let (started_at, finished_at) = match status {
        // Not started: an old start time would give a later finish a wrong duration.
        StageStatus::Pending => (None, None),
        StageStatus::Running if current.status == StageStatus::Running => {
            (current.started_at, None)
        }
        StageStatus::Running => (Some(at), None),
        // Finished: a change of link or note alone does not move the finish time.
        _ if current.status == status && current.finished_at.is_some() => {
            (current.started_at, current.finished_at)
        }
        _ => (current.started_at, Some(at)),
    };
    StageState {
        status,
        link,
        started_at,
        finished_at,
        note,
    }
}

/// A fresh state for a dashboard whose state was missing or corrupt, with a history line saying
/// so. The caller then merges the commit statuses ([`DashboardState::apply_statuses`]), which
/// hold every stage result.
pub fn rebuilt(sha: &str, pr: u64, problem: &StateProblem, at: UnixTime) -> DashboardState {
    let mut state = DashboardState::new(sha, pr);
    state.history.push(HistoryEntry {
        at,
        stage: DASHBOARD_HISTORY_STAGE.to_owned(),
        status: StageStatus::Pending,
        link: None,
        by: None,
        note: Some(format!(
            "state was missing or corrupt ({}); rebuilt from commit statuses",
            problem.reason
        )),
    });
    state
}

#[cfg(test)]
mod tests;
