//! `shipyard demo`: a simulated GitHub org and a simulated Mattermost on loopback, and the real
//! server against them.
//!
//! Nothing here takes a shortcut: the server reaches the simulated GitHub over HTTP with the
//! same client, engine and store as in production. Only the upstream is simulated.

use crate::app;
use anyhow::Context;
use rand::Rng as _;
use shipyard_config::{
    ApiTokenConfig, ArgocdConfig, ArgocdEnvironment, AuthMode, Config, DevUser, GithubConfig,
    MattermostConfig, RepoFilter, Secret, VersionSource,
};
use shipyard_core::Role;
use shipyard_sim::argocd::{AppKind, ArgoCdOptions as SimArgoOptions, ArgoCdSim, SimApp};
use shipyard_sim::github::{SimGithub, seed_demo};
use shipyard_sim::mattermost::SimMattermost;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Options of `shipyard demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the server listens (a loopback address). Port 0 picks a free one.
    pub listen: SocketAddr,
    /// Keep the SQLite database here instead of a temporary directory.
    pub data: Option<PathBuf>,
}

/// A random token of 32 hex characters.
pub fn random_token(prefix: &str) -> String {
    let bytes: [u8; 16] = rand::rng().random();
    format!("{prefix}{}", hex::encode(bytes))
}

/// The people of the demo and their roles.
pub const DEMO_USERS: [(&str, &[Role]); 3] = [
    ("dev-lead", &[Role::DevApprover]),
    ("qa-lead", &[Role::QaApprover]),
    ("release-admin", &[Role::Admin]),
];

/// A demo configuration against a running simulated GitHub; returns it with each user's token.
pub fn demo_config(
    sim: &SimGithub,
    github_token: &str,
    listen: SocketAddr,
    database_url: String,
) -> (Config, Vec<(String, String)>) {
    let mut config = Config::default();
    config.server.listen = listen;
    config.server.base_url = format!("http://{listen}");
    config.database.url = database_url;
    config.github = Some(GithubConfig {
        api_url: sim.url(),
        graphql_url: Some(sim.graphql_url()),
        web_url: None,
        org: sim.org(),
        token: Some(Secret::new(github_token)),
        webhook_secret: Some(Secret::new(random_token("whsec_"))),
        repos: RepoFilter::default(),
        infra_paths: [
            "helm/**",
            "charts/**",
            "terraform/**",
            "**/Dockerfile",
            ".github/workflows/**",
            "k8s/**",
        ]
        .map(String::from)
        .to_vec(),
        concurrency: 8,
        pr_comments: false,
    });
    config.auth.mode = AuthMode::Dev;
    let mut tokens = Vec::new();
    for (name, roles) in DEMO_USERS {
        let token = random_token("sy_");
        config.auth.api_tokens.push(ApiTokenConfig {
            name: name.to_owned(),
            token_sha256: shipyard_web::token_sha256_hex(&token),
            roles: roles.to_vec(),
        });
        config.auth.dev_users.push(DevUser {
            name: name.to_owned(),
            roles: roles.to_vec(),
        });
        tokens.push((name.to_owned(), token));
    }
    (config, tokens)
}

/// Runs the demo until Ctrl-C.
pub async fn run(opts: DemoOptions) -> anyhow::Result<()> {
    if !opts.listen.ip().is_loopback() {
        anyhow::bail!(
            "the demo signs people in without passwords, so it only listens on loopback addresses"
        );
    }
    let sim = SimGithub::start("acme")
        .await
        .context("starting the simulated GitHub")?;
    let github_token = random_token("ghs_");
    sim.set_token(Some(github_token.clone()));
    seed_demo(&sim);
    sim.use_real_time();

    let (dir, _temp) = match opts.data {
        Some(d) => {
            std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
            (d, None)
        }
        None => {
            let t = tempfile::tempdir().context("creating a temporary directory")?;
            (t.path().to_path_buf(), Some(t))
        }
    };
    let listener = match tokio::net::TcpListener::bind(opts.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{} is busy ({e}); picking a free port instead", opts.listen);
            tokio::net::TcpListener::bind(SocketAddr::new(opts.listen.ip(), 0)).await?
        }
    };
    let addr = listener.local_addr()?;
    let db_url = format!("sqlite://{}", dir.join("shipyard.db").display());
    let (mut config, tokens) = demo_config(&sim, &github_token, addr, db_url);
    let chat = DemoChat::start().await?;
    config.mattermost = Some(chat.config());
    let argo = DemoArgo::start(&sim.repo_names()).await?;
    config.argocd = Some(argo.config());
    if let Some(secret) = config
        .github
        .as_ref()
        .and_then(|g| g.webhook_secret.as_ref())
    {
        sim.set_webhook(&format!("http://{addr}/webhooks/github"), secret.expose());
    }

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server_config = config.clone();
    let server = tokio::spawn(async move {
        app::serve(&server_config, listener, async {
            let _ = stop_rx.await;
        })
        .await
    });

    let base = format!("http://{addr}");
    wait_ready(&base).await?;
    let (_, dev_token) = &tokens[0];
    let api = crate::client::ApiClient::new(&base, dev_token)?;
    let first = match api.create_in("uat", "master", Some(&chat.channel)).await {
        Ok(release) => declare_demo_dependencies(&api, &release)
            .await
            .map(|()| release),
        Err(e) => Err(e),
    };
    println!();
    println!("  Shipyard demo is running at {base}");
    println!(
        "  Simulated GitHub org `acme` at {} ({} repositories)",
        sim.url(),
        sim.repo_names().len()
    );
    println!("  Database: {}", dir.join("shipyard.db").display());
    println!(
        "  Simulated Mattermost channel ~releases, with the bot @{DEMO_BOT}: {}",
        chat.page
    );
    println!(
        "    type `@{DEMO_BOT} help` there as one of the demo people and watch the bot answer"
    );
    for (env, sim, _) in &argo.envs {
        println!("  Simulated Argo CD for {env} at {}", sim.url());
    }
    let builds = match &first {
        Ok(v) => {
            println!(
                "  A first release uat → master was created: {base}/releases/{}",
                v.pointer("/release/id")
                    .and_then(|x| x.as_str())
                    .unwrap_or("?")
            );
            println!(
                "  Its pull requests for {} merge in a moment, and their builds run in the \
                 simulated GitHub Actions (watch the CI/CD section); the charts then roll out \
                 in the simulated Argo CDs, qa → uat → prod (watch the environment columns).",
                DEMO_BUILDS.map(|b| b.repo).join(", ")
            );
            release_pulls(v)
        }
        Err(e) => {
            println!("  Creating a first release failed: {e}");
            Vec::new()
        }
    };
    println!();
    println!("  Sign in from a browser at {base}/ (development sign-in: pick a user)");
    println!();
    println!("  API tokens (send as `Authorization: Bearer <token>`):");
    for (name, token) in &tokens {
        println!("    {name:<14} {token}");
    }
    println!();
    println!("  Try:");
    println!("    export SHIPYARD_TOKEN={dev_token}");
    println!("    curl -s -H \"Authorization: Bearer $SHIPYARD_TOKEN\" {base}/api/releases");
    println!("    shipyard release list --server {base}");
    println!();
    println!("  Press Ctrl-C to stop.");

    let play = async {
        play_builds(&sim, &builds).await;
        play_rollouts(&argo, &builds).await;
        std::future::pending::<()>().await;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = play => {}
        result = server => {
            result.context("server task")??;
            return Ok(());
        }
    }
    let _ = stop_tx.send(());
    sim.shutdown().await;
    chat.sim.shutdown().await;
    for (_, sim, _) in argo.envs {
        sim.shutdown().await;
    }
    Ok(())
}

/// The demo's environments, in deploy order.
const DEMO_ENVIRONMENTS: [&str; 3] = ["qa", "uat", "prod"];

/// The build whose rollout degrades in uat.
const DEGRADES_IN_UAT: &str = "payments";

/// One simulated Argo CD per environment, each running every repo's app at an older version.
struct DemoArgo {
    /// Environment, the instance and its token.
    envs: Vec<(&'static str, ArgoCdSim, String)>,
}

impl DemoArgo {
    async fn start(repos: &[String]) -> anyhow::Result<DemoArgo> {
        let mut envs = Vec::new();
        for env in DEMO_ENVIRONMENTS {
            let token = shipyard_sim::argocd::random_api_token();
            let sim = ArgoCdSim::start(SimArgoOptions::new(env, &token))
                .await
                .with_context(|| format!("starting the simulated Argo CD for {env}"))?;
            for repo in repos {
                let build = DEMO_BUILDS.iter().find(|b| b.repo == repo);
                let (kind, version) = match build {
                    Some(b) => (
                        match b.repo {
                            "payments" => AppKind::MultiSource,
                            "user-service" => AppKind::GitPath,
                            _ => AppKind::HelmRepo,
                        },
                        previous_version(b.chart_version),
                    ),
                    None => (AppKind::HelmRepo, "1.0.0".to_owned()),
                };
                sim.add_app(
                    SimApp::new(&format!("{repo}-{env}"), "platform", repo, &version).kind(kind),
                );
            }
            envs.push((env, sim, token));
        }
        Ok(DemoArgo { envs })
    }

    fn config(&self) -> ArgocdConfig {
        ArgocdConfig {
            poll_interval: std::time::Duration::from_secs(3),
            cache_ttl: std::time::Duration::from_secs(2),
            deploy_environment: "prod".into(),
            environments: self
                .envs
                .iter()
                .map(|(env, sim, token)| {
                    (
                        (*env).to_owned(),
                        ArgocdEnvironment {
                            url: sim.url(),
                            token: Some(Secret::new(token.clone())),
                            cf_client_id: None,
                            cf_client_secret: None,
                            app_suffix: format!("-{env}"),
                            project: Some("platform".into()),
                            app_namespace: None,
                        },
                    )
                })
                .collect(),
            version_source: VersionSource::Auto,
            overrides: Default::default(),
            webhook_secret: None,
            selector: None,
        }
    }
}

/// `3.0.7` → `3.0.6` (the version that ran before the release).
fn previous_version(version: &str) -> String {
    match version.rsplit_once('.') {
        Some((head, patch)) => match patch.parse::<u32>() {
            Ok(n) if n > 0 => format!("{head}.{}", n - 1),
            _ => format!("{head}.0"),
        },
        None => version.to_owned(),
    }
}

/// Rolls the charts the demo's builds published out, environment by environment over about
/// a minute, as Argo CD would after a sync: qa, then uat (where one of them degrades and stays
/// there), then prod.
async fn play_rollouts(argo: &DemoArgo, builds: &[(DemoBuild, u64)]) {
    let pause = |secs| tokio::time::sleep(std::time::Duration::from_secs(secs));
    let step = std::time::Duration::from_secs(2);
    let published: Vec<DemoBuild> = builds
        .iter()
        .map(|(b, _)| *b)
        .filter(|b| !b.keeps_running)
        .collect();
    pause(5).await;
    for (env, sim, _) in &argo.envs {
        let mut rollouts = Vec::new();
        for b in &published {
            let app = format!("{}-{env}", b.repo);
            if b.repo == DEGRADES_IN_UAT && *env == "prod" {
                continue;
            }
            if b.repo == DEGRADES_IN_UAT && *env == "uat" {
                sim.set_target(&app, b.chart_version);
                pause(2).await;
                sim.start_sync(&app);
                pause(4).await;
                sim.progress(&app, 1);
                pause(4).await;
                sim.degrade(
                    &app,
                    &format!("Deployment \"{}\" exceeded its progress deadline", b.repo),
                );
                continue;
            }
            rollouts.push(sim.roll_out(&app, b.chart_version, step));
        }
        for r in rollouts {
            let _ = r.await;
        }
        pause(4).await;
    }
}

/// The bot's username in the demo.
pub const DEMO_BOT: &str = "pusheen";

/// The demo's simulated Mattermost: team `acme`, channel `releases`, the bot and the demo
/// people as members.
struct DemoChat {
    sim: SimMattermost,
    token: String,
    channel: String,
    page: String,
}

impl DemoChat {
    async fn start() -> anyhow::Result<DemoChat> {
        let sim = SimMattermost::start()
            .await
            .context("starting the simulated Mattermost")?;
        let token = random_token("mmbot_");
        let bot = sim.add_bot(DEMO_BOT, &token);
        let channel = sim.add_channel("acme", "releases");
        sim.add_member(&channel, &bot);
        for (name, _) in DEMO_USERS {
            let person = sim.add_user(name);
            sim.add_member(&channel, &person);
        }
        let page = sim.channel_page_url("acme", "releases");
        Ok(DemoChat {
            sim,
            token,
            channel,
            page,
        })
    }

    fn config(&self) -> MattermostConfig {
        MattermostConfig {
            url: self.sim.url(),
            token: Secret::new(self.token.clone()),
            bot_username: DEMO_BOT.into(),
            channels: vec![self.channel.clone()],
            timing: Default::default(),
        }
    }
}

/// A build the demo plays after merging a repo's release pull request.
#[derive(Clone, Copy)]
struct DemoBuild {
    repo: &'static str,
    chart_version: &'static str,
    /// The first attempt fails and is re-run.
    fails_first: bool,
    /// The build is still running when the demo has played everything else.
    keeps_running: bool,
}

const DEMO_BUILDS: [DemoBuild; 3] = [
    DemoBuild {
        repo: "auth-service",
        chart_version: "3.0.7",
        fails_first: false,
        keeps_running: false,
    },
    DemoBuild {
        repo: "payments",
        chart_version: "1.9.3",
        fails_first: true,
        keeps_running: false,
    },
    DemoBuild {
        repo: "user-service",
        chart_version: "0.14.2",
        fails_first: false,
        keeps_running: true,
    },
];

/// The open release pull request of each of [`DEMO_BUILDS`] in `release`.
fn release_pulls(release: &serde_json::Value) -> Vec<(DemoBuild, u64)> {
    let repos = release
        .get("repos")
        .and_then(|r| r.as_array())
        .cloned()
        .unwrap_or_default();
    DEMO_BUILDS
        .iter()
        .filter_map(|b| {
            let r = repos
                .iter()
                .find(|r| r.get("repo_name").and_then(|n| n.as_str()) == Some(b.repo))?;
            (r.get("pr_state")?.as_str()? == "open").then_some(())?;
            Some((*b, r.get("pr_number")?.as_u64()?))
        })
        .collect()
}

/// Merges the release pull requests of `builds` and plays their GitHub Actions runs over half a
/// minute, as a CI would: queued, in progress, then a Helm job whose log names the chart version
/// (one fails first and is re-run; one keeps running). Shipyard learns every step from the
/// simulated GitHub's webhooks.
async fn play_builds(sim: &SimGithub, builds: &[(DemoBuild, u64)]) {
    use shipyard_sim::github::timestamped_log;
    let pause = |secs| tokio::time::sleep(std::time::Duration::from_secs(secs));
    pause(3).await;
    let mut runs = Vec::new();
    for (b, pr) in builds {
        let sha = sim.merge_pr(b.repo, *pr);
        runs.push((*b, sim.start_run(b.repo, "general.yaml", "master", &sha)));
    }
    pause(3).await;
    for (_, run) in &runs {
        sim.set_run_status(*run, "in_progress");
    }
    for (b, run) in runs.iter().filter(|(b, _)| !b.keeps_running) {
        pause(6).await;
        sim.add_job(
            *run,
            "build",
            timestamped_log(&["cargo build --release", "ok"]),
        );
        if b.fails_first {
            sim.complete_run(*run, "failure");
            pause(6).await;
            sim.rerun(*run);
            pause(2).await;
            sim.set_run_status(*run, "in_progress");
            pause(6).await;
        }
        let log = format!("CHART_VERSION={}", b.chart_version);
        sim.add_job(
            *run,
            "helm-publish",
            timestamped_log(&["helm package charts/app", &log, "helm push done"]),
        );
        sim.complete_run(*run, "success");
    }
}

/// Who deploys before whom in the demo org, declared through the API like a person would.
const DEMO_DEPENDENCIES: [(&str, &[&str]); 4] = [
    ("user-service", &["auth-service"]),
    ("payments", &["auth-service"]),
    ("billing", &["payments"]),
    ("mobile-bff", &["user-service", "payments"]),
];

async fn declare_demo_dependencies(
    api: &crate::client::ApiClient,
    release: &serde_json::Value,
) -> anyhow::Result<()> {
    let id = release
        .pointer("/release/id")
        .and_then(|v| v.as_str())
        .context("release id")?;
    let repos = release
        .get("repos")
        .and_then(|r| r.as_array())
        .context("repos")?;
    let present: Vec<&str> = repos
        .iter()
        .filter_map(|r| r.get("repo_name")?.as_str())
        .collect();
    for (name, deps) in DEMO_DEPENDENCIES {
        let Some(repo_id) = repos
            .iter()
            .find(|r| r.get("repo_name").and_then(|n| n.as_str()) == Some(name))
            .and_then(|r| r.get("id")?.as_i64())
        else {
            continue;
        };
        let deps: Vec<&str> = deps
            .iter()
            .copied()
            .filter(|d| present.contains(d))
            .collect();
        api.patch_repo(id, repo_id, serde_json::json!({ "depends_on": deps }))
            .await?;
    }
    api.patch_release(id, serde_json::json!({ "notes": DEMO_NOTES }))
        .await?;
    Ok(())
}

/// The first release's notes, in Markdown as people write them.
const DEMO_NOTES: &str = "Weekly release of the **uat** train.\n\n\
- Payments moves to the new ledger API (`payments` before `billing`).\n\
- Check the sign-in flow on the mobile app after `auth-service` lands.\n";

async fn wait_ready(base: &str) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("the server did not become ready")
}
