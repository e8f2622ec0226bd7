//! How the release page shows deployments: a cell per repo and environment, with details on
//! hover and focus, and the per-environment counts in the page head.

use shipyard_core::deploy::{DeployState, EnvironmentSummary};
use shipyard_engine::DeployStatusRecord;

/// A repo in one environment, e.g. `✅ 1.1.940` or `🔄 1.1.939→1.1.940`.
pub(crate) struct DeployBadge {
    /// The environment.
    pub env: String,
    /// The state's name (`rolling_out`…), for CSS and tests.
    pub state: &'static str,
    /// `✅`, `🔄`, `⚠️`, `❌`, `⏳` or `?`.
    pub icon: &'static str,
    /// The text beside the icon.
    pub text: String,
    /// Label and value pairs shown on hover and focus.
    pub details: Vec<(&'static str, String)>,
}

impl DeployBadge {
    /// The cell of a repo in `env` as `row` says, or waiting for a chart when there is none.
    pub(crate) fn new(env: &str, row: Option<&DeployStatusRecord>, now: i64) -> DeployBadge {
        let Some(row) = row else {
            return DeployBadge {
                env: env.to_owned(),
                state: DeployState::Waiting.as_str(),
                icon: icon(DeployState::Waiting),
                text: "waiting".to_owned(),
                details: vec![("Expected", "no chart version from CI yet".to_owned())],
            };
        };
        let state = row.state();
        let current = row.current_version.clone();
        let text = match state {
            DeployState::Deployed => current.unwrap_or_else(|| "deployed".to_owned()),
            DeployState::RollingOut => match (current, row.target_version.clone()) {
                (Some(c), Some(t)) if c != t => format!("{c}→{t}"),
                (_, Some(t)) => t,
                (Some(c), None) => c,
                (None, None) => "rolling out".to_owned(),
            },
            DeployState::Mismatch => current.unwrap_or_else(|| "out of sync".to_owned()),
            DeployState::Failed => row
                .health_status
                .clone()
                .filter(|h| h == "Degraded")
                .or_else(|| row.operation_phase.clone())
                .unwrap_or_else(|| "failed".to_owned()),
            DeployState::Waiting => "waiting".to_owned(),
            DeployState::Unknown => "unknown".to_owned(),
        };
        let mut details = vec![("Application", row.app_name.clone())];
        let mut add = |label: &'static str, value: Option<String>| {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                details.push((label, v));
            }
        };
        add("State", Some(state.as_str().replace('_', " ")));
        add("Expected", row.expected_version.clone());
        add("Running", row.current_version.clone());
        add("Target", row.target_version.clone());
        add("Sync", row.sync_status.clone());
        add("Health", row.health_status.clone());
        add("Operation", row.operation_phase.clone());
        add(
            "Replicas",
            row.rollout
                .map(|r| format!("{} ready, {} updated of {}", r.ready, r.updated, r.replicas)),
        );
        add("Message", row.message.clone());
        add("Error", row.error.clone());
        add("Checked", row.last_checked_at.map(|t| super::ago(t, now)));
        DeployBadge {
            env: env.to_owned(),
            state: state.as_str(),
            icon: icon(state),
            text,
            details,
        }
    }

    /// The whole cell as plain text (for `title` and screen readers).
    pub(crate) fn words(&self) -> String {
        format!("{}: {} {}", self.env, self.icon, self.text)
    }
}

fn icon(state: DeployState) -> &'static str {
    match state {
        DeployState::Deployed => "✅",
        DeployState::RollingOut => "🔄",
        DeployState::Mismatch => "⚠️",
        DeployState::Failed => "❌",
        DeployState::Waiting => "⏳",
        DeployState::Unknown => "?",
    }
}

/// `prod 7/12 deployed`, with the other states that are not zero.
pub(crate) struct EnvCount {
    pub env: String,
    pub text: String,
    pub complete: bool,
}

impl EnvCount {
    pub(crate) fn new(s: &EnvironmentSummary) -> EnvCount {
        let mut text = format!("{} {}/{} deployed", s.environment, s.deployed, s.total);
        let others: Vec<String> = [
            (s.rolling_out, "rolling out"),
            (s.failed, "failed"),
            (s.mismatch, "mismatch"),
            (s.unknown, "unknown"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
        if !others.is_empty() {
            text.push_str(&format!(" ({})", others.join(", ")));
        }
        EnvCount {
            env: s.environment.clone(),
            text,
            complete: s.all_deployed(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shipyard_core::ReleaseId;
    use shipyard_core::deploy::Rollout;

    fn row(current: &str, target: &str, sync: &str, health: &str) -> DeployStatusRecord {
        let mut r = DeployStatusRecord::new(
            1,
            "qa",
            &ReleaseId::parse("aaaaaaaaaa").unwrap(),
            "billing",
            "billing-qa",
            Some("1.1.940".into()),
        );
        r.found = true;
        r.current_version = Some(current.into());
        r.target_version = Some(target.into());
        r.sync_status = Some(sync.into());
        r.health_status = Some(health.into());
        r.last_checked_at = Some(100);
        r.last_ok_at = Some(100);
        r
    }

    #[test]
    fn cells_read_as_the_spec_shows_them() {
        let cases = [
            (row("1.1.940", "1.1.940", "Synced", "Healthy"), "✅ 1.1.940"),
            (
                row("1.1.939", "1.1.940", "Synced", "Progressing"),
                "🔄 1.1.939→1.1.940",
            ),
            (
                row("1.1.938", "1.1.938", "OutOfSync", "Healthy"),
                "⚠️ 1.1.938",
            ),
            (
                row("1.1.940", "1.1.940", "Synced", "Degraded"),
                "❌ Degraded",
            ),
        ];
        for (r, want) in cases {
            let b = DeployBadge::new("qa", Some(&r), 160);
            assert_eq!(format!("{} {}", b.icon, b.text), want);
        }
        let mut down = row("1.1.940", "1.1.940", "Synced", "Healthy");
        down.last_checked_at = Some(150);
        down.error = Some("Cloudflare Access rejected the service token for qa".into());
        let b = DeployBadge::new("qa", Some(&down), 160);
        assert_eq!((b.icon, b.text.as_str()), ("?", "unknown"));
        assert!(
            b.details
                .iter()
                .any(|(l, v)| *l == "Error" && v.contains("Cloudflare"))
        );
        assert!(
            b.details
                .iter()
                .any(|(l, v)| *l == "Running" && v == "1.1.940"),
            "last values kept"
        );
        let none = DeployBadge::new("prod", None, 160);
        assert_eq!(
            (none.icon, none.text.as_str(), none.state),
            ("⏳", "waiting", "waiting")
        );
    }

    #[test]
    fn details_name_replicas_and_when() {
        let mut r = row("1.1.939", "1.1.940", "Synced", "Progressing");
        r.rollout = Some(Rollout {
            replicas: 3,
            ready: 2,
            updated: 1,
        });
        let b = DeployBadge::new("qa", Some(&r), 160);
        let get = |label: &str| {
            b.details
                .iter()
                .find(|(l, _)| *l == label)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(get("Replicas").as_deref(), Some("2 ready, 1 updated of 3"));
        assert_eq!(get("Sync").as_deref(), Some("Synced"));
        assert!(get("Checked").is_some());
    }

    #[test]
    fn head_counts_name_what_is_not_deployed() {
        let s = EnvironmentSummary {
            environment: "prod".into(),
            total: 12,
            deployed: 7,
            rolling_out: 2,
            failed: 1,
            waiting: 2,
            ..Default::default()
        };
        let c = EnvCount::new(&s);
        assert_eq!(c.text, "prod 7/12 deployed (2 rolling out, 1 failed)");
        assert!(!c.complete);
    }
}
