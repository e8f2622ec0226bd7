use super::argo::{Application, ApplicationList, LiveResource, ResourceTree};
use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("../../../../fixtures/argocd/", $name))
    };
}

fn app(json: &str) -> Application {
    serde_json::from_str(json).expect("fixture parses")
}

fn helm() -> Application {
    app(fixture!("application-helm-chart.json"))
}

fn live_deployment() -> Workload {
    let live: LiveResource =
        serde_json::from_str(fixture!("resource-deployment.json")).expect("fixture parses");
    live.workload().expect("manifest is a workload")
}

fn live_rollout() -> Workload {
    let live: LiveResource =
        serde_json::from_str(fixture!("resource-rollout.json")).expect("fixture parses");
    live.workload().expect("manifest is a workload")
}

#[test]
fn running_version_of_each_fixture() {
    let list: ApplicationList =
        serde_json::from_str(fixture!("application-list.json")).expect("fixture parses");
    let cases: Vec<(&str, Application, Option<Workload>, Option<&str>)> = vec![
        ("helm repo, synced", helm(), None, Some("1.1.940")),
        ("list item", list.items[0].clone(), None, Some("1.1.940")),
        (
            "multi-source: the chart source's revision",
            app(fixture!("application-multi-source.json")),
            None,
            Some("1.1.940"),
        ),
        (
            "progressing: out of sync, so the last history entry",
            app(fixture!("application-progressing.json")),
            None,
            Some("1.1.939"),
        ),
        (
            "degraded: synced to the new chart",
            app(fixture!("application-degraded.json")),
            None,
            Some("1.1.940"),
        ),
        (
            "comparison error: the last history entry",
            app(fixture!("application-comparison-error.json")),
            None,
            Some("1.1.940"),
        ),
        (
            "git path: the live workload's image",
            app(fixture!("application-git-path.json")),
            Some(live_deployment()),
            Some("1.1.940"),
        ),
        (
            "git path without the workload: the image.tag parameter",
            app(fixture!("application-git-path.json")),
            None,
            Some("1.1.940"),
        ),
    ];
    for (what, app, live, want) in cases {
        assert_eq!(
            running_version(&app, VersionSource::Auto, live.as_ref(), "billing").as_deref(),
            want,
            "{what}"
        );
    }
}

#[test]
fn a_commit_sha_is_never_a_version() {
    let git = app(fixture!("application-git-path.json"));
    assert!(is_commit_sha(
        git.status.sync.revision.as_deref().expect("has a revision")
    ));
    assert_eq!(chart_version(&git), None, "git path: revisions are SHAs");
    assert_eq!(
        running_version(&git, VersionSource::Chart, None, "billing"),
        None
    );
    // Forcing the image on a Helm-repo app reads the live workload instead.
    assert_eq!(
        running_version(
            &helm(),
            VersionSource::Image,
            Some(&live_deployment()),
            "billing"
        )
        .as_deref(),
        Some("1.1.940")
    );
}

#[test]
fn target_revision_is_not_the_running_version() {
    let mut a = app(fixture!("application-progressing.json"));
    assert_eq!(
        a.spec.source.as_ref().map(|s| s.target_revision.as_str()),
        Some("1.1.940")
    );
    assert_eq!(chart_version(&a).as_deref(), Some("1.1.939"));
    assert_eq!(
        target_version(&a, VersionSource::Auto).as_deref(),
        Some("1.1.940")
    );
    // A range is never a target version.
    a.status.sync.status = "Unknown".into();
    if let Some(s) = a.spec.source.as_mut() {
        s.target_revision = "1.1.*".into();
    }
    assert_eq!(target_version(&a, VersionSource::Auto), None);
}

#[test]
fn images_tell_a_version_only_when_unambiguous() {
    let cases = [
        ("registry.example.com/acme/billing:1.1.940", Some("1.1.940")),
        (
            "registry.example.com:5000/acme/billing:1.1.940",
            Some("1.1.940"),
        ),
        ("registry.example.com/acme/billing@sha256:abc", None),
        ("registry.example.com/acme/billing", None),
        ("billing:2", Some("2")),
    ];
    for (image, tag) in cases {
        assert_eq!(image_tag(image), tag, "{image}");
    }
    assert!(is_repo_image(
        "registry.example.com:5000/acme/billing:1",
        "billing"
    ));
    assert!(!is_repo_image(
        "registry.example.com/acme/billing-worker:1",
        "billing"
    ));
    assert!(!is_repo_image("docker.io/istio/proxyv2:1.22.3", "billing"));

    // During a rollout summary.images holds both tags: it tells nothing.
    let mut rolling = app(fixture!("application-progressing.json"));
    rolling.spec.source = None;
    rolling.spec.sources.clear();
    assert_eq!(image_version(&rolling, None, "billing"), None);
    // A digest-pinned live image has no version, whatever the values say.
    let mut pinned = live_deployment();
    pinned.spec.template.spec.containers[0].image =
        "registry.example.com/acme/billing@sha256:0123".into();
    let git = app(fixture!("application-git-path.json"));
    assert_eq!(image_version(&git, Some(&pinned), "billing"), None);
}

#[test]
fn rollout_counts_from_the_live_object_and_from_the_tree() {
    assert_eq!(
        rollout_of(&live_rollout()),
        Rollout {
            replicas: 3,
            ready: 3,
            updated: 1
        }
    );
    let d = rollout_of(&live_deployment());
    assert_eq!(d.replicas, 3);

    let tree: ResourceTree =
        serde_json::from_str(fixture!("resource-tree.json")).expect("fixture parses");
    let workload = workload_of(&helm(), "billing")
        .expect("has a Deployment")
        .clone();
    assert_eq!(workload.kind, "Deployment");
    let counted = rollout_from_tree(&tree, &workload).expect("pods found");
    assert_eq!(counted.replicas, 3);
    assert_eq!(counted.updated, 3, "every pod is on the newest ReplicaSet");
    assert_eq!(counted.ready, 3);

    let tree: ResourceTree =
        serde_json::from_str(fixture!("resource-tree-rollout.json")).expect("fixture parses");
    let rollout = argo::ResourceStatus {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        kind: "Rollout".into(),
        namespace: "billing".into(),
        name: "billing".into(),
        health: None,
    };
    let counted = rollout_from_tree(&tree, &rollout).expect("pods found");
    assert_eq!((counted.replicas, counted.updated), (3, 1), "{counted:?}");
}

fn observed_of<'a>(r: &'a Reading, expected: &'a str) -> Observed<'a> {
    Observed {
        read_ok: true,
        expected: Some(expected),
        found: true,
        current: r.current_version.as_deref(),
        target: r.target_version.as_deref(),
        sync: r.sync_status.as_deref(),
        health: r.health_status.as_deref(),
        operation: r.operation_phase.as_deref(),
    }
}

#[test]
fn state_of_each_fixture() {
    let cases = [
        (
            fixture!("application-helm-chart.json"),
            "1.1.940",
            DeployState::Deployed,
        ),
        (
            fixture!("application-helm-chart.json"),
            "1.1.941",
            DeployState::Mismatch,
        ),
        (
            fixture!("application-multi-source.json"),
            "1.1.940",
            DeployState::Deployed,
        ),
        (
            fixture!("application-progressing.json"),
            "1.1.940",
            DeployState::RollingOut,
        ),
        (
            fixture!("application-degraded.json"),
            "1.1.940",
            DeployState::Failed,
        ),
        (
            fixture!("application-degraded.json"),
            "1.1.939",
            DeployState::Failed,
        ),
        (
            fixture!("application-comparison-error.json"),
            "1.1.941",
            DeployState::Waiting,
        ),
    ];
    for (json, expected, want) in cases {
        let a = app(json);
        let r = read(&a, VersionSource::Auto, None, "billing");
        assert_eq!(state(&observed_of(&r, expected)), want, "{expected}: {r:?}");
    }
    // The git-path app with its live workload.
    let git = app(fixture!("application-git-path.json"));
    let r = read(
        &git,
        VersionSource::Auto,
        Some(&live_deployment()),
        "billing",
    );
    assert_eq!(state(&observed_of(&r, "1.1.940")), DeployState::Deployed);
}

#[test]
fn state_rules_in_order() {
    let ok = Observed {
        read_ok: true,
        expected: Some("2"),
        found: true,
        current: Some("2"),
        target: Some("2"),
        sync: Some("Synced"),
        health: Some("Healthy"),
        operation: Some("Succeeded"),
    };
    let cases: Vec<(&str, Observed<'_>, DeployState)> = vec![
        ("all good", ok, DeployState::Deployed),
        (
            "last read failed",
            Observed {
                read_ok: false,
                ..ok
            },
            DeployState::Unknown,
        ),
        (
            "degraded and unreachable",
            Observed {
                read_ok: false,
                health: Some("Degraded"),
                ..ok
            },
            DeployState::Unknown,
        ),
        (
            "no chart yet",
            Observed {
                expected: None,
                ..ok
            },
            DeployState::Waiting,
        ),
        (
            "not found",
            Observed { found: false, ..ok },
            DeployState::Waiting,
        ),
        (
            "chart not in the index yet",
            Observed {
                sync: Some("Unknown"),
                ..ok
            },
            DeployState::Waiting,
        ),
        (
            "degraded whatever runs",
            Observed {
                health: Some("Degraded"),
                current: Some("1"),
                ..ok
            },
            DeployState::Failed,
        ),
        (
            "sync failed for the expected version",
            Observed {
                operation: Some("Failed"),
                ..ok
            },
            DeployState::Failed,
        ),
        (
            "sync errored for the expected version",
            Observed {
                operation: Some("Error"),
                sync: Some("OutOfSync"),
                ..ok
            },
            DeployState::Failed,
        ),
        (
            "an old version's failed sync",
            Observed {
                operation: Some("Failed"),
                target: Some("1"),
                current: Some("1"),
                ..ok
            },
            DeployState::Mismatch,
        ),
        (
            "operation running",
            Observed {
                operation: Some("Running"),
                ..ok
            },
            DeployState::RollingOut,
        ),
        (
            "progressing",
            Observed {
                health: Some("Progressing"),
                ..ok
            },
            DeployState::RollingOut,
        ),
        (
            "a paused canary",
            Observed {
                health: Some("Suspended"),
                ..ok
            },
            DeployState::RollingOut,
        ),
        (
            "another version",
            Observed {
                current: Some("1"),
                ..ok
            },
            DeployState::Mismatch,
        ),
        (
            "out of sync",
            Observed {
                sync: Some("OutOfSync"),
                ..ok
            },
            DeployState::Mismatch,
        ),
        (
            "health Missing is Argo CD's own",
            Observed {
                health: Some("Missing"),
                ..ok
            },
            DeployState::Mismatch,
        ),
        (
            "no version known",
            Observed {
                current: None,
                ..ok
            },
            DeployState::Mismatch,
        ),
    ];
    for (what, o, want) in cases {
        assert_eq!(state(&o), want, "{what}");
    }
}

#[test]
fn milestones_are_recorded_once_per_expected_version() {
    let mut marks = Marks::default();
    let cases = [
        (DeployState::Mismatch, Some("2"), Some("2"), vec![]),
        (DeployState::RollingOut, Some("2"), Some("1"), vec![]),
        (
            DeployState::RollingOut,
            Some("2"),
            Some("2"),
            vec![Milestone::Started],
        ),
        (DeployState::RollingOut, Some("2"), Some("2"), vec![]),
        (
            DeployState::Failed,
            Some("2"),
            Some("2"),
            vec![Milestone::Failed],
        ),
        (DeployState::Failed, Some("2"), Some("2"), vec![]),
        (
            DeployState::Deployed,
            Some("2"),
            Some("2"),
            vec![Milestone::Observed],
        ),
        (DeployState::Deployed, Some("2"), Some("2"), vec![]),
        (
            DeployState::RollingOut,
            Some("3"),
            Some("3"),
            vec![Milestone::Started],
        ),
        (
            DeployState::Deployed,
            Some("3"),
            Some("3"),
            vec![Milestone::Observed],
        ),
        (DeployState::Deployed, None, None, vec![]),
    ];
    for (i, (state, expected, target, want)) in cases.into_iter().enumerate() {
        assert_eq!(
            milestones(&mut marks, state, expected, target),
            want,
            "step {i}"
        );
    }
}

#[test]
fn messages_name_the_cause() {
    let degraded = read(
        &app(fixture!("application-degraded.json")),
        VersionSource::Auto,
        None,
        "billing",
    );
    let message = degraded.message.expect("a message");
    assert!(
        message.contains("one or more synchronization tasks completed unsuccessfully"),
        "{message}"
    );
    assert!(
        message.contains("Deployment \"billing\" exceeded its progress deadline"),
        "the degraded resource says why: {message}"
    );
    let waiting = read(
        &app(fixture!("application-comparison-error.json")),
        VersionSource::Auto,
        None,
        "billing",
    );
    assert!(
        waiting
            .message
            .expect("a message")
            .starts_with("Failed to load target state")
    );
    assert_eq!(
        read(&helm(), VersionSource::Auto, None, "billing").message,
        None
    );
}

#[test]
fn fingerprint_changes_with_what_the_list_says() {
    let a = read(&helm(), VersionSource::Auto, None, "billing");
    let b = read(&helm(), VersionSource::Auto, None, "billing");
    assert_eq!(a.fingerprint, b.fingerprint);
    let p = read(
        &app(fixture!("application-progressing.json")),
        VersionSource::Auto,
        None,
        "billing",
    );
    assert_ne!(a.fingerprint, p.fingerprint);
    assert!(is_rolling_out(&app(fixture!(
        "application-progressing.json"
    ))));
    assert!(!is_rolling_out(&helm()));
}

#[test]
fn summaries_count_untracked_repos_as_waiting() {
    let s = EnvironmentSummary::of(
        "prod",
        [
            Some(DeployState::Deployed),
            None,
            Some(DeployState::Failed),
            Some(DeployState::Deployed),
        ],
    );
    assert_eq!((s.total, s.deployed, s.waiting, s.failed), (4, 2, 1, 1));
    assert!(!s.all_deployed());
    assert!(EnvironmentSummary::of("qa", [Some(DeployState::Deployed)]).all_deployed());
    assert!(!EnvironmentSummary::of("qa", []).all_deployed());
}
