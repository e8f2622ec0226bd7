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
