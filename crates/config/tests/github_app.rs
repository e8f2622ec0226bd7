//! `github.app`: a GitHub App instead of `github.token` — in the file, from the environment,
//! with the key inline or from a file; both or neither are problems naming the keys, and the
//! key is never shown.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use shipyard_config::{Config, ConfigErrors, ConfigProblem};

/// Looks like a PEM private key; only the GitHub client reads what is inside.
const PKCS1: &str =
    "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAsecretbody\n-----END RSA PRIVATE KEY-----\n";
const PKCS8: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANsecretbody\n-----END PRIVATE KEY-----\n";

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

fn key_file(dir: &Path, name: &str, content: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, content).unwrap();
    path.display().to_string()
}

#[test]
fn an_app_with_its_key_in_a_file_or_inline() {
    let dir = tempfile::tempdir().unwrap();
    let file = key_file(dir.path(), "app.pem", PKCS1);
    let c = ok(
        &format!(
            "github:\n  org: acme\n  app:\n    app_id: 123456\n    private_key_file: \"{file}\"\n"
        ),
        vec![],
    );
    let app = c.github_app.as_ref().unwrap();
    assert_eq!(app.app_id, 123_456);
    assert_eq!(app.private_key.expose(), PKCS1.trim_end());
    assert_eq!(app.private_key_file.as_deref(), Some(file.as_str()));
    assert_eq!(app.private_key_path(), "github.app.private_key_file");
    assert_eq!(app.installation_id, None);
    assert!(c.github.as_ref().unwrap().token.is_none());
    assert!(c.validate_for_serve().is_ok());

    let inline = ok(
        &format!(
            "github:\n  org: acme\n  app:\n    app_id: \"7\"\n    installation_id: 42\n    private_key: |\n{}",
            PKCS8
                .lines()
                .map(|l| format!("      {l}\n"))
                .collect::<String>()
        ),
        vec![],
    );
    let app = inline.github_app.as_ref().unwrap();
    assert_eq!((app.app_id, app.installation_id), (7, Some(42)));
    assert_eq!(app.private_key_path(), "github.app.private_key");
    assert!(
        app.private_key
            .expose()
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
}

#[test]
fn an_app_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let file = key_file(dir.path(), "app.pem", PKCS1);
    let c = ok(
        "github:\n  org: acme\n",
        env(&[
            ("SHIPYARD_GITHUB__APP__APP_ID", "123456"),
            ("SHIPYARD_GITHUB__APP__PRIVATE_KEY_FILE", &file),
            ("SHIPYARD_GITHUB__APP__INSTALLATION_ID", "987"),
        ]),
    );
    let app = c.github_app.unwrap();
    assert_eq!((app.app_id, app.installation_id), (123_456, Some(987)));
    // The whole section as one variable, and the key itself on one line with `\n` escapes.
    let escaped = PKCS1.trim_end().replace('\n', "\\n");
    let c = ok(
        "github:\n  org: acme\n",
        env(&[
            ("SHIPYARD_GITHUB__APP", "{app_id: 5}"),
            ("SHIPYARD_GITHUB__APP__PRIVATE_KEY", &escaped),
        ]),
    );
    assert_eq!(c.github_app.unwrap().app_id, 5);
}

#[test]
fn a_token_and_an_app_together_or_neither_are_problems_naming_the_keys() {
    let both = errors(
        &format!(
            "github:\n  org: acme\n  token: ghp_x\n  app:\n    app_id: 1\n    private_key: {:?}\n",
            PKCS1
        ),
        vec![],
    );
    let p = problem(&both, "github.app");
    for key in [
        "`github.token`",
        "`github.token_file`",
        "`github.app`",
        "not both",
    ] {
        assert!(p.message.contains(key), "{key}: {p}");
    }
    assert_eq!(both.0.len(), 1, "{both}");

    let neither = ok("github:\n  org: acme\n", vec![]);
    let e = neither.validate_for_serve().unwrap_err();
    let p = problem(&e, "github.token");
    assert!(
        p.message.contains("github.token_file") && p.message.contains("github.app"),
        "{p}"
    );
    // Without a `github` section there is nothing to authenticate.
    assert!(ok("", vec![]).validate_for_serve().is_ok());
}

#[test]
fn an_incomplete_app_or_a_key_that_is_not_pem_is_named() {
    let e = errors(
        "github:\n  org: acme\n  app: {installation_id: 0}\n",
        vec![],
    );
    problem(&e, "github.app.app_id");
    problem(&e, "github.app.installation_id");
    let p = problem(&e, "github.app.private_key");
    assert!(p.message.contains("private_key_file"), "{p}");

    let e = errors(
        "github:\n  org: acme\n  app: {app_id: 0, private_key: /run/secrets/app.pem}\n",
        vec![],
    );
    problem(&e, "github.app.app_id");
    let p = problem(&e, "github.app.private_key");
    assert!(p.message.contains("looks like a path"), "{p}");
    assert!(!p.message.contains("/run/secrets"), "{p}");

    let dir = tempfile::tempdir().unwrap();
    let file = key_file(dir.path(), "app.pem", "not a key at all\n");
    let e = errors(
        &format!("github:\n  org: acme\n  app: {{app_id: 3, private_key_file: \"{file}\"}}\n"),
        vec![],
    );
    let p = problem(&e, "github.app.private_key_file");
    assert!(p.message.contains("PEM"), "{p}");
    assert!(!p.message.contains("not a key at all"), "{p}");

    let e = errors(
        &format!(
            "github:\n  org: acme\n  app: {{app_id: 3, private_key: x, private_key_file: \"{file}\"}}\n"
        ),
        vec![],
    );
    assert!(
        problem(&e, "github.app.private_key")
            .message
            .contains("not both")
    );

    let e = errors(
        "github:\n  org: acme\n  app: {app_id: 3, private_key_fle: x}\n",
        vec![],
    );
    let p = problem(&e, "github.app.private_key_fle");
    assert_eq!(
        p.suggestion.as_deref(),
        Some("github.app.private_key_file"),
        "{p}"
    );
}

#[test]
fn the_key_is_never_shown() {
    let c = ok(
        &format!(
            "github:\n  org: acme\n  app:\n    app_id: 1\n    private_key: {:?}\n",
            PKCS1
        ),
        vec![],
    );
    let debug = format!("{c:?}");
    assert!(!debug.contains("secretbody"), "{debug}");
    assert!(!debug.contains("PRIVATE KEY"), "{debug}");
}
