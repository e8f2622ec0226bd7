//! P2: reading a big release — `GET /api/releases/{id}` for a release of 200 repos with CI and
//! 3 Argo CD environments, 64 concurrent clients for 20 s — and P5: the resident memory of
//! `shipyard serve` under that load.
//!
//! The server is the real binary, `shipyard serve`, started as a separate process with a
//! configuration file written for it (see [`crate::serve`]), against the simulated GitHub and
//! three simulated Argo CDs, which stay in the bench process with the load generator. Every
//! repo's release pull request merges and its build succeeds, so the release carries a CI row
//! per repo and, once the deployment tracker has read every environment, a deployment row per
//! repo and environment (600): the detail answers with its `deployment_summary`. Then 64
//! clients on keep-alive connections each send the request again as soon as the last answer is
//! read. They do it twice: asking for the answer as it is (no `Accept-Encoding`, as `wrk` or
//! `curl` ask), then as a browser asks (`Accept-Encoding: gzip, deflate, br, zstd`), which is
//! answered with the gzip copy the server keeps next to each rendering. Baseline, in the same
//! run with the same load generator, right before each variant: a trivial axum handler
//! (`200 ok`) on another loopback port.
//!
//! Three variants, each a group of rows: SQLite with one process; PostgreSQL with one; and
//! PostgreSQL with two processes on one database (replicas), the clients split evenly between
//! their addresses. While the load runs, each process's `VmRSS` is sampled from `/proc` (P5:
//! the peak, and `VmHWM` at the end), and the CPU time of the servers and of the bench process
//! is read before and after, to show which side is the bottleneck.

use crate::harness::{Api, ORG, Sim};
use crate::serve::{
    ArgoEnv, PgDatabase, RssSampler, ServeConfig, ServeProcess, cpu_seconds, free_loopback_addr,
    shipyard_binary, status_kib,
};
use crate::table::{Row, Verdict, millis, ratio};
use crate::{Scenario, ScenarioFuture, Size};
use anyhow::{Context, bail, ensure};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard::demo::random_token;
use shipyard_sim::argocd::{ArgoCdOptions as SimOptions, ArgoCdSim, SimApp};
use shipyard_sim::github::seed_scale;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scenario's entry in the table (its rows include P5's).
pub const SCENARIO: Scenario = Scenario {
    id: "P2",
    run: run_boxed,
};

const ENVS: [&str; 3] = ["qa", "uat", "prod"];
const P99_BAR_MS: f64 = 10.0;
const THROUGHPUT_BAR: f64 = 0.25;
/// P5's bar, in KiB (64 MiB).
const RSS_BAR_KIB: u64 = 64 * 1024;

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

/// The database the servers share.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

/// One way of deploying the server.
#[derive(Debug, Clone, Copy)]
struct Variant {
    backend: Backend,
    replicas: usize,
}

/// Every variant, in table order. Two processes on one SQLite file is not a supported
/// deployment (replicas need PostgreSQL), so it is not measured.
const VARIANTS: [Variant; 3] = [
    Variant {
        backend: Backend::Sqlite,
        replicas: 1,
    },
    Variant {
        backend: Backend::Postgres,
        replicas: 1,
    },
    Variant {
        backend: Backend::Postgres,
        replicas: 2,
    },
];

impl Variant {
    fn label(self) -> String {
        let db = match self.backend {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        };
        let s = if self.replicas == 1 { "" } else { "s" };
        format!("{db} × {} replica{s}", self.replicas)
    }
}

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

/// One server process's memory, in KiB.
#[derive(Debug, Clone)]
struct Memory {
    replica: String,
    /// `VmRSS` once the release was fully read, before any load.
    idle: u64,
    /// The highest `VmRSS` sampled while the load ran.
    peak: u64,
    /// `VmHWM` (the process's high-water mark) at the end of the load.
    hwm: u64,
}

/// CPU time used while Shipyard was under load, in seconds.
#[derive(Debug, Clone, Default)]
struct Cpu {
    /// Per server process.
    servers: Vec<f64>,
    /// The bench process: load generator, simulators, trivial server (idle by then).
    bench: f64,
    /// How long the load ran.
    wall: f64,
}

/// How the load's clients ask for the release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    /// No `Accept-Encoding`: the JSON as it is.
    AsItIs,
    /// What a browser sends.
    AsABrowser,
}

/// Both ways, in the order they are measured.
const ASKS: [Ask; 2] = [Ask::AsItIs, Ask::AsABrowser];

impl Ask {
    fn accept_encoding(self) -> Option<&'static str> {
        match self {
            Ask::AsItIs => None,
            Ask::AsABrowser => Some("gzip, deflate, br, zstd"),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Ask::AsItIs => "asked as it is (no `Accept-Encoding`, as `wrk` and `curl` ask)",
            Ask::AsABrowser => "asked as a browser asks (`Accept-Encoding: gzip, …`)",
        }
    }
}

/// One load on Shipyard with one way of asking.
#[derive(Debug, Clone)]
struct Asked {
    ask: Ask,
    load: Load,
    /// Bytes of one answer's body, as sent.
    bytes: usize,
    cpu: Cpu,
    /// Release reads during the load, summed over the servers (from `/metrics`).
    reads: Reads,
}

/// What one variant measured.
#[derive(Debug, Clone)]
struct Outcome {
    variant: Variant,
    asked: Vec<Asked>,
    trivial: Load,
    memory: Vec<Memory>,
}

/// How the servers answered the release during the load, from their
/// `shipyard_release_reads_total` counters.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
struct Reads {
    /// From the kept view.
    kept: f64,
    /// From the database (the view was missing or older than its time to live).
    database: f64,
}

impl std::ops::Sub for Reads {
    type Output = Reads;

    fn sub(self, before: Reads) -> Reads {
        Reads {
            kept: self.kept - before.kept,
            database: self.database - before.database,
        }
    }
}

/// The `shipyard_release_reads_total` counters in a Prometheus text exposition.
fn parse_reads(text: &str) -> Reads {
    let mut reads = Reads::default();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("shipyard_release_reads_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        if labels.contains("from=\"database\"") {
            reads.database += value;
        } else if labels.contains("from=\"kept\"") {
            reads.kept += value;
        }
    }
    reads
}

/// The release reads of every server so far.
async fn reads(servers: &[ServeProcess]) -> anyhow::Result<Reads> {
    let mut total = Reads::default();
    for s in servers {
        let r = parse_reads(&s.api.text("/metrics").await?);
        total.kept += r.kept;
        total.database += r.database;
    }
    Ok(total)
}

fn run_boxed(size: Size) -> ScenarioFuture {
    Box::pin(run(size))
}

async fn run(size: Size) -> anyhow::Result<Vec<Row>> {
    let p = Params::for_size(size);
    let binary = shipyard_binary()?;
    let mut rows = Vec::new();
    for v in VARIANTS {
        eprintln!("P2: {}…", v.label());
        let outcome = measure(p, v, &binary).await.with_context(|| v.label())?;
        rows.extend(variant_rows(p, &outcome));
    }
    Ok(rows)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

fn variant_rows(p: Params, o: &Outcome) -> Vec<Row> {
    let label = o.variant.label();
    let trivial = &o.trivial;
    let base = trivial.per_second();
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut rows = Vec::new();
    for a in &o.asked {
        let what = format!(
            "`GET /api/releases/{{id}}` ({} repos, CI, 3 environments, {} KB {}), {} clients, {} s, {label}",
            p.repos,
            a.bytes / 1024,
            a.ask.label(),
            p.clients,
            p.duration.as_secs_f64()
        );
        let (shipyard, cpu) = (&a.load, &a.cpu);
        let ours = shipyard.per_second();
        let p99 = shipyard.percentile(0.99);
        let servers: Vec<String> = cpu.servers.iter().map(|s| format!("{s:.1}")).collect();
        let server_word = if cpu.servers.len() == 1 {
            "server"
        } else {
            "servers"
        };
        rows.extend([
            Row {
                id: "P2",
                scenario: format!(
                    "{what}: p99 latency (median {}, max {})",
                    millis(shipyard.percentile(0.5)),
                    millis(shipyard.percentile(1.0))
                ),
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
            Row {
                id: "P2",
                scenario: format!("{what}: CPU time during the load"),
                measured: format!(
                    "{server_word} {} s, bench {:.1} s",
                    servers.join(" + "),
                    cpu.bench
                ),
                baseline: format!(
                    "{:.1} s available ({cores} cores × {:.1} s)",
                    cores as f64 * cpu.wall,
                    cpu.wall
                ),
                ratio: "–".to_owned(),
                bar: "–".to_owned(),
                verdict: Verdict::Context,
            },
            Row {
                id: "P2",
                scenario: format!(
                    "{what}: answers read from the database (the kept view missing or expired)"
                ),
                measured: format!("{:.0}", a.reads.database),
                baseline: format!("{:.0} from the kept view", a.reads.kept),
                ratio: ratio(a.reads.database, a.reads.database + a.reads.kept),
                bar: "–".to_owned(),
                verdict: Verdict::Context,
            },
        ]);
    }
    for m in &o.memory {
        let who = if o.memory.len() == 1 {
            String::new()
        } else {
            format!(", replica {}", m.replica)
        };
        rows.push(Row {
            id: "P5",
            scenario: format!(
                "memory of `shipyard serve` under P2's loads, {label}{who}: peak VmRSS (VmHWM)"
            ),
            measured: format!("{} ({})", mib(m.peak), mib(m.hwm)),
            baseline: format!("{} before the load", mib(m.idle)),
            ratio: ratio(m.peak as f64, m.idle as f64),
            bar: "≤ 64 MiB".to_owned(),
            verdict: Verdict::from_ok(m.peak.max(m.hwm) <= RSS_BAR_KIB),
        });
    }
    rows
}

/// The simulated GitHub and Argo CDs of one variant.
struct Sims {
    sim: Sim,
    argo: Vec<ArgoCdSim>,
    environments: Vec<ArgoEnv>,
}

impl Sims {
    async fn start(repos: usize) -> anyhow::Result<Sims> {
        let sim = Sim::start().await?;
        seed_scale(&sim.github, repos, repos, "uat", "master");
        let mut argo = Vec::new();
        let mut environments = Vec::new();
        for env in ENVS {
            let token = shipyard_sim::argocd::random_api_token();
            let instance = ArgoCdSim::start(SimOptions::new(env, &token)).await?;
            for i in 1..=repos {
                let name = format!("svc-{i:04}");
                instance.add_app(SimApp::new(
                    &format!("{name}-{env}"),
                    "platform",
                    &name,
                    "1.0.0",
                ));
            }
            environments.push(ArgoEnv {
                name: env.to_owned(),
                url: instance.url(),
                token,
                app_suffix: format!("-{env}"),
                project: "platform".into(),
            });
            argo.push(instance);
        }
        Ok(Sims {
            sim,
            argo,
            environments,
        })
    }

    async fn shutdown(self) {
        for a in self.argo {
            a.shutdown().await;
        }
        self.sim.shutdown().await;
    }
}

async fn measure(p: Params, v: Variant, binary: &Path) -> anyhow::Result<Outcome> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let pg = match v.backend {
        Backend::Postgres => Some(PgDatabase::create()?),
        Backend::Sqlite => None,
    };
    let url = match &pg {
        Some(db) => db.url.clone(),
        None => format!("sqlite://{}", dir.path().join("shipyard.db").display()),
    };
    let result = match Sims::start(p.repos).await {
        Ok(sims) => {
            let result = with_servers(p, v, binary, dir.path(), &url, &sims).await;
            sims.shutdown().await;
            result
        }
        Err(e) => Err(e),
    };
    if let Some(db) = &pg {
        db.drop_database();
    }
    result
}

/// Starts the variant's `shipyard serve` processes one after the other, measures, stops them.
async fn with_servers(
    p: Params,
    v: Variant,
    binary: &Path,
    dir: &Path,
    database_url: &str,
    sims: &Sims,
) -> anyhow::Result<Outcome> {
    let token = random_token("sy_");
    let mut servers: Vec<ServeProcess> = Vec::new();
    let mut result = Ok(());
    for k in 1..=v.replicas {
        let config = ServeConfig {
            listen: free_loopback_addr()?,
            replica: format!("bench-{k}"),
            database_url: database_url.to_owned(),
            github_api_url: sims.sim.github.url(),
            github_graphql_url: sims.sim.github.graphql_url(),
            github_org: ORG.to_owned(),
            github_token: sims.sim.token.clone(),
            api_token_sha256: shipyard_web::token_sha256_hex(&token),
            ci_poll_interval: Duration::from_secs(1),
            argocd_poll_interval: Duration::from_secs(30),
            argocd_cache_ttl: Duration::from_secs(10),
            deploy_environment: "prod".into(),
            environments: sims.environments.clone(),
        };
        let mut server = match ServeProcess::spawn(binary, dir, &config, &token) {
            Ok(s) => s,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let ready = server.wait_ready(Duration::from_secs(60)).await;
        servers.push(server);
        if let Err(e) = ready {
            result = Err(e);
            break;
        }
    }
    let result = match result {
        Ok(()) => drive(p, v, sims, &servers).await.map_err(|e| {
            let logs: Vec<String> = servers
                .iter()
                .map(|s| format!("log of {}:\n{}", s.name, s.log_tail()))
                .collect();
            e.context(logs.join("\n"))
        }),
        Err(e) => Err(e),
    };
    for s in servers {
        let name = s.name.clone();
        if let Err(e) = s.stop(Duration::from_secs(10)).await {
            eprintln!("warning: stopping {name}: {e:#}");
        }
    }
    result
}

/// Waits until `api` answers the release fully read: every build and every environment.
async fn wait_fully_read(api: &Api, path: &str, repos: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let (_, detail) = api.get(path).await?;
        if fully_read(&detail, repos) {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(120) {
            bail!(
                "the release was not fully tracked at {} within 2 minutes: {}",
                api.base,
                detail["deployment_summary"]
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn drive(
    p: Params,
    variant: Variant,
    sims: &Sims,
    servers: &[ServeProcess],
) -> anyhow::Result<Outcome> {
    let first = &servers.first().context("no server")?.api;
    let (status, created) = first
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
        let sha = sims.sim.github.merge_pr(&name, 1);
        sims.sim
            .github
            .successful_build(&name, "general.yaml", "master", &sha, "1.1.0");
    }
    let (status, body) = first
        .post(&format!("/api/releases/{id}/refresh"), &json!({}))
        .await?;
    ensure!(status == StatusCode::OK, "refreshing: {status} {body}");
    // CI reads every build, then deployment tracking reads every environment; every replica
    // must answer the release fully read.
    let path = format!("/api/releases/{id}");
    for s in servers {
        wait_fully_read(&s.api, &path, p.repos).await?;
    }
    let urls: Vec<String> = servers
        .iter()
        .map(|s| format!("{}{path}", s.api.base))
        .collect();
    let token = first.token();
    let sizes = answer_sizes(&urls[0], token).await?;
    let trivial = trivial_server().await?;
    let idle: Vec<u64> = servers
        .iter()
        .map(|s| status_kib(s.pid, "VmRSS").unwrap_or(0))
        .collect();
    // Warm both, then measure the trivial handler and Shipyard back to back.
    load(
        &urls,
        Some(token),
        None,
        p.clients,
        Duration::from_millis(300),
    )
    .await?;
    let baseline = load(
        std::slice::from_ref(&trivial.0),
        None,
        None,
        p.clients,
        p.duration,
    )
    .await?;
    let samplers: Vec<RssSampler> = servers.iter().map(|s| RssSampler::start(s.pid)).collect();
    let mut asked = Vec::new();
    for (ask, bytes) in ASKS.into_iter().zip(sizes) {
        let cpu_before: Vec<f64> = servers
            .iter()
            .map(|s| cpu_seconds(Some(s.pid)).unwrap_or(0.0))
            .collect();
        let bench_before = cpu_seconds(None).unwrap_or(0.0);
        let reads_before = reads(servers).await?;
        let started = Instant::now();
        let shipyard = load(
            &urls,
            Some(token),
            ask.accept_encoding(),
            p.clients,
            p.duration,
        )
        .await?;
        let wall = started.elapsed().as_secs_f64();
        let bench = cpu_seconds(None).unwrap_or(0.0) - bench_before;
        let reads = reads(servers).await? - reads_before;
        let cpu_servers: Vec<f64> = servers
            .iter()
            .zip(&cpu_before)
            .map(|(s, before)| cpu_seconds(Some(s.pid)).unwrap_or(0.0) - before)
            .collect();
        asked.push(Asked {
            ask,
            load: shipyard,
            bytes,
            cpu: Cpu {
                servers: cpu_servers,
                bench,
                wall,
            },
            reads,
        });
    }
    let peaks: Vec<u64> = samplers.into_iter().map(RssSampler::finish).collect();
    let _ = trivial.1.send(());
    let mut memory = Vec::new();
    for ((s, idle), peak) in servers.iter().zip(idle).zip(peaks) {
        let hwm = status_kib(s.pid, "VmHWM").context("reading VmHWM from /proc")?;
        ensure!(peak > 0, "no VmRSS sample of {} from /proc", s.name);
        memory.push(Memory {
            replica: s.name.clone(),
            idle,
            peak,
            hwm,
        });
    }
    Ok(Outcome {
        variant,
        asked,
        trivial: baseline,
        memory,
    })
}

/// The body sizes of one answer asked each way (in [`ASKS`] order), after checking that the
/// browser's answer is gzip and inflates to the same release.
async fn answer_sizes(url: &str, token: &str) -> anyhow::Result<Vec<usize>> {
    use std::io::Read as _;
    let http = reqwest::Client::new();
    let mut sizes = Vec::new();
    let mut releases = Vec::new();
    for ask in ASKS {
        let mut req = http.get(url).bearer_auth(token);
        if let Some(accept) = ask.accept_encoding() {
            req = req.header(reqwest::header::ACCEPT_ENCODING, accept);
        }
        let resp = req.send().await?;
        ensure!(
            resp.status() == StatusCode::OK,
            "answered {}",
            resp.status()
        );
        let encoding = resp
            .headers()
            .get(reqwest::header::CONTENT_ENCODING)
            .map(|v| v.to_str().unwrap_or("?").to_owned());
        let body = resp.bytes().await?;
        sizes.push(body.len());
        let json = match (ask, encoding.as_deref()) {
            (Ask::AsItIs, None) => body.to_vec(),
            (Ask::AsABrowser, Some("gzip")) => {
                let mut inflated = Vec::new();
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut inflated)
                    .context("inflating the gzip answer")?;
                inflated
            }
            (ask, other) => bail!("{ask:?} was answered with Content-Encoding {other:?}"),
        };
        let detail: Value = serde_json::from_slice(&json).context("the answer's JSON")?;
        releases.push((
            detail["release"]["id"].clone(),
            detail["repos"].as_array().map(Vec::len),
        ));
    }
    ensure!(
        releases.windows(2).all(|w| w[0] == w[1]),
        "the answers differ: {releases:?}"
    );
    Ok(sizes)
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

/// `clients` loops each sending `GET` to one of `urls` (client `i` to `urls[i % len]`) again
/// as soon as the answer is read, for `duration`; with `Accept-Encoding: accept` when given,
/// in which case every answer must be compressed (its body is read, not inflated: that is the
/// client's work, not the server's).
///
/// Each client is one keep-alive HTTP/1.1 connection driven by hyper directly, with its request
/// headers made once, and reads each body frame by frame without collecting it: the load
/// generator shares the cores with the server, so it should cost as little per answer as
/// `wrk` does.
async fn load(
    urls: &[String],
    token: Option<&str>,
    accept: Option<&'static str>,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Load> {
    ensure!(!urls.is_empty(), "no address to load");
    let mut targets = Vec::new();
    for url in urls {
        targets.push(Arc::new(Target::new(url, token, accept)?));
    }
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for i in 0..clients {
        let target = targets[i % targets.len()].clone();
        tasks.push(tokio::spawn(async move { target.drive(deadline).await }));
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

/// Where one load client sends its requests, and their headers.
struct Target {
    addr: String,
    uri: http::Uri,
    headers: http::HeaderMap,
    encoded: bool,
}

impl Target {
    fn new(url: &str, token: Option<&str>, accept: Option<&'static str>) -> anyhow::Result<Target> {
        use http::header::{ACCEPT_ENCODING, AUTHORIZATION, HOST, HeaderValue};
        let full: http::Uri = url.parse().with_context(|| format!("the URL {url}"))?;
        let authority = full.authority().context("a URL with a host")?.clone();
        let uri = full
            .path_and_query()
            .map_or("/", http::uri::PathAndQuery::as_str)
            .parse()?;
        let mut headers = http::HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_str(authority.as_str())?);
        if let Some(t) = token {
            headers.insert(
                AUTHORIZATION,
                HeaderValue::from_str(&format!("Bearer {t}"))?,
            );
        }
        if let Some(a) = accept {
            headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(a));
        }
        Ok(Target {
            addr: authority.to_string(),
            uri,
            headers,
            encoded: accept.is_some(),
        })
    }

    /// Sends requests one after the other on one connection until `deadline`; the latency of
    /// each, in milliseconds.
    async fn drive(&self, deadline: Instant) -> anyhow::Result<Vec<f64>> {
        use http_body_util::BodyExt as _;
        let stream = tokio::net::TcpStream::connect(&self.addr).await?;
        stream.set_nodelay(true)?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
        let connection = tokio::spawn(connection);
        let mut latencies = Vec::new();
        while Instant::now() < deadline {
            let sent = Instant::now();
            sender.ready().await?;
            let mut req = http::Request::new(http_body_util::Empty::<bytes::Bytes>::new());
            *req.uri_mut() = self.uri.clone();
            *req.headers_mut() = self.headers.clone();
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            let encoded = resp.headers().contains_key(http::header::CONTENT_ENCODING);
            let mut body = resp.into_body();
            while let Some(frame) = body.frame().await {
                frame?;
            }
            ensure!(status == http::StatusCode::OK, "answered {status}");
            ensure!(
                encoded == self.encoded,
                "asked for an encoded answer: {}, answered encoded: {encoded}",
                self.encoded
            );
            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        }
        drop(sender);
        let _ = connection.await;
        Ok(latencies)
    }
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

    #[test]
    fn variants_are_labelled() {
        let labels: Vec<String> = VARIANTS.iter().map(|v| v.label()).collect();
        assert_eq!(
            labels,
            [
                "SQLite × 1 replica",
                "PostgreSQL × 1 replica",
                "PostgreSQL × 2 replicas"
            ]
        );
    }

    #[test]
    fn memory_over_the_bar_misses_whether_peak_or_high_water_mark() {
        let load = Load {
            requests: 10,
            elapsed: Duration::from_secs(1),
            latencies: vec![1.0; 10],
        };
        let memory = |replica: &str, peak, hwm| Memory {
            replica: replica.into(),
            idle: 20 * 1024,
            peak,
            hwm,
        };
        let asked = |ask, database| Asked {
            ask,
            load: load.clone(),
            bytes: 107 * 1024,
            cpu: Cpu {
                servers: vec![1.0, 2.0],
                bench: 3.0,
                wall: 1.0,
            },
            reads: Reads {
                kept: 90.0,
                database,
            },
        };
        let outcome = Outcome {
            variant: VARIANTS[2],
            asked: vec![asked(Ask::AsItIs, 10.0), asked(Ask::AsABrowser, 20.0)],
            trivial: load.clone(),
            memory: vec![
                memory("bench-1", 40 * 1024, 41 * 1024),
                memory("bench-2", 40 * 1024, 70 * 1024),
            ],
        };
        let rows = variant_rows(Params::for_size(Size::Full), &outcome);
        let p5: Vec<&Row> = rows.iter().filter(|r| r.id == "P5").collect();
        assert_eq!(p5.len(), 2);
        assert_eq!(p5[0].verdict, Verdict::Meets);
        assert_eq!(p5[1].verdict, Verdict::Misses);
        assert!(
            p5[1].scenario.contains("replica bench-2"),
            "{}",
            p5[1].scenario
        );
        assert_eq!(p5[0].measured, "40.0 MiB (41.0 MiB)");
        let cpu = rows
            .iter()
            .find(|r| r.scenario.ends_with("during the load"))
            .unwrap();
        assert_eq!(cpu.measured, "servers 1.0 + 2.0 s, bench 3.0 s");
        assert_eq!(cpu.verdict, Verdict::Context);
        let db: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r.scenario.contains("from the database"))
            .map(|r| (r.measured.as_str(), r.ratio.as_str()))
            .collect();
        assert_eq!(db, [("10", "0.100×"), ("20", "0.182×")]);
        let p99: Vec<&Row> = rows.iter().filter(|r| r.scenario.contains("p99")).collect();
        assert!(p99[0].scenario.contains("as it is"), "{}", p99[0].scenario);
        assert!(
            p99[1].scenario.contains("as a browser"),
            "{}",
            p99[1].scenario
        );
    }

    #[test]
    fn release_reads_are_summed_from_the_exposition() {
        let text = "# TYPE shipyard_release_reads_total counter\n\
                    shipyard_release_reads_total{from=\"kept\"} 120\n\
                    shipyard_release_reads_total{from=\"database\"} 7\n\
                    shipyard_http_requests_total{route=\"/x\"} 3\n";
        let r = parse_reads(text);
        assert_eq!((r.kept, r.database), (120.0, 7.0));
        assert_eq!(parse_reads(""), Reads::default());
    }

    /// Builds the `shipyard` binary the scenario runs (a no-op when it is up to date).
    fn build_shipyard() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "-p", "shipyard", "--bin", "shipyard"])
            .current_dir(env!("CARGO_MANIFEST_DIR"));
        if !cfg!(debug_assertions) {
            cmd.arg("--release");
        }
        let status = cmd.status().unwrap();
        assert!(status.success(), "building the shipyard binary: {status}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn smoke_run_reads_a_fully_tracked_release_in_every_variant() {
        shipyard::install_crypto_provider();
        build_shipyard();
        let rows = run(Size::Smoke).await.unwrap();
        // Per variant and way of asking: p99, throughput, CPU, reads; one memory row per
        // process (1 + 1 + 2).
        assert_eq!(rows.iter().filter(|r| r.id == "P2").count(), 24);
        assert_eq!(rows.iter().filter(|r| r.id == "P5").count(), 4);
        assert!(
            rows.iter()
                .any(|r| r.scenario.contains("PostgreSQL × 2 replicas"))
        );
    }
}
