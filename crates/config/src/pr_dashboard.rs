//! `.shipyard/pr-dashboard.yaml`, the pull-request dashboard's configuration in a repository.
//!
//! Read by `shipyard pr-dashboard` inside GitHub Actions. A problem names the file, the line
//! (where it can be found) and the key, since the person reading it is looking at a failed
//! workflow step, not at Shipyard.

use shipyard_core::dashboard::DashboardConfig;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where the file lives, relative to the repository's root.
pub const DASHBOARD_CONFIG_FILE: &str = ".shipyard/pr-dashboard.yaml";

/// One problem in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfigError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// The dotted key (`commands.apply.requires[0]`), empty for the whole file.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DashboardConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if self.key.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.key, self.message)
        }
    }
}

impl std::error::Error for DashboardConfigError {}

/// Reads the file at `path`: the defaults when it does not exist, every problem otherwise.
pub fn load_dashboard_config(path: &Path) -> Result<DashboardConfig, Vec<DashboardConfigError>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_dashboard_config(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(DashboardConfig::default()),
        Err(e) => Err(vec![DashboardConfigError {
            file: path.to_owned(),
            line: None,
            key: String::new(),
            message: format!("cannot be read: {e}"),
        }]),
    }
}

/// Parses the text of the file (named `file` in problems).
pub fn parse_dashboard_config(
    file: &Path,
    text: &str,
) -> Result<DashboardConfig, Vec<DashboardConfigError>> {
    if text.trim().is_empty() {
        return Ok(DashboardConfig::default());
    }
    let de = serde_yaml_ng::Deserializer::from_str(text);
    let config: DashboardConfig = match serde_path_to_error::deserialize(de) {
        Ok(c) => c,
        Err(e) => {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let line = inner
                .location()
                .map(|l| l.line())
                .or_else(|| line_of(text, &key));
            return Err(vec![DashboardConfigError {
                file: file.to_owned(),
                line,
                key: if key == "." { String::new() } else { key },
                message: without_location(&inner.to_string()),
            }]);
        }
    };
    let problems: Vec<DashboardConfigError> = config
        .problems()
        .into_iter()
        .map(|(key, message)| DashboardConfigError {
            file: file.to_owned(),
            line: line_of(text, &key),
            key,
            message,
        })
        .collect();
    if problems.is_empty() {
        Ok(config)
    } else {
        Err(problems)
    }
}

/// serde_yaml_ng puts its own path in front and " at line L column C" after; both are
/// reported on their own.
fn without_location(message: &str) -> String {
    let message = match message.rfind(" at line ") {
        Some(i) => &message[..i],
        None => message,
    };
    match message.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && !path.contains('`') => rest.to_owned(),
        _ => message.to_owned(),
    }
}

/// The line of a dotted key (`commands.plan.stage`, `stages[1].key`) in block-style YAML, as
/// far as indentation tells; `None` when it cannot be followed (flow style, anchors).
fn line_of(text: &str, key: &str) -> Option<usize> {
    let mut segments = Vec::new();
    for part in key.split('.').filter(|p| !p.is_empty()) {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            segments.push(Segment::Key(name.trim_matches('"').to_owned()));
        }
        for index in indexes.split('[').filter(|s| !s.is_empty()) {
            segments.push(Segment::Item(index.trim_end_matches(']').parse().ok()?));
        }
    }
    let lines: Vec<&str> = text.lines().collect();
    // The block being searched: lines after `from` indented deeper than `parent`.
    let mut from = 0;
    let mut parent: Option<usize> = None;
    let mut same_line = false;
    let mut found = None;
    for segment in &segments {
        let mut hit = None;
        let mut item_indent = None;
        let mut items = 0;
        for (i, line) in lines.iter().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            let on_item_line = same_line && i == from;
            if parent.is_some_and(|p| indent <= p) && !on_item_line {
                break;
            }
            match segment {
                Segment::Key(name) => {
                    let bare = trimmed.strip_prefix("- ").unwrap_or(trimmed);
                    let quoted = format!("\"{name}\":");
                    if bare.starts_with(&format!("{name}:")) || bare.starts_with(&quoted) {
                        // A key on an item's line (`- key: a`) sits right of the dash.
                        hit = Some((i, indent + (trimmed.len() - bare.len()), false));
                        break;
                    }
                }
                Segment::Item(n) => {
                    if trimmed.starts_with('-') && item_indent.is_none_or(|d| d == indent) {
                        item_indent = Some(indent);
                        if items == *n {
                            hit = Some((i, indent, true));
                            break;
                        }
                        items += 1;
                    }
                }
            }
        }
        let (i, indent, item) = hit?;
        found = Some(i);
        // An item's first key shares the dash's line.
        same_line = item;
        from = if item { i } else { i + 1 };
        parent = Some(indent);
    }
    found.map(|i| i + 1)
}

enum Segment {
    Key(String),
    Item(usize),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DashboardConfig, Vec<DashboardConfigError>> {
        parse_dashboard_config(Path::new(".shipyard/pr-dashboard.yaml"), text)
    }

    #[test]
    fn a_missing_or_empty_file_is_the_defaults() {
        let missing = load_dashboard_config(Path::new("/nonexistent/pr-dashboard.yaml")).unwrap();
        assert_eq!(missing, DashboardConfig::default());
        assert_eq!(parse("").unwrap(), DashboardConfig::default());
        assert_eq!(parse("# nothing\n").unwrap(), DashboardConfig::default());
    }

    #[test]
    fn the_spec_example_loads() {
        let text = r#"
stages:
  - {key: plan-platform, name: "Plan: platform"}
  - {key: plan-bootstrap, name: "Plan: bootstrap"}
  - {key: apply, name: Apply}
  - {key: e2e, name: "E2E Tests"}
commands:
  plan:             {stage: plan-platform, run: "make plan"}
  "bootstrap plan": {stage: plan-bootstrap, run: "make bootstrap-plan"}
  apply:            {stage: apply, run: "make apply", requires: [approved, plans_succeeded]}
  e2e:              {stage: e2e, run: "make e2e"}
  verify:           {run: "make drift-scan"}
on_pull_request: [plan]
on_push_default_branch: [verify]
plan_stages: null
allowed_associations: [OWNER, MEMBER, COLLABORATOR]
ignore_commands: [retest, lgtm]
author: "github-actions[bot]"
"#;
        let config = parse(text).unwrap();
        assert_eq!(config.stages.len(), 4);
        assert_eq!(config.commands.len(), 5);
        assert_eq!(config.commands["apply"].requires.len(), 2);
        assert_eq!(config.on_push_default_branch, ["verify"]);
    }

    #[test]
    fn problems_name_file_line_and_key() {
        let cases: &[(&str, Option<usize>, &str, &str)] = &[
            (
                "stages:\n  - {key: plan, name: Plan}\n  - {key: apply, nam: Apply}\n",
                Some(3),
                "stages[1].nam",
                "unknown field `nam`",
            ),
            (
                "commands:\n  plan:\n    stage: plan-platform\n    run: make plan\n    requires: [aproved]\n",
                Some(5),
                "commands.plan.requires[0]",
                "unknown variant `aproved`",
            ),
            (
                "commands:\n  plan:\n    stage: nowhere\n    run: make plan\n",
                Some(3),
                "commands.plan.stage",
                "nowhere",
            ),
            ("author: [1, 2]\n", Some(1), "author", "invalid type"),
            ("stages: {\n", Some(1), "stages", "expected a sequence"),
            (
                "on_pull_request: [plan\n",
                Some(2),
                "on_pull_request",
                "expected ',' or ']'",
            ),
        ];
        for (text, line, key, message) in cases {
            let errors = parse(text).unwrap_err();
            let e = &errors[0];
            assert_eq!(&e.key, key, "{text}: {errors:?}");
            if line.is_some() {
                assert_eq!(e.line, *line, "{text}: {errors:?}");
            }
            assert!(e.message.contains(message), "{text}: {errors:?}");
            assert!(
                e.to_string().starts_with(".shipyard/pr-dashboard.yaml"),
                "{e}"
            );
        }
    }

    #[test]
    fn lines_are_found_for_dotted_keys() {
        let text = "stages:\n  - key: a\n    name: A\n  - key: b\n    name: B\ncommands:\n  plan:\n    run: x\n    stage: b\n";
        assert_eq!(line_of(text, "stages[1].name"), Some(5));
        assert_eq!(line_of(text, "commands.plan.stage"), Some(9));
        assert_eq!(line_of(text, "commands.apply"), None);
    }
}
