//! `shipyard serve` as a separate process, the way it runs in production: the real binary,
//! found next to the bench's own executable, started with a YAML configuration file written
//! for it, its log in a file. Also what the bench reads about such a process from `/proc`
//! (resident memory and CPU time), and throw-away PostgreSQL databases for it.

use crate::harness::{Api, INFRA_PATHS};
use anyhow::{Context, bail};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The admin database the PostgreSQL variants create their databases from, when
/// `SHIPYARD_TEST_PG_URL` (the variable the store's tests read too) is not set.
pub const DEFAULT_PG_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Clock ticks per second in `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux ABI).
const TICKS_PER_SECOND: f64 = 100.0;

/// How to build the `shipyard` binary the bench runs, for this build profile.
fn build_command() -> &'static str {
    if cfg!(debug_assertions) {
        "cargo build -p shipyard"
    } else {
        "cargo build --release -p shipyard -p shipyard-bench (scripts/bench does this)"
    }
}

/// The `shipyard` binary next to this executable (or one directory up, for a test binary in
/// `target/<profile>/deps`).
pub fn shipyard_binary() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("finding the bench's own executable")?;
    let dir = exe
        .parent()
        .context("the bench's executable has no directory")?;
    let mut candidates = vec![dir.join("shipyard")];
    if dir.file_name().is_some_and(|n| n == "deps")
        && let Some(up) = dir.parent()
    {
        candidates.push(up.join("shipyard"));
    }
    if let Some(found) = candidates.iter().find(|p| p.is_file()) {
        return Ok(found.clone());
    }
    bail!(
        "the `shipyard` binary is missing: looked for {}; build it with `{}`",
        candidates
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        build_command()
    )
}

/// A free loopback address for a server to listen on (free when asked; a race with another
/// process binding it in between is possible but unlikely).
pub fn free_loopback_addr() -> anyhow::Result<std::net::SocketAddr> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
    Ok(listener.local_addr()?)
}

/// One Argo CD environment of the configuration.
#[derive(Debug, Clone)]
pub struct ArgoEnv {
    /// Its name, e.g. `qa`.
    pub name: String,
    /// Its (simulated) Argo CD.
    pub url: String,
    /// The API token it accepts.
    pub token: String,
    /// Application name = repository name + this.
    pub app_suffix: String,
    /// The Argo CD project its applications belong to.
    pub project: String,
}

/// What the configuration file of one `shipyard serve` process says.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where it listens.
    pub listen: std::net::SocketAddr,
    /// Its name among the replicas.
    pub replica: String,
    /// `database.url`.
    pub database_url: String,
    /// The (simulated) GitHub REST API.
    pub github_api_url: String,
    /// Its GraphQL endpoint.
    pub github_graphql_url: String,
    /// The organisation.
    pub github_org: String,
    /// The token GitHub accepts.
    pub github_token: String,
    /// `token_sha256` of the bench user's API token.
    pub api_token_sha256: String,
    /// `ci.poll_interval`.
    pub ci_poll_interval: Duration,
    /// `argocd.poll_interval`.
    pub argocd_poll_interval: Duration,
    /// `argocd.cache_ttl`.
    pub argocd_cache_ttl: Duration,
    /// `argocd.deploy_environment`.
    pub deploy_environment: String,
    /// `argocd.environments`, in order.
    pub environments: Vec<ArgoEnv>,
}

/// A YAML double-quoted string.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A duration as the configuration writes it (`250ms`, `30s`).
fn duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

impl ServeConfig {
    /// The configuration file: the keys `shipyard check-config --example` lists, quiet logs.
    pub fn yaml(&self) -> String {
        let mut y = String::new();
        let _ = writeln!(y, "server:");
        let _ = writeln!(y, "  listen: {}", quoted(&self.listen.to_string()));
        let _ = writeln!(
            y,
            "  base_url: {}",
            quoted(&format!("http://{}", self.listen))
        );
        let _ = writeln!(y, "  replica: {}", quoted(&self.replica));
        let _ = writeln!(y, "  shutdown_timeout: \"5s\"");
        let _ = writeln!(y, "database:");
        let _ = writeln!(y, "  url: {}", quoted(&self.database_url));
        let _ = writeln!(y, "github:");
        let _ = writeln!(y, "  api_url: {}", quoted(&self.github_api_url));
        let _ = writeln!(y, "  graphql_url: {}", quoted(&self.github_graphql_url));
        let _ = writeln!(y, "  org: {}", quoted(&self.github_org));
        let _ = writeln!(y, "  token: {}", quoted(&self.github_token));
        let _ = writeln!(y, "  infra_paths:");
        for p in INFRA_PATHS {
            let _ = writeln!(y, "    - {}", quoted(p));
        }
        let _ = writeln!(y, "  concurrency: 8");
        let _ = writeln!(y, "  pr_comments: false");
        let _ = writeln!(y, "auth:");
        let _ = writeln!(y, "  api_tokens:");
        let _ = writeln!(y, "    - name: \"bench\"");
        let _ = writeln!(y, "      token_sha256: {}", quoted(&self.api_token_sha256));
        let _ = writeln!(y, "      roles: [\"dev_approver\"]");
        let _ = writeln!(y, "ci:");
        let _ = writeln!(
            y,
            "  poll_interval: {}",
            quoted(&duration(self.ci_poll_interval))
        );
        let _ = writeln!(y, "argocd:");
        let _ = writeln!(
            y,
            "  poll_interval: {}",
            quoted(&duration(self.argocd_poll_interval))
        );
        let _ = writeln!(
            y,
            "  cache_ttl: {}",
            quoted(&duration(self.argocd_cache_ttl))
        );
        let _ = writeln!(
            y,
            "  deploy_environment: {}",
            quoted(&self.deploy_environment)
        );
        let _ = writeln!(y, "  version_source: \"auto\"");
        let _ = writeln!(y, "  environments:");
        for e in &self.environments {
            let _ = writeln!(y, "    {}:", e.name);
            let _ = writeln!(y, "      url: {}", quoted(&e.url));
            let _ = writeln!(y, "      token: {}", quoted(&e.token));
            let _ = writeln!(y, "      app_suffix: {}", quoted(&e.app_suffix));
            let _ = writeln!(y, "      project: {}", quoted(&e.project));
        }
        let _ = writeln!(y, "log:");
        let _ = writeln!(y, "  level: \"warn\"");
        y
    }
}

/// A running `shipyard serve` process; killed when dropped if not stopped before.
pub struct ServeProcess {
    /// Its replica name.
    pub name: String,
    /// Its API as the bench user.
    pub api: Api,
    /// Its process id.
    pub pid: u32,
    child: tokio::process::Child,
    log: PathBuf,
}

impl ServeProcess {
    /// Writes `config` to `<dir>/<replica>.yaml` and starts `binary serve` with it, its output
    /// going to `<dir>/<replica>.log`; `token` is the bench user's API token.
    pub fn spawn(
        binary: &Path,
        dir: &Path,
        config: &ServeConfig,
        token: &str,
    ) -> anyhow::Result<ServeProcess> {
        let file = dir.join(format!("{}.yaml", config.replica));
        std::fs::write(&file, config.yaml())
            .with_context(|| format!("writing {}", file.display()))?;
        let log = dir.join(format!("{}.log", config.replica));
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = tokio::process::Command::new(binary)
            .arg("serve")
            .arg("--config")
            .arg(&file)
            .current_dir(dir)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {} serve", binary.display()))?;
        let pid = child.id().context("the started server has no process id")?;
        Ok(ServeProcess {
            name: config.replica.clone(),
            api: Api::new(format!("http://{}", config.listen), token.to_owned()),
            pid,
            child,
            log,
        })
    }

    /// Waits until `/readyz` answers `200`; fails, with the end of its log, if the process
    /// ends first or `within` passes.
    pub async fn wait_ready(&mut self, within: Duration) -> anyhow::Result<()> {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "`shipyard serve` ({}) ended while starting ({status}); its log ends:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            if self.api.is_ready().await {
                return Ok(());
            }
            if started.elapsed() > within {
                bail!(
                    "`shipyard serve` ({}) was not ready within {} s; its log ends:\n{}",
                    self.name,
                    within.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of its log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        if tail.is_empty() {
            "(nothing)".to_owned()
        } else {
            tail
        }
    }

    /// Asks it to stop (`SIGTERM`, as an orchestrator would) and waits for it; kills it if it
    /// is still running after `grace`.
    pub async fn stop(mut self, grace: Duration) -> anyhow::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        let signalled = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid.to_string())
            .status()
            .await
            .is_ok_and(|s| s.success());
        if signalled && let Ok(waited) = tokio::time::timeout(grace, self.child.wait()).await {
            waited?;
            return Ok(());
        }
        self.child
            .kill()
            .await
            .context("killing `shipyard serve`")?;
        Ok(())
    }
}

/// A `kB` field of `/proc/<pid>/status` (e.g. `VmRSS`, `VmHWM`), in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kib(&text, field)
}

fn parse_status_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// CPU time (user + system) a process has used, from `/proc/<pid>/stat`; `None` for `self`
/// means this process.
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    parse_stat_cpu(&std::fs::read_to_string(path).ok()?)
}

fn parse_stat_cpu(text: &str) -> Option<f64> {
    // The command name (field 2) is in parentheses and may hold spaces; fields after it start
    // with the state (field 3); utime and stime are fields 14 and 15.
    let after = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / TICKS_PER_SECOND)
}

/// Samples a process's `VmRSS` every 20 ms on its own thread, keeping the peak.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak = Arc::new(AtomicU64::new(0));
        let thread = {
            let (stop, peak) = (stop.clone(), peak.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = status_kib(pid, "VmRSS") {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            })
        };
        RssSampler {
            stop,
            peak,
            thread: Some(thread),
        }
    }

    /// Stops sampling; the peak `VmRSS` seen, in KiB.
    pub fn finish(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// The admin URL for creating PostgreSQL databases.
pub fn pg_admin_url() -> String {
    std::env::var("SHIPYARD_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_PG_ADMIN_URL.to_owned())
}

/// A database made for one run, dropped by [`PgDatabase::drop_database`].
pub struct PgDatabase {
    admin_url: String,
    name: String,
    /// Its URL, for `database.url`.
    pub url: String,
}

/// Runs one SQL statement on the admin database with `psql`.
fn psql(admin_url: &str, sql: &str) -> anyhow::Result<()> {
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            admin_url,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .context(
            "running `psql` (the PostgreSQL variants need the PostgreSQL client and a server \
             at SHIPYARD_TEST_PG_URL, default 127.0.0.1:5432)",
        )?;
    if !out.status.success() {
        bail!(
            "`psql` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// `url` with its path (the database) replaced by `/database`, keeping any query string.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let start = base.find("://").map_or(0, |i| i + 3);
    let end = base[start..].find('/').map_or(base.len(), |i| start + i);
    let mut out = format!("{}/{database}", &base[..end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

impl PgDatabase {
    /// Creates an empty database `shipyard_bench_<pid>_<n>` next to the admin database.
    pub fn create() -> anyhow::Result<PgDatabase> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let admin_url = pg_admin_url();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "shipyard_bench_{}_{}_{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        // The name is ours (letters, digits and underscores), so it can be written into SQL.
        psql(&admin_url, &format!("CREATE DATABASE \"{name}\""))
            .context("creating a PostgreSQL database")?;
        let url = with_database(&admin_url, &name);
        Ok(PgDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// Drops it (its servers must be stopped); best effort.
    pub fn drop_database(&self) {
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        if let Err(e) = psql(&self.admin_url, &sql) {
            eprintln!("warning: dropping database {}: {e:#}", self.name);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn config() -> ServeConfig {
        ServeConfig {
            listen: "127.0.0.1:40123".parse().unwrap(),
            replica: "bench-1".into(),
            database_url: "sqlite:///tmp/x y/shipyard.db".into(),
            github_api_url: "http://127.0.0.1:40001".into(),
            github_graphql_url: "http://127.0.0.1:40001/graphql".into(),
            github_org: "acme".into(),
            github_token: "ghs_abc".into(),
            api_token_sha256: shipyard_web::token_sha256_hex("sy_token"),
            ci_poll_interval: Duration::from_secs(1),
            argocd_poll_interval: Duration::from_secs(30),
            argocd_cache_ttl: Duration::from_millis(10_500),
            deploy_environment: "prod".into(),
            environments: ["qa", "uat", "prod"]
                .iter()
                .enumerate()
                .map(|(i, e)| ArgoEnv {
                    name: (*e).into(),
                    url: format!("http://127.0.0.1:4100{i}"),
                    token: format!("argo-{e}"),
                    app_suffix: format!("-{e}"),
                    project: "platform".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn the_configuration_file_loads_as_written() {
        let c = config();
        let loaded = shipyard_config::Config::from_yaml_str(&c.yaml(), std::iter::empty()).unwrap();
        loaded.validate_for_serve().unwrap();
        assert_eq!(loaded.server.listen, c.listen);
        assert_eq!(loaded.server.base_url, "http://127.0.0.1:40123");
        assert_eq!(loaded.server.replica.as_deref(), Some("bench-1"));
        assert_eq!(loaded.database.url, c.database_url);
        let gh = loaded.github.as_ref().unwrap();
        assert_eq!(gh.api_url, c.github_api_url);
        assert_eq!(
            gh.graphql_url.as_deref(),
            Some(c.github_graphql_url.as_str())
        );
        assert_eq!(gh.token.as_ref().unwrap().expose(), "ghs_abc");
        assert_eq!(gh.infra_paths.len(), INFRA_PATHS.len());
        assert_eq!(loaded.auth.api_tokens.len(), 1);
        assert_eq!(loaded.auth.api_tokens[0].token_sha256, c.api_token_sha256);
        assert_eq!(loaded.ci.poll_interval, Duration::from_secs(1));
        let argo = loaded.argocd.as_ref().unwrap();
        assert_eq!(argo.cache_ttl, Duration::from_millis(10_500));
        let names: Vec<&str> = argo.environments.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["qa", "uat", "prod"]);
        let (_, uat) = &argo.environments[1];
        assert_eq!(uat.url, "http://127.0.0.1:41001");
        assert_eq!(uat.app_suffix, "-uat");
        assert_eq!(uat.project.as_deref(), Some("platform"));
        assert_eq!(loaded.log.level.as_deref(), Some("warn"));
    }

    #[test]
    fn proc_fields_are_read() {
        let status = "Name:\tshipyard\nVmHWM:\t   51200 kB\nVmRSS:\t   40960 kB\n";
        assert_eq!(parse_status_kib(status, "VmRSS"), Some(40960));
        assert_eq!(parse_status_kib(status, "VmHWM"), Some(51200));
        assert_eq!(parse_status_kib(status, "VmSwap"), None);
        let stat = "4242 (tokio rt) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(parse_stat_cpu(stat), Some(3.0));
        assert!(cpu_seconds(None).is_some());
        assert!(status_kib(std::process::id(), "VmRSS").is_some_and(|k| k > 0));
    }

    #[test]
    fn the_database_name_replaces_the_admin_one() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/postgres", "b"),
            "postgres://postgres@127.0.0.1:5432/b"
        );
        assert_eq!(
            with_database("postgres://u@h/postgres?sslmode=disable", "b"),
            "postgres://u@h/b?sslmode=disable"
        );
        assert_eq!(with_database("postgres://u@h", "b"), "postgres://u@h/b");
    }
}
