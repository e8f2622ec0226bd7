//! `GET /api/me`: who the caller is.

use super::dto::Me;
use crate::AppState;
use crate::error::ErrorBody;
use crate::extract::CurrentUser;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The signed-in caller and their roles.
#[utoipa::path(get, path = "/api/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
async fn me(user: CurrentUser) -> axum::Json<Me> {
    axum::Json(Me {
        subject: user.caller.actor.subject,
        name: user.caller.actor.name,
        email: user.email,
        roles: user
            .caller
            .roles
            .iter()
            .map(|r| r.as_str().to_owned())
            .collect(),
        auth: user.via.to_owned(),
        csrf_token: user.csrf_token,
    })
}
