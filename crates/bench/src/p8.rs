//! P8: `pr-dashboard update` on a pull request with 250 comments, and 8 updates at once.
//!
//! The dashboard code runs as `shipyard pr-dashboard update` runs it (the same [`Board`] and
//! GitHub client) against the simulated GitHub over loopback, with a few milliseconds of network
//! delay per request. Shipyard: GitHub requests and wall time per update of one stage, an update
//! that changes nothing, and 8 updates of different stages started together (all must land).
//! Baseline, in the same run: the naive plan (list every page, edit the first dashboard found,
//! always write), one at a time and 8 at once (how many of the 8 land).

use crate::table::{Row, Verdict, millis, ratio};
use crate::{Scenario, ScenarioFuture, Size};
use anyhow::Context;
use shipyard::pr_dashboard::board::Board;
use shipyard_core::dashboard::{
    self, DashboardConfig, DashboardState, ParsedComment, StageStatus, StageUpdate,
};
use shipyard_github::{GitHub, GitHubOptions};
use shipyard_sim::github::{CommitSpec, SimGithub};
use std::time::{Duration, Instant};

/// The scenario's entry in the table.
pub const SCENARIO: Scenario = Scenario {
    id: "P8",
    run: run_boxed,
};

const ORG: &str = "acme";
const REPO: &str = "infra";
const FULL: &str = "acme/infra";
const STAGES: [&str; 8] = [
    "plan-bootstrap",
    "plan-platform",
    "plan-data-staging",
    "plan-data-prod",
    "apply",
    "e2e",
    "review",
    "plan-platform",
];

#[derive(Debug, Clone, Copy)]
struct Params {
    /// Other comments on the pull request.
    comments: usize,
    /// Updates measured one after another.
    updates: usize,
    /// Rounds of 8 concurrent updates.
    rounds: usize,
    /// Network delay per request.
    latency: Duration,
}

impl Params {
    fn for_size(size: Size) -> Params {
        match size {
            Size::Full => Params {
                comments: 250,
                updates: 20,
                rounds: 10,
                latency: Duration::from_millis(20),
            },
            Size::Smoke => Params {
                comments: 250,
                updates: 3,
                rounds: 2,
                latency: Duration::from_millis(1),
            },
        }
    }
}

fn run_boxed(size: Size) -> ScenarioFuture {
    Box::pin(run(size))
}

/// One plan's sequential updates.
#[derive(Debug, Default)]
struct Sequential {
    requests: Vec<u64>,
    writes: Vec<u64>,
    times: Vec<Duration>,
}

impl Sequential {
    fn mean_requests(&self) -> f64 {
        mean(&self.requests)
    }

    fn mean_writes(&self) -> f64 {
        mean(&self.writes)
    }

    fn median_time(&self) -> Duration {
        let mut t = self.times.clone();
        t.sort();
        t.get(t.len() / 2).copied().unwrap_or_default()
    }
}

fn mean(v: &[u64]) -> f64 {
    if v.is_empty() {
        0.0
    } else {
        v.iter().sum::<u64>() as f64 / v.len() as f64
    }
}

#[derive(Debug, Default)]
struct Concurrent {
    /// Stage results shown at the end, over all rounds.
    landed: usize,
    /// Stage results written, over all rounds.
    expected: usize,
    /// Slowest round's wall time.
    worst: Duration,
    /// Median round's wall time.
    median: Duration,
}

#[derive(Debug)]
struct Measured {
    ours: Sequential,
    unchanged_requests: u64,
    unchanged_writes: u64,
    naive: Sequential,
    ours_8: Concurrent,
    naive_8: Concurrent,
}

async fn run(size: Size) -> anyhow::Result<Vec<Row>> {
    let p = Params::for_size(size);
    let m = measure(p).await?;
    Ok(rows(p, &m))
}

fn rows(p: Params, m: &Measured) -> Vec<Row> {
    let what = format!("PR with {} comments", p.comments);
    vec![
        Row {
            id: "P8",
            scenario: format!("{what}: GitHub requests per update (mean)"),
            measured: format!("{:.1}", m.ours.mean_requests()),
            baseline: format!(
                "{:.1} naive (list every page, always write)",
                m.naive.mean_requests()
            ),
            ratio: ratio(m.ours.mean_requests(), m.naive.mean_requests()),
            bar: "– (reported)".to_owned(),
            verdict: Verdict::Context,
        },
        Row {
            id: "P8",
            scenario: format!(
                "{what}: wall time per update (median, {} ms per request)",
                p.latency.as_millis()
            ),
            measured: ms(m.ours.median_time()),
            baseline: format!("{} naive", ms(m.naive.median_time())),
            ratio: ratio(
                m.ours.median_time().as_secs_f64(),
                m.naive.median_time().as_secs_f64(),
            ),
            bar: "– (reported)".to_owned(),
            verdict: Verdict::Context,
        },
        Row {
            id: "P8",
            scenario: format!(
                "{what}: an update that changes nothing: writes ({} requests)",
                m.unchanged_requests
            ),
            measured: m.unchanged_writes.to_string(),
            baseline: format!("{:.0} naive", m.naive.mean_writes()),
            ratio: "–".to_owned(),
            bar: "0".to_owned(),
            verdict: Verdict::from_ok(m.unchanged_writes == 0),
        },
        Row {
            id: "P8",
            scenario: format!(
                "8 concurrent updates × {} rounds: stage results shown (worst round {})",
                p.rounds,
                ms(m.ours_8.worst)
            ),
            measured: format!(
                "{}/{} in {} (median round)",
                m.ours_8.landed,
                m.ours_8.expected,
                ms(m.ours_8.median)
            ),
            baseline: format!(
                "{}/{} naive in {}",
                m.naive_8.landed,
                m.naive_8.expected,
                ms(m.naive_8.median)
            ),
            ratio: ratio(
                m.ours_8.median.as_secs_f64(),
                m.naive_8.median.as_secs_f64(),
            ),
            bar: "all land".to_owned(),
            verdict: Verdict::from_ok(m.ours_8.landed == m.ours_8.expected),
        },
    ]
}

/// A pull request with `p.comments` comments by people, on a fresh simulated GitHub.
struct World {
    sim: SimGithub,
    gh: GitHub,
    pr: u64,
    head: String,
}

async fn world(p: Params) -> anyhow::Result<World> {
    let sim = SimGithub::start(ORG).await.context("simulated GitHub")?;
    let token = shipyard::demo::random_token("ghs_");
    sim.set_token(Some(token.clone()));
    sim.add_repo(REPO);
    sim.create_branch(REPO, "feature", "main");
    let head = sim.commit(
        REPO,
        "feature",
        CommitSpec::new("feat: network", "Alice", "alice@example.com").login("alice"),
    );
    let pr = sim.open_pr(REPO, "feature", "main", "Network");
    for i in 0..p.comments {
        sim.add_comment(REPO, pr, "bob", &format!("review remark {i}"));
    }
    sim.set_latency(p.latency);
    let url = sim.url();
    let gh = GitHub::new(GitHubOptions::new(
        &url,
        format!("{url}/graphql"),
        Some(token),
    ))?;
    Ok(World { sim, gh, pr, head })
}

impl World {
    fn update(&self, stage: &str, status: StageStatus, note: Option<String>) -> StageUpdate {
        StageUpdate {
            stage: stage.to_owned(),
            status,
            link: Some("https://github.example/acme/infra/actions/runs/1".to_owned()),
            note,
            by: Some("bench".to_owned()),
            at: shipyard::pr_dashboard::now(),
        }
    }

    fn counts(&self) -> (u64, u64) {
        let requests = self.sim.requests();
        let writes = requests.iter().filter(|r| r.method != "GET").count() as u64;
        (requests.len() as u64, writes)
    }

    /// How many of `stages` the dashboard shows as finished.
    fn landed(&self, stages: &[&str]) -> usize {
        let Some(c) = self
            .sim
            .comments(REPO, self.pr)
            .into_iter()
            .find(|c| dashboard::is_dashboard_for(&c.body, &self.head))
        else {
            return 0;
        };
        let ParsedComment::Dashboard { state: Ok(state) } =
            dashboard::parse_comment(&c.body, &self.head)
        else {
            return 0;
        };
        let mut distinct: Vec<&str> = stages.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        distinct
            .iter()
            .filter(|s| {
                state
                    .stages
                    .get(**s)
                    .is_some_and(|x| x.status.is_finished())
            })
            .count()
    }
}

/// The naive plan: list every page, edit the first dashboard found (or post one), always
/// write. Nothing protects it from a concurrent writer.
async fn naive_update(w: &World, config: &DashboardConfig, u: &StageUpdate) -> anyhow::Result<()> {
    let comments = w.gh.issue_comments(FULL, w.pr).await?;
    let found = comments
        .iter()
        .find(|c| dashboard::is_dashboard_for(&c.body, &w.head));
    let mut state = match found.map(|c| dashboard::parse_comment(&c.body, &w.head)) {
        Some(ParsedComment::Dashboard { state: Ok(s) }) => s,
        _ => DashboardState::new(&w.head, w.pr),
    };
    state.apply(u);
    state.revision += 1;
    let body = dashboard::render_fitting(&mut state, &config.stages, None);
    match found {
        Some(c) => {
            w.gh.update_comment(FULL, c.id, &body).await?;
        }
        None => {
            w.gh.create_comment(FULL, w.pr, &body).await?;
        }
    }
    Ok(())
}

/// One update by either plan.
async fn one_update(
    w: &World,
    config: &DashboardConfig,
    naive: bool,
    u: StageUpdate,
) -> anyhow::Result<()> {
    if naive {
        naive_update(w, config, &u).await
    } else {
        Board::new(&w.gh, FULL, config, None)
            .update(w.pr, &w.head, u)
            .await
            .map(|_| ())
            .map_err(failure)
    }
}

/// `p.updates` updates one after another, alternating running and success on one stage, each
/// counted on its own.
async fn sequential(
    p: Params,
    w: &World,
    config: &DashboardConfig,
    naive: bool,
) -> anyhow::Result<Sequential> {
    let mut out = Sequential::default();
    for i in 0..p.updates {
        let status = if i % 2 == 0 {
            StageStatus::Running
        } else {
            StageStatus::Success
        };
        w.sim.reset_counters();
        let started = Instant::now();
        one_update(w, config, naive, w.update("e2e", status, None)).await?;
        out.times.push(started.elapsed());
        let (requests, writes) = w.counts();
        out.requests.push(requests);
        out.writes.push(writes);
    }
    Ok(out)
}

async fn measure(p: Params) -> anyhow::Result<Measured> {
    let config = DashboardConfig::default();

    // Shipyard, then the same update again, which changes nothing.
    let w = world(p).await?;
    Board::new(&w.gh, FULL, &config, None)
        .init(w.pr, &w.head)
        .await
        .map_err(failure)?;
    let ours = sequential(p, &w, &config, false).await?;
    let last = if p.updates.is_multiple_of(2) {
        StageStatus::Success
    } else {
        StageStatus::Running
    };
    w.sim.reset_counters();
    one_update(&w, &config, false, w.update("e2e", last, None)).await?;
    let (unchanged_requests, unchanged_writes) = w.counts();
    w.sim.shutdown().await;

    // The naive plan, the same updates.
    let w = world(p).await?;
    naive_update(&w, &config, &w.update("e2e", StageStatus::Pending, None)).await?;
    let naive = sequential(p, &w, &config, true).await?;
    w.sim.shutdown().await;

    let ours_8 = concurrent(p, &config, false).await?;
    let naive_8 = concurrent(p, &config, true).await?;
    Ok(Measured {
        ours,
        unchanged_requests,
        unchanged_writes,
        naive,
        ours_8,
        naive_8,
    })
}

/// Rounds of 8 updates started together; odd rounds start with the dashboard already there.
async fn concurrent(
    p: Params,
    config: &DashboardConfig,
    naive: bool,
) -> anyhow::Result<Concurrent> {
    let mut out = Concurrent::default();
    let mut times = Vec::new();
    for round in 0..p.rounds {
        let w = world(p).await?;
        if round % 2 == 1 {
            Board::new(&w.gh, FULL, config, None)
                .init(w.pr, &w.head)
                .await
                .map_err(failure)?;
        }
        let started = Instant::now();
        let results = futures::future::join_all(STAGES.iter().map(|stage| {
            let u = w.update(stage, StageStatus::Success, None);
            one_update(&w, config, naive, u)
        }))
        .await;
        let elapsed = started.elapsed();
        for r in results {
            r?;
        }
        times.push(elapsed);
        out.worst = out.worst.max(elapsed);
        out.landed += w.landed(&STAGES);
        out.expected += 7;
        w.sim.shutdown().await;
    }
    times.sort();
    out.median = times.get(times.len() / 2).copied().unwrap_or_default();
    Ok(out)
}

fn ms(d: Duration) -> String {
    millis(d.as_secs_f64() * 1000.0)
}

fn failure(f: shipyard::pr_dashboard::Failure) -> anyhow::Error {
    anyhow::anyhow!("{f:?}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn smoke_run_lands_every_concurrent_update_and_skips_unchanged_writes() {
        shipyard::install_crypto_provider();
        let rows = run(Size::Smoke).await.unwrap();
        assert_eq!(rows.len(), 4);
        for row in &rows {
            assert!(row.verdict.is_met(), "{row:?}");
        }
    }
}
