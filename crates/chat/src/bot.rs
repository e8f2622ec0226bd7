//! The bot's conversation: `posted` events in, commands through the engine, answers out.
//!
//! The WebSocket stream reconnects by itself. Posts made while it was away are read back after
//! a reconnect (`channels/{id}/posts?since=`) from every channel the bot has heard from or is
//! allowed in, so a command typed during an outage is answered once the connection is back.
//! Each post is handled at most once per process (by id).

use crate::command::{Command, parse};
use crate::{ChatBot, reply};
use shipyard_core::{Actor, ReleaseStatus};
use shipyard_engine::ReleaseFilter;
use shipyard_engine::{Caller, NewRelease};
use shipyard_mattermost::{BotEvent, MattermostError, NewPost, Post, User};
use std::collections::{BTreeSet, HashSet, VecDeque};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How many handled post ids are remembered.
const REMEMBERED: usize = 4096;
/// How far back a catch-up reads before the last post seen, in milliseconds.
const CATCH_UP_MARGIN_MS: i64 = 5_000;
/// Most releases listed by `releases`.
const LIST_LIMIT: usize = 20;

/// Posts already handled, oldest forgotten first.
#[derive(Default)]
pub(crate) struct Handled {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Handled {
    /// `true` the first time `id` is seen.
    fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        self.ids.insert(id.to_owned());
        self.order.push_back(id.to_owned());
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.ids.remove(&old);
        }
        true
    }
}

/// A post the bot should look at, with what the event said about it.
pub(crate) struct Incoming {
    pub post: Post,
    /// `D` for a direct message.
    pub channel_type: String,
    /// The author's username, without `@`.
    pub sender: String,
}

/// The conversation's state within one process.
struct Conversation {
    me: User,
    handled: Handled,
    /// Channels the bot heard from (for catch-up).
    channels: BTreeSet<String>,
    /// `create_at` of the newest post seen, by Mattermost's clock.
    last_post_ms: i64,
    /// Channels whose read-back after a reconnect failed, with the time to read back from.
    behind: Vec<(String, i64)>,
}

impl ChatBot {
    pub(crate) async fn run_bot(self, stop: CancellationToken) {
        let Some(me) = self.whoami(&stop).await else {
            return;
        };
        tracing::info!(bot = %me.username, "chat bot signed in to Mattermost");
        if !me
            .username
            .eq_ignore_ascii_case(&self.settings.bot_username)
        {
            tracing::warn!(
                configured = %self.settings.bot_username, actual = %me.username,
                "mattermost.bot_username differs from the token's account; answering to the configured name"
            );
        }
        let mut conv = Conversation {
            me,
            handled: Handled::default(),
            channels: self.settings.channels.iter().cloned().collect(),
            last_post_ms: crate::wall_clock_ms(),
            behind: Vec::new(),
        };
        let mut events = self.client.events(self.settings.events);
        loop {
            let retry_catch_up = !conv.behind.is_empty();
            let event = tokio::select! {
                () = stop.cancelled() => return,
                event = events.next() => event,
                () = tokio::time::sleep(self.settings.catch_up_retry), if retry_catch_up => {
                    let behind = std::mem::take(&mut conv.behind);
                    self.catch_up(&mut conv, behind).await;
                    continue;
                }
            };
            match event {
                None => return,
                Some(BotEvent::Connected { reconnect }) => {
                    metrics::gauge!("shipyard_chat_connected").set(1.0);
                    self.engine.chat_progress().set_connected(true);
                    if reconnect {
                        metrics::counter!("shipyard_chat_reconnects_total").increment(1);
                        let since = conv.last_post_ms - CATCH_UP_MARGIN_MS;
                        let mut channels: Vec<(String, i64)> =
                            conv.channels.iter().map(|c| (c.clone(), since)).collect();
                        // A read-back still owed from an earlier gap starts further back.
                        for (channel, earlier) in std::mem::take(&mut conv.behind) {
                            match channels.iter_mut().find(|(c, _)| *c == channel) {
                                Some(entry) => entry.1 = entry.1.min(earlier),
                                None => channels.push((channel, earlier)),
                            }
                        }
                        self.catch_up(&mut conv, channels).await;
                    }
                }
                Some(BotEvent::Disconnected { .. }) => {
                    metrics::gauge!("shipyard_chat_connected").set(0.0);
                    self.engine.chat_progress().set_connected(false);
                }
                Some(BotEvent::Posted(event)) => {
                    conv.last_post_ms = conv.last_post_ms.max(event.post.create_at);
                    conv.channels.insert(event.post.channel_id.clone());
                    let incoming = Incoming {
                        sender: event.sender_name.trim_start_matches('@').to_owned(),
                        channel_type: event.channel_type,
                        post: event.post,
                    };
                    self.consider(&mut conv, incoming).await;
                    self.engine.chat_progress().post_seen();
                }
            }
        }
    }

    /// The bot's own account, asked until Mattermost answers (or `stop`).
    async fn whoami(&self, stop: &CancellationToken) -> Option<User> {
        let mut wait = Duration::from_secs(1);
        loop {
            match self.client.me().await {
                Ok(me) => return Some(me),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_secs = wait.as_secs(), "the chat bot cannot reach Mattermost yet");
                }
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(Duration::from_secs(60));
        }
    }

    /// Reads back what was posted to `channels` since each one's time while the connection was
    /// down, and handles what is new. A channel that cannot be read is tried again later.
    async fn catch_up(&self, conv: &mut Conversation, channels: Vec<(String, i64)>) {
        for (channel, since) in channels {
            let posts = match self.client.channel_posts_since(&channel, since).await {
                Ok(posts) => posts,
                Err(e) => {
                    tracing::warn!(channel = %channel, error = %e, "could not read back the channel after a reconnect; trying again shortly");
                    conv.behind.push((channel, since));
                    continue;
                }
            };
            for post in posts {
                self.engine.chat_progress().post_seen();
                conv.last_post_ms = conv.last_post_ms.max(post.create_at);
                if post.user_id == conv.me.id
                    || parse(&post.message, &self.settings.bot_username, false).is_none()
                    || conv.handled.ids.contains(&post.id)
                {
                    continue;
                }
                let sender = match self.client.user(&post.user_id).await {
                    Ok(Some(user)) => user.username,
                    Ok(None) => continue,
                    Err(e) => {
                        // Posts handled so far are remembered; the rest is read again later.
                        tracing::warn!(error = %e, "could not read the author of a missed post; trying again shortly");
                        conv.behind.push((channel.clone(), since));
                        break;
                    }
                };
                let incoming = Incoming {
                    post,
                    channel_type: "O".into(),
                    sender,
                };
                self.consider(conv, incoming).await;
            }
        }
        self.engine.chat_progress().caught_up();
    }

    /// Handles one post if it is a command to the bot it has not handled yet.
    async fn consider(&self, conv: &mut Conversation, incoming: Incoming) {
        let post = &incoming.post;
        if post.user_id == conv.me.id {
            return;
        }
        let direct = incoming.channel_type == "D";
        let Some(command) = parse(&post.message, &self.settings.bot_username, direct) else {
            return;
        };
        if !conv.handled.first_time(&post.id) {
            return;
        }
        let thread = if post.root_id.is_empty() {
            post.id.clone()
        } else {
            post.root_id.clone()
        };
        let answer = if self.settings.channel_allowed(&post.channel_id) {
            self.answer(command, &incoming, &thread).await
        } else {
            Some(reply::not_enabled())
        };
        if let Some(text) = answer
            && let Err(e) = self.reply(&post.channel_id, &thread, text).await
        {
            tracing::warn!(error = %e, "the chat bot could not answer a command");
        }
    }

    /// Runs `command`; the text to answer with, or `None` when the answer goes another way
    /// (a created release's summary is posted through the outbox).
    async fn answer(&self, command: Command, incoming: &Incoming, thread: &str) -> Option<String> {
        let bot = &self.settings.bot_username;
        let base_url = &self.settings.base_url;
        let name = metrics_name(&command);
        metrics::counter!("shipyard_chat_commands_total", "command" => name).increment(1);
        tracing::info!(command = name, user = %incoming.sender, "chat command");
        match command {
            Command::CreateRelease { source, dest } => {
                let caller = caller(&incoming.sender, &incoming.post.user_id);
                let new = NewRelease {
                    source_branch: source,
                    dest_branch: dest,
                    channel_id: Some(incoming.post.channel_id.clone()),
                    chat_root_id: Some(thread.to_owned()),
                };
                match self.engine.create_release(&caller, new).await {
                    Ok(_) => {
                        self.wake_sender();
                        None
                    }
                    Err(e) => Some(reply::error("create the release", &e)),
                }
            }
            Command::Releases => Some(match self.active_releases().await {
                Ok(active) => reply::releases(bot, &active, base_url),
                Err(e) => reply::error("list the releases", &e),
            }),
            Command::Status(id) => Some(match self.engine.release(&id).await {
                Ok(view) => reply::status(&view, base_url),
                Err(e) => reply::error("show the release", &e),
            }),
            Command::Help => Some(reply::help(bot)),
            Command::Usage(usage) => Some(reply::usage(bot, usage)),
            Command::Unknown(word) => Some(reply::unknown(bot, &word)),
        }
    }

    /// Pending and approved releases, newest first.
    async fn active_releases(
        &self,
    ) -> Result<Vec<shipyard_engine::ReleaseSummaryRecord>, shipyard_engine::EngineError> {
        let mut active = Vec::new();
        for status in [ReleaseStatus::Pending, ReleaseStatus::Approved] {
            let page = self
                .engine
                .list_releases(&ReleaseFilter {
                    status: Some(status),
                    limit: LIST_LIMIT as u32,
                    ..ReleaseFilter::default()
                })
                .await?;
            active.extend(page.releases);
        }
        active.sort_by(|a, b| {
            (b.release.created_at, b.release.id.as_str())
                .cmp(&(a.release.created_at, a.release.id.as_str()))
        });
        active.truncate(LIST_LIMIT);
        Ok(active)
    }

    async fn reply(
        &self,
        channel: &str,
        thread: &str,
        text: String,
    ) -> Result<(), MattermostError> {
        let mut post = NewPost::new(channel, text);
        post.root_id = Some(thread.to_owned());
        self.client.create_post(&post).await.map(|_| ())
    }
}

/// The caller a chat user acts as: no roles (creating and reading need none).
fn caller(username: &str, user_id: &str) -> Caller {
    let name = if username.is_empty() {
        user_id
    } else {
        username
    };
    Caller {
        actor: Actor {
            subject: format!("mattermost:{name}"),
            name: format!("@{name}"),
        },
        roles: Vec::new(),
    }
}

fn metrics_name(command: &Command) -> &'static str {
    match command {
        Command::CreateRelease { .. } => "create-release",
        Command::Releases => "releases",
        Command::Status(_) => "status",
        Command::Help => "help",
        Command::Usage(_) => "usage",
        Command::Unknown(_) => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_post_is_handled_once_and_old_ids_are_forgotten() {
        let mut handled = Handled::default();
        assert!(handled.first_time("a"));
        assert!(!handled.first_time("a"));
        for i in 0..REMEMBERED {
            assert!(handled.first_time(&format!("p{i}")));
        }
        assert!(handled.first_time("a"), "the oldest id was forgotten");
        assert_eq!(handled.ids.len(), REMEMBERED);
    }

    #[test]
    fn chat_callers_are_named_by_username() {
        let c = caller("alice", "u1");
        assert_eq!(c.actor.subject, "mattermost:alice");
        assert_eq!(c.actor.name, "@alice");
        assert!(c.roles.is_empty());
        assert_eq!(caller("", "u1").actor.subject, "mattermost:u1");
    }
}
