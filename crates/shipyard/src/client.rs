//! `shipyard release …`: a small client of a running server's API, for people and scripts.

use anyhow::{Context, bail};
use serde_json::Value;

/// A connection to a Shipyard server.
pub struct ApiClient {
    http: reqwest::Client,
    server: String,
    token: String,
}

impl ApiClient {
    /// A client for `server` (e.g. `http://127.0.0.1:8080`) using the API token `token`.
    pub fn new(server: &str, token: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("shipyard-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("starting the HTTP client")?;
        Ok(ApiClient {
            http,
            server: server.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.server))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach {}", self.server))?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            let message = value
                .pointer("/error/message")
                .and_then(Value::as_str)
                .unwrap_or("no details");
            let code = value
                .pointer("/error/code")
                .and_then(Value::as_str)
                .unwrap_or("error");
            bail!("{} {code}: {message}", status.as_u16());
        }
        Ok(value)
    }

    /// `POST /api/releases`.
    pub async fn create(&self, source: &str, dest: &str) -> anyhow::Result<Value> {
        self.create_in(source, dest, None).await
    }

    /// `POST /api/releases`, kept informed in the Mattermost channel `channel_id` if given.
    pub async fn create_in(
        &self,
        source: &str,
        dest: &str,
        channel_id: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut body = serde_json::json!({"source_branch": source, "dest_branch": dest});
        if let Some(channel) = channel_id {
            body["channel_id"] = channel.into();
        }
        self.call(reqwest::Method::POST, "/api/releases", Some(body))
            .await
    }

    /// `GET /api/releases`.
    pub async fn list(&self, status: Option<&str>) -> anyhow::Result<Value> {
        let path = match status {
            Some(s) => format!("/api/releases?status={s}"),
            None => "/api/releases".to_owned(),
        };
        self.call(reqwest::Method::GET, &path, None).await
    }

    /// `GET /api/releases/{id}`.
    pub async fn show(&self, id: &str) -> anyhow::Result<Value> {
        self.call(reqwest::Method::GET, &format!("/api/releases/{id}"), None)
            .await
    }

    /// `PATCH /api/releases/{id}` (notes, breaking changes, status).
    pub async fn patch_release(&self, id: &str, body: Value) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/releases/{id}"),
            Some(body),
        )
        .await
    }

    /// `PATCH /api/releases/{id}/repos/{repo_id}`.
    pub async fn patch_repo(&self, id: &str, repo_id: i64, body: Value) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::PATCH,
            &format!("/api/releases/{id}/repos/{repo_id}"),
            Some(body),
        )
        .await
    }

    /// `POST` or `DELETE /api/releases/{id}/approve/{kind}`.
    pub async fn approve(&self, id: &str, kind: &str, revoke: bool) -> anyhow::Result<Value> {
        let method = if revoke {
            reqwest::Method::DELETE
        } else {
            reqwest::Method::POST
        };
        self.call(method, &format!("/api/releases/{id}/approve/{kind}"), None)
            .await
    }
}

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn tick(v: &Value, ptr: &str) -> &'static str {
    if v.pointer(ptr).is_some_and(|x| !x.is_null()) {
        "☑"
    } else {
        "☐"
    }
}

/// A release detail as a person reads it in a terminal.
pub fn render_detail(v: &Value) -> String {
    let mut out = String::new();
    let sign_off = |kind: &str| {
        let who = s(v, &format!("/release/{kind}_approved_by"));
        if who.is_empty() {
            "☐".to_owned()
        } else {
            format!("☑ {who}")
        }
    };
    out.push_str(&format!(
        "Release {}  {} → {}  [{}]\nSign-offs: Dev {}  QA {}\n",
        s(v, "/release/id"),
        s(v, "/release/source_branch"),
        s(v, "/release/dest_branch"),
        s(v, "/release/status"),
        sign_off("dev"),
        sign_off("qa"),
    ));
    out.push_str(&format!(
        "{:<6} {:<28} {:>7} {:>8}  {:<8} {}\n",
        "ID", "REPO", "COMMITS", "PR", "STATE", "FLAGS"
    ));
    for r in v
        .get("repos")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut flags = Vec::new();
        if r.get("excluded").and_then(Value::as_bool) == Some(true) {
            flags.push("excluded");
        }
        if r.get("is_breaking").and_then(Value::as_bool) == Some(true) {
            flags.push("breaking");
        }
        if r.get("infra_changes")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
        {
            flags.push("infra");
        }
        out.push_str(&format!(
            "{:<6} {:<28} {:>7} {:>8}  {:<8} {}\n",
            r.get("id").and_then(Value::as_i64).unwrap_or_default(),
            s(r, "/repo_name"),
            r.get("commit_count")
                .and_then(Value::as_u64)
                .unwrap_or_default(),
            r.get("pr_number")
                .and_then(Value::as_u64)
                .map(|n| format!("#{n}"))
                .unwrap_or_else(|| "—".into()),
            s(r, "/pr_state"),
            flags.join(","),
        ));
    }
    if let Some(cycle) = v.pointer("/deploy_order/cycle").and_then(Value::as_array) {
        let names: Vec<&str> = cycle.iter().filter_map(Value::as_str).collect();
        out.push_str(&format!(
            "Deploy order: dependency cycle {} → {}\n",
            names.join(" → "),
            names.first().unwrap_or(&"")
        ));
    } else if let Some(levels) = v.pointer("/deploy_order/levels").and_then(Value::as_array) {
        out.push_str("Deploy order:\n");
        for (i, level) in levels.iter().enumerate() {
            let names: Vec<&str> = level
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            out.push_str(&format!("  {}. {}\n", i + 1, names.join(", ")));
        }
    }
    out
}

/// A release list as a table.
pub fn render_list(v: &Value) -> String {
    let mut out = format!(
        "{:<12} {:<22} {:<9} {:>5} {:>7}  {:<5} {:<5} {}\n",
        "ID", "BRANCHES", "STATUS", "REPOS", "COMMITS", "DEV", "QA", "CREATED BY"
    );
    for r in v
        .get("releases")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push_str(&format!(
            "{:<12} {:<22} {:<9} {:>5} {:>7}  {:<5} {:<5} {}\n",
            s(r, "/id"),
            format!("{} → {}", s(r, "/source_branch"), s(r, "/dest_branch")),
            s(r, "/status"),
            r.get("repo_count")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            r.get("commit_count")
                .and_then(Value::as_i64)
                .unwrap_or_default(),
            tick(r, "/dev_approved_by"),
            tick(r, "/qa_approved_by"),
            s(r, "/created_by"),
        ));
    }
    out
}
