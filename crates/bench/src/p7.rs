//! P7: deployment tracking cost — 200 repos × 3 Argo CD environments for a simulated hour
//! while the release rolls out.
//!
//! The engine runs as `shipyard serve` assembles it (the same store, GitHub and Argo CD clients,
//! CI and deployment trackers), on a manual clock, against the simulated GitHub and three
//! simulated Argo CDs over loopback. Every repo of the release merges and CI publishes its
//! chart, so every repo is tracked in qa, uat and prod from the start. Then, poll after poll
//! (`argocd.poll_interval` = 30 s, 120 polls), groups of repos roll out qa → uat → prod as Argo
//! CD would (new target, sync running with pods updating, synced and healthy); a few degrade in
//! uat and stay there.
//!
//! Shipyard: the requests each simulated Argo CD receives per poll, against the bar
//! `1 + apps whose state changed in that environment since the last poll`, and the requests
//! naming an app of a repo after it was deployed everywhere (parked: the bar is none). Baseline,
//! in the same run: the naive plan, one `GET /api/v1/applications/{name}` per app per poll with
//! the same client, measured for a few polls (600 requests each) with its wall time.

use crate::harness::Sim;
use crate::table::{Row, Verdict, millis, ratio};
use crate::{Scenario, ScenarioFuture, Size};
use anyhow::{Context, ensure};
use serde_json::json;
use shipyard_config::{ArgocdConfig, ArgocdEnvironment, Secret, VersionSource};
use shipyard_engine::{Caller, Engine, EngineSettings, ManualClock, NewRelease};
use shipyard_sim::argocd::{ArgoCdOptions as SimOptions, ArgoCdSim, SimApp};
use shipyard_sim::github::seed_scale;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenario's entry in the table.
pub const SCENARIO: Scenario = Scenario {
    id: "P7",
    run: run_boxed,
};

const ENVS: [&str; 3] = ["qa", "uat", "prod"];
const POLL: i64 = 30;
const OLD: &str = "1.0.0";
const NEW: &str = "1.1.0";

#[derive(Debug, Clone, Copy)]
struct Params {
    repos: usize,
    /// Polls of the simulated run (`POLL` seconds apart).
    polls: usize,
    /// Repos that start rolling out together.
    group: usize,
    /// Repos whose rollout degrades in uat and stays there.
    degraded: usize,
    /// Polls the naive plan is measured for.
    naive_polls: usize,
}

impl Params {
    fn for_size(size: Size) -> Params {
        match size {
            Size::Full => Params {
                repos: 200,
                polls: 120,
                group: 50,
                degraded: 5,
                naive_polls: 3,
            },
            Size::Smoke => Params {
                repos: 20,
                polls: 40,
                group: 5,
                degraded: 2,
                naive_polls: 1,
            },
        }
    }
}

fn run_boxed(size: Size) -> ScenarioFuture {
    Box::pin(run(size))
}

/// One environment in one poll.
#[derive(Debug, Clone, Copy, Default)]
struct PollCount {
    requests: u64,
    changing: u64,
}

#[derive(Debug, Default)]
struct Measured {
    /// Per environment, per poll.
    polls: BTreeMap<&'static str, Vec<PollCount>>,
    /// Requests naming an app after its repo was deployed everywhere.
    parked_requests: u64,
    /// Repos that were deployed everywhere by the end.
    parked_repos: usize,
    /// Wall time of the tracker's rounds, per poll.
    round_ms: Vec<f64>,
    /// The naive plan: requests and wall time per poll.
    naive_requests: u64,
    naive_ms: Vec<f64>,
}

async fn run(size: Size) -> anyhow::Result<Vec<Row>> {
    let p = Params::for_size(size);
    let m = measure(p).await?;
    Ok(rows(p, &m))
}

fn rows(p: Params, m: &Measured) -> Vec<Row> {
    let all: Vec<PollCount> = m.polls.values().flatten().copied().collect();
    let n = all.len().max(1) as f64;
    let mean = all.iter().map(|c| c.requests as f64).sum::<f64>() / n;
    let over = all.iter().filter(|c| c.requests > 1 + c.changing).count();
    let worst_excess = all
        .iter()
        .map(|c| c.requests as i64 - (1 + c.changing as i64))
        .max()
        .unwrap_or(0);
    let naive_per_env = m.naive_requests as f64 / ENVS.len() as f64;
    let what = format!(
        "deployment tracking, {} repos × 3 Argo CD environments, {} polls of {POLL} s",
        p.repos, p.polls
    );
    let round = crate::p3::median(&m.round_ms);
    let naive = crate::p3::median(&m.naive_ms);
    vec![
        Row {
            id: "P7",
            scenario: format!("{what}: Argo CD requests per environment per poll (mean)"),
            measured: format!("{mean:.2}"),
            baseline: format!("{naive_per_env:.0} naive (one GET per app)"),
            ratio: ratio(mean, naive_per_env),
            bar: "≤ 1 + apps changing state, every poll".to_owned(),
            verdict: Verdict::from_ok(over == 0),
        },
        Row {
            id: "P7",
            scenario: format!(
                "{what}: polls over the bar ({over} of {}; worst excess {worst_excess})",
                all.len()
            ),
            measured: over.to_string(),
            baseline: "–".to_owned(),
            ratio: "–".to_owned(),
            bar: "0".to_owned(),
            verdict: Verdict::from_ok(over == 0),
        },
        Row {
            id: "P7",
            scenario: format!(
                "{what}: requests for the {} repos deployed everywhere, after they were",
                m.parked_repos
            ),
            measured: m.parked_requests.to_string(),
            baseline: format!(
                "{} per poll naive",
                naive_per_env as u64 * 3 * m.parked_repos as u64 / p.repos.max(1) as u64
            ),
            ratio: "–".to_owned(),
            bar: "0".to_owned(),
            verdict: Verdict::from_ok(m.parked_requests == 0 && m.parked_repos > 0),
        },
        Row {
            id: "P7",
            scenario: format!("{what}: wall time of one poll (median)"),
            measured: millis(round),
            baseline: format!("{} naive", millis(naive)),
            ratio: ratio(round, naive),
            bar: "–".to_owned(),
            verdict: Verdict::Context,
        },
    ]
}

fn admin() -> Caller {
    Caller {
        actor: shipyard_core::Actor {
            subject: "token:bench".into(),
            name: "bench".into(),
        },
        roles: vec![shipyard_core::Role::Admin],
    }
}

async fn measure(p: Params) -> anyhow::Result<Measured> {
    let sim = Sim::start().await?;
    seed_scale(&sim.github, p.repos, p.repos, "uat", "master");
    let names: Vec<String> = (1..=p.repos).map(|i| format!("svc-{i:04}")).collect();
    let mut argo = BTreeMap::new();
    let mut environments = Vec::new();
    for env in ENVS {
        let token = shipyard_sim::argocd::random_api_token();
        let instance = ArgoCdSim::start(SimOptions::new(env, &token)).await?;
        for name in &names {
            instance.add_app(SimApp::new(&format!("{name}-{env}"), "platform", name, OLD));
        }
        environments.push((
            env.to_owned(),
            ArgocdEnvironment {
                url: instance.url(),
                token: Some(Secret::new(token)),
                cf_client_id: None,
                cf_client_secret: None,
                app_suffix: format!("-{env}"),
                project: Some("platform".into()),
                app_namespace: None,
            },
        ));
        argo.insert(env, instance);
    }
    let dir = tempfile::tempdir()?;
    let mut config = crate::harness::base_config(&sim, "127.0.0.1:0".parse()?, dir.path());
    config.argocd = Some(ArgocdConfig {
        poll_interval: Duration::from_secs(POLL as u64),
        cache_ttl: Duration::from_secs(10),
        deploy_environment: "prod".into(),
        environments,
        version_source: VersionSource::Auto,
        overrides: BTreeMap::new(),
        webhook_secret: None,
        selector: None,
    });
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    let store = shipyard::app::open_store(&config).await?;
    let engine = Engine::new(
        store,
        shipyard::app::github_setup(&config, clock.clone())?,
        EngineSettings {
            ci: Some(shipyard::app::ci_options(&config)?),
            deploy: shipyard::app::deploy_options(&config)?,
            ..EngineSettings::default()
        },
        clock.clone(),
    );
    let result = drive(p, &sim, &argo, &engine, &clock, &names).await;
    engine.close().await;
    for (_, a) in argo {
        a.shutdown().await;
    }
    sim.shutdown().await;
    result
}

/// What the rollout does to one app at one poll.
#[derive(Debug, Clone, Copy)]
enum Step {
    Start,
    Progress,
    Finish,
    Degrade,
}

/// The rollout plan: at which poll which app of which environment does what.
fn plan(p: Params, names: &[String]) -> BTreeMap<usize, Vec<(&'static str, String, Step)>> {
    let mut plan: BTreeMap<usize, Vec<(&'static str, String, Step)>> = BTreeMap::new();
    for (i, name) in names.iter().enumerate() {
        let group = i / p.group.max(1);
        let degrades = i < p.degraded;
        for (e, env) in ENVS.iter().enumerate() {
            if degrades && *env == "prod" {
                continue;
            }
            let start = 2 + group * 4 + e * 8;
            let app = format!("{name}-{env}");
            plan.entry(start)
                .or_default()
                .push((env, app.clone(), Step::Start));
            plan.entry(start + 1)
                .or_default()
                .push((env, app.clone(), Step::Progress));
            let last = if degrades && *env == "uat" {
                Step::Degrade
            } else {
                Step::Finish
            };
            plan.entry(start + 2).or_default().push((env, app, last));
        }
    }
    plan
}

async fn drive(
    p: Params,
    sim: &Sim,
    argo: &BTreeMap<&'static str, ArgoCdSim>,
    engine: &Engine,
    clock: &ManualClock,
    names: &[String],
) -> anyhow::Result<Measured> {
    // The release, its merges and CI: every repo tracked in every environment.
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
        .await
        .context("creating the release")?;
    let id = created.view.release.id.to_string();
    for name in names {
        let sha = sim.github.merge_pr(name, 1);
        sim.github
            .successful_build(name, "general.yaml", "master", &sha, NEW);
    }
    engine.refresh(&admin(), &id).await?;
    let ci = engine.ci().context("CI tracking")?;
    for _ in 0..(p.repos / 50 + 2) {
        ci.tick().await?;
    }
    let tracker = engine.deploy().context("deployment tracking")?;
    let rows = engine
        .release(&id)
        .await?
        .deployment
        .map_or(0, |d| d.rows.len());
    ensure!(
        rows == p.repos * ENVS.len(),
        "{rows} rows tracked, not {}",
        p.repos * ENVS.len()
    );

    let plan = plan(p, names);
    let mut m = Measured::default();
    let mut parked_at: HashMap<String, usize> = HashMap::new();
    for a in argo.values() {
        a.reset_requests();
    }
    let mut seen = HashMap::<&'static str, usize>::new();
    for poll in 0..p.polls {
        let mut changing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
        for (env, app, step) in plan.get(&poll).into_iter().flatten() {
            let a = &argo[env];
            match step {
                Step::Start => {
                    a.set_target(app, NEW);
                    a.start_sync(app);
                }
                Step::Progress => a.progress(app, 2),
                Step::Finish => a.finish_sync(app),
                Step::Degrade => a.degrade(app, "Deployment exceeded its progress deadline"),
            }
            changing.entry(env).or_default().insert(app.clone());
        }
        // An app rolling out (synced but pods still updating) changes at every poll, too.
        if poll > 0 {
            clock.advance(POLL);
        }
        let started = Instant::now();
        tracker.tick().await?;
        m.round_ms.push(started.elapsed().as_secs_f64() * 1000.0);
        for (env, a) in argo {
            let log = a.request_log();
            let from = seen.get(env).copied().unwrap_or(0);
            let fresh = &log[from..];
            seen.insert(env, log.len());
            m.polls.entry(env).or_default().push(PollCount {
                requests: fresh.len() as u64,
                changing: changing.get(env).map_or(0, |s| s.len() as u64),
            });
            for r in fresh {
                let named = r
                    .path
                    .split('?')
                    .next()
                    .and_then(|p| p.strip_prefix("/api/v1/applications/"))
                    .map(|rest| rest.split('/').next().unwrap_or(""));
                if let Some(app) = named {
                    let repo = app.rsplit_once('-').map_or(app, |(r, _)| r);
                    if parked_at.get(repo).is_some_and(|&at| at < poll) {
                        m.parked_requests += 1;
                    }
                }
            }
        }
        // Which repos are deployed everywhere now (and so parked from the next poll on).
        let view = engine.release(&id).await?;
        if let Some(d) = &view.deployment {
            let mut by_repo: HashMap<&str, usize> = HashMap::new();
            for r in &d.rows {
                if r.state() == shipyard_core::deploy::DeployState::Deployed {
                    *by_repo.entry(r.repo_name.as_str()).or_default() += 1;
                }
            }
            for (repo, n) in by_repo {
                if n == ENVS.len() {
                    parked_at.entry(repo.to_owned()).or_insert(poll);
                }
            }
        }
    }
    m.parked_repos = parked_at.len();

    // The naive plan with the same client: one GET per app per poll.
    let clients: Vec<_> = engine
        .deploy_options()
        .map(|o| o.environments.clone())
        .unwrap_or_default();
    let before: u64 = argo.values().map(|a| a.request_log().len() as u64).sum();
    for _ in 0..p.naive_polls {
        let started = Instant::now();
        let mut calls = Vec::new();
        for env in &clients {
            for name in names {
                let client = env.client.clone();
                let app = format!("{name}{}", env.app_suffix);
                calls.push(async move { client.application(&app).await.map(|_| ()) });
            }
        }
        for r in futures::future::join_all(calls).await {
            r.context("a naive GET")?;
        }
        m.naive_ms.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let after: u64 = argo.values().map(|a| a.request_log().len() as u64).sum();
    m.naive_requests = (after - before) / p.naive_polls.max(1) as u64;
    eprintln!(
        "P7: {}",
        json!({
            "polls": p.polls,
            "requests": m.polls.iter().map(|(e, c)| (e.to_string(), c.iter().map(|x| x.requests).sum::<u64>())).collect::<BTreeMap<_, _>>(),
            "parked_repos": m.parked_repos,
            "naive_requests_per_poll": m.naive_requests,
        })
    );
    Ok(m)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_run_stays_within_the_request_bar() {
        shipyard::install_crypto_provider();
        let rows = run(Size::Smoke).await.unwrap();
        assert_eq!(rows.len(), 4);
        for row in &rows {
            assert!(row.verdict.is_met(), "{row:?}");
        }
    }

    #[test]
    fn every_app_of_the_plan_ends_deployed_or_degraded_in_uat() {
        let p = Params::for_size(Size::Smoke);
        let names: Vec<String> = (1..=p.repos).map(|i| format!("svc-{i:04}")).collect();
        let plan = plan(p, &names);
        let steps: Vec<_> = plan.values().flatten().collect();
        let finishes = steps
            .iter()
            .filter(|(_, _, s)| matches!(s, Step::Finish))
            .count();
        let degrades = steps
            .iter()
            .filter(|(_, _, s)| matches!(s, Step::Degrade))
            .count();
        assert_eq!(degrades, p.degraded);
        assert_eq!(finishes, p.repos * 3 - p.degraded * 2);
        assert!(
            plan.keys().max().unwrap() < &p.polls,
            "the plan fits in the run"
        );
    }
}
