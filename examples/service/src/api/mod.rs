//! The JSON API under `/api`, and its OpenAPI document at `/openapi.json`.

pub mod archives;
pub mod attempts;
pub mod members;
pub mod purge;

use axum::routing::{get, post};
use axum::Router;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;

/// The OpenAPI document, generated from the handlers and their types.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "soft-delete service",
        description = "The soft-delete guide's API on soft-delete-runtime: members (soft delete with who and why, restore, trash), exam attempts (one live attempt per key), cascade archives and their log, purge. The caller is named by the `x-user` header; `x-role: admin` may restore and purge."
    ),
    paths(
        members::list, members::create, members::get, members::delete, members::restore, members::trash,
        attempts::start, attempts::retry, attempts::history,
        archives::preview, archives::archive, archives::list, archives::get, archives::restore,
        purge::dry_run, purge::run,
    ),
    modifiers(&Identity),
    tags(
        (name = "members", description = "Soft delete, restore, trash"),
        (name = "attempts", description = "Active-unique exam attempts"),
        (name = "archives", description = "Cascade archive and its log"),
        (name = "purge", description = "Retention"),
    )
)]
pub struct ApiDoc;

struct Identity;

impl Modify for Identity {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "x-user",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::identity::USER_HEADER,
                "who calls (recorded as who deleted, archived or restored)",
            ))),
        );
        components.add_security_scheme(
            "x-role",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                crate::identity::ROLE_HEADER,
                "`admin` may restore and purge",
            ))),
        );
    }
}

/// The `/api` routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/members", get(members::list).post(members::create))
        .route(
            "/api/members/{id}",
            get(members::get).delete(members::delete),
        )
        .route("/api/members/{id}/restore", post(members::restore))
        .route("/api/trash", get(members::trash))
        .route(
            "/api/exams/{exam_id}/attempts",
            get(attempts::history).post(attempts::start),
        )
        .route("/api/exams/{exam_id}/attempts/retry", post(attempts::retry))
        .route("/api/members/{id}/archive/preview", get(archives::preview))
        .route("/api/members/{id}/archive", post(archives::archive))
        .route("/api/archives", get(archives::list))
        .route("/api/archives/{id}", get(archives::get))
        .route("/api/archives/{id}/restore", post(archives::restore))
        .route("/api/purge/dry-run", post(purge::dry_run))
        .route("/api/purge", post(purge::run))
        .route("/openapi.json", get(openapi))
}

async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
