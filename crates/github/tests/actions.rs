//! The Actions calls of the client against the simulated GitHub, over real sockets.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use shipyard_github::{Conditional, GitHub, GitHubOptions, GithubError};
use shipyard_sim::github::{CommitSpec, Fault, LogAvailability, RateResource, SimGithub};

const TOKEN: &str = "ghs_test_token";

/// A sim requiring [`TOKEN`], with repository `svc` whose `master` has two commits.
async fn setup() -> (SimGithub, GitHub, String, String) {
    let sim = SimGithub::start("acme").await.unwrap();
    sim.set_token(Some(TOKEN.to_owned()));
    sim.add_repo("svc");
    sim.create_branch("svc", "master", "main");
    let a = sim.commit(
        "svc",
        "master",
        CommitSpec::new("feat: one", "Ada", "ada@example.com"),
    );
    let b = sim.commit(
        "svc",
        "master",
        CommitSpec::new("fix: two", "Ada", "ada@example.com"),
    );
    let mut opts = GitHubOptions::new(sim.url(), sim.graphql_url(), Some(TOKEN.to_owned()));
    opts.retry_base = Duration::from_millis(5);
    opts.retry_cap = Duration::from_millis(20);
    let gh = GitHub::new(opts).unwrap();
    (sim, gh, a, b)
}

fn fresh<T>(c: Conditional<T>) -> (T, String) {
    match c {
        Conditional::Fresh { value, etag } => (value, etag.expect("an ETag")),
        Conditional::NotModified => panic!("expected a fresh answer"),
    }
}

#[tokio::test]
async fn workflow_runs_for_a_commit_with_etags() {
    let (sim, gh, a, b) = setup().await;
    let first = sim.start_run("svc", "general.yaml", "master", &a);
    let wanted = sim.start_run("svc", "general.yaml", "master", &b);
    sim.start_run("svc", "other.yaml", "master", &b);
    sim.start_run_on("svc", "general.yaml", "master", &b, "workflow_dispatch");
    sim.start_run("svc", "general.yaml", "uat", &b);

    let answer = gh
        .workflow_runs("acme", "svc", "general.yaml", "master", &b, None)
        .await
        .unwrap();
    let (runs, etag) = fresh(answer);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run.id, wanted);
    assert_eq!(run.run_number, 2);
    assert_eq!(run.run_attempt, 1);
    assert_eq!(run.status, "queued");
    assert_eq!(run.conclusion, None);
    assert_eq!(run.head_sha, b);
    assert_eq!(run.head_branch.as_deref(), Some("master"));
    assert_eq!(run.path, ".github/workflows/general.yaml");
    assert_eq!(
        run.html_url,
        format!("https://github.com/acme/svc/actions/runs/{wanted}")
    );
    assert!(run.created_at > 1_700_000_000);
    assert_eq!(run.run_started_at, Some(run.created_at));
    assert!(run.updated_at >= run.created_at);

    // Unchanged: 304, free.
    let remaining = sim.rate_limit(RateResource::Core).remaining;
    let again = gh
        .workflow_runs("acme", "svc", "general.yaml", "master", &b, Some(&etag))
        .await
        .unwrap();
    assert_eq!(again, Conditional::NotModified);
    assert_eq!(sim.rate_limit(RateResource::Core).remaining, remaining);
    assert_eq!(gh.stats().not_modified, 1);
    let last = sim.requests().pop().unwrap();
    assert_eq!(last.status, 304);
    assert!(last.had_if_none_match && last.had_authorization);
    assert!(
        last.path.contains("event=push") && last.path.contains(&format!("head_sha={b}")),
        "{}",
        last.path
    );

    // Changed: a fresh answer with a new tag.
    sim.set_run_status(wanted, "in_progress");
    let (runs, new_etag) = fresh(
        gh.workflow_runs("acme", "svc", "general.yaml", "master", &b, Some(&etag))
            .await
            .unwrap(),
    );
    assert_ne!(new_etag, etag);
    assert_eq!(runs[0].status, "in_progress");

    // Without filters: every push run of the workflow, newest first.
    let (runs, _) = fresh(
        gh.workflow_runs("acme", "svc", "general.yaml", "", "", None)
            .await
            .unwrap(),
    );
    let ids: Vec<u64> = runs.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 3);
    assert_eq!(ids[1..], [wanted, first]);

    // A workflow file the repository does not have lists nothing.
    let none = gh
        .workflow_runs("acme", "svc", "missing.yaml", "master", &b, None)
        .await
        .unwrap();
    assert_eq!(
        none,
        Conditional::Fresh {
            value: Vec::new(),
            etag: None
        }
    );
}

#[tokio::test]
async fn one_run_through_a_rerun() {
    let (sim, gh, a, _) = setup().await;
    let id = sim.start_run("svc", "general.yaml", "master", &a);
    sim.complete_run(id, "failure");
    let (run, etag) = fresh(gh.workflow_run("acme", "svc", id, None).await.unwrap());
    assert_eq!(run.status, "completed");
    assert_eq!(run.conclusion.as_deref(), Some("failure"));
    assert_eq!(
        gh.workflow_run("acme", "svc", id, Some(&etag))
            .await
            .unwrap(),
        Conditional::NotModified
    );

    sim.rerun(id);
    let (run, _) = fresh(
        gh.workflow_run("acme", "svc", id, Some(&etag))
            .await
            .unwrap(),
    );
    assert_eq!(run.id, id);
    assert_eq!(run.run_attempt, 2);
    assert_eq!(run.status, "queued");
    assert_eq!(run.conclusion, None);
    assert!(run.run_started_at.unwrap() > run.created_at);

    let err = gh.workflow_run("acme", "svc", 1, None).await.unwrap_err();
    assert!(
        matches!(err, GithubError::Rejected { status: 404, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn jobs_of_the_latest_attempt_over_several_pages() {
    let (sim, gh, a, _) = setup().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    sim.add_job(run, "old", "");
    sim.complete_run(run, "failure");
    sim.rerun(run);
    let ids: Vec<u64> = (0..130)
        .map(|i| sim.add_job(run, &format!("matrix ({i})"), ""))
        .collect();
    sim.set_run_status(run, "in_progress");
    sim.complete_job(ids[0], "success");

    let jobs = gh.run_jobs("acme", "svc", run).await.unwrap();
    assert_eq!(jobs.iter().map(|j| j.id).collect::<Vec<_>>(), ids);
    assert_eq!(jobs[0].name, "matrix (0)");
    assert_eq!(jobs[0].status, "completed");
    assert_eq!(jobs[0].conclusion.as_deref(), Some("success"));
    assert_eq!(jobs[1].status, "in_progress");
    assert_eq!(jobs[1].conclusion, None);
    let pages = sim
        .requests()
        .iter()
        .filter(|r| r.path.contains("/jobs"))
        .count();
    assert_eq!(pages, 2);

    let err = gh.run_jobs("acme", "svc", 42).await.unwrap_err();
    assert!(matches!(err, GithubError::Rejected { status: 404, .. }));
}

#[tokio::test]
async fn job_logs_are_fetched_from_the_other_host_without_the_token() {
    let (sim, gh, a, _) = setup().await;
    let run = sim.successful_build("svc", "general.yaml", "master", &a, "1.1.937");
    let jobs = gh.run_jobs("acme", "svc", run).await.unwrap();
    let helm = jobs.iter().find(|j| j.name.contains("helm")).unwrap();

    let log = gh
        .job_log("acme", "svc", helm.id, 64 << 20)
        .await
        .unwrap()
        .unwrap();
    assert!(!log.truncated);
    let text = String::from_utf8(log.bytes).unwrap();
    assert!(text.contains("Z CHART_VERSION=1.1.937\r\n"), "{text}");

    // The API saw the token; the log host saw no credentials and no GitHub headers.
    let api = sim.requests();
    let logs_call = api.iter().find(|r| r.path.ends_with("/logs")).unwrap();
    assert!(logs_call.had_authorization);
    assert_eq!(logs_call.status, 302);
    let host = sim.log_requests();
    assert_eq!(host.len(), 1);
    assert_eq!(host[0].status, 200);
    assert!(!host[0].had_authorization);
    for name in &host[0].header_names {
        assert!(
            name != "authorization" && name != "cookie" && !name.starts_with("x-github"),
            "{name} sent to the log host"
        );
    }
}

#[tokio::test]
async fn large_logs_stream_and_stop_at_the_limit() {
    let (sim, gh, a, _) = setup().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let log: Vec<u8> = (0..6 * 1024 * 1024)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    let job = sim.add_job(run, "helm", log.clone());

    // Whole, in several chunks, never more than asked for.
    let mut chunks = 0;
    let mut seen = Vec::new();
    let read = gh
        .stream_job_log("acme", "svc", job, 64 << 20, |c| {
            chunks += 1;
            seen.extend_from_slice(c);
        })
        .await
        .unwrap()
        .unwrap();
    assert!(!read.truncated);
    assert_eq!(read.bytes, log.len() as u64);
    assert!(chunks > 1, "one chunk for {} bytes", log.len());
    assert!(seen == log);

    // Cut at the limit.
    let cut = gh.job_log("acme", "svc", job, 1000).await.unwrap().unwrap();
    assert!(cut.truncated);
    assert_eq!(cut.bytes, log[..1000]);
    let big_cut = gh
        .job_log("acme", "svc", job, 3 * 1024 * 1024 + 7)
        .await
        .unwrap()
        .unwrap();
    assert!(big_cut.truncated);
    assert_eq!(big_cut.bytes.len(), 3 * 1024 * 1024 + 7);

    // Exactly the limit is not truncated; nothing at all is.
    let exact = gh
        .job_log("acme", "svc", job, log.len())
        .await
        .unwrap()
        .unwrap();
    assert!(!exact.truncated);
    assert_eq!(exact.bytes.len(), log.len());
    let nothing = gh.job_log("acme", "svc", job, 0).await.unwrap().unwrap();
    assert!(nothing.truncated && nothing.bytes.is_empty());
    let empty = sim.add_job(run, "empty", "");
    let empty = gh.job_log("acme", "svc", empty, 10).await.unwrap().unwrap();
    assert!(!empty.truncated && empty.bytes.is_empty());
}

#[tokio::test]
async fn missing_or_gone_logs_are_none() {
    let (sim, gh, a, _) = setup().await;
    let run = sim.start_run("svc", "general.yaml", "master", &a);
    let job = sim.add_job(run, "helm", "CHART_VERSION=1.0.0\r\n");

    sim.set_job_log_gone(job);
    assert_eq!(gh.job_log("acme", "svc", job, 100).await.unwrap(), None);
    sim.set_job_log(job, LogAvailability::NotFound);
    assert_eq!(gh.job_log("acme", "svc", job, 100).await.unwrap(), None);
    sim.set_job_log(job, LogAvailability::MissingAtHost);
    assert_eq!(gh.job_log("acme", "svc", job, 100).await.unwrap(), None);
    assert_eq!(gh.job_log("acme", "svc", 7, 100).await.unwrap(), None);

    // An expired log URL is refused, not retried as if GitHub were down.
    sim.set_job_log(job, LogAvailability::Available);
    sim.set_log_url_ttl(Duration::ZERO);
    let err = gh.job_log("acme", "svc", job, 100).await.unwrap_err();
    assert!(
        matches!(err, GithubError::Rejected { status: 403, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("actions-results"), "{err}");
}

#[tokio::test]
async fn transient_failures_are_retried() {
    let (sim, gh, a, _) = setup().await;
    let run = sim.successful_build("svc", "general.yaml", "master", &a, "3.2.1");
    let helm = *sim.job_ids(run).last().unwrap();
    sim.reset_counters();

    sim.push_faults([Fault::Status(502)]);
    let (runs, _) = fresh(
        gh.workflow_runs("acme", "svc", "general.yaml", "master", &a, None)
            .await
            .unwrap(),
    );
    assert_eq!(runs[0].id, run);
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [502, 200]);
    assert_eq!(gh.stats().retries, 1);

    // The logs endpoint, then the log host itself.
    sim.push_faults([Fault::Status(503)]);
    sim.push_log_faults([Fault::Status(502), Fault::Reset]);
    let mut got = 0;
    let err = gh
        .stream_job_log("acme", "svc", helm, 1 << 20, |c| got += c.len())
        .await
        .unwrap_err();
    assert!(got > 0, "part of the log arrived before the break");
    // A connection dropped mid-log is not retried: the sink has part of it already.
    assert!(matches!(err, GithubError::Unavailable(_)), "{err:?}");
    let log = gh
        .job_log("acme", "svc", helm, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    assert!(
        String::from_utf8(log.bytes)
            .unwrap()
            .contains("CHART_VERSION=3.2.1")
    );
    let host: Vec<u16> = sim.log_requests().iter().map(|r| r.status).collect();
    assert_eq!(host, [502, 200, 200]);
    assert_eq!(gh.stats().retries, 3);

    // Failing for good ends in `Unavailable`.
    sim.push_faults((0..5).map(|_| Fault::Status(502)));
    let err = gh.workflow_run("acme", "svc", run, None).await.unwrap_err();
    assert!(matches!(err, GithubError::Unavailable(_)), "{err:?}");
}
