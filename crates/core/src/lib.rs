//! Shipyard's domain: releases, the repos they move, sign-offs, deploy order and history.
//!
//! This crate is plain types and pure functions. It does no I/O, has no async, knows no SQL and
//! no HTTP: the engine feeds it what the upstreams said and stores what it decides. Every rule of
//! the product ("new commits reset the sign-offs", "a cycle is an error value") lives here, next
//! to its tests.
//!
//! Layout:
//! - [`branch`]: git branch names as `git check-ref-format --branch` accepts them.
//! - [`ids`]: release ids.
//! - [`auth`]: roles, actors and sign-off kinds.
//! - [`release`]: release status machine, sign-offs and their rules.
//! - [`change`]: what a comparison of two branches says about one repo (breaking, infra, contributors).
//! - [`refresh`]: comparing a stored snapshot with a fresh one: what changed, whether sign-offs reset.
//! - [`order`]: deploy order by topological sort, cycles as values.
//! - [`history`]: the append-only history actions.
//! - [`ci`], [`chart`]: CI statuses and the chart version in a build log.
//! - [`deploy`]: Argo CD's answers read: running version, rollout counts, the one-word state.
//! - [`dashboard`]: the PR dashboard comment: state, renderer, size rule, statuses, commands.
//! - [`clock`]: time as a trait, so tests move it by hand.

pub mod auth;
pub mod branch;
pub mod change;
pub mod chart;
pub mod ci;
pub mod clock;
pub mod dashboard;
pub mod deploy;
pub mod history;
pub mod ids;
pub mod order;
pub mod refresh;
pub mod release;

pub use auth::{Actor, Role, SignOffKind};
pub use branch::BranchName;
pub use ids::ReleaseId;
pub use release::ReleaseStatus;

/// Unix seconds: every timestamp Shipyard stores.
pub type UnixTime = i64;
