//! The simulated REST answers validate against GitHub's published OpenAPI description: the
//! 200 response schema of each operation the simulation serves, the 201/200 schemas of its
//! writes and the error schemas the description gives (422 validation failures, 404, 403), and
//! the GitHub App routes (the organisation's installation, a new installation token, a refused
//! JWT), from `@octokit/openapi`.
//!
//! The description is not vendored (13 MB): `scripts/github-schemas` installs it under
//! `target/github-schemas/`, or `SHIPYARD_GITHUB_OPENAPI` names the file. Without it the tests
//! print how to get it and pass, except under CI (`CI` set), where they fail.
#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::LazyLock;

use common::*;
use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, Registry, ValidationError, Validator};
use reqwest::StatusCode;
use serde_json::{Value, json};
use shipyard_sim::github::{AppKeyPair, CommitSpec, SimGithub, seed_demo};

/// The URI the description is registered under; nothing is ever fetched from it.
const SPEC_URI: &str = "https://shipyard.invalid/github/api.github.com.json";

const DEFAULT_SPEC: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../target/github-schemas/node_modules/@octokit/openapi/generated/api.github.com.json"
);

/// GitHub's REST description, loaded once and turned into a JSON Schema resource.
struct Spec {
    registry: Registry<'static>,
    version: String,
}

/// The description, or why it is missing.
static SPEC: LazyLock<Result<Spec, String>> = LazyLock::new(load_spec);

fn spec_path() -> PathBuf {
    std::env::var_os("SHIPYARD_GITHUB_OPENAPI")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from(DEFAULT_SPEC), PathBuf::from)
}

fn load_spec() -> Result<Spec, String> {
    let path = spec_path();
    let text = std::fs::read_to_string(&path).map_err(|e| {
        format!(
            "GitHub's OpenAPI description is not at {} ({e}); run `scripts/test` (or `scripts/github-schemas`) \
             to install it (npm package @octokit/openapi), or set SHIPYARD_GITHUB_OPENAPI \
             to the path of api.github.com.json",
            path.display()
        )
    })?;
    let mut doc: Value = serde_json::from_str(&text).unwrap();
    let openapi = doc["openapi"].as_str().unwrap_or_default().to_owned();
    assert!(
        openapi.starts_with("3."),
        "{}: not an OpenAPI 3 description (openapi = {openapi:?})",
        path.display()
    );
    // OpenAPI 3.1 schemas are JSON Schema 2020-12 already; 3.0 ones mark nulls with `nullable`.
    if openapi.starts_with("3.0") {
        rewrite_nullable(&mut doc);
    }
    let version = doc["info"]["version"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();
    let registry = Registry::new()
        .draft(Draft::Draft202012)
        .add(SPEC_URI, doc)
        .unwrap()
        .prepare()
        .unwrap();
    eprintln!(
        "validating against {} (OpenAPI {openapi}, description {version})",
        path.display()
    );
    Ok(Spec { registry, version })
}

/// Turns OpenAPI 3.0's `nullable: true` into JSON Schema: `null` joins the listed `type` (and
/// `enum`), and a schema without a `type` (a `$ref` or a combinator) becomes `anyOf` itself or
/// `null`. A `nullable` without anything else already accepts `null` and is just dropped.
fn rewrite_nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for child in map.values_mut() {
                rewrite_nullable(child);
            }
            if map.get("nullable") != Some(&Value::Bool(true)) {
                return;
            }
            map.remove("nullable");
            match map.get_mut("type") {
                Some(Value::String(t)) => {
                    let t = std::mem::take(t);
                    map.insert("type".into(), json!([t, "null"]));
                    if let Some(Value::Array(options)) = map.get_mut("enum")
                        && !options.contains(&Value::Null)
                    {
                        options.push(Value::Null);
                    }
                }
                Some(Value::Array(types)) => {
                    if !types.contains(&json!("null")) {
                        types.push(json!("null"));
                    }
                }
                _ => {
                    const CONSTRAINING: &[&str] = &["$ref", "allOf", "anyOf", "oneOf", "enum"];
                    if CONSTRAINING.iter().any(|k| map.contains_key(*k)) {
                        let inner = Value::Object(std::mem::take(map));
                        map.insert("anyOf".into(), json!([inner, {"type": "null"}]));
                    }
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(rewrite_nullable),
        _ => {}
    }
}

/// Escapes one JSON pointer segment and the characters a URI fragment cannot hold.
fn pointer_segment(s: &str) -> String {
    s.replace('~', "~0")
        .replace('/', "~1")
        .replace('{', "%7B")
        .replace('}', "%7D")
}

/// A validator for the `application/json` body of `GET template`'s 200 response.
fn validator(spec: &Spec, template: &str) -> Validator {
    response_validator(spec, "get", template, 200)
}

/// A validator for the `application/json` body of `method template`'s `status` response
/// (following the description's shared `#/components/responses/…` when it refers to one).
fn response_validator(spec: &Spec, method: &str, template: &str, status: u16) -> Validator {
    let response = format!(
        "{SPEC_URI}#/paths/{}/{method}/responses/{status}",
        pointer_segment(template)
    );
    let resolver = spec
        .registry
        .resolver(jsonschema::uri::from_str(SPEC_URI).unwrap());
    let found = resolver
        .lookup(&response[SPEC_URI.len()..])
        .unwrap_or_else(|e| panic!("no {status} response for {method} {template}: {e}"));
    let reference = match found.contents().get("$ref").and_then(Value::as_str) {
        Some(shared) => format!("{SPEC_URI}{shared}/content/application~1json/schema"),
        None => format!("{response}/content/application~1json/schema"),
    };
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .with_registry(&spec.registry)
        .should_validate_formats(true)
        .offline()
        .build(&json!({ "$ref": reference }))
        .unwrap_or_else(|e| panic!("no {status} JSON schema for {method} {template}: {e}"))
}

/// Asserts that `body` is valid for `method template`'s `status` response.
fn assert_valid(spec: &Spec, method: &str, template: &str, status: u16, body: &Value) {
    let validator = response_validator(spec, method, template, status);
    let errors: Vec<String> = validator
        .iter_errors(body)
        .map(|e| format!("body{}: {}", e.instance_path(), describe(&e)))
        .collect();
    assert!(
        errors.is_empty(),
        "{} {template} {status} (description {}):\n{}\n{body}",
        method.to_uppercase(),
        spec.version,
        errors.join("\n")
    );
}

/// One schema violation, without the offending value when that is large.
fn describe(error: &ValidationError<'_>) -> String {
    let full = error.to_string();
    let mut text = if full.len() <= 200 {
        full
    } else {
        error.masked().to_string()
    };
    let branches = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            Some(context)
        }
        _ => None,
    };
    for (i, branch) in branches.into_iter().flatten().enumerate() {
        let reasons: Vec<String> = branch
            .iter()
            .map(|e| format!("{}: {}", e.instance_path(), describe(e)))
            .collect();
        text.push_str(&format!("\n      option {i} fails: {}", reasons.join("; ")));
    }
    text
}

/// Array indices in a JSON pointer replaced by `*`, so one fault in many items reads once.
fn generalize(pointer: &str) -> String {
    pointer
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Schema violations of the sim's answers, each kept once per operation and generalized path.
#[derive(Default)]
struct Findings {
    /// (operation, generalized instance path, schema path) -> (first request, message, count)
    seen: BTreeMap<(String, String, String), (String, String, usize)>,
    checked: usize,
}

impl Findings {
    fn report(&self) -> String {
        self.seen
            .iter()
            .map(|((op, path, schema), (request, message, n))| {
                format!(
                    "GET {op}: body{path} ({n}x, e.g. GET {request}): {message}\n      \
                     schema: {schema}"
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Checks the sim's answers for the templates it serves, one validator per template.
struct Checker<'s> {
    sim: &'s SimGithub,
    validators: BTreeMap<&'static str, Validator>,
    findings: Findings,
}

impl<'s> Checker<'s> {
    fn new(spec: &Spec, sim: &'s SimGithub) -> Self {
        let templates = [
            "/orgs/{org}/repos",
            "/repos/{owner}/{repo}",
            "/repos/{owner}/{repo}/branches",
            "/repos/{owner}/{repo}/branches/{branch}",
            "/repos/{owner}/{repo}/compare/{basehead}",
            "/repos/{owner}/{repo}/pulls",
            "/repos/{owner}/{repo}/pulls/{pull_number}",
            "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
            "/repos/{owner}/{repo}/actions/runs/{run_id}",
            "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
            "/rate_limit",
            "/user",
            "/repos/{owner}/{repo}/issues/{issue_number}/comments",
            "/repos/{owner}/{repo}/issues/comments/{comment_id}",
            "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
            "/repos/{owner}/{repo}/commits/{ref}/status",
            "/repos/{owner}/{repo}/commits/{ref}/statuses",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
        ];
        Checker {
            sim,
            validators: templates
                .into_iter()
                .map(|t| (t, validator(spec, t)))
                .collect(),
            findings: Findings::default(),
        }
    }

    /// GETs `path`, expects 200, validates the body against `template`'s schema, returns it.
    async fn check(&mut self, template: &'static str, path: &str) -> Value {
        let (status, _, body) = get(self.sim, path).await;
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        let validator = &self.validators[template];
        for error in validator.iter_errors(&body) {
            let key = (
                template.to_owned(),
                generalize(error.instance_path().as_str()),
                generalize(error.schema_path().as_str()),
            );
            self.findings
                .seen
                .entry(key)
                .or_insert_with(|| (path.to_owned(), describe(&error), 0))
                .2 += 1;
        }
        self.findings.checked += 1;
        body
    }
}

/// A commit by someone with a GitHub account.
fn by(login: &str, message: &str, path: &str) -> CommitSpec {
    CommitSpec::new(message, "Dev Person", "dev@example.com")
        .login(login)
        .file(path, 3, 1)
}

/// A repository with every answer shape the simulation has: commits with and without a GitHub
/// author, a merged, an open and a closed pull request, branches with `/` in their names.
fn script(sim: &SimGithub) {
    sim.add_repo("svc");
    sim.create_branch("svc", "master", "main");
    sim.commit("svc", "master", by("dev0", "chore: base", "README.md"));
    sim.create_branch("svc", "uat", "master");
    sim.create_branch("svc", "feature/x", "uat");
    sim.commit("svc", "feature/x", by("dev1", "feat: x", "src/x.rs"));
    let feature = sim.open_pr_as("svc", "feature/x", "uat", "Add x", "dev1");
    sim.merge_pr("svc", feature);
    sim.commit(
        "svc",
        "uat",
        CommitSpec::new("fix: no account", "Nobody", "nobody@example.com").file(
            "helm/values.yaml",
            1,
            1,
        ),
    );
    sim.create_branch("svc", "spike", "uat");
    sim.commit("svc", "spike", by("dev2", "wip", "src/spike.rs"));
    let spike = sim.open_pr("svc", "spike", "uat", "Spike");
    sim.close_pr("svc", spike);
    let release = sim.open_pr("svc", "uat", "master", "Release svc");
    script_actions(sim);
    script_pull_activity(sim, feature, release);
}

/// What happens around pull requests: comments by people and by a bot, with and without
/// reactions, one edited; statuses in every state on several contexts (one repeated in another
/// case); reviews in every state; people with every role.
fn script_pull_activity(sim: &SimGithub, merged: u64, open: u64) {
    sim.add_comment("svc", merged, "dev1", "Looks good.");
    sim.add_comment(
        "svc",
        open,
        "github-actions[bot]",
        "<!-- marker -->\n## Dashboard",
    );
    let asked = sim.add_comment("svc", open, "dev2", "/plan");
    sim.set_comment_body("svc", asked, "/plan please");
    sim.set_author_association("svc", "dev2", "CONTRIBUTOR");
    let uat = sim.branch_head("svc", "uat").unwrap();
    for (context, state) in [
        ("ci/build", "pending"),
        ("ci/lint", "success"),
        ("CI/Build", "failure"),
        ("deploy", "error"),
    ] {
        sim.add_status("svc", &uat, context, state);
    }
    for (login, state) in [
        ("dev0", "COMMENTED"),
        ("dev1", "CHANGES_REQUESTED"),
        ("dev1", "APPROVED"),
        ("dev2", "DISMISSED"),
        ("github-actions[bot]", "PENDING"),
    ] {
        sim.add_review("svc", open, login, state);
    }
    for (login, role) in [
        ("dev0", "admin"),
        ("dev1", "maintain"),
        ("dev2", "write"),
        ("dev3", "triage"),
        ("dev4", "read"),
    ] {
        sim.set_permission("svc", login, role);
    }
}

/// Workflow runs in every state: queued, waiting, in progress with jobs, completed with each
/// kind of conclusion, re-run; on a merge commit and on a commit without a GitHub author.
fn script_actions(sim: &SimGithub) {
    let master = sim.branch_head("svc", "master").unwrap();
    let uat = sim.branch_head("svc", "uat").unwrap();
    sim.successful_build("svc", "general.yaml", "master", &master, "1.1.937");
    let queued = sim.start_run("svc", "general.yaml", "uat", &uat);
    sim.add_job(queued, "build", "");
    let waiting = sim.start_run("svc", "general.yaml", "uat", &uat);
    sim.set_run_status(waiting, "waiting");
    let running = sim.start_run("svc", "general.yaml", "master", &master);
    sim.set_run_status(running, "in_progress");
    let done = sim.add_job(running, "lint", "ok");
    sim.complete_job(done, "success");
    sim.add_job(running, "helm", "");
    for conclusion in [
        "failure",
        "cancelled",
        "skipped",
        "startup_failure",
        "timed_out",
    ] {
        let run = sim.start_run("svc", "general.yaml", "master", &master);
        sim.add_job(run, "build", "");
        sim.complete_run(run, conclusion);
    }
    let rerun = sim.start_run_on("svc", "deploy.yml", "master", &master, "workflow_dispatch");
    sim.add_job(rerun, "deploy", "");
    sim.complete_run(rerun, "failure");
    sim.rerun(rerun);
    sim.add_job(rerun, "deploy", "");
}

/// The description; panics, saying how to get it, when it is missing (`scripts/test` installs
/// it), so that the check never passes without it.
fn spec() -> &'static Spec {
    match &*SPEC {
        Ok(spec) => spec,
        Err(msg) => panic!("{msg}"),
    }
}

#[tokio::test]
async fn rest_answers_validate_against_githubs_openapi_description() {
    let spec = spec();
    let sim = SimGithub::start("acme").await.unwrap();
    script(&sim);
    seed_demo(&sim);
    let mut checker = Checker::new(spec, &sim);

    let repos = checker
        .check(
            "/orgs/{org}/repos",
            "/orgs/acme/repos?type=all&per_page=100",
        )
        .await;
    let names: Vec<String> = repos
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(names.contains(&"svc".to_owned()), "{names:?}");
    let mut pulls_seen = (0, 0, 0);
    let (mut comments_seen, mut reviews_seen, mut contexts_seen) = (0, 0, 0);
    for name in &names {
        checker
            .check("/repos/{owner}/{repo}", &format!("/repos/acme/{name}"))
            .await;
        let branches = checker
            .check(
                "/repos/{owner}/{repo}/branches",
                &format!("/repos/acme/{name}/branches?per_page=100"),
            )
            .await;
        let branches: Vec<String> = branches
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["name"].as_str().unwrap().to_owned())
            .collect();
        for branch in &branches {
            checker
                .check(
                    "/repos/{owner}/{repo}/branches/{branch}",
                    &format!("/repos/acme/{name}/branches/{branch}"),
                )
                .await;
        }
        for (base, head) in [("master", "uat"), ("uat", "dev"), ("uat", "master")] {
            if branches.iter().any(|b| b == base) && branches.iter().any(|b| b == head) {
                checker
                    .check(
                        "/repos/{owner}/{repo}/compare/{basehead}",
                        &format!("/repos/acme/{name}/compare/{base}...{head}"),
                    )
                    .await;
            }
        }
        let pulls = checker
            .check(
                "/repos/{owner}/{repo}/pulls",
                &format!("/repos/acme/{name}/pulls?state=all&per_page=100"),
            )
            .await;
        for pull in pulls.as_array().unwrap() {
            let number = pull["number"].as_u64().unwrap();
            let pull = checker
                .check(
                    "/repos/{owner}/{repo}/pulls/{pull_number}",
                    &format!("/repos/acme/{name}/pulls/{number}"),
                )
                .await;
            let comments = checker
                .check(
                    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                    &format!("/repos/acme/{name}/issues/{number}/comments?per_page=100"),
                )
                .await;
            for comment in comments.as_array().unwrap() {
                let id = comment["id"].as_u64().unwrap();
                checker
                    .check(
                        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
                        &format!("/repos/acme/{name}/issues/comments/{id}"),
                    )
                    .await;
                comments_seen += 1;
            }
            let reviews = checker
                .check(
                    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
                    &format!("/repos/acme/{name}/pulls/{number}/reviews?per_page=100"),
                )
                .await;
            reviews_seen += reviews.as_array().unwrap().len();
            let head = pull["head"]["sha"].as_str().unwrap();
            let combined = checker
                .check(
                    "/repos/{owner}/{repo}/commits/{ref}/status",
                    &format!("/repos/acme/{name}/commits/{head}/status"),
                )
                .await;
            contexts_seen += combined["total_count"].as_u64().unwrap();
            checker
                .check(
                    "/repos/{owner}/{repo}/commits/{ref}/statuses",
                    &format!("/repos/acme/{name}/commits/{head}/statuses?per_page=100"),
                )
                .await;
            match (pull["state"].as_str(), pull["merged"].as_bool()) {
                (Some("open"), _) => pulls_seen.0 += 1,
                (Some("closed"), Some(true)) => pulls_seen.1 += 1,
                _ => pulls_seen.2 += 1,
            }
        }
    }
    let mut runs_seen = 0;
    for workflow in ["general.yaml", "deploy.yml"] {
        let runs = checker
            .check(
                "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs",
                &format!("/repos/acme/svc/actions/workflows/{workflow}/runs?per_page=100"),
            )
            .await;
        for run in runs["workflow_runs"].as_array().unwrap() {
            let id = run["id"].as_u64().unwrap();
            checker
                .check(
                    "/repos/{owner}/{repo}/actions/runs/{run_id}",
                    &format!("/repos/acme/svc/actions/runs/{id}"),
                )
                .await;
            for filter in ["latest", "all"] {
                checker
                    .check(
                        "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs",
                        &format!("/repos/acme/svc/actions/runs/{id}/jobs?filter={filter}"),
                    )
                    .await;
            }
            runs_seen += 1;
        }
    }
    assert_eq!(runs_seen, 10, "every scripted run was checked");
    checker.check("/rate_limit", "/rate_limit").await;
    // A personal token's account (an installation token's `[bot]` is refused there).
    checker.sim.set_token_login("shipyard-releases");
    checker.check("/user", "/user").await;
    checker.sim.set_token_login("github-actions[bot]");
    for login in [
        "dev0",
        "dev1",
        "dev2",
        "dev3",
        "dev4",
        "stranger",
        "github-actions[bot]",
    ] {
        let answer = checker
            .check(
                "/repos/{owner}/{repo}/collaborators/{username}/permission",
                &format!("/repos/acme/svc/collaborators/{login}/permission"),
            )
            .await;
        assert_eq!(answer["user"]["login"], login, "{answer}");
    }
    checker
        .check(
            "/repos/{owner}/{repo}/commits/{ref}/status",
            "/repos/acme/svc/commits/uat/status",
        )
        .await;
    assert_eq!(comments_seen, 3, "every scripted comment was checked");
    // The pending review is the token's own (github-actions[bot]), so it is listed too.
    assert_eq!(reviews_seen, 5, "every scripted review was checked");
    assert!(
        contexts_seen >= 3,
        "the statuses were checked: {contexts_seen}"
    );

    // What the scripted repository promises was covered.
    let compare = checker
        .check(
            "/repos/{owner}/{repo}/compare/{basehead}",
            "/repos/acme/svc/compare/master...uat",
        )
        .await;
    assert!(
        compare["commits"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["author"].is_null()),
        "no commit without a GitHub author in {compare}"
    );
    assert!(
        pulls_seen.0 > 0 && pulls_seen.1 > 0 && pulls_seen.2 > 0,
        "open, merged, closed pull requests: {pulls_seen:?}"
    );

    let findings = &checker.findings;
    assert!(
        findings.seen.is_empty(),
        "{} distinct schema violations in {} answers (description {}):\n{}",
        findings.seen.len(),
        findings.checked,
        spec.version,
        findings.report()
    );
    eprintln!(
        "{} answers valid against description {}",
        findings.checked, spec.version
    );
}

#[test]
fn nullable_becomes_json_schema() {
    let mut schema = json!({
        "properties": {
            "a": {"type": "string", "nullable": true},
            "b": {"type": "string", "enum": ["x"], "nullable": true},
            "c": {"allOf": [{"$ref": "#/x"}], "nullable": true},
            "d": {"nullable": true},
            "nullable": {"type": "integer"}
        }
    });
    rewrite_nullable(&mut schema);
    assert_eq!(
        schema,
        json!({
            "properties": {
                "a": {"type": ["string", "null"]},
                "b": {"type": ["string", "null"], "enum": ["x", null]},
                "c": {"anyOf": [{"allOf": [{"$ref": "#/x"}]}, {"type": "null"}]},
                "d": {},
                "nullable": {"type": "integer"}
            }
        })
    );
}

/// What is broken, and how.
type Breakage = (&'static str, fn(&mut Value));

/// The validation is not vacuous: a valid answer of the sim, broken one field at a time, fails.
#[tokio::test]
async fn the_description_rejects_broken_answers() {
    let spec = spec();
    let sim = SimGithub::start("acme").await.unwrap();
    script(&sim);

    let pull_schema = validator(spec, "/repos/{owner}/{repo}/pulls/{pull_number}");
    let (_, _, pull) = get(&sim, "/repos/acme/svc/pulls/1").await;
    assert_eq!(pull["merged"], json!(true), "{pull}");
    assert!(pull_schema.is_valid(&pull), "{pull}");
    let breakages: [Breakage; 6] = [
        ("date-time format", |p| p["created_at"] = json!("yesterday")),
        ("uri format", |p| p["html_url"] = json!("not a uri")),
        ("nullable object", |p| p["merged_by"] = json!("dev1")),
        ("enum", |p| p["state"] = json!("merged")),
        ("integer", |p| p["number"] = json!("1")),
        ("required", |p| {
            p.as_object_mut().unwrap().remove("head");
        }),
    ];
    for (what, breakage) in breakages {
        let mut broken = pull.clone();
        breakage(&mut broken);
        assert!(!pull_schema.is_valid(&broken), "{what}: accepted {broken}");
    }

    let compare_schema = validator(spec, "/repos/{owner}/{repo}/compare/{basehead}");
    let (_, _, compare) = get(&sim, "/repos/acme/svc/compare/master...uat").await;
    assert!(compare_schema.is_valid(&compare), "{compare}");
    let mut broken = compare.clone();
    broken["commits"][0]["sha"] = Value::Null;
    assert!(!compare_schema.is_valid(&broken), "null sha accepted");

    let run_schema = validator(spec, "/repos/{owner}/{repo}/actions/runs/{run_id}");
    let master = sim.branch_head("svc", "master").unwrap();
    let run = sim.successful_build("svc", "general.yaml", "master", &master, "1.0.0");
    let (_, _, body) = get(&sim, &format!("/repos/acme/svc/actions/runs/{run}")).await;
    assert!(run_schema.is_valid(&body), "{body}");
    let mut broken = body.clone();
    broken["created_at"] = json!("now");
    assert!(!run_schema.is_valid(&broken), "bad date-time accepted");
    broken = body.clone();
    broken.as_object_mut().unwrap().remove("head_sha");
    assert!(!run_schema.is_valid(&broken), "missing head_sha accepted");
    let jobs_schema = validator(spec, "/repos/{owner}/{repo}/actions/runs/{run_id}/jobs");
    let (_, _, jobs) = get(&sim, &format!("/repos/acme/svc/actions/runs/{run}/jobs")).await;
    assert!(jobs_schema.is_valid(&jobs), "{jobs}");
    let mut broken = jobs.clone();
    broken["jobs"][0]["status"] = json!("done");
    assert!(
        !jobs_schema.is_valid(&broken),
        "unknown job status accepted"
    );

    let comments_schema = validator(spec, "/repos/{owner}/{repo}/issues/{issue_number}/comments");
    let (_, _, comments) = get(&sim, "/repos/acme/svc/issues/3/comments").await;
    assert!(comments_schema.is_valid(&comments), "{comments}");
    assert!(!comments.as_array().unwrap().is_empty());
    let mut broken = comments.clone();
    broken[0]["author_association"] = json!("BOT");
    assert!(
        !comments_schema.is_valid(&broken),
        "unknown association accepted"
    );
    broken = comments.clone();
    broken[0]["reactions"]
        .as_object_mut()
        .unwrap()
        .remove("eyes");
    assert!(
        !comments_schema.is_valid(&broken),
        "incomplete reactions accepted"
    );
    let combined_schema = validator(spec, "/repos/{owner}/{repo}/commits/{ref}/status");
    let (_, _, combined) = get(&sim, "/repos/acme/svc/commits/uat/status").await;
    assert!(combined_schema.is_valid(&combined), "{combined}");
    broken = combined.clone();
    broken["statuses"][0]["updated_at"] = json!("later");
    assert!(!combined_schema.is_valid(&broken), "bad date-time accepted");

    let rate = validator(spec, "/rate_limit");
    assert!(!rate.is_valid(&json!({})));
    let pulls = validator(spec, "/repos/{owner}/{repo}/pulls");
    assert!(pulls.is_valid(&json!([])));
    assert!(!pulls.is_valid(&json!([{"number": 1}])));
}

/// The writes a pull-request bot makes, and the errors GitHub describes for them, validate
/// against the description's 201/200, 422, 404 and 403 schemas.
#[tokio::test]
async fn writes_and_their_errors_validate_against_githubs_openapi_description() {
    let spec = spec();
    let sim = SimGithub::start("acme").await.unwrap();
    script(&sim);
    let open = 3;
    let comments = "/repos/{owner}/{repo}/issues/{issue_number}/comments";
    let comment = "/repos/{owner}/{repo}/issues/comments/{comment_id}";
    let reactions = "/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions";

    let (status, h, created) = send(
        &sim,
        "POST",
        &format!("/repos/acme/svc/issues/{open}/comments"),
        Some(json!({"body": "<!-- shipyard-dashboard:abc1234 -->\nhello"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_valid(spec, "post", comments, 201, &created);
    let id = created["id"].as_u64().unwrap();
    assert_eq!(
        header(&h, "location"),
        format!("{}/repos/acme/svc/issues/comments/{id}", sim.url())
    );
    let path = format!("/repos/acme/svc/issues/comments/{id}");
    let (status, _, edited) = send(&sim, "PATCH", &path, Some(json!({"body": "edited"}))).await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_valid(spec, "patch", comment, 200, &edited);

    let react = format!("{path}/reactions");
    let (status, _, new) = send(&sim, "POST", &react, Some(json!({"content": "eyes"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{new}");
    assert_valid(spec, "post", reactions, 201, &new);
    let (status, _, again) = send(&sim, "POST", &react, Some(json!({"content": "eyes"}))).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_valid(spec, "post", reactions, 200, &again);
    let (_, _, with_reaction) = get(&sim, &path).await;
    assert_valid(spec, "get", comment, 200, &with_reaction);
    assert_eq!(with_reaction["reactions"]["eyes"], 1, "{with_reaction}");

    let uat = sim.branch_head("svc", "uat").unwrap();
    let (status, _, set) = send(
        &sim,
        "POST",
        &format!("/repos/acme/svc/statuses/{uat}"),
        Some(json!({
            "state": "pending",
            "context": "shipyard/apply",
            "description": "running since 10:42 UTC",
            "target_url": "https://github.example/acme/svc/actions/runs/1"
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{set}");
    assert_valid(
        spec,
        "post",
        "/repos/{owner}/{repo}/statuses/{sha}",
        201,
        &set,
    );
    let (_, _, listed) = get(&sim, &format!("/repos/acme/svc/commits/{uat}/statuses")).await;
    assert_valid(
        spec,
        "get",
        "/repos/{owner}/{repo}/commits/{ref}/statuses",
        200,
        &listed,
    );

    // 422s: too long, blank, a reaction GitHub does not have.
    let long = "x".repeat(65_536);
    for (method, path, template, body) in [
        (
            "POST",
            format!("/repos/acme/svc/issues/{open}/comments"),
            comments,
            json!({"body": long}),
        ),
        (
            "POST",
            format!("/repos/acme/svc/issues/{open}/comments"),
            comments,
            json!({"body": ""}),
        ),
        ("PATCH", path.clone(), comment, json!({"body": long})),
        (
            "POST",
            react.clone(),
            reactions,
            json!({"content": "smile"}),
        ),
    ] {
        let (status, _, body) = send(&sim, method, &path, Some(body)).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {body}"
        );
        assert_eq!(body["message"], "Validation Failed", "{body}");
        assert_valid(spec, &method.to_lowercase(), template, 422, &body);
    }

    // 404s where the description has them.
    for (path, template) in [
        ("/repos/acme/svc/issues/99/comments", comments),
        ("/repos/acme/svc/issues/comments/1", comment),
        (
            "/repos/acme/svc/commits/0000000/status",
            "/repos/{owner}/{repo}/commits/{ref}/status",
        ),
        (
            "/repos/acme/svc/collaborators/not--a-login/permission",
            "/repos/{owner}/{repo}/collaborators/{username}/permission",
        ),
    ] {
        let (status, _, body) = get(&sim, path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_valid(spec, "get", template, 404, &body);
    }

    // A read-only token: the 403 of creating a comment.
    sim.set_read_only_token(true);
    let (status, _, body) = send(
        &sim,
        "POST",
        &format!("/repos/acme/svc/issues/{open}/comments"),
        Some(json!({"body": "hi"})),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_valid(spec, "post", comments, 403, &body);
    sim.set_read_only_token(false);

    let (status, _, body) = send(&sim, "DELETE", &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, Value::Null);
}

/// The GitHub App routes: the organisation's installation, a new installation token, and the
/// 401 of a refused JWT and 404 of an unknown installation, against the description.
#[tokio::test]
async fn app_answers_validate_against_githubs_openapi_description() {
    let spec = spec();
    let sim = SimGithub::start("acme").await.unwrap();
    let keys = AppKeyPair::generate().unwrap();
    let installation = sim.set_app(7, &keys.public_key_der());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let jwt = keys.sign_jwt(&json!({"iat": now - 60, "exp": now + 540, "iss": "7"}));
    let bearer = format!("Bearer {jwt}");

    let (status, _, found) = get_with(
        &sim,
        "/orgs/acme/installation",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_valid(spec, "get", "/orgs/{org}/installation", 200, &found);
    assert_eq!(found["id"], installation);

    let tokens = "/app/installations/{installation_id}/access_tokens";
    let post = |path: String, auth: String| {
        let url = format!("{}{path}", sim.url());
        async move {
            let resp = client()
                .post(url)
                .header("accept", "application/vnd.github+json")
                .header("authorization", auth)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, issued) = post(
        format!("/app/installations/{installation}/access_tokens"),
        bearer.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_valid(spec, "post", tokens, 201, &issued);

    let (status, refused) = post(
        format!("/app/installations/{installation}/access_tokens"),
        "Bearer not-a-jwt".into(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{refused}");
    assert_valid(spec, "post", tokens, 401, &refused);

    let (status, missing) = post("/app/installations/1/access_tokens".into(), bearer).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_valid(spec, "post", tokens, 404, &missing);
}
