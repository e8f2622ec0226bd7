//! Sign-in with OpenID Connect against the simulated Keycloak realm: the code flow with PKCE,
//! roles from every place Keycloak may put them, refused tokens, replays, sign-out, and tokens
//! kept out of answers and logs.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, ORIGIN, SET_COOKIE};
use serde_json::{Value, json};
use shipyard::demo::random_token;
use shipyard_config::{AuthMode, OidcConfig, RoleMapping, Secret};
use shipyard_sim::oidc::{ClaimsIn, SimOidc, SimUser, Tamper};
use shipyard_store::Backend;
use std::collections::HashMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

const CLIENT: &str = "shipyard";

/// Everything the tracing subscriber of this test binary wrote (every test's server included).
#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures the tracing output of the whole process, at every level, from the first call on.
/// `None` if another subscriber was installed first.
fn log_capture() -> Option<&'static LogBuffer> {
    static LOGS: OnceLock<Option<LogBuffer>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = LogBuffer(Arc::new(Mutex::new(Vec::new())));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .ok()
            .map(|()| buffer)
    })
    .as_ref()
}

fn captured_logs() -> String {
    let buffer = log_capture().expect("log capture installed");
    String::from_utf8_lossy(&buffer.0.lock().unwrap()).into_owned()
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

fn query(url: &str) -> HashMap<String, String> {
    reqwest::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

fn location(resp: &reqwest::Response) -> String {
    resp.headers()
        .get(LOCATION)
        .unwrap_or_else(|| panic!("{} without Location", resp.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The `name=value` part of a `Set-Cookie`.
fn cookie_pair(resp: &reqwest::Response) -> String {
    let set = resp.headers()[SET_COOKIE].to_str().unwrap();
    set.split(';').next().unwrap().to_owned()
}

/// Headers (but those named in `skip`) and body of an answer, as one text.
async fn describe(resp: reqwest::Response, skip: &[&str]) -> String {
    let headers: Vec<String> = resp
        .headers()
        .iter()
        .filter(|(name, _)| !skip.contains(&name.as_str()))
        .map(|(k, v)| format!("{k}: {}", String::from_utf8_lossy(v.as_bytes())))
        .collect();
    let body = resp.text().await.unwrap();
    format!("{}\n\n{body}", headers.join("\n"))
}

/// A user with a Keycloak-like subject and no roles.
fn person(username: &str) -> SimUser {
    let n: u64 = rand::random();
    SimUser::new(
        &format!("f81d4fae-7dec-11d0-a765-{:012x}", n >> 16),
        username,
    )
}

/// The server in OIDC mode against a fresh simulated realm.
struct Rp {
    server: TestServer,
    idp: SimOidc,
    client_secret: String,
    http: reqwest::Client,
}

impl Rp {
    async fn start(backend: Backend) -> Rp {
        log_capture();
        let client_secret = random_token("cs_");
        // The callback's address is known only once the server has its port.
        let idp = SimOidc::start(CLIENT, Some(&client_secret), "http://unknown.invalid/")
            .await
            .unwrap();
        let issuer = idp.issuer();
        let secret = client_secret.clone();
        let server = TestServer::start_with(
            backend,
            |gh| repo_with_changes(gh, "api-gateway", &[commit("feat: a", "alice")]),
            |c| {
                let redirect_url = format!("{}/auth/callback", c.server.base_url);
                idp.set_redirect_uri(&redirect_url);
                c.auth.mode = AuthMode::Oidc;
                c.auth.oidc = Some(OidcConfig {
                    issuer,
                    client_id: CLIENT.to_owned(),
                    client_secret: Some(Secret::new(secret)),
                    redirect_url,
                    scopes: ["openid", "profile", "email"].map(String::from).to_vec(),
                });
                c.auth.roles = RoleMapping {
                    dev_approver: vec!["dev-lead".into()],
                    qa_approver: vec!["qa".into(), "/release/qa".into()],
                    admin: vec!["release-admin".into()],
                };
            },
        )
        .await;
        Rp {
            server,
            idp,
            client_secret,
            http: no_redirects(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.base)
    }

    /// `/auth/login` and the provider's authorization endpoint; returns the callback URL the
    /// provider sent the browser to.
    async fn begin(&self, next: &str) -> String {
        let resp = self
            .http
            .get(self.url(&format!("/auth/login?next={next}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert!(resp.headers().get(SET_COOKIE).is_none());
        let authorize = location(&resp);
        assert!(
            authorize.starts_with(&format!("{}?", self.idp.authorization_endpoint())),
            "{authorize}"
        );
        let q = query(&authorize);
        assert_eq!(q["client_id"], CLIENT);
        assert_eq!(q["response_type"], "code");
        assert_eq!(q["redirect_uri"], self.url("/auth/callback"));
        assert_eq!(q["code_challenge_method"], "S256");
        assert_eq!(q["code_challenge"].len(), 43, "{q:?}");
        assert!(q["state"].len() >= 16, "{q:?}");
        assert!(q["nonce"].len() >= 16, "{q:?}");
        assert_ne!(q["state"], q["nonce"]);
        let mut scopes: Vec<&str> = q["scope"].split(' ').collect();
        scopes.sort_unstable();
        assert_eq!(scopes, ["email", "openid", "profile"]);

        let resp = self.http.get(&authorize).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::FOUND);
        let callback = location(&resp);
        assert!(
            callback.starts_with(&format!("{}?", self.url("/auth/callback"))),
            "{callback}"
        );
        let back = query(&callback);
        if !back.contains_key("error") {
            assert_eq!(back["state"], q["state"]);
            assert!(back.contains_key("code"));
        }
        callback
    }

    async fn get(&self, url: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(url);
        if let Some(c) = cookie {
            req = req.header(COOKIE, c);
        }
        req.send().await.unwrap()
    }

    /// A whole sign-in that must succeed; returns the session cookie.
    async fn sign_in(&self, previous: Option<&str>) -> String {
        let callback = self.begin("/releases/x").await;
        let resp = self.get(&callback, previous).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&resp), "/releases/x");
        cookie_pair(&resp)
    }

    /// A callback that must be refused: 400, an HTML page, no cookie. Returns the page.
    async fn refused(&self, callback: &str) -> String {
        let resp = self.get(callback, None).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert!(resp.headers().get(SET_COOKIE).is_none());
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        resp.text().await.unwrap()
    }

    async fn me(&self, cookie: Option<&str>) -> (StatusCode, Value) {
        let resp = self.get(&self.url("/api/me"), cookie).await;
        let status = resp.status();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// `/api/me` for a cookie that must be valid.
    async fn whoami(&self, cookie: &str) -> Value {
        let (status, me) = self.me(Some(cookie)).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        me
    }

    async fn roles(&self, cookie: &str) -> Value {
        self.whoami(cookie).await["roles"].clone()
    }

    async fn stop(self) {
        self.server.stop().await;
        self.idp.shutdown().await;
    }
}

both_backends!(
    roles_come_from_wherever_keycloak_puts_them,
    |backend| async move {
        let rp = Rp::start(backend).await;

        // Keycloak's default: realm roles in the access token only.
        let ada = person("ada").realm_roles(["dev-lead", "offline_access", "uma_authorization"]);
        rp.idp.set_user(ada.clone());
        let cookie = rp.sign_in(None).await;
        let me = rp.whoami(&cookie).await;
        assert_eq!(me["subject"], ada.sub);
        assert_eq!(me["name"], "ada (sim)");
        assert_eq!(me["email"], "ada@example.com");
        assert_eq!(me["auth"], "sso");
        assert_eq!(me["roles"], json!(["dev_approver"]));

        // Mappers that put them in the ID token, or in userinfo, instead.
        rp.idp.set_user(
            person("bea")
                .realm_roles(["qa"])
                .claims_in(ClaimsIn::ID_TOKEN_ONLY),
        );
        let cookie = rp.sign_in(None).await;
        assert_eq!(rp.roles(&cookie).await, json!(["qa_approver"]));
        rp.idp.set_user(
            person("cai")
                .realm_roles(["dev-lead"])
                .claims_in(ClaimsIn::USERINFO_ONLY),
        );
        let cookie = rp.sign_in(None).await;
        assert_eq!(rp.roles(&cookie).await, json!(["dev_approver"]));

        // A group path, and a client role.
        rp.idp
            .set_user(person("dan").groups(["/release/qa", "/engineering"]));
        let cookie = rp.sign_in(None).await;
        assert_eq!(rp.roles(&cookie).await, json!(["qa_approver"]));
        rp.idp
            .set_user(person("eve").client_roles(["release-admin"]));
        let cookie = rp.sign_in(None).await;
        assert_eq!(rp.roles(&cookie).await, json!(["admin"]));

        // All at once, from different places.
        rp.idp.set_user(
            person("fay")
                .realm_roles(["dev-lead"])
                .client_roles(["release-admin"])
                .groups(["/release/qa"])
                .claims_in(ClaimsIn::EVERYWHERE),
        );
        let cookie = rp.sign_in(None).await;
        assert_eq!(
            rp.roles(&cookie).await,
            json!(["dev_approver", "qa_approver", "admin"])
        );

        // Roles of other clients, and names merely like ours, grant nothing.
        rp.idp.set_user(
            person("gus")
                .realm_roles(["offline_access", "qa-lead", "dev"])
                .groups(["/release/qa/nested", "/qa"]),
        );
        let cookie = rp.sign_in(None).await;
        let me = rp.whoami(&cookie).await;
        assert_eq!(me["roles"], json!([]));

        // Without the role, a QA sign-off through the session is refused, naming the role.
        let id = rp.server.create_release_id().await;
        let resp = rp
            .http
            .post(rp.url(&format!("/api/releases/{id}/approve/qa")))
            .header(COOKIE, &cookie)
            .header(ORIGIN, &rp.server.base)
            .header("x-csrf-token", me["csrf_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
        let body: Value = resp.json().await.unwrap();
        assert_eq!(code(&body), "forbidden");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("qa_approver"),
            "{body}"
        );
        assert_eq!(rp.server.history_actions(&id).await, vec!["created"]);
        rp.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_in_a_forged_access_token_are_ignored() {
    let rp = Rp::start(Backend::Sqlite).await;
    let mallory = person("mallory")
        .realm_roles(["dev-lead", "qa"])
        .client_roles(["release-admin"]);
    rp.idp.set_user(mallory.clone());
    // The ID token is sound, so sign-in works; the access token's roles cannot be trusted.
    for tamper in [
        Tamper::BadSignature,
        Tamper::SignedWithOtherKey,
        Tamper::AlgNone,
        Tamper::Expired,
        Tamper::WrongIssuer,
    ] {
        rp.idp.set_access_token_tamper(tamper);
        let cookie = rp.sign_in(None).await;
        let me = rp.whoami(&cookie).await;
        assert_eq!(me["subject"], mallory.sub, "{tamper:?}");
        assert_eq!(me["roles"], json!([]), "{tamper:?}");
    }
    rp.idp.set_access_token_tamper(Tamper::None);
    let cookie = rp.sign_in(None).await;
    assert_eq!(
        rp.roles(&cookie).await,
        json!(["dev_approver", "qa_approver", "admin"])
    );
    rp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn userinfo_about_someone_else_is_not_used() {
    let rp = Rp::start(Backend::Sqlite).await;
    let ada = person("ada")
        .realm_roles(["release-admin"])
        .claims_in(ClaimsIn::USERINFO_ONLY);
    rp.idp.set_user(ada.clone());
    rp.idp
        .set_userinfo_subject(Some("0b7f0d2e-0000-0000-0000-someone-else"));
    let cookie = rp.sign_in(None).await;
    let me = rp.whoami(&cookie).await;
    assert_eq!(me["subject"], ada.sub);
    assert_eq!(
        me["roles"],
        json!([]),
        "userinfo with another sub must be ignored"
    );
    rp.idp.set_userinfo_subject(None);
    let cookie = rp.sign_in(None).await;
    assert_eq!(rp.roles(&cookie).await, json!(["admin"]));
    rp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_id_tokens_are_refused() {
    let rp = Rp::start(Backend::Sqlite).await;
    rp.idp.set_user(
        person("ada")
            .realm_roles(["release-admin"])
            .claims_in(ClaimsIn::EVERYWHERE),
    );
    for tamper in Tamper::ALL {
        rp.idp.set_tamper(tamper);
        let callback = rp.begin("/releases/x").await;
        let page = rp.refused(&callback).await;
        assert!(page.contains("Sign-in failed"), "{tamper:?}: {page}");
        let issued = rp.idp.issued_tokens();
        let id_token = &issued.last().unwrap().id_token;
        assert!(!page.contains(id_token.as_str()), "{tamper:?}");
        let (status, _) = rp.me(None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{tamper:?}");
    }
    assert_eq!(rp.idp.issued_tokens().len(), Tamper::ALL.len());

    // The same provider with sound tokens: signed in.
    rp.idp.set_tamper(Tamper::None);
    let cookie = rp.sign_in(None).await;
    assert_eq!(rp.roles(&cookie).await, json!(["admin"]));
    rp.stop().await;
}

both_backends!(callbacks_are_good_once, |backend| async move {
    let rp = Rp::start(backend).await;
    rp.idp.set_user(person("ada").realm_roles(["qa"]));

    // Replaying a callback: the state was spent by the first.
    let callback = rp.begin("/releases/x").await;
    let resp = rp.get(&callback, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_pair(&resp);
    let page = rp.refused(&callback).await;
    assert!(page.contains("already used"), "{page}");
    assert_eq!(rp.roles(&cookie).await, json!(["qa_approver"]));

    // A state the server never issued: refused before the code is used, which then still works.
    let callback = rp.begin("/releases/x").await;
    let mut forged = reqwest::Url::parse(&callback).unwrap();
    let pairs: Vec<(String, String)> = forged.query_pairs().into_owned().collect();
    forged
        .query_pairs_mut()
        .clear()
        .extend_pairs(pairs.iter().map(|(k, v)| {
            (
                k.as_str(),
                if k == "state" {
                    "forged-state-value"
                } else {
                    v.as_str()
                },
            )
        }));
    rp.refused(forged.as_str()).await;
    let resp = rp.get(&callback, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);

    // A code from one sign-in with the state of another: PKCE binds the code to its own flow.
    let first = query(&rp.begin("/releases/x").await);
    let second = query(&rp.begin("/releases/x").await);
    let mut mixed = reqwest::Url::parse(&rp.url("/auth/callback")).unwrap();
    mixed
        .query_pairs_mut()
        .append_pair("code", &first["code"])
        .append_pair("state", &second["state"]);
    let page = rp.refused(mixed.as_str()).await;
    assert!(page.contains("Sign-in failed"), "{page}");

    // Missing parts.
    let mut no_state = reqwest::Url::parse(&rp.url("/auth/callback")).unwrap();
    no_state
        .query_pairs_mut()
        .append_pair("code", &first["code"]);
    rp.refused(no_state.as_str()).await;
    rp.refused(&rp.url("/auth/callback")).await;

    // The person refuses at the provider: the provider's words are shown.
    rp.idp.set_denial(Some((
        "access_denied",
        "The user <b>declined</b> to sign in",
    )));
    let callback = rp.begin("/releases/x").await;
    assert_eq!(query(&callback)["error"], "access_denied");
    let page = rp.refused(&callback).await;
    assert!(page.contains("Sign-in failed"), "{page}");
    assert!(page.contains("access_denied"), "{page}");
    assert!(
        page.contains("The user &lt;b&gt;declined&lt;/b&gt; to sign in")
            || page.contains("The user &#60;b&#62;declined&#60;/b&#62; to sign in"),
        "escaped: {page}"
    );
    let (status, _) = rp.me(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    rp.stop().await;
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn roles_are_read_again_at_every_sign_in() {
    let rp = Rp::start(Backend::Sqlite).await;
    let ada = person("ada").realm_roles(["dev-lead"]);
    rp.idp.set_user(ada.clone());
    let first = rp.sign_in(None).await;
    assert_eq!(rp.roles(&first).await, json!(["dev_approver"]));

    // Moved from development to QA at the provider: the next sign-in says so.
    rp.idp.set_user(
        ada.clone()
            .realm_roles(Vec::<String>::new())
            .groups(["/release/qa"]),
    );
    let second = rp.sign_in(Some(&first)).await;
    assert_ne!(second, first);
    let me = rp.whoami(&second).await;
    assert_eq!(me["subject"], ada.sub);
    assert_eq!(me["roles"], json!(["qa_approver"]));
    // Signing in again replaced the session.
    let (status, _) = rp.me(Some(&first)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // And every role taken away.
    rp.idp
        .set_user(ada.clone().realm_roles(Vec::<String>::new()));
    let third = rp.sign_in(Some(&second)).await;
    assert_eq!(rp.roles(&third).await, json!([]));
    rp.stop().await;
}

both_backends!(
    sign_out_ends_the_provider_session_too,
    |backend| async move {
        let rp = Rp::start(backend).await;
        rp.idp.set_user(person("ada").realm_roles(["qa"]));
        let cookie = rp.sign_in(None).await;
        let id_token = rp.idp.issued_tokens().last().unwrap().id_token.clone();
        rp.whoami(&cookie).await;

        let resp = rp.get(&rp.url("/auth/logout"), Some(&cookie)).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert!(
            resp.headers()[SET_COOKIE]
                .to_str()
                .unwrap()
                .contains("Max-Age=0")
        );
        let end_session = location(&resp);
        assert!(
            end_session.starts_with(&format!("{}?", rp.idp.end_session_endpoint())),
            "{end_session}"
        );
        let q = query(&end_session);
        assert_eq!(q["id_token_hint"], id_token);
        assert_eq!(q["post_logout_redirect_uri"], rp.url("/"));
        assert!(rp.idp.end_session_calls().is_empty());

        // The browser follows: the provider ends its session and sends it back.
        let resp = rp.get(&end_session, None).await;
        assert_eq!(resp.status(), StatusCode::FOUND);
        assert_eq!(location(&resp), rp.url("/"));
        let calls = rp.idp.end_session_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].id_token_hint.as_deref(), Some(id_token.as_str()));
        assert_eq!(
            calls[0].post_logout_redirect_uri.as_deref(),
            Some(rp.url("/").as_str())
        );

        // The old cookie is worth nothing; signing out again just goes to sign-in.
        let (status, _) = rp.me(Some(&cookie)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let resp = rp.get(&rp.url("/auth/logout"), Some(&cookie)).await;
        assert_eq!(resp.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&resp), "/auth/login");
        rp.stop().await;
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_the_client_secret_stay_out_of_answers_and_logs() {
    let rp = Rp::start(Backend::Sqlite).await;
    rp.idp.set_user(
        person("ada")
            .realm_roles(["dev-lead"])
            .claims_in(ClaimsIn::EVERYWHERE),
    );
    // Everything the browser is shown: (which answer, its headers and body).
    let mut seen: Vec<(String, String)> = Vec::new();

    // A refused sign-in, each way it can go wrong at the token's end.
    for tamper in Tamper::ALL {
        rp.idp.set_tamper(tamper);
        let callback = rp.begin("/").await;
        let resp = rp.get(&callback, None).await;
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        seen.push((
            format!("refused callback ({tamper:?})"),
            describe(resp, &[]).await,
        ));
    }
    rp.idp.set_tamper(Tamper::None);

    // A forged access token: signed in, its roles ignored (and logged about at debug level).
    rp.idp.set_access_token_tamper(Tamper::SignedWithOtherKey);
    let callback = rp.begin("/").await;
    let resp = rp.get(&callback, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    seen.push(("callback".into(), describe(resp, &["set-cookie"]).await));
    rp.idp.set_access_token_tamper(Tamper::None);

    // A good sign-in, then the pages and API answers of the session.
    let callback = rp.begin("/").await;
    let resp = rp.get(&callback, None).await;
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = cookie_pair(&resp);
    // The Set-Cookie carries the session id, never a provider token: checked against the logs.
    seen.push(("callback".into(), describe(resp, &["set-cookie"]).await));
    let session_value = cookie.split_once('=').unwrap().1.to_owned();
    for path in ["/", "/api/me", "/auth/login"] {
        let resp = rp.get(&rp.url(path), Some(&cookie)).await;
        seen.push((path.to_owned(), describe(resp, &[]).await));
    }
    // The sign-out redirect must carry the ID token as `id_token_hint`, and nothing else secret.
    let resp = rp.get(&rp.url("/auth/logout"), Some(&cookie)).await;
    let end_session = location(&resp);
    let hint = query(&end_session)["id_token_hint"].clone();
    seen.push((
        "logout Location but the hint".into(),
        end_session.replace(&hint, ""),
    ));
    seen.push(("logout".into(), describe(resp, &["location"]).await));
    let resp = rp.get(&rp.url("/api/me"), Some(&cookie)).await;
    seen.push(("/api/me after sign-out".into(), describe(resp, &[]).await));

    let issued = rp.idp.issued_tokens();
    assert_eq!(issued.len(), Tamper::ALL.len() + 2);
    assert_eq!(hint, issued.last().unwrap().id_token);
    let mut secrets: Vec<(&str, &str)> = vec![("client secret", &rp.client_secret)];
    for t in &issued {
        secrets.push(("access token", &t.access_token));
        secrets.push(("ID token", &t.id_token));
        // Payload and signature of each JWT on their own (the header is the same in every token).
        for part in [&t.id_token, &t.access_token]
            .into_iter()
            .flat_map(|jwt| jwt.split('.').skip(1))
        {
            if part.len() > 20 {
                secrets.push(("part of a token", part));
            }
        }
    }
    for (what, text) in &seen {
        for (kind, secret) in &secrets {
            assert!(!text.contains(secret), "{kind} in {what}");
        }
    }

    let logs = captured_logs();
    assert!(
        logs.contains("signed in")
            && logs.contains("sign-in refused")
            && logs.contains("access token is not a verifiable JWT"),
        "the capture sees the server's events"
    );
    secrets.push(("session cookie", &session_value));
    for (kind, secret) in &secrets {
        assert!(!logs.contains(secret), "{kind} in the logs");
    }
    rp.stop().await;
}

both_backends!(
    a_database_failure_at_either_end_of_sign_in_is_a_page,
    |backend| async move {
        let rp = Rp::start(backend).await;
        // The provider sends the browser back (with an error, then with a code), but the
        // sign-ins' rows are gone with their table.
        let refused = rp.begin("/").await;
        rp.idp.set_user(person("ada").realm_roles(["dev-lead"]));
        let granted = rp.begin("/").await;
        shipyard_store::testing::break_table(&rp.server.db_url, "login_flows").await;
        for url in [refused, granted, rp.url("/auth/login")] {
            let resp = rp.get(&url, None).await;
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR, "{url}");
            assert!(resp.headers().get(SET_COOKIE).is_none());
            let kind = resp.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(kind.starts_with("text/html"), "{url}: {kind}");
            let html = resp.text().await.unwrap();
            assert!(html.contains("Sign-in unavailable"), "{html}");
            assert!(!html.contains("login_flows"), "no internals: {html}");
        }
        rp.stop().await;
    }
);
