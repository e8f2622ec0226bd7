//! Keeps each release's summary post up to date.
//!
//! Listens to the engine's live events; a change of sign-offs, CI, deployment, repos or the
//! release itself schedules the release's summary for an edit `summary_debounce` later (further
//! changes before then ride along), so a burst of changes costs one edit and one release is
//! edited at most once per `summary_debounce`. The edit happens only when the text differs from
//! what this process last wrote.

use crate::ChatBot;
use shipyard_core::ReleaseId;
use shipyard_engine::chat::summary_message;
use shipyard_engine::{EventKind, Notice};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// What the updater remembers per release.
#[derive(Default)]
struct Edits {
    /// Releases due for an edit, and when.
    due: HashMap<ReleaseId, Instant>,
    /// When each release was last edited.
    last_edit: HashMap<ReleaseId, Instant>,
}

impl Edits {
    fn schedule(&mut self, id: ReleaseId, debounce: Duration) {
        let now = Instant::now();
        let earliest = self
            .last_edit
            .get(&id)
            .map_or(now + debounce, |t| (*t + debounce).max(now + debounce));
        self.due.entry(id).or_insert(earliest);
    }

    fn next_due(&self) -> Option<Instant> {
        self.due.values().min().copied()
    }

    fn take_due(&mut self) -> Vec<ReleaseId> {
        let now = Instant::now();
        let ids: Vec<ReleaseId> = self
            .due
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            self.due.remove(id);
        }
        ids
    }
}

fn matters(kind: EventKind) -> bool {
    !matches!(kind, EventKind::History)
}

impl ChatBot {
    pub(crate) async fn run_summary(self, stop: CancellationToken) {
        let mut events = self.engine.events().subscribe();
        let mut edits = Edits::default();
        let debounce = self.settings.summary_debounce;
        loop {
            let next = edits.next_due();
            tokio::select! {
                () = stop.cancelled() => return,
                event = events.recv() => match event {
                    Ok(Notice::Release(e)) if matters(e.kind) => edits.schedule(e.release_id, debounce),
                    Ok(Notice::Release(_)) => {}
                    Ok(Notice::Resync) | Err(RecvError::Lagged(_)) => {
                        // Changes may have been missed: every open release's summary is checked.
                        for id in self.engine.open_release_ids().await {
                            edits.schedule(id, debounce);
                        }
                    }
                    Err(RecvError::Closed) => return,
                },
                () = sleep_until(next) => {
                    for id in edits.take_due() {
                        match self.update_summary(&id).await {
                            Ok(true) => {
                                edits.last_edit.insert(id, Instant::now());
                            }
                            Ok(false) => {}
                            Err(e) => {
                                tracing::warn!(release = %id, error = %e, "the summary post could not be edited; trying again later");
                                edits.due.insert(id, Instant::now() + self.settings.summary_retry);
                            }
                        }
                    }
                    self.engine.chat_progress().summary_round();
                }
            }
        }
    }

    /// Edits the summary post of `id` if its text changed; `true` when it was edited.
    async fn update_summary(&self, id: &ReleaseId) -> Result<bool, String> {
        let view = self
            .engine
            .release(id.as_str())
            .await
            .map_err(|e| e.to_string())?;
        let Some(post_id) = view.release.chat_post_id.clone() else {
            return Ok(false);
        };
        let text = summary_message(&view, &self.settings.base_url);
        if self.summary_text(&post_id).as_ref() == Some(&text) {
            return Ok(false);
        }
        self.client
            .patch_post(&post_id, &text)
            .await
            .map_err(|e| e.to_string())?;
        metrics::counter!("shipyard_chat_summary_edits_total").increment(1);
        self.remember_summary(post_id, text);
        Ok(true)
    }

    /// The text this process last wrote to summary post `post_id`.
    fn summary_text(&self, post_id: &str) -> Option<String> {
        self.summaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(post_id)
            .cloned()
    }

    /// Remembers what summary post `post_id` says now.
    pub(crate) fn remember_summary(&self, post_id: String, text: String) {
        self.summaries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(post_id, text);
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
