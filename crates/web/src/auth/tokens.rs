//! API tokens for the bot, CI jobs and scripts.

use sha2::{Digest, Sha256};
use shipyard_core::{Actor, Role};
use shipyard_engine::Caller;
use subtle::ConstantTimeEq;

/// One API token: its name, the SHA-256 of its secret, and its roles.
#[derive(Clone)]
pub struct TokenEntry {
    /// Shown in history as `token:<name>`.
    pub name: String,
    /// SHA-256 of the token.
    pub sha256: [u8; 32],
    /// Roles granted.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for TokenEntry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenEntry")
            .field("name", &self.name)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl TokenEntry {
    /// An entry from the hex SHA-256 of config; `None` if the hex is malformed.
    pub fn from_hex(name: &str, sha256_hex: &str, roles: Vec<Role>) -> Option<Self> {
        let bytes = hex::decode(sha256_hex).ok()?;
        let sha256: [u8; 32] = bytes.try_into().ok()?;
        Some(TokenEntry {
            name: name.to_owned(),
            sha256,
            roles,
        })
    }
}

/// The hex SHA-256 of a token, as `auth.api_tokens[].token_sha256` wants it.
pub fn token_sha256_hex(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The caller a bearer token stands for. Every entry is compared, in constant time, so the
/// answer's timing says nothing about which token was close.
pub fn by_token(tokens: &[TokenEntry], token: &str) -> Option<Caller> {
    if token.is_empty() {
        return None;
    }
    let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
    let mut found: Option<&TokenEntry> = None;
    for entry in tokens {
        if bool::from(entry.sha256.ct_eq(&digest)) {
            found = Some(entry);
        }
    }
    found.map(|e| Caller {
        actor: Actor::named(format!("token:{}", e.name), e.name.clone()),
        roles: e.roles.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_by_hash_only() {
        let auth = super::super::Authenticator::new(vec![
            TokenEntry::from_hex("ci", &token_sha256_hex("s3cret"), vec![Role::QaApprover])
                .unwrap(),
        ]);
        let caller = auth.by_token("s3cret").unwrap();
        assert_eq!(caller.actor.subject, "token:ci");
        assert_eq!(caller.roles, vec![Role::QaApprover]);
        assert!(auth.by_token("s3cret ").is_none());
        assert!(auth.by_token("").is_none());
        assert!(TokenEntry::from_hex("x", "zz", vec![]).is_none());
    }
}
