//! The notification outbox: one row per occasion, enqueued with the change that causes it,
//! claimed with leases, marked sent or failed; every test once on SQLite and once on PostgreSQL.

mod common;

use common::*;
use shipyard_core::ReleaseId;
use shipyard_store::{Backend, NewNotification, Store};
use std::collections::HashSet;

async fn stored_release(store: &Store, seed: u8) -> ReleaseId {
    let r = release(seed, 1_000);
    store
        .insert_release(&r, &[change("billing", 1)], &[])
        .await
        .expect("the release is stored");
    r.id
}

fn note(release: &ReleaseId, key: &str, at: i64) -> NewNotification {
    NewNotification {
        idempotency_key: key.to_owned(),
        release_id: release.clone(),
        kind: "ready".into(),
        channel_id: "town-square".into(),
        root_id: Some("thread-1".into()),
        message: format!("✅ **Release Ready to Deploy** ({key})"),
        created_at: at,
    }
}

both_backends!(one_row_per_occasion, |store| async move {
    let id = stored_release(&store, 1).await;
    assert!(
        store
            .enqueue_notification(&note(&id, "ready:1", 100))
            .await
            .unwrap()
    );
    // The same occasion again (a retried request, a second path): ignored.
    let mut again = note(&id, "ready:1", 150);
    again.message = "another text".into();
    assert!(!store.enqueue_notification(&again).await.unwrap());
    let rows = store.notifications(&id).await.unwrap();
    assert_eq!(rows.len(), 1);
    let n = &rows[0];
    assert_eq!(n.idempotency_key, "ready:1");
    assert_eq!(n.message, "✅ **Release Ready to Deploy** (ready:1)");
    assert_eq!(n.root_id.as_deref(), Some("thread-1"));
    assert_eq!((n.created_at, n.next_attempt_at, n.attempts), (100, 100, 0));
    assert_eq!(
        (n.sent_at, n.post_id.as_deref(), n.lease_until),
        (None, None, None)
    );

    // Even once sent, the occasion stays taken.
    let claimed = store.claim_due_notifications(100, 30, 10).await.unwrap();
    assert!(
        store
            .mark_notification_sent(claimed[0].id, "post-1", 101)
            .await
            .unwrap()
    );
    assert!(
        !store
            .enqueue_notification(&note(&id, "ready:1", 200))
            .await
            .unwrap()
    );
});

both_backends!(enqueued_with_the_change_or_not_at_all, |store| async move {
    let id = stored_release(&store, 2).await;
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.enqueue_notification(&note(&id, "ready:2", 100))
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    assert!(store.notifications(&id).await.unwrap().is_empty());

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.enqueue_notification(&note(&id, "ready:2", 100))
            .await
            .unwrap()
    );
    assert!(
        !tx.enqueue_notification(&note(&id, "ready:2", 100))
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    assert_eq!(store.notifications(&id).await.unwrap().len(), 1);
});

both_backends!(claims_lease_and_count_attempts, |store| async move {
    let id = stored_release(&store, 3).await;
    for (key, at) in [("a", 100), ("b", 90), ("c", 500)] {
        store
            .enqueue_notification(&note(&id, key, at))
            .await
            .unwrap();
    }
    // Due at 100: b then a (oldest due first); c is not due yet.
    let first = store.claim_due_notifications(100, 30, 10).await.unwrap();
    let keys: Vec<&str> = first.iter().map(|n| n.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["b", "a"]);
    assert!(
        first
            .iter()
            .all(|n| n.attempts == 1 && n.lease_until == Some(130))
    );
    // Leased: nobody else gets them before the lease ends.
    assert!(
        store
            .claim_due_notifications(120, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // b is posted; a fails and is due again at 200.
    let (b, a) = (&first[0], &first[1]);
    assert!(
        store
            .mark_notification_sent(b.id, "post-b", 101)
            .await
            .unwrap()
    );
    assert!(
        store
            .mark_notification_failed(a.id, "503 from the chat", 200)
            .await
            .unwrap()
    );
    assert!(
        store
            .claim_due_notifications(199, 30, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let retry = store.claim_due_notifications(200, 30, 10).await.unwrap();
    assert_eq!(retry.len(), 1);
    assert_eq!((retry[0].id, retry[0].attempts), (a.id, 2));
    assert_eq!(retry[0].last_error.as_deref(), Some("503 from the chat"));

    // A sender that crashed: its lease runs out and the row comes back, a third attempt.
    let again = store.claim_due_notifications(231, 30, 10).await.unwrap();
    assert_eq!((again[0].id, again[0].attempts), (a.id, 3));

    // A sent row is never claimed again, and a late report about it changes nothing.
    assert!(
        store
            .mark_notification_sent(a.id, "post-a", 232)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notification_failed(a.id, "late", 300)
            .await
            .unwrap()
    );
    assert!(
        !store
            .mark_notification_sent(a.id, "post-other", 233)
            .await
            .unwrap()
    );
    let rows = store.notifications(&id).await.unwrap();
    let a_row = rows.iter().find(|n| n.id == a.id).unwrap();
    assert_eq!(
        (a_row.post_id.as_deref(), a_row.sent_at),
        (Some("post-a"), Some(232))
    );
    assert_eq!(a_row.last_error, None);
    let later = store.claim_due_notifications(10_000, 30, 10).await.unwrap();
    let keys: Vec<&str> = later.iter().map(|n| n.idempotency_key.as_str()).collect();
    assert_eq!(keys, ["c"], "only the unsent row");
    assert!(
        store
            .claim_due_notifications(10_000, 30, 0)
            .await
            .unwrap()
            .is_empty()
    );
});

both_backends!(concurrent_senders_never_share_a_row, |store| async move {
    let id = stored_release(&store, 4).await;
    for i in 0..40 {
        store
            .enqueue_notification(&note(&id, &format!("n{i:02}"), 100 + i % 5))
            .await
            .unwrap();
    }
    let mut senders = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        senders.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due_notifications(200, 60, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|n| n.id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    for sender in senders {
        for n in sender.await.unwrap() {
            assert!(seen.insert(n), "notification {n} claimed twice");
        }
    }
    assert_eq!(seen.len(), 40);
});

both_backends!(a_notification_needs_its_release, |store| async move {
    let id = stored_release(&store, 5).await;
    store
        .enqueue_notification(&note(&id, "x", 1))
        .await
        .unwrap();
    // A notification for a release that does not exist is refused.
    let ghost = ReleaseId::parse("zzzzzzzzzz").unwrap();
    assert!(
        store
            .enqueue_notification(&note(&ghost, "y", 1))
            .await
            .is_err()
    );
    assert_eq!(store.notifications(&ghost).await.unwrap(), vec![]);
});
