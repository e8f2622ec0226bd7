use std::path::Path;
use std::time::Duration;

use shipyard_config::{
    AuthMode, Config, ConfigErrors, ConfigProblem, GithubConfig, RepoFilter, Secret, VersionSource,
    example_yaml,
};
use shipyard_core::Role;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn ok(yaml: &str, vars: Vec<(String, String)>) -> Config {
    match Config::from_yaml_str(yaml, vars) {
        Ok(config) => config,
        Err(errors) => panic!("expected a valid config, got:\n{errors}"),
    }
}

fn errors(yaml: &str, vars: Vec<(String, String)>) -> ConfigErrors {
    match Config::from_yaml_str(yaml, vars) {
        Ok(config) => panic!("expected problems, got {config:?}"),
        Err(errors) => errors,
    }
}

fn problem<'a>(errors: &'a ConfigErrors, path: &str) -> &'a ConfigProblem {
    errors
        .at(path)
        .unwrap_or_else(|| panic!("no problem at `{path}` in:\n{errors}"))
}

const MINIMAL_GITHUB: &str = "github:\n  org: acme\n";

// ---------------------------------------------------------------- defaults

#[test]
fn no_file_and_empty_file_give_the_defaults() {
    let from_nothing = Config::load(None, no_env()).unwrap();
    let from_empty = ok("", no_env());
    let from_comment = ok("# nothing yet\n", no_env());
    assert_eq!(from_nothing, Config::default());
    assert_eq!(from_empty, Config::default());
    assert_eq!(from_comment, Config::default());

    let c = from_nothing;
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(c.server.base_url, "http://127.0.0.1:8080");
    assert_eq!(c.database.url, "sqlite://./shipyard.db");
    assert!(c.github.is_none() && c.argocd.is_none() && c.mattermost.is_none());
    assert_eq!(c.auth.mode, AuthMode::Oidc);
    assert!(c.auth.oidc.is_none());
    assert_eq!(
        c.auth.role_claims,
        [
            "realm_access.roles",
            "resource_access.shipyard.roles",
            "groups"
        ]
    );
    assert_eq!(c.auth.session_ttl, Duration::from_secs(12 * 3600));
    assert!(!c.approvals.allow_same_user);
    assert_eq!(c.ci.workflow_file, "general.yaml");
    assert_eq!(c.ci.helm_job_pattern, "helm");
    assert_eq!(c.ci.chart_version_pattern, r"CHART_VERSION=(\S+)");
    assert_eq!(c.ci.poll_interval, Duration::from_secs(30));
    assert_eq!(c.ci.poll_timeout, Duration::from_secs(24 * 3600));
    assert_eq!(c.ci.rate_limit_backoff, Duration::from_secs(300));
    assert_eq!(c.ci.no_workflow_after_checks, 3);
}

#[test]
fn section_defaults_apply_inside_present_sections() {
    let c = ok(
        "server:\n  listen: \"0.0.0.0:9000\"\ngithub:\n  org: acme\nargocd:\n  environments:\n    prod: {url: \"https://argo.example.com/\"}\nmattermost:\n  url: https://mm.example.com\n  token: t\n  bot_username: \"@pusheen\"\n",
        no_env(),
    );
    assert_eq!(c.server.base_url, "http://0.0.0.0:9000");
    let g = c.github.unwrap();
    assert_eq!(g.api_url, "https://api.github.com");
    assert_eq!(g.graphql_url, None);
    assert_eq!(g.repos, RepoFilter::default());
    assert_eq!(g.repos.include, ["*"]);
    assert!(g.repos.skip_archived);
    assert_eq!(
        g.infra_paths,
        [
            "helm/**",
            "charts/**",
            "terraform/**",
            "**/Dockerfile",
            ".github/workflows/**",
            "k8s/**"
        ]
    );
    assert_eq!(g.concurrency, 8);
    assert!(g.token.is_none() && g.webhook_secret.is_none());

    let a = c.argocd.unwrap();
    assert_eq!(a.poll_interval, Duration::from_secs(30));
    assert_eq!(a.cache_ttl, Duration::from_secs(10));
    assert_eq!(a.deploy_environment, "prod");
    assert_eq!(a.version_source, VersionSource::Auto);
    let prod = a.environment("prod").unwrap();
    assert_eq!(prod.url, "https://argo.example.com");
    assert_eq!(prod.app_suffix, "");
    assert_eq!(a.app_name("billing", prod), "billing");

    let m = c.mattermost.unwrap();
    assert_eq!(m.bot_username, "pusheen");
    assert!(m.channels.is_empty());
    assert_eq!(m.token.expose(), "t");
    assert_eq!(m.timing, shipyard_config::ChatTiming::default());
}

#[test]
fn the_bots_intervals_can_be_tuned_but_not_to_zero() {
    let base = "mattermost:\n  url: https://mm.example.com\n  token: t\n  bot_username: b\n";
    let c = ok(
        &format!("{base}  summary_interval: 500ms\n  lead_check_interval: 1m\n"),
        env(&[("SHIPYARD_MATTERMOST__CATCH_UP_RETRY", "2s")]),
    );
    let t = c.mattermost.unwrap().timing;
    assert_eq!(t.summary_interval, Duration::from_millis(500));
    assert_eq!(t.lead_check_interval, Duration::from_secs(60));
    assert_eq!(t.catch_up_retry, Duration::from_secs(2));
    assert_eq!(t.outbox_poll_interval, Duration::from_secs(2));
    let e = errors(&format!("{base}  outbox_poll_interval: 0s\n"), no_env());
    problem(&e, "mattermost.outbox_poll_interval");
}

#[test]
fn null_sections_count_as_missing() {
    let c = ok("github:\nargocd: null\nmattermost: ~\nauth:\n", no_env());
    assert!(c.github.is_none() && c.argocd.is_none() && c.mattermost.is_none());
}

// ---------------------------------------------------------------- the example

#[test]
fn the_example_loads_cleanly() {
    let c = ok(example_yaml(), no_env());
    assert_eq!(c.server.base_url, "https://releases.example.com");
    let g = c.github.as_ref().unwrap();
    assert_eq!(g.org, "acme");
    assert_eq!(g.token.as_ref().unwrap().expose(), "ghp_replace_me");
    assert_eq!(g.repos.exclude, ["*-archive", "sandbox-*"]);
    assert_eq!(g.graphql_url(), "https://api.github.com/graphql");

    let oidc = c.auth.oidc.as_ref().unwrap();
    assert_eq!(oidc.issuer, "https://keycloak.example.com/realms/acme");
    assert_eq!(oidc.scopes, ["openid", "profile", "email"]);
    assert_eq!(c.auth.roles.names_for(Role::QaApprover), ["qa"]);
    assert_eq!(c.auth.api_tokens.len(), 1);
    assert_eq!(c.auth.api_tokens[0].roles, [Role::DevApprover]);
    assert_eq!(c.auth.dev_users.len(), 2);
    assert_eq!(c.auth.dev_users[1].roles, [Role::QaApprover]);

    let a = c.argocd.as_ref().unwrap();
    assert_eq!(
        a.environment_names().collect::<Vec<_>>(),
        ["qa", "uat", "prod"]
    );
    let qa = a.environment("qa").unwrap();
    assert_eq!(qa.cf_client_id.as_deref(), Some("replace-me.access"));
    assert_eq!(a.app_name("special-repo", qa), "custom-app-name-qa");
    assert_eq!(
        a.app_name("billing", a.environment("prod").unwrap()),
        "billing-master"
    );
    let uat = a.environment("uat").unwrap();
    assert_eq!(uat.project.as_deref(), Some("payments"));
    assert_eq!(uat.app_namespace.as_deref(), Some("argocd"));
    assert_eq!(qa.project, None);
    assert_eq!(
        a.environment("prod").unwrap().url,
        "https://ops.example.com/argocd"
    );
    assert_eq!(a.webhook_secret.as_ref().unwrap().expose(), "replace-me");
    assert_eq!(a.selector, None);

    assert!(c.validate_for_serve().is_ok());
}

#[test]
fn the_example_mentions_every_section() {
    for section in [
        "server:",
        "database:",
        "github:",
        "auth:",
        "approvals:",
        "ci:",
        "argocd:",
        "mattermost:",
    ] {
        assert!(example_yaml().contains(section), "{section}");
    }
}

// ---------------------------------------------------------------- environment

#[test]
fn environment_overrides_nested_keys_numbers_bools_and_durations() {
    let yaml = "github:\n  org: from-file\n  concurrency: 4\n";
    let c = ok(
        yaml,
        env(&[
            ("SHIPYARD_GITHUB__ORG", "from-env"),
            ("SHIPYARD_GITHUB__CONCURRENCY", "16"),
            ("SHIPYARD_GITHUB__REPOS__SKIP_ARCHIVED", "false"),
            ("SHIPYARD_GITHUB__TOKEN", "ghp_env"),
            (
                "SHIPYARD_DATABASE__URL",
                "postgres://db.example.com/shipyard",
            ),
            ("SHIPYARD_SERVER__LISTEN", "127.0.0.1:9999"),
            ("SHIPYARD_APPROVALS__ALLOW_SAME_USER", "true"),
            ("SHIPYARD_CI__POLL_INTERVAL", "1m"),
            ("SHIPYARD_CI__NO_WORKFLOW_AFTER_CHECKS", "5"),
        ]),
    );
    let g = c.github.unwrap();
    assert_eq!(g.org, "from-env");
    assert_eq!(g.concurrency, 16);
    assert!(!g.repos.skip_archived);
    assert_eq!(g.token.unwrap().expose(), "ghp_env");
    assert_eq!(c.database.url, "postgres://db.example.com/shipyard");
    assert_eq!(c.server.listen.port(), 9999);
    assert_eq!(c.server.base_url, "http://127.0.0.1:9999");
    assert!(c.approvals.allow_same_user);
    assert_eq!(c.ci.poll_interval, Duration::from_secs(60));
    assert_eq!(c.ci.no_workflow_after_checks, 5);
}

#[test]
fn environment_lists_as_commas_or_yaml_or_json() {
    let c = ok(
        MINIMAL_GITHUB,
        env(&[
            ("SHIPYARD_GITHUB__REPOS__INCLUDE", "api-*, web-*,,"),
            ("SHIPYARD_GITHUB__REPOS__EXCLUDE", r#"["a", "b"]"#),
            ("SHIPYARD_GITHUB__INFRA_PATHS", "[helm/**, k8s/**]"),
            ("SHIPYARD_AUTH__ROLE_CLAIMS", "groups"),
            ("SHIPYARD_AUTH__MODE", "dev"),
            (
                "SHIPYARD_AUTH__DEV_USERS",
                r#"[{"name": "alice", "roles": ["admin"]}]"#,
            ),
            (
                "SHIPYARD_AUTH__API_TOKENS",
                "[{name: ci, token: s3cret, roles: [qa_approver]}]",
            ),
            ("SHIPYARD_MATTERMOST__URL", "https://mm.example.com"),
            ("SHIPYARD_MATTERMOST__TOKEN", "tok"),
            ("SHIPYARD_MATTERMOST__BOT_USERNAME", "pusheen"),
            ("SHIPYARD_MATTERMOST__CHANNELS", ""),
        ]),
    );
    let g = c.github.unwrap();
    assert_eq!(g.repos.include, ["api-*", "web-*"]);
    assert_eq!(g.repos.exclude, ["a", "b"]);
    assert_eq!(g.infra_paths, ["helm/**", "k8s/**"]);
    assert_eq!(c.auth.role_claims, ["groups"]);
    assert_eq!(c.auth.mode, AuthMode::Dev);
    assert_eq!(c.auth.dev_users[0].name, "alice");
    assert_eq!(c.auth.dev_users[0].roles, [Role::Admin]);
    assert_eq!(c.auth.api_tokens[0].name, "ci");
    assert_eq!(
        c.auth.api_tokens[0].token_sha256,
        sha256_hex("s3cret"),
        "the token is stored as its hash"
    );
    assert!(c.mattermost.unwrap().channels.is_empty());
}

#[test]
fn environment_names_are_case_insensitive_and_unrelated_variables_are_ignored() {
    let c = ok(
        MINIMAL_GITHUB,
        env(&[
            ("shipyard_github__org", "lower"),
            ("SHIPYARD_LOG_FORMAT", "json"),
            ("SHIPYARD_TOKEN", "cli-token"),
            ("SHIPYARD_URL", "http://x"),
            ("PATH", "/usr/bin"),
            ("RUST_LOG", "debug"),
        ]),
    );
    assert_eq!(c.github.unwrap().org, "lower");
}

#[test]
fn environment_can_add_sections_and_environments_after_those_of_the_file() {
    let yaml = "argocd:\n  deploy_environment: qa\n  environments:\n    qa: {url: \"https://qa.example.com\"}\n";
    let c = ok(
        yaml,
        env(&[
            ("SHIPYARD_ARGOCD__ENVIRONMENTS__QA__TOKEN", "qa-token"),
            (
                "SHIPYARD_ARGOCD__ENVIRONMENTS__PROD__URL",
                "https://prod.example.com",
            ),
            ("SHIPYARD_ARGOCD__OVERRIDES", "{billing: billing-app}"),
            ("SHIPYARD_ARGOCD__VERSION_SOURCE", "IMAGE"),
            ("SHIPYARD_GITHUB__ORG", "acme"),
        ]),
    );
    let a = c.argocd.unwrap();
    assert_eq!(a.environment_names().collect::<Vec<_>>(), ["qa", "prod"]);
    assert_eq!(
        a.environment("qa")
            .unwrap()
            .token
            .as_ref()
            .unwrap()
            .expose(),
        "qa-token"
    );
    assert_eq!(a.overrides["billing"], "billing-app");
    assert_eq!(a.version_source, VersionSource::Image);
    assert_eq!(c.github.unwrap().org, "acme");
}

#[test]
fn problems_from_the_environment_name_the_variable() {
    let e = errors(
        "",
        env(&[
            ("SHIPYARD_GITHUB__TOKN", "x"),
            ("SHIPYARD_CI__POLL_TIMEOUT", "forever"),
            ("SHIPYARD_SERVER____LISTEN", "x"),
        ]),
    );
    let unknown = problem(&e, "github.tokn");
    assert_eq!(unknown.suggestion.as_deref(), Some("github.token"));
    assert!(
        unknown.message.contains("SHIPYARD_GITHUB__TOKN"),
        "{unknown}"
    );
    assert!(
        problem(&e, "ci.poll_timeout")
            .message
            .contains("SHIPYARD_CI__POLL_TIMEOUT")
    );
    problem(&e, "SHIPYARD_SERVER____LISTEN");
}

#[test]
fn ci_poll_aliases_are_honoured_and_the_shipyard_form_wins() {
    let c = ok(
        "",
        env(&[("CI_POLL_INTERVAL", "45s"), ("CI_POLL_TIMEOUT", "2h")]),
    );
    assert_eq!(c.ci.poll_interval, Duration::from_secs(45));
    assert_eq!(c.ci.poll_timeout, Duration::from_secs(7200));

    let both = env(&[
        ("SHIPYARD_CI__POLL_INTERVAL", "10s"),
        ("CI_POLL_INTERVAL", "45s"),
        ("SHIPYARD_CI__POLL_TIMEOUT", "3h"),
        ("CI_POLL_TIMEOUT", "2h"),
    ]);
    let c = ok("ci:\n  poll_interval: 5m\n", both.clone());
    assert_eq!(c.ci.poll_interval, Duration::from_secs(10));
    assert_eq!(c.ci.poll_timeout, Duration::from_secs(3 * 3600));
    // The order the variables arrive in does not matter.
    let c = ok("", both.into_iter().rev().collect());
    assert_eq!(c.ci.poll_interval, Duration::from_secs(10));

    // An alias still beats the file.
    let c = ok(
        "ci:\n  poll_interval: 5m\n",
        env(&[("CI_POLL_INTERVAL", "45s")]),
    );
    assert_eq!(c.ci.poll_interval, Duration::from_secs(45));
}

// ---------------------------------------------------------------- secrets from files

fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}

fn write(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).expect("write a test file");
    path.display().to_string()
}

#[test]
fn secrets_are_read_from_files_with_the_trailing_newline_trimmed() {
    let dir = tempfile::tempdir().unwrap();
    let gh = write(dir.path(), "gh", "ghp_from_file\n");
    let hook = write(dir.path(), "hook", "hook-secret\r\n");
    let oidc = write(dir.path(), "oidc", "client-secret");
    let api = write(dir.path(), "api", "api-token\n");
    let argo = write(dir.path(), "argo", "argo-token\n");
    let cf = write(dir.path(), "cf", "cf-secret\n");
    let mm = write(dir.path(), "mm", "mm-token\n");
    let yaml = format!(
        r#"
github:
  org: acme
  token_file: "{gh}"
  webhook_secret_file: "{hook}"
auth:
  oidc:
    issuer: https://id.example.com/realms/acme
    client_id: shipyard
    client_secret_file: "{oidc}"
    redirect_url: https://releases.example.com/auth/callback
  api_tokens:
    - name: from-file
      token_file: "{api}"
argocd:
  environments:
    prod:
      url: https://argo.example.com
      token_file: "{argo}"
      cf_client_id: id
      cf_client_secret_file: "{cf}"
mattermost:
  url: https://mm.example.com
  token_file: "{mm}"
  bot_username: bot
"#
    );
    let c = ok(&yaml, no_env());
    let g = c.github.unwrap();
    assert_eq!(g.token.unwrap().expose(), "ghp_from_file");
    assert_eq!(g.webhook_secret.unwrap().expose(), "hook-secret");
    let oidc = c.auth.oidc.unwrap();
    assert_eq!(oidc.client_secret.unwrap().expose(), "client-secret");
    assert_eq!(c.auth.api_tokens[0].token_sha256, sha256_hex("api-token"));
    let a = c.argocd.unwrap();
    let prod = a.environment("prod").unwrap();
    assert_eq!(prod.token.as_ref().unwrap().expose(), "argo-token");
    assert_eq!(
        prod.cf_client_secret.as_ref().unwrap().expose(),
        "cf-secret"
    );
    assert_eq!(c.mattermost.unwrap().token.expose(), "mm-token");
}

#[test]
fn a_secret_file_may_be_named_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let gh = write(dir.path(), "gh", "ghp_env_file\n");
    let c = ok(
        MINIMAL_GITHUB,
        env(&[("SHIPYARD_GITHUB__TOKEN_FILE", gh.as_str())]),
    );
    assert_eq!(c.github.unwrap().token.unwrap().expose(), "ghp_env_file");
}

#[test]
fn giving_a_secret_and_its_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let gh = write(dir.path(), "gh", "from-file");
    let yaml = format!(
        "github:\n  org: acme\n  token: inline-value\n  token_file: \"{gh}\"\nmattermost:\n  url: https://mm.example.com\n  token: a\n  token_file: \"{gh}\"\n  bot_username: b\n"
    );
    let e = errors(&yaml, no_env());
    let p = problem(&e, "github.token");
    assert!(p.message.contains("github.token_file"), "{p}");
    problem(&e, "mattermost.token");
    let shown = e.to_string();
    assert!(!shown.contains("inline-value") && !shown.contains("from-file"));
}

#[test]
fn an_unreadable_secret_file_names_the_key_and_path_but_no_content() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("no-such-file").display().to_string();
    let empty = write(dir.path(), "empty", "\n");
    let yaml = format!(
        "github:\n  org: acme\n  token_file: \"{missing}\"\n  webhook_secret_file: \"{empty}\"\n"
    );
    let e = errors(&yaml, no_env());
    let p = problem(&e, "github.token_file");
    assert!(p.message.contains(&missing), "{p}");
    let p = problem(&e, "github.webhook_secret_file");
    assert!(p.message.contains("empty"), "{p}");
}

// ---------------------------------------------------------------- unknown keys

#[test]
fn unknown_keys_are_reported_at_every_level_with_the_nearest_key() {
    let yaml = r#"
githb:
  org: acme
server:
  lisen: "127.0.0.1:8080"
auth:
  mode: dev
  dev_users:
    - {name: a, rols: [admin]}
  api_tokens:
    - {name: t, token: x, role: [admin]}
  oidc:
    isuer: https://id.example.com
    client_id: c
    redirect_url: https://r.example.com/cb
argocd:
  deploy_environment: prod
  environments:
    prod: {url: "https://argo.example.com", tokn: x}
ci:
  poll_intervall: 30s
  completely_unrelated_words: 1
"#;
    let e = errors(yaml, no_env());
    for (path, suggestion) in [
        ("githb", Some("github")),
        ("server.lisen", Some("server.listen")),
        ("auth.dev_users[0].rols", Some("auth.dev_users[0].roles")),
        ("auth.api_tokens[0].role", Some("auth.api_tokens[0].roles")),
        ("auth.oidc.isuer", Some("auth.oidc.issuer")),
        (
            "argocd.environments.prod.tokn",
            Some("argocd.environments.prod.token"),
        ),
        ("ci.poll_intervall", Some("ci.poll_interval")),
        ("ci.completely_unrelated_words", None),
    ] {
        let p = problem(&e, path);
        assert_eq!(p.message, "unknown key", "{p}");
        assert_eq!(p.suggestion.as_deref(), suggestion, "{p}");
    }
    assert_eq!(
        problem(&e, "server.lisen").to_string(),
        "server.lisen: unknown key; did you mean `server.listen`?"
    );
    // The oidc issuer was misspelt, so it is also missing; nothing else is wrong.
    problem(&e, "auth.oidc.issuer");
    assert_eq!(e.0.len(), 9, "{e}");
}

// ---------------------------------------------------------------- everything at once

#[test]
fn every_problem_is_reported_at_once() {
    let yaml = r#"
server:
  listen: "not an address"
  base_url: "ftp://releases.example.com"
database:
  url: "mysql://root:hunter2@db/shipyard"
github:
  org: ""
  concurrency: 65
  repos:
    skip_archived: "perhaps"
auth:
  mode: oidc
  session_ttl: "12 parsecs"
  api_tokens:
    - name: a
      token_sha256: "abc"
      roles: [dev_aprover]
    - name: a
    - name: b
      token: x
      token_sha256: "2d7cd44979bcf9b2fb17ef596dafa84d68d5db1446f6df75e2a70d3ee03b4dde"
  dev_users:
    - {name: "x", roles: [root]}
ci:
  chart_version_pattern: "CHART_VERSION=\\S+"
  poll_interval: 0s
  no_workflow_after_checks: -1
argocd:
  deploy_environment: prd
  version_source: helm
  environments:
    prod: {url: "argo.example.com", cf_client_id: "id"}
    qa: "https://qa.example.com"
mattermost:
  url: "https://mm.example.com"
  channels: {a: b}
"#;
    let e = errors(yaml, no_env());
    let expected = [
        "server.listen",
        "server.base_url",
        "database.url",
        "github.org",
        "github.concurrency",
        "github.repos.skip_archived",
        "auth.session_ttl",
        "auth.api_tokens[0].token_sha256",
        "auth.api_tokens[0].roles[0]",
        "auth.api_tokens[1].name",
        "auth.api_tokens[1]",
        "auth.api_tokens[2]",
        "auth.dev_users[0].roles[0]",
        "ci.chart_version_pattern",
        "ci.poll_interval",
        "ci.no_workflow_after_checks",
        "argocd.version_source",
        "argocd.environments.prod.url",
        "argocd.environments.prod",
        "argocd.environments.qa",
        "mattermost.token",
        "mattermost.bot_username",
        "mattermost.channels",
    ];
    for path in expected {
        problem(&e, path);
    }
    assert_eq!(
        problem(&e, "auth.api_tokens[0].roles[0]")
            .suggestion
            .as_deref(),
        Some("dev_approver")
    );
    assert_eq!(
        problem(&e, "argocd.version_source").suggestion,
        None,
        "helm is not close to any source"
    );
    // Grouped by section, in the order of the file format.
    let sections: Vec<&str> =
        e.0.iter()
            .map(|p| p.path.split(['.', '[']).next().unwrap_or_default())
            .collect();
    let mut deduped = sections.clone();
    deduped.dedup();
    assert_eq!(
        deduped,
        [
            "server",
            "database",
            "github",
            "auth",
            "ci",
            "argocd",
            "mattermost"
        ]
    );
    // Display is one problem per line.
    assert_eq!(e.to_string().lines().count(), e.0.len());
    assert!(!e.to_string().contains("hunter2"));
}

#[test]
fn a_missing_deploy_environment_is_reported_with_the_nearest_name() {
    let yaml = "argocd:\n  deploy_environment: prd\n  environments:\n    qa: {url: \"https://qa.example.com\"}\n    prod: {url: \"https://prod.example.com\"}\n";
    let e = errors(yaml, no_env());
    let p = problem(&e, "argocd.deploy_environment");
    assert_eq!(p.suggestion.as_deref(), Some("prod"));
    assert!(p.message.contains("qa, prod"), "{p}");
    assert_eq!(e.0.len(), 1);

    let e = errors("argocd:\n  poll_interval: 5s\n", no_env());
    problem(&e, "argocd.environments");
}

#[test]
fn bad_durations_name_the_key() {
    let e = errors(
        "ci:\n  poll_interval: soon\n  poll_timeout: 30\n  rate_limit_backoff: 5 minutes\nargocd:\n  cache_ttl: \"-1s\"\n  environments:\n    prod: {url: \"https://a.example.com\"}\nauth:\n  session_ttl: [12h]\n  mode: dev\n  dev_users: [{name: a}]\n",
        no_env(),
    );
    for path in [
        "ci.poll_interval",
        "ci.poll_timeout",
        "argocd.cache_ttl",
        "auth.session_ttl",
    ] {
        problem(&e, path);
    }
    assert!(problem(&e, "ci.poll_interval").message.contains("`soon`"));
    // humantime accepts "5 minutes"
    assert!(e.at("ci.rate_limit_backoff").is_none(), "{e}");
    assert_eq!(e.0.len(), 4, "{e}");
}

#[test]
fn wrong_types_are_reported_without_the_value() {
    let e = errors(
        "github:\n  org: acme\n  token: [top-secret-value]\n  concurrency: lots\ndatabase:\n  url: {password: top-secret-value}\n",
        no_env(),
    );
    assert_eq!(
        problem(&e, "github.token").message,
        "expected a string, found a list"
    );
    assert_eq!(
        problem(&e, "github.concurrency").message,
        "expected a whole number, found a string"
    );
    problem(&e, "database.url");
    assert!(!e.to_string().contains("top-secret-value"));
}

#[test]
fn scalars_are_coerced_to_the_type_a_key_wants() {
    let c = ok(
        "github:\n  org: 1234\n  concurrency: \"12\"\n  repos:\n    skip_archived: \"no\"\nargocd:\n  environments:\n    2024: {url: \"https://a.example.com\"}\n  deploy_environment: 2024\n",
        no_env(),
    );
    let g = c.github.unwrap();
    assert_eq!(g.org, "1234");
    assert_eq!(g.concurrency, 12);
    assert!(!g.repos.skip_archived);
    assert_eq!(c.argocd.unwrap().deploy_environment, "2024");
}

#[test]
fn invalid_yaml_and_a_non_mapping_root_are_problems() {
    let e = errors("server: [unclosed\n", no_env());
    assert_eq!(e.0.len(), 1);
    assert!(e.0[0].message.contains("not valid YAML"), "{e}");

    let e = errors("- a\n- b\n", no_env());
    assert!(e.0[0].message.contains("expected a mapping"), "{e}");
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shipyard.yaml");
    std::fs::write(&path, "github:\n  org: from-disk\n").unwrap();
    let c = Config::load(Some(&path), env(&[("SHIPYARD_GITHUB__CONCURRENCY", "2")])).unwrap();
    let g = c.github.unwrap();
    assert_eq!((g.org.as_str(), g.concurrency), ("from-disk", 2));

    let missing = dir.path().join("absent.yaml");
    let e = Config::load(Some(&missing), no_env()).unwrap_err();
    assert!(e.to_string().contains("absent.yaml"), "{e}");
}

// ---------------------------------------------------------------- validation

#[test]
fn auth_rules() {
    // Without a provider, an `auth` section in oidc mode loads (API tokens work), with a
    // warning that names the keys turning single sign-on on.
    let c = ok(
        "auth:\n  roles:\n    admin: [ops]\n  api_tokens: [{name: bot, token: t}]\n",
        no_env(),
    );
    assert!(c.auth.oidc.is_none());
    let warnings = c.warnings();
    let sso = warnings
        .iter()
        .find(|w| w.path == "auth.oidc")
        .expect("a warning about single sign-on");
    for key in [
        "auth.oidc.issuer",
        "auth.oidc.client_id",
        "auth.oidc.client_secret",
        "auth.oidc.redirect_url",
    ] {
        assert!(sso.message.contains(key), "{sso}");
    }
    // A provider with some keys given needs the others: each missing one is named.
    let e = errors(
        "auth:\n  oidc:\n    issuer: \"https://sso.example.com/realms/acme\"\n",
        no_env(),
    );
    assert_eq!(e.0.len(), 2, "{e}");
    problem(&e, "auth.oidc.client_id");
    problem(&e, "auth.oidc.redirect_url");
    // Dev mode has no warning about single sign-on.
    let dev = ok("auth:\n  mode: dev\n  dev_users: [{name: a}]\n", no_env());
    assert!(dev.warnings().iter().all(|w| w.path != "auth.oidc"));
    // Dev mode needs users.
    let e = errors("auth:\n  mode: dev\n", no_env());
    problem(&e, "auth.dev_users");
    // A mistyped mode is reported once, not followed by what the default would need.
    let e = errors("auth:\n  mode: deev\n", no_env());
    assert_eq!(e.0.len(), 1, "{e}");
    assert_eq!(problem(&e, "auth.mode").suggestion.as_deref(), Some("dev"));
    // The provider's required keys, and `openid` among the scopes.
    let e = errors(
        "auth:\n  oidc:\n    issuer: not-a-url\n    client_id: \"\"\n    scopes: [profile]\n",
        no_env(),
    );
    for path in [
        "auth.oidc.issuer",
        "auth.oidc.client_id",
        "auth.oidc.redirect_url",
        "auth.oidc.scopes",
    ] {
        problem(&e, path);
    }
    // Duplicate dev users, duplicate tokens.
    let e = errors(
        "auth:\n  mode: dev\n  dev_users: [{name: a}, {name: a}]\n  api_tokens:\n    - {name: x, token: same}\n    - {name: y, token: same}\n",
        no_env(),
    );
    problem(&e, "auth.dev_users[1].name");
    assert!(
        problem(&e, "auth.api_tokens[1]")
            .message
            .contains("same token")
    );
    assert!(!e.to_string().contains("same`"));
}

#[test]
fn api_token_hashes_are_normalised_to_lowercase() {
    let upper = "2D7CD44979BCF9B2FB17EF596DAFA84D68D5DB1446F6DF75E2A70D3EE03B4DDE";
    let c = ok(
        &format!(
            "auth:\n  mode: dev\n  dev_users: [{{name: a}}]\n  api_tokens:\n    - {{name: x, token_sha256: \"{upper}\", roles: [admin, admin, qa_approver]}}\n"
        ),
        no_env(),
    );
    let token = &c.auth.api_tokens[0];
    assert_eq!(token.token_sha256, upper.to_ascii_lowercase());
    assert_eq!(token.roles, [Role::Admin, Role::QaApprover]);
}

#[test]
fn chart_version_pattern_needs_one_capture_group() {
    let e = errors("ci:\n  chart_version_pattern: \"(a)(b)\"\n", no_env());
    assert!(
        problem(&e, "ci.chart_version_pattern")
            .message
            .contains("it has 2")
    );
    let e = errors("ci:\n  chart_version_pattern: \"(unclosed\"\n", no_env());
    let p = problem(&e, "ci.chart_version_pattern");
    assert!(p.message.contains("not a valid regular expression"), "{p}");
    assert!(!p.message.contains('\n'));
    ok(
        "ci:\n  chart_version_pattern: 'version: \"?([0-9.]+)'\n",
        no_env(),
    );
}

#[test]
fn database_urls() {
    for url in [
        "sqlite::memory:",
        "sqlite://./x.db",
        "postgres://u@h/db",
        "postgresql://u@h/db",
    ] {
        ok(&format!("database:\n  url: \"{url}\"\n"), no_env());
    }
    let e = errors("database:\n  url: \"mysql://u:pw@h/db\"\n", no_env());
    assert!(!problem(&e, "database.url").message.contains("pw"));
}

#[test]
fn validate_for_serve() {
    // No auth section: API tokens only, which serves (with warnings).
    let c = ok("", no_env());
    assert!(c.validate_for_serve().is_ok());
    let paths: Vec<String> = c.warnings().into_iter().map(|w| w.path).collect();
    assert_eq!(paths, ["auth.oidc", "github"]);

    let dev = "auth:\n  mode: dev\n  dev_users: [{name: a, roles: [admin]}]\n";
    assert!(ok(dev, no_env()).validate_for_serve().is_ok());
    let c = ok(
        &format!("server:\n  listen: \"0.0.0.0:8080\"\n{dev}"),
        no_env(),
    );
    problem(&c.validate_for_serve().unwrap_err(), "auth.mode");
    let c = ok(
        &format!("server:\n  listen: \"[::1]:8080\"\n{dev}"),
        no_env(),
    );
    assert!(c.validate_for_serve().is_ok());

    // Argo CD environments need their token to serve (check-config names each one missing).
    let argo = "argocd:\n  environments:\n    qa: {url: \"https://qa.example.com\", token: t}\n    prod: {url: \"https://p.example.com\"}\n";
    let errors = ok(argo, no_env()).validate_for_serve().unwrap_err();
    problem(&errors, "argocd.environments.prod.token");
    assert_eq!(errors.0.len(), 1, "{errors}");
}

// ---------------------------------------------------------------- secrets stay secret

#[test]
fn debug_of_a_config_never_shows_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "cs", "SECRET-client\n");
    let yaml = format!(
        r#"
github: {{org: acme, token: SECRET-gh, webhook_secret: SECRET-hook}}
auth:
  oidc: {{issuer: "https://id.example.com", client_id: c, client_secret_file: "{file}", redirect_url: "https://r.example.com/cb"}}
  api_tokens: [{{name: t, token: SECRET-api}}]
argocd:
  environments:
    prod: {{url: "https://a.example.com", token: SECRET-argo, cf_client_id: id, cf_client_secret: SECRET-cf}}
mattermost: {{url: "https://m.example.com", token: SECRET-mm, bot_username: b}}
"#
    );
    let c = ok(&yaml, no_env());
    let debug = format!("{c:?}");
    let pretty = format!("{c:#?}");
    for shown in [debug, pretty] {
        assert!(!shown.contains("SECRET"), "{shown}");
        assert!(shown.contains("[redacted]"));
    }
    assert_eq!(format!("{}", Secret::new("x")), "[redacted]");
}

// ---------------------------------------------------------------- argocd order

#[test]
fn argocd_environments_keep_the_order_of_the_file() {
    let yaml = "argocd:\n  deploy_environment: alpha\n  environments:\n    zeta: {url: \"https://z.example.com\"}\n    alpha: {url: \"https://a.example.com\"}\n    Mid: {url: \"https://m.example.com\", app_suffix: \"-mid\"}\n";
    let c = ok(yaml, no_env());
    let a = c.argocd.unwrap();
    assert_eq!(
        a.environment_names().collect::<Vec<_>>(),
        ["zeta", "alpha", "Mid"]
    );
    assert_eq!(a.environments[2].1.app_suffix, "-mid");
}

// ---------------------------------------------------------------- graphql_url

fn github_with(api_url: &str, graphql_url: Option<&str>) -> GithubConfig {
    let mut yaml = format!("github:\n  org: acme\n  api_url: \"{api_url}\"\n");
    if let Some(g) = graphql_url {
        yaml.push_str(&format!("  graphql_url: \"{g}\"\n"));
    }
    ok(&yaml, no_env()).github.expect("a github section")
}

#[test]
fn graphql_url_is_derived_from_the_api_url() {
    for (api, expected) in [
        ("https://api.github.com", "https://api.github.com/graphql"),
        ("https://api.github.com/", "https://api.github.com/graphql"),
        (
            "https://github.example.com/api/v3",
            "https://github.example.com/api/graphql",
        ),
        (
            "https://github.example.com/api/v3/",
            "https://github.example.com/api/graphql",
        ),
        ("http://127.0.0.1:4010", "http://127.0.0.1:4010/graphql"),
        (
            "http://127.0.0.1:4010/github",
            "http://127.0.0.1:4010/github/graphql",
        ),
    ] {
        let g = github_with(api, None);
        assert!(!g.api_url.ends_with('/'));
        assert_eq!(g.graphql_url(), expected, "{api}");
    }
    let g = github_with("http://127.0.0.1:4010", Some("http://127.0.0.1:4011/gql/"));
    assert_eq!(g.graphql_url(), "http://127.0.0.1:4011/gql");
}

#[test]
fn the_log_section_picks_the_format_and_level() {
    let c = ok(
        "log:\n  format: json\n  level: \"shipyard=debug\"\n",
        env(&[]),
    );
    assert_eq!(c.log.format, shipyard_config::LogFormat::Json);
    assert_eq!(c.log.level.as_deref(), Some("shipyard=debug"));
    let c = ok("", env(&[("SHIPYARD_LOG__FORMAT", "json")]));
    assert_eq!(c.log.format, shipyard_config::LogFormat::Json);
    assert_eq!(ok("", env(&[])).log, shipyard_config::LogConfig::default());
    let e = Config::from_yaml_str("log:\n  format: xml\n", env(&[])).unwrap_err();
    assert!(e.at("log.format").is_some(), "{e}");
}
