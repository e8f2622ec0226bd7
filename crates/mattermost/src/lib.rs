//! Shipyard's Mattermost client: the few v4 REST calls the chat bot makes, over reqwest.
//!
//! One [`Mattermost`] value holds one HTTP client with the bot's token; clones share it. Every
//! call retries 5xx answers, broken connections and timeouts with jittered exponential backoff,
//! and waits out a short rate limit (429) before trying again. Answers come back as Shipyard's
//! own small types ([`User`], [`Post`]) that keep only the fields Shipyard reads.
//!
//! Layout:
//! - [`client`]: options, the client, one exchange with retries and rate limits, the endpoints.
//! - [`model`]: request and answer bodies.

pub mod client;
pub mod model;

pub use client::{Mattermost, MattermostOptions};
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
