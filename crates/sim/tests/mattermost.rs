//! The simulated Mattermost server over real sockets: REST with reqwest, the WebSocket with
//! tokio-tungstenite.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::mattermost::{Post, RestFault, SERVER_VERSION, SimMattermost};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const BOT_TOKEN: &str = "bot-token-1";
const WAIT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

struct World {
    sim: SimMattermost,
    bot: String,
    alice: String,
    releases: String,
}

async fn world() -> World {
    let sim = SimMattermost::start().await.unwrap();
    let bot = sim.add_bot("shipyard", BOT_TOKEN);
    let alice = sim.add_user("alice");
    let releases = sim.add_channel("acme", "releases");
    sim.add_member(&releases, &bot);
    sim.add_member(&releases, &alice);
    World {
        sim,
        bot,
        alice,
        releases,
    }
}

fn is_mattermost_id(id: &str) -> bool {
    id.len() == 26
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
}

async fn rest(
    sim: &SimMattermost,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{}/api/v4{path}", sim.url()));
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

async fn connect(sim: &SimMattermost, token: Option<&str>) -> Result<Ws, tungstenite::Error> {
    let mut req = sim.websocket_url().into_client_request().unwrap();
    if let Some(token) = token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(req))
        .await
        .unwrap()
        .map(|(ws, _)| ws)
}

/// The next text message as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a message in time")
            .expect("the socket is open")
            .unwrap();
        if let Message::Text(text) = msg {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// Waits for the server to end the connection.
async fn assert_closed(ws: &mut Ws) {
    loop {
        match tokio::time::timeout(WAIT, ws.next()).await {
            Err(_) => panic!("socket still open"),
            Ok(None | Some(Err(_) | Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(Message::Text(t)))) => panic!("unexpected message {t}"),
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// Connects with the bot's token and reads the hello.
async fn connect_bot(sim: &SimMattermost) -> Ws {
    let mut ws = connect(sim, Some(BOT_TOKEN)).await.unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    ws
}

fn decode_post(event: &Value) -> Post {
    serde_json::from_str(event["data"]["post"].as_str().expect("post is a string")).unwrap()
}

#[tokio::test]
async fn users_me_needs_a_valid_token() {
    let w = world().await;
    for token in [None, Some("wrong")] {
        let (status, headers, body) =
            rest(&w.sim, reqwest::Method::GET, "/users/me", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["id"], "api.context.session_expired.app_error");
        assert_eq!(body["status_code"], 401);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(headers.contains_key("x-request-id"));
    }
    let (status, _, me) = rest(
        &w.sim,
        reqwest::Method::GET,
        "/users/me",
        Some(BOT_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], w.bot.as_str());
    assert!(is_mattermost_id(&w.bot));
    assert!(is_mattermost_id(&w.alice));
    assert_eq!(me["username"], "shipyard");
    assert_eq!(me["is_bot"], true);
    assert!(me["create_at"].as_i64().unwrap() > 1_600_000_000_000);

    let resp = reqwest::Client::new()
        .get(format!("{}/api/v4/users/me", w.sim.url()))
        .header("authorization", format!("Token {BOT_TOKEN}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(w.sim.rest_requests(), 4);
    w.sim.shutdown().await;
}

#[tokio::test]
async fn header_auth_gets_hello_and_answers_pings() {
    let w = world().await;
    let mut ws = connect(&w.sim, Some(BOT_TOKEN)).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["seq"], 0);
    assert_eq!(hello["data"]["server_version"], SERVER_VERSION);
    assert_eq!(hello["broadcast"]["user_id"], w.bot.as_str());
    assert_eq!(w.sim.websocket_connections(), 1);
    assert_eq!(w.sim.rest_requests(), 0);

    ws.send(Message::Ping(b"hi"[..].into())).await.unwrap();
    let pong = tokio::time::timeout(WAIT, ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(pong, Message::Pong(b"hi"[..].into()));

    ws.send(Message::text(
        json!({"seq": 2, "action": "user_typing", "data": {"channel_id": w.releases}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(
        next_json(&mut ws).await,
        json!({"status": "OK", "seq_reply": 2})
    );

    let err = connect(&w.sim, Some("wrong")).await.unwrap_err();
    match err {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 401),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(w.sim.websocket_connections(), 1);
}

#[tokio::test]
async fn challenge_auth_then_hello() {
    let w = world().await;
    let mut ws = connect(&w.sim, None).await.unwrap();
    assert_eq!(w.sim.websocket_connections(), 1);

    ws.send(Message::text(
        json!({"seq": 1, "action": "user_typing", "data": {}}).to_string(),
    ))
    .await
    .unwrap();
    let refused = next_json(&mut ws).await;
    assert_eq!(refused["status"], "FAIL");
    assert_eq!(refused["seq_reply"], 1);
    assert_eq!(
        refused["error"]["id"],
        "api.web_socket_router.not_authenticated.app_error"
    );

    // Nothing is delivered before authentication.
    w.sim.post_as("alice", &w.releases, "early", None);

    ws.send(Message::text(
        json!({"seq": 2, "action": "authentication_challenge", "data": {"token": BOT_TOKEN}})
            .to_string(),
    ))
    .await
    .unwrap();
    let a = next_json(&mut ws).await;
    let b = next_json(&mut ws).await;
    let (reply, hello) = if a.get("event").is_some() {
        (b, a)
    } else {
        (a, b)
    };
    assert_eq!(reply, json!({"status": "OK", "seq_reply": 2}));
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["seq"], 0);
    assert_eq!(hello["broadcast"]["user_id"], w.bot.as_str());

    w.sim.post_as("alice", &w.releases, "late", None);
    let posted = next_json(&mut ws).await;
    assert_eq!(posted["event"], "posted");
    assert_eq!(posted["seq"], 1);
    assert_eq!(decode_post(&posted).message, "late");

    let mut bad = connect(&w.sim, None).await.unwrap();
    bad.send(Message::text(
        json!({"seq": 1, "action": "authentication_challenge", "data": {"token": "wrong"}})
            .to_string(),
    ))
    .await
    .unwrap();
    assert_closed(&mut bad).await;
}

#[tokio::test]
async fn a_persons_post_arrives_as_posted() {
    let w = world().await;
    let elsewhere = w.sim.add_channel("acme", "random");
    w.sim.add_member(&elsewhere, &w.alice);
    let mut ws = connect_bot(&w.sim).await;

    w.sim.post_as("alice", &elsewhere, "not for the bot", None);
    let post = w
        .sim
        .post_as("alice", &w.releases, "@shipyard, promote 1.2 please", None);
    assert!(is_mattermost_id(&post.id));
    assert_eq!(post.user_id, w.alice);

    let event = next_json(&mut ws).await;
    assert_eq!(event["event"], "posted");
    assert_eq!(event["seq"], 1);
    assert_eq!(decode_post(&event), post);
    let data = &event["data"];
    assert_eq!(data["channel_name"], "releases");
    assert_eq!(data["channel_display_name"], "releases");
    assert_eq!(data["channel_type"], "O");
    assert_eq!(data["sender_name"], "@alice");
    assert_eq!(
        data["team_id"],
        w.sim.team_id("acme").unwrap().as_str(),
        "{event}"
    );
    let mentions: Vec<String> = serde_json::from_str(data["mentions"].as_str().unwrap()).unwrap();
    assert_eq!(mentions, vec![w.bot.clone()]);
    assert_eq!(
        event["broadcast"],
        json!({"omit_users": null, "user_id": "", "channel_id": w.releases, "team_id": ""})
    );

    let reply = w
        .sim
        .post_as("alice", &w.releases, "thanks", Some(&post.id));
    let event = next_json(&mut ws).await;
    assert_eq!(event["seq"], 2);
    assert!(event["data"].get("mentions").is_none());
    let decoded = decode_post(&event);
    assert_eq!(decoded.root_id, post.id);
    assert_eq!(decoded, reply);

    assert_eq!(w.sim.posts().len(), 3);
    assert_eq!(w.sim.posts_in(&w.releases), vec![post, reply]);
}

#[tokio::test]
async fn a_bots_post_is_recorded_and_broadcast() {
    let w = world().await;
    let mut ws = connect_bot(&w.sim).await;
    let (status, _, body) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        Some(BOT_TOKEN),
        Some(
            json!({"channel_id": w.releases, "message": "Deploying 1.2", "pending_post_id": "p-1"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for key in [
        "id",
        "create_at",
        "update_at",
        "edit_at",
        "delete_at",
        "user_id",
        "channel_id",
        "root_id",
        "message",
        "type",
        "props",
        "hashtags",
        "pending_post_id",
        "metadata",
    ] {
        assert!(keys.contains(&key), "{key} missing from {body}");
    }
    assert!(is_mattermost_id(body["id"].as_str().unwrap()));
    assert!(body["create_at"].as_i64().unwrap() > 1_600_000_000_000);
    assert_eq!(body["edit_at"], 0);
    assert_eq!(body["user_id"], w.bot.as_str());
    assert_eq!(body["root_id"], "");
    assert_eq!(body["type"], "");
    assert_eq!(body["props"], json!({"from_bot": "true"}));
    assert_eq!(body["pending_post_id"], "p-1");
    assert_eq!(body["metadata"], json!({}));

    let post: Post = serde_json::from_value(body).unwrap();
    assert_eq!(w.sim.posts(), vec![post.clone()]);
    let event = next_json(&mut ws).await;
    assert_eq!(event["event"], "posted");
    assert_eq!(event["data"]["sender_name"], "@shipyard");
    assert_eq!(decode_post(&event), post);

    let (status, _, got) = rest(
        &w.sim,
        reqwest::Method::GET,
        &format!("/posts/{}", post.id),
        Some(BOT_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(serde_json::from_value::<Post>(got).unwrap(), post);

    let (status, _, reply) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        Some(BOT_TOKEN),
        Some(json!({"channel_id": w.releases, "message": "done", "root_id": post.id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(reply["root_id"], post.id.as_str());
}

#[tokio::test]
async fn bad_post_requests_are_refused() {
    let w = world().await;
    let closed = w.sim.add_channel("acme", "private-ish");
    let cases = [
        (json!({"channel_id": closed, "message": "hi"}), 403),
        (json!({"channel_id": "nope", "message": "hi"}), 403),
        (json!({"channel_id": w.releases, "message": ""}), 400),
        (json!({"message": "hi"}), 400),
        (
            json!({"channel_id": w.releases, "message": "hi", "root_id": "missing"}),
            400,
        ),
    ];
    for (body, want) in cases {
        let (status, _, answer) = rest(
            &w.sim,
            reqwest::Method::POST,
            "/posts",
            Some(BOT_TOKEN),
            Some(body.clone()),
        )
        .await;
        assert_eq!(status.as_u16(), want, "{body} -> {answer}");
        assert_eq!(answer["status_code"], want);
    }
    let (status, _, _) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        None,
        Some(json!({"channel_id": w.releases, "message": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _, _) = rest(
        &w.sim,
        reqwest::Method::GET,
        "/posts/abcdefghijklmnopqrstuvwxyz",
        Some(BOT_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(w.sim.posts().is_empty());
}

#[tokio::test]
async fn patch_edits_and_broadcasts() {
    let w = world().await;
    let mut ws = connect_bot(&w.sim).await;
    let (_, _, created) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        Some(BOT_TOKEN),
        Some(json!({"channel_id": w.releases, "message": "Deploying 1.2…"})),
    )
    .await;
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(next_json(&mut ws).await["event"], "posted");

    let (status, _, patched) = rest(
        &w.sim,
        reqwest::Method::PUT,
        &format!("/posts/{id}/patch"),
        Some(BOT_TOKEN),
        Some(json!({"message": "Deployed 1.2"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(patched["message"], "Deployed 1.2");
    let patched: Post = serde_json::from_value(patched).unwrap();
    assert!(patched.edit_at > created["create_at"].as_i64().unwrap());
    assert_eq!(patched.update_at, patched.edit_at);
    assert_eq!(patched.create_at, created["create_at"].as_i64().unwrap());
    assert_eq!(w.sim.post(&id).unwrap(), patched);

    let event = next_json(&mut ws).await;
    assert_eq!(event["event"], "post_edited");
    assert_eq!(event["seq"], 2);
    assert_eq!(event["broadcast"]["channel_id"], w.releases.as_str());
    assert_eq!(decode_post(&event), patched);

    let theirs = w.sim.post_as("alice", &w.releases, "mine", None);
    let (status, _, _) = rest(
        &w.sim,
        reqwest::Method::PUT,
        &format!("/posts/{}/patch", theirs.id),
        Some(BOT_TOKEN),
        Some(json!({"message": "hijacked"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(w.sim.post(&theirs.id).unwrap().message, "mine");
}

#[tokio::test]
async fn dropped_connections_can_reconnect() {
    let w = world().await;
    let mut first = connect_bot(&w.sim).await;
    let mut second = connect_bot(&w.sim).await;
    assert_eq!(w.sim.open_websockets(), 2);

    w.sim.drop_connections();
    assert_closed(&mut first).await;
    assert_closed(&mut second).await;
    assert_eq!(w.sim.open_websockets(), 0);

    let mut again = connect(&w.sim, Some(BOT_TOKEN)).await.unwrap();
    let hello = next_json(&mut again).await;
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["seq"], 0);
    assert_eq!(w.sim.websocket_connections(), 3);
    w.sim.post_as("alice", &w.releases, "still there?", None);
    let event = next_json(&mut again).await;
    assert_eq!(event["event"], "posted");
    assert_eq!(event["seq"], 1);

    w.sim.shutdown().await;
    assert_closed(&mut again).await;
}

#[tokio::test]
async fn rest_faults_are_consumed_then_recover() {
    let w = world().await;
    w.sim.push_rest_faults([
        RestFault::Status(500),
        RestFault::TooManyRequests {
            retry_after_secs: 3,
        },
        RestFault::Status(503),
    ]);
    // Upgrades take no fault.
    let _ws = connect_bot(&w.sim).await;
    assert_eq!(w.sim.rest_requests(), 0);

    let get_me = || {
        rest(
            &w.sim,
            reqwest::Method::GET,
            "/users/me",
            Some(BOT_TOKEN),
            None,
        )
    };
    let (status, _, body) = get_me().await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(body["status_code"], 500);

    let (status, headers, _) = get_me().await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(headers["x-ratelimit-remaining"], "0");
    assert_eq!(headers["x-ratelimit-reset"], "3");
    assert!(headers.contains_key("x-ratelimit-limit"));

    let (status, _, _) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        Some(BOT_TOKEN),
        Some(json!({"channel_id": w.releases, "message": "lost"})),
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(w.sim.posts().is_empty());

    let (status, _, me) = get_me().await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["username"], "shipyard");
    assert_eq!(w.sim.rest_requests(), 4);
}

#[tokio::test]
async fn refused_upgrades_answer_503() {
    let w = world().await;
    w.sim.set_refuse_websocket(true);
    match connect(&w.sim, Some(BOT_TOKEN)).await.unwrap_err() {
        tungstenite::Error::Http(resp) => assert_eq!(resp.status(), 503),
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(w.sim.websocket_connections(), 0);

    w.sim.set_refuse_websocket(false);
    let _ws = connect_bot(&w.sim).await;
    assert_eq!(w.sim.websocket_connections(), 1);
}
