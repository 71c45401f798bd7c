//! One error type for every endpoint: the library's typed errors and bad input mapped to
//! status codes (404, 409, 422, 403, 400) with a JSON body. Only a failure of the service
//! itself (the database down, a bug) answers 5xx.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use diesel::result::DatabaseErrorKind;
use serde::Serialize;
use soft_delete_runtime::Error as LibError;
use utoipa::ToSchema;

use crate::dto::BlockerDto;

/// What went wrong, as the service answers it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// An error of the soft-delete library.
    #[error(transparent)]
    Library(#[from] LibError),
    /// The row asked for does not exist (or is not in the state asked for).
    #[error("{0}")]
    NotFound(String),
    /// The caller's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The row is in a state that refuses the operation (e.g. restoring one member of an
    /// archive: restore the archive instead).
    #[error("{0}")]
    State(String),
    /// Well-formed input that is not acceptable (out of range, empty, ...).
    #[error("{0}")]
    Invalid(String),
    /// Input the framework could not read (bad JSON, a path id that is not a number, ...),
    /// with the status the framework gives it (400, 415, 422).
    #[error("{message}")]
    Rejected {
        /// The status.
        status: StatusCode,
        /// Why.
        message: String,
    },
    /// The database cannot be reached or the pool is exhausted.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A failure of the service itself.
    #[error("internal error: {0}")]
    Internal(String),
}

/// The JSON body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code: `not_found`, `conflict`, `protected`, `already_restored`,
    /// `forbidden`, `invalid`, `bad_request`, ...
    pub error: String,
    /// A sentence for people.
    pub message: String,
    /// For `conflict`: the id of the live row that holds the key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub live_id: Option<String>,
    /// For `protected`: the live rows that refuse the archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blockers: Option<Vec<BlockerDto>>,
}

impl ApiError {
    /// The status this error answers with.
    pub fn status(&self) -> StatusCode {
        self.classify().0
    }

    /// The status and the stable code.
    fn classify(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::State(_) => (StatusCode::CONFLICT, "state"),
            ApiError::Invalid(_) => (StatusCode::UNPROCESSABLE_ENTITY, "invalid"),
            ApiError::Rejected { status, .. } => (*status, "bad_request"),
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            ApiError::Library(error) => classify_library(error),
        }
    }
}

fn classify_library(error: &LibError) -> (StatusCode, &'static str) {
    use StatusCode as S;
    match error {
        LibError::Conflict(_) => (S::CONFLICT, "conflict"),
        LibError::Protected { .. } => (S::CONFLICT, "protected"),
        LibError::AlreadyRestored { .. } => (S::CONFLICT, "already_restored"),
        // Nothing of the archive is left to restore: its state, not a clash with a row.
        LibError::ArchivePurged { .. } => (S::CONFLICT, "state"),
        LibError::RestoreConflict { .. } => (S::CONFLICT, "restore_conflict"),
        LibError::Contended { .. } | LibError::StampsTaken { .. } => (S::CONFLICT, "contended"),
        LibError::NoLiveRow { .. } => (S::NOT_FOUND, "no_live_row"),
        LibError::ArchiveNotFound { .. } => (S::NOT_FOUND, "archive_not_found"),
        LibError::WrongRoot { .. } => (S::UNPROCESSABLE_ENTITY, "wrong_root"),
        LibError::NullKeyPart { .. }
        | LibError::InvalidNewRow { .. }
        | LibError::InvalidArgument { .. } => (S::UNPROCESSABLE_ENTITY, "invalid"),
        LibError::Diesel(diesel::result::Error::NotFound) => (S::NOT_FOUND, "not_found"),
        LibError::Diesel(diesel::result::Error::DatabaseError(kind, info)) => match kind {
            DatabaseErrorKind::UniqueViolation => (S::CONFLICT, "conflict"),
            DatabaseErrorKind::ForeignKeyViolation => (S::UNPROCESSABLE_ENTITY, "invalid"),
            DatabaseErrorKind::SerializationFailure => (S::CONFLICT, "contended"),
            DatabaseErrorKind::ClosedConnection => (S::SERVICE_UNAVAILABLE, "unavailable"),
            // SQLite's SQLITE_BUSY once the busy timeout ran out: another writer held the
            // file's lock that long. Busy, not broken: nothing was written, try again.
            DatabaseErrorKind::Unknown if info.message().starts_with("database is locked") => {
                (S::SERVICE_UNAVAILABLE, "unavailable")
            }
            _ => (S::INTERNAL_SERVER_ERROR, "internal"),
        },
        _ => (S::INTERNAL_SERVER_ERROR, "internal"),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.classify();
        if status.is_server_error() {
            tracing::error!("{self}");
        }
        let (live_id, blockers) = match &self {
            ApiError::Library(LibError::Conflict(conflict)) => {
                (Some(conflict.live_id().to_string()), None)
            }
            ApiError::Library(LibError::Protected { blockers }) => {
                (None, Some(blockers.iter().map(BlockerDto::from).collect()))
            }
            _ => (None, None),
        };
        let body = ErrorBody {
            error: code.to_owned(),
            message: self.to_string(),
            live_id,
            blockers,
        };
        (status, axum::Json(body)).into_response()
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(error: diesel::result::Error) -> Self {
        ApiError::Library(LibError::Diesel(error))
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for ApiError {
    fn from(error: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        ApiError::Unavailable(error.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        ApiError::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::Rejected {
            status: rejection.status(),
            message: rejection.body_text(),
        }
    }
}

/// `Json<T>` whose rejection is an [`ApiError`] (a JSON body, never plain text).
#[derive(Debug, axum::extract::FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

/// `Path<T>` whose rejection is an [`ApiError`].
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `Query<T>` whose rejection is an [`ApiError`].
#[derive(Debug, axum::extract::FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Errors the library says to try again on are contention (409 `contended`), not a
    /// failure of the service: a client retries a 409, and a 500 pages someone.
    #[test]
    fn try_again_errors_are_409_contended() {
        let error = ApiError::Library(LibError::StampsTaken { attempts: 64 });
        assert_eq!(
            (error.status(), error.classify().1),
            (StatusCode::CONFLICT, "contended")
        );
    }
}
