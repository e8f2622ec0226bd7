//! Shipyard's Argo CD client: the read-only calls deployment tracking makes, over reqwest.
//!
//! One [`ArgoCd`] value talks to one Argo CD instance (one environment: `qa`, `uat`, …) with
//! that instance's token; clones share the HTTP client and the counters. It reads
//! applications (one, or many in a single list call), resource trees and live resources, and
//! returns them as `shipyard_core::deploy::argo` types, which the core's tracking rules read.
//!
//! Built on reqwest rather than a generated client for the same reasons as the GitHub and
//! Mattermost clients (see `docs/architecture.md`), and two more: Argo CD's swagger loses the
//! flattened fields of tree nodes, and the interesting part of talking to Argo CD is telling
//! its answers apart, which a generated client hides:
//!
//! - redirects are never followed: any 3xx, and any 401/403 that is not JSON, is Cloudflare
//!   Access turning the service token away ([`ArgoError::CloudflareRejected`]), decided from
//!   the status and `Content-Type` alone;
//! - Argo CD's own refusals are `{"error", "code", "message"}` with a gRPC code: 5 is a missing
//!   application (only ever when the request names a project), 7 is "permission denied" (which
//!   is also what a missing application looks like without a project), 16 is a token this
//!   instance does not accept;
//! - a `404 text/plain` is a route Argo CD does not know: the URL (its path prefix, usually) is
//!   wrong, not the application;
//! - 5xx answers, broken connections and timeouts are retried with jittered exponential
//!   backoff; nothing else is.
//!
//! `?refresh=` is never sent (it blocks until the controller has reconciled). The bearer token
//! and the Cloudflare secret are sent only in headers marked sensitive and never appear in
//! logs, errors or `Debug` output.
//!
//! Layout:
//! - [`client`]: options, the client, the endpoints and one exchange with retries.
//! - [`error`]: [`ArgoError`] and how an answer's status, `Content-Type` and body become one.

pub mod client;
pub mod error;

pub use client::{ArgoCd, ArgoCdOptions, ClientStats, ListFilter};
pub use error::ArgoError;
pub use shipyard_core::deploy::argo::{
    Application, ApplicationList, ErrorBody, LiveResource, ResourceStatus, ResourceTree, Workload,
};
