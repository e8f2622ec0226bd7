//! Ready-made organizations: a believable demo org and a large synthetic one for benchmarks.

use std::collections::HashSet;

use super::state::GitState;
use super::{CommitSpec, FileChange, SimGithub};

/// People who commit in the demo organization (`None`: no GitHub account).
const PEOPLE: &[(&str, &str, Option<&str>)] = &[
    ("Amira Haddad", "amira.haddad@example.com", Some("amira-h")),
    ("Jonas Berg", "jonas.berg@example.com", Some("jberg")),
    ("Priya Raman", "priya.raman@example.com", Some("praman")),
    ("Tomás Ortega", "tomas.ortega@example.com", None),
    ("Keiko Sato", "keiko.sato@example.com", Some("ksato")),
    ("Dependency Bot", "deps-bot@example.com", None),
];

fn spec(who: usize, message: &str, files: &[(&str, u64, u64)]) -> CommitSpec {
    let (name, email, login) = PEOPLE[who % PEOPLE.len()];
    CommitSpec {
        message: message.to_owned(),
        author_name: name.to_owned(),
        author_email: email.to_owned(),
        author_login: login.map(str::to_owned),
        files: files
            .iter()
            .map(|(path, additions, deletions)| FileChange {
                path: (*path).to_owned(),
                additions: *additions,
                deletions: *deletions,
            })
            .collect(),
    }
}

/// A commit for the demo: (author index, message, files).
type Change<'a> = (usize, &'a str, &'a [(&'a str, u64, u64)]);

/// Creates `name` with a little history on `main`, then `master` from `main` and `uat`/`dev` from
/// `master`.
fn lineage(git: &mut GitState, name: &str) {
    git.add_repo(name);
    git.commit(
        name,
        "main",
        spec(
            0,
            "chore: scaffold service",
            &[
                ("Cargo.toml", 24, 0),
                ("src/main.rs", 80, 0),
                ("Dockerfile", 18, 0),
            ],
        ),
    );
    git.commit(
        name,
        "main",
        spec(
            1,
            "ci: add build and deploy pipeline",
            &[
                (".github/workflows/ci.yml", 46, 0),
                (&format!("helm/{name}/Chart.yaml"), 6, 0),
                (&format!("helm/{name}/values.yaml"), 32, 0),
            ],
        ),
    );
    git.create_branch(name, "master", "main");
    git.create_branch(name, "uat", "master");
    git.create_branch(name, "dev", "master");
}

fn commits(git: &mut GitState, repo: &str, branch: &str, changes: &[Change<'_>]) {
    for (who, message, files) in changes {
        git.commit(repo, branch, spec(*who, message, files));
    }
}

/// Promotes `dev` to `uat` through a merged pull request.
fn promote_dev(git: &mut GitState, repo: &str, by: &str) {
    let n = git.open_pr(repo, "dev", "uat", "Promote dev to uat", Some(by));
    git.merge_pr(repo, n);
}

/// Seeds a believable organization of twelve services in every release situation: changes
/// waiting in `uat` with an open pull request to `master`, releases already merged, nothing to
/// release, diverged branches, an archived repository and one without a `uat` branch.
pub fn seed_demo(sim: &SimGithub) {
    let mut git = sim.inner.git();
    let git = &mut *git;

    // Released: uat merged into master, nothing new since.
    let repo = "api-gateway";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                1,
                "feat(routing): add weighted canary routes",
                &[
                    ("src/routing/canary.rs", 142, 0),
                    ("src/routing/mod.rs", 12, 3),
                ],
            ),
            (
                3,
                "fix(auth): forward x-request-id to upstreams",
                &[("src/middleware/request_id.rs", 18, 4)],
            ),
        ],
    );
    promote_dev(git, repo, "jberg");
    let n = git.open_pr(
        repo,
        "uat",
        "master",
        "Release api-gateway",
        Some("amira-h"),
    );
    git.merge_pr(repo, n);

    // Waiting in uat with a breaking change and helm changes.
    let repo = "auth-service";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                2,
                "feat(oidc): support PKCE for public clients",
                &[("src/oidc/pkce.rs", 96, 0), ("src/oidc/mod.rs", 8, 2)],
            ),
            (
                0,
                "feat!: drop legacy session tokens\n\nClients must use the OIDC flow; /v1/session is gone.",
                &[("src/session.rs", 0, 214), ("src/routes.rs", 4, 19)],
            ),
            (
                4,
                "fix: rotate signing keys without downtime",
                &[("src/keys.rs", 37, 11)],
            ),
            (
                1,
                "chore(helm): raise memory limit to 512Mi",
                &[("helm/auth-service/values.yaml", 2, 2)],
            ),
        ],
    );
    promote_dev(git, repo, "praman");
    git.open_pr(
        repo,
        "uat",
        "master",
        "Release auth-service",
        Some("praman"),
    );

    // Waiting in uat: a Dockerfile change and an author without an account.
    let repo = "billing";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                2,
                "feat(invoices): export invoices as PDF",
                &[("src/invoices/pdf.rs", 188, 0), ("Cargo.toml", 1, 0)],
            ),
            (
                3,
                "fix(tax): round VAT per line item\n\nRounding the total hid one-cent differences on long invoices.",
                &[("src/tax.rs", 21, 9), ("tests/tax.rs", 44, 0)],
            ),
            (
                5,
                "build(deps): bump base image to debian 13",
                &[("Dockerfile", 1, 1)],
            ),
        ],
    );
    promote_dev(git, repo, "amira-h");
    git.open_pr(repo, "uat", "master", "Release billing", Some("amira-h"));

    // Nothing anywhere.
    lineage(git, "docs-site");

    // Released a while ago, nothing new since.
    let repo = "frontend";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                4,
                "feat(ui): add dark mode toggle",
                &[
                    ("src/components/ThemeToggle.tsx", 64, 0),
                    ("src/styles/theme.css", 40, 2),
                ],
            ),
            (
                2,
                "perf: lazy-load the reports page",
                &[("src/routes.tsx", 6, 3)],
            ),
        ],
    );
    promote_dev(git, repo, "ksato");
    let n = git.open_pr(repo, "uat", "master", "Release frontend", Some("ksato"));
    git.merge_pr(repo, n);

    // Archived, with changes that will never ship.
    let repo = "inventory";
    lineage(git, repo);
    commits(
        git,
        repo,
        "uat",
        &[(
            1,
            "feat: stock reservations",
            &[("src/reservations.rs", 120, 0)],
        )],
    );
    git.set_archived(repo, true);

    // Diverged: a hotfix went straight to master while uat moved on.
    let repo = "mobile-bff";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                0,
                "feat(cart): expose saved carts",
                &[("src/cart.rs", 58, 6), ("src/schema.graphql", 14, 0)],
            ),
            (
                3,
                "refactor: split resolvers by domain",
                &[
                    ("src/resolvers/mod.rs", 30, 210),
                    ("src/resolvers/cart.rs", 180, 0),
                ],
            ),
        ],
    );
    promote_dev(git, repo, "amira-h");
    commits(
        git,
        repo,
        "master",
        &[(
            4,
            "fix: hotfix null cart summary on iOS 17",
            &[("src/cart.rs", 3, 1)],
        )],
    );
    git.open_pr(repo, "uat", "master", "Release mobile-bff", Some("amira-h"));

    // Work on dev only; uat and master identical.
    let repo = "notifications";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[(
            2,
            "feat(email): batch digest emails",
            &[("src/digest.rs", 75, 0)],
        )],
    );

    // Waiting in uat: a BREAKING CHANGE footer and helm values.
    let repo = "payments";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                1,
                "refactor(api): rename amount fields\n\nAll payloads now carry minor units.\n\nBREAKING CHANGE: `amount` is now `amount_minor` in every payload.",
                &[("src/api/types.rs", 40, 40), ("openapi.yaml", 22, 22)],
            ),
            (
                5,
                "chore(deps): bump rustls from 0.23.20 to 0.23.28",
                &[("Cargo.lock", 12, 12)],
            ),
            (
                4,
                "feat(helm): add PodDisruptionBudget",
                &[
                    ("helm/payments/templates/pdb.yaml", 14, 0),
                    ("helm/payments/values.yaml", 3, 0),
                ],
            ),
        ],
    );
    promote_dev(git, repo, "jberg");
    git.open_pr(repo, "uat", "master", "Release payments", Some("jberg"));

    // No uat branch at all.
    let repo = "reporting";
    lineage(git, repo);
    git.delete_branch(repo, "uat");
    commits(
        git,
        repo,
        "dev",
        &[(
            0,
            "feat: monthly revenue report",
            &[("src/reports/revenue.rs", 130, 0)],
        )],
    );

    // Ahead in uat but nobody opened the release pull request yet.
    let repo = "search";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                4,
                "feat(index): typo-tolerant queries",
                &[("src/query.rs", 66, 12)],
            ),
            (
                3,
                "fix: escape reserved characters in filters",
                &[("src/filter.rs", 9, 2)],
            ),
        ],
    );
    promote_dev(git, repo, "ksato");

    // Waiting in uat, after an earlier release attempt was closed unmerged.
    let repo = "user-service";
    lineage(git, repo);
    commits(
        git,
        repo,
        "dev",
        &[(
            2,
            "feat(profile): avatar uploads",
            &[("src/profile/avatar.rs", 92, 0)],
        )],
    );
    promote_dev(git, repo, "praman");
    let n = git.open_pr(
        repo,
        "uat",
        "master",
        "Release user-service",
        Some("praman"),
    );
    git.close_pr(repo, n);
    commits(
        git,
        repo,
        "dev",
        &[
            (
                3,
                "fix(profile): reject avatars over 5 MB",
                &[("src/profile/avatar.rs", 12, 1)],
            ),
            (
                0,
                "docs: describe the profile API",
                &[("docs/profile.md", 48, 0)],
            ),
            (
                1,
                "chore(helm): add avatar bucket env",
                &[("helm/user-service/values.yaml", 4, 0)],
            ),
        ],
    );
    promote_dev(git, repo, "praman");
    git.open_pr(
        repo,
        "uat",
        "master",
        "Release user-service",
        Some("praman"),
    );
}

/// Seeds `repos` repositories `svc-0001`… with branches `dest` and `source` (from `main`);
/// `changed` of them, spread evenly, get 1–5 commits on `source` and an open pull request
/// `source` → `dest`.
pub fn seed_scale(sim: &SimGithub, repos: usize, changed: usize, source: &str, dest: &str) {
    let changed = changed.min(repos);
    let picked: HashSet<usize> = (0..changed).map(|k| k * repos / changed).collect();
    let mut git = sim.inner.git();
    for i in 0..repos {
        let name = format!("svc-{:04}", i + 1);
        git.add_repo(&name);
        if git.branch_head(&name, dest).is_none() {
            git.create_branch(&name, dest, "main");
        }
        if git.branch_head(&name, source).is_none() {
            git.create_branch(&name, source, dest);
        }
        if !picked.contains(&i) || source == dest {
            continue;
        }
        let n = 1 + i % 5;
        for k in 0..n {
            let message = match k % 4 {
                0 => format!("feat: add endpoint {k} to {name}"),
                1 => format!("fix: handle empty payloads in handler {k}"),
                2 => "chore(helm): tune resources".to_owned(),
                _ => format!("refactor: tidy module {k}"),
            };
            let path = if k % 4 == 2 {
                format!("helm/{name}/values.yaml")
            } else {
                format!("src/handler_{k}.rs")
            };
            git.commit(
                &name,
                source,
                spec(i + k, &message, &[(&path, 10 + k as u64, k as u64)]),
            );
        }
        git.open_pr(&name, source, dest, &format!("Release {name}"), None);
    }
}
