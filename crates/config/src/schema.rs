//! The shape of a valid configuration, and the walk that checks a YAML tree against it.
//!
//! Serde stops at the first error it meets, but `check-config` must report every problem at once.
//! So the merged tree is first walked against [`ROOT`]: every unknown key (with the nearest valid
//! one), every value of the wrong type and every bad duration is recorded, bad leaves are dropped,
//! and scalars are coerced to the type the key wants (environment variables are always strings).
//! What is left deserializes without surprises. A test keeps this table and the serde structs in
//! `raw.rs` in step.

use serde_yaml_ng::{Mapping, Value};

use crate::problem::{Problems, nearest};

/// What a key accepts.
#[derive(Debug)]
pub(crate) enum Shape {
    /// A string; numbers and booleans are taken as their text.
    Str,
    /// A string that is a secret: same rules as [`Shape::Str`], named apart for the reader.
    Secret,
    /// `true`/`false` (strings such as `"yes"` or `"0"` too, for environment variables).
    Bool,
    /// A non-negative whole number.
    UInt,
    /// A humane duration such as `30s`.
    Duration,
    /// One of a few lowercase words.
    OneOf(&'static [&'static str]),
    /// A list; for lists of scalars a comma-separated string is accepted too.
    List(&'static Shape),
    /// A mapping with a fixed set of keys.
    Struct(&'static [(&'static str, Shape)]),
    /// A mapping whose keys are names chosen by the user (environments, repos).
    Map(&'static Shape),
}

use Shape::*;

/// Every valid key of a configuration file.
pub(crate) static ROOT: Shape = Struct(&[
    (
        "server",
        Struct(&[
            ("listen", Str),
            ("base_url", Str),
            ("replica", Str),
            ("shutdown_timeout", Duration),
        ]),
    ),
    (
        "database",
        Struct(&[("url", Secret), ("max_connections", UInt)]),
    ),
    (
        "github",
        Struct(&[
            ("api_url", Str),
            ("graphql_url", Str),
            ("web_url", Str),
            ("org", Str),
            ("token", Secret),
            ("token_file", Str),
            (
                "app",
                Struct(&[
                    ("app_id", UInt),
                    ("private_key", Secret),
                    ("private_key_file", Str),
                    ("installation_id", UInt),
                ]),
            ),
            ("webhook_secret", Secret),
            ("webhook_secret_file", Str),
            (
                "repos",
                Struct(&[
                    ("include", List(&Str)),
                    ("exclude", List(&Str)),
                    ("skip_archived", Bool),
                ]),
            ),
            ("infra_paths", List(&Str)),
            ("concurrency", UInt),
            ("pr_comments", Bool),
        ]),
    ),
    (
        "auth",
        Struct(&[
            ("mode", OneOf(&["oidc", "dev"])),
            (
                "oidc",
                Struct(&[
                    ("issuer", Str),
                    ("client_id", Str),
                    ("client_secret", Secret),
                    ("client_secret_file", Str),
                    ("redirect_url", Str),
                    ("scopes", List(&Str)),
                ]),
            ),
            (
                "roles",
                Struct(&[
                    ("dev_approver", List(&Str)),
                    ("qa_approver", List(&Str)),
                    ("admin", List(&Str)),
                ]),
            ),
            ("role_claims", List(&Str)),
            (
                "api_tokens",
                List(&Struct(&[
                    ("name", Str),
                    ("token_sha256", Str),
                    ("token", Secret),
                    ("token_file", Str),
                    ("roles", List(&Str)),
                ])),
            ),
            ("session_ttl", Duration),
            (
                "dev_users",
                List(&Struct(&[("name", Str), ("roles", List(&Str))])),
            ),
        ]),
    ),
    ("approvals", Struct(&[("allow_same_user", Bool)])),
    (
        "ci",
        Struct(&[
            ("workflow_file", Str),
            ("helm_job_pattern", Str),
            ("chart_version_pattern", Str),
            ("poll_interval", Duration),
            ("poll_timeout", Duration),
            ("rate_limit_backoff", Duration),
            ("no_workflow_after_checks", UInt),
            ("claim_lease", Duration),
        ]),
    ),
    (
        "argocd",
        Struct(&[
            ("poll_interval", Duration),
            ("cache_ttl", Duration),
            ("deploy_environment", Str),
            (
                "environments",
                Map(&Struct(&[
                    ("url", Str),
                    ("token", Secret),
                    ("token_file", Str),
                    ("cf_client_id", Str),
                    ("cf_client_secret", Secret),
                    ("cf_client_secret_file", Str),
                    ("app_suffix", Str),
                    ("project", Str),
                    ("app_namespace", Str),
                ])),
            ),
            ("overrides", Map(&Str)),
            ("version_source", OneOf(&["auto", "chart", "image"])),
            ("webhook_secret", Secret),
            ("webhook_secret_file", Str),
            ("selector", Str),
        ]),
    ),
    (
        "log",
        Struct(&[("format", OneOf(&["text", "json"])), ("level", Str)]),
    ),
    (
        "mattermost",
        Struct(&[
            ("url", Str),
            ("token", Secret),
            ("token_file", Str),
            ("bot_username", Str),
            ("channels", List(&Str)),
            ("summary_interval", Duration),
            ("outbox_lease", Duration),
            ("outbox_poll_interval", Duration),
            ("lead_check_interval", Duration),
            ("catch_up_retry", Duration),
        ]),
    ),
]);

/// The top-level section names, in the order of the file format.
pub(crate) fn section_names() -> impl Iterator<Item = &'static str> {
    let fields: &'static [(&'static str, Shape)] = match &ROOT {
        Struct(fields) => fields,
        _ => &[],
    };
    fields.iter().map(|(name, _)| *name)
}

/// The shape of the key at `segments` (lowercase names), if that key exists; lists cannot be
/// stepped into, since environment variable names carry no index.
pub(crate) fn shape_at(segments: &[String]) -> Option<&'static Shape> {
    let mut shape = &ROOT;
    for segment in segments {
        shape = match shape {
            Struct(fields) => fields
                .iter()
                .find(|(name, _)| name == segment)
                .map(|(_, s)| s)?,
            Map(inner) => inner,
            _ => return None,
        };
    }
    Some(shape)
}

/// Checks the whole tree; the result is always a mapping (empty when nothing usable was given).
pub(crate) fn check_root(value: Value, problems: &mut Problems) -> Mapping {
    match value {
        Value::Null => Mapping::new(),
        other => match check(other, &ROOT, "", problems) {
            Some(Value::Mapping(map)) => map,
            _ => Mapping::new(),
        },
    }
}

/// Checks `value` against `shape`; `None` means "drop this key" (null, or a problem recorded).
fn check(value: Value, shape: &Shape, path: &str, problems: &mut Problems) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    match shape {
        Str | Secret => match value {
            Value::String(_) => Some(value),
            Value::Number(n) => Some(Value::String(n.to_string())),
            Value::Bool(b) => Some(Value::String(b.to_string())),
            other => wrong_type(path, "a string", &other, problems),
        },
        Bool => match value {
            Value::Bool(_) => Some(value),
            Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => Some(Value::Bool(true)),
                "false" | "no" | "off" | "0" => Some(Value::Bool(false)),
                _ => wrong_type(path, "true or false", &Value::String(s), problems),
            },
            other => wrong_type(path, "true or false", &other, problems),
        },
        UInt => match value {
            Value::Number(ref n) if n.is_u64() => Some(value),
            Value::Number(n) => {
                problems.push(
                    path,
                    format!("expected a whole number of 0 or more, found {n}"),
                );
                None
            }
            Value::String(s) => match s.trim().parse::<u64>() {
                Ok(n) => Some(Value::Number(n.into())),
                Err(_) => wrong_type(path, "a whole number", &Value::String(s), problems),
            },
            other => wrong_type(path, "a whole number", &other, problems),
        },
        Duration => match value {
            Value::String(s) => match humantime::parse_duration(s.trim()) {
                Ok(_) => Some(Value::String(s.trim().to_owned())),
                Err(e) => {
                    problems.push(
                        path,
                        format!(
                            "`{s}` is not a duration ({e}); write it like `30s`, `5m` or `24h`"
                        ),
                    );
                    None
                }
            },
            other => wrong_type(path, "a duration such as `30s`", &other, problems),
        },
        OneOf(words) => match value {
            Value::String(s) => {
                let lower = s.trim().to_ascii_lowercase();
                if words.contains(&lower.as_str()) {
                    Some(Value::String(lower))
                } else {
                    problems.push_suggest(
                        path,
                        format!("`{s}` is not one of {}", words.join(", ")),
                        nearest(&lower, words.iter().copied()).map(str::to_owned),
                    );
                    None
                }
            }
            other => wrong_type(
                path,
                &format!("one of {}", words.join(", ")),
                &other,
                problems,
            ),
        },
        List(inner) => match value {
            Value::Sequence(items) => Some(Value::Sequence(
                items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, item)| check(item, inner, &format!("{path}[{i}]"), problems))
                    .collect(),
            )),
            Value::String(s) if is_scalar(inner) => Some(Value::Sequence(
                s.split(',')
                    .map(str::trim)
                    .filter(|part| !part.is_empty())
                    .enumerate()
                    .filter_map(|(i, part)| {
                        check(
                            Value::String(part.to_owned()),
                            inner,
                            &format!("{path}[{i}]"),
                            problems,
                        )
                    })
                    .collect(),
            )),
            other => wrong_type(path, "a list", &other, problems),
        },
        Struct(fields) => match value {
            Value::Mapping(map) => {
                let mut out = Mapping::new();
                for (key, item) in map {
                    let Some(name) = key_text(&key, path, problems) else {
                        continue;
                    };
                    let child = join(path, &name);
                    match fields.iter().find(|(field, _)| *field == name) {
                        Some((_, field_shape)) => {
                            if let Some(v) = check(item, field_shape, &child, problems) {
                                out.insert(Value::String(name), v);
                            }
                        }
                        None => {
                            let suggestion = nearest(&name, fields.iter().map(|(f, _)| *f))
                                .map(|f| join(path, f));
                            problems.push_suggest(child, "unknown key", suggestion);
                        }
                    }
                }
                Some(Value::Mapping(out))
            }
            other => wrong_type(path, "a mapping of keys", &other, problems),
        },
        Map(inner) => match value {
            Value::Mapping(map) => {
                let mut out = Mapping::new();
                for (key, item) in map {
                    let Some(name) = key_text(&key, path, problems) else {
                        continue;
                    };
                    let child = join(path, &name);
                    if let Some(v) = check(item, inner, &child, problems) {
                        out.insert(Value::String(name), v);
                    }
                }
                Some(Value::Mapping(out))
            }
            other => wrong_type(path, "a mapping of names", &other, problems),
        },
    }
}

fn is_scalar(shape: &Shape) -> bool {
    matches!(shape, Str | Secret | Bool | UInt | Duration | OneOf(_))
}

/// A mapping key as text: names such as `2024` are fine, lists or mappings as keys are not.
fn key_text(key: &Value, path: &str, problems: &mut Problems) -> Option<String> {
    match key {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        other => {
            problems.push(
                path,
                format!("keys must be plain names, found {}", describe(other)),
            );
            None
        }
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Records a type mismatch without echoing the value (it may be a secret).
fn wrong_type(path: &str, expected: &str, found: &Value, problems: &mut Problems) -> Option<Value> {
    problems.push(
        path,
        format!("expected {expected}, found {}", describe(found)),
    );
    None
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "nothing",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Sequence(_) => "a list",
        Value::Mapping(_) => "a mapping",
        Value::Tagged(_) => "a tagged value",
    }
}

/// Every key path the table accepts, with `*` for a user-chosen name and `[]` for a list item.
#[cfg(test)]
pub(crate) fn all_paths() -> std::collections::BTreeSet<String> {
    fn walk(shape: &Shape, path: String, out: &mut std::collections::BTreeSet<String>) {
        match shape {
            Struct(fields) => {
                for (name, field) in *fields {
                    let child = join(&path, name);
                    out.insert(child.clone());
                    walk(field, child, out);
                }
            }
            Map(inner) => {
                let child = join(&path, "*");
                out.insert(child.clone());
                walk(inner, child, out);
            }
            List(inner) => walk(inner, format!("{path}[]"), out),
            _ => {}
        }
    }
    let mut out = std::collections::BTreeSet::new();
    walk(&ROOT, String::new(), &mut out);
    out
}
