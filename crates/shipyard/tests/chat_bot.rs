//! The Mattermost bot inside `shipyard serve`, against the simulated Mattermost and GitHub over
//! real sockets: commands in, answers in the command's thread, the summary post kept up to
//! date, and notifications sent from the outbox exactly once through outages and restarts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use serde_json::json;
use shipyard::demo::random_token;
use shipyard_config::{ChatTiming, Config, MattermostConfig, Secret};
use shipyard_sim::mattermost::{Post, RestFault, SimMattermost};
use shipyard_store::{Backend, Store};
use std::time::Duration;

const BOT: &str = "pusheen";

/// A simulated Mattermost with the bot, two people and two channels.
struct Chat {
    sim: SimMattermost,
    token: String,
    bot_id: String,
    releases: String,
    random: String,
}

impl Chat {
    async fn start() -> Chat {
        let sim = SimMattermost::start().await.expect("sim mattermost");
        let token = format!("bot-{:032x}", rand::random::<u128>());
        let bot_id = sim.add_bot(BOT, &token);
        let releases = sim.add_channel("acme", "releases");
        let random = sim.add_channel("acme", "random");
        for person in ["alice", "dev-lead", "qa-lead"] {
            let id = sim.add_user(person);
            sim.add_member(&releases, &id);
            sim.add_member(&random, &id);
        }
        sim.add_member(&releases, &bot_id);
        sim.add_member(&random, &bot_id);
        Chat {
            sim,
            token,
            bot_id,
            releases,
            random,
        }
    }

    /// The `mattermost` section, limited to the releases channel.
    fn configure(&self, config: &mut Config) {
        config.mattermost = Some(MattermostConfig {
            url: self.sim.url(),
            token: Secret::new(self.token.clone()),
            bot_username: BOT.into(),
            channels: vec![self.releases.clone()],
            // Short intervals: the tests wait on what the bot reports, never on the clock.
            timing: ChatTiming {
                summary_interval: Duration::from_millis(200),
                outbox_poll_interval: Duration::from_millis(100),
                lead_check_interval: Duration::from_millis(200),
                catch_up_retry: Duration::from_millis(200),
                outbox_lease: Duration::from_secs(60),
            },
        });
    }

    /// Waits until the bot holds a WebSocket.
    async fn connected(&self) {
        wait_for("the bot to connect", || self.sim.open_websockets() >= 1).await;
    }

    /// `who` posts `message` in `channel`; returns the post id.
    fn say(&self, who: &str, channel: &str, message: &str) -> String {
        self.sim.post_as(who, channel, message, None).id
    }

    /// The bot's posts in the thread of `root`.
    fn answers(&self, root: &str) -> Vec<Post> {
        self.sim
            .posts()
            .into_iter()
            .filter(|p| p.root_id == root && p.user_id == self.bot_id)
            .collect()
    }

    /// Waits for the bot's first answer in the thread of `root`.
    async fn answer(&self, root: &str) -> Post {
        wait_for("the bot to answer", || !self.answers(root).is_empty()).await;
        self.answers(root).remove(0)
    }

    /// The bot's posts carrying `text`.
    fn bot_posts_with(&self, text: &str) -> Vec<Post> {
        self.sim
            .posts()
            .into_iter()
            .filter(|p| p.user_id == self.bot_id && p.message.contains(text))
            .collect()
    }
}

/// The chat bot's progress as the server at `base` reports it in `/readyz` (`null` while it
/// runs no bot).
async fn bot_status(base: &str) -> serde_json::Value {
    let ready: serde_json::Value = reqwest::get(format!("{base}/readyz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    ready["chat"].clone()
}

/// Waits until the bot of the server at `base` reports what `check` wants.
async fn wait_for_bot(base: &str, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    for _ in 0..400 {
        if check(&bot_status(base).await) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}: {}", bot_status(base).await);
}

fn counter(status: &serde_json::Value, name: &str) -> u64 {
    status[name].as_u64().unwrap_or(0)
}

/// Waits until the outbox sender of the server at `base` finished two more rounds: the first
/// may have been under way already, the second started after this call, so every notification
/// owed by then has been posted (or has failed) before this returns.
async fn outbox_settled(base: &str) {
    let before = counter(&bot_status(base).await, "sender_rounds");
    wait_for_bot(base, "two more rounds of the outbox sender", |s| {
        counter(s, "sender_rounds") >= before + 2
    })
    .await;
}

/// Polls `check` every 50 ms for up to 20 s.
async fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

fn two_repos(sim: &shipyard_sim::github::SimGithub) {
    repo_with_changes(sim, "billing", &[commit("feat: a", "alice")]);
    repo_with_changes(
        sim,
        "payments",
        &[commit("fix: b", "bob"), commit("fix: c", "bob")],
    );
    repo_unchanged(sim, "docs");
}

/// The only release, from the list.
async fn only_release(server: &TestServer) -> serde_json::Value {
    let (s, list) = server.get("viewer", "/api/releases").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let releases = list["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 1, "{list}");
    let id = releases[0]["id"].as_str().unwrap();
    let (s, detail) = server.get("viewer", &format!("/api/releases/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    detail
}

/// `alice` asks for `uat → master` in the releases channel; returns the command's post, the
/// summary the bot answered with, and the release's detail once it records that post.
async fn release_from_chat(chat: &Chat, server: &TestServer) -> (String, Post, serde_json::Value) {
    let command = chat.say(
        "alice",
        &chat.releases,
        "@pusheen create-release uat master",
    );
    let summary = chat.answer(&command).await;
    let mut detail = only_release(server).await;
    for _ in 0..100 {
        if !detail["release"]["chat_post_id"].is_null() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        detail = only_release(server).await;
    }
    (command, summary, detail)
}

both_backends!(
    a_release_created_in_chat_is_summarised_approved_and_announced_once_per_cycle,
    |backend| async move {
        let chat = Chat::start().await;
        let server = TestServer::start_with(backend, two_repos, |c| chat.configure(c)).await;
        chat.connected().await;

        let (command, summary, detail) = release_from_chat(&chat, &server).await;
        let id = detail["release"]["id"].as_str().unwrap().to_owned();
        assert_eq!(detail["release"]["created_by"], "@alice");
        assert_eq!(detail["release"]["channel_id"], chat.releases.as_str());
        assert_eq!(detail["release"]["chat_post_id"], summary.id.as_str());
        assert_eq!(
            summary.message,
            format!(
                "## Release: `uat` → `master`\n**Repositories:** 2 | **Commits:** 3 | \
                 **Sign-offs:** Dev ⬜ · QA ⬜ | **Status:** pending\n**CI:** no builds yet\n\
                 [View Dashboard]({}/releases/{id})",
                server.base
            )
        );
        assert_eq!(summary.channel_id, chat.releases);
        let history = server.history_actions(&id).await;
        assert_eq!(history, ["created", "notified"], "{history:?}");

        // Both sign-offs through the API: the summary is edited, and one announcement goes out.
        sign(&server, &id, "dev", "dev", true).await;
        sign(&server, &id, "qa", "qa", true).await;
        wait_for("the announcement", || {
            !chat.bot_posts_with("Release Ready to Deploy").is_empty()
        })
        .await;
        wait_for("the summary to show both sign-offs", || {
            chat.sim
                .post(&summary.id)
                .is_some_and(|p| p.message.contains("Dev ✅ dev · QA ✅ qa"))
        })
        .await;
        let edited = chat.sim.post(&summary.id).unwrap();
        assert!(edited.edit_at > 0);
        assert!(
            edited.message.contains("**Status:** approved"),
            "{}",
            edited.message
        );
        let ready = chat.bot_posts_with("Release Ready to Deploy");
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].channel_id, chat.releases);
        assert_eq!(
            ready[0].message,
            format!(
                "✅ **Release Ready to Deploy**\n`uat` → `master` | 2 repositories\n\
                 Approved by: dev (Dev), qa (QA)\n[View Details]({}/releases/{id})",
                server.base
            )
        );

        // Revoke and approve again: a new approval cycle, exactly one more announcement.
        sign(&server, &id, "qa", "qa", false).await;
        wait_for("the summary to lose the QA sign-off", || {
            chat.sim
                .post(&summary.id)
                .is_some_and(|p| p.message.contains("QA ⬜"))
        })
        .await;
        sign(&server, &id, "qa", "qa", true).await;
        wait_for("the second announcement", || {
            chat.bot_posts_with("Release Ready to Deploy").len() == 2
        })
        .await;
        // Nothing more is owed: once the sender has looked again, it stays at two.
        outbox_settled(&server.base).await;
        assert_eq!(chat.bot_posts_with("Release Ready to Deploy").len(), 2);
        assert_eq!(
            chat.answers(&command).len(),
            1,
            "one summary, no other answers"
        );
        let rows = all_rows(&server, &id).await;
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(kinds, ["summary", "ready", "ready"]);
        assert!(
            rows.iter()
                .all(|r| r.sent_at.is_some() && r.post_id.is_some())
        );
        let notified = server
            .history_actions(&id)
            .await
            .into_iter()
            .filter(|a| a == "notified")
            .count();
        assert_eq!(notified, 3);

        server.stop().await;
        chat.sim.shutdown().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_answer_in_their_thread_with_one_clear_sentence() {
    let chat = Chat::start().await;
    let server = TestServer::start_with(Backend::Sqlite, two_repos, |c| chat.configure(c)).await;
    chat.connected().await;

    let ask = |message: &str| chat.say("alice", &chat.releases, message);

    let none = ask("@pusheen releases");
    assert_eq!(
        chat.answer(&none).await.message,
        "No active releases. Start one with `@pusheen create-release <source> <dest>`."
    );

    let help = ask("@Pusheen help");
    let text = chat.answer(&help).await.message;
    assert!(
        text.contains("`@pusheen create-release uat master`"),
        "{text}"
    );
    assert!(text.contains("`@pusheen releases`"), "{text}");

    let unknown = ask("@pusheen deploy-everything now");
    let text = chat.answer(&unknown).await.message;
    assert!(
        text.starts_with("I don't know the command `deploy-everything`."),
        "{text}"
    );
    assert!(text.contains("`@pusheen status "), "{text}");

    let usage = ask("@pusheen create-release uat");
    assert_eq!(
        chat.answer(&usage).await.message,
        "Usage: `@pusheen create-release <source> <dest>`."
    );

    let invalid = ask("@pusheen create-release ua..t master");
    let text = chat.answer(&invalid).await.message;
    assert!(
        text.starts_with("Cannot create the release: `source_branch` "),
        "{text}"
    );
    assert_eq!(text.matches('\n').count(), 0, "one sentence: {text}");

    let missing = ask("@pusheen create-release nope master");
    assert_eq!(
        chat.answer(&missing).await.message,
        "Cannot create the release: branch `nope` does not exist in any repository of acme."
    );

    let nothing = ask("@pusheen create-release master uat");
    let text = chat.answer(&nothing).await.message;
    assert!(
        text.starts_with("Cannot create the release: nothing to release"),
        "{text}"
    );

    let unknown_id = ask("@pusheen status 0123456789ab");
    let text = chat.answer(&unknown_id).await.message;
    assert!(
        text.starts_with("Cannot show the release: release `"),
        "{text}"
    );
    assert!(text.ends_with("not found."), "{text}");

    // Nothing of the above created a release.
    let (_, list) = server.get("viewer", "/api/releases").await;
    assert_eq!(list["releases"].as_array().unwrap().len(), 0, "{list}");

    // A release created through the API is listed, and its status answered.
    let created = server.create_release().await;
    let id = created["release"]["id"].as_str().unwrap().to_owned();
    let listed = ask("@pusheen releases");
    let text = chat.answer(&listed).await.message;
    assert!(text.starts_with("**Active releases** (1)"), "{text}");
    assert!(
        text.contains(&format!("[{id}]({}/releases/{id})", server.base)),
        "{text}"
    );
    assert!(
        text.contains("`uat` → `master` · **pending** · 2 repos, 3 commits"),
        "{text}"
    );

    let status = ask(&format!("@pusheen status {id}"));
    let text = chat.answer(&status).await.message;
    assert!(
        text.starts_with(&format!("Release `{id}`\n## Release: `uat` → `master`")),
        "{text}"
    );
    assert!(text.contains("**Sign-offs:** Dev ⬜ · QA ⬜"), "{text}");
    assert!(text.contains("**CI:** no builds yet"), "{text}");

    // A reply inside a thread is answered in that thread.
    let in_thread = chat
        .sim
        .post_as("alice", &chat.releases, "@pusheen help", Some(&status));
    wait_for("an answer in the existing thread", || {
        chat.answers(&status).len() == 2
    })
    .await;
    assert!(chat.answers(&in_thread.id).is_empty());

    // Outside the allow-list: one line, and nothing happens.
    let elsewhere = chat.say("alice", &chat.random, "@pusheen create-release uat master");
    assert_eq!(
        chat.answer(&elsewhere).await.message,
        "Shipyard is not enabled in this channel."
    );
    // Posts not addressed to the bot get no answer; the bot never answers itself. Posts are
    // handled in order, so once a later command is answered, the chatter has been looked at.
    let chatter = ask("lunch? cc @pusheen");
    let later = ask("@pusheen help");
    chat.answer(&later).await;
    assert!(chat.answers(&chatter).is_empty());
    let (_, list) = server.get("viewer", "/api/releases").await;
    assert_eq!(list["releases"].as_array().unwrap().len(), 1, "{list}");
    let bot_posts = chat
        .sim
        .posts()
        .iter()
        .filter(|p| p.user_id == chat.bot_id)
        .count();
    assert_eq!(bot_posts, 13, "one answer per command");

    server.stop().await;
    chat.sim.shutdown().await;
}

both_backends!(
    outages_of_the_socket_and_the_rest_api_lose_nothing_and_duplicate_nothing,
    |backend| async move {
        let chat = Chat::start().await;
        let server = TestServer::start_with(backend, two_repos, |c| chat.configure(c)).await;
        chat.connected().await;
        let (command, summary, detail) = release_from_chat(&chat, &server).await;
        let id = detail["release"]["id"].as_str().unwrap().to_owned();

        // Mattermost fails every REST call for a while, and the socket is cut and refused.
        chat.sim.set_refuse_websocket(true);
        chat.sim.drop_connections();
        chat.sim.push_rest_faults(
            [
                RestFault::Status(502),
                RestFault::Status(503),
                RestFault::TooManyRequests {
                    retry_after_secs: 1,
                },
                RestFault::Status(500),
            ]
            .into_iter()
            .cycle()
            .take(12),
        );
        sign(&server, &id, "dev", "dev", true).await;
        sign(&server, &id, "qa", "qa", true).await;
        // A command typed while the bot is away.
        let missed = chat.say("alice", &chat.releases, "@pusheen releases");
        // The sender tried the announcement and Mattermost refused it: nothing was posted.
        for _ in 0..400 {
            let rows = all_rows(&server, &id).await;
            if rows
                .iter()
                .any(|r| r.kind == "ready" && r.last_error.is_some())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = all_rows(&server, &id).await;
        let ready = rows.iter().find(|r| r.kind == "ready").unwrap();
        assert!(ready.last_error.is_some(), "{ready:?}");
        assert!(ready.sent_at.is_none(), "{ready:?}");
        assert!(chat.bot_posts_with("Release Ready to Deploy").is_empty());

        chat.sim.set_refuse_websocket(false);
        wait_for("the announcement after the outage", || {
            !chat.bot_posts_with("Release Ready to Deploy").is_empty()
        })
        .await;
        chat.connected().await;
        let answer = chat.answer(&missed).await;
        assert!(
            answer.message.starts_with("**Active releases** (1)"),
            "{}",
            answer.message
        );
        wait_for("the summary to catch up", || {
            chat.sim
                .post(&summary.id)
                .is_some_and(|p| p.message.contains("QA ✅"))
        })
        .await;

        // Once more: the socket is cut again, with nothing owed. Once the read-back after the
        // reconnect is done and the sender has looked again, nothing more was posted.
        let catch_ups = counter(&bot_status(&server.base).await, "catch_ups");
        chat.sim.drop_connections();
        wait_for_bot(&server.base, "the read-back after the reconnect", |s| {
            counter(s, "catch_ups") > catch_ups
        })
        .await;
        chat.connected().await;
        outbox_settled(&server.base).await;
        assert_eq!(chat.bot_posts_with("Release Ready to Deploy").len(), 1);
        assert_eq!(
            chat.answers(&missed).len(),
            1,
            "the missed command is answered once"
        );
        assert_eq!(chat.answers(&command).len(), 1, "one summary");
        assert!(chat.sim.websocket_connections() >= 3);
        let rows = all_rows(&server, &id).await;
        assert!(rows.iter().all(|r| r.sent_at.is_some()), "{rows:?}");
        let ready = rows.iter().find(|r| r.kind == "ready").unwrap();
        assert!(
            ready.attempts > 1,
            "the outage made the first attempt fail: {ready:?}"
        );

        server.stop().await;
        chat.sim.shutdown().await;
    }
);

both_backends!(
    a_restart_sends_each_unsent_notification_once,
    |backend| async move {
        let chat = Chat::start().await;
        // First run: no Mattermost configured, so the outbox fills and nothing is sent.
        let mut server = TestServer::start(backend, two_repos).await;
        let (s, created) = server
            .post(
                "dev",
                "/api/releases",
                json!({"source_branch": "uat", "dest_branch": "master", "channel_id": chat.releases}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{created}");
        let id = created["release"]["id"].as_str().unwrap().to_owned();
        sign(&server, &id, "dev", "dev", true).await;
        sign(&server, &id, "qa", "qa", true).await;
        let rows = all_rows(&server, &id).await;
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert!(rows.iter().all(|r| r.sent_at.is_none()));

        // A sender that posted the announcement and died before recording it: the row is
        // claimed (its lease runs out at once) and its post exists in the channel.
        let store = Store::connect(&server.db_url).await.unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let claimed = store.claim_due_notifications(now, 0, 10).await.unwrap();
        assert_eq!(claimed.len(), 2);
        store.close().await;
        let ready = claimed.iter().find(|r| r.kind == "ready").unwrap().clone();
        let client = shipyard_mattermost::Mattermost::new(
            shipyard_mattermost::MattermostOptions::new(chat.sim.url(), chat.token.clone()),
        )
        .unwrap();
        let mut post = shipyard_mattermost::NewPost::new(&ready.channel_id, &ready.message);
        post.props
            .insert("shipyard_key".into(), json!(ready.idempotency_key));
        let earlier = client.create_post(&post).await.unwrap();

        // Second run, with Mattermost: each notification is sent once.
        server.restart_with(|c| chat.configure(c)).await;
        wait_for("the outbox to empty", || {
            chat.bot_posts_with("## Release:").len() == 1
        })
        .await;
        for _ in 0..200 {
            if all_rows(&server, &id)
                .await
                .iter()
                .all(|r| r.sent_at.is_some())
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let rows = all_rows(&server, &id).await;
        assert!(rows.iter().all(|r| r.sent_at.is_some()), "{rows:?}");
        let ready_row = rows.iter().find(|r| r.kind == "ready").unwrap();
        assert_eq!(ready_row.post_id.as_deref(), Some(earlier.id.as_str()));
        assert_eq!(chat.bot_posts_with("Release Ready to Deploy").len(), 1);
        let summary = chat.bot_posts_with("## Release:").remove(0);
        assert_eq!(
            summary.root_id, "",
            "a release created through the API gets a top-level summary"
        );

        // A third run has nothing left to send.
        server.restart_with(|_| {}).await;
        chat.connected().await;
        outbox_settled(&server.base).await;
        assert_eq!(chat.bot_posts_with("Release Ready to Deploy").len(), 1);
        assert_eq!(chat.bot_posts_with("## Release:").len(), 1);

        server.stop().await;
        chat.sim.shutdown().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_build_is_announced_once_per_run_attempt_and_shown_in_the_summary() {
    let chat = Chat::start().await;
    let secret = random_token("whsec_");
    let s = secret.clone();
    let server = TestServer::start_with(
        Backend::Sqlite,
        |sim| {
            two_repos(sim);
            sim.open_pr("billing", "uat", "master", "Release");
        },
        |c| {
            chat.configure(c);
            c.github.as_mut().unwrap().webhook_secret = Some(Secret::new(s));
            c.ci.poll_interval = Duration::from_secs(3600);
        },
    )
    .await;
    server
        .sim
        .set_webhook(&format!("{}/webhooks/github", server.base), &secret);
    chat.connected().await;
    let (_, summary, _) = release_from_chat(&chat, &server).await;

    let sha = server.sim.merge_pr("billing", 1);
    server.sim.flush_webhooks().await;
    let run = server
        .sim
        .start_run("billing", "general.yaml", "master", &sha);
    server.sim.flush_webhooks().await;
    server.sim.complete_run(run, "failure");
    server.sim.flush_webhooks().await;
    wait_for("the failure to be announced", || {
        chat.bot_posts_with("CI failed").len() == 1
    })
    .await;
    let failed = chat.bot_posts_with("CI failed").remove(0);
    assert!(
        failed
            .message
            .starts_with("❌ **CI failed** for `billing` ([run #"),
        "{}",
        failed.message
    );
    assert!(
        failed
            .message
            .contains("in release `uat` → `master`: CI ended with `failure`."),
        "{}",
        failed.message
    );
    wait_for("the summary to show the failed build", || {
        chat.sim
            .post(&summary.id)
            .is_some_and(|p| p.message.contains("**CI:** 1 ✗"))
    })
    .await;

    // A re-run that fails again is a new occasion; a repeated delivery is not.
    server.sim.rerun(run);
    server.sim.flush_webhooks().await;
    server.sim.complete_run(run, "failure");
    server.sim.flush_webhooks().await;
    wait_for("the second failure", || {
        chat.bot_posts_with("CI failed").len() == 2
    })
    .await;
    outbox_settled(&server.base).await;
    assert_eq!(chat.bot_posts_with("CI failed").len(), 2);

    server.stop().await;
    chat.sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_run_one_bot_and_the_other_takes_over() {
    let chat = Chat::start().await;
    let mut server =
        TestServer::start_with(Backend::Postgres, two_repos, |c| chat.configure(c)).await;
    chat.connected().await;
    let (replica_base, stop_replica, replica) = server.replica().await;
    // The replica asks for the lead and is refused: one socket, one answer per command.
    wait_for_bot(&replica_base, "the replica to be refused the lead", |s| {
        s["role"] == "follower"
    })
    .await;
    assert_eq!(bot_status(&server.base).await["role"], "leader");
    assert_eq!(chat.sim.open_websockets(), 1);
    assert_eq!(chat.sim.websocket_connections(), 1);
    let first = chat.say("alice", &chat.releases, "@pusheen help");
    chat.answer(&first).await;
    // Posts are answered in order: once a later one is answered, a second answer to the
    // first would have come already.
    let later = chat.say("alice", &chat.releases, "@pusheen help");
    chat.answer(&later).await;
    assert_eq!(chat.answers(&first).len(), 1);

    // The leader goes away: the replica takes the bot over (it asks every 10 s).
    server.halt().await;
    for _ in 0..300 {
        if chat.sim.websocket_connections() == 2 && chat.sim.open_websockets() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(chat.sim.websocket_connections(), 2, "the replica connected");
    let second = chat.say("alice", &chat.releases, "@pusheen releases");
    assert!(
        chat.answer(&second)
            .await
            .message
            .starts_with("No active releases.")
    );

    let _ = stop_replica.send(());
    let _ = replica.await;
    server.stop().await;
    chat.sim.shutdown().await;
}
