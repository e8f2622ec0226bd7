//! The WebSocket event stream: one background task that keeps a socket to Mattermost open,
//! reconnects with backoff when it breaks, and hands the bot the events it cares about.
//!
//! The task connects to [`Mattermost::websocket_url`] with the bot's token both on the upgrade
//! request (`Authorization: Bearer …`) and in an `authentication_challenge` sent right after,
//! as Mattermost accepts either. The connection counts as established when Mattermost's
//! `hello` arrives. `wss://` uses rustls with the system's root certificates; a host without
//! any cannot connect over TLS, and each attempt reports that as a [`BotEvent::Disconnected`].

use crate::Mattermost;
use crate::model::Post;
use futures::{SinkExt as _, StreamExt as _};
use serde::Deserialize;
use serde_json::Value;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::http::{HeaderValue, header};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message};

/// Events waiting for the bot; when full, the task stops reading the socket until the bot
/// catches up.
const QUEUE: usize = 256;

/// The shortest ping interval and backoff used, whatever the options say.
const FLOOR: Duration = Duration::from_millis(1);

/// How the event stream keeps its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventStreamOptions {
    /// The wait after the first failure; each further failure in a row doubles it.
    pub min_backoff: Duration,
    /// The longest wait between two attempts.
    pub max_backoff: Duration,
    /// How often to ping Mattermost. A connection that brings no frame at all (an event, a
    /// reply, a pong) for twice this long counts as dead.
    pub ping_interval: Duration,
}

impl Default for EventStreamOptions {
    /// 1 s to 60 s of backoff, a ping every 30 s.
    fn default() -> Self {
        EventStreamOptions {
            min_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(60),
            ping_interval: Duration::from_secs(30),
        }
    }
}

/// What the event stream reports.
#[derive(Debug, Clone, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "events are mostly posts and each is moved once; a box would only complicate matching"
)]
pub enum BotEvent {
    /// The socket is (re)connected and authenticated: Mattermost said `hello`.
    Connected {
        /// False for the first connection of the stream, true for every later one. Events sent
        /// while the stream was disconnected are lost; read the channels back with
        /// [`Mattermost::channel_posts_since`] to catch up.
        reconnect: bool,
    },
    /// The connection was lost or could not be made; the stream reconnects by itself after
    /// `retry_in`.
    Disconnected {
        /// What went wrong, in a few words.
        error: String,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// A `posted` event: a new post in a channel the bot is a member of, the bot's own posts
    /// included.
    Posted(PostedEvent),
}

/// A new post and what Mattermost says about it in the `posted` event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PostedEvent {
    /// The post.
    pub post: Post,
    /// `"O"` (public), `"P"` (private), `"D"` (direct message) or `"G"` (group message).
    pub channel_type: String,
    /// The channel's name (for direct messages, the two user ids joined by `__`).
    pub channel_name: String,
    /// The author's username, without the leading `@`.
    pub sender_name: String,
    /// The channel's team; empty for direct and group messages.
    pub team_id: String,
    /// Ids of the users the post mentions; empty when it mentions nobody.
    pub mentions: Vec<String>,
}

/// The events of one bot, as they come; see [`Mattermost::events`].
///
/// A background task owns the connection. Dropping the stream stops the task and closes the
/// socket.
pub struct EventStream {
    rx: mpsc::Receiver<BotEvent>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("queued", &self.rx.len())
            .field("finished", &self.task.is_finished())
            .finish()
    }
}

impl EventStream {
    /// The next event. Waits as long as it takes: while Mattermost is unreachable the stream
    /// keeps reporting [`BotEvent::Disconnected`]. `None` only if the background task ended,
    /// which it does not do by itself.
    pub async fn next(&mut self) -> Option<BotEvent> {
        self.rx.recv().await
    }
}

impl futures::Stream for EventStream {
    type Item = BotEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<BotEvent>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Mattermost {
    /// Starts the bot's event stream: a background task connects to the WebSocket, reports
    /// [`BotEvent::Connected`] once Mattermost says `hello`, then each `posted` event as
    /// [`BotEvent::Posted`]. When the connection breaks or cannot be made it reports
    /// [`BotEvent::Disconnected`] and tries again after a jittered backoff that doubles with
    /// each failure in a row, from `min_backoff` up to `max_backoff`, and starts over once
    /// connected. Other events (`post_edited` among them) and events it cannot read are
    /// skipped.
    ///
    /// # Panics
    /// Outside a Tokio runtime, like [`tokio::spawn`].
    pub fn events(&self, opts: EventStreamOptions) -> EventStream {
        let (tx, rx) = mpsc::channel(QUEUE);
        let worker = Worker {
            url: self.websocket_url(),
            mm: self.clone(),
            opts: sanitize(opts),
            tx,
            connected_before: false,
            failures: 0,
            down_since: None,
        };
        let task = tokio::spawn(worker.run());
        EventStream { rx, task }
    }
}

/// Options the task can work with: no zero intervals, a cap no lower than the start.
fn sanitize(opts: EventStreamOptions) -> EventStreamOptions {
    let min_backoff = opts.min_backoff.max(FLOOR);
    EventStreamOptions {
        min_backoff,
        max_backoff: opts.max_backoff.max(min_backoff),
        ping_interval: opts.ping_interval.max(FLOOR),
    }
}

/// The wait after `failures` failures in a row (from 1): a random time between half the
/// ceiling and the ceiling, never below `min_backoff`, where the ceiling starts at
/// `min_backoff` and doubles each failure up to `max_backoff`.
fn retry_delay(opts: &EventStreamOptions, failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    let ceiling = opts
        .min_backoff
        .saturating_mul(1u32 << doublings)
        .min(opts.max_backoff);
    let floor = (ceiling / 2).max(opts.min_backoff).min(ceiling);
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::random_range(nanos(floor)..=nanos(ceiling)))
}

/// Why one connection ended.
enum End {
    /// The [`EventStream`] is gone.
    Stopped,
    /// The connection broke or could not be made.
    Lost {
        error: String,
        /// Whether this connection got as far as `hello`.
        connected: bool,
    },
}

fn lost(error: impl Into<String>, connected: bool) -> End {
    End::Lost {
        error: error.into(),
        connected,
    }
}

/// The background task's state.
struct Worker {
    mm: Mattermost,
    /// The WebSocket URL (it holds no secret).
    url: String,
    opts: EventStreamOptions,
    tx: mpsc::Sender<BotEvent>,
    /// Whether any connection got as far as `hello`.
    connected_before: bool,
    /// Failures since the last `hello`.
    failures: u32,
    /// When the stream went down, if it is down and that was logged.
    down_since: Option<Instant>,
}

impl Worker {
    async fn run(mut self) {
        loop {
            let (error, connected) = match self.connection().await {
                End::Stopped => return,
                End::Lost { error, connected } => (error, connected),
            };
            self.failures = self.failures.saturating_add(1);
            let retry_in = retry_delay(&self.opts, self.failures);
            if self.down_since.is_none() {
                self.down_since = Some(Instant::now());
                if connected {
                    tracing::warn!(url = %self.url, %error, ?retry_in, "lost the Mattermost event stream; reconnecting");
                } else {
                    tracing::warn!(url = %self.url, %error, ?retry_in, "cannot connect to the Mattermost event stream; retrying");
                }
            } else {
                tracing::debug!(url = %self.url, %error, ?retry_in, failures = self.failures, "the Mattermost event stream is still down");
            }
            if self
                .tx
                .send(BotEvent::Disconnected { error, retry_in })
                .await
                .is_err()
            {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(retry_in) => {}
                () = self.tx.closed() => return,
            }
        }
    }

    /// Connects, authenticates and forwards events until the connection ends.
    async fn connection(&mut self) -> End {
        let token = self.mm.options().token.trim().to_owned();
        let mut request = match self.url.as_str().into_client_request() {
            Ok(request) => request,
            Err(e) => return lost(describe(&e), false),
        };
        let Ok(mut auth) = HeaderValue::from_str(&format!("Bearer {token}")) else {
            return lost("the access token cannot be sent in a header", false);
        };
        auth.set_sensitive(true);
        let headers = request.headers_mut();
        headers.insert(header::AUTHORIZATION, auth);
        headers.insert(
            header::USER_AGENT,
            HeaderValue::from_static(concat!("shipyard/", env!("CARGO_PKG_VERSION"))),
        );

        let limit = self.mm.options().request_timeout;
        let connect = tokio_tungstenite::connect_async(request);
        let ws = match tokio::time::timeout(limit, connect).await {
            Err(_) => return lost(format!("no WebSocket upgrade within {limit:?}"), false),
            Ok(Err(e)) => return lost(describe(&e), false),
            Ok(Ok((ws, _))) => ws,
        };
        tracing::debug!(url = %self.url, "WebSocket open; waiting for hello");
        let (mut sink, mut frames) = ws.split();

        let challenge = serde_json::json!({
            "seq": 1,
            "action": "authentication_challenge",
            "data": { "token": token },
        });
        let silence = self.opts.ping_interval.saturating_mul(2);
        match tokio::time::timeout(silence, sink.send(Message::text(challenge.to_string()))).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return lost(describe(&e), false),
            Err(_) => return lost("cannot send the authentication challenge", false),
        }

        let mut connected = false;
        let every = self.opts.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut deadline = Instant::now() + silence;
        loop {
            tokio::select! {
                () = self.tx.closed() => return End::Stopped,
                () = tokio::time::sleep_until(deadline) => {
                    return lost(format!("nothing from Mattermost for {silence:?}"), connected);
                }
                _ = ping.tick() => {
                    match tokio::time::timeout(silence, sink.send(Message::Ping(Default::default()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return lost(describe(&e), connected),
                        Err(_) => return lost("cannot send a ping", connected),
                    }
                }
                frame = frames.next() => {
                    let text = match frame {
                        None => return lost("the connection closed", connected),
                        Some(Err(e)) => return lost(describe(&e), connected),
                        Some(Ok(Message::Close(frame))) => {
                            return lost(closed(frame.as_ref().map(|f| (f.code, f.reason.as_str()))), connected);
                        }
                        Some(Ok(Message::Text(text))) => Some(text),
                        Some(Ok(_)) => None,
                    };
                    match text.as_deref().map(read_event) {
                        Some(Incoming::Hello) if !connected => {
                            connected = true;
                            if !self.hello().await {
                                return End::Stopped;
                            }
                        }
                        Some(Incoming::Posted(event)) => {
                            if self.tx.send(BotEvent::Posted(*event)).await.is_err() {
                                return End::Stopped;
                            }
                        }
                        Some(Incoming::Hello | Incoming::Other) | None => {}
                    }
                    // Time spent waiting for the bot to take an event does not count as silence.
                    deadline = Instant::now() + silence;
                }
            }
        }
    }

    /// Records an established connection and reports it; false if the stream is gone.
    async fn hello(&mut self) -> bool {
        let reconnect = self.connected_before;
        self.connected_before = true;
        self.failures = 0;
        match self.down_since.take() {
            Some(since) => {
                tracing::info!(url = %self.url, down_for = ?since.elapsed(), "the Mattermost event stream is back");
            }
            None if !reconnect => {
                tracing::info!(url = %self.url, "connected to the Mattermost event stream");
            }
            None => {}
        }
        self.tx
            .send(BotEvent::Connected { reconnect })
            .await
            .is_ok()
    }
}

/// What one text frame means to the stream.
#[derive(Debug, PartialEq)]
enum Incoming {
    Hello,
    Posted(Box<PostedEvent>),
    /// Another event, a reply to a request, or something unreadable.
    Other,
}

/// An event's envelope; replies to the client's requests have no `event`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    data: Value,
}

/// The `data` of a `posted` event.
#[derive(Deserialize)]
struct PostedData {
    /// The post as a JSON string.
    post: Value,
    #[serde(default)]
    channel_type: Option<String>,
    #[serde(default)]
    channel_name: Option<String>,
    #[serde(default)]
    sender_name: Option<String>,
    #[serde(default)]
    team_id: Option<String>,
    /// A JSON string holding an array of user ids.
    #[serde(default)]
    mentions: Option<String>,
}

fn read_event(text: &str) -> Incoming {
    let envelope: Envelope = match serde_json::from_str(text) {
        Ok(envelope) => envelope,
        Err(e) => {
            tracing::debug!(error = %e, "skipping an unreadable WebSocket message");
            return Incoming::Other;
        }
    };
    match envelope.event.as_deref() {
        Some("hello") => Incoming::Hello,
        Some("posted") => match read_posted(envelope.data) {
            Ok(event) => Incoming::Posted(Box::new(event)),
            Err(e) => {
                tracing::debug!(error = %e, "skipping an unreadable posted event");
                Incoming::Other
            }
        },
        Some(_) => Incoming::Other,
        None => {
            if envelope.data.is_null() {
                // A reply; only a failed one is worth a note.
                if let Ok(reply) = serde_json::from_str::<Value>(text)
                    && reply.get("status").and_then(Value::as_str) == Some("FAIL")
                {
                    tracing::debug!(reply = %text, "Mattermost refused a WebSocket request");
                }
            }
            Incoming::Other
        }
    }
}

fn read_posted(data: Value) -> Result<PostedEvent, serde_json::Error> {
    let data: PostedData = serde_json::from_value(data)?;
    let post: Post = match data.post {
        Value::String(text) => serde_json::from_str(&text)?,
        other => serde_json::from_value(other)?,
    };
    let mentions = match data.mentions.as_deref().map(str::trim) {
        None | Some("") => Vec::new(),
        Some(text) => serde_json::from_str(text).unwrap_or_else(|e| {
            tracing::debug!(error = %e, post_id = %post.id, "ignoring unreadable mentions");
            Vec::new()
        }),
    };
    let sender_name = data.sender_name.unwrap_or_default();
    Ok(PostedEvent {
        post,
        channel_type: data.channel_type.unwrap_or_default(),
        channel_name: data.channel_name.unwrap_or_default(),
        sender_name: sender_name
            .strip_prefix('@')
            .unwrap_or(&sender_name)
            .to_owned(),
        team_id: data.team_id.unwrap_or_default(),
        mentions,
    })
}

/// A close frame in a few words.
fn closed(frame: Option<(CloseCode, &str)>) -> String {
    match frame {
        None => "Mattermost closed the connection".to_owned(),
        Some((code, "")) => format!("Mattermost closed the connection ({code})"),
        Some((code, reason)) => format!("Mattermost closed the connection ({code}: {reason})"),
    }
}

/// A WebSocket failure in a few words, without the request.
fn describe(e: &tungstenite::Error) -> String {
    use tungstenite::Error;
    match e {
        Error::Http(resp) => {
            let body = resp.body().as_deref().unwrap_or_default();
            format!(
                "Mattermost refused the WebSocket ({}): {}",
                resp.status(),
                crate::client::message(resp.status(), body)
            )
        }
        Error::Io(e) => format!("connection failed ({e})"),
        Error::ConnectionClosed | Error::AlreadyClosed => "the connection closed".to_owned(),
        Error::Tls(e) => format!("TLS failed ({e})"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(min: u64, max: u64) -> EventStreamOptions {
        sanitize(EventStreamOptions {
            min_backoff: Duration::from_millis(min),
            max_backoff: Duration::from_millis(max),
            ping_interval: Duration::from_secs(1),
        })
    }

    #[test]
    fn retry_delays_double_within_bounds() {
        let o = opts(100, 1000);
        let ms = Duration::from_millis;
        for _ in 0..50 {
            assert_eq!(retry_delay(&o, 1), ms(100));
            let second = retry_delay(&o, 2);
            assert!((ms(100)..=ms(200)).contains(&second), "{second:?}");
            let third = retry_delay(&o, 3);
            assert!((ms(200)..=ms(400)).contains(&third), "{third:?}");
            for failures in [5, 6, 40, u32::MAX] {
                let d = retry_delay(&o, failures);
                assert!((ms(500)..=ms(1000)).contains(&d), "{failures}: {d:?}");
            }
        }
    }

    #[test]
    fn odd_options_are_made_workable() {
        let o = sanitize(EventStreamOptions {
            min_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
            ping_interval: Duration::ZERO,
        });
        assert!(o.min_backoff > Duration::ZERO);
        assert!(o.ping_interval > Duration::ZERO);
        assert!(retry_delay(&o, 3) > Duration::ZERO);
        let inverted = opts(500, 100);
        assert_eq!(retry_delay(&inverted, 4), Duration::from_millis(500));
    }

    #[test]
    fn posted_events_are_read() {
        let post = serde_json::json!({
            "id": "p1", "channel_id": "c1", "user_id": "u1", "root_id": "r1",
            "message": "@shipyard status", "create_at": 7, "update_at": 7, "edit_at": 0,
        });
        let text = serde_json::json!({
            "event": "posted",
            "data": {
                "post": post.to_string(),
                "channel_type": "P",
                "channel_name": "releases",
                "sender_name": "@alice",
                "team_id": "t1",
                "mentions": "[\"b1\",\"b2\"]",
                "set_online": true,
            },
            "broadcast": {"channel_id": "c1"},
            "seq": 4,
        })
        .to_string();
        let Incoming::Posted(event) = read_event(&text) else {
            panic!("not read as posted: {text}");
        };
        assert_eq!(event.post.id, "p1");
        assert_eq!(event.post.root_id, "r1");
        assert_eq!(event.post.message, "@shipyard status");
        assert_eq!(event.channel_type, "P");
        assert_eq!(event.channel_name, "releases");
        assert_eq!(event.sender_name, "alice");
        assert_eq!(event.team_id, "t1");
        assert_eq!(event.mentions, ["b1", "b2"]);
    }

    #[test]
    fn missing_or_bad_mentions_are_empty() {
        for mentions in [None, Some("not json"), Some("")] {
            let mut data = serde_json::json!({"post": "{\"id\":\"p1\"}", "sender_name": "bob"});
            if let (Some(m), Some(obj)) = (mentions, data.as_object_mut()) {
                obj.insert("mentions".into(), Value::String(m.into()));
            }
            let text = serde_json::json!({"event": "posted", "data": data}).to_string();
            let Incoming::Posted(event) = read_event(&text) else {
                panic!("not read as posted: {text}");
            };
            assert!(event.mentions.is_empty());
            assert_eq!(event.sender_name, "bob");
            assert_eq!(event.channel_type, "");
        }
    }

    #[test]
    fn other_messages_are_skipped() {
        for text in [
            r#"{"event":"hello","data":{"server_version":"x"},"seq":0}"#,
            r#"{"event":"post_edited","data":{"post":"{\"id\":\"p1\"}"},"seq":3}"#,
            r#"{"event":"typing","data":{},"seq":5}"#,
            r#"{"status":"OK","seq_reply":1}"#,
            r#"{"status":"FAIL","seq_reply":1,"error":{"id":"x"}}"#,
            r#"{"event":"posted","data":{"post":"{not json"}}"#,
            r#"{"event":"posted","data":{}}"#,
            r#"{"event":"posted","data":"nope"}"#,
            "[1, 2",
            "",
        ] {
            let want = if text.contains("hello") {
                Incoming::Hello
            } else {
                Incoming::Other
            };
            assert_eq!(read_event(text), want, "{text}");
        }
    }

    #[test]
    fn close_frames_are_described() {
        assert_eq!(closed(None), "Mattermost closed the connection");
        assert_eq!(
            closed(Some((CloseCode::Away, "restarting"))),
            "Mattermost closed the connection (1001: restarting)"
        );
    }
}
