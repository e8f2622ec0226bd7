//! P4: tracking 200 in-flight CI runs for an hour of simulated time, counting the requests to
//! GitHub that cost rate limit.
//!
//! The real engine, CI tracker and webhook endpoint run against the simulated GitHub over
//! loopback; only the clock is simulated (a `ManualClock` moved in 10-second steps), so an hour
//! takes seconds. 200 release pull requests merge at the start; each merge's build is queued at
//! once, starts within two minutes and succeeds between 5 and 55 minutes later with a Helm job
//! whose log names the chart version (fixed seed, the same plan for every variant).
//!
//! Variants, in the same run:
//! - **webhooks + ETags**: the simulated GitHub delivers `pull_request`, `workflow_run` and
//!   `workflow_job` webhooks to Shipyard; polling is the safety net.
//! - **polling + ETags**: no webhooks; every unfinished run is polled every 30 s with
//!   `If-None-Match`, and an unchanged answer (304) costs nothing.
//! - **naive plan** (the baseline, computed): every run polled every 30 s for the hour without
//!   ETags: 200 × 120 = 24 000 requests.
//!
//! A request costs rate limit unless GitHub answers 304; the job-log download from the storage
//! host GitHub redirects to is not an API request and is not counted. Every variant must end
//! with every build `success` and its chart version read, or the scenario fails.

use crate::harness::{Sim, base_config};
use crate::table::{Row, Verdict, ratio};
use crate::{Scenario, ScenarioFuture, Size};
use anyhow::{Context, bail, ensure};
use shipyard::demo::random_token;
use shipyard_config::Secret;
use shipyard_core::ci::CiStatus;
use shipyard_core::{Actor, Role};
use shipyard_engine::{Caller, Clock, ManualClock, NewRelease};
use shipyard_sim::github::{seed_scale, timestamped_log};
use std::sync::Arc;
use std::time::Duration;

/// The scenario's entry in the table.
pub const SCENARIO: Scenario = Scenario {
    id: "P4",
    run: run_boxed,
};

/// GitHub's hourly budget for a token, and the bar: a tenth of it.
const BUDGET: u64 = 5_000;
const BAR: u64 = BUDGET / 10;

/// The naive plan's poll interval, in seconds.
const NAIVE_POLL_SECS: u64 = 30;

/// Simulated seconds per step.
const STEP: i64 = 10;

#[derive(Debug, Clone, Copy)]
struct Params {
    runs: usize,
    /// Simulated seconds.
    span: i64,
}

impl Params {
    fn for_size(size: Size) -> Params {
        match size {
            Size::Full => Params {
                runs: 200,
                span: 3600,
            },
            Size::Smoke => Params {
                runs: 12,
                span: 3600,
            },
        }
    }
}

/// One build of the plan: when it starts and ends, in seconds after the merges.
#[derive(Debug, Clone, Copy)]
struct Build {
    starts: i64,
    ends: i64,
}

/// A small deterministic generator (xorshift), so every variant follows the same plan.
fn plan(runs: usize) -> Vec<Build> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move |below: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % below
    };
    (0..runs)
        .map(|_| {
            let starts = 10 + next(110) as i64;
            let ends = starts + 300 + next(3000) as i64;
            Build { starts, ends }
        })
        .collect()
}

/// What one variant cost.
#[derive(Debug, Clone, Copy)]
struct Cost {
    /// API requests answered with something other than 304.
    limited: u64,
    /// API requests answered 304.
    not_modified: u64,
    /// Webhook deliveries made.
    deliveries: usize,
}

fn run_boxed(size: Size) -> ScenarioFuture {
    Box::pin(run(size))
}

async fn run(size: Size) -> anyhow::Result<Vec<Row>> {
    let p = Params::for_size(size);
    let hooks = track(p, true).await.context("webhooks + ETags")?;
    let polls = track(p, false).await.context("polling + ETags")?;
    let naive = p.runs as u64 * (p.span as u64 / NAIVE_POLL_SECS);
    let hours = p.span as f64 / 3600.0;
    let per_hour = |n: u64| n as f64 / hours;
    let what = format!(
        "{} CI runs tracked for {} min of simulated time",
        p.runs,
        p.span / 60
    );
    let naive_text = format!("{naive} naive (30 s polls, no ETags)");
    Ok(vec![
        Row {
            id: "P4",
            scenario: format!(
                "{what}, webhooks + ETags: rate-limited GitHub requests ({} answered 304, {} webhooks)",
                hooks.not_modified, hooks.deliveries
            ),
            measured: hooks.limited.to_string(),
            baseline: naive_text.clone(),
            ratio: ratio(hooks.limited as f64, naive as f64),
            bar: format!("≤ {BAR} per hour (10 % of {BUDGET})"),
            verdict: Verdict::from_ok(per_hour(hooks.limited) <= BAR as f64),
        },
        Row {
            id: "P4",
            scenario: format!(
                "{what}, polling + ETags, no webhooks ({} answered 304)",
                polls.not_modified
            ),
            measured: polls.limited.to_string(),
            baseline: naive_text,
            ratio: ratio(polls.limited as f64, naive as f64),
            bar: "– (context: without webhooks)".to_owned(),
            verdict: Verdict::Context,
        },
    ])
}

fn admin() -> Caller {
    Caller {
        actor: Actor {
            subject: "token:bench".into(),
            name: "bench".into(),
        },
        roles: vec![Role::Admin],
    }
}

/// Runs the plan once; `webhooks` turns the deliveries on.
async fn track(p: Params, webhooks: bool) -> anyhow::Result<Cost> {
    let sim = Sim::start().await?;
    seed_scale(&sim.github, p.runs, p.runs, "uat", "master");
    let data = tempfile::tempdir().context("creating a temporary directory")?;
    let secret = random_token("whsec_");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut config = base_config(&sim, addr, data.path());
    if let Some(github) = config.github.as_mut() {
        github.webhook_secret = webhooks.then(|| Secret::new(secret.clone()));
    }
    config.ci.poll_interval = Duration::from_secs(NAIVE_POLL_SECS);

    let start = shipyard_engine::SystemClock.now();
    let clock = Arc::new(ManualClock::new(start));
    let state = shipyard::app::build_state(&config, clock.clone()).await?;
    let engine = state.engine.clone();
    let tracker = state.engine.ci().context("the CI tracker")?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(shipyard_web::serve(listener, state, async {
        let _ = stopped.await;
    }));
    if webhooks {
        sim.github
            .set_webhook(&format!("http://{addr}/webhooks/github"), &secret);
    }

    let created = engine
        .create_release(
            &admin(),
            NewRelease {
                source_branch: "uat".into(),
                dest_branch: "master".into(),
                channel_id: None,
                chat_root_id: None,
            },
        )
        .await?;
    let id = created.view.release.id.to_string();
    let pulls: Vec<(String, u64)> = created
        .view
        .repos
        .iter()
        .filter_map(|r| Some((r.change.repo_name.clone(), r.change.pull.as_ref()?.number)))
        .collect();
    ensure!(
        pulls.len() == p.runs,
        "{} release pull requests, expected {}",
        pulls.len(),
        p.runs
    );
    let builds = plan(p.runs);

    let mut runs = Vec::new();
    for (repo, number) in &pulls {
        let sha = sim.github.merge_pr(repo, *number);
        runs.push((
            repo.clone(),
            sim.github.start_run(repo, "general.yaml", "master", &sha),
        ));
    }
    if webhooks {
        sim.github.flush_webhooks().await;
    } else {
        // Without webhooks, someone refreshes the release to learn of the merges.
        engine.refresh(&admin(), &id).await?;
    }
    // What tracking costs is counted from here: creating the release and learning of the
    // merges is not tracking.
    sim.github.reset_counters();

    let mut started = vec![false; p.runs];
    let mut ended = vec![false; p.runs];
    let mut t = 0;
    while t < p.span {
        t += STEP;
        clock.advance(STEP);
        for (i, b) in builds.iter().enumerate() {
            let (_, run) = &runs[i];
            if !started[i] && b.starts <= t {
                started[i] = true;
                sim.github.set_run_status(*run, "in_progress");
            }
            if !ended[i] && b.ends <= t {
                ended[i] = true;
                let log = format!("CHART_VERSION=1.{i}.{}", b.ends);
                sim.github
                    .add_job(*run, "build", timestamped_log(&["cargo build", "ok"]));
                sim.github
                    .add_job(*run, "helm-publish", timestamped_log(&[&log]));
                sim.github.complete_run(*run, "success");
            }
        }
        if webhooks {
            sim.github.flush_webhooks().await;
        }
        // Every due row, however many rounds that takes.
        loop {
            let round = tracker.tick().await?;
            if round.backed_off {
                bail!("rate limited during the scenario");
            }
            if round.checked < 50 {
                break;
            }
        }
    }

    let view = engine.release(&id).await?;
    for (i, (repo, _)) in runs.iter().enumerate() {
        let row = view
            .repos
            .iter()
            .find(|r| &r.change.repo_name == repo)
            .and_then(|r| view.ci_of(r.id))
            .with_context(|| format!("{repo} is not tracked"))?;
        let want = format!("1.{i}.{}", builds[i].ends);
        ensure!(
            row.status == CiStatus::Success && row.chart_version.as_deref() == Some(&want),
            "{repo}: {:?} with chart {:?}, expected success with {want}",
            row.status,
            row.chart_version
        );
    }

    let requests = sim.github.requests();
    let not_modified = requests.iter().filter(|r| r.status == 304).count() as u64;
    let cost = Cost {
        limited: requests.len() as u64 - not_modified,
        not_modified,
        deliveries: sim.github.deliveries().len(),
    };
    let _ = stop.send(());
    server.await.context("server task")?.context("server")?;
    engine.close().await;
    sim.shutdown().await;
    Ok(cost)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_fixed_and_inside_the_hour() {
        let a = plan(200);
        let b = plan(200);
        assert_eq!(
            a.iter().map(|x| (x.starts, x.ends)).collect::<Vec<_>>(),
            b.iter().map(|x| (x.starts, x.ends)).collect::<Vec<_>>()
        );
        assert!(a.iter().all(|x| x.starts >= 10 && x.starts < 120));
        assert!(a.iter().all(|x| x.ends - x.starts >= 300 && x.ends < 3600));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_smoke_run_tracks_every_build_and_counts_requests() {
        shipyard::install_crypto_provider();
        let rows = run(Size::Smoke).await.unwrap();
        assert_eq!(rows.len(), 2);
        let hooks: u64 = rows[0].measured.parse().unwrap();
        let polls: u64 = rows[1].measured.parse().unwrap();
        assert!(hooks > 0 && polls > 0, "{rows:?}");
        assert!(hooks < polls, "webhooks save requests: {rows:?}");
    }
}
