//! The deployment tracker against three simulated Argo CDs (qa, uat, prod) and the simulated
//! GitHub over loopback, on both database backends, driven by a manual clock: CI publishes a
//! chart, each environment rolls it out, the states and versions are read from Argo CD's
//! real-shaped answers, and the approved release turns `deployed` by itself, once. Missing and
//! forbidden apps, Cloudflare Access rejections and an outage behave as tracking.md says,
//! without one environment holding up another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use regex::Regex;
use shipyard_config::{
    ArgocdConfig, ArgocdEnvironment, Config, GithubConfig, RepoFilter, Secret, VersionSource,
};
use shipyard_core::chart::DEFAULT_PATTERN;
use shipyard_core::deploy::DeployState;
use shipyard_core::{Actor, ReleaseStatus, Role, SignOffKind};
use shipyard_engine::ci::CiOptions;
use shipyard_engine::ci_rules::CiSettings;
use shipyard_engine::deploy::{DeployOptions, DeployTracker};
use shipyard_engine::{
    Caller, DeployStatusRecord, Engine, EngineSettings, ManualClock, NewRelease, ReleasePatch,
};
use shipyard_sim::argocd::{
    AppKind, ArgoCdOptions as SimOptions, ArgoCdSim, CloudflareAccess, Rejection, SimApp,
};
use shipyard_sim::github::SimGithub;
use shipyard_store::{Backend, testing};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

const START: i64 = 1_800_000_000;
const ENVS: [&str; 3] = ["qa", "uat", "prod"];
const POLL: i64 = 30;

/// The repos of most tests: one of each kind of Argo CD application, with the version each
/// runs before the release and the chart CI publishes for it.
const REPOS: [(&str, AppKind, &str, &str); 3] = [
    ("billing", AppKind::HelmRepo, "1.1.939", "1.1.940"),
    ("ledger", AppKind::MultiSource, "2.0.3", "2.0.4"),
    ("search", AppKind::GitPath, "3.1.0", "3.1.1"),
];

fn caller(name: &str, roles: &[Role]) -> Caller {
    Caller {
        actor: Actor {
            subject: format!("token:{name}"),
            name: name.into(),
        },
        roles: roles.to_vec(),
    }
}

/// How one simulated environment is set up.
struct EnvSetup {
    project: Option<&'static str>,
    cloudflare: Option<Rejection>,
    /// The service token Shipyard sends is not the one Access expects.
    wrong_cf_secret: bool,
}

impl EnvSetup {
    fn plain() -> Self {
        EnvSetup {
            project: None,
            cloudflare: None,
            wrong_cf_secret: false,
        }
    }
}

struct World {
    github: SimGithub,
    argo: BTreeMap<&'static str, ArgoCdSim>,
    engine: Engine,
    clock: Arc<ManualClock>,
    db_url: String,
}

impl World {
    fn env(&self, name: &str) -> &ArgoCdSim {
        &self.argo[name]
    }

    fn tracker(&self) -> DeployTracker {
        self.engine
            .deploy()
            .expect("deployment tracking is configured")
    }

    async fn tick(&self) -> shipyard_engine::deploy::DeployRound {
        self.tracker().tick().await.unwrap()
    }

    fn advance(&self, secs: i64) {
        self.clock.advance(secs);
    }

    async fn rows(&self, id: &str) -> Vec<DeployStatusRecord> {
        self.engine
            .release(id)
            .await
            .unwrap()
            .deployment
            .expect("deployment rows are shown when Argo CD is configured")
            .rows
    }

    async fn row(&self, id: &str, repo: &str, env: &str) -> DeployStatusRecord {
        self.rows(id)
            .await
            .into_iter()
            .find(|r| r.repo_name == repo && r.environment == env)
            .unwrap_or_else(|| panic!("no row for {repo} in {env}"))
    }

    fn reset_counts(&self) {
        for sim in self.argo.values() {
            sim.reset_requests();
        }
    }

    async fn finish(self) {
        self.engine.close().await;
        testing::drop_database(&self.db_url).await;
        self.github.shutdown().await;
        for (_, sim) in self.argo {
            sim.shutdown().await;
        }
    }
}

/// An org whose `repos` each have a release PR, and one simulated Argo CD per environment
/// (set up by `setup`) running each repo's app at its old version.
async fn world(
    backend: Backend,
    repos: &[(&str, AppKind, &str, &str)],
    setup: impl Fn(&str) -> EnvSetup,
) -> World {
    shipyard::install_crypto_provider();
    let github = SimGithub::start(ORG).await.unwrap();
    let token = shipyard::demo::random_token("ghs_");
    github.set_token(Some(token.clone()));
    for (name, ..) in repos {
        repo_with_changes(&github, name, &[commit("feat: x", "alice")]);
        github.open_pr(name, "uat", "master", "Release");
    }
    let mut argo = BTreeMap::new();
    let mut environments = Vec::new();
    for env in ENVS {
        let s = setup(env);
        let argo_token = shipyard_sim::argocd::random_api_token();
        let cf_id = format!("{}.access", shipyard::demo::random_token("cf"));
        let cf_secret = shipyard::demo::random_token("cfs");
        let mut options = SimOptions::new(env, &argo_token);
        if let Some(rejection) = s.cloudflare {
            options =
                options.cloudflare(CloudflareAccess::new(&cf_id, &cf_secret).rejection(rejection));
        }
        let sim = ArgoCdSim::start(options).await.unwrap();
        for (name, kind, running, _) in repos {
            sim.add_app(
                SimApp::new(
                    &format!("{name}-{env}"),
                    s.project.unwrap_or("payments"),
                    name,
                    running,
                )
                .kind(*kind),
            );
        }
        environments.push((
            env.to_owned(),
            ArgocdEnvironment {
                url: sim.url(),
                token: Some(Secret::new(argo_token)),
                cf_client_id: s.cloudflare.map(|_| cf_id.clone()),
                cf_client_secret: s.cloudflare.map(|_| {
                    Secret::new(if s.wrong_cf_secret {
                        "not-the-secret".to_owned()
                    } else {
                        cf_secret.clone()
                    })
                }),
                app_suffix: format!("-{env}"),
                project: s.project.map(str::to_owned),
                app_namespace: None,
            },
        ));
        argo.insert(env, sim);
    }
    let argocd = ArgocdConfig {
        poll_interval: Duration::from_secs(POLL as u64),
        cache_ttl: Duration::from_secs(10),
        deploy_environment: "prod".into(),
        environments,
        version_source: VersionSource::Auto,
        overrides: BTreeMap::new(),
        webhook_secret: None,
        selector: None,
    };
    let config = Config {
        github: Some(GithubConfig {
            api_url: github.url(),
            graphql_url: Some(github.graphql_url()),
            web_url: None,
            org: ORG.to_owned(),
            token: Some(Secret::new(token)),
            webhook_secret: None,
            repos: RepoFilter::default(),
            infra_paths: vec![],
            concurrency: 4,
            pr_comments: false,
        }),
        ..Config::default()
    };
    let db_url = testing::fresh_database_url(backend).await;
    let clock = Arc::new(ManualClock::new(START));
    let store = shipyard_store::Store::connect(&db_url).await.unwrap();
    store.migrate().await.unwrap();
    let engine = Engine::new(
        store,
        shipyard::app::github_setup(&config, clock.clone()).unwrap(),
        EngineSettings {
            ci: Some(CiOptions {
                settings: CiSettings {
                    workflow_file: "general.yaml".into(),
                    poll_interval: 30,
                    webhook_poll_interval: 300,
                    poll_timeout: 86_400,
                    no_workflow_after_checks: 3,
                },
                helm_job_pattern: "helm".into(),
                chart_version_pattern: Regex::new(DEFAULT_PATTERN).unwrap(),
                rate_limit_backoff: 300,
                claim_lease: 120,
            }),
            deploy: Some(DeployOptions::from_config(&argocd, "shipyard-tests").unwrap()),
            ..EngineSettings::default()
        },
        clock.clone(),
    );
    World {
        github,
        argo,
        engine,
        clock,
        db_url,
    }
}

/// Creates the release (with a chat channel), merges every PR and lets CI publish each repo's
/// chart: deployment tracking starts.
async fn release_built(w: &World, repos: &[(&str, AppKind, &str, &str)], approve: bool) -> String {
    let id = release_merged(w, repos, approve).await;
    let ci = w.engine.ci().unwrap();
    ci.tick().await.unwrap();
    let rows = w.rows(&id).await;
    assert_eq!(rows.len(), repos.len() * ENVS.len(), "{rows:#?}");
    id
}

/// Creates the release, merges every PR and builds each chart; CI tracking has started but
/// has not read the runs yet.
async fn release_merged(w: &World, repos: &[(&str, AppKind, &str, &str)], approve: bool) -> String {
    let admin = caller("admin", &[Role::Admin]);
    let created = w
        .engine
        .create_release(
            &admin,
            NewRelease {
                source_branch: "uat".into(),
                dest_branch: "master".into(),
                channel_id: Some("releases".into()),
                chat_root_id: None,
            },
        )
        .await
        .unwrap();
    let id = created.view.release.id.to_string();
    if approve {
        w.engine
            .approve(&caller("dev", &[Role::DevApprover]), &id, SignOffKind::Dev)
            .await
            .unwrap();
        w.engine
            .approve(&caller("qa", &[Role::QaApprover]), &id, SignOffKind::Qa)
            .await
            .unwrap();
    }
    for (name, _, _, chart) in repos {
        let sha = w.github.merge_pr(name, 1);
        w.github
            .successful_build(name, "general.yaml", "master", &sha, chart);
    }
    w.engine.refresh(&admin, &id).await.unwrap();
    id
}

async fn cancel(w: &World, id: &str) {
    let view = w
        .engine
        .update_release(
            &caller("admin", &[Role::Admin]),
            id,
            ReleasePatch {
                status: Some("cancelled".into()),
                ..ReleasePatch::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(view.release.status, ReleaseStatus::Cancelled);
}

/// Rolls `repos` out in `env`: the new target, a sync that starts, and one that finishes.
fn sync_started(w: &World, env: &str, repos: &[(&str, AppKind, &str, &str)]) {
    for (name, _, _, chart) in repos {
        let app = format!("{name}-{env}");
        w.env(env).set_target(&app, chart);
        w.env(env).start_sync(&app);
    }
}

fn sync_finished(w: &World, env: &str, repos: &[(&str, AppKind, &str, &str)]) {
    for (name, ..) in repos {
        w.env(env).finish_sync(&format!("{name}-{env}"));
    }
}

async fn history(w: &World, id: &str) -> Vec<(String, String, serde_json::Value)> {
    w.engine
        .history(id)
        .await
        .unwrap()
        .into_iter()
        .map(|h| {
            (
                h.action.as_str().to_owned(),
                h.actor.name,
                h.details.fields(),
            )
        })
        .collect()
}

both_backends!(
    a_chart_rolls_out_everywhere_and_the_release_turns_deployed_once,
    |backend| async move {
        let w = world(backend, &REPOS, |_| EnvSetup::plain()).await;
        let id = release_built(&w, &REPOS, true).await;
        assert!(
            w.rows(&id)
                .await
                .iter()
                .all(|r| r.state() == DeployState::Unknown),
            "nothing read yet"
        );

        // First read: every environment still runs the old versions.
        let round = w.tick().await;
        assert_eq!(round.checked, 9);
        for (name, _, running, chart) in REPOS {
            for env in ENVS {
                let r = w.row(&id, name, env).await;
                assert_eq!(r.state(), DeployState::Mismatch, "{name} in {env}: {r:?}");
                assert_eq!(
                    r.current_version.as_deref(),
                    Some(running),
                    "{name} in {env}"
                );
                assert_eq!(r.expected_version.as_deref(), Some(chart));
                assert!(r.found);
                assert_eq!(r.error, None);
            }
        }
        for env in ENVS {
            let n = w.env(env).requests();
            assert_eq!(n.list, 1, "one list call answers for every app of {env}");
            assert_eq!(n.refresh, 0, "never ?refresh=");
        }

        // qa syncs: rolling out, with the rollout counts of the live Deployment.
        w.reset_counts();
        sync_started(&w, "qa", &REPOS);
        w.env("qa").progress("billing-qa", 1);
        w.advance(POLL);
        w.tick().await;
        let billing = w.row(&id, "billing", "qa").await;
        assert_eq!(billing.state(), DeployState::RollingOut, "{billing:?}");
        assert_eq!(billing.current_version.as_deref(), Some("1.1.939"));
        assert_eq!(billing.target_version.as_deref(), Some("1.1.940"));
        let rollout = billing.rollout.expect("rollout counts while rolling out");
        assert_eq!((rollout.replicas, rollout.updated), (3, 1));
        assert_eq!(billing.operation_phase.as_deref(), Some("Running"));
        for env in ["uat", "prod"] {
            let n = w.env(env).requests();
            assert_eq!(
                (n.list, n.total()),
                (1, 1),
                "{env}: nothing changed, one list call and nothing else"
            );
        }
        assert!(
            w.env("qa").requests().total() <= 1 + 3,
            "qa: the list plus the apps that are changing"
        );

        sync_finished(&w, "qa", &REPOS);
        w.advance(POLL);
        w.tick().await;
        for (name, _, _, chart) in REPOS {
            let r = w.row(&id, name, "qa").await;
            assert_eq!(r.state(), DeployState::Deployed, "{name}: {r:?}");
            assert_eq!(
                r.current_version.as_deref(),
                Some(chart),
                "{name}: the running version"
            );
            assert_eq!(r.sync_status.as_deref(), Some("Synced"));
            assert_eq!(r.health_status.as_deref(), Some("Healthy"));
        }
        assert_eq!(
            w.engine.release(&id).await.unwrap().release.status,
            ReleaseStatus::Approved,
            "not deployed before prod runs it"
        );

        for env in ["uat", "prod"] {
            sync_started(&w, env, &REPOS);
            w.advance(POLL);
            w.tick().await;
            sync_finished(&w, env, &REPOS);
            w.advance(POLL);
            w.tick().await;
        }
        let view = w.engine.release(&id).await.unwrap();
        assert_eq!(view.release.status, ReleaseStatus::Deployed);
        assert!(!view.deployment_pending());
        let summary = view.deployment_summary().unwrap();
        assert!(
            summary.iter().all(|s| s.all_deployed() && s.total == 3),
            "{summary:?}"
        );

        let h = history(&w, &id).await;
        let count = |action: &str, env: &str| {
            h.iter()
                .filter(|(a, _, d)| {
                    a == action && d["environment"] == env && d.get("repo").is_some()
                })
                .count()
        };
        for env in ENVS {
            assert_eq!(count("deploy_started", env), 3, "{env}: {h:#?}");
            assert_eq!(count("deploy_observed", env), 3, "{env}");
        }
        let released: Vec<_> = h
            .iter()
            .filter(|(a, _, d)| a == "deploy_observed" && d.get("repo").is_none())
            .collect();
        assert_eq!(released.len(), 1, "{h:#?}");
        assert_eq!(released[0].1, "Argo CD");
        assert_eq!(released[0].2["environment"], "prod");
        assert!(
            h.iter().any(|(a, who, d)| a == "status_changed"
                && who == "Argo CD"
                && d["to"] == "deployed")
        );
        let store = shipyard_store::Store::connect(&w.db_url).await.unwrap();
        let outbox = store
            .notifications(&shipyard_core::ReleaseId::parse(&id).unwrap())
            .await
            .unwrap();
        store.close().await;
        assert_eq!(
            outbox.iter().filter(|n| n.kind == "deployed").count(),
            1,
            "the chat's Release Deployed notice, once"
        );

        // Deployed everywhere: parked, nothing is asked any more.
        w.reset_counts();
        for _ in 0..5 {
            w.advance(POLL * 4);
            let round = w.tick().await;
            assert_eq!(round.checked, 0);
        }
        for env in ENVS {
            assert_eq!(w.env(env).requests().total(), 0, "{env}");
        }
        let h2 = history(&w, &id).await;
        assert_eq!(h2.len(), h.len(), "nothing recorded twice");
        w.finish().await;
    }
);

both_backends!(
    degraded_and_failed_syncs_are_failed_with_argo_cds_message,
    |backend| async move {
        let repos = &REPOS[..1];
        let w = world(backend, repos, |_| EnvSetup::plain()).await;
        let id = release_built(&w, repos, false).await;
        w.tick().await;
        w.env("uat").set_target("billing-uat", "1.1.940");
        w.env("uat").start_sync("billing-uat");
        w.env("uat").degrade(
            "billing-uat",
            "Deployment \"billing\" exceeded its progress deadline",
        );
        w.advance(POLL);
        w.tick().await;
        let r = w.row(&id, "billing", "uat").await;
        assert_eq!(r.state(), DeployState::Failed, "{r:?}");
        assert_eq!(r.health_status.as_deref(), Some("Degraded"));
        assert!(
            r.message
                .as_deref()
                .unwrap_or("")
                .contains("progress deadline"),
            "{r:?}"
        );
        w.advance(POLL);
        w.tick().await;
        let failed: Vec<_> = history(&w, &id)
            .await
            .into_iter()
            .filter(|(a, ..)| a == "deploy_failed")
            .collect();
        assert_eq!(failed.len(), 1, "once per expected version: {failed:?}");
        assert_eq!(failed[0].2["environment"], "uat");
        assert!(
            failed[0].2["message"]
                .as_str()
                .unwrap()
                .contains("progress deadline")
        );
        // Other environments are untouched.
        assert_eq!(
            w.row(&id, "billing", "qa").await.state(),
            DeployState::Mismatch
        );
        w.finish().await;
    }
);

both_backends!(
    missing_and_forbidden_apps_are_not_found_with_the_reason,
    |backend| async move {
        let repos = &REPOS[..2];
        // qa names its project (a missing app is a 404 there), uat and prod do not (403).
        let w = world(backend, repos, |env| EnvSetup {
            project: (env == "qa").then_some("payments"),
            ..EnvSetup::plain()
        })
        .await;
        w.env("qa").remove_app("billing-qa");
        w.env("uat").remove_app("billing-uat");
        w.env("prod").forbid_app("ledger-prod", true);
        let id = release_built(&w, repos, false).await;
        w.tick().await;
        let qa = w.row(&id, "billing", "qa").await;
        assert!(!qa.found);
        assert_eq!(qa.state(), DeployState::Waiting);
        let qa_error = qa.error.clone().unwrap();
        assert!(
            qa_error.contains("billing-qa") && qa_error.contains("payments"),
            "{qa_error}"
        );
        let uat = w.row(&id, "billing", "uat").await;
        assert!(!uat.found);
        assert_eq!(uat.state(), DeployState::Waiting);
        assert!(
            uat.error.as_deref().unwrap().contains("billing-uat"),
            "{uat:?}"
        );
        let prod = w.row(&id, "ledger", "prod").await;
        assert!(!prod.found);
        assert!(
            prod.error.as_deref().unwrap().contains("ledger-prod"),
            "{prod:?}"
        );
        // The readable apps are read normally.
        assert_eq!(
            w.row(&id, "ledger", "qa").await.state(),
            DeployState::Mismatch
        );
        assert_eq!(
            w.row(&id, "billing", "prod").await.state(),
            DeployState::Mismatch
        );

        // The reason is known: the next polls ask only the list.
        w.reset_counts();
        w.advance(POLL);
        w.tick().await;
        for env in ENVS {
            let n = w.env(env).requests();
            assert_eq!((n.list, n.get), (1, 0), "{env}: {n:?}");
        }
        // The app appears: it is found at the next poll.
        w.env("qa")
            .add_app(SimApp::new("billing-qa", "payments", "billing", "1.1.940"));
        w.advance(POLL);
        w.tick().await;
        let qa = w.row(&id, "billing", "qa").await;
        assert!(qa.found, "{qa:?}");
        assert_eq!(qa.error, None);
        assert_eq!(qa.state(), DeployState::Deployed);
        w.finish().await;
    }
);

both_backends!(
    cloudflare_rejections_are_named_and_other_environments_carry_on,
    |backend| async move {
        let repos = &REPOS[..1];
        let w = world(backend, repos, |env| match env {
            "qa" => EnvSetup {
                cloudflare: Some(Rejection::Redirect),
                wrong_cf_secret: true,
                ..EnvSetup::plain()
            },
            "uat" => EnvSetup {
                cloudflare: Some(Rejection::Html403),
                wrong_cf_secret: true,
                ..EnvSetup::plain()
            },
            _ => EnvSetup {
                cloudflare: Some(Rejection::Redirect),
                ..EnvSetup::plain()
            },
        })
        .await;
        let id = release_built(&w, repos, false).await;
        let round = w.tick().await;
        assert_eq!(round.failed_environments, ["qa", "uat"]);
        for env in ["qa", "uat"] {
            let r = w.row(&id, "billing", env).await;
            assert_eq!(r.state(), DeployState::Unknown, "{env}");
            let error = r.error.clone().unwrap_or_default();
            assert!(
                error.starts_with(&format!(
                    "Cloudflare Access rejected the service token for {env}"
                )),
                "{env}: {r:?}"
            );
        }
        // prod sends the right service token: read normally.
        let prod = w.row(&id, "billing", "prod").await;
        assert_eq!(prod.state(), DeployState::Mismatch, "{prod:?}");
        assert_eq!(prod.current_version.as_deref(), Some("1.1.939"));
        assert!(w.env("qa").requests().cloudflare_rejected >= 1);
        // Readiness names the environments Shipyard cannot read.
        let health = w.engine.deploy_health().unwrap();
        let reachable: Vec<_> = health
            .iter()
            .map(|h| (h.environment.as_str(), h.reachable))
            .collect();
        assert_eq!(
            reachable,
            [
                ("qa", Some(false)),
                ("uat", Some(false)),
                ("prod", Some(true))
            ]
        );
        assert!(
            health[0]
                .error
                .as_deref()
                .unwrap()
                .contains("Cloudflare Access")
        );
        w.finish().await;
    }
);

both_backends!(
    an_environment_down_keeps_its_last_values_and_recovers_by_itself,
    |backend| async move {
        let repos = &REPOS[..1];
        let w = world(backend, repos, |_| EnvSetup::plain()).await;
        let id = release_built(&w, repos, false).await;
        w.tick().await;
        assert_eq!(
            w.row(&id, "billing", "uat").await.state(),
            DeployState::Mismatch
        );

        w.env("uat").set_down(true);
        w.advance(POLL);
        let round = w.tick().await;
        assert_eq!(round.failed_environments, ["uat"]);
        let down = w.row(&id, "billing", "uat").await;
        assert_eq!(down.state(), DeployState::Unknown);
        assert!(down.error.is_some(), "{down:?}");
        assert_eq!(
            down.current_version.as_deref(),
            Some("1.1.939"),
            "last values kept"
        );
        assert_eq!(down.sync_status.as_deref(), Some("Synced"));
        // The others carry on meanwhile.
        w.env("prod").set_target("billing-prod", "1.1.940");
        w.env("prod").start_sync("billing-prod");
        w.env("prod").finish_sync("billing-prod");
        w.advance(POLL);
        w.tick().await;
        assert_eq!(
            w.row(&id, "billing", "prod").await.state(),
            DeployState::Deployed
        );

        // Back up: read again within the back-off, without anyone's help.
        w.env("uat").set_down(false);
        let mut recovered = false;
        for _ in 0..20 {
            w.advance(POLL);
            w.tick().await;
            let r = w.row(&id, "billing", "uat").await;
            if r.error.is_none() {
                assert_eq!(r.state(), DeployState::Mismatch);
                recovered = true;
                break;
            }
        }
        assert!(recovered, "uat is read again after its outage");
        w.finish().await;
    }
);

both_backends!(
    a_release_signed_off_after_prod_runs_it_turns_deployed_at_the_sign_off,
    |backend| async move {
        let repos = &REPOS[..1];
        let w = world(backend, repos, |_| EnvSetup::plain()).await;
        let id = release_built(&w, repos, false).await;
        for env in ENVS {
            sync_started(&w, env, repos);
            sync_finished(&w, env, repos);
        }
        w.advance(POLL);
        let round = w.tick().await;
        assert!(
            round.deployed_releases.is_empty(),
            "pending: sign-offs come first"
        );
        assert_eq!(
            w.engine.release(&id).await.unwrap().release.status,
            ReleaseStatus::Pending
        );
        assert!(
            w.rows(&id).await.iter().all(|r| r.next_check_at.is_none()),
            "deployed everywhere: parked"
        );
        w.engine
            .approve(&caller("dev", &[Role::DevApprover]), &id, SignOffKind::Dev)
            .await
            .unwrap();
        let view = w
            .engine
            .approve(&caller("qa", &[Role::QaApprover]), &id, SignOffKind::Qa)
            .await
            .unwrap();
        assert_eq!(view.release.status, ReleaseStatus::Deployed);
        let h = history(&w, &id).await;
        let statuses: Vec<&serde_json::Value> = h
            .iter()
            .filter(|(a, ..)| a == "status_changed")
            .map(|(_, _, d)| &d["to"])
            .collect();
        assert_eq!(statuses, ["approved", "deployed"]);
        w.finish().await;
    }
);

both_backends!(
    a_cancelled_release_is_not_followed_any_more,
    |backend| async move {
        let w = world(backend, &REPOS, |_| EnvSetup::plain()).await;
        let id = release_built(&w, &REPOS, true).await;
        w.advance(POLL);
        assert!(w.tick().await.checked > 0, "followed while approved");
        cancel(&w, &id).await;
        assert!(w.rows(&id).await.iter().all(|r| r.next_check_at.is_none()));
        w.reset_counts();
        sync_started(&w, "qa", &REPOS);
        assert_eq!(
            w.engine.deploy_hint("billing-qa").await.unwrap(),
            0,
            "hint ignored"
        );
        for _ in 0..3 {
            w.advance(POLL);
            let round = w.tick().await;
            assert_eq!(round.checked, 0);
        }
        for env in ENVS {
            assert_eq!(w.env(env).requests().total(), 0, "{env}");
        }
        w.finish().await;
    }
);

both_backends!(
    a_chart_built_after_the_release_was_cancelled_is_shown_but_not_followed,
    |backend| async move {
        let repos = &REPOS[..1];
        let w = world(backend, repos, |_| EnvSetup::plain()).await;
        let id = release_merged(&w, repos, false).await;
        cancel(&w, &id).await;
        w.engine.ci().unwrap().tick().await.unwrap();
        let rows = w.rows(&id).await;
        assert_eq!(rows.len(), ENVS.len(), "{rows:#?}");
        for row in &rows {
            assert_eq!(row.expected_version.as_deref(), Some(repos[0].3));
            assert_eq!(row.next_check_at, None, "{row:#?}");
        }
        w.advance(POLL);
        assert_eq!(w.tick().await.checked, 0);
        w.finish().await;
    }
);

both_backends!(
    the_release_pull_request_comment_shows_each_environment,
    |backend| async move {
        let repos = &REPOS[..1];
        let (name, _, old, new) = repos[0];
        let w = world(backend, repos, |_| EnvSetup::plain()).await;
        let id = release_built(&w, repos, true).await;
        sync_started(&w, "qa", repos);
        sync_finished(&w, "qa", repos);
        sync_started(&w, "uat", repos);
        w.advance(POLL);
        w.tick().await;
        let view = w.engine.release(&id).await.unwrap();
        let plans = w.engine.pr_comment_plans(&view);
        assert_eq!(plans.len(), 1);
        let body = &plans[0].body;
        assert_eq!(plans[0].repo, format!("{ORG}/{name}"));
        assert!(
            body.contains(&format!("| Deploy: qa | ✅ success — runs {new} |")),
            "{body}"
        );
        assert!(body.contains("| Deploy: uat | 🔄 running"), "{body}");
        assert!(
            body.contains(&format!(
                "| Deploy: prod | ⏳ pending — runs {old}, expects {new} |"
            )),
            "{body}"
        );
        assert!(body.contains(&format!("chart {new}")), "{body}");
        w.finish().await;
    }
);
