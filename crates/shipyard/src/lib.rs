//! The `shipyard` program: assembles the engine and the web edge from configuration, and runs
//! the demo. Only this crate knows about the command line.
//!
//! Layout:
//! - [`app`]: configuration → store, GitHub client, engine, web state.
//! - [`demo`]: the simulated org plus the real server, for a first look.
//! - [`client`]: the `shipyard release …` commands, talking to a running server's API.
//! - [`pr_dashboard`]: `shipyard pr-dashboard …`, the pull-request dashboard inside GitHub Actions.

pub mod app;
pub mod client;
pub mod demo;
pub mod pr_dashboard;

/// Installs the process-wide TLS crypto provider once; later calls are no-ops.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
