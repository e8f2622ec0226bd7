//! `pr-dashboard run`: the event that started the step decides what happens.
//!
//! | event | does |
//! |---|---|
//! | `pull_request` opened, synchronize, reopened | dashboard for the new head; `on_pull_request` commands |
//! | `push` to the default branch | `on_push_default_branch` commands; no dashboard |
//! | `issue_comment` created on a PR, by a person | the slash command, permission-checked |
//! | `workflow_dispatch` with input `command` (and `pr`) | that command |
//!
//! Everything else is ignored (exit 0).

use super::board::{Board, unix};
use super::{Failure, actions::ActionsEnv, now};
use serde_json::Value;
use shipyard_core::dashboard::{
    self, Requirement, Review, ReviewState, Routed, StageStatus, StageUpdate,
};

/// Routes the event named by `GITHUB_EVENT_NAME`.
pub async fn run(board: &Board<'_>, env: &ActionsEnv) -> Result<(), Failure> {
    let name = env
        .event_name
        .clone()
        .ok_or_else(|| Failure::Input("GITHUB_EVENT_NAME is not set: `run` routes on it".into()))?;
    let event = env.event()?;
    match name.as_str() {
        "pull_request" | "pull_request_target" => pull_request(board, env, &event).await,
        "push" => push(board, env, &event).await,
        "issue_comment" => issue_comment(board, env, &event).await,
        "workflow_dispatch" => dispatch(board, env, &event).await,
        other => {
            println!("pr-dashboard: nothing to do for `{other}` events");
            Ok(())
        }
    }
}

fn field<'v>(event: &'v Value, pointer: &str) -> Result<&'v Value, Failure> {
    event
        .pointer(pointer)
        .filter(|v| !v.is_null())
        .ok_or_else(|| Failure::Input(format!("the event file has no `{pointer}`")))
}

fn text<'v>(event: &'v Value, pointer: &str) -> Result<&'v str, Failure> {
    field(event, pointer)?
        .as_str()
        .ok_or_else(|| Failure::Input(format!("the event's `{pointer}` is not a string")))
}

fn number(event: &Value, pointer: &str) -> Result<u64, Failure> {
    field(event, pointer)?
        .as_u64()
        .ok_or_else(|| Failure::Input(format!("the event's `{pointer}` is not a number")))
}

async fn pull_request(board: &Board<'_>, env: &ActionsEnv, event: &Value) -> Result<(), Failure> {
    let action = text(event, "/action")?;
    if !matches!(action, "opened" | "synchronize" | "reopened") {
        println!("pr-dashboard: nothing to do for pull_request `{action}`");
        return Ok(());
    }
    let pr = number(event, "/pull_request/number")?;
    let sha = text(event, "/pull_request/head/sha")?.to_owned();
    board.init(pr, &sha).await?;
    let commands = board.config().on_pull_request.clone();
    run_all(board, env, Some((pr, &sha)), &commands).await
}

async fn push(board: &Board<'_>, env: &ActionsEnv, event: &Value) -> Result<(), Failure> {
    let pushed = text(event, "/ref")?;
    let default = text(event, "/repository/default_branch")?;
    if pushed != format!("refs/heads/{default}") {
        println!("pr-dashboard: {pushed} is not the default branch; nothing to do");
        return Ok(());
    }
    let commands = board.config().on_push_default_branch.clone();
    run_all(board, env, None, &commands).await
}

async fn issue_comment(board: &Board<'_>, env: &ActionsEnv, event: &Value) -> Result<(), Failure> {
    let action = text(event, "/action")?;
    if action != "created"
        || event
            .pointer("/issue/pull_request")
            .is_none_or(Value::is_null)
    {
        println!("pr-dashboard: not a new comment on a pull request; nothing to do");
        return Ok(());
    }
    let login = text(event, "/comment/user/login")?.to_owned();
    let is_bot = event.pointer("/comment/user/type").and_then(Value::as_str) == Some("Bot")
        || login.ends_with("[bot]");
    if is_bot || login.eq_ignore_ascii_case(&board.config().author) {
        println!("pr-dashboard: a comment by {login} (a bot); nothing to do");
        return Ok(());
    }
    let body = text(event, "/comment/body")?;
    let pr = number(event, "/issue/number")?;
    let comment_id = number(event, "/comment/id")?;
    let config = board.config();
    let names: Vec<&str> = config.commands.keys().map(String::as_str).collect();
    let (name, args) = match dashboard::route_comment(body, &names, &config.ignore_commands) {
        Routed::NotACommand | Routed::Ignored => {
            println!("pr-dashboard: no command of this dashboard in the comment");
            return Ok(());
        }
        Routed::Unknown { word } => {
            let known: Vec<String> = names.iter().map(|n| format!("`/{n}`")).collect();
            reply(
                board,
                pr,
                &format!(
                    "@{login} `/{word}` is not a command here. Known commands: {}.",
                    if known.is_empty() {
                        "none are configured".to_owned()
                    } else {
                        known.join(", ")
                    }
                ),
            )
            .await?;
            return Ok(());
        }
        Routed::Command { name, args } => (name, args),
    };
    let association = event
        .pointer("/comment/author_association")
        .and_then(Value::as_str)
        .unwrap_or("NONE");
    if !may_run(board, &login, association).await? {
        reply(
            board,
            pr,
            &format!("@{login} `/{name}` needs write access to this repository; nothing was run."),
        )
        .await?;
        return Ok(());
    }
    board
        .github()
        .react_to_comment(board.repo(), comment_id, "eyes")
        .await?;
    let sha = board.pull(pr).await?.head_sha;
    let unmet = unmet_requirements(board, pr, &sha, &name).await?;
    if !unmet.is_empty() {
        reply(
            board,
            pr,
            &format!("@{login} `/{name}` was not run: {}.", unmet.join("; ")),
        )
        .await?;
        return Ok(());
    }
    run_one(board, env, Some((pr, &sha)), &name, &args).await
}

async fn dispatch(board: &Board<'_>, env: &ActionsEnv, event: &Value) -> Result<(), Failure> {
    let name = text(event, "/inputs/command")?.trim().to_ascii_lowercase();
    if !board.config().commands.contains_key(&name) {
        let known: Vec<&str> = board.config().commands.keys().map(String::as_str).collect();
        return Err(Failure::Input(format!(
            "workflow_dispatch input `command` is `{name}`, not one of: {}",
            known.join(", ")
        )));
    }
    // Inputs arrive as strings.
    let pr = match event.pointer("/inputs/pr") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().parse::<u64>().map_err(|_| {
            Failure::Input(format!(
                "workflow_dispatch input `pr` is `{s}`, not a number"
            ))
        })?),
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            Failure::Input("workflow_dispatch input `pr` is not a number".into())
        })?),
    };
    match pr {
        Some(pr) => {
            let sha = board.pull(pr).await?.head_sha;
            let unmet = unmet_requirements(board, pr, &sha, &name).await?;
            if !unmet.is_empty() {
                return Err(Failure::Input(format!(
                    "`{name}` was not run on #{pr}: {}",
                    unmet.join("; ")
                )));
            }
            run_one(board, env, Some((pr, &sha)), &name, "").await
        }
        None => run_one(board, env, None, &name, "").await,
    }
}

/// Whether `login` may run commands: an allowed association, or else (webhooks report private
/// org members as CONTRIBUTOR) write access according to GitHub.
async fn may_run(board: &Board<'_>, login: &str, association: &str) -> Result<bool, Failure> {
    if board
        .config()
        .allowed_associations
        .iter()
        .any(|a| a.eq_ignore_ascii_case(association))
    {
        return Ok(true);
    }
    let permission = board
        .github()
        .collaborator_permission(board.repo(), login)
        .await?;
    Ok(matches!(permission.as_str(), "admin" | "write"))
}

/// What keeps command `name` from running on `sha`, in words; empty when nothing does.
async fn unmet_requirements(
    board: &Board<'_>,
    pr: u64,
    sha: &str,
    name: &str,
) -> Result<Vec<String>, Failure> {
    let config = board.config();
    let Some(command) = config.commands.get(name) else {
        return Ok(Vec::new());
    };
    let mut unmet = Vec::new();
    for requirement in &command.requires {
        match requirement {
            Requirement::Approved => {
                let reviews: Vec<Review> = board
                    .github()
                    .pull_reviews(board.repo(), pr)
                    .await?
                    .into_iter()
                    .filter_map(|r| {
                        Some(Review {
                            reviewer: r.reviewer?,
                            state: ReviewState::parse(&r.state)?,
                            submitted_at: r.submitted_at.as_deref().map(unix),
                            id: r.id,
                        })
                    })
                    .collect();
                if !dashboard::is_approved(&reviews) {
                    unmet.push(
                        "the pull request is not approved (an approving review and no \
                         requested changes)"
                            .to_owned(),
                    );
                }
            }
            Requirement::PlansSucceeded => {
                let statuses = board.observed(sha).await?;
                let missing = dashboard::unmet_plans(
                    &config.stages,
                    config.plan_stages.as_deref(),
                    &statuses,
                );
                if !missing.is_empty() {
                    unmet.push(format!(
                        "these plans have not succeeded on {}: {}",
                        dashboard::short_sha(sha),
                        missing.join(", ")
                    ));
                }
            }
        }
    }
    Ok(unmet)
}

async fn reply(board: &Board<'_>, pr: u64, body: &str) -> Result<(), Failure> {
    board
        .github()
        .create_comment(board.repo(), pr, body)
        .await?;
    println!("pr-dashboard: replied on #{pr}: {body}");
    Ok(())
}

async fn run_all(
    board: &Board<'_>,
    env: &ActionsEnv,
    target: Option<(u64, &str)>,
    names: &[String],
) -> Result<(), Failure> {
    let mut failed = Vec::new();
    for name in names {
        match run_one(board, env, target, name, "").await {
            Ok(()) => {}
            Err(Failure::CommandFailed(m)) => failed.push(m),
            Err(other) => return Err(other),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Failure::CommandFailed(failed.join("; ")))
    }
}

/// Runs configured command `name`; its stage (when it has one and there is a PR) goes
/// running → success or failure with this run's link.
async fn run_one(
    board: &Board<'_>,
    env: &ActionsEnv,
    target: Option<(u64, &str)>,
    name: &str,
    args: &str,
) -> Result<(), Failure> {
    let Some(command) = board.config().commands.get(name) else {
        return Err(Failure::Input(format!(
            "`{name}` is not a configured command"
        )));
    };
    let stage = command.stage.clone();
    let set = |status: StageStatus, note: Option<String>| {
        let stage = stage.clone();
        async move {
            if let (Some(stage), Some((pr, sha))) = (stage, target) {
                board
                    .update(
                        pr,
                        sha,
                        StageUpdate {
                            stage,
                            status,
                            link: env.run_link(),
                            note,
                            by: env.actor.clone(),
                            at: now(),
                        },
                    )
                    .await?;
            }
            Ok::<(), Failure>(())
        }
    };
    set(StageStatus::Running, None).await?;
    println!("pr-dashboard: running `{name}`: {}", command.run);
    let mut child = tokio::process::Command::new("sh");
    child.arg("-c").arg(&command.run);
    if let Some(dir) = &env.workspace {
        child.current_dir(dir);
    }
    child
        .env("SHIPYARD_COMMAND", name)
        .env("SHIPYARD_COMMAND_ARGS", args);
    if let Some((pr, sha)) = target {
        child
            .env("SHIPYARD_PR", pr.to_string())
            .env("SHIPYARD_SHA", sha);
    }
    let status = child
        .status()
        .await
        .map_err(|e| Failure::Input(format!("cannot start `sh` for `{name}`: {e}")))?;
    if status.success() {
        set(StageStatus::Success, None).await?;
        Ok(())
    } else {
        let code = status
            .code()
            .map_or_else(|| "a signal".to_owned(), |c| format!("exit status {c}"));
        set(
            StageStatus::Failure,
            Some(format!("`{name}` ended with {code}")),
        )
        .await?;
        Err(Failure::CommandFailed(format!(
            "`{name}` (`{}`) ended with {code}",
            command.run
        )))
    }
}
