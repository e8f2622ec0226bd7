//! The store's behaviour, every test run once on SQLite and once on PostgreSQL.

mod common;

use common::*;
use serde_json::json;
use shipyard_core::change::{PrState, PullInfo};
use shipyard_core::history::{HistoryAction, HistoryDetails};
use shipyard_core::release::{SignOff, SignOffs};
use shipyard_core::{Actor, ReleaseId, ReleaseStatus, Role};
use shipyard_store::{
    ApiTokenRecord, Backend, NewHistory, ReleaseFilter, ReleaseRecord, Store, StoreError, testing,
};

/// An entry of `action` with default details.
fn entry(action: HistoryAction, at: i64) -> NewHistory {
    NewHistory {
        actor: Actor::named("sub-alice", "Alice"),
        details: HistoryDetails::from_stored(action.as_str(), json!({}))
            .expect("every action but status_changed has default details"),
        created_at: at,
    }
}

both_backends!(insert_and_read_back_every_field, |store| async move {
    let mut r = release(1, 1_700_000_000);
    r.notes = "Notes with *Markdown*, ünïcode and 'quotes' \"too\"".into();
    r.breaking_changes = "drops v1".into();
    r.status = ReleaseStatus::Approved;
    r.content_fingerprint = "abc123".into();
    r.sign_offs = SignOffs {
        dev: Some(SignOff {
            by: Actor::named("sub-dev", "Dana Dev"),
            at: 1_700_000_100,
            fingerprint: "abc123".into(),
        }),
        qa: Some(SignOff {
            by: Actor::named("sub-qa", "Quinn QA"),
            at: 1_700_000_200,
            fingerprint: "abc123".into(),
        }),
    };
    r.channel_id = Some("chan-1".into());
    r.chat_post_id = Some("post-9".into());
    r.approval_cycle = 3;
    r.version = 5;

    let mut merged = change("billing", 4);
    merged.is_breaking = true;
    merged.infra_changes = vec!["helm/values.yaml".into(), "svc/Dockerfile".into()];
    merged.pull = Some(PullInfo {
        number: 123,
        url: "https://github.com/acme/billing/pull/123".into(),
        state: PrState::Merged,
        merge_commit_sha: Some("merge-sha".into()),
    });
    let mut open = change("auth-service", 2);
    open.pull = Some(PullInfo {
        number: 7,
        url: "https://github.com/acme/auth-service/pull/7".into(),
        state: PrState::Open,
        merge_commit_sha: None,
    });
    let plain = change("api-gateway", 1);
    let history = [
        NewHistory {
            actor: r.created_by.clone(),
            details: HistoryDetails::Created {
                repos: 3,
                commits: 0,
                scanned: 0,
                skipped: [("archived".to_owned(), 2)].into(),
            },
            created_at: r.created_at,
        },
        entry(HistoryAction::ApprovedDev, 1_700_000_100),
    ];
    store
        .insert_release(&r, &[merged.clone(), open.clone(), plain.clone()], &history)
        .await
        .unwrap();

    assert_eq!(store.release(&r.id).await.unwrap(), Some(r.clone()));

    let repos = store.repos(&r.id).await.unwrap();
    let names: Vec<&str> = repos.iter().map(|x| x.change.repo_name.as_str()).collect();
    assert_eq!(names, ["api-gateway", "auth-service", "billing"]);
    assert_eq!(repos[0].change, plain);
    assert_eq!(repos[1].change, open);
    assert_eq!(repos[2].change, merged);
    for repo in &repos {
        assert_eq!(repo.release_id, r.id);
        assert!(!repo.excluded);
        assert!(repo.depends_on.is_empty());
        assert!(repo.id > 0);
    }

    let stored = store.history(&r.id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert_eq!(stored[0].action, HistoryAction::Created);
    assert_eq!(stored[0].details, history[0].details);
    assert_eq!(stored[0].actor, r.created_by);
    assert_eq!(stored[1].action, HistoryAction::ApprovedDev);
    assert_eq!(stored[1].created_at, 1_700_000_100);
});

both_backends!(unknown_release_reads_empty, |store| async move {
    assert_eq!(store.release(&id(99)).await.unwrap(), None);
    assert!(store.repos(&id(99)).await.unwrap().is_empty());
    assert!(store.history(&id(99)).await.unwrap().is_empty());
    let mut tx = store.begin().await.unwrap();
    assert_eq!(tx.lock_release(&id(99)).await.unwrap(), None);
    assert!(matches!(
        tx.save_release(&release(99, 0)).await,
        Err(StoreError::NotFound)
    ));
});

both_backends!(history_is_ordered_and_appended, |store| async move {
    let r = release(1, 100);
    store
        .insert_release(&r, &[], &[entry(HistoryAction::Created, 100)])
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    // Same timestamp on purpose: order is insertion order, not time.
    let a = tx
        .append_history(&r.id, &entry(HistoryAction::NotesUpdated, 100))
        .await
        .unwrap();
    let mut detailed = entry(HistoryAction::RepoExcluded, 90);
    detailed.details = HistoryDetails::RepoExcluded {
        repo: "billing \"quoted\" ünïcode".into(),
    };
    let b = tx.append_history(&r.id, &detailed).await.unwrap();
    tx.commit().await.unwrap();
    assert!(b > a);

    let h = store.history(&r.id).await.unwrap();
    let actions: Vec<HistoryAction> = h.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        [
            HistoryAction::Created,
            HistoryAction::NotesUpdated,
            HistoryAction::RepoExcluded
        ]
    );
    assert!(h.windows(2).all(|w| w[0].id < w[1].id));
    assert_eq!(h[2].id, b);
    assert_eq!(h[2].details, detailed.details);
    assert_eq!(h[2].created_at, 90);

    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.append_history(&id(42), &entry(HistoryAction::Notified, 1))
            .await,
        Err(StoreError::NotFound)
    ));
});

both_backends!(list_filters_and_figures, |store| async move {
    let mut a = release(1, 100);
    a.notes = "Fixes the 100% CPU bug".into();
    let mut b = release(2, 200);
    b.status = ReleaseStatus::Approved;
    b.source_branch = branch("dev");
    b.dest_branch = branch("uat");
    b.created_by = Actor::named("sub-bob", "Bob Builder");
    let mut c = release(3, 300);
    c.status = ReleaseStatus::Cancelled;
    c.source_branch = branch("release/Hotfix-7");
    store
        .insert_release(&a, &[change("x", 3), change("y", 4)], &[])
        .await
        .unwrap();
    store.insert_release(&b, &[], &[]).await.unwrap();
    store
        .insert_release(&c, &[change("z", 5)], &[])
        .await
        .unwrap();

    let ids = |page: shipyard_store::ReleasePage| -> Vec<ReleaseId> {
        page.releases.into_iter().map(|s| s.release.id).collect()
    };
    let list = |f: ReleaseFilter| {
        let store = store.clone();
        async move { store.list_releases(&f).await.unwrap() }
    };

    let all = list(ReleaseFilter::default()).await;
    assert_eq!(all.next_cursor, None);
    assert_eq!(ids(all.clone()), [c.id.clone(), b.id.clone(), a.id.clone()]);
    assert_eq!(all.releases[2].release, a);

    let by_status = list(ReleaseFilter {
        status: Some(ReleaseStatus::Approved),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(by_status), [b.id.clone()]);
    let by_source = list(ReleaseFilter {
        source: Some("uat".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(by_source), [a.id.clone()]);
    let by_dest = list(ReleaseFilter {
        dest: Some("master".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(by_dest), [c.id.clone(), a.id.clone()]);
    let combined = list(ReleaseFilter {
        status: Some(ReleaseStatus::Pending),
        dest: Some("master".into()),
        ..Default::default()
    })
    .await;
    assert_eq!(ids(combined), [a.id.clone()]);

    let q = |s: &str| ReleaseFilter {
        q: Some(s.into()),
        ..Default::default()
    };
    assert_eq!(
        ids(list(q("cpu")).await),
        [a.id.clone()],
        "notes, other case"
    );
    assert_eq!(ids(list(q("100%")).await), [a.id.clone()], "% is literal");
    assert!(ids(list(q("1_0")).await).is_empty(), "_ is literal");
    assert_eq!(
        ids(list(q("BUILDER")).await),
        [b.id.clone()],
        "creator name"
    );
    assert_eq!(
        ids(list(q("hotfix")).await),
        [c.id.clone()],
        "source branch"
    );
    assert_eq!(
        ids(list(q("UAT")).await),
        [b.id.clone(), a.id.clone()],
        "either branch"
    );
    assert_eq!(
        ids(list(q(&b.id.as_str()[..4].to_uppercase())).await),
        [b.id.clone()],
        "id"
    );
    assert_eq!(ids(list(q("")).await).len(), 3, "empty q filters nothing");
    assert!(ids(list(q("nothing-like-this")).await).is_empty());

    // Figures count included repos only.
    let mut tx = store.begin().await.unwrap();
    let repos = tx.repos(&a.id).await.unwrap();
    tx.set_repo_excluded(repos[0].id, true).await.unwrap();
    tx.commit().await.unwrap();
    let all = list(ReleaseFilter::default()).await;
    let figures: Vec<(i64, i64)> = all
        .releases
        .iter()
        .map(|s| (s.repo_count, s.commit_count))
        .collect();
    assert_eq!(figures, [(1, 5), (0, 0), (1, 4)]);
});

both_backends!(list_pages_with_a_cursor, |store| async move {
    // Seven releases, several sharing a creation time: the id breaks ties.
    let times = [500, 400, 400, 400, 300, 300, 100];
    for (seed, at) in times.iter().enumerate() {
        store
            .insert_release(&release(seed as u8 + 10, *at), &[], &[])
            .await
            .unwrap();
    }
    let everything = store
        .list_releases(&ReleaseFilter {
            limit: 200,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(everything.releases.len(), 7);
    let keys: Vec<(i64, String)> = everything
        .releases
        .iter()
        .map(|s| (s.release.created_at, s.release.id.to_string()))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(keys, sorted, "newest first, then id descending");

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store
            .list_releases(&ReleaseFilter {
                limit: 3,
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.releases.len() <= 3);
        seen.extend(
            page.releases
                .iter()
                .map(|s| (s.release.created_at, s.release.id.to_string())),
        );
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, keys, "pages cover every release once, in order");

    // Exactly one full page: no cursor to an empty page.
    let six = store
        .list_releases(&ReleaseFilter {
            limit: 6,
            ..Default::default()
        })
        .await
        .unwrap();
    let rest = store
        .list_releases(&ReleaseFilter {
            limit: 6,
            cursor: six.next_cursor,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rest.releases.len(), 1);
    assert_eq!(rest.next_cursor, None);
    let seven = store
        .list_releases(&ReleaseFilter {
            limit: 7,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(seven.next_cursor, None);

    // Limits are clamped.
    let one = store
        .list_releases(&ReleaseFilter {
            limit: 0,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.releases.len(), 1);
    assert!(one.next_cursor.is_some());
    let many = store
        .list_releases(&ReleaseFilter {
            limit: 100_000,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(many.releases.len(), 7);

    for bad in ["garbage", "12:NOT-AN-ID", "x:abcdefghij", ""] {
        let r = store
            .list_releases(&ReleaseFilter {
                cursor: Some(bad.into()),
                ..Default::default()
            })
            .await;
        assert!(matches!(r, Err(StoreError::InvalidCursor)), "{bad:?}");
    }
});

both_backends!(dropped_transaction_leaves_nothing, |store| async move {
    let r = release(1, 100);
    store
        .insert_release(&r, &[change("a", 1)], &[entry(HistoryAction::Created, 100)])
        .await
        .unwrap();
    let repo_id = store.repos(&r.id).await.unwrap()[0].id;
    {
        let mut tx = store.begin().await.unwrap();
        let mut locked = tx.lock_release(&r.id).await.unwrap().unwrap();
        locked.notes = "half-made".into();
        tx.save_release(&locked).await.unwrap();
        tx.insert_repo(&r.id, &change("b", 2)).await.unwrap();
        tx.set_repo_excluded(repo_id, true).await.unwrap();
        tx.append_history(&r.id, &entry(HistoryAction::NotesUpdated, 101))
            .await
            .unwrap();
        // Dropped here without commit.
    }
    assert_eq!(store.release(&r.id).await.unwrap(), Some(r.clone()));
    let repos = store.repos(&r.id).await.unwrap();
    assert_eq!(repos.len(), 1);
    assert!(!repos[0].excluded);
    assert_eq!(store.history(&r.id).await.unwrap().len(), 1);

    // An explicit rollback does the same, and the store stays usable for writers.
    let mut tx = store.begin().await.unwrap();
    tx.insert_repo(&r.id, &change("c", 1)).await.unwrap();
    tx.rollback().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    tx.insert_repo(&r.id, &change("d", 1)).await.unwrap();
    tx.commit().await.unwrap();
    let names: Vec<String> = store
        .repos(&r.id)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.change.repo_name)
        .collect();
    assert_eq!(names, ["a", "d"]);
});

both_backends!(unique_violations_are_conflicts, |store| async move {
    let r = release(1, 100);
    store
        .insert_release(&r, &[change("billing", 1)], &[])
        .await
        .unwrap();

    let mut tx = store.begin().await.unwrap();
    match tx.insert_repo(&r.id, &change("billing", 9)).await {
        Err(StoreError::Conflict(message)) => {
            assert_eq!(message, "this release already has a repo with that name")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    drop(tx);

    match store.insert_release(&r, &[], &[]).await {
        Err(StoreError::Conflict(message)) => {
            assert_eq!(message, "a release with this id already exists")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // The same repo name in another release is fine.
    let other = release(2, 100);
    store
        .insert_release(&other, &[change("billing", 1)], &[])
        .await
        .unwrap();

    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.insert_repo(&id(77), &change("x", 1)).await,
        Err(StoreError::NotFound)
    ));
});

both_backends!(failed_insert_release_stores_nothing, |store| async move {
    let r = release(1, 100);
    let result = store
        .insert_release(
            &r,
            &[change("a", 1), change("b", 1), change("a", 2)],
            &[entry(HistoryAction::Created, 100)],
        )
        .await;
    assert!(matches!(result, Err(StoreError::Conflict(_))), "{result:?}");
    assert_eq!(store.release(&r.id).await.unwrap(), None);
    assert!(store.repos(&r.id).await.unwrap().is_empty());
    assert!(store.history(&r.id).await.unwrap().is_empty());
    assert!(
        store
            .list_releases(&ReleaseFilter::default())
            .await
            .unwrap()
            .releases
            .is_empty()
    );

    // And the id is still free.
    store
        .insert_release(&r, &[change("a", 1)], &[])
        .await
        .unwrap();
});

both_backends!(
    save_release_writes_mutable_fields_and_bumps_version,
    |store| async move {
        let mut r = release(1, 100);
        r.sign_offs.dev = Some(SignOff {
            by: Actor::named("d", "Dev"),
            at: 150,
            fingerprint: "fp-0".into(),
        });
        store.insert_release(&r, &[], &[]).await.unwrap();

        let mut tx = store.begin().await.unwrap();
        let mut locked = tx.lock_release(&r.id).await.unwrap().unwrap();
        assert_eq!(locked.version, 0);
        locked.status = ReleaseStatus::Approved;
        locked.notes = "n".into();
        locked.breaking_changes = "b".into();
        locked.last_refreshed_at = 200;
        locked.content_fingerprint = "fp-1".into();
        locked.sign_offs.dev = None;
        locked.sign_offs.qa = Some(SignOff {
            by: Actor::named("q", "QA"),
            at: 210,
            fingerprint: "fp-1".into(),
        });
        locked.channel_id = Some("c".into());
        locked.chat_post_id = Some("p".into());
        locked.approval_cycle = 2;
        // Immutable columns are not written.
        let mut attempt = locked.clone();
        attempt.org = "other".into();
        attempt.created_at = 1;
        assert_eq!(tx.save_release(&attempt).await.unwrap(), 1);
        tx.commit().await.unwrap();

        let stored = store.release(&r.id).await.unwrap().unwrap();
        assert_eq!(
            stored,
            ReleaseRecord {
                version: 1,
                ..locked.clone()
            }
        );

        let mut tx = store.begin().await.unwrap();
        let again = tx.lock_release(&r.id).await.unwrap().unwrap();
        assert_eq!(tx.save_release(&again).await.unwrap(), 2);
        tx.commit().await.unwrap();
        assert_eq!(store.release(&r.id).await.unwrap().unwrap().version, 2);
    }
);

both_backends!(repo_updates, |store| async move {
    let r = release(1, 100);
    store
        .insert_release(&r, &[change("billing", 1), change("auth", 1)], &[])
        .await
        .unwrap();
    let ids: Vec<i64> = store
        .repos(&r.id)
        .await
        .unwrap()
        .iter()
        .map(|x| x.id)
        .collect();
    let (auth, billing) = (ids[0], ids[1]);

    let mut tx = store.begin().await.unwrap();
    tx.set_repo_excluded(auth, true).await.unwrap();
    tx.set_repo_depends_on(billing, &["auth".into(), "gateway".into()])
        .await
        .unwrap();
    let mut refreshed = change("billing", 6);
    refreshed.contributors = vec!["carol".into()];
    refreshed.summary = vec!["feat!: new".into()];
    refreshed.is_breaking = true;
    refreshed.infra_changes = vec!["k8s/deploy.yaml".into()];
    refreshed.head_sha = "new-head".into();
    refreshed.pull = Some(PullInfo {
        number: 5,
        url: "u".into(),
        state: PrState::Open,
        merge_commit_sha: None,
    });
    tx.update_repo_change(&r.id, &refreshed).await.unwrap();
    tx.commit().await.unwrap();

    let repos = store.repos(&r.id).await.unwrap();
    assert!(repos[0].excluded);
    assert_eq!(repos[1].change, refreshed);
    assert_eq!(repos[1].depends_on, ["auth", "gateway"]);
    assert!(
        !repos[1].excluded,
        "a refresh leaves excluded and depends_on alone"
    );

    let merged = PullInfo {
        number: 5,
        url: "u".into(),
        state: PrState::Merged,
        merge_commit_sha: Some("m".into()),
    };
    let mut tx = store.begin().await.unwrap();
    tx.update_repo_pull(billing, Some(&merged)).await.unwrap();
    tx.update_repo_pull(auth, None).await.unwrap();
    tx.set_repo_excluded(auth, false).await.unwrap();
    tx.set_repo_depends_on(billing, &[]).await.unwrap();
    tx.commit().await.unwrap();
    let repos = store.repos(&r.id).await.unwrap();
    assert_eq!(repos[1].change.pull, Some(merged));
    assert_eq!(repos[0].change.pull, None);
    assert!(!repos[0].excluded);
    assert!(repos[1].depends_on.is_empty());
    assert_eq!(
        repos[1].change.head_sha, "new-head",
        "a pull update leaves the rest alone"
    );

    let mut tx = store.begin().await.unwrap();
    assert!(matches!(
        tx.set_repo_excluded(9_999, true).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.set_repo_depends_on(9_999, &[]).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.update_repo_pull(9_999, None).await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        tx.update_repo_change(&r.id, &change("nope", 1)).await,
        Err(StoreError::NotFound)
    ));
});

both_backends!(concurrent_writers_serialise, |store| async move {
    let r = release(1, 100);
    store.insert_release(&r, &[], &[]).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let id = r.id.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = store.begin().await.unwrap();
            let mut locked = tx.lock_release(&id).await.unwrap().unwrap();
            let n: u32 = if locked.notes.is_empty() {
                0
            } else {
                locked.notes.parse().unwrap()
            };
            // Give the others every chance to interleave.
            tokio::task::yield_now().await;
            locked.notes = (n + 1).to_string();
            tx.save_release(&locked).await.unwrap();
            tx.append_history(&id, &entry(HistoryAction::NotesUpdated, 100))
                .await
                .unwrap();
            tx.commit().await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stored = store.release(&r.id).await.unwrap().unwrap();
    assert_eq!(stored.notes, "20");
    assert_eq!(stored.version, 20);
    assert_eq!(store.history(&r.id).await.unwrap().len(), 20);
});

both_backends!(
    migrations_and_readiness,
    url | url
        | async move {
            let store = Store::connect(&url).await.unwrap();
            match store.ready().await {
                Err(StoreError::NotReady(message)) => {
                    assert!(message.contains("shipyard migrate"), "{message}")
                }
                other => panic!("expected not ready, got {other:?}"),
            }
            store.migrate().await.unwrap();
            store.ready().await.unwrap();
            store.migrate().await.unwrap();
            store.ready().await.unwrap();
            store
                .insert_release(&release(1, 1), &[], &[])
                .await
                .unwrap();
            store.close().await;

            // A second store on the same database sees the data and needs no migration.
            let again = Store::connect(&url).await.unwrap();
            again.ready().await.unwrap();
            again.migrate().await.unwrap();
            assert!(again.release(&id(1)).await.unwrap().is_some());
            again.close().await;
        }
);

both_backends!(api_tokens_sync, |store| async move {
    let token = |name: &str, hash: &str, roles: &[Role], at: i64| ApiTokenRecord {
        name: name.into(),
        token_sha256: hash.into(),
        roles: roles.to_vec(),
        created_at: at,
        last_used_at: None,
    };
    let ci = token("ci", "h-ci", &[Role::Admin], 10);
    let bot = token("bot", "h-bot", &[Role::DevApprover, Role::QaApprover], 10);
    store
        .sync_api_tokens(&[ci.clone(), bot.clone()])
        .await
        .unwrap();
    assert_eq!(store.api_tokens().await.unwrap(), [bot.clone(), ci.clone()]);

    store.touch_api_token("ci", 50).await.unwrap();
    store.touch_api_token("ci", 40).await.unwrap();
    store.touch_api_token("nobody", 40).await.unwrap();
    let used = store.api_tokens().await.unwrap();
    assert_eq!(used[1].last_used_at, Some(50), "never moves backwards");

    // Same secret, new roles: keeps its times. A new name appears, a missing one goes.
    let ci_roles = token("ci", "h-ci", &[Role::QaApprover], 20);
    let ops = token("ops", "h-ops", &[], 20);
    store
        .sync_api_tokens(&[ci_roles.clone(), ops.clone()])
        .await
        .unwrap();
    let stored = store.api_tokens().await.unwrap();
    assert_eq!(
        stored,
        [
            ApiTokenRecord {
                created_at: 10,
                last_used_at: Some(50),
                ..ci_roles.clone()
            },
            ops.clone()
        ]
    );

    // A rotated secret is a new token: new creation time, never used.
    let rotated = token("ci", "h-ci-2", &[Role::QaApprover], 30);
    store
        .sync_api_tokens(&[rotated.clone(), ops.clone()])
        .await
        .unwrap();
    assert_eq!(
        store.api_tokens().await.unwrap(),
        [rotated.clone(), ops.clone()]
    );

    // A secret may move to another name in one sync.
    let renamed = token("ci-new", "h-ci-2", &[Role::Admin], 40);
    store
        .sync_api_tokens(std::slice::from_ref(&renamed))
        .await
        .unwrap();
    assert_eq!(
        store.api_tokens().await.unwrap(),
        std::slice::from_ref(&renamed)
    );

    // Two names with one secret: refused, nothing changes.
    let clash = [token("a", "same", &[], 1), token("b", "same", &[], 1)];
    match store.sync_api_tokens(&clash).await {
        Err(StoreError::Conflict(message)) => {
            assert_eq!(message, "two API tokens have the same secret")
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(store.api_tokens().await.unwrap(), [renamed]);

    store.sync_api_tokens(&[]).await.unwrap();
    assert!(store.api_tokens().await.unwrap().is_empty());
});

#[tokio::test]
async fn in_memory_sqlite_works() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    assert_eq!(store.backend(), Backend::Sqlite);
    store.migrate().await.unwrap();
    store.ready().await.unwrap();
    let r = release(1, 100);
    store
        .insert_release(&r, &[change("a", 1)], &[entry(HistoryAction::Created, 100)])
        .await
        .unwrap();
    let mut tx = store.begin().await.unwrap();
    let mut locked = tx.lock_release(&r.id).await.unwrap().unwrap();
    locked.notes = "edited".into();
    tx.save_release(&locked).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.release(&r.id).await.unwrap().unwrap().notes, "edited");
    assert_eq!(store.repos(&r.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn backends_report_themselves() {
    let (store, url) = testing::fresh_store(Backend::Postgres).await;
    assert_eq!(store.backend(), Backend::Postgres);
    assert_eq!(store.backend().as_str(), "postgres");
    store.close().await;
    testing::drop_database(&url).await;
}

#[tokio::test]
async fn unsupported_urls_are_refused() {
    for url in ["mysql://localhost/x", "", "shipyard.db"] {
        assert!(
            matches!(Store::connect(url).await, Err(StoreError::UnsupportedUrl)),
            "{url}"
        );
    }
}

fn session(hash: &str, now: i64) -> shipyard_store::SessionRecord {
    shipyard_store::SessionRecord {
        id_hash: hash.to_owned(),
        subject: "sub-123".into(),
        name: "Quinn QA".into(),
        email: Some("quinn@example.com".into()),
        roles: vec![Role::QaApprover],
        csrf_token: "csrf".into(),
        id_token: Some("header.payload.sig".into()),
        via: "sso".into(),
        created_at: now,
        last_seen_at: now,
        expires_at: now + 3600,
    }
}

both_backends!(sessions_rotate_touch_and_expire, |store| async move {
    let first = session("h1", 1000);
    store.insert_session(&first, None).await.unwrap();
    assert_eq!(store.session("h1").await.unwrap(), Some(first.clone()));

    // Signing in again replaces the old session in one step.
    let second = session("h2", 1100);
    store.insert_session(&second, Some("h1")).await.unwrap();
    assert_eq!(store.session("h1").await.unwrap(), None);

    store.touch_session("h2", 1200).await.unwrap();
    store.touch_session("h2", 1150).await.unwrap();
    assert_eq!(
        store.session("h2").await.unwrap().unwrap().last_seen_at,
        1200
    );

    // Idle since before 1300, or past the absolute end: both go.
    store
        .insert_session(&session("h3", 2000), None)
        .await
        .unwrap();
    assert_eq!(store.delete_expired_sessions(2100, 1300).await.unwrap(), 1);
    assert!(store.session("h2").await.unwrap().is_none());
    assert_eq!(store.delete_expired_sessions(5600, 0).await.unwrap(), 1);

    store
        .insert_session(&session("h4", 3000), None)
        .await
        .unwrap();
    let gone = store.delete_session("h4").await.unwrap().unwrap();
    assert_eq!(gone.id_token.as_deref(), Some("header.payload.sig"));
    assert_eq!(store.delete_session("h4").await.unwrap(), None);
});

both_backends!(login_flows_finish_once, |store| async move {
    let flow = shipyard_store::LoginFlowRecord {
        state: "st".into(),
        nonce: "n".into(),
        pkce_verifier: "v".into(),
        next_path: "/releases/abc".into(),
        created_at: 100,
    };
    store.insert_login_flow(&flow).await.unwrap();
    assert_eq!(store.take_login_flow("st").await.unwrap(), Some(flow));
    assert_eq!(store.take_login_flow("st").await.unwrap(), None);
    store
        .insert_login_flow(&shipyard_store::LoginFlowRecord {
            state: "old".into(),
            nonce: "n".into(),
            pkce_verifier: "v".into(),
            next_path: "/".into(),
            created_at: 5,
        })
        .await
        .unwrap();
    assert_eq!(store.delete_stale_login_flows(50).await.unwrap(), 1);
});

both_backends!(
    delivery_ids_are_remembered_once_and_forgotten_later,
    |store| async move {
        let id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
        assert!(store.remember_delivery(id, "push", 100, 0).await.unwrap());
        assert!(!store.remember_delivery(id, "push", 101, 0).await.unwrap());
        assert!(
            store
                .remember_delivery("other", "workflow_run", 150, 0)
                .await
                .unwrap()
        );
        assert_eq!(store.remembered_deliveries().await.unwrap(), 2);
        // A failed delivery is forgotten, so GitHub's redelivery is applied.
        store.forget_delivery(id).await.unwrap();
        assert!(store.remember_delivery(id, "push", 160, 0).await.unwrap());
        // Ids older than the memory are dropped as new ones arrive.
        assert!(
            store
                .remember_delivery("late", "push", 500, 155)
                .await
                .unwrap()
        );
        assert_eq!(store.remembered_deliveries().await.unwrap(), 2);
        assert!(
            store
                .remember_delivery("other", "workflow_run", 501, 155)
                .await
                .unwrap()
        );
    }
);
