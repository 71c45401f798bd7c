//! Retention: delete for good the rows that were soft-deleted before a cutoff, in batches,
//! without deleting a row that something still references.
//!
//! A [`Purge`] starts from a table and covers the tables its `cascade` edges reach (the
//! same graph a [`Collector`](crate::collector::Collector) archives), children before
//! parents:
//!
//! - a row goes when it is soft-deleted and its deletion time is *strictly before* the
//!   cutoff; live rows are never touched;
//! - a row still referenced by another row, through a declared relation
//!   (`#[soft_delete(children(...))]`) or a foreign key of the database, is kept, and the
//!   [report](PurgeReport::skipped) says by what (live rows, soft-deleted rows that stay, or
//!   rows of a table the graph does not describe) with the first ids;
//! - the work is split into batches of [`batch_size`](Purge::batch_size) rows, each its own
//!   short transaction, so purging millions of rows never holds locks for long. If a batch
//!   fails, the batches before it stay done, the rest is untouched, and
//!   [`Error::PurgeInterrupted`] carries the report so far; running the purge again finishes
//!   the job;
//! - a [`dry_run`](Purge::dry_run) reports exactly what a purge would delete and keep, and
//!   [`on_progress`](Purge::on_progress) is called after every batch.
//!
//! ```
//! use std::time::Duration;
//!
//! use diesel::prelude::*;
//! use soft_delete_runtime::prelude::*;
//! use soft_delete_runtime::purge::Purge;
//!
//! diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
//! diesel::table! { orders (id) { id -> Integer, user_id -> Integer, deleted_at -> Nullable<Timestamp> } }
//!
//! #[derive(Queryable, Identifiable, SoftDelete)]
//! #[soft_delete(children(orders::user_id = cascade))]
//! struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
//!
//! #[derive(Queryable, SoftDelete)]
//! struct Order { id: i32, user_id: i32, deleted_at: Option<chrono::NaiveDateTime> }
//!
//! # fn main() -> Result<(), soft_delete_runtime::Error> {
//! let conn = &mut SqliteConnection::establish(":memory:").unwrap();
//! # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP)").execute(conn)?;
//! # diesel::sql_query("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, deleted_at TIMESTAMP)").execute(conn)?;
//! # diesel::sql_query("INSERT INTO users (id, deleted_at) VALUES (1, '2020-01-01 00:00:00'), (2, '2020-01-01 00:00:00'), (3, NULL)").execute(conn)?;
//! # diesel::sql_query("INSERT INTO orders (user_id, deleted_at) VALUES (1, '2020-01-01 00:00:00'), (2, NULL)").execute(conn)?;
//! // users 1 and 2 were deleted in 2020; user 2 still has a live order
//! let report = Purge::older_than(users::table, Duration::from_secs(365 * 86_400))
//!     .batch_size(1_000)
//!     .run(conn)?;
//! assert_eq!(report.deleted_from("users"), 1);
//! assert_eq!(report.deleted_from("orders"), 1);
//! assert_eq!(report.kept_in("users"), 1);
//! println!("{report}"); // ... 1 row of `users` kept: referenced by live rows of `orders` (user_id; declared `cascade`): 2
//! assert_eq!(users::table.with_deleted().count().get_result::<i64>(conn)?, 2);
//! # Ok(())
//! # }
//! ```
//!
//! The cutoff is compared with the deletion time column: a `timestamp` marker, or the
//! `#[soft_delete(deleted_at)]` column of a flag model. A model with a flag marker and no
//! such column cannot say how long its rows have been deleted; purging its table returns
//! [`Error::NoDeletionTime`]. Naive (`TIMESTAMP`/`DATETIME`) columns hold UTC, as this crate
//! writes them.
//!
//! Links that an archive cut with `set_null`/`set_default` are kept in the journal for a
//! batch restore; the journal's entries for purged rows, and for links into purged rows,
//! are dropped with them (a restore could not put them back). The archive log keeps its
//! entries: restoring an archive a purge deleted wholly is refused with
//! [`Error::ArchivePurged`], and one deleted in part says what is missing
//! ([`Restored::missing`](crate::collector::Restored::missing)).
#![doc = include_str!("../docs/purge.md")]

mod report;
mod run;

use std::convert::Infallible;
use std::marker::PhantomData;

pub use report::{Progress, PurgeReport, Referrer, Skipped, TableReport, Via};

use crate::backend::{Dialect, SupportedBackend};
use crate::exec::SqlConnection;
use crate::exec::{drive, BackendOf, Begin, Blocking, Rollback, Transaction};
use crate::relations::ArchiveTable;
use crate::relations::Graph;
use crate::{Error, Timestamp};
use run::{Run, Settings};

/// The batch size a purge uses unless [`Purge::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 1_000;

/// How many ids of kept rows the report lists per reference, unless
/// [`Purge::skipped_ids`] says otherwise.
pub const DEFAULT_SKIPPED_IDS: usize = 10;

/// The type of a purge's progress callback when it has none (see [`Purge::on_progress`]).
pub type NoProgress = fn(&Progress<'_>);

/// Hard-deletes the rows of a table (and of the tables its `cascade` edges reach) that were
/// soft-deleted before a cutoff, in batches. See the [module docs](self).
///
/// `P` is the type of the [progress callback](Self::on_progress), [`NoProgress`] until one is
/// given.
pub struct Purge<T, P = NoProgress> {
    cutoff: Cutoff,
    batch_size: usize,
    skipped_ids: usize,
    asynchronous_commit: bool,
    progress: Option<P>,
    _table: PhantomData<fn() -> T>,
}

/// Where a purge's cutoff comes from.
#[derive(Debug, Clone, Copy)]
enum Cutoff {
    /// [`Purge::before`]: a fixed time.
    At(Timestamp),
    /// [`Purge::older_than`]: this long before each run starts.
    Age(std::time::Duration),
}

impl<T, P> std::fmt::Debug for Purge<T, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Purge")
            .field("cutoff", &self.cutoff)
            .field("batch_size", &self.batch_size)
            .field("skipped_ids", &self.skipped_ids)
            .field("asynchronous_commit", &self.asynchronous_commit)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

impl<T: ArchiveTable> Purge<T> {
    /// Purges the rows of `table` soft-deleted strictly before `cutoff` (a [`Timestamp`], or a
    /// chrono or time value that converts into one): the same time at every
    /// [`run`](Self::run) of this value.
    pub fn before(table: T, cutoff: impl Into<Timestamp>) -> Self {
        Self::with_cutoff(table, Cutoff::At(cutoff.into()))
    }

    /// Purges the rows of `table` soft-deleted more than `age` ago. The cutoff is taken when
    /// the purge runs (now minus `age`, by this machine's clock, as this crate stamps
    /// deletions), at every [`run`](Self::run) and [`dry_run`](Self::dry_run): a purge value
    /// kept and run again (a daily job) moves its cutoff with the clock. The report says which
    /// cutoff a run used ([`PurgeReport::cutoff`]). An age reaching back before
    /// [`Timestamp::MIN`] is refused with [`Error::InvalidArgument`] when the purge runs.
    pub fn older_than(table: T, age: std::time::Duration) -> Self {
        Self::with_cutoff(table, Cutoff::Age(age))
    }

    fn with_cutoff(table: T, cutoff: Cutoff) -> Self {
        let _ = table;
        Purge {
            cutoff,
            batch_size: DEFAULT_BATCH_SIZE,
            skipped_ids: DEFAULT_SKIPPED_IDS,
            asynchronous_commit: false,
            progress: None,
            _table: PhantomData,
        }
    }
}

impl<T: ArchiveTable, P: FnMut(&Progress<'_>)> Purge<T, P> {
    /// Deletes at most `rows` rows per batch (default [`DEFAULT_BATCH_SIZE`]). Each batch is
    /// its own transaction; smaller batches hold locks for less time, larger ones finish
    /// sooner. Zero is refused with [`Error::InvalidArgument`] when the purge runs.
    #[must_use]
    pub fn batch_size(mut self, rows: usize) -> Self {
        self.batch_size = rows;
        self
    }

    /// Lists at most `cap` ids of kept rows per reference in the report (the counts are
    /// always exact). Default [`DEFAULT_SKIPPED_IDS`].
    #[must_use]
    pub fn skipped_ids(mut self, cap: usize) -> Self {
        self.skipped_ids = cap;
        self
    }

    /// PostgreSQL: commits every batch without waiting for its WAL record to reach disk (or a
    /// synchronous standby): `SET LOCAL synchronous_commit = off` in each batch's transaction,
    /// which saves a flush per batch.
    ///
    /// The cost is durability. After a crash of the server, or a failover to a standby, the
    /// last batches reported as committed (up to three times `wal_writer_delay`, 600 ms by
    /// default) may be undone: their rows come back, soft-deleted as they were, for the next
    /// run to delete. The report of the run that deleted them does not say so, and a
    /// `synchronous_commit` the DBA set for the server, the database or the role (a synchronous
    /// standby, `remote_apply`) does not hold for these commits. Opt in only where that is
    /// acceptable. Without it (the default) each batch commits as the server's
    /// `synchronous_commit` says.
    ///
    /// SQLite and MySQL/MariaDB have no per-transaction durability setting: a purge asked for
    /// this there fails with [`Error::Unsupported`] before its first batch.
    #[must_use]
    pub fn asynchronous_commit(mut self) -> Self {
        self.asynchronous_commit = true;
        self
    }

    /// Calls `callback` after every batch with the rows deleted so far and the estimate.
    /// Replaces an earlier callback.
    ///
    /// The callback is kept by value in the purge, as its type `F`: the purge is `Send` when
    /// the callback is, which is what [`run_async`](Self::run_async) asks of it so that its
    /// future can move between the threads of a runtime. A sync [`run`](Self::run) takes any
    /// callback.
    #[must_use]
    pub fn on_progress<F: FnMut(&Progress<'_>)>(self, callback: F) -> Purge<T, F> {
        Purge {
            cutoff: self.cutoff,
            batch_size: self.batch_size,
            skipped_ids: self.skipped_ids,
            asynchronous_commit: self.asynchronous_commit,
            progress: Some(callback),
            _table: PhantomData,
        }
    }

    /// Runs the purge: batch after batch, each committed on its own. It must run outside a
    /// transaction ([`Error::InTransaction`] otherwise), since its batches commit one by one.
    /// On MySQL, a table whose engine has no transactions (MyISAM) cannot roll a failed batch
    /// back.
    ///
    /// Returns the [`PurgeReport`]. If a batch fails, it is rolled back, the batches before
    /// it stay committed and [`Error::PurgeInterrupted`] returns the report of what was done
    /// with the failure; a failure before the first batch (reading the catalog) is returned
    /// as it is. A batch refused by a foreign key (a referencing row inserted after the
    /// batch's check) is tried again, and the row it could not delete is kept.
    pub fn run<C: SqlConnection<Blocking>>(&mut self, conn: &mut C) -> Result<PurgeReport, Error> {
        drive(self.run_on(conn))
    }

    /// What [`run`](Self::run) would delete and keep, without keeping any of it: the same
    /// batches run in one transaction that is always rolled back, so the report is exactly
    /// what a purge at this moment would do (and the progress callback sees the same
    /// batches). It holds its locks until it is done, so dry-run a very large purge off-peak;
    /// on SQLite, outside a transaction, it begins `IMMEDIATE` (like each batch of a purge:
    /// a transaction that has read cannot wait for the write lock there), so other writers
    /// wait for it, and it waits for them under a busy timeout.
    /// It may run inside the caller's transaction (it rolls back to a savepoint). On MySQL,
    /// a table whose engine has no transactions (MyISAM, Aria, MEMORY) would keep the deletes:
    /// the dry run refuses it with [`Error::Unsupported`] before writing anything.
    pub fn dry_run<C: SqlConnection<Blocking>>(
        &mut self,
        conn: &mut C,
    ) -> Result<PurgeReport, Error> {
        drive(self.dry_run_on(conn))
    }

    /// [`run`](Self::run) and [`run_async`](Self::run_async), in mode `Mo`.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "purge", level = "info", skip_all,
        fields(table = %T::sql_name(), rows = tracing::field::Empty, batches = tracing::field::Empty)))]
    async fn run_on<Mo, C: SqlConnection<Mo>>(
        &mut self,
        conn: &mut C,
    ) -> Result<PurgeReport, Error> {
        let cutoff = self.check(<BackendOf<Mo, C> as SupportedBackend>::DIALECT)?;
        // A connection an abandoned operation left broken is in no transaction of the
        // caller's: say so, rather than ask for a call outside a transaction.
        if conn.is_broken() {
            return Err(diesel::result::Error::BrokenTransactionManager.into());
        }
        // Inside a transaction the batches would be savepoints, committed all at once (or
        // not at all) with the caller's transaction: the locks of every batch held together.
        if conn.in_transaction() {
            return Err(Error::InTransaction {
                operation: "a purge",
            });
        }
        let graph = Graph::build(T::node())?;
        let mut run = Run::plan(conn, &graph, self.settings(cutoff, false), false).await?;
        match run.execute(conn, &mut self.progress).await {
            Ok(()) => Ok(run.report),
            Err(source) if run.report.batches > 0 => {
                run.finish();
                Err(Error::PurgeInterrupted {
                    report: Box::new(run.report),
                    source: Box::new(source),
                })
            }
            Err(source) => Err(source),
        }
    }

    /// [`dry_run`](Self::dry_run) and [`dry_run_async`](Self::dry_run_async), in mode `Mo`.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "purge_dry_run", level = "info", skip_all,
        fields(table = %T::sql_name(), rows = tracing::field::Empty, batches = tracing::field::Empty)))]
    async fn dry_run_on<Mo, C: SqlConnection<Mo>>(
        &mut self,
        conn: &mut C,
    ) -> Result<PurgeReport, Error> {
        let cutoff = self.check(<BackendOf<Mo, C> as SupportedBackend>::DIALECT)?;
        let graph = Graph::build(T::node())?;
        // Nothing commits: durability settings have nothing to relax.
        let settings = self.settings(cutoff, true);
        let mut tx = Transaction::begin(conn, Begin::Immediate).await?;
        let done = match Run::plan(tx.conn(), &graph, settings, true).await {
            Ok(mut run) => match run.execute(tx.conn(), &mut self.progress).await {
                Ok(()) => DryRun::Undo(Box::new(run.report)),
                Err(error) => DryRun::Failed(error),
            },
            Err(error) => DryRun::Failed(error),
        };
        // Always rolled back: the outcome goes out as the "error" that rolls it back.
        match tx.finish::<Infallible, DryRun>(Err(done)).await {
            Err(DryRun::Undo(report)) => Ok(*report),
            Err(DryRun::Failed(error)) => Err(error),
            Ok(never) => match never {},
        }
    }

    /// Checks the settings before anything runs, and returns this run's cutoff.
    fn check(&self, dialect: Dialect) -> Result<Timestamp, Error> {
        if self.asynchronous_commit && dialect != Dialect::Postgres {
            return Err(Error::Unsupported {
                feature: "a purge with asynchronous commits",
                dialect,
            });
        }
        if self.batch_size == 0 {
            return Err(Error::InvalidArgument {
                name: "batch_size",
                problem: "must be at least 1",
            });
        }
        match self.cutoff {
            Cutoff::At(cutoff) => Ok(cutoff),
            Cutoff::Age(age) => Timestamp::now()
                .checked_sub(age)
                .ok_or(Error::InvalidArgument {
                    name: "age",
                    problem: "reaches back before the start of the calendar",
                }),
        }
    }

    fn settings(&self, cutoff: Timestamp, dry_run: bool) -> Settings {
        Settings {
            cutoff,
            batch_size: self.batch_size,
            skipped_ids: self.skipped_ids,
            asynchronous_commit: self.asynchronous_commit && !dry_run,
        }
    }
}

/// [`Purge::run`] and [`Purge::dry_run`] on a diesel-async connection (feature `async`).
#[cfg(feature = "async")]
impl<T, P> Purge<T, P>
where
    T: ArchiveTable,
    P: FnMut(&Progress<'_>) + Send,
{
    /// [`run`](Self::run), awaited: the same batches, each its own transaction, on a
    /// diesel-async connection ([`AsyncTarget`](crate::asynchronous::AsyncTarget)). The
    /// progress callback must be `Send` (see [`on_progress`](Self::on_progress)).
    ///
    /// Dropped half way (a timeout), the batch in progress is not committed: its transaction
    /// is left open on the server and the connection marked broken, so a pool discards it
    /// (closing it rolls the batch back); the batches before it stay done, as after a failed
    /// batch, and running the purge again finishes the job.
    pub async fn run_async<C>(&mut self, conn: &mut C) -> Result<PurgeReport, Error>
    where
        C: SqlConnection<crate::exec::NonBlocking>,
    {
        self.run_on(conn).await
    }

    /// [`dry_run`](Self::dry_run), awaited (see [`run_async`](Self::run_async)). Dropped half
    /// way, nothing of it stays: its one transaction is abandoned with the connection.
    pub async fn dry_run_async<C>(&mut self, conn: &mut C) -> Result<PurgeReport, Error>
    where
        C: SqlConnection<crate::exec::NonBlocking>,
    {
        self.dry_run_on(conn).await
    }
}

/// How a dry run's transaction ends: always rolled back, with the report or the error.
type DryRun = Rollback<Box<PurgeReport>>;
