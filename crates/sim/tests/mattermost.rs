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

/// A client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs a page: status, `Location` and body.
async fn page(url: &str) -> (StatusCode, Option<String>, String) {
    let resp = browser().get(url).send().await.unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, resp.text().await.unwrap())
}

/// POSTs the channel page's form: status, `Location` and body.
async fn submit(
    sim: &SimMattermost,
    fields: &[(&str, &str)],
) -> (StatusCode, Option<String>, String) {
    let resp = browser()
        .post(sim.channel_page_url("acme", "releases"))
        .form(fields)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let location = resp
        .headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, location, resp.text().await.unwrap())
}

fn position(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {haystack}"))
}

#[tokio::test]
async fn channel_page_shows_threads_with_markdown() {
    let w = world().await;
    assert_eq!(
        w.sim.channel_page_url("acme", "releases"),
        format!("{}/acme/channels/releases", w.sim.url())
    );
    let first = w
        .sim
        .post_as("alice", &w.releases, "**first** thread", None);
    let second = w.sim.post_as("alice", &w.releases, "second thread", None);
    w.sim
        .post_as("shipyard", &w.releases, "reply one", Some(&first.id));
    w.sim
        .post_as("alice", &w.releases, "reply two", Some(&first.id));
    let (_, _, created) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        Some(BOT_TOKEN),
        Some(json!({"channel_id": w.releases, "message": "to be edited"})),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    rest(
        &w.sim,
        reqwest::Method::PUT,
        &format!("/posts/{id}/patch"),
        Some(BOT_TOKEN),
        Some(json!({"message": "was edited"})),
    )
    .await;

    let (status, _, html) = page(&w.sim.channel_page_url("acme", "releases")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<strong>first</strong> thread"), "{html}");
    let order = [
        "<strong>first</strong> thread",
        "reply one",
        "reply two",
        "second thread",
        "was edited",
    ]
    .map(|text| position(&html, text));
    assert!(order.is_sorted(), "{order:?} in {html}");
    let replies = position(&html, "class=\"replies\"");
    assert!(order[0] < replies && replies < order[1], "{html}");
    assert!(html.contains("@alice"), "{html}");
    assert!(html.contains("@shipyard"), "{html}");
    assert!(html.contains(" UTC</time>"), "{html}");
    assert_eq!(html.matches("(edited)").count(), 1, "{html}");
    assert!(html.contains(&format!("?reply_to={}", first.id)), "{html}");
    assert!(html.contains(&format!("?reply_to={}", second.id)), "{html}");
    // The form posts as people, never as the bot, and suggests talking to the bot.
    assert!(html.contains("<option value=\"alice\""), "{html}");
    assert!(!html.contains("<option value=\"shipyard\""), "{html}");
    assert!(html.contains("placeholder=\"@shipyard help\""), "{html}");
    assert!(!html.contains("name=\"root_id\""), "{html}");
    assert!(!html.contains("http-equiv"), "{html}");

    let reply_url = format!(
        "{}?reply_to={}",
        w.sim.channel_page_url("acme", "releases"),
        first.id
    );
    let (_, _, html) = page(&reply_url).await;
    assert!(
        html.contains(&format!("name=\"root_id\" value=\"{}\"", first.id)),
        "{html}"
    );
    assert!(html.contains("thread selected"), "{html}");

    let (status, _, html) = page(&w.sim.channel_page_url("acme", "nowhere")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("nowhere"), "{html}");
}

#[tokio::test]
async fn channel_page_escapes_html_in_messages() {
    let w = world().await;
    w.sim
        .post_as("alice", &w.releases, "<script>alert(1)</script>", None);
    w.sim.post_as(
        "alice",
        &w.releases,
        "see [x](javascript:alert(2)) <img src=x onerror=alert(3)>",
        None,
    );
    let (_, _, html) = page(&w.sim.channel_page_url("acme", "releases")).await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{html}"
    );
    assert!(!html.contains("javascript:"), "{html}");
    assert!(!html.contains("<img"), "{html}");
    assert!(
        html.contains("&lt;img src=x onerror=alert(3)&gt;"),
        "{html}"
    );
}

#[tokio::test]
async fn posting_the_form_posts_as_that_person() {
    let w = world().await;
    let mut ws = connect_bot(&w.sim).await;

    let (status, location, _) = submit(
        &w.sim,
        &[("username", "alice"), ("message", "@shipyard help\r\n")],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location
            .as_deref()
            .unwrap()
            .starts_with("/acme/channels/releases"),
        "{location:?}"
    );
    let posts = w.sim.posts_in(&w.releases);
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].user_id, w.alice);
    assert_eq!(posts[0].message, "@shipyard help");
    assert_eq!(posts[0].root_id, "");
    let event = next_json(&mut ws).await;
    assert_eq!(event["event"], "posted");
    assert_eq!(decode_post(&event), posts[0]);

    let long = "x".repeat(16383);
    let (status, location, _) = submit(
        &w.sim,
        &[
            ("username", "alice"),
            ("message", &long),
            ("root_id", &posts[0].id),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        location.as_deref().unwrap().contains(&posts[0].id),
        "{location:?}"
    );
    let reply = w.sim.posts_in(&w.releases).pop().unwrap();
    assert_eq!(reply.root_id, posts[0].id);
    assert_eq!(reply.message.chars().count(), 16383);
}

#[tokio::test]
async fn bad_form_posts_are_refused() {
    let w = world().await;
    let bob = w.sim.add_user("bob");
    let elsewhere = w.sim.add_channel("acme", "random");
    w.sim.add_member(&elsewhere, &bob);
    let other_root = w.sim.post_as("bob", &elsewhere, "elsewhere", None);
    let too_long = "x".repeat(16384);
    let cases: [&[(&str, &str)]; 7] = [
        &[("username", "bob"), ("message", "hello")],
        &[("username", "nobody"), ("message", "hello")],
        &[("message", "hello")],
        &[("username", "shipyard"), ("message", "hello")],
        &[("username", "alice"), ("message", " \r\n ")],
        &[("username", "alice"), ("message", &too_long)],
        &[
            ("username", "alice"),
            ("message", "hello"),
            ("root_id", &other_root.id),
        ],
    ];
    for fields in cases {
        let (status, _, html) = submit(&w.sim, fields).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{fields:?}");
        assert!(html.contains("<html"), "{html}");
        assert!(html.contains("/acme/channels/releases"), "{html}");
    }
    assert!(w.sim.posts_in(&w.releases).is_empty());
}

#[tokio::test]
async fn fragment_returns_just_the_posts() {
    let w = world().await;
    let (status, _, html) = page(&format!(
        "{}/fragment",
        w.sim.channel_page_url("acme", "releases")
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("No posts yet"), "{html}");

    let root = w.sim.post_as("alice", &w.releases, "`v1.2` ready?", None);
    w.sim
        .post_as("shipyard", &w.releases, "Yes.", Some(&root.id));
    let (status, _, html) = page(&format!(
        "{}/fragment",
        w.sim.channel_page_url("acme", "releases")
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("<code>v1.2</code> ready?"), "{html}");
    assert!(html.contains("Yes."), "{html}");
    assert!(!html.contains("<html"), "{html}");
    assert!(!html.contains("<form"), "{html}");
}

#[tokio::test]
async fn index_lists_channels_or_opens_the_only_one() {
    let w = world().await;
    let (status, location, _) = page(&format!("{}/", w.sim.url())).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(location.as_deref(), Some("/acme/channels/releases"));

    w.sim.add_channel("umbrella", "ops");
    let (status, _, html) = page(&format!("{}/", w.sim.url())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("href=\"/acme/channels/releases\""), "{html}");
    assert!(html.contains("href=\"/umbrella/channels/ops\""), "{html}");
}

#[tokio::test]
async fn pages_are_not_rest_requests() {
    let w = world().await;
    w.sim.push_rest_faults([RestFault::Status(503)]);
    let url = w.sim.channel_page_url("acme", "releases");
    for target in [
        format!("{}/", w.sim.url()),
        url.clone(),
        format!("{url}/fragment"),
        format!("{}/favicon.ico", w.sim.url()),
    ] {
        let (status, _, _) = page(&target).await;
        assert!(
            status.is_success() || status.is_redirection(),
            "{target}: {status}"
        );
    }
    let (status, _, _) = submit(&w.sim, &[("username", "alice"), ("message", "hi")]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(w.sim.rest_requests(), 0);

    // The fault is still queued for the next REST request.
    let (status, _, _) = rest(
        &w.sim,
        reqwest::Method::GET,
        "/users/me",
        Some(BOT_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(w.sim.rest_requests(), 1);
}

/// The ids in a `PostList`'s `order`, checking each has its post in `posts`.
fn post_list_ids(list: &Value) -> Vec<String> {
    let order: Vec<String> = serde_json::from_value(list["order"].clone()).unwrap();
    let posts = list["posts"].as_object().unwrap();
    assert_eq!(posts.len(), order.len(), "{list}");
    for id in &order {
        let post: Post = serde_json::from_value(posts[id.as_str()].clone()).unwrap();
        assert_eq!(&post.id, id);
    }
    assert_eq!(list["next_post_id"], "");
    assert_eq!(list["prev_post_id"], "");
    order
}

fn ids(posts: &[&Post]) -> Vec<String> {
    posts.iter().map(|p| p.id.clone()).collect()
}

#[tokio::test]
async fn channel_posts_since_lists_created_and_changed_posts() {
    let w = world().await;
    let elsewhere = w.sim.add_channel("acme", "random");
    w.sim.add_member(&elsewhere, &w.alice);
    w.sim.add_member(&elsewhere, &w.bot);
    let first = w.sim.post_as("alice", &w.releases, "first", None);
    w.sim.post_as("alice", &elsewhere, "not in releases", None);
    let second = w
        .sim
        .post_as("alice", &w.releases, "second", Some(&first.id));
    let (_, _, mine) = rest(
        &w.sim,
        reqwest::Method::POST,
        "/posts",
        Some(BOT_TOKEN),
        Some(json!({"channel_id": w.releases, "message": "mine"})),
    )
    .await;
    let mine: Post = serde_json::from_value(mine).unwrap();
    let list = async |since: i64| {
        rest(
            &w.sim,
            reqwest::Method::GET,
            &format!("/channels/{}/posts?since={since}", w.releases),
            Some(BOT_TOKEN),
            None,
        )
        .await
    };

    let (status, _, all) = list(0).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(post_list_ids(&all), ids(&[&mine, &second, &first]));
    assert_eq!(all["has_next"], false);
    let listed: Post = serde_json::from_value(all["posts"][&second.id].clone()).unwrap();
    assert_eq!(listed, second);

    let (_, _, none) = list(mine.update_at.max(second.update_at) + 1).await;
    assert!(post_list_ids(&none).is_empty());

    // Editing the first post makes it count as changed since its new update_at.
    let (status, _, edited) = rest(
        &w.sim,
        reqwest::Method::PUT,
        &format!("/posts/{}/patch", mine.id),
        Some(BOT_TOKEN),
        Some(json!({"message": "mine, edited"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let since = edited["update_at"].as_i64().unwrap();
    let (_, _, changed) = list(since).await;
    let got = post_list_ids(&changed);
    assert!(got.contains(&mine.id), "{changed}");
    assert_eq!(changed["posts"][&mine.id]["message"], "mine, edited");
    let want: Vec<String> = w
        .sim
        .posts_in(&w.releases)
        .iter()
        .rev()
        .filter(|p| p.update_at >= since)
        .map(|p| p.id.clone())
        .collect();
    assert_eq!(got, want);
}

#[tokio::test]
async fn channel_posts_without_since_are_pages_of_the_newest() {
    let w = world().await;
    let posts: Vec<Post> = (0..3)
        .map(|i| {
            w.sim
                .post_as("alice", &w.releases, &format!("post {i}"), None)
        })
        .collect();
    let get = async |query: &str| {
        rest(
            &w.sim,
            reqwest::Method::GET,
            &format!("/channels/{}/posts{query}", w.releases),
            Some(BOT_TOKEN),
            None,
        )
        .await
    };
    let (status, _, all) = get("").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(post_list_ids(&all), ids(&[&posts[2], &posts[1], &posts[0]]));
    assert_eq!(all["has_next"], false);

    let (_, _, newest) = get("?per_page=2").await;
    assert_eq!(post_list_ids(&newest), ids(&[&posts[2], &posts[1]]));
    assert_eq!(newest["has_next"], true);
    let (_, _, older) = get("?page=1&per_page=2").await;
    assert_eq!(post_list_ids(&older), ids(&[&posts[0]]));
    assert_eq!(older["has_next"], false);
    let (_, _, beyond) = get("?page=5&per_page=2").await;
    assert!(post_list_ids(&beyond).is_empty());

    let many: Vec<Post> = (0..60)
        .map(|i| {
            w.sim
                .post_as("alice", &w.releases, &format!("more {i}"), None)
        })
        .collect();
    let (_, _, default_page) = get("").await;
    let got = post_list_ids(&default_page);
    assert_eq!(got.len(), 60, "the default page holds 60 posts");
    assert_eq!(got.first(), many.last().map(|p| &p.id));
    assert_eq!(default_page["has_next"], true);
}

#[tokio::test]
async fn channel_posts_need_a_member_and_a_channel() {
    let w = world().await;
    let closed = w.sim.add_channel("acme", "private-ish");
    w.sim.add_member(&closed, &w.alice);
    w.sim.post_as("alice", &closed, "secret", None);
    let cases = [
        (
            format!("/channels/{closed}/posts?since=0"),
            Some(BOT_TOKEN),
            403,
        ),
        (
            "/channels/nosuchchannel/posts?since=0".to_owned(),
            Some(BOT_TOKEN),
            404,
        ),
        (format!("/channels/{}/posts?since=0", w.releases), None, 401),
        (
            format!("/channels/{}/posts?since=0", w.releases),
            Some("wrong"),
            401,
        ),
        (
            format!("/channels/{}/posts?since=yesterday", w.releases),
            Some(BOT_TOKEN),
            400,
        ),
        (
            format!("/channels/{}/posts?per_page=-1", w.releases),
            Some(BOT_TOKEN),
            400,
        ),
    ];
    for (path, token, want) in &cases {
        let (status, headers, body) = rest(&w.sim, reqwest::Method::GET, path, *token, None).await;
        assert_eq!(status.as_u16(), *want, "{path} -> {body}");
        assert_eq!(body["status_code"], *want);
        assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()));
        assert!(headers.contains_key("x-request-id"));
    }
    assert_eq!(w.sim.rest_requests(), cases.len() as u64);
}

#[tokio::test]
async fn channel_posts_go_through_the_fault_gate() {
    let w = world().await;
    let post = w.sim.post_as("alice", &w.releases, "hello", None);
    w.sim.push_rest_faults([RestFault::Status(502)]);
    let path = format!("/channels/{}/posts?since=0", w.releases);
    let (status, _, body) = rest(&w.sim, reqwest::Method::GET, &path, Some(BOT_TOKEN), None).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["id"], "api.sim.injected_fault.app_error");
    let (status, _, list) = rest(&w.sim, reqwest::Method::GET, &path, Some(BOT_TOKEN), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(post_list_ids(&list), vec![post.id]);
    assert_eq!(w.sim.rest_requests(), 2);
}
