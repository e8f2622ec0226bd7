//! The test harness: the real server on a loopback port against the simulated GitHub, on a
//! fresh database of the chosen backend.

#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::Value;
use shipyard::demo::random_token;
use shipyard_config::{ApiTokenConfig, Config, GithubConfig, RepoFilter, Secret};
use shipyard_core::Role;
use shipyard_sim::github::{CommitSpec, SimGithub};
use shipyard_store::{Backend, testing};
use std::collections::HashMap;

/// Generates one test per database backend from one async body taking the backend.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                ($body)(shipyard_store::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                ($body)(shipyard_store::Backend::Postgres).await;
            }
        }
    };
}

/// The people of the tests and their roles.
pub const USERS: [(&str, &[Role]); 6] = [
    ("dev", &[Role::DevApprover]),
    ("dev2", &[Role::DevApprover]),
    ("qa", &[Role::QaApprover]),
    ("both", &[Role::DevApprover, Role::QaApprover]),
    ("admin", &[Role::Admin]),
    ("viewer", &[]),
];

/// A running server with its simulated GitHub.
pub struct TestServer {
    pub base: String,
    pub sim: SimGithub,
    pub http: reqwest::Client,
    pub tokens: HashMap<&'static str, String>,
    pub db_url: String,
    /// The configuration the server runs with.
    pub config: Config,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// An org for most tests: `ORG` with the repos that `seed` creates.
pub const ORG: &str = "acme";

/// A commit by a person with a GitHub account.
pub fn commit(msg: &str, login: &str) -> CommitSpec {
    CommitSpec::new(
        msg,
        &format!("{login} name"),
        &format!("{login}@example.com"),
    )
    .login(login)
    .file("src/lib.rs", 3, 1)
}

/// A repo with `main`, `master` and `uat` branches, `uat` ahead by the given commits.
pub fn repo_with_changes(sim: &SimGithub, name: &str, commits: &[CommitSpec]) {
    sim.add_repo(name);
    sim.create_branch(name, "master", "main");
    sim.create_branch(name, "uat", "master");
    for c in commits {
        sim.commit(name, "uat", c.clone());
    }
}

/// A repo whose `uat` and `master` are the same.
pub fn repo_unchanged(sim: &SimGithub, name: &str) {
    repo_with_changes(sim, name, &[]);
}

impl TestServer {
    /// Starts the sim (seeded by `seed`) and the server on a fresh database.
    pub async fn start(backend: Backend, seed: impl FnOnce(&SimGithub)) -> TestServer {
        Self::start_with(backend, seed, |_| {}).await
    }

    /// Like [`TestServer::start`], with a last say on the configuration.
    pub async fn start_with(
        backend: Backend,
        seed: impl FnOnce(&SimGithub),
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        Self::start_on(listener, backend, seed, adjust).await
    }

    /// Like [`TestServer::start_with`], on a listener the caller bound (to know the address first).
    pub async fn start_on(
        listener: tokio::net::TcpListener,
        backend: Backend,
        seed: impl FnOnce(&SimGithub),
        adjust: impl FnOnce(&mut Config),
    ) -> TestServer {
        shipyard::install_crypto_provider();
        let sim = SimGithub::start(ORG).await.expect("sim starts");
        let github_token = random_token("ghs_");
        sim.set_token(Some(github_token.clone()));
        seed(&sim);

        let db_url = testing::fresh_database_url(backend).await;
        let addr = listener.local_addr().expect("addr");

        let mut config = Config::default();
        config.server.listen = addr;
        config.server.base_url = format!("http://{addr}");
        config.database.url = db_url.clone();
        config.github = Some(GithubConfig {
            api_url: sim.url(),
            graphql_url: Some(sim.graphql_url()),
            web_url: None,
            org: ORG.to_owned(),
            token: Some(Secret::new(github_token)),
            webhook_secret: None,
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
        let mut tokens = HashMap::new();
        for (name, roles) in USERS {
            let token = random_token("sy_");
            config.auth.api_tokens.push(ApiTokenConfig {
                name: name.to_owned(),
                token_sha256: shipyard_web::token_sha256_hex(&token),
                roles: roles.to_vec(),
            });
            tokens.insert(name, token);
        }
        adjust(&mut config);

        let (stop, task) = spawn_serve(config.clone(), listener);
        let server = TestServer {
            base: format!("http://{addr}"),
            sim,
            http: reqwest::Client::new(),
            tokens,
            db_url,
            config,
            stop: Some(stop),
            task: Some(task),
        };
        server.wait_ready().await;
        server
    }

    /// Stops the server, keeping its database (for another replica, or a restart).
    pub async fn halt(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Starts another replica of the server on a new address and the same database; stop it
    /// with the returned sender.
    pub async fn replica(&self) -> (String, tokio::sync::oneshot::Sender<()>, ServeTask) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let mut config = self.config.clone();
        config.server.listen = listener.local_addr().expect("addr");
        // Replicas in one test process share its id: each needs a name of its own.
        config.server.replica = Some(format!("replica-{}", config.server.listen.port()));
        let base = format!("http://{}", config.server.listen);
        let (stop, task) = spawn_serve(config, listener);
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{base}/readyz")).send().await
                && r.status() == StatusCode::OK
            {
                return (base, stop, task);
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the replica did not become ready");
    }

    /// Stops the server and starts it again on the same address and database, after `adjust`
    /// had its say on the configuration (as an operator restarting it would).
    pub async fn restart_with(&mut self, adjust: impl FnOnce(&mut Config)) {
        self.halt().await;
        adjust(&mut self.config);
        let listener = tokio::net::TcpListener::bind(self.config.server.listen)
            .await
            .expect("bind the same address again");
        let (stop, task) = spawn_serve(self.config.clone(), listener);
        self.stop = Some(stop);
        self.task = Some(task);
        self.wait_ready().await;
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                && r.status() == StatusCode::OK
            {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server did not become ready");
    }

    /// Sends a request as `who` (a name from [`USERS`], or `None` for no credentials).
    pub async fn call(
        &self,
        who: Option<&str>,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(w) = who {
            req = req.bearer_auth(&self.tokens[w]);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: not JSON: {text:?}"));
        (status, value)
    }

    pub async fn get(&self, who: &str, path: &str) -> (StatusCode, Value) {
        self.call(Some(who), reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, who: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Some(who), reqwest::Method::POST, path, Some(body))
            .await
    }

    pub async fn patch(&self, who: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Some(who), reqwest::Method::PATCH, path, Some(body))
            .await
    }

    pub async fn delete(&self, who: &str, path: &str) -> (StatusCode, Value) {
        self.call(Some(who), reqwest::Method::DELETE, path, None)
            .await
    }

    /// Creates `uat → master` as `dev`, asserting 201; returns the release detail.
    pub async fn create_release(&self) -> Value {
        let (status, body) = self
            .post(
                "dev",
                "/api/releases",
                serde_json::json!({"source_branch": "uat", "dest_branch": "master"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// [`create_release`](Self::create_release), keeping only the new release's id.
    pub async fn create_release_id(&self) -> String {
        self.create_release().await["release"]["id"]
            .as_str()
            .expect("the created release has an id")
            .to_owned()
    }

    /// History actions of a release, oldest first.
    pub async fn history_actions(&self, id: &str) -> Vec<String> {
        let (status, body) = self
            .get("viewer", &format!("/api/releases/{id}/history"))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["history"]
            .as_array()
            .expect("history")
            .iter()
            .map(|h| h["action"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    /// Stops the server and removes its database.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        testing::drop_database(&self.db_url).await;
    }
}

/// A running `shipyard serve`.
pub type ServeTask = tokio::task::JoinHandle<anyhow::Result<()>>;

fn spawn_serve(
    config: Config,
    listener: tokio::net::TcpListener,
) -> (tokio::sync::oneshot::Sender<()>, ServeTask) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        shipyard::app::serve(&config, listener, async {
            let _ = stopped.await;
        })
        .await
    });
    (stop, task)
}

/// `who` gives (`on`) or withdraws the `kind` sign-off of release `id`, asserting 200.
pub async fn sign(server: &TestServer, id: &str, who: &str, kind: &str, on: bool) {
    let path = format!("/api/releases/{id}/approve/{kind}");
    let (s, body) = if on {
        server.post(who, &path, serde_json::json!({})).await
    } else {
        server.delete(who, &path).await
    };
    assert_eq!(s, StatusCode::OK, "{body}");
}

/// Every notification outbox row of release `id`, oldest first.
pub async fn all_rows(server: &TestServer, id: &str) -> Vec<shipyard_store::NotificationRecord> {
    let store = shipyard_store::Store::connect(&server.db_url)
        .await
        .expect("connect");
    let rows = store
        .notifications(&shipyard_core::ReleaseId::parse(id).expect("a release id"))
        .await
        .expect("outbox rows");
    store.close().await;
    rows
}

/// The repo object named `name` in a release detail.
pub fn repo<'a>(detail: &'a Value, name: &str) -> &'a Value {
    detail["repos"]
        .as_array()
        .expect("repos")
        .iter()
        .find(|r| r["repo_name"] == name)
        .unwrap_or_else(|| panic!("no repo {name} in {detail}"))
}

/// Names of the repos in a release detail.
pub fn repo_names(detail: &Value) -> Vec<String> {
    detail["repos"]
        .as_array()
        .expect("repos")
        .iter()
        .map(|r| r["repo_name"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The error code of an error answer.
pub fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}
