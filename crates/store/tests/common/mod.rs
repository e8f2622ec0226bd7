//! What the store's integration tests share: a fresh database per test on either backend, the
//! `both_backends!` macro, and small fixtures.
//!
//! Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use futures::FutureExt;
use shipyard_core::change::RepoChange;
use shipyard_core::release::SignOffs;
use shipyard_core::{Actor, BranchName, ReleaseId, ReleaseStatus};
use shipyard_store::{Backend, ReleaseRecord, Store, testing};
use std::future::Future;
use std::panic::AssertUnwindSafe;

/// Runs `body` against a fresh, migrated store of `backend`, then drops the database (also when
/// the body panics).
pub async fn with_store<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(Store) -> Fut,
    Fut: Future<Output = ()>,
{
    let (store, url) = testing::fresh_store(backend).await;
    let outcome = AssertUnwindSafe(body(store.clone())).catch_unwind().await;
    store.close().await;
    testing::drop_database(&url).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// Runs `body` with the URL of a fresh database of `backend` that has not been migrated.
pub async fn with_url<F, Fut>(backend: Backend, body: F)
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let url = testing::fresh_database_url(backend).await;
    let outcome = AssertUnwindSafe(body(url.clone())).catch_unwind().await;
    testing::drop_database(&url).await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// One `#[tokio::test]` per backend from one async body: `|store|` gets a migrated [`Store`],
/// `url |url|` the URL of an empty database.
macro_rules! both_backends {
    ($name:ident, |$store:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                with_store(Backend::Sqlite, |$store: Store| $body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                with_store(Backend::Postgres, |$store: Store| $body).await
            }
        }
    };
    ($name:ident, url |$url:ident| $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                with_url(Backend::Sqlite, |$url: String| $body).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                with_url(Backend::Postgres, |$url: String| $body).await
            }
        }
    };
}
pub(crate) use both_backends;

pub fn id(seed: u8) -> ReleaseId {
    ReleaseId::from_random([seed, 1, 2, 3, 4, 5, 6, 7])
}

pub fn branch(name: &str) -> BranchName {
    BranchName::parse(name).expect("a valid branch name")
}

pub fn release(seed: u8, created_at: i64) -> ReleaseRecord {
    ReleaseRecord {
        id: id(seed),
        org: "acme".into(),
        source_branch: branch("uat"),
        dest_branch: branch("master"),
        status: ReleaseStatus::Pending,
        notes: String::new(),
        breaking_changes: String::new(),
        created_by: Actor::named("sub-alice", "Alice"),
        created_at,
        last_refreshed_at: created_at,
        content_fingerprint: "fp-0".into(),
        sign_offs: SignOffs::default(),
        channel_id: None,
        chat_post_id: None,
        approval_cycle: 0,
        version: 0,
    }
}

pub fn change(name: &str, commits: u64) -> RepoChange {
    RepoChange {
        repo_name: name.into(),
        commit_count: commits,
        additions: 10 * commits,
        deletions: commits,
        contributors: vec!["alice".into(), "bob".into()],
        summary: vec![format!("feat: {name} newest"), "fix: older".into()],
        is_breaking: false,
        infra_changes: vec![],
        head_sha: format!("{name}-head"),
        pull: None,
    }
}
