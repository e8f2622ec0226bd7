//! P2: reading a big release — `GET /api/releases/{id}` for a release of 200 repos with CI and
//! 3 Argo CD environments, 64 concurrent clients for 20 s.
//!
//! The real server runs against the simulated GitHub and three simulated Argo CDs, on SQLite.
//! Every repo's release pull request merges and its build succeeds, so the release carries a CI
//! row per repo and, once the deployment tracker has read every environment, a deployment row
//! per repo and environment (600): the detail answers with its `deployment_summary`. Then 64
//! clients on keep-alive connections each send the request again as soon as the last answer
//! is read. Baseline, in the same run with the same load generator: a trivial axum handler
//! (`200 ok`) on another loopback port.

use crate::harness::{Server, Sim};
use crate::table::{Row, Verdict, millis, ratio};
use crate::{Scenario, ScenarioFuture, Size};
use anyhow::{Context, bail, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_config::{ArgocdConfig, ArgocdEnvironment, Secret, VersionSource};
use shipyard_sim::argocd::{ArgoCdOptions as SimOptions, ArgoCdSim, SimApp};
use shipyard_sim::github::seed_scale;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenario's entry in the table.
pub const SCENARIO: Scenario = Scenario {
    id: "P2",
    run: run_boxed,
};

const ENVS: [&str; 3] = ["qa", "uat", "prod"];
const P99_BAR_MS: f64 = 10.0;
const THROUGHPUT_BAR: f64 = 0.25;

#[derive(Debug, Clone, Copy)]
struct Params {
    repos: usize,
    clients: usize,
    duration: Duration,
}

impl Params {
    fn for_size(size: Size) -> Params {
        match size {
            Size::Full => Params {
                repos: 200,
                clients: 64,
                duration: Duration::from_secs(20),
            },
            Size::Smoke => Params {
                repos: 10,
                clients: 4,
                duration: Duration::from_millis(500),
            },
        }
    }
}

/// What one load run saw.
#[derive(Debug, Clone, Default)]
struct Load {
    requests: usize,
    elapsed: Duration,
    /// Latencies in milliseconds, sorted.
    latencies: Vec<f64>,
}

impl Load {
    fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

fn run_boxed(size: Size) -> ScenarioFuture {
    Box::pin(run(size))
}

async fn run(size: Size) -> anyhow::Result<Vec<Row>> {
    let p = Params::for_size(size);
    let (shipyard, trivial, bytes) = measure(p).await?;
    Ok(rows(p, &shipyard, &trivial, bytes))
}

fn rows(p: Params, shipyard: &Load, trivial: &Load, bytes: usize) -> Vec<Row> {
    let what = format!(
        "`GET /api/releases/{{id}}`, {} repos with CI and 3 environments ({} KB), {} clients, {} s",
        p.repos,
        bytes / 1024,
        p.clients,
        p.duration.as_secs_f64()
    );
    let (ours, base) = (shipyard.per_second(), trivial.per_second());
    let p99 = shipyard.percentile(0.99);
    vec![
        Row {
            id: "P2",
            scenario: format!("{what}: p99 latency"),
            measured: millis(p99),
            baseline: format!("{} trivial handler", millis(trivial.percentile(0.99))),
            ratio: ratio(p99, trivial.percentile(0.99)),
            bar: format!("≤ {P99_BAR_MS} ms"),
            verdict: Verdict::from_ok(p99 <= P99_BAR_MS),
        },
        Row {
            id: "P2",
            scenario: format!("{what}: throughput"),
            measured: format!("{ours:.0}/s"),
            baseline: format!("{base:.0}/s trivial handler"),
            ratio: ratio(ours, base),
            bar: format!("≥ {:.0} % of the trivial handler", THROUGHPUT_BAR * 100.0),
            verdict: Verdict::from_ok(ours >= THROUGHPUT_BAR * base),
        },
    ]
}

async fn measure(p: Params) -> anyhow::Result<(Load, Load, usize)> {
    let sim = Sim::start().await?;
    seed_scale(&sim.github, p.repos, p.repos, "uat", "master");
    let mut argo = Vec::new();
    let mut environments = Vec::new();
    for env in ENVS {
        let token = shipyard_sim::argocd::random_api_token();
        let instance = ArgoCdSim::start(SimOptions::new(env, &token)).await?;
        for i in 1..=p.repos {
            let name = format!("svc-{i:04}");
            instance.add_app(SimApp::new(
                &format!("{name}-{env}"),
                "platform",
                &name,
                "1.0.0",
            ));
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
        argo.push(instance);
    }
    let mut server = Server::start_with(&sim, |c| {
        c.ci.poll_interval = Duration::from_secs(1);
        c.argocd = Some(ArgocdConfig {
            poll_interval: Duration::from_secs(30),
            cache_ttl: Duration::from_secs(10),
            deploy_environment: "prod".into(),
            environments,
            version_source: VersionSource::Auto,
            overrides: BTreeMap::new(),
            webhook_secret: None,
            selector: None,
        });
    })
    .await?;
    let result = with_server(p, &sim, &server).await;
    server.stop().await?;
    for a in argo {
        a.shutdown().await;
    }
    sim.shutdown().await;
    result
}

async fn with_server(p: Params, sim: &Sim, server: &Server) -> anyhow::Result<(Load, Load, usize)> {
    let (status, created) = server
        .post(
            "/api/releases",
            &json!({"source_branch": "uat", "dest_branch": "master"}),
        )
        .await?;
    ensure!(
        status == StatusCode::CREATED,
        "creating the release: {status} {created}"
    );
    let id = created["release"]["id"]
        .as_str()
        .context("the release's id")?
        .to_owned();
    for i in 1..=p.repos {
        let name = format!("svc-{i:04}");
        let sha = sim.github.merge_pr(&name, 1);
        sim.github
            .successful_build(&name, "general.yaml", "master", &sha, "1.1.0");
    }
    let (status, body) = server
        .post(&format!("/api/releases/{id}/refresh"), &json!({}))
        .await?;
    ensure!(status == StatusCode::OK, "refreshing: {status} {body}");
    // CI reads every build, then deployment tracking reads every environment.
    let path = format!("/api/releases/{id}");
    let started = Instant::now();
    loop {
        let (_, detail) = server.get(&path).await?;
        if fully_read(&detail, p.repos) {
            break;
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "the release was not fully tracked within 2 minutes: {}",
                detail["deployment_summary"]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let url = format!("{}{path}", server.base);
    let bytes = reqwest::Client::new()
        .get(&url)
        .bearer_auth(server.token())
        .send()
        .await?
        .bytes()
        .await?
        .len();
    let trivial = trivial_server().await?;
    // Warm both, then measure the trivial handler and Shipyard back to back.
    load(
        &url,
        Some(server.token()),
        p.clients,
        Duration::from_millis(300),
    )
    .await?;
    let baseline = load(&trivial.0, None, p.clients, p.duration).await?;
    let shipyard = load(&url, Some(server.token()), p.clients, p.duration).await?;
    let _ = trivial.1.send(());
    Ok((shipyard, baseline, bytes))
}

/// Whether every repo's build and every environment of every repo has been read.
fn fully_read(detail: &Value, repos: usize) -> bool {
    let ci = detail["ci_summary"]["success"].as_u64() == Some(repos as u64);
    let deployment = detail["deployment_summary"].as_array().is_some_and(|envs| {
        envs.len() == ENVS.len()
            && envs.iter().all(|e| {
                e["unknown"].as_u64() == Some(0)
                    && e["waiting"].as_u64() == Some(0)
                    && e["total"].as_u64() == Some(repos as u64)
            })
    });
    ci && deployment
}

/// A trivial axum handler on a loopback port: its URL, and a sender that stops it.
async fn trivial_server() -> anyhow::Result<(String, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    Ok((format!("http://{addr}/"), tx))
}

/// `clients` loops each sending `GET url` again as soon as the answer is read, for `duration`.
async fn load(
    url: &str,
    token: Option<&str>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Load> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()?;
    let url: Arc<str> = Arc::from(url);
    let token: Option<Arc<str>> = token.map(Arc::from);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, token) = (http.clone(), url.clone(), token.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let mut req = http.get(&*url);
                if let Some(t) = &token {
                    req = req.bearer_auth(&**t);
                }
                let resp = req.send().await?;
                let status = resp.status();
                resp.bytes().await?;
                anyhow::ensure!(status == StatusCode::OK, "answered {status}");
                latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
            }
            Ok::<_, anyhow::Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.context("a load client")??);
    }
    let elapsed = started.elapsed();
    all.sort_by(f64::total_cmp);
    Ok(Load {
        requests: all.len(),
        elapsed,
        latencies: all,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_from_the_sorted_samples() {
        let l = Load {
            requests: 100,
            elapsed: Duration::from_secs(2),
            latencies: (1..=100).map(f64::from).collect(),
        };
        assert_eq!(l.percentile(0.99), 99.0);
        assert_eq!(l.percentile(0.5), 51.0);
        assert_eq!(l.per_second(), 50.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_run_reads_a_fully_tracked_release() {
        shipyard::install_crypto_provider();
        let rows = run(Size::Smoke).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows.iter().all(|r| r.id == "P2"));
    }
}
