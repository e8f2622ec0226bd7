//! The comment `shipyard serve` keeps on each pull request of a release (`github.pr_comments`):
//! its sign-offs, the CI run and chart version, deployment per environment and a link to the
//! release page, in the PR dashboard's table and state format.
//!
//! One comment per pull request: its first line is [`dashboard::RELEASE_MARKER`] and it is written by the
//! token's account. The updater runs on the leader only; a change to a release schedules its
//! comments for a write `debounce` later (a burst of changes costs one write per PR), and a
//! comment is written only when its text differs from what it says. After a restart the
//! comments are found again by listing the PR's comments.

use crate::{Engine, EngineError, EventKind, Notice, ReleaseView};
use shipyard_core::ReleaseId;
use shipyard_core::ci::CiStatus;
use shipyard_core::dashboard::{self, DashboardState, StageDef, StageState, StageStatus};
use shipyard_core::deploy::DeployState;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The leader lock of the updater.
const TASK: &str = "shipyard:pr-comments";

/// How the updater paces itself.
#[derive(Debug, Clone, Copy)]
pub struct PrCommentSettings {
    /// Wait after a change before writing (further changes ride along).
    pub debounce: Duration,
    /// Wait before trying a failed write again.
    pub retry: Duration,
    /// How often a follower asks for the lead, and the leader checks it still has it.
    pub lead_check: Duration,
}

impl Default for PrCommentSettings {
    fn default() -> Self {
        PrCommentSettings {
            debounce: Duration::from_secs(2),
            retry: Duration::from_secs(60),
            lead_check: Duration::from_secs(15),
        }
    }
}

/// What the comment on one release pull request should say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrCommentPlan {
    /// `owner/name`.
    pub repo: String,
    /// The pull request.
    pub pr: u64,
    /// The comment's Markdown.
    pub body: String,
}

/// What the updater knows about the comments it keeps.
#[derive(Default)]
pub struct PrCommentMemory {
    /// `(repo, pr)` → (comment id, body as last written or read).
    comments: Mutex<HashMap<(String, u64), (u64, String)>>,
    /// The token's account, once asked; `None` inside when GitHub would not say.
    login: tokio::sync::OnceCell<Option<String>>,
}

impl PrCommentMemory {
    fn known(&self, repo: &str, pr: u64) -> Option<(u64, String)> {
        self.comments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(&(repo.to_owned(), pr))
            .cloned()
    }

    fn remember(&self, repo: &str, pr: u64, id: u64, body: String) {
        self.comments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert((repo.to_owned(), pr), (id, body));
    }

    fn forget(&self, repo: &str, pr: u64) {
        self.comments
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .remove(&(repo.to_owned(), pr));
    }
}

/// The stages of a release comment, for the environments in order.
fn stages(environments: &[String]) -> Vec<StageDef> {
    let mut out = vec![
        StageDef::new("dev-signoff", "Dev sign-off"),
        StageDef::new("qa-signoff", "QA sign-off"),
        StageDef::new("ci", "CI"),
    ];
    out.extend(
        environments
            .iter()
            .map(|env| StageDef::new(&format!("deploy-{env}"), &format!("Deploy: {env}"))),
    );
    out
}

fn stage(status: StageStatus, link: Option<String>, note: Option<String>) -> StageState {
    StageState {
        status,
        link,
        note,
        ..StageState::default()
    }
}

impl Engine {
    /// The comment each pull request of `view` should carry (included repos with a PR).
    pub fn pr_comment_plans(&self, view: &ReleaseView) -> Vec<PrCommentPlan> {
        let release = &view.release;
        let base = self.inner.settings.base_url.trim_end_matches('/');
        let link = format!("{base}/releases/{}", release.id);
        let environments = view
            .deployment
            .as_ref()
            .map(|d| d.environments.clone())
            .unwrap_or_default();
        let defs = stages(&environments);
        let title = format!(
            "Release {} → {} · {}",
            release.source_branch,
            release.dest_branch,
            release.status.as_str()
        );
        let sign_off = |s: &Option<shipyard_core::release::SignOff>| match s {
            Some(s) => stage(
                StageStatus::Success,
                None,
                Some(format!("by {}", s.by.name)),
            ),
            None => stage(StageStatus::Pending, None, None),
        };
        view.repos
            .iter()
            .filter(|r| !r.excluded)
            .filter_map(|repo| {
                let pull = repo.change.pull.as_ref()?;
                let mut state = DashboardState::new(&repo.change.head_sha, pull.number);
                state
                    .stages
                    .insert("dev-signoff".into(), sign_off(&release.sign_offs.dev));
                state
                    .stages
                    .insert("qa-signoff".into(), sign_off(&release.sign_offs.qa));
                if let Some(ci) = view.ci.iter().find(|c| c.repo_id == repo.id) {
                    let status = match ci.status {
                        CiStatus::Pending | CiStatus::Queued => StageStatus::Pending,
                        CiStatus::InProgress => StageStatus::Running,
                        CiStatus::Success => StageStatus::Success,
                        _ => StageStatus::Failure,
                    };
                    let mut s = stage(
                        status,
                        ci.run_url.clone(),
                        ci.chart_version.as_ref().map(|v| format!("chart {v}")),
                    );
                    s.started_at = ci.started_at;
                    s.finished_at = ci.completed_at;
                    state.stages.insert("ci".into(), s);
                }
                if let Some(deployment) = &view.deployment {
                    for env in &deployment.environments {
                        let Some(row) = deployment.of(repo.id, env) else {
                            continue;
                        };
                        let status = match row.state() {
                            DeployState::Deployed => StageStatus::Success,
                            DeployState::RollingOut => StageStatus::Running,
                            DeployState::Failed => StageStatus::Failure,
                            _ => StageStatus::Pending,
                        };
                        let note = match (&row.current_version, &row.expected_version) {
                            (Some(c), Some(e)) if c != e => Some(format!("runs {c}, expects {e}")),
                            (Some(c), _) => Some(format!("runs {c}")),
                            (None, Some(e)) => Some(format!("expects {e}")),
                            (None, None) => None,
                        };
                        state
                            .stages
                            .insert(format!("deploy-{env}"), stage(status, None, note));
                    }
                }
                Some(PrCommentPlan {
                    repo: format!("{}/{}", view.org, repo.change.repo_name),
                    pr: pull.number,
                    body: dashboard::render_release(&state, &defs, &title, &link),
                })
            })
            .collect()
    }

    /// Writes the comments of release `id` whose text changed; returns how many were written.
    pub async fn sync_pr_comments(
        &self,
        id: &ReleaseId,
        memory: &PrCommentMemory,
    ) -> Result<usize, EngineError> {
        let github = self.github_or_unavailable()?;
        let gh = &github.client;
        let view = self.release(id.as_str()).await?;
        let login = memory
            .login
            .get_or_try_init(|| gh.authenticated_login())
            .await?
            .clone();
        let mut written = 0;
        for plan in self.pr_comment_plans(&view) {
            let existing = match memory.known(&plan.repo, plan.pr) {
                Some(known) => Some(known),
                None => gh
                    .issue_comments(&plan.repo, plan.pr)
                    .await?
                    .into_iter()
                    .filter(|c| dashboard::is_release_comment(&c.body))
                    .filter(|c| {
                        login
                            .as_ref()
                            .is_none_or(|l| c.author.eq_ignore_ascii_case(l))
                    })
                    .min_by_key(|c| c.id)
                    .map(|c| (c.id, c.body)),
            };
            match existing {
                Some((comment_id, body)) if body == plan.body => {
                    memory.remember(&plan.repo, plan.pr, comment_id, body);
                }
                Some((comment_id, _)) => {
                    match gh.update_comment(&plan.repo, comment_id, &plan.body).await {
                        Ok(_) => {
                            memory.remember(&plan.repo, plan.pr, comment_id, plan.body);
                            written += 1;
                        }
                        // Deleted by hand: post it again next round.
                        Err(shipyard_github::GithubError::Rejected { status: 404, .. }) => {
                            memory.forget(&plan.repo, plan.pr);
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                None => {
                    let posted = gh.create_comment(&plan.repo, plan.pr, &plan.body).await?;
                    memory.remember(&plan.repo, plan.pr, posted.id, plan.body);
                    written += 1;
                }
            }
        }
        metrics::counter!("shipyard_pr_comment_writes_total").increment(written as u64);
        Ok(written)
    }
}

/// Keeps the release PR comments up to date while this process holds the lead; returns when
/// `stop` is cancelled.
pub async fn run_pr_comments(engine: Engine, settings: PrCommentSettings, stop: CancellationToken) {
    crate::lead::run_while_leading(
        &engine,
        TASK,
        "the release pull-request comments",
        settings.lead_check,
        stop,
        |_| {},
        |work_stop| update_loop(engine.clone(), settings, work_stop),
    )
    .await;
}

async fn update_loop(engine: Engine, settings: PrCommentSettings, stop: CancellationToken) {
    let memory = PrCommentMemory::default();
    let mut events = engine.events().subscribe();
    let mut due: HashMap<ReleaseId, Instant> = HashMap::new();
    // Changes made before this process took the lead announced nothing here: every open
    // release is brought up to date once.
    for id in engine.open_release_ids().await {
        due.insert(id, Instant::now());
    }
    loop {
        let next = due.values().min().copied();
        tokio::select! {
            () = stop.cancelled() => return,
            event = events.recv() => match event {
                Ok(Notice::Release(e)) if e.kind != EventKind::History => {
                    due.entry(e.release_id).or_insert_with(|| Instant::now() + settings.debounce);
                }
                Ok(Notice::Release(_)) => {}
                Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => {
                    // Changes may have been missed: every open release is brought up to date.
                    for id in engine.open_release_ids().await {
                        due.entry(id).or_insert_with(|| Instant::now() + settings.debounce);
                    }
                }
                Err(RecvError::Closed) => return,
            },
            () = async {
                match next {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            } => {
                let now = Instant::now();
                let ready: Vec<ReleaseId> = due.iter().filter(|(_, at)| **at <= now).map(|(id, _)| id.clone()).collect();
                for id in ready {
                    due.remove(&id);
                    if let Err(e) = engine.sync_pr_comments(&id, &memory).await {
                        tracing::warn!(release = %id, error = %e, "the release pull-request comments could not be written; trying again later");
                        due.insert(id, Instant::now() + settings.retry);
                    }
                }
            }
        }
    }
}
