//! Injected faults, latency and request accounting.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::Value;
use shipyard_sim::github::{Fault, SimGithub};

async fn sim() -> SimGithub {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn status_faults_answer_github_like_errors_in_order() {
    let sim = sim().await;
    sim.push_faults([Fault::Status(502), Fault::Status(500), Fault::Status(503)]);
    for (code, message) in [
        (502, "Bad Gateway"),
        (500, "Server Error"),
        (503, "Service Unavailable"),
    ] {
        let (status, h, body) = get(&sim, "/repos/acme/svc").await;
        assert_eq!(status.as_u16(), code);
        assert_eq!(body["message"], message);
        assert_eq!(body["status"], code.to_string());
        assert!(h.contains_key("x-ratelimit-remaining"));
        assert!(h.contains_key("x-github-request-id"));
    }
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.request_count(), 4);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 500, 503, 200]);
}

#[tokio::test]
async fn reset_drops_the_connection_mid_answer() {
    let sim = sim().await;
    sim.push_faults([Fault::Reset]);
    let result = async {
        let resp = client()
            .get(format!("{}/repos/acme/svc", sim.url()))
            .send()
            .await?;
        resp.bytes().await
    }
    .await;
    assert!(result.is_err(), "the client must see an error: {result:?}");
    let rec = sim.requests();
    assert_eq!(rec.len(), 1);
    assert!(rec[0].aborted);
    // The next request is answered normally.
    let (status, _, body) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["name"], "svc");
}

#[tokio::test]
async fn rate_limited_fault_looks_like_an_exhausted_primary_limit() {
    let sim = sim().await;
    sim.push_faults([Fault::RateLimited { reset_in_secs: 30 }]);
    let before = now();
    let (status, h, body) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&h, "x-ratelimit-remaining"), "0");
    let reset = header_u64(&h, "x-ratelimit-reset");
    assert!(reset >= before + 30 && reset <= now() + 30);
    assert_eq!(
        body["message"],
        "API rate limit exceeded for installation ID 1."
    );
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.github.com/")
    );
    // Only that one answer: the real bucket is untouched.
    let (status, h, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-ratelimit-remaining"), "4999");

    // On GraphQL the same fault is a 200 with a RATE_LIMITED error.
    sim.push_faults([Fault::RateLimited { reset_in_secs: 30 }]);
    let (status, h, body) = graphql(&sim, "{ rateLimit { remaining } }", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&h, "x-ratelimit-remaining"), "0");
    assert_eq!(header(&h, "x-ratelimit-resource"), "graphql");
    assert_eq!(body["errors"][0]["type"], "RATE_LIMITED");
}

#[tokio::test]
async fn secondary_rate_limit_sends_retry_after() {
    let sim = sim().await;
    sim.push_faults([Fault::SecondaryRateLimit {
        retry_after_secs: 7,
    }]);
    let (status, h, body) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&h, "retry-after"), "7");
    assert_ne!(header(&h, "x-ratelimit-remaining"), "0");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("You have exceeded a secondary rate limit")
    );
}

#[tokio::test]
async fn delay_and_latency_slow_answers_down() {
    let sim = sim().await;
    sim.push_faults([Fault::Delay(Duration::from_millis(300))]);
    let t = Instant::now();
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert!(t.elapsed() >= Duration::from_millis(300));

    sim.set_latency(Duration::from_millis(150));
    let t = Instant::now();
    get(&sim, "/repos/acme/svc").await;
    get(&sim, "/rate_limit").await;
    assert!(t.elapsed() >= Duration::from_millis(300));
    sim.set_latency(Duration::ZERO);
    assert_eq!(sim.request_count(), 3);
}

#[tokio::test]
async fn fault_rate_applies_to_every_request_when_one() {
    let sim = sim().await;
    sim.set_fault_rate(1.0, Fault::Status(503));
    for _ in 0..5 {
        let (status, _, _) = get(&sim, "/repos/acme/svc").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let (status, _, _) = graphql(&sim, "{ rateLimit { remaining } }", Value::Null).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    sim.set_fault_rate(0.0, Fault::Status(503));
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(sim.request_count(), 7);

    // Queued faults come first; then the random rate (here 0) takes over.
    sim.push_faults([Fault::Status(500)]);
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn shutdown_stops_serving() {
    let sim = sim().await;
    let url = sim.url();
    let (status, _, _) = get(&sim, "/repos/acme/svc").await;
    assert_eq!(status, StatusCode::OK);
    sim.shutdown().await;
    let err = reqwest::Client::new()
        .get(format!("{url}/repos/acme/svc"))
        .send()
        .await;
    assert!(err.is_err());
}

#[tokio::test]
async fn start_on_uses_the_given_listener() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let sim = SimGithub::start_on(listener, "acme").await.unwrap();
    assert_eq!(sim.url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(
        sim.graphql_url(),
        format!("http://127.0.0.1:{port}/graphql")
    );
    assert_eq!(sim.org(), "acme");
}
