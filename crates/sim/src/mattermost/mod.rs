//! Simulated Mattermost server: a subset of the v4 REST API and the WebSocket event stream on
//! loopback, with people that tests make post and faults that tests inject.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use shipyard_sim::mattermost::{RestFault, SimMattermost};
//! let sim = SimMattermost::start().await?;
//! let bot = sim.add_bot("shipyard", "bot-token");
//! let alice = sim.add_user("alice");
//! let releases = sim.add_channel("acme", "releases");
//! sim.add_member(&releases, &bot);
//! sim.add_member(&releases, &alice);
//! // a bot connects to `sim.url()` with `Authorization: Bearer bot-token`, then:
//! sim.post_as("alice", &releases, "@shipyard status", None);
//! sim.push_rest_faults([RestFault::TooManyRequests { retry_after_secs: 1 }]);
//! sim.drop_connections();
//! # Ok(()) }
//! ```
//!
//! Endpoints: `GET /api/v4/users/me`, `GET /api/v4/users/{id}`, `POST /api/v4/posts`, `GET /api/v4/posts/{id}`,
//! `PUT /api/v4/posts/{id}/patch`, `GET /api/v4/channels/{channel_id}/posts` and
//! `GET /api/v4/websocket`. A channel's posts come as Mattermost's `PostList` (`order`, newest
//! first, and `posts` by id): with `?since=<Unix ms>` every post of the channel whose `update_at`
//! is at or after that time (created or changed since), otherwise the page `page` (from 0) of
//! `per_page` posts (default 60, at most 200). REST requests authenticate with
//! `Authorization: Bearer <token>` (or `Token <token>`); the WebSocket with that header on the
//! upgrade or with an `authentication_challenge` as its first message. Posting sends `posted`
//! and patching sends `post_edited` to every open WebSocket of the channel's members.
//!
//! For people there are web pages without authentication: `GET /` lists the channels and
//! `/{team}/channels/{name}` (see [`SimMattermost::channel_page_url`]) shows a channel's posts
//! as threads, refreshing itself, with a form to post as one of its members. Page requests are
//! not counted in [`SimMattermost::rest_requests`] and never get injected faults.
//!
//! It is not Mattermost: only bots have tokens, every channel is public (`"O"`), mentions are
//! `@username` of channel members only (no `@channel`, `@here` or keywords), there are no files,
//! reactions, deletions, threads' reply counts or permissions beyond channel membership and
//! authorship, and nothing is persisted.

mod page;
mod server;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// What the `hello` event reports as `server_version`.
pub const SERVER_VERSION: &str = "10.5.0.10.5.0.sim.false";

/// The path of the WebSocket endpoint.
pub const WEBSOCKET_PATH: &str = "/api/v4/websocket";

/// A failure answered to one REST request instead of its real answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestFault {
    /// This status with a Mattermost-style JSON error body.
    Status(u16),
    /// 429 with `Retry-After` and `X-Ratelimit-*` headers, as Mattermost's rate limiter answers.
    TooManyRequests {
        /// Value of `Retry-After` and `X-Ratelimit-Reset`.
        retry_after_secs: u64,
    },
}

/// A post, with the fields Mattermost's v4 API sends.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Post {
    /// 26-character id.
    pub id: String,
    /// Unix milliseconds.
    pub create_at: i64,
    /// Unix milliseconds.
    pub update_at: i64,
    /// Unix milliseconds of the last edit of the message; 0 when never edited.
    pub edit_at: i64,
    /// Always 0: posts are never deleted here.
    pub delete_at: i64,
    /// The author.
    pub user_id: String,
    /// The channel.
    pub channel_id: String,
    /// The thread's root post, or empty.
    pub root_id: String,
    /// The text.
    pub message: String,
    /// Empty for ordinary posts.
    #[serde(rename = "type")]
    pub post_type: String,
    /// `from_bot: "true"` for bots' posts, plus whatever the client sent.
    pub props: Map<String, Value>,
    /// Always empty.
    pub hashtags: String,
    /// Echoed from the creating request.
    pub pending_post_id: String,
    /// Always empty.
    pub metadata: Map<String, Value>,
}

#[derive(Debug, Clone)]
pub(crate) struct User {
    pub id: String,
    pub username: String,
    pub is_bot: bool,
    pub create_at: i64,
}

#[derive(Debug, Clone)]
pub(crate) struct Team {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Channel {
    pub id: String,
    pub team_id: String,
    pub name: String,
}

/// One open WebSocket; dropping `tx` closes it.
#[derive(Debug)]
pub(crate) struct Conn {
    pub user_id: Option<String>,
    pub tx: mpsc::UnboundedSender<Value>,
}

#[derive(Debug, Default)]
pub(crate) struct State {
    pub users: Vec<User>,
    pub tokens: HashMap<String, String>,
    pub teams: Vec<Team>,
    pub channels: Vec<Channel>,
    /// `(channel_id, user_id)`.
    pub members: HashSet<(String, String)>,
    pub posts: Vec<Post>,
    pub conns: HashMap<u64, Conn>,
    pub next_conn: u64,
    pub faults: VecDeque<RestFault>,
    pub refuse_websocket: bool,
    /// How long a post creation's answer takes after the post is stored.
    pub post_latency: std::time::Duration,
    pub rest_requests: u64,
    pub websocket_connections: u64,
}

impl State {
    pub fn user(&self, id: &str) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn user_by_token(&self, token: &str) -> Option<&User> {
        self.tokens.get(token).and_then(|id| self.user(id))
    }

    pub fn channel(&self, id: &str) -> Option<&Channel> {
        self.channels.iter().find(|c| c.id == id)
    }

    pub fn is_member(&self, channel_id: &str, user_id: &str) -> bool {
        self.members
            .contains(&(channel_id.to_owned(), user_id.to_owned()))
    }

    pub fn post(&self, id: &str) -> Option<&Post> {
        self.posts.iter().find(|p| p.id == id)
    }

    /// Sends an event (without `seq`, which each connection adds) to the open, authenticated
    /// WebSockets of the channel's members.
    pub fn broadcast(&self, channel_id: &str, event: &str, data: Value) {
        let message = serde_json::json!({
            "event": event,
            "data": data,
            "broadcast": {
                "omit_users": null,
                "user_id": "",
                "channel_id": channel_id,
                "team_id": "",
            },
        });
        for conn in self.conns.values() {
            if let Some(user_id) = &conn.user_id
                && self.is_member(channel_id, user_id)
            {
                let _ = conn.tx.send(message.clone());
            }
        }
    }

    /// Records a new post and sends `posted`.
    pub fn create_post(
        &mut self,
        user_id: &str,
        channel_id: &str,
        message: &str,
        root_id: &str,
        props: Map<String, Value>,
        pending_post_id: &str,
    ) -> Post {
        let now = now_ms();
        let mut props = props;
        if self.user(user_id).is_some_and(|u| u.is_bot) {
            props.insert("from_bot".to_owned(), Value::String("true".to_owned()));
        }
        let post = Post {
            id: new_id(),
            create_at: now,
            update_at: now,
            edit_at: 0,
            delete_at: 0,
            user_id: user_id.to_owned(),
            channel_id: channel_id.to_owned(),
            root_id: root_id.to_owned(),
            message: message.to_owned(),
            post_type: String::new(),
            props,
            hashtags: String::new(),
            pending_post_id: pending_post_id.to_owned(),
            metadata: Map::new(),
        };
        self.posts.push(post.clone());
        let data = self.posted_data(&post);
        self.broadcast(channel_id, "posted", data);
        post
    }

    fn posted_data(&self, post: &Post) -> Value {
        let channel = self.channel(&post.channel_id);
        let sender = self.user(&post.user_id).map(|u| u.username.as_str());
        let mut data = serde_json::json!({
            "channel_display_name": channel.map(|c| c.name.as_str()).unwrap_or_default(),
            "channel_name": channel.map(|c| c.name.as_str()).unwrap_or_default(),
            "channel_type": "O",
            "post": post_string(post),
            "sender_name": format!("@{}", sender.unwrap_or_default()),
            "set_online": true,
            "team_id": channel.map(|c| c.team_id.as_str()).unwrap_or_default(),
        });
        let mentions = self.mentions(post);
        if !mentions.is_empty()
            && let Some(obj) = data.as_object_mut()
        {
            let ids = serde_json::to_string(&mentions).unwrap_or_default();
            obj.insert("mentions".to_owned(), Value::String(ids));
        }
        data
    }

    /// Ids of the channel members other than the author named as `@username` in the message.
    fn mentions(&self, post: &Post) -> Vec<String> {
        let is_name_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        let mut found = Vec::new();
        for word in post.message.split(|c: char| !(is_name_char(c) || c == '@')) {
            let Some(name) = word.strip_prefix('@') else {
                continue;
            };
            let name = name.to_ascii_lowercase();
            let candidates = [name.as_str(), name.trim_end_matches(['.', '_', '-'])];
            let hit = candidates.iter().find_map(|n| {
                self.users.iter().find(|u| {
                    u.username == *n
                        && u.id != post.user_id
                        && self.is_member(&post.channel_id, &u.id)
                })
            });
            if let Some(user) = hit
                && !found.contains(&user.id)
            {
                found.push(user.id.clone());
            }
        }
        found
    }

    /// Replaces a post's message and sends `post_edited`.
    pub fn edit_post(&mut self, id: &str, message: Option<&str>) -> Option<Post> {
        let now = now_ms();
        let post = self.posts.iter_mut().find(|p| p.id == id)?;
        let now = now.max(post.update_at + 1);
        post.update_at = now;
        if let Some(message) = message {
            message.clone_into(&mut post.message);
            post.edit_at = now;
        }
        let post = post.clone();
        let data = serde_json::json!({ "post": post_string(&post) });
        self.broadcast(&post.channel_id, "post_edited", data);
        Some(post)
    }
}

fn post_string(post: &Post) -> String {
    serde_json::to_string(post).unwrap_or_default()
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A 26-character id in Mattermost's alphabet.
pub(crate) fn new_id() -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut rng = rand::rng();
    (0..26)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Shared state behind the server and the scripting handle.
#[derive(Debug, Default)]
pub(crate) struct Inner {
    state: Mutex<State>,
}

impl Inner {
    /// Locks the state, carrying on with the data if a panicking holder poisoned it.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A running simulated Mattermost server; it stops when this is dropped or shut down.
pub struct SimMattermost {
    inner: Arc<Inner>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SimMattermost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimMattermost")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl SimMattermost {
    /// Binds 127.0.0.1 on a free port and serves an empty server: no users, teams or channels.
    pub async fn start() -> std::io::Result<SimMattermost> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let inner = Arc::new(Inner::default());
        let app = server::router(inner.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let serve = axum::serve(listener, app).with_graceful_shutdown(async move {
                let _ = rx.await;
            });
            if let Err(e) = serve.await {
                tracing::warn!(error = %e, "simulated Mattermost stopped");
            }
        });
        tracing::debug!(%addr, "simulated Mattermost listening");
        Ok(SimMattermost {
            inner,
            addr,
            shutdown: Some(tx),
            task: Some(task),
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (the API is below `/api/v4`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The WebSocket URL, `ws://127.0.0.1:PORT/api/v4/websocket`.
    pub fn websocket_url(&self) -> String {
        format!("ws://{}{WEBSOCKET_PATH}", self.addr)
    }

    /// The web page of the channel named `channel_name` in the team named `team`, where a person
    /// can read the channel and post as one of its members from a browser.
    pub fn channel_page_url(&self, team: &str, channel_name: &str) -> String {
        format!("{}{}", self.url(), page::channel_path(team, channel_name))
    }

    /// Socket address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn add(&self, username: &str, is_bot: bool) -> (MutexGuard<'_, State>, String) {
        let mut state = self.inner.state();
        assert!(
            !state.users.iter().any(|u| u.username == username),
            "a user named {username} exists already"
        );
        let id = new_id();
        state.users.push(User {
            id: id.clone(),
            username: username.to_owned(),
            is_bot,
            create_at: now_ms(),
        });
        (state, id)
    }

    /// Adds a person and returns their id.
    ///
    /// # Panics
    /// If the username is taken.
    pub fn add_user(&self, username: &str) -> String {
        self.add(username, false).1
    }

    /// Adds a bot whose access token is `token` and returns its user id.
    ///
    /// # Panics
    /// If the username is taken.
    pub fn add_bot(&self, username: &str, token: &str) -> String {
        let (mut state, id) = self.add(username, true);
        state.tokens.insert(token.to_owned(), id.clone());
        id
    }

    /// The id of the team named `team`, if a channel was added to it.
    pub fn team_id(&self, team: &str) -> Option<String> {
        let state = self.inner.state();
        state
            .teams
            .iter()
            .find(|t| t.name == team)
            .map(|t| t.id.clone())
    }

    /// Adds a public channel named `name` (also its display name) to the team named `team`,
    /// making the team if needed, and returns the channel's id.
    pub fn add_channel(&self, team: &str, name: &str) -> String {
        let mut state = self.inner.state();
        let team_id = match state.teams.iter().find(|t| t.name == team) {
            Some(t) => t.id.clone(),
            None => {
                let id = new_id();
                state.teams.push(Team {
                    id: id.clone(),
                    name: team.to_owned(),
                });
                id
            }
        };
        let id = new_id();
        state.channels.push(Channel {
            id: id.clone(),
            team_id,
            name: name.to_owned(),
        });
        id
    }

    /// Makes the user a member of the channel: they receive its events and may post there.
    pub fn add_member(&self, channel_id: &str, user_id: &str) {
        self.inner
            .state()
            .members
            .insert((channel_id.to_owned(), user_id.to_owned()));
    }

    /// Records a post by the user named `username` and sends `posted` (membership is not
    /// checked).
    ///
    /// # Panics
    /// If there is no such user or channel.
    pub fn post_as(
        &self,
        username: &str,
        channel_id: &str,
        message: &str,
        root_id: Option<&str>,
    ) -> Post {
        let mut state = self.inner.state();
        let Some(user_id) = state
            .users
            .iter()
            .find(|u| u.username == username)
            .map(|u| u.id.clone())
        else {
            panic!("no user named {username}");
        };
        assert!(
            state.channel(channel_id).is_some(),
            "no channel {channel_id}"
        );
        state.create_post(
            &user_id,
            channel_id,
            message,
            root_id.unwrap_or_default(),
            Map::new(),
            "",
        )
    }

    /// Every post, oldest first, as it is now.
    pub fn posts(&self) -> Vec<Post> {
        self.inner.state().posts.clone()
    }

    /// The posts in one channel, oldest first.
    pub fn posts_in(&self, channel_id: &str) -> Vec<Post> {
        let state = self.inner.state();
        state
            .posts
            .iter()
            .filter(|p| p.channel_id == channel_id)
            .cloned()
            .collect()
    }

    /// One post as it is now.
    pub fn post(&self, id: &str) -> Option<Post> {
        self.inner.state().post(id).cloned()
    }

    /// Closes every open WebSocket at once, without a closing handshake, as a lost connection.
    pub fn drop_connections(&self) {
        self.inner.state().conns.clear();
    }

    /// How many WebSockets are open now (authenticated or not).
    pub fn open_websockets(&self) -> usize {
        self.inner.state().conns.len()
    }

    /// Queues faults, each answering one REST request (WebSocket upgrades are not affected).
    pub fn push_rest_faults(&self, faults: impl IntoIterator<Item = RestFault>) {
        self.inner.state().faults.extend(faults);
    }

    /// How long the answer to a post's creation takes, after the post is stored.
    pub fn set_post_latency(&self, latency: std::time::Duration) {
        self.inner.state().post_latency = latency;
    }

    /// While on, WebSocket upgrades are answered 503.
    pub fn set_refuse_websocket(&self, refuse: bool) {
        self.inner.state().refuse_websocket = refuse;
    }

    /// REST requests received so far, faulted ones included.
    pub fn rest_requests(&self) -> u64 {
        self.inner.state().rest_requests
    }

    /// WebSocket upgrades accepted so far.
    pub fn websocket_connections(&self) -> u64 {
        self.inner.state().websocket_connections
    }

    /// Closes the WebSockets, stops serving and waits (up to five seconds) for the server
    /// task to end.
    pub async fn shutdown(mut self) {
        self.drop_connections();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
    }
}

impl Drop for SimMattermost {
    fn drop(&mut self) {
        self.drop_connections();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
