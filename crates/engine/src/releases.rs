//! Release use cases. Each mutation runs in one database transaction that locks the release row,
//! applies a rule from `shipyard-core`, writes the rows and the history together, and only then
//! announces a live event.

use crate::events::EventKind;
use crate::gather::Gathered;
use crate::{Caller, Engine, EngineError};
use futures::future::join_all;
use shipyard_core::change::{PrState, PullInfo, RepoChange};
use shipyard_core::ci::CiSummary;
use shipyard_core::history::{HistoryDetails, RefreshCause};
use shipyard_core::order::{
    DependencyError, DeployOrder, OrderNode, check_dependencies, deploy_order,
};
use shipyard_core::refresh::{StoredRepo, plan_refresh};
use shipyard_core::release::{
    Approval, SignOffOutcome, SignOffs, check_status_change, fingerprint,
};
use shipyard_core::{BranchName, ReleaseId, ReleaseStatus, SignOffKind};
use shipyard_store::{
    CiStatusRecord, NewHistory, NewNotification, ReleaseFilter, ReleasePage, ReleaseRecord,
    RepoRecord, StoreError,
};
use std::collections::{BTreeMap, BTreeSet};

/// Most characters of notes or breaking-change text.
pub const MAX_TEXT_CHARS: usize = 64 * 1024;
pub use shipyard_core::order::MAX_DEPENDENCIES;

/// A request to create a release.
#[derive(Debug, Clone, Default)]
pub struct NewRelease {
    /// Branch the changes come from.
    pub source_branch: String,
    /// Branch they go to.
    pub dest_branch: String,
    /// Mattermost channel to keep informed.
    pub channel_id: Option<String>,
    /// The chat post that asked for the release: the summary is posted in its thread.
    pub chat_root_id: Option<String>,
}

/// Edits of a release's own fields.
#[derive(Debug, Clone, Default)]
pub struct ReleasePatch {
    /// New notes (Markdown).
    pub notes: Option<String>,
    /// New breaking-change text (Markdown).
    pub breaking_changes: Option<String>,
    /// `deployed` or `cancelled`.
    pub status: Option<String>,
}

/// Edits of one release repo.
#[derive(Debug, Clone, Default)]
pub struct RepoPatch {
    /// Take the repo out of the release, or put it back.
    pub excluded: Option<bool>,
    /// Repos of the same release that must deploy first.
    pub depends_on: Option<Vec<String>>,
}

/// A release with its repos and deploy order, as every reader wants it.
#[derive(Debug, Clone)]
pub struct ReleaseView {
    /// The release row.
    pub release: ReleaseRecord,
    /// Its repos, by name.
    pub repos: Vec<RepoRecord>,
    /// Deploy order of the included repos.
    pub deploy_order: DeployOrder,
    /// The GitHub organisation.
    pub org: String,
    /// CI tracking rows of its repos (tracked repos only; excluded ones keep theirs).
    pub ci: Vec<CiStatusRecord>,
    /// Deployment tracking rows, when `argocd` is configured.
    pub deployment: Option<crate::deploy::DeploymentView>,
}

impl ReleaseView {
    /// CI counts over the included repos that are tracked.
    pub fn ci_summary(&self) -> CiSummary {
        CiSummary::of(
            self.ci
                .iter()
                .filter(|c| self.repos.iter().any(|r| r.id == c.repo_id && !r.excluded))
                .map(|c| c.status),
        )
    }

    /// The tracking row of the repo row `repo_id`, if it is tracked.
    pub fn ci_of(&self, repo_id: i64) -> Option<&CiStatusRecord> {
        self.ci.iter().find(|c| c.repo_id == repo_id)
    }
}

/// A created release and what the gathering found.
#[derive(Debug, Clone)]
pub struct Created {
    /// The release.
    pub view: ReleaseView,
    /// Counts of skipped repos, by reason.
    pub gathered: Gathered,
}

/// One write to a repo row, collected while the rules run and applied afterwards.
pub(crate) enum RepoOp {
    Excluded(i64, bool),
    DependsOn(i64, Vec<String>),
    Update(RepoChange),
    Insert(RepoChange),
    Pull(i64, Option<PullInfo>),
}

/// A mutation in progress: the locked release, its repos, and what to write.
pub(crate) struct Change<'a> {
    caller: &'a Caller,
    /// `server.base_url`, for links in notifications.
    base_url: &'a str,
    now: i64,
    pub(crate) release: ReleaseRecord,
    pub(crate) repos: Vec<RepoRecord>,
    pub(crate) ops: Vec<RepoOp>,
    history: Vec<NewHistory>,
    /// Chat notifications owed because of this change, written to the outbox with it.
    notifications: Vec<NewNotification>,
    events: BTreeSet<EventKind>,
    release_dirty: bool,
}

impl Change<'_> {
    pub(crate) fn record(&mut self, details: HistoryDetails) {
        self.history.push(NewHistory {
            actor: self.caller.actor.clone(),
            details,
            created_at: self.now,
        });
        self.events.insert(EventKind::History);
    }

    pub(crate) fn touch(&mut self, kind: EventKind) {
        self.events.insert(kind);
        if kind == EventKind::Updated || kind == EventKind::Approvals {
            self.release_dirty = true;
        }
    }

    fn approval(&self) -> Approval {
        Approval {
            status: self.release.status,
            sign_offs: self.release.sign_offs.clone(),
        }
    }

    fn set_approval(&mut self, a: Approval) {
        let before = self.release.status;
        self.release.status = a.status;
        self.release.sign_offs = a.sign_offs;
        self.touch(EventKind::Approvals);
        if before != a.status {
            if a.status == ReleaseStatus::Approved {
                self.release.approval_cycle += 1;
                self.notify_ready();
            }
            self.record(HistoryDetails::StatusChanged {
                from: before,
                to: a.status,
            });
            self.touch(EventKind::Updated);
        }
    }

    /// "Release Ready to Deploy", once per approval cycle, for a release started from chat.
    fn notify_ready(&mut self) {
        let included = self.repos.iter().filter(|x| !x.excluded).count();
        self.notifications.extend(crate::chat::ready_notification(
            &self.release,
            included,
            self.base_url,
            self.now,
        ));
    }

    /// "Release Deployed", once, for a release started from chat.
    pub(crate) fn notify_deployed(&mut self) {
        let included = self.repos.iter().filter(|x| !x.excluded).count();
        self.notifications
            .extend(crate::chat::deployed_notification(
                &self.release,
                included,
                self.base_url,
                self.now,
            ));
    }

    fn read_only_guard(&self) -> Result<(), EngineError> {
        if self.release.status.is_read_only() {
            return Err(shipyard_core::release::RuleError::ReadOnly(self.release.status).into());
        }
        Ok(())
    }

    /// Recomputes the fingerprint; when the snapshot moved, both sign-offs go.
    fn reconcile_snapshot(&mut self, reason: &str, repos: &[String]) -> Result<(), EngineError> {
        let fp = fingerprint(
            self.repos
                .iter()
                .filter(|r| !r.excluded)
                .map(|r| (r.change.repo_name.as_str(), r.change.head_sha.as_str())),
        );
        if fp == self.release.content_fingerprint {
            return Ok(());
        }
        self.release.content_fingerprint = fp;
        self.release_dirty = true;
        let mut approval = self.approval();
        let dropped = approval.reset()?;
        if !dropped.is_empty() {
            self.record(HistoryDetails::ApprovalsReset {
                reason: reason.to_owned(),
                repos: repos.to_vec(),
                sign_offs: dropped.iter().map(|k| k.as_str().to_owned()).collect(),
            });
            self.set_approval(approval);
        }
        Ok(())
    }
}

pub(crate) fn parse_id(id: &str) -> Result<ReleaseId, EngineError> {
    ReleaseId::parse(id).ok_or_else(|| {
        EngineError::NotFound(format!(
            "release `{}`",
            id.chars().take(40).collect::<String>()
        ))
    })
}

fn check_text(field: &'static str, text: &str) -> Result<(), EngineError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(EngineError::Invalid {
            field,
            message: format!("is {chars} characters long; at most {MAX_TEXT_CHARS} are allowed"),
        });
    }
    Ok(())
}

impl Engine {
    /// Compares the two branches across the org and stores the repos that change.
    pub async fn create_release(
        &self,
        caller: &Caller,
        new: NewRelease,
    ) -> Result<Created, EngineError> {
        let source = BranchName::parse(&new.source_branch).map_err(|e| EngineError::Invalid {
            field: "source_branch",
            message: e.to_string(),
        })?;
        let dest = BranchName::parse(&new.dest_branch).map_err(|e| EngineError::Invalid {
            field: "dest_branch",
            message: e.to_string(),
        })?;
        if source == dest {
            // Well-formed, and a comparison of a branch with itself has nothing ahead.
            return Err(EngineError::UpstreamRejected(format!(
                "nothing to release: `{source}` is both the source and the destination"
            )));
        }
        if let Some(ch) = &new.channel_id
            && (ch.is_empty()
                || ch.len() > 64
                || !ch
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            return Err(EngineError::Invalid {
                field: "channel_id",
                message: "must be a Mattermost channel id (letters and digits)".into(),
            });
        }
        let github = self.github_or_unavailable()?;
        let gathered = github.gather(source.as_str(), dest.as_str()).await?;
        if gathered.with_source == 0 {
            return Err(EngineError::UpstreamRejected(format!(
                "branch `{source}` does not exist in any repository of {}",
                github.org
            )));
        }
        if gathered.with_dest == 0 {
            return Err(EngineError::UpstreamRejected(format!(
                "branch `{dest}` does not exist in any repository of {}",
                github.org
            )));
        }
        if gathered.changed.is_empty() {
            return Err(EngineError::UpstreamRejected(format!(
                "nothing to release: no repository of {} has commits in `{source}` that `{dest}` lacks",
                github.org
            )));
        }

        let now = self.now();
        let id = ReleaseId::from_random(rand::random());
        let release = ReleaseRecord {
            id: id.clone(),
            org: github.org.clone(),
            source_branch: source,
            dest_branch: dest,
            status: ReleaseStatus::Pending,
            notes: String::new(),
            breaking_changes: String::new(),
            created_by: caller.actor.clone(),
            created_at: now,
            last_refreshed_at: now,
            content_fingerprint: fingerprint(
                gathered
                    .changed
                    .iter()
                    .map(|c| (c.repo_name.as_str(), c.head_sha.as_str())),
            ),
            sign_offs: SignOffs::default(),
            channel_id: new.channel_id,
            chat_post_id: None,
            approval_cycle: 0,
            version: 0,
        };
        let skipped: BTreeMap<String, u64> = gathered
            .skipped
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), *v as u64))
            .collect();
        let history = NewHistory {
            actor: caller.actor.clone(),
            details: HistoryDetails::Created {
                repos: gathered.changed.len() as u64,
                commits: gathered.changed.iter().map(|c| c.commit_count).sum::<u64>(),
                scanned: gathered.scanned as u64,
                skipped,
            },
            created_at: now,
        };
        let summary = crate::chat::summary_notification(
            &release,
            gathered.changed.len(),
            gathered.changed.iter().map(|c| c.commit_count).sum(),
            new.chat_root_id.filter(|r| !r.is_empty()),
            &self.inner.settings.base_url,
            self.deploy_options().map(|d| d.deploy_environment.as_str()),
        );
        self.store()
            .insert_release_notifying(&release, &gathered.changed, &[history], summary.as_slice())
            .await?;
        tracing::info!(release = %id, source = %release.source_branch, dest = %release.dest_branch, repos = gathered.changed.len(), "release created");
        self.announce(&id, &[EventKind::Updated], now).await;
        let mut view = self.release(id.as_str()).await?;
        self.track_merged(&mut view).await?;
        Ok(Created { view, gathered })
    }

    /// One release with its repos and deploy order.
    pub async fn release(&self, id: &str) -> Result<ReleaseView, EngineError> {
        let id = parse_id(id)?;
        let release = self
            .store()
            .release(&id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("release `{id}`")))?;
        let repos = self.store().repos(&id).await?;
        self.view(release, repos).await
    }

    async fn view(
        &self,
        release: ReleaseRecord,
        repos: Vec<RepoRecord>,
    ) -> Result<ReleaseView, EngineError> {
        let ci = self.store().ci_statuses(&release.id).await?;
        let nodes: Vec<OrderNode<'_>> = repos
            .iter()
            .map(|r| OrderNode {
                name: &r.change.repo_name,
                excluded: r.excluded,
                depends_on: &r.depends_on,
            })
            .collect();
        let deploy_order = deploy_order(&nodes);
        let org = release.org.clone();
        let deployment = self.deployment_view(&release.id).await?;
        Ok(ReleaseView {
            release,
            repos,
            deploy_order,
            org,
            ci,
            deployment,
        })
    }

    /// The pending and approved releases (the newest 200 of each): what a subscriber that
    /// may have missed changes brings up to date. A failed listing is logged and gives fewer.
    pub async fn open_release_ids(&self) -> Vec<ReleaseId> {
        let mut out = Vec::new();
        for status in [ReleaseStatus::Pending, ReleaseStatus::Approved] {
            let filter = ReleaseFilter {
                status: Some(status),
                limit: ReleaseFilter::MAX_LIMIT,
                ..ReleaseFilter::default()
            };
            match self.list_releases(&filter).await {
                Ok(page) => out.extend(page.releases.into_iter().map(|r| r.release.id)),
                Err(e) => {
                    tracing::warn!(error = %e, "could not list the open releases; they catch up with their next change");
                }
            }
        }
        out
    }

    /// Releases, newest first.
    pub async fn list_releases(&self, filter: &ReleaseFilter) -> Result<ReleasePage, EngineError> {
        self.store()
            .list_releases(filter)
            .await
            .map_err(|e| match e {
                StoreError::InvalidCursor => EngineError::Invalid {
                    field: "cursor",
                    message: "is not a cursor this server issued".into(),
                },
                other => other.into(),
            })
    }

    /// The history of a release, oldest first.
    pub async fn history(
        &self,
        id: &str,
    ) -> Result<Vec<shipyard_store::HistoryRecord>, EngineError> {
        let id = parse_id(id)?;
        if self.store().release(&id).await?.is_none() {
            return Err(EngineError::NotFound(format!("release `{id}`")));
        }
        Ok(self.store().history(&id).await?)
    }

    /// Runs `rules` on the locked release and writes what they decided, all or nothing.
    pub(crate) async fn mutate<F>(
        &self,
        caller: &Caller,
        id: &str,
        rules: F,
    ) -> Result<ReleaseView, EngineError>
    where
        F: FnOnce(&mut Change<'_>) -> Result<(), EngineError>,
    {
        let id = parse_id(id)?;
        let mut tx = self.store().begin().await?;
        let release = tx
            .lock_release(&id)
            .await?
            .ok_or_else(|| EngineError::NotFound(format!("release `{id}`")))?;
        let repos = tx.repos(&id).await?;
        let mut change = Change {
            caller,
            base_url: &self.inner.settings.base_url,
            now: self.now(),
            release,
            repos,
            ops: Vec::new(),
            history: Vec::new(),
            notifications: Vec::new(),
            events: BTreeSet::new(),
            release_dirty: false,
        };
        rules(&mut change)?;
        if change.history.is_empty() && change.ops.is_empty() && !change.release_dirty {
            drop(tx);
            return self.view(change.release, change.repos).await;
        }
        for op in &change.ops {
            match op {
                RepoOp::Excluded(repo_id, excluded) => {
                    tx.set_repo_excluded(*repo_id, *excluded).await?
                }
                RepoOp::DependsOn(repo_id, deps) => tx.set_repo_depends_on(*repo_id, deps).await?,
                RepoOp::Update(c) => tx.update_repo_change(&id, c).await?,
                RepoOp::Insert(c) => {
                    tx.insert_repo(&id, c).await?;
                }
                RepoOp::Pull(repo_id, pull) => tx.update_repo_pull(*repo_id, pull.as_ref()).await?,
            }
        }
        let version = tx.save_release(&change.release).await?;
        if change.release.status == ReleaseStatus::Cancelled {
            // A cancelled release is not followed in Argo CD any more.
            tx.park_release_deploy_checks(&id).await?;
        }
        for h in &change.history {
            tx.append_history(&id, h).await?;
        }
        for n in &change.notifications {
            tx.enqueue_notification(n).await?;
        }
        let repos = tx.repos(&id).await?;
        let mut release = change.release;
        release.version = version;
        let kinds: Vec<EventKind> = change.events.into_iter().collect();
        self.commit_announcing(tx, &id, &kinds, change.now).await?;
        self.view(release, repos).await
    }

    /// Gives the `kind` sign-off to the current snapshot.
    pub async fn approve(
        &self,
        caller: &Caller,
        id: &str,
        kind: SignOffKind,
    ) -> Result<ReleaseView, EngineError> {
        let allow_same_user = self.inner.settings.allow_same_user;
        let view = self
            .mutate(caller, id, |c| {
                let mut approval = c.approval();
                let fp = c.release.content_fingerprint.clone();
                let outcome = approval.approve(
                    kind,
                    &c.caller.actor,
                    &c.caller.roles,
                    &fp,
                    c.now,
                    allow_same_user,
                )?;
                if outcome != SignOffOutcome::Unchanged {
                    c.record(HistoryDetails::approved(kind, fp));
                    c.set_approval(approval);
                }
                Ok(())
            })
            .await?;
        // Signed off after Argo CD already runs every repo in the deploy environment: it is
        // deployed now (nothing else would tell, the rows are parked).
        if view.release.status == ReleaseStatus::Approved
            && self.deploy_if_complete(&view.release.id).await?
        {
            return self.release(id).await;
        }
        Ok(view)
    }

    /// Withdraws the `kind` sign-off.
    pub async fn revoke(
        &self,
        caller: &Caller,
        id: &str,
        kind: SignOffKind,
    ) -> Result<ReleaseView, EngineError> {
        self.mutate(caller, id, |c| {
            let mut approval = c.approval();
            let previous = approval.sign_offs.get(kind).map(|s| s.by.name.clone());
            if approval.revoke(kind, &c.caller.roles)? != SignOffOutcome::Unchanged {
                c.record(HistoryDetails::revoked(kind, previous));
                c.set_approval(approval);
            }
            Ok(())
        })
        .await
    }

    /// Edits notes, breaking-change text and status.
    pub async fn update_release(
        &self,
        caller: &Caller,
        id: &str,
        patch: ReleasePatch,
    ) -> Result<ReleaseView, EngineError> {
        if let Some(n) = &patch.notes {
            check_text("notes", n)?;
        }
        if let Some(b) = &patch.breaking_changes {
            check_text("breaking_changes", b)?;
        }
        let target = match patch.status.as_deref() {
            None => None,
            Some(s @ ("deployed" | "cancelled")) => ReleaseStatus::parse(s),
            Some(other) => {
                return Err(EngineError::Invalid {
                    field: "status",
                    message: format!(
                        "`{}` is not allowed; use `deployed` or `cancelled`",
                        other.chars().take(40).collect::<String>()
                    ),
                });
            }
        };
        self.mutate(caller, id, |c| {
            let mut fields = Vec::new();
            if patch.notes.is_some() || patch.breaking_changes.is_some() {
                c.read_only_guard()?;
            }
            if let Some(n) = patch.notes.filter(|n| *n != c.release.notes) {
                c.release.notes = n;
                fields.push("notes");
            }
            if let Some(b) = patch
                .breaking_changes
                .filter(|b| *b != c.release.breaking_changes)
            {
                c.release.breaking_changes = b;
                fields.push("breaking_changes");
            }
            if !fields.is_empty() {
                c.record(HistoryDetails::NotesUpdated {
                    fields: fields.iter().map(|f| (*f).to_owned()).collect(),
                });
                c.touch(EventKind::Updated);
            }
            if let Some(to) = target {
                let from = c.release.status;
                if check_status_change(from, to, &c.caller.roles)? {
                    c.release.status = to;
                    if to == ReleaseStatus::Deployed {
                        c.notify_deployed();
                    }
                    c.record(HistoryDetails::StatusChanged { from, to });
                    c.touch(EventKind::Updated);
                }
            }
            Ok(())
        })
        .await
    }

    /// Excludes or includes a repo, or sets its dependencies.
    pub async fn update_repo(
        &self,
        caller: &Caller,
        id: &str,
        repo_id: i64,
        patch: RepoPatch,
    ) -> Result<ReleaseView, EngineError> {
        self.mutate(caller, id, |c| {
            c.read_only_guard()?;
            let Some(index) = c.repos.iter().position(|r| r.id == repo_id) else {
                return Err(EngineError::NotFound(format!(
                    "repo {repo_id} in release `{}`",
                    c.release.id
                )));
            };
            let name = c.repos[index].change.repo_name.clone();
            if let Some(deps) = patch.depends_on {
                let names: BTreeSet<&str> = c
                    .repos
                    .iter()
                    .map(|r| r.change.repo_name.as_str())
                    .collect();
                // Well-formed names that this release cannot take: a conflict with its repos.
                let clean = check_dependencies(&name, &names, &deps).map_err(|e| match e {
                    DependencyError::TooMany => EngineError::Invalid {
                        field: "depends_on",
                        message: e.to_string(),
                    },
                    _ => EngineError::Conflict(format!("depends_on: {e}")),
                })?;
                if clean != c.repos[index].depends_on {
                    c.repos[index].depends_on = clean.clone();
                    c.ops.push(RepoOp::DependsOn(repo_id, clean.clone()));
                    c.record(HistoryDetails::DependenciesUpdated {
                        repo: name.clone(),
                        depends_on: clean,
                    });
                    c.touch(EventKind::Repos);
                }
            }
            if let Some(excluded) = patch.excluded.filter(|e| *e != c.repos[index].excluded) {
                c.repos[index].excluded = excluded;
                c.ops.push(RepoOp::Excluded(repo_id, excluded));
                c.record(if excluded {
                    HistoryDetails::RepoExcluded { repo: name.clone() }
                } else {
                    HistoryDetails::RepoIncluded { repo: name.clone() }
                });
                c.touch(EventKind::Repos);
                let why = if excluded {
                    "a repository was excluded"
                } else {
                    "a repository was included again"
                };
                c.reconcile_snapshot(why, std::slice::from_ref(&name))?;
            }
            Ok(())
        })
        .await
    }

    /// The release `id`, refused when it is deployed or cancelled (before asking GitHub anything;
    /// the change itself checks again under its lock).
    async fn changeable_release(&self, id: &str) -> Result<ReleaseView, EngineError> {
        let current = self.release(id).await?;
        if current.release.status.is_read_only() {
            return Err(shipyard_core::release::RuleError::ReadOnly(current.release.status).into());
        }
        Ok(current)
    }

    /// Re-reads every repo from GitHub. New commits in included repos reset both sign-offs; a
    /// refresh that finds nothing new writes no history.
    pub async fn refresh(&self, caller: &Caller, id: &str) -> Result<ReleaseView, EngineError> {
        let current = self.changeable_release(id).await?;
        let github = self.github_or_unavailable()?;
        let (source, dest) = (
            current.release.source_branch.as_str(),
            current.release.dest_branch.as_str(),
        );
        let gathered = github.gather(source, dest).await?;
        let fresh_names: BTreeSet<&str> = gathered
            .changed
            .iter()
            .map(|c| c.repo_name.as_str())
            .collect();
        // Repos with nothing ahead any more: most likely their PR merged. Ask for it.
        let settled: Vec<&RepoRecord> = current
            .repos
            .iter()
            .filter(|r| !fresh_names.contains(r.change.repo_name.as_str()))
            .collect();
        let pulls: BTreeMap<String, Option<PullInfo>> =
            join_all(settled.iter().map(|r| async move {
                (
                    r.change.repo_name.clone(),
                    github.pull(&r.change.repo_name, source, dest).await,
                )
            }))
            .await
            .into_iter()
            .map(|(name, result)| result.map(|p| (name, p)))
            .collect::<Result<_, _>>()?;
        let fresh = Fresh {
            changes: gathered.changed,
            pulls,
            only: None,
            cause: None,
        };
        let (mut view, _) = self.apply_refresh(caller, id, fresh).await?;
        self.track_merged(&mut view).await?;
        Ok(view)
    }

    /// Re-reads one repo of the release (a push to its source branch), whose source head is
    /// `head_sha` when known: one compare and one pull-request lookup, whatever the org's size.
    /// Returns whether the release changed.
    pub(crate) async fn refresh_repo(
        &self,
        caller: &Caller,
        id: &str,
        repo: &str,
        head_sha: Option<&str>,
        cause: RefreshCause,
    ) -> Result<bool, EngineError> {
        let current = self.changeable_release(id).await?;
        let github = self.github_or_unavailable()?;
        let (change, pull) = github
            .inspect_one(
                repo,
                head_sha,
                current.release.source_branch.as_str(),
                current.release.dest_branch.as_str(),
            )
            .await?;
        let fresh = Fresh {
            changes: change.into_iter().collect(),
            pulls: [(repo.to_owned(), pull)].into(),
            only: Some(repo.to_owned()),
            cause: Some(cause),
        };
        let (mut view, changed) = self.apply_refresh(caller, id, fresh).await?;
        self.track_merged(&mut view).await?;
        Ok(changed)
    }

    /// Writes what a comparison with GitHub found; returns the release and whether it changed.
    async fn apply_refresh(
        &self,
        caller: &Caller,
        id: &str,
        fresh: Fresh,
    ) -> Result<(ReleaseView, bool), EngineError> {
        let mut changed = false;
        let view = self
            .mutate(caller, id, |c| {
                c.read_only_guard()?;
                let stored: Vec<StoredRepo> = c
                    .repos
                    .iter()
                    .filter(|r| fresh.only.as_ref().is_none_or(|n| *n == r.change.repo_name))
                    .map(|r| StoredRepo {
                        name: r.change.repo_name.clone(),
                        head_sha: r.change.head_sha.clone(),
                        excluded: r.excluded,
                    })
                    .collect();
                let plan = plan_refresh(&stored, fresh.changes);
                let mut merged_now = Vec::new();
                let mut moved = Vec::new();
                let mut rows_changed = false;
                for name in &plan.settled {
                    let Some(pull) = fresh.pulls.get(name) else {
                        continue;
                    };
                    let Some(row) = c.repos.iter_mut().find(|r| &r.change.repo_name == name) else {
                        continue;
                    };
                    if row.change.pull != *pull {
                        if pull.as_ref().is_some_and(|p| p.state == PrState::Merged) {
                            merged_now.push(name.clone());
                        }
                        row.change.pull = pull.clone();
                        c.ops.push(RepoOp::Pull(row.id, pull.clone()));
                        rows_changed = true;
                    }
                }
                let added: Vec<String> =
                    plan.additions.iter().map(|a| a.repo_name.clone()).collect();
                for update in plan.updates {
                    let Some(row) = c
                        .repos
                        .iter_mut()
                        .find(|r| r.change.repo_name == update.repo_name)
                    else {
                        continue;
                    };
                    if row.change == update {
                        continue;
                    }
                    if row.change.head_sha != update.head_sha {
                        moved.push(update.repo_name.clone());
                    }
                    row.change = update.clone();
                    c.ops.push(RepoOp::Update(update));
                    rows_changed = true;
                }
                for addition in plan.additions {
                    c.repos.push(RepoRecord {
                        id: 0,
                        release_id: c.release.id.clone(),
                        change: addition.clone(),
                        excluded: false,
                        depends_on: Vec::new(),
                    });
                    c.ops.push(RepoOp::Insert(addition));
                    rows_changed = true;
                }
                if fresh.only.is_none() {
                    // The whole org was compared: when that last happened is worth keeping.
                    c.release.last_refreshed_at = c.now;
                    c.touch(EventKind::Updated);
                }
                if rows_changed {
                    changed = true;
                    moved.sort();
                    c.touch(EventKind::Repos);
                    c.record(HistoryDetails::Refreshed {
                        changed: moved,
                        added,
                        merged: merged_now,
                        via: fresh.cause,
                    });
                }
                c.reconcile_snapshot("new commits since the sign-offs", &plan.changed)?;
                Ok(())
            })
            .await?;
        Ok((view, changed))
    }
}

/// What a comparison with GitHub found, for [`Engine::apply_refresh`].
struct Fresh {
    /// Repos with commits ahead, as GitHub says now.
    changes: Vec<RepoChange>,
    /// The pull request of each repo that may have nothing ahead any more.
    pulls: BTreeMap<String, Option<PullInfo>>,
    /// Only this repo was compared (a push); the others stay as they are.
    only: Option<String>,
    /// What set it off, when not a person.
    cause: Option<RefreshCause>,
}
