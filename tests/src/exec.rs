//! Which executor a test body runs the library's operations on: [`Blocking`] (the test's sync
//! connection) or, in the async copy that [`backend_tests!`](crate::backend_tests) stamps out
//! of the same body, [`OnAsync`] (an async connection of the backend's diesel-async twin to the
//! same database, driven by a tokio runtime).
//!
//! A body written `fn name(db, x)` calls the operations through `x` (`x.purge(conn, &mut
//! purge)`, `x.archive(conn, &collector)`, `KeysIn::<_, Model, _, _>::retry(x, conn, key,
//! build)`, `RestoreIn::<_, Model, _>::restore_row(x, conn, &row)`), passing the sync connection it would use: the sync
//! copy runs on it, the async copy on its own async connection, with the same arguments and
//! the same assertions after.

use std::fmt::Debug;

use diesel::connection::Instrumentation;
use diesel::query_builder::QueryFragment;
#[cfg(feature = "async")]
use diesel::query_dsl::methods::FindDsl;
use diesel::Identifiable;
use diesel::{Column, QuerySource, Table};
use soft_delete_runtime::__private::unique::{
    KeyGuard, KeyInsert, KeyMerge, KeyOps, KeyRenew, KeyUpdate, NoChanges,
};
#[cfg(feature = "async")]
use soft_delete_runtime::asynchronous::{ActiveUniqueAsync, SoftDeleteAsync};
use soft_delete_runtime::backend::RenderBackend;
use soft_delete_runtime::collector::{
    ArchiveEntry, ArchiveList, ArchiveTable, Archived, Batch, Collector, Plan, Restored,
    SchemaReport,
};
use soft_delete_runtime::deferred::{Constraints, Reassign, ReassignOn, ReassignValue, Reassigned};
use soft_delete_runtime::dsl;
use soft_delete_runtime::exec::Execute;
use soft_delete_runtime::exec::SqlConnection;
use soft_delete_runtime::purge::{Progress, Purge, PurgeReport};
use soft_delete_runtime::schema::{Report, Schema};
use soft_delete_runtime::table::SoftDeleteMarker;
use soft_delete_runtime::unique::{ActiveUnique, OneStatementBackend};
use soft_delete_runtime::write::{AlsoSet, Marked, SoftDeleteTarget};
use soft_delete_runtime::Error;
use soft_delete_runtime::{SoftDelete, SoftDeleteTable};

use crate::TestConnection;

/// The operations a test body runs through its executor `x`, on connection type `C`.
///
/// The collector's operations ask of [`Target`](Self::Target) what the library asks of the
/// connection in [`Mode`](Self::Mode): in the async copy that includes `'static` roots (a
/// `Collector::new(&model)` there borrows a model that lives as long: see [`leak`]).
pub trait Exec<C: TestConnection>: ExecKind {
    /// The mode of `soft_delete_runtime::exec` the operations run in.
    type Mode;

    /// The connection they run on: `C`, or its diesel-async twin.
    type Target;

    /// [`Collector::preview`], or `preview_async` in the async copy.
    fn preview<T, R>(&mut self, conn: &mut C, collector: &Collector<T, R>) -> Result<Plan, Error>
    where
        T: ArchiveTable,
        Self::Target: SqlConnection<Self::Mode, R>;

    /// [`Collector::archive`], or `archive_async` in the async copy.
    fn archive<T, R>(
        &mut self,
        conn: &mut C,
        collector: &Collector<T, R>,
    ) -> Result<Archived<T>, Error>
    where
        T: ArchiveTable,
        Self::Target: SqlConnection<Self::Mode, R>;

    /// [`Batch::restore`], or `restore_async` in the async copy.
    fn restore<T>(&mut self, conn: &mut C, batch: Batch<T>) -> Result<Restored, Error>
    where
        T: ArchiveTable,
        Self::Target: SqlConnection<Self::Mode>;

    /// [`Batch::restore_by`], or `restore_by_async` in the async copy.
    fn restore_by<T>(&mut self, conn: &mut C, batch: Batch<T>, by: &str) -> Result<Restored, Error>
    where
        T: ArchiveTable,
        Self::Target: SqlConnection<Self::Mode>;

    /// [`Batch::find`], or `find_async` in the async copy.
    fn find_batch<T>(&mut self, conn: &mut C, id: i64) -> Result<Batch<T>, Error>
    where
        T: ArchiveTable,
        Self::Target: SqlConnection<Self::Mode>;

    /// [`find_archive`](soft_delete_runtime::collector::find_archive), or `find_archive_async`
    /// in the async copy.
    fn find_archive(&mut self, conn: &mut C, id: i64) -> Result<ArchiveEntry, Error>
    where
        Self::Target: SqlConnection<Self::Mode>;

    /// [`ArchiveList::load`], or `load_async` in the async copy.
    fn load_archives(
        &mut self,
        conn: &mut C,
        list: &ArchiveList,
    ) -> Result<Vec<ArchiveEntry>, Error>
    where
        Self::Target: SqlConnection<Self::Mode>;

    /// [`check_schema`](soft_delete_runtime::collector::check_schema), or `check_schema_async`
    /// in the async copy.
    fn check_schema<T>(&mut self, conn: &mut C) -> Result<SchemaReport, Error>
    where
        T: ArchiveTable,
        Self::Target: SqlConnection<Self::Mode>;

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

    /// [`Schema::verify`], or `verify_async` in the async copy.
    fn verify_schema(&mut self, conn: &mut C, schema: &Schema) -> Result<Report, Error>
    where
        Self::Target: SqlConnection<Self::Mode>;

    /// An executor for a second connection to the test's database, which the body opened with
    /// `db.connect()` (guarded): the sync copy runs on that connection (what the body passes),
    /// the async copy on a new guarded async connection to the same database.
    fn beside(&self, db: &crate::TestDb<C>) -> Self;

    /// Runs `sql` on the connection the operations run on (`conn`, or the async connection in
    /// the async copy): a session setting the operations must see.
    fn batch_execute(&mut self, conn: &mut C, sql: &str) -> diesel::QueryResult<()>;

    /// Records the SQL of every statement the operations run from now on (on `conn`, or on
    /// the async connection in the async copy); see [`record_statements`](crate::record_statements).
    fn record_statements(&mut self, conn: &mut C) -> std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    /// Records the SQL of every statement the connection the operations run on prepares and
    /// adds to its statement cache from now on; see
    /// [`record_cached_statements`](crate::record_cached_statements).
    fn record_cached_statements(
        &mut self,
        conn: &mut C,
    ) -> std::sync::Arc<std::sync::Mutex<Vec<String>>>;

    /// Replaces the instrumentation of the connection the operations run on (`conn`, or the
    /// async connection in the async copy): a hook that acts at an exact point of an operation,
    /// or none (which ends the test guard's checks and any recording there).
    fn set_instrumentation(&mut self, conn: &mut C, instrumentation: impl Instrumentation);

    /// `SELECT <expression>`, a text, on the connection the operations run on: a session
    /// setting an operation must leave as it found it.
    fn select_text(&mut self, conn: &mut C, expression: &str) -> diesel::QueryResult<String>;

    /// Runs `body` inside a transaction of the caller's on the connection the operations run
    /// on: `conn.transaction(...)`, or in the async copy the async connection's transaction
    /// manager (begun, then committed when `body` succeeds and rolled back when it fails), so
    /// that the operations `body` runs through the executor see an open transaction.
    fn transaction<T>(
        &mut self,
        conn: &mut C,
        body: impl FnOnce(&mut Self, &mut C) -> Result<T, Error>,
    ) -> Result<T, Error>;

    /// [`deferred::transaction`](soft_delete_runtime::deferred::transaction), or
    /// `transaction_async` in the async copy, whose body runs `statements` in order (each
    /// with `batch_execute`, awaited in the async copy) and counts in `ran` those that
    /// succeeded: a body that is data, since the async body is a future.
    fn deferred_transaction(
        &mut self,
        conn: &mut C,
        constraints: Constraints,
        statements: &[&str],
        ran: &std::cell::Cell<usize>,
    ) -> Result<(), Error>;
}

/// What an executor is, whatever the connection: for the body to ask, or to make another one.
pub trait ExecKind: Sized {
    /// Whether this is the async copy (for a body that passes it on, to a worker process say).
    fn is_async(&self) -> bool;

    /// An executor for another connection the body opened itself to `url` (`other`, say,
    /// as another role): the sync copy runs on `other` (what it passes), the async copy on a new
    /// async connection to `url`, without the test guard. For a second connection to the
    /// test's own database, [`Exec::beside`] keeps the guard.
    fn elsewhere(&self, url: &str) -> Self;
}

impl ExecKind for Blocking {
    fn is_async(&self) -> bool {
        false
    }

    fn elsewhere(&self, _: &str) -> Self {
        Blocking
    }
}

#[cfg(feature = "async")]
impl<C: crate::asynchronous::AsyncTwin> ExecKind for OnAsync<C> {
    fn is_async(&self) -> bool {
        true
    }

    fn elsewhere(&self, url: &str) -> Self {
        OnAsync::connect(url)
    }
}

/// `model`, kept for the rest of the test process: a model whose reference the roots of a
/// `Collector::new(&model)` hold, which the async API takes only when it is `'static` (its
/// statements are awaited on a connection that outlives any borrow of the caller's).
pub fn leak<M>(model: M) -> &'static M {
    Box::leak(Box::new(model))
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

/// The operations of an active-unique key `K` of model `M` whose new rows are `N`, through a
/// test's executor: `x.start(conn, key, build)`, `x.retry(conn, key, build)`,
/// `x.upsert(conn, key, insert, update)`. A trait of its own (not a method of [`Exec`]) because
/// each executor asks its own bound of the connection, in its mode.
pub trait KeysIn<C, M: ActiveUnique<K>, K, N> {
    /// [`ActiveUnique::start`], or `start_async` in the async copy.
    fn start(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut(M::Counter) -> N,
    ) -> Result<M, Error>;

    /// [`ActiveUnique::retry`], or `retry_async` in the async copy.
    fn retry(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut(&M, M::Counter) -> N,
    ) -> Result<M, Error>;

    /// [`ActiveUnique::upsert`], or `upsert_async` in the async copy.
    fn upsert<U>(
        &mut self,
        conn: &mut C,
        key: M::Value,
        insert: impl FnMut(M::Counter) -> N,
        update: impl FnMut(&M) -> U,
    ) -> Result<M, Error>
    where
        M: KeyUpdate<K, Self::Mode, Self::Target, U>;

    /// The mode of `soft_delete_runtime::exec` the operations run in.
    type Mode;
    /// The connection they run on: `C`, or its diesel-async twin.
    type Target;
}

impl<C, M, K, N> KeysIn<C, M, K, N> for Blocking
where
    C: soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::Blocking>,
    M: KeyInsert<K, soft_delete_runtime::exec::Blocking, C, N>,
{
    type Mode = soft_delete_runtime::exec::Blocking;
    type Target = C;

    fn start(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut(M::Counter) -> N,
    ) -> Result<M, Error> {
        M::start(conn, key, build)
    }

    fn retry(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut(&M, M::Counter) -> N,
    ) -> Result<M, Error> {
        M::retry(conn, key, build)
    }

    fn upsert<U>(
        &mut self,
        conn: &mut C,
        key: M::Value,
        insert: impl FnMut(M::Counter) -> N,
        update: impl FnMut(&M) -> U,
    ) -> Result<M, Error>
    where
        M: KeyUpdate<K, Self::Mode, Self::Target, U>,
    {
        M::upsert(conn, key, insert, update)
    }
}

#[cfg(feature = "async")]
impl<C, M, K, N> KeysIn<C, M, K, N> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    C::Async: soft_delete_runtime::exec::AsyncTarget,
    M: KeyInsert<K, soft_delete_runtime::exec::NonBlocking, C::Async, N>,
{
    type Mode = soft_delete_runtime::exec::NonBlocking;
    type Target = C::Async;

    fn start(
        &mut self,
        _: &mut C,
        key: M::Value,
        build: impl FnMut(M::Counter) -> N,
    ) -> Result<M, Error> {
        self.runtime
            .block_on(M::start_async(&mut self.conn, key, build))
    }

    fn retry(
        &mut self,
        _: &mut C,
        key: M::Value,
        build: impl FnMut(&M, M::Counter) -> N,
    ) -> Result<M, Error> {
        self.runtime
            .block_on(M::retry_async(&mut self.conn, key, build))
    }

    fn upsert<U>(
        &mut self,
        _: &mut C,
        key: M::Value,
        insert: impl FnMut(M::Counter) -> N,
        update: impl FnMut(&M) -> U,
    ) -> Result<M, Error>
    where
        M: KeyUpdate<K, Self::Mode, Self::Target, U>,
    {
        self.runtime
            .block_on(M::upsert_async(&mut self.conn, key, insert, update))
    }
}

/// [`ActiveUnique::retry_new`] of key `K` of model `M` through a test's executor (PostgreSQL
/// only): `RenewIn::<_, Model, _, _>::retry_new(x, conn, key, build)`.
pub trait RenewIn<C, M: ActiveUnique<K>, K, N> {
    /// [`ActiveUnique::retry_new`], or `retry_new_async` in the async copy.
    fn retry_new(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut() -> N,
    ) -> Result<M, Error>;
}

impl<C, M, K, N> RenewIn<C, M, K, N> for Blocking
where
    C: soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::Blocking>,
    C::Backend: OneStatementBackend,
    M: KeyRenew<K, soft_delete_runtime::exec::Blocking, C, N>,
{
    fn retry_new(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut() -> N,
    ) -> Result<M, Error> {
        M::retry_new(conn, key, build)
    }
}

#[cfg(feature = "async")]
impl<C, M, K, N> RenewIn<C, M, K, N> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    C::Async: soft_delete_runtime::exec::AsyncTarget,
    <C::Async as soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::NonBlocking>>::Backend:
        OneStatementBackend,
    M: KeyRenew<K, soft_delete_runtime::exec::NonBlocking, C::Async, N>,
{
    fn retry_new(
        &mut self,
        _: &mut C,
        key: M::Value,
        build: impl FnMut() -> N,
    ) -> Result<M, Error> {
        self.runtime
            .block_on(M::retry_new_async(&mut self.conn, key, build))
    }
}

/// [`ActiveUnique::start_new`] of key `K` of model `M` through a test's executor (PostgreSQL
/// only): `FreshIn::<_, Model, _, _>::start_new(x, conn, key, build)`.
pub trait FreshIn<C, M: ActiveUnique<K>, K, N> {
    /// [`ActiveUnique::start_new`], or `start_new_async` in the async copy.
    fn start_new(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut() -> N,
    ) -> Result<M, Error>;
}

impl<C, M, K, N> FreshIn<C, M, K, N> for Blocking
where
    C: soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::Blocking>,
    C::Backend: OneStatementBackend,
    M: KeyMerge<K, soft_delete_runtime::exec::Blocking, C, N, NoChanges<<M as SoftDelete>::Table>>,
{
    fn start_new(
        &mut self,
        conn: &mut C,
        key: M::Value,
        build: impl FnMut() -> N,
    ) -> Result<M, Error> {
        M::start_new(conn, key, build)
    }
}

#[cfg(feature = "async")]
impl<C, M, K, N> FreshIn<C, M, K, N> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    C::Async: soft_delete_runtime::exec::AsyncTarget,
    <C::Async as soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::NonBlocking>>::Backend:
        OneStatementBackend,
    M: KeyMerge<K, soft_delete_runtime::exec::NonBlocking, C::Async, N, NoChanges<<M as SoftDelete>::Table>>,
{
    fn start_new(
        &mut self,
        _: &mut C,
        key: M::Value,
        build: impl FnMut() -> N,
    ) -> Result<M, Error> {
        self.runtime
            .block_on(M::start_new_async(&mut self.conn, key, build))
    }
}

/// [`ActiveUnique::upsert_new`] of key `K` of model `M` through a test's executor (PostgreSQL
/// only): `MergeIn::<_, Model, _, _, _>::upsert_new(x, conn, key, insert, update)`.
pub trait MergeIn<C, M: ActiveUnique<K>, K, N, U> {
    /// [`ActiveUnique::upsert_new`], or `upsert_new_async` in the async copy.
    fn upsert_new(
        &mut self,
        conn: &mut C,
        key: M::Value,
        insert: impl FnMut() -> N,
        update: impl FnMut() -> U,
    ) -> Result<M, Error>;
}

impl<C, M, K, N, U> MergeIn<C, M, K, N, U> for Blocking
where
    C: soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::Blocking>,
    C::Backend: OneStatementBackend,
    M: KeyMerge<K, soft_delete_runtime::exec::Blocking, C, N, U>,
{
    fn upsert_new(
        &mut self,
        conn: &mut C,
        key: M::Value,
        insert: impl FnMut() -> N,
        update: impl FnMut() -> U,
    ) -> Result<M, Error> {
        M::upsert_new(conn, key, insert, update)
    }
}

#[cfg(feature = "async")]
impl<C, M, K, N, U> MergeIn<C, M, K, N, U> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    C::Async: soft_delete_runtime::exec::AsyncTarget,
    <C::Async as soft_delete_runtime::exec::Executor<soft_delete_runtime::exec::NonBlocking>>::Backend:
        OneStatementBackend,
    M: KeyMerge<K, soft_delete_runtime::exec::NonBlocking, C::Async, N, U>,
{
    fn upsert_new(
        &mut self,
        _: &mut C,
        key: M::Value,
        insert: impl FnMut() -> N,
        update: impl FnMut() -> U,
    ) -> Result<M, Error> {
        self.runtime
            .block_on(M::upsert_new_async(&mut self.conn, key, insert, update))
    }
}

/// The reads of an active-unique key `K` of model `M` through a test's executor:
/// `FindIn::<_, Model, _>::find_live(x, conn, key)` and `history`. A trait apart from
/// [`KeysIn`], whose new-row type they do not have.
pub trait FindIn<C, M: ActiveUnique<K>, K> {
    /// [`ActiveUnique::find_live`], or `find_live_async` in the async copy.
    fn find_live(&mut self, conn: &mut C, key: M::Value) -> Result<Option<M>, Error>;

    /// [`ActiveUnique::history`], or `history_async` in the async copy.
    fn history(&mut self, conn: &mut C, key: M::Value) -> Result<Vec<M>, Error>;
}

impl<C, M, K> FindIn<C, M, K> for Blocking
where
    M: KeyOps<K, soft_delete_runtime::exec::Blocking, C>,
{
    fn find_live(&mut self, conn: &mut C, key: M::Value) -> Result<Option<M>, Error> {
        M::find_live(conn, key)
    }

    fn history(&mut self, conn: &mut C, key: M::Value) -> Result<Vec<M>, Error> {
        M::history(conn, key)
    }
}

#[cfg(feature = "async")]
impl<C, M, K> FindIn<C, M, K> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    M: KeyOps<K, soft_delete_runtime::exec::NonBlocking, C::Async>,
{
    fn find_live(&mut self, _: &mut C, key: M::Value) -> Result<Option<M>, Error> {
        self.runtime
            .block_on(M::find_live_async(&mut self.conn, key))
    }

    fn history(&mut self, _: &mut C, key: M::Value) -> Result<Vec<M>, Error> {
        self.runtime.block_on(M::history_async(&mut self.conn, key))
    }
}

/// The by-value restore of a row of model `M`, which checks the row's active-unique keys
/// ([`SoftDelete::restore`]), through a test's executor:
/// `RestoreIn::<_, Model, _>::restore_row(x, conn, &row)`. `Id` is the model's primary key, which
/// the async restore copies out of the row.
pub trait RestoreIn<C, M, Id> {
    /// [`SoftDelete::restore`], or `restore_async` in the async copy.
    fn restore_row(&mut self, conn: &mut C, row: &M) -> Result<usize, Error>;
}

/// The primary marker of model `M`.
type MarkerOf<M> = <<M as SoftDelete>::Table as SoftDeleteTable>::Marker;

impl<C, M, Id> RestoreIn<C, M, Id> for Blocking
where
    M: SoftDelete,
    for<'a> &'a M:
        Identifiable<Id = &'a Id> + SoftDeleteTarget<Table = M::Table, Marker = MarkerOf<M>>,
    for<'a> C: Execute<soft_delete_runtime::exec::Blocking, dsl::Restore<&'a M>>,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::Blocking, C>,
{
    fn restore_row(&mut self, conn: &mut C, row: &M) -> Result<usize, Error> {
        row.restore(conn)
    }
}

#[cfg(feature = "async")]
impl<C, M, Id> RestoreIn<C, M, Id> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    M: SoftDelete,
    for<'a> &'a M: Identifiable<Id = &'a Id>,
    Id: Clone,
    M::Table: FindDsl<Id> + Default,
    dsl::Find<M::Table, Id>: SoftDeleteTarget<Table = M::Table, Marker = MarkerOf<M>>,
    C::Async:
        Execute<soft_delete_runtime::exec::NonBlocking, dsl::Restore<dsl::Find<M::Table, Id>>>,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::NonBlocking, C::Async>,
{
    fn restore_row(&mut self, _: &mut C, row: &M) -> Result<usize, Error> {
        self.runtime.block_on(row.restore_async(&mut self.conn))
    }
}

/// A Diesel statement (a bulk write, a by-value write, ...) through a test's executor:
/// `x.execute(conn, soft_delete(target))` runs it with `diesel::RunQueryDsl` on `conn`, or with
/// `diesel_async::RunQueryDsl` on the async connection in the async copy, as an async caller
/// runs the library's statements.
pub trait ExecuteIn<C, Q> {
    /// `query.execute(conn)`, or `query.execute(conn).await` in the async copy.
    fn execute(&mut self, conn: &mut C, query: Q) -> diesel::QueryResult<usize>;
}

impl<C, Q> ExecuteIn<C, Q> for Blocking
where
    C: diesel::Connection,
    Q: diesel::query_dsl::methods::ExecuteDsl<C>,
{
    fn execute(&mut self, conn: &mut C, query: Q) -> diesel::QueryResult<usize> {
        diesel::query_dsl::methods::ExecuteDsl::execute(query, conn)
    }
}

#[cfg(feature = "async")]
impl<C, Q> ExecuteIn<C, Q> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    Q: diesel_async::methods::ExecuteDsl<C::Async>,
{
    fn execute(&mut self, _: &mut C, query: Q) -> diesel::QueryResult<usize> {
        self.runtime
            .block_on(diesel_async::RunQueryDsl::execute(query, &mut self.conn))
    }
}

/// The by-value restore that also sets other columns ([`SoftDelete::restore_and_set`]), which
/// checks the row's active-unique keys, through a test's executor:
/// `RestoreAndSetIn::<_, Model, _, _>::restore_and_set_row(x, conn, &row, changes)`.
pub trait RestoreAndSetIn<C, M, Id, Changes> {
    /// [`SoftDelete::restore_and_set`], or `restore_and_set_async` in the async copy.
    fn restore_and_set_row(
        &mut self,
        conn: &mut C,
        row: &M,
        changes: Changes,
    ) -> Result<usize, Error>;
}

impl<C, M, Id, Changes> RestoreAndSetIn<C, M, Id, Changes> for Blocking
where
    M: SoftDelete,
    for<'a> &'a M:
        Identifiable<Id = &'a Id> + SoftDeleteTarget<Table = M::Table, Marker = MarkerOf<M>>,
    for<'a> Changes: AlsoSet<&'a M> + Clone,
    for<'a> C: Execute<soft_delete_runtime::exec::Blocking, dsl::RestoreAndSet<&'a M, Changes>>,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::Blocking, C>,
{
    fn restore_and_set_row(
        &mut self,
        conn: &mut C,
        row: &M,
        changes: Changes,
    ) -> Result<usize, Error> {
        row.restore_and_set(conn, changes)
    }
}

#[cfg(feature = "async")]
impl<C, M, Id, Changes> RestoreAndSetIn<C, M, Id, Changes> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    M: SoftDelete,
    for<'a> &'a M: Identifiable<Id = &'a Id>,
    Id: Clone,
    M::Table: FindDsl<Id> + Default,
    dsl::Find<M::Table, Id>: SoftDeleteTarget<Table = M::Table, Marker = MarkerOf<M>>,
    Changes: AlsoSet<dsl::Find<M::Table, Id>> + Clone,
    C::Async: Execute<
        soft_delete_runtime::exec::NonBlocking,
        dsl::RestoreAndSet<dsl::Find<M::Table, Id>, Changes>,
    >,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::NonBlocking, C::Async>,
{
    fn restore_and_set_row(
        &mut self,
        _: &mut C,
        row: &M,
        changes: Changes,
    ) -> Result<usize, Error> {
        self.runtime
            .block_on(row.restore_and_set_async(&mut self.conn, changes))
    }
}

/// The by-value restore of a row of model `M` through marker `Mk` of its choice
/// ([`Marked::restore`]: `row.marker(col).restore(conn)`), which checks the row's active-unique
/// keys when the row becomes live, through a test's executor:
/// `MarkedRestoreIn::<_, Model, _, _>::restore_marked(x, conn, &row, col)`.
pub trait MarkedRestoreIn<C, M, Id, Mk> {
    /// [`Marked::restore`], or `restore_async` in the async copy.
    fn restore_marked(&mut self, conn: &mut C, row: &M, marker: Mk) -> Result<usize, Error>;
}

impl<C, M, Id, Mk> MarkedRestoreIn<C, M, Id, Mk> for Blocking
where
    M: SoftDelete,
    Mk: SoftDeleteMarker<Table = M::Table>,
    for<'a> &'a M: Identifiable<Id = &'a Id>,
    for<'a> Marked<Mk, &'a M>: SoftDeleteTarget<Marker = Mk>,
    for<'a> C: Execute<soft_delete_runtime::exec::Blocking, dsl::Restore<Marked<Mk, &'a M>>>,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::Blocking, C>,
{
    fn restore_marked(&mut self, conn: &mut C, row: &M, marker: Mk) -> Result<usize, Error> {
        row.marker(marker).restore(conn)
    }
}

#[cfg(feature = "async")]
impl<C, M, Id, Mk> MarkedRestoreIn<C, M, Id, Mk> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    M: SoftDelete,
    Mk: SoftDeleteMarker<Table = M::Table>,
    for<'a> &'a M: Identifiable<Id = &'a Id>,
    Id: Clone,
    M::Table: FindDsl<Id> + Default,
    Marked<Mk, dsl::Find<M::Table, Id>>: SoftDeleteTarget<Marker = Mk>,
    C::Async: Execute<
        soft_delete_runtime::exec::NonBlocking,
        dsl::Restore<Marked<Mk, dsl::Find<M::Table, Id>>>,
    >,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::NonBlocking, C::Async>,
{
    fn restore_marked(&mut self, _: &mut C, row: &M, marker: Mk) -> Result<usize, Error> {
        self.runtime
            .block_on(row.marker(marker).restore_async(&mut self.conn))
    }
}

/// The by-value restore through a marker that also sets other columns
/// ([`Marked::restore_and_set`]), through a test's executor:
/// `MarkedRestoreAndSetIn::<_, Model, _, _, _>::restore_marked_and_set(x, conn, &row, col, changes)`.
pub trait MarkedRestoreAndSetIn<C, M, Id, Mk, Changes> {
    /// [`Marked::restore_and_set`], or `restore_and_set_async` in the async copy.
    fn restore_marked_and_set(
        &mut self,
        conn: &mut C,
        row: &M,
        marker: Mk,
        changes: Changes,
    ) -> Result<usize, Error>;
}

impl<C, M, Id, Mk, Changes> MarkedRestoreAndSetIn<C, M, Id, Mk, Changes> for Blocking
where
    M: SoftDelete,
    Mk: SoftDeleteMarker<Table = M::Table>,
    for<'a> &'a M: Identifiable<Id = &'a Id>,
    for<'a> Marked<Mk, &'a M>: SoftDeleteTarget<Marker = Mk>,
    for<'a> Changes: AlsoSet<Marked<Mk, &'a M>> + Clone,
    for<'a> C: Execute<
        soft_delete_runtime::exec::Blocking,
        dsl::RestoreAndSet<Marked<Mk, &'a M>, Changes>,
    >,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::Blocking, C>,
{
    fn restore_marked_and_set(
        &mut self,
        conn: &mut C,
        row: &M,
        marker: Mk,
        changes: Changes,
    ) -> Result<usize, Error> {
        row.marker(marker).restore_and_set(conn, changes)
    }
}

#[cfg(feature = "async")]
impl<C, M, Id, Mk, Changes> MarkedRestoreAndSetIn<C, M, Id, Mk, Changes> for OnAsync<C>
where
    C: crate::asynchronous::AsyncTwin,
    M: SoftDelete,
    Mk: SoftDeleteMarker<Table = M::Table>,
    for<'a> &'a M: Identifiable<Id = &'a Id>,
    Id: Clone,
    M::Table: FindDsl<Id> + Default,
    Marked<Mk, dsl::Find<M::Table, Id>>: SoftDeleteTarget<Marker = Mk>,
    Changes: AlsoSet<Marked<Mk, dsl::Find<M::Table, Id>>> + Clone,
    C::Async: Execute<
        soft_delete_runtime::exec::NonBlocking,
        dsl::RestoreAndSet<Marked<Mk, dsl::Find<M::Table, Id>>, Changes>,
    >,
    M::ActiveUniqueKeys: KeyGuard<M, soft_delete_runtime::exec::NonBlocking, C::Async>,
{
    fn restore_marked_and_set(
        &mut self,
        _: &mut C,
        row: &M,
        marker: Mk,
        changes: Changes,
    ) -> Result<usize, Error> {
        self.runtime.block_on(
            row.marker(marker)
                .restore_and_set_async(&mut self.conn, changes),
        )
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
            type Mode = soft_delete_runtime::exec::Blocking;

            type Target = $conn;

            fn preview<T, R>(&mut self, conn: &mut $conn, collector: &Collector<T, R>) -> Result<Plan, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode, R>,
            {
                collector.preview(conn)
            }

            fn archive<T, R>(&mut self, conn: &mut $conn, collector: &Collector<T, R>) -> Result<Archived<T>, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode, R>,
            {
                collector.archive(conn)
            }

            fn restore<T>(&mut self, conn: &mut $conn, batch: Batch<T>) -> Result<Restored, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                batch.restore(conn)
            }

            fn restore_by<T>(&mut self, conn: &mut $conn, batch: Batch<T>, by: &str) -> Result<Restored, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                batch.restore_by(conn, by)
            }

            fn find_batch<T>(&mut self, conn: &mut $conn, id: i64) -> Result<Batch<T>, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                Batch::find(conn, id)
            }

            fn find_archive(&mut self, conn: &mut $conn, id: i64) -> Result<ArchiveEntry, Error>
            where
                Self::Target: SqlConnection<Self::Mode>,
            {
                soft_delete_runtime::collector::find_archive(conn, id)
            }

            fn load_archives(&mut self, conn: &mut $conn, list: &ArchiveList) -> Result<Vec<ArchiveEntry>, Error>
            where
                Self::Target: SqlConnection<Self::Mode>,
            {
                list.load(conn)
            }

            fn check_schema<T>(&mut self, conn: &mut $conn) -> Result<SchemaReport, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                soft_delete_runtime::collector::check_schema::<T, _>(conn)
            }

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

            fn verify_schema(&mut self, conn: &mut $conn, schema: &Schema) -> Result<Report, Error>
            where
                Self::Target: SqlConnection<Self::Mode>,
            {
                schema.verify(conn)
            }

            fn beside(&self, _: &crate::TestDb<$conn>) -> Self {
                Blocking
            }

            fn batch_execute(&mut self, conn: &mut $conn, sql: &str) -> diesel::QueryResult<()> {
                diesel::connection::SimpleConnection::batch_execute(conn, sql)
            }

            fn record_statements(&mut self, conn: &mut $conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
                crate::record_statements(conn)
            }

            fn record_cached_statements(&mut self, conn: &mut $conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
                crate::record_cached_statements(conn)
            }

            fn set_instrumentation(&mut self, conn: &mut $conn, instrumentation: impl Instrumentation) {
                diesel::Connection::set_instrumentation(conn, instrumentation);
            }

            fn select_text(&mut self, conn: &mut $conn, expression: &str) -> diesel::QueryResult<String> {
                diesel::RunQueryDsl::get_result(
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(expression)),
                    conn,
                )
            }

            fn transaction<T>(
                &mut self,
                conn: &mut $conn,
                body: impl FnOnce(&mut Self, &mut $conn) -> Result<T, Error>,
            ) -> Result<T, Error> {
                diesel::Connection::transaction(conn, |conn| body(self, conn))
            }

            fn deferred_transaction(
                &mut self,
                conn: &mut $conn,
                constraints: Constraints,
                statements: &[&str],
                ran: &std::cell::Cell<usize>,
            ) -> Result<(), Error> {
                soft_delete_runtime::deferred::transaction(conn, constraints, |conn| {
                    for sql in statements {
                        diesel::connection::SimpleConnection::batch_execute(conn, sql)?;
                        ran.set(ran.get() + 1);
                    }
                    Ok(())
                })
            }
        }

        #[cfg(all(feature = $feature, feature = "async"))]
        impl Exec<$conn> for OnAsync<$conn> {
            type Mode = soft_delete_runtime::exec::NonBlocking;

            type Target = <$conn as crate::asynchronous::AsyncTwin>::Async;

            fn preview<T, R>(&mut self, _: &mut $conn, collector: &Collector<T, R>) -> Result<Plan, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode, R>,
            {
                // Not checked to be `Send` (unlike the others): over roots `R` of the where-clause
                // the compiler cannot tell (a spawned archive, with its concrete roots, is: see
                // `collector_async`).
                self.runtime.block_on(collector.preview_async(&mut self.conn))
            }

            fn archive<T, R>(&mut self, _: &mut $conn, collector: &Collector<T, R>) -> Result<Archived<T>, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode, R>,
            {
                // As `preview`.
                self.runtime.block_on(collector.archive_async(&mut self.conn))
            }

            fn restore<T>(&mut self, _: &mut $conn, batch: Batch<T>) -> Result<Restored, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(batch.restore_async(&mut self.conn)))
            }

            fn restore_by<T>(&mut self, _: &mut $conn, batch: Batch<T>, by: &str) -> Result<Restored, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(batch.restore_by_async(&mut self.conn, by)))
            }

            fn find_batch<T>(&mut self, _: &mut $conn, id: i64) -> Result<Batch<T>, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(Batch::find_async(&mut self.conn, id)))
            }

            fn find_archive(&mut self, _: &mut $conn, id: i64) -> Result<ArchiveEntry, Error>
            where
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(soft_delete_runtime::collector::find_archive_async(&mut self.conn, id)))
            }

            fn load_archives(&mut self, _: &mut $conn, list: &ArchiveList) -> Result<Vec<ArchiveEntry>, Error>
            where
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(list.load_async(&mut self.conn)))
            }

            fn check_schema<T>(&mut self, _: &mut $conn) -> Result<SchemaReport, Error>
            where
                T: ArchiveTable,
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(soft_delete_runtime::collector::check_schema_async::<T, _>(&mut self.conn)))
            }

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

            fn verify_schema(&mut self, _: &mut $conn, schema: &Schema) -> Result<Report, Error>
            where
                Self::Target: SqlConnection<Self::Mode>,
            {
                self.runtime.block_on(send(schema.verify_async(&mut self.conn)))
            }

            fn beside(&self, db: &crate::TestDb<$conn>) -> Self {
                OnAsync::open(db)
            }

            fn batch_execute(&mut self, _: &mut $conn, sql: &str) -> diesel::QueryResult<()> {
                self.runtime.block_on(diesel_async::SimpleAsyncConnection::batch_execute(&mut self.conn, sql))
            }

            fn record_statements(&mut self, _: &mut $conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
                self.test_guard().record(crate::guard::Record::Statements)
            }

            fn record_cached_statements(&mut self, _: &mut $conn) -> std::sync::Arc<std::sync::Mutex<Vec<String>>> {
                self.test_guard().record(crate::guard::Record::Cached)
            }

            fn set_instrumentation(&mut self, _: &mut $conn, instrumentation: impl Instrumentation) {
                diesel_async::AsyncConnection::set_instrumentation(&mut self.conn, instrumentation);
            }

            fn select_text(&mut self, _: &mut $conn, expression: &str) -> diesel::QueryResult<String> {
                self.runtime.block_on(diesel_async::RunQueryDsl::get_result(
                    diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(expression)),
                    &mut self.conn,
                ))
            }

            fn transaction<T>(
                &mut self,
                conn: &mut $conn,
                body: impl FnOnce(&mut Self, &mut $conn) -> Result<T, Error>,
            ) -> Result<T, Error> {
                // Not `AsyncConnection::transaction`: its body is a future, and `body` drives
                // each operation to its end on this runtime itself.
                type Manager = <<$conn as crate::asynchronous::AsyncTwin>::Async as diesel_async::AsyncConnection>::TransactionManager;
                use diesel_async::TransactionManager as _;
                // As `TransactionManager::transaction` ends one: a failed commit has rolled back
                // (or left the connection broken) already, and a failed rollback is the error
                // unless the manager is broken (the body's error says more then).
                self.runtime.block_on(Manager::begin_transaction(&mut self.conn))?;
                match body(self, conn) {
                    Ok(value) => {
                        self.runtime.block_on(Manager::commit_transaction(&mut self.conn))?;
                        Ok(value)
                    }
                    Err(error) => match self.runtime.block_on(Manager::rollback_transaction(&mut self.conn)) {
                        Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(error),
                        Err(rollback) => Err(rollback.into()),
                    },
                }
            }

            fn deferred_transaction(
                &mut self,
                _: &mut $conn,
                constraints: Constraints,
                statements: &[&str],
                ran: &std::cell::Cell<usize>,
            ) -> Result<(), Error> {
                self.runtime.block_on(soft_delete_runtime::deferred::transaction_async(
                    &mut self.conn,
                    constraints,
                    async |conn| {
                        for sql in statements {
                            diesel_async::SimpleAsyncConnection::batch_execute(conn, sql).await?;
                            ran.set(ran.get() + 1);
                        }
                        Ok(())
                    },
                ))
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

    /// Connects to `url`, without the test guard.
    fn connect(url: &str) -> Self {
        let runtime = crate::asynchronous::runtime();
        let conn = runtime
            .block_on(<C::Async as diesel_async::AsyncConnection>::establish(url))
            .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
        OnAsync { runtime, conn }
    }

    /// The async connection and the runtime, for a body that awaits something itself.
    pub fn parts(&mut self) -> (&tokio::runtime::Runtime, &mut C::Async) {
        (&self.runtime, &mut self.conn)
    }

    /// The test guard of the async connection.
    fn test_guard(&mut self) -> &mut crate::guard::TestGuard {
        diesel_async::AsyncConnection::instrumentation(&mut self.conn)
            .downcast_mut::<crate::guard::TestGuard>()
            .expect("the async connection runs the test guard")
    }
}
