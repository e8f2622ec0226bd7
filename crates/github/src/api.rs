//! The GitHub endpoints Shipyard calls, returning Shipyard's own types.
//!
//! Shapes follow GitHub's REST reference (`repos/list-for-org`, `repos/compare-commits-with-basehead`,
//! `pulls/list`) and the GraphQL `Organization.repositories` / `Ref.compare` fields.

use crate::GithubError;
use crate::transport::GitHub;
use futures::future::try_join_all;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde::Deserialize;
use shipyard_core::change::{CommitInfo, Comparison, FileInfo, PrState, PullInfo};

/// A repository of the organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgRepo {
    /// Repository name.
    pub name: String,
    /// Archived repositories take no part in releases by default.
    pub archived: bool,
}

/// The comparison `base...head` of one repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompareResult {
    /// Commits in head not in base.
    pub ahead_by: u64,
    /// Commits and files.
    pub comparison: Comparison,
    /// Head commit, when the listed commits reach it.
    pub head_sha: Option<String>,
}

/// Both branches of one repository, as one GraphQL page reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BranchOverview {
    /// Repository name.
    pub name: String,
    /// Archived repository.
    pub archived: bool,
    /// Source branch head, if the branch exists.
    pub source_sha: Option<String>,
    /// Destination branch head, if the branch exists.
    pub dest_sha: Option<String>,
    /// Commits in source not in dest, when both exist.
    pub ahead_by: Option<u64>,
}

/// Percent-encodes a path piece, keeping `/` (branch names may contain it).
pub(crate) fn enc_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(crate) fn enc_query(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The URL of a `Link` header entry with the given `rel`.
pub(crate) fn link(headers: &HeaderMap, rel: &str) -> Option<String> {
    let value = headers.get("link")?.to_str().ok()?;
    value.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let wanted = format!("rel=\"{rel}\"");
        params.split(';').any(|p| p.trim() == wanted).then(|| {
            url.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
    })
}

fn page_of(url: &str) -> Option<u32> {
    let query = url.split_once('?')?.1;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "page")
        .and_then(|(_, v)| v.parse().ok())
}

#[derive(Deserialize)]
struct RepoWire {
    name: String,
    #[serde(default)]
    archived: bool,
}

#[derive(Deserialize)]
struct CompareWire {
    ahead_by: u64,
    total_commits: u64,
    #[serde(default)]
    commits: Vec<CommitWire>,
    #[serde(default)]
    files: Vec<FileWire>,
}

#[derive(Deserialize)]
struct CommitWire {
    sha: String,
    commit: GitCommitWire,
    author: Option<UserWire>,
}

#[derive(Deserialize)]
struct GitCommitWire {
    message: String,
    author: Option<GitPersonWire>,
}

#[derive(Deserialize)]
struct GitPersonWire {
    #[serde(default)]
    name: String,
}

#[derive(Deserialize)]
struct UserWire {
    login: String,
}

#[derive(Deserialize)]
struct FileWire {
    filename: String,
    #[serde(default)]
    additions: u64,
    #[serde(default)]
    deletions: u64,
}

#[derive(Deserialize)]
struct PullWire {
    number: u64,
    html_url: String,
    state: String,
    merged_at: Option<String>,
    merge_commit_sha: Option<String>,
}

#[derive(Deserialize)]
struct BranchWire {
    commit: ShaWire,
}

#[derive(Deserialize)]
struct ShaWire {
    sha: String,
}

const OVERVIEW_QUERY: &str = r#"query($org: String!, $cursor: String, $source: String!, $dest: String!) {
  organization(login: $org) {
    repositories(first: 100, after: $cursor, orderBy: {field: NAME, direction: ASC}) {
      pageInfo { hasNextPage endCursor }
      nodes {
        name
        isArchived
        source: ref(qualifiedName: $source) { target { oid } }
        dest: ref(qualifiedName: $dest) { target { oid } compare(headRef: $source) { aheadBy } }
      }
    }
  }
}"#;

/// The GraphQL query [`GitHub::branch_overview`] sends, for schema validation in tests.
pub fn overview_query() -> &'static str {
    OVERVIEW_QUERY
}

#[derive(Deserialize)]
struct GraphAnswer<T> {
    data: Option<T>,
    #[serde(default)]
    errors: Vec<GraphError>,
}

#[derive(Deserialize)]
struct GraphError {
    message: String,
}

#[derive(Deserialize)]
struct OverviewData {
    organization: Option<OverviewOrg>,
}

#[derive(Deserialize)]
struct OverviewOrg {
    repositories: OverviewConnection,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverviewConnection {
    page_info: PageInfo,
    nodes: Vec<Option<OverviewNode>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageInfo {
    has_next_page: bool,
    end_cursor: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OverviewNode {
    name: String,
    is_archived: bool,
    source: Option<RefNode>,
    dest: Option<RefNode>,
}

#[derive(Deserialize)]
struct RefNode {
    target: Option<TargetNode>,
    compare: Option<CompareNode>,
}

#[derive(Deserialize)]
struct TargetNode {
    oid: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CompareNode {
    ahead_by: u64,
}

impl GitHub {
    /// Reads `first` and every page its `Link` header leads to.
    pub(crate) async fn all_pages<T: serde::de::DeserializeOwned>(
        &self,
        first: String,
    ) -> Result<Vec<T>, GithubError> {
        let mut out = Vec::new();
        let mut next = Some(first);
        // GitHub never sends a loop, but a broken proxy could: stop after a generous bound.
        let mut pages = 0;
        while let Some(url) = next {
            pages += 1;
            if pages > 1_000 {
                return Err(GithubError::Decode(
                    "more than 1,000 pages: the Link header does not end".into(),
                ));
            }
            let answer = self.get(&url).await?;
            if answer.status != StatusCode::OK {
                return Err(answer.rejected());
            }
            out.extend(answer.json::<Vec<T>>()?);
            next = link(&answer.headers, "next");
        }
        Ok(out)
    }

    /// Every repository of `org` (`GET /orgs/{org}/repos`), all pages; pages after the first are
    /// fetched in parallel when GitHub names the last one.
    pub async fn org_repos(&self, org: &str) -> Result<Vec<OrgRepo>, GithubError> {
        let page_url = |page: u32| {
            self.url(&format!(
                "/orgs/{}/repos?type=all&per_page=100&page={page}",
                enc_path(org)
            ))
        };
        let first = self.get(&page_url(1)).await?;
        if first.status != StatusCode::OK {
            return Err(first.rejected());
        }
        let mut repos: Vec<RepoWire> = first.json()?;
        if let Some(last) = link(&first.headers, "last").as_deref().and_then(page_of) {
            let rest = try_join_all((2..=last).map(|p| {
                let url = page_url(p);
                async move {
                    let answer = self.get(&url).await?;
                    if answer.status != StatusCode::OK {
                        return Err(answer.rejected());
                    }
                    answer.json::<Vec<RepoWire>>()
                }
            }))
            .await?;
            repos.extend(rest.into_iter().flatten());
        } else if let Some(next) = link(&first.headers, "next") {
            repos.extend(self.all_pages::<RepoWire>(next).await?);
        }
        Ok(repos
            .into_iter()
            .map(|r| OrgRepo {
                name: r.name,
                archived: r.archived,
            })
            .collect())
    }

    /// `GET /repos/{owner}/{repo}/compare/{base}...{head}`; `None` when a branch (or the repo) is missing.
    pub async fn compare(
        &self,
        owner: &str,
        repo: &str,
        base: &str,
        head: &str,
    ) -> Result<Option<CompareResult>, GithubError> {
        let url = self.url(&format!(
            "/repos/{}/{}/compare/{}...{}",
            enc_path(owner),
            enc_path(repo),
            enc_path(base),
            enc_path(head)
        ));
        let answer = self.get(&url).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(answer.rejected()),
        }
        let wire: CompareWire = answer.json()?;
        let head_sha = (wire.commits.len() as u64 == wire.total_commits)
            .then(|| wire.commits.last().map(|c| c.sha.clone()))
            .flatten();
        let comparison = Comparison {
            total_commits: wire.total_commits,
            commits: wire
                .commits
                .into_iter()
                .map(|c| CommitInfo {
                    sha: c.sha,
                    message: c.commit.message,
                    author_login: c.author.map(|a| a.login),
                    author_name: c.commit.author.map(|a| a.name).unwrap_or_default(),
                })
                .collect(),
            files: wire
                .files
                .into_iter()
                .map(|f| FileInfo {
                    path: f.filename,
                    additions: f.additions,
                    deletions: f.deletions,
                })
                .collect(),
        };
        Ok(Some(CompareResult {
            ahead_by: wire.ahead_by,
            comparison,
            head_sha,
        }))
    }

    /// The head commit of a branch (`GET /repos/{o}/{r}/branches/{branch}`), `None` if missing.
    pub async fn branch_head(
        &self,
        owner: &str,
        repo: &str,
        branch: &str,
    ) -> Result<Option<String>, GithubError> {
        let url = self.url(&format!(
            "/repos/{}/{}/branches/{}",
            enc_path(owner),
            enc_path(repo),
            enc_path(branch)
        ));
        let answer = self.get(&url).await?;
        match answer.status {
            StatusCode::OK => Ok(Some(answer.json::<BranchWire>()?.commit.sha)),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(answer.rejected()),
        }
    }

    /// The newest pull request from `head` into `base`, open, merged or closed
    /// (`GET /repos/{o}/{r}/pulls?state=all&head=owner:head&base=base`).
    pub async fn pull_between(
        &self,
        owner: &str,
        repo: &str,
        head: &str,
        base: &str,
    ) -> Result<Option<PullInfo>, GithubError> {
        let url = self.url(&format!(
            "/repos/{}/{}/pulls?state=all&head={}&base={}&sort=created&direction=desc&per_page=10",
            enc_path(owner),
            enc_path(repo),
            enc_query(&format!("{owner}:{head}")),
            enc_query(base)
        ));
        let answer = self.get(&url).await?;
        match answer.status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Ok(None),
            _ => return Err(answer.rejected()),
        }
        let pulls: Vec<PullWire> = answer.json()?;
        Ok(pulls.into_iter().max_by_key(|p| p.number).map(|p| {
            // List items carry no `merged` flag: a merged PR is one with `merged_at`.
            let state = if p.merged_at.is_some() {
                PrState::Merged
            } else if p.state == "open" {
                PrState::Open
            } else {
                PrState::Closed
            };
            PullInfo {
                number: p.number,
                url: p.html_url,
                merge_commit_sha: if state == PrState::Merged {
                    p.merge_commit_sha
                } else {
                    None
                },
                state,
            }
        }))
    }

    /// Both branch heads and how far source is ahead of dest, for every repository of the org,
    /// a hundred repositories per GraphQL request.
    pub async fn branch_overview(
        &self,
        org: &str,
        source: &str,
        dest: &str,
    ) -> Result<Vec<BranchOverview>, GithubError> {
        let url = self.options().graphql_url.clone();
        let mut cursor: Option<String> = None;
        let mut out = Vec::new();
        loop {
            let body = serde_json::json!({
                "query": OVERVIEW_QUERY,
                "variables": {
                    "org": org,
                    "cursor": cursor,
                    "source": format!("refs/heads/{source}"),
                    "dest": format!("refs/heads/{dest}"),
                }
            });
            let answer = self.post_json(&url, &body).await?;
            if answer.status != StatusCode::OK {
                return Err(answer.rejected());
            }
            let parsed: GraphAnswer<OverviewData> = answer.json()?;
            if let Some(e) = parsed.errors.first() {
                return Err(GithubError::Rejected {
                    status: 200,
                    message: e.message.clone(),
                });
            }
            let Some(org_data) = parsed.data.and_then(|d| d.organization) else {
                return Err(GithubError::Rejected {
                    status: 404,
                    message: format!("organization `{org}` not found"),
                });
            };
            let conn = org_data.repositories;
            out.extend(conn.nodes.into_iter().flatten().map(|n| {
                let ahead_by = n
                    .dest
                    .as_ref()
                    .and_then(|d| d.compare.as_ref())
                    .map(|c| c.ahead_by);
                BranchOverview {
                    name: n.name,
                    archived: n.is_archived,
                    source_sha: n.source.and_then(|r| r.target).map(|t| t.oid),
                    dest_sha: n.dest.and_then(|r| r.target).map(|t| t.oid),
                    ahead_by,
                }
            }));
            match (conn.page_info.has_next_page, conn.page_info.end_cursor) {
                (true, Some(next)) => cursor = Some(next),
                _ => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn link_header_parsing() {
        let mut h = HeaderMap::new();
        h.insert(
            "link",
            HeaderValue::from_static(
                r#"<https://api.github.com/orgs/acme/repos?page=2&per_page=100>; rel="next", <https://api.github.com/orgs/acme/repos?page=5&per_page=100>; rel="last""#,
            ),
        );
        assert_eq!(
            link(&h, "next").as_deref(),
            Some("https://api.github.com/orgs/acme/repos?page=2&per_page=100")
        );
        assert_eq!(link(&h, "last").as_deref().and_then(page_of), Some(5));
        assert_eq!(link(&h, "prev"), None);
    }

    #[test]
    fn path_encoding_keeps_slashes() {
        assert_eq!(enc_path("release/2024.1"), "release/2024.1");
        assert_eq!(enc_path("a#b c"), "a%23b%20c");
    }
}
