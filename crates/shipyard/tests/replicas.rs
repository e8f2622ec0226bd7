//! Several `shipyard serve` processes on one PostgreSQL database, against the simulated GitHub
//! and Mattermost over real sockets: live events reach every replica, singleton work runs on
//! one, each CI run is polled by one replica per interval, and a replica killed with SIGKILL at
//! any point loses and doubles nothing.
//!
//! These tests run the real binary (not the server in the test process), so a kill is a real
//! `kill -9` and the leader's advisory lock really goes with its process.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard::demo::random_token;
use shipyard_core::ReleaseId;
use shipyard_sim::github::{CommitSpec, SimGithub};
use shipyard_sim::mattermost::{Post, SimMattermost};
use shipyard_store::{Backend, Store, testing};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ORG: &str = "acme";
const BOT: &str = "pusheen";
const USERS: [(&str, &str); 3] = [
    ("dev", "dev_approver"),
    ("qa", "qa_approver"),
    ("admin", "admin"),
];
/// The tests of this file run one at a time: each starts several server processes, and the
/// timing asserted (an event within a second) should not depend on how many run beside it.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The address every replica puts in links (a load balancer's, in production).
const PUBLIC_URL: &str = "http://releases.test";

/// The upstreams and the database the replicas share.
struct World {
    github: SimGithub,
    github_token: String,
    chat: SimMattermost,
    chat_token: String,
    bot_id: String,
    channel: String,
    db_url: String,
    tokens: BTreeMap<&'static str, String>,
    dir: tempfile::TempDir,
    http: reqwest::Client,
}

/// One `shipyard serve` process.
struct Replica {
    name: String,
    base: String,
    child: Option<Child>,
    log: PathBuf,
    config: PathBuf,
}

fn commit(msg: &str, login: &str) -> CommitSpec {
    CommitSpec::new(
        msg,
        &format!("{login} name"),
        &format!("{login}@example.com"),
    )
    .login(login)
    .file("src/lib.rs", 3, 1)
}

impl World {
    /// `repos` repos, each with `uat` ahead of `master` and, when `merged`, a release pull
    /// request merged already (so CI tracking starts with the release).
    async fn start(repos: &[&str], merged: bool) -> World {
        shipyard::install_crypto_provider();
        let github = SimGithub::start(ORG).await.expect("sim GitHub");
        let github_token = random_token("ghs_");
        github.set_token(Some(github_token.clone()));
        for repo in repos {
            github.add_repo(repo);
            github.create_branch(repo, "master", "main");
            github.create_branch(repo, "uat", "master");
            github.commit(repo, "uat", commit(&format!("feat: {repo}"), "alice"));
            if merged {
                // The release PR merged, and one more commit since: the release lists the
                // repo with its merged PR, whose merge commit CI builds.
                let pr = github.open_pr(repo, "uat", "master", "Release uat");
                github.merge_pr(repo, pr);
                github.commit(repo, "uat", commit(&format!("fix: {repo}"), "bob"));
            }
        }
        let chat = SimMattermost::start().await.expect("sim Mattermost");
        let chat_token = random_token("bot-");
        let bot_id = chat.add_bot(BOT, &chat_token);
        let channel = chat.add_channel("acme", "releases");
        chat.add_member(&channel, &bot_id);
        let db_url = testing::fresh_database_url(Backend::Postgres).await;
        let tokens = USERS
            .iter()
            .map(|(name, _)| (*name, random_token("sy_")))
            .collect();
        World {
            github,
            github_token,
            chat,
            chat_token,
            bot_id,
            channel,
            db_url,
            tokens,
            dir: tempfile::tempdir().unwrap(),
            http: reqwest::Client::new(),
        }
    }

    fn config_yaml(&self, name: &str, port: u16) -> String {
        let mut tokens = String::new();
        for (user, role) in USERS {
            tokens.push_str(&format!(
                "    - name: \"{user}\"\n      token_sha256: \"{}\"\n      roles: [\"{role}\"]\n",
                shipyard_web::token_sha256_hex(&self.tokens[user])
            ));
        }
        format!(
            "server:\n  listen: \"127.0.0.1:{port}\"\n  base_url: \"{PUBLIC_URL}\"\n  replica: \"{name}\"\n  shutdown_timeout: \"5s\"\n\
             database:\n  url: \"{db}\"\n\
             github:\n  api_url: \"{api}\"\n  graphql_url: \"{graphql}\"\n  org: \"{ORG}\"\n  token: \"{gh_token}\"\n\
             auth:\n  api_tokens:\n{tokens}\
             ci:\n  poll_interval: \"1s\"\n  claim_lease: \"3s\"\n\
             mattermost:\n  url: \"{mm}\"\n  token: \"{mm_token}\"\n  bot_username: \"{BOT}\"\n  channels: [\"{channel}\"]\n  \
             summary_interval: \"200ms\"\n  outbox_poll_interval: \"100ms\"\n  lead_check_interval: \"300ms\"\n  \
             catch_up_retry: \"200ms\"\n  outbox_lease: \"2s\"\n\
             log:\n  format: json\n",
            db = self.db_url,
            api = self.github.url(),
            graphql = self.github.graphql_url(),
            gh_token = self.github_token,
            mm = self.chat.url(),
            mm_token = self.chat_token,
            channel = self.channel,
        )
    }

    /// Starts replica `name` and waits until it is ready.
    async fn replica(&self, name: &str) -> Replica {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let config = self.dir.path().join(format!("{name}.yaml"));
        std::fs::write(&config, self.config_yaml(name, port)).unwrap();
        let mut replica = Replica {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            child: None,
            log: self.dir.path().join(format!("{name}.log")),
            config,
        };
        replica.launch(self).await;
        replica
    }

    async fn call(
        &self,
        replica: &Replica,
        who: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .request(method, format!("{}{path}", replica.base))
            .bearer_auth(&self.tokens[who]);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        let body = res.json().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Creates a release `uat` → `master` through `replica`, owing its summary to the channel.
    async fn create_release(&self, replica: &Replica) -> String {
        let (s, body) = self
            .call(
                replica,
                "dev",
                reqwest::Method::POST,
                "/api/releases",
                Some(json!({"source_branch": "uat", "dest_branch": "master", "channel_id": self.channel})),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["release"]["id"].as_str().unwrap().to_owned()
    }

    async fn sign(&self, replica: &Replica, id: &str, who: &str, kind: &str) {
        let (s, body) = self
            .call(
                replica,
                who,
                reqwest::Method::POST,
                &format!("/api/releases/{id}/approve/{kind}"),
                Some(json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }

    async fn store(&self) -> Store {
        Store::connect(&self.db_url).await.expect("connect")
    }

    /// The bot's posts, by the idempotency key they carry.
    fn posts_by_key(&self) -> BTreeMap<String, Vec<Post>> {
        let mut out: BTreeMap<String, Vec<Post>> = BTreeMap::new();
        for p in self.chat.posts() {
            if p.user_id != self.bot_id {
                continue;
            }
            if let Some(key) = p.props.get("shipyard_key").and_then(Value::as_str) {
                out.entry(key.to_owned()).or_default().push(p);
            }
        }
        out
    }

    /// Every outbox row of `releases` is marked sent.
    async fn all_sent(&self, releases: &[String]) -> bool {
        let store = self.store().await;
        let mut done = true;
        for id in releases {
            let rows = store
                .notifications(&ReleaseId::parse(id).unwrap())
                .await
                .unwrap();
            done &= !rows.is_empty() && rows.iter().all(|r| r.sent_at.is_some());
        }
        store.close().await;
        done
    }

    async fn finish(self, replicas: Vec<Replica>) {
        for mut r in replicas {
            r.kill();
        }
        self.chat.shutdown().await;
        testing::drop_database(&self.db_url).await;
    }
}

impl Replica {
    async fn launch(&mut self, world: &World) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipyard"));
        for (key, _) in std::env::vars() {
            if key.starts_with("SHIPYARD_") || key.starts_with("CI_POLL") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start shipyard serve");
        self.child = Some(child);
        for _ in 0..400 {
            if let Ok(r) = world.http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "replica {} did not become ready:\n{}",
            self.name,
            self.log_text()
        );
    }

    /// SIGKILL: no shutdown of any kind.
    fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then the exit status.
    fn terminate(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        child.wait().unwrap()
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn ready(&self) -> Value {
        reqwest::get(format!("{}/readyz", self.base))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Its `/metrics` text.
    async fn metrics(&self) -> String {
        reqwest::get(format!("{}/metrics", self.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Whether this replica runs the Mattermost bot.
    async fn leads_the_bot(&self) -> bool {
        self.ready().await["leaders"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|l| l["task"] == "shipyard:mattermost-bot" && l["here"] == true)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {limit:?} waiting for {what}");
}

/// The two replicas, the leader of the bot first.
async fn leader_first(a: Replica, b: Replica) -> (Replica, Replica) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if a.leads_the_bot().await {
            return (a, b);
        }
        if b.leads_the_bot().await {
            return (b, a);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no replica took the lead");
}

/// A world with `repos` (none merged) and two replicas, the leader of the bot first.
async fn leader_and_follower(repos: &[&str]) -> (World, Replica, Replica) {
    let world = World::start(repos, false).await;
    let a = world.replica("web-a").await;
    let b = world.replica("web-b").await;
    let (leader, follower) = leader_first(a, b).await;
    (world, leader, follower)
}

/// An open `text/event-stream`, read line by line.
struct EventStream {
    lines: std::pin::Pin<Box<dyn futures::Stream<Item = String> + Send>>,
}

impl EventStream {
    async fn open(world: &World, replica: &Replica, path: &str) -> EventStream {
        let res = world
            .http
            .get(format!("{}{path}", replica.base))
            .bearer_auth(&world.tokens["dev"])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let lines = futures::stream::unfold(
            (
                res,
                String::new(),
                std::collections::VecDeque::<String>::new(),
            ),
            |(mut res, mut buf, mut ready)| async move {
                loop {
                    if let Some(line) = ready.pop_front() {
                        return Some((line, (res, buf, ready)));
                    }
                    let chunk = res.chunk().await.ok()??;
                    buf.push_str(&String::from_utf8_lossy(&chunk));
                    while let Some(i) = buf.find('\n') {
                        let line = buf[..i].trim_end_matches('\r').to_owned();
                        buf.drain(..=i);
                        ready.push_back(line);
                    }
                }
            },
        );
        EventStream {
            lines: Box::pin(lines),
        }
    }

    /// The next event whose type is `event` and whose data contains `needle`, within `limit`.
    async fn next_event(&mut self, event: &str, needle: &str, limit: Duration) -> Option<String> {
        let want = format!("event: {event}");
        tokio::time::timeout(limit, async {
            let mut current = String::new();
            while let Some(line) = self.lines.next().await {
                if line.starts_with("event:") {
                    current = line;
                } else if let Some(data) = line.strip_prefix("data:") {
                    if current == want && data.contains(needle) {
                        return Some(data.trim().to_owned());
                    }
                } else if line.is_empty() {
                    current.clear();
                }
            }
            None
        })
        .await
        .ok()
        .flatten()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_on_one_replica_reaches_the_other_and_its_bot() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (world, leader, follower) = leader_and_follower(&["billing", "payments"]).await;

    // Both say who leads, by name.
    for r in [&leader, &follower] {
        let ready = r.ready().await;
        assert_eq!(ready["replica"], r.name.as_str());
        assert_eq!(ready["events"]["relay"], "postgres");
        let bot = ready["leaders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["task"] == "shipyard:mattermost-bot")
            .cloned()
            .unwrap();
        assert_eq!(bot["replica"], leader.name.as_str(), "{ready}");
    }

    // The release is created through the follower (with a request id of the caller's); the
    // leader's bot posts its summary.
    let res = world
        .http
        .post(format!("{}/api/releases", follower.base))
        .bearer_auth(&world.tokens["dev"])
        .header("x-request-id", "req-7f3a")
        .json(
            &json!({"source_branch": "uat", "dest_branch": "master", "channel_id": world.channel}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["x-request-id"], "req-7f3a");
    let created: Value = res.json().await.unwrap();
    let id = created["release"]["id"].as_str().unwrap().to_owned();
    // Its log line is one JSON object carrying the request id and the release id.
    let line = follower
        .log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["fields"]["message"] == "release created")
        .expect("a `release created` line");
    assert_eq!(line["span"]["request_id"], "req-7f3a", "{line}");
    assert_eq!(line["fields"]["release"], id.as_str(), "{line}");
    wait_until("the summary post", Duration::from_secs(10), || async {
        world.posts_by_key().contains_key(&format!("summary:{id}"))
    })
    .await;
    let summary = world.posts_by_key()[&format!("summary:{id}")][0].clone();

    // A browser following the release on the leader hears a sign-off made on the follower
    // within a second; one on the follower hears the leader's.
    for (watcher, actor, who, kind) in [
        (&leader, &follower, "dev", "dev"),
        (&follower, &leader, "qa", "qa"),
    ] {
        let mut events =
            EventStream::open(&world, watcher, &format!("/api/releases/{id}/events")).await;
        // The stream is open once its first byte (a comment or an event) could arrive; give
        // the subscription a moment to be in place.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let signed = Instant::now();
        world.sign(actor, &id, who, kind).await;
        let heard = events
            .next_event("release", "approvals", Duration::from_secs(1))
            .await;
        assert!(
            heard.is_some(),
            "{} did not hear {}'s sign-off within 1 s",
            watcher.name,
            actor.name
        );
        assert!(signed.elapsed() <= Duration::from_secs(1));
        // And what it then reads is the new state, not a kept copy.
        let (s, detail) = world
            .call(
                watcher,
                "dev",
                reqwest::Method::GET,
                &format!("/api/releases/{id}"),
                None,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert!(
            detail["release"][format!("{kind}_approved_by")].is_string(),
            "{detail}"
        );
    }

    // The summary post, edited only by the leader, shows the sign-offs made on the follower
    // and the leader alike.
    wait_until(
        "the summary to show both sign-offs",
        Duration::from_secs(10),
        || async {
            world
                .chat
                .post(&summary.id)
                .is_some_and(|p| p.message.contains("Dev ✅") && p.message.contains("QA ✅"))
        },
    )
    .await;
    let edited = world.chat.post(&summary.id).unwrap();
    assert_ne!(edited.message, summary.message);

    world.finish(vec![leader, follower]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_ci_run_is_polled_by_one_replica_per_interval() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let repos = ["billing", "payments", "search"];
    let world = World::start(&repos, true).await;
    let a = world.replica("web-a").await;
    let id = world.create_release(&a).await;
    let b = world.replica("web-b").await;
    // Every merge gets a run that stays in progress: each is polled every second.
    let store = world.store().await;
    let rows = store
        .ci_statuses(&ReleaseId::parse(&id).unwrap())
        .await
        .unwrap();
    store.close().await;
    assert_eq!(rows.len(), repos.len(), "{rows:?}");
    for row in &rows {
        let run = world.github.start_run(
            &row.repo_name,
            "general.yaml",
            "master",
            &row.merge_commit_sha,
        );
        world.github.set_run_status(run, "in_progress");
    }
    // Both replicas track; count what they ask GitHub about each repo's runs over 8 s.
    tokio::time::sleep(Duration::from_secs(2)).await;
    world.github.reset_counters();
    let window = Duration::from_secs(8);
    tokio::time::sleep(window).await;
    let requests = world.github.requests();
    for repo in repos {
        let polls = requests
            .iter()
            .filter(|r| r.path.starts_with(&format!("/repos/{ORG}/{repo}/actions/")))
            .count();
        eprintln!("{repo}: {polls} polls in {window:?}");
        // One replica per 1 s interval: at most one poll per second of the window (and one
        // for the round in flight at each end); two replicas polling each would make ~16.
        assert!(
            (2..=10).contains(&polls),
            "{repo} was polled {polls} times in {window:?}"
        );
    }
    world.finish(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_mid_send_moves_the_lead_and_posts_everything_once() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (world, mut leader, follower) = leader_and_follower(&["billing"]).await;
    // Each post is stored at once but answered slowly: the leader dies with posts made that it
    // never recorded, and rows it claimed but did not try.
    world.chat.set_post_latency(Duration::from_millis(400));
    let mut releases = Vec::new();
    for _ in 0..6 {
        releases.push(world.create_release(&follower).await);
    }
    wait_until(
        "the leader's first posts",
        Duration::from_secs(10),
        || async { !world.posts_by_key().is_empty() },
    )
    .await;
    leader.kill();
    wait_until(
        "the follower to take the lead",
        Duration::from_secs(10),
        || async { follower.leads_the_bot().await },
    )
    .await;
    world.chat.set_post_latency(Duration::ZERO);
    wait_until(
        "every notification to be sent",
        Duration::from_secs(30),
        || async { world.all_sent(&releases).await },
    )
    .await;
    let posts = world.posts_by_key();
    for id in &releases {
        let key = format!("summary:{id}");
        let n = posts.get(&key).map_or(0, Vec::len);
        assert_eq!(n, 1, "{key} posted {n} times");
    }
    assert_eq!(posts.len(), releases.len(), "{:?}", posts.keys());
    // The kill did land mid-send: some rows needed a second claim (the leader's claim died
    // with it, and a post it made may have been found again rather than repeated).
    let store = world.store().await;
    let mut retried = 0;
    for id in &releases {
        let rows = store
            .notifications(&ReleaseId::parse(id).unwrap())
            .await
            .unwrap();
        retried += rows.iter().filter(|r| r.attempts >= 2).count();
    }
    store.close().await;
    assert!(retried >= 1, "no row was taken over from the killed leader");
    world.finish(vec![leader, follower]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_while_tracking_and_sending_carries_on_after_a_restart() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let repos = ["billing", "payments", "search"];
    let world = World::start(&repos, true).await;
    let mut one = world.replica("web-1").await;
    let id = world.create_release(&one).await;
    let store = world.store().await;
    let rows = store
        .ci_statuses(&ReleaseId::parse(&id).unwrap())
        .await
        .unwrap();
    let mut runs = Vec::new();
    for row in &rows {
        let run = world.github.start_run(
            &row.repo_name,
            "general.yaml",
            "master",
            &row.merge_commit_sha,
        );
        world.github.set_run_status(run, "in_progress");
        runs.push((row.repo_name.clone(), row.merge_commit_sha.clone(), run));
    }
    wait_until("the summary post", Duration::from_secs(10), || async {
        world.posts_by_key().contains_key(&format!("summary:{id}"))
    })
    .await;
    // Both sign-offs owe "ready to deploy"; its post is made but answered slowly, and the
    // process dies before it hears back.
    world.chat.set_post_latency(Duration::from_secs(2));
    world.sign(&one, &id, "dev", "dev").await;
    world.sign(&one, &id, "qa", "qa").await;
    let ready_key = format!("ready:{id}:1");
    wait_until(
        "the ready post to be made",
        Duration::from_secs(10),
        || async { world.posts_by_key().contains_key(&ready_key) },
    )
    .await;
    one.kill();
    // Meanwhile the builds finish.
    for (repo, sha, run) in &runs {
        world.github.add_job(
            *run,
            "Helm chart publish",
            format!("2026-12-07T10:00:00.0000000Z CHART_VERSION=3.1.{run}\n"),
        );
        world.github.complete_run(*run, "success");
        let _ = (repo, sha);
    }
    world.chat.set_post_latency(Duration::ZERO);
    one.launch(&world).await;

    // Every build is seen through to its chart, and the ready post stays one post.
    wait_until(
        "every build to be recorded",
        Duration::from_secs(30),
        || async {
            let rows = store
                .ci_statuses(&ReleaseId::parse(&id).unwrap())
                .await
                .unwrap();
            rows.len() == runs.len()
                && rows.iter().all(|r| {
                    r.chart_version
                        .as_deref()
                        .is_some_and(|v| v.starts_with("3.1."))
                })
        },
    )
    .await;
    wait_until(
        "every notification to be sent",
        Duration::from_secs(30),
        || async { world.all_sent(std::slice::from_ref(&id)).await },
    )
    .await;
    let posts = world.posts_by_key();
    assert_eq!(posts[&ready_key].len(), 1, "{:?}", posts[&ready_key]);
    assert_eq!(posts[&format!("summary:{id}")].len(), 1);
    let outbox = store
        .notifications(&ReleaseId::parse(&id).unwrap())
        .await
        .unwrap();
    let ready = outbox
        .iter()
        .find(|n| n.idempotency_key == ready_key)
        .unwrap();
    assert_eq!(
        ready.post_id.as_deref(),
        Some(posts[&ready_key][0].id.as_str()),
        "the row records the post made before the kill"
    );
    assert!(
        ready.attempts >= 2,
        "the kill came between the post and its record: {ready:?}"
    );
    // The history has one completion per build, whatever the kill interrupted.
    let history = store
        .history(&ReleaseId::parse(&id).unwrap())
        .await
        .unwrap();
    let completed = history
        .iter()
        .filter(|h| h.details.action().as_str() == "ci_completed")
        .count();
    assert_eq!(completed, runs.len());
    store.close().await;

    // A graceful stop: SIGTERM ends it with status 0.
    let status = one.terminate();
    assert!(status.success(), "{status:?}\n{}", one.log_text());
    world.finish(vec![one]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_listener_connection_makes_pages_re_read() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let world = World::start(&["billing"], false).await;
    let a = world.replica("web-a").await;
    let b = world.replica("web-b").await;
    let id = world.create_release(&a).await;
    // B has read the release (and keeps that view) and follows it.
    let path = format!("/api/releases/{id}");
    let (s, before) = world
        .call(&b, "dev", reqwest::Method::GET, &path, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(before["release"]["dev_approved_by"].is_null());
    let mut events = EventStream::open(&world, &b, &format!("{path}/events")).await;
    tokio::time::sleep(Duration::from_millis(200)).await;

    // B's LISTEN session is terminated by the database, again and again while the sign-off is
    // made on A: its announcement may well be lost on the way to B.
    let admin = sqlx::PgPool::connect(&world.db_url).await.unwrap();
    let terminate = "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
        WHERE datname = current_database() AND application_name = $1 AND query ILIKE 'LISTEN%'";
    let killed: i64 = sqlx::query_scalar(terminate)
        .bind("shipyard web-b")
        .fetch_one(&admin)
        .await
        .unwrap();
    assert_eq!(killed, 1, "B listens on one session");
    let kill_loop = {
        let admin = admin.clone();
        tokio::spawn(async move {
            let until = Instant::now() + Duration::from_millis(800);
            while Instant::now() < until {
                let _: Result<i64, _> = sqlx::query_scalar(terminate)
                    .bind("shipyard web-b")
                    .fetch_one(&admin)
                    .await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    world.sign(&a, &id, "dev", "dev").await;
    kill_loop.await.unwrap();

    // B listens again and tells its pages to re-read; what they read has the sign-off.
    let resync = events
        .next_event("resync", "relay", Duration::from_secs(10))
        .await;
    assert!(resync.is_some(), "no resync event on B");
    wait_until("B to show the sign-off", Duration::from_secs(5), || async {
        let (_, after) = world
            .call(&b, "dev", reqwest::Method::GET, &path, None)
            .await;
        after["release"]["dev_approved_by"].is_string()
    })
    .await;
    let ready = b.ready().await;
    assert!(
        ready["events"]["reconnects"].as_u64().unwrap() >= 1,
        "{ready}"
    );
    assert_eq!(ready["events"]["listening"], true);
    let metrics = b.metrics().await;
    assert!(
        metrics.contains("shipyard_event_listener_reconnects_total"),
        "{metrics}"
    );
    admin.close().await;
    world.finish(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_database_session_stops_leading() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let (world, leader, follower) = leader_and_follower(&["billing"]).await;
    let websockets = world.chat.websocket_connections();
    // The database ends the session holding the bot's lock (a network cut would too).
    let admin = sqlx::PgPool::connect(&world.db_url).await.unwrap();
    let ended: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(l.pid)) FROM pg_locks l \
         JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND a.application_name = $1 \
         AND a.datname = current_database()",
    )
    .bind(format!("shipyard {}", leader.name))
    .fetch_one(&admin)
    .await
    .unwrap();
    assert!(ended >= 1, "the leader holds a lock session");
    admin.close().await;
    // It notices within its check interval and stops the bot; the other takes over.
    wait_until("the follower to lead", Duration::from_secs(10), || async {
        follower.leads_the_bot().await
    })
    .await;
    wait_until(
        "the old leader to step down",
        Duration::from_secs(5),
        || async { !leader.leads_the_bot().await },
    )
    .await;
    wait_until("one bot connected", Duration::from_secs(10), || async {
        world.chat.websocket_connections() > websockets && world.chat.open_websockets() == 1
    })
    .await;
    let metrics = follower.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("shipyard_leader{task=\"shipyard:mattermost-bot\"} 1")),
        "{metrics}"
    );
    world.finish(vec![leader, follower]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_streams_hands_checks_back_and_exits_zero() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let world = World::start(&["billing", "payments"], true).await;
    let mut one = world.replica("web-1").await;
    let id = world.create_release(&one).await;
    let mut events = EventStream::open(&world, &one, &format!("/api/releases/{id}/events")).await;
    // Every GitHub answer now takes 3 s: the tracker is mid-check when the signal comes.
    world.github.set_latency(Duration::from_secs(3));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stopping = Instant::now();
    let status = one.terminate();
    let took = stopping.elapsed();
    assert!(status.success(), "{status:?}\n{}", one.log_text());
    assert!(took < Duration::from_secs(5), "took {took:?}");
    // The event stream ended rather than hanging.
    assert_eq!(
        events
            .next_event("release", "never", Duration::from_secs(2))
            .await,
        None
    );
    // No CI row is left leased to the stopped process.
    let pool = sqlx::PgPool::connect(&world.db_url).await.unwrap();
    let leased: i64 =
        sqlx::query_scalar("SELECT count(*) FROM repo_ci_status WHERE lease_until IS NOT NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
    pool.close().await;
    assert_eq!(leased, 0, "{}", one.log_text());
    assert!(
        one.log_text().contains("CI checks handed back"),
        "{}",
        one.log_text()
    );
    world.github.set_latency(Duration::ZERO);
    world.finish(vec![one]).await;
}
