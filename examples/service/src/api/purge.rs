//! Retention: delete for good the members deleted more than N days ago, and what cascades
//! from them, keeping what something still references (admins only), with a dry run; on the
//! library's async purge, on the request's pooled connection.

use axum::extract::State;
use chrono::{TimeDelta, Utc};
use soft_delete_runtime::purge::Purge;

use crate::db::Db;
use crate::dto::{PurgeDto, PurgeRequest, MAX_RETENTION_DAYS};
use crate::error::{ApiError, ErrorBody, Json};
use crate::identity::Identity;
use crate::schema::members;
use crate::AppState;

async fn purge(
    state: &AppState,
    identity: &Identity,
    request: &PurgeRequest,
    dry: bool,
) -> Result<PurgeDto, ApiError> {
    identity.require_admin("a purge")?;
    if request.older_than_days > MAX_RETENTION_DAYS {
        return Err(ApiError::Invalid(format!(
            "older_than_days is at most {MAX_RETENTION_DAYS}"
        )));
    }
    let age = TimeDelta::try_days(i64::from(request.older_than_days))
        .ok_or_else(|| ApiError::Invalid("older_than_days is out of range".into()))?;
    let cutoff = Utc::now()
        .checked_sub_signed(age)
        .ok_or_else(|| ApiError::Invalid("older_than_days is out of range".into()))?;
    let mut purge = Purge::before(members::table, cutoff).batch_size(500);
    let report = match &state.db {
        Db::Postgres { pool } => {
            let mut conn = pool.get().await?;
            let conn: &mut diesel_async::AsyncPgConnection = &mut conn;
            run_on(&mut purge, conn, dry).await?
        }
        Db::Sqlite { pool } => {
            let mut conn = pool.get().await?;
            run_on(&mut purge, &mut *conn, dry).await?
        }
    };
    Ok(PurgeDto::from(&report))
}

/// What a purge would delete and keep, deleting nothing (admins only).
#[utoipa::path(post, security(("x-user" = [], "x-role" = [])), path = "/api/purge/dry-run", tag = "purge", request_body = PurgeRequest,
    responses((status = 200, body = PurgeDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn dry_run(
    State(state): State<AppState>,
    identity: Identity,
    Json(request): Json<PurgeRequest>,
) -> Result<Json<PurgeDto>, ApiError> {
    Ok(Json(purge(&state, &identity, &request, true).await?))
}

/// Deletes for good the members deleted before the cutoff and what cascades from them, in
/// short batches, children first, keeping rows still referenced (admins only).
#[utoipa::path(post, security(("x-user" = [], "x-role" = [])), path = "/api/purge", tag = "purge", request_body = PurgeRequest,
    responses((status = 200, body = PurgeDto), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn run(
    State(state): State<AppState>,
    identity: Identity,
    Json(request): Json<PurgeRequest>,
) -> Result<Json<PurgeDto>, ApiError> {
    Ok(Json(purge(&state, &identity, &request, false).await?))
}

/// Runs (or, `dry`, tries) `purge` on `conn`, whichever backend it is.
async fn run_on<C, P>(
    purge: &mut Purge<members::table, P>,
    conn: &mut C,
    dry: bool,
) -> Result<soft_delete_runtime::purge::PurgeReport, soft_delete_runtime::Error>
where
    C: soft_delete_runtime::exec::SqlConnection<soft_delete_runtime::exec::NonBlocking>,
    P: FnMut(&soft_delete_runtime::purge::Progress<'_>) + Send,
{
    if dry {
        purge.dry_run_async(conn).await
    } else {
        purge.run_async(conn).await
    }
}
