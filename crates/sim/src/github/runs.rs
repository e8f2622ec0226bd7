//! GitHub Actions of the simulated organization: workflows, their runs (each with attempts), the
//! jobs of every attempt and the text of each job's log.
//!
//! Runs move only when a test scripts them; nothing starts on its own.

use std::collections::BTreeMap;

use axum::body::Bytes;

use super::state::GitState;
use super::{LogAvailability, RunPathForm};

/// Values a run's `status` takes before it completes.
pub(crate) const OPEN_STATUSES: &[&str] =
    &["requested", "queued", "waiting", "pending", "in_progress"];

/// Values a completed run's `conclusion` takes.
pub(crate) const CONCLUSIONS: &[&str] = &[
    "success",
    "failure",
    "neutral",
    "cancelled",
    "skipped",
    "timed_out",
    "action_required",
    "startup_failure",
    "stale",
];

/// A workflow file of a repository.
#[derive(Debug, Clone)]
pub(crate) struct Workflow {
    /// How runs of this workflow write their `path`.
    pub path_form: RunPathForm,
    pub id: u64,
    /// Repository name as created.
    pub repo: String,
    /// File name below `.github/workflows/`.
    pub file: String,
    pub name: String,
    pub created_at: u64,
    /// `run_number` of the next run of this workflow.
    next_run_number: u64,
}

impl Workflow {
    /// Repository-relative path of the file (the `workflow` object's `path`).
    pub fn path(&self) -> String {
        format!(".github/workflows/{}", self.file)
    }

    /// A run's `path`, in this workflow's form: `head_branch` is the run's branch.
    pub fn run_path(&self, org: &str, head_branch: &str) -> String {
        let path = self.path();
        match self.path_form {
            RunPathForm::Plain => path,
            RunPathForm::AtBranch => format!("{path}@{head_branch}"),
            RunPathForm::AtRef => format!("{path}@refs/heads/{head_branch}"),
            RunPathForm::Qualified => {
                format!("{org}/{}/{path}@refs/heads/{head_branch}", self.repo)
            }
        }
    }
}

/// One workflow run; a re-run keeps the id and counts up `run_attempt`.
#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub id: u64,
    pub repo: String,
    pub workflow_id: u64,
    pub run_number: u64,
    pub run_attempt: u32,
    pub head_branch: String,
    pub head_sha: String,
    pub event: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// Start of the latest attempt.
    pub run_started_at: u64,
    /// Login of whoever pushed.
    pub actor: String,
    pub check_suite_id: u64,
}

/// One job of one attempt of a run.
#[derive(Debug, Clone)]
pub(crate) struct Job {
    pub id: u64,
    pub run_id: u64,
    pub run_attempt: u32,
    pub name: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub created_at: u64,
    pub started_at: u64,
    pub completed_at: Option<u64>,
    /// Whether the job takes the run's status as the run moves (until it is completed itself).
    pub follows_run: bool,
    pub log: Bytes,
    pub log_availability: LogAvailability,
}

/// A job changing in a way GitHub announces with a `workflow_job` delivery: the job's id and
/// the delivery's `action` (`queued`, `in_progress` or `completed`).
pub(crate) type JobChange = (u64, &'static str);

/// The `workflow_job` action announcing a job that was just added with `status`: a job of a run
/// that has not started is `queued` (whether the run is `queued`, `requested`, `waiting` or
/// `pending`).
pub(crate) fn added_job_action(status: &str) -> &'static str {
    match status {
        "in_progress" => "in_progress",
        "completed" => "completed",
        _ => "queued",
    }
}

/// Every workflow, run and job of the organization.
#[derive(Debug)]
pub(crate) struct Actions {
    workflows: Vec<Workflow>,
    runs: BTreeMap<u64, Run>,
    jobs: BTreeMap<u64, Job>,
    next_workflow_id: u64,
    next_run_id: u64,
    next_job_id: u64,
    next_check_suite_id: u64,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            workflows: Vec::new(),
            runs: BTreeMap::new(),
            jobs: BTreeMap::new(),
            next_workflow_id: 161_000_001,
            // Above 2^32, as GitHub's ids are by now.
            next_run_id: 9_200_000_001,
            next_job_id: 25_600_000_001,
            next_check_suite_id: 31_000_000_001,
        }
    }
}

/// The name GitHub shows for a workflow without a `name:` key: its file name without extension.
fn default_name(file: &str) -> String {
    file.rsplit_once('.')
        .map_or(file, |(stem, _)| stem)
        .to_owned()
}

/// A job's conclusion when it ends with its run: jobs have no `startup_failure` or `stale`.
fn job_conclusion(run_conclusion: &str) -> String {
    match run_conclusion {
        "startup_failure" | "stale" => "failure".to_owned(),
        c => c.to_owned(),
    }
}

impl Actions {
    pub fn workflow(&self, id: u64) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.id == id)
    }

    /// A workflow of `repo` by numeric id or file name, as the REST API accepts either.
    pub fn find_workflow(&self, repo: &str, id_or_file: &str) -> Option<&Workflow> {
        let id = id_or_file.parse::<u64>().ok();
        self.workflows.iter().find(|w| {
            w.repo.eq_ignore_ascii_case(repo) && (Some(w.id) == id || w.file == id_or_file)
        })
    }

    pub fn run(&self, id: u64) -> Option<&Run> {
        self.runs.get(&id)
    }

    /// Runs in id (creation) order.
    pub fn runs(&self) -> impl Iterator<Item = &Run> {
        self.runs.values()
    }

    pub fn job(&self, id: u64) -> Option<&Job> {
        self.jobs.get(&id)
    }

    /// Jobs of a run, of one attempt or of all of them, in id order.
    pub fn jobs_of(&self, run_id: u64, attempt: Option<u32>) -> impl Iterator<Item = &Job> {
        self.jobs
            .values()
            .filter(move |j| j.run_id == run_id && attempt.is_none_or(|a| j.run_attempt == a))
    }

    fn run_mut(&mut self, id: u64) -> &mut Run {
        self.runs
            .get_mut(&id)
            .unwrap_or_else(|| panic!("simulated GitHub: no workflow run {id}"))
    }

    fn job_mut(&mut self, id: u64) -> &mut Job {
        self.jobs
            .get_mut(&id)
            .unwrap_or_else(|| panic!("simulated GitHub: no job {id}"))
    }

    /// Moves the jobs of the run's current attempt that still follow it; returns the jobs that
    /// started or completed, in id order.
    fn carry_jobs(&mut self, run_id: u64, now: u64) -> Vec<JobChange> {
        let mut changes = Vec::new();
        let Some(run) = self.runs.get(&run_id) else {
            return changes;
        };
        let (attempt, status, conclusion) =
            (run.run_attempt, run.status.clone(), run.conclusion.clone());
        for job in self
            .jobs
            .values_mut()
            .filter(|j| j.run_id == run_id && j.run_attempt == attempt && j.follows_run)
        {
            if job.status != "in_progress" && status == "in_progress" {
                job.started_at = now;
                changes.push((job.id, "in_progress"));
            }
            job.status = status.clone();
            if let Some(c) = &conclusion {
                job.conclusion = Some(job_conclusion(c));
                job.completed_at = Some(now);
                job.follows_run = false;
                changes.push((job.id, "completed"));
            }
        }
        changes
    }
}

impl GitState {
    /// Declares a workflow file of `repo` (keeping an existing one, renamed) and returns its id.
    pub fn add_workflow(&mut self, repo: &str, file: &str, name: Option<&str>) -> u64 {
        let repo_name = self
            .repo(repo)
            .map(|r| r.name.clone())
            .unwrap_or_else(|| panic!("simulated GitHub: no repository {}/{repo}", self.org));
        assert!(
            !file.is_empty() && !file.contains('/'),
            "simulated GitHub: a workflow is named by its file name, not `{file}`"
        );
        let now = self.tick();
        let actions = &mut self.actions;
        if let Some(w) = actions
            .workflows
            .iter_mut()
            .find(|w| w.repo == repo_name && w.file == file)
        {
            if let Some(name) = name {
                w.name = name.to_owned();
            }
            return w.id;
        }
        let id = actions.next_workflow_id;
        actions.next_workflow_id += 1;
        // GitHub writes runs' paths in several forms; workflows take them in turn, so an org of
        // a few repos shows every form (the first workflow is plain).
        let path_form = RunPathForm::ALL[actions.workflows.len() % RunPathForm::ALL.len()];
        actions.workflows.push(Workflow {
            path_form,
            id,
            repo: repo_name,
            file: file.to_owned(),
            name: name.map_or_else(|| default_name(file), str::to_owned),
            created_at: now,
            next_run_number: 1,
        });
        id
    }

    /// Sets how runs of `repo`'s workflow `file` (declared on the way if needed) write `path`.
    pub fn set_run_path_form(&mut self, repo: &str, file: &str, form: RunPathForm) {
        let id = self.add_workflow(repo, file, None);
        if let Some(w) = self.actions.workflows.iter_mut().find(|w| w.id == id) {
            w.path_form = form;
        }
    }

    /// Queues a new run of a workflow (declared on the way if needed) for a commit and returns
    /// its id. `head_sha` may be anything `resolve` accepts.
    pub fn start_run(
        &mut self,
        repo: &str,
        file: &str,
        branch: &str,
        head_sha: &str,
        event: &str,
    ) -> u64 {
        let workflow_id = self.add_workflow(repo, file, None);
        let org = self.org.clone();
        let (repo_name, sha, actor) = {
            let r = self
                .repo(repo)
                .unwrap_or_else(|| panic!("simulated GitHub: no repository {org}/{repo}"));
            let sha = r
                .resolve(head_sha)
                .unwrap_or_else(|| panic!("simulated GitHub: no commit {head_sha} in {repo}"));
            let actor = r
                .commits
                .get(&sha)
                .and_then(|c| c.author.login.clone())
                .unwrap_or_else(|| "release-manager".to_owned());
            (r.name.clone(), sha, actor)
        };
        let now = self.tick();
        let actions = &mut self.actions;
        let run_number = actions
            .workflows
            .iter_mut()
            .find(|w| w.id == workflow_id)
            .map_or(1, |w| {
                w.next_run_number += 1;
                w.next_run_number - 1
            });
        let id = actions.next_run_id;
        actions.next_run_id += 1;
        let check_suite_id = actions.next_check_suite_id;
        actions.next_check_suite_id += 1;
        actions.runs.insert(
            id,
            Run {
                id,
                repo: repo_name,
                workflow_id,
                run_number,
                run_attempt: 1,
                head_branch: branch.to_owned(),
                head_sha: sha,
                event: event.to_owned(),
                status: "queued".to_owned(),
                conclusion: None,
                created_at: now,
                updated_at: now,
                run_started_at: now,
                actor,
                check_suite_id,
            },
        );
        id
    }

    /// Sets the status of a run that has not completed; returns the jobs that started with it.
    pub fn set_run_status(&mut self, run_id: u64, status: &str) -> Vec<JobChange> {
        assert!(
            OPEN_STATUSES.contains(&status),
            "simulated GitHub: run status `{status}` is not one of {OPEN_STATUSES:?} \
             (a run completes with a conclusion)"
        );
        let now = self.tick();
        let run = self.actions.run_mut(run_id);
        assert!(
            run.status != "completed",
            "simulated GitHub: run {run_id} has completed; re-run it first"
        );
        run.status = status.to_owned();
        run.updated_at = now;
        self.actions.carry_jobs(run_id, now)
    }

    /// Completes a run with a conclusion; its unfinished jobs end with it and are returned.
    pub fn complete_run(&mut self, run_id: u64, conclusion: &str) -> Vec<JobChange> {
        assert!(
            CONCLUSIONS.contains(&conclusion),
            "simulated GitHub: conclusion `{conclusion}` is not one of {CONCLUSIONS:?}"
        );
        let now = self.tick();
        let run = self.actions.run_mut(run_id);
        run.status = "completed".to_owned();
        run.conclusion = Some(conclusion.to_owned());
        run.updated_at = now;
        self.actions.carry_jobs(run_id, now)
    }

    /// Starts the next attempt of a run: same id, `run_attempt` + 1, queued, no jobs yet.
    pub fn rerun(&mut self, run_id: u64) {
        let now = self.tick();
        let run = self.actions.run_mut(run_id);
        assert!(
            run.status == "completed",
            "simulated GitHub: run {run_id} is still {}; only a completed run can be re-run",
            run.status
        );
        run.run_attempt += 1;
        run.status = "queued".to_owned();
        run.conclusion = None;
        run.updated_at = now;
        run.run_started_at = now;
    }

    /// Adds a job to the latest attempt of a run; it takes the run's status and follows it.
    pub fn add_job(&mut self, run_id: u64, name: &str, log: Bytes) -> u64 {
        let now = self.tick();
        let actions = &mut self.actions;
        let run = actions.run_mut(run_id);
        let (attempt, status, conclusion) = (
            run.run_attempt,
            run.status.clone(),
            run.conclusion.as_deref().map(job_conclusion),
        );
        let id = actions.next_job_id;
        actions.next_job_id += 1;
        actions.jobs.insert(
            id,
            Job {
                id,
                run_id,
                run_attempt: attempt,
                name: name.to_owned(),
                follows_run: conclusion.is_none(),
                completed_at: conclusion.as_ref().map(|_| now),
                status,
                conclusion,
                created_at: now,
                started_at: now,
                log,
                log_availability: LogAvailability::Available,
            },
        );
        id
    }

    /// Completes one job on its own; it no longer follows its run. Returns the job when it had
    /// not completed before.
    pub fn complete_job(&mut self, job_id: u64, conclusion: &str) -> Option<JobChange> {
        assert!(
            CONCLUSIONS.contains(&conclusion),
            "simulated GitHub: conclusion `{conclusion}` is not one of {CONCLUSIONS:?}"
        );
        let now = self.tick();
        let job = self.actions.job_mut(job_id);
        let was_completed = job.status == "completed";
        job.status = "completed".to_owned();
        job.conclusion = Some(job_conclusion(conclusion));
        job.completed_at = Some(now);
        job.follows_run = false;
        (!was_completed).then_some((job_id, "completed"))
    }

    pub fn set_job_log(&mut self, job_id: u64, availability: LogAvailability) {
        self.actions.job_mut(job_id).log_availability = availability;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_number_per_workflow_and_keep_their_id_on_rerun() {
        let mut g = GitState::new("acme");
        g.add_repo("svc");
        let sha = g.branch_head("svc", "main").expect("main");
        let a = g.start_run("svc", "general.yaml", "main", &sha, "push");
        let b = g.start_run("svc", "general.yaml", "main", &sha, "push");
        let c = g.start_run("svc", "lint.yml", "main", &sha[..7], "push");
        let runs = &g.actions;
        assert_eq!(runs.run(a).map(|r| r.run_number), Some(1));
        assert_eq!(runs.run(b).map(|r| r.run_number), Some(2));
        assert_eq!(runs.run(c).map(|r| r.run_number), Some(1));
        assert_eq!(runs.run(c).map(|r| r.head_sha.as_str()), Some(sha.as_str()));
        let wf = runs.find_workflow("SVC", "general.yaml").expect("workflow");
        assert_eq!(wf.name, "general");
        assert_eq!(wf.path(), ".github/workflows/general.yaml");
        assert_eq!(
            runs.find_workflow("svc", &wf.id.to_string()).map(|w| w.id),
            Some(wf.id)
        );

        let job = g.add_job(a, "build", Bytes::from_static(b"hello"));
        let done = g.add_job(a, "lint", Bytes::new());
        assert_eq!(g.complete_job(done, "success"), Some((done, "completed")));
        assert_eq!(g.complete_job(done, "failure"), None);
        assert_eq!(g.set_run_status(a, "waiting"), []);
        assert_eq!(g.set_run_status(a, "in_progress"), [(job, "in_progress")]);
        assert_eq!(g.set_run_status(a, "in_progress"), []);
        assert_eq!(
            g.actions.job(job).map(|j| j.status.as_str()),
            Some("in_progress")
        );
        assert_eq!(g.complete_run(a, "startup_failure"), [(job, "completed")]);
        let j = g.actions.job(job).expect("job");
        assert_eq!(j.conclusion.as_deref(), Some("failure"));
        assert!(j.completed_at.is_some());

        g.rerun(a);
        let r = g.actions.run(a).expect("run");
        assert_eq!((r.run_attempt, r.status.as_str()), (2, "queued"));
        assert!(r.conclusion.is_none());
        assert_eq!(g.actions.jobs_of(a, Some(2)).count(), 0);
        assert_eq!(g.actions.jobs_of(a, None).count(), 2);
        assert_eq!(added_job_action("waiting"), "queued");
        assert_eq!(added_job_action("in_progress"), "in_progress");
    }
}
