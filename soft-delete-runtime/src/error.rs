//! The crate's one error type.

/// What can go wrong in this crate, as values a caller can match on.
///
/// Every operation that can fail for a reason of its own (not Diesel's) runs inside a
/// transaction and rolls it back before returning one of these, so an error never leaves a
/// partial write behind.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database or Diesel reported an error.
    #[error(transparent)]
    Diesel(#[from] diesel::result::Error),

    /// The backend cannot do what was asked (e.g. deferred constraints outside PostgreSQL).
    #[error("{feature} is not supported on {dialect}")]
    Unsupported {
        /// What was asked for.
        feature: &'static str,
        /// The backend that cannot do it.
        dialect: crate::backend::Dialect,
    },

    /// A live row already holds the active-unique key: returned by
    /// [`start`](crate::unique::ActiveUnique::start) and by
    /// [`restore`](crate::SoftDelete::restore) of a row whose key has another live row.
    #[error("{0}")]
    Conflict(Box<crate::unique::KeyConflict>),

    /// [`retry`](crate::unique::ActiveUnique::retry) found no live row for the key.
    #[error("`{table}` has no live row for key `{key}` = {values}")]
    NoLiveRow {
        /// The table.
        table: crate::backend::TableName,
        /// The key's name.
        key: &'static str,
        /// The key's values, as `Debug` prints them.
        values: String,
    },

    /// Concurrent transactions kept changing the key's live row: the operation was rolled
    /// back and run again [`ATTEMPTS`](crate::unique::ATTEMPTS) times without succeeding.
    #[error("gave up on key `{key}` of `{table}` after {attempts} attempts: concurrent transactions kept changing its live row")]
    Contended {
        /// The table.
        table: crate::backend::TableName,
        /// The key's name.
        key: &'static str,
        /// How many times it was tried.
        attempts: u32,
    },

    /// The row built by the closure of [`start`](crate::unique::ActiveUnique::start) or
    /// [`retry`](crate::unique::ActiveUnique::retry) is not a new live row of the key; the
    /// transaction was rolled back.
    #[error("the new row for key `{key}` of `{table}` {problem}; nothing was written")]
    InvalidNewRow {
        /// The table.
        table: crate::backend::TableName,
        /// The key's name.
        key: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },
}

impl Error {
    /// The active-unique conflict, if this is one.
    pub fn conflict(&self) -> Option<&crate::unique::KeyConflict> {
        match self {
            Error::Conflict(conflict) => Some(conflict),
            _ => None,
        }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
