//! Running an operation on a connection, sync or async: the one place that knows the
//! difference.
//!
//! Every operation of this crate that talks to the database ([`start`], [`retry`], an archive, a
//! restore, a purge, a reassign, ...) is written once, as `async` code generic over a *mode*
//! `Mo` and a connection `C: Executor<Mo>`:
//!
//! - [`Blocking`]: Diesel's own connections ([`SqliteConnection`](diesel::SqliteConnection),
//!   [`PgConnection`](diesel::PgConnection), [`MysqlConnection`](diesel::MysqlConnection)). Each
//!   statement runs when it is called, and the future that stands for it is ready at once, so
//!   the sync API drives an operation to its end by polling it once (`drive`): no runtime, no
//!   thread, nothing allocated for it.
//! - [`NonBlocking`] (feature `async`): diesel-async's connections, awaited by the caller through
//!   [`crate::asynchronous`].
//!
//! An operation reaches the database only through the methods of [`Executor`], [`Execute`] and
//! [`Load`], so the two modes run the same statements, in the same transactions, with the same
//! errors. The transaction is `Transaction`: begun, committed or rolled back through the
//! connection's own transaction manager (a savepoint inside a transaction of the caller's), and
//! marked broken if the operation is dropped half way (an `async` caller cancelled it), so that
//! a pool discards the connection instead of handing out one with a transaction left open.
//!
//! [`start`]: crate::unique::ActiveUnique::start
//! [`retry`]: crate::unique::ActiveUnique::retry

mod blocking;
mod connection;
#[cfg(feature = "async")]
mod nonblocking;

use std::future::Future;
use std::marker::PhantomData;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use diesel::QueryResult;

use crate::backend::SupportedBackend;
use crate::Error;

pub use blocking::AnsiConnection;
pub use connection::SqlConnection;
#[cfg(feature = "async")]
pub use nonblocking::AsyncTarget;

/// The mode of Diesel's sync connections: every statement runs when it is called.
#[derive(Debug, Clone, Copy)]
pub enum Blocking {}

/// The mode of diesel-async's connections: statements are awaited.
#[cfg(feature = "async")]
#[derive(Debug, Clone, Copy)]
pub enum NonBlocking {}

/// How a transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// The connection's usual `BEGIN`.
    Plain,
    /// A transaction that writes what it read: the backend's
    /// [`BEGIN_WRITE`](SupportedBackend::BEGIN_WRITE) (`BEGIN IMMEDIATE` on SQLite, a `READ
    /// COMMITTED` transaction on MySQL/MariaDB, `BEGIN` on PostgreSQL).
    Write,
    /// A transaction that reads before it writes, at the connection's usual isolation:
    /// `BEGIN IMMEDIATE` on SQLite, the usual `BEGIN` elsewhere. On SQLite a transaction
    /// begun plainly that has read cannot wait for the write lock: its first write fails at
    /// once with "database is locked" while another connection writes, whatever the busy
    /// timeout. One that takes the lock first waits for the other writer as any writer does.
    Immediate,
}

impl Begin {
    /// The statement that begins it on a backend of `dialect`, or `None` for the
    /// connection's usual `BEGIN`.
    pub(crate) fn sql<DB: SupportedBackend>(self) -> Option<&'static str> {
        match (self, DB::DIALECT) {
            (Begin::Plain, _) => None,
            (Begin::Write, _) => Some(DB::BEGIN_WRITE),
            (Begin::Immediate, crate::backend::Dialect::Sqlite) => Some("BEGIN IMMEDIATE"),
            (Begin::Immediate, _) => None,
        }
    }
}

/// A connection an operation runs on, in mode `Mo` ([`Blocking`] or [`NonBlocking`]).
///
/// Implemented for Diesel's connections whose transactions are Diesel's
/// [`AnsiTransactionManager`](diesel::connection::AnsiTransactionManager) (all of Diesel's
/// own; for an r2d2 pooled connection pass the connection inside it, `&mut *pooled`), and
/// with the feature `async` for diesel-async's connections and their pooled connections
/// (deadpool, bb8).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run this crate's operations in this mode",
    label = "expected a Diesel connection (`SqliteConnection`, `PgConnection`, `MysqlConnection`), or with the feature `async` and `soft_delete_runtime::asynchronous` a diesel-async one",
    note = "for an r2d2 pooled connection pass the connection inside it: `&mut *pooled`"
)]
pub trait Executor<Mo>: Sized {
    /// The connection's backend.
    type Backend: SupportedBackend;

    /// Whether the caller can abandon an operation half way, between its statements or while
    /// one runs: an `async` caller drops its future ([`NonBlocking`]). The server still runs a
    /// statement already sent, and commits it if it is not inside a transaction; so a write that
    /// must not outlive an abandoned operation runs in a transaction there, which the abandoned
    /// connection never commits (an operation's transaction marks the connection broken when
    /// it is dropped open).
    const ABANDONABLE: bool;

    /// Begins a transaction, or a savepoint inside an open one.
    fn begin(&mut self, begin: Begin) -> impl Future<Output = QueryResult<()>>;
    /// Commits the innermost transaction (or releases its savepoint).
    fn commit(&mut self) -> impl Future<Output = QueryResult<()>>;
    /// Rolls the innermost transaction (or savepoint) back.
    fn rollback(&mut self) -> impl Future<Output = QueryResult<()>>;
    /// Whether a transaction is open (a broken transaction manager counts as open: nothing may
    /// be begun on it).
    fn in_transaction(&mut self) -> bool;
    /// Whether the connection's transaction manager is broken: an operation abandoned its
    /// transaction on it ([`mark_broken`](Self::mark_broken)), or a rollback failed.
    fn is_broken(&mut self) -> bool;
    /// Marks the connection's transaction manager broken: its transaction was abandoned.
    fn mark_broken(&mut self);
    /// Runs SQL text without binds (one statement or several separated by `;`).
    fn batch_execute<'a>(&'a mut self, sql: &'a str) -> impl Future<Output = QueryResult<()>> + 'a;
    /// Waits `duration` (between retries): the thread sleeps in [`Blocking`] mode, a timer
    /// runs in [`NonBlocking`] mode.
    fn pause(&mut self, duration: Duration) -> impl Future<Output = ()>;
}

/// The backend of connection `C` in mode `Mo`.
pub type BackendOf<Mo, C> = <C as Executor<Mo>>::Backend;

/// Running statement `Q`, which returns no rows, on a connection in mode `Mo`.
///
/// Neither this trait nor [`Load`] has a lifetime parameter or a method with a lifetime bound
/// (`where Q: 'a`): an operation's future holds theirs across `.await`s, and rustc proves such
/// a future `Send` for every lifetime it erased there, which a bound on one lifetime fails
/// (rust-lang/rust#100013: "implementation of `Send` is not general enough"). The
/// [`NonBlocking`] impls ask for `Q: 'static` instead, where the statement's type is concrete.
pub trait Execute<Mo, Q>: Executor<Mo> {
    /// Runs `query`; returns the rows it changed.
    fn execute(&mut self, query: Q) -> impl Future<Output = QueryResult<usize>>;
}

/// Loading rows `U` of query `Q` on a connection in mode `Mo` (see [`Execute`] on lifetimes).
pub trait Load<Mo, Q, U>: Executor<Mo> {
    /// Runs `query`; returns its rows.
    fn load(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>>;
}

/// Runs an operation of [`Blocking`] mode to its end: every future of a blocking connection is
/// ready when it is first polled, so one poll does it, on this thread, with no runtime.
pub(crate) fn drive<F: Future>(operation: F) -> F::Output {
    let mut operation = pin!(operation);
    match operation
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => output,
        // The futures of `Blocking` executors are `std::future::Ready`, and operations await
        // nothing else: an operation that is not done after one poll is a bug of this crate.
        Poll::Pending => unreachable!("an operation on a blocking connection waited"),
    }
}

/// An open transaction of an operation, on connection `C`.
///
/// [`begin`](Self::begin) opens it, [`finish`](Self::finish) commits it when the body succeeded
/// and rolls it back otherwise. Dropped in between (an `async` caller dropped the operation's
/// future, or a panic unwound through it), it marks the connection's transaction manager
/// broken: the transaction is still open on the server, and a broken connection is what pools
/// discard (deadpool and bb8 check it before handing a connection out again) and what Diesel
/// refuses to begin a transaction on, rather than running the next statements inside it.
pub(crate) struct Transaction<'c, Mo, C: Executor<Mo>> {
    conn: &'c mut C,
    open: bool,
    _mode: PhantomData<fn() -> Mo>,
}

impl<'c, Mo, C: Executor<Mo>> Transaction<'c, Mo, C> {
    /// Begins a transaction on `conn` (a savepoint when one is open).
    ///
    /// The guard is armed while the `BEGIN` runs: dropped there, the statement may have reached
    /// the server (or, on SQLite, still runs to its end on the blocking pool), and the
    /// connection would be left in a transaction nobody owns, which the next operation would
    /// take for its caller's and write into without committing. It is marked broken instead.
    pub(crate) async fn begin(conn: &'c mut C, begin: Begin) -> QueryResult<Self> {
        let mut transaction = Transaction {
            conn,
            open: true,
            _mode: PhantomData,
        };
        if let Err(error) = transaction.conn.begin(begin).await {
            // The `BEGIN` failed and returned: nothing is open that was not before.
            transaction.open = false;
            return Err(error);
        }
        Ok(transaction)
    }

    /// The connection, to run the transaction's statements on.
    pub(crate) fn conn(&mut self) -> &mut C {
        self.conn
    }

    /// Commits when `outcome` is `Ok`, rolls back otherwise, and returns `outcome` (or the
    /// commit's error; a failed rollback's error only when the connection can tell no better).
    pub(crate) async fn finish<T, E>(self, outcome: Result<T, E>) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        self.finish_or(outcome, E::from).await
    }

    /// [`finish`](Self::finish), with the error of the `COMMIT` itself (every statement of the
    /// body succeeded: a constraint whose check was deferred refused it) made by `at_commit`.
    pub(crate) async fn finish_or<T, E>(
        mut self,
        outcome: Result<T, E>,
        at_commit: impl FnOnce(diesel::result::Error) -> E,
    ) -> Result<T, E>
    where
        E: From<diesel::result::Error>,
    {
        let result = match outcome {
            Ok(value) => self.conn.commit().await.map(|()| value).map_err(at_commit),
            Err(error) => match self.conn.rollback().await {
                Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                Err(rollback) => Err(E::from(rollback)),
            },
        };
        self.open = false;
        result
    }
}

/// Why a transaction's body did not commit: it failed, or it chose to roll back and hand the
/// operation a value (a retry lost to a concurrent writer, a purge batch too large, a dry run's
/// report). Returned as the body's error, so that [`Transaction::finish`] rolls back.
pub(crate) enum Rollback<T> {
    /// The body failed with this error.
    Failed(Error),
    /// The body asked for the rollback; the operation goes on with this.
    Undo(T),
}

impl<T> From<diesel::result::Error> for Rollback<T> {
    fn from(error: diesel::result::Error) -> Self {
        Rollback::Failed(error.into())
    }
}

impl<T> From<Error> for Rollback<T> {
    fn from(error: Error) -> Self {
        Rollback::Failed(error)
    }
}

impl<Mo, C: Executor<Mo>> Drop for Transaction<'_, Mo, C> {
    fn drop(&mut self) {
        if self.open {
            self.conn.mark_broken();
        }
    }
}
