//! The dashboard of one commit on one pull request, kept so that no stage result is lost.
//!
//! GitHub cannot edit a comment conditionally, so the stage results are commit statuses (no
//! write to them is ever lost) and the comment is a view of them: each writer records its
//! status, renders the comment from every status plus the notes kept in the comment, writes it,
//! and reads the statuses again; a writer whose comment does not show them all writes again.
//! The last writer always ends with a read that sees every status, so the comment converges.
//! Writers that race to create the dashboard fold theirs into the oldest one.

use super::{Failure, now};
use shipyard_core::dashboard::{
    self, DashboardConfig, DashboardState, ObservedStatus, ParsedComment, StageUpdate,
};
use shipyard_github::{GitHub, IssueComment, NewCommitStatus, PullRequest};

/// Rounds of write and read-back before giving up (each round is one more writer seen).
const MAX_ROUNDS: usize = 20;

/// What an `init` or `update` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The dashboard comment.
    pub comment_id: u64,
    /// Whether this call posted it.
    pub created: bool,
    /// Whether anything was written.
    pub wrote: bool,
}

/// One repository's dashboards.
pub struct Board<'a> {
    gh: &'a GitHub,
    repo: &'a str,
    config: &'a DashboardConfig,
    run_link: Option<String>,
}

impl<'a> Board<'a> {
    /// A board for `repo` (`owner/name`).
    pub fn new(
        gh: &'a GitHub,
        repo: &'a str,
        config: &'a DashboardConfig,
        run_link: Option<String>,
    ) -> Self {
        Board {
            gh,
            repo,
            config,
            run_link,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &DashboardConfig {
        self.config
    }

    /// The GitHub client.
    pub fn github(&self) -> &GitHub {
        self.gh
    }

    /// The repository (`owner/name`).
    pub fn repo(&self) -> &str {
        self.repo
    }

    /// The pull request.
    pub async fn pull(&self, pr: u64) -> Result<PullRequest, Failure> {
        self.gh
            .pull_request(self.repo, pr)
            .await
            .map_err(|e| self.no_such_pr(pr, e))
    }

    /// A 404 for the pull request is bad input (a wrong `--pr`), not GitHub refusing.
    fn no_such_pr(&self, pr: u64, e: shipyard_github::GithubError) -> Failure {
        match e {
            shipyard_github::GithubError::Rejected { status: 404, .. } => Failure::Input(format!(
                "pull request #{pr} does not exist in {} (or the token cannot see it)",
                self.repo
            )),
            other => other.into(),
        }
    }

    /// This tool's dashboards for `sha` on `pr`, oldest first: comments by the configured
    /// author whose first line is the marker. Anyone else's are ignored, forged state or not.
    async fn own_dashboards(&self, pr: u64, sha: &str) -> Result<Vec<IssueComment>, Failure> {
        let mut own: Vec<IssueComment> = self
            .gh
            .issue_comments(self.repo, pr)
            .await
            .map_err(|e| self.no_such_pr(pr, e))?
            .into_iter()
            .filter(|c| {
                c.author.eq_ignore_ascii_case(&self.config.author)
                    && dashboard::is_dashboard_for(&c.body, sha)
            })
            .collect();
        own.sort_by_key(|c| c.id);
        Ok(own)
    }

    /// The commit's statuses, as the model reads them.
    pub(crate) async fn observed(&self, sha: &str) -> Result<Vec<ObservedStatus>, Failure> {
        Ok(self
            .gh
            .combined_status(self.repo, sha)
            .await?
            .into_iter()
            .map(|s| ObservedStatus {
                updated_at: unix(&s.updated_at),
                context: s.context,
                state: s.state,
                description: s.description,
                target_url: s.target_url,
            })
            .collect())
    }

    /// Creates the dashboard of `sha` unless there is one.
    pub async fn init(&self, pr: u64, sha: &str) -> Result<Outcome, Failure> {
        if let Some(existing) = self.own_dashboards(pr, sha).await?.first() {
            return Ok(Outcome {
                comment_id: existing.id,
                created: false,
                wrote: false,
            });
        }
        let statuses = self.observed(sha).await?;
        let mut state = DashboardState::new(sha, pr);
        state.apply_statuses(&statuses, &self.config.stages);
        let (posted, oldest) = self.post(pr, sha, &mut state).await?;
        if oldest.id != posted {
            // Another writer created it first: theirs is the dashboard.
            self.gh.delete_comment(self.repo, posted).await?;
            return Ok(Outcome {
                comment_id: oldest.id,
                created: false,
                wrote: true,
            });
        }
        Ok(Outcome {
            comment_id: posted,
            created: true,
            wrote: true,
        })
    }

    /// Sets one stage of the dashboard of `sha`, creating the dashboard if it is missing. An
    /// update that changes nothing writes nothing.
    pub async fn update(
        &self,
        pr: u64,
        sha: &str,
        update: StageUpdate,
    ) -> Result<Outcome, Failure> {
        super::check_stage(self.config, &update.stage)?;
        let stages = &self.config.stages;
        let context = dashboard::status_context(&update.stage);
        let own = self.own_dashboards(pr, sha).await?;
        let mut statuses = self.observed(sha).await?;
        if let Some(target) = own.first()
            && let ParsedComment::Dashboard { state: Ok(state) } =
                dashboard::parse_comment(&target.body, sha)
            && unchanged(&state, &update, &statuses)
        {
            return Ok(Outcome {
                comment_id: target.id,
                created: false,
                wrote: false,
            });
        }

        // The result first, where no write is lost.
        let started = (update.status == dashboard::StageStatus::Running).then_some(update.at);
        let (state_word, description) =
            dashboard::commit_status_for(update.status, started, update.note.as_deref());
        self.gh
            .create_status(
                self.repo,
                sha,
                &NewCommitStatus {
                    state: state_word,
                    context: &context,
                    description: &description,
                    target_url: update.link.as_deref(),
                },
            )
            .await?;
        statuses.retain(|s| !s.context.eq_ignore_ascii_case(&context));
        statuses.push(ObservedStatus {
            context: context.clone(),
            state: state_word.to_owned(),
            description: Some(description),
            target_url: update.link.clone(),
            updated_at: update.at,
        });

        let mut created = false;
        let mut pending = Some(update);
        let mut target = own.into_iter().next();
        let mut duplicate: Option<u64> = None;
        for _ in 0..MAX_ROUNDS {
            let shown = match target.take() {
                None => {
                    // The update first, so its history entry names who made it.
                    let mut state = DashboardState::new(sha, pr);
                    if let Some(u) = &pending {
                        state.apply(u);
                    }
                    state.apply_statuses(&statuses, stages);
                    let (posted, oldest) = self.post(pr, sha, &mut state).await?;
                    if oldest.id != posted {
                        // Someone else's is older: fold this update into it, then delete ours.
                        duplicate = Some(posted);
                        target = Some(oldest);
                        continue;
                    }
                    created = true;
                    pending = None;
                    target = Some(IssueComment {
                        id: posted,
                        body: String::new(),
                        author: self.config.author.clone(),
                        created_at: String::new(),
                    });
                    state
                }
                Some(comment) => {
                    let mut state = self.state_of(&comment, pr, sha);
                    let mut changed = pending.take().is_some_and(|u| state.apply(&u));
                    changed |= state.apply_statuses(&statuses, stages);
                    if changed {
                        state.revision += 1;
                        let body =
                            dashboard::render_fitting(&mut state, stages, self.run_link.as_deref());
                        self.gh.update_comment(self.repo, comment.id, &body).await?;
                    }
                    if let Some(id) = duplicate.take() {
                        self.gh.delete_comment(self.repo, id).await?;
                    }
                    target = Some(comment);
                    state
                }
            };
            let id = target.as_ref().map_or(0, |c| c.id);
            let fresh = self.observed(sha).await?;
            if shown.shows_all(&fresh, stages) {
                return Ok(Outcome {
                    comment_id: id,
                    created,
                    wrote: true,
                });
            }
            // Another writer's status arrived after this writer rendered; the comment may
            // have been written since by someone else too: start from what it says now.
            statuses = fresh;
            target = self.gh.issue_comment(self.repo, id).await?;
            if target.is_none() {
                // Gone (deleted by hand): find the dashboard again, or create it.
                target = self.own_dashboards(pr, sha).await?.into_iter().next();
            }
        }
        Err(Failure::Github(format!(
            "the dashboard of {} on #{pr} kept changing under {MAX_ROUNDS} writes; the stage \
             is recorded as a commit status and shows on the next update",
            dashboard::short_sha(sha)
        )))
    }

    /// Posts a new dashboard with `state` (revision 1), then lists again: returns the id
    /// posted and the oldest own dashboard (itself unless a racing writer posted first).
    async fn post(
        &self,
        pr: u64,
        sha: &str,
        state: &mut DashboardState,
    ) -> Result<(u64, IssueComment), Failure> {
        state.revision = state.revision.max(1);
        let body = dashboard::render_fitting(state, &self.config.stages, self.run_link.as_deref());
        let posted = self.gh.create_comment(self.repo, pr, &body).await?;
        let oldest = self
            .own_dashboards(pr, sha)
            .await?
            .into_iter()
            .next()
            .unwrap_or(posted.clone());
        Ok((posted.id, oldest))
    }

    /// The state kept in a dashboard comment, or a rebuilt one when it is missing or corrupt.
    fn state_of(&self, comment: &IssueComment, pr: u64, sha: &str) -> DashboardState {
        match dashboard::parse_comment(&comment.body, sha) {
            ParsedComment::Dashboard { state: Ok(state) } => state,
            ParsedComment::Dashboard {
                state: Err(problem),
            } => dashboard::rebuilt(sha, pr, &problem, now()),
            ParsedComment::NotADashboard => dashboard::rebuilt(
                sha,
                pr,
                &dashboard::StateProblem {
                    reason: "the comment no longer carries the dashboard marker".into(),
                },
                now(),
            ),
        }
    }
}

/// Whether `update` is already what the dashboard shows and what the commit status says.
fn unchanged(state: &DashboardState, update: &StageUpdate, statuses: &[ObservedStatus]) -> bool {
    let mut probe = state.clone();
    if probe.apply(update) {
        return false;
    }
    let context = dashboard::status_context(&update.stage);
    statuses.iter().any(|s| {
        s.context.eq_ignore_ascii_case(&context)
            && dashboard::status_from_commit(&s.state, s.description.as_deref())
                == Some(update.status)
            && s.target_url == update.link
    })
}

/// GitHub's RFC 3339 time as unix seconds (0 when unreadable: only ordering uses it).
pub(crate) fn unix(text: &str) -> i64 {
    humantime::parse_rfc3339_weak(text)
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
