//! The PR dashboard's calls against the simulated GitHub over a socket: every comment page,
//! again from the ETag cache, writes, statuses, reviews, permission, and rate limits.
#![allow(clippy::unwrap_used)]

use shipyard_github::{GitHub, GitHubOptions, GithubError, NewCommitStatus};
use shipyard_sim::github::{CommitSpec, Fault, SimGithub};
use std::time::{Duration, Instant};

async fn setup(adjust: impl FnOnce(&mut GitHubOptions)) -> (SimGithub, GitHub, u64, String) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.set_token(Some("ghs_dashboardtests".into()));
    sim.add_repo("infra");
    sim.create_branch("infra", "feature", "main");
    let sha = sim.commit(
        "infra",
        "feature",
        CommitSpec::new("feat: x", "Alice", "alice@example.com").login("alice"),
    );
    let pr = sim.open_pr("infra", "feature", "main", "X");
    let url = sim.url();
    let mut opts = GitHubOptions::new(
        &url,
        format!("{url}/graphql"),
        Some("ghs_dashboardtests".into()),
    );
    opts.retry_base = Duration::from_millis(5);
    adjust(&mut opts);
    (sim, GitHub::new(opts).unwrap(), pr, sha)
}

#[tokio::test]
async fn every_page_is_read_again_when_github_answers_304() {
    let (sim, gh, pr, _) = setup(|_| {}).await;
    for i in 0..250 {
        sim.add_comment("infra", pr, "bob", &format!("remark {i}"));
    }
    let first = gh.issue_comments("acme/infra", pr).await.unwrap();
    assert_eq!(first.len(), 250);
    sim.reset_counters();
    let again = gh.issue_comments("acme/infra", pr).await.unwrap();
    assert_eq!(again, first, "the cached pages keep their Link header");
    let requests = sim.requests();
    assert_eq!(requests.len(), 3, "{requests:#?}");
    assert!(requests.iter().all(|r| r.status == 304), "{requests:#?}");
    assert!(first.windows(2).all(|w| w[0].id < w[1].id), "oldest first");
    sim.shutdown().await;
}

#[tokio::test]
async fn comments_statuses_reviews_and_permissions_round_trip() {
    let (sim, gh, pr, sha) = setup(|_| {}).await;
    let c = gh.create_comment("acme/infra", pr, "hello").await.unwrap();
    assert_eq!(c.author, "github-actions[bot]");
    gh.update_comment("acme/infra", c.id, "edited")
        .await
        .unwrap();
    assert_eq!(
        gh.issue_comment("acme/infra", c.id)
            .await
            .unwrap()
            .unwrap()
            .body,
        "edited"
    );
    gh.react_to_comment("acme/infra", c.id, "eyes")
        .await
        .unwrap();
    gh.delete_comment("acme/infra", c.id).await.unwrap();
    gh.delete_comment("acme/infra", c.id).await.unwrap();
    assert!(
        gh.issue_comment("acme/infra", c.id)
            .await
            .unwrap()
            .is_none()
    );

    for (state, description) in [
        ("pending", "running since 10:42 UTC"),
        ("success", "success"),
    ] {
        gh.create_status(
            "acme/infra",
            &sha,
            &NewCommitStatus {
                state,
                context: "shipyard/apply",
                description,
                target_url: Some("https://github.example/run/1"),
            },
        )
        .await
        .unwrap();
    }
    let statuses = gh.combined_status("acme/infra", &sha).await.unwrap();
    assert_eq!(statuses.len(), 1, "newest per context: {statuses:#?}");
    assert_eq!(statuses[0].state, "success");
    let unknown = "f".repeat(40);
    let err = gh
        .create_status(
            "acme/infra",
            &unknown,
            &NewCommitStatus {
                state: "success",
                context: "shipyard/apply",
                description: "success",
                target_url: None,
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, GithubError::Rejected { status: 422, message } if message.contains("No commit found for SHA")),
        "{err:?}"
    );

    sim.add_review("infra", pr, "erin", "APPROVED");
    let reviews = gh.pull_reviews("acme/infra", pr).await.unwrap();
    assert_eq!(reviews[0].state, "APPROVED");
    assert_eq!(reviews[0].reviewer.as_deref(), Some("erin"));
    sim.set_permission("infra", "dave", "maintain");
    assert_eq!(
        gh.collaborator_permission("acme/infra", "dave")
            .await
            .unwrap(),
        "write"
    );
    let pull = gh.pull_request("acme/infra", pr).await.unwrap();
    assert_eq!(pull.head_sha, sha);
    assert_eq!(pull.head_ref, "feature");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_secondary_rate_limit_without_a_time_is_waited_out_with_backoff() {
    let (sim, gh, pr, _) = setup(|o| {
        o.secondary_rate_limit_wait = Duration::from_secs(1);
        o.max_rate_limit_wait = Duration::from_secs(5);
    })
    .await;
    sim.push_faults([
        Fault::SecondaryRateLimitWithoutRetryAfter,
        Fault::SecondaryRateLimitWithoutRetryAfter,
    ]);
    let started = Instant::now();
    gh.create_comment("acme/infra", pr, "after the limit")
        .await
        .unwrap();
    // 1 s, then 2 s.
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(gh.stats().rate_limited, 2);

    // More waiting than allowed fails the call with the reason.
    sim.push_faults([
        Fault::SecondaryRateLimitWithoutRetryAfter,
        Fault::SecondaryRateLimitWithoutRetryAfter,
        Fault::SecondaryRateLimitWithoutRetryAfter,
    ]);
    let err = gh
        .create_comment("acme/infra", pr, "never")
        .await
        .unwrap_err();
    assert!(matches!(err, GithubError::RateLimited { .. }), "{err:?}");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_read_only_token_is_refused_at_once() {
    let (sim, gh, pr, _) = setup(|_| {}).await;
    sim.set_read_only_token(true);
    let started = Instant::now();
    let err = gh.create_comment("acme/infra", pr, "x").await.unwrap_err();
    assert!(
        matches!(&err, GithubError::Rejected { status: 403, message } if message.contains("Resource not accessible by integration")),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "no waiting for a plain 403"
    );
    sim.shutdown().await;
}
