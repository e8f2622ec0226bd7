//! GitHub Actions over REST: workflow runs, their jobs and the redirect to a job's log, in
//! GitHub's shapes (`workflow-run`, `job`), plus the `workflow_run` and `workflow_job` webhook
//! deliveries.

use std::cmp::Reverse;
use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, Query, RawQuery, State};
use axum::response::Response;
use http::{HeaderValue, StatusCode, Uri};
use serde_json::{Value, json};

use super::encoding::node_id;
use super::faults::json_response;
use super::rest::{
    Params, find_repo, link_header, not_found_with, ok, page_range, paging, with_link,
};
use super::runs::{Job, Run, Workflow};
use super::state::{GitState, Repo, iso};
use super::{Inner, LogAvailability, logs, payload};

/// Labels every simulated job runs on.
const RUNNER_LABEL: &str = "ubuntu-latest";

/// The `workflow` object of a `workflow_run` delivery.
pub(crate) fn workflow(inner: &Inner, r: &Repo, w: &Workflow) -> Value {
    let api = inner.api_repo(&r.name);
    let html = inner.html_repo(&r.name);
    let path = w.path();
    json!({
        "id": w.id,
        "node_id": node_id("Workflow", &w.id.to_string()),
        "name": w.name,
        "path": path,
        "state": "active",
        "created_at": iso(w.created_at),
        "updated_at": iso(w.created_at),
        "url": format!("{api}/actions/workflows/{}", w.id),
        "html_url": format!("{html}/blob/{}/{path}", r.default_branch),
        "badge_url": format!("{html}/workflows/{}/badge.svg", w.name)
    })
}

/// A workflow run (`workflow-run` of the REST reference, also `workflow_run` of deliveries).
pub(crate) fn workflow_run(inner: &Inner, git: &GitState, run: &Run) -> Value {
    let Some(r) = git.repo(&run.repo) else {
        return Value::Null;
    };
    let api = inner.api_repo(&r.name);
    let html = inner.html_repo(&r.name);
    let id = run.id;
    let run_url = format!("{api}/actions/runs/{id}");
    let (name, path) = git
        .actions
        .workflow(run.workflow_id)
        .map_or_else(Default::default, |w| {
            (w.name.clone(), w.run_path(&inner.org, &run.head_branch))
        });
    let commit = r.commits.get(&run.head_sha);
    let head_commit = commit.map_or(Value::Null, |c| {
        json!({
            "id": c.sha,
            "tree_id": c.tree,
            "message": c.message,
            "timestamp": iso(c.time),
            "author": {"name": c.author.name, "email": c.author.email},
            "committer": {"name": c.committer.name, "email": c.committer.email}
        })
    });
    let title = commit
        .and_then(|c| c.message.lines().next())
        .unwrap_or(&name)
        .to_owned();
    let previous =
        (run.run_attempt > 1).then(|| format!("{run_url}/attempts/{}", run.run_attempt - 1));
    let actor = payload::user(inner, &run.actor, "User");
    let repository = payload::repo(inner, r);
    json!({
        "id": id,
        "name": name,
        "node_id": node_id("WorkflowRun", &id.to_string()),
        "check_suite_id": run.check_suite_id,
        "check_suite_node_id": node_id("CheckSuite", &run.check_suite_id.to_string()),
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": path,
        "display_title": title,
        "run_number": run.run_number,
        "event": run.event,
        "status": run.status,
        "conclusion": run.conclusion,
        "workflow_id": run.workflow_id,
        "url": run_url,
        "html_url": format!("{html}/actions/runs/{id}"),
        "pull_requests": [],
        "created_at": iso(run.created_at),
        "updated_at": iso(run.updated_at),
        "actor": actor,
        "run_attempt": run.run_attempt,
        "referenced_workflows": [],
        "run_started_at": iso(run.run_started_at),
        "triggering_actor": actor,
        "jobs_url": format!("{run_url}/jobs"),
        "logs_url": format!("{run_url}/logs"),
        "check_suite_url": format!("{api}/check-suites/{}", run.check_suite_id),
        "artifacts_url": format!("{run_url}/artifacts"),
        "cancel_url": format!("{run_url}/cancel"),
        "rerun_url": format!("{run_url}/rerun"),
        "previous_attempt_url": previous,
        "workflow_url": format!("{api}/actions/workflows/{}", run.workflow_id),
        "head_commit": head_commit,
        "repository": repository,
        "head_repository": repository
    })
}

/// A `workflow_run` delivery with `action` for `run`.
pub(crate) fn workflow_run_event(inner: &Inner, git: &GitState, run: &Run, action: &str) -> Value {
    let (Some(r), Some(w)) = (git.repo(&run.repo), git.actions.workflow(run.workflow_id)) else {
        return Value::Null;
    };
    json!({
        "action": action,
        "workflow_run": workflow_run(inner, git, run),
        "workflow": workflow(inner, r, w),
        "repository": payload::event_repo(inner, r),
        "organization": payload::organization(inner),
        "sender": payload::user(inner, &run.actor, "User")
    })
}

fn step(number: u32, name: &str, status: &str, conclusion: Option<&str>, job: &Job) -> Value {
    json!({
        "name": name,
        "status": status,
        "conclusion": conclusion,
        "number": number,
        "started_at": iso(job.started_at),
        "completed_at": (status == "completed").then(|| iso(job.completed_at.unwrap_or(job.started_at)))
    })
}

/// A job of a workflow run (`job` of the REST reference).
pub(crate) fn job(inner: &Inner, git: &GitState, job: &Job) -> Value {
    let Some(run) = git.actions.run(job.run_id) else {
        return Value::Null;
    };
    let api = inner.api_repo(&run.repo);
    let html = inner.html_repo(&run.repo);
    let workflow_name = git
        .actions
        .workflow(run.workflow_id)
        .map(|w| w.name.clone());
    let started = matches!(job.status.as_str(), "in_progress" | "completed");
    let conclusion = job.conclusion.as_deref();
    let steps = match job.status.as_str() {
        "completed" => vec![
            step(1, "Set up job", "completed", Some("success"), job),
            step(
                2,
                &format!("Run {}", job.name),
                "completed",
                conclusion,
                job,
            ),
            step(3, "Complete job", "completed", Some("success"), job),
        ],
        "in_progress" => vec![
            step(1, "Set up job", "completed", Some("success"), job),
            step(2, &format!("Run {}", job.name), "in_progress", None, job),
        ],
        _ => Vec::new(),
    };
    let runner = |v: Value| if started { v } else { Value::Null };
    json!({
        "id": job.id,
        "run_id": run.id,
        "workflow_name": workflow_name,
        "head_branch": run.head_branch,
        "run_url": format!("{api}/actions/runs/{}", run.id),
        "run_attempt": job.run_attempt,
        "node_id": node_id("CheckRun", &job.id.to_string()),
        "head_sha": run.head_sha,
        "url": format!("{api}/actions/jobs/{}", job.id),
        "html_url": format!("{html}/actions/runs/{}/job/{}", run.id, job.id),
        "status": job.status,
        "conclusion": job.conclusion,
        "created_at": iso(job.created_at),
        "started_at": iso(job.started_at),
        "completed_at": job.completed_at.map(iso),
        "name": job.name,
        "steps": steps,
        "check_run_url": format!("{api}/check-runs/{}", job.id),
        "labels": [RUNNER_LABEL],
        "runner_id": runner(json!(7)),
        "runner_name": runner(json!("GitHub Actions 7")),
        "runner_group_id": runner(json!(0)),
        "runner_group_name": runner(json!("GitHub Actions"))
    })
}

/// A `workflow_job` delivery with `action` for `j`: the job as the REST API shows it, with the
/// repository, organization and the run's actor.
pub(crate) fn workflow_job_event(inner: &Inner, git: &GitState, j: &Job, action: &str) -> Value {
    let Some(run) = git.actions.run(j.run_id) else {
        return Value::Null;
    };
    let Some(r) = git.repo(&run.repo) else {
        return Value::Null;
    };
    json!({
        "action": action,
        "workflow_job": job(inner, git, j),
        "repository": payload::event_repo(inner, r),
        "organization": payload::organization(inner),
        "sender": payload::user(inner, &run.actor, "User")
    })
}

/// The run `run_id` when it belongs to `owner/name`.
fn find_run<'a>(
    inner: &Inner,
    git: &'a GitState,
    owner: &str,
    name: &str,
    run_id: &str,
) -> Option<&'a Run> {
    let r = find_repo(inner, git, owner, name)?;
    let run = git.actions.run(run_id.parse().ok()?)?;
    (run.repo == r.name).then_some(run)
}

/// `GET /repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs`
pub(crate) async fn list_workflow_runs(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let doc =
        "https://docs.github.com/rest/actions/workflow-runs#list-workflow-runs-for-a-workflow";
    let Ok(Path((owner, name, workflow_id))) = path else {
        return not_found_with(doc);
    };
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let Some(r) = find_repo(&inner, &git, &owner, &name) else {
        return not_found_with(doc);
    };
    let Some(wf) = git.actions.find_workflow(&r.name, &workflow_id) else {
        return not_found_with(doc);
    };
    let wanted = |key: &str| q.get(key).filter(|v| !v.is_empty());
    let (branch, sha, event, status) = (
        wanted("branch"),
        wanted("head_sha"),
        wanted("event"),
        wanted("status"),
    );
    let mut runs: Vec<&Run> = git
        .actions
        .runs()
        .filter(|run| run.workflow_id == wf.id)
        .filter(|run| branch.is_none_or(|b| &run.head_branch == b))
        .filter(|run| sha.is_none_or(|s| &run.head_sha == s))
        .filter(|run| event.is_none_or(|e| &run.event == e))
        .filter(|run| status.is_none_or(|s| &run.status == s || run.conclusion.as_ref() == Some(s)))
        .collect();
    runs.sort_by_key(|run| Reverse((run.created_at, run.id)));
    let total = runs.len();
    let items: Vec<Value> = runs[page_range(total, page, per_page)]
        .iter()
        .map(|run| workflow_run(&inner, &git, run))
        .collect();
    drop(git);
    let link = link_header(&inner, &uri, raw.as_deref(), page, per_page, total);
    with_link(
        ok(&json!({"total_count": total, "workflow_runs": items})),
        link,
    )
}

/// `GET /repos/{owner}/{repo}/actions/runs/{run_id}`
pub(crate) async fn get_run(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let doc = "https://docs.github.com/rest/actions/workflow-runs#get-a-workflow-run";
    let Ok(Path((owner, name, run_id))) = path else {
        return not_found_with(doc);
    };
    let git = inner.git();
    match find_run(&inner, &git, &owner, &name, &run_id) {
        Some(run) => ok(&workflow_run(&inner, &git, run)),
        None => not_found_with(doc),
    }
}

/// `GET /repos/{owner}/{repo}/actions/runs/{run_id}/jobs`: the latest attempt's jobs, or every
/// attempt's with `filter=all`.
pub(crate) async fn list_jobs(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
    Query(q): Query<Params>,
    RawQuery(raw): RawQuery,
    uri: Uri,
) -> Response {
    let doc = "https://docs.github.com/rest/actions/workflow-jobs#list-jobs-for-a-workflow-run";
    let Ok(Path((owner, name, run_id))) = path else {
        return not_found_with(doc);
    };
    let (page, per_page) = paging(&q, 30);
    let git = inner.git();
    let Some(run) = find_run(&inner, &git, &owner, &name, &run_id) else {
        return not_found_with(doc);
    };
    let attempt = match q.get("filter").map(String::as_str) {
        Some("all") => None,
        _ => Some(run.run_attempt),
    };
    let jobs: Vec<&Job> = git.actions.jobs_of(run.id, attempt).collect();
    let total = jobs.len();
    let items: Vec<Value> = jobs[page_range(total, page, per_page)]
        .iter()
        .map(|j| job(&inner, &git, j))
        .collect();
    drop(git);
    let link = link_header(&inner, &uri, raw.as_deref(), page, per_page, total);
    with_link(ok(&json!({"total_count": total, "jobs": items})), link)
}

/// `GET /repos/{owner}/{repo}/actions/jobs/{job_id}/logs`: 302 to a short-lived URL on the log
/// host; 410 when the log is gone.
pub(crate) async fn job_logs(
    State(inner): State<Arc<Inner>>,
    path: Result<Path<(String, String, String)>, PathRejection>,
) -> Response {
    let doc =
        "https://docs.github.com/rest/actions/workflow-jobs#download-job-logs-for-a-workflow-run";
    let Ok(Path((owner, name, job_id))) = path else {
        return not_found_with(doc);
    };
    let availability = {
        let git = inner.git();
        let Some(r) = find_repo(&inner, &git, &owner, &name) else {
            return not_found_with(doc);
        };
        let job = job_id
            .parse::<u64>()
            .ok()
            .and_then(|id| git.actions.job(id))
            .filter(|j| {
                git.actions
                    .run(j.run_id)
                    .is_some_and(|run| run.repo == r.name)
            });
        let Some(job) = job else {
            return not_found_with(doc);
        };
        (job.id, job.log_availability)
    };
    match availability {
        (_, LogAvailability::NotFound) => not_found_with(doc),
        (_, LogAvailability::Gone) => {
            json_response(StatusCode::GONE, &payload::error("Gone", doc, 410))
        }
        (id, LogAvailability::Available | LogAvailability::MissingAtHost) => {
            let location = logs::signed_url(&inner, id);
            let mut r = Response::new(axum::body::Body::empty());
            *r.status_mut() = StatusCode::FOUND;
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(http::header::LOCATION, v);
            }
            r
        }
    }
}
