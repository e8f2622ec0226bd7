//! Shipyard's Mattermost client: the few v4 REST calls the chat bot makes, over reqwest, and
//! the WebSocket event stream it listens to.
//!
//! One [`Mattermost`] value holds one HTTP client with the bot's token; clones share it. Every
//! call retries 5xx answers, broken connections and timeouts with jittered exponential backoff,
//! and waits out a short rate limit (429) before trying again. Answers come back as Shipyard's
//! own small types ([`User`], [`Post`]) that keep only the fields Shipyard reads.
//!
//! [`Mattermost::events`] starts the event stream: a background task that holds the bot's
//! WebSocket (`ws://` or `wss://`, following the base URL), pings it, and reconnects with
//! jittered exponential backoff whenever it breaks or goes silent. The bot reads
//! [`BotEvent`]s from the [`EventStream`]: `Connected` once Mattermost says `hello`
//! (`reconnect: true` after a loss), `Disconnected` with the error and the wait before the next
//! attempt, and `Posted` for each new post in the bot's channels, its own included. Events sent
//! while disconnected are lost; [`Mattermost::channel_posts_since`] reads a channel back to
//! catch up. Dropping the stream stops the task and closes the socket.
//!
//! The token is sent only in `Authorization` headers and the WebSocket's authentication
//! challenge; it never appears in logs, errors or `Debug` output.
//!
//! Layout:
//! - [`client`]: options, the client, one exchange with retries and rate limits, the endpoints.
//! - [`events`]: the WebSocket event stream and its reconnecting task.
//! - [`model`]: request and answer bodies.

pub mod client;
pub mod events;
pub mod model;

pub use client::{Mattermost, MattermostOptions};
pub use events::{BotEvent, EventStream, EventStreamOptions, PostedEvent};
pub use model::{NewPost, Post, User};

/// What went wrong talking to Mattermost, in terms a caller can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MattermostError {
    /// The options cannot make a client (bad URL, a token that cannot be sent in a header).
    #[error("invalid Mattermost options: {0}")]
    InvalidOptions(String),
    /// 401: the token is wrong, expired or revoked.
    #[error("Mattermost rejected the token: {0}")]
    Unauthorized(String),
    /// 403: the bot may not do this (not a channel member, not the post's author…).
    #[error("Mattermost denied the request: {0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("not found on Mattermost: {0}")]
    NotFound(String),
    /// Any other refusal (4xx, or an unexpected redirect).
    #[error("Mattermost refused the request ({status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Mattermost's message.
        message: String,
    },
    /// 429 for longer than the client is willing to wait.
    #[error("Mattermost rate limit reached; retry in {retry_after_secs}s")]
    RateLimited {
        /// Seconds until Mattermost accepts calls again.
        retry_after_secs: u64,
    },
    /// Mattermost could not be reached or kept failing (5xx, resets, timeouts) after retries.
    #[error("Mattermost is unavailable: {0}")]
    Unavailable(String),
    /// Mattermost answered something Shipyard could not read.
    #[error("unexpected answer from Mattermost: {0}")]
    Decode(String),
}
