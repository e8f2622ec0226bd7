//! The calls the pull-request dashboard makes: the pull request, its issue comments, commit
//! statuses, reviews, a collaborator's permission and reactions.
//!
//! `repo` is always `owner/name`, as `GITHUB_REPOSITORY` gives it.

use crate::GithubError;
use crate::api::enc_path;
use crate::transport::{Answer, GitHub};
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::json;

/// The fields of a pull request the dashboard uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// `open` or `closed`.
    pub state: String,
    /// The head commit.
    pub head_sha: String,
    /// The head branch.
    pub head_ref: String,
    /// The repository the head lives in (`owner/name`), another one for a fork.
    pub head_repo: Option<String>,
    /// The base branch.
    pub base_ref: String,
    /// Who opened it.
    pub author: String,
}

/// One issue comment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueComment {
    /// Its id (increasing with creation).
    pub id: u64,
    /// The Markdown body.
    pub body: String,
    /// The author's login.
    pub author: String,
    /// When it was created (RFC 3339, as GitHub gives it).
    pub created_at: String,
}

/// One commit status as GitHub reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitStatus {
    /// `error`, `failure`, `pending` or `success`.
    pub state: String,
    /// The context (`shipyard/plan-platform`).
    pub context: String,
    /// The description, up to 140 characters.
    pub description: Option<String>,
    /// The link.
    pub target_url: Option<String>,
    /// When it was last set (RFC 3339).
    pub updated_at: String,
}

/// A status to set on a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCommitStatus<'a> {
    /// `error`, `failure`, `pending` or `success`.
    pub state: &'a str,
    /// The context.
    pub context: &'a str,
    /// The description (GitHub refuses more than 140 characters).
    pub description: &'a str,
    /// The link, if any.
    pub target_url: Option<&'a str>,
}

/// One pull-request review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullReview {
    /// Its id.
    pub id: u64,
    /// The reviewer's login (`None` for a deleted account).
    pub reviewer: Option<String>,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub state: String,
    /// When it was submitted (RFC 3339); pending reviews have none.
    pub submitted_at: Option<String>,
}

#[derive(Deserialize)]
struct PullWire {
    number: u64,
    state: String,
    head: RefWire,
    base: RefWire,
    user: Option<UserWire>,
}

#[derive(Deserialize)]
struct RefWire {
    sha: String,
    #[serde(rename = "ref")]
    name: String,
    repo: Option<RepoWire>,
}

#[derive(Deserialize)]
struct RepoWire {
    full_name: String,
}

#[derive(Deserialize)]
struct UserWire {
    login: String,
}

#[derive(Deserialize)]
struct CommentWire {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    user: Option<UserWire>,
    created_at: String,
}

impl From<CommentWire> for IssueComment {
    fn from(c: CommentWire) -> Self {
        IssueComment {
            id: c.id,
            body: c.body.unwrap_or_default(),
            author: c.user.map(|u| u.login).unwrap_or_default(),
            created_at: c.created_at,
        }
    }
}

#[derive(Deserialize)]
struct CombinedWire {
    #[serde(default)]
    statuses: Vec<StatusWire>,
}

#[derive(Deserialize)]
struct StatusWire {
    state: String,
    context: String,
    description: Option<String>,
    target_url: Option<String>,
    updated_at: String,
}

#[derive(Deserialize)]
struct ReviewWire {
    id: u64,
    user: Option<UserWire>,
    state: String,
    submitted_at: Option<String>,
}

#[derive(Deserialize)]
struct PermissionWire {
    permission: String,
}

/// Splits `owner/name` into its two escaped path segments.
fn repo_path(repo: &str) -> Result<String, GithubError> {
    match repo.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(format!("/repos/{}/{}", enc_path(owner), enc_path(name)))
        }
        _ => Err(GithubError::Rejected {
            status: 400,
            message: format!("`{repo}` is not a repository of the form owner/name"),
        }),
    }
}

fn expect(answer: Answer, ok: StatusCode) -> Result<Answer, GithubError> {
    if answer.status == ok {
        Ok(answer)
    } else {
        Err(answer.rejected())
    }
}

impl GitHub {
    /// `GET /repos/{repo}/pulls/{number}`.
    pub async fn pull_request(&self, repo: &str, number: u64) -> Result<PullRequest, GithubError> {
        let url = self.url(&format!("{}/pulls/{number}", repo_path(repo)?));
        let wire: PullWire = expect(self.get(&url).await?, StatusCode::OK)?.json()?;
        Ok(PullRequest {
            number: wire.number,
            state: wire.state,
            head_sha: wire.head.sha,
            head_ref: wire.head.name,
            head_repo: wire.head.repo.map(|r| r.full_name),
            base_ref: wire.base.name,
            author: wire.user.map(|u| u.login).unwrap_or_default(),
        })
    }

    /// The login the token belongs to (`GET /user`); `None` when GitHub refuses to say, as it
    /// does for an app's installation token.
    pub async fn authenticated_login(&self) -> Result<Option<String>, GithubError> {
        let answer = self.get(&self.url("/user")).await?;
        if answer.status == StatusCode::FORBIDDEN {
            return Ok(None);
        }
        Ok(Some(
            expect(answer, StatusCode::OK)?.json::<UserWire>()?.login,
        ))
    }

    /// Every comment on issue (or pull request) `number`, oldest first: all pages, 100 at a
    /// time, following the `Link` header as GitHub gives it.
    pub async fn issue_comments(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Vec<IssueComment>, GithubError> {
        let first = self.url(&format!(
            "{}/issues/{number}/comments?per_page=100",
            repo_path(repo)?
        ));
        let pages: Vec<CommentWire> = self.all_pages(first).await?;
        Ok(pages.into_iter().map(IssueComment::from).collect())
    }

    /// `POST /repos/{repo}/issues/{number}/comments`.
    pub async fn create_comment(
        &self,
        repo: &str,
        number: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let url = self.url(&format!("{}/issues/{number}/comments", repo_path(repo)?));
        let answer = self
            .send(Method::POST, &url, Some(&json!({ "body": body })))
            .await?;
        Ok(expect(answer, StatusCode::CREATED)?
            .json::<CommentWire>()?
            .into())
    }

    /// `GET /repos/{repo}/issues/comments/{id}`; `None` when it was deleted.
    pub async fn issue_comment(
        &self,
        repo: &str,
        id: u64,
    ) -> Result<Option<IssueComment>, GithubError> {
        let url = self.url(&format!("{}/issues/comments/{id}", repo_path(repo)?));
        let answer = self.get(&url).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        Ok(Some(
            expect(answer, StatusCode::OK)?
                .json::<CommentWire>()?
                .into(),
        ))
    }

    /// `PATCH /repos/{repo}/issues/comments/{id}`.
    pub async fn update_comment(
        &self,
        repo: &str,
        id: u64,
        body: &str,
    ) -> Result<IssueComment, GithubError> {
        let url = self.url(&format!("{}/issues/comments/{id}", repo_path(repo)?));
        let answer = self
            .send(Method::PATCH, &url, Some(&json!({ "body": body })))
            .await?;
        Ok(expect(answer, StatusCode::OK)?
            .json::<CommentWire>()?
            .into())
    }

    /// `DELETE /repos/{repo}/issues/comments/{id}`; a comment already gone is fine.
    pub async fn delete_comment(&self, repo: &str, id: u64) -> Result<(), GithubError> {
        let url = self.url(&format!("{}/issues/comments/{id}", repo_path(repo)?));
        let answer = self.send(Method::DELETE, &url, None).await?;
        match answer.status {
            StatusCode::NO_CONTENT | StatusCode::NOT_FOUND => Ok(()),
            _ => Err(answer.rejected()),
        }
    }

    /// `POST /repos/{repo}/statuses/{sha}`.
    pub async fn create_status(
        &self,
        repo: &str,
        sha: &str,
        status: &NewCommitStatus<'_>,
    ) -> Result<(), GithubError> {
        let url = self.url(&format!("{}/statuses/{}", repo_path(repo)?, enc_path(sha)));
        let mut body = json!({
            "state": status.state,
            "context": status.context,
            "description": status.description,
        });
        if let Some(target) = status.target_url {
            body["target_url"] = json!(target);
        }
        expect(
            self.send(Method::POST, &url, Some(&body)).await?,
            StatusCode::CREATED,
        )?;
        Ok(())
    }

    /// The newest status per context on `sha` (`GET /repos/{repo}/commits/{sha}/status`, the
    /// combined view: one call for up to 100 contexts).
    pub async fn combined_status(
        &self,
        repo: &str,
        sha: &str,
    ) -> Result<Vec<CommitStatus>, GithubError> {
        let url = self.url(&format!(
            "{}/commits/{}/status?per_page=100",
            repo_path(repo)?,
            enc_path(sha)
        ));
        let wire: CombinedWire = expect(self.get(&url).await?, StatusCode::OK)?.json()?;
        Ok(wire
            .statuses
            .into_iter()
            .map(|s| CommitStatus {
                state: s.state,
                context: s.context,
                description: s.description,
                target_url: s.target_url,
                updated_at: s.updated_at,
            })
            .collect())
    }

    /// Every review of pull request `number`, all pages.
    pub async fn pull_reviews(
        &self,
        repo: &str,
        number: u64,
    ) -> Result<Vec<PullReview>, GithubError> {
        let first = self.url(&format!(
            "{}/pulls/{number}/reviews?per_page=100",
            repo_path(repo)?
        ));
        let pages: Vec<ReviewWire> = self.all_pages(first).await?;
        Ok(pages
            .into_iter()
            .map(|r| PullReview {
                id: r.id,
                reviewer: r.user.map(|u| u.login),
                state: r.state,
                submitted_at: r.submitted_at,
            })
            .collect())
    }

    /// The legacy `permission` (`admin`, `write`, `read` or `none`) of `user` on `repo`.
    pub async fn collaborator_permission(
        &self,
        repo: &str,
        user: &str,
    ) -> Result<String, GithubError> {
        let url = self.url(&format!(
            "{}/collaborators/{}/permission",
            repo_path(repo)?,
            enc_path(user)
        ));
        let answer = self.get(&url).await?;
        if answer.status == StatusCode::NOT_FOUND {
            return Ok("none".into());
        }
        Ok(expect(answer, StatusCode::OK)?
            .json::<PermissionWire>()?
            .permission)
    }

    /// Reacts to issue comment `id` with `content` (`eyes`, `+1`, `rocket`, …).
    pub async fn react_to_comment(
        &self,
        repo: &str,
        id: u64,
        content: &str,
    ) -> Result<(), GithubError> {
        let url = self.url(&format!(
            "{}/issues/comments/{id}/reactions",
            repo_path(repo)?
        ));
        let answer = self
            .send(Method::POST, &url, Some(&json!({ "content": content })))
            .await?;
        match answer.status {
            StatusCode::OK | StatusCode::CREATED => Ok(()),
            _ => Err(answer.rejected()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_paths_need_owner_and_name() {
        assert_eq!(repo_path("acme/api").unwrap(), "/repos/acme/api");
        for bad in ["acme", "/api", "acme/", "acme/api/x", ""] {
            assert!(repo_path(bad).is_err(), "{bad}");
        }
    }
}
