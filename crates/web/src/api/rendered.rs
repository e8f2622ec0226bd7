//! The release detail as JSON, rendered once per view and answered with an `ETag`.
//!
//! The engine hands out one shared view of a release until the release changes
//! ([`Engine::release_shared`](shipyard_engine::Engine::release_shared)); its JSON is the same for
//! every caller, so it is rendered once for that view and kept next to it. A client that sends
//! the `ETag` back in `If-None-Match` gets `304 Not Modified` while nothing changed.

use super::dto::ReleaseDetail;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use sha2::{Digest, Sha256};
use shipyard_core::ReleaseId;
use shipyard_engine::ReleaseView;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

/// Renderings kept at most (the engine keeps as many views).
const MAX_KEPT: usize = 64;

/// One view's JSON and its entity tag.
#[derive(Debug)]
pub struct Rendered {
    json: Bytes,
    etag: HeaderValue,
}

impl Rendered {
    fn of(view: &ReleaseView) -> Rendered {
        let json = serde_json::to_vec(&ReleaseDetail::from(view)).unwrap_or_default();
        let digest = Sha256::digest(&json);
        let mut tag = String::with_capacity(34);
        tag.push('"');
        for b in &digest[..16] {
            let _ = write!(tag, "{b:02x}");
        }
        tag.push('"');
        Rendered {
            json: Bytes::from(json),
            etag: HeaderValue::from_str(&tag).unwrap_or(HeaderValue::from_static("\"\"")),
        }
    }

    /// `304` when `headers` carry this entity tag in `If-None-Match`, else the JSON.
    pub fn answer(&self, headers: &HeaderMap) -> Response {
        let cache_headers = [
            (header::ETAG, self.etag.clone()),
            // Stored, but checked with the server before each use.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        ];
        if matches_etag(headers, &self.etag) {
            return (StatusCode::NOT_MODIFIED, cache_headers).into_response();
        }
        (
            cache_headers,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            self.json.clone(),
        )
            .into_response()
    }
}

/// Whether `If-None-Match` names `etag` (weakly compared, as RFC 9110 asks for it) or is `*`.
fn matches_etag(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Ok(want) = etag.to_str() else {
        return false;
    };
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == want)
}

/// A view and its rendering.
type Kept = (Arc<ReleaseView>, Arc<Rendered>);

/// Renderings by release, each with the view it renders.
#[derive(Clone, Default)]
pub struct RenderedReleases {
    kept: Arc<Mutex<HashMap<ReleaseId, Kept>>>,
}

impl RenderedReleases {
    /// The rendering of `view`: kept from an earlier request for the very same view, else new.
    pub fn of(&self, view: &Arc<ReleaseView>) -> Arc<Rendered> {
        let id = &view.release.id;
        {
            let kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some((v, r)) = kept.get(id)
                && Arc::ptr_eq(v, view)
            {
                return r.clone();
            }
        }
        // Rendered outside the lock; two requests racing on a new view both render it once.
        let rendered = Arc::new(Rendered::of(view));
        let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= MAX_KEPT && !kept.contains_key(id) {
            kept.clear();
        }
        kept.insert(id.clone(), (view.clone(), rendered.clone()));
        rendered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn if_none_match_is_compared_weakly_and_as_a_list() {
        let tag = HeaderValue::from_static("\"abc\"");
        for (sent, matches) in [
            ("\"abc\"", true),
            ("W/\"abc\"", true),
            ("\"x\", \"abc\"", true),
            ("*", true),
            ("\"abcd\"", false),
            ("abc", false),
            ("", false),
        ] {
            assert_eq!(matches_etag(&with(sent), &tag), matches, "{sent}");
        }
        assert!(!matches_etag(&HeaderMap::new(), &tag));
    }
}
