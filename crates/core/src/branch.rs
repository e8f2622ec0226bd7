//! Git branch names, validated the way `git check-ref-format --branch` does.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest branch name Shipyard accepts, in characters.
pub const MAX_BRANCH_LEN: usize = 255;

/// The rules of [`BranchName::parse`] as one regular expression (ECMA-262, with lookaheads),
/// for the API's description: a text matches exactly when it is a valid branch name.
pub const BRANCH_PATTERN: &str = concat!(
    r"^(?!-)(?!/)(?!.*//)(?!.*/$)(?!.*\.$)(?!.*\.\.)(?!.*@\{)",
    r"(?!(?:.*/)?\.)(?!.*\.lock(?:/|$))(?!@$)(?!HEAD$)",
    r"[^\x00-\x20\x7f~^:?*\[\\]{1,255}$",
);

/// A branch name git would accept for `git switch -c <name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct BranchName(String);

/// Why a text is not a valid branch name; the message is written for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid branch name: {reason}")]
pub struct InvalidBranch {
    /// The rejected text, shortened when very long.
    pub name: String,
    /// Which rule it breaks.
    pub reason: &'static str,
}

impl BranchName {
    /// Validates `name` against git's reference-name rules.
    pub fn parse(name: &str) -> Result<Self, InvalidBranch> {
        match violation(name) {
            None => Ok(BranchName(name.to_owned())),
            Some(reason) => Err(InvalidBranch {
                name: shorten(name),
                reason,
            }),
        }
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn shorten(name: &str) -> String {
    if name.len() <= 64 {
        return name.to_owned();
    }
    let mut end = 64;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &name[..end])
}

fn violation(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("it is empty");
    }
    if name.chars().count() > MAX_BRANCH_LEN {
        return Some("it is longer than 255 characters");
    }
    if name == "@" || name == "HEAD" {
        return Some("it is reserved by git");
    }
    if name.starts_with('-') {
        return Some("it starts with `-`");
    }
    if name
        .chars()
        .any(|c| c.is_ascii_control() || " ~^:?*[\\".contains(c))
    {
        return Some("it contains a space, a control character or one of ~ ^ : ? * [ \\");
    }
    if name.contains("..") {
        return Some("it contains `..`");
    }
    if name.contains("@{") {
        return Some("it contains `@{`");
    }
    if name.ends_with('.') {
        return Some("it ends with `.`");
    }
    if name.starts_with('/') || name.ends_with('/') || name.contains("//") {
        return Some("it has an empty path component");
    }
    for part in name.split('/') {
        if part.starts_with('.') {
            return Some("a path component starts with `.`");
        }
        if part.ends_with(".lock") {
            return Some("a path component ends with `.lock`");
        }
    }
    None
}

impl fmt::Display for BranchName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for BranchName {
    type Error = InvalidBranch;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        BranchName::parse(&value)
    }
}

impl From<BranchName> for String {
    fn from(b: BranchName) -> String {
        b.0
    }
}

impl AsRef<str> for BranchName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names git accepts.
    const GOOD: &[&str] = &[
        "uat",
        "master",
        "release/2024-01",
        "feature/a.b",
        "v1.2.3",
        "a@b",
        "ünïcode",
        "a-",
        "a.b.c",
        "x/y/z",
        "@a",
        "a@",
        "{a}",
        "HEADS",
        "xHEAD",
        "a.locked",
        "lock",
        "a]",
        "\u{85}x",
    ];

    /// Names git rejects, one rule each at least.
    const BAD: &[&str] = &[
        "",
        "-x",
        "HEAD",
        "@",
        "a b",
        "a~1",
        "a^",
        "a:b",
        "a?",
        "a*",
        "a[",
        "a\\b",
        "a..b",
        "a@{1}",
        "a.",
        "/a",
        "a/",
        "a//b",
        ".a",
        "a/.b",
        "a/b.",
        ".lock",
        "a.lock",
        "a/b.lock",
        "a/b.lock/c",
        "tab\there",
        "nl\n",
        "del\u{7f}",
        "../etc",
    ];

    #[test]
    fn accepts_ordinary_names() {
        let longest = "ü".repeat(MAX_BRANCH_LEN);
        for ok in GOOD.iter().copied().chain([longest.as_str()]) {
            assert!(BranchName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_what_git_rejects() {
        let long = "a".repeat(MAX_BRANCH_LEN + 1);
        for b in BAD.iter().copied().chain([long.as_str()]) {
            assert!(BranchName::parse(b).is_err(), "{b:?} should be rejected");
        }
    }

    #[test]
    fn the_pattern_says_what_parse_says() {
        let pattern = fancy_regex::Regex::new(BRANCH_PATTERN).unwrap();
        let longest = "ü".repeat(MAX_BRANCH_LEN);
        let too_long = "a".repeat(MAX_BRANCH_LEN + 1);
        let cases = GOOD
            .iter()
            .chain(BAD)
            .copied()
            .chain([longest.as_str(), too_long.as_str()]);
        for name in cases {
            assert_eq!(
                pattern.is_match(name).unwrap(),
                BranchName::parse(name).is_ok(),
                "{name:?}"
            );
        }
    }

    #[test]
    fn error_names_the_rule() {
        let e = BranchName::parse("a..b").unwrap_err();
        assert_eq!(
            e.to_string(),
            "`a..b` is not a valid branch name: it contains `..`"
        );
    }

    #[test]
    fn deserialization_validates() {
        assert!(serde_json::from_str::<BranchName>("\"uat\"").is_ok());
        assert!(serde_json::from_str::<BranchName>("\"a b\"").is_err());
    }
}
