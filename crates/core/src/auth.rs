//! Who may do what: roles, actors and the two kinds of sign-off.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A Shipyard role, granted by the identity provider (through `auth.roles`) or by an API token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// May give or revoke the dev sign-off.
    DevApprover,
    /// May give or revoke the QA sign-off.
    QaApprover,
    /// May do everything an approver may, either sign-off included.
    Admin,
}

impl Role {
    /// Every role, in display order.
    pub const ALL: [Role; 3] = [Role::DevApprover, Role::QaApprover, Role::Admin];

    /// The name used in configuration and in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::DevApprover => "dev_approver",
            Role::QaApprover => "qa_approver",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of [`Role::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected one of dev_approver, qa_approver, admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The two sign-offs a release needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignOffKind {
    /// The development lead's sign-off.
    Dev,
    /// Quality assurance's sign-off.
    Qa,
}

impl SignOffKind {
    /// `dev` or `qa`, as in the API paths.
    pub fn as_str(self) -> &'static str {
        match self {
            SignOffKind::Dev => "dev",
            SignOffKind::Qa => "qa",
        }
    }

    /// The role that grants this sign-off (admin grants both).
    pub fn required_role(self) -> Role {
        match self {
            SignOffKind::Dev => Role::DevApprover,
            SignOffKind::Qa => Role::QaApprover,
        }
    }

    /// The other sign-off.
    pub fn other(self) -> SignOffKind {
        match self {
            SignOffKind::Dev => SignOffKind::Qa,
            SignOffKind::Qa => SignOffKind::Dev,
        }
    }
}

impl FromStr for SignOffKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "dev" => Ok(SignOffKind::Dev),
            "qa" => Ok(SignOffKind::Qa),
            other => Err(format!("unknown sign-off `{other}` (expected dev or qa)")),
        }
    }
}

/// A person or machine acting on Shipyard: the SSO subject (or token/bot name) and a display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Stable identity: the OIDC `sub`, `token:<name>`, `dev:<name>` or `mattermost:<username>`.
    pub subject: String,
    /// What people see.
    pub name: String,
}

impl Actor {
    /// An actor whose display name is its subject.
    pub fn named(subject: impl Into<String>, name: impl Into<String>) -> Self {
        Actor {
            subject: subject.into(),
            name: name.into(),
        }
    }

    /// The actor the system itself acts as (trackers, refresh by webhook).
    pub fn system() -> Self {
        Actor::named("system", "Shipyard")
    }
}

/// Whether someone holding `roles` may give or revoke `kind`.
pub fn may_sign(roles: &[Role], kind: SignOffKind) -> bool {
    roles.contains(&Role::Admin) || roles.contains(&kind.required_role())
}

/// Whether someone holding `roles` may change the status of a release (deploy, cancel).
pub fn may_change_status(roles: &[Role]) -> bool {
    !roles.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_reject_unknown() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("root".parse::<Role>().is_err());
    }

    #[test]
    fn sign_permissions() {
        let cases = [
            (&[Role::DevApprover][..], SignOffKind::Dev, true),
            (&[Role::DevApprover][..], SignOffKind::Qa, false),
            (&[Role::QaApprover][..], SignOffKind::Qa, true),
            (&[Role::QaApprover][..], SignOffKind::Dev, false),
            (&[Role::Admin][..], SignOffKind::Dev, true),
            (&[Role::Admin][..], SignOffKind::Qa, true),
            (&[][..], SignOffKind::Qa, false),
        ];
        for (roles, kind, expected) in cases {
            assert_eq!(may_sign(roles, kind), expected, "{roles:?} {kind:?}");
        }
    }
}
