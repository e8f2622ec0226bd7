//! GitHub App authentication against the simulated GitHub over real sockets: the installation
//! is found, a JWT is exchanged for an installation token that every REST and GraphQL request
//! carries, the token is renewed before it expires with one exchange however many callers need
//! it, a refused token is replaced once, and no secret reaches the log.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::join_all;
use shipyard_core::clock::{Clock, ManualClock, SystemClock};
use shipyard_github::{
    AppKey, AuthMode, GitHub, GitHubOptions, GithubApp, GithubError, Installation, KeyFormat,
};
use shipyard_sim::github::{AppKeyPair, CommitSpec, Fault, RequestAuth, SimGithub};

const APP_ID: u64 = 4242;

/// A sim with App [`APP_ID`] installed on `acme` (and no plain token), repository `svc` with
/// `main`, `master` and `uat` one commit ahead; the App's key pair.
async fn sim_with_app() -> (SimGithub, AppKeyPair, u64) {
    let sim = SimGithub::start("acme").await.unwrap();
    let keys = AppKeyPair::generate().unwrap();
    let installation = sim.set_app(APP_ID, &keys.public_key_der());
    sim.add_repo("svc");
    sim.create_branch("svc", "master", "main");
    sim.create_branch("svc", "uat", "master");
    sim.commit(
        "svc",
        "uat",
        CommitSpec::new("feat: x", "Ada", "ada@example.com").file("src/x.rs", 3, 1),
    );
    (sim, keys, installation)
}

/// A client of the App with `pem`, acting as `installation`, on `clock`.
fn client(sim: &SimGithub, pem: &str, installation: Installation, clock: Arc<dyn Clock>) -> GitHub {
    let key = AppKey::from_pem(pem).unwrap();
    let mut opts = GitHubOptions::new(sim.url(), sim.graphql_url(), None);
    opts.app = Some(GithubApp::new(APP_ID, key, installation));
    opts.retry_base = Duration::from_millis(5);
    opts.retry_cap = Duration::from_millis(20);
    opts.clock = clock;
    GitHub::new(opts).unwrap()
}

/// A manual clock standing at the wall clock, where the sim's App clock starts too.
fn clock_now() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(SystemClock.now()))
}

/// Moves the client's clock and the sim's App clock forward together.
fn advance(clock: &ManualClock, sim: &SimGithub, secs: u64) {
    clock.advance(secs as i64);
    sim.advance_app_clock(Duration::from_secs(secs));
}

fn is_app_route(path: &str) -> bool {
    path.starts_with("/app/") || path.ends_with("/installation")
}

/// `openssl rsa -traditional`: the PKCS#1 form of a PKCS#8 key.
fn pkcs1(pkcs8: &str) -> String {
    let mut child = std::process::Command::new("openssl")
        .args(["rsa", "-traditional"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("openssl runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pkcs8.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "openssl rsa -traditional failed");
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn rest_graphql_and_logs_work_with_the_installation_token() {
    let (sim, keys, installation) = sim_with_app().await;
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::OfOrg("acme".into()),
        Arc::new(SystemClock),
    );
    assert_eq!(gh.auth_status().mode, AuthMode::App);
    assert_eq!(gh.auth_status().app.unwrap().installation_id, None);

    let repos = gh.org_repos("acme").await.unwrap();
    assert_eq!(repos.len(), 1);
    let compare = gh
        .compare("acme", "svc", "master", "uat")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(compare.ahead_by, 1);
    let overview = gh.branch_overview("acme", "uat", "master").await.unwrap();
    assert_eq!(overview[0].ahead_by, Some(1));
    let master = sim.branch_head("svc", "master").unwrap();
    let run = sim.successful_build("svc", "general.yaml", "master", &master, "1.2.3");
    let jobs = gh.run_jobs("acme", "svc", run).await.unwrap();
    let helm = jobs.iter().find(|j| j.name == "helm").unwrap();
    let log = gh
        .job_log("acme", "svc", helm.id, 1 << 20)
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&log.bytes).contains("CHART_VERSION=1.2.3"));

    // One lookup, one exchange, both with the JWT; everything else with the token.
    assert_eq!(sim.installation_lookups(), 1);
    assert_eq!(sim.installation_token_exchanges(), 1);
    let requests = sim.requests();
    assert!(requests.iter().any(|r| r.path == "/graphql"));
    for r in &requests {
        let wanted = if is_app_route(&r.path) {
            RequestAuth::Jwt
        } else {
            RequestAuth::InstallationToken
        };
        assert_eq!(r.auth, wanted, "{r:?}");
        assert!(r.status < 400, "{r:?}");
    }
    // The log host, reached through GitHub's redirect, saw no credentials.
    let host = sim.log_requests();
    assert_eq!(host.len(), 1);
    assert!(!host[0].had_authorization, "{host:?}");

    let status = gh.auth_status().app.unwrap();
    assert_eq!(status.installation_id, Some(installation));
    assert_eq!(status.exchanges, 1);
    assert!(status.token_expires_at.unwrap() > SystemClock.now() + 3000);
    assert_eq!(status.last_error, None);
}

#[tokio::test]
async fn a_configured_installation_id_needs_no_lookup_and_a_wrong_one_is_named() {
    let (sim, keys, installation) = sim_with_app().await;
    let pem = keys.private_key_pem();
    let gh = client(
        &sim,
        &pem,
        Installation::Id(installation),
        Arc::new(SystemClock),
    );
    gh.branch_head("acme", "svc", "main").await.unwrap();
    assert_eq!(sim.installation_lookups(), 0);
    assert_eq!(sim.installation_token_exchanges(), 1);

    let wrong = client(&sim, &pem, Installation::Id(1), Arc::new(SystemClock));
    let err = wrong.branch_head("acme", "svc", "main").await.unwrap_err();
    assert!(
        matches!(&err, GithubError::Rejected { status: 404, message } if message.contains("installation 1 ") && message.contains("github.app.installation_id")),
        "{err}"
    );
    assert_eq!(
        wrong.auth_status().app.unwrap().last_error,
        Some(err.to_string())
    );
}

#[tokio::test]
async fn both_pem_forms_are_accepted() {
    let (sim, keys, installation) = sim_with_app().await;
    let pkcs8 = keys.private_key_pem();
    let pkcs1 = pkcs1(&pkcs8);
    assert!(
        pkcs1.starts_with("-----BEGIN RSA PRIVATE KEY-----"),
        "{}",
        &pkcs1[..40]
    );
    assert_eq!(AppKey::from_pem(&pkcs8).unwrap().format(), KeyFormat::Pkcs8);
    assert_eq!(AppKey::from_pem(&pkcs1).unwrap().format(), KeyFormat::Pkcs1);
    // As an environment variable may hold it: on one line with `\n` escapes.
    let one_line = pkcs1.trim_end().replace('\n', "\\n");
    assert_eq!(
        AppKey::from_pem(&one_line).unwrap().format(),
        KeyFormat::Pkcs1
    );
    for pem in [&pkcs8, &pkcs1, &one_line] {
        let gh = client(
            &sim,
            pem,
            Installation::Id(installation),
            Arc::new(SystemClock),
        );
        gh.branch_head("acme", "svc", "main").await.unwrap();
    }
    assert_eq!(sim.installation_token_exchanges(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_is_renewed_before_it_expires_with_one_exchange_for_twenty_callers() {
    let (sim, keys, installation) = sim_with_app().await;
    let clock = clock_now();
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::Id(installation),
        clock.clone(),
    );
    gh.branch_head("acme", "svc", "main").await.unwrap();
    assert_eq!(sim.installation_token_exchanges(), 1);

    // Well within the hour nothing is exchanged.
    advance(&clock, &sim, 1800);
    gh.branch_head("acme", "svc", "main").await.unwrap();
    assert_eq!(sim.installation_token_exchanges(), 1);

    // Three minutes before expiry, inside the five-minute margin: twenty callers at once, one
    // exchange; the callers that came while it ran used the old token, which still worked.
    advance(&clock, &sim, 1620);
    sim.reset_counters();
    let answers = join_all((0..20).map(|_| gh.branch_head("acme", "svc", "main"))).await;
    assert!(
        answers.iter().all(|a| matches!(a, Ok(Some(_)))),
        "{answers:?}"
    );
    assert_eq!(sim.installation_token_exchanges(), 2);
    assert!(sim.requests().iter().all(|r| r.status < 400));

    // Past the new token's expiry: twenty callers wait for one exchange, none sends the
    // expired token.
    advance(&clock, &sim, 3700);
    sim.reset_counters();
    let answers = join_all((0..20).map(|_| gh.branch_head("acme", "svc", "main"))).await;
    assert!(
        answers.iter().all(|a| matches!(a, Ok(Some(_)))),
        "{answers:?}"
    );
    assert_eq!(sim.installation_token_exchanges(), 3);
    let requests = sim.requests();
    assert!(requests.iter().all(|r| r.status < 400), "{requests:?}");
    assert_eq!(requests.len(), 21, "one exchange and twenty reads");
    let status = gh.auth_status().app.unwrap();
    assert_eq!(status.exchanges, 3);
    assert!(status.token_expires_at.unwrap() > clock.now() + 3000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_is_replaced_once_and_the_requests_succeed() {
    let (sim, keys, installation) = sim_with_app().await;
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::Id(installation),
        Arc::new(SystemClock),
    );
    gh.branch_head("acme", "svc", "main").await.unwrap();
    sim.revoke_installation_tokens();
    sim.reset_counters();

    let answers = join_all((0..10).map(|_| gh.branch_head("acme", "svc", "main"))).await;
    assert!(
        answers.iter().all(|a| matches!(a, Ok(Some(_)))),
        "{answers:?}"
    );
    assert_eq!(
        sim.installation_token_exchanges(),
        2,
        "one refresh for all ten"
    );
    let requests = sim.requests();
    let refused = requests.iter().filter(|r| r.status == 401).count();
    assert!((1..=10).contains(&refused), "{requests:?}");
    // Each read answered once it was sent again (304: the cached branch is unchanged).
    let answered = requests
        .iter()
        .filter(|r| r.status < 400 && r.path.contains("/branches/"))
        .count();
    assert_eq!(answered, 10, "{requests:?}");

    // GraphQL takes the same path.
    sim.revoke_installation_tokens();
    let overview = gh.branch_overview("acme", "uat", "master").await.unwrap();
    assert_eq!(overview.len(), 1);
    assert_eq!(sim.installation_token_exchanges(), 3);
}

#[tokio::test]
async fn callers_waiting_for_an_exchange_that_fails_share_its_error() {
    let (sim, keys, installation) = sim_with_app().await;
    let key = AppKey::from_pem(&keys.private_key_pem()).unwrap();
    let mut opts = GitHubOptions::new(sim.url(), sim.graphql_url(), None);
    opts.app = Some(GithubApp::new(APP_ID, key, Installation::Id(installation)));
    opts.max_retries = 0;
    let gh = GitHub::new(opts).unwrap();
    sim.push_faults([Fault::Status(503)]);
    let answers = join_all((0..5).map(|_| gh.branch_head("acme", "svc", "main"))).await;
    assert!(
        answers
            .iter()
            .all(|a| matches!(a, Err(GithubError::Unavailable(_)))),
        "{answers:?}"
    );
    assert_eq!(
        sim.request_count(),
        1,
        "one exchange was tried, for all five"
    );
    assert!(gh.auth_status().app.unwrap().last_error.is_some());
    // The next caller tries again.
    gh.branch_head("acme", "svc", "main").await.unwrap();
    assert_eq!(gh.auth_status().app.unwrap().last_error, None);
}

#[tokio::test]
async fn a_token_refused_after_renewal_fails_clearly_after_one_exchange() {
    let (sim, keys, installation) = sim_with_app().await;
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::OfOrg("acme".into()),
        Arc::new(SystemClock),
    );
    gh.branch_head("acme", "svc", "main").await.unwrap();
    sim.refuse_installation_tokens(true);
    sim.reset_counters();

    let err = gh.branch_head("acme", "svc", "main").await.unwrap_err();
    let GithubError::Unauthorized(message) = &err else {
        panic!("{err:?}")
    };
    for part in [
        "installation token",
        "Bad credentials",
        "GitHub App 4242",
        &format!("installation {installation}"),
        "`acme`",
    ] {
        assert!(message.contains(part), "{part}: {message}");
    }
    assert_eq!(sim.installation_token_exchanges(), 2, "exactly one refresh");
    let statuses: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [401, 201, 401], "refused, renewed, refused again");

    sim.refuse_installation_tokens(false);
    gh.branch_head("acme", "svc", "main").await.unwrap();
}

#[tokio::test]
async fn a_jwt_github_refuses_and_a_missing_installation_say_what_to_check() {
    let (sim, keys, _) = sim_with_app().await;
    let stranger = AppKeyPair::generate().unwrap();
    let gh = client(
        &sim,
        &stranger.private_key_pem(),
        Installation::OfOrg("acme".into()),
        Arc::new(SystemClock),
    );
    let err = gh.org_repos("acme").await.unwrap_err();
    let GithubError::Unauthorized(message) = &err else {
        panic!("{err:?}")
    };
    assert!(
        message.contains("JSON web token") && message.contains("github.app.private_key"),
        "{message}"
    );
    assert_eq!(sim.installation_token_exchanges(), 0);

    // A JWT from the right key whose clock is an hour ahead of GitHub's.
    let ahead = Arc::new(ManualClock::new(SystemClock.now() + 3600));
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::OfOrg("acme".into()),
        ahead,
    );
    let err = gh.org_repos("acme").await.unwrap_err();
    assert!(err.to_string().contains("'Issued at' claim"), "{err}");

    sim.set_app_installed(false);
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::OfOrg("acme".into()),
        Arc::new(SystemClock),
    );
    let err = gh.org_repos("acme").await.unwrap_err();
    assert!(
        matches!(&err, GithubError::Rejected { status: 404, message } if message.contains("not installed on the organisation `acme`")),
        "{err}"
    );
}

#[tokio::test]
async fn an_app_installed_again_is_found_again() {
    let (sim, keys, installation) = sim_with_app().await;
    let gh = client(
        &sim,
        &keys.private_key_pem(),
        Installation::OfOrg("acme".into()),
        Arc::new(SystemClock),
    );
    gh.branch_head("acme", "svc", "main").await.unwrap();
    // Removed and installed again: a new installation id, the old token refused.
    sim.set_app_installed(false);
    sim.set_app_installed(true);
    gh.branch_head("acme", "svc", "main").await.unwrap();
    assert_eq!(sim.installation_lookups(), 2);
    assert_eq!(sim.installation_token_exchanges(), 2);
    let found = gh.auth_status().app.unwrap().installation_id.unwrap();
    assert_ne!(found, installation);
}

/// Collects everything a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn neither_the_key_the_jwt_nor_a_token_reaches_the_log_or_debug() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    // For the whole test binary (a thread's own subscriber misses events whose interest was
    // settled on another thread): the other tests' logs are searched too.
    tracing::subscriber::set_global_default(subscriber).unwrap();

    let (sim, keys, _) = sim_with_app().await;
    let pem = keys.private_key_pem();
    let key = AppKey::from_pem(&pem).unwrap();
    let mut opts = GitHubOptions::new(sim.url(), sim.graphql_url(), None);
    opts.app = Some(GithubApp::new(
        APP_ID,
        key.clone(),
        Installation::OfOrg("acme".into()),
    ));
    opts.retry_base = Duration::from_millis(5);
    let debug_opts = format!("{opts:?} {key:?} {keys:?}");
    let gh = GitHub::new(opts).unwrap();
    gh.org_repos("acme").await.unwrap();
    sim.revoke_installation_tokens();
    gh.branch_overview("acme", "uat", "master").await.unwrap();
    sim.refuse_installation_tokens(true);
    let err = gh.branch_head("acme", "svc", "main").await.unwrap_err();
    tracing::error!(error = %err, status = ?gh.auth_status(), "the last error");

    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("GitHub App installation token obtained"),
        "{log}"
    );
    assert!(log.contains("retrying once with a new one"), "{log}");
    let everything = format!("{log}\n{debug_opts}\n{err:?}\n{:?}", gh.auth_status());
    // Installation tokens start with `ghs_`, JWTs with the base64 of `{"`.
    for marker in ["ghs_", "eyJ", "PRIVATE KEY"] {
        assert!(!everything.contains(marker), "{marker} in:\n{everything}");
    }
    for line in pem.lines().filter(|l| !l.starts_with("-----")) {
        assert!(
            !everything.contains(line),
            "a line of the key in:\n{everything}"
        );
    }
}
