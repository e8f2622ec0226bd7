//! GitHub Actions of the simulated GitHub over real sockets: workflow runs, jobs, job logs on the
//! log host, conditional requests, faults and webhook deliveries.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::*;
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::{
    CommitSpec, Fault, LogAvailability, RateResource, SimGithub, timestamped_log,
};

/// A sim with repository `svc`: `master` and `uat`, one commit each beyond `main`.
async fn sim() -> (SimGithub, String, String) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("svc");
    sim.create_branch("svc", "master", "main");
    let a = sim.commit(
        "svc",
        "master",
        CommitSpec::new("feat: one", "Ada", "ada@example.com").login("ada"),
    );
    let b = sim.commit(
        "svc",
        "master",
        CommitSpec::new("fix: two", "Ada", "ada@example.com"),
    );
    (sim, a, b)
}

fn ids(body: &Value) -> Vec<u64> {
    body["workflow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

/// A client that does not follow redirects, like Shipyard's.
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn runs_are_listed_per_workflow_and_filtered() {
    let (sim, a, b) = sim().await;
    let r1 = sim.start_run("svc", "general.yaml", "master", &a);
    let r2 = sim.start_run("svc", "general.yaml", "master", &b);
    let other = sim.start_run("svc", "lint.yml", "master", &b);
    let manual = sim.start_run_on("svc", "general.yaml", "uat", &b, "workflow_dispatch");
    assert!(r1 < r2 && r2 < other);

    let (status, _, body) = get(&sim, "/repos/acme/svc/actions/workflows/general.yaml/runs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total_count"], 3);
    // Newest first; runs of other workflow files never appear.
    assert_eq!(ids(&body), [manual, r2, r1]);
    let first = &body["workflow_runs"][2];
    assert_eq!(first["path"], ".github/workflows/general.yaml");
    assert_eq!(first["run_number"], 1);
    assert_eq!(first["run_attempt"], 1);
    assert_eq!(first["head_sha"], a.as_str());
    assert_eq!(first["head_branch"], "master");
    assert_eq!(first["event"], "push");
    assert_eq!(first["status"], "queued");
    assert_eq!(first["conclusion"], Value::Null);
    assert_eq!(first["name"], "general");
    assert_eq!(first["display_title"], "feat: one");
    assert_eq!(first["actor"]["login"], "ada");
    assert_eq!(
        first["html_url"],
        format!("https://github.com/acme/svc/actions/runs/{r1}")
    );
    assert_eq!(body["workflow_runs"][1]["run_number"], 2);

    let q = |query: &str| format!("/repos/acme/svc/actions/workflows/general.yaml/runs?{query}");
    let (_, _, body) = get(&sim, &q(&format!("branch=master&head_sha={b}&event=push"))).await;
    assert_eq!(ids(&body), [r2]);
    assert_eq!(body["total_count"], 1);
    let (_, _, body) = get(&sim, &q("branch=uat")).await;
    assert_eq!(ids(&body), [manual]);
    let (_, _, body) = get(&sim, &q("event=push")).await;
    assert_eq!(ids(&body), [r2, r1]);
    let (_, _, body) = get(&sim, &q(&format!("head_sha={a}"))).await;
    assert_eq!(ids(&body), [r1]);

    // `status` matches the status or the conclusion.
    sim.set_run_status(r1, "in_progress");
    sim.complete_run(r2, "failure");
    let (_, _, body) = get(&sim, &q("status=in_progress")).await;
    assert_eq!(ids(&body), [r1]);
    let (_, _, body) = get(&sim, &q("status=failure")).await;
    assert_eq!(ids(&body), [r2]);
    let (_, _, body) = get(&sim, &q("status=completed")).await;
    assert_eq!(ids(&body), [r2]);

    // The numeric workflow id works as well as the file name.
    let workflow_id = body["workflow_runs"][0]["workflow_id"].as_u64().unwrap();
    let (status, _, body) = get(
        &sim,
        &format!("/repos/acme/svc/actions/workflows/{workflow_id}/runs"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["total_count"], 3);

    // A workflow the repository does not have, another repository, another org: 404.
    for path in [
        "/repos/acme/svc/actions/workflows/missing.yaml/runs",
        "/repos/acme/nope/actions/workflows/general.yaml/runs",
        "/repos/other/svc/actions/workflows/general.yaml/runs",
    ] {
        let (status, _, body) = get(&sim, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["message"], "Not Found");
    }
    // A declared workflow without runs lists nothing.
    sim.add_workflow("svc", "release.yml", "Release");
    let (status, _, body) = get(&sim, "/repos/acme/svc/actions/workflows/release.yml/runs").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"total_count": 0, "workflow_runs": []}));
}

#[tokio::test]
async fn runs_paginate_with_link_headers() {
    let (sim, a, _) = sim().await;
    let runs: Vec<u64> = (0..5)
        .map(|_| sim.start_run("svc", "general.yaml", "master", &a))
        .collect();
    let base = "/repos/acme/svc/actions/workflows/general.yaml/runs";
    let (_, h, body) = get(&sim, &format!("{base}?per_page=2")).await;
    assert_eq!(ids(&body), [runs[4], runs[3]]);
    assert_eq!(body["total_count"], 5);
    assert_eq!(
        link(&h, "next").unwrap(),
        format!("{}{base}?per_page=2&page=2", sim.url())
    );
    assert!(link(&h, "last").unwrap().ends_with("page=3"));
    let (_, h, body) = get(&sim, &format!("{base}?per_page=2&page=3")).await;
    assert_eq!(ids(&body), [runs[0]]);
    assert!(link(&h, "next").is_none());
    let (_, h, body) = get(&sim, base).await;
    assert_eq!(ids(&body).len(), 5);
    assert!(h.get("link").is_none());
}

#[tokio::test]
async fn a_run_progresses_and_a_rerun_keeps_its_id() {
    let (sim, a, _) = sim().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let path = format!("/repos/acme/svc/actions/runs/{run}");
    let (status, _, body) = get(&sim, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["previous_attempt_url"], Value::Null);
    let created = body["created_at"].as_str().unwrap().to_owned();

    for s in ["waiting", "pending", "requested", "in_progress"] {
        sim.set_run_status(run, s);
        let (_, _, body) = get(&sim, &path).await;
        assert_eq!(body["status"], s);
        assert_eq!(body["conclusion"], Value::Null);
    }
    let build = sim.add_job(run, "build", "log one");
    sim.complete_run(run, "success");
    let (_, _, body) = get(&sim, &path).await;
    assert_eq!(body["status"], "completed");
    assert_eq!(body["conclusion"], "success");
    assert!(body["updated_at"].as_str().unwrap() > created.as_str());

    sim.rerun(run);
    let (_, _, body) = get(&sim, &path).await;
    assert_eq!(body["id"], run);
    assert_eq!(body["run_number"], 1);
    assert_eq!(body["run_attempt"], 2);
    assert_eq!(body["status"], "queued");
    assert_eq!(body["conclusion"], Value::Null);
    assert_eq!(
        body["previous_attempt_url"],
        format!("{}/repos/acme/svc/actions/runs/{run}/attempts/1", sim.url())
    );
    assert!(body["run_started_at"].as_str().unwrap() > created.as_str());

    // The jobs endpoint lists the latest attempt; `filter=all` every attempt.
    let jobs = format!("/repos/acme/svc/actions/runs/{run}/jobs");
    let (_, _, body) = get(&sim, &jobs).await;
    assert_eq!(body, json!({"total_count": 0, "jobs": []}));
    let retry = sim.add_job(run, "build", "log two");
    assert_eq!(sim.job_ids(run), [retry]);
    let (_, _, body) = get(&sim, &jobs).await;
    assert_eq!(body["total_count"], 1);
    assert_eq!(body["jobs"][0]["id"], retry);
    assert_eq!(body["jobs"][0]["run_attempt"], 2);
    assert_eq!(body["jobs"][0]["status"], "queued");
    let (_, _, body) = get(&sim, &format!("{jobs}?filter=all")).await;
    let all: Vec<u64> = body["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_u64().unwrap())
        .collect();
    assert_eq!(all, [build, retry]);

    // A run of another repository is not found under this one.
    sim.add_repo("other");
    let (status, _, _) = get(&sim, &format!("/repos/acme/other/actions/runs/{run}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&sim, "/repos/acme/svc/actions/runs/12").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = get(&sim, "/repos/acme/svc/actions/runs/x/jobs").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn jobs_follow_their_run_until_they_complete() {
    let (sim, a, _) = sim().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let test = sim.add_job(run, "test", "");
    let helm = sim.add_job(run, "helm", "");
    let jobs = format!("/repos/acme/svc/actions/runs/{run}/jobs");
    let (_, _, body) = get(&sim, &jobs).await;
    let job = &body["jobs"][0];
    assert_eq!(job["id"], test);
    assert_eq!(job["run_id"], run);
    assert_eq!(job["name"], "test");
    assert_eq!(job["status"], "queued");
    assert_eq!(job["conclusion"], Value::Null);
    assert_eq!(job["runner_id"], Value::Null);
    assert_eq!(job["head_sha"], a.as_str());
    assert_eq!(job["workflow_name"], "general");
    assert_eq!(job["steps"], json!([]));

    sim.set_run_status(run, "in_progress");
    sim.complete_job(test, "failure");
    let (_, _, body) = get(&sim, &jobs).await;
    assert_eq!(body["jobs"][0]["status"], "completed");
    assert_eq!(body["jobs"][0]["conclusion"], "failure");
    assert_eq!(body["jobs"][1]["status"], "in_progress");
    assert_eq!(body["jobs"][1]["steps"][1]["status"], "in_progress");

    sim.complete_run(run, "cancelled");
    let (_, _, body) = get(&sim, &jobs).await;
    assert_eq!(body["jobs"][0]["conclusion"], "failure");
    assert_eq!(body["jobs"][1]["id"], helm);
    assert_eq!(body["jobs"][1]["conclusion"], "cancelled");
    assert!(body["jobs"][1]["completed_at"].is_string());

    // Paged like other lists.
    let (_, h, body) = get(&sim, &format!("{jobs}?per_page=1")).await;
    assert_eq!(body["total_count"], 2);
    assert_eq!(body["jobs"].as_array().unwrap().len(), 1);
    assert!(link(&h, "next").unwrap().ends_with("per_page=1&page=2"));
}

#[tokio::test]
async fn job_logs_redirect_to_another_host_that_serves_the_text() {
    let (sim, a, _) = sim().await;
    let run = sim.successful_build("svc", "general.yaml", "master", &a, "1.1.937");
    let jobs = sim.job_ids(run);
    assert_eq!(jobs.len(), 2);
    let helm = jobs[1];

    let resp = no_redirects()
        .get(format!(
            "{}/repos/acme/svc/actions/jobs/{helm}/logs",
            sim.url()
        ))
        .bearer_auth("ghs_secret")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    assert!(resp.headers().contains_key("x-ratelimit-remaining"));
    let location = header(resp.headers(), "location").to_owned();
    let api = url::Url::parse(&sim.url()).unwrap();
    let logs = url::Url::parse(&location).unwrap();
    assert_ne!(api.host_str(), logs.host_str(), "{location}");
    assert!(location.starts_with(&sim.log_url()), "{location}");
    assert!(sim.requests()[0].had_authorization);

    let resp = client().get(&location).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(resp.headers(), "content-type").starts_with("text/plain"));
    let text = resp.text().await.unwrap();
    assert!(text.starts_with('\u{feff}'));
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').split("\r\n").collect();
    let chart = lines
        .iter()
        .find(|l| l.ends_with("CHART_VERSION=1.1.937"))
        .unwrap();
    // `2026-01-05T09:00:00.0000000Z CHART_VERSION=...`
    let (stamp, _) = chart.split_once(' ').unwrap();
    assert_eq!(stamp.len(), 28, "{stamp}");
    assert!(
        stamp.ends_with('Z') && stamp.as_bytes()[19] == b'.',
        "{stamp}"
    );
    assert_eq!(lines.last(), Some(&""), "every line ends with CRLF");

    // The URL works again until it expires; the host records whether credentials came along.
    let resp = client()
        .get(&location)
        .header("authorization", "Bearer leaked")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let seen = sim.log_requests();
    assert_eq!(seen.len(), 2);
    assert!(!seen[0].had_authorization);
    assert!(!seen[0].header_names.iter().any(|h| h == "authorization"));
    assert!(seen[1].had_authorization);
    assert_eq!(seen[0].status, 200);
    assert_eq!(seen[0].method, "GET");
    assert!(
        location.ends_with(&seen[0].path),
        "{location} vs {}",
        seen[0].path
    );
    // Log host requests are not API requests.
    assert_eq!(sim.request_count(), 1);

    // An unknown token, and a URL past its lifetime, are refused.
    let resp = client()
        .get(location.replace("/actions-results/", "/actions-results/00"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    sim.set_log_url_ttl(Duration::ZERO);
    let resp = no_redirects()
        .get(format!(
            "{}/repos/acme/svc/actions/jobs/{helm}/logs",
            sim.url()
        ))
        .send()
        .await
        .unwrap();
    let expired = header(resp.headers(), "location").to_owned();
    assert_ne!(expired, location);
    let resp = client().get(&expired).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert!(resp.text().await.unwrap().contains("AuthenticationFailed"));
}

#[tokio::test]
async fn logs_of_several_megabytes_are_served_whole() {
    let (sim, a, _) = sim().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let lines: Vec<String> = (0..120_000)
        .map(|i| format!("step output line {i:08}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let log = timestamped_log(&refs);
    assert!(log.len() > 5 * 1024 * 1024);
    let job = sim.add_job(run, "helm", log.clone());
    let resp = client()
        .get(format!(
            "{}/repos/acme/svc/actions/jobs/{job}/logs",
            sim.url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "followed to the log host");
    assert_eq!(
        resp.url().host_str(),
        url::Url::parse(&sim.log_url()).unwrap().host_str()
    );
    let body = resp.bytes().await.unwrap();
    assert_eq!(body.len(), log.len());
    assert!(body == log.as_bytes());
}

#[tokio::test]
async fn gone_and_missing_logs() {
    let (sim, a, _) = sim().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let job = sim.add_job(run, "helm", "text");
    let logs = format!("{}/repos/acme/svc/actions/jobs/{job}/logs", sim.url());
    let status = |r: reqwest::Response| r.status();

    sim.set_job_log_gone(job);
    let resp = no_redirects().get(&logs).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::GONE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["message"], "Gone");

    sim.set_job_log(job, LogAvailability::NotFound);
    let resp = no_redirects().get(&logs).send().await.unwrap();
    assert_eq!(status(resp), StatusCode::NOT_FOUND);

    sim.set_job_log(job, LogAvailability::MissingAtHost);
    let resp = no_redirects().get(&logs).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FOUND);
    let location = header(resp.headers(), "location").to_owned();
    let resp = client().get(&location).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert!(resp.text().await.unwrap().contains("BlobNotFound"));

    sim.set_job_log(job, LogAvailability::Available);
    let resp = client().get(&logs).send().await.unwrap();
    assert_eq!(resp.text().await.unwrap(), "text");

    // Unknown jobs, and jobs of another repository.
    sim.add_repo("other");
    for path in [
        "/repos/acme/svc/actions/jobs/1/logs".to_owned(),
        format!("/repos/acme/other/actions/jobs/{job}/logs"),
    ] {
        let resp = no_redirects()
            .get(format!("{}{path}", sim.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn unchanged_runs_answer_304_without_costing_rate_limit() {
    let (sim, a, _) = sim().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let list =
        format!("/repos/acme/svc/actions/workflows/general.yaml/runs?branch=master&head_sha={a}");
    let one = format!("/repos/acme/svc/actions/runs/{run}");
    for path in [&list, &one] {
        let (status, h, _) = get(&sim, path).await;
        assert_eq!(status, StatusCode::OK);
        let etag = header(&h, "etag").to_owned();
        let remaining = header_u64(&h, "x-ratelimit-remaining");
        for _ in 0..3 {
            let (status, h, body) = get_with(&sim, path, &[("if-none-match", &etag)]).await;
            assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
            assert!(body.is_null());
            assert_eq!(header_u64(&h, "x-ratelimit-remaining"), remaining);
            assert_eq!(header(&h, "etag"), etag);
        }
        assert_eq!(sim.rate_limit(RateResource::Core).remaining, remaining);
    }
    let (_, h, _) = get(&sim, &one).await;
    let etag = header(&h, "etag").to_owned();
    sim.set_run_status(run, "in_progress");
    let (status, h, body) = get_with(&sim, &one, &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(header(&h, "etag"), etag);
    assert_eq!(body["status"], "in_progress");
}

#[tokio::test]
async fn faults_apply_to_actions_endpoints_and_the_log_host() {
    let (sim, a, _) = sim().await;
    let run = sim.successful_build("svc", "general.yaml", "master", &a, "2.0.1");
    let job = sim.job_ids(run)[1];
    sim.push_faults([Fault::Status(502), Fault::RateLimited { reset_in_secs: 60 }]);
    let path = format!("/repos/acme/svc/actions/runs/{run}/jobs");
    let (status, _, body) = get(&sim, &path).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert_eq!(body["message"], "Bad Gateway");
    let (status, h, _) = get(&sim, &path).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&h, "x-ratelimit-remaining"), "0");
    let (status, _, _) = get(&sim, &path).await;
    assert_eq!(status, StatusCode::OK);

    sim.push_log_faults([Fault::Status(503), Fault::Reset]);
    let logs = format!("{}/repos/acme/svc/actions/jobs/{job}/logs", sim.url());
    let resp = client().get(&logs).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let broken = async { client().get(&logs).send().await?.bytes().await }.await;
    assert!(broken.is_err());
    let resp = client().get(&logs).send().await.unwrap();
    assert!(resp.text().await.unwrap().contains("CHART_VERSION=2.0.1"));
    let seen: Vec<(u16, bool)> = sim
        .log_requests()
        .iter()
        .map(|r| (r.status, r.aborted))
        .collect();
    assert_eq!(seen, [(503, false), (200, true), (200, false)]);
}

fn signature_of(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[tokio::test]
async fn runs_and_pull_requests_are_delivered_as_signed_webhooks_in_order() {
    let (sim, a, _) = sim().await;
    // Nothing is delivered before a webhook is set.
    sim.start_run("svc", "general.yaml", "master", &a);
    let (url, inbox) = receiver(Some("s3cret")).await;
    sim.set_webhook(&url, "s3cret");

    let run = sim.successful_build("svc", "general.yaml", "master", &a, "1.1.937");
    sim.create_branch("svc", "uat", "master");
    sim.commit(
        "svc",
        "uat",
        CommitSpec::new("feat: three", "Ada", "ada@example.com"),
    );
    let merged = sim.open_pr("svc", "uat", "master", "Release svc");
    let merge_sha = sim.merge_pr("svc", merged);
    sim.commit(
        "svc",
        "uat",
        CommitSpec::new("feat: four", "Ada", "ada@example.com"),
    );
    let closed = sim.open_pr("svc", "uat", "master", "Release svc again");
    sim.close_pr("svc", closed);
    sim.close_pr("svc", closed);
    sim.flush_webhooks().await;

    let got = inbox.lock().unwrap().clone();
    let deliveries = sim.deliveries();
    let kinds: Vec<(String, Option<String>, Option<u16>)> = deliveries
        .iter()
        .map(|d| (d.event.clone(), d.action.clone(), d.status))
        .collect();
    let expected = [
        ("workflow_run", Some("requested")),
        ("workflow_run", Some("in_progress")),
        ("workflow_job", Some("in_progress")),
        ("workflow_job", Some("in_progress")),
        ("workflow_job", Some("completed")),
        ("workflow_job", Some("completed")),
        ("workflow_run", Some("completed")),
        ("push", None),
        ("push", None),
        ("push", None),
        ("pull_request", Some("closed")),
        ("push", None),
        ("pull_request", Some("closed")),
    ];
    assert_eq!(
        kinds,
        expected
            .iter()
            .map(|(e, a)| (e.to_string(), a.map(str::to_owned), Some(202)))
            .collect::<Vec<_>>()
    );
    assert_eq!(got.len(), 13);
    for (received, delivery) in got.iter().zip(&deliveries) {
        assert_eq!(received.header("content-type"), "application/json");
        assert!(
            received
                .header("user-agent")
                .starts_with("GitHub-Hookshot/")
        );
        assert_eq!(received.header("x-github-event"), delivery.event);
        assert_eq!(received.header("x-github-delivery"), delivery.guid);
        assert_eq!(delivery.guid.len(), 36);
        assert_eq!(
            received.header("x-hub-signature-256"),
            signature_of("s3cret", &received.body)
        );
        assert_eq!(received.body, delivery.body.as_bytes());
    }
    let guids: std::collections::HashSet<&str> =
        deliveries.iter().map(|d| d.guid.as_str()).collect();
    assert_eq!(guids.len(), 13);

    let runs: Vec<&Received> = got
        .iter()
        .filter(|r| r.header("x-github-event") == "workflow_run")
        .collect();
    let statuses: Vec<(String, Value)> = runs
        .iter()
        .map(|r| {
            let v = r.json();
            assert_eq!(v["workflow_run"]["id"], run);
            assert_eq!(v["workflow_run"]["path"], ".github/workflows/general.yaml");
            assert_eq!(v["workflow"]["path"], ".github/workflows/general.yaml");
            assert_eq!(v["repository"]["full_name"], "acme/svc");
            (
                v["workflow_run"]["status"].as_str().unwrap().to_owned(),
                v["workflow_run"]["conclusion"].clone(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("queued".to_owned(), Value::Null),
            ("in_progress".to_owned(), Value::Null),
            ("completed".to_owned(), json!("success")),
        ]
    );
    let jobs: Vec<(String, String, Value)> = got[2..6]
        .iter()
        .map(|r| {
            let v = r.json();
            assert_eq!(v["workflow_job"]["run_id"], run);
            assert_eq!(v["repository"]["full_name"], "acme/svc");
            (
                v["workflow_job"]["name"].as_str().unwrap().to_owned(),
                v["workflow_job"]["status"].as_str().unwrap().to_owned(),
                v["workflow_job"]["conclusion"].clone(),
            )
        })
        .collect();
    let job = |name: &str, status: &str, conclusion: Value| {
        (name.to_owned(), status.to_owned(), conclusion)
    };
    assert_eq!(
        jobs,
        [
            job("build", "in_progress", Value::Null),
            job("helm", "in_progress", Value::Null),
            job("build", "completed", json!("success")),
            job("helm", "completed", json!("success")),
        ]
    );
    let pr = got[10].json();
    assert_eq!(pr["number"], merged);
    assert_eq!(pr["pull_request"]["merged"], true);
    assert_eq!(pr["pull_request"]["merge_commit_sha"], merge_sha.as_str());
    assert_eq!(pr["pull_request"]["base"]["ref"], "master");
    assert_eq!(pr["pull_request"]["head"]["ref"], "uat");
    let pr = got[12].json();
    assert_eq!(pr["number"], closed);
    assert_eq!(pr["pull_request"]["merged"], false);
    assert_eq!(pr["pull_request"]["state"], "closed");

    // Re-runs are requested again.
    sim.rerun(run);
    sim.flush_webhooks().await;
    let last = sim.deliveries().pop().unwrap();
    assert_eq!(last.action.as_deref(), Some("requested"));
    let v: Value = serde_json::from_str(&last.body).unwrap();
    assert_eq!(v["workflow_run"]["run_attempt"], 2);
}

#[tokio::test]
async fn raw_deliveries_can_carry_a_wrong_signature() {
    let sim = SimGithub::start("acme").await.unwrap();
    let (url, inbox) = receiver(Some("right")).await;
    sim.set_webhook(&url, "right");
    let body = r#"{"action":"completed","workflow_run":{"id":1}}"#;
    let wrong = signature_of("wrong", body.as_bytes());
    assert_eq!(
        sim.deliver_raw("workflow_run", body, Some(&wrong)).await,
        Some(401)
    );
    assert_eq!(sim.deliver_raw("workflow_run", body, None).await, Some(401));
    let right = signature_of("right", body.as_bytes());
    assert_eq!(
        sim.deliver_raw("workflow_run", body, Some(&right)).await,
        Some(202)
    );
    assert_eq!(
        sim.deliver("push", &json!({"ref": "refs/heads/master"}))
            .await,
        Some(202)
    );
    let got = inbox.lock().unwrap().clone();
    assert_eq!(got.len(), 4);
    assert_eq!(got[0].header("x-hub-signature-256"), wrong);
    assert!(got[1].headers.get("x-hub-signature-256").is_none());
    assert_eq!(got[3].header("x-github-event"), "push");
    let recorded = sim.deliveries();
    assert_eq!(recorded[0].action.as_deref(), Some("completed"));
    assert_eq!(recorded[3].action, None);
    assert_eq!(recorded[1].signature, None);

    // Without a secret deliveries are unsigned; an unreachable receiver records no status.
    let (open_url, open_inbox) = receiver(None).await;
    sim.set_webhook(&open_url, "");
    assert_eq!(sim.deliver("ping", &json!({"zen": "hi"})).await, Some(202));
    assert!(
        open_inbox.lock().unwrap()[0]
            .headers
            .get("x-hub-signature-256")
            .is_none()
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}/hooks", listener.local_addr().unwrap());
    drop(listener);
    sim.set_webhook(&closed, "x");
    assert_eq!(sim.deliver("ping", &json!({})).await, None);
    let last = sim.deliveries().pop().unwrap();
    assert!(last.status.is_none() && last.error.is_some());
    sim.remove_webhook();
    sim.add_repo("svc");
    let sha = sim.branch_head("svc", "main").unwrap();
    sim.start_run("svc", "general.yaml", "main", &sha);
    sim.flush_webhooks().await;
    assert_eq!(sim.deliveries().len(), 6);
}
