//! Simulated upstreams for Shipyard's tests, benchmarks and `shipyard demo`.
//!
//! [`github`] is a real HTTP server on loopback that answers a subset of GitHub's REST and
//! GraphQL APIs in GitHub's own shapes, over a commit graph that tests script while it runs,
//! with injectable faults, latency and rate limits.
//!
//! [`oidc`] is an OpenID provider shaped like a Keycloak realm: discovery, JWKS, authorization
//! code with PKCE, tokens signed with a key made at start, userinfo and logout, with defects that
//! tests can put into the tokens.
//!
//! [`mattermost`] is a Mattermost server: the v4 REST calls a bot makes (`users/me`, creating,
//! reading and patching posts) and the WebSocket event stream (`hello`, `posted`,
//! `post_edited`) in Mattermost's shapes, with people whose posts tests script and injectable
//! REST faults, refused upgrades and dropped connections.
//!
//! [`argocd`] is one Argo CD instance per environment: the application API a version tracker
//! reads (list, one application, its resource tree and a live resource) in Argo CD's shapes,
//! every answer built from the wire examples in `fixtures/argocd/`, with applications whose
//! sync and rollout tests script (OutOfSync, Running with old and new pods, Succeeded,
//! Degraded, Suspended, a chart missing from the index), Argo CD's 401/403/404 rules, an
//! optional Cloudflare Access in front, a path prefix, request counts and injected faults.
//!
//! The GitHub simulation is not GitHub: only the endpoints Shipyard uses exist, every repository
//! is private and belongs to one organization, there are no trees or blobs (commits only record
//! which paths they touch and how many lines), and nothing is persisted.

pub mod argocd;
pub mod github;
pub mod mattermost;
pub mod oidc;
