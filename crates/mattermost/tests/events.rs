//! The event stream against the simulated Mattermost (and one silent server), over real
//! sockets.

use futures::{SinkExt as _, StreamExt as _};
use shipyard_mattermost::{
    BotEvent, EventStream, EventStreamOptions, Mattermost, MattermostError, MattermostOptions,
    NewPost, PostedEvent,
};
use shipyard_sim::mattermost::SimMattermost;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "bot-token";

/// The longest wait for anything that should happen.
const WAIT: Duration = Duration::from_secs(5);

const MIN_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_millis(200);

/// A sim with the bot `shipyard` (token [`TOKEN`]) and person `alice` in `acme/releases`.
struct World {
    sim: SimMattermost,
    bot: String,
    channel: String,
}

async fn world() -> std::io::Result<World> {
    let sim = SimMattermost::start().await?;
    let bot = sim.add_bot("shipyard", TOKEN);
    let alice = sim.add_user("alice");
    let channel = sim.add_channel("acme", "releases");
    sim.add_member(&channel, &bot);
    sim.add_member(&channel, &alice);
    Ok(World { sim, bot, channel })
}

fn client(url: &str, token: &str) -> Result<Mattermost, MattermostError> {
    let mut opts = MattermostOptions::new(url, token);
    opts.request_timeout = Duration::from_secs(5);
    opts.retry_base = Duration::from_millis(10);
    opts.retry_cap = Duration::from_millis(50);
    Mattermost::new(opts)
}

fn fast() -> EventStreamOptions {
    EventStreamOptions {
        min_backoff: MIN_BACKOFF,
        max_backoff: MAX_BACKOFF,
        ping_interval: Duration::from_secs(1),
    }
}

async fn next(stream: &mut EventStream) -> Result<BotEvent, Box<dyn std::error::Error>> {
    tokio::time::timeout(WAIT, stream.next())
        .await
        .map_err(|_| "no event in time")?
        .ok_or_else(|| "the stream ended".into())
}

async fn expect_connected(stream: &mut EventStream, reconnect: bool) -> TestResult {
    match next(stream).await? {
        BotEvent::Connected { reconnect: r } if r == reconnect => Ok(()),
        other => {
            Err(format!("expected Connected {{ reconnect: {reconnect} }}, got {other:?}").into())
        }
    }
}

async fn expect_posted(
    stream: &mut EventStream,
) -> Result<PostedEvent, Box<dyn std::error::Error>> {
    match next(stream).await? {
        BotEvent::Posted(event) => Ok(event),
        other => Err(format!("expected Posted, got {other:?}").into()),
    }
}

async fn expect_disconnected(
    stream: &mut EventStream,
) -> Result<(String, Duration), Box<dyn std::error::Error>> {
    match next(stream).await? {
        BotEvent::Disconnected { error, retry_in } => Ok((error, retry_in)),
        other => Err(format!("expected Disconnected, got {other:?}").into()),
    }
}

/// Waits until `check` holds, looking every few milliseconds.
async fn eventually(mut check: impl FnMut() -> bool) -> TestResult {
    tokio::time::timeout(WAIT, async {
        while !check() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .map_err(|_| "the condition never held".into())
}

#[tokio::test]
async fn a_persons_post_arrives_with_its_context() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim.url(), TOKEN)?;
    let mut stream = mm.events(fast());
    expect_connected(&mut stream, false).await?;

    let root = w
        .sim
        .post_as("alice", &w.channel, "@shipyard promote 1.2 please", None);
    let event = expect_posted(&mut stream).await?;
    assert_eq!(event.post.id, root.id);
    assert_eq!(event.post.channel_id, w.channel);
    assert_eq!(event.post.message, "@shipyard promote 1.2 please");
    assert_eq!(event.post.root_id, "");
    assert_eq!(event.post.create_at, root.create_at);
    assert_eq!(event.channel_type, "O");
    assert_eq!(event.channel_name, "releases");
    assert_eq!(event.sender_name, "alice");
    assert_eq!(Some(event.team_id), w.sim.team_id("acme"));
    assert_eq!(event.mentions, vec![w.bot.clone()]);

    let reply = w.sim.post_as("alice", &w.channel, "thanks", Some(&root.id));
    let event = expect_posted(&mut stream).await?;
    assert_eq!(event.post.id, reply.id);
    assert_eq!(event.post.root_id, root.id);
    assert!(event.mentions.is_empty());
    assert_eq!(w.sim.websocket_connections(), 1);
    Ok(())
}

#[tokio::test]
async fn the_bots_own_posts_arrive_too_and_edits_do_not() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim.url(), TOKEN)?;
    let mut stream = mm.events(fast());
    expect_connected(&mut stream, false).await?;

    let mine = mm
        .create_post(&NewPost::new(w.channel.clone(), "Deploying 1.2"))
        .await?;
    let event = expect_posted(&mut stream).await?;
    assert_eq!(event.post, mine);
    assert_eq!(event.post.user_id, w.bot);
    assert_eq!(event.sender_name, "shipyard");

    // The edit's post_edited is skipped; the next event is the following post.
    mm.patch_post(&mine.id, "Deployed 1.2").await?;
    let after = w.sim.post_as("alice", &w.channel, "nice", None);
    let event = expect_posted(&mut stream).await?;
    assert_eq!(event.post.id, after.id);
    Ok(())
}

#[tokio::test]
async fn a_dropped_connection_comes_back() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim.url(), TOKEN)?;
    let mut stream = mm.events(fast());
    expect_connected(&mut stream, false).await?;

    w.sim.drop_connections();
    let (error, retry_in) = expect_disconnected(&mut stream).await?;
    assert!(!error.is_empty());
    assert_eq!(retry_in, MIN_BACKOFF, "the first failure waits min_backoff");
    expect_connected(&mut stream, true).await?;
    assert_eq!(w.sim.websocket_connections(), 2);
    assert_eq!(w.sim.open_websockets(), 1);

    let post = w.sim.post_as("alice", &w.channel, "still there?", None);
    assert_eq!(expect_posted(&mut stream).await?.post.id, post.id);

    // A second loss starts the backoff over.
    w.sim.drop_connections();
    let (_, retry_in) = expect_disconnected(&mut stream).await?;
    assert_eq!(retry_in, MIN_BACKOFF);
    expect_connected(&mut stream, true).await?;
    assert_eq!(w.sim.websocket_connections(), 3);
    Ok(())
}

#[tokio::test]
async fn refused_upgrades_back_off_up_to_the_cap() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim.url(), TOKEN)?;
    let mut stream = mm.events(fast());
    expect_connected(&mut stream, false).await?;

    w.sim.set_refuse_websocket(true);
    w.sim.drop_connections();
    let mut delays = Vec::new();
    for i in 0..6 {
        let (error, retry_in) = expect_disconnected(&mut stream).await?;
        if i > 0 {
            assert!(error.contains("503"), "{error}");
        }
        delays.push(retry_in);
    }
    // Ceilings 50, 100, 200, 200… ms; each wait is between half its ceiling and the ceiling.
    assert_eq!(delays[0], MIN_BACKOFF);
    assert!(
        (MIN_BACKOFF..=MIN_BACKOFF * 2).contains(&delays[1]),
        "{delays:?}"
    );
    for d in &delays[2..] {
        assert!((MAX_BACKOFF / 2..=MAX_BACKOFF).contains(d), "{delays:?}");
    }
    assert!(delays[5] > delays[0], "{delays:?}");

    w.sim.set_refuse_websocket(false);
    loop {
        match next(&mut stream).await? {
            BotEvent::Disconnected { retry_in, .. } => assert!(retry_in <= MAX_BACKOFF),
            BotEvent::Connected { reconnect } => {
                assert!(reconnect);
                break;
            }
            other => return Err(format!("unexpected {other:?}").into()),
        }
    }
    assert_eq!(
        w.sim.websocket_connections(),
        2,
        "refused upgrades are not counted"
    );
    let post = w.sim.post_as("alice", &w.channel, "back?", None);
    assert_eq!(expect_posted(&mut stream).await?.post.id, post.id);
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_never_connects() -> TestResult {
    let w = world().await?;
    let secret = "wrong-s3cret-token";
    let mm = client(&w.sim.url(), secret)?;
    let mut stream = mm.events(fast());
    for _ in 0..4 {
        let (error, retry_in) = expect_disconnected(&mut stream).await?;
        assert!(error.contains("401"), "{error}");
        assert!(error.contains("Invalid or expired session"), "{error}");
        assert!(!error.contains(secret), "{error}");
        assert!(retry_in <= MAX_BACKOFF);
    }
    assert_eq!(w.sim.websocket_connections(), 0);
    assert!(!format!("{stream:?} {mm:?}").contains(secret));
    Ok(())
}

#[tokio::test]
async fn an_unreachable_server_is_retried() -> TestResult {
    let w = world().await?;
    let url = w.sim.url();
    w.sim.shutdown().await;
    let mm = client(&url, TOKEN)?;
    let mut stream = mm.events(fast());
    for _ in 0..3 {
        let (error, _) = expect_disconnected(&mut stream).await?;
        assert!(error.contains("connection failed"), "{error}");
    }
    Ok(())
}

#[tokio::test]
async fn dropping_the_stream_closes_the_socket() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim.url(), TOKEN)?;
    let mut stream = mm.events(fast());
    expect_connected(&mut stream, false).await?;
    assert_eq!(w.sim.open_websockets(), 1);
    drop(stream);
    eventually(|| w.sim.open_websockets() == 0).await?;
    assert_eq!(w.sim.websocket_connections(), 1);
    Ok(())
}

#[tokio::test]
async fn pings_keep_a_quiet_connection_alive() -> TestResult {
    let w = world().await?;
    let mm = client(&w.sim.url(), TOKEN)?;
    let ping_interval = Duration::from_millis(100);
    let mut stream = mm.events(EventStreamOptions {
        ping_interval,
        ..fast()
    });
    expect_connected(&mut stream, false).await?;
    // Six ping intervals without events: only the pongs keep the connection counted alive.
    let quiet = tokio::time::timeout(ping_interval * 6, stream.next()).await;
    assert!(quiet.is_err(), "unexpected event {quiet:?}");
    let post = w.sim.post_as("alice", &w.channel, "still here", None);
    assert_eq!(expect_posted(&mut stream).await?.post.id, post.id);
    assert_eq!(w.sim.websocket_connections(), 1);
    Ok(())
}

/// A server that says `hello`, reads the first message, then goes silent (no pongs either).
/// Each connection reports the upgrade's `Authorization` header and that first message.
async fn silent_server() -> std::io::Result<(
    String,
    tokio::sync::mpsc::UnboundedReceiver<(String, String)>,
    tokio::task::JoinHandle<()>,
)> {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((tcp, _)) = listener.accept().await {
            let mut auth = String::new();
            #[expect(
                clippy::result_large_err,
                reason = "the handshake callback's signature is tungstenite's"
            )]
            let callback = |req: &tokio_tungstenite::tungstenite::handshake::server::Request,
                            resp| {
                auth = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                Ok(resp)
            };
            let Ok(mut ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
                continue;
            };
            let hello = r#"{"event":"hello","data":{"server_version":"silent"},"seq":0}"#;
            if ws.send(Message::text(hello)).await.is_err() {
                continue;
            }
            let first = match ws.next().await {
                Some(Ok(Message::Text(text))) => text.as_str().to_owned(),
                other => format!("{other:?}"),
            };
            let _ = tx.send((auth, first));
            held.push(ws);
        }
    });
    Ok((url, rx, task))
}

#[tokio::test]
async fn a_silent_connection_counts_as_dead() -> TestResult {
    let (url, mut seen, server) = silent_server().await?;
    let mm = client(&url, TOKEN)?;
    let ping_interval = Duration::from_millis(100);
    let mut stream = mm.events(EventStreamOptions {
        ping_interval,
        ..fast()
    });
    expect_connected(&mut stream, false).await?;
    let (auth, first) = tokio::time::timeout(WAIT, seen.recv())
        .await?
        .ok_or("the server stopped")?;
    assert_eq!(auth, format!("Bearer {TOKEN}"));
    let challenge: serde_json::Value = serde_json::from_str(&first)?;
    assert_eq!(
        challenge,
        serde_json::json!({"seq": 1, "action": "authentication_challenge", "data": {"token": TOKEN}})
    );

    let (error, _) = expect_disconnected(&mut stream).await?;
    assert!(error.contains("nothing from Mattermost"), "{error}");
    expect_connected(&mut stream, true).await?;
    drop(stream);
    server.abort();
    Ok(())
}
