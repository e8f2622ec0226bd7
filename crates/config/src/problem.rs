//! What went wrong, where: the error type of this crate and the collector that fills it.

use std::fmt;

/// One thing wrong with a configuration, at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The dotted key the problem is about, e.g. `github.concurrency` or `auth.api_tokens[0].roles`.
    pub path: String,
    /// What is wrong, for a person; never contains a secret value.
    pub message: String,
    /// The nearest valid key or value, when there is one close enough to be a likely typo.
    pub suggestion: Option<String>,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)?;
        } else {
            write!(f, "{}: {}", self.path, self.message)?;
        }
        if let Some(suggestion) = &self.suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

/// Every problem found in a configuration, in the order they were found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigErrors(pub Vec<ConfigProblem>);

impl ConfigErrors {
    /// The problem at `path`, if there is one (handy in tests and for the CLI).
    pub fn at(&self, path: &str) -> Option<&ConfigProblem> {
        self.0.iter().find(|p| p.path == path)
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, problem) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{problem}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

/// Collects problems while the configuration is read, and remembers which keys came from the
/// environment so that a problem there names the variable to look at.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    found: Vec<ConfigProblem>,
    /// `(path, variable)` for every key set by an environment variable.
    env_origins: Vec<(String, String)>,
}

impl Problems {
    pub(crate) fn note_env_origin(&mut self, path: String, variable: String) {
        self.env_origins.push((path, variable));
    }

    pub(crate) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.push_with(path.into(), message.into(), None);
    }

    pub(crate) fn push_suggest(
        &mut self,
        path: impl Into<String>,
        message: impl Into<String>,
        suggestion: Option<String>,
    ) {
        self.push_with(path.into(), message.into(), suggestion);
    }

    fn push_with(&mut self, path: String, mut message: String, suggestion: Option<String>) {
        if let Some(variable) = self.origin_of(&path) {
            message.push_str(&format!(" (set by environment variable {variable})"));
        }
        self.found.push(ConfigProblem {
            path,
            message,
            suggestion,
        });
    }

    /// The variable that set `path` or one of its parents; the most specific one wins.
    fn origin_of(&self, path: &str) -> Option<&str> {
        self.env_origins
            .iter()
            .filter(|(origin, _)| {
                path == origin
                    || path
                        .strip_prefix(origin.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
            })
            .max_by_key(|(origin, _)| origin.len())
            .map(|(_, variable)| variable.as_str())
    }

    /// Whether a problem was already recorded at `path` or below it; later checks that depend
    /// on that key stay quiet rather than report a consequence of the same mistake.
    pub(crate) fn has_problem_under(&self, path: &str) -> bool {
        self.found.iter().any(|p| {
            p.path == path
                || p.path
                    .strip_prefix(path)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    }

    /// `Ok(value)` when nothing was found; otherwise every problem, grouped by section in the
    /// order of the file format (problems without a section first), each group in the order found.
    pub(crate) fn into_result<T>(mut self, value: T) -> Result<T, ConfigErrors> {
        if self.found.is_empty() {
            return Ok(value);
        }
        self.found.sort_by_key(|p| section_rank(&p.path));
        Err(ConfigErrors(self.found))
    }
}

fn section_rank(path: &str) -> usize {
    let section = path.split(['.', '[']).next().unwrap_or_default();
    crate::schema::section_names()
        .position(|name| name == section)
        .map_or(0, |i| i + 1)
}

/// The candidate closest to `wanted`, if it is close enough to be a likely typo.
pub(crate) fn nearest<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let wanted = wanted.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(&wanted, c), c))
        .filter(|(score, _)| *score >= 0.75)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}
