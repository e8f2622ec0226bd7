//! The model of `.shipyard/pr-dashboard.yaml`. Reading the file (and naming its lines) is the
//! config crate's; the rules a parsed file must still meet are here.

use super::{DASHBOARD_HISTORY_STAGE, StageDef, default_stages};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The `author_association` values GitHub reports.
const ASSOCIATIONS: [&str; 8] = [
    "OWNER",
    "MEMBER",
    "COLLABORATOR",
    "CONTRIBUTOR",
    "FIRST_TIME_CONTRIBUTOR",
    "FIRST_TIMER",
    "MANNEQUIN",
    "NONE",
];

/// A repository's dashboard configuration; every field may be left out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DashboardConfig {
    /// The stages, in table order; replaces the defaults.
    #[serde(default = "default_stages")]
    pub stages: Vec<StageDef>,
    /// Slash command (one or two words) → what it runs.
    #[serde(default)]
    pub commands: BTreeMap<String, CommandDef>,
    /// Commands run when a pull request is opened or gets new commits.
    #[serde(default)]
    pub on_pull_request: Vec<String>,
    /// Commands run on a push to the default branch (a drift scan); no dashboard.
    #[serde(default)]
    pub on_push_default_branch: Vec<String>,
    /// The stages `plans_succeeded` needs; `None`: every stage whose key starts with `plan-`.
    #[serde(default)]
    pub plan_stages: Option<Vec<String>>,
    /// The `author_association` values that may run commands without a permission look-up.
    #[serde(default = "default_allowed_associations")]
    pub allowed_associations: Vec<String>,
    /// Other bots' commands: no "unknown command" reply for them.
    #[serde(default = "default_ignore_commands")]
    pub ignore_commands: Vec<String>,
    /// The login whose comments count as dashboards (`<app-slug>[bot]` with an App token).
    #[serde(default = "default_author")]
    pub author: String,
}

/// One slash command.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CommandDef {
    /// The stage it reports (running, then success or failure); `None` runs without one.
    #[serde(default)]
    pub stage: Option<String>,
    /// The shell command, run in the workspace.
    pub run: String,
    /// What must hold before it runs.
    #[serde(default)]
    pub requires: Vec<Requirement>,
}

/// A condition a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// The pull request is approved ([`super::is_approved`]).
    Approved,
    /// Every plan stage succeeded according to the commit statuses ([`super::unmet_plans`]).
    PlansSucceeded,
}

fn default_allowed_associations() -> Vec<String> {
    ["OWNER", "MEMBER", "COLLABORATOR"]
        .map(String::from)
        .to_vec()
}

fn default_ignore_commands() -> Vec<String> {
    [
        "retest",
        "test",
        "ok-to-test",
        "lgtm",
        "approve",
        "hold",
        "assign",
        "cc",
    ]
    .map(String::from)
    .to_vec()
}

fn default_author() -> String {
    "github-actions[bot]".to_owned()
}

impl Default for DashboardConfig {
    fn default() -> DashboardConfig {
        DashboardConfig {
            stages: default_stages(),
            commands: BTreeMap::new(),
            on_pull_request: Vec::new(),
            on_push_default_branch: Vec::new(),
            plan_stages: None,
            allowed_associations: default_allowed_associations(),
            ignore_commands: default_ignore_commands(),
            author: default_author(),
        }
    }
}

impl DashboardConfig {
    /// The problems a parsed configuration still has, each as (dotted key path, message), in
    /// file order. Empty when the configuration can be used.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let mut problem = |key: String, message: String| problems.push((key, message));
        for (i, stage) in self.stages.iter().enumerate() {
            if !is_stage_key(&stage.key) {
                problem(
                    format!("stages[{i}].key"),
                    format!(
                        "`{}` is not a stage key: lowercase letters, digits and `-`, starting \
                         with a letter or digit, at most 40 characters",
                        stage.key
                    ),
                );
            } else if stage.key == DASHBOARD_HISTORY_STAGE {
                problem(
                    format!("stages[{i}].key"),
                    format!(
                        "`{DASHBOARD_HISTORY_STAGE}` is reserved for the dashboard's own history lines"
                    ),
                );
            }
            if let Some(first) = self.stages[..i].iter().position(|s| s.key == stage.key) {
                problem(
                    format!("stages[{i}].key"),
                    format!("`{}` is already the key of stages[{first}]", stage.key),
                );
            }
            if stage.name.trim().is_empty() {
                problem(format!("stages[{i}].name"), "is empty".to_owned());
            }
        }
        let known = self.stage_list();
        for (name, command) in &self.commands {
            if !is_command_name(name) {
                problem(
                    format!("commands.{name}"),
                    format!(
                        "`{name}` is not a command name: one or two words of lowercase letters, \
                         digits and `-`, separated by one space"
                    ),
                );
            }
            if let Some(stage) = &command.stage
                && self.stage(stage).is_none()
            {
                problem(
                    format!("commands.{name}.stage"),
                    format!("`{stage}` is not a stage; known: {known}"),
                );
            }
            if command.run.trim().is_empty() {
                problem(format!("commands.{name}.run"), "is empty".to_owned());
            }
        }
        let commands = || {
            if self.commands.is_empty() {
                "none are configured".to_owned()
            } else {
                self.commands
                    .keys()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        for (field, names) in [
            ("on_pull_request", &self.on_pull_request),
            ("on_push_default_branch", &self.on_push_default_branch),
        ] {
            for (i, name) in names.iter().enumerate() {
                if !self.commands.contains_key(name) {
                    problem(
                        format!("{field}[{i}]"),
                        format!("`{name}` is not a command; known: {}", commands()),
                    );
                }
            }
        }
        for (i, key) in self.plan_stages.iter().flatten().enumerate() {
            if self.stage(key).is_none() {
                problem(
                    format!("plan_stages[{i}]"),
                    format!("`{key}` is not a stage; known: {known}"),
                );
            }
        }
        for (i, association) in self.allowed_associations.iter().enumerate() {
            if !ASSOCIATIONS.contains(&association.as_str()) {
                problem(
                    format!("allowed_associations[{i}]"),
                    format!(
                        "`{association}` is not an author association; GitHub reports {}",
                        ASSOCIATIONS.join(", ")
                    ),
                );
            }
        }
        if self.author.trim().is_empty() {
            problem("author".to_owned(), "is empty".to_owned());
        }
        problems
    }

    /// The configured stage with `key`.
    pub fn stage(&self, key: &str) -> Option<&StageDef> {
        self.stages.iter().find(|s| s.key == key)
    }

    fn stage_list(&self) -> String {
        if self.stages.is_empty() {
            return "none are configured".to_owned();
        }
        self.stages
            .iter()
            .map(|s| s.key.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// `^[a-z0-9][a-z0-9-]{0,39}$`.
fn is_stage_key(key: &str) -> bool {
    let mut chars = key.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && key.len() <= 40
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

/// One or two words of `[a-z0-9-]`, one space between.
fn is_command_name(name: &str) -> bool {
    let words: Vec<&str> = name.split(' ').collect();
    (1..=2).contains(&words.len())
        && words.iter().all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(stage: Option<&str>) -> CommandDef {
        CommandDef {
            stage: stage.map(String::from),
            run: "make it".into(),
            requires: vec![],
        }
    }

    fn keys(config: &DashboardConfig) -> Vec<String> {
        config.problems().into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn defaults_have_no_problems() {
        let config = DashboardConfig::default();
        assert_eq!(config.problems(), vec![]);
        assert_eq!(config.stages.len(), 7);
        assert_eq!(config.author, "github-actions[bot]");
        assert!(config.ignore_commands.contains(&"ok-to-test".to_owned()));
        assert_eq!(
            config.allowed_associations,
            ["OWNER", "MEMBER", "COLLABORATOR"]
        );
        assert_eq!(
            config.stage("apply").map(|s| s.name.as_str()),
            Some("Apply")
        );
        assert_eq!(config.stage("Apply"), None);
        // An empty document is the defaults.
        let parsed: DashboardConfig = serde_json::from_str("{}").expect("parses");
        assert_eq!(parsed, config);
    }

    #[test]
    fn the_documented_example_reads() {
        let json = r#"{
            "stages": [{"key": "plan-platform", "name": "Plan: platform"},
                       {"key": "plan-bootstrap", "name": "Plan: bootstrap"},
                       {"key": "apply", "name": "Apply"}, {"key": "e2e", "name": "E2E"}],
            "commands": {
                "plan": {"stage": "plan-platform", "run": "make plan"},
                "bootstrap plan": {"stage": "plan-bootstrap", "run": "make bootstrap-plan"},
                "apply": {"stage": "apply", "run": "make apply", "requires": ["approved", "plans_succeeded"]},
                "verify": {"run": "make drift-scan"}
            },
            "on_pull_request": ["plan"],
            "on_push_default_branch": ["verify"],
            "plan_stages": null,
            "author": "shipyard-app[bot]"
        }"#;
        let config: DashboardConfig = serde_json::from_str(json).expect("parses");
        assert_eq!(config.problems(), vec![]);
        assert_eq!(
            config.commands["apply"].requires,
            [Requirement::Approved, Requirement::PlansSucceeded]
        );
        assert_eq!(config.commands["verify"].stage, None);
        assert!(serde_json::from_str::<DashboardConfig>(r#"{"stagez": []}"#).is_err());
        assert!(
            serde_json::from_str::<DashboardConfig>(
                r#"{"commands": {"x": {"run": "y", "stag": "a"}}}"#
            )
            .is_err()
        );
    }

    #[test]
    fn problems_name_their_keys() {
        type Edit = fn(&mut DashboardConfig);
        let cases: Vec<(&str, Edit, Vec<&str>)> = vec![
            (
                "duplicate stage key",
                |c| c.stages.push(StageDef::new("apply", "Apply again")),
                vec!["stages[7].key"],
            ),
            (
                "bad stage keys",
                |c| {
                    c.stages = vec![
                        StageDef::new("Plan", "x"),
                        StageDef::new("-plan", "x"),
                        StageDef::new("", "x"),
                        StageDef::new(&"a".repeat(41), "x"),
                        StageDef::new(&"a".repeat(40), "x"),
                        StageDef::new("plan_x", "x"),
                        StageDef::new("0-ok", "x"),
                    ]
                },
                vec![
                    "stages[0].key",
                    "stages[1].key",
                    "stages[2].key",
                    "stages[3].key",
                    "stages[5].key",
                ],
            ),
            (
                "reserved stage key",
                |c| c.stages.push(StageDef::new("dashboard", "Dashboard")),
                vec!["stages[7].key"],
            ),
            (
                "empty stage name",
                |c| c.stages[0].name = " ".into(),
                vec!["stages[0].name"],
            ),
            (
                "command naming an unknown stage",
                |c| {
                    c.commands
                        .insert("plan".into(), command(Some("plan-nowhere")));
                },
                vec!["commands.plan.stage"],
            ),
            (
                "bad command names",
                |c| {
                    for name in ["Plan", "a b c", "a  b", "x_y", "", "bootstrap plan", "e2e"] {
                        c.commands.insert(name.into(), command(None));
                    }
                },
                vec![
                    "commands.",
                    "commands.Plan",
                    "commands.a  b",
                    "commands.a b c",
                    "commands.x_y",
                ],
            ),
            (
                "empty run",
                |c| {
                    c.commands.insert(
                        "plan".into(),
                        CommandDef {
                            stage: None,
                            run: " ".into(),
                            requires: vec![],
                        },
                    );
                },
                vec!["commands.plan.run"],
            ),
            (
                "events naming unknown commands",
                |c| {
                    c.commands.insert("plan".into(), command(None));
                    c.on_pull_request = vec!["plan".into(), "lint".into()];
                    c.on_push_default_branch = vec!["verify".into()];
                },
                vec!["on_pull_request[1]", "on_push_default_branch[0]"],
            ),
            (
                "plan stages naming unknown stages",
                |c| c.plan_stages = Some(vec!["plan-platform".into(), "plan-x".into()]),
                vec!["plan_stages[1]"],
            ),
            (
                "unknown association",
                |c| c.allowed_associations.push("MAINTAINER".into()),
                vec!["allowed_associations[3]"],
            ),
            ("empty author", |c| c.author = String::new(), vec!["author"]),
        ];
        for (name, edit, want) in cases {
            let mut config = DashboardConfig::default();
            edit(&mut config);
            assert_eq!(keys(&config), want, "{name}: {:#?}", config.problems());
        }
        let mut config = DashboardConfig::default();
        config
            .commands
            .insert("plan".into(), command(Some("nowhere")));
        let (_, message) = &config.problems()[0];
        assert!(
            message.contains("`nowhere`") && message.contains("plan-platform, plan-data-staging"),
            "{message}"
        );
    }
}
