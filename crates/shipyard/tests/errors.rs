//! Every error of the API's error model, answered in its words, with nothing stored half-way.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::SimGithub;

fn two_repos(sim: &SimGithub) {
    repo_with_changes(sim, "api-gateway", &[commit("feat: a", "alice")]);
    repo_with_changes(sim, "billing", &[commit("feat: b", "bob")]);
}

async fn raw(
    server: &TestServer,
    who: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: &str,
) -> (StatusCode, Value) {
    let mut req = server
        .http
        .request(method, format!("{}{path}", server.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(w) = who {
        req = req.bearer_auth(&server.tokens[w]);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status();
    let text = resp.text().await.expect("text");
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}")),
    )
}

/// Sends a PATCH announcing `len` bytes over a plain socket and reads the answer; the server may
/// answer (and close) before the body is sent, which an ordinary client reports as a broken pipe.
async fn oversized_patch(server: &TestServer, path: &str, len: usize) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = server.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "PATCH {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n",
        server.tokens["dev"]
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    let chunk = vec![b'y'; 64 * 1024];
    let mut sent = 0;
    while sent < len {
        if stream.write_all(&chunk).await.is_err() {
            break;
        }
        sent += chunk.len();
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let text = String::from_utf8_lossy(&answer);
    let status: u16 = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    let json_start = body.find('{').unwrap_or(0);
    let json_end = body.rfind('}').map(|i| i + 1).unwrap_or(body.len());
    (
        StatusCode::from_u16(status).unwrap(),
        serde_json::from_str(&body[json_start..json_end]).unwrap_or(Value::Null),
    )
}

async fn release_count(server: &TestServer) -> usize {
    server.get("viewer", "/api/releases").await.1["releases"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(usize::MAX)
}

both_backends!(bad_input_is_refused_in_words, |backend| async move {
    let server = TestServer::start(backend, two_repos).await;
    let post = reqwest::Method::POST;

    let (s, e) = raw(
        &server,
        Some("dev"),
        post.clone(),
        "/api/releases",
        "{not json",
    )
    .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_json"));
    let (s, e) = raw(&server, Some("dev"), post.clone(), "/api/releases", "").await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_json"));

    let (s, e) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": 5, "dest_branch": "master"}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_input"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("source_branch"),
        "{e}"
    );
    let (s, e) = server
        .post("dev", "/api/releases", json!({"dest_branch": "master"}))
        .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_input"));
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("source_branch"),
        "{e}"
    );
    let (s, e) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": "uat", "dest_branch": "master", "colour": "red"}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_input"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("colour"),
        "{e}"
    );

    for (source, dest, field) in [
        ("a..b", "master", "source_branch"),
        ("uat", "../etc/passwd", "dest_branch"),
        ("", "master", "source_branch"),
        // Exact, as the API description's pattern says: no trimming.
        (" uat", "master", "source_branch"),
        ("uat", "master\n", "dest_branch"),
    ] {
        let (s, e) = server
            .post(
                "dev",
                "/api/releases",
                json!({"source_branch": source, "dest_branch": dest}),
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::BAD_REQUEST, "invalid_input"),
            "{source} {dest}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().starts_with(field),
            "{e}"
        );
    }

    // Well-formed, and the same branch twice: nothing to release.
    let (s, e) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": "uat", "dest_branch": "uat"}),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upstream_rejected"),
        "{e}"
    );

    // Bodies that are JSON but not objects: serde would read a struct from an array.
    for body in ["[null, null]", "[]", "null", "\"uat\"", "7"] {
        let resp = server
            .http
            .post(format!("{}/api/releases", server.base))
            .bearer_auth(&server.tokens["dev"])
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{body}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(code(&e), "invalid_input", "{body}: {e}");
    }

    // Queries.
    for q in [
        "status=",
        "status=pending%20",
        "limit=",
        "cursor=%2B1:2",
        "status=done",
        "limit=0",
        "limit=201",
        "limit=ten",
        "cursor=garbage",
    ] {
        let (s, e) = server.get("viewer", &format!("/api/releases?{q}")).await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::BAD_REQUEST, "invalid_input"),
            "{q}: {e}"
        );
    }

    let detail = server.create_release().await;
    let id = detail["release"]["id"].as_str().unwrap().to_owned();
    let gw = repo(&detail, "api-gateway")["id"].as_i64().unwrap();

    // Notes over 64 KiB (within the body limit) and wrong types on patches.
    let (s, e) = server
        .patch(
            "dev",
            &format!("/api/releases/{id}"),
            json!({"notes": "x".repeat(70 * 1024)}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_input"));
    assert!(
        e["error"]["message"].as_str().unwrap().starts_with("notes"),
        "{e}"
    );
    let (s, e) = server
        .patch(
            "dev",
            &format!("/api/releases/{id}/repos/{gw}"),
            json!({"excluded": "yes"}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::BAD_REQUEST, "invalid_input"));
    assert!(
        e["error"]["message"].as_str().unwrap().contains("excluded"),
        "{e}"
    );

    // An array is not a patch, on either PATCH route; nothing changes.
    let (_, before) = server.get("viewer", &format!("/api/releases/{id}")).await;
    for path in [
        format!("/api/releases/{id}"),
        format!("/api/releases/{id}/repos/{gw}"),
    ] {
        let resp = server
            .http
            .patch(format!("{}{path}", server.base))
            .bearer_auth(&server.tokens["admin"])
            .header("content-type", "application/json")
            .body("[null, null]")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{path}");
        let e: Value = resp.json().await.unwrap();
        assert_eq!(code(&e), "invalid_input", "{path}: {e}");
    }
    let (_, after) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(after, before);

    // Well-formed dependencies the release cannot take: a conflict, naming the repo.
    for (deps, says) in [
        (
            json!(["nowhere"]),
            "`nowhere` is not a repository of this release",
        ),
        (
            json!(["api-gateway"]),
            "api-gateway cannot depend on itself",
        ),
    ] {
        let (s, e) = server
            .patch(
                "dev",
                &format!("/api/releases/{id}/repos/{gw}"),
                json!({ "depends_on": deps }),
            )
            .await;
        assert_eq!((s, code(&e)), (StatusCode::CONFLICT, "conflict"), "{e}");
        assert!(
            e["error"]["message"].as_str().unwrap().contains(says),
            "{e}"
        );
    }
    let (s, e) = server
        .patch(
            "dev",
            &format!("/api/releases/{id}"),
            json!({"status": "approved"}),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::BAD_REQUEST, "invalid_input"),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("status"),
        "{e}"
    );

    // 10 MB body: refused from its announced length, before it is read.
    let (s, e) = oversized_patch(&server, &format!("/api/releases/{id}"), 10 * 1024 * 1024).await;
    assert_eq!((s, code(&e)), (StatusCode::PAYLOAD_TOO_LARGE, "too_large"));

    // Markup in notes is stored as text, untouched.
    let (_, d) = server
        .patch(
            "dev",
            &format!("/api/releases/{id}"),
            json!({"notes": "<script>alert(1)</script>"}),
        )
        .await;
    assert_eq!(d["release"]["notes"], "<script>alert(1)</script>");

    // Unknown things.
    for path in [
        "/api/releases/zzzzzzzzzz",
        "/api/releases/..%2F..%2Fetc",
        "/api/releases/zzzzzzzzzz/history",
        "/api/releases/zzzzzzzzzz/ci-status",
        "/api/nothing-here",
    ] {
        let (s, e) = server.get("viewer", path).await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    let (s, e) = server
        .post("dev", &format!("/api/releases/{id}/approve/ops"), json!({}))
        .await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, e) = server
        .patch(
            "dev",
            &format!("/api/releases/{id}/repos/abc"),
            json!({"excluded": true}),
        )
        .await;
    assert_eq!((s, code(&e)), (StatusCode::NOT_FOUND, "not_found"));
    let (s, e) = server
        .call(Some("dev"), reqwest::Method::PUT, "/api/releases", None)
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );

    // Credentials.
    let (s, e) = server
        .call(None, reqwest::Method::GET, "/api/releases", None)
        .await;
    assert_eq!((s, code(&e)), (StatusCode::UNAUTHORIZED, "unauthenticated"));
    let resp = server
        .http
        .get(format!("{}/api/me", server.base))
        .bearer_auth("sy_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let (s, me) = server.get("both", "/api/me").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        me,
        json!({"subject": "token:both", "name": "both", "email": null, "roles": ["dev_approver", "qa_approver"], "auth": "token"})
    );

    // Nothing of the refused requests was stored.
    assert_eq!(release_count(&server).await, 1);
    assert_eq!(
        server.history_actions(&id).await,
        vec!["created", "notes_updated"]
    );
    server.stop().await;
});

both_backends!(upstream_answers_become_clear_errors, |backend| async move {
    let server = TestServer::start(backend, two_repos).await;

    // A branch that exists nowhere in the org.
    let (s, e) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": "hotfix", "dest_branch": "master"}),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upstream_rejected")
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`hotfix` does not exist"),
        "{e}"
    );
    // Nothing differs.
    let (s, e) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": "master", "dest_branch": "main"}),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::UNPROCESSABLE_ENTITY, "upstream_rejected")
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to release"),
        "{e}"
    );

    // Rate limit that resets in an hour: refused now, with when.
    server
        .sim
        .push_faults([shipyard_sim::github::Fault::RateLimited {
            reset_in_secs: 3600,
        }]);
    let (s, e) = server
        .post(
            "dev",
            "/api/releases",
            json!({"source_branch": "uat", "dest_branch": "master"}),
        )
        .await;
    assert_eq!(
        (s, code(&e)),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        "{e}"
    );
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("resets in"),
        "{e}"
    );
    assert_eq!(release_count(&server).await, 0);
    server.stop().await;
});

both_backends!(
    github_down_is_upstream_unavailable_and_stores_nothing,
    |backend| async move {
        let server = TestServer::start(backend, two_repos).await;
        server
            .sim
            .set_fault_rate(1.0, shipyard_sim::github::Fault::Status(502));
        let (s, e) = server
            .post(
                "dev",
                "/api/releases",
                json!({"source_branch": "uat", "dest_branch": "master"}),
            )
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::BAD_GATEWAY, "upstream_unavailable"),
            "{e}"
        );
        assert!(
            e["error"]["message"].as_str().unwrap().contains("GitHub"),
            "{e}"
        );
        assert_eq!(release_count(&server).await, 0);
        server
            .sim
            .set_fault_rate(0.0, shipyard_sim::github::Fault::Status(502));
        server.create_release().await;
        server.stop().await;
    }
);

both_backends!(
    database_failures_are_internal_without_details,
    |backend| async move {
        let server = TestServer::start(backend, two_repos).await;
        let id = server.create_release_id().await;
        // Break the history table behind the server's back: the approval's transaction must fail whole.
        match backend {
            shipyard_store::Backend::Sqlite => {
                let pool = sqlx::SqlitePool::connect(&server.db_url).await.unwrap();
                sqlx::query("ALTER TABLE history RENAME TO history_gone")
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            shipyard_store::Backend::Postgres => {
                let pool = sqlx::PgPool::connect(&server.db_url).await.unwrap();
                sqlx::query("ALTER TABLE history RENAME TO history_gone")
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
        }
        let (s, e) = server
            .post("dev", &format!("/api/releases/{id}/approve/dev"), json!({}))
            .await;
        assert_eq!(
            (s, code(&e)),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal")
        );
        let message = e["error"]["message"].as_str().unwrap();
        assert!(
            !message.contains("history") && !message.to_lowercase().contains("sql"),
            "{message}"
        );
        let (_, d) = server.get("viewer", &format!("/api/releases/{id}")).await;
        assert_eq!(
            d["release"]["dev_approved_by"],
            json!(null),
            "the sign-off was not half-stored"
        );
        server.stop().await;
    }
);

#[tokio::test]
async fn every_api_route_is_described_and_refuses_strangers() {
    let server = TestServer::start(shipyard_store::Backend::Sqlite, two_repos).await;
    let resp = server
        .http
        .get(format!("{}/api/openapi.json", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let spec: Value = resp.json().await.unwrap();
    let paths = spec["paths"].as_object().expect("paths");

    let expected = [
        ("get", "/api/releases"),
        ("post", "/api/releases"),
        ("get", "/api/releases/{id}"),
        ("patch", "/api/releases/{id}"),
        ("post", "/api/releases/{id}/refresh"),
        ("patch", "/api/releases/{id}/repos/{repo_id}"),
        ("post", "/api/releases/{id}/approve/{kind}"),
        ("delete", "/api/releases/{id}/approve/{kind}"),
        ("get", "/api/releases/{id}/history"),
        ("get", "/api/releases/{id}/ci-status"),
        ("get", "/api/releases/{id}/deployment-status"),
        ("get", "/api/releases/{id}/events"),
        ("get", "/api/events"),
        ("get", "/api/me"),
    ];
    for (method, path) in expected {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }

    // Every described route exists and answers 401 without credentials.
    let mut checked = 0;
    for (path, item) in paths {
        for method in ["get", "post", "patch", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path
                .replace("{id}", "aaaaaaaaaa")
                .replace("{repo_id}", "1")
                .replace("{kind}", "dev");
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (s, e) = server.call(None, m, &concrete, None).await;
            assert_eq!(
                (s, code(&e)),
                (StatusCode::UNAUTHORIZED, "unauthenticated"),
                "{method} {path}"
            );
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        expected.len(),
        "the document describes exactly the routes above"
    );
    server.stop().await;
}

#[tokio::test]
async fn operations_endpoints_need_no_credentials() {
    let server = TestServer::start(shipyard_store::Backend::Sqlite, two_repos).await;
    let (s, h) = server
        .call(None, reqwest::Method::GET, "/healthz", None)
        .await;
    assert_eq!((s, h["status"].as_str()), (StatusCode::OK, Some("ok")));
    let (s, r) = server
        .call(None, reqwest::Method::GET, "/readyz", None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["database"], true);
    assert_eq!(r["github_org"], ORG);
    let resp = server
        .http
        .get(format!("{}/api/me", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );

    // Prometheus metrics: requests by route template (never by raw path) and GitHub calls.
    server.create_release().await;
    let text = server
        .http
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("shipyard_http_requests_total{"), "{text}");
    assert!(text.contains("route=\"/api/releases\""), "{text}");
    assert!(text.contains("status=\"401\""), "{text}");
    assert!(text.contains("shipyard_github_requests_total{"), "{text}");
    assert!(
        text.contains("shipyard_github_rate_limit_remaining"),
        "{text}"
    );
    assert!(
        !text.contains("route=\"/api/releases/aa"),
        "ids never become labels: {text}"
    );
    server.stop().await;
}
