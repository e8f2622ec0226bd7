//! CI tracking rows: starting once, reading back, leases for the poller, version-checked
//! updates, cascades and summaries; every test once on SQLite and once on PostgreSQL.

mod common;

use common::*;
use shipyard_core::ReleaseId;
use shipyard_core::ci::{CiStatus, CiSummary};
use shipyard_core::history::HistoryDetails;
use shipyard_core::{Actor, ReleaseStatus};
use shipyard_store::{Backend, CiStatusRecord, NewHistory, RepoRecord, Store, StoreError};
use std::collections::HashSet;

/// Stores release `seed` with repos named `names`; returns its id and its repos, by name.
async fn release_with_repos(
    store: &Store,
    seed: u8,
    names: &[&str],
) -> (ReleaseId, Vec<RepoRecord>) {
    let r = release(seed, 1_000);
    let changes: Vec<_> = names.iter().map(|n| change(n, 1)).collect();
    store
        .insert_release(&r, &changes, &[])
        .await
        .expect("the release is stored");
    let repos = store.repos(&r.id).await.expect("its repos read back");
    (r.id, repos)
}

/// Starts tracking `repo` at `now` (merge commit `<name>-merge`) and returns the new row.
async fn track(store: &Store, repo: &RepoRecord, now: i64) -> CiStatusRecord {
    let sha = format!("{}-merge", repo.change.repo_name);
    assert!(
        store
            .start_ci_tracking(repo.id, &repo.release_id, &repo.change.repo_name, &sha, now)
            .await
            .expect("tracking starts")
    );
    store
        .ci_status(repo.id)
        .await
        .expect("the row reads")
        .expect("the row exists")
}

/// Writes `r` with `status`, expecting the update to apply; returns the row as stored.
async fn set_status(store: &Store, r: &CiStatusRecord, status: CiStatus) -> CiStatusRecord {
    let mut next = r.clone();
    next.status = status;
    assert!(
        store
            .update_ci_status(&next)
            .await
            .expect("the update runs")
    );
    store
        .ci_status(r.repo_id)
        .await
        .expect("the row reads")
        .expect("the row exists")
}

fn ids(rows: &[CiStatusRecord]) -> Vec<i64> {
    rows.iter().map(|r| r.repo_id).collect()
}

both_backends!(tracking_starts_once, |store| async move {
    let (release, repos) = release_with_repos(&store, 1, &["api", "billing"]).await;
    let api = &repos[0];

    // In a transaction, with what caused it; a rolled back start leaves nothing.
    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.start_ci_tracking(api.id, &release, "api", "sha-1", 100)
            .await
            .unwrap()
    );
    tx.rollback().await.unwrap();
    assert_eq!(store.ci_status(api.id).await.unwrap(), None);

    let mut tx = store.begin().await.unwrap();
    assert!(
        tx.start_ci_tracking(api.id, &release, "api", "sha-1", 100)
            .await
            .unwrap()
    );
    assert!(
        !tx.start_ci_tracking(api.id, &release, "api", "sha-1", 101)
            .await
            .unwrap()
    );
    let seen = tx.ci_status(api.id).await.unwrap().unwrap();
    tx.append_history(
        &release,
        &NewHistory {
            actor: Actor::named("system", "Shipyard"),
            details: HistoryDetails::CiStarted {
                repo: "api".into(),
                run_number: 1,
                run_id: 10,
            },
            created_at: 100,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(store.ci_status(api.id).await.unwrap(), Some(seen.clone()));
    assert_eq!(store.history(&release).await.unwrap().len(), 1);

    // A later start (say the merge webhook after a refresh saw the merge) keeps the progress.
    let running = set_status(&store, &seen, CiStatus::InProgress).await;
    assert!(
        !store
            .start_ci_tracking(api.id, &release, "api", "sha-2", 200)
            .await
            .unwrap()
    );
    assert_eq!(store.ci_status(api.id).await.unwrap(), Some(running));

    // Only repos and releases that exist can be tracked.
    assert!(matches!(
        store
            .start_ci_tracking(9_999, &release, "ghost", "sha", 100)
            .await,
        Err(StoreError::NotFound)
    ));
    assert!(matches!(
        store
            .start_ci_tracking(repos[1].id, &id(77), "billing", "sha", 100)
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(store.ci_status(repos[1].id).await.unwrap(), None);
});

both_backends!(every_field_reads_back, |store| async move {
    let (release, repos) = release_with_repos(&store, 1, &["web", "api", "billing"]).await;
    let (other, other_repos) = release_with_repos(&store, 2, &["api"]).await;

    let started = track(&store, &repos[1], 1_700_000_000).await;
    assert_eq!(
        started,
        CiStatusRecord {
            repo_id: repos[1].id,
            release_id: release.clone(),
            repo_name: "billing".into(),
            merge_commit_sha: "billing-merge".into(),
            status: CiStatus::Pending,
            conclusion: None,
            run_id: None,
            run_number: None,
            run_attempt: None,
            run_url: None,
            chart_version: None,
            tracking_started_at: 1_700_000_000,
            started_at: None,
            completed_at: None,
            last_checked_at: None,
            checks: 0,
            etag: None,
            next_check_at: 1_700_000_000,
            lease_until: None,
            version: 0,
        }
    );

    let done = CiStatusRecord {
        merge_commit_sha: "billing-merge-2".into(),
        status: CiStatus::Failure,
        conclusion: Some("timed_out".into()),
        run_id: Some(9_876_543_210),
        run_number: Some(937),
        run_attempt: Some(2),
        run_url: Some("https://github.com/acme/billing/actions/runs/9876543210".into()),
        chart_version: Some("1.1.937".into()),
        tracking_started_at: 1_700_000_001,
        started_at: Some(1_700_000_010),
        completed_at: Some(1_700_000_120),
        last_checked_at: Some(1_700_000_130),
        checks: 4,
        etag: Some("W/\"abc\"".into()),
        next_check_at: 1_700_000_190,
        // Not written: an update always ends the lease.
        lease_until: Some(1_700_009_999),
        ..started.clone()
    };
    assert!(store.update_ci_status(&done).await.unwrap());
    let stored = store.ci_status(repos[1].id).await.unwrap().unwrap();
    assert_eq!(
        stored,
        CiStatusRecord {
            lease_until: None,
            version: 1,
            ..done.clone()
        }
    );

    // Every status the domain knows is accepted by the table (its CHECK lists them all).
    let mut current = stored;
    for status in CiStatus::ALL {
        current = set_status(&store, &current, status).await;
        assert_eq!(current.status, status);
    }

    // Lookups: by release (by name), by commit and by run (across releases).
    let web = track(&store, &repos[2], 5).await;
    let api = track(&store, &repos[0], 5).await;
    let other_api = track(&store, &other_repos[0], 6).await;
    assert_eq!(
        ids(&store.ci_statuses(&release).await.unwrap()),
        [api.repo_id, current.repo_id, web.repo_id]
    );
    assert_eq!(
        ids(&store.ci_statuses(&other).await.unwrap()),
        [other_api.repo_id]
    );
    assert!(store.ci_statuses(&id(99)).await.unwrap().is_empty());
    assert_eq!(
        ids(&store
            .ci_statuses_for_commit("api", "api-merge")
            .await
            .unwrap()),
        [api.repo_id, other_api.repo_id]
    );
    assert!(
        store
            .ci_statuses_for_commit("api", "billing-merge-2")
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        ids(&store
            .ci_statuses_for_commit("billing", "billing-merge-2")
            .await
            .unwrap()),
        [current.repo_id]
    );
    for r in [&api, &other_api] {
        let mut on_run = r.clone();
        on_run.run_id = Some(42);
        assert!(store.update_ci_status(&on_run).await.unwrap());
    }
    assert_eq!(
        ids(&store.ci_statuses_for_run(42).await.unwrap()),
        [api.repo_id, other_api.repo_id]
    );
    assert!(store.ci_statuses_for_run(43).await.unwrap().is_empty());
    assert_eq!(store.ci_status(9_999).await.unwrap(), None);
});

both_backends!(claims_lease_due_rows, |store| async move {
    let (_, repos) = release_with_repos(&store, 1, &["a", "b", "c", "d", "e"]).await;
    let a = track(&store, &repos[0], 100).await;
    let b = track(&store, &repos[1], 90).await;
    let c = track(&store, &repos[2], 100).await;
    let d = track(&store, &repos[3], 100).await;
    let e = track(&store, &repos[4], 100).await;
    // Final statuses are never claimed, however due; queued and in progress are.
    set_status(&store, &c, CiStatus::Success).await;
    set_status(&store, &d, CiStatus::NoWorkflow).await;
    let e = set_status(&store, &e, CiStatus::InProgress).await;

    // Nothing is due before its time.
    assert!(
        store
            .claim_due_ci_checks(89, 60, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_ci_checks(100, 60, 0)
            .await
            .unwrap()
            .is_empty()
    );

    // Oldest due first, up to the limit; the lease comes back with the row.
    let first = store.claim_due_ci_checks(100, 60, 2).await.unwrap();
    assert_eq!(ids(&first), [b.repo_id, a.repo_id]);
    assert!(first.iter().all(|r| r.lease_until == Some(160)));
    assert_eq!(first[0].version, b.version, "a claim is not a change");
    let rest = store.claim_due_ci_checks(100, 60, 10).await.unwrap();
    assert_eq!(ids(&rest), [e.repo_id]);

    // Within the lease, nobody else gets them.
    assert!(
        store
            .claim_due_ci_checks(100, 60, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        store
            .claim_due_ci_checks(159, 60, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // An update ends the lease: due again at the time it sets.
    let mut polled = first[1].clone();
    polled.status = CiStatus::Queued;
    polled.next_check_at = 130;
    assert!(store.update_ci_status(&polled).await.unwrap());
    assert!(
        store
            .claim_due_ci_checks(129, 60, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let again = store.claim_due_ci_checks(130, 60, 10).await.unwrap();
    assert_eq!(ids(&again), [a.repo_id]);
    assert_eq!(again[0].lease_until, Some(190));
    assert_eq!(again[0].status, CiStatus::Queued);

    // A lease that ran out (a claimer that died) frees the row.
    let expired = store.claim_due_ci_checks(160, 30, 10).await.unwrap();
    assert_eq!(ids(&expired), [b.repo_id, e.repo_id]);
    assert!(expired.iter().all(|r| r.lease_until == Some(190)));

    // A row that reaches a final status is never claimed again.
    let mut finished = expired[0].clone();
    finished.status = CiStatus::Success;
    assert!(store.update_ci_status(&finished).await.unwrap());
    let later = store.claim_due_ci_checks(10_000, 60, 10).await.unwrap();
    assert_eq!(ids(&later), [e.repo_id, a.repo_id], "due at 100 and 130");
});

both_backends!(concurrent_claimers_never_share_a_row, |store| async move {
    let names: Vec<String> = (0..40).map(|i| format!("svc-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_, repos) = release_with_repos(&store, 1, &names).await;
    for (i, repo) in repos.iter().enumerate() {
        track(&store, repo, 100 + i64::try_from(i % 7).unwrap()).await;
    }
    let mut claimers = Vec::new();
    for _ in 0..6 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due_ci_checks(200, 60, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|r| r.repo_id));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    let mut total = 0;
    for claimer in claimers {
        for repo_id in claimer.await.unwrap() {
            total += 1;
            assert!(seen.insert(repo_id), "repo {repo_id} claimed twice");
        }
    }
    assert_eq!(total, repos.len());
});

both_backends!(stale_updates_lose, |store| async move {
    let (release, repos) = release_with_repos(&store, 1, &["api"]).await;
    let read = track(&store, &repos[0], 100).await;
    let claimed = store
        .claim_due_ci_checks(100, 60, 1)
        .await
        .unwrap()
        .remove(0);

    // A webhook reports the run first.
    let mut webhook = read.clone();
    webhook.status = CiStatus::InProgress;
    webhook.run_id = Some(7);
    webhook.next_check_at = 130;
    assert!(store.update_ci_status(&webhook).await.unwrap());
    let after_webhook = store.ci_status(read.repo_id).await.unwrap().unwrap();
    assert_eq!(after_webhook.version, 1);

    // The poll that claimed the row before then loses, in or out of a transaction.
    let mut poll = claimed.clone();
    poll.status = CiStatus::Pending;
    poll.checks = 1;
    assert!(!store.update_ci_status(&poll).await.unwrap());
    let mut tx = store.begin().await.unwrap();
    assert!(!tx.update_ci_status(&poll).await.unwrap());
    tx.commit().await.unwrap();
    assert_eq!(
        store.ci_status(read.repo_id).await.unwrap(),
        Some(after_webhook.clone())
    );

    // Re-read, it applies; in a transaction it commits with its history entry.
    let mut retry = after_webhook.clone();
    retry.status = CiStatus::Success;
    let mut tx = store.begin().await.unwrap();
    assert!(tx.update_ci_status(&retry).await.unwrap());
    tx.append_history(
        &release,
        &NewHistory {
            actor: Actor::named("system", "Shipyard"),
            details: HistoryDetails::CiCompleted {
                repo: "api".into(),
                run_number: 1,
                chart_version: None,
            },
            created_at: 140,
        },
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let stored = store.ci_status(read.repo_id).await.unwrap().unwrap();
    assert_eq!((stored.status, stored.version), (CiStatus::Success, 2));
    assert_eq!(store.history(&release).await.unwrap().len(), 1);

    // A row that is gone cannot be updated either.
    let mut ghost = stored.clone();
    ghost.repo_id = 9_999;
    assert!(!store.update_ci_status(&ghost).await.unwrap());
});

/// Runs one statement the store has no method for, on a connection of its own.
async fn execute(url: &str, sql: &'static str, bind: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("connects");
        sqlx::query(sql)
            .bind(bind)
            .execute(&pool)
            .await
            .expect("the statement runs");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("connects");
        sqlx::query(sql)
            .bind(bind)
            .execute(&pool)
            .await
            .expect("the statement runs");
        pool.close().await;
    }
}

both_backends!(
    rows_go_with_their_repo,
    url | url
        | async move {
            let store = Store::connect(&url).await.unwrap();
            store.migrate().await.unwrap();
            let (first, repos) = release_with_repos(&store, 1, &["api", "billing"]).await;
            let (second, second_repos) = release_with_repos(&store, 2, &["api"]).await;
            let api = track(&store, &repos[0], 100).await;
            let billing = track(&store, &repos[1], 100).await;
            let second_api = track(&store, &second_repos[0], 100).await;

            // Deleting the repo row takes its CI row with it, and nothing else.
            execute(
                &url,
                "DELETE FROM release_repos WHERE repo_name = 'api' AND release_id = $1",
                first.as_str(),
            )
            .await;
            assert_eq!(store.ci_status(api.repo_id).await.unwrap(), None);
            assert_eq!(
                ids(&store.ci_statuses(&first).await.unwrap()),
                [billing.repo_id]
            );
            assert_eq!(
                ids(&store.ci_statuses(&second).await.unwrap()),
                [second_api.repo_id]
            );

            // Deleting a release takes its repos and their CI rows.
            execute(&url, "DELETE FROM releases WHERE id = $1", second.as_str()).await;
            assert!(store.ci_statuses(&second).await.unwrap().is_empty());
            assert_eq!(store.ci_status(second_api.repo_id).await.unwrap(), None);
            assert_eq!(
                store.ci_status(billing.repo_id).await.unwrap(),
                Some(billing)
            );
            store.close().await;
        }
);

both_backends!(summaries_count_included_repos, |store| async move {
    let names = [
        "a-success",
        "b-success",
        "c-failure",
        "d-cancelled",
        "e-no-workflow",
        "f-timeout",
        "g-queued",
        "h-in-progress",
        "i-pending",
        "j-skipped",
        "k-neutral",
        "l-excluded",
        "m-untracked",
    ];
    let (first, repos) = release_with_repos(&store, 1, &names).await;
    let statuses = [
        CiStatus::Success,
        CiStatus::Success,
        CiStatus::Failure,
        CiStatus::Cancelled,
        CiStatus::NoWorkflow,
        CiStatus::Timeout,
        CiStatus::Queued,
        CiStatus::InProgress,
        CiStatus::Pending,
        CiStatus::Skipped,
        CiStatus::Neutral,
        CiStatus::Failure,
    ];
    for (repo, status) in repos.iter().zip(statuses) {
        let row = track(&store, repo, 100).await;
        if status != CiStatus::Pending {
            set_status(&store, &row, status).await;
        }
    }
    // Excluded after tracking started: the row stays, but no longer counts.
    let mut tx = store.begin().await.unwrap();
    tx.set_repo_excluded(repos[11].id, true).await.unwrap();
    tx.commit().await.unwrap();

    let (second, second_repos) = release_with_repos(&store, 2, &["api", "web"]).await;
    let row = track(&store, &second_repos[0], 100).await;
    set_status(&store, &row, CiStatus::Success).await;
    track(&store, &second_repos[1], 100).await;
    let mut third = release(3, 1_000);
    third.status = ReleaseStatus::Approved;
    store
        .insert_release(&third, &[change("api", 1)], &[])
        .await
        .unwrap();

    let want_first = CiSummary {
        total: 11,
        success: 2,
        failed: 4,
        in_progress: 2,
        pending: 1,
    };
    let want_second = CiSummary {
        total: 2,
        success: 1,
        failed: 0,
        in_progress: 0,
        pending: 1,
    };
    let all = store
        .ci_summaries(&[first.clone(), second.clone(), third.id.clone(), id(99)])
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all[&first], want_first);
    assert_eq!(all[&second], want_second);
    assert_eq!(all[&third.id], CiSummary::default());
    assert_eq!(all[&id(99)], CiSummary::default());
    assert_eq!(store.ci_summary(&first).await.unwrap(), want_first);
    assert_eq!(
        store.ci_summary(&third.id).await.unwrap(),
        CiSummary::default()
    );
    assert!(store.ci_summaries(&[]).await.unwrap().is_empty());

    // The same rule as the domain's, over the same statuses.
    assert_eq!(want_first, CiSummary::of(statuses[..11].iter().copied()));
});
