//! The CI tracker against the simulated GitHub over loopback, on both database backends, driven
//! by a manual clock: a merge is tracked from pending to success with the chart version from a
//! realistic Helm job log; failures, other workflows, missing workflows, a run that never ends,
//! rate limits, flaky answers and a restart behave as tracking.md says.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use regex::Regex;
use shipyard_config::{Config, GithubConfig, RepoFilter, Secret};
use shipyard_core::chart::DEFAULT_PATTERN;
use shipyard_core::ci::CiStatus;
use shipyard_core::history::HistoryAction;
use shipyard_core::{Actor, Role};
use shipyard_engine::ci::{CiOptions, CiTracker};
use shipyard_engine::ci_rules::CiSettings;
use shipyard_engine::webhooks::{Delivery, WebhookOutcome};
use shipyard_engine::{Caller, Engine, EngineSettings, ManualClock, NewRelease};
use shipyard_sim::github::{RunPathForm, SimGithub, timestamped_log};
use shipyard_store::{Backend, CiStatusRecord, testing};
use std::sync::Arc;

const START: i64 = 1_800_000_000;

struct World {
    sim: SimGithub,
    engine: Engine,
    clock: Arc<ManualClock>,
    config: Config,
    db_url: String,
}

fn admin() -> Caller {
    Caller {
        actor: Actor {
            subject: "token:admin".into(),
            name: "admin".into(),
        },
        roles: vec![Role::Admin],
    }
}

fn settings() -> CiSettings {
    CiSettings {
        workflow_file: "general.yaml".into(),
        poll_interval: 30,
        webhook_poll_interval: 300,
        poll_timeout: 86_400,
        no_workflow_after_checks: 3,
    }
}

fn tracker(engine: &Engine) -> CiTracker {
    engine.ci().expect("CI tracking is configured")
}

async fn engine_on(config: &Config, db_url: &str, clock: Arc<ManualClock>) -> Engine {
    engine_with(config, db_url, clock, settings()).await
}

/// An engine on the database at `db_url` tracking CI with `settings`.
async fn engine_with(
    config: &Config,
    db_url: &str,
    clock: Arc<ManualClock>,
    settings: CiSettings,
) -> Engine {
    let store = shipyard_store::Store::connect(db_url).await.unwrap();
    store.migrate().await.unwrap();
    let github = shipyard::app::github_setup(config, clock.clone()).unwrap();
    let ci = CiOptions {
        settings,
        helm_job_pattern: "helm".into(),
        chart_version_pattern: Regex::new(DEFAULT_PATTERN).unwrap(),
        rate_limit_backoff: 300,
        claim_lease: 120,
    };
    Engine::new(
        store,
        github,
        EngineSettings {
            ci: Some(ci),
            ..EngineSettings::default()
        },
        clock,
    )
}

/// A queued job that is not the Helm job.
fn lint_job() -> shipyard_github::webhook::JobEvent {
    shipyard_github::webhook::JobEvent {
        id: 1,
        run_id: 1,
        run_attempt: 1,
        name: "lint".into(),
        status: "queued".into(),
        conclusion: None,
    }
}

/// A `workflow_job` delivery for another repo's job, applied as the webhook endpoint would:
/// GitHub is reaching us.
async fn a_delivery_arrives(engine: &Engine, id: &str) {
    let event = shipyard_github::webhook::Event::WorkflowJob {
        owner: ORG.into(),
        repo: "elsewhere".into(),
        action: "queued".into(),
        job: lint_job(),
    };
    let outcome = engine
        .apply_webhook(Delivery {
            id: Some(id.into()),
            event_name: "workflow_job".into(),
            event,
        })
        .await
        .unwrap();
    assert_eq!(outcome, WebhookOutcome::Applied(0));
}

/// An org whose repos each have a release PR `uat` → `master`.
async fn world(backend: Backend, repos: &[&str]) -> World {
    shipyard::install_crypto_provider();
    let sim = SimGithub::start(ORG).await.unwrap();
    let token = shipyard::demo::random_token("ghs_");
    sim.set_token(Some(token.clone()));
    for name in repos {
        repo_with_changes(&sim, name, &[commit("feat: x", "alice")]);
        sim.open_pr(name, "uat", "master", "Release");
    }
    let config = Config {
        github: Some(GithubConfig {
            api_url: sim.url(),
            graphql_url: Some(sim.graphql_url()),
            web_url: None,
            org: ORG.to_owned(),
            token: Some(Secret::new(token)),
            webhook_secret: None,
            repos: RepoFilter::default(),
            infra_paths: vec![],
            concurrency: 4,
            pr_comments: false,
        }),
        ..Config::default()
    };
    let db_url = testing::fresh_database_url(backend).await;
    let clock = Arc::new(ManualClock::new(START));
    let engine = engine_on(&config, &db_url, clock.clone()).await;
    World {
        sim,
        engine,
        clock,
        config,
        db_url,
    }
}

/// Creates the release, merges every PR and refreshes: tracking starts for each merge.
async fn release_with_merges(w: &World, repos: &[&str]) -> (String, Vec<String>) {
    let created = w
        .engine
        .create_release(
            &admin(),
            NewRelease {
                source_branch: "uat".into(),
                dest_branch: "master".into(),
                channel_id: None,
                chat_root_id: None,
            },
        )
        .await
        .unwrap();
    let id = created.view.release.id.to_string();
    let shas: Vec<String> = repos.iter().map(|r| w.sim.merge_pr(r, 1)).collect();
    w.engine.refresh(&admin(), &id).await.unwrap();
    (id, shas)
}

async fn row(w: &World, id: &str, repo: &str) -> CiStatusRecord {
    let rows = w.engine.release(id).await.unwrap().ci;
    rows.into_iter()
        .find(|r| r.repo_name == repo)
        .unwrap_or_else(|| panic!("no CI row for {repo}"))
}

async fn ci_history(w: &World, id: &str) -> Vec<(HistoryAction, serde_json::Value)> {
    w.engine
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .filter(|h| h.action.as_str().starts_with("ci_"))
        .map(|h| (h.action, h.details.fields()))
        .collect()
}

impl World {
    fn clock_now(&self) -> i64 {
        use shipyard_engine::Clock;
        self.clock.now()
    }
}

async fn finish(w: World) {
    w.engine.close().await;
    testing::drop_database(&w.db_url).await;
    w.sim.shutdown().await;
}

both_backends!(
    a_merge_is_tracked_to_success_with_its_chart_version,
    |backend| async move {
        let w = world(backend, &["billing"]).await;
        let (id, shas) = release_with_merges(&w, &["billing"]).await;
        let t = tracker(&w.engine);
        assert_eq!(row(&w, &id, "billing").await.status, CiStatus::Pending);
        assert_eq!(row(&w, &id, "billing").await.merge_commit_sha, shas[0]);

        // No run yet: still pending, one check counted.
        let round = t.tick().await.unwrap();
        assert_eq!(round.checked, 1);
        assert_eq!(row(&w, &id, "billing").await.checks, 1);
        // Not due again before the poll interval.
        assert_eq!(t.tick().await.unwrap().checked, 0);

        // A run of another workflow for the same commit never counts.
        let lint = w.sim.start_run("billing", "lint.yaml", "master", &shas[0]);
        w.sim.complete_run(lint, "failure");
        let run = w
            .sim
            .start_run("billing", "general.yaml", "master", &shas[0]);
        w.clock.advance(30);
        t.tick().await.unwrap();
        let r = row(&w, &id, "billing").await;
        assert_eq!((r.status, r.run_id), (CiStatus::Queued, Some(run)));

        w.sim.set_run_status(run, "in_progress");
        w.clock.advance(30);
        t.tick().await.unwrap();
        assert_eq!(row(&w, &id, "billing").await.status, CiStatus::InProgress);

        w.sim
            .add_job(run, "build", timestamped_log(&["cargo build", "done"]));
        w.sim.add_job(
            run,
            "Helm chart publish",
            timestamped_log(&[
                "helm package charts/billing",
                "CHART_VERSION=1.1.936",
                "helm push",
                "CHART_VERSION=\"1.1.937\"",
                "Cleaning up",
            ]),
        );
        w.sim.complete_run(run, "success");
        w.clock.advance(30);
        t.tick().await.unwrap();
        let r = row(&w, &id, "billing").await;
        assert_eq!(r.status, CiStatus::Success);
        assert_eq!(r.chart_version.as_deref(), Some("1.1.937"));
        assert_eq!(r.conclusion.as_deref(), Some("success"));
        assert!(r.run_url.as_deref().unwrap().contains(&run.to_string()));

        // The log host never saw the GitHub token.
        let logs = w.sim.log_requests();
        assert!(!logs.is_empty());
        assert!(logs.iter().all(|l| !l.had_authorization), "{logs:?}");

        let h = ci_history(&w, &id).await;
        let actions: Vec<HistoryAction> = h.iter().map(|(a, _)| *a).collect();
        assert_eq!(
            actions,
            [HistoryAction::CiStarted, HistoryAction::CiCompleted]
        );
        assert_eq!(h[1].1["chart_version"], "1.1.937");

        // Done: a final status is never polled again.
        w.clock.advance(3600);
        assert_eq!(t.tick().await.unwrap().checked, 0);
        finish(w).await;
    }
);

both_backends!(
    runs_are_found_whatever_form_their_path_takes,
    |backend| async move {
        // GitHub writes `path` plain, with `@branch`, with `@refs/heads/…`, and prefixed with
        // the owner and repository; each repo's runs here use one form.
        let repos = ["billing", "payments", "search", "users"];
        let w = world(backend, &repos).await;
        for (repo, form) in repos.iter().zip(RunPathForm::ALL) {
            w.sim.set_run_path_form(repo, "general.yaml", form);
        }
        let (id, shas) = release_with_merges(&w, &repos).await;
        let t = tracker(&w.engine);
        for (repo, sha) in repos.iter().zip(&shas) {
            w.sim
                .successful_build(repo, "general.yaml", "master", sha, "2.0.1");
        }
        let round = t.tick().await.unwrap();
        assert_eq!(round.checked, 4);
        for repo in repos {
            let r = row(&w, &id, repo).await;
            assert_eq!(r.status, CiStatus::Success, "{repo}");
            assert_eq!(r.chart_version.as_deref(), Some("2.0.1"), "{repo}");
        }
        // The forms really differ on the wire, as the GitHub client reads them.
        let github = w.engine.github().unwrap();
        let mut paths = Vec::new();
        for (repo, sha) in repos.iter().zip(&shas) {
            let runs = github
                .client
                .workflow_runs(ORG, repo, "general.yaml", "master", sha, None)
                .await
                .unwrap()
                .fresh()
                .unwrap();
            paths.push(runs[0].path.clone());
        }
        assert_eq!(
            paths,
            [
                ".github/workflows/general.yaml".to_owned(),
                ".github/workflows/general.yaml@refs/heads/master".to_owned(),
                format!("{ORG}/search/.github/workflows/general.yaml@refs/heads/master"),
                ".github/workflows/general.yaml@master".to_owned(),
            ]
        );
        finish(w).await;
    }
);

both_backends!(
    failures_missing_workflows_and_restarts,
    |backend| async move {
        let w = world(backend, &["billing", "payments", "search"]).await;
        let (id, shas) = release_with_merges(&w, &["billing", "payments", "search"]).await;
        let t = tracker(&w.engine);

        // billing fails, payments never gets a run of the workflow, search is cancelled later.
        let failed = w
            .sim
            .start_run("billing", "general.yaml", "master", &shas[0]);
        w.sim.complete_run(failed, "failure");
        let other = w.sim.start_run("payments", "lint.yaml", "master", &shas[1]);
        w.sim.complete_run(other, "success");
        let search = w
            .sim
            .start_run("search", "general.yaml", "master", &shas[2]);
        for _ in 0..3 {
            t.tick().await.unwrap();
            w.clock.advance(30);
        }
        assert_eq!(row(&w, &id, "billing").await.status, CiStatus::Failure);
        assert_eq!(row(&w, &id, "payments").await.status, CiStatus::NoWorkflow);
        assert_eq!(row(&w, &id, "search").await.status, CiStatus::Queued);

        // A restart: a new engine and tracker on the same database carry on.
        drop(t);
        let engine = engine_on(&w.config, &w.db_url, w.clock.clone()).await;
        let t = tracker(&engine);
        w.sim.complete_run(search, "cancelled");
        t.tick().await.unwrap();
        assert_eq!(row(&w, &id, "search").await.status, CiStatus::Cancelled);

        let reasons: Vec<String> = ci_history(&w, &id)
            .await
            .into_iter()
            .filter(|(a, _)| *a == HistoryAction::CiFailed)
            .map(|(_, d)| {
                format!(
                    "{}:{}",
                    d["repo"].as_str().unwrap(),
                    d["reason"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            reasons,
            [
                "billing:failure",
                "payments:no_workflow",
                "search:cancelled"
            ]
        );
        engine.close().await;
        finish(w).await;
    }
);

both_backends!(a_run_that_never_finishes_times_out, |backend| async move {
    let w = world(backend, &["billing"]).await;
    let (id, shas) = release_with_merges(&w, &["billing"]).await;
    let engine = engine_with(
        &w.config,
        &w.db_url,
        w.clock.clone(),
        CiSettings {
            poll_timeout: 3600,
            ..settings()
        },
    )
    .await;
    let t = tracker(&engine);
    let run = w
        .sim
        .start_run("billing", "general.yaml", "master", &shas[0]);
    w.sim.set_run_status(run, "in_progress");
    t.tick().await.unwrap();
    assert_eq!(row(&w, &id, "billing").await.status, CiStatus::InProgress);

    // An hour of polls that see nothing new: unchanged answers are 304s.
    let before = w.sim.request_count();
    for _ in 0..(3600 / 30 - 2) {
        w.clock.advance(30);
        t.tick().await.unwrap();
    }
    assert_eq!(row(&w, &id, "billing").await.status, CiStatus::InProgress);
    let polls = w.sim.request_count() - before;
    assert_eq!(polls, 3600 / 30 - 2, "one request per poll");

    w.clock.advance(60);
    t.tick().await.unwrap();
    let r = row(&w, &id, "billing").await;
    assert_eq!(r.status, CiStatus::Timeout);
    assert_eq!(r.completed_at, Some(w.clock_now()));
    let failed: Vec<_> = ci_history(&w, &id)
        .await
        .into_iter()
        .filter(|(a, _)| *a == HistoryAction::CiFailed)
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].1["reason"], "timeout");

    // The run finishing later changes nothing: timeout is final.
    w.sim.complete_run(run, "success");
    w.clock.advance(3600);
    assert_eq!(t.tick().await.unwrap().checked, 0);
    assert_eq!(row(&w, &id, "billing").await.status, CiStatus::Timeout);
    engine.close().await;
    finish(w).await;
});

both_backends!(
    a_rate_limit_pauses_tracking_until_it_resets,
    |backend| async move {
        let w = world(backend, &["billing", "payments"]).await;
        let (id, shas) = release_with_merges(&w, &["billing", "payments"]).await;
        let t = tracker(&w.engine);
        for (repo, sha) in ["billing", "payments"].iter().zip(&shas) {
            w.sim
                .successful_build(repo, "general.yaml", "master", sha, "2.0.1");
        }
        // The limit is spent and resets in 15 minutes (by the clock Shipyard runs on).
        let reset = (START + 900) as u64;
        w.sim.set_rate_limit(5000, 0, reset);
        let before = w.sim.request_count();
        let round = t.tick().await.unwrap();
        assert!(round.backed_off, "{round:?}");
        assert_eq!(round.changed, 0);
        assert_eq!(
            w.sim.request_count() - before,
            1,
            "the first refusal stops the round"
        );
        assert_eq!(
            w.engine.github().unwrap().client.rate_limit_pause(),
            Some(std::time::Duration::from_secs(900))
        );

        // Until the reset nobody asks GitHub anything, though the rows fall due.
        for _ in 0..29 {
            w.clock.advance(30);
            assert!(t.tick().await.unwrap().backed_off);
        }
        assert_eq!(w.sim.request_count() - before, 1);
        assert_eq!(row(&w, &id, "billing").await.status, CiStatus::Pending);
        assert_eq!(
            w.engine.github().unwrap().client.stats().rate_limit_pauses,
            1,
            "one pause, one warning, however many rounds"
        );

        // The window resets: tracking carries on at once and finishes both builds.
        w.sim.set_rate_limit(5000, 5000, reset + 3600);
        w.clock.advance(30);
        let round = t.tick().await.unwrap();
        assert!(!round.backed_off, "{round:?}");
        assert_eq!(round.checked, 2);
        for repo in ["billing", "payments"] {
            let r = row(&w, &id, repo).await;
            assert_eq!(r.status, CiStatus::Success, "{repo}");
            assert_eq!(r.chart_version.as_deref(), Some("2.0.1"), "{repo}");
        }
        finish(w).await;
    }
);

both_backends!(
    a_short_rate_limit_still_pauses_tracking_for_the_configured_back_off,
    |backend| async move {
        let w = world(backend, &["billing", "payments"]).await;
        let (id, shas) = release_with_merges(&w, &["billing", "payments"]).await;
        let t = tracker(&w.engine);
        for (repo, sha) in ["billing", "payments"].iter().zip(&shas) {
            w.sim
                .successful_build(repo, "general.yaml", "master", sha, "3.1.4");
        }
        // A secondary limit asking for 1 s: the client waits it out and the check goes
        // through, but tracking (background work) then yields for ci.rate_limit_backoff.
        w.sim
            .push_faults([shipyard_sim::github::Fault::SecondaryRateLimit {
                retry_after_secs: 1,
            }]);
        let round = t.tick().await.unwrap();
        assert!(round.backed_off, "{round:?}");
        assert_eq!(round.checked, 1, "the round stops after the limit");
        let done = |r: &CiStatusRecord| r.status == CiStatus::Success;
        let first = [
            row(&w, &id, "billing").await,
            row(&w, &id, "payments").await,
        ];
        assert_eq!(first.iter().filter(|r| done(r)).count(), 1, "{first:?}");
        w.clock.advance(299);
        assert!(t.tick().await.unwrap().backed_off);
        w.clock.advance(1);
        let round = t.tick().await.unwrap();
        assert!(!round.backed_off, "{round:?}");
        for repo in ["billing", "payments"] {
            let r = row(&w, &id, repo).await;
            assert_eq!(r.status, CiStatus::Success, "{repo}");
            assert_eq!(r.chart_version.as_deref(), Some("3.1.4"), "{repo}");
        }
        finish(w).await;
    }
);

both_backends!(
    tracking_survives_flaky_github_and_finishes_every_run,
    |backend| async move {
        let repos = ["billing", "payments", "search", "orders"];
        let w = world(backend, &repos).await;
        let (id, shas) = release_with_merges(&w, &repos).await;
        let t = tracker(&w.engine);
        let runs: Vec<u64> = repos
            .iter()
            .zip(&shas)
            .map(|(repo, sha)| w.sim.start_run(repo, "general.yaml", "master", sha))
            .collect();
        // A third of the answers are 502s or dropped connections while the builds run.
        w.sim
            .set_fault_rate(0.33, shipyard_sim::github::Fault::Status(502));
        for (i, run) in runs.iter().enumerate() {
            w.sim.set_run_status(*run, "in_progress");
            w.sim.add_job(
                *run,
                "helm",
                timestamped_log(&[&format!("CHART_VERSION=4.0.{i}")]),
            );
            t.tick().await.unwrap();
            w.clock.advance(30);
        }
        w.sim
            .set_fault_rate(0.33, shipyard_sim::github::Fault::Reset);
        for run in &runs {
            w.sim.complete_run(*run, "success");
        }
        for _ in 0..3 {
            t.tick().await.unwrap();
            w.clock.advance(150);
        }
        // The faults stop: every run is finished, each with one history entry of each kind.
        w.sim
            .set_fault_rate(0.0, shipyard_sim::github::Fault::Reset);
        for _ in 0..3 {
            t.tick().await.unwrap();
            w.clock.advance(150);
        }
        for (i, repo) in repos.iter().enumerate() {
            let r = row(&w, &id, repo).await;
            assert_eq!(r.status, CiStatus::Success, "{repo}");
            assert_eq!(r.chart_version, Some(format!("4.0.{i}")), "{repo}");
        }
        let h = ci_history(&w, &id).await;
        for repo in repos {
            let completed = h
                .iter()
                .filter(|(a, d)| *a == HistoryAction::CiCompleted && d["repo"] == repo)
                .count();
            assert_eq!(completed, 1, "{repo}: {h:?}");
        }
        finish(w).await;
    }
);

both_backends!(
    while_webhooks_arrive_requests_are_saved,
    |backend| async move {
        let w = world(backend, &["billing"]).await;
        let t = tracker(&w.engine);
        a_delivery_arrives(&w.engine, "d-1").await;
        let (id, shas) = release_with_merges(&w, &["billing"]).await;
        let before = w.sim.request_count();

        // The new merge is not polled at once: its run will be announced.
        assert_eq!(t.tick().await.unwrap().checked, 0);
        assert_eq!(w.sim.request_count(), before);
        let r = row(&w, &id, "billing").await;
        assert_eq!(
            (r.checks, r.next_check_at),
            (0, r.tracking_started_at + 300)
        );

        // The run by webhook, its Helm job too: the chart version costs only the log.
        let run = w
            .sim
            .start_run("billing", "general.yaml", "master", &shas[0]);
        let job = w.sim.add_job(
            run,
            "Helm publish",
            timestamped_log(&["CHART_VERSION=5.5.5"]),
        );
        w.sim.complete_run(run, "success");
        let github = w.engine.github().unwrap();
        let done = github
            .client
            .workflow_run(ORG, "billing", run, None)
            .await
            .unwrap()
            .fresh()
            .unwrap();
        t.on_workflow_job(&shipyard_github::webhook::JobEvent {
            id: job,
            run_id: run,
            run_attempt: 1,
            name: "Helm publish".into(),
            status: "completed".into(),
            conclusion: Some("success".into()),
        });
        let before = w.sim.request_count();
        assert_eq!(t.on_workflow_run("billing", &done).await.unwrap(), 1);
        let r = row(&w, &id, "billing").await;
        assert_eq!(r.chart_version.as_deref(), Some("5.5.5"));
        let asked: Vec<String> = w
            .sim
            .requests()
            .into_iter()
            .skip(before as usize)
            .map(|r| r.path)
            .collect();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(
            asked[0].ends_with(&format!("/jobs/{job}/logs")),
            "{asked:?}"
        );

        // Without webhooks for a while, polling is back to its own pace.
        w.clock.advance(3600);
        assert!(!t.webhooks_live(w.clock_now()));
        finish(w).await;
    }
);

both_backends!(
    only_applied_deliveries_count_as_webhooks_arriving,
    |backend| async move {
        let w = world(backend, &["billing"]).await;
        let t = tracker(&w.engine);
        let job = lint_job();
        // Another org's delivery, and one of an event Shipyard does not act on: ignored.
        for event in [
            shipyard_github::webhook::Event::WorkflowJob {
                owner: "someone-else".into(),
                repo: "billing".into(),
                action: "queued".into(),
                job,
            },
            shipyard_github::webhook::Event::Ignored,
        ] {
            let outcome = w
                .engine
                .apply_webhook(Delivery {
                    id: Some("ignored-1".into()),
                    event_name: "workflow_job".into(),
                    event,
                })
                .await
                .unwrap();
            assert_eq!(outcome, WebhookOutcome::Ignored);
        }
        assert!(!t.webhooks_live(w.clock_now()));
        // A new merge is then polled at once, as without webhooks.
        release_with_merges(&w, &["billing"]).await;
        assert_eq!(t.tick().await.unwrap().checked, 1);

        a_delivery_arrives(&w.engine, "d-1").await;
        assert!(t.webhooks_live(w.clock_now()));
        finish(w).await;
    }
);

both_backends!(
    without_webhooks_a_new_merge_is_polled_at_once,
    |backend| async move {
        let w = world(backend, &["billing"]).await;
        let t = tracker(&w.engine);
        release_with_merges(&w, &["billing"]).await;
        assert_eq!(t.tick().await.unwrap().checked, 1);
        finish(w).await;
    }
);

both_backends!(
    shipyard_serve_tracks_builds_by_itself,
    |backend| async move {
        let server = TestServer::start_with(
            backend,
            |sim| {
                repo_with_changes(sim, "billing", &[commit("feat: x", "alice")]);
                sim.open_pr("billing", "uat", "master", "Release");
            },
            |c| c.ci.poll_interval = std::time::Duration::from_secs(1),
        )
        .await;
        let id = server.create_release_id().await;
        let sha = server.sim.merge_pr("billing", 1);
        let (s, _) = server
            .post(
                "dev",
                &format!("/api/releases/{id}/refresh"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(s, reqwest::StatusCode::OK);
        server
            .sim
            .successful_build("billing", "general.yaml", "master", &sha, "1.1.937");
        // The server's own tracker finds the run and its chart version; nobody asks it to.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let (_, h) = server
                .get("dev", &format!("/api/releases/{id}/history"))
                .await;
            let done = h["history"]
                .as_array()
                .unwrap()
                .iter()
                .find(|e| e["action"] == "ci_completed")
                .cloned();
            if let Some(e) = done {
                assert_eq!(e["details"]["chart_version"], "1.1.937", "{e}");
                assert_eq!(e["details"]["repo"], "billing");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no ci_completed within 20 s: {h}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        // The tracker's work shows in the metrics.
        let metrics = server
            .http
            .get(format!("{}/metrics", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for name in [
            "shipyard_ci_rounds_total",
            "shipyard_ci_due_checks",
            "shipyard_ci_check_lag_seconds",
            "shipyard_ci_status_changes_total{status=\"success\"}",
        ] {
            assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
        }
        server.stop().await;
    }
);
