//! How one check of a repo's build changes its tracking row: the pure part of the CI tracker.
//!
//! A check (a poll of GitHub's runs list, or a `workflow_run` webhook) is an [`Observation`];
//! [`observe`] turns the stored row and the observation into the next row and the history
//! entries the change deserves. Fetching the chart version of a successful run happens between
//! the two (see [`Step::NeedsChart`]), because it costs requests and only a success needs it.

use shipyard_core::ci::{CiStatus, Verdict, verdict};
use shipyard_core::history::HistoryDetails;
use shipyard_store::CiStatusRecord;

/// The tracker's settings, from the `ci` section of the configuration.
#[derive(Debug, Clone)]
pub struct CiSettings {
    /// Only runs of `.github/workflows/<this>` count.
    pub workflow_file: String,
    /// Seconds between polls of a run that is not complete.
    pub poll_interval: i64,
    /// Seconds between polls while webhooks keep arriving (the safety net).
    pub webhook_poll_interval: i64,
    /// Seconds after which a run still incomplete is `timeout`.
    pub poll_timeout: i64,
    /// Checks without a matching run before `no_workflow`.
    pub no_workflow_after_checks: u32,
}

impl CiSettings {
    /// The tracked workflow's path in its repository.
    pub fn workflow_path(&self) -> String {
        format!(".github/workflows/{}", self.workflow_file)
    }

    /// Whether a run's `path`, in any form GitHub writes it, is of the tracked workflow.
    pub fn is_tracked_workflow(&self, run_path: &str) -> bool {
        shipyard_core::ci::workflow_path_matches(run_path, &self.workflow_file)
    }
}

/// A workflow run as a check saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSeen {
    /// Run id (stays the same across re-runs).
    pub id: u64,
    /// Run number.
    pub run_number: u64,
    /// Attempt; re-runs count up.
    pub run_attempt: u64,
    /// GitHub's `status`.
    pub status: String,
    /// GitHub's `conclusion`, once completed.
    pub conclusion: Option<String>,
    /// The run's page.
    pub html_url: String,
    /// When the run (this attempt) started, if GitHub says.
    pub run_started_at: Option<i64>,
    /// When GitHub last changed the run.
    pub updated_at: Option<i64>,
    /// When the run was created.
    pub created_at: Option<i64>,
}

/// What one check saw.
#[derive(Debug, Clone)]
pub enum Observation {
    /// The runs list did not change since the stored ETag (304).
    NotModified,
    /// The runs list of the workflow for the merge commit (possibly empty), with its ETag.
    Runs {
        /// The matching runs.
        runs: Vec<RunSeen>,
        /// The answer's ETag, for the next conditional request.
        etag: Option<String>,
    },
    /// A `workflow_run` webhook about one run of the merge commit.
    Webhook(RunSeen),
}

/// What to do with the result of [`observe`].
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Store `record` and `history`.
    Store {
        /// The next row.
        record: CiStatusRecord,
        /// History entries: action and details.
        history: Vec<HistoryDetails>,
    },
    /// The run succeeded: read the chart version of this run, then call [`succeeded`].
    NeedsChart {
        /// The row so far (status still the stored one).
        record: CiStatusRecord,
        /// The successful run.
        run: RunSeen,
    },
}

/// The newest run: the highest attempt, then the latest created, then the highest id.
pub fn newest(runs: &[RunSeen]) -> Option<&RunSeen> {
    runs.iter()
        .max_by_key(|r| (r.run_attempt, r.created_at.unwrap_or(0), r.id))
}

/// The next state of `rec` after a check at `now` saw `seen`.
pub fn observe(rec: &CiStatusRecord, seen: Observation, s: &CiSettings, now: i64) -> Step {
    let mut next = rec.clone();
    next.last_checked_at = Some(now);
    next.next_check_at = now + s.poll_interval;
    let run = match seen {
        Observation::NotModified => None,
        Observation::Runs { runs, etag } => {
            if etag.is_some() {
                next.etag = etag;
            }
            newest(&runs).cloned()
        }
        Observation::Webhook(run) => {
            next.next_check_at = now + s.webhook_poll_interval;
            // An older attempt than the one already tracked changes nothing.
            let older =
                rec.run_id == Some(run.id) && rec.run_attempt.is_some_and(|a| a > run.run_attempt);
            (!older).then_some(run)
        }
    };
    let mut history = Vec::new();
    match run {
        None if rec.run_id.is_none() => next.checks += 1,
        None => {}
        Some(run) => {
            let status = CiStatus::from_run(&run.status, run.conclusion.as_deref());
            let new_attempt =
                rec.run_id != Some(run.id) || rec.run_attempt != Some(run.run_attempt);
            next.run_id = Some(run.id);
            next.run_number = Some(run.run_number);
            next.run_attempt = Some(run.run_attempt);
            next.run_url = Some(run.html_url.clone());
            if new_attempt {
                next.started_at = None;
                next.completed_at = None;
                next.conclusion = None;
                next.chart_version = None;
            }
            if status == CiStatus::Success {
                if rec.status == CiStatus::Success && !new_attempt {
                    return Step::Store {
                        record: next,
                        history,
                    };
                }
                return Step::NeedsChart { record: next, run };
            }
            if next.started_at.is_none() && status != CiStatus::Pending {
                next.started_at = Some(run.run_started_at.unwrap_or(now));
                if !status.is_final() {
                    history.push(HistoryDetails::CiStarted {
                        repo: rec.repo_name.clone(),
                        run_number: run.run_number,
                        run_id: run.id,
                    });
                }
            }
            if status.is_final() {
                next.completed_at = Some(run.updated_at.unwrap_or(now));
                next.conclusion = run.conclusion.clone();
            }
            if status != rec.status && status.is_failed() {
                history.push(HistoryDetails::CiFailed {
                    repo: rec.repo_name.clone(),
                    reason: run
                        .conclusion
                        .clone()
                        .unwrap_or_else(|| status.as_str().to_owned()),
                    run_number: Some(run.run_number),
                    workflow: None,
                    checks: None,
                });
            }
            next.status = status;
        }
    }
    if !next.status.is_final() {
        match verdict(
            next.run_id.is_some(),
            next.checks,
            s.no_workflow_after_checks,
            next.tracking_started_at,
            now,
            s.poll_timeout,
        ) {
            Verdict::KeepChecking => {}
            Verdict::NoWorkflow => {
                next.status = CiStatus::NoWorkflow;
                next.completed_at = Some(now);
                history.push(HistoryDetails::CiFailed {
                    repo: rec.repo_name.clone(),
                    reason: "no_workflow".into(),
                    run_number: None,
                    workflow: Some(s.workflow_path()),
                    checks: Some(next.checks),
                });
            }
            Verdict::Timeout => {
                next.status = CiStatus::Timeout;
                next.completed_at = Some(now);
                history.push(HistoryDetails::CiFailed {
                    repo: rec.repo_name.clone(),
                    reason: "timeout".into(),
                    run_number: next.run_number,
                    workflow: None,
                    checks: None,
                });
            }
        }
    }
    Step::Store {
        record: next,
        history,
    }
}

/// The row of a successful run once its chart version has been read (`None`: no log, no match).
pub fn succeeded(
    mut record: CiStatusRecord,
    run: &RunSeen,
    chart_version: Option<String>,
    now: i64,
) -> (CiStatusRecord, Vec<HistoryDetails>) {
    let mut history = Vec::new();
    if record.started_at.is_none() {
        record.started_at = Some(run.run_started_at.unwrap_or(now));
    }
    record.status = CiStatus::Success;
    record.conclusion = run.conclusion.clone();
    record.completed_at = Some(run.updated_at.unwrap_or(now));
    record.chart_version = chart_version.clone();
    history.push(HistoryDetails::CiCompleted {
        repo: record.repo_name.clone(),
        run_number: run.run_number,
        chart_version,
    });
    (record, history)
}

#[cfg(test)]
mod tests {
    use super::*;
    use shipyard_core::ReleaseId;
    use shipyard_core::history::HistoryAction;

    fn settings() -> CiSettings {
        CiSettings {
            workflow_file: "general.yaml".into(),
            poll_interval: 30,
            webhook_poll_interval: 300,
            poll_timeout: 86_400,
            no_workflow_after_checks: 3,
        }
    }

    fn pending(now: i64) -> CiStatusRecord {
        CiStatusRecord {
            repo_id: 1,
            release_id: ReleaseId::parse("abcdefghij").unwrap_or_else(|| unreachable!()),
            repo_name: "billing".into(),
            merge_commit_sha: "abc123".into(),
            status: CiStatus::Pending,
            conclusion: None,
            run_id: None,
            run_number: None,
            run_attempt: None,
            run_url: None,
            chart_version: None,
            tracking_started_at: now,
            started_at: None,
            completed_at: None,
            last_checked_at: None,
            checks: 0,
            etag: None,
            next_check_at: now,
            lease_until: None,
            version: 0,
        }
    }

    fn run(status: &str, conclusion: Option<&str>, attempt: u64) -> RunSeen {
        RunSeen {
            id: 77,
            run_number: 937,
            run_attempt: attempt,
            status: status.into(),
            conclusion: conclusion.map(str::to_owned),
            html_url: "https://github.com/acme/billing/actions/runs/77".into(),
            run_started_at: Some(1_000),
            updated_at: Some(1_100),
            created_at: Some(990),
        }
    }

    fn stored(step: Step) -> (CiStatusRecord, Vec<HistoryDetails>) {
        match step {
            Step::Store { record, history } => (record, history),
            Step::NeedsChart { .. } => panic!("expected a row to store"),
        }
    }

    fn actions(h: &[HistoryDetails]) -> Vec<HistoryAction> {
        h.iter().map(HistoryDetails::action).collect()
    }

    #[test]
    fn a_run_goes_from_pending_to_success_with_its_chart() {
        let s = settings();
        let rec = pending(0);
        let (rec, h) = stored(observe(
            &rec,
            Observation::Runs {
                runs: vec![],
                etag: Some("\"e1\"".into()),
            },
            &s,
            30,
        ));
        assert_eq!((rec.status, rec.checks, h.len()), (CiStatus::Pending, 1, 0));
        assert_eq!(rec.etag.as_deref(), Some("\"e1\""));
        assert_eq!(rec.next_check_at, 60);

        let seen = Observation::Runs {
            runs: vec![run("queued", None, 1)],
            etag: Some("\"e2\"".into()),
        };
        let (rec, h) = stored(observe(&rec, seen, &s, 60));
        assert_eq!(rec.status, CiStatus::Queued);
        assert_eq!(actions(&h), [HistoryAction::CiStarted]);
        assert_eq!((rec.run_id, rec.run_number), (Some(77), Some(937)));

        let (rec, h) = stored(observe(
            &rec,
            Observation::Runs {
                runs: vec![run("in_progress", None, 1)],
                etag: None,
            },
            &s,
            90,
        ));
        assert_eq!(rec.status, CiStatus::InProgress);
        assert!(h.is_empty(), "started once only");
        assert_eq!(rec.etag.as_deref(), Some("\"e2\""), "kept when none came");

        let done = run("completed", Some("success"), 1);
        let Step::NeedsChart { record, run } = observe(
            &rec,
            Observation::Runs {
                runs: vec![done.clone()],
                etag: None,
            },
            &s,
            120,
        ) else {
            panic!("a success needs its chart version");
        };
        assert_eq!(run, done);
        let (rec, h) = succeeded(record, &run, Some("1.1.937".into()), 120);
        assert_eq!(rec.status, CiStatus::Success);
        assert_eq!(rec.chart_version.as_deref(), Some("1.1.937"));
        assert_eq!(rec.completed_at, Some(1_100));
        assert_eq!(actions(&h), [HistoryAction::CiCompleted]);
        assert_eq!(h[0].fields()["chart_version"], "1.1.937");

        // Seen again: nothing new to record.
        let (again, h) = stored(observe(
            &rec,
            Observation::Runs {
                runs: vec![done],
                etag: None,
            },
            &s,
            150,
        ));
        assert!(h.is_empty());
        assert_eq!(again.chart_version.as_deref(), Some("1.1.937"));
    }

    #[test]
    fn failures_and_cancellations_are_recorded_once() {
        let s = settings();
        for (conclusion, status) in [
            ("failure", CiStatus::Failure),
            ("timed_out", CiStatus::Failure),
            ("cancelled", CiStatus::Cancelled),
        ] {
            let rec = pending(0);
            let seen = || Observation::Runs {
                runs: vec![run("completed", Some(conclusion), 1)],
                etag: None,
            };
            let (rec, h) = stored(observe(&rec, seen(), &s, 30));
            assert_eq!(rec.status, status);
            assert_eq!(rec.conclusion.as_deref(), Some(conclusion));
            assert_eq!(actions(&h), [HistoryAction::CiFailed]);
            assert_eq!(h[0].fields()["reason"], conclusion);
            let (_, h) = stored(observe(&rec, seen(), &s, 60));
            assert!(h.is_empty());
        }
    }

    #[test]
    fn no_workflow_after_the_allowed_checks_and_timeout_after_the_limit() {
        let s = settings();
        let mut rec = pending(0);
        for (i, at) in [30, 60].into_iter().enumerate() {
            let (next, h) = stored(observe(&rec, Observation::NotModified, &s, at));
            assert_eq!(
                (next.status, next.checks as usize),
                (CiStatus::Pending, i + 1)
            );
            assert!(h.is_empty());
            rec = next;
        }
        let (rec, h) = stored(observe(&rec, Observation::NotModified, &s, 90));
        assert_eq!(rec.status, CiStatus::NoWorkflow);
        assert_eq!(actions(&h), [HistoryAction::CiFailed]);
        assert_eq!(h[0].fields()["reason"], "no_workflow");

        let rec = pending(0);
        let (rec, _) = stored(observe(
            &rec,
            Observation::Runs {
                runs: vec![run("in_progress", None, 1)],
                etag: None,
            },
            &s,
            30,
        ));
        let (rec, h) = stored(observe(&rec, Observation::NotModified, &s, 86_400));
        assert_eq!(rec.status, CiStatus::Timeout);
        assert_eq!(h[0].fields()["reason"], "timeout");
    }

    #[test]
    fn the_newest_attempt_wins_and_a_rerun_starts_over() {
        let s = settings();
        let runs = vec![
            run("completed", Some("failure"), 1),
            run("in_progress", None, 2),
        ];
        assert_eq!(newest(&runs).map(|r| r.run_attempt), Some(2));
        let rec = pending(0);
        let (rec, _) = stored(observe(
            &rec,
            Observation::Runs {
                runs: vec![run("completed", Some("failure"), 1)],
                etag: None,
            },
            &s,
            30,
        ));
        assert_eq!(rec.status, CiStatus::Failure);
        // A re-run arrives by webhook: tracking starts over on attempt 2, polled less often.
        let (rec, h) = stored(observe(
            &rec,
            Observation::Webhook(run("queued", None, 2)),
            &s,
            60,
        ));
        assert_eq!((rec.status, rec.run_attempt), (CiStatus::Queued, Some(2)));
        assert_eq!((rec.conclusion.as_deref(), rec.completed_at), (None, None));
        assert_eq!(actions(&h), [HistoryAction::CiStarted]);
        assert_eq!(rec.next_check_at, 60 + 300);
        // A late delivery about attempt 1 changes nothing.
        let (late, h) = stored(observe(
            &rec,
            Observation::Webhook(run("completed", Some("failure"), 1)),
            &s,
            70,
        ));
        assert_eq!((late.status, late.run_attempt), (CiStatus::Queued, Some(2)));
        assert!(h.is_empty());
    }
}
