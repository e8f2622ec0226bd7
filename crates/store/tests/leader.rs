//! Leadership of a singleton task among processes sharing one database.

// Leadership differs by backend, so these tests do not use `both_backends!`.
#[allow(unused_macros, unused_imports)]
mod common;

use common::*;
use shipyard_store::{Backend, Store};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_one_process_leads_until_it_lets_go() {
    with_url(Backend::Postgres, |url: String| async move {
        let a = Store::connect(&url).await.expect("a");
        let b = Store::connect(&url).await.expect("b");
        let mut lead = a
            .try_lead("chat-bot")
            .await
            .expect("ask")
            .expect("the first asker leads");
        assert!(lead.still_held().await);
        assert!(
            b.try_lead("chat-bot").await.expect("ask").is_none(),
            "a second process does not lead while the first does"
        );
        assert!(
            a.try_lead("chat-bot").await.expect("ask").is_none(),
            "nor does a second session of the same process"
        );
        assert!(
            b.try_lead("another-task").await.expect("ask").is_some(),
            "tasks are led separately"
        );
        drop(lead);
        let mut taken = None;
        for _ in 0..100 {
            taken = b.try_lead("chat-bot").await.expect("ask");
            if taken.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let mut taken = taken.expect("the lock is free once its session ended");
        assert!(taken.still_held().await);
        a.close().await;
        b.close().await;
    })
    .await;
}

#[tokio::test]
async fn on_sqlite_whoever_asks_leads() {
    with_url(Backend::Sqlite, |url: String| async move {
        let store = Store::connect(&url).await.expect("store");
        let mut lead = store
            .try_lead("chat-bot")
            .await
            .expect("ask")
            .expect("leads");
        assert!(lead.still_held().await);
        store.close().await;
    })
    .await;
}
