//! Deployment tracking rows: starting and restarting for a new chart, reading back, leases,
//! version-checked writes, push hints and summaries; every test on SQLite and on PostgreSQL.

mod common;

use common::*;
use shipyard_core::ReleaseId;
use shipyard_core::deploy::{DeployState, Rollout};
use shipyard_store::{Backend, DeployStatusRecord, RepoRecord, Store, StoreError};
use std::collections::HashSet;

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

fn apps(repo: &str) -> Vec<(String, String)> {
    ["qa", "prod"]
        .iter()
        .map(|env| ((*env).to_owned(), format!("{repo}-{env}")))
        .collect()
}

async fn start(store: &Store, repo: &RepoRecord, version: &str, now: i64) -> u64 {
    let mut tx = store.begin().await.expect("a transaction");
    let n = tx
        .start_deploy_tracking(
            repo.id,
            &repo.release_id,
            &repo.change.repo_name,
            &apps(&repo.change.repo_name),
            version,
            now,
        )
        .await
        .expect("tracking starts");
    tx.commit().await.expect("commits");
    n
}

/// A row as a successful read at `now` would leave it, deployed when `current` is expected.
fn read_at(mut r: DeployStatusRecord, current: &str, now: i64) -> DeployStatusRecord {
    r.found = true;
    r.current_version = Some(current.into());
    r.target_version = Some(current.into());
    r.sync_status = Some("Synced".into());
    r.health_status = Some("Healthy".into());
    r.operation_phase = Some("Succeeded".into());
    r.last_checked_at = Some(now);
    r.last_ok_at = Some(now);
    r.last_changed_at = Some(now);
    r.next_check_at = Some(now + 30);
    r
}

both_backends!(tracking_starts_once_per_chart, |store| async move {
    let (release, repos) = release_with_repos(&store, 1, &["api", "billing"]).await;
    let api = &repos[0];
    assert_eq!(
        start(&store, api, "1.0.1", 100).await,
        2,
        "one row per environment"
    );
    assert_eq!(
        start(&store, api, "1.0.1", 150).await,
        0,
        "same chart: nothing changes"
    );
    let rows = store.deploy_statuses(&release).await.unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].environment, "prod");
    assert_eq!(rows[1].app_name, "api-qa");
    assert!(rows.iter().all(|r| r.state() == DeployState::Unknown));
    assert!(rows.iter().all(|r| r.next_check_at == Some(100)));

    // Read once, then a new chart: due again, unknown until read, what ran is kept.
    let qa = rows[1].clone();
    assert!(
        store
            .update_deploy_status(&read_at(qa, "1.0.1", 110))
            .await
            .unwrap()
    );
    assert_eq!(start(&store, api, "1.0.2", 200).await, 2);
    let qa = store
        .deploy_statuses_of_repo(api.id)
        .await
        .unwrap()
        .remove(1);
    assert_eq!(qa.expected_version.as_deref(), Some("1.0.2"));
    assert_eq!(qa.current_version.as_deref(), Some("1.0.1"));
    assert_eq!(qa.next_check_at, Some(200));
    assert_eq!(qa.state(), DeployState::Unknown);

    // Only repos that exist can be tracked; a rolled-back start leaves nothing.
    let mut tx = store.begin().await.unwrap();
    let e = tx
        .start_deploy_tracking(9_999, &release, "ghost", &apps("ghost"), "1", 100)
        .await;
    assert!(matches!(e, Err(StoreError::NotFound)), "{e:?}");
    drop(tx);
    let mut tx = store.begin().await.unwrap();
    tx.start_deploy_tracking(repos[1].id, &release, "billing", &apps("billing"), "1", 1)
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    assert!(
        store
            .deploy_statuses_of_repo(repos[1].id)
            .await
            .unwrap()
            .is_empty()
    );
});

both_backends!(every_field_reads_back, |store| async move {
    let (_, repos) = release_with_repos(&store, 1, &["api"]).await;
    start(&store, &repos[0], "2.0.0", 100).await;
    let row = store
        .deploy_statuses_of_repo(repos[0].id)
        .await
        .unwrap()
        .remove(0);
    let mut full = read_at(row, "1.9.0", 120);
    full.sync_status = Some("OutOfSync".into());
    full.health_status = Some("Progressing".into());
    full.operation_phase = Some("Running".into());
    full.target_version = Some("2.0.0".into());
    full.revision = Some("2.0.0".into());
    full.message = Some("waiting for healthy state of apps/Deployment/api".into());
    full.rollout = Some(Rollout {
        replicas: 3,
        ready: 2,
        updated: 1,
    });
    full.fingerprint = Some("fp".into());
    full.error = None;
    full.marks.started = Some("2.0.0".into());
    full.marks.failed = Some("1.9.0".into());
    assert!(store.update_deploy_status(&full).await.unwrap());
    let back = store
        .deploy_statuses_of_repo(repos[0].id)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(back.version, full.version + 1);
    assert!(!back.differs_from(&full), "{back:?}\n{full:?}");
    assert_eq!(back.state(), DeployState::RollingOut);
});

both_backends!(
    stale_writes_lose_and_touches_change_only_times,
    |store| async move {
        let (release, repos) = release_with_repos(&store, 1, &["api"]).await;
        start(&store, &repos[0], "1", 100).await;
        let row = store
            .deploy_statuses_of_repo(repos[0].id)
            .await
            .unwrap()
            .remove(0);
        let first = read_at(row.clone(), "1", 110);
        assert!(store.update_deploy_status(&first).await.unwrap());
        assert!(
            !store
                .update_deploy_status(&read_at(row, "0", 111))
                .await
                .unwrap(),
            "read at an old version"
        );
        let stored = store
            .deploy_statuses_of_repo(repos[0].id)
            .await
            .unwrap()
            .remove(0);
        let mut touched = stored.clone();
        touched.last_checked_at = Some(140);
        touched.last_ok_at = Some(140);
        touched.next_check_at = Some(170);
        touched.current_version = Some("ignored by a touch".into());
        assert!(store.touch_deploy_status(&touched).await.unwrap());
        assert!(
            !store.touch_deploy_status(&touched).await.unwrap(),
            "version moved on"
        );
        let after = store.deploy_statuses(&release).await.unwrap().remove(0);
        assert_eq!(after.current_version.as_deref(), Some("1"));
        assert_eq!(
            (after.last_checked_at, after.next_check_at),
            (Some(140), Some(170))
        );
        assert_eq!(after.last_changed_at, Some(110));
    }
);

both_backends!(
    claims_lease_due_rows_and_skip_parked_ones,
    |store| async move {
        let (_, repos) = release_with_repos(&store, 1, &["api", "billing"]).await;
        start(&store, &repos[0], "1", 100).await;
        start(&store, &repos[1], "1", 90).await;
        assert!(
            store
                .claim_due_deploy_checks(80, 60, 10)
                .await
                .unwrap()
                .is_empty(),
            "none due yet"
        );
        let got = store.claim_due_deploy_checks(100, 60, 3).await.unwrap();
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].repo_name, "billing", "oldest due first");
        let rest = store.claim_due_deploy_checks(100, 60, 10).await.unwrap();
        assert_eq!(rest.len(), 1, "leased rows are not handed out again");
        assert_eq!(
            store
                .claim_due_deploy_checks(159, 60, 10)
                .await
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            store
                .claim_due_deploy_checks(160, 60, 10)
                .await
                .unwrap()
                .len(),
            4,
            "both claims' leases ran out"
        );

        // A parked row (deployed everywhere) is never due until a push hint.
        let mut parked = read_at(rest[0].clone(), "1", 200);
        parked.next_check_at = None;
        assert!(store.update_deploy_status(&parked).await.unwrap());
        assert!(
            store
                .claim_due_deploy_checks(10_000, 60, 10)
                .await
                .unwrap()
                .iter()
                .all(|r| r.app_name != parked.app_name)
        );
        assert_eq!(store.make_app_due(&parked.app_name, 300).await.unwrap(), 1);
        assert_eq!(store.make_app_due("no-such-app", 300).await.unwrap(), 0);
        let due = store.claim_due_deploy_checks(300, 60, 10).await.unwrap();
        assert!(due.iter().any(|r| r.app_name == parked.app_name));
    }
);

both_backends!(concurrent_claimers_never_share_a_row, |store| async move {
    let names: Vec<String> = (0..20).map(|i| format!("svc-{i:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let (_, repos) = release_with_repos(&store, 1, &names).await;
    for repo in &repos {
        start(&store, repo, "1", 100).await;
    }
    let mut claimers = Vec::new();
    for _ in 0..5 {
        let store = store.clone();
        claimers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let got = store.claim_due_deploy_checks(200, 60, 3).await.unwrap();
                if got.is_empty() {
                    return mine;
                }
                mine.extend(got.into_iter().map(|r| (r.repo_id, r.environment)));
                tokio::task::yield_now().await;
            }
        }));
    }
    let mut seen = HashSet::new();
    for claimer in claimers {
        for key in claimer.await.unwrap() {
            assert!(seen.insert(key.clone()), "{key:?} claimed twice");
        }
    }
    assert_eq!(seen.len(), repos.len() * 2);
});

both_backends!(
    summaries_count_included_repos_by_state,
    |store| async move {
        let (release, repos) = release_with_repos(&store, 1, &["api", "billing", "web"]).await;
        let (other, _) = release_with_repos(&store, 2, &["api"]).await;
        for repo in &repos {
            start(&store, repo, "1", 100).await;
        }
        let rows = store.deploy_statuses(&release).await.unwrap();
        for row in rows.iter().filter(|r| r.repo_name == "api") {
            assert!(
                store
                    .update_deploy_status(&read_at(row.clone(), "1", 110))
                    .await
                    .unwrap()
            );
        }
        let mut tx = store.begin().await.unwrap();
        tx.set_repo_excluded(repos[2].id, true).await.unwrap();
        tx.commit().await.unwrap();
        let counts = store
            .deploy_summaries(&[release.clone(), other.clone()])
            .await
            .unwrap();
        let prod = &counts[&release]["prod"];
        assert_eq!(prod.get(&DeployState::Deployed), Some(&1));
        assert_eq!(
            prod.get(&DeployState::Unknown),
            Some(&1),
            "web is excluded: {prod:?}"
        );
        assert!(!counts.contains_key(&other), "nothing tracked there");
        assert!(store.deploy_summaries(&[]).await.unwrap().is_empty());
    }
);

both_backends!(
    a_repo_parks_only_when_deployed_everywhere_and_unleased,
    |store| async move {
        let (_, repos) = release_with_repos(&store, 1, &["api"]).await;
        let repo = &repos[0];
        start(&store, repo, "1", 100).await;
        let rows = store.deploy_statuses_of_repo(repo.id).await.unwrap();
        let (prod, qa) = (rows[0].clone(), rows[1].clone());
        assert!(
            store
                .update_deploy_status(&read_at(qa, "1", 110))
                .await
                .unwrap()
        );
        assert_eq!(
            store.park_deployed_repo(repo.id, 110).await.unwrap(),
            0,
            "prod is not deployed yet"
        );
        assert!(
            store
                .update_deploy_status(&read_at(prod, "1", 111))
                .await
                .unwrap()
        );
        let leased = store.claim_due_deploy_checks(141, 60, 1).await.unwrap();
        assert_eq!(leased.len(), 1);
        assert_eq!(
            store.park_deployed_repo(repo.id, 150).await.unwrap(),
            0,
            "a row is leased"
        );
        assert!(
            store.touch_deploy_status(&leased[0]).await.unwrap(),
            "the lease ends"
        );
        assert_eq!(store.park_deployed_repo(repo.id, 150).await.unwrap(), 2);
        let rows = store.deploy_statuses_of_repo(repo.id).await.unwrap();
        assert!(
            rows.iter()
                .all(|r| r.next_check_at.is_none() && r.state() == DeployState::Deployed)
        );
        assert_eq!(
            store.park_deployed_repo(repo.id, 160).await.unwrap(),
            0,
            "already parked"
        );
    }
);
