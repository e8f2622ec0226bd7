//! `/assets/{file}`: the stylesheet (and later scripts and images), embedded in the binary.
//!
//! Pages link to `/assets/{file}?v={hash}`; a request carrying the current hash may be cached
//! for a year, since a changed file gets a new address.

use crate::AppState;
use axum::Router;
use axum::extract::{Path, Query};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::Embed;
use serde::Deserialize;

#[derive(Embed)]
#[folder = "assets/"]
struct Files;

/// The asset routes.
pub fn router() -> Router<AppState> {
    Router::new().route("/assets/{file}", get(serve))
}

/// First 12 hex digits of the SHA-256 of an embedded file.
pub fn version(file: &str) -> Option<String> {
    Files::get(file).map(|f| hex::encode(&f.metadata.sha256_hash()[..6]))
}

/// The versioned address of an embedded file.
pub fn href(file: &str) -> String {
    match version(file) {
        Some(v) => format!("/assets/{file}?v={v}"),
        None => format!("/assets/{file}"),
    }
}

fn content_type(file: &str) -> &'static str {
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

#[derive(Deserialize)]
struct AssetQuery {
    v: Option<String>,
}

async fn serve(Path(file): Path<String>, Query(q): Query<AssetQuery>) -> Response {
    let Some(found) = Files::get(&file) else {
        return crate::error::ApiError::not_found("no such asset").into_response();
    };
    let current = hex::encode(&found.metadata.sha256_hash()[..6]);
    let cache = if q.v.as_deref() == Some(current.as_str()) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut resp = (StatusCode::OK, found.data.into_owned()).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&file)),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{current}\"")) {
        h.insert(header::ETAG, etag);
    }
    resp
}
