//! What GitHub webhooks change, apart from run updates (those go to [`crate::ci::CiTracker`]):
//! a merged release pull request starts CI tracking at once, and a push to a release's source
//! branch refreshes that release, so new commits reset the sign-offs without anyone asking.
//!
//! The web edge verifies the signature and parses the payload; these functions only see facts.

use crate::events::EventKind;
use crate::releases::RepoOp;
use crate::{Caller, Engine, EngineError, ReleaseView};
use serde_json::json;
use shipyard_core::change::{PrState, PullInfo};
use shipyard_core::history::HistoryAction;
use shipyard_core::{Actor, ReleaseId};
use shipyard_store::ReleaseFilter;

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

impl Engine {
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
                    c.record(
                        HistoryAction::Refreshed,
                        json!({"changed": [], "added": [], "merged": [merged.repo_name], "via": "webhook"}),
                    );
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

    /// Open releases whose source branch is `branch`: a push there means their snapshot may be
    /// stale.
    pub async fn releases_from(&self, branch: &str) -> Result<Vec<ReleaseId>, EngineError> {
        self.open_releases(Some(branch), None).await
    }
}
