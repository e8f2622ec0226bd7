//! Shipyard's Mattermost bot: the chat front door to the engine.
//!
//! [`ChatBot::run`] runs three loops until it is told to stop:
//! - [`bot`]: reads `posted` events from Mattermost's WebSocket (reconnecting by itself),
//!   answers commands in the command's thread, and after a reconnect reads back what was posted
//!   to the bot while it was away;
//! - [`sender`]: posts what the notification outbox holds, once each, across restarts and
//!   Mattermost outages;
//! - [`summary`]: keeps each release's summary post up to date, at most one edit per release
//!   every few seconds.
//!
//! [`command`] reads a post as a command and [`reply`] writes the answers; both are pure.

pub mod bot;
pub mod command;
pub mod reply;
pub mod sender;
pub mod summary;

use shipyard_engine::Engine;
use shipyard_mattermost::{EventStreamOptions, Mattermost, MattermostError, MattermostOptions};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// How the bot behaves; from the `mattermost` configuration section.
#[derive(Debug, Clone)]
pub struct ChatSettings {
    /// The bot's username, without `@`.
    pub bot_username: String,
    /// Channel ids that may drive the bot; empty means any.
    pub channels: Vec<String>,
    /// `server.base_url`, for links; none when empty.
    pub base_url: String,
    /// Least time between two edits of one release's summary post.
    pub summary_debounce: Duration,
    /// Pause before a failed summary edit is tried again.
    pub summary_retry: Duration,
    /// How often the sender looks at the outbox when nothing wakes it.
    pub sender_poll: Duration,
    /// Longest pause before a failed notification is tried again.
    pub sender_max_backoff: Duration,
    /// How often a replica asks for the lead, and the leader checks that it still holds it.
    pub lead_check: Duration,
    /// Pause before a failed read-back of a channel after a reconnect is tried again.
    pub catch_up_retry: Duration,
    /// How long claimed notifications stay with this sender.
    pub outbox_lease: Duration,
    /// Reconnect backoff and keep-alive of the WebSocket.
    pub events: EventStreamOptions,
}

impl ChatSettings {
    /// Production defaults for `bot_username`.
    pub fn new(bot_username: impl Into<String>) -> Self {
        ChatSettings {
            bot_username: bot_username.into(),
            channels: Vec::new(),
            base_url: String::new(),
            summary_debounce: Duration::from_secs(3),
            summary_retry: Duration::from_secs(15),
            sender_poll: Duration::from_secs(2),
            sender_max_backoff: Duration::from_secs(300),
            lead_check: Duration::from_secs(10),
            catch_up_retry: Duration::from_secs(5),
            outbox_lease: Duration::from_secs(60),
            events: EventStreamOptions::default(),
        }
    }

    /// Whether `channel_id` may drive the bot.
    pub fn channel_allowed(&self, channel_id: &str) -> bool {
        self.channels.is_empty() || self.channels.iter().any(|c| c == channel_id)
    }
}

/// The bot: the engine, two Mattermost clients and the settings.
#[derive(Clone)]
pub struct ChatBot {
    engine: Engine,
    /// For answers and edits: retries failed calls itself.
    client: Mattermost,
    /// For outbox posts: never retries a create by itself (a lost answer could post twice);
    /// the outbox retries, looking for its own post first.
    sender_client: Mattermost,
    settings: Arc<ChatSettings>,
    /// Wakes the sender when something was enqueued.
    wake: Arc<Notify>,
    /// What each summary post says, as this process last wrote it.
    summaries: Arc<std::sync::Mutex<std::collections::HashMap<String, String>>>,
}

impl ChatBot {
    /// Assembles the bot from the client options.
    pub fn new(
        engine: Engine,
        options: MattermostOptions,
        settings: ChatSettings,
    ) -> Result<Self, MattermostError> {
        let client = Mattermost::new(options.clone())?;
        let sender_client = Mattermost::new(MattermostOptions {
            max_retries: 0,
            ..options
        })?;
        Ok(ChatBot {
            engine,
            client,
            sender_client,
            settings: Arc::new(settings),
            wake: Arc::new(Notify::new()),
            summaries: Arc::default(),
        })
    }

    /// The settings the bot runs with.
    pub fn settings(&self) -> &ChatSettings {
        &self.settings
    }

    /// Runs the bot in the one process that leads it among replicas sharing the database:
    /// asks for leadership every `lead_check`, runs [`ChatBot::run`] while it holds it, and
    /// stops the bot when it is lost. Returns at `stop`.
    pub async fn run_as_leader(self, stop: CancellationToken) {
        let progress = self.engine.chat_progress();
        let engine = self.engine.clone();
        shipyard_engine::lead::run_while_leading(
            &engine,
            "shipyard:mattermost-bot",
            "the Mattermost bot",
            self.settings.lead_check,
            stop,
            |leading| {
                progress.set_leading(leading);
                if !leading {
                    progress.set_connected(false);
                }
            },
            |bot_stop| self.clone().run(bot_stop),
        )
        .await;
    }

    /// Runs the WebSocket loop, the outbox sender and the summary updater until `stop`.
    pub async fn run(self, stop: CancellationToken) {
        let bot = tokio::spawn(self.clone().run_bot(stop.clone()));
        let sender = tokio::spawn(self.clone().run_sender(stop.clone()));
        let summary = tokio::spawn(self.clone().run_summary(stop.clone()));
        for (name, task) in [("bot", bot), ("sender", sender), ("summary", summary)] {
            if let Err(e) = task.await {
                tracing::error!(task = name, error = %e, "a chat task ended abnormally");
            }
        }
    }
}

/// Now in Unix milliseconds by this machine's clock, to compare with Mattermost's post times
/// (the engine's clock is for Shipyard's own records).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}
