//! The crate's one error type. Every error of it names a row as a [`RowId`].

use crate::RowId;

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

    /// A constraint whose check was deferred rejected the transaction when the check ran at
    /// its end ([`deferred::transaction`](crate::deferred::transaction), or
    /// [`reassign`](crate::deferred::reassign) on PostgreSQL). The transaction was rolled
    /// back: nothing was written.
    #[error("constraint `{constraint}` rejected {key} when its deferred check ran at the end of the transaction; nothing was written")]
    DeferredViolation {
        /// The constraint's name, as the database reports it.
        constraint: String,
        /// The key that broke it, as the database reports it: `(team_id, squad_number)=(1, 7)`.
        key: String,
    },

    /// A constraint named to [`deferred::transaction`](crate::deferred::transaction) does not
    /// exist in the schemas of the connection's `search_path`.
    #[error("there is no constraint named `{constraint}` to defer")]
    UnknownConstraint {
        /// The name given.
        constraint: String,
    },

    /// A constraint named to [`deferred::transaction`](crate::deferred::transaction) was not
    /// declared `DEFERRABLE`, so PostgreSQL checks it after every row whatever the
    /// transaction says.
    #[error("constraint `{constraint}` is not DEFERRABLE, so its check cannot be deferred")]
    NotDeferrable {
        /// The name given.
        constraint: String,
    },

    /// [`reassign`](crate::deferred::reassign) was given two rows with the same new value.
    /// Found before any row was read or written.
    #[error("{table}.{column}: rows {first} and {second} were both given the value {value}; nothing was written")]
    DuplicateTarget {
        /// The table.
        table: String,
        /// The reassigned column.
        column: &'static str,
        /// The value given twice (`Debug` of the Rust value).
        value: String,
        /// The primary key of the first row given it.
        first: RowId,
        /// The primary key of the second row given it.
        second: RowId,
    },

    /// [`reassign`](crate::deferred::reassign) was given one row twice. Found before any row
    /// was read or written.
    #[error("{table}: row {row} was given two new values; nothing was written")]
    DuplicateRow {
        /// The table.
        table: String,
        /// The row's primary key.
        row: RowId,
    },

    /// A new value given to [`reassign`](crate::deferred::reassign) is held by a row of the
    /// scope that is not being reassigned. The transaction was rolled back.
    #[error("{table}.{column} = {value} is held by row {holder}, which is not being reassigned; nothing was written")]
    ValueTaken {
        /// The table.
        table: String,
        /// The reassigned column.
        column: &'static str,
        /// The value (`Debug` of the Rust value).
        value: String,
        /// The primary key of the row holding it.
        holder: RowId,
    },

    /// Rows given to [`reassign`](crate::deferred::reassign) are not in its scope (or do not
    /// exist). The transaction was rolled back.
    #[error(
        "{table}: rows {} are not in the scope of the reassignment; nothing was written",
        RowId::list(rows)
    )]
    NotInScope {
        /// The table.
        table: String,
        /// The primary keys not found.
        rows: Vec<RowId>,
    },

    /// [`reassign`](crate::deferred::reassign) needed temporary values beyond the column's
    /// current range and the value type has no room left on either side. The transaction
    /// was rolled back.
    #[error("{table}.{column}: no room for {count} temporary values outside the column's range {min}..={max}; nothing was written")]
    NoTemporaryValues {
        /// The table.
        table: String,
        /// The reassigned column.
        column: &'static str,
        /// How many were needed.
        count: usize,
        /// The column's smallest value.
        min: String,
        /// The column's largest value.
        max: String,
    },

    /// A live row already holds the active-unique key: returned by
    /// [`start`](crate::unique::ActiveUnique::start), by
    /// [`restore`](crate::SoftDelete::restore) of a row whose key has another live row, and
    /// by [`Batch::restore`](crate::collector::Batch::restore) when a row of the batch (or a
    /// link it puts back) would give a key of its model a second live row: held by a live row,
    /// or by another row of the same batch ([`Holder`](crate::unique::Holder)). Nothing was
    /// written.
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

    /// A key value with `None` in an `Option` field of a key whose `NULL`s are distinct (the
    /// default, as in a unique index) was given to `start`, `retry`, `upsert`, `find_live` or
    /// `history`: rows with a `NULL` there are not unique, so the value has no one live row.
    /// Declare the key `nulls = not_distinct` to make `None` a value of the key. Nothing was
    /// read or written.
    #[error("key `{key}` of `{table}` has `NULL` in `{column}`, and its `NULL`s are distinct: rows with it are not unique and have no one live row (declare the key `nulls = not_distinct` to make `None` a value of the key); nothing was written")]
    NullKeyPart {
        /// The table.
        table: crate::backend::TableName,
        /// The key's name.
        key: &'static str,
        /// The column whose value is `None`.
        column: &'static str,
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

    /// The archive log has no archive with this id (it was never archived, or the log row was
    /// deleted). Nothing was written.
    #[error("the archive log has no archive {id}; nothing was written")]
    ArchiveNotFound {
        /// The id asked for.
        id: i64,
    },

    /// Archive `id` was archived from another root table than the one it was asked to be
    /// restored as ([`Batch::find`](crate::collector::Batch::find),
    /// [`ArchiveEntry::batch`](crate::collector::ArchiveEntry::batch)). Nothing was written.
    #[error(
        "archive {id} was archived from `{found}`, not from `{expected}`; nothing was written"
    )]
    WrongRoot {
        /// The id.
        id: i64,
        /// The root table it was asked as.
        expected: String,
        /// The root table the log records.
        found: String,
    },

    /// Archive `id` was restored already, at `at` (by `by`); a restore happens once. Nothing
    /// was written.
    #[error("archive {id} was restored already at {at}{}; nothing was written", by.as_deref().map_or_else(String::new, |by| format!(" by {by}")))]
    AlreadyRestored {
        /// The id.
        id: i64,
        /// When it was restored.
        at: crate::Timestamp,
        /// Who restored it, if recorded.
        by: Option<String>,
    },

    /// [`Batch::restore`](crate::collector::Batch::restore) found none of the `archived` rows
    /// that archive `id` archived (as its log counts them) still archived in its batch: a
    /// [purge](crate::purge) deleted them for good (or, rarer, each was brought back or hidden
    /// again on its own since). Nothing was written, and the log does not call the archive
    /// restored. (A batch purged in part restores what is left:
    /// [`Restored::missing`](crate::collector::Restored::missing) lists the rest.)
    #[error("archive {id} has none of its {archived} archived rows left to restore: a purge deleted them for good; nothing was written")]
    ArchivePurged {
        /// The archive's id.
        id: i64,
        /// How many rows the archive archived, as its log counts them.
        archived: u64,
    },

    /// The archive log table (`soft_delete_archive_log`) does not exist; every archive needs
    /// it. Create it with [`ddl::archive_log::create_table`](crate::ddl::archive_log::create_table).
    /// Nothing was written.
    #[error("the archive log table `soft_delete_archive_log` does not exist: create it with ddl::archive_log::create_table in a migration; nothing was written")]
    NoArchiveLog,

    /// Other archives held every stamp of `attempts` microseconds in a row, so this archive
    /// could not reserve one. Nothing was written; try again.
    #[error("other archives held {attempts} stamps in a row; nothing was written, try again")]
    StampsTaken {
        /// How many microseconds were tried.
        attempts: u32,
    },

    /// Two `table!` declarations name the same SQL table but describe it differently (one
    /// plain and one soft-deletable, other keys, other children), and both are reached by one
    /// relation graph: the collector could follow only one of them. Found before anything is
    /// read or written. Declare the table once, or make the declarations agree.
    #[error("two `table!` declarations reached by one relation graph name the SQL table `{table}` but differ in {difference}; nothing was written")]
    ConflictingDeclarations {
        /// The SQL table.
        table: String,
        /// What differs.
        difference: &'static str,
    },

    /// Live rows refuse a cascade archive through `protect` edges; nothing was written.
    #[error("{}", protected(blockers))]
    Protected {
        /// Per `protect` edge, the live rows that refuse (ids capped, count exact).
        blockers: Vec<crate::collector::Blocker>,
    },

    /// The rows of `table` one archive batch changed cannot be told from rows other batches
    /// (or plain soft deletes) changed, so they can be neither followed nor restored as a batch.
    /// An archive (or preview) that would hide rows of such a table, as the root or through a
    /// `cascade` edge, is refused before anything is written; so is a restore.
    #[error(
        "the rows of `{table}` one archive changed cannot be told from rows archived by others: \
         give its model a timestamp marker, a `#[soft_delete(deleted_at)]` column or a \
         `#[soft_delete(batch)]` column"
    )]
    BatchNotIdentifiable {
        /// The table.
        table: String,
    },

    /// A table an archive would hide rows of tells its batches apart by their deletion time
    /// alone, and its column keeps fewer than six fractional digits (MySQL/MariaDB `DATETIME`
    /// without a fraction, PostgreSQL `timestamp(0)`): the batch's stamp, to the microsecond,
    /// would be rounded, and neither the archive's walk nor a restore could find the rows
    /// again. Found in the catalog before anything is written; nothing was.
    #[error(
        "`{table}`.`{column}` keeps {precision} fractional digits of a second, too few for an \
         archive batch's stamp (microseconds): declare it `DATETIME(6)` (MySQL/MariaDB) or \
         `timestamp(6)` (PostgreSQL), or give the model a `#[soft_delete(batch)]` column; \
         nothing was written"
    )]
    StampPrecision {
        /// The table.
        table: String,
        /// Its deletion time column.
        column: &'static str,
        /// The fractional digits the column keeps.
        precision: u32,
    },

    /// [`Batch::restore`](crate::collector::Batch::restore) was refused by a unique key that no
    /// model declares with `#[active_unique]` (a plain unique index or constraint, a partial
    /// one the models do not know about, a PostgreSQL exclusion constraint), when bringing back
    /// rows of `table` or putting back their links, or at the restore's `COMMIT` for a deferred
    /// constraint; nothing was restored. The library cannot name the row holding such a key,
    /// so this carries what the database said. Keys the models declare are checked before
    /// writing and reported as [`Error::Conflict`].
    #[error("restoring rows of `{table}` conflicts with a live row on {}: {message}", key.as_deref().map_or_else(|| "a unique key".to_owned(), |k| format!("unique key `{k}`")))]
    RestoreConflict {
        /// The table whose rows could not come back.
        table: String,
        /// The unique key (constraint or index) the database named, when it named one.
        key: Option<String>,
        /// The database's message.
        message: String,
    },

    /// A cascade archive would cut a `set_null` / `set_default` link of a row whose key, as
    /// text, is longer than the archive journal keeps (on MySQL/MariaDB,
    /// [`MYSQL_ROW_KEY_CHARS`](crate::ddl::journal::MYSQL_ROW_KEY_CHARS) characters: see
    /// [the journal's sizes](crate::ddl::journal#sizes-on-mysqlmariadb)), so a restore could
    /// not find it again. Refused by the journal table's `CHECK`, whatever the `sql_mode`;
    /// the archive was rolled back and nothing was written.
    #[error("a row of `{table}` has a key longer than the {limit} characters the archive journal keeps, so its `{column}` link cannot be cut and later restored; nothing was written")]
    JournalKeyTooLong {
        /// The child table.
        table: String,
        /// The link's column.
        column: String,
        /// The longest key the journal keeps, in characters.
        limit: usize,
    },

    /// A [`Purge`](crate::purge::Purge) was asked of a table whose model records no deletion
    /// time (a flag marker without a `#[soft_delete(deleted_at)]` column), so it cannot tell
    /// how long a row has been deleted. Nothing was read or written.
    #[error(
        "`{table}` records no deletion time, so a purge cannot tell which rows were deleted \
         before the cutoff: give its model a timestamp marker or a `#[soft_delete(deleted_at)]` column"
    )]
    NoDeletionTime {
        /// The table.
        table: crate::backend::TableName,
    },

    /// An operation that commits step by step (a [`Purge::run`](crate::purge::Purge::run))
    /// was called inside a transaction, which would hold every step's locks until the caller
    /// commits. Nothing was written.
    #[error("{operation} commits batch by batch, so it cannot run inside a transaction: call it outside one")]
    InTransaction {
        /// What was called.
        operation: &'static str,
    },

    /// An argument is out of range (a purge's batch size of 0, a reassignment of the primary
    /// key's column). Nothing was written.
    #[error("`{name}` {problem}")]
    InvalidArgument {
        /// The argument.
        name: &'static str,
        /// What is wrong with it.
        problem: &'static str,
    },

    /// A batch of a [`Purge`](crate::purge::Purge) failed after earlier batches were
    /// committed. The failed batch was rolled back; the rows of the earlier batches stay
    /// deleted (the report counts them) and every other row is untouched. Running the purge
    /// again finishes the job.
    #[error(
        "purge stopped after deleting {} rows in {} batches: {source}; the batches before stay done, run it again to finish",
        report.deleted(),
        report.batches
    )]
    PurgeInterrupted {
        /// What the purge did before the failure.
        report: Box<crate::purge::PurgeReport>,
        /// The failure.
        #[source]
        source: Box<Error>,
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
