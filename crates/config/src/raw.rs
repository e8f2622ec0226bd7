//! The configuration file as written: every key optional, secrets still inline or as `_file` names.
//!
//! These types only carry data from the checked YAML tree to `build.rs`, which applies defaults,
//! reads secret files and validates. They are private and have no `Debug`, so their secrets
//! cannot be printed by accident.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::de::{DeserializeOwned, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml_ng::{Mapping, Value};

use crate::model::AuthMode;
use crate::problem::Problems;
use shipyard_core::deploy::VersionSource;

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawConfig {
    pub server: Option<RawServer>,
    pub database: Option<RawDatabase>,
    pub github: Option<RawGithub>,
    pub auth: Option<RawAuth>,
    pub approvals: Option<RawApprovals>,
    pub ci: Option<RawCi>,
    pub argocd: Option<RawArgocd>,
    pub mattermost: Option<RawMattermost>,
    pub log: Option<RawLog>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawLog {
    pub format: Option<String>,
    pub level: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawServer {
    pub listen: Option<String>,
    pub base_url: Option<String>,
    pub replica: Option<String>,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Option<Duration>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawDatabase {
    pub url: Option<String>,
    pub max_connections: Option<u64>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawGithub {
    pub api_url: Option<String>,
    pub graphql_url: Option<String>,
    pub web_url: Option<String>,
    pub org: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub app: Option<RawGithubApp>,
    pub webhook_secret: Option<String>,
    pub webhook_secret_file: Option<String>,
    pub repos: RawRepoFilter,
    pub infra_paths: Option<Vec<String>>,
    pub concurrency: Option<u64>,
    pub pr_comments: Option<bool>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawGithubApp {
    pub app_id: Option<u64>,
    pub private_key: Option<String>,
    pub private_key_file: Option<String>,
    pub installation_id: Option<u64>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRepoFilter {
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub skip_archived: Option<bool>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAuth {
    pub mode: Option<AuthMode>,
    pub oidc: Option<RawOidc>,
    pub roles: RawRoleMapping,
    pub role_claims: Option<Vec<String>>,
    pub api_tokens: Vec<RawApiToken>,
    #[serde(with = "humantime_serde")]
    pub session_ttl: Option<Duration>,
    pub dev_users: Vec<RawDevUser>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawOidc {
    pub issuer: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub client_secret_file: Option<String>,
    pub redirect_url: Option<String>,
    pub scopes: Option<Vec<String>>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRoleMapping {
    pub dev_approver: Vec<String>,
    pub qa_approver: Vec<String>,
    pub admin: Vec<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawApiToken {
    pub name: Option<String>,
    pub token_sha256: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawDevUser {
    pub name: Option<String>,
    pub roles: Vec<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawApprovals {
    pub allow_same_user: Option<bool>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawCi {
    pub workflow_file: Option<String>,
    pub helm_job_pattern: Option<String>,
    pub chart_version_pattern: Option<String>,
    #[serde(with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub poll_timeout: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub rate_limit_backoff: Option<Duration>,
    pub no_workflow_after_checks: Option<u64>,
    #[serde(with = "humantime_serde")]
    pub claim_lease: Option<Duration>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawArgocd {
    #[serde(with = "humantime_serde")]
    pub poll_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub cache_ttl: Option<Duration>,
    pub deploy_environment: Option<String>,
    pub environments: Ordered<RawArgocdEnvironment>,
    pub overrides: BTreeMap<String, String>,
    pub version_source: Option<VersionSource>,
    pub webhook_secret: Option<String>,
    pub webhook_secret_file: Option<String>,
    pub selector: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawArgocdEnvironment {
    pub url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub cf_client_id: Option<String>,
    pub cf_client_secret: Option<String>,
    pub cf_client_secret_file: Option<String>,
    pub app_suffix: Option<String>,
    pub project: Option<String>,
    pub app_namespace: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawMattermost {
    pub url: Option<String>,
    pub token: Option<String>,
    pub token_file: Option<String>,
    pub bot_username: Option<String>,
    pub channels: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub summary_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub outbox_poll_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub lead_check_interval: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub catch_up_retry: Option<Duration>,
    #[serde(with = "humantime_serde")]
    pub outbox_lease: Option<Duration>,
}

/// A YAML mapping read into a list of pairs, keeping the order of the file.
pub(crate) struct Ordered<V>(pub Vec<(String, V)>);

impl<V> Default for Ordered<V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<V: Serialize> Serialize for Ordered<V> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<V>(PhantomData<V>);

        impl<'de, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<V> {
            type Value = Ordered<V>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a mapping")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut pairs = Vec::new();
                while let Some(pair) = access.next_entry::<String, V>()? {
                    pairs.push(pair);
                }
                Ok(Ordered(pairs))
            }
        }

        deserializer.deserialize_map(PairsVisitor(PhantomData))
    }
}

/// Reads each section of a checked tree on its own, so that one section that still fails
/// cannot hide the others.
pub(crate) fn read_sections(mut root: Mapping, problems: &mut Problems) -> RawConfig {
    let mut take = |name: &str| root.remove(name).unwrap_or(Value::Null);
    let server = take("server");
    let database = take("database");
    let github = take("github");
    let auth = take("auth");
    let approvals = take("approvals");
    let ci = take("ci");
    let argocd = take("argocd");
    let mattermost = take("mattermost");
    let log = take("log");
    RawConfig {
        server: section("server", server, problems),
        database: section("database", database, problems),
        github: section("github", github, problems),
        auth: section("auth", auth, problems),
        approvals: section("approvals", approvals, problems),
        ci: section("ci", ci, problems),
        argocd: section("argocd", argocd, problems),
        mattermost: section("mattermost", mattermost, problems),
        log: section("log", log, problems),
    }
}

fn section<T: DeserializeOwned>(name: &str, value: Value, problems: &mut Problems) -> Option<T> {
    if value.is_null() {
        return None;
    }
    match serde_yaml_ng::from_value(value) {
        Ok(section) => Some(section),
        Err(_) => {
            // The schema walk should have caught this; serde's own text is not shown because
            // it may quote a value, and values may be secrets.
            problems.push(name, "this section could not be read");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::schema;

    /// Every key path of a serialized value; `*` stands for user-chosen names.
    fn paths(value: &Value, path: &str, out: &mut BTreeSet<String>) {
        match value {
            Value::Mapping(map) => {
                for (key, child) in map {
                    let key = key.as_str().unwrap_or_default();
                    let child_path = if path.is_empty() {
                        key.to_owned()
                    } else {
                        format!("{path}.{key}")
                    };
                    out.insert(child_path.clone());
                    paths(child, &child_path, out);
                }
            }
            Value::Sequence(items) => {
                for item in items {
                    paths(item, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }

    /// The schema table and the serde structs must agree key for key, or the walk would
    /// accept keys serde rejects (or call valid keys unknown).
    #[test]
    fn schema_table_matches_the_serde_structs() {
        let everything = RawConfig {
            server: Some(RawServer::default()),
            database: Some(RawDatabase::default()),
            github: Some(RawGithub {
                app: Some(RawGithubApp::default()),
                ..RawGithub::default()
            }),
            auth: Some(RawAuth {
                oidc: Some(RawOidc::default()),
                api_tokens: vec![RawApiToken::default()],
                dev_users: vec![RawDevUser::default()],
                ..RawAuth::default()
            }),
            approvals: Some(RawApprovals::default()),
            ci: Some(RawCi::default()),
            argocd: Some(RawArgocd {
                environments: Ordered(vec![("*".to_owned(), RawArgocdEnvironment::default())]),
                overrides: BTreeMap::from([("*".to_owned(), String::new())]),
                ..RawArgocd::default()
            }),
            mattermost: Some(RawMattermost::default()),
            log: Some(RawLog::default()),
        };
        let value = serde_yaml_ng::to_value(&everything).unwrap();
        let mut from_structs = BTreeSet::new();
        paths(&value, "", &mut from_structs);
        let from_table = schema::all_paths();
        let only_structs: Vec<_> = from_structs.difference(&from_table).collect();
        let only_table: Vec<_> = from_table.difference(&from_structs).collect();
        assert!(
            only_structs.is_empty() && only_table.is_empty(),
            "only in raw.rs: {only_structs:?}; only in schema.rs: {only_table:?}"
        );
    }

    #[test]
    fn ordered_keeps_the_order_of_the_file() {
        let parsed: Ordered<u32> = serde_yaml_ng::from_str("b: 1\na: 2\nc: 3\n").unwrap();
        let names: Vec<&str> = parsed.0.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
    }
}
