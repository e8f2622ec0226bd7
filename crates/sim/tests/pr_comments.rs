//! What a pull-request bot does with GitHub, against the simulated GitHub over real sockets:
//! issue comments (every page of them), reactions, commit statuses and their combined view,
//! reviews, collaborator permissions, a read-only token, secondary rate limits and concurrent
//! writers.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::{CommitSpec, Fault, SimGithub};

const BOT: &str = "github-actions[bot]";

/// The combined status of `reference` in `infra`.
async fn combined(sim: &SimGithub, reference: &str) -> Value {
    get(
        sim,
        &format!("/repos/acme/infra/commits/{reference}/status"),
    )
    .await
    .2
}

/// The sim with repository `infra` and one open pull request (`feature` → `main`) by alice.
async fn sim() -> (SimGithub, u64) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.add_repo("infra");
    sim.create_branch("infra", "feature", "main");
    sim.commit("infra", "feature", work("feat: network"));
    let pr = sim.open_pr_as("infra", "feature", "main", "Network", "alice");
    (sim, pr)
}

fn work(message: &str) -> CommitSpec {
    CommitSpec::new(message, "Alice", "alice@example.com")
        .login("alice")
        .file("main.tf", 4, 1)
}

fn ids(body: &Value) -> Vec<u64> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_u64().unwrap())
        .collect()
}

fn rels(h: &reqwest::header::HeaderMap) -> Vec<String> {
    links(h).into_iter().map(|(rel, _)| rel).collect()
}

async fn post(sim: &SimGithub, path: &str, body: Value) -> (StatusCode, Value) {
    let (status, _, body) = send(sim, "POST", path, Some(body)).await;
    (status, body)
}

async fn comment(sim: &SimGithub, pr: u64, body: &str) -> (StatusCode, Value) {
    post(
        sim,
        &format!("/repos/acme/infra/issues/{pr}/comments"),
        json!({ "body": body }),
    )
    .await
}

async fn set_status(sim: &SimGithub, sha: &str, body: Value) -> (StatusCode, Value) {
    post(sim, &format!("/repos/acme/infra/statuses/{sha}"), body).await
}

#[tokio::test]
async fn comments_come_oldest_first_in_pages_linked_like_github() {
    let (sim, pr) = sim().await;
    let seeded: Vec<u64> = (0..250)
        .map(|i| sim.add_comment("infra", pr, "bob", &format!("remark {i}")))
        .collect();
    assert!(seeded.windows(2).all(|w| w[0] < w[1]), "ids grow");

    let base = sim.url();
    let repo_id = get(&sim, "/repos/acme/infra").await.2["id"]
        .as_u64()
        .unwrap();
    let listed = |page: usize| {
        format!("{base}/repositories/{repo_id}/issues/{pr}/comments?per_page=100&page={page}")
    };
    let (status, h, first) = get(
        &sim,
        &format!("/repos/acme/infra/issues/{pr}/comments?per_page=100"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&first), seeded[..100]);
    assert_eq!(rels(&h), ["next", "last"]);
    assert_eq!(link(&h, "next"), Some(listed(2)));
    assert_eq!(link(&h, "last"), Some(listed(3)));
    assert_eq!(
        header(&h, "link"),
        format!(
            "<{}>; rel=\"next\", <{}>; rel=\"last\"",
            listed(2),
            listed(3)
        )
    );

    // The links are followed as given: GitHub's `/repositories/{id}` form is served too.
    let resp = client().get(listed(2)).send().await.unwrap();
    let h = resp.headers().clone();
    let second: Value = resp.json().await.unwrap();
    assert_eq!(ids(&second), seeded[100..200]);
    assert_eq!(rels(&h), ["prev", "next", "last", "first"]);
    assert_eq!(link(&h, "prev"), Some(listed(1)));
    assert_eq!(link(&h, "first"), Some(listed(1)));

    let resp = client()
        .get(link(&h, "last").unwrap())
        .send()
        .await
        .unwrap();
    let h = resp.headers().clone();
    let third: Value = resp.json().await.unwrap();
    assert_eq!(ids(&third), seeded[200..]);
    assert_eq!(
        rels(&h),
        ["prev", "first"],
        "the last page has no next nor last"
    );
    assert_eq!(link(&h, "prev"), Some(listed(2)));

    // Every request is recorded as sent.
    let paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths.contains(&format!(
            "/repositories/{repo_id}/issues/{pr}/comments?per_page=100&page=3"
        )),
        "{paths:?}"
    );

    // 30 by default, 100 at most, nothing past the end.
    let (_, h, default) = get(&sim, &format!("/repos/acme/infra/issues/{pr}/comments")).await;
    assert_eq!(ids(&default), seeded[..30]);
    assert!(link(&h, "last").unwrap().ends_with("page=9"));
    let (_, _, capped) = get(
        &sim,
        &format!("/repos/acme/infra/issues/{pr}/comments?per_page=500"),
    )
    .await;
    assert_eq!(ids(&capped).len(), 100);
    let (status, _, past) = get(
        &sim,
        &format!("/repos/acme/infra/issues/{pr}/comments?per_page=100&page=4"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(past, json!([]));

    // One page: no Link header.
    let other = sim.open_pr_as("infra", "feature", "main", "Again", "alice");
    sim.add_comment("infra", other, "bob", "only one");
    let (_, h, one) = get(&sim, &format!("/repos/acme/infra/issues/{other}/comments")).await;
    assert_eq!(ids(&one).len(), 1);
    assert!(h.get("link").is_none());

    for missing in [
        "/repos/acme/infra/issues/99/comments",
        "/repos/acme/nope/issues/1/comments",
    ] {
        let (status, _, body) = get(&sim, missing).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
        assert_eq!(body["message"], "Not Found");
    }
    assert_eq!(sim.comments("infra", pr).len(), 250);
}

#[tokio::test]
async fn comments_are_written_by_the_tokens_login_then_edited_and_deleted() {
    let (sim, pr) = sim().await;
    sim.set_token(Some("ghs_secret".into()));
    let auth = ("authorization", "Bearer ghs_secret");
    let path = format!("/repos/acme/infra/issues/{pr}/comments");
    let (status, _, _) = send(&sim, "POST", &path, Some(json!({"body": "no token"}))).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(sim.comments("infra", pr).is_empty());

    let created = client()
        .post(format!("{}{path}", sim.url()))
        .header(auth.0, auth.1)
        .json(&json!({"body": "<!-- shipyard-dashboard:abc1234 -->"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let location = header(created.headers(), "location").to_owned();
    let created: Value = created.json().await.unwrap();
    let id = created["id"].as_u64().unwrap();
    assert_eq!(
        location,
        format!("{}/repos/acme/infra/issues/comments/{id}", sim.url())
    );
    assert_eq!(created["user"]["login"], BOT);
    assert_eq!(created["user"]["type"], "Bot");
    assert_eq!(
        created["user"]["html_url"],
        "https://github.com/apps/github-actions"
    );
    assert_eq!(created["author_association"], "NONE");
    assert_eq!(
        created["issue_url"],
        format!("{}/repos/acme/infra/issues/{pr}", sim.url())
    );
    assert_eq!(
        created["html_url"],
        format!("https://github.com/acme/infra/pull/{pr}#issuecomment-{id}")
    );
    assert_eq!(created["reactions"]["total_count"], 0);
    assert_eq!(created["created_at"], created["updated_at"]);

    // Another identity behind the token, and a person.
    sim.set_token(None);
    sim.set_token_login("shipyard-app[bot]");
    let (_, by_app) = comment(&sim, pr, "from the app").await;
    assert_eq!(by_app["user"]["login"], "shipyard-app[bot]");
    sim.set_token_login("carol");
    let (_, by_carol) = comment(&sim, pr, "from carol").await;
    assert_eq!(by_carol["user"]["type"], "User");
    assert_eq!(by_carol["author_association"], "NONE");
    let (_, by_alice) = {
        sim.set_token_login("alice");
        comment(&sim, pr, "from the author").await
    };
    assert_eq!(
        by_alice["author_association"], "CONTRIBUTOR",
        "alice wrote a commit"
    );
    sim.set_author_association("infra", "alice", "MEMBER");
    let (_, _, again) = get(
        &sim,
        &format!("/repos/acme/infra/issues/comments/{}", by_alice["id"]),
    )
    .await;
    assert_eq!(again["author_association"], "MEMBER");

    let one = format!("/repos/acme/infra/issues/comments/{id}");
    let (status, _, fetched) = get(&sim, &one).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["body"], "<!-- shipyard-dashboard:abc1234 -->");
    let (status, _, edited) = send(&sim, "PATCH", &one, Some(json!({"body": "edited"}))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(edited["body"], "edited");
    assert_eq!(edited["created_at"], created["created_at"]);
    assert_ne!(
        edited["updated_at"], created["updated_at"],
        "an edit moves updated_at"
    );
    assert_eq!(edited["user"]["login"], BOT, "the author stays");
    let mine = sim.comments("infra", pr);
    assert_eq!(mine[0].body, "edited");
    assert!(mine[0].updated_at > mine[0].created_at);

    // Edited by hand, seen through the API.
    sim.set_comment_body("infra", id, "by hand");
    assert_eq!(get(&sim, &one).await.2["body"], "by hand");

    let (status, _, body) = send(&sim, "DELETE", &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
    assert_eq!(sim.comments("infra", pr).len(), 3);
    for method in ["GET", "PATCH", "DELETE"] {
        let body = (method == "PATCH").then(|| json!({"body": "x"}));
        let (status, _, answer) = send(&sim, method, &one, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(answer["message"], "Not Found");
    }
    // A comment is only found in its own repository.
    sim.add_repo("other");
    let (status, _, _) = get(
        &sim,
        &format!("/repos/acme/other/issues/comments/{}", by_app["id"]),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let methods: Vec<(String, u16)> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/issues/"))
        .map(|r| (r.method, r.status))
        .collect();
    assert_eq!(methods[0], ("POST".to_owned(), 401));
    assert!(methods.contains(&("DELETE".to_owned(), 204)));
    assert!(methods.contains(&("PATCH".to_owned(), 200)));
}

#[tokio::test]
async fn bodies_of_65536_characters_or_blank_ones_are_refused() {
    let (sim, pr) = sim().await;
    let fits = "x".repeat(65_535);
    let (status, body) = comment(&sim, pr, &fits).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body["body"].as_str().unwrap().len(), 65_535);
    let id = body["id"].as_u64().unwrap();
    // Characters are counted, not bytes: 65,535 two-byte characters fit.
    let wide = "é".repeat(65_535);
    assert_eq!(comment(&sim, pr, &wide).await.0, StatusCode::CREATED);

    let too_long = json!({
        "message": "Validation Failed",
        "errors": [{
            "resource": "IssueComment",
            "code": "custom",
            "field": "body",
            "message": "body is too long (maximum is 65536 characters)"
        }],
        "documentation_url": "https://docs.github.com/rest/issues/comments#create-an-issue-comment",
        "status": "422"
    });
    let (status, body) = comment(&sim, pr, &"x".repeat(65_536)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body, too_long);
    let (status, body) = comment(&sim, pr, &"é".repeat(65_536)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "body");

    let one = format!("/repos/acme/infra/issues/comments/{id}");
    let (status, _, body) = send(
        &sim,
        "PATCH",
        &one,
        Some(json!({"body": "y".repeat(65_536)})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["errors"][0]["message"],
        too_long["errors"][0]["message"]
    );
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .ends_with("#update-an-issue-comment")
    );
    let (status, _, _) = send(
        &sim,
        "PATCH",
        &one,
        Some(json!({"body": "y".repeat(65_535)})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    for blank in ["", "  \n "] {
        let (status, body) = comment(&sim, pr, blank).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{blank:?}");
        assert_eq!(body["message"], "Validation Failed");
        assert_eq!(body["errors"][0]["code"], "missing_field");
        let (status, _, _) = send(&sim, "PATCH", &one, Some(json!({ "body": blank }))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    }
    let path = format!("/repos/acme/infra/issues/{pr}/comments");
    let (status, body) = post(&sim, &path, json!({"text": "hi"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "Invalid request.\n\n\"body\" wasn't supplied."
    );
    let (status, body) = post(&sim, &path, json!({"body": 5})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("is not a string"),
        "{body}"
    );
    let raw = client()
        .post(format!("{}{path}", sim.url()))
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        raw.json::<Value>().await.unwrap()["message"],
        "Problems parsing JSON"
    );

    let bodies: Vec<usize> = sim
        .comments("infra", pr)
        .iter()
        .map(|c| c.body.chars().count())
        .collect();
    assert_eq!(bodies, [65_535, 65_535], "only what fits was stored");
}

#[tokio::test]
async fn the_combined_status_takes_the_newest_status_per_context_whatever_its_case() {
    let (sim, pr) = sim().await;
    let head = sim.branch_head("infra", "feature").unwrap();

    let none = combined(&sim, &head).await;
    assert_eq!(none["state"], "pending", "no status at all is pending");
    assert_eq!(none["total_count"], 0);
    assert_eq!(none["sha"], head);

    let (status, created) = set_status(
        &sim,
        &head,
        json!({
            "state": "pending",
            "context": "shipyard/Plan-Platform",
            "description": "running since 10:42 UTC",
            "target_url": "https://github.example/acme/infra/actions/runs/7"
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["creator"]["login"], BOT);
    assert_eq!(created["context"], "shipyard/Plan-Platform");
    assert_eq!(
        created["url"],
        format!("{}/repos/acme/infra/statuses/{head}", sim.url())
    );
    assert_eq!(combined(&sim, &head).await["state"], "pending");

    for (context, state) in [
        ("shipyard/plan-platform", "success"),
        ("shipyard/apply", "success"),
    ] {
        let (status, _) =
            set_status(&sim, &head, json!({"state": state, "context": context})).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let all_green = combined(&sim, "feature").await;
    assert_eq!(all_green["state"], "success", "{all_green}");
    assert_eq!(all_green["total_count"], 2);
    assert_eq!(all_green["sha"], head, "a branch name names its head");
    let shown: Vec<(&str, &str)> = all_green["statuses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["context"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(
        shown,
        [
            ("shipyard/plan-platform", "success"),
            ("shipyard/apply", "success")
        ]
    );
    assert!(all_green["statuses"][0].get("creator").is_none());
    assert_eq!(all_green["repository"]["full_name"], "acme/infra");

    set_status(
        &sim,
        &head,
        json!({"state": "pending", "context": "shipyard/e2e"}),
    )
    .await;
    assert_eq!(combined(&sim, &head).await["state"], "pending");
    set_status(
        &sim,
        &head,
        json!({"state": "error", "context": "SHIPYARD/E2E"}),
    )
    .await;
    assert_eq!(combined(&sim, &head).await["state"], "failure");
    set_status(
        &sim,
        &head,
        json!({"state": "success", "context": "shipyard/e2e"}),
    )
    .await;
    set_status(
        &sim,
        &head,
        json!({"state": "failure", "context": "shipyard/apply"}),
    )
    .await;
    assert_eq!(combined(&sim, &head).await["state"], "failure");
    // No context is GitHub's `default` context.
    let (_, plain) = set_status(&sim, &head, json!({"state": "success"})).await;
    assert_eq!(plain["context"], "default");
    assert_eq!(plain["description"], Value::Null);
    assert_eq!(plain["target_url"], Value::Null);

    let paged = get(
        &sim,
        &format!("/repos/acme/infra/commits/{head}/status?per_page=2"),
    )
    .await;
    assert_eq!(paged.2["total_count"], 4);
    assert_eq!(paged.2["statuses"].as_array().unwrap().len(), 2);
    assert_eq!(rels(&paged.1), ["next", "last"]);

    // The list: every status, newest first, paginated.
    let recorded = sim.statuses("infra", &head);
    assert_eq!(recorded.len(), 8);
    assert_eq!(recorded[0].context, "shipyard/Plan-Platform");
    assert_eq!(
        recorded[0].description.as_deref(),
        Some("running since 10:42 UTC")
    );
    assert!(recorded.iter().all(|s| s.creator == BOT && s.sha == head));
    let newest_first: Vec<u64> = recorded.iter().rev().map(|s| s.id).collect();
    let (_, h, list) = get(
        &sim,
        &format!("/repos/acme/infra/commits/{head}/statuses?per_page=5"),
    )
    .await;
    assert_eq!(ids(&list), newest_first[..5]);
    let (_, _, rest) = get(&sim, &link(&h, "next").unwrap().replace(&sim.url(), "")).await;
    assert_eq!(ids(&rest), newest_first[5..]);
    assert_eq!(
        sim.statuses("infra", "feature"),
        recorded,
        "a branch works too"
    );
    let (_, _, none) = get(&sim, "/repos/acme/infra/commits/main/statuses").await;
    assert_eq!(none, json!([]));

    // What GitHub refuses.
    let (status, body) = set_status(&sim, &head, json!({"state": "running"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "state");
    let (status, body) = set_status(&sim, &head, json!({"context": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        "Invalid request.\n\n\"state\" wasn't supplied."
    );
    let long = "é".repeat(141);
    let (status, body) = set_status(
        &sim,
        &head,
        json!({"state": "success", "description": long}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["errors"][0]["message"],
        "description is too long (maximum is 140 characters)"
    );
    let fits = "é".repeat(140);
    let (status, _) = set_status(
        &sim,
        &head,
        json!({"state": "success", "description": fits}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "140 characters fit, whatever their bytes"
    );
    let unknown = "0123456789abcdef0123456789abcdef01234567";
    let (status, body) = set_status(&sim, unknown, json!({"state": "success"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        body["message"],
        format!("No commit found for SHA: {unknown}")
    );
    assert!(
        body["documentation_url"]
            .as_str()
            .unwrap()
            .starts_with("https://docs.github.com/")
    );
    let (status, _, body) = get(&sim, &format!("/repos/acme/infra/commits/{unknown}/status")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(
        body["message"],
        format!("No commit found for SHA: {unknown}")
    );
    assert_eq!(sim.statuses("infra", &head).len(), 9);
    assert_eq!(
        get(&sim, &format!("/repos/acme/infra/pulls/{pr}")).await.2["head"]["sha"],
        head
    );
}

#[tokio::test]
async fn statuses_go_on_any_commit_the_repository_knows() {
    let (sim, pr) = sim().await;
    let head = sim.branch_head("infra", "feature").unwrap();
    let root = sim.branch_head("infra", "main").unwrap();
    let merge = sim.merge_pr("infra", pr);
    sim.create_branch("infra", "next", "main");
    let later = sim.commit("infra", "next", work("feat: more"));
    for sha in [&head, &root, &merge, &later, &later[..7].to_owned()] {
        let (status, body) =
            set_status(&sim, sha, json!({"state": "success", "context": "ci"})).await;
        assert_eq!(status, StatusCode::CREATED, "{sha}: {body}");
        assert!(body["url"].as_str().unwrap().ends_with(sha.as_str()) || sha.len() == 7);
    }
    assert_eq!(
        sim.statuses("infra", &later).len(),
        2,
        "a short sha names the full one"
    );
    // Statuses are set on commits, not on branch names; another repository's commit is unknown.
    sim.add_repo("other");
    let elsewhere = sim.branch_head("other", "main").unwrap();
    for sha in ["main", elsewhere.as_str(), "zzzzzzz"] {
        let (status, body) = set_status(&sim, sha, json!({"state": "success"})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sha}");
        assert_eq!(body["message"], format!("No commit found for SHA: {sha}"));
    }
    let (status, _) = post(
        &sim,
        &format!("/repos/acme/nope/statuses/{head}"),
        json!({"state": "success"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Seeded from a test, as another CI system would set it.
    sim.add_status("infra", &head, "other-ci", "failure");
    let combined = get(&sim, &format!("/repos/acme/infra/commits/{head}/status"))
        .await
        .2;
    assert_eq!(combined["state"], "failure");
    assert_eq!(combined["total_count"], 2);
}

#[tokio::test]
async fn a_pull_requests_head_follows_its_branch_and_names_its_author() {
    let (sim, pr) = sim().await;
    let path = format!("/repos/acme/infra/pulls/{pr}");
    let (_, _, before) = get(&sim, &path).await;
    let first = sim.branch_head("infra", "feature").unwrap();
    assert_eq!(before["head"]["sha"], first);
    assert_eq!(before["user"]["login"], "alice");
    assert!(before["author_association"].is_string(), "{before}");
    let pushed = sim.commit("infra", "feature", work("fix: network"));
    let (_, _, after) = get(&sim, &path).await;
    assert_eq!(after["head"]["sha"], pushed);
    assert_ne!(pushed, first);
    assert_eq!(
        after["statuses_url"],
        format!("{}/repos/acme/infra/statuses/{pushed}", sim.url())
    );
}

#[tokio::test]
async fn reviews_are_listed_in_the_order_they_were_given() {
    let (sim, pr) = sim().await;
    let first_head = sim.branch_head("infra", "feature").unwrap();
    let changes = sim.add_review("infra", pr, "erin", "CHANGES_REQUESTED");
    let pushed = sim.commit("infra", "feature", work("fix: review"));
    let approved = sim.add_review("infra", pr, "erin", "APPROVED");
    let commented = sim.add_review("infra", pr, "frank", "COMMENTED");
    let dismissed = sim.add_review("infra", pr, "gina", "DISMISSED");
    let pending = sim.add_review("infra", pr, "hal", "PENDING");
    assert!(changes < approved && approved < commented && commented < dismissed);

    let path = format!("/repos/acme/infra/pulls/{pr}/reviews");
    let (status, h, body) = get(&sim, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(h.get("link").is_none());
    assert_eq!(
        ids(&body),
        [changes, approved, commented, dismissed],
        "pending: only its author sees it"
    );
    let states: Vec<&str> = body
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(
        states,
        ["CHANGES_REQUESTED", "APPROVED", "COMMENTED", "DISMISSED"]
    );
    assert_eq!(body[0]["commit_id"], first_head);
    assert_eq!(
        body[1]["commit_id"], pushed,
        "a review is of the head it saw"
    );
    assert_eq!(body[1]["user"]["login"], "erin");
    assert!(body[1]["submitted_at"].is_string());
    assert_eq!(body[1]["author_association"], "NONE");
    assert_eq!(
        body[1]["html_url"],
        format!("https://github.com/acme/infra/pull/{pr}#pullrequestreview-{approved}")
    );

    sim.set_token_login("hal");
    let (_, _, own) = get(&sim, &path).await;
    assert_eq!(ids(&own).last(), Some(&pending));
    assert!(own[4].get("submitted_at").is_none(), "{}", own[4]);

    let (_, h, page) = get(&sim, &format!("{path}?per_page=2&page=2")).await;
    assert_eq!(ids(&page), [commented, dismissed]);
    assert_eq!(rels(&h), ["prev", "next", "last", "first"]);
    let (status, _, _) = get(&sim, "/repos/acme/infra/pulls/77/reviews").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn permissions_answer_the_legacy_level_and_the_role() {
    let (sim, _) = sim().await;
    let cases = [
        ("ada", "admin", "admin"),
        ("max", "maintain", "write"),
        ("wes", "write", "write"),
        ("tia", "triage", "read"),
        ("rob", "read", "read"),
        ("nel", "none", "none"),
    ];
    for (login, role, _) in cases {
        sim.set_permission("infra", login, role);
    }
    for (login, role, legacy) in cases {
        let (status, _, body) = get(
            &sim,
            &format!("/repos/acme/infra/collaborators/{login}/permission"),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{login}");
        assert_eq!(body["permission"], legacy, "{login}: {body}");
        assert_eq!(body["role_name"], role, "{login}");
        assert_eq!(body["user"]["login"], login);
        assert_eq!(body["user"]["role_name"], role);
        assert_eq!(
            body["user"]["permissions"]["push"],
            legacy == "admin" || legacy == "write"
        );
    }
    let (_, _, max) = get(&sim, "/repos/acme/infra/collaborators/max/permission").await;
    assert_eq!(
        max["user"]["permissions"],
        json!({"admin": false, "maintain": true, "push": true, "triage": true, "pull": true})
    );
    // Logins are case-insensitive; the role is per repository.
    let (_, _, upper) = get(&sim, "/repos/acme/infra/collaborators/ADA/permission").await;
    assert_eq!(upper["permission"], "admin");
    sim.add_repo("other");
    let (_, _, other) = get(&sim, "/repos/acme/other/collaborators/ada/permission").await;
    assert_eq!(other["permission"], "none");

    // Someone without access to the (private) repository: 200 with `none`, as on GitHub.
    let (status, _, stranger) =
        get(&sim, "/repos/acme/infra/collaborators/stranger/permission").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stranger["permission"], "none");
    assert_eq!(stranger["user"]["permissions"]["pull"], false);
    // A name no account can have, or no such repository: 404.
    for path in [
        "/repos/acme/infra/collaborators/-nobody-/permission",
        "/repos/acme/nope/collaborators/ada/permission",
    ] {
        let (status, _, body) = get(&sim, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["message"], "Not Found");
    }
    // A role makes comments show MEMBER.
    let id = sim.add_comment("infra", 1, "wes", "/plan");
    let (_, _, c) = get(&sim, &format!("/repos/acme/infra/issues/comments/{id}")).await;
    assert_eq!(c["author_association"], "MEMBER");
}

#[tokio::test]
async fn a_second_identical_reaction_answers_200_with_the_first() {
    let (sim, pr) = sim().await;
    let id = sim.add_comment("infra", pr, "dave", "/plan");
    let path = format!("/repos/acme/infra/issues/comments/{id}/reactions");
    let (status, first) = post(&sim, &path, json!({"content": "eyes"})).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["content"], "eyes");
    assert_eq!(first["user"]["login"], BOT);
    let (status, again) = post(&sim, &path, json!({"content": "eyes"})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, first);
    let (status, _) = post(&sim, &path, json!({"content": "+1"})).await;
    assert_eq!(status, StatusCode::CREATED);
    sim.set_token_login("dave");
    let (status, _) = post(&sim, &path, json!({"content": "eyes"})).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "another login reacts on its own"
    );
    assert_eq!(
        sim.reactions("infra", id),
        [
            (BOT.to_owned(), "eyes".to_owned()),
            (BOT.to_owned(), "+1".to_owned()),
            ("dave".to_owned(), "eyes".to_owned()),
        ]
    );
    let (_, _, c) = get(&sim, &format!("/repos/acme/infra/issues/comments/{id}")).await;
    assert_eq!(c["reactions"]["eyes"], 2);
    assert_eq!(c["reactions"]["+1"], 1);
    assert_eq!(c["reactions"]["total_count"], 3);

    let (status, body) = post(&sim, &path, json!({"content": "smile"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["errors"][0]["field"], "content");
    let (status, _) = post(&sim, &path, json!({})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = post(
        &sim,
        "/repos/acme/infra/issues/comments/1/reactions",
        json!({"content": "eyes"}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(sim.reactions("infra", id).len(), 3);
}

#[tokio::test]
async fn a_read_only_token_has_every_write_refused() {
    let (sim, pr) = sim().await;
    let head = sim.branch_head("infra", "feature").unwrap();
    let id = sim.add_comment("infra", pr, "dave", "/plan");
    sim.set_read_only_token(true);
    let comment_path = format!("/repos/acme/infra/issues/comments/{id}");
    let writes = [
        (
            "POST",
            format!("/repos/acme/infra/issues/{pr}/comments"),
            Some(json!({"body": "hi"})),
            "#create-an-issue-comment",
        ),
        (
            "PATCH",
            comment_path.clone(),
            Some(json!({"body": "hi"})),
            "#update-an-issue-comment",
        ),
        (
            "DELETE",
            comment_path.clone(),
            None,
            "#delete-an-issue-comment",
        ),
        (
            "POST",
            format!("{comment_path}/reactions"),
            Some(json!({"content": "eyes"})),
            "#create-reaction-for-an-issue-comment",
        ),
        (
            "POST",
            format!("/repos/acme/infra/statuses/{head}"),
            Some(json!({"state": "success"})),
            "#create-a-commit-status",
        ),
    ];
    for (method, path, body, doc) in writes {
        let (status, h, answer) = send(&sim, method, &path, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {path}");
        assert_eq!(answer["message"], "Resource not accessible by integration");
        assert!(
            answer["documentation_url"].as_str().unwrap().ends_with(doc),
            "{answer}"
        );
        assert!(h.contains_key("x-ratelimit-remaining"));
        assert_ne!(header(&h, "x-ratelimit-remaining"), "0");
    }
    // Reads go on.
    let (status, _, listed) = get(&sim, &format!("/repos/acme/infra/issues/{pr}/comments")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&listed), [id]);
    assert_eq!(sim.comments("infra", pr)[0].body, "/plan");
    assert!(sim.reactions("infra", id).is_empty() && sim.statuses("infra", &head).is_empty());
    let refused = sim.requests().iter().filter(|r| r.status == 403).count();
    assert_eq!(refused, 5);

    sim.set_read_only_token(false);
    assert_eq!(comment(&sim, pr, "hi").await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn faults_reach_the_new_routes_and_a_secondary_limit_can_come_without_retry_after() {
    let (sim, pr) = sim().await;
    sim.push_faults([Fault::SecondaryRateLimitWithoutRetryAfter]);
    let (status, h, body) = send(
        &sim,
        "POST",
        &format!("/repos/acme/infra/issues/{pr}/comments"),
        Some(json!({"body": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("secondary rate limit"),
        "{body}"
    );
    assert!(h.get("retry-after").is_none());
    assert!(h.contains_key("x-ratelimit-reset"));
    assert_ne!(header(&h, "x-ratelimit-remaining"), "0");
    assert!(
        sim.comments("infra", pr).is_empty(),
        "the write did not happen"
    );

    sim.push_faults([
        Fault::Forbidden("Resource not accessible by integration".into()),
        Fault::Status(502),
        Fault::SecondaryRateLimit {
            retry_after_secs: 3,
        },
    ]);
    let (status, _, body) = get(&sim, &format!("/repos/acme/infra/issues/{pr}/comments")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["message"], "Resource not accessible by integration");
    let head = sim.branch_head("infra", "feature").unwrap();
    let (status, _) = set_status(&sim, &head, json!({"state": "success"})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY);
    assert!(sim.statuses("infra", &head).is_empty());
    let (status, h, _) = get(&sim, &format!("/repos/acme/infra/commits/{head}/status")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(header(&h, "retry-after"), "3");
    let (status, _, _) = get(&sim, &format!("/repos/acme/infra/commits/{head}/status")).await;
    assert_eq!(status, StatusCode::OK);

    // Latency applies to every route.
    sim.set_latency(Duration::from_millis(120));
    let t = Instant::now();
    comment(&sim, pr, "slow").await;
    get(&sim, &format!("/repos/acme/infra/pulls/{pr}/reviews")).await;
    assert!(t.elapsed() >= Duration::from_millis(240));
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [403, 403, 502, 403, 200, 201, 200]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_writers_see_consistent_state() {
    let (sim, pr) = sim().await;
    sim.set_latency(Duration::from_millis(10));
    let head = sim.branch_head("infra", "feature").unwrap();
    let url = sim.url();
    let writers = (0..8).map(|w| {
        let url = url.clone();
        let head = head.clone();
        tokio::spawn(async move {
            let c = client();
            let mut mine = Vec::new();
            for i in 0..10 {
                let created: Value = c
                    .post(format!("{url}/repos/acme/infra/issues/{pr}/comments"))
                    .json(&json!({"body": format!("writer {w} comment {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                mine.push(created["id"].as_u64().unwrap());
                let status = c
                    .post(format!("{url}/repos/acme/infra/statuses/{head}"))
                    .json(&json!({"state": "success", "context": format!("shipyard/w{w}")}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(status, StatusCode::CREATED);
                let edited = c
                    .patch(format!(
                        "{url}/repos/acme/infra/issues/comments/{}",
                        mine[0]
                    ))
                    .json(&json!({"body": format!("writer {w} edit {i}")}))
                    .send()
                    .await
                    .unwrap()
                    .status();
                assert_eq!(edited, StatusCode::OK);
            }
            mine
        })
    });
    let mut all = Vec::new();
    for w in futures::future::join_all(writers).await {
        let mine = w.unwrap();
        assert!(
            mine.windows(2).all(|p| p[0] < p[1]),
            "each writer's ids grow"
        );
        all.extend(mine);
    }
    assert_eq!(all.iter().collect::<HashSet<_>>().len(), 80, "no id twice");
    let (_, _, listed) = get(
        &sim,
        &format!("/repos/acme/infra/issues/{pr}/comments?per_page=100"),
    )
    .await;
    let listed = ids(&listed);
    assert_eq!(listed.len(), 80);
    assert!(listed.windows(2).all(|p| p[0] < p[1]), "ascending ids");
    let combined = get(
        &sim,
        &format!("/repos/acme/infra/commits/{head}/status?per_page=100"),
    )
    .await
    .2;
    assert_eq!(combined["total_count"], 8);
    assert_eq!(combined["state"], "success");
    assert_eq!(sim.statuses("infra", &head).len(), 80);
    let firsts: Vec<String> = sim
        .comments("infra", pr)
        .into_iter()
        .filter(|c| c.body.contains(" edit "))
        .map(|c| c.body)
        .collect();
    assert_eq!(
        firsts.len(),
        8,
        "each writer's first comment holds its last edit: {firsts:?}"
    );
    assert!(firsts.iter().all(|b| b.ends_with("edit 9")));
}

#[tokio::test]
async fn below_a_path_prefix_every_url_keeps_it() {
    let sim = SimGithub::start_with_prefix("acme", "/api/v3/")
        .await
        .unwrap();
    assert!(sim.url().ends_with("/api/v3"), "{}", sim.url());
    sim.add_repo("infra");
    sim.create_branch("infra", "feature", "main");
    let pr = sim.open_pr("infra", "feature", "main", "Network");
    for i in 0..3 {
        sim.add_comment("infra", pr, "bob", &format!("remark {i}"));
    }
    let (status, h, page) = get(
        &sim,
        &format!("/repos/acme/infra/issues/{pr}/comments?per_page=2"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(ids(&page).len(), 2);
    let next = link(&h, "next").unwrap();
    assert!(
        next.starts_with(&format!("{}/repositories/", sim.url())),
        "{next}"
    );
    let resp = client().get(&next).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let rest: Value = resp.json().await.unwrap();
    assert_eq!(rest[0]["body"], "remark 2");
    assert!(
        rest[0]["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{}/repos/acme/infra/", sim.url()))
    );
    let (_, created) = comment(&sim, pr, "hi").await;
    assert!(
        created["user"]["url"]
            .as_str()
            .unwrap()
            .starts_with(&sim.url())
    );

    let origin = sim.url().trim_end_matches("/api/v3").to_owned();
    let outside = client()
        .get(format!("{origin}/repos/acme/infra"))
        .send()
        .await
        .unwrap();
    assert_eq!(outside.status(), StatusCode::NOT_FOUND);
    let paths: Vec<String> = sim.requests().into_iter().map(|r| r.path).collect();
    assert!(
        paths[0].starts_with("/api/v3/repos/acme/infra/issues/"),
        "{paths:?}"
    );
    assert!(paths[1].starts_with("/api/v3/repositories/"), "{paths:?}");
}
