//! A subset of GitHub's GraphQL schema (same type, field and argument names) over the
//! simulated organization: organization repositories, repositories, refs, ref comparisons and
//! the rate limit.

use std::sync::{Arc, LazyLock};

use async_graphql::{
    Context, EmptyMutation, EmptySubscription, Enum, Error, ErrorExtensions, ID, InputObject,
    InputValueError, InputValueResult, Interface, Object, Result, Scalar, ScalarType, Schema,
    SimpleObject, Value as GqlValue,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use serde_json::{Value, json};

use super::Inner;
use super::RateResource;
use super::encoding::{b64, node_id, unb64};
use super::faults::json_response;
use super::state::{self, GitState, iso};

/// Largest `first`/`last` a connection accepts.
const MAX_PAGE: i32 = 100;

type SimSchema = Schema<QueryRoot, EmptyMutation, EmptySubscription>;

static SCHEMA: LazyLock<SimSchema> =
    LazyLock::new(|| Schema::build(QueryRoot, EmptyMutation, EmptySubscription).finish());

/// The schema in SDL, to check client queries against.
pub fn sdl() -> String {
    SCHEMA.sdl()
}

/// `POST /graphql`.
pub(crate) async fn endpoint(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let Ok(request) = serde_json::from_slice::<async_graphql::Request>(&body) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            &json!({
                "message": "Problems parsing JSON",
                "documentation_url": "https://docs.github.com/graphql"
            }),
        );
    };
    if request.query.trim().is_empty() {
        return json_response(
            StatusCode::OK,
            &json!({"errors": [{"message": "A query attribute must be specified and must be a string."}]}),
        );
    }
    let response = SCHEMA.execute(request.data(inner)).await;
    json_response(StatusCode::OK, &github_style(response))
}

/// Moves each error's `extensions.type` to the top level and drops a null `data`, as GitHub does.
fn github_style(response: async_graphql::Response) -> Value {
    let mut v = serde_json::to_value(&response).unwrap_or_else(|_| json!({"data": null}));
    let Some(obj) = v.as_object_mut() else {
        return v;
    };
    if let Some(Value::Array(errors)) = obj.get_mut("errors") {
        for e in errors.iter_mut() {
            let Some(e) = e.as_object_mut() else { continue };
            let kind = e
                .get_mut("extensions")
                .and_then(Value::as_object_mut)
                .and_then(|x| x.remove("type"));
            if let Some(kind) = kind {
                e.insert("type".to_owned(), kind);
            }
            if e.get("extensions")
                .and_then(Value::as_object)
                .is_some_and(serde_json::Map::is_empty)
            {
                e.remove("extensions");
            }
        }
        if obj.get("data").is_some_and(Value::is_null) {
            obj.remove("data");
        }
    }
    if obj
        .get("extensions")
        .is_some_and(|x| x.as_object().is_some_and(serde_json::Map::is_empty))
    {
        obj.remove("extensions");
    }
    v
}

fn typed_error(kind: &'static str, message: impl Into<String>) -> Error {
    Error::new(message).extend_with(|_, e| e.set("type", kind))
}

fn inner<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Inner>> {
    ctx.data::<Arc<Inner>>()
}

macro_rules! string_scalar {
    ($rust:ident, $name:literal) => {
        #[doc = concat!("GitHub's `", $name, "` scalar.")]
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $rust(pub String);

        #[Scalar(name = $name)]
        impl ScalarType for $rust {
            fn parse(value: GqlValue) -> InputValueResult<Self> {
                match value {
                    GqlValue::String(s) => Ok($rust(s)),
                    other => Err(InputValueError::expected_type(other)),
                }
            }
            fn to_value(&self) -> GqlValue {
                GqlValue::String(self.0.clone())
            }
        }
    };
}

string_scalar!(GitObjectId, "GitObjectID");
string_scalar!(Uri, "URI");
string_scalar!(DateTime, "DateTime");
string_scalar!(GitTimestamp, "GitTimestamp");

/// `ComparisonStatus`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComparisonStatus {
    /// The head ref is ahead of the base ref.
    Ahead,
    /// The head ref is behind the base ref.
    Behind,
    /// The head ref is both ahead and behind of the base ref.
    Diverged,
    /// The head ref and base ref are identical.
    Identical,
}

/// `OrderDirection`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OrderDirection {
    /// Ascending.
    Asc,
    /// Descending.
    Desc,
}

/// `RepositoryOrderField`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryOrderField {
    /// Creation time.
    CreatedAt,
    /// Name.
    Name,
    /// Last push.
    PushedAt,
    /// Stars.
    Stargazers,
    /// Last update.
    UpdatedAt,
}

/// `RepositoryAffiliation`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryAffiliation {
    /// Collaborator.
    Collaborator,
    /// Organization member.
    OrganizationMember,
    /// Owner.
    Owner,
}

/// `RepositoryPrivacy`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryPrivacy {
    /// Private.
    Private,
    /// Public.
    Public,
}

/// `RepositoryVisibility`.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum RepositoryVisibility {
    /// Internal.
    Internal,
    /// Private.
    Private,
    /// Public.
    Public,
}

/// `RepositoryOrder`.
#[derive(InputObject, Debug, Clone, Copy)]
pub struct RepositoryOrder {
    /// The ordering direction.
    direction: OrderDirection,
    /// The field to order repositories by.
    field: RepositoryOrderField,
}

/// `RateLimit`.
#[derive(SimpleObject, Debug, Clone)]
pub struct RateLimit {
    /// Points the query cost.
    cost: i32,
    /// Points allowed per window.
    limit: i32,
    /// Nodes the query returns at most.
    node_count: i32,
    /// Points left in the window.
    remaining: i32,
    /// When the window resets.
    reset_at: DateTime,
    /// Points used in the window.
    used: i32,
}

fn clamp_i32(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// `Query`.
pub struct QueryRoot;

#[Object(name = "Query")]
impl QueryRoot {
    /// Lookup an organization by login.
    async fn organization(&self, ctx: &Context<'_>, login: String) -> Result<Option<Organization>> {
        let inner = inner(ctx)?;
        if login.eq_ignore_ascii_case(&inner.org) {
            Ok(Some(Organization {
                login: inner.org.clone(),
            }))
        } else {
            Err(typed_error(
                "NOT_FOUND",
                format!("Could not resolve to an Organization with the login of '{login}'."),
            ))
        }
    }

    /// Lookup a given repository by the owner and repository name.
    async fn repository(
        &self,
        ctx: &Context<'_>,
        owner: String,
        name: String,
        #[graphql(name = "followRenames", default_with = "Some(true)")] _follow_renames: Option<
            bool,
        >,
    ) -> Result<Option<Repository>> {
        let inner = inner(ctx)?;
        let found = if owner.eq_ignore_ascii_case(&inner.org) {
            inner.git().repo(&name).map(Repository::of)
        } else {
            None
        };
        match found {
            Some(r) => Ok(Some(r)),
            None => Err(typed_error(
                "NOT_FOUND",
                format!("Could not resolve to a Repository with the name '{owner}/{name}'."),
            )),
        }
    }

    /// The client's rate limit information.
    async fn rate_limit(
        &self,
        ctx: &Context<'_>,
        #[graphql(name = "dryRun", default_with = "Some(false)")] _dry_run: Option<bool>,
    ) -> Result<Option<RateLimit>> {
        let inner = inner(ctx)?;
        let b = inner.ctl().snapshot(RateResource::Graphql);
        Ok(Some(RateLimit {
            cost: 1,
            limit: clamp_i32(b.limit),
            node_count: 0,
            remaining: clamp_i32(b.remaining),
            reset_at: DateTime(iso(b.reset)),
            used: clamp_i32(b.limit.saturating_sub(b.remaining)),
        }))
    }
}

/// `Organization`.
pub struct Organization {
    login: String,
}

/// Position of a node in its connection, as an opaque cursor.
fn cursor(i: usize) -> String {
    b64(format!("cursor:v2:{i}").as_bytes())
}

fn uncursor(c: &str) -> Option<usize> {
    let raw = unb64(c)?;
    let s = String::from_utf8(raw).ok()?;
    s.strip_prefix("cursor:v2:")?.parse().ok()
}

fn check_count(arg: &str, n: Option<i32>, connection: &str) -> Result<()> {
    match n {
        Some(n) if n > MAX_PAGE => Err(typed_error(
            "EXCESSIVE_PAGINATION",
            format!(
                "Requesting {n} records on the `{connection}` connection exceeds the `{arg}` limit of {MAX_PAGE} records."
            ),
        )),
        Some(n) if n < 1 => Err(typed_error(
            "INVALID_PAGINATION",
            format!("`{arg}` on the `{connection}` connection must be between 1 and {MAX_PAGE}."),
        )),
        _ => Ok(()),
    }
}

#[Object]
impl Organization {
    /// The Node ID of the Organization object.
    async fn id(&self) -> ID {
        ID(node_id("Organization", &self.login))
    }

    /// The organization's login name.
    async fn login(&self) -> &str {
        &self.login
    }

    /// The organization's public profile name.
    async fn name(&self) -> Option<String> {
        Some(self.login.clone())
    }

    /// The HTTP URL for this organization.
    async fn url(&self) -> Uri {
        Uri(format!("https://github.com/{}", self.login))
    }

    /// A list of repositories that the user owns.
    #[allow(clippy::too_many_arguments)]
    async fn repositories(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
        order_by: Option<RepositoryOrder>,
        is_archived: Option<bool>,
        is_fork: Option<bool>,
        #[graphql(name = "isLocked")] _is_locked: Option<bool>,
        privacy: Option<RepositoryPrivacy>,
        #[graphql(name = "affiliations")] _affiliations: Option<Vec<Option<RepositoryAffiliation>>>,
        #[graphql(name = "ownerAffiliations")] _owner_affiliations: Option<
            Vec<Option<RepositoryAffiliation>>,
        >,
    ) -> Result<RepositoryConnection> {
        const NAME: &str = "repositories";
        if first.is_none() && last.is_none() {
            return Err(typed_error(
                "MISSING_PAGINATION_BOUNDARIES",
                "You must provide a `first` or `last` value to properly paginate the `repositories` connection.",
            ));
        }
        check_count("first", first, NAME)?;
        check_count("last", last, NAME)?;
        let inner = inner(ctx)?;
        let mut repos: Vec<Repository> = {
            let git = inner.git();
            git.repos()
                .filter(|r| is_archived.is_none_or(|a| r.archived == a))
                .filter(|_| is_fork != Some(true))
                .filter(|_| privacy != Some(RepositoryPrivacy::Public))
                .map(Repository::of)
                .collect()
        };
        let order = order_by.unwrap_or(RepositoryOrder {
            direction: OrderDirection::Asc,
            field: RepositoryOrderField::Name,
        });
        match order.field {
            RepositoryOrderField::CreatedAt => repos.sort_by_key(|r| (r.created_at, r.db_id)),
            RepositoryOrderField::PushedAt => repos.sort_by_key(|r| (r.pushed_at, r.db_id)),
            RepositoryOrderField::UpdatedAt => repos.sort_by_key(|r| (r.updated_at, r.db_id)),
            RepositoryOrderField::Name | RepositoryOrderField::Stargazers => {
                repos.sort_by_key(|r| r.name.to_ascii_lowercase());
            }
        }
        if order.direction == OrderDirection::Desc {
            repos.reverse();
        }
        let total = repos.len();
        let bad_cursor = |c: &str| {
            typed_error(
                "INVALID_CURSOR_ARGUMENTS",
                format!("`{c}` does not appear to be a valid cursor."),
            )
        };
        let mut start = 0;
        let mut end = total;
        if let Some(a) = &after {
            start = uncursor(a)
                .ok_or_else(|| bad_cursor(a))?
                .saturating_add(1)
                .min(total);
        }
        if let Some(b) = &before {
            end = uncursor(b).ok_or_else(|| bad_cursor(b))?.min(total);
        }
        end = end.max(start);
        if let Some(f) = first.and_then(|f| usize::try_from(f).ok()) {
            end = end.min(start + f);
        }
        if let Some(l) = last.and_then(|l| usize::try_from(l).ok()) {
            start = start.max(end.saturating_sub(l));
        }
        let items: Vec<(usize, Repository)> = repos
            .into_iter()
            .enumerate()
            .skip(start)
            .take(end - start)
            .collect();
        Ok(RepositoryConnection {
            items,
            total,
            has_next: end < total,
            has_previous: start > 0,
        })
    }
}

/// `RepositoryConnection`.
pub struct RepositoryConnection {
    items: Vec<(usize, Repository)>,
    total: usize,
    has_next: bool,
    has_previous: bool,
}

/// `PageInfo`.
#[derive(SimpleObject)]
pub struct PageInfo {
    /// When paginating forwards, the cursor to continue.
    end_cursor: Option<String>,
    /// When paginating forwards, are there more items?
    has_next_page: bool,
    /// When paginating backwards, are there more items?
    has_previous_page: bool,
    /// When paginating backwards, the cursor to continue.
    start_cursor: Option<String>,
}

/// `RepositoryEdge`.
#[derive(SimpleObject)]
pub struct RepositoryEdge {
    /// A cursor for use in pagination.
    cursor: String,
    /// The item at the end of the edge.
    node: Option<Repository>,
}

#[Object]
impl RepositoryConnection {
    /// A list of edges.
    async fn edges(&self) -> Option<Vec<Option<RepositoryEdge>>> {
        Some(
            self.items
                .iter()
                .map(|(i, r)| {
                    Some(RepositoryEdge {
                        cursor: cursor(*i),
                        node: Some(r.clone()),
                    })
                })
                .collect(),
        )
    }

    /// A list of nodes.
    async fn nodes(&self) -> Option<Vec<Option<Repository>>> {
        Some(self.items.iter().map(|(_, r)| Some(r.clone())).collect())
    }

    /// Information to aid in pagination.
    async fn page_info(&self) -> PageInfo {
        PageInfo {
            end_cursor: self.items.last().map(|(i, _)| cursor(*i)),
            has_next_page: self.has_next,
            has_previous_page: self.has_previous,
            start_cursor: self.items.first().map(|(i, _)| cursor(*i)),
        }
    }

    /// Identifies the total count of items in the connection.
    async fn total_count(&self) -> i32 {
        i32::try_from(self.total).unwrap_or(i32::MAX)
    }

    /// The total size in kilobytes of all repositories in the connection.
    async fn total_disk_usage(&self) -> i32 {
        i32::try_from(self.total * 120).unwrap_or(i32::MAX)
    }
}

/// `Repository`: a snapshot of the repository's metadata; refs are read live.
#[derive(Debug, Clone)]
pub struct Repository {
    db_id: u64,
    name: String,
    archived: bool,
    created_at: u64,
    pushed_at: u64,
    updated_at: u64,
    default_branch: String,
}

impl Repository {
    fn of(r: &state::Repo) -> Repository {
        Repository {
            db_id: r.id,
            name: r.name.clone(),
            archived: r.archived,
            created_at: r.created_at,
            pushed_at: r.pushed_at,
            updated_at: r.updated_at,
            default_branch: r.default_branch.clone(),
        }
    }
}

/// Looks a branch up; `qualified` is `refs/heads/x` or `x`.
fn find_ref(git: &GitState, repo: &str, qualified: &str) -> Option<Ref> {
    let name = match qualified.strip_prefix("refs/") {
        Some(rest) => rest.strip_prefix("heads/")?,
        None => qualified,
    };
    let r = git.repo(repo)?;
    let sha = r.branches.get(name)?;
    Some(Ref {
        repo: r.name.clone(),
        name: name.to_owned(),
        sha: sha.clone(),
    })
}

#[Object]
impl Repository {
    /// The Node ID of the Repository object.
    async fn id(&self) -> ID {
        ID(node_id("Repository", &self.db_id.to_string()))
    }

    /// Identifies the primary key from the database.
    async fn database_id(&self) -> Option<i32> {
        i32::try_from(self.db_id).ok()
    }

    /// The name of the repository.
    async fn name(&self) -> &str {
        &self.name
    }

    /// The repository's name with owner.
    async fn name_with_owner(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(format!("{}/{}", inner(ctx)?.org, self.name))
    }

    /// Indicates if the repository is unmaintained.
    async fn is_archived(&self) -> bool {
        self.archived
    }

    /// Returns whether or not this repository disabled.
    async fn is_disabled(&self) -> bool {
        false
    }

    /// Returns whether or not this repository is empty.
    async fn is_empty(&self) -> bool {
        false
    }

    /// Identifies if the repository is a fork.
    async fn is_fork(&self) -> bool {
        false
    }

    /// Identifies if the repository is private or internal.
    async fn is_private(&self) -> bool {
        true
    }

    /// Indicates the repository's visibility level.
    async fn visibility(&self) -> RepositoryVisibility {
        RepositoryVisibility::Private
    }

    /// The HTTP URL for this repository.
    async fn url(&self, ctx: &Context<'_>) -> Result<Uri> {
        Ok(Uri(format!(
            "https://github.com/{}/{}",
            inner(ctx)?.org,
            self.name
        )))
    }

    /// Identifies the date and time when the object was created.
    async fn created_at(&self) -> DateTime {
        DateTime(iso(self.created_at))
    }

    /// Identifies the date and time when the repository was last pushed to.
    async fn pushed_at(&self) -> Option<DateTime> {
        Some(DateTime(iso(self.pushed_at)))
    }

    /// Identifies the date and time when the object was last updated.
    async fn updated_at(&self) -> DateTime {
        DateTime(iso(self.updated_at))
    }

    /// The Ref associated with the repository's default branch.
    async fn default_branch_ref(&self, ctx: &Context<'_>) -> Result<Option<Ref>> {
        let inner = inner(ctx)?;
        let git = inner.git();
        Ok(find_ref(&git, &self.name, &self.default_branch))
    }

    /// Fetch a given ref from the repository.
    #[graphql(name = "ref")]
    async fn ref_(&self, ctx: &Context<'_>, qualified_name: String) -> Result<Option<Ref>> {
        let inner = inner(ctx)?;
        let git = inner.git();
        Ok(find_ref(&git, &self.name, &qualified_name))
    }
}

/// `Ref`.
#[derive(Debug, Clone)]
pub struct Ref {
    repo: String,
    name: String,
    sha: String,
}

/// Snapshot of a commit for GraphQL.
fn commit_of(git: &GitState, repo: &str, sha: &str) -> Option<Commit> {
    let r = git.repo(repo)?;
    let c = r.commits.get(sha)?;
    Some(Commit {
        repo: Repository::of(r),
        commit: c.clone(),
    })
}

#[Object]
impl Ref {
    /// The Node ID of the Ref object.
    async fn id(&self) -> ID {
        ID(node_id(
            "Ref",
            &format!("{}:refs/heads/{}", self.repo, self.name),
        ))
    }

    /// The ref name.
    async fn name(&self) -> &str {
        &self.name
    }

    /// The ref's prefix, such as `refs/heads/` or `refs/tags/`.
    async fn prefix(&self) -> &str {
        "refs/heads/"
    }

    /// The repository the ref belongs to.
    async fn repository(&self, ctx: &Context<'_>) -> Result<Repository> {
        let inner = inner(ctx)?;
        let git = inner.git();
        git.repo(&self.repo)
            .map(Repository::of)
            .ok_or_else(|| typed_error("NOT_FOUND", "Could not resolve to a Repository."))
    }

    /// The object the ref points to.
    async fn target(&self, ctx: &Context<'_>) -> Result<Option<GitObject>> {
        let inner = inner(ctx)?;
        let git = inner.git();
        Ok(commit_of(&git, &self.repo, &self.sha).map(GitObject::Commit))
    }

    /// Compares the current ref as a base ref to another head ref, if the comparison can be made.
    async fn compare(&self, ctx: &Context<'_>, head_ref: String) -> Result<Option<Comparison>> {
        let inner = inner(ctx)?;
        let git = inner.git();
        let Some(r) = git.repo(&self.repo) else {
            return Ok(None);
        };
        let Some(head_sha) = r.resolve(&head_ref) else {
            return Ok(None);
        };
        let Some(cmp) = r.compare(&self.sha, &head_sha) else {
            return Ok(None);
        };
        let status = match cmp.status() {
            "ahead" => ComparisonStatus::Ahead,
            "behind" => ComparisonStatus::Behind,
            "diverged" => ComparisonStatus::Diverged,
            _ => ComparisonStatus::Identical,
        };
        let repo = Repository::of(r);
        Ok(Some(Comparison {
            id: node_id(
                "Comparison",
                &format!("{}:{}...{}", self.repo, self.sha, head_sha),
            ),
            ahead_by: i32::try_from(cmp.ahead.len()).unwrap_or(i32::MAX),
            behind_by: i32::try_from(cmp.behind_by).unwrap_or(i32::MAX),
            status,
            base: Commit {
                repo: repo.clone(),
                commit: cmp.base.clone(),
            },
            head: Commit {
                repo,
                commit: cmp.head.clone(),
            },
        }))
    }
}

/// `Comparison`.
pub struct Comparison {
    id: String,
    ahead_by: i32,
    behind_by: i32,
    status: ComparisonStatus,
    base: Commit,
    head: Commit,
}

#[Object]
impl Comparison {
    /// The number of commits ahead of the base branch.
    async fn ahead_by(&self) -> i32 {
        self.ahead_by
    }

    /// The number of commits behind the base branch.
    async fn behind_by(&self) -> i32 {
        self.behind_by
    }

    /// The status of this comparison.
    async fn status(&self) -> ComparisonStatus {
        self.status
    }

    /// The base revision of this comparison.
    async fn base_target(&self) -> GitObject {
        GitObject::Commit(self.base.clone())
    }

    /// The head revision of this comparison.
    async fn head_target(&self) -> GitObject {
        GitObject::Commit(self.head.clone())
    }

    /// The Node ID of the Comparison object.
    async fn id(&self) -> ID {
        ID(self.id.clone())
    }
}

/// `GitObject`: only commits exist in the simulation.
#[allow(clippy::duplicated_attributes)]
#[derive(Interface)]
#[graphql(
    field(name = "abbreviated_oid", ty = "String"),
    field(name = "commit_resource_path", ty = "Uri"),
    field(name = "commit_url", ty = "Uri"),
    field(name = "id", ty = "ID"),
    field(name = "oid", ty = "GitObjectId"),
    field(name = "repository", ty = "Repository")
)]
pub enum GitObject {
    /// A commit.
    Commit(Commit),
}

/// `GitActor`.
#[derive(SimpleObject, Clone)]
pub struct GitActor {
    /// The timestamp of the Git action (authoring or committing).
    date: Option<GitTimestamp>,
    /// The email in the Git commit.
    email: Option<String>,
    /// The name in the Git commit.
    name: Option<String>,
    /// The GitHub user corresponding to the email field.
    user: Option<User>,
}

/// `User` (only what commits need).
#[derive(SimpleObject, Clone)]
pub struct User {
    /// The username used to login.
    login: String,
    /// The HTTP URL for this user.
    url: Uri,
}

/// `Commit`.
#[derive(Clone)]
pub struct Commit {
    repo: Repository,
    commit: state::Commit,
}

impl Commit {
    fn actor(p: &state::Person, time: u64) -> GitActor {
        GitActor {
            date: Some(GitTimestamp(iso(time))),
            email: Some(p.email.clone()),
            name: Some(p.name.clone()),
            user: p.login.as_ref().map(|l| User {
                login: l.clone(),
                url: Uri(format!("https://github.com/{l}")),
            }),
        }
    }
}

#[Object]
impl Commit {
    /// An abbreviated version of the Git object ID.
    async fn abbreviated_oid(&self) -> String {
        self.commit.sha[..7].to_owned()
    }

    /// The HTTP path for this Git object.
    async fn commit_resource_path(&self, ctx: &Context<'_>) -> Result<Uri> {
        Ok(Uri(format!(
            "/{}/{}/commit/{}",
            inner(ctx)?.org,
            self.repo.name,
            self.commit.sha
        )))
    }

    /// The HTTP URL for this Git object.
    async fn commit_url(&self, ctx: &Context<'_>) -> Result<Uri> {
        Ok(Uri(format!(
            "https://github.com/{}/{}/commit/{}",
            inner(ctx)?.org,
            self.repo.name,
            self.commit.sha
        )))
    }

    /// The HTTP URL for this commit.
    async fn url(&self, ctx: &Context<'_>) -> Result<Uri> {
        self.commit_url(ctx).await
    }

    /// The Node ID of the Commit object.
    async fn id(&self) -> ID {
        ID(node_id("Commit", &self.commit.sha))
    }

    /// The Git object ID.
    async fn oid(&self) -> GitObjectId {
        GitObjectId(self.commit.sha.clone())
    }

    /// The Repository this commit belongs to.
    async fn repository(&self) -> Repository {
        self.repo.clone()
    }

    /// The Git commit message.
    async fn message(&self) -> &str {
        &self.commit.message
    }

    /// The Git commit message headline.
    async fn message_headline(&self) -> &str {
        self.commit.message.lines().next().unwrap_or("")
    }

    /// The Git commit message body.
    async fn message_body(&self) -> String {
        self.commit
            .message
            .split_once('\n')
            .map_or(String::new(), |(_, b)| {
                b.trim_start_matches('\n').to_owned()
            })
    }

    /// The datetime when this commit was authored.
    async fn authored_date(&self) -> DateTime {
        DateTime(iso(self.commit.time))
    }

    /// The datetime when this commit was committed.
    async fn committed_date(&self) -> DateTime {
        DateTime(iso(self.commit.time))
    }

    /// Authorship details of the commit.
    async fn author(&self) -> Option<GitActor> {
        Some(Commit::actor(&self.commit.author, self.commit.time))
    }

    /// Committer details of the commit.
    async fn committer(&self) -> Option<GitActor> {
        Some(Commit::actor(&self.commit.committer, self.commit.time))
    }

    /// The number of additions in this commit.
    async fn additions(&self) -> i32 {
        clamp_i32(self.commit.files.iter().map(|f| f.additions).sum())
    }

    /// The number of deletions in this commit.
    async fn deletions(&self) -> i32 {
        clamp_i32(self.commit.files.iter().map(|f| f.deletions).sum())
    }
}
