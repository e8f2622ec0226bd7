//! GitHub Actions: the runs of one workflow for a commit, one run, a run's jobs, and a job's log.
//!
//! Shapes follow GitHub's REST reference (`actions/list-workflow-runs`,
//! `actions/get-workflow-run`, `actions/list-jobs-for-workflow-run`,
//! `actions/download-job-logs-for-workflow-run`).

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::GithubError;
use crate::api::{enc_path, enc_query, link};
use crate::transport::GitHub;

/// The answer to a conditional request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Conditional<T> {
    /// Unchanged since the ETag the caller sent (a 304, which costs no rate limit).
    NotModified,
    /// A full answer, with the ETag to send next time.
    Fresh {
        /// The answer.
        value: T,
        /// GitHub's `ETag`, if it sent one.
        etag: Option<String>,
    },
}

impl<T> Conditional<T> {
    /// The value of a fresh answer.
    pub fn fresh(self) -> Option<T> {
        match self {
            Conditional::NotModified => None,
            Conditional::Fresh { value, .. } => Some(value),
        }
    }

    /// The ETag of a fresh answer.
    pub fn etag(&self) -> Option<&str> {
        match self {
            Conditional::NotModified => None,
            Conditional::Fresh { etag, .. } => etag.as_deref(),
        }
    }
}

/// A workflow run, with times as unix seconds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowRun {
    /// Run id; a re-run keeps it.
    pub id: u64,
    /// Number of the run among the workflow's runs.
    pub run_number: u64,
    /// 1 for the first attempt, higher after re-runs.
    pub run_attempt: u32,
    /// `requested`, `queued`, `waiting`, `pending`, `in_progress` or `completed` (empty when
    /// GitHub sent none).
    pub status: String,
    /// Set once the run completed: `success`, `failure`, `cancelled`, `skipped`, ...
    pub conclusion: Option<String>,
    /// Commit the run built.
    pub head_sha: String,
    /// Branch of the push, if any.
    pub head_branch: Option<String>,
    /// Workflow file path as GitHub gives it, e.g. `.github/workflows/general.yaml`.
    pub path: String,
    /// The run's page on GitHub.
    pub html_url: String,
    /// When the run was created.
    pub created_at: i64,
    /// When the latest attempt started.
    pub run_started_at: Option<i64>,
    /// Last change.
    pub updated_at: i64,
}

/// A job of a workflow run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    /// Job id, for [`GitHub::job_log`].
    pub id: u64,
    /// Job name as the workflow names it.
    pub name: String,
    /// `queued`, `in_progress`, `completed`, ...
    pub status: String,
    /// Set once the job completed.
    pub conclusion: Option<String>,
}

/// A job log read whole or up to a limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLog {
    /// The bytes read.
    pub bytes: Vec<u8>,
    /// Whether the log went on past the limit.
    pub truncated: bool,
}

/// How much of a job log went to the sink of [`GitHub::stream_job_log`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogRead {
    /// Bytes passed to the sink.
    pub bytes: u64,
    /// Whether the log went on past the limit.
    pub truncated: bool,
}

#[derive(Deserialize)]
struct RunsWire {
    workflow_runs: Vec<RunWire>,
}

#[derive(Deserialize)]
pub(crate) struct RunWire {
    id: u64,
    run_number: u64,
    #[serde(default = "first_attempt")]
    run_attempt: u32,
    status: Option<String>,
    conclusion: Option<String>,
    head_sha: String,
    head_branch: Option<String>,
    #[serde(default)]
    path: String,
    html_url: String,
    created_at: String,
    run_started_at: Option<String>,
    updated_at: String,
}

pub(crate) fn first_attempt() -> u32 {
    1
}

#[derive(Deserialize)]
struct JobsWire {
    jobs: Vec<JobWire>,
}

#[derive(Deserialize)]
struct JobWire {
    id: u64,
    name: String,
    status: String,
    conclusion: Option<String>,
}

/// Unix seconds of an RFC 3339 time as GitHub writes them.
fn unix(field: &str, value: &str) -> Result<i64, GithubError> {
    OffsetDateTime::parse(value, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|e| GithubError::Decode(format!("{field} `{value}` is not an RFC 3339 time: {e}")))
}

impl TryFrom<RunWire> for WorkflowRun {
    type Error = GithubError;

    fn try_from(w: RunWire) -> Result<Self, GithubError> {
        Ok(WorkflowRun {
            created_at: unix("created_at", &w.created_at)?,
            updated_at: unix("updated_at", &w.updated_at)?,
            run_started_at: w
                .run_started_at
                .as_deref()
                .map(|t| unix("run_started_at", t))
                .transpose()?,
            id: w.id,
            run_number: w.run_number,
            run_attempt: w.run_attempt,
            status: w.status.unwrap_or_default(),
            conclusion: w.conclusion,
            head_sha: w.head_sha,
            head_branch: w.head_branch,
            path: w.path,
            html_url: w.html_url,
        })
    }
}

fn etag_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

impl GitHub {
    /// The `push` runs of `.github/workflows/{workflow_file}` (`GET
    /// /repos/{o}/{r}/actions/workflows/{file}/runs?branch=&head_sha=&event=push`), newest
    /// first, at most the 100 newest. An empty `branch` or `head_sha` filters nothing.
    ///
    /// With `if_none_match` (the ETag of an earlier answer) an unchanged list is
    /// [`Conditional::NotModified`] and costs no rate limit. A workflow file GitHub does not
    /// know (404) lists no runs: nothing was built either way.
    pub async fn workflow_runs(
        &self,
        owner: &str,
        repo: &str,
        workflow_file: &str,
        branch: &str,
        head_sha: &str,
        if_none_match: Option<&str>,
    ) -> Result<Conditional<Vec<WorkflowRun>>, GithubError> {
        let mut query = vec!["event=push".to_owned(), "per_page=100".to_owned()];
        if !branch.is_empty() {
            query.push(format!("branch={}", enc_query(branch)));
        }
        if !head_sha.is_empty() {
            query.push(format!("head_sha={}", enc_query(head_sha)));
        }
        let url = self.url(&format!(
            "/repos/{}/{}/actions/workflows/{}/runs?{}",
            enc_path(owner),
            enc_path(repo),
            enc_path(workflow_file).replace('/', "%2F"),
            query.join("&")
        ));
        let answer = self.get_conditional(&url, if_none_match).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_MODIFIED => return Ok(Conditional::NotModified),
            StatusCode::NOT_FOUND => {
                return Ok(Conditional::Fresh {
                    value: Vec::new(),
                    etag: None,
                });
            }
            _ => return Err(answer.rejected()),
        }
        let wire: RunsWire = answer.json()?;
        let value = wire
            .workflow_runs
            .into_iter()
            .map(WorkflowRun::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Conditional::Fresh {
            value,
            etag: etag_of(&answer.headers),
        })
    }

    /// One workflow run (`GET /repos/{o}/{r}/actions/runs/{run_id}`), conditional on
    /// `if_none_match` like [`GitHub::workflow_runs`]. A run that does not exist is an error.
    pub async fn workflow_run(
        &self,
        owner: &str,
        repo: &str,
        run_id: u64,
        if_none_match: Option<&str>,
    ) -> Result<Conditional<WorkflowRun>, GithubError> {
        let url = self.url(&format!(
            "/repos/{}/{}/actions/runs/{run_id}",
            enc_path(owner),
            enc_path(repo)
        ));
        let answer = self.get_conditional(&url, if_none_match).await?;
        match answer.status {
            StatusCode::OK => Ok(Conditional::Fresh {
                value: answer.json::<RunWire>()?.try_into()?,
                etag: etag_of(&answer.headers),
            }),
            StatusCode::NOT_MODIFIED => Ok(Conditional::NotModified),
            _ => Err(answer.rejected()),
        }
    }

    /// The jobs of the latest attempt of a run (`GET /repos/{o}/{r}/actions/runs/{id}/jobs`),
    /// all pages, in GitHub's order.
    pub async fn run_jobs(
        &self,
        owner: &str,
        repo: &str,
        run_id: u64,
    ) -> Result<Vec<Job>, GithubError> {
        let mut next = Some(self.url(&format!(
            "/repos/{}/{}/actions/runs/{run_id}/jobs?per_page=100",
            enc_path(owner),
            enc_path(repo)
        )));
        let mut jobs = Vec::new();
        while let Some(url) = next {
            let answer = self.get(&url).await?;
            if answer.status != StatusCode::OK {
                return Err(answer.rejected());
            }
            let page: JobsWire = answer.json()?;
            jobs.extend(page.jobs.into_iter().map(|j| Job {
                id: j.id,
                name: j.name,
                status: j.status,
                conclusion: j.conclusion,
            }));
            next = link(&answer.headers, "next");
        }
        Ok(jobs)
    }

    /// A job's log, at most `max_bytes` of it, into `sink` as it arrives: the whole log is never
    /// held in memory. `Ok(None)` when the log does not exist or is gone (404/410).
    ///
    /// GitHub answers the logs endpoint with a redirect to a short-lived URL on another host;
    /// that URL is fetched by a separate client that sends neither the token nor any other
    /// GitHub header.
    pub async fn stream_job_log<F>(
        &self,
        owner: &str,
        repo: &str,
        job_id: u64,
        max_bytes: usize,
        mut sink: F,
    ) -> Result<Option<LogRead>, GithubError>
    where
        F: FnMut(&[u8]) + Send,
    {
        let url = self.url(&format!(
            "/repos/{}/{}/actions/jobs/{job_id}/logs",
            enc_path(owner),
            enc_path(repo)
        ));
        let answer = self.get_conditional(&url, None).await?;
        match answer.status {
            s if s.is_redirection() && s != StatusCode::NOT_MODIFIED => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
            // Served in place (no redirect): the body is the log.
            StatusCode::OK => {
                let body = &answer.body;
                let n = body.len().min(max_bytes);
                if n > 0 {
                    sink(&body[..n]);
                }
                return Ok(Some(LogRead {
                    bytes: n as u64,
                    truncated: body.len() > max_bytes,
                }));
            }
            _ => return Err(answer.rejected()),
        }
        let location = answer
            .headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                GithubError::Decode("job log redirect without a Location header".into())
            })?;
        let target = url::Url::parse(&url)
            .and_then(|base| base.join(location))
            .map_err(|e| GithubError::Decode(format!("job log redirect to a bad URL: {e}")))?;
        if !matches!(target.scheme(), "https" | "http") {
            return Err(GithubError::Decode(format!(
                "job log redirect to a {} URL",
                target.scheme()
            )));
        }
        let read = self.download(&target, max_bytes, &mut sink).await?;
        Ok(read.map(|d| LogRead {
            bytes: d.bytes,
            truncated: d.truncated,
        }))
    }

    /// [`GitHub::stream_job_log`] into memory: at most `max_bytes` of the log.
    pub async fn job_log(
        &self,
        owner: &str,
        repo: &str,
        job_id: u64,
        max_bytes: usize,
    ) -> Result<Option<JobLog>, GithubError> {
        let mut bytes = Vec::new();
        let read = self
            .stream_job_log(owner, repo, job_id, max_bytes, |chunk| {
                bytes.extend_from_slice(chunk);
            })
            .await?;
        Ok(read.map(|r| JobLog {
            bytes,
            truncated: r.truncated,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_times_become_unix_seconds() {
        assert_eq!(unix("t", "2026-01-05T09:00:00Z").ok(), Some(1_767_603_600));
        assert_eq!(
            unix("t", "2021-12-15T20:11:38.000Z").ok(),
            Some(1_639_599_098)
        );
        assert_eq!(
            unix("t", "2026-01-05T10:00:00+01:00").ok(),
            Some(1_767_603_600)
        );
        assert!(matches!(
            unix("t", "yesterday"),
            Err(GithubError::Decode(_))
        ));
    }

    #[test]
    fn conditional_accessors() {
        let fresh = Conditional::Fresh {
            value: 3,
            etag: Some("W/\"x\"".to_owned()),
        };
        assert_eq!(fresh.etag(), Some("W/\"x\""));
        assert_eq!(fresh.fresh(), Some(3));
        let unchanged: Conditional<u8> = Conditional::NotModified;
        assert_eq!(unchanged.etag(), None);
        assert_eq!(unchanged.fresh(), None);
    }
}
