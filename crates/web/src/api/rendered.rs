//! The release detail as JSON, rendered once per view and answered with an `ETag`.
//!
//! The engine hands out one shared view of a release until the release changes
//! ([`Engine::release_shared`](shipyard_engine::Engine::release_shared)); its JSON is the same for
//! every caller, so it is rendered once for that view and kept next to it, together with its
//! gzip compression for clients that accept it (browsers do: the 200-repo detail shrinks about
//! tenfold). A client that sends the `ETag` back in `If-None-Match` gets `304 Not Modified` while
//! nothing changed.

use super::dto::ReleaseDetail;
use crate::error::ApiError;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha2::{Digest, Sha256};
use shipyard_core::ReleaseId;
use shipyard_engine::ReleaseView;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::OnceCell;

/// Renderings kept at most (the engine keeps as many views).
const MAX_KEPT: usize = 64;

/// One view's JSON, its gzip compression and their entity tags.
#[derive(Debug)]
pub struct Rendered {
    json: Bytes,
    etag: HeaderValue,
    /// `None` when compressing failed (it cannot, writing to memory) or did not make it smaller.
    gzip: Option<(Bytes, HeaderValue)>,
}

/// The entity tag `"<first 16 bytes of the SHA-256 of json, hex><suffix>"` for each suffix.
fn entity_tags<const N: usize>(json: &[u8], suffixes: [&str; N]) -> [HeaderValue; N] {
    let digest = Sha256::digest(json);
    let mut hex = String::with_capacity(32);
    for b in &digest[..16] {
        let _ = write!(hex, "{b:02x}");
    }
    suffixes.map(|suffix| {
        HeaderValue::from_str(&format!("\"{hex}{suffix}\""))
            .unwrap_or(HeaderValue::from_static("\"\""))
    })
}

fn gzip(data: &[u8]) -> Option<Bytes> {
    let mut encoder = GzEncoder::new(Vec::with_capacity(data.len() / 4), Compression::default());
    encoder.write_all(data).ok()?;
    let compressed = encoder.finish().ok()?;
    (compressed.len() < data.len()).then(|| Bytes::from(compressed))
}

impl Rendered {
    fn of(view: &ReleaseView) -> Rendered {
        let json = serde_json::to_vec(&ReleaseDetail::from(view)).unwrap_or_default();
        // Each content coding is a representation of its own and gets a strong tag of its own
        // (RFC 9110, 8.8.3); either one sent back means "unchanged".
        let [etag, gzip_etag] = entity_tags(&json, ["", "-gzip"]);
        let gzip = gzip(&json).map(|g| (g, gzip_etag));
        Rendered {
            json: Bytes::from(json),
            etag,
            gzip,
        }
    }

    /// `304` when `headers` carry one of this view's entity tags in `If-None-Match`, else the
    /// JSON: gzip-compressed when `Accept-Encoding` accepts gzip.
    pub fn answer(&self, headers: &HeaderMap) -> Response {
        let (body, etag, encoding) = match &self.gzip {
            Some((body, etag)) if accepts_gzip(headers) => (body, etag, Some("gzip")),
            _ => (&self.json, &self.etag, None),
        };
        let cache_headers = [
            (header::ETAG, etag.clone()),
            // Stored, but checked with the server before each use.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::VARY, HeaderValue::from_static("accept-encoding")),
        ];
        let mut known = std::iter::once(&self.etag).chain(self.gzip.as_ref().map(|(_, t)| t));
        if known.any(|t| matches_etag(headers, t)) {
            return (StatusCode::NOT_MODIFIED, cache_headers).into_response();
        }
        let mut response = (
            cache_headers,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            body.clone(),
        )
            .into_response();
        if let Some(encoding) = encoding {
            response
                .headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        response
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

/// Whether `Accept-Encoding` accepts gzip (RFC 9110, 12.5.3): `gzip` (or its alias `x-gzip`)
/// with a weight above zero, or else `*` with one. No header, or an unreadable one, asks for
/// the content as it is.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut named = None;
    let mut any = None;
    for item in headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        let weight = parts
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| v.trim().parse::<f32>().ok());
        let Some(weight) = weight else { continue };
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            named = Some(named.map_or(weight, |w: f32| w.max(weight)));
        } else if coding == "*" {
            any = Some(weight);
        }
    }
    named.or(any).is_some_and(|w| w > 0.0)
}

/// A view and its rendering, made once however many requests ask for it at the same time.
type Kept = (Arc<ReleaseView>, Arc<OnceCell<Arc<Rendered>>>);

/// Renderings by release, each with the view it renders.
#[derive(Clone, Default)]
pub struct RenderedReleases {
    kept: Arc<Mutex<HashMap<ReleaseId, Kept>>>,
}

impl RenderedReleases {
    /// The rendering of `view`: kept from an earlier request for the very same view, else new.
    ///
    /// Rendering and compressing a big release takes milliseconds, so it runs on the blocking
    /// pool, once; requests that arrive meanwhile wait for it instead of rendering it again.
    pub async fn of(&self, view: &Arc<ReleaseView>) -> Result<Arc<Rendered>, ApiError> {
        let id = &view.release.id;
        let cell = {
            let mut kept = self.kept.lock().unwrap_or_else(PoisonError::into_inner);
            match kept.get(id) {
                Some((v, cell)) if Arc::ptr_eq(v, view) => cell.clone(),
                _ => {
                    if kept.len() >= MAX_KEPT && !kept.contains_key(id) {
                        kept.clear();
                    }
                    let cell = Arc::new(OnceCell::new());
                    kept.insert(id.clone(), (view.clone(), cell.clone()));
                    cell
                }
            }
        };
        let view = view.clone();
        cell.get_or_try_init(|| async move {
            tokio::task::spawn_blocking(move || Arc::new(Rendered::of(&view)))
                .await
                .map_err(|e| ApiError::internal(&e))
        })
        .await
        .cloned()
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

    fn accepting(value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_ENCODING, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn accept_encoding_is_read_with_its_weights() {
        for (sent, gzip) in [
            ("gzip, deflate, br, zstd", true),
            ("GZIP", true),
            ("x-gzip", true),
            ("br;q=1.0, gzip;q=0.8", true),
            ("gzip;q=0", false),
            ("gzip; q=0.000", false),
            ("*", true),
            ("*;q=0", false),
            ("gzip;q=0, *", false),
            ("*;q=0, gzip;q=0.5", true),
            ("identity", false),
            ("br", false),
            ("gzip;q=nonsense", false),
            ("", false),
        ] {
            assert_eq!(accepts_gzip(&accepting(sent)), gzip, "{sent:?}");
        }
        assert!(!accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn gzip_is_kept_only_when_smaller_and_inflates_to_the_json() {
        use std::io::Read as _;
        let json =
            br#"{"repos":["svc-0001","svc-0002","svc-0003","svc-0004","svc-0005"]}"#.repeat(50);
        let packed = gzip(&json).unwrap();
        assert!(packed.len() < json.len() / 5, "{} bytes", packed.len());
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&packed[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, json);
        assert!(gzip(b"{}").is_none(), "two bytes do not get smaller");
        let [plain, packed] = entity_tags(&json, ["", "-gzip"]);
        assert_ne!(plain, packed);
    }
}
