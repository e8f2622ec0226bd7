//! From configuration to a running server.

use anyhow::Context;
use shipyard_chat::{ChatBot, ChatSettings};
use shipyard_config::AuthMode;
use shipyard_config::{Config, ConfigErrors, ConfigProblem};
use shipyard_core::change::{InfraMatcher, RepoFilter};
use shipyard_engine::ci::{CiOptions, CiTracker};
use shipyard_engine::ci_rules::CiSettings;
use shipyard_engine::deploy::{DeployOptions, DeployTracker};
use shipyard_engine::{Clock, Engine, EngineSettings, GithubSetup, SystemClock};
use shipyard_github::{AppKey, GitHub, GitHubOptions, GithubApp, Installation};
use shipyard_mattermost::MattermostOptions;
use shipyard_store::{ApiTokenRecord, Store, StoreOptions};
use shipyard_web::auth::oidc::Oidc;
use shipyard_web::auth::{SessionSettings, Sessions};
use shipyard_web::webhooks::Webhooks;
use shipyard_web::{AppState, Authenticator, TokenEntry};
use std::future::Future;
use std::sync::{Arc, OnceLock};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The GitHub App of `github.app` with its key parsed; a key that does not parse is a problem
/// at the key that gave it (`github.app.private_key` or `github.app.private_key_file`).
pub fn github_app(config: &Config) -> Result<Option<GithubApp>, ConfigErrors> {
    let (Some(gh), Some(app)) = (&config.github, &config.github_app) else {
        return Ok(None);
    };
    let key = AppKey::from_pem(app.private_key.expose()).map_err(|e| {
        ConfigErrors(vec![ConfigProblem {
            path: app.private_key_path().to_owned(),
            message: e.to_string(),
            suggestion: None,
        }])
    })?;
    let installation = match app.installation_id {
        Some(id) => Installation::Id(id),
        None => Installation::OfOrg(gh.org.clone()),
    };
    Ok(Some(GithubApp::new(app.app_id, key, installation)))
}

/// How GitHub calls authenticate, in words, for `check-config`: `token`, or `app` with the App
/// id, the installation and the key's form. Fails like [`github_app`].
pub fn github_credentials(config: &Config) -> Result<Option<String>, ConfigErrors> {
    let Some(gh) = &config.github else {
        return Ok(None);
    };
    let Some(app) = github_app(config)? else {
        return Ok(Some(if gh.token.is_some() {
            "token".to_owned()
        } else {
            "none".to_owned()
        }));
    };
    let installation = match &app.installation {
        Installation::Id(id) => format!("installation id {id}"),
        Installation::OfOrg(org) => {
            format!("the installation on {org}, looked up when first needed")
        }
    };
    Ok(Some(format!(
        "app (app id {}, {installation}; private key parses, {} PEM)",
        app.app_id,
        app.key().format().as_str()
    )))
}

/// Builds the GitHub side of the engine from `github`; rate-limit pauses, JWTs and token expiry
/// run on `clock`. Requests carry `github.token`, or the installation tokens of `github.app`.
pub fn github_setup(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<Option<GithubSetup>> {
    let Some(gh) = &config.github else {
        return Ok(None);
    };
    let mut options = GitHubOptions::new(
        gh.api_url.clone(),
        gh.graphql_url(),
        gh.token.as_ref().map(|t| t.expose().to_owned()),
    );
    options.app = github_app(config).map_err(|e| anyhow::anyhow!("{e}"))?;
    options.concurrency = gh.concurrency;
    options.clock = clock;
    let client = GitHub::new(options).context("starting the GitHub client")?;
    Ok(Some(GithubSetup {
        client,
        org: gh.org.clone(),
        filter: RepoFilter::new(&gh.repos.include, &gh.repos.exclude).context("github.repos")?,
        infra: InfraMatcher::new(&gh.infra_paths).context("github.infra_paths")?,
        skip_archived: gh.repos.skip_archived,
        use_graphql: true,
        web_url: gh.web_url(),
    }))
}

/// This process's name among the replicas: `server.replica`, else the host name and process id.
pub fn replica_name(config: &Config) -> String {
    if let Some(name) = &config.server.replica {
        return name.clone();
    }
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "shipyard".to_owned());
    let host: String = host.chars().take(80).collect();
    format!("{host}:{}", std::process::id())
}

/// Opens the database and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let options = StoreOptions {
        max_connections: config.database.max_connections,
        application_name: Some(format!(
            "{}{}",
            shipyard_engine::lead::APPLICATION_NAME_PREFIX,
            replica_name(config)
        )),
        ..StoreOptions::default()
    };
    let store = Store::connect_with(&config.database.url, &options)
        .await
        .context("opening the database")?;
    store
        .migrate()
        .await
        .context("applying database migrations")?;
    Ok(store)
}

/// Everything `serve` needs, assembled from configuration.
pub async fn build_state(config: &Config, clock: Arc<dyn Clock>) -> anyhow::Result<AppState> {
    let store = open_store(config).await?;
    let mut tokens = Vec::new();
    let mut records = Vec::new();
    for t in &config.auth.api_tokens {
        let entry =
            TokenEntry::from_hex(&t.name, &t.token_sha256, t.roles.clone()).with_context(|| {
                format!(
                    "auth.api_tokens: token `{}` has a malformed token_sha256",
                    t.name
                )
            })?;
        tokens.push(entry);
        records.push(ApiTokenRecord {
            name: t.name.clone(),
            token_sha256: t.token_sha256.clone(),
            roles: t.roles.clone(),
            created_at: clock.now(),
            last_used_at: None,
        });
    }
    store
        .sync_api_tokens(&records)
        .await
        .context("recording API tokens")?;
    let engine = Engine::new(
        store,
        github_setup(config, clock.clone())?,
        EngineSettings {
            allow_same_user: config.approvals.allow_same_user,
            base_url: config.server.base_url.clone(),
            ci: Some(ci_options(config)?),
            deploy: deploy_options(config)?,
            replica: replica_name(config),
        },
        clock,
    );
    let sessions = Sessions::new(
        engine.clone(),
        SessionSettings::new(&config.server.base_url, config.auth.session_ttl),
    );
    let mut auth = Authenticator::new(tokens).with_sessions(sessions);
    match config.auth.mode {
        AuthMode::Oidc => {
            if let Some(oidc) = &config.auth.oidc {
                let client = Oidc::new(
                    oidc.clone(),
                    config.auth.roles.clone(),
                    config.auth.role_claims.clone(),
                )
                .context("setting up OpenID Connect")?;
                auth = auth.with_oidc(client);
            }
        }
        AuthMode::Dev => auth = auth.with_dev_users(config.auth.dev_users.clone()),
    }
    let webhooks = config
        .github
        .as_ref()
        .and_then(|gh| gh.webhook_secret.clone())
        .map(Webhooks::new);
    let argocd_hints = config
        .argocd
        .as_ref()
        .and_then(|a| a.webhook_secret.clone())
        .map(Webhooks::new);
    Ok(AppState {
        engine,
        auth,
        webhooks,
        argocd_hints,
    })
}

/// Runs the server on `listener` until `shutdown` completes, then stops gracefully: no new
/// connections; requests and event streams get until `server.shutdown_timeout` after the signal
/// to end; trackers hand back the checks they claimed, the chat sender finishes the post in
/// flight and hands back the rest, leads are given up, and the database is closed. Returns
/// `Ok` once all that is done or the time is up, whichever comes first.
pub async fn serve(
    config: &Config,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let state = build_state(config, Arc::new(SystemClock)).await?;
    let engine = state.engine.clone();
    let stop = CancellationToken::new();
    let signalled: Arc<OnceLock<Instant>> = Arc::default();
    {
        let (stop, signalled) = (stop.clone(), signalled.clone());
        tokio::spawn(async move {
            shutdown.await;
            let _ = signalled.set(Instant::now());
            stop.cancel();
        });
    }
    let mut tasks: Vec<(&'static str, tokio::task::JoinHandle<()>)> = Vec::new();
    tasks.push((
        "event relay",
        tokio::spawn(shipyard_engine::events::run_relay(
            engine.clone(),
            stop.clone(),
        )),
    ));
    let every = tick_every(config);
    if let Some(t) = engine.ci() {
        tasks.push((
            "CI tracker",
            tokio::spawn(run_ci_tracker(t, every, stop.clone())),
        ));
    }
    if let Some(t) = engine.deploy() {
        tasks.push((
            "deployment tracker",
            tokio::spawn(run_deploy_tracker(t, stop.clone())),
        ));
    }
    if let Some(bot) = chat_bot(config, &engine)? {
        tasks.push(("chat bot", tokio::spawn(bot.run_as_leader(stop.clone()))));
    }
    if config.github.as_ref().is_some_and(|g| g.pr_comments) && engine.github().is_some() {
        tasks.push((
            "pull-request comments",
            tokio::spawn(shipyard_engine::pr_comments::run_pr_comments(
                engine.clone(),
                shipyard_engine::pr_comments::PrCommentSettings::default(),
                stop.clone(),
            )),
        ));
    }
    let grace = config.server.shutdown_timeout;
    let deadline = || {
        let at = signalled.get().copied().unwrap_or_else(Instant::now);
        at + grace
    };
    let web = shipyard_web::serve(listener, state, stop.clone().cancelled_owned());
    let served = tokio::select! {
        served = web => served.context("serving HTTP"),
        () = async {
            stop.cancelled().await;
            tokio::time::sleep_until(deadline()).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests were still open at the end of the shutdown time; closing them");
            Ok(())
        }
    };
    stop.cancel();
    for (name, task) in tasks {
        match tokio::time::timeout_at(deadline(), task).await {
            Ok(_) => {}
            Err(_) => {
                tracing::warn!(
                    task = name,
                    "still busy at the end of the shutdown time; left to the lease"
                );
            }
        }
    }
    engine.close().await;
    tracing::info!("stopped");
    served
}

/// How the engine tracks deployments, from the `argocd` section.
pub fn deploy_options(config: &Config) -> anyhow::Result<Option<DeployOptions>> {
    let Some(argocd) = &config.argocd else {
        return Ok(None);
    };
    let user_agent = format!("shipyard/{}", env!("CARGO_PKG_VERSION"));
    let options = DeployOptions::from_config(argocd, &user_agent)
        .context("setting up the Argo CD clients")?;
    Ok(Some(options))
}

/// The Mattermost bot, when `mattermost` is configured.
pub fn chat_bot(config: &Config, engine: &Engine) -> anyhow::Result<Option<ChatBot>> {
    let Some(mm) = &config.mattermost else {
        return Ok(None);
    };
    let options = MattermostOptions::new(mm.url.clone(), mm.token.expose().to_owned());
    let mut settings = ChatSettings::new(mm.bot_username.clone());
    settings.channels = mm.channels.clone();
    settings.summary_debounce = mm.timing.summary_interval;
    settings.sender_poll = mm.timing.outbox_poll_interval;
    settings.lead_check = mm.timing.lead_check_interval;
    settings.catch_up_retry = mm.timing.catch_up_retry;
    settings.outbox_lease = mm.timing.outbox_lease;
    settings.base_url = config.server.base_url.clone();
    let bot = ChatBot::new(engine.clone(), options, settings)
        .context("setting up the Mattermost client")?;
    Ok(Some(bot))
}

/// How the engine tracks CI, from the `ci` section (it runs when GitHub is configured).
pub fn ci_options(config: &Config) -> anyhow::Result<CiOptions> {
    let ci = &config.ci;
    let poll = ci.poll_interval.as_secs().max(1) as i64;
    let settings = CiSettings {
        workflow_file: ci.workflow_file.clone(),
        poll_interval: poll,
        // While webhooks arrive, polling is only the safety net.
        webhook_poll_interval: (poll * 10).max(300),
        poll_timeout: ci.poll_timeout.as_secs() as i64,
        no_workflow_after_checks: ci.no_workflow_after_checks,
    };
    let pattern = regex::Regex::new(&ci.chart_version_pattern)
        .context("ci.chart_version_pattern is not a valid regular expression")?;
    Ok(CiOptions {
        settings,
        helm_job_pattern: ci.helm_job_pattern.clone(),
        chart_version_pattern: pattern,
        rate_limit_backoff: ci.rate_limit_backoff.as_secs() as i64,
        claim_lease: ci.claim_lease.as_secs().max(1) as i64,
    })
}

/// How often the tracker looks for due checks: every few seconds at most (each row keeps its
/// own due time, so a round with nothing due costs one indexed query).
fn tick_every(config: &Config) -> std::time::Duration {
    config.ci.poll_interval.clamp(
        std::time::Duration::from_secs(1),
        std::time::Duration::from_secs(5),
    )
}

async fn run_ci_tracker(
    tracker: CiTracker,
    every: std::time::Duration,
    stop: tokio_util::sync::CancellationToken,
) {
    let mut interval = tokio::time::interval(every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = interval.tick() => {}
        }
        match tracker.tick_until(&stop).await {
            Ok(round) if round.handed_back > 0 => {
                tracing::info!(
                    handed_back = round.handed_back,
                    "stopping: CI checks handed back"
                );
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "CI tracking round failed; trying again next round")
            }
        }
    }
}

/// Runs deployment rounds: every second at most (each row keeps its own due time, so a round
/// with nothing due costs one indexed query), at once after a push hint.
async fn run_deploy_tracker(tracker: DeployTracker, stop: tokio_util::sync::CancellationToken) {
    let every = std::time::Duration::from_secs(1);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tracker.woken(every) => {}
        }
        if let Err(e) = tracker.tick().await {
            tracing::warn!(error = %e, "deployment tracking round failed; trying again next round");
        }
    }
}
