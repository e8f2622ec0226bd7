//! `shipyard pr-dashboard` run as a GitHub Actions step runs it: the real binary, `GITHUB_*`
//! variables, an event file built from GitHub's recorded webhook deliveries, against the
//! simulated GitHub over a socket.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::{Value, json};
use shipyard_core::dashboard::{self, DashboardState, HistoryEntry, ParsedComment, StageStatus};
use shipyard_sim::github::{Fault, SimGithub};
use std::path::Path;
use std::time::Duration;

const REPO: &str = "infra";
const FULL: &str = "acme/infra";
const BOT: &str = "github-actions[bot]";

/// The simulated GitHub with one repository and one open pull request.
struct Gh {
    sim: SimGithub,
    token: String,
    pr: u64,
    head: String,
    workspace: tempfile::TempDir,
}

impl Gh {
    async fn start() -> Gh {
        Gh::start_on(SimGithub::start(ORG).await.unwrap())
    }

    fn start_on(sim: SimGithub) -> Gh {
        let token = shipyard::demo::random_token("ghs_");
        sim.set_token(Some(token.clone()));
        sim.add_repo(REPO);
        sim.create_branch(REPO, "feature", "main");
        let head = sim.commit(REPO, "feature", commit("feat: network", "alice"));
        let pr = sim.open_pr_as(REPO, "feature", "main", "Network", "alice");
        Gh {
            sim,
            token,
            pr,
            head,
            workspace: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self, yaml: &str) {
        let dir = self.workspace.path().join(".shipyard");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pr-dashboard.yaml"), yaml).unwrap();
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipyard"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GITHUB_TOKEN", &self.token)
            .env("GITHUB_REPOSITORY", FULL)
            .env("GITHUB_API_URL", self.sim.url())
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_RUN_ID", "7001")
            .env("GITHUB_ACTOR", "alice")
            .env("GITHUB_WORKSPACE", self.workspace.path())
            .arg("pr-dashboard")
            .args(args)
            .kill_on_drop(true);
        cmd
    }

    async fn run(&self, args: &[&str]) -> Run {
        Run::of(self.command(args).output().await.unwrap())
    }

    async fn run_event(&self, name: &str, event: &Value) -> Run {
        let path = self.workspace.path().join("event.json");
        std::fs::write(&path, serde_json::to_vec(event).unwrap()).unwrap();
        let mut cmd = self.command(&["run"]);
        cmd.env("GITHUB_EVENT_NAME", name)
            .env("GITHUB_EVENT_PATH", &path);
        Run::of(cmd.output().await.unwrap())
    }

    async fn update(&self, stage: &str, status: &str) -> Run {
        let pr = self.pr.to_string();
        self.run(&["update", "--pr", &pr, "--stage", stage, "--status", status])
            .await
    }

    /// This tool's dashboards on the PR (any commit), oldest first.
    fn dashboards(&self) -> Vec<shipyard_sim::github::SimComment> {
        self.sim
            .comments(REPO, self.pr)
            .into_iter()
            .filter(|c| c.login == BOT && c.body.starts_with("<!-- shipyard-dashboard:"))
            .collect()
    }

    /// The state of the one dashboard of `sha`.
    fn state(&self, sha: &str) -> DashboardState {
        let mine: Vec<_> = self
            .dashboards()
            .into_iter()
            .filter(|c| dashboard::is_dashboard_for(&c.body, sha))
            .collect();
        assert_eq!(mine.len(), 1, "one dashboard per commit: {mine:#?}");
        match dashboard::parse_comment(&mine[0].body, sha) {
            ParsedComment::Dashboard { state: Ok(s) } => s,
            other => panic!("the dashboard does not parse: {other:?}"),
        }
    }

    fn writes(&self) -> Vec<String> {
        self.sim
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .map(|r| format!("{} {}", r.method, r.path))
            .collect()
    }

    /// The recorded `issue_comment` delivery, turned into a comment on this PR.
    fn comment_event(&self, body: &str, login: &str, association: &str) -> Value {
        let mut event = fixture("issue_comment.created.0.json");
        event["issue"]["number"] = json!(self.pr);
        // What GitHub adds to the issue of a pull request.
        event["issue"]["pull_request"] = json!({
            "url": format!("{}/repos/{FULL}/pulls/{}", self.sim.url(), self.pr),
            "html_url": format!("https://github.example/{FULL}/pull/{}", self.pr),
            "diff_url": format!("https://github.example/{FULL}/pull/{}.diff", self.pr),
            "patch_url": format!("https://github.example/{FULL}/pull/{}.patch", self.pr),
        });
        let id = self.sim.add_comment(REPO, self.pr, login, body);
        event["comment"]["id"] = json!(id);
        event["comment"]["body"] = json!(body);
        event["comment"]["user"]["login"] = json!(login);
        event["comment"]["author_association"] = json!(association);
        event["repository"]["full_name"] = json!(FULL);
        event
    }
}

fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../github/tests/fixtures/webhooks")
        .join(name);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "{self:#?}");
        self
    }
}

#[tokio::test]
async fn the_dashboard_is_found_on_page_three_and_edited_in_place() {
    let gh = Gh::start().await;
    for i in 0..250 {
        gh.sim
            .add_comment(REPO, gh.pr, "bob", &format!("review remark {i}"));
    }
    gh.run(&["init", "--pr", &gh.pr.to_string()]).await.ok();
    let first = gh.dashboards();
    assert_eq!(first.len(), 1);
    gh.run(&["init", "--pr", &gh.pr.to_string()]).await.ok();
    assert_eq!(gh.dashboards(), first, "init twice creates one comment");

    gh.sim.reset_counters();
    gh.update("plan-platform", "running").await.ok();
    gh.update("plan-platform", "success").await.ok();
    let after = gh.dashboards();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, first[0].id, "edited in place");
    let lists: Vec<String> = gh
        .sim
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET" && r.path.contains("/issues/1/comments"))
        .map(|r| r.path)
        .collect();
    assert!(
        lists.iter().any(|p| p.contains("page=3")),
        "the third page was read: {lists:?}"
    );
    assert!(
        gh.writes()
            .iter()
            .all(|w| !w.starts_with("POST /repos/acme/infra/issues/")),
        "no new comment: {:?}",
        gh.writes()
    );
    let state = gh.state(&gh.head);
    let stage = &state.stages["plan-platform"];
    assert_eq!(stage.status, StageStatus::Success);
    assert_eq!(
        stage.link.as_deref(),
        Some("https://github.example/acme/infra/actions/runs/7001")
    );
    let body = &after[0].body;
    assert!(body.starts_with(&dashboard::marker(&gh.head)), "{body}");
    assert!(body.contains("| Plan: platform | ✅ success |"), "{body}");
    assert_eq!(gh.sim.comments(REPO, gh.pr).len(), 251);
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn an_unchanged_update_makes_no_write() {
    let gh = Gh::start().await;
    gh.update("apply", "running").await.ok();
    gh.sim.reset_counters();
    let run = gh.update("apply", "running").await;
    run.ok();
    assert!(run.stdout.contains("unchanged"), "{run:#?}");
    assert_eq!(gh.writes(), Vec::<String>::new());
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_new_head_commit_gets_its_own_dashboard() {
    let gh = Gh::start().await;
    gh.update("plan-platform", "success").await.ok();
    let second = gh
        .sim
        .commit(REPO, "feature", commit("fix: network", "alice"));
    gh.run(&["init", "--pr", &gh.pr.to_string()]).await.ok();
    assert_eq!(gh.dashboards().len(), 2);
    let new = gh.state(&second);
    assert_eq!(new.stages.get("plan-platform").map(|s| s.status), None);
    // A job of the first commit finishing late writes onto the first commit's dashboard.
    let pr = gh.pr.to_string();
    gh.run(&[
        "update", "--pr", &pr, "--sha", &gh.head, "--stage", "e2e", "--status", "failure",
    ])
    .await
    .ok();
    assert_eq!(
        gh.state(&gh.head).stages["e2e"].status,
        StageStatus::Failure
    );
    assert!(!gh.state(&second).stages.contains_key("e2e"));
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_hand_corrupted_state_is_rebuilt_from_the_commit_statuses() {
    let gh = Gh::start().await;
    gh.update("plan-platform", "success").await.ok();
    let id = gh.dashboards()[0].id;
    let body = gh.dashboards()[0].body.clone();
    let cut = body.rfind("<!-- shipyard-state:").unwrap();
    let corrupt = format!("{}<!-- shipyard-state:not base64 at all! -->", &body[..cut]);
    gh.sim.set_comment_body(REPO, id, &corrupt);
    gh.update("apply", "running").await.ok();
    let state = gh.state(&gh.head);
    assert_eq!(state.stages["plan-platform"].status, StageStatus::Success);
    assert_eq!(state.stages["apply"].status, StageStatus::Running);
    assert!(
        state
            .history
            .iter()
            .any(|h| h.note.as_deref().is_some_and(|n| n.contains("rebuilt"))),
        "{:#?}",
        state.history
    );
    assert_eq!(gh.dashboards()[0].id, id);
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_huge_note_and_a_long_history_still_fit() {
    let gh = Gh::start().await;
    let note: String = "plan output | with <!-- markers --> and\nnew lines "
        .repeat(1_700)
        .chars()
        .take(80_000)
        .collect();
    let pr = gh.pr.to_string();
    gh.run(&[
        "update",
        "--pr",
        &pr,
        "--stage",
        "plan-data-prod",
        "--status",
        "failure",
        "--note",
        &note,
    ])
    .await
    .ok();
    let body = &gh.dashboards()[0].body;
    assert!(
        body.chars().count() <= dashboard::MAX_COMMENT_CHARS,
        "{}",
        body.len()
    );
    let state = gh.state(&gh.head);
    assert_eq!(state.stages["plan-data-prod"].status, StageStatus::Failure);

    // 2,000 history entries, rendered offline, then kept by an update.
    let mut long = DashboardState::new(&gh.head, gh.pr);
    for i in 0..2_000 {
        long.history.push(HistoryEntry {
            at: 1_800_000_000 + i,
            stage: "e2e".into(),
            status: StageStatus::Running,
            link: Some(format!(
                "https://github.example/acme/infra/actions/runs/{i}"
            )),
            by: Some("alice".into()),
            note: Some(format!("attempt {i}")),
        });
    }
    let state_file = gh.workspace.path().join("state.json");
    std::fs::write(&state_file, serde_json::to_vec(&long).unwrap()).unwrap();
    let mut render = gh.command(&["render", "--state", state_file.to_str().unwrap()]);
    render.env_remove("GITHUB_TOKEN");
    let rendered = Run::of(render.output().await.unwrap());
    rendered.ok();
    assert!(rendered.stdout.chars().count() <= dashboard::MAX_COMMENT_CHARS);
    let id = gh.dashboards()[0].id;
    gh.sim.set_comment_body(REPO, id, &rendered.stdout);
    gh.update("e2e", "success").await.ok();
    let body = &gh.dashboards()[0].body;
    assert!(body.chars().count() <= dashboard::MAX_COMMENT_CHARS);
    assert_eq!(
        gh.state(&gh.head).stages["e2e"].status,
        StageStatus::Success
    );
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_secondary_rate_limit_is_waited_out() {
    let gh = Gh::start().await;
    gh.sim.push_faults([Fault::SecondaryRateLimit {
        retry_after_secs: 1,
    }]);
    gh.update("review", "success").await.ok();
    assert_eq!(
        gh.state(&gh.head).stages["review"].status,
        StageStatus::Success
    );
    assert!(gh.sim.requests().iter().any(|r| r.status == 403));
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_forged_dashboard_by_someone_else_is_ignored() {
    let gh = Gh::start().await;
    let mut forged = DashboardState::new(&gh.head, gh.pr);
    forged.stages.insert(
        "apply".into(),
        dashboard::StageState {
            status: StageStatus::Success,
            ..Default::default()
        },
    );
    let body = dashboard::render(&forged, &dashboard::default_stages());
    gh.sim.add_comment(REPO, gh.pr, "mallory", &body);
    gh.update("plan-platform", "running").await.ok();
    let state = gh.state(&gh.head);
    assert!(!state.stages.contains_key("apply"), "{state:#?}");
    assert_eq!(gh.dashboards().len(), 1);
    gh.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_concurrent_updates_all_land_every_time() {
    let stages = [
        "plan-bootstrap",
        "plan-platform",
        "plan-data-staging",
        "plan-data-prod",
        "apply",
        "e2e",
        "review",
        "plan-platform",
    ];
    for round in 0..6 {
        let gh = Gh::start().await;
        gh.sim.set_latency(Duration::from_millis(15));
        let existed = round % 2 == 1;
        if existed {
            gh.run(&["init", "--pr", &gh.pr.to_string()]).await.ok();
        }
        // Seven distinct stages, the eighth writer repeats one with a different status.
        let runs = futures::future::join_all(stages.iter().enumerate().map(|(i, stage)| {
            let status = if i == 7 { "failure" } else { "success" };
            let mut cmd = gh.command(&[
                "update",
                "--pr",
                &gh.pr.to_string(),
                "--stage",
                stage,
                "--status",
                status,
                "--note",
                &format!("writer {i}"),
            ]);
            async move { Run::of(cmd.output().await.unwrap()) }
        }))
        .await;
        for run in &runs {
            run.ok();
        }
        let state = gh.state(&gh.head);
        for stage in &stages[..7] {
            let shown = &state.stages[*stage];
            assert!(
                shown.status.is_finished(),
                "round {round} (dashboard existed: {existed}): {stage} is {shown:?}"
            );
        }
        // The repeated stage shows whichever status GitHub recorded last for its context.
        let statuses = gh.sim.statuses(REPO, &gh.head);
        let last = statuses
            .iter()
            .rev()
            .find(|s| s.context == "shipyard/plan-platform")
            .unwrap();
        let want = if last.state == "failure" {
            StageStatus::Failure
        } else {
            StageStatus::Success
        };
        assert_eq!(state.stages["plan-platform"].status, want, "round {round}");
        gh.sim.shutdown().await;
    }
}

#[tokio::test]
async fn commands_are_permission_checked_and_unknown_ones_answered() {
    let gh = Gh::start().await;
    gh.config(
        "stages:\n  - {key: plan-platform, name: \"Plan: platform\"}\n  - {key: plan-data, name: \"Plan: data\"}\n  - {key: apply, name: Apply}\ncommands:\n  plan: {stage: plan-platform, run: \"echo planned > plan.out\"}\n  apply: {stage: apply, run: \"true\", requires: [approved, plans_succeeded]}\n",
    );
    gh.sim.set_permission(REPO, "carol", "read");
    let event = gh.comment_event("/plan", "carol", "CONTRIBUTOR");
    gh.run_event("issue_comment", &event).await.ok();
    let last = gh.sim.comments(REPO, gh.pr).last().cloned().unwrap();
    assert!(
        last.body.contains("@carol") && last.body.contains("write access"),
        "{last:#?}"
    );
    assert!(
        !gh.workspace.path().join("plan.out").exists(),
        "nothing ran"
    );

    // A private org member shows as CONTRIBUTOR; the permission endpoint says write.
    gh.sim.set_permission(REPO, "dave", "maintain");
    let event = gh.comment_event("/plan", "dave", "CONTRIBUTOR");
    gh.run_event("issue_comment", &event).await.ok();
    assert!(gh.workspace.path().join("plan.out").exists());
    assert_eq!(
        gh.state(&gh.head).stages["plan-platform"].status,
        StageStatus::Success
    );
    let command_id = event["comment"]["id"].as_u64().unwrap();
    assert_eq!(
        gh.sim.reactions(REPO, command_id),
        vec![(BOT.to_owned(), "eyes".to_owned())]
    );

    // /apply needs an approval as well as the plans.
    let event = gh.comment_event("/apply", "dave", "MEMBER");
    gh.run_event("issue_comment", &event).await.ok();
    let last = gh.sim.comments(REPO, gh.pr).last().cloned().unwrap();
    assert!(last.body.contains("not approved"), "{last:#?}");
    assert!(
        last.body.contains("plan-data"),
        "the plan that did not run: {last:#?}"
    );
    gh.sim.add_review(REPO, gh.pr, "erin", "APPROVED");
    let event = gh.comment_event("/apply", "dave", "MEMBER");
    gh.run_event("issue_comment", &event).await.ok();
    let last = gh.sim.comments(REPO, gh.pr).last().cloned().unwrap();
    assert!(
        !last.body.contains("not approved") && last.body.contains("plan-data"),
        "approved now, but one plan is missing: {last:#?}"
    );
    let pr = gh.pr.to_string();
    gh.run(&[
        "update",
        "--pr",
        &pr,
        "--stage",
        "plan-data",
        "--status",
        "success",
    ])
    .await
    .ok();
    let event = gh.comment_event("/apply", "dave", "MEMBER");
    gh.run_event("issue_comment", &event).await.ok();
    assert_eq!(
        gh.state(&gh.head).stages["apply"].status,
        StageStatus::Success
    );

    // Unknown commands get the list; other bots' commands and plain text get nothing.
    let before = gh.sim.comments(REPO, gh.pr).len();
    let event = gh.comment_event("/frobnicate now", "dave", "MEMBER");
    gh.run_event("issue_comment", &event).await.ok();
    let comments = gh.sim.comments(REPO, gh.pr);
    let reply = &comments.last().unwrap().body;
    assert!(
        reply.contains("/frobnicate") && reply.contains("`/plan`") && reply.contains("`/apply`"),
        "{reply}"
    );
    assert_eq!(comments.len(), before + 2, "the command and one reply");
    for quiet in ["/lgtm", "looks good to me"] {
        let event = gh.comment_event(quiet, "dave", "MEMBER");
        let before = gh.sim.comments(REPO, gh.pr).len();
        gh.run_event("issue_comment", &event).await.ok();
        assert_eq!(gh.sim.comments(REPO, gh.pr).len(), before, "{quiet}");
    }
    // A recorded comment on a plain issue is not for the dashboard.
    let plain = fixture("issue_comment.created.1.json");
    gh.sim.reset_counters();
    gh.run_event("issue_comment", &plain).await.ok();
    assert_eq!(gh.writes(), Vec::<String>::new());
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_failing_command_fails_the_step_and_its_stage() {
    let gh = Gh::start().await;
    gh.config(
        "commands:\n  plan: {stage: plan-platform, run: \"exit 3\"}\non_pull_request: [plan]\n",
    );
    let mut event = fixture("pull_request.closed.unmerged.3.json");
    event["action"] = json!("synchronize");
    event["number"] = json!(gh.pr);
    event["pull_request"]["number"] = json!(gh.pr);
    event["pull_request"]["head"]["sha"] = json!(gh.head);
    let run = gh.run_event("pull_request", &event).await;
    assert_eq!(run.code, 1, "{run:#?}");
    assert!(run.stderr.contains("exit status 3"), "{run:#?}");
    let state = gh.state(&gh.head);
    assert_eq!(state.stages["plan-platform"].status, StageStatus::Failure);
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn bad_input_exits_2_and_writes_nothing() {
    let gh = Gh::start().await;
    let pr = gh.pr.to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "update", "--pr", &pr, "--stage", "deploy", "--status", "success",
            ],
            "plan-bootstrap",
        ),
        (
            vec![
                "update", "--pr", &pr, "--stage", "apply", "--status", "done",
            ],
            "skipped",
        ),
        (
            vec![
                "update", "--pr", &pr, "--stage", "apply", "--status", "success", "--sha", "abc",
            ],
            "--sha",
        ),
    ];
    for (args, names) in &cases {
        let run = gh.run(args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stderr.contains(names), "{args:?}: {run:#?}");
        assert_eq!(run.stderr.lines().count(), 1, "one line: {run:#?}");
    }
    let head = gh.head.clone();
    for args in [
        vec!["init", "--pr", "999"],
        vec![
            "update", "--pr", "999", "--sha", &head, "--stage", "apply", "--status", "success",
        ],
    ] {
        let run = gh.run(&args).await;
        assert_eq!(run.code, 2, "{args:?}: {run:#?}");
        assert!(run.stderr.contains("#999 does not exist"), "{run:#?}");
    }
    let mut no_token = gh.command(&["init", "--pr", &pr]);
    no_token.env_remove("GITHUB_TOKEN");
    let run = Run::of(no_token.output().await.unwrap());
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("GITHUB_TOKEN"), "{run:#?}");
    let mut no_event = gh.command(&["run"]);
    no_event.env("GITHUB_EVENT_NAME", "issue_comment").env(
        "GITHUB_EVENT_PATH",
        gh.workspace.path().join("missing.json"),
    );
    let run = Run::of(no_event.output().await.unwrap());
    assert_eq!(run.code, 2, "{run:#?}");
    gh.config("stages:\n  - {key: plan, nam: Plan}\n");
    let run = gh.update("plan", "success").await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("pr-dashboard.yaml:2") && run.stderr.contains("stages[0]"),
        "{run:#?}"
    );
    assert_eq!(gh.writes(), Vec::<String>::new());
    assert!(gh.sim.comments(REPO, gh.pr).is_empty());
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn github_refusals_exit_3_without_the_token() {
    let gh = Gh::start().await;
    gh.sim.set_read_only_token(true);
    let run = gh.update("apply", "running").await;
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("read-only"), "{run:#?}");
    gh.sim.set_read_only_token(false);
    let mut bad = gh.command(&["init", "--pr", &gh.pr.to_string()]);
    bad.env("GITHUB_TOKEN", "ghs_not_the_token");
    let run = Run::of(bad.output().await.unwrap());
    assert_eq!(run.code, 3, "{run:#?}");
    assert!(run.stderr.contains("401"), "{run:#?}");
    assert!(!run.stderr.contains(&gh.token) && !run.stdout.contains(&gh.token));
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn render_works_offline() {
    let dir = tempfile::tempdir().unwrap();
    let mut state = DashboardState::new("0123456789abcdef0123456789abcdef01234567", 12);
    state.stages.insert(
        "e2e".into(),
        dashboard::StageState {
            status: StageStatus::Success,
            started_at: Some(1_800_000_000),
            finished_at: Some(1_800_000_130),
            ..Default::default()
        },
    );
    let file = dir.path().join("state.json");
    std::fs::write(&file, serde_json::to_vec(&state).unwrap()).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_shipyard"))
        .env_clear()
        .args(["pr-dashboard", "render", "--state", file.to_str().unwrap()])
        .current_dir(dir.path())
        .output()
        .await
        .unwrap();
    let run = Run::of(out);
    run.ok();
    assert!(
        run.stdout
            .starts_with("<!-- shipyard-dashboard:0123456 -->"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("2m 10s"), "{run:#?}");
    let ParsedComment::Dashboard { state: Ok(back) } =
        dashboard::parse_comment(&run.stdout, &state.sha)
    else {
        panic!("render's output parses back")
    };
    assert_eq!(back, state);
}

#[tokio::test]
async fn a_push_to_the_default_branch_runs_its_commands_without_a_dashboard() {
    let gh = Gh::start().await;
    gh.config("commands:\n  verify: {run: \"echo drift > drift.out\"}\non_push_default_branch: [verify]\n");
    // A tag push (recorded) is not the default branch.
    gh.run_event("push", &fixture("push.event.0.json"))
        .await
        .ok();
    assert!(!gh.workspace.path().join("drift.out").exists());
    gh.run_event("push", &fixture("push.event.4.json"))
        .await
        .ok();
    assert!(gh.workspace.path().join("drift.out").exists());
    assert_eq!(gh.writes(), Vec::<String>::new(), "no dashboard");
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn workflow_dispatch_runs_the_named_command_on_the_pr() {
    let gh = Gh::start().await;
    gh.config("commands:\n  e2e: {stage: e2e, run: \"test \\\"$SHIPYARD_PR\\\" = 1\"}\n");
    let mut event = fixture("workflow_dispatch.event.0.json");
    event["inputs"] = json!({"command": "e2e", "pr": gh.pr.to_string()});
    gh.run_event("workflow_dispatch", &event).await.ok();
    assert_eq!(
        gh.state(&gh.head).stages["e2e"].status,
        StageStatus::Success
    );
    event["inputs"] = json!({"command": "deploy-everything"});
    let run = gh.run_event("workflow_dispatch", &event).await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(
        run.stderr.contains("e2e"),
        "names the known commands: {run:#?}"
    );
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_commit_github_does_not_know_exits_2_naming_it() {
    let gh = Gh::start().await;
    let gone = "0123456789abcdef0123456789abcdef01234567";
    let pr = gh.pr.to_string();
    let run = gh
        .run(&[
            "update", "--pr", &pr, "--sha", gone, "--stage", "apply", "--status", "success",
        ])
        .await;
    assert_eq!(run.code, 2, "{run:#?}");
    assert!(run.stderr.contains(&gone[..7]), "{run:#?}");
    assert!(gh.sim.comments(REPO, gh.pr).is_empty());
    gh.sim.shutdown().await;
}

#[tokio::test]
async fn a_github_enterprise_api_path_is_kept() {
    let gh = Gh::start_on(SimGithub::start_with_prefix(ORG, "/api/v3").await.unwrap());
    assert!(gh.sim.url().ends_with("/api/v3"), "{}", gh.sim.url());
    for i in 0..120 {
        gh.sim
            .add_comment(REPO, gh.pr, "bob", &format!("remark {i}"));
    }
    gh.update("apply", "running").await.ok();
    gh.update("apply", "success").await.ok();
    assert_eq!(gh.dashboards().len(), 1);
    assert_eq!(
        gh.state(&gh.head).stages["apply"].status,
        StageStatus::Success
    );
    gh.sim.shutdown().await;
}
