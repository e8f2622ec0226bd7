//! The pieces every scenario stands on: the simulated GitHub and the real server, reached over
//! loopback HTTP exactly as in production, on a throw-away SQLite database.

use anyhow::Context;
use reqwest::StatusCode;
use serde_json::Value;
use shipyard::demo::random_token;
use shipyard_config::{
    ApiTokenConfig, AuthMode, Config, DevUser, GithubConfig, RepoFilter, Secret,
};
use shipyard_core::Role;
use shipyard_sim::github::SimGithub;
use std::time::Duration;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The organisation of the simulated GitHub.
pub const ORG: &str = "acme";

/// Paths that mark a change as infrastructure, as in the demo configuration.
pub const INFRA_PATHS: [&str; 6] = [
    "helm/**",
    "charts/**",
    "terraform/**",
    "**/Dockerfile",
    ".github/workflows/**",
    "k8s/**",
];

/// A started simulated GitHub that requires `token`.
pub struct Sim {
    /// The simulated server.
    pub github: SimGithub,
    /// The token it accepts.
    pub token: String,
}

impl Sim {
    /// Starts an empty simulated org that requires a fresh token.
    pub async fn start() -> anyhow::Result<Sim> {
        let github = SimGithub::start(ORG)
            .await
            .context("starting the simulated GitHub")?;
        let token = random_token("ghs_");
        github.set_token(Some(token.clone()));
        Ok(Sim { github, token })
    }

    /// Stops the simulated server.
    pub async fn shutdown(self) {
        self.github.shutdown().await;
    }
}

/// The API of a running server as the bench user, over loopback HTTP.
pub struct Api {
    /// Base URL, e.g. `http://127.0.0.1:41234`.
    pub base: String,
    http: reqwest::Client,
    token: String,
}

/// The real server, listening on a loopback port, against a simulated GitHub; its [`Api`]
/// through `Deref`.
pub struct Server {
    api: Api,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _data: tempfile::TempDir,
}

/// A configuration for a server on `addr` against `sim`, with its SQLite database in `dir`:
/// GitHub as the simulated org, the demo's infrastructure paths, nothing else.
pub fn base_config(sim: &Sim, addr: std::net::SocketAddr, dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.server.listen = addr;
    config.server.base_url = format!("http://{addr}");
    config.database.url = format!("sqlite://{}", dir.join("shipyard.db").display());
    config.github = Some(GithubConfig {
        api_url: sim.github.url(),
        graphql_url: Some(sim.github.graphql_url()),
        web_url: None,
        org: sim.github.org(),
        token: Some(Secret::new(sim.token.clone())),
        webhook_secret: None,
        repos: RepoFilter::default(),
        infra_paths: INFRA_PATHS.map(String::from).to_vec(),
        concurrency: 8,
        pr_comments: false,
    });
    config
}

impl Server {
    /// Starts the server on a fresh SQLite database with a development configuration: one
    /// user, `bench`, who may approve as a developer, and one API token for that user.
    pub async fn start(sim: &Sim) -> anyhow::Result<Server> {
        Server::start_with(sim, |_| {}).await
    }

    /// [`Server::start`] with a last say on the configuration (e.g. turning webhooks on).
    pub async fn start_with(sim: &Sim, adjust: impl FnOnce(&mut Config)) -> anyhow::Result<Server> {
        let data = tempfile::tempdir().context("creating a temporary directory")?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("binding a loopback port")?;
        let addr = listener.local_addr()?;

        let mut config = base_config(sim, addr, data.path());
        let roles = vec![Role::DevApprover];
        let token = random_token("sy_");
        config.auth.mode = AuthMode::Dev;
        config.auth.dev_users.push(DevUser {
            name: "bench".to_owned(),
            roles: roles.clone(),
        });
        config.auth.api_tokens.push(ApiTokenConfig {
            name: "bench".to_owned(),
            token_sha256: shipyard_web::token_sha256_hex(&token),
            roles,
        });
        adjust(&mut config);

        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            shipyard::app::serve(&config, listener, async {
                let _ = stopped.await;
            })
            .await
        });
        let mut server = Server {
            api: Api::new(format!("http://{addr}"), token),
            stop: Some(stop),
            task: Some(task),
            _data: data,
        };
        if let Err(e) = server.wait_ready().await {
            let stopped = server.stop().await;
            return Err(match stopped {
                Err(cause) => e.context(cause),
                Ok(()) => e,
            });
        }
        Ok(server)
    }

    /// Waits for `/readyz`, which also opens the client's connection to the server.
    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        for _ in 0..400 {
            if self.task.as_ref().is_some_and(JoinHandle::is_finished) {
                anyhow::bail!("the server stopped while starting");
            }
            if self.api.is_ready().await {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        anyhow::bail!("the server did not become ready within 10 s")
    }

    /// Stops the server and waits for it; its error, if it failed.
    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.context("server task")?.context("server")?;
        }
        Ok(())
    }
}

impl std::ops::Deref for Server {
    type Target = Api;

    fn deref(&self) -> &Api {
        &self.api
    }
}

impl Api {
    /// The API at `base` (no trailing slash) with the bench user's `token`.
    pub fn new(base: String, token: String) -> Api {
        Api {
            base,
            http: reqwest::Client::new(),
            token,
        }
    }

    /// Whether `/readyz` answers `200` (which also opens the client's connection).
    pub async fn is_ready(&self) -> bool {
        match self.http.get(format!("{}/readyz", self.base)).send().await {
            Ok(r) => r.status() == StatusCode::OK,
            Err(_) => false,
        }
    }

    /// `POST {path}` with a JSON body as the bench user; the status and the JSON answer.
    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(StatusCode, Value)> {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading the answer to POST {path}"))?;
        let value = serde_json::from_str(&text)
            .with_context(|| format!("POST {path} answered {status} with non-JSON: {text:.200}"))?;
        Ok((status, value))
    }

    /// `GET {path}` as the bench user; the status and the JSON answer.
    pub async fn get(&self, path: &str) -> anyhow::Result<(StatusCode, Value)> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = resp.status();
        let value = resp
            .json()
            .await
            .with_context(|| format!("reading the answer to GET {path}"))?;
        Ok((status, value))
    }

    /// `GET {path}` as the bench user; the answer's text, whatever its status.
    pub async fn text(&self, path: &str) -> anyhow::Result<String> {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .with_context(|| format!("GET {path}"))?
            .text()
            .await
            .with_context(|| format!("reading the answer to GET {path}"))
    }

    /// The bench user's API token.
    pub fn token(&self) -> &str {
        &self.token
    }
}
