//! The API error model: `{"error": {"code", "message"}}` with one status per code.
//!
//! Only this module turns errors into responses. Database and internal failures are logged
//! with their detail and answered with a plain `internal` message, so nothing leaks.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use shipyard_engine::EngineError;
use shipyard_engine::StoreError;
use utoipa::ToSchema;

/// An error answer of the API.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable, snake_case: `invalid_json`, `invalid_input`, `unauthenticated`, `forbidden`,
    /// `not_found`, `method_not_allowed`, `conflict`, `too_large`, `upstream_rejected`, `rate_limited`,
    /// `upstream_unavailable`, `internal`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400 `invalid_json`: the body is not JSON.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_json", message)
    }

    /// 400 `invalid_input`: a field is wrong; the message names it.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message)
    }

    /// 401 `unauthenticated`.
    pub fn unauthenticated() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in, or send an API token as `Authorization: Bearer <token>`",
        )
    }

    /// 401 `unauthenticated` for a webhook delivery whose signature is missing or wrong.
    pub fn bad_signature() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the X-Hub-Signature-256 header is missing or is not the HMAC-SHA256 of the body under github.webhook_secret",
        )
    }

    /// 401 `unauthenticated` for an Argo CD push hint without the shared secret.
    pub fn bad_shared_secret() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "the X-Shipyard-Secret header is missing or is not argocd.webhook_secret",
        )
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 400 `invalid_input` for a sign-in that cannot go on (bad or replayed callback).
    pub fn sign_in_failed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "sign_in_failed", message)
    }

    /// 404 `not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405 `method_not_allowed`.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this method is not allowed on this path",
        )
    }

    /// 413 `too_large`.
    pub fn too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            "the request body is larger than 256 KiB",
        )
    }

    /// 500 `internal`, after logging the cause.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }

    /// The status of this error.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The code of this error.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// What went wrong, for a person.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            EngineError::Invalid { field, message } => {
                ApiError::invalid_input(format!("{field}: {message}"))
            }
            EngineError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            EngineError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            EngineError::UpstreamRejected(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "upstream_rejected", m)
            }
            EngineError::RateLimited(m) => {
                ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", m)
            }
            EngineError::UpstreamUnavailable(m) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "upstream_unavailable", m)
            }
            EngineError::Store(StoreError::NotFound) => ApiError::not_found("not found"),
            EngineError::Store(StoreError::Conflict(m)) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", m)
            }
            EngineError::Store(other) => ApiError::internal(&other),
        }
    }
}
