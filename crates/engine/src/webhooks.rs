//! What a GitHub webhook delivery changes: [`Engine::apply_webhook`].
//!
//! The web edge verifies the signature, reads the payload into an [`Event`] and answers GitHub;
//! everything else is decided here:
//! - a delivery for another org, or of an event Shipyard does not act on, is ignored;
//! - a delivery id seen before changes nothing again (ids are remembered in the database for
//!   [`DELIVERY_MEMORY_SECS`]);
//! - `workflow_run` and `workflow_job` go to the CI tracker;
//! - `pull_request` closed and merged records the merge and starts CI tracking at once;
//! - `push` to the source branch of an open release re-reads that one repo (one compare, one
//!   pull-request lookup), so new commits reset the sign-offs without anyone asking.
//!
//! Only deliveries that are applied count as "webhooks are live" for the CI tracker.

use crate::events::EventKind;
use crate::releases::RepoOp;
use crate::{Caller, Engine, EngineError, ReleaseView};
use shipyard_core::change::{PrState, PullInfo};
use shipyard_core::history::{HistoryDetails, RefreshCause};
use shipyard_core::{Actor, ReleaseId};
use shipyard_github::webhook::Event;
use shipyard_store::{MAX_DELIVERY_ID_LEN, ReleaseFilter};
use std::collections::HashMap;
use std::sync::Mutex;

/// How long a delivery id is remembered: GitHub lets people redeliver the last three days.
pub const DELIVERY_MEMORY_SECS: i64 = 4 * 86_400;

/// One verified delivery.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// `X-GitHub-Delivery`, when GitHub sent one.
    pub id: Option<String>,
    /// `X-GitHub-Event`.
    pub event_name: String,
    /// What the payload says.
    pub event: Event,
}

/// What a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookOutcome {
    /// Applied; this many releases or tracking rows changed.
    Applied(usize),
    /// Its id was applied before: nothing was done again.
    Duplicate,
    /// Not for Shipyard (another org, an event it does not act on).
    Ignored,
}

impl WebhookOutcome {
    /// How many releases or tracking rows changed.
    pub fn changed(self) -> usize {
        match self {
            WebhookOutcome::Applied(n) => n,
            WebhookOutcome::Duplicate | WebhookOutcome::Ignored => 0,
        }
    }

    /// `applied`, `duplicate` or `ignored`.
    pub fn as_str(self) -> &'static str {
        match self {
            WebhookOutcome::Applied(_) => "applied",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Ignored => "ignored",
        }
    }
}

/// A release pull request GitHub reported merged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergedPull {
    /// The repository, by name within the org.
    pub repo_name: String,
    /// The branch merged from (the release's source).
    pub head_branch: String,
    /// The branch merged into (the release's destination).
    pub base_branch: String,
    /// The pull request number.
    pub number: u64,
    /// Its page.
    pub url: String,
    /// The merge commit on the base branch.
    pub merge_commit_sha: String,
}

/// The caller webhooks act as; recorded in history.
pub fn webhook_caller() -> Caller {
    Caller {
        actor: Actor {
            subject: "shipyard:github-webhook".into(),
            name: "GitHub webhook".into(),
        },
        roles: Vec::new(),
    }
}

/// Repos being re-read for a push, by release: `true` when another push came meanwhile, so
/// that two re-reads of one repo never race (an older answer could land last).
#[derive(Default)]
pub(crate) struct PushRefreshes(Mutex<HashMap<(ReleaseId, String), bool>>);

impl PushRefreshes {
    /// Whether the caller runs the re-read of `key` (else the running one goes again).
    fn enter(&self, key: &(ReleaseId, String)) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(key) {
            Some(again) => {
                *again = true;
                false
            }
            None => {
                map.insert(key.clone(), false);
                true
            }
        }
    }

    /// Whether the runner of `key` must go again; if not, it is done.
    fn again(&self, key: &(ReleaseId, String)) -> bool {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match map.get_mut(key) {
            Some(again) if *again => {
                *again = false;
                true
            }
            _ => {
                map.remove(key);
                false
            }
        }
    }

    fn leave(&self, key: &(ReleaseId, String)) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(key);
    }
}

/// Leaves the re-read of a key however its runner ends (an error, a panic), unless it
/// finished through [`PushRefreshes::again`].
struct Running<'a> {
    refreshes: &'a PushRefreshes,
    key: (ReleaseId, String),
    finished: bool,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.refreshes.leave(&self.key);
        }
    }
}

impl Engine {
    /// Applies one verified delivery: decides whether it is for Shipyard, whether it was seen
    /// before, and what it changes.
    ///
    /// A delivery whose work fails is forgotten again, so GitHub's redelivery is applied.
    pub async fn apply_webhook(&self, delivery: Delivery) -> Result<WebhookOutcome, EngineError> {
        if !self.handles(&delivery.event) {
            return Ok(WebhookOutcome::Ignored);
        }
        let now = self.now();
        let id = delivery
            .id
            .as_deref()
            .map(str::trim)
            .filter(|id| !id.is_empty() && id.len() <= MAX_DELIVERY_ID_LEN);
        if let Some(id) = id
            && !self
                .store()
                .remember_delivery(id, &delivery.event_name, now, now - DELIVERY_MEMORY_SECS)
                .await?
        {
            return Ok(WebhookOutcome::Duplicate);
        }
        let ci = self.ci();
        if let Some(ci) = &ci {
            ci.webhook_arrived();
        }
        let applied = match delivery.event {
            Event::WorkflowRun { repo, run, .. } => match &ci {
                Some(ci) => ci.on_workflow_run(&repo, &run).await,
                None => Ok(0),
            },
            Event::WorkflowJob { job, .. } => {
                if let Some(ci) = &ci {
                    ci.on_workflow_job(&job);
                }
                Ok(0)
            }
            Event::PullRequestMerged {
                repo,
                number,
                url,
                head_branch,
                base_branch,
                merge_commit_sha,
                ..
            } => {
                self.pull_request_merged(&MergedPull {
                    repo_name: repo,
                    head_branch,
                    base_branch,
                    number,
                    url,
                    merge_commit_sha,
                })
                .await
            }
            Event::Push {
                repo,
                branch,
                after,
                ..
            } => self.pushed(&repo, &branch, &after).await,
            Event::Ignored => Ok(0),
        };
        match applied {
            Ok(n) => Ok(WebhookOutcome::Applied(n)),
            Err(e) => {
                if let Some(id) = id
                    && let Err(forget) = self.store().forget_delivery(id).await
                {
                    tracing::warn!(delivery = %id, error = %forget, "a failed webhook delivery could not be forgotten; its redelivery will be ignored");
                }
                Err(e)
            }
        }
    }

    /// Whether a delivery is for Shipyard: an event it acts on, in the configured org.
    fn handles(&self, event: &Event) -> bool {
        let owner = match event {
            Event::WorkflowRun { owner, .. }
            | Event::WorkflowJob { owner, .. }
            | Event::PullRequestMerged { owner, .. }
            | Event::Push { owner, .. } => owner,
            Event::Ignored => return false,
        };
        self.org()
            .is_some_and(|org| org.eq_ignore_ascii_case(owner))
    }

    /// Open releases (not deployed, not cancelled) matching the branch filter, all pages.
    async fn open_releases(
        &self,
        source: Option<&str>,
        dest: Option<&str>,
    ) -> Result<Vec<ReleaseId>, EngineError> {
        let mut filter = ReleaseFilter {
            source: source.map(str::to_owned),
            dest: dest.map(str::to_owned),
            limit: ReleaseFilter::MAX_LIMIT,
            ..ReleaseFilter::default()
        };
        let mut ids = Vec::new();
        loop {
            let page = self.store().list_releases(&filter).await?;
            ids.extend(
                page.releases
                    .iter()
                    .filter(|s| !s.release.status.is_read_only())
                    .map(|s| s.release.id.clone()),
            );
            match page.next_cursor {
                Some(cursor) => filter.cursor = Some(cursor),
                None => return Ok(ids),
            }
        }
    }

    /// Records a merged release pull request on every open release from its head into its base
    /// that holds the repo, and starts CI tracking for it (an excluded repo is recorded, not
    /// tracked). Returns how many releases changed.
    ///
    /// The merge does not touch the snapshot the sign-offs cover (the head commits), so it
    /// never resets them.
    pub async fn pull_request_merged(&self, merged: &MergedPull) -> Result<usize, EngineError> {
        let ids = self
            .open_releases(Some(&merged.head_branch), Some(&merged.base_branch))
            .await?;
        let pull = PullInfo {
            number: merged.number,
            url: merged.url.clone(),
            state: PrState::Merged,
            merge_commit_sha: Some(merged.merge_commit_sha.clone()),
        };
        let mut changed = 0;
        for id in ids {
            let mut recorded = false;
            let mut view: ReleaseView = self
                .mutate(&webhook_caller(), id.as_str(), |c| {
                    if c.release.status.is_read_only() {
                        return Ok(());
                    }
                    let Some(row) = c
                        .repos
                        .iter_mut()
                        .find(|r| r.change.repo_name == merged.repo_name)
                    else {
                        return Ok(());
                    };
                    if row.change.pull.as_ref() == Some(&pull) {
                        return Ok(());
                    }
                    row.change.pull = Some(pull.clone());
                    let op = RepoOp::Pull(row.id, Some(pull.clone()));
                    c.ops.push(op);
                    c.touch(EventKind::Repos);
                    recorded = true;
                    c.record(HistoryDetails::Refreshed {
                        changed: Vec::new(),
                        added: Vec::new(),
                        merged: vec![merged.repo_name.clone()],
                        via: Some(RefreshCause::Webhook),
                    });
                    Ok(())
                })
                .await?;
            let started = self.track_merged(&mut view).await?;
            if recorded || started > 0 {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// A push moved `branch` of `repo` to `after`: every open release from that branch that
    /// holds the repo, or could (the org's repo filter keeps it), re-reads that repo, unless it
    /// already holds `after` as the repo's head. Returns how many releases changed.
    async fn pushed(&self, repo: &str, branch: &str, after: &str) -> Result<usize, EngineError> {
        let Some(github) = self.github() else {
            return Ok(0);
        };
        let ids = self.open_releases(Some(branch), None).await?;
        let mut changed = 0;
        for id in ids {
            let view = self.release(id.as_str()).await?;
            match view.repos.iter().find(|r| r.change.repo_name == repo) {
                // Already up to date: a push GitHub reported twice, or seen by a refresh.
                Some(held) if held.change.head_sha == after => continue,
                Some(_) => {}
                None if !github.filter.keeps(repo) => continue,
                None => {}
            }
            if self.refresh_for_push(id, repo, after).await? {
                changed += 1;
            }
        }
        Ok(changed)
    }

    /// Re-reads `repo` of release `id` for a push; while one re-read of it runs, a later push
    /// makes that one go again instead of running beside it. Whether the release changed.
    async fn refresh_for_push(
        &self,
        id: ReleaseId,
        repo: &str,
        after: &str,
    ) -> Result<bool, EngineError> {
        let refreshes = &self.inner.push_refreshes;
        let key = (id, repo.to_owned());
        if !refreshes.enter(&key) {
            return Ok(false);
        }
        let mut running = Running {
            refreshes,
            key: key.clone(),
            finished: false,
        };
        let mut changed = false;
        let mut head = Some(after);
        loop {
            let caller = webhook_caller();
            match self
                .refresh_repo(&caller, key.0.as_str(), repo, head, RefreshCause::Push)
                .await
            {
                Ok(c) => changed |= c,
                // Deployed or cancelled meanwhile: nothing to refresh.
                Err(EngineError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            if !refreshes.again(&key) {
                running.finished = true;
                return Ok(changed);
            }
            // A later push moved the branch again: its head comes from the compare.
            head = None;
        }
    }
}
