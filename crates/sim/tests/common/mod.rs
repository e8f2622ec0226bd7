//! Helpers shared by the integration tests.
#![allow(dead_code, clippy::unwrap_used)]

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;
use shipyard_sim::github::{CommitSpec, SimGithub};

/// A client like Shipyard's: JSON accept header and a user agent.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .user_agent("shipyard-sim-tests")
        .build()
        .unwrap()
}

/// GET `path` (relative to the sim) and return status, headers and JSON body (Null when empty).
pub async fn get(sim: &SimGithub, path: &str) -> (StatusCode, HeaderMap, Value) {
    get_with(sim, path, &[]).await
}

/// GET with extra headers.
pub async fn get_with(
    sim: &SimGithub,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, HeaderMap, Value) {
    let mut req = client()
        .get(format!("{}{path}", sim.url()))
        .header("accept", "application/vnd.github+json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

/// Sends `method` to `path` (relative to the sim) with an optional JSON body; returns status,
/// headers and JSON body (Null when empty).
pub async fn send(
    sim: &SimGithub,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, HeaderMap, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(method, format!("{}{path}", sim.url()))
        .header("accept", "application/vnd.github+json");
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let bytes = resp.bytes().await.unwrap();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).unwrap()
    };
    (status, headers, body)
}

/// POST a GraphQL query.
pub async fn graphql(
    sim: &SimGithub,
    query: &str,
    variables: Value,
) -> (StatusCode, HeaderMap, Value) {
    let resp = client()
        .post(sim.graphql_url())
        .json(&serde_json::json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body: Value = resp.json().await.unwrap();
    (status, headers, body)
}

/// A header as a string ("" when missing).
pub fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// A header parsed as a number.
pub fn header_u64(h: &HeaderMap, name: &str) -> u64 {
    header(h, name).parse().unwrap()
}

/// A commit touching one file, with or without a GitHub login.
pub fn change(
    message: &str,
    login: Option<&str>,
    path: &str,
    additions: u64,
    deletions: u64,
) -> CommitSpec {
    let mut c =
        CommitSpec::new(message, "Dev Person", "dev@example.com").file(path, additions, deletions);
    c.author_login = login.map(str::to_owned);
    c
}

/// Link header entries as (rel, url).
pub fn links(h: &HeaderMap) -> Vec<(String, String)> {
    header(h, "link")
        .split(", ")
        .filter(|s| !s.is_empty())
        .filter_map(|part| {
            let (url, rel) = part.split_once("; ")?;
            let url = url.trim_start_matches('<').trim_end_matches('>').to_owned();
            let rel = rel
                .trim_start_matches("rel=\"")
                .trim_end_matches('"')
                .to_owned();
            Some((rel, url))
        })
        .collect()
}

/// The URL of one Link relation.
pub fn link(h: &HeaderMap, rel: &str) -> Option<String> {
    links(h).into_iter().find(|(r, _)| r == rel).map(|(_, u)| u)
}

/// One webhook delivery as a test receiver got it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> &str {
        header(&self.headers, name)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// Deliveries received so far.
pub type Inbox = std::sync::Arc<std::sync::Mutex<Vec<Received>>>;

/// A webhook receiver on loopback that keeps every delivery and answers 202, or 401 when
/// `secret` is given and `X-Hub-Signature-256` is not the body's HMAC under it.
pub async fn receiver(secret: Option<&'static str>) -> (String, Inbox) {
    use axum::body::Bytes;
    use axum::extract::State;
    use hmac::{Hmac, KeyInit, Mac};

    async fn receive(
        State((inbox, secret)): State<(Inbox, Option<&'static str>)>,
        headers: axum::http::HeaderMap,
        body: Bytes,
    ) -> axum::http::StatusCode {
        let valid = secret.is_none_or(|s| {
            let given = headers
                .get("x-hub-signature-256")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("sha256="))
                .and_then(|h| hex::decode(h).ok());
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(s.as_bytes()).unwrap();
            mac.update(&body);
            given.is_some_and(|g| mac.verify_slice(&g).is_ok())
        });
        inbox.lock().unwrap().push(Received {
            headers: headers.clone(),
            body: body.to_vec(),
        });
        if valid {
            axum::http::StatusCode::ACCEPTED
        } else {
            axum::http::StatusCode::UNAUTHORIZED
        }
    }

    let inbox = Inbox::default();
    let app = axum::Router::new()
        .route("/hooks", axum::routing::post(receive))
        .with_state((inbox.clone(), secret));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hooks"), inbox)
}
