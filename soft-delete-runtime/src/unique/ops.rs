//! `start`, `upsert` and `retry`, the statements they run, and the write transaction they run
//! in: begun with the backend's [`BEGIN_WRITE`](crate::backend::SupportedBackend::BEGIN_WRITE),
//! rolled back on any error, and run again when a concurrent writer made it fail.
//!
//! Written once for both executors (see [`exec`](crate::exec)): the sync API drives these
//! functions in [`Blocking`](crate::exec::Blocking) mode, the async one awaits them.

use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use diesel::backend::Backend;
use diesel::expression::{is_aggregate, AppearsOnTable, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::methods::{FilterDsl, FindDsl, LimitDsl, SelectDsl};
use diesel::result::Error as DieselError;
use diesel::sql_types::Text;
use diesel::{Expression, QueryResult, QuerySource, Selectable, SelectableHelper};

use super::backend::{InsertNew, Locked, UpdateLive};
use super::conflict::{Holder, KeyConflict, RowId};
use super::{ActiveUnique, CounterValue, KeyQueries, TableOf};
use crate::backend::{Dialect, RenderBackend, SupportedBackend, TableName};
use crate::exec::{BackendOf, Begin, Execute, Executor, Load, Rollback, Transaction};
use crate::query::WithDeletedTrace;
use crate::sql::DbError;
use crate::table::SoftDeleteTable;
use crate::trace;
use crate::write::{self, Deletion, SoftDeleteTarget};
use crate::{dsl, Error};

/// How many times `start`, `retry` and a guarded `restore` run their transaction (and how
/// many times `retry` reads the live row again inside one) before giving up with
/// [`Error::Contended`].
pub const ATTEMPTS: u32 = 100;

/// The SQL name of a model's table, for errors; implemented for every model whose table
/// Diesel can name.
pub trait KeyTable<K>: ActiveUnique<K> {
    /// The table's SQL name.
    fn table_name() -> TableName;
}

impl<M, K> KeyTable<K> for M
where
    M: ActiveUnique<K>,
    <TableOf<M> as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    fn table_name() -> TableName {
        TableName::of::<TableOf<M>>()
    }
}

/// The reads and the retire of key `K` on connection `C` in mode `Mo`; implemented for every
/// [`ActiveUnique<K>`] model that is [`Selectable`] on `C`'s backend.
pub trait KeyOps<K, Mo, C>: KeyQueries<K> + KeyTable<K> {
    /// The live row of `key`, read without a lock.
    fn load_live(conn: &mut C, key: Self::Value)
        -> impl Future<Output = QueryResult<Option<Self>>>;
    /// The live row of `key`, locked for the rest of the transaction
    /// ([`SupportedBackend::LOCK`]).
    fn lock_live(conn: &mut C, key: Self::Value)
        -> impl Future<Output = QueryResult<Option<Self>>>;
    /// Every row of `key`, newest first.
    fn load_history(conn: &mut C, key: Self::Value)
        -> impl Future<Output = QueryResult<Vec<Self>>>;
    /// The newest row of `key`, live or not.
    fn load_newest(
        conn: &mut C,
        key: Self::Value,
    ) -> impl Future<Output = QueryResult<Option<Self>>>;
    /// Soft-deletes the row `id` if it is live; returns the rows changed.
    fn retire(conn: &mut C, id: Self::Id) -> impl Future<Output = QueryResult<usize>>;
    /// The primary key of row `id` as the database writes it as text: how an error names it.
    fn id_text(conn: &mut C, id: Self::Id) -> impl Future<Output = QueryResult<RowId>>;
}

/// The `SELECT` of a key's live row, as the model.
pub(crate) type SelectLive<M, K, DB> =
    dsl::Select<<M as KeyQueries<K>>::LiveRows, dsl::AsSelect<M, DB>>;
/// The `SELECT` of a key's history, as the model.
pub(crate) type SelectHistory<M, K, DB> =
    dsl::Select<<M as KeyQueries<K>>::HistoryRows, dsl::AsSelect<M, DB>>;
/// The soft delete of one row by primary key.
type RetireById<M, K> = dsl::SoftDelete<dsl::Find<TableOf<M>, <M as ActiveUnique<K>>::Id>>;
/// One row by primary key, whatever its state (with the `.with_deleted()` trace).
type AnyRowById<M, K> = dsl::Filter<
    dsl::Find<TableOf<M>, <M as ActiveUnique<K>>::Id>,
    WithDeletedTrace<dsl::live<TableOf<M>>>,
>;
/// One column of the primary key of one row, as text.
type IdText<M, K> = dsl::Select<AnyRowById<M, K>, ColumnText>;

/// A column as text, `CAST("id" AS TEXT)` (`CAST(`id` AS CHAR)` on MySQL): an expression whose
/// statement Diesel keeps prepared, by its SQL text (a `diesel::dsl::sql` literal would be
/// prepared again at every call).
#[derive(Debug, Clone)]
pub struct ColumnText(String);

impl ColumnText {
    fn of(dialect: Dialect, column: &str) -> Self {
        ColumnText(dialect.cast_to_text(&dialect.quote(column)))
    }
}

impl Expression for ColumnText {
    type SqlType = Text;
}

impl<QS: ?Sized> AppearsOnTable<QS> for ColumnText {}

impl<QS: ?Sized> SelectableExpression<QS> for ColumnText {}

impl<GB> ValidGrouping<GB> for ColumnText {
    type IsAggregate = is_aggregate::Never;
}

// The column differs from model to model: cached by the statement's text.
impl QueryId for ColumnText {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend> QueryFragment<DB> for ColumnText {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(&self.0);
        Ok(())
    }
}

impl<M, K, Mo, C> KeyOps<K, Mo, C> for M
where
    C: Executor<Mo>,
    M: KeyQueries<K> + KeyTable<K> + Selectable<C::Backend>,
    dsl::AsSelect<M, BackendOf<Mo, C>>: Expression,
    M::LiveRows: SelectDsl<dsl::AsSelect<M, BackendOf<Mo, C>>>,
    M::HistoryRows: SelectDsl<dsl::AsSelect<M, BackendOf<Mo, C>>>,
    SelectHistory<M, K, BackendOf<Mo, C>>: LimitDsl,
    C: Load<Mo, SelectLive<M, K, BackendOf<Mo, C>>, M>
        + Load<Mo, Locked<SelectLive<M, K, BackendOf<Mo, C>>>, M>
        + Load<Mo, SelectHistory<M, K, BackendOf<Mo, C>>, M>
        + Load<Mo, dsl::Limit<SelectHistory<M, K, BackendOf<Mo, C>>>, M>
        + Load<Mo, IdText<M, K>, String>
        + Execute<Mo, RetireById<M, K>>,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: SoftDeleteTarget<Table = TableOf<M>>,
    dsl::Find<TableOf<M>, M::Id>: FilterDsl<WithDeletedTrace<dsl::live<TableOf<M>>>>,
    AnyRowById<M, K>: SelectDsl<ColumnText>,
{
    async fn load_live(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>> {
        let query = SelectDsl::select(M::live_rows(key), M::as_select());
        Ok(conn.load(query).await?.into_iter().next())
    }

    async fn lock_live(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>> {
        let query = Locked(SelectDsl::select(M::live_rows(key), M::as_select()));
        Ok(conn.load(query).await?.into_iter().next())
    }

    async fn load_history(conn: &mut C, key: Self::Value) -> QueryResult<Vec<Self>> {
        conn.load(SelectDsl::select(M::history_rows(key), M::as_select()))
            .await
    }

    async fn load_newest(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>> {
        let query = LimitDsl::limit(SelectDsl::select(M::history_rows(key), M::as_select()), 1);
        Ok(conn.load(query).await?.into_iter().next())
    }

    async fn retire(conn: &mut C, id: Self::Id) -> QueryResult<usize> {
        let row = FindDsl::find(TableOf::<M>::default(), id);
        conn.execute(write::soft_delete_with(row, Deletion::now()))
            .await
    }

    async fn id_text(conn: &mut C, id: Self::Id) -> QueryResult<RowId> {
        let dialect = <BackendOf<Mo, C> as SupportedBackend>::DIALECT;
        let mut parts = Vec::with_capacity(M::ID_COLUMNS.len());
        for column in M::ID_COLUMNS {
            let text = ColumnText::of(dialect, column);
            // The row named may be live or retired: read it whatever its state, and say so.
            let row = FilterDsl::filter(
                FindDsl::find(TableOf::<M>::default(), id.clone()),
                WithDeletedTrace(<TableOf<M> as SoftDeleteTable>::live()),
            );
            let found = conn.load(SelectDsl::select(row, text)).await?;
            let part = found.into_iter().next().ok_or(DieselError::NotFound)?;
            parts.push(part);
        }
        Ok(RowId::parts_of(
            &std::sync::Arc::new(M::table_name()),
            parts,
        ))
    }
}

/// Inserting a new row `N` for key `K` on connection `C` in mode `Mo` and reading it back, the
/// way the backend does it ([`SupportedBackend::Fetch`]).
pub trait KeyInsert<K, Mo, C, N>: KeyOps<K, Mo, C> {
    /// Inserts `new`; returns it as read back, or `None` when it is not the live row of `key`.
    fn insert_new(
        conn: &mut C,
        key: Self::Value,
        new: N,
    ) -> impl Future<Output = QueryResult<Option<Self>>>;

    /// `retry` in one statement where the backend can: see [`InsertNew::retry_in_one`].
    fn retry_in_one<F: FnMut(&Self, Self::Counter) -> N>(
        conn: &mut C,
        key: Self::Value,
        build: &mut F,
    ) -> impl Future<Output = Option<Self>>;

    /// `start` in one statement where the backend can: see [`InsertNew::start_in_one`].
    fn start_in_one<F: FnMut(Self::Counter) -> N>(
        conn: &mut C,
        key: Self::Value,
        build: &mut F,
    ) -> impl Future<Output = Option<Self>>;
}

impl<M, K, Mo, C, N> KeyInsert<K, Mo, C, N> for M
where
    M: KeyOps<K, Mo, C>,
    C: Executor<Mo>,
    BackendOf<Mo, C>: SupportedBackend,
    <C::Backend as SupportedBackend>::Fetch: InsertNew<M, K, Mo, C, N>,
{
    fn insert_new(
        conn: &mut C,
        key: Self::Value,
        new: N,
    ) -> impl Future<Output = QueryResult<Option<Self>>> {
        <<C::Backend as SupportedBackend>::Fetch as InsertNew<M, K, Mo, C, N>>::insert_new(
            conn, key, new,
        )
    }

    fn retry_in_one<F: FnMut(&Self, Self::Counter) -> N>(
        conn: &mut C,
        key: Self::Value,
        build: &mut F,
    ) -> impl Future<Output = Option<Self>> {
        <<C::Backend as SupportedBackend>::Fetch as InsertNew<M, K, Mo, C, N>>::retry_in_one(
            conn, key, build,
        )
    }

    fn start_in_one<F: FnMut(Self::Counter) -> N>(
        conn: &mut C,
        key: Self::Value,
        build: &mut F,
    ) -> impl Future<Output = Option<Self>> {
        <<C::Backend as SupportedBackend>::Fetch as InsertNew<M, K, Mo, C, N>>::start_in_one(
            conn, key, build,
        )
    }
}

/// Updating the live row `id` of key `K` with changes `U` and reading it back, on connection
/// `C` in mode `Mo`, the way the backend does it ([`SupportedBackend::Fetch`]); implemented
/// for every model whose table takes `U` in `diesel::update(table.find(id)).set(U)`.
pub trait KeyUpdate<K, Mo, C, U>: KeyOps<K, Mo, C> {
    /// Applies `changes` to the row `id`; returns the key's live row afterwards (see
    /// [`UpdateLive::update_live`]).
    fn update_live(
        conn: &mut C,
        key: Self::Value,
        id: Self::Id,
        changes: U,
    ) -> impl Future<Output = QueryResult<Option<Self>>>;
}

impl<M, K, Mo, C, U> KeyUpdate<K, Mo, C, U> for M
where
    M: KeyOps<K, Mo, C>,
    C: Executor<Mo>,
    <C::Backend as SupportedBackend>::Fetch: UpdateLive<M, K, Mo, C, U>,
{
    fn update_live(
        conn: &mut C,
        key: Self::Value,
        id: Self::Id,
        changes: U,
    ) -> impl Future<Output = QueryResult<Option<Self>>> {
        <<C::Backend as SupportedBackend>::Fetch as UpdateLive<M, K, Mo, C, U>>::update_live(
            conn, key, id, changes,
        )
    }
}

/// Why one run of a transaction body did not succeed: it failed (a database error is judged
/// after the rollback: whether to run again), or a concurrent writer got there first without
/// an error ([`Lost`]: run again).
pub(crate) type Failure = Rollback<Lost>;

/// A concurrent writer changed the locked row before the write, without an error: run again.
pub(crate) struct Lost;

/// What a unique violation means, judged after the rollback by reading the key again.
pub(crate) enum Violation {
    /// A live row holds the key: return this typed error.
    Conflict(Error),
    /// The key changed under us: run again.
    Retry,
    /// Not this key's doing (another constraint): return the database's error.
    Raw,
}

/// The body of a write transaction that [`run`] runs until it succeeds: one run, and the
/// judgement of a unique violation that ended one.
pub(crate) trait Body<Mo, C> {
    /// What a successful run returns.
    type Output;

    /// One run, inside the transaction.
    fn attempt(&mut self, conn: &mut C) -> impl Future<Output = Result<Self::Output, Failure>>;

    /// What the unique violation that ended a run means, read after its rollback.
    fn judge(&mut self, conn: &mut C) -> impl Future<Output = Result<Violation, Error>>;

    /// The error when concurrent writers won `attempts` times.
    fn contended(&self, attempts: u32) -> Error;
}

/// Runs `body` once in a write transaction: its own transaction begun with
/// [`Begin::Write`] when the connection is not in one, else a savepoint. Returns the result
/// and whether it ran nested.
async fn run_once<Mo, C, B>(conn: &mut C, body: &mut B) -> (Result<B::Output, Failure>, bool)
where
    C: Executor<Mo>,
    B: Body<Mo, C>,
{
    let nested = conn.in_transaction();
    let mut transaction = match Transaction::begin(conn, Begin::Write).await {
        Ok(transaction) => transaction,
        Err(error) => return (Err(Failure::Failed(error.into())), nested),
    };
    let outcome = body.attempt(transaction.conn()).await;
    (transaction.finish(outcome).await, nested)
}

/// Runs `body` in a write transaction until it succeeds, fails for a reason of its own, or
/// has run [`ATTEMPTS`] times. A unique violation is judged by the body after the rollback;
/// contention runs again after a short random pause, except inside the caller's transaction,
/// which the error may have doomed (MySQL rolls back the whole transaction on a deadlock), so
/// it returns [`Error::Contended`] for the caller to retry.
pub(crate) async fn run<Mo, C, B>(conn: &mut C, mut body: B) -> Result<B::Output, Error>
where
    C: Executor<Mo>,
    B: Body<Mo, C>,
{
    for attempt in 1..=ATTEMPTS {
        trace::record!(attempts = attempt);
        let (result, nested) = run_once(conn, &mut body).await;
        let error = match result {
            Ok(value) => return Ok(value),
            Err(Failure::Undo(Lost)) => {
                trace::event!(
                    debug,
                    attempt,
                    "attempt rolled back: the locked row changed before the write"
                );
                continue;
            }
            Err(Failure::Failed(Error::Diesel(error))) => error,
            Err(Failure::Failed(error)) => return Err(error),
        };
        match DbError::of(&error) {
            DbError::Unique(_) => match body.judge(conn).await? {
                Violation::Conflict(typed) => return Err(typed),
                Violation::Retry => {
                    trace::event!(debug, attempt, %error, "attempt rolled back: a concurrent writer took the key");
                }
                Violation::Raw => return Err(error.into()),
            },
            DbError::Contention if nested => return Err(body.contended(attempt)),
            DbError::Contention => {
                trace::event!(debug, attempt, %error, "attempt rolled back: contention");
                conn.pause(pause(attempt)).await;
            }
            DbError::ForeignKey(_) | DbError::Other => return Err(error.into()),
        }
    }
    Err(body.contended(ATTEMPTS))
}

/// Up to `min(2^attempt, 32)` ms, at random, so writers that collided spread out.
fn pause(attempt: u32) -> Duration {
    let cap_ms = 1u64 << attempt.min(5);
    let random = RandomState::new().hash_one(std::thread::current().id());
    Duration::from_micros(random % (cap_ms * 1000))
}

/// [`Error::Contended`] on key `K` of `M`.
pub(crate) fn contended<M: KeyTable<K>, K>(attempts: u32) -> Error {
    Error::Contended {
        table: M::table_name(),
        key: M::NAME,
        attempts,
    }
}

/// The typed error for a key held by `live`; `restored` is the row a restore was to bring
/// back. Reads the two rows' keys as text (the error path only).
pub(crate) async fn conflict<M, K, Mo, C>(
    conn: &mut C,
    key: &M::Value,
    live: &M,
    restored: Option<&M>,
) -> QueryResult<Error>
where
    M: KeyOps<K, Mo, C>,
{
    let live_id = M::id_text(conn, live.row_id()).await?;
    let restored_id = match restored {
        Some(row) => Some(M::id_text(conn, row.row_id()).await?),
        None => None,
    };
    Ok(Error::Conflict(Box::new(KeyConflict {
        table: M::table_name(),
        key: M::NAME,
        columns: M::COLUMNS,
        values: format!("{key:?}"),
        live_id,
        holder: Holder::Live,
        restored_id,
    })))
}

/// [`Error::NullKeyPart`] when `key` has `None` in a field whose `NULL`s are distinct.
pub(crate) fn refuse_null_part<M: KeyTable<K>, K>(key: &M::Value) -> Result<(), Error> {
    match M::null_part(key) {
        Some(column) => Err(Error::NullKeyPart {
            table: M::table_name(),
            key: M::NAME,
            column,
        }),
        None => Ok(()),
    }
}

pub(super) fn invalid<M: KeyTable<K>, K>(problem: &'static str) -> Failure {
    Failure::Failed(Error::InvalidNewRow {
        table: M::table_name(),
        key: M::NAME,
        problem,
    })
}

/// The inserted row, if it is a live row of `key`.
pub(super) fn check_new<M: KeyTable<K>, K>(new: Option<M>, key: &M::Value) -> Result<M, Failure> {
    match new {
        None => Err(invalid::<M, K>(
            "is not a live row of the key: the closure must build a live row with the key's values",
        )),
        Some(new) if new.key() != *key => Err(invalid::<M, K>(
            "has other values for the key's fields than the key it was built for",
        )),
        Some(new) if !new.is_live() => Err(invalid::<M, K>(
            "is not live: the closure must build a row whose marker says live",
        )),
        Some(new) => Ok(new),
    }
}

/// Whether live row `row` is the live row of `key`: its key values say so in Rust, or, when
/// they differ, the key's live-row query finds it. A column's collation can call two spellings
/// one key (SQLite's `NOCASE`, PostgreSQL's `citext` or a nondeterministic collation, MySQL's
/// `_ci` collations and trailing spaces); one more read, only then.
pub(super) async fn is_live_row_of<M, K, Mo, C>(
    conn: &mut C,
    row: &M,
    key: &M::Value,
) -> QueryResult<bool>
where
    M: KeyOps<K, Mo, C>,
{
    if row.key() == *key {
        return Ok(true);
    }
    Ok(M::load_live(conn, key.clone())
        .await?
        .is_some_and(|live| live.row_id() == row.row_id()))
}

/// The row written, if it is a live row of `key`, as [`check_new`] says, except that a row whose
/// key values differ from `key` in Rust is asked of the database first ([`is_live_row_of`]).
pub(super) async fn check_written<M, K, Mo, C>(
    conn: &mut C,
    new: Option<M>,
    key: &M::Value,
) -> Result<M, Failure>
where
    M: KeyOps<K, Mo, C>,
{
    match new {
        Some(row) if row.is_live() && is_live_row_of::<M, K, Mo, C>(conn, &row, key).await? => {
            Ok(row)
        }
        new => check_new::<M, K>(new, key),
    }
}

pub(super) fn next_counter<M: KeyTable<K>, K>(counter: &M::Counter) -> Result<M::Counter, Failure> {
    counter
        .next()
        .ok_or_else(|| invalid::<M, K>("would need a counter past its type's maximum"))
}

/// The counter of a key's new first live row: `0`, or one past its newest row's.
async fn first_counter<M, K, Mo, C>(conn: &mut C, key: &M::Value) -> Result<M::Counter, Failure>
where
    M: KeyOps<K, Mo, C>,
{
    if !M::Counter::ENABLED {
        return Ok(M::Counter::first());
    }
    match M::load_newest(conn, key.clone()).await? {
        Some(newest) => next_counter::<M, K>(&newest.counter()),
        None => Ok(M::Counter::first()),
    }
}

/// Marks the generic parameters of a [`Body`] that its fields do not hold.
pub(super) type Params<K, Mo, C, N> = std::marker::PhantomData<fn() -> (K, Mo, C, N)>;

/// [`ActiveUnique::start`](super::ActiveUnique::start).
pub(crate) struct Start<M: ActiveUnique<K>, K, Mo, C, N, F> {
    key: M::Value,
    build: F,
    _params: Params<K, Mo, C, N>,
}

impl<M, K, Mo, C, N, F> Body<Mo, C> for Start<M, K, Mo, C, N, F>
where
    M: KeyInsert<K, Mo, C, N>,
    F: FnMut(M::Counter) -> N,
{
    type Output = M;

    async fn attempt(&mut self, conn: &mut C) -> Result<M, Failure> {
        if let Some(live) = M::lock_live(conn, self.key.clone()).await? {
            let error = conflict::<M, K, Mo, C>(conn, &self.key, &live, None).await?;
            return Err(Failure::Failed(error));
        }
        let counter = first_counter::<M, K, Mo, C>(conn, &self.key).await?;
        let new = M::insert_new(conn, self.key.clone(), (self.build)(counter)).await?;
        check_written::<M, K, Mo, C>(conn, new, &self.key).await
    }

    async fn judge(&mut self, conn: &mut C) -> Result<Violation, Error> {
        judge_start::<M, K, Mo, C>(conn, &self.key).await
    }

    fn contended(&self, attempts: u32) -> Error {
        contended::<M, K>(attempts)
    }
}

/// A unique violation of an insert of `key`'s first live row: a concurrent `start` inserted
/// first, and its row is live now (a conflict), or another constraint was broken.
pub(super) async fn judge_start<M, K, Mo, C>(
    conn: &mut C,
    key: &M::Value,
) -> Result<Violation, Error>
where
    M: KeyOps<K, Mo, C>,
{
    Ok(match M::load_live(conn, key.clone()).await? {
        Some(live) => Violation::Conflict(conflict::<M, K, Mo, C>(conn, key, &live, None).await?),
        None => Violation::Raw,
    })
}

#[cfg_attr(feature = "tracing", tracing::instrument(name = "start", level = "debug", skip_all,
    fields(table = %M::table_name(), key = M::NAME, attempts = tracing::field::Empty)))]
pub(crate) async fn start<M, K, Mo, C, N>(
    conn: &mut C,
    key: M::Value,
    mut build: impl FnMut(M::Counter) -> N,
) -> Result<M, Error>
where
    M: KeyInsert<K, Mo, C, N>,
    C: Executor<Mo>,
{
    refuse_null_part::<M, K>(&key)?;
    if let Some(row) = M::start_in_one(conn, key.clone(), &mut build).await {
        trace::record!(attempts = 1);
        return Ok(row);
    }
    let body = Start::<M, K, Mo, C, N, _> {
        key,
        build,
        _params: Params::default(),
    };
    run(conn, body).await
}

/// [`ActiveUnique::upsert`](super::ActiveUnique::upsert).
pub(crate) struct Upsert<M: ActiveUnique<K>, K, Mo, C, N, U, I, F> {
    key: M::Value,
    insert: I,
    update: F,
    /// The live row the last run locked (see [`judge_replacement`]).
    locked: Option<M::Id>,
    _params: Params<K, Mo, C, (N, U)>,
}

impl<M, K, Mo, C, N, U, I, F> Body<Mo, C> for Upsert<M, K, Mo, C, N, U, I, F>
where
    M: KeyInsert<K, Mo, C, N> + KeyUpdate<K, Mo, C, U>,
    I: FnMut(M::Counter) -> N,
    F: FnMut(&M) -> U,
{
    type Output = M;

    async fn attempt(&mut self, conn: &mut C) -> Result<M, Failure> {
        self.locked = None;
        let Some(live) = M::lock_live(conn, self.key.clone()).await? else {
            let counter = first_counter::<M, K, Mo, C>(conn, &self.key).await?;
            let new = M::insert_new(conn, self.key.clone(), (self.insert)(counter)).await?;
            return check_written::<M, K, Mo, C>(conn, new, &self.key).await;
        };
        self.locked = Some(live.row_id());
        let changes = (self.update)(&live);
        match M::update_live(conn, self.key.clone(), live.row_id(), changes).await? {
            Some(updated) if updated.row_id() == live.row_id() => Ok(updated),
            _ => Err(invalid::<M, K>(
                "is no longer the key's live row after the update: the changes must keep the key's fields and the marker",
            )),
        }
    }

    // A concurrent writer inserted the key's live row first (run again: update that one), or
    // the insert or the update broke another constraint (the row updated, locked, is still the
    // live one; or no row is).
    async fn judge(&mut self, conn: &mut C) -> Result<Violation, Error> {
        judge_replacement::<M, K, Mo, C>(conn, &self.key, self.locked.as_ref()).await
    }

    fn contended(&self, attempts: u32) -> Error {
        contended::<M, K>(attempts)
    }
}

#[cfg_attr(feature = "tracing", tracing::instrument(name = "upsert", level = "debug", skip_all,
    fields(table = %M::table_name(), key = M::NAME, attempts = tracing::field::Empty)))]
pub(crate) async fn upsert<M, K, Mo, C, N, U>(
    conn: &mut C,
    key: M::Value,
    insert: impl FnMut(M::Counter) -> N,
    update: impl FnMut(&M) -> U,
) -> Result<M, Error>
where
    M: KeyInsert<K, Mo, C, N> + KeyUpdate<K, Mo, C, U>,
    C: Executor<Mo>,
{
    refuse_null_part::<M, K>(&key)?;
    let body = Upsert::<M, K, Mo, C, N, U, _, _> {
        key,
        insert,
        update,
        locked: None,
        _params: Params::default(),
    };
    run(conn, body).await
}

/// [`ActiveUnique::retry`](super::ActiveUnique::retry).
pub(crate) struct Retry<M: ActiveUnique<K>, K, Mo, C, N, F> {
    key: M::Value,
    build: F,
    /// The row the last run locked: if a unique violation leaves it live, nobody else changed
    /// the key and the violation is the new row's own (another unique constraint).
    locked: Option<M::Id>,
    _params: Params<K, Mo, C, N>,
}

impl<M, K, Mo, C, N, F> Body<Mo, C> for Retry<M, K, Mo, C, N, F>
where
    M: KeyInsert<K, Mo, C, N>,
    F: FnMut(&M, M::Counter) -> N,
{
    type Output = M;

    async fn attempt(&mut self, conn: &mut C) -> Result<M, Failure> {
        let current = lock_current::<M, K, Mo, C>(conn, &self.key).await?;
        self.locked = Some(current.row_id());
        let next = next_counter::<M, K>(&current.counter())?;
        if M::retire(conn, current.row_id()).await? != 1 {
            return Err(Failure::Undo(Lost));
        }
        let new = M::insert_new(conn, self.key.clone(), (self.build)(&current, next)).await?;
        check_written::<M, K, Mo, C>(conn, new, &self.key).await
    }

    async fn judge(&mut self, conn: &mut C) -> Result<Violation, Error> {
        judge_replacement::<M, K, Mo, C>(conn, &self.key, self.locked.as_ref()).await
    }

    fn contended(&self, attempts: u32) -> Error {
        contended::<M, K>(attempts)
    }
}

#[cfg_attr(feature = "tracing", tracing::instrument(name = "retry", level = "debug", skip_all,
    fields(table = %M::table_name(), key = M::NAME, attempts = tracing::field::Empty)))]
pub(crate) async fn retry<M, K, Mo, C, N>(
    conn: &mut C,
    key: M::Value,
    mut build: impl FnMut(&M, M::Counter) -> N,
) -> Result<M, Error>
where
    M: KeyInsert<K, Mo, C, N>,
    C: Executor<Mo>,
{
    refuse_null_part::<M, K>(&key)?;
    if let Some(row) = M::retry_in_one(conn, key.clone(), &mut build).await {
        trace::record!(attempts = 1);
        return Ok(row);
    }
    let body = Retry::<M, K, Mo, C, N, _> {
        key,
        build,
        locked: None,
        _params: Params::default(),
    };
    run(conn, body).await
}

/// What a unique violation that ended a write of `key` whose live row was `locked` (if it had
/// one) means: a concurrent writer replaced it or inserted the key's live row first (another
/// row is live: run again), or the row written broke another constraint (the row locked is
/// still live, or there is none: nobody else changed the key).
pub(super) async fn judge_replacement<M, K, Mo, C>(
    conn: &mut C,
    key: &M::Value,
    locked: Option<&M::Id>,
) -> Result<Violation, Error>
where
    M: KeyOps<K, Mo, C>,
{
    Ok(match M::load_live(conn, key.clone()).await? {
        Some(live) if locked != Some(&live.row_id()) => Violation::Retry,
        _ => Violation::Raw,
    })
}

/// Locks the live row of `key`. On PostgreSQL a `SELECT ... FOR UPDATE` that waited for a
/// concurrent `retry` finds its row retired and returns nothing, while the successor, inserted
/// after the statement began, is invisible to it; a new statement sees it, so read again.
pub(super) async fn lock_current<M, K, Mo, C>(conn: &mut C, key: &M::Value) -> Result<M, Failure>
where
    M: KeyOps<K, Mo, C>,
{
    for _ in 0..ATTEMPTS {
        if let Some(row) = M::lock_live(conn, key.clone()).await? {
            return Ok(row);
        }
        if M::load_live(conn, key.clone()).await?.is_none() {
            return Err(Failure::Failed(Error::NoLiveRow {
                table: M::table_name(),
                key: M::NAME,
                values: format!("{key:?}"),
            }));
        }
    }
    Err(Failure::Failed(contended::<M, K>(ATTEMPTS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_stay_short() {
        for attempt in 1..=8 {
            assert!(pause(attempt) < Duration::from_millis(32));
        }
    }
}
