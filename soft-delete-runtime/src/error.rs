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
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
