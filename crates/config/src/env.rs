//! Environment variables laid over the file's tree.

use serde_yaml_ng::{Mapping, Value};

use crate::problem::Problems;
use crate::schema::{Shape, shape_at};

const PREFIX: &str = "SHIPYARD_";
const SEPARATOR: &str = "__";

/// Older names still honoured; the `SHIPYARD_` form wins when both are set.
const ALIASES: [(&str, [&str; 2]); 2] = [
    ("CI_POLL_INTERVAL", ["ci", "poll_interval"]),
    ("CI_POLL_TIMEOUT", ["ci", "poll_timeout"]),
];

/// One variable that sets a key.
struct Override {
    segments: Vec<String>,
    /// Aliases sort before the `SHIPYARD_` form of the same key, so the latter is applied last.
    is_alias: bool,
    variable: String,
    value: String,
}

/// Applies every configuration variable in `env` to `root`.
///
/// Only `SHIPYARD_` variables with a `__` after the prefix are configuration: the others
/// (`SHIPYARD_LOG_FORMAT`, `SHIPYARD_TOKEN`, …) belong to other parts of Shipyard and are left alone.
pub(crate) fn apply(
    root: &mut Value,
    env: impl IntoIterator<Item = (String, String)>,
    problems: &mut Problems,
) {
    let mut overrides: Vec<Override> = Vec::new();
    for (variable, value) in env {
        let upper = variable.to_ascii_uppercase();
        if let Some((_, path)) = ALIASES.iter().find(|(name, _)| *name == upper) {
            overrides.push(Override {
                segments: path.map(str::to_owned).to_vec(),
                is_alias: true,
                variable,
                value,
            });
            continue;
        }
        let Some(rest) = upper.strip_prefix(PREFIX) else {
            continue;
        };
        if !rest.contains(SEPARATOR) {
            continue;
        }
        let segments: Vec<String> = rest.split(SEPARATOR).map(str::to_ascii_lowercase).collect();
        if segments.iter().any(String::is_empty) {
            problems.push(
                variable.as_str(),
                "is not a valid configuration variable: a key between `__` separators is empty",
            );
            continue;
        }
        overrides.push(Override {
            segments,
            is_alias: false,
            variable,
            value,
        });
    }

    // Parents before children, so `SHIPYARD_GITHUB__REPOS__INCLUDE` refines `SHIPYARD_GITHUB__REPOS`.
    overrides.sort_by(|a, b| {
        (&a.segments, !a.is_alias, &a.variable).cmp(&(&b.segments, !b.is_alias, &b.variable))
    });

    for o in overrides {
        let value = parse_value(o.value, shape_at(&o.segments));
        problems.note_env_origin(o.segments.join("."), o.variable);
        let nested = o.segments.iter().rev().fold(value, |inner, key| {
            let mut map = Mapping::new();
            map.insert(Value::String(key.clone()), inner);
            Value::Mapping(map)
        });
        merge(root, nested);
    }
}

/// Environment values are text; lists, mappings and lists of mappings may be written as YAML or
/// JSON (`[a, b]`, `{"k": "v"}`). Scalars stay text here and are typed by the schema walk, which
/// also splits comma-separated lists.
fn parse_value(text: String, shape: Option<&Shape>) -> Value {
    let wants_structure = matches!(
        shape,
        Some(Shape::List(_) | Shape::Struct(_) | Shape::Map(_))
    );
    let trimmed = text.trim_start();
    if wants_structure
        && (trimmed.starts_with('[') || trimmed.starts_with('{'))
        && let Ok(value) = serde_yaml_ng::from_str::<Value>(&text)
    {
        return value;
    }
    Value::String(text)
}

/// Lays `overlay` over `base`: mappings merge key by key, anything else replaces.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Mapping(base_map), Value::Mapping(overlay_map)) => {
            for (key, value) in overlay_map {
                match base_map.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base_map.insert(key, value);
                    }
                }
            }
        }
        (base, overlay) => *base = overlay,
    }
}
