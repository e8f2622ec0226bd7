//! `shipyard pr-dashboard …`: one dashboard comment per pull-request commit, run inside GitHub
//! Actions. A thin command line over [`shipyard_core::dashboard`] (the model and its rules) and
//! [`shipyard_github`] (the calls); it needs no database and no server.
//!
//! - [`actions`]: what GitHub Actions gives a step (environment variables, the event file).
//! - [`board`]: finding, creating and updating the dashboard so that no stage result is lost.
//! - [`events`]: `run`, the event router, and the slash commands.

pub mod actions;
pub mod board;
pub mod events;

use actions::ActionsEnv;
use board::Board;
use clap::Subcommand;
use shipyard_core::dashboard::{self, DashboardConfig, DashboardState, StageStatus, StageUpdate};
use shipyard_github::{GitHub, GitHubOptions, GithubError};
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// The `pr-dashboard` subcommands.
#[derive(Debug, Subcommand)]
pub enum Action {
    /// Create the dashboard for the PR's head commit (or --sha) if it is missing.
    Init {
        /// Pull request number.
        #[arg(long)]
        pr: u64,
        /// The commit (full SHA); default: the PR's head.
        #[arg(long)]
        sha: Option<String>,
    },
    /// Set one stage (creating the dashboard first if it is missing).
    Update {
        /// Pull request number.
        #[arg(long)]
        pr: u64,
        /// Stage key, e.g. plan-platform.
        #[arg(long)]
        stage: String,
        /// pending, running, success, failure or skipped.
        #[arg(long)]
        status: String,
        /// The commit (full SHA); default: the PR's head.
        #[arg(long)]
        sha: Option<String>,
        /// Link shown for the stage; default: this workflow run.
        #[arg(long)]
        link: Option<String>,
        /// A note shown with the stage.
        #[arg(long)]
        note: Option<String>,
    },
    /// Read the event GitHub Actions started this step for and do what it asks.
    Run,
    /// Print the Markdown of a dashboard state (a JSON file, `-` for standard input); offline.
    Render {
        /// The state file.
        #[arg(long)]
        state: PathBuf,
    },
}

/// Options shared by every subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// The configuration file (default: .shipyard/pr-dashboard.yaml in the workspace).
    #[arg(long, global = true)]
    pub config: Option<PathBuf>,
    /// Longest time spent waiting for GitHub's rate limits before giving up (exit 3).
    #[arg(long, global = true, default_value = "10m", value_parser = humantime::parse_duration)]
    pub max_wait: Duration,
}

/// Why a subcommand stopped: each has its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Bad input (unknown stage or status, missing variable, unreadable event): exit 2.
    Input(String),
    /// GitHub refused or could not be reached: exit 3.
    Github(String),
    /// The configured command ran and failed: exit 1.
    CommandFailed(String),
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::CommandFailed(_) => 1,
            Failure::Input(_) => 2,
            Failure::Github(_) => 3,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Input(m) | Failure::Github(m) | Failure::CommandFailed(m) => m,
        }
    }
}

impl From<GithubError> for Failure {
    fn from(e: GithubError) -> Self {
        match &e {
            GithubError::Rejected {
                status: 403,
                message,
            } if message.contains("Resource not accessible by integration") => {
                Failure::Github(format!(
                    "GitHub refused the write ({message}): the token is read-only here. On pull \
                     requests from forks GITHUB_TOKEN cannot write; run the dashboard from a \
                     `workflow_run` workflow (or `pull_request_target` without checking out the \
                     fork's code), and grant `permissions: {{pull-requests: write, issues: write, \
                     statuses: write}}`"
                ))
            }
            GithubError::Rejected {
                status: 401,
                message,
            } => Failure::Github(format!(
                "GitHub refused the token (401 {message}): check the GITHUB_TOKEN passed to the step"
            )),
            // 422 on a status write, 404 on a read of the commit's statuses.
            GithubError::Rejected {
                status: 404 | 422,
                message,
            } if message.contains("No commit found for SHA") => Failure::Input(format!(
                "GitHub does not know the commit ({message}): was it force-pushed away?"
            )),
            _ => Failure::Github(e.to_string()),
        }
    }
}

/// Runs one subcommand; prints one line to standard error when it fails.
pub async fn main(action: Action, options: Options) -> ExitCode {
    let env = ActionsEnv::from_vars(|name| std::env::var(name).ok());
    match run(action, &options, &env).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("pr-dashboard: {}", failure.message());
            ExitCode::from(failure.exit_code())
        }
    }
}

async fn run(action: Action, options: &Options, env: &ActionsEnv) -> Result<(), Failure> {
    if let Action::Render { state } = &action {
        return render(state, options, env);
    }
    let config = load_config(options, env)?;
    // Bad arguments are named before anything else is asked of the environment.
    if let Action::Update {
        stage,
        status,
        link,
        sha,
        ..
    } = &action
    {
        parse_status(status)?;
        check_stage(&config, stage)?;
        if let Some(link) = link {
            check_link(link)?;
        }
        if let Some(sha) = sha {
            check_sha(sha)?;
        }
    }
    let gh = client(env, options)?;
    let repo = env.repository()?;
    let board = Board::new(&gh, &repo, &config, env.run_link());
    match action {
        Action::Init { pr, sha } => {
            let sha = head_or(&board, pr, sha).await?;
            let outcome = board.init(pr, &sha).await?;
            println!(
                "dashboard for {} on #{pr}: comment {}{}",
                dashboard::short_sha(&sha),
                outcome.comment_id,
                if outcome.created { " (created)" } else { "" }
            );
            Ok(())
        }
        Action::Update {
            pr,
            stage,
            status,
            sha,
            link,
            note,
        } => {
            let status = parse_status(&status)?;
            let sha = head_or(&board, pr, sha).await?;
            let update = StageUpdate {
                stage,
                status,
                link: link.or_else(|| env.run_link()),
                note,
                by: env.actor.clone(),
                at: now(),
            };
            let outcome = board.update(pr, &sha, update).await?;
            println!(
                "dashboard for {} on #{pr}: comment {}, {}",
                dashboard::short_sha(&sha),
                outcome.comment_id,
                if outcome.wrote {
                    "updated"
                } else {
                    "unchanged"
                }
            );
            Ok(())
        }
        Action::Run => events::run(&board, env).await,
        Action::Render { .. } => Ok(()),
    }
}

/// Unix seconds now.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

fn render(path: &std::path::Path, options: &Options, env: &ActionsEnv) -> Result<(), Failure> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s).map_err(|e| {
            Failure::Input(format!("cannot read the state from standard input: {e}"))
        })?;
        s
    } else {
        std::fs::read_to_string(path).map_err(|e| {
            Failure::Input(format!(
                "cannot read the state file {}: {e}",
                path.display()
            ))
        })?
    };
    let mut state: DashboardState = serde_json::from_str(&text)
        .map_err(|e| Failure::Input(format!("{} is not a dashboard state: {e}", path.display())))?;
    if state.schema != dashboard::SCHEMA {
        return Err(Failure::Input(format!(
            "{}: schema {} is not supported (this version reads schema {})",
            path.display(),
            state.schema,
            dashboard::SCHEMA
        )));
    }
    let config = load_config(options, env)?;
    println!(
        "{}",
        dashboard::render_fitting(&mut state, &config.stages, env.run_link().as_deref())
    );
    Ok(())
}

fn load_config(options: &Options, env: &ActionsEnv) -> Result<DashboardConfig, Failure> {
    let path = options.config.clone().unwrap_or_else(|| {
        env.workspace
            .clone()
            .unwrap_or_else(|| PathBuf::from("."))
            .join(shipyard_config::DASHBOARD_CONFIG_FILE)
    });
    if options.config.is_some() && !path.exists() {
        return Err(Failure::Input(format!(
            "the configuration file {} does not exist",
            path.display()
        )));
    }
    shipyard_config::load_dashboard_config(&path).map_err(|problems| {
        Failure::Input(
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        )
    })
}

fn client(env: &ActionsEnv, options: &Options) -> Result<GitHub, Failure> {
    let token = env.token()?;
    let api = env.api_url.clone();
    let mut opts = GitHubOptions::new(&api, format!("{api}/graphql"), Some(token));
    opts.max_rate_limit_wait = options.max_wait;
    opts.concurrency = 4;
    GitHub::new(opts).map_err(|e| Failure::Github(e.to_string()))
}

async fn head_or(board: &Board<'_>, pr: u64, sha: Option<String>) -> Result<String, Failure> {
    match sha {
        Some(sha) => {
            check_sha(&sha)?;
            Ok(sha.to_ascii_lowercase())
        }
        None => Ok(board.pull(pr).await?.head_sha),
    }
}

pub(crate) fn parse_status(status: &str) -> Result<StageStatus, Failure> {
    StageStatus::parse(status).ok_or_else(|| {
        Failure::Input(format!(
            "`{status}` is not a stage status; use one of {}",
            StageStatus::ALL.map(StageStatus::as_str).join(", ")
        ))
    })
}

pub(crate) fn check_stage(config: &DashboardConfig, stage: &str) -> Result<(), Failure> {
    if config.stage(stage).is_some() {
        return Ok(());
    }
    let known: Vec<&str> = config.stages.iter().map(|s| s.key.as_str()).collect();
    Err(Failure::Input(format!(
        "`{stage}` is not a stage of this dashboard; the stages are {}",
        known.join(", ")
    )))
}

fn check_sha(sha: &str) -> Result<(), Failure> {
    if sha.len() == 40 && sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Failure::Input(format!(
            "--sha `{}` is not a full commit SHA (40 hexadecimal characters)",
            sha.chars().take(60).collect::<String>()
        )))
    }
}

fn check_link(link: &str) -> Result<(), Failure> {
    match url::Url::parse(link) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(()),
        _ => Err(Failure::Input(format!(
            "--link `{}` is not an http(s) URL",
            link.chars().take(200).collect::<String>()
        ))),
    }
}
