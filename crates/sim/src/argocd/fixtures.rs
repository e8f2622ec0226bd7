//! Argo CD's (and Cloudflare Access's) wire examples from `fixtures/argocd/`, embedded at build
//! time. Every answer of the simulation starts as a copy of one of these and is then patched, so
//! its shapes are Argo CD's shapes.

use std::sync::LazyLock;

use serde_json::Value;

/// The registry and organisation of every simulated image, as in the fixtures' Pod images.
pub(crate) const IMAGE_REGISTRY: &str = "registry.example.com/acme";

/// The Istio sidecar every simulated Pod carries, as in the fixtures.
pub(crate) const SIDECAR_IMAGE: &str = "docker.io/istio/proxyv2:1.22.3";

macro_rules! fixture {
    ($file:literal) => {
        (
            $file,
            include_str!(concat!("../../../../fixtures/argocd/", $file)),
        )
    };
}

/// The fixture files by name, for the parser and for tests of this module.
pub(crate) const FILES: &[(&str, &str)] = &[
    fixture!("application-helm-chart.json"),
    fixture!("application-list.json"),
    fixture!("application-multi-source.json"),
    fixture!("application-git-path.json"),
    fixture!("application-progressing.json"),
    fixture!("application-degraded.json"),
    fixture!("application-comparison-error.json"),
    fixture!("resource-tree.json"),
    fixture!("resource-deployment.json"),
    fixture!("error-not-found.json"),
    fixture!("error-permission-denied.json"),
    fixture!("error-unauthenticated.json"),
    fixture!("error-invalid-session.json"),
    fixture!("error-resource-not-in-app.json"),
];

/// Cloudflare Access's redirect to its login page, as raw HTTP (status line, headers, body).
pub(crate) const CLOUDFLARE_302: &str =
    include_str!("../../../../fixtures/argocd/cloudflare-access-302.txt");

/// Cloudflare Access's 403 page for a Service-Auth-only application.
pub(crate) const CLOUDFLARE_403: &str =
    include_str!("../../../../fixtures/argocd/cloudflare-access-403.html");

/// The parsed JSON fixtures.
pub(crate) struct Fixtures {
    /// Single-source Helm-repo app, Synced/Healthy (`application-helm-chart.json`).
    pub helm: Value,
    /// `GET /api/v1/applications?name=…` (`application-list.json`).
    pub list: Value,
    /// Chart + git `ref: values` sources (`application-multi-source.json`).
    pub multi: Value,
    /// Chart from a git path (`application-git-path.json`).
    pub git: Value,
    /// Sync in flight (`application-progressing.json`).
    pub progressing: Value,
    /// Failed sync, Degraded (`application-degraded.json`).
    pub degraded: Value,
    /// Target chart not in the index (`application-comparison-error.json`).
    pub comparison_error: Value,
    /// `GET …/resource-tree` (`resource-tree.json`).
    pub tree: Value,
    /// The live Deployment inside `resource-deployment.json`'s `manifest` string, parsed.
    pub deployment: Value,
    /// The `{"manifest": …}` envelope of `resource-deployment.json`.
    pub resource: Value,
    /// 404, code 5.
    pub not_found: Value,
    /// 403, code 7.
    pub permission_denied: Value,
    /// 401, code 16, no token.
    pub unauthenticated: Value,
    /// 401, code 16, a token this instance did not sign.
    pub invalid_session: Value,
    /// 400, code 3, `/resource` for something outside the app's tree.
    pub resource_not_in_app: Value,
}

fn parse(name: &str) -> Value {
    let Some((_, text)) = FILES.iter().find(|(n, _)| *n == name) else {
        panic!("fixture {name} is not embedded");
    };
    // The files are part of the build; a broken one is a bug caught by this module's tests.
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture {name} is not JSON: {e}"))
}

/// The fixtures, parsed once.
pub(crate) static FIXTURES: LazyLock<Fixtures> = LazyLock::new(|| {
    let resource = parse("resource-deployment.json");
    let deployment = resource
        .get("manifest")
        .and_then(Value::as_str)
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_else(|| panic!("resource-deployment.json has no JSON manifest string"));
    Fixtures {
        helm: parse("application-helm-chart.json"),
        list: parse("application-list.json"),
        multi: parse("application-multi-source.json"),
        git: parse("application-git-path.json"),
        progressing: parse("application-progressing.json"),
        degraded: parse("application-degraded.json"),
        comparison_error: parse("application-comparison-error.json"),
        tree: parse("resource-tree.json"),
        deployment,
        resource,
        not_found: parse("error-not-found.json"),
        permission_denied: parse("error-permission-denied.json"),
        unauthenticated: parse("error-unauthenticated.json"),
        invalid_session: parse("error-invalid-session.json"),
        resource_not_in_app: parse("error-resource-not-in-app.json"),
    }
});

/// The first tree node of this kind in `resource-tree.json`.
pub(crate) fn tree_node(kind: &str) -> Value {
    FIXTURES.tree["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["kind"] == kind))
        .cloned()
        .unwrap_or_else(|| panic!("resource-tree.json has no {kind} node"))
}

/// The first `status.resources[]` entry of this kind in `application-helm-chart.json`.
pub(crate) fn status_resource(kind: &str) -> Value {
    FIXTURES.helm["status"]["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|n| n["kind"] == kind))
        .cloned()
        .unwrap_or_else(|| panic!("application-helm-chart.json has no {kind} resource"))
}

/// `cloudflare-access-302.txt` split into its status, headers (in order) and body.
pub(crate) struct RawResponse {
    /// The status code of the status line.
    pub status: u16,
    /// Header names (lower-case) and values.
    pub headers: Vec<(String, String)>,
}

/// Parses a response written as `HTTP/x CODE`, header lines and an empty line.
pub(crate) fn raw_response(text: &str) -> RawResponse {
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(302);
    let headers = lines
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    RawResponse { status, headers }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fixture_parses_and_holds_what_the_simulation_takes_from_it() {
        for (name, _) in FILES {
            let v = parse(name);
            assert!(v.is_object(), "{name}");
        }
        let f = &*FIXTURES;
        assert_eq!(f.deployment["kind"], "Deployment");
        for kind in [
            "ConfigMap",
            "Pod",
            "Service",
            "Deployment",
            "ReplicaSet",
            "Ingress",
        ] {
            assert_eq!(tree_node(kind)["kind"], kind);
        }
        for kind in ["ConfigMap", "Service", "Deployment", "Ingress"] {
            assert_eq!(status_resource(kind)["kind"], kind);
        }
        let pod = tree_node("Pod");
        let images: Vec<&str> = pod["images"]
            .as_array()
            .map(|i| i.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(images.contains(&SIDECAR_IMAGE));
        let own = format!("{IMAGE_REGISTRY}/");
        assert!(images.iter().any(|i| i.starts_with(&own)));
        let raw = raw_response(CLOUDFLARE_302);
        assert_eq!(raw.status, 302);
        assert!(raw.headers.iter().any(|(k, _)| k == "location"));
        assert!(CLOUDFLARE_403.contains("<html"));
    }
}
