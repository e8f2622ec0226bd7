//! GitHub webhook deliveries: verifying `X-Hub-Signature-256`, and reading the events Shipyard
//! acts on (`workflow_run`, `pull_request`, `push`) from their payloads.

use crate::WorkflowRun;
use crate::actions::RunWire;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// A delivery, as far as Shipyard cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A run was requested, started or completed.
    WorkflowRun {
        /// The repository's owner (the org).
        owner: String,
        /// The repository's name.
        repo: String,
        /// `requested`, `in_progress` or `completed`.
        action: String,
        /// The run as it is now.
        run: WorkflowRun,
    },
    /// A job of a run was queued, started or completed.
    WorkflowJob {
        /// The repository's owner (the org).
        owner: String,
        /// The repository's name.
        repo: String,
        /// `queued`, `in_progress`, `completed` or `waiting`.
        action: String,
        /// The job.
        job: JobEvent,
    },
    /// A pull request was merged.
    PullRequestMerged {
        /// The repository's owner (the org).
        owner: String,
        /// The repository's name.
        repo: String,
        /// The pull request number.
        number: u64,
        /// Its page.
        url: String,
        /// The branch merged from.
        head_branch: String,
        /// The branch merged into.
        base_branch: String,
        /// The merge commit.
        merge_commit_sha: String,
    },
    /// Commits were pushed to a branch.
    Push {
        /// The repository's owner (the org).
        owner: String,
        /// The repository's name.
        repo: String,
        /// The branch (from `refs/heads/<branch>`).
        branch: String,
        /// The branch's new head.
        after: String,
    },
    /// Anything else: a ping, another event, a pull request opened or closed unmerged, a tag
    /// push or a deleted branch.
    Ignored,
}

/// The job of a `workflow_job` delivery, as far as Shipyard cares.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobEvent {
    /// Job id (what the job's log is fetched by).
    pub id: u64,
    /// The run it belongs to.
    pub run_id: u64,
    /// The run attempt it belongs to.
    #[serde(default = "crate::actions::first_attempt")]
    pub run_attempt: u32,
    /// The job's name, e.g. `helm-publish`.
    pub name: String,
    /// `queued`, `in_progress`, `completed`, `waiting`.
    #[serde(default)]
    pub status: String,
    /// Set once completed.
    pub conclusion: Option<String>,
}

#[derive(Deserialize)]
struct WorkflowJobPayload {
    action: String,
    workflow_job: JobEvent,
    repository: Repository,
}

/// Why a delivery's body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the `{event}` payload is not what GitHub sends: {reason}")]
pub struct PayloadError {
    /// The `X-GitHub-Event` name.
    pub event: String,
    /// What was wrong.
    pub reason: String,
}

#[derive(Deserialize)]
struct Owner {
    login: String,
}

#[derive(Deserialize)]
struct Repository {
    name: String,
    owner: Owner,
}

#[derive(Deserialize)]
struct Workflow {
    path: String,
}

#[derive(Deserialize)]
struct WorkflowRunPayload {
    action: String,
    workflow_run: RunWire,
    /// Older deliveries name the workflow file only here.
    workflow: Option<Workflow>,
    repository: Repository,
}

#[derive(Deserialize)]
struct BranchRef {
    #[serde(rename = "ref")]
    name: String,
}

#[derive(Deserialize)]
struct PullRequest {
    number: u64,
    html_url: String,
    #[serde(default)]
    merged: bool,
    merge_commit_sha: Option<String>,
    head: BranchRef,
    base: BranchRef,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    pull_request: PullRequest,
    repository: Repository,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    #[serde(default)]
    deleted: bool,
    repository: Repository,
}

/// Reads the delivery of `event` (the `X-GitHub-Event` header). The body must be JSON; the
/// events Shipyard handles must have the fields GitHub sends.
pub fn parse_event(event: &str, body: &[u8]) -> Result<Event, PayloadError> {
    let bad = |reason: String| PayloadError {
        event: event.to_owned(),
        reason,
    };
    fn read<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
    match event {
        "workflow_run" => {
            let p: WorkflowRunPayload = read(body).map_err(bad)?;
            let mut run = WorkflowRun::try_from(p.workflow_run).map_err(|e| bad(e.to_string()))?;
            if run.path.is_empty()
                && let Some(w) = p.workflow
            {
                run.path = w.path;
            }
            Ok(Event::WorkflowRun {
                owner: p.repository.owner.login,
                repo: p.repository.name,
                action: p.action,
                run,
            })
        }
        "workflow_job" => {
            let p: WorkflowJobPayload = read(body).map_err(bad)?;
            Ok(Event::WorkflowJob {
                owner: p.repository.owner.login,
                repo: p.repository.name,
                action: p.action,
                job: p.workflow_job,
            })
        }
        "pull_request" => {
            let p: PullRequestPayload = read(body).map_err(bad)?;
            let pr = p.pull_request;
            match (p.action.as_str(), pr.merged, pr.merge_commit_sha) {
                ("closed", true, Some(sha)) => Ok(Event::PullRequestMerged {
                    owner: p.repository.owner.login,
                    repo: p.repository.name,
                    number: pr.number,
                    url: pr.html_url,
                    head_branch: pr.head.name,
                    base_branch: pr.base.name,
                    merge_commit_sha: sha,
                }),
                _ => Ok(Event::Ignored),
            }
        }
        "push" => {
            let p: PushPayload = read(body).map_err(bad)?;
            match p.git_ref.strip_prefix("refs/heads/") {
                Some(branch) if !p.deleted => Ok(Event::Push {
                    owner: p.repository.owner.login,
                    repo: p.repository.name,
                    branch: branch.to_owned(),
                    after: p.after,
                }),
                _ => Ok(Event::Ignored),
            }
        }
        _ => {
            // Still JSON, or GitHub did not send it.
            serde_json::from_slice::<serde::de::IgnoredAny>(body)
                .map_err(|e| bad(e.to_string()))?;
            Ok(Event::Ignored)
        }
    }
}

/// Whether `signature_header` (`sha256=<hex>`) is the HMAC-SHA256 of `body` under `secret`,
/// compared in constant time.
pub fn verify_signature(secret: &[u8], body: &[u8], signature_header: Option<&str>) -> bool {
    let Some(hex_sig) = signature_header.and_then(|h| h.trim().strip_prefix("sha256=")) else {
        return false;
    };
    let Ok(expected) = hex::decode(hex_sig) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The `X-Hub-Signature-256` value for `body` under `secret` (for tests and simulators).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = format!(
            "{}/tests/fixtures/webhooks/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    fn fixtures(prefix: &str) -> Vec<(String, Vec<u8>)> {
        let dir = format!("{}/tests/fixtures/webhooks", env!("CARGO_MANIFEST_DIR"));
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with(prefix))
            .collect();
        names.sort();
        assert!(!names.is_empty(), "no {prefix} fixtures");
        names
            .into_iter()
            .map(|n| (n.clone(), fixture(&n)))
            .collect()
    }

    #[test]
    fn every_recorded_workflow_run_delivery_is_read() {
        for (name, body) in fixtures("workflow_run.") {
            let Ok(Event::WorkflowRun {
                action,
                run,
                repo,
                owner,
            }) = parse_event("workflow_run", &body)
            else {
                panic!("{name} was not read as a workflow run");
            };
            let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(action, raw["action"], "{name}");
            assert_eq!(run.id, raw["workflow_run"]["id"], "{name}");
            assert_eq!(run.head_sha, raw["workflow_run"]["head_sha"], "{name}");
            assert_eq!(run.path, raw["workflow"]["path"], "{name}");
            assert_eq!(repo, raw["repository"]["name"], "{name}");
            assert_eq!(owner, raw["repository"]["owner"]["login"], "{name}");
            // The run object, not the action, says where the run is: one recorded
            // `completed` delivery carries a queued run.
            assert_eq!(run.status, raw["workflow_run"]["status"], "{name}");
            assert_eq!(
                run.conclusion.as_deref(),
                raw["workflow_run"]["conclusion"].as_str(),
                "{name}"
            );
        }
    }

    #[test]
    fn every_recorded_workflow_job_delivery_is_read() {
        for (name, body) in fixtures("workflow_job.") {
            let Ok(Event::WorkflowJob { action, job, .. }) = parse_event("workflow_job", &body)
            else {
                panic!("{name} was not read as a workflow job");
            };
            let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(action, raw["action"], "{name}");
            assert_eq!(job.id, raw["workflow_job"]["id"], "{name}");
            assert_eq!(job.run_id, raw["workflow_job"]["run_id"], "{name}");
            assert_eq!(job.name, raw["workflow_job"]["name"], "{name}");
            assert_eq!(
                job.conclusion.as_deref(),
                raw["workflow_job"]["conclusion"].as_str(),
                "{name}"
            );
        }
    }

    #[test]
    fn pushes_are_read_and_unmerged_closes_are_ignored() {
        for (name, body) in fixtures("push.") {
            let raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
            let event = parse_event("push", &body).unwrap();
            let branch_push =
                raw["ref"].as_str().unwrap().starts_with("refs/heads/") && raw["deleted"] != true;
            match event {
                Event::Push { branch, after, .. } => {
                    assert!(branch_push, "{name}");
                    assert_eq!(format!("refs/heads/{branch}"), raw["ref"], "{name}");
                    assert_eq!(after, raw["after"], "{name}");
                }
                Event::Ignored => assert!(!branch_push, "{name}"),
                other => panic!("{name}: {other:?}"),
            }
        }
        for (name, body) in fixtures("pull_request.closed.unmerged") {
            assert_eq!(
                parse_event("pull_request", &body),
                Ok(Event::Ignored),
                "{name}"
            );
        }
        // The same delivery, merged, is a merge.
        let (_, body) = fixtures("pull_request.closed.unmerged").remove(0);
        let mut raw: serde_json::Value = serde_json::from_slice(&body).unwrap();
        raw["pull_request"]["merged"] = true.into();
        raw["pull_request"]["merge_commit_sha"] = "abc123".into();
        let Event::PullRequestMerged {
            number,
            merge_commit_sha,
            head_branch,
            base_branch,
            ..
        } = parse_event("pull_request", raw.to_string().as_bytes()).unwrap()
        else {
            panic!("not read as a merge");
        };
        assert_eq!(number, raw["pull_request"]["number"]);
        assert_eq!(merge_commit_sha, "abc123");
        assert_eq!(head_branch, raw["pull_request"]["head"]["ref"]);
        assert_eq!(base_branch, raw["pull_request"]["base"]["ref"]);
    }

    #[test]
    fn other_events_are_ignored_but_must_be_json() {
        for (name, body) in fixtures("issue_comment.") {
            assert_eq!(
                parse_event("issue_comment", &body),
                Ok(Event::Ignored),
                "{name}"
            );
        }
        assert_eq!(
            parse_event("ping", b"{\"zen\":\"Keep it logically awesome.\"}"),
            Ok(Event::Ignored)
        );
        assert!(parse_event("ping", b"{not json").is_err());
        let err = parse_event("workflow_run", b"{\"action\":\"completed\"}").unwrap_err();
        assert!(err.to_string().contains("workflow_run"), "{err}");
        assert!(parse_event("push", b"[]").is_err());
    }

    #[test]
    fn github_test_vector() {
        let sig = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some(sig)
        ));
        assert_eq!(sign(b"It's a Secret to Everybody", b"Hello, World!"), sig);
        assert!(!verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            Some(sig)
        ));
        assert!(!verify_signature(b"other", b"Hello, World!", Some(sig)));
        assert!(!verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            None
        ));
        assert!(!verify_signature(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            Some("sha1=abc")
        ));
    }
}
