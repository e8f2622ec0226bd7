//! How the release page shows CI: a badge per repo row and the rows of the "CI/CD" table.

use shipyard_core::ci::CiStatus;
use shipyard_engine::CiStatusRecord;

/// A repo's CI state in a few characters, e.g. `✓ #937 → v1.1.937`.
pub(crate) struct CiBadge {
    /// CSS modifier: `ok`, `run`, `fail`, `grey`, `wait`.
    pub tone: &'static str,
    /// `✓`, `⏳`, `✗`, `—` or `…`.
    pub icon: &'static str,
    /// The run number, linked to `run_url` when there is one.
    pub run_number: Option<u64>,
    /// The run's page on GitHub (http(s) only).
    pub run_url: Option<String>,
    /// What follows the run number: `→ v1.1.937`, `in progress`, `failed`, `no workflow`…
    pub text: String,
    /// The status name, for a tooltip and tests.
    pub status: &'static str,
}

impl CiBadge {
    pub(crate) fn new(c: &CiStatusRecord) -> CiBadge {
        let (tone, icon, text) = match c.status {
            CiStatus::Success => (
                "ok",
                "✓",
                c.chart_version
                    .as_ref()
                    .map(|v| format!("→ v{v}"))
                    .unwrap_or_else(|| "built, no chart version".to_owned()),
            ),
            CiStatus::Queued => ("run", "⏳", "queued".to_owned()),
            CiStatus::InProgress => ("run", "⏳", "in progress".to_owned()),
            CiStatus::Pending => ("wait", "…", "waiting for a run".to_owned()),
            CiStatus::Failure => ("fail", "✗", "failed".to_owned()),
            CiStatus::Cancelled => ("fail", "✗", "cancelled".to_owned()),
            CiStatus::Timeout => ("fail", "✗", "timed out".to_owned()),
            CiStatus::NoWorkflow => ("grey", "—", "no workflow".to_owned()),
            CiStatus::Skipped => ("grey", "—", "skipped".to_owned()),
            CiStatus::Neutral => ("grey", "—", "neutral".to_owned()),
        };
        CiBadge {
            tone,
            icon,
            run_number: c.run_number,
            run_url: c
                .run_url
                .clone()
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            text,
            status: c.status.as_str(),
        }
    }

    /// The status in words: `in progress`, `no workflow`…
    pub(crate) fn label(&self) -> String {
        self.status.replace('_', " ")
    }

    /// The whole badge as plain text (for `title` and screen readers).
    pub(crate) fn words(&self) -> String {
        match self.run_number {
            Some(n) => format!("{} #{n} {}", self.icon, self.text),
            None => format!("{} {}", self.icon, self.text),
        }
    }
}

/// A line of the "CI/CD" table.
pub(crate) struct CiRow {
    pub repo: String,
    pub badge: CiBadge,
    pub chart_version: Option<String>,
    pub merge_commit: String,
    pub started: Option<super::release::When>,
    pub completed: Option<super::release::When>,
    /// The version in each environment, in order: the rest of the trace.
    pub deploy: Vec<super::deploy::DeployBadge>,
}

impl CiRow {
    pub(crate) fn new(repo: &str, c: &CiStatusRecord, now: i64) -> CiRow {
        CiRow {
            repo: repo.to_owned(),
            badge: CiBadge::new(c),
            chart_version: c.chart_version.clone(),
            merge_commit: c.merge_commit_sha.chars().take(7).collect(),
            started: c.started_at.map(|t| super::release::When::new(t, now)),
            completed: c.completed_at.map(|t| super::release::When::new(t, now)),
            deploy: Vec::new(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use shipyard_core::ReleaseId;

    fn rec(status: CiStatus) -> CiStatusRecord {
        CiStatusRecord {
            repo_id: 1,
            release_id: ReleaseId::parse("aaaaaaaaaa").unwrap(),
            repo_name: "billing".into(),
            merge_commit_sha: "0123456789abcdef".into(),
            status,
            conclusion: None,
            run_id: Some(77),
            run_number: Some(937),
            run_attempt: Some(1),
            run_url: Some("https://github.com/acme/billing/actions/runs/77".into()),
            chart_version: None,
            tracking_started_at: 0,
            started_at: None,
            completed_at: None,
            last_checked_at: None,
            checks: 0,
            etag: None,
            next_check_at: 0,
            lease_until: None,
            version: 1,
        }
    }

    #[test]
    fn badges_read_as_the_spec_shows_them() {
        let mut ok = rec(CiStatus::Success);
        ok.chart_version = Some("1.1.937".into());
        assert_eq!(CiBadge::new(&ok).words(), "✓ #937 → v1.1.937");
        let mut running = rec(CiStatus::InProgress);
        running.run_number = Some(412);
        assert_eq!(CiBadge::new(&running).words(), "⏳ #412 in progress");
        let mut failed = rec(CiStatus::Failure);
        failed.run_number = Some(156);
        assert_eq!(CiBadge::new(&failed).words(), "✗ #156 failed");
        let mut none = rec(CiStatus::NoWorkflow);
        none.run_number = None;
        assert_eq!(CiBadge::new(&none).words(), "— no workflow");
        assert_eq!(CiBadge::new(&none).tone, "grey");
        assert_eq!(CiBadge::new(&rec(CiStatus::Skipped)).tone, "grey");
        assert_eq!(CiBadge::new(&rec(CiStatus::Timeout)).tone, "fail");
    }

    #[test]
    fn only_web_links_are_kept() {
        let mut c = rec(CiStatus::Failure);
        c.run_url = Some("javascript:alert(1)".into());
        assert_eq!(CiBadge::new(&c).run_url, None);
    }
}
