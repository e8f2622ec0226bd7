//! The `shipyard` command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use shipyard::{app, client, demo};
use shipyard_config::Config;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Release control for GitHub and Argo CD.
#[derive(Parser)]
#[command(name = "shipyard", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server.
    Serve {
        /// Configuration file (default: ./shipyard.yaml if present).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Run Shipyard against a simulated GitHub org, with a throw-away database.
    Demo {
        /// Where to listen (loopback only).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
        /// Keep the database in this directory instead of a temporary one.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Apply database migrations and exit.
    Migrate {
        /// Configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file and list every problem.
    CheckConfig {
        /// Configuration file.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Print a complete example configuration instead.
        #[arg(long)]
        example: bool,
    },
    /// Work with releases on a running server.
    Release {
        /// Server base URL.
        #[arg(
            long,
            env = "SHIPYARD_SERVER",
            default_value = "http://127.0.0.1:8080",
            global = true
        )]
        server: String,
        /// API token.
        #[arg(long, env = "SHIPYARD_TOKEN", hide_env_values = true, global = true)]
        token: Option<String>,
        /// Print the server's JSON instead of a table.
        #[arg(long, global = true)]
        json: bool,
        #[command(subcommand)]
        action: ReleaseAction,
    },
    /// The pull-request dashboard comment, from a GitHub Actions step.
    PrDashboard {
        #[command(flatten)]
        options: shipyard::pr_dashboard::Options,
        #[command(subcommand)]
        action: shipyard::pr_dashboard::Action,
    },
    /// API token helpers.
    Token {
        #[command(subcommand)]
        action: TokenAction,
    },
    /// Exit 0 when a running server is ready, 1 otherwise (a container's health check: the
    /// image has no shell and no curl).
    Healthcheck {
        /// What to ask: the server's readiness endpoint.
        #[arg(long, default_value = "http://127.0.0.1:8080/readyz")]
        url: String,
        /// How long to wait for the answer.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        timeout: std::time::Duration,
    },
}

#[derive(Subcommand)]
enum ReleaseAction {
    /// Compare two branches across the org and create a release.
    Create {
        /// Source branch, e.g. uat.
        #[arg(long)]
        source: String,
        /// Destination branch, e.g. master.
        #[arg(long)]
        dest: String,
    },
    /// List releases, newest first.
    List {
        /// Only this status.
        #[arg(long)]
        status: Option<String>,
    },
    /// Show one release.
    Show {
        /// Release id.
        id: String,
    },
    /// Give (or with --revoke, withdraw) a sign-off.
    Approve {
        /// Release id.
        id: String,
        /// Which sign-off: dev or qa.
        #[arg(long = "as", value_parser = ["dev", "qa"])]
        kind: String,
        /// Withdraw instead of give.
        #[arg(long)]
        revoke: bool,
    },
}

#[derive(Subcommand)]
enum TokenAction {
    /// Read a token on standard input and print its SHA-256 for `auth.api_tokens[].token_sha256`.
    Hash,
}

/// Logging for commands without a configuration (the demo): text, or JSON with
/// `SHIPYARD_LOG_FORMAT=json`; the level from `RUST_LOG`.
fn init_logging() {
    let json = std::env::var("SHIPYARD_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    init_logging_with(json, None);
}

/// Logging as the `log` section says (`RUST_LOG` wins over `log.level`).
fn init_logging_from(log: &shipyard_config::LogConfig) -> anyhow::Result<()> {
    if let Some(level) = &log.level {
        tracing_subscriber::EnvFilter::try_new(level)
            .map_err(|e| anyhow::anyhow!("log.level `{level}` is not a log filter: {e}"))?;
    }
    let json = log.format == shipyard_config::LogFormat::Json
        || std::env::var("SHIPYARD_LOG_FORMAT").is_ok_and(|v| v.eq_ignore_ascii_case("json"));
    init_logging_with(json, log.level.as_deref());
    Ok(())
}

fn init_logging_with(json: bool, level: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level.unwrap_or("info")))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn config_path(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit.or_else(|| {
        let default = PathBuf::from(shipyard_config::DEFAULT_FILE);
        default.exists().then_some(default)
    })
}

fn load_config(path: Option<PathBuf>) -> anyhow::Result<Config> {
    let path = config_path(path);
    Config::load(path.as_deref(), std::env::vars())
        .map_err(|e| anyhow::anyhow!("the configuration has problems:\n{e}"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    shipyard::install_crypto_provider();
    let cli = Cli::parse();
    if let Command::PrDashboard { options, action } = cli.command {
        return shipyard::pr_dashboard::main(action, options).await;
    }
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve { config } => {
            let config = load_config(config)?;
            init_logging_from(&config.log)?;
            config
                .validate_for_serve()
                .map_err(|e| anyhow::anyhow!("the configuration cannot be served:\n{e}"))?;
            for warning in config.warnings() {
                tracing::warn!("{warning}");
            }
            if config.auth.mode == shipyard_config::AuthMode::Dev {
                tracing::warn!(
                    "auth.mode is `dev`: anyone who can reach {} may sign in as any dev user. Never use this in production.",
                    config.server.listen
                );
            }
            let listener = tokio::net::TcpListener::bind(config.server.listen)
                .await
                .with_context(|| format!("listening on {}", config.server.listen))?;
            tracing::info!(address = %config.server.listen, "Shipyard is serving");
            app::serve(&config, listener, shutdown_signal()).await
        }
        Command::Demo { listen, data } => {
            init_logging();
            demo::run(demo::DemoOptions { listen, data }).await
        }
        Command::Migrate { config } => {
            let config = load_config(config)?;
            init_logging_from(&config.log)?;
            app::open_store(&config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::CheckConfig { config, example } => {
            if example {
                print!("{}", shipyard_config::example_yaml());
                return Ok(());
            }
            let path = config_path(config);
            match Config::load(path.as_deref(), std::env::vars())
                .and_then(|c| c.validate_for_serve().map(|()| c))
                .and_then(|c| app::github_credentials(&c).map(|credentials| (c, credentials)))
            {
                Ok((c, credentials)) => {
                    for warning in c.warnings() {
                        println!("warning: {warning}");
                    }
                    println!(
                        "configuration OK: listen {}, database {}, GitHub org {}, auth mode {}",
                        c.server.listen,
                        if c.database.url.starts_with("sqlite") {
                            "SQLite"
                        } else {
                            "PostgreSQL"
                        },
                        c.github
                            .as_ref()
                            .map(|g| g.org.as_str())
                            .unwrap_or("(none)"),
                        c.auth.mode.as_str()
                    );
                    if let Some(credentials) = credentials {
                        println!("GitHub credentials: {credentials}");
                    }
                    Ok(())
                }
                Err(e) => {
                    eprintln!("{} problem(s):\n{e}", e.0.len());
                    std::process::exit(1);
                }
            }
        }
        Command::Release {
            server,
            token,
            json,
            action,
        } => {
            let token =
                token.context("an API token is needed: pass --token or set SHIPYARD_TOKEN")?;
            let api = client::ApiClient::new(&server, &token)?;
            let value = match &action {
                ReleaseAction::Create { source, dest } => api.create(source, dest).await?,
                ReleaseAction::List { status } => api.list(status.as_deref()).await?,
                ReleaseAction::Show { id } => api.show(id).await?,
                ReleaseAction::Approve { id, kind, revoke } => {
                    api.approve(id, kind, *revoke).await?
                }
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&value)?);
            } else if matches!(action, ReleaseAction::List { .. }) {
                print!("{}", client::render_list(&value));
            } else {
                print!("{}", client::render_detail(&value));
            }
            Ok(())
        }
        Command::PrDashboard { .. } => unreachable!("handled before"),
        Command::Healthcheck { url, timeout } => {
            let http = reqwest::Client::builder()
                .timeout(timeout)
                .redirect(reqwest::redirect::Policy::none())
                .build()?;
            let status = http
                .get(&url)
                .send()
                .await
                .with_context(|| format!("{url} did not answer"))?
                .status();
            anyhow::ensure!(status.is_success(), "{url} answered {status}");
            Ok(())
        }
        Command::Token {
            action: TokenAction::Hash,
        } => {
            let mut token = String::new();
            std::io::stdin()
                .read_to_string(&mut token)
                .context("reading the token from standard input")?;
            let token = token.trim_end_matches(['\r', '\n']);
            anyhow::ensure!(!token.is_empty(), "no token on standard input");
            println!("{}", shipyard_web::token_sha256_hex(token));
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
