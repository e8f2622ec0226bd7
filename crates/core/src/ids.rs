//! Release ids: short, URL-safe and hard to guess.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of a release id in characters.
pub const RELEASE_ID_LEN: usize = 10;
const ALPHABET: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";
/// What [`ReleaseId::parse`] accepts, as a regular expression (for the API's description).
pub const RELEASE_ID_PATTERN: &str = "^[a-z2-7]{10}$";

/// A release id: ten characters of lowercase base32 (50 bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReleaseId(String);

impl ReleaseId {
    /// Builds an id from random bytes supplied by the caller (this crate does no I/O).
    pub fn from_random(bytes: [u8; 8]) -> Self {
        let mut n = u64::from_le_bytes(bytes);
        let mut s = String::with_capacity(RELEASE_ID_LEN);
        for _ in 0..RELEASE_ID_LEN {
            s.push(ALPHABET[(n & 31) as usize] as char);
            n >>= 5;
        }
        ReleaseId(s)
    }

    /// Accepts text only if it has the shape of an id (so junk never reaches storage).
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == RELEASE_ID_LEN && s.bytes().all(|b| ALPHABET.contains(&b)))
            .then(|| ReleaseId(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ReleaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_the_documented_shape() {
        let id = ReleaseId::from_random([1, 2, 3, 4, 5, 6, 7, 8]);
        assert_eq!(id.as_str().len(), RELEASE_ID_LEN);
        assert_eq!(ReleaseId::parse(id.as_str()), Some(id.clone()));
        assert_ne!(id, ReleaseId::from_random([2, 2, 3, 4, 5, 6, 7, 8]));
    }

    #[test]
    fn the_pattern_is_the_alphabet() {
        let pattern = regex::Regex::new(RELEASE_ID_PATTERN).unwrap();
        let id = ReleaseId::from_random([7; 8]);
        assert!(pattern.is_match(id.as_str()));
        for b in 0u8..=255 {
            let s: String = std::iter::repeat_n(b as char, RELEASE_ID_LEN).collect();
            assert_eq!(pattern.is_match(&s), ReleaseId::parse(&s).is_some(), "{b}");
        }
    }

    #[test]
    fn parse_rejects_junk() {
        for bad in [
            "",
            "abc",
            "ABCDEFGHIJ",
            "abcdefghi1",
            "../../etc/",
            "abcdefghijk",
        ] {
            assert_eq!(ReleaseId::parse(bad), None, "{bad}");
        }
    }
}
