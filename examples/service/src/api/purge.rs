//! Retention: delete for good the members deleted more than N days ago, and what cascades
//! from them, keeping what something still references (admins only), with a dry run; on the
//! library's async purge, on the request's pooled connection (on SQLite, the sync purge on
//! the pooled connection's blocking thread: see the workaround below).

use axum::extract::State;
use chrono::{TimeDelta, Utc};
use soft_delete_runtime::guard::{allow, allow_async};
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
    // WORKAROUND: the purge's check that no row of `attempts` (referencing members by a
    // foreign key the relation graph does not declare) still points at a member reads
    // `attempts` without the with-deleted trace, so the guard flags the library's own
    // statement. Every row counts there on purpose; allow it until the library marks it.
    // `allow_async` covers the statements the polling thread runs, which SQLite's wrapper
    // does not (it runs them on tokio's blocking pool): there the sync purge runs in the
    // wrapper's own `spawn_blocking`, under `allow`.
    let report = match &state.db {
        Db::Postgres { pool } => {
            let mut conn = pool.get().await?;
            let conn: &mut diesel_async::AsyncPgConnection = &mut conn;
            let purge = &mut purge;
            allow_async(async move {
                if dry {
                    purge.dry_run_async(conn).await
                } else {
                    purge.run_async(conn).await
                }
            })
            .await?
        }
        Db::Sqlite { pool } => {
            let mut conn = pool.get().await?;
            conn.spawn_blocking(move |conn| {
                Ok(allow(|| {
                    if dry {
                        purge.dry_run(conn)
                    } else {
                        purge.run(conn)
                    }
                }))
            })
            .await??
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
