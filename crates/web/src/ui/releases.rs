//! `/releases` (and the landing page `/`): the release list with filters and paging.

use super::form::SignedForm;
use super::{Layout, ago, html, layout, require_session, see_other, sentence, utc};
use crate::AppState;
use crate::auth::session::ActiveSession;
use crate::error::ApiError;
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use shipyard_core::ReleaseStatus;
use shipyard_engine::{EngineError, NewRelease};
use shipyard_engine::{ReleaseFilter, ReleaseSummaryRecord};

/// The release list routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(list))
        .route("/releases", get(list).post(create))
}

/// The "New release" form as it was sent, with what went wrong.
#[derive(Default)]
struct NewForm {
    source: String,
    dest: String,
    source_error: Option<String>,
    dest_error: Option<String>,
    error: Option<String>,
}

/// Filters of the list, as the form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    source: Option<String>,
    dest: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// One sign-off cell.
struct SignOff {
    label: &'static str,
    by: Option<String>,
}

/// One row of the table, ready to show.
struct Row {
    id: String,
    href: String,
    source: String,
    dest: String,
    status: &'static str,
    repos: i64,
    commits: i64,
    created_ago: String,
    created_utc: String,
    created_by: String,
    sign_offs: [SignOff; 2],
}

impl Row {
    fn new(s: &ReleaseSummaryRecord, now: i64) -> Row {
        let r = &s.release;
        let id = r.id.to_string();
        Row {
            href: format!("/releases/{id}"),
            id,
            source: r.source_branch.to_string(),
            dest: r.dest_branch.to_string(),
            status: r.status.as_str(),
            repos: s.repo_count,
            commits: s.commit_count,
            created_ago: ago(r.created_at, now),
            created_utc: utc(r.created_at),
            created_by: r.created_by.name.clone(),
            sign_offs: [
                SignOff {
                    label: "Dev",
                    by: r.sign_offs.dev.as_ref().map(|x| x.by.name.clone()),
                },
                SignOff {
                    label: "QA",
                    by: r.sign_offs.qa.as_ref().map(|x| x.by.name.clone()),
                },
            ],
        }
    }
}

/// One choice of the status select.
struct StatusOption {
    value: &'static str,
    label: &'static str,
    selected: bool,
}

#[derive(Template)]
#[template(path = "releases/list.html")]
struct ListPage {
    layout: Layout,
    title: &'static str,
    rows: Vec<Row>,
    statuses: Vec<StatusOption>,
    source: String,
    dest: String,
    q: String,
    filtered: bool,
    older_href: Option<String>,
    newest_href: Option<String>,
    error: Option<String>,
    org: String,
    new: NewForm,
}

const STATUSES: [(&str, &str); 5] = [
    ("", "Any status"),
    ("pending", "Pending"),
    ("approved", "Approved"),
    ("deployed", "Deployed"),
    ("cancelled", "Cancelled"),
];

/// `/releases` with the given filters and cursor.
fn list_href(status: Option<&str>, f: &ReleaseFilter, cursor: Option<&str>) -> String {
    let mut ser = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in [
        ("status", status),
        ("source", f.source.as_deref()),
        ("dest", f.dest.as_deref()),
        ("q", f.q.as_deref()),
        ("cursor", cursor),
    ] {
        if let Some(v) = v {
            ser.append_pair(k, v);
        }
    }
    let query = ser.finish();
    if query.is_empty() {
        "/releases".to_owned()
    } else {
        format!("/releases?{query}")
    }
}

async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    query: Result<Query<ListQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let session = match require_session(&state, &headers, &uri).await {
        Ok(s) => s,
        Err(resp) => return resp,
    };
    let q = query.map(|Query(q)| q).unwrap_or_default();
    render_list(&state, &session, q, NewForm::default(), StatusCode::OK).await
}

/// The "New release" form without JavaScript: creates the release (GitHub is asked before the
/// answer, so this takes seconds) and goes to its page, or shows the list again with the errors
/// next to the fields.
async fn create(
    State(state): State<AppState>,
    SignedForm {
        session,
        fields: form,
    }: SignedForm,
) -> Response {
    let new = NewRelease {
        source_branch: form.get("source_branch").unwrap_or("").trim().to_owned(),
        dest_branch: form.get("dest_branch").unwrap_or("").trim().to_owned(),
        channel_id: None,
        chat_root_id: None,
    };
    let mut sent = NewForm {
        source: new.source_branch.clone(),
        dest: new.dest_branch.clone(),
        ..NewForm::default()
    };
    match state.engine.create_release(&session.caller(), new).await {
        Ok(created) => see_other(&format!("/releases/{}", created.view.release.id)),
        Err(e) => {
            let field = match &e {
                EngineError::Invalid { field, message } => Some((*field, message.clone())),
                _ => None,
            };
            let error = ApiError::from(e);
            match field {
                Some(("source_branch", m)) => sent.source_error = Some(sentence(&m)),
                Some(("dest_branch", m)) => sent.dest_error = Some(sentence(&m)),
                _ => sent.error = Some(sentence(error.message())),
            }
            render_list(&state, &session, ListQuery::default(), sent, error.status()).await
        }
    }
}

async fn render_list(
    state: &AppState,
    session: &ActiveSession,
    q: ListQuery,
    new: NewForm,
    form_status: StatusCode,
) -> Response {
    let mut error = None;
    let status_text = non_empty(&q.status);
    let status = match status_text.as_deref() {
        None => None,
        Some(s) => match ReleaseStatus::parse(s) {
            Some(st) => Some(st),
            None => {
                error = Some(format!("Unknown status “{s}”: showing every status."));
                None
            }
        },
    };
    let status_value = status.map(ReleaseStatus::as_str);
    let filter = ReleaseFilter {
        status,
        source: non_empty(&q.source),
        dest: non_empty(&q.dest),
        q: non_empty(&q.q),
        limit: ReleaseFilter::DEFAULT_LIMIT,
        cursor: non_empty(&q.cursor),
    };
    let (page, http_status) = match state.engine.list_releases(&filter).await {
        Ok(p) => (p, form_status),
        Err(shipyard_engine::EngineError::Invalid { .. }) => {
            error = Some("That page link is out of date: showing the newest releases.".into());
            let first = ReleaseFilter {
                cursor: None,
                ..filter.clone()
            };
            match state.engine.list_releases(&first).await {
                Ok(p) => (p, StatusCode::BAD_REQUEST),
                Err(e) => return crate::error::ApiError::from(e).into_response(),
            }
        }
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let now = state.engine.now();
    let filtered = filter.status.is_some()
        || filter.source.is_some()
        || filter.dest.is_some()
        || filter.q.is_some();
    let older_href = page
        .next_cursor
        .as_deref()
        .map(|c| list_href(status_value, &filter, Some(c)));
    let newest_href = filter
        .cursor
        .as_ref()
        .map(|_| list_href(status_value, &filter, None));
    let view = ListPage {
        layout: layout(session, "releases"),
        title: "Releases",
        rows: page.releases.iter().map(|s| Row::new(s, now)).collect(),
        statuses: STATUSES
            .iter()
            .map(|&(value, label)| StatusOption {
                value,
                label,
                selected: status_value.unwrap_or("") == value,
            })
            .collect(),
        source: filter.source.clone().unwrap_or_default(),
        dest: filter.dest.clone().unwrap_or_default(),
        q: filter.q.clone().unwrap_or_default(),
        filtered,
        older_href,
        newest_href,
        error,
        org: state.engine.org().unwrap_or("the organisation").to_owned(),
        new,
    };
    html(http_status, view.render())
}
