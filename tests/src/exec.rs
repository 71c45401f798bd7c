//! Which executor a test body runs the library's operations on: [`Blocking`] (the test's sync
//! connection) or, in the async copy that [`backend_tests!`](crate::backend_tests) stamps out
//! of the same body, [`OnAsync`] (an async connection of the backend's diesel-async twin to the
//! same database, driven by a tokio runtime).
//!
//! A body written `fn name(db, x)` calls the operations through `x` (`x.purge(conn, &mut
//! purge)`), passing the sync connection it would use: the sync copy runs on it, the async
//! copy on its own async connection, with the same arguments and the same assertions after.

use std::fmt::Debug;

use diesel::query_builder::QueryFragment;
use diesel::{Column, QuerySource, Table};
use soft_delete_runtime::backend::RenderBackend;
use soft_delete_runtime::collector::ArchiveTable;
use soft_delete_runtime::deferred::{Reassign, ReassignOn, ReassignValue, Reassigned};
use soft_delete_runtime::purge::{Progress, Purge, PurgeReport};
use soft_delete_runtime::Error;

use crate::TestConnection;

/// The operations a test body runs through its executor `x`, on connection type `C`.
pub trait Exec<C: TestConnection> {
    /// Whether this is the async copy.
    const ASYNC: bool;

    /// [`Purge::run`], or `run_async` in the async copy.
    fn purge<T, P>(&mut self, conn: &mut C, purge: &mut Purge<T, P>) -> Result<PurgeReport, Error>
    where
        T: ArchiveTable,
        P: FnMut(&Progress<'_>) + Send;

    /// [`Purge::dry_run`], or `dry_run_async` in the async copy.
    fn dry_run<T, P>(
        &mut self,
        conn: &mut C,
        purge: &mut Purge<T, P>,
    ) -> Result<PurgeReport, Error>
    where
        T: ArchiveTable,
        P: FnMut(&Progress<'_>) + Send;

    /// Runs `sql` on the connection the operations run on (`conn`, or the async connection in
    /// the async copy): a session setting the operations must see.
    fn batch_execute(&mut self, conn: &mut C, sql: &str) -> diesel::QueryResult<()>;

    /// Records the SQL of every statement the operations run from now on (on `conn`, or on
    /// the async connection in the async copy); see [`record_statements`](crate::record_statements).
    fn record_statements(&mut self, conn: &mut C) -> std::sync::Arc<std::sync::Mutex<Vec<String>>>;
}

/// [`Reassign::run`] through a test's executor: `x.reassign(conn, reassign(col)..., moves)`.
/// A trait of its own (not a method of [`Exec`]) because each executor asks its own bound
/// of the connection, [`ReassignOn`] in its mode.
pub trait ReassignIn<C, Col: Column, S, Id, V> {
    /// [`Reassign::run`], or `run_async` in the async copy.
    fn reassign<I>(
        &mut self,
        conn: &mut C,
        reassign: Reassign<Col, S>,
        moves: I,
    ) -> Result<Reassigned, Error>
    where
        I: IntoIterator<Item = (Id, V)>;
}

impl<C, Col, S, Id, V> ReassignIn<C, Col, S, Id, V> for Blocking
where
    C: ReassignOn<soft_delete_runtime::exec::Blocking, Col, Id, V, S>,
    Col: Column<Table: Table<PrimaryKey: Column> + Default>,
    <Col::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    Id: Ord + Clone + Debug,
    V: ReassignValue,
    S: Clone,
{
    fn reassign<I>(
        &mut self,
        conn: &mut C,
        reassign: Reassign<Col, S>,
        moves: I,
    ) -> Result<Reassigned, Error>
    where
        I: IntoIterator<Item = (Id, V)>,
    {
        reassign.run(conn, moves)
    }
}

/// The async copy. Generic over the column, so that the bound of `run_async` is the
/// where-clause's, whose futures the compiler does not know to be `Send` (a spawned
/// reassignment, with its concrete types, is: see the `reassign` tests).
#[cfg(feature = "async")]
impl<C, Col, S, Id, V> ReassignIn<C, Col, S, Id, V> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    C::Async: ReassignOn<soft_delete_runtime::exec::NonBlocking, Col, Id, V, S>,
    Col: Column<Table: Table<PrimaryKey: Column> + Default>,
    <Col::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    Id: Ord + Clone + Debug,
    V: ReassignValue,
    S: Clone,
{
    fn reassign<I>(
        &mut self,
        _: &mut C,
        reassign: Reassign<Col, S>,
        moves: I,
    ) -> Result<Reassigned, Error>
    where
        I: IntoIterator<Item = (Id, V)>,
    {
        self.runtime
            .block_on(reassign.run_async(&mut self.conn, moves))
    }
}

/// The sync copy: every operation on the test's sync connection.
#[derive(Debug, Clone, Copy)]
pub struct Blocking;

/// [`Exec`] for each backend's connection: the sync calls, and the async ones.
macro_rules! per_backend {
    ($($feature:literal => $conn:ty),*) => {$(
        #[cfg(feature = $feature)]
        impl Exec<$conn> for Blocking {
            const ASYNC: bool = false;

            fn purge<T, P>(&mut self, conn: &mut $conn, purge: &mut Purge<T, P>) -> Result<PurgeReport, Error>
            where
                T: ArchiveTable,
                P: FnMut(&Progress<'_>) + Send,
            {
                purge.run(conn)
            }

            fn dry_run<T, P>(&mut self, conn: &mut $conn, purge: &mut Purge<T, P>) -> Result<PurgeReport, Error>
            where
                T: ArchiveTable,
                P: FnMut(&Progress<'_>) + Send,
            {
                purge.dry_run(conn)
            }

            fn batch_execute(&mut self, conn: &mut $conn, sql: &str) -> diesel::QueryResult<()> {
                diesel::connection::SimpleConnection::batch_execute(conn, sql)
            }

            fn record_statements(&mut self, conn: &mut $conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
                crate::record_statements(conn)
            }
        }

        #[cfg(all(feature = $feature, feature = "async"))]
        impl Exec<$conn> for OnAsync<$conn> {
            const ASYNC: bool = true;

            fn purge<T, P>(&mut self, _: &mut $conn, purge: &mut Purge<T, P>) -> Result<PurgeReport, Error>
            where
                T: ArchiveTable,
                P: FnMut(&Progress<'_>) + Send,
            {
                self.runtime.block_on(send(purge.run_async(&mut self.conn)))
            }

            fn dry_run<T, P>(&mut self, _: &mut $conn, purge: &mut Purge<T, P>) -> Result<PurgeReport, Error>
            where
                T: ArchiveTable,
                P: FnMut(&Progress<'_>) + Send,
            {
                self.runtime.block_on(send(purge.dry_run_async(&mut self.conn)))
            }

            fn batch_execute(&mut self, _: &mut $conn, sql: &str) -> diesel::QueryResult<()> {
                self.runtime.block_on(diesel_async::SimpleAsyncConnection::batch_execute(&mut self.conn, sql))
            }

            fn record_statements(&mut self, _: &mut $conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
                self.record()
            }
        }
    )*};
}

per_backend!(
    "sqlite" => diesel::SqliteConnection,
    "postgres" => diesel::PgConnection,
    "mysql" => diesel::MysqlConnection
);

/// `future`, checked to be `Send` (what `tokio::spawn` and an axum handler need).
#[cfg(feature = "async")]
fn send<F: std::future::Future + Send>(future: F) -> F {
    future
}

/// The async copy: a tokio runtime and an async connection to the test's database (guarded
/// like the test's own connections).
#[cfg(feature = "async")]
pub struct OnAsync<C: crate::asynchronous::AsyncTwin> {
    runtime: tokio::runtime::Runtime,
    conn: C::Async,
}

#[cfg(feature = "async")]
impl<C: crate::asynchronous::AsyncTwin> OnAsync<C> {
    /// Connects to `db`.
    pub fn open(db: &crate::TestDb<C>) -> Self {
        let runtime = crate::asynchronous::runtime();
        let conn = runtime.block_on(crate::asynchronous::connect(db));
        OnAsync { runtime, conn }
    }

    /// The async connection and the runtime, for a body that awaits something itself.
    pub fn parts(&mut self) -> (&tokio::runtime::Runtime, &mut C::Async) {
        (&self.runtime, &mut self.conn)
    }

    fn record(&mut self) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let guard = diesel_async::AsyncConnection::instrumentation(&mut self.conn)
            .downcast_mut::<crate::guard::TestGuard>()
            .expect("the async connection runs the test guard");
        guard.recorder = Some(std::sync::Arc::clone(&seen));
        seen
    }
}
