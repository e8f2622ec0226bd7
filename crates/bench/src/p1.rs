//! P1: create a release in a large simulated org whose every GitHub request is slow.
//!
//! Shipyard: `POST /api/releases` on the real server, timed from request to answer, counting the
//! requests the simulated GitHub received meanwhile. Baseline, in the same run and against the
//! same simulated org: the naive plan — list the org's repos, then one REST compare per repo,
//! one after the other.

use crate::harness::{ORG, Server, Sim};
use crate::table::{Row, Verdict, ratio, secs};
use crate::{Scenario, ScenarioFuture, Size};
use anyhow::{Context, ensure};
use reqwest::StatusCode;
use shipyard_github::{GitHub, GitHubOptions};
use shipyard_sim::github::{RecordedRequest, seed_scale};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The scenario's entry in the table.
pub const SCENARIO: Scenario = Scenario {
    id: "P1",
    run: run_boxed,
};

const SOURCE: &str = "uat";
const DEST: &str = "master";

/// The wall-time bar.
const WALL_BAR: Duration = Duration::from_secs(3);

/// The org and its latency.
#[derive(Debug, Clone, Copy)]
struct Params {
    repos: usize,
    changed: usize,
    latency: Duration,
}

impl Params {
    fn for_size(size: Size) -> Params {
        match size {
            Size::Full => Params {
                repos: 500,
                changed: 100,
                latency: Duration::from_millis(50),
            },
            Size::Smoke => Params {
                repos: 60,
                changed: 10,
                latency: Duration::from_millis(5),
            },
        }
    }

    fn unchanged(self) -> usize {
        self.repos - self.changed
    }

    /// At most 3 requests per changed repo and 1 per 50 unchanged ones.
    fn request_bar(self) -> u64 {
        (3 * self.changed + self.unchanged() / 50) as u64
    }

    fn label(self) -> String {
        format!(
            "{} repos, {} changed, {} ms/request",
            self.repos,
            self.changed,
            self.latency.as_millis()
        )
    }
}

/// What one plan cost.
struct Measured {
    wall: Duration,
    requests: u64,
    by_kind: BTreeMap<&'static str, u64>,
}

fn run_boxed(size: Size) -> ScenarioFuture {
    Box::pin(run(size))
}

async fn run(size: Size) -> anyhow::Result<Vec<Row>> {
    let p = Params::for_size(size);
    let sim = Sim::start().await?;
    seed_scale(&sim.github, p.repos, p.changed, SOURCE, DEST);
    sim.github.set_latency(p.latency);

    let outcome = measure_both(&sim, p).await;
    sim.shutdown().await;
    let (shipyard, naive) = outcome?;

    eprintln!(
        "P1: Shipyard requests by kind: {}",
        kinds(&shipyard.by_kind)
    );
    eprintln!("P1: naive requests by kind:    {}", kinds(&naive.by_kind));

    let label = p.label();
    let request_bar = p.request_bar();
    Ok(vec![
        Row {
            id: "P1",
            scenario: format!("create release ({label}): wall time"),
            measured: secs(shipyard.wall),
            baseline: format!("{} naive", secs(naive.wall)),
            ratio: ratio(shipyard.wall.as_secs_f64(), naive.wall.as_secs_f64()),
            bar: format!("≤ {} s", WALL_BAR.as_secs_f64()),
            verdict: Verdict::from_ok(shipyard.wall <= WALL_BAR),
        },
        Row {
            id: "P1",
            scenario: format!("create release ({label}): GitHub requests"),
            measured: shipyard.requests.to_string(),
            baseline: format!("{} naive", naive.requests),
            ratio: ratio(shipyard.requests as f64, naive.requests as f64),
            bar: format!("≤ {request_bar} (3×{} + {}/50)", p.changed, p.unchanged()),
            verdict: Verdict::from_ok(shipyard.requests <= request_bar),
        },
    ])
}

async fn measure_both(sim: &Sim, p: Params) -> anyhow::Result<(Measured, Measured)> {
    let mut server = Server::start(sim).await?;
    let shipyard = measure_shipyard(sim, &server, p).await;
    let stopped = server.stop().await;
    let shipyard = shipyard?;
    stopped?;
    let naive = measure_naive(sim, p).await?;
    Ok((shipyard, naive))
}

async fn measure_shipyard(sim: &Sim, server: &Server, p: Params) -> anyhow::Result<Measured> {
    let body = serde_json::json!({ "source_branch": SOURCE, "dest_branch": DEST });
    sim.github.reset_counters();
    let started = Instant::now();
    let (status, answer) = server.post("/api/releases", &body).await?;
    let wall = started.elapsed();
    let requests = sim.github.request_count();
    let recorded = sim.github.requests();

    ensure!(
        status == StatusCode::CREATED,
        "creating the release answered {status}: {answer}"
    );
    let repos = answer["repos"]
        .as_array()
        .context("the release has no `repos` list")?
        .len();
    ensure!(
        repos == p.changed,
        "the release holds {repos} repos, expected {}",
        p.changed
    );
    Ok(Measured {
        wall,
        requests,
        by_kind: by_kind(&recorded),
    })
}

async fn measure_naive(sim: &Sim, p: Params) -> anyhow::Result<Measured> {
    let client = GitHub::new(GitHubOptions::new(
        sim.github.url(),
        sim.github.graphql_url(),
        Some(sim.token.clone()),
    ))
    .context("starting the GitHub client")?;
    sim.github.reset_counters();
    let started = Instant::now();
    let repos = client
        .org_repos(ORG)
        .await
        .context("naive plan: listing the org's repos")?;
    let mut changed = 0;
    for repo in repos.iter().filter(|r| !r.archived) {
        let compared = client
            .compare(ORG, &repo.name, DEST, SOURCE)
            .await
            .with_context(|| format!("naive plan: comparing {}", repo.name))?;
        if compared.is_some_and(|c| c.ahead_by > 0) {
            changed += 1;
        }
    }
    let wall = started.elapsed();
    let requests = sim.github.request_count();
    let recorded = sim.github.requests();

    ensure!(
        repos.len() == p.repos,
        "the naive plan listed {} repos, expected {}",
        repos.len(),
        p.repos
    );
    ensure!(
        changed == p.changed,
        "the naive plan found {changed} changed repos, expected {}",
        p.changed
    );
    Ok(Measured {
        wall,
        requests,
        by_kind: by_kind(&recorded),
    })
}

/// Requests counted by what they asked for.
fn by_kind(requests: &[RecordedRequest]) -> BTreeMap<&'static str, u64> {
    let mut counts = BTreeMap::new();
    for r in requests {
        let path = r.path.split('?').next().unwrap_or_default();
        let kind = if path == "/graphql" {
            "graphql"
        } else if path.starts_with("/orgs/") {
            "org repos"
        } else if path.contains("/compare/") {
            "compare"
        } else if path.contains("/pulls") {
            "pulls"
        } else if path.contains("/branches/") {
            "branch"
        } else {
            "other"
        };
        *counts.entry(kind).or_insert(0) += 1;
    }
    counts
}

fn kinds(counts: &BTreeMap<&'static str, u64>) -> String {
    if counts.is_empty() {
        return "none".to_owned();
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the scenario working in CI: runs it at smoke size. Only the request count, which does
    /// not depend on the machine's speed, is held to its bar here.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_run_produces_the_table_rows() {
        shipyard::install_crypto_provider();
        let rows = run(Size::Smoke).await.expect("the scenario runs");
        assert_eq!(rows.len(), 2);
        let requests = rows
            .iter()
            .find(|r| r.scenario.contains("requests"))
            .expect("a request row");
        assert_eq!(
            requests.verdict,
            crate::table::Verdict::Meets,
            "{}",
            requests.measured
        );
    }

    #[test]
    fn request_bar_follows_the_quality_bar() {
        assert_eq!(Params::for_size(Size::Full).request_bar(), 308);
        assert_eq!(Params::for_size(Size::Smoke).request_bar(), 31);
    }
}
