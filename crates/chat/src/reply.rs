//! The bot's answers, as Markdown: pure functions of what the engine returned.

use crate::command::{CREATE_USAGE, STATUS_USAGE};
use shipyard_engine::ReleaseSummaryRecord;
use shipyard_engine::chat::{release_link, sign_offs_line, summary_message};
use shipyard_engine::{EngineError, ReleaseView};

/// The list of commands, with one example each.
pub fn help(bot: &str) -> String {
    format!(
        "**Shipyard** keeps releases moving. Commands:\n\
         | command | example |\n\
         |---|---|\n\
         | `{CREATE_USAGE}`: compare the branches in every repository and start a release | `@{bot} create-release uat master` |\n\
         | `releases`: the active releases | `@{bot} releases` |\n\
         | `{STATUS_USAGE}`: sign-offs, CI and deployment of one release | `@{bot} status 7f3a9c2e1b4d` |\n\
         | `help`: this list | `@{bot} help` |"
    )
}

/// The answer to a word the bot does not know.
pub fn unknown(bot: &str, word: &str) -> String {
    format!(
        "I don't know the command `{}`.\n\n{}",
        word.replace('`', "'"),
        help(bot)
    )
}

/// The answer to a known command with the wrong arguments.
pub fn usage(bot: &str, usage: &str) -> String {
    format!("Usage: `@{bot} {usage}`.")
}

/// The one line answered in a channel outside `mattermost.channels`.
pub fn not_enabled() -> String {
    "Shipyard is not enabled in this channel.".into()
}

/// The active releases, newest first.
pub fn releases(bot: &str, active: &[ReleaseSummaryRecord], base_url: &str) -> String {
    if active.is_empty() {
        return format!(
            "No active releases. Start one with `@{bot} create-release <source> <dest>`."
        );
    }
    let mut text = format!("**Active releases** ({})\n", active.len());
    for s in active {
        let r = &s.release;
        let id = release_link(base_url, r, r.id.as_str()).unwrap_or_else(|| format!("`{}`", r.id));
        text.push_str(&format!(
            "- {id} `{}` → `{}` · **{}** · {} repos, {} commits · {}\n",
            r.source_branch,
            r.dest_branch,
            r.status.as_str(),
            s.repo_count,
            s.commit_count,
            sign_offs_line(r),
        ));
    }
    text.truncate(text.trim_end().len());
    text
}

/// One release: its summary, under its id.
pub fn status(view: &ReleaseView, base_url: &str) -> String {
    format!(
        "Release `{}`\n{}",
        view.release.id,
        summary_message(view, base_url)
    )
}

/// One sentence saying why a command failed.
pub fn error(what: &str, e: &EngineError) -> String {
    // Messages from lower layers may end in their own full stop.
    let m = |m: &str| m.trim_end().trim_end_matches('.').to_owned();
    match e {
        EngineError::Invalid { field, message } => {
            format!("Cannot {what}: `{field}` {}.", m(message))
        }
        EngineError::UpstreamRejected(msg)
        | EngineError::Forbidden(msg)
        | EngineError::Conflict(msg) => format!("Cannot {what}: {}.", m(msg)),
        EngineError::NotFound(msg) => format!("Cannot {what}: {} not found.", m(msg)),
        EngineError::RateLimited(_) => {
            format!(
                "Cannot {what} now: GitHub's rate limit is reached; try again in a few minutes."
            )
        }
        EngineError::UpstreamUnavailable(msg) => {
            format!("Cannot {what} now: {}; try again in a few minutes.", m(msg))
        }
        EngineError::Store(_) => {
            format!("Cannot {what}: Shipyard's database failed; the details are in its log.")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_one_sentence() {
        let e = EngineError::Invalid {
            field: "source_branch",
            message: "must not contain `..`".into(),
        };
        assert_eq!(
            error("create the release", &e),
            "Cannot create the release: `source_branch` must not contain `..`."
        );
        let e = EngineError::UpstreamRejected(
            "branch `nope` does not exist in any repository of acme".into(),
        );
        assert_eq!(
            error("create the release", &e),
            "Cannot create the release: branch `nope` does not exist in any repository of acme."
        );
        let e = EngineError::NotFound("release `zz`".into());
        assert_eq!(
            error("show the release", &e),
            "Cannot show the release: release `zz` not found."
        );
    }

    #[test]
    fn help_lists_every_command_with_an_example() {
        let text = help("pusheen");
        for example in [
            "`@pusheen create-release uat master`",
            "`@pusheen releases`",
            "`@pusheen status ",
            "`@pusheen help`",
        ] {
            assert!(text.contains(example), "{example} in {text}");
        }
        assert!(unknown("pusheen", "dep`loy").contains("`dep'loy`"));
    }
}
