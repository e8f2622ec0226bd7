//! What chat is owed: the texts of a release's summary post and of its notifications, which the
//! engine writes to the outbox in the transaction of the change that causes them, and recording
//! that a notification was posted (its `notified` history entry, and for the summary the post's
//! id on the release).
//!
//! The engine does not talk to Mattermost: a sender (the chat bot) posts what the outbox holds
//! and reports back through [`Engine::notification_sent`].

use crate::events::EventKind;
use crate::{Engine, EngineError, ReleaseView};
use shipyard_core::Actor;
use shipyard_core::ci::CiSummary;
use shipyard_core::deploy::EnvironmentSummary;
use shipyard_core::history::HistoryDetails;
use shipyard_core::release::SignOff;
use shipyard_store::{NewHistory, NewNotification, NotificationRecord, ReleaseRecord};
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

/// Outbox kind of the summary post; once posted, its id is the release's `chat_post_id`.
pub const SUMMARY: &str = "summary";
/// Outbox kind of "Release Ready to Deploy".
pub const READY: &str = "ready";
/// Outbox kind of a failed build.
pub const CI_FAILED: &str = "ci_failed";
/// Outbox kind of "Release Deployed".
pub const DEPLOYED: &str = "deployed";

/// What the chat bot of this process has done so far, for `/readyz` and for anyone who must
/// know that the bot went past a point (tests wait on these instead of sleeping). The bot
/// writes it; the engine only keeps it.
#[derive(Debug, Default)]
pub struct ChatProgress {
    /// 0: no bot; 1: waiting for the lead; 2: leading.
    role: AtomicU8,
    connected: AtomicBool,
    posts_seen: AtomicU64,
    catch_ups: AtomicU64,
    sender_rounds: AtomicU64,
    summary_rounds: AtomicU64,
}

/// A snapshot of [`ChatProgress`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChatStatus {
    /// `leader` (this process runs the bot) or `follower` (another replica does).
    pub role: &'static str,
    /// Whether the bot holds a WebSocket to Mattermost.
    pub connected: bool,
    /// Posts the bot has looked at (from the socket or read back), whether or not they were
    /// commands to it.
    pub posts_seen: u64,
    /// Read-backs of the channels after a reconnect, finished.
    pub catch_ups: u64,
    /// Rounds of the outbox sender, finished (each claims what is due and sends it).
    pub sender_rounds: u64,
    /// Rounds of the summary updater, finished (each edits the summaries that were due).
    pub summary_rounds: u64,
}

impl ChatProgress {
    /// The bot of this process waits for the lead (`false`) or leads (`true`).
    pub fn set_leading(&self, leading: bool) {
        self.role
            .store(if leading { 2 } else { 1 }, Ordering::SeqCst);
    }

    /// The bot holds a WebSocket, or lost it.
    pub fn set_connected(&self, connected: bool) {
        self.connected.store(connected, Ordering::SeqCst);
    }

    /// The bot looked at one more post.
    pub fn post_seen(&self) {
        self.posts_seen.fetch_add(1, Ordering::SeqCst);
    }

    /// The bot finished reading back the channels after a reconnect.
    pub fn caught_up(&self) {
        self.catch_ups.fetch_add(1, Ordering::SeqCst);
    }

    /// The outbox sender finished a round.
    pub fn sender_round(&self) {
        self.sender_rounds.fetch_add(1, Ordering::SeqCst);
    }

    /// The summary updater finished a round.
    pub fn summary_round(&self) {
        self.summary_rounds.fetch_add(1, Ordering::SeqCst);
    }

    /// Where the bot stands; `None` when this process runs no bot.
    pub fn status(&self) -> Option<ChatStatus> {
        let role = match self.role.load(Ordering::SeqCst) {
            0 => return None,
            1 => "follower",
            _ => "leader",
        };
        Some(ChatStatus {
            role,
            connected: self.connected.load(Ordering::SeqCst),
            posts_seen: self.posts_seen.load(Ordering::SeqCst),
            catch_ups: self.catch_ups.load(Ordering::SeqCst),
            sender_rounds: self.sender_rounds.load(Ordering::SeqCst),
            summary_rounds: self.summary_rounds.load(Ordering::SeqCst),
        })
    }
}

/// Who posts to chat, as history records it.
pub fn bot_actor() -> Actor {
    Actor {
        subject: "shipyard:mattermost-bot".into(),
        name: "Mattermost bot".into(),
    }
}

/// How a person is named in chat: `@username` for someone who came from Mattermost, else
/// their display name.
pub fn chat_name(actor: &Actor) -> String {
    match actor.subject.strip_prefix("mattermost:") {
        Some(username) => format!("@{username}"),
        None => actor.name.clone(),
    }
}

/// The link to a release's page, or nothing when `server.base_url` is unset.
pub fn release_link(base_url: &str, release: &ReleaseRecord, label: &str) -> Option<String> {
    (!base_url.is_empty()).then(|| {
        format!(
            "[{label}]({}/releases/{})",
            base_url.trim_end_matches('/'),
            release.id
        )
    })
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `Dev ✅ @dev-lead · QA ⬜`.
pub fn sign_offs_line(release: &ReleaseRecord) -> String {
    let one = |label: &str, s: &Option<SignOff>| match s {
        Some(s) => format!("{label} ✅ {}", chat_name(&s.by)),
        None => format!("{label} ⬜"),
    };
    format!(
        "{} · {}",
        one("Dev", &release.sign_offs.dev),
        one("QA", &release.sign_offs.qa)
    )
}

/// `3 ✓ · 1 ⏳ · 1 ✗`, or `no builds yet`.
pub fn ci_line(ci: CiSummary) -> String {
    let mut parts = Vec::new();
    if ci.success > 0 {
        parts.push(format!("{} ✓", ci.success));
    }
    if ci.in_progress > 0 {
        parts.push(format!("{} ⏳", ci.in_progress));
    }
    if ci.pending > 0 {
        parts.push(format!("{} merged, waiting for a run", ci.pending));
    }
    if ci.failed > 0 {
        parts.push(format!("{} ✗", ci.failed));
    }
    if parts.is_empty() {
        "no builds yet".into()
    } else {
        parts.join(" · ")
    }
}

/// What the summary shows, gathered from a stored release or from one being created.
struct SummaryFacts<'a> {
    release: &'a ReleaseRecord,
    repos: usize,
    commits: u64,
    ci: CiSummary,
    /// The deploy environment's counts, when deployment tracking is configured.
    deployed: Option<EnvironmentSummary>,
}

fn summary_text(f: &SummaryFacts<'_>, base_url: &str) -> String {
    let r = f.release;
    let mut text = format!(
        "## Release: `{}` → `{}`\n**Repositories:** {} | **Commits:** {} | **Sign-offs:** {} | **Status:** {}\n**CI:** {}",
        r.source_branch,
        r.dest_branch,
        f.repos,
        f.commits,
        sign_offs_line(r),
        r.status.as_str(),
        ci_line(f.ci),
    );
    // Only what Argo CD was seen running is claimed; without tracking, nothing is.
    if let Some(d) = &f.deployed {
        text.push_str(&format!(
            " | **{}:** {}/{} deployed",
            capitalised(&d.environment),
            d.deployed,
            d.total
        ));
    }
    if let Some(link) = release_link(base_url, r, "View Dashboard") {
        text.push('\n');
        text.push_str(&link);
    }
    text
}

/// The summary post of a release, as it should read now.
pub fn summary_message(view: &ReleaseView, base_url: &str) -> String {
    let included: Vec<_> = view.repos.iter().filter(|r| !r.excluded).collect();
    summary_text(
        &SummaryFacts {
            release: &view.release,
            repos: included.len(),
            commits: included.iter().map(|r| r.change.commit_count).sum(),
            ci: view.ci_summary(),
            deployed: view.deployment_summary().and_then(|all| {
                let env = &view.deployment.as_ref()?.deploy_environment;
                all.into_iter().find(|s| &s.environment == env)
            }),
        },
        base_url,
    )
}

/// `prod` → `Prod`.
fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The first summary post of a release just created from chat, as a reply in `root_id`'s
/// thread; `None` when the release has no channel.
pub(crate) fn summary_notification(
    release: &ReleaseRecord,
    repos: usize,
    commits: u64,
    root_id: Option<String>,
    base_url: &str,
    deploy_environment: Option<&str>,
) -> Option<NewNotification> {
    let channel = release.channel_id.clone()?;
    let message = summary_text(
        &SummaryFacts {
            release,
            repos,
            commits,
            ci: CiSummary::default(),
            deployed: deploy_environment
                .map(|env| EnvironmentSummary::of(env, std::iter::repeat_n(None, repos))),
        },
        base_url,
    );
    Some(NewNotification {
        idempotency_key: format!("{SUMMARY}:{}", release.id),
        release_id: release.id.clone(),
        kind: SUMMARY.into(),
        channel_id: channel,
        root_id,
        message,
        created_at: release.created_at,
    })
}

/// A notification in the release's channel; `None` when the release has no channel.
fn notification(
    release: &ReleaseRecord,
    kind: &str,
    key: String,
    message: String,
    now: i64,
) -> Option<NewNotification> {
    Some(NewNotification {
        idempotency_key: key,
        release_id: release.id.clone(),
        kind: kind.into(),
        channel_id: release.channel_id.clone()?,
        root_id: None,
        message,
        created_at: now,
    })
}

/// "Release Ready to Deploy", once per approval cycle (the key holds the cycle).
pub(crate) fn ready_notification(
    release: &ReleaseRecord,
    included: usize,
    base_url: &str,
    now: i64,
) -> Option<NewNotification> {
    let by = |s: &Option<SignOff>, label: &str| {
        s.as_ref()
            .map(|s| format!("{} ({label})", chat_name(&s.by)))
            .unwrap_or_else(|| format!("nobody ({label})"))
    };
    let mut message = format!(
        "✅ **Release Ready to Deploy**\n`{}` → `{}` | {}\nApproved by: {}, {}",
        release.source_branch,
        release.dest_branch,
        plural(included, "repository", "repositories"),
        by(&release.sign_offs.dev, "Dev"),
        by(&release.sign_offs.qa, "QA"),
    );
    if let Some(link) = release_link(base_url, release, "View Details") {
        message.push('\n');
        message.push_str(&link);
    }
    notification(
        release,
        READY,
        format!("{READY}:{}:{}", release.id, release.approval_cycle),
        message,
        now,
    )
}

/// "Release Deployed", once per release.
pub(crate) fn deployed_notification(
    release: &ReleaseRecord,
    included: usize,
    base_url: &str,
    now: i64,
) -> Option<NewNotification> {
    let mut message = format!(
        "🚀 **Release Deployed**\n`{}` → `{}` | {}",
        release.source_branch,
        release.dest_branch,
        plural(included, "repository", "repositories"),
    );
    if let Some(link) = release_link(base_url, release, "View Details") {
        message.push('\n');
        message.push_str(&link);
    }
    notification(
        release,
        DEPLOYED,
        format!("{DEPLOYED}:{}", release.id),
        message,
        now,
    )
}

/// A failed build of one repo of the release: once per run attempt (or once per tracking, when
/// no run was found). `details` is the `ci_failed` history entry's details.
pub(crate) fn ci_failed_notification(
    release: &ReleaseRecord,
    ci: &shipyard_store::CiStatusRecord,
    reason: &str,
    base_url: &str,
    now: i64,
) -> Option<NewNotification> {
    let run = match (&ci.run_number, &ci.run_url) {
        (Some(n), Some(url)) if url.starts_with("https://") || url.starts_with("http://") => {
            format!(" ([run #{n}]({url}))")
        }
        (Some(n), _) => format!(" (run #{n})"),
        _ => String::new(),
    };
    let why = match reason {
        "no_workflow" => "no CI run was found for the merge".to_owned(),
        "timeout" => "the CI run did not finish in time".to_owned(),
        other => format!("CI ended with `{other}`"),
    };
    let mut message = format!(
        "❌ **CI failed** for `{}`{run} in release `{}` → `{}`: {why}.",
        ci.repo_name, release.source_branch, release.dest_branch,
    );
    if let Some(link) = release_link(base_url, release, "View Details") {
        message.push('\n');
        message.push_str(&link);
    }
    let occasion = match (ci.run_id, ci.run_attempt) {
        (Some(id), attempt) => format!("{id}:{}", attempt.unwrap_or(1)),
        (None, _) => format!("{reason}:{}", ci.tracking_started_at),
    };
    notification(
        release,
        CI_FAILED,
        format!("{CI_FAILED}:{}:{}:{occasion}", release.id, ci.repo_id),
        message,
        now,
    )
}

impl Engine {
    /// Records that notification `n` was posted as `post_id`: marks it sent, adds a `notified`
    /// history entry and, for the summary, stores the post on the release, all in one
    /// transaction. `false` (and nothing changes) when it had been marked sent already.
    pub async fn notification_sent(
        &self,
        n: &NotificationRecord,
        post_id: &str,
    ) -> Result<bool, EngineError> {
        let now = self.now();
        let mut tx = self.store().begin().await?;
        let Some(mut release) = tx.lock_release(&n.release_id).await? else {
            return Err(EngineError::NotFound(format!("release `{}`", n.release_id)));
        };
        if !tx.mark_notification_sent(n.id, post_id, now).await? {
            tx.rollback().await?;
            return Ok(false);
        }
        let mut kinds = vec![EventKind::History];
        if n.kind == SUMMARY && release.chat_post_id.is_none() {
            release.chat_post_id = Some(post_id.to_owned());
            tx.save_release(&release).await?;
            kinds.push(EventKind::Updated);
        }
        tx.append_history(
            &n.release_id,
            &NewHistory {
                actor: bot_actor(),
                details: HistoryDetails::Notified {
                    kind: n.kind.clone(),
                    channel_id: n.channel_id.clone(),
                    post_id: post_id.to_owned(),
                    attempts: n.attempts,
                },
                created_at: now,
            },
        )
        .await?;
        self.commit_announcing(tx, &n.release_id, &kinds, now)
            .await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_line_leaves_out_zero_counts() {
        assert_eq!(ci_line(CiSummary::default()), "no builds yet");
        let ci = CiSummary {
            total: 5,
            success: 3,
            failed: 1,
            in_progress: 1,
            pending: 0,
        };
        assert_eq!(ci_line(ci), "3 ✓ · 1 ⏳ · 1 ✗");
    }

    #[test]
    fn chat_names_use_the_mattermost_username() {
        let mm = Actor {
            subject: "mattermost:dev-lead".into(),
            name: "Dev Lead".into(),
        };
        let oidc = Actor {
            subject: "oidc:abc".into(),
            name: "Quinn QA".into(),
        };
        assert_eq!(chat_name(&mm), "@dev-lead");
        assert_eq!(chat_name(&oidc), "Quinn QA");
    }
}
