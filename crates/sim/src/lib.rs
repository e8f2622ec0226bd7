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
//! The GitHub simulation is not GitHub: only the endpoints Shipyard uses exist, every repository
//! is private and belongs to one organization, there are no trees or blobs (commits only record
//! which paths they touch and how many lines), and nothing is persisted.

pub mod github;
pub mod mattermost;
pub mod oidc;
