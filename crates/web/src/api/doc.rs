//! The finishing touches of the OpenAPI document, applied to what `utoipa` derives from the
//! routes: a description for every response (OpenAPI requires one), the answers every route
//! of a kind can give (413 for bodies), and the constraints whose source of truth is a rule in
//! `core` (branch names, release ids), so that the document says exactly what the server
//! enforces.

use serde_json::{Value, json};
use shipyard_core::branch::{BRANCH_PATTERN, MAX_BRANCH_LEN};
use shipyard_core::ids::RELEASE_ID_PATTERN;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// What a status means in this API, for responses that do not say more.
fn meaning(status: &str) -> &'static str {
    match status {
        "200" => "OK.",
        "201" => "Created.",
        "400" => {
            "The request is malformed: not JSON or not an object (`invalid_json`), or a field or \
             parameter breaks its rule (`invalid_input`, naming it)."
        }
        "401" => {
            "No valid credentials: sign in, or send `Authorization: Bearer <API token>` \
             (`unauthenticated`)."
        }
        "403" => {
            "The caller lacks the role the message names, or a cookie-authenticated change lacks \
             its CSRF token or comes from another origin (`forbidden`)."
        }
        "404" => "No such release, repository or sign-off (`not_found`).",
        "409" => {
            "The change conflicts with the release: it is deployed or cancelled, one person \
             would give both sign-offs, or a dependency is not a repository of the release \
             (`conflict`)."
        }
        "413" => "The body is larger than 256 KiB (`too_large`).",
        "422" => {
            "GitHub says it cannot be done: a branch that exists in no repository of the org, \
             or nothing to release (`upstream_rejected`)."
        }
        "429" => {
            "GitHub's rate limit is used up; the message says when it resets (`rate_limited`)."
        }
        "502" => "GitHub is unreachable, failing, or not configured (`upstream_unavailable`).",
        _ => "See the error's code and message.",
    }
}

/// The error model's body, for answers added here.
fn error_response(status: &str) -> Value {
    json!({
        "description": meaning(status),
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    })
}

/// Finishes `doc` (as `utoipa` built it) into the document served at `/api/openapi.json`.
pub fn finish(doc: &utoipa::openapi::OpenApi) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or_else(|_| json!({}));
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            for method in METHODS {
                if let Some(op) = item.get_mut(method) {
                    finish_operation(op);
                }
            }
        }
    }
    let schemas = &mut doc["components"]["schemas"];
    for field in ["source_branch", "dest_branch"] {
        let property = &mut schemas["CreateRelease"]["properties"][field];
        property["pattern"] = json!(BRANCH_PATTERN);
        property["maxLength"] = json!(MAX_BRANCH_LEN);
    }
    doc
}

fn finish_operation(op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    if let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) {
        for param in params.iter_mut().filter(|p| p["in"] == "path") {
            match param["name"].as_str() {
                Some("id") => {
                    param["schema"] = json!({"type": "string", "pattern": RELEASE_ID_PATTERN})
                }
                Some("kind") => param["schema"] = json!({"type": "string", "enum": ["dev", "qa"]}),
                Some("repo_id") => {
                    param["schema"] = json!({"type": "integer", "format": "int64"});
                }
                _ => {}
            }
        }
    }
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    if has_body && !responses.contains_key("413") {
        responses.insert("413".into(), error_response("413"));
    }
    for (status, response) in responses.iter_mut() {
        let missing = response
            .get("description")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty);
        if missing {
            response["description"] = json!(meaning(status));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_response_has_a_description_and_bodies_may_be_too_large() {
        let doc = crate::openapi();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                for (status, response) in op["responses"].as_object().unwrap() {
                    let text = response["description"].as_str().unwrap_or("");
                    assert!(!text.is_empty(), "{method} {path} {status}");
                }
                if op.get("requestBody").is_some() {
                    assert!(op["responses"].get("413").is_some(), "{method} {path}");
                }
            }
        }
        let branch = &doc["components"]["schemas"]["CreateRelease"]["properties"]["source_branch"];
        assert_eq!(branch["pattern"], BRANCH_PATTERN);
    }
}
