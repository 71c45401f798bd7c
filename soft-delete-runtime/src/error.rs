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

    /// Live rows refuse a cascade archive through `protect` edges; nothing was written.
    #[error("{}", protected(blockers))]
    Protected {
        /// Per `protect` edge, the live rows that refuse (ids capped, count exact).
        blockers: Vec<crate::collector::Blocker>,
    },

    /// The rows of `table` one archive batch changed cannot be told from rows other batches
    /// (or plain soft deletes) changed, so they can be neither followed nor restored as a batch.
    #[error(
        "the rows of `{table}` one archive changed cannot be told from rows archived by others: \
         give its model a timestamp marker, a `#[soft_delete(deleted_at)]` column or a \
         `#[soft_delete(batch)]` column"
    )]
    BatchNotIdentifiable {
        /// The table.
        table: String,
    },

    /// Restoring rows of `table` would give a unique key (e.g. an active-unique key) two live
    /// rows; nothing was restored.
    #[error("restoring rows of `{table}` conflicts with a live row on {}: {message}", key.as_deref().map_or_else(|| "a unique key".to_owned(), |k| format!("unique key `{k}`")))]
    RestoreConflict {
        /// The table whose rows could not come back.
        table: String,
        /// The unique key (constraint or index) the database named, when it named one.
        key: Option<String>,
        /// The database's message.
        message: String,
    },
}

fn protected(blockers: &[crate::collector::Blocker]) -> String {
    let total: u64 = blockers.iter().map(|b| b.count).sum();
    let list: Vec<String> = blockers.iter().map(ToString::to_string).collect();
    format!(
        "archive refused: {total} live {} {} it: {}",
        if total == 1 { "row" } else { "rows" },
        if total == 1 { "protects" } else { "protect" },
        list.join("; ")
    )
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
