//! The outbox sender: posts each owed notification once.
//!
//! Rows are claimed with a lease, so several senders (replicas) never post the same row at once.
//! A post carries its idempotency key in `props.shipyard_key`. The create is never retried
//! blindly: when a claim is not the row's first (an earlier attempt failed, or its sender died
//! after posting but before recording it), the sender first reads the channel back and, if its
//! post is there, records that one instead of posting again.

use crate::ChatBot;
use rand::Rng;
use serde_json::Value;
use shipyard_engine::NotificationRecord;
use shipyard_mattermost::{MattermostError, NewPost, Post};
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

/// The prop holding a post's idempotency key.
pub const KEY_PROP: &str = "shipyard_key";
/// Rows claimed per round.
const BATCH: u32 = 20;
/// How far before a row's enqueueing its post is looked for, in milliseconds (clock skew).
const LOOKBACK_MS: i64 = 10 * 60 * 1000;

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendRound {
    /// Rows claimed.
    pub claimed: usize,
    /// Posted now.
    pub posted: usize,
    /// Found already posted by an earlier attempt, and recorded.
    pub recovered: usize,
    /// Failed; due again later.
    pub failed: usize,
    /// Handed back untried (the sender is stopping).
    pub handed_back: usize,
}

impl ChatBot {
    /// Wakes the sender at once (something was enqueued).
    pub fn wake_sender(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn run_sender(self, stop: CancellationToken) {
        // Changes that may have enqueued something wake the sender too (sign-offs, status, CI).
        let mut events = self.engine.events().subscribe();
        loop {
            let round = match self.send_due(&stop).await {
                Ok(round) => round,
                Err(e) => {
                    tracing::warn!(error = %e, "the notification outbox could not be read");
                    SendRound::default()
                }
            };
            self.engine.chat_progress().sender_round();
            if round.claimed as u32 >= BATCH {
                continue;
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.settings.sender_poll) => {}
                event = events.recv() => if let Err(RecvError::Closed) = event {
                    return;
                },
            }
        }
    }

    /// Claims the due rows and posts each; a failure of one row does not stop the others.
    /// Once `stop` is cancelled the row in flight is finished and the others are handed back
    /// untried, for whichever sender runs next.
    pub async fn send_due(
        &self,
        stop: &CancellationToken,
    ) -> Result<SendRound, shipyard_engine::EngineError> {
        let rows = self
            .engine
            .claim_notifications(self.settings.outbox_lease.as_secs().max(1) as i64, BATCH)
            .await?;
        let mut round = SendRound {
            claimed: rows.len(),
            ..SendRound::default()
        };
        let mut rows = rows.into_iter();
        while let Some(n) = rows.next() {
            if stop.is_cancelled() {
                for rest in std::iter::once(n).chain(rows.by_ref()) {
                    self.engine.release_notification(rest.id).await?;
                    round.handed_back += 1;
                }
                break;
            }
            match self.send_one(&n).await {
                Ok(Sent::Posted) => round.posted += 1,
                Ok(Sent::Recovered) => round.recovered += 1,
                Err(failure) => {
                    round.failed += 1;
                    let wait = self.backoff(n.attempts, failure.retry_after_secs);
                    let retry_at = self.engine.now() + wait.as_secs() as i64;
                    tracing::warn!(
                        kind = %n.kind, release = %n.release_id, attempts = n.attempts,
                        retry_in_secs = wait.as_secs(), error = %failure.message,
                        "a chat notification could not be posted; it will be tried again"
                    );
                    metrics::counter!("shipyard_chat_notification_failures_total").increment(1);
                    self.engine
                        .notification_failed(n.id, &failure.message, retry_at)
                        .await?;
                }
            }
        }
        Ok(round)
    }

    async fn send_one(&self, n: &NotificationRecord) -> Result<Sent, Failure> {
        if n.attempts > 1
            && let Some(post) = self.find_own_post(n).await?
        {
            self.record_sent(n, &post.id).await?;
            return Ok(Sent::Recovered);
        }
        let mut post = NewPost::new(&n.channel_id, &n.message);
        post.root_id = n.root_id.clone();
        post.props
            .insert(KEY_PROP.into(), Value::String(n.idempotency_key.clone()));
        let created = self.sender_client.create_post(&post).await?;
        self.record_sent(n, &created.id).await?;
        Ok(Sent::Posted)
    }

    async fn record_sent(&self, n: &NotificationRecord, post_id: &str) -> Result<(), Failure> {
        // If recording fails the row stays claimed until its lease ends; the next attempt then
        // finds this post instead of posting again.
        let fresh = self
            .engine
            .notification_sent(n, post_id)
            .await
            .map_err(|e| Failure {
                message: format!("posted as {post_id}, but not recorded: {e}"),
                retry_after_secs: None,
            })?;
        if n.kind == shipyard_engine::chat::SUMMARY {
            self.remember_summary(post_id.to_owned(), n.message.clone());
        }
        if fresh {
            metrics::counter!("shipyard_chat_notifications_sent_total", "kind" => n.kind.clone())
                .increment(1);
            tracing::info!(kind = %n.kind, release = %n.release_id, post = post_id, "chat notification posted");
        }
        Ok(())
    }

    /// The bot's own post of `n` in its channel, if an earlier attempt made it.
    async fn find_own_post(&self, n: &NotificationRecord) -> Result<Option<Post>, MattermostError> {
        let since = (n.created_at.saturating_mul(1000)).min(crate::wall_clock_ms()) - LOOKBACK_MS;
        let posts = self
            .sender_client
            .channel_posts_since(&n.channel_id, since.max(0))
            .await?;
        Ok(posts.into_iter().find(|p| {
            p.props.get(KEY_PROP).and_then(Value::as_str) == Some(n.idempotency_key.as_str())
        }))
    }

    /// Pause before attempt `attempts + 1`: doubling from 2 s with jitter, capped; a rate limit
    /// waits at least as long as Mattermost asked.
    fn backoff(&self, attempts: u32, retry_after_secs: Option<u64>) -> Duration {
        let cap = self.settings.sender_max_backoff.as_secs().max(1);
        let base = 2u64.saturating_pow(attempts.min(20)).min(cap);
        let jittered = rand::rng().random_range(base / 2..=base).max(1);
        Duration::from_secs(jittered.max(retry_after_secs.unwrap_or(0)))
    }
}

enum Sent {
    Posted,
    Recovered,
}

/// Why one attempt failed.
struct Failure {
    message: String,
    /// Mattermost's rate limit asked for this pause.
    retry_after_secs: Option<u64>,
}

impl From<MattermostError> for Failure {
    fn from(e: MattermostError) -> Self {
        let retry_after_secs = match &e {
            MattermostError::RateLimited { retry_after_secs } => Some(*retry_after_secs),
            _ => None,
        };
        Failure {
            message: e.to_string(),
            retry_after_secs,
        }
    }
}
