//! The Argo CD client against the simulated Argo CD, over real sockets.

use std::time::{Duration, Instant};

use shipyard_argocd::{ArgoCd, ArgoCdOptions, ArgoError, ClientStats, ListFilter, ResourceStatus};
use shipyard_sim::argocd::{
    AppKind, ArgoCdOptions as SimOptions, ArgoCdSim, CloudflareAccess, Fault, Rejection, SimApp,
    git_revision, values_revision,
};

type TestResult = Result<(), Box<dyn std::error::Error>>;

const TOKEN: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzaGlweWFyZCJ9.c2VjcmV0LXNpZ25hdHVyZQ";
const CF_ID: &str = "4f2b8e1c9a7d3f5e.access";
const CF_SECRET: &str = "cf-secret-7d3f5e6b0c2a4d8e1f3b5c7a9d0e2f4b";

/// A `qa` instance with `billing-qa` (Helm repo), `ledger-qa` (multi-source) and `web-qa`
/// (git path) in project `payments`, and `search-qa` in project `platform`.
async fn qa(options: SimOptions) -> std::io::Result<ArgoCdSim> {
    let sim = ArgoCdSim::start(options).await?;
    sim.add_app(SimApp::new("billing-qa", "payments", "billing", "1.1.939"));
    sim.add_app(SimApp::new("ledger-qa", "payments", "ledger", "2.0.3").kind(AppKind::MultiSource));
    sim.add_app(SimApp::new("web-qa", "payments", "web", "4.2.0").kind(AppKind::GitPath));
    sim.add_app(SimApp::new("search-qa", "platform", "search", "0.9.1").replicas(1));
    Ok(sim)
}

fn options(url: &str) -> ArgoCdOptions {
    let mut options = ArgoCdOptions::new("qa", url, TOKEN);
    options.timeout = Duration::from_secs(5);
    options.retries = 3;
    options
}

fn client(options: ArgoCdOptions) -> Result<ArgoCd, ArgoError> {
    ArgoCd::new(options)
}

/// Every request the sim saw, as `path?query`.
fn paths(sim: &ArgoCdSim) -> Vec<String> {
    sim.request_log().into_iter().map(|r| r.path).collect()
}

/// No request ever asked Argo CD to refresh.
fn assert_no_refresh(sim: &ArgoCdSim) {
    assert_eq!(sim.requests().refresh, 0);
    for path in paths(sim) {
        assert!(!path.contains("refresh"), "{path}");
    }
}

/// The error's `Display` and `Debug` carry no credential.
fn assert_no_secrets(e: &ArgoError) {
    let text = format!("{e} {e:?}");
    assert!(!text.contains(TOKEN), "{text}");
    assert!(!text.contains(CF_SECRET), "{text}");
}

fn deployment(app: &shipyard_argocd::Application) -> Option<ResourceStatus> {
    app.status
        .resources
        .iter()
        .find(|r| r.kind == "Deployment" && r.group == "apps")
        .cloned()
}

#[tokio::test]
async fn reads_one_application_of_each_kind() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(options(&sim.url()))?;
    assert_eq!(argo.environment(), "qa");

    let billing = argo.application("billing-qa").await?;
    assert_eq!(billing.metadata.name, "billing-qa");
    assert_eq!(billing.metadata.namespace, "argocd");
    assert_eq!(billing.spec.project, "payments");
    let source = billing.spec.source.clone().ok_or("a single source")?;
    assert_eq!(source.chart.as_deref(), Some("billing"));
    assert_eq!(source.target_revision, "1.1.939");
    assert!(billing.spec.sources.is_empty());
    assert_eq!(billing.status.sync.status, "Synced");
    assert_eq!(billing.status.sync.revision.as_deref(), Some("1.1.939"));
    assert_eq!(billing.status.health.status, "Healthy");
    assert!(billing.operation.is_none());
    assert!(!billing.status.history.is_empty());
    assert!(
        billing
            .status
            .summary
            .images
            .iter()
            .any(|i| i.ends_with("/billing:1.1.939")),
        "{:?}",
        billing.status.summary.images
    );
    assert!(
        deployment(&billing).is_some(),
        "{:?}",
        billing.status.resources
    );

    let ledger = argo.application("ledger-qa").await?;
    assert!(ledger.spec.source.is_none());
    assert_eq!(ledger.spec.sources.len(), 2);
    assert_eq!(ledger.spec.sources[0].chart.as_deref(), Some("ledger"));
    assert_eq!(ledger.spec.sources[0].target_revision, "2.0.3");
    assert!(ledger.spec.sources[1].reference.is_some());
    assert_eq!(
        ledger.status.sync.revisions,
        vec!["2.0.3".to_owned(), values_revision("2.0.3")]
    );

    let web = argo.application("web-qa").await?;
    let source = web.spec.source.clone().ok_or("a single source")?;
    assert_eq!(source.path.as_deref(), Some("charts/web"));
    assert!(source.chart.is_none());
    let tag = source
        .helm
        .iter()
        .flat_map(|h| h.parameters.iter())
        .find(|p| p.name == "image.tag")
        .map(|p| p.value.clone());
    assert_eq!(tag.as_deref(), Some("4.2.0"));
    assert_eq!(
        web.status.sync.revision.as_deref(),
        Some(git_revision("4.2.0").as_str())
    );

    // One plain GET per call, no query at all without a project or app namespace.
    assert_eq!(
        paths(&sim),
        [
            "/api/v1/applications/billing-qa",
            "/api/v1/applications/ledger-qa",
            "/api/v1/applications/web-qa",
        ]
    );
    assert_eq!(
        argo.stats(),
        ClientStats {
            requests: 3,
            retries: 0,
            failures: 0
        }
    );
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn a_sync_in_flight_is_seen_as_it_runs() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(options(&sim.url()))?;
    sim.set_target("billing-qa", "1.1.940");
    let app = argo.application("billing-qa").await?;
    assert_eq!(app.status.sync.status, "OutOfSync");
    sim.start_sync("billing-qa");
    sim.progress("billing-qa", 1);
    let app = argo.application("billing-qa").await?;
    assert!(app.operation.is_some());
    assert_eq!(app.status.health.status, "Progressing");
    let images = &app.status.summary.images;
    assert!(images.iter().any(|i| i.ends_with(":1.1.939")), "{images:?}");
    assert!(images.iter().any(|i| i.ends_with(":1.1.940")), "{images:?}");
    sim.finish_sync("billing-qa");
    let app = argo.application("billing-qa").await?;
    assert!(app.operation.is_none());
    assert_eq!(app.status.health.status, "Healthy");
    assert_eq!(app.status.sync.revision.as_deref(), Some("1.1.940"));
    sim.degrade(
        "billing-qa",
        "Deployment \"billing\" exceeded its progress deadline",
    );
    let app = argo.application("billing-qa").await?;
    assert_eq!(app.status.health.status, "Degraded");
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn lists_by_name_and_by_selector() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(options(&sim.url()))?;

    let names = |list: &shipyard_argocd::ApplicationList| -> Vec<String> {
        list.items.iter().map(|a| a.metadata.name.clone()).collect()
    };
    let all = argo.applications(&ListFilter::all()).await?;
    assert_eq!(
        names(&all),
        ["billing-qa", "ledger-qa", "search-qa", "web-qa"]
    );
    let qa_apps = argo
        .applications(&ListFilter::by_selector("env=qa"))
        .await?;
    assert_eq!(names(&qa_apps), names(&all));
    let team = argo
        .applications(&ListFilter::by_selector("env=qa,team=platform"))
        .await?;
    assert_eq!(names(&team), ["search-qa"]);
    let none = argo
        .applications(&ListFilter::by_selector("env=uat"))
        .await?;
    assert!(none.items.is_empty());

    let one = argo.applications(&ListFilter::by_name("ledger-qa")).await?;
    assert_eq!(names(&one), ["ledger-qa"]);
    assert_eq!(one.items[0].spec.sources.len(), 2);
    let both = ListFilter {
        name: Some("ledger-qa".into()),
        selector: Some("repo=billing".into()),
    };
    assert!(argo.applications(&both).await?.items.is_empty());
    let missing = argo.applications(&ListFilter::by_name("nope-qa")).await?;
    assert!(missing.items.is_empty());

    // Forbidden apps are left out of the list silently.
    sim.forbid_app("web-qa", true);
    let all = argo.applications(&ListFilter::default()).await?;
    assert_eq!(names(&all), ["billing-qa", "ledger-qa", "search-qa"]);
    // And removed ones are gone.
    sim.remove_app("billing-qa");
    let all = argo.applications(&ListFilter::default()).await?;
    assert_eq!(names(&all), ["ledger-qa", "search-qa"]);

    // A selector Argo CD cannot parse is a final refusal with code 3.
    let e = match argo
        .applications(&ListFilter::by_selector("env in qa"))
        .await
    {
        Ok(_) => return Err("a bad selector was accepted".into()),
        Err(e) => e,
    };
    assert!(
        matches!(
            e,
            ArgoError::Rejected {
                status: 400,
                code: Some(3),
                ..
            }
        ),
        "{e:?}"
    );

    let log = paths(&sim);
    assert!(
        log.contains(&"/api/v1/applications?selector=env%3Dqa%2Cteam%3Dplatform".to_owned()),
        "{log:?}"
    );
    assert!(
        log.contains(&"/api/v1/applications?name=ledger-qa".to_owned()),
        "{log:?}"
    );
    assert!(log.contains(&"/api/v1/applications".to_owned()), "{log:?}");
    assert_eq!(argo.stats().retries, 0);
    assert_eq!(argo.stats().failures, 1);
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn a_project_and_an_app_namespace_narrow_every_call() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    sim.add_app(SimApp::new("jobs-qa", "payments", "jobs", "3.1.0").namespace("apps-qa"));
    let argo = client(options(&sim.url()).project("payments"))?;
    let list = argo.applications(&ListFilter::all()).await?;
    let names: Vec<&str> = list
        .items
        .iter()
        .map(|a| a.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["billing-qa", "jobs-qa", "ledger-qa", "web-qa"]);
    assert!(paths(&sim).contains(&"/api/v1/applications?projects=payments".to_owned()));

    // Outside Argo CD's namespace an app needs `appNamespace`.
    let e = match argo.application("jobs-qa").await {
        Ok(_) => return Err("found without appNamespace".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::NotFound { .. }), "{e:?}");
    let namespaced = client(
        options(&sim.url())
            .project("payments")
            .app_namespace("apps-qa"),
    )?;
    let jobs = namespaced.application("jobs-qa").await?;
    assert_eq!(jobs.metadata.namespace, "apps-qa");
    let tree = namespaced.resource_tree("jobs-qa").await?;
    assert!(!tree.nodes.is_empty());
    let list = namespaced.applications(&ListFilter::all()).await?;
    let names: Vec<&str> = list
        .items
        .iter()
        .map(|a| a.metadata.name.as_str())
        .collect();
    assert_eq!(names, ["jobs-qa"]);
    let log = paths(&sim);
    assert!(
        log.contains(
            &"/api/v1/applications/jobs-qa?appNamespace=apps-qa&project=payments".to_owned()
        ),
        "{log:?}"
    );
    assert!(
        log.contains(&"/api/v1/applications?projects=payments&appNamespace=apps-qa".to_owned()),
        "{log:?}"
    );
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn reads_the_tree_and_the_live_deployment() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(options(&sim.url()).project("payments"))?;
    let tree = argo.resource_tree("billing-qa").await?;
    let node = tree
        .nodes
        .iter()
        .find(|n| n.kind == "Deployment" && n.group == "apps")
        .ok_or("a Deployment node")?;
    assert_eq!(node.name, "billing");
    assert_eq!(node.namespace, "billing");
    assert_eq!(
        node.health.as_ref().map(|h| h.status.as_str()),
        Some("Healthy")
    );
    let pods: Vec<_> = tree.nodes.iter().filter(|n| n.kind == "Pod").collect();
    assert_eq!(pods.len(), 3);
    assert!(
        pods.iter()
            .all(|p| p.images.iter().any(|i| i.ends_with("/billing:1.1.939"))),
        "{pods:?}"
    );
    assert!(pods.iter().all(|p| !p.parent_refs.is_empty()));

    let app = argo.application("billing-qa").await?;
    let target = deployment(&app).ok_or("a Deployment in status.resources")?;
    let live = argo.live_resource("billing-qa", &target).await?;
    let workload = live.workload().ok_or("the manifest is a workload")?;
    assert_eq!(workload.spec.replicas, Some(3));
    assert_eq!(workload.status.ready_replicas, Some(3));
    assert!(
        workload
            .spec
            .template
            .spec
            .containers
            .iter()
            .any(|c| c.image.ends_with("/billing:1.1.939")),
        "{:?}",
        workload.spec.template.spec.containers
    );
    let manifest: serde_json::Value = serde_json::from_str(&live.manifest)?;
    assert_eq!(manifest["kind"], "Deployment");

    let log = paths(&sim);
    assert!(
        log.contains(&"/api/v1/applications/billing-qa/resource-tree?project=payments".to_owned()),
        "{log:?}"
    );
    let resource = log
        .iter()
        .find(|p| p.starts_with("/api/v1/applications/billing-qa/resource?"))
        .ok_or("a resource request")?;
    assert_eq!(
        resource,
        "/api/v1/applications/billing-qa/resource?namespace=billing&resourceName=billing&group=apps&version=v1&kind=Deployment&project=payments"
    );

    // A resource outside the application is Argo CD's 400 code 3, not a missing app.
    let stranger = ResourceStatus {
        name: "ledger".into(),
        ..target.clone()
    };
    let e = match argo.live_resource("billing-qa", &stranger).await {
        Ok(_) => return Err("a resource outside the app was read".into()),
        Err(e) => e,
    };
    assert!(
        matches!(
            e,
            ArgoError::Rejected {
                status: 400,
                code: Some(3),
                ..
            }
        ),
        "{e:?}"
    );
    assert!(!e.is_not_found_or_forbidden());
    // A resource of a missing app is the app missing.
    let e = match argo.live_resource("nope-qa", &target).await {
        Ok(_) => return Err("a resource of a missing app was read".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::NotFound { .. }), "{e:?}");
    assert_eq!(sim.requests().resource, 3);
    assert_eq!(sim.requests().tree, 1);
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn missing_and_forbidden_apps() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let plain = client(options(&sim.url()))?;
    let scoped = client(options(&sim.url()).project("payments"))?;

    // Without a project Argo CD answers a missing app like a forbidden one.
    let e = match plain.application("nope-qa").await {
        Ok(_) => return Err("a missing app was found".into()),
        Err(e) => e,
    };
    assert_eq!(
        e,
        ArgoError::PermissionDenied {
            environment: "qa".into(),
            app: "nope-qa".into(),
            project: None,
        }
    );
    assert!(e.is_not_found_or_forbidden() && !e.is_transient());
    assert!(
        e.to_string().contains("argocd.environments.qa.project"),
        "{e}"
    );

    let e = match scoped.application("nope-qa").await {
        Ok(_) => return Err("a missing app was found".into()),
        Err(e) => e,
    };
    assert_eq!(
        e,
        ArgoError::NotFound {
            environment: "qa".into(),
            app: "nope-qa".into(),
            project: Some("payments".into()),
        }
    );
    assert_eq!(
        e.to_string(),
        "Argo CD qa: no application nope-qa in project payments"
    );

    // An app of another project is not in this one.
    let e = match scoped.application("search-qa").await {
        Ok(_) => return Err("an app of another project was found".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::NotFound { .. }), "{e:?}");

    // Forbidden: 403 with or without a project.
    sim.forbid_app("billing-qa", true);
    for argo in [&plain, &scoped] {
        let e = match argo.application("billing-qa").await {
            Ok(_) => return Err("a forbidden app was read".into()),
            Err(e) => e,
        };
        assert!(matches!(e, ArgoError::PermissionDenied { .. }), "{e:?}");
        let e = match argo.resource_tree("billing-qa").await {
            Ok(_) => return Err("a forbidden tree was read".into()),
            Err(e) => e,
        };
        assert!(matches!(e, ArgoError::PermissionDenied { .. }), "{e:?}");
    }
    sim.forbid_app("billing-qa", false);

    // Removed: the same answers as for an app that never was.
    sim.remove_app("ledger-qa");
    let e = match scoped.resource_tree("ledger-qa").await {
        Ok(_) => return Err("a removed app's tree was read".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::NotFound { .. }), "{e:?}");

    // Names are one path segment each, whatever they hold.
    let e = match plain.application("a b/c?d").await {
        Ok(_) => return Err("a strange name was found".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::PermissionDenied { .. }), "{e:?}");
    assert!(
        paths(&sim).contains(&"/api/v1/applications/a%20b%2Fc%3Fd".to_owned()),
        "{:?}",
        paths(&sim)
    );
    // Names that cannot be sent are refused before any request.
    let before = sim.request_log().len();
    for name in ["", " ", ".", ".."] {
        let e = match plain.application(name).await {
            Ok(_) => return Err(format!("{name:?} was sent").into()),
            Err(e) => e,
        };
        assert!(matches!(e, ArgoError::Invalid { .. }), "{e:?}");
    }
    assert_eq!(sim.request_log().len(), before);

    // None of it was retried.
    assert_eq!(plain.stats().retries + scoped.stats().retries, 0);
    assert_eq!(
        sim.request_log().len() as u64,
        plain.stats().requests + scoped.stats().requests
    );
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn a_token_argo_cd_does_not_accept_is_unauthenticated() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let other = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.b3RoZXItc2lnbmF0dXJl";
    for (token, message) in [
        (
            other,
            "invalid session: token signature is invalid: signature is invalid",
        ),
        ("not-a-jwt", "no session information"),
    ] {
        let argo = client(ArgoCdOptions {
            token: token.to_owned(),
            ..options(&sim.url())
        })?;
        for result in [
            argo.application("billing-qa").await.map(|_| ()),
            argo.applications(&ListFilter::all()).await.map(|_| ()),
        ] {
            let e = match result {
                Ok(()) => return Err("a wrong token was accepted".into()),
                Err(e) => e,
            };
            assert_eq!(
                e,
                ArgoError::Unauthenticated {
                    environment: "qa".into(),
                    message: message.into(),
                }
            );
            let text = format!("{e} {e:?} {argo:?}");
            assert!(!text.contains(token), "{text}");
        }
        assert_eq!(argo.stats().retries, 0);
        assert_eq!(argo.stats().failures, 2);
    }
    assert_eq!(sim.requests().rejected, 4);
    Ok(())
}

#[tokio::test]
async fn cloudflare_access_rejections_name_the_environment() -> TestResult {
    for rejection in [Rejection::Redirect, Rejection::Html403] {
        let access = CloudflareAccess::new(CF_ID, CF_SECRET).rejection(rejection);
        let sim = qa(SimOptions::new("qa", TOKEN).cloudflare(access)).await?;
        let expected_status = match rejection {
            Rejection::Redirect => 302,
            Rejection::Html403 => 403,
        };

        let without = client(options(&sim.url()))?;
        let wrong = client(options(&sim.url()).cloudflare(CF_ID, "not-the-secret"))?;
        for argo in [&without, &wrong] {
            let e = match argo.application("billing-qa").await {
                Ok(_) => return Err("Cloudflare let a request through".into()),
                Err(e) => e,
            };
            match &e {
                ArgoError::CloudflareRejected {
                    environment,
                    status,
                    location,
                } => {
                    assert_eq!(environment, "qa");
                    assert_eq!(*status, expected_status);
                    let host = (rejection == Rejection::Redirect)
                        .then(|| "acme.cloudflareaccess.com".to_owned());
                    assert_eq!(*location, host);
                }
                other => return Err(format!("{rejection:?}: {other:?}").into()),
            }
            let text = e.to_string();
            assert!(
                text.starts_with("Cloudflare Access rejected the service token for qa (HTTP "),
                "{text}"
            );
            assert!(!e.is_transient() && !e.is_not_found_or_forbidden());
            assert_no_secrets(&e);
            let e = match argo.applications(&ListFilter::all()).await {
                Ok(_) => return Err("Cloudflare let a list through".into()),
                Err(e) => e,
            };
            assert!(matches!(e, ArgoError::CloudflareRejected { .. }), "{e:?}");
        }

        let right = client(options(&sim.url()).cloudflare(CF_ID, CF_SECRET))?;
        let app = right.application("billing-qa").await?;
        assert_eq!(app.metadata.name, "billing-qa");
        assert_eq!(right.applications(&ListFilter::all()).await?.items.len(), 4);

        // A revoked service token: rejected although it is the configured one.
        sim.set_cloudflare_rejects(true);
        let e = match right.application("billing-qa").await {
            Ok(_) => return Err("a revoked service token was accepted".into()),
            Err(e) => e,
        };
        assert!(matches!(e, ArgoError::CloudflareRejected { .. }), "{e:?}");

        // Rejections are final: one request each, no retries.
        assert_eq!(sim.requests().cloudflare_rejected, 5);
        assert_eq!(without.stats().requests, 2);
        assert_eq!(wrong.stats().requests, 2);
        assert_eq!(right.stats().requests, 3);
        for argo in [&without, &wrong, &right] {
            assert_eq!(argo.stats().retries, 0);
            let text = format!("{argo:?}");
            assert!(!text.contains(TOKEN) && !text.contains(CF_SECRET), "{text}");
        }
        assert_no_refresh(&sim);
    }
    Ok(())
}

#[tokio::test]
async fn the_path_prefix_is_kept() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN).path_prefix("/argocd")).await?;
    assert!(sim.url().ends_with("/argocd"));
    for url in [sim.url(), format!("{}/", sim.url())] {
        let argo = client(options(&url).project("payments"))?;
        argo.application("billing-qa").await?;
        argo.applications(&ListFilter::by_selector("env=qa"))
            .await?;
        argo.resource_tree("billing-qa").await?;
    }
    for path in paths(&sim) {
        assert!(path.starts_with("/argocd/api/v1/applications"), "{path}");
    }

    // Without the prefix the routes are unknown: a 404 text/plain, not a missing app.
    let argo = client(options(&sim.origin()).project("payments"))?;
    let e = match argo.application("billing-qa").await {
        Ok(_) => return Err("an app was read without the prefix".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::Unavailable { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("path prefix"), "{text}");
    assert!(text.contains("/api/v1/applications/billing-qa"), "{text}");
    assert_eq!(argo.stats().requests, 1, "a 404 is not retried");
    assert_eq!(sim.requests().other, 1);
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn server_errors_and_resets_are_retried() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(options(&sim.url()))?;
    for fault in [Fault::Internal, Fault::Unavailable, Fault::Reset] {
        sim.reset_requests();
        let before = argo.stats();
        sim.set_fault(fault, 2);
        let app = argo.application("billing-qa").await?;
        assert_eq!(app.metadata.name, "billing-qa");
        let after = argo.stats();
        assert_eq!(after.requests - before.requests, 3, "{fault:?}");
        assert_eq!(after.retries - before.retries, 2, "{fault:?}");
        assert_eq!(after.failures, before.failures, "{fault:?}");
        let log = sim.request_log();
        assert_eq!(log.len(), 3, "{fault:?}: {log:?}");
        let expected = match fault {
            Fault::Internal => Some(500),
            Fault::Unavailable => Some(503),
            _ => None,
        };
        assert_eq!(log[0].status, expected, "{fault:?}");
        assert_eq!(log[2].status, Some(200), "{fault:?}");
    }
    // The list and the tree retry alike.
    sim.push_faults([Fault::Reset, Fault::Internal]);
    assert_eq!(argo.applications(&ListFilter::all()).await?.items.len(), 4);
    sim.push_faults([Fault::Unavailable]);
    assert!(!argo.resource_tree("web-qa").await?.nodes.is_empty());
    assert_eq!(argo.stats().retries, 9);
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn gives_up_after_the_configured_retries() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(ArgoCdOptions {
        retries: 2,
        ..options(&sim.url())
    })?;
    for fault in [Fault::Internal, Fault::Unavailable, Fault::Reset] {
        sim.reset_requests();
        sim.set_fault(fault, 10);
        let before = argo.stats();
        let e = match argo.application("billing-qa").await {
            Ok(_) => return Err(format!("{fault:?}: answered through the faults").into()),
            Err(e) => e,
        };
        assert!(
            matches!(e, ArgoError::Unavailable { .. }),
            "{fault:?}: {e:?}"
        );
        assert!(e.is_transient());
        let text = e.to_string();
        assert!(text.starts_with("Argo CD qa is unavailable: "), "{text}");
        assert!(text.contains("after 2 retries"), "{text}");
        assert_no_secrets(&e);
        assert_eq!(sim.request_log().len(), 3, "{fault:?}");
        let after = argo.stats();
        assert_eq!(after.requests - before.requests, 3);
        assert_eq!(after.retries - before.retries, 2);
        assert_eq!(after.failures - before.failures, 1);
    }
    sim.clear_faults();

    // Down for good: the same, then fine again once it is back.
    sim.set_down(true);
    let e = match argo.applications(&ListFilter::all()).await {
        Ok(_) => return Err("answered while down".into()),
        Err(e) => e,
    };
    assert!(e.to_string().contains("503"), "{e}");
    sim.set_down(false);
    argo.applications(&ListFilter::all()).await?;

    // No retries configured: the first failure is final.
    let once = client(ArgoCdOptions {
        retries: 0,
        ..options(&sim.url())
    })?;
    sim.set_fault(Fault::Internal, 1);
    let e = match once.application("billing-qa").await {
        Ok(_) => return Err("answered through a fault".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::Unavailable { .. }), "{e:?}");
    assert_eq!(once.stats().requests, 1);
    assert_no_refresh(&sim);
    Ok(())
}

#[tokio::test]
async fn a_slow_answer_times_out_and_is_retried() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let argo = client(ArgoCdOptions {
        timeout: Duration::from_millis(300),
        retries: 1,
        ..options(&sim.url())
    })?;
    sim.set_fault(Fault::Delay(Duration::from_secs(2)), 1);
    let started = Instant::now();
    argo.application("billing-qa").await?;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(argo.stats().retries, 1);

    sim.set_fault(Fault::Delay(Duration::from_secs(2)), 2);
    let e = match argo.application("billing-qa").await {
        Ok(_) => return Err("a slow answer did not time out".into()),
        Err(e) => e,
    };
    assert!(e.to_string().contains("timed out"), "{e}");
    assert!(e.is_transient());
    Ok(())
}

#[tokio::test]
async fn clones_share_the_counters_and_secrets_stay_hidden() -> TestResult {
    let sim = qa(SimOptions::new("qa", TOKEN)).await?;
    let opts = options(&sim.url()).cloudflare(CF_ID, CF_SECRET);
    let shown = format!("{opts:?}");
    assert!(!shown.contains(TOKEN), "{shown}");
    assert!(!shown.contains(CF_SECRET), "{shown}");
    assert!(shown.contains("qa"), "{shown}");
    let argo = client(opts)?;
    let twin = argo.clone();
    let (a, b) = tokio::join!(
        argo.application("billing-qa"),
        twin.application("ledger-qa")
    );
    a?;
    b?;
    assert_eq!(argo.stats().requests, 2);
    assert_eq!(twin.stats(), argo.stats());
    let shown = format!("{argo:?}");
    assert!(
        !shown.contains(TOKEN) && !shown.contains(CF_SECRET),
        "{shown}"
    );
    assert!(shown.contains("qa"), "{shown}");

    // Half a service token is refused up front.
    let half = ArgoCdOptions {
        cf_client_secret: Some(CF_SECRET.into()),
        ..options(&sim.url())
    };
    let e = match ArgoCd::new(half) {
        Ok(_) => return Err("half a service token was accepted".into()),
        Err(e) => e,
    };
    assert!(matches!(e, ArgoError::Invalid { .. }), "{e:?}");
    assert_no_secrets(&e);
    Ok(())
}
