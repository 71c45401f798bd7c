//! The cascade archive of a member: the preview (the "are you sure?" plan, as data and as a
//! text tree), the archive, the archive log, the restore of an archive by its id; on the
//! library's async collector, on the request's pooled connection.

use axum::extract::State;
use axum::http::StatusCode;
use diesel::prelude::*;
use soft_delete_runtime::collector::{find_archive_async, ArchiveList, Batch, Collector};

use crate::dto::{
    check_text, ArchiveDto, ArchiveListParams, ArchiveRequest, ArchivedDto, PlanDto, RestoredDto,
};
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::identity::Identity;
use crate::schema::members;
use crate::{with_conn, with_write_transaction, AppState};

/// What archiving live member `id` would do, found with reads only.
pub async fn plan(state: &AppState, id: i32) -> Result<PlanDto, ApiError> {
    let collector = Collector::new(members::table.filter(members::id.eq(id)));
    let plan = with_conn!(&state.db, conn => collector.preview_async(conn).await?);
    if plan.roots() == 0 {
        return Err(ApiError::NotFound(format!("no live member {id}")));
    }
    Ok(PlanDto::from(&plan))
}

/// Archives live member `id` and what cascades from them, as `user`, for `reason`.
pub async fn archive_member(
    state: &AppState,
    id: i32,
    user: String,
    reason: Option<String>,
) -> Result<ArchivedDto, ApiError> {
    let mut collector = Collector::new(members::table.filter(members::id.eq(id))).by(user);
    if let Some(reason) = reason {
        collector = collector.reason(reason);
    }
    let collector = &collector;
    // The collector's transaction nests in this one (a savepoint), so an archive that found
    // no live root (a concurrent archive or delete won) rolls back its log entry.
    Ok(with_write_transaction!(&state.db, conn => {
        {
            let archived = collector.archive_async(conn).await?;
            if archived.plan().roots() == 0 {
                return Err(ApiError::NotFound(format!("no live member {id}")));
            }
            Ok(ArchivedDto {
                archive_id: archived.batch().id(),
                plan: PlanDto::from(archived.plan()),
            })
        }
    }))
}

/// Restores archive `id` (an archive of a member), as `user`.
pub async fn restore_archive(
    state: &AppState,
    id: i64,
    user: String,
) -> Result<RestoredDto, ApiError> {
    // A restore of an archive a purge deleted is the library's to refuse
    // (`Error::ArchivePurged`, rolled back: 409 `state`).
    let restored = with_conn!(&state.db, conn => {
        let batch = Batch::<members::table>::find_async(conn, id).await?;
        batch.restore_by_async(conn, user).await?
    });
    Ok(RestoredDto::new(id, &restored))
}

/// The archive log, newest first.
pub async fn list_archives(
    state: &AppState,
    before: Option<i64>,
    limit: u32,
    not_restored: bool,
) -> Result<Vec<ArchiveDto>, ApiError> {
    let mut list = ArchiveList::new().limit(limit);
    if let Some(before) = before {
        list = list.before(before);
    }
    if not_restored {
        list = list.not_restored();
    }
    let entries = with_conn!(&state.db, conn => list.load_async(conn).await?);
    Ok(entries.iter().map(ArchiveDto::from).collect())
}

/// The cascade preview of archiving a member: the plan as data and as the text tree.
#[utoipa::path(get, path = "/api/members/{id}/archive/preview", tag = "archives", params(("id" = i32, Path)),
    responses((status = 200, body = PlanDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn preview(
    State(state): State<AppState>,
    Path(id): Path<i32>,
) -> Result<Json<PlanDto>, ApiError> {
    Ok(Json(plan(&state, id).await?))
}

/// Archives a member with their orders, items and posts, cuts their reviews' author link, in
/// one transaction; refused (409, `blockers`) while an unpaid invoice is live.
#[utoipa::path(post, security(("x-user" = [])), path = "/api/members/{id}/archive", tag = "archives", params(("id" = i32, Path)), request_body = ArchiveRequest,
    responses((status = 201, body = ArchivedDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "protected: `blockers`", body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn archive(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<i32>,
    Json(request): Json<ArchiveRequest>,
) -> Result<(StatusCode, Json<ArchivedDto>), ApiError> {
    if let Some(reason) = &request.reason {
        check_text("reason", reason)?;
    }
    let archived = archive_member(&state, id, identity.user, request.reason).await?;
    Ok((StatusCode::CREATED, Json(archived)))
}

/// The archive log, newest first (`?before=` the last id seen for the next page).
#[utoipa::path(get, path = "/api/archives", tag = "archives", params(ArchiveListParams),
    responses((status = 200, body = Vec<ArchiveDto>), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    Query(params): Query<ArchiveListParams>,
) -> Result<Json<Vec<ArchiveDto>>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::Invalid("limit must be between 1 and 100".into()));
    }
    Ok(Json(
        list_archives(
            &state,
            params.before,
            limit,
            params.not_restored.unwrap_or(false),
        )
        .await?,
    ))
}

/// One archive of the log.
#[utoipa::path(get, path = "/api/archives/{id}", tag = "archives", params(("id" = i64, Path)),
    responses((status = 200, body = ArchiveDto), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<ArchiveDto>, ApiError> {
    let entry = with_conn!(&state.db, conn => find_archive_async(conn, id).await?);
    Ok(Json(ArchiveDto::from(&entry)))
}

/// Restores exactly what an archive hid, and the links it cut (admins only); once.
#[utoipa::path(post, security(("x-user" = [], "x-role" = [])), path = "/api/archives/{id}/restore", tag = "archives", params(("id" = i64, Path)),
    responses((status = 200, body = RestoredDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "restored already, purged, or a live member holds a key (`live_id`)", body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn restore(
    State(state): State<AppState>,
    identity: Identity,
    Path(id): Path<i64>,
) -> Result<Json<RestoredDto>, ApiError> {
    identity.require_admin("restoring an archive")?;
    Ok(Json(restore_archive(&state, id, identity.user).await?))
}
