//! Exam attempts: one live attempt per exam and member (an active-unique key). Start answers
//! 409 with the live attempt's id when there is one; retry retires it and starts the next,
//! atomically, with the counter + 1.

use axum::extract::State;
use axum::http::StatusCode;
use soft_delete_runtime::asynchronous::*;

use crate::dto::{AttemptDto, AttemptRequest, HistoryParams};
use crate::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::models::{Attempt, NewAttempt};
use crate::{with_conn, AppState};

/// Starts the first live attempt of a member at an exam.
#[utoipa::path(post, path = "/api/exams/{exam_id}/attempts", tag = "attempts", params(("exam_id" = i32, Path)), request_body = AttemptRequest,
    responses((status = 201, body = AttemptDto), (status = 400, body = ErrorBody), (status = 409, description = "a live attempt exists: `live_id`", body = ErrorBody),
        (status = 404, description = "no live member", body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn start(
    State(state): State<AppState>,
    Path(exam_id): Path<i32>,
    Json(request): Json<AttemptRequest>,
) -> Result<(StatusCode, Json<AttemptDto>), ApiError> {
    let member_id = request.member_id;
    crate::api::members::find(&state, member_id, false).await?;
    let attempt = with_conn!(&state.db, conn => {
        Attempt::start_async(conn, (exam_id, member_id), |retry| NewAttempt::live(exam_id, member_id, retry)).await?
    });
    Ok((StatusCode::CREATED, Json(attempt.into())))
}

/// Retires the live attempt and starts the next (retry counter + 1), in one transaction.
#[utoipa::path(post, path = "/api/exams/{exam_id}/attempts/retry", tag = "attempts", params(("exam_id" = i32, Path)), request_body = AttemptRequest,
    responses((status = 200, body = AttemptDto), (status = 400, body = ErrorBody), (status = 404, description = "no live member, or no live attempt", body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 415, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn retry(
    State(state): State<AppState>,
    Path(exam_id): Path<i32>,
    Json(request): Json<AttemptRequest>,
) -> Result<Json<AttemptDto>, ApiError> {
    let member_id = request.member_id;
    // As start: a deleted or archived member takes no new attempt.
    crate::api::members::find(&state, member_id, false).await?;
    let attempt = with_conn!(&state.db, conn => {
        Attempt::retry_async(conn, (exam_id, member_id), |old: &Attempt, retry| NewAttempt::live(old.exam_id, old.member_id, retry)).await?
    });
    Ok(Json(attempt.into()))
}

/// Every attempt of a member at an exam, newest first.
#[utoipa::path(get, path = "/api/exams/{exam_id}/attempts", tag = "attempts", params(("exam_id" = i32, Path), HistoryParams),
    responses((status = 200, body = Vec<AttemptDto>), (status = 400, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Path(exam_id): Path<i32>,
    Query(params): Query<HistoryParams>,
) -> Result<Json<Vec<AttemptDto>>, ApiError> {
    let member_id = params.member_id;
    let attempts =
        with_conn!(&state.db, conn => Attempt::history_async(conn, (exam_id, member_id)).await?);
    Ok(Json(attempts.into_iter().map(AttemptDto::from).collect()))
}
