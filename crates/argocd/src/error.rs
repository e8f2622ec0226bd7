//! What went wrong talking to Argo CD, and how one answer (status, `Content-Type`, body) is
//! read as a success, a retry or one of those errors.
//!
//! The rules, from Argo CD's gateway and Cloudflare Access (see `fixtures/argocd/README.md`):
//! - any 3xx, and any 401/403 whose `Content-Type` is not `application/json`, is Cloudflare
//!   Access rejecting the service token; it is decided before the body is read;
//! - Argo CD's own errors are JSON `{"error", "code", "message"}` with a gRPC code: 5 (404) a
//!   missing application, 7 (403) permission denied, 16 (401) no valid token, 3 (400) a bad
//!   argument;
//! - a 404 that is not JSON is a route Argo CD does not know: the URL is wrong;
//! - 5xx answers are retried.

use reqwest::StatusCode;
use shipyard_core::deploy::argo::ErrorBody;

/// What went wrong talking to one Argo CD instance, in terms a caller can act on. Every
/// variant names the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgoError {
    /// The options cannot make a client (a URL that is not `http(s)`, a token that cannot be
    /// sent in a header), or a call was asked for something it cannot send (an empty name).
    #[error("Argo CD {environment}: {reason}")]
    Invalid {
        /// The environment (`qa`).
        environment: String,
        /// What is wrong.
        reason: String,
    },
    /// Cloudflare Access turned the request away before it reached Argo CD: any redirect
    /// (its login page; redirects are never followed), or a 401/403 that is not JSON.
    #[error(
        "Cloudflare Access rejected the service token for {environment} (HTTP {status}{})",
        redirect_target(.location)
    )]
    CloudflareRejected {
        /// The environment (`qa`).
        environment: String,
        /// The HTTP status.
        status: u16,
        /// The host a redirect pointed to (`acme.cloudflareaccess.com`), when it named one.
        location: Option<String>,
    },
    /// 404 with code 5: no such application in the configured project.
    #[error("Argo CD {environment}: no application {app}{}", in_project(.project))]
    NotFound {
        /// The environment (`qa`).
        environment: String,
        /// The application asked for.
        app: String,
        /// The project the request named.
        project: Option<String>,
    },
    /// 403 with code 7: the token may not read the application. Without a project in the
    /// request Argo CD answers a missing application the same way.
    #[error("Argo CD {environment}: {}", denied(.environment, .app, .project))]
    PermissionDenied {
        /// The environment (`qa`).
        environment: String,
        /// The application asked for.
        app: String,
        /// The project the request named; `None` means the application may also be missing.
        project: Option<String>,
    },
    /// 401 with code 16: no token, a token that is not a JWT, or one this instance did not
    /// sign, revoked or expired.
    #[error("Argo CD {environment} rejected the token: {message}")]
    Unauthenticated {
        /// The environment (`qa`).
        environment: String,
        /// Argo CD's message (`no session information`, `invalid session: …`).
        message: String,
    },
    /// Any other refusal from Argo CD (400 code 3 for a resource outside the application…),
    /// or a 4xx that is not from Argo CD.
    #[error("Argo CD {environment} refused the request (HTTP {status}{}): {message}", code_suffix(.code))]
    Rejected {
        /// The environment (`qa`).
        environment: String,
        /// The HTTP status.
        status: u16,
        /// The gRPC code of Argo CD's error body, when it had one.
        code: Option<i64>,
        /// Argo CD's message, or what the answer was.
        message: String,
    },
    /// Argo CD could not be reached or kept failing (network errors, timeouts, 5xx after
    /// retries, 429), or the URL does not lead to Argo CD's API (a `404 text/plain`).
    #[error("Argo CD {environment} is unavailable: {reason}")]
    Unavailable {
        /// The environment (`qa`).
        environment: String,
        /// What happened.
        reason: String,
    },
    /// A success whose body is not the JSON expected.
    #[error("unexpected answer from Argo CD {environment}: {reason}")]
    Decode {
        /// The environment (`qa`).
        environment: String,
        /// What could not be read.
        reason: String,
    },
}

impl ArgoError {
    /// The environment the error happened in.
    pub fn environment(&self) -> &str {
        match self {
            ArgoError::Invalid { environment, .. }
            | ArgoError::CloudflareRejected { environment, .. }
            | ArgoError::NotFound { environment, .. }
            | ArgoError::PermissionDenied { environment, .. }
            | ArgoError::Unauthenticated { environment, .. }
            | ArgoError::Rejected { environment, .. }
            | ArgoError::Unavailable { environment, .. }
            | ArgoError::Decode { environment, .. } => environment,
        }
    }

    /// True when the application is missing or may not be read ([`ArgoError::NotFound`] or
    /// [`ArgoError::PermissionDenied`]): tracking records `found: false`.
    pub fn is_not_found_or_forbidden(&self) -> bool {
        matches!(
            self,
            ArgoError::NotFound { .. } | ArgoError::PermissionDenied { .. }
        )
    }

    /// True when trying again later may succeed without anyone changing a setting
    /// ([`ArgoError::Unavailable`]).
    pub fn is_transient(&self) -> bool {
        matches!(self, ArgoError::Unavailable { .. })
    }
}

fn redirect_target(location: &Option<String>) -> String {
    match location {
        Some(host) => format!(" to {host}"),
        None => String::new(),
    }
}

fn in_project(project: &Option<String>) -> String {
    match project {
        Some(project) => format!(" in project {project}"),
        None => String::new(),
    }
}

fn denied(environment: &str, app: &str, project: &Option<String>) -> String {
    match project {
        Some(project) => format!("the token may not read {app} in project {project}"),
        None => format!(
            "the token may not read {app}, or there is no such application (Argo CD answers \
             both alike; set argocd.environments.{environment}.project to tell them apart)"
        ),
    }
}

fn code_suffix(code: &Option<i64>) -> String {
    match code {
        Some(code) => format!(", code {code}"),
        None => String::new(),
    }
}

/// Which call an answer belongs to, for naming it in errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Call<'a> {
    /// `GET /api/v1/applications`.
    List,
    /// `GET /api/v1/applications/{name}` or its `/resource-tree`.
    App(&'a str),
    /// `GET /api/v1/applications/{name}/resource`: a 404 may be about the live object.
    Resource(&'a str),
}

/// What an answer is read against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Context<'a> {
    /// The environment (`qa`).
    pub environment: &'a str,
    /// The project the request named.
    pub project: Option<&'a str>,
    /// The call.
    pub call: Call<'a>,
    /// The URL's path, for messages.
    pub path: &'a str,
}

/// How one answer is taken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A JSON success: decode the body.
    Success,
    /// A transient failure: try again (the reason, for the log and the final error).
    Retry(String),
    /// A final failure.
    Fail(ArgoError),
}

/// True for `application/json`, with or without parameters.
pub(crate) fn is_json(content_type: Option<&str>) -> bool {
    content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"))
}

/// What the status and headers alone decide: Cloudflare Access's rejections, so their bodies
/// (a login redirect, a branded HTML page) are never read.
pub(crate) fn judge_head(
    ctx: &Context<'_>,
    status: StatusCode,
    content_type: Option<&str>,
    location: Option<&str>,
) -> Option<ArgoError> {
    let cloudflare = status.is_redirection()
        || ((status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
            && !is_json(content_type));
    cloudflare.then(|| ArgoError::CloudflareRejected {
        environment: ctx.environment.to_owned(),
        status: status.as_u16(),
        location: status
            .is_redirection()
            .then(|| location.and_then(location_host))
            .flatten(),
    })
}

/// The host of an absolute `Location`, else `None`.
fn location_host(location: &str) -> Option<String> {
    let url = url::Url::parse(location).ok()?;
    url.host_str().map(str::to_owned)
}

/// How a whole answer is taken.
pub(crate) fn judge(
    ctx: &Context<'_>,
    status: StatusCode,
    content_type: Option<&str>,
    location: Option<&str>,
    body: &[u8],
) -> Verdict {
    if let Some(error) = judge_head(ctx, status, content_type, location) {
        return Verdict::Fail(error);
    }
    let environment = ctx.environment.to_owned();
    let json = is_json(content_type);
    let shown_type = content_type.unwrap_or("no Content-Type");
    if status.is_success() {
        if content_type.is_some() && !json {
            return Verdict::Fail(ArgoError::Decode {
                environment,
                reason: format!(
                    "{} answered {status} with {shown_type}, not JSON: the URL is probably not \
                     Argo CD's API",
                    ctx.path
                ),
            });
        }
        return Verdict::Success;
    }
    if status.is_server_error() {
        let reason = if json {
            format!(
                "{} answered {status}: {}",
                ctx.path,
                error_body(status, body).1
            )
        } else {
            format!(
                "{} answered {status} ({shown_type}: not from Argo CD, so probably a proxy in \
                 front of it)",
                ctx.path
            )
        };
        return Verdict::Retry(reason);
    }
    if status == StatusCode::TOO_MANY_REQUESTS {
        return Verdict::Fail(ArgoError::Unavailable {
            environment,
            reason: format!("{} answered {status}: too many requests", ctx.path),
        });
    }
    if !json {
        if status == StatusCode::NOT_FOUND {
            return Verdict::Fail(ArgoError::Unavailable {
                environment,
                reason: format!(
                    "{} answered 404 ({shown_type}), which Argo CD does only for routes it does \
                     not have: the URL is probably not an Argo CD API (a wrong path prefix?)",
                    ctx.path
                ),
            });
        }
        return Verdict::Fail(ArgoError::Rejected {
            environment,
            status: status.as_u16(),
            code: None,
            message: format!(
                "{} answered with {shown_type}: not an Argo CD answer",
                ctx.path
            ),
        });
    }
    let (code, message) = error_body(status, body);
    let project = ctx.project.map(str::to_owned);
    let error = match (code, ctx.call) {
        (Some(16), _) => ArgoError::Unauthenticated {
            environment,
            message,
        },
        (Some(7), Call::App(app) | Call::Resource(app)) => ArgoError::PermissionDenied {
            environment,
            app: app.to_owned(),
            project,
        },
        (Some(5), Call::App(app)) => ArgoError::NotFound {
            environment,
            app: app.to_owned(),
            project,
        },
        // On `/resource`, code 5 is also a live object that is gone
        // (`deployments.apps "billing" not found`); only the application's own kind means the
        // application is missing.
        (Some(5), Call::Resource(app)) if message.contains("applications.argoproj.io") => {
            ArgoError::NotFound {
                environment,
                app: app.to_owned(),
                project,
            }
        }
        _ => ArgoError::Rejected {
            environment,
            status: status.as_u16(),
            code,
            message,
        },
    };
    Verdict::Fail(error)
}

/// The gRPC code and message of an Argo CD error body; the status text when it has none.
pub(crate) fn error_body(status: StatusCode, body: &[u8]) -> (Option<i64>, String) {
    let fallback = || status.canonical_reason().unwrap_or("error").to_owned();
    // Only an object is Argo CD's body: serde would also read `[1]` as an `ErrorBody`.
    let parsed = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .filter(serde_json::Value::is_object)
        .map(serde_json::from_value::<ErrorBody>);
    match parsed {
        Some(Ok(e)) => {
            let message = [e.message, e.error]
                .into_iter()
                .find(|m| !m.trim().is_empty())
                .unwrap_or_else(fallback);
            (e.code, message)
        }
        Some(Err(_)) | None => (None, fallback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    macro_rules! fixture {
        ($name:literal) => {
            include_str!(concat!("../../../fixtures/argocd/", $name))
        };
    }

    const JSON: Option<&str> = Some("application/json");

    fn ctx(project: Option<&'static str>, call: Call<'static>) -> Context<'static> {
        Context {
            environment: "qa",
            project,
            call,
            path: "/argocd/api/v1/applications/billing-qa",
        }
    }

    fn status(code: u16) -> StatusCode {
        StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT)
    }

    fn fail(verdict: Verdict) -> ArgoError {
        match verdict {
            Verdict::Fail(e) => e,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn json_content_types_are_recognised() {
        assert!(is_json(Some("application/json")));
        assert!(is_json(Some("application/json; charset=utf-8")));
        assert!(is_json(Some("Application/JSON")));
        assert!(!is_json(Some("text/html; charset=UTF-8")));
        assert!(!is_json(Some("text/plain")));
        assert!(!is_json(Some("application/jsonp")));
        assert!(!is_json(None));
    }

    #[test]
    fn argo_errors_are_read_from_the_fixture_bodies() {
        let app = Call::App("billing-qa");
        let e = fail(judge(
            &ctx(Some("payments"), app),
            status(404),
            JSON,
            None,
            fixture!("error-not-found.json").as_bytes(),
        ));
        assert_eq!(
            e,
            ArgoError::NotFound {
                environment: "qa".into(),
                app: "billing-qa".into(),
                project: Some("payments".into()),
            }
        );
        assert_eq!(
            e.to_string(),
            "Argo CD qa: no application billing-qa in project payments"
        );
        assert!(e.is_not_found_or_forbidden() && !e.is_transient());

        let denied = fixture!("error-permission-denied.json").as_bytes();
        let e = fail(judge(&ctx(None, app), status(403), JSON, None, denied));
        assert!(matches!(
            &e,
            ArgoError::PermissionDenied { project: None, .. }
        ));
        let text = e.to_string();
        assert!(text.contains("may not read billing-qa"), "{text}");
        assert!(text.contains("no such application"), "{text}");
        assert!(text.contains("argocd.environments.qa.project"), "{text}");
        assert!(e.is_not_found_or_forbidden());

        let e = fail(judge(
            &ctx(Some("payments"), app),
            status(403),
            Some("application/json"),
            None,
            denied,
        ));
        assert_eq!(
            e.to_string(),
            "Argo CD qa: the token may not read billing-qa in project payments"
        );

        for (file, message) in [
            (
                fixture!("error-unauthenticated.json"),
                "no session information",
            ),
            (
                fixture!("error-invalid-session.json"),
                "invalid session: token signature is invalid: signature is invalid",
            ),
        ] {
            let e = fail(judge(
                &ctx(None, Call::List),
                status(401),
                JSON,
                None,
                file.as_bytes(),
            ));
            assert_eq!(
                e.to_string(),
                format!("Argo CD qa rejected the token: {message}")
            );
            assert!(!e.is_not_found_or_forbidden() && !e.is_transient());
        }

        let e = fail(judge(
            &ctx(None, Call::Resource("billing-qa")),
            status(400),
            JSON,
            None,
            fixture!("error-resource-not-in-app.json").as_bytes(),
        ));
        assert_eq!(
            e,
            ArgoError::Rejected {
                environment: "qa".into(),
                status: 400,
                code: Some(3),
                message: "Deployment apps billing not found as part of application billing-qa"
                    .into(),
            }
        );
        assert!(
            e.to_string()
                .starts_with("Argo CD qa refused the request (HTTP 400, code 3): ")
        );
    }

    #[test]
    fn not_found_on_a_resource_is_the_app_only_when_it_says_so() {
        let call = Call::Resource("billing-qa");
        let app_gone = fixture!("error-not-found.json").as_bytes();
        let e = fail(judge(
            &ctx(Some("payments"), call),
            status(404),
            JSON,
            None,
            app_gone,
        ));
        assert!(matches!(e, ArgoError::NotFound { .. }), "{e:?}");
        let object_gone =
            br#"{"error":"deployments.apps \"billing\" not found","code":5,"message":"deployments.apps \"billing\" not found"}"#;
        let e = fail(judge(
            &ctx(Some("payments"), call),
            status(404),
            JSON,
            None,
            object_gone,
        ));
        assert!(
            matches!(
                e,
                ArgoError::Rejected {
                    status: 404,
                    code: Some(5),
                    ..
                }
            ),
            "{e:?}"
        );
        // A list names no application: whatever it says is a plain refusal.
        let e = fail(judge(
            &ctx(None, Call::List),
            status(403),
            JSON,
            None,
            fixture!("error-permission-denied.json").as_bytes(),
        ));
        assert!(
            matches!(
                e,
                ArgoError::Rejected {
                    status: 403,
                    code: Some(7),
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn cloudflare_is_told_from_the_status_and_content_type() {
        let c = ctx(None, Call::App("billing-qa"));
        let html = fixture!("cloudflare-access-403.html").as_bytes();
        for (code, ct) in [
            (403, Some("text/html")),
            (403, Some("text/html; charset=UTF-8")),
            (401, Some("text/plain")),
            (401, None),
        ] {
            let e = judge_head(&c, status(code), ct, None);
            assert_eq!(
                e,
                Some(ArgoError::CloudflareRejected {
                    environment: "qa".into(),
                    status: code,
                    location: None,
                }),
                "{code} {ct:?}"
            );
            assert_eq!(
                fail(judge(&c, status(code), ct, None, html)),
                e.clone().unwrap_or_else(|| unreachable!())
            );
        }
        let e = fail(judge(&c, status(403), Some("text/html"), None, html));
        assert_eq!(
            e.to_string(),
            "Cloudflare Access rejected the service token for qa (HTTP 403)"
        );
        // Argo CD's own 401/403 are JSON.
        assert_eq!(judge_head(&c, status(403), JSON, None), None);
        assert_eq!(judge_head(&c, status(401), JSON, None), None);
    }

    #[test]
    fn any_redirect_is_cloudflare_with_its_target_host() {
        let c = ctx(None, Call::App("billing-qa"));
        let raw = fixture!("cloudflare-access-302.txt");
        let location = raw
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .map(str::trim);
        assert!(location.is_some(), "the fixture has a location header");
        let e = fail(judge(&c, status(302), None, location, b""));
        assert_eq!(
            e,
            ArgoError::CloudflareRejected {
                environment: "qa".into(),
                status: 302,
                location: Some("acme.cloudflareaccess.com".into()),
            }
        );
        assert_eq!(
            e.to_string(),
            "Cloudflare Access rejected the service token for qa (HTTP 302 to \
             acme.cloudflareaccess.com)"
        );
        assert!(!e.is_transient() && !e.is_not_found_or_forbidden());
        for code in [301, 303, 307, 308] {
            let e = judge_head(&c, status(code), JSON, Some("/argocd/login"));
            assert!(
                matches!(
                    e,
                    Some(ArgoError::CloudflareRejected { location: None, .. })
                ),
                "{code}: {e:?}"
            );
        }
    }

    #[test]
    fn unknown_routes_and_other_answers() {
        let c = ctx(None, Call::App("billing-qa"));
        let e = fail(judge(
            &c,
            status(404),
            Some("text/plain; charset=utf-8"),
            None,
            b"Not Found\n",
        ));
        assert!(e.is_transient());
        let text = e.to_string();
        assert!(text.starts_with("Argo CD qa is unavailable: "), "{text}");
        assert!(text.contains("not an Argo CD API"), "{text}");
        assert!(text.contains("path prefix"), "{text}");
        assert!(
            text.contains("/argocd/api/v1/applications/billing-qa"),
            "{text}"
        );

        assert_eq!(judge(&c, status(200), JSON, None, b"{}"), Verdict::Success);
        assert_eq!(judge(&c, status(200), None, None, b"{}"), Verdict::Success);
        let e = fail(judge(&c, status(200), Some("text/html"), None, b"<html>"));
        assert!(matches!(e, ArgoError::Decode { .. }), "{e:?}");

        let busy = br#"{"error":"connection error","code":14,"message":"connection error"}"#;
        match judge(&c, status(503), JSON, None, busy) {
            Verdict::Retry(reason) => assert!(reason.contains("connection error"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            judge(
                &c,
                status(502),
                Some("text/html"),
                None,
                b"<html>bad gateway</html>"
            ),
            Verdict::Retry(_)
        ));
        let e = fail(judge(&c, status(429), Some("text/html"), None, b""));
        assert!(e.is_transient());
        let e = fail(judge(&c, status(405), Some("text/html"), None, b""));
        assert!(
            matches!(
                e,
                ArgoError::Rejected {
                    status: 405,
                    code: None,
                    ..
                }
            ),
            "{e:?}"
        );
        // JSON without Argo CD's fields keeps the status text.
        let e = fail(judge(&c, status(400), JSON, None, b"[1]"));
        assert_eq!(
            e,
            ArgoError::Rejected {
                environment: "qa".into(),
                status: 400,
                code: None,
                message: "Bad Request".into(),
            }
        );
    }
}
