//! The release status machine and the sign-off rules.

use crate::UnixTime;
use crate::auth::{Actor, Role, SignOffKind, may_change_status, may_sign};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// Where a release stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseStatus {
    /// Waiting for sign-offs.
    Pending,
    /// Both sign-offs given on the current snapshot.
    Approved,
    /// Running in the deploy environment. Read-only.
    Deployed,
    /// Abandoned. Read-only.
    Cancelled,
}

impl ReleaseStatus {
    /// Every status.
    pub const ALL: [ReleaseStatus; 4] = [
        ReleaseStatus::Pending,
        ReleaseStatus::Approved,
        ReleaseStatus::Deployed,
        ReleaseStatus::Cancelled,
    ];

    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ReleaseStatus::Pending => "pending",
            ReleaseStatus::Approved => "approved",
            ReleaseStatus::Deployed => "deployed",
            ReleaseStatus::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        ReleaseStatus::ALL.into_iter().find(|st| st.as_str() == s)
    }

    /// Deployed and cancelled releases accept no change.
    pub fn is_read_only(self) -> bool {
        matches!(self, ReleaseStatus::Deployed | ReleaseStatus::Cancelled)
    }
}

impl fmt::Display for ReleaseStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule of the domain was broken; each variant says how, for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The caller lacks the role.
    #[error("this needs the {needed} role (or admin)")]
    MissingRole {
        /// The role that would allow it.
        needed: Role,
    },
    /// The caller lacks every role that may change status.
    #[error("changing the status needs an approver role or admin")]
    NoApproverRole,
    /// One person may not hold both sign-offs.
    #[error("{name} already gave the {other} sign-off; one person may not give both")]
    SameUser {
        /// Who tried.
        name: String,
        /// The sign-off they already hold.
        other: &'static str,
    },
    /// The release is deployed or cancelled.
    #[error("release is {0} and can no longer change")]
    ReadOnly(ReleaseStatus),
    /// The requested status cannot follow the current one.
    #[error("a {from} release cannot become {to}")]
    Transition {
        /// Current status.
        from: ReleaseStatus,
        /// Requested status.
        to: ReleaseStatus,
    },
}

/// One given sign-off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignOff {
    /// Who signed.
    pub by: Actor,
    /// When.
    pub at: UnixTime,
    /// The snapshot they signed.
    pub fingerprint: String,
}

/// The two sign-offs of a release.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SignOffs {
    /// Dev lead's sign-off.
    pub dev: Option<SignOff>,
    /// QA's sign-off.
    pub qa: Option<SignOff>,
}

impl SignOffs {
    /// The sign-off of `kind`.
    pub fn get(&self, kind: SignOffKind) -> Option<&SignOff> {
        match kind {
            SignOffKind::Dev => self.dev.as_ref(),
            SignOffKind::Qa => self.qa.as_ref(),
        }
    }

    fn slot(&mut self, kind: SignOffKind) -> &mut Option<SignOff> {
        match kind {
            SignOffKind::Dev => &mut self.dev,
            SignOffKind::Qa => &mut self.qa,
        }
    }

    /// Both given.
    pub fn complete(&self) -> bool {
        self.dev.is_some() && self.qa.is_some()
    }

    /// Neither given.
    pub fn is_empty(&self) -> bool {
        self.dev.is_none() && self.qa.is_none()
    }
}

/// The parts of a release the sign-off rules read and change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// Current status.
    pub status: ReleaseStatus,
    /// Current sign-offs.
    pub sign_offs: SignOffs,
}

/// What a sign-off request changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOffOutcome {
    /// Nothing (repeat approve, or revoke of a missing sign-off).
    Unchanged,
    /// The sign-off changed; `status_changed` says whether the release status moved with it.
    Changed {
        /// The release moved between pending and approved.
        status_changed: bool,
    },
}

impl Approval {
    /// Gives the `kind` sign-off to the snapshot `fingerprint`.
    pub fn approve(
        &mut self,
        kind: SignOffKind,
        actor: &Actor,
        roles: &[Role],
        fingerprint: &str,
        now: UnixTime,
        allow_same_user: bool,
    ) -> Result<SignOffOutcome, RuleError> {
        if self.status.is_read_only() {
            return Err(RuleError::ReadOnly(self.status));
        }
        if !may_sign(roles, kind) {
            return Err(RuleError::MissingRole {
                needed: kind.required_role(),
            });
        }
        if self
            .sign_offs
            .get(kind)
            .is_some_and(|s| s.by.subject == actor.subject)
        {
            return Ok(SignOffOutcome::Unchanged);
        }
        if !allow_same_user
            && self
                .sign_offs
                .get(kind.other())
                .is_some_and(|s| s.by.subject == actor.subject)
        {
            return Err(RuleError::SameUser {
                name: actor.name.clone(),
                other: kind.other().as_str(),
            });
        }
        *self.sign_offs.slot(kind) = Some(SignOff {
            by: actor.clone(),
            at: now,
            fingerprint: fingerprint.to_owned(),
        });
        let before = self.status;
        if self.sign_offs.complete() {
            self.status = ReleaseStatus::Approved;
        }
        Ok(SignOffOutcome::Changed {
            status_changed: before != self.status,
        })
    }

    /// Whether `actor` may give the `kind` sign-off now: the answer [`Approval::approve`]
    /// would give, without changing anything. `Ok` also when it is theirs already.
    pub fn check_give(
        &self,
        kind: SignOffKind,
        actor: &Actor,
        roles: &[Role],
        allow_same_user: bool,
    ) -> Result<(), RuleError> {
        let mut probe = self.clone();
        probe
            .approve(kind, actor, roles, "", 0, allow_same_user)
            .map(|_| ())
    }

    /// Whether someone with `roles` may withdraw the `kind` sign-off now: the answer
    /// [`Approval::revoke`] would give, without changing anything.
    pub fn check_withdraw(&self, kind: SignOffKind, roles: &[Role]) -> Result<(), RuleError> {
        let mut probe = self.clone();
        probe.revoke(kind, roles).map(|_| ())
    }

    /// Withdraws the `kind` sign-off.
    pub fn revoke(
        &mut self,
        kind: SignOffKind,
        roles: &[Role],
    ) -> Result<SignOffOutcome, RuleError> {
        if self.status.is_read_only() {
            return Err(RuleError::ReadOnly(self.status));
        }
        if !may_sign(roles, kind) {
            return Err(RuleError::MissingRole {
                needed: kind.required_role(),
            });
        }
        if self.sign_offs.slot(kind).take().is_none() {
            return Ok(SignOffOutcome::Unchanged);
        }
        let before = self.status;
        self.status = ReleaseStatus::Pending;
        Ok(SignOffOutcome::Changed {
            status_changed: before != self.status,
        })
    }

    /// Drops both sign-offs because the snapshot changed. Returns the sign-offs that were dropped.
    pub fn reset(&mut self) -> Result<Vec<SignOffKind>, RuleError> {
        if self.status.is_read_only() {
            return Err(RuleError::ReadOnly(self.status));
        }
        let mut dropped = Vec::new();
        if self.sign_offs.dev.take().is_some() {
            dropped.push(SignOffKind::Dev);
        }
        if self.sign_offs.qa.take().is_some() {
            dropped.push(SignOffKind::Qa);
        }
        self.status = ReleaseStatus::Pending;
        Ok(dropped)
    }
}

/// Checks a status change asked for by a person (`deployed` or `cancelled`).
pub fn check_status_change(
    from: ReleaseStatus,
    to: ReleaseStatus,
    roles: &[Role],
) -> Result<bool, RuleError> {
    if !may_change_status(roles) {
        return Err(RuleError::NoApproverRole);
    }
    if from == to && from.is_read_only() {
        return Ok(false);
    }
    if from.is_read_only() {
        return Err(RuleError::ReadOnly(from));
    }
    match (from, to) {
        (ReleaseStatus::Approved, ReleaseStatus::Deployed) => Ok(true),
        (ReleaseStatus::Pending | ReleaseStatus::Approved, ReleaseStatus::Cancelled) => Ok(true),
        _ => Err(RuleError::Transition { from, to }),
    }
}

/// The content fingerprint: a hash over (name, source head) of every included repo, order-free.
pub fn fingerprint<'a>(included: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut pairs: Vec<(&str, &str)> = included.into_iter().collect();
    pairs.sort_unstable();
    let mut h = Sha256::new();
    for (name, sha) in pairs {
        h.update(name.as_bytes());
        h.update([0]);
        h.update(sha.as_bytes());
        h.update([b'\n']);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Actor {
        Actor::named("alice", "Alice")
    }
    fn bob() -> Actor {
        Actor::named("bob", "Bob")
    }
    fn pending() -> Approval {
        Approval {
            status: ReleaseStatus::Pending,
            sign_offs: SignOffs::default(),
        }
    }
    const DEV: &[Role] = &[Role::DevApprover];
    const QA: &[Role] = &[Role::QaApprover];
    const BOTH: &[Role] = &[Role::DevApprover, Role::QaApprover];

    #[test]
    fn who_may_give_and_withdraw_a_sign_off_is_asked_of_the_rule() {
        let mut qa_by_alice = pending();
        qa_by_alice
            .approve(SignOffKind::Qa, &alice(), QA, "fp", 1, false)
            .unwrap();
        let deployed = Approval {
            status: ReleaseStatus::Deployed,
            ..pending()
        };
        let missing_dev = Err(RuleError::MissingRole {
            needed: Role::DevApprover,
        });
        let same_user = Err(RuleError::SameUser {
            name: "Alice".into(),
            other: "qa",
        });
        // (approval, who, roles, allow_same_user, may give dev)
        let cases = [
            (&pending(), alice(), DEV, false, Ok(())),
            (&pending(), alice(), QA, false, missing_dev.clone()),
            (&qa_by_alice, alice(), BOTH, false, same_user),
            (&qa_by_alice, alice(), BOTH, true, Ok(())),
            (&qa_by_alice, bob(), DEV, false, Ok(())),
            (
                &deployed,
                bob(),
                DEV,
                false,
                Err(RuleError::ReadOnly(ReleaseStatus::Deployed)),
            ),
        ];
        for (approval, who, roles, allow, want) in cases {
            assert_eq!(
                approval.check_give(SignOffKind::Dev, &who, roles, allow),
                want,
                "{who:?} {roles:?} {allow}"
            );
        }
        // Asking changes nothing.
        assert_eq!(qa_by_alice.status, ReleaseStatus::Pending);
        assert!(qa_by_alice.sign_offs.dev.is_none());
        assert_eq!(qa_by_alice.check_withdraw(SignOffKind::Qa, QA), Ok(()));
        assert!(qa_by_alice.check_withdraw(SignOffKind::Qa, DEV).is_err());
        assert!(qa_by_alice.sign_offs.qa.is_some());
    }

    #[test]
    fn both_sign_offs_approve_the_release() {
        let mut a = pending();
        assert_eq!(
            a.approve(SignOffKind::Dev, &alice(), DEV, "fp", 1, false),
            Ok(SignOffOutcome::Changed {
                status_changed: false
            })
        );
        assert_eq!(a.status, ReleaseStatus::Pending);
        assert_eq!(
            a.approve(SignOffKind::Qa, &bob(), QA, "fp", 2, false),
            Ok(SignOffOutcome::Changed {
                status_changed: true
            })
        );
        assert_eq!(a.status, ReleaseStatus::Approved);
        assert_eq!(
            a.sign_offs.qa.as_ref().map(|s| s.fingerprint.as_str()),
            Some("fp")
        );
    }

    #[test]
    fn approving_twice_is_idempotent() {
        let mut a = pending();
        a.approve(SignOffKind::Dev, &alice(), DEV, "fp", 1, false)
            .unwrap();
        let before = a.clone();
        assert_eq!(
            a.approve(SignOffKind::Dev, &alice(), DEV, "fp", 5, false),
            Ok(SignOffOutcome::Unchanged)
        );
        assert_eq!(a, before);
    }

    #[test]
    fn wrong_role_names_the_missing_role() {
        let mut a = pending();
        let e = a
            .approve(SignOffKind::Qa, &alice(), DEV, "fp", 1, false)
            .unwrap_err();
        assert_eq!(
            e,
            RuleError::MissingRole {
                needed: Role::QaApprover
            }
        );
        assert!(e.to_string().contains("qa_approver"));
        assert_eq!(a, pending());
    }

    #[test]
    fn separation_of_duties() {
        let mut a = pending();
        a.approve(SignOffKind::Dev, &alice(), BOTH, "fp", 1, false)
            .unwrap();
        let e = a
            .approve(SignOffKind::Qa, &alice(), BOTH, "fp", 2, false)
            .unwrap_err();
        assert!(matches!(e, RuleError::SameUser { .. }));
        assert!(a.sign_offs.qa.is_none());
        assert!(
            a.approve(SignOffKind::Qa, &alice(), BOTH, "fp", 2, true)
                .is_ok()
        );
        assert_eq!(a.status, ReleaseStatus::Approved);
    }

    #[test]
    fn admin_may_give_either() {
        let mut a = pending();
        assert!(
            a.approve(SignOffKind::Qa, &alice(), &[Role::Admin], "fp", 1, false)
                .is_ok()
        );
    }

    #[test]
    fn revoke_returns_to_pending_and_is_idempotent() {
        let mut a = pending();
        a.approve(SignOffKind::Dev, &alice(), DEV, "fp", 1, false)
            .unwrap();
        a.approve(SignOffKind::Qa, &bob(), QA, "fp", 1, false)
            .unwrap();
        assert_eq!(
            a.revoke(SignOffKind::Qa, QA),
            Ok(SignOffOutcome::Changed {
                status_changed: true
            })
        );
        assert_eq!(a.status, ReleaseStatus::Pending);
        assert_eq!(a.revoke(SignOffKind::Qa, QA), Ok(SignOffOutcome::Unchanged));
        assert!(matches!(
            a.revoke(SignOffKind::Dev, QA),
            Err(RuleError::MissingRole { .. })
        ));
    }

    #[test]
    fn read_only_releases_refuse_everything() {
        for st in [ReleaseStatus::Deployed, ReleaseStatus::Cancelled] {
            let mut a = Approval {
                status: st,
                sign_offs: SignOffs::default(),
            };
            assert_eq!(
                a.approve(SignOffKind::Dev, &alice(), DEV, "fp", 1, false),
                Err(RuleError::ReadOnly(st))
            );
            assert_eq!(
                a.revoke(SignOffKind::Dev, DEV),
                Err(RuleError::ReadOnly(st))
            );
            assert_eq!(a.reset(), Err(RuleError::ReadOnly(st)));
        }
    }

    #[test]
    fn reset_drops_both() {
        let mut a = pending();
        a.approve(SignOffKind::Dev, &alice(), DEV, "fp", 1, false)
            .unwrap();
        a.approve(SignOffKind::Qa, &bob(), QA, "fp", 1, false)
            .unwrap();
        assert_eq!(a.reset(), Ok(vec![SignOffKind::Dev, SignOffKind::Qa]));
        assert_eq!(a, pending());
        assert_eq!(a.reset(), Ok(vec![]));
    }

    #[test]
    fn status_changes() {
        use ReleaseStatus::*;
        let r = &[Role::QaApprover][..];
        assert_eq!(check_status_change(Approved, Deployed, r), Ok(true));
        assert_eq!(check_status_change(Pending, Cancelled, r), Ok(true));
        assert_eq!(check_status_change(Approved, Cancelled, r), Ok(true));
        assert_eq!(
            check_status_change(Pending, Deployed, r),
            Err(RuleError::Transition {
                from: Pending,
                to: Deployed
            })
        );
        assert_eq!(
            check_status_change(Deployed, Cancelled, r),
            Err(RuleError::ReadOnly(Deployed))
        );
        assert_eq!(check_status_change(Cancelled, Cancelled, r), Ok(false));
        assert_eq!(
            check_status_change(Pending, Cancelled, &[]),
            Err(RuleError::NoApproverRole)
        );
        assert!(check_status_change(Pending, Pending, r).is_err());
    }

    #[test]
    fn fingerprint_is_order_free_and_content_sensitive() {
        let a = fingerprint([("a", "1"), ("b", "2")]);
        assert_eq!(a, fingerprint([("b", "2"), ("a", "1")]));
        assert_ne!(a, fingerprint([("a", "1"), ("b", "3")]));
        assert_ne!(a, fingerprint([("a", "1")]));
        // The separator keeps ("ab","c") and ("a","bc") apart.
        assert_ne!(fingerprint([("ab", "c")]), fingerprint([("a", "bc")]));
    }
}
