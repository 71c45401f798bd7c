//! Active-unique keys: one live row per key, every earlier row kept as history.
//!
//! `#[active_unique(fields = "exam_id, learner_id", counter = retry)]` on a
//! `#[derive(SoftDelete)]` model says: among *live* rows, these fields are unique; dead rows
//! are history, as many as there are. The derive implements [`ActiveUnique<Key>`] for the
//! model, where `Key` is the type of the key's columns (`attempts::email` for one field,
//! `(attempts::exam_id, attempts::learner_id)` for several), and the trait gives:
//!
//! - [`find_live`](ActiveUnique::find_live) and [`history`](ActiveUnique::history): the live
//!   row of a key, and all its rows newest first (by the counter, then by primary key);
//!   [`live_query`](ActiveUnique::live_query) and [`history_query`](ActiveUnique::history_query)
//!   are the same as Diesel statements, to refine;
//! - [`start`](ActiveUnique::start): inserts the first live row of a key, or returns
//!   [`Error::Conflict`] carrying the id of the row that is live already;
//! - [`retry`](ActiveUnique::retry): in one transaction, locks the live row of a key, retires
//!   it (soft delete) and inserts its successor, built by a closure from the retired row and
//!   the next counter value. Rows that reference the retired row keep referencing it.
//!
//! A key field typed `Option<T>` is a nullable part of the key. By default its `NULL`s are
//! distinct, as in any unique index: rows with one are not unique, and the operations above
//! refuse such a key value with [`Error::NullKeyPart`]. With
//! `#[active_unique(..., nulls = not_distinct)]`, `None` is a value of the key: `(7, None)` has
//! at most one live row, read with `folder_id IS NULL` ([`NullSafeEq`]), and the DDL makes the
//! database agree (see [`ddl::active_unique`](crate::ddl::active_unique)).
//!
//! The database enforces the key: [`ddl::active_unique`](crate::ddl::active_unique) generates
//! the index (or generated column and unique key) for each backend. And the by-value
//! [`SoftDelete::restore`] checks every key of the model: restoring a row whose key has a
//! live row returns [`Error::Conflict`] and changes nothing.
//!
//! # Concurrency
//!
//! `retry` and `start` run in a transaction of their own (a savepoint inside the caller's)
//! that takes the write lock where the live row is read: `SELECT ... FOR UPDATE` on
//! PostgreSQL and MySQL/MariaDB, `BEGIN IMMEDIATE` on SQLite (which has one writer at a
//! time). When another transaction retires the row while this one waits for it, the row no
//! longer matches and the live row is read again; a unique violation, serialization failure,
//! deadlock or busy database caused by a concurrent writer rolls the transaction back and
//! runs it again, up to [`ATTEMPTS`] times in all, after which
//! [`Error::Contended`] is returned. A caller never sees the raw unique violation of a race.
//! The closures given to `start` and `retry` may therefore run more than once.
//!
//! On PostgreSQL, `start` and `retry` first try one statement that does the same work
//! atomically with data-modifying CTEs (`retry` reads the live row before it, for the
//! closure): it writes only when the row read is still the live one, unchanged, and the new
//! row is a live row of the key, and otherwise writes nothing and the transaction above runs.
//! A `start` whose key has only retired rows (and a counter) reads the newest of them and
//! inserts its successor the same way, unless a live row or a newer counter appeared since.
//! `upsert` keeps the transaction; on PostgreSQL its `UPDATE ... RETURNING` gives the updated
//! row back, where the other backends read it again. The second forms
//! [`retry_new`](ActiveUnique::retry_new) and [`upsert_new`](ActiveUnique::upsert_new), whose
//! closures get nothing, read nothing first: one statement, or the transaction when it wrote
//! nothing (see "One statement on PostgreSQL" below).
//! The statement stays prepared on the connection: the server parses and plans it once, not at
//! every call (when each value of the closure's row is a bound value, as with Diesel's derive).
//! It is sent autocommitted (in a savepoint inside your transaction). An async caller may drop
//! the future while it runs, so what the async API sends waits for no other writer: the async
//! `retry`'s statement takes the live row's lock `FOR NO KEY UPDATE NOWAIT` (a row another transaction
//! holds fails it at once, writing nothing, and the transaction above runs), and the async
//! `start` sends its statement inside a transaction of its own, which a dropped future never
//! commits.
//!
//! On SQLite, give every connection a busy timeout (`PRAGMA busy_timeout = 5000`) when
//! several write to one database file, so `BEGIN IMMEDIATE` waits instead of failing.
//!
//! ```
//! use diesel::prelude::*;
//! use soft_delete_runtime::prelude::*;
//!
//! diesel::table! {
//!     attempts (id) {
//!         id -> Integer,
//!         exam_id -> Integer,
//!         learner_id -> Integer,
//!         active -> Bool,
//!         retry -> Integer,
//!     }
//! }
//!
//! #[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
//! #[active_unique(fields = "exam_id, learner_id", counter = retry)]
//! struct Attempt {
//!     id: i32,
//!     exam_id: i32,
//!     learner_id: i32,
//!     #[soft_delete(marker = active)]
//!     active: bool,
//!     retry: i32,
//! }
//!
//! # fn main() -> Result<(), soft_delete_runtime::Error> {
//! let conn = &mut SqliteConnection::establish(":memory:").unwrap();
//! # diesel::sql_query("CREATE TABLE attempts (id INTEGER PRIMARY KEY, exam_id INTEGER NOT NULL, learner_id INTEGER NOT NULL, active BOOLEAN NOT NULL, retry INTEGER NOT NULL)").execute(conn)?;
//! use soft_delete_runtime::backend::Dialect;
//! for statement in soft_delete_runtime::ddl::active_unique::<Attempt>(Dialect::Sqlite) {
//!     diesel::sql_query(statement).execute(conn)?; // CREATE UNIQUE INDEX ... WHERE "active"
//! }
//!
//! let first = Attempt::start(conn, (1, 7), |retry| {
//!     (attempts::exam_id.eq(1), attempts::learner_id.eq(7), attempts::active.eq(true), attempts::retry.eq(retry))
//! })?;
//! let second = Attempt::retry(conn, (1, 7), |old: &Attempt, retry| {
//!     (attempts::exam_id.eq(old.exam_id), attempts::learner_id.eq(old.learner_id), attempts::active.eq(true), attempts::retry.eq(retry))
//! })?;
//! assert_eq!((first.retry, second.retry), (0, 1));
//!
//! let history: Vec<i32> = Attempt::history(conn, (1, 7))?.iter().map(|a| a.id).collect();
//! assert_eq!(history, [second.id, first.id]);
//! # Ok(())
//! # }
//! ```
#![doc = include_str!("../docs/unique.md")]

pub(crate) mod backend;
mod conflict;
pub(crate) mod guard;
pub(crate) mod merge;
mod nullable;
mod one_statement;
pub(crate) mod ops;
pub(crate) mod renew;

use std::fmt::Debug;

use diesel::query_dsl::methods::{FilterDsl, OrderDsl};

use crate::exec::{drive, BackendOf, Blocking, Executor};
use crate::model::SoftDelete;
use crate::query::WithDeletedTrace;
use crate::table::SoftDeleteTable;
use crate::{dsl, Error};

pub use conflict::{Holder, KeyConflict, RowId};
pub use guard::KeyInfo;
#[doc(hidden)]
pub use guard::KeyList;
pub(crate) use merge::{KeyMerge, NoChanges};
pub use merge::{Merge, SuccessorProbe};
#[doc(hidden)]
pub use nullable::{NotNullKeyColumn, NullSafeEq};
pub use one_statement::{Existing, Fresh, OneStatementBackend, Replace, Replaceable, Successor};
pub use ops::ATTEMPTS;
pub(crate) use ops::{KeyInsert, KeyOps, KeyTable, KeyUpdate};
pub(crate) use renew::KeyRenew;
pub use renew::Renew;

/// The table of model `M`.
pub type TableOf<M> = <M as SoftDelete>::Table;

/// The rows of one key, live or not: `SELECT ... FROM t WHERE a = $1 AND b = $2`.
pub type KeyRows<M, K> = dsl::Filter<TableOf<M>, <M as ActiveUnique<K>>::Filter>;

/// The live row of one key: [`KeyRows`] and the table's live predicate.
pub type LiveRow<M, K> = dsl::Filter<KeyRows<M, K>, dsl::live<TableOf<M>>>;

/// Every row of one key, newest first: [`KeyRows`] with the `.with_deleted()` trace (it reads
/// retired rows on purpose, and says so to the visibility guard), ordered by the counter (if
/// any) and the primary key, both descending.
pub type History<M, K> = dsl::Order<
    dsl::Filter<KeyRows<M, K>, WithDeletedTrace<dsl::live<TableOf<M>>>>,
    <M as ActiveUnique<K>>::HistoryOrder,
>;

/// A model with an active-unique key `K`: among live rows, the key's fields are unique.
///
/// Implemented by `#[derive(SoftDelete)]` once per `#[active_unique(fields = "...")]`
/// attribute. `K` names the key by its columns: `users::email`, or
/// `(attempts::exam_id, attempts::learner_id)`. A model with one key lets the compiler infer
/// `K` (`Attempt::retry(conn, (1, 7), ...)`); with several, say which one:
/// `<Attempt as ActiveUnique<(attempts::exam_id, attempts::learner_id)>>::retry(...)`.
///
/// The provided methods need the model to be [`Selectable`](diesel::Selectable) for the
/// backend (`#[derive(Selectable)]`): rows are read with `Model::as_select()`.
pub trait ActiveUnique<K>: SoftDelete + Sized {
    /// The key's values as the model holds them: the field's type, or a tuple of them.
    type Value: Clone + PartialEq + Debug + Send + Sync + 'static;
    /// The filter `a = $1 AND b = $2` for one value of the key (`b IS NULL` for a `None`
    /// part: see [`NullSafeEq`]).
    type Filter;
    /// The counter's type (`#[active_unique(..., counter = retry)]`), or [`NoCounter`].
    type Counter: CounterValue;
    /// The order of [`history`](Self::history): counter then primary key, descending.
    type HistoryOrder: diesel::Expression;
    /// The primary key's value: names a row in errors.
    type Id: Clone + PartialEq + Debug + Send + Sync + 'static;

    /// The key's name: the index (or constraint) name in the DDL.
    const NAME: &'static str;
    /// The key's columns, their SQL names.
    const COLUMNS: &'static [&'static str];
    /// The key's columns in which `NULL` is a value of the key (`Option` fields of a key
    /// declared `nulls = not_distinct`): the key has at most one live row with `None` there.
    /// Empty for a key whose `NULL`s are distinct (the default).
    const NULLS_NOT_DISTINCT: &'static [&'static str];
    /// The counter's column, if the key has one.
    const COUNTER_COLUMN: Option<&'static str>;
    /// The primary key's columns, their SQL names: how errors read a row's key as text.
    const ID_COLUMNS: &'static [&'static str];

    /// This row's values of the key.
    fn key(&self) -> Self::Value;
    /// For a key whose `NULL`s are distinct (the default), the column of the first `Option`
    /// field that is `None` in `value`: rows with such a value are not unique, and have no one
    /// live row. `None` otherwise.
    fn null_part(value: &Self::Value) -> Option<&'static str>;
    /// This row's primary key.
    fn row_id(&self) -> Self::Id;
    /// Whether this row is live, as its marker field says.
    fn is_live(&self) -> bool;
    /// This row's counter ([`NoCounter`] when the key has none).
    fn counter(&self) -> Self::Counter;
    /// The filter selecting the rows of the key `value`.
    fn key_filter(value: Self::Value) -> Self::Filter;
    /// The order of the history, newest first.
    fn history_order() -> Self::HistoryOrder;

    /// The statement selecting the live row of `key`, to refine or load:
    /// `SELECT ... FROM t WHERE a = $1 AND b = $2 AND <live>`.
    fn live_query(key: Self::Value) -> <Self as KeyQueries<K>>::LiveRows
    where
        Self: KeyQueries<K>,
    {
        <Self as KeyQueries<K>>::live_rows(key)
    }

    /// The statement selecting every row of `key`, newest first.
    fn history_query(key: Self::Value) -> <Self as KeyQueries<K>>::HistoryRows
    where
        Self: KeyQueries<K>,
    {
        <Self as KeyQueries<K>>::history_rows(key)
    }

    /// The live row of `key`, if there is one.
    fn find_live<C>(conn: &mut C, key: Self::Value) -> Result<Option<Self>, Error>
    where
        Self: KeyOps<K, Blocking, C>,
    {
        ops::refuse_null_part::<Self, K>(&key)?;
        Ok(drive(<Self as KeyOps<K, Blocking, C>>::load_live(
            conn, key,
        ))?)
    }

    /// Every row of `key`, live and retired, newest first (by the counter when the key has
    /// one, then by primary key).
    fn history<C>(conn: &mut C, key: Self::Value) -> Result<Vec<Self>, Error>
    where
        Self: KeyOps<K, Blocking, C>,
    {
        ops::refuse_null_part::<Self, K>(&key)?;
        Ok(drive(<Self as KeyOps<K, Blocking, C>>::load_history(
            conn, key,
        ))?)
    }

    /// Inserts the first live row of `key`, built by `build` from the counter's first value
    /// (`0`, or one past the newest retired row's when the key has history), and returns it.
    ///
    /// When `key` has a live row already, returns [`Error::Conflict`] carrying that row's id
    /// and inserts nothing, also when another transaction inserts it concurrently. The row
    /// `build` returns must have the key `key` and be live, or [`Error::InvalidNewRow`] is
    /// returned and nothing is written. `build` runs again if a concurrent writer forces the
    /// transaction to be retried.
    fn start<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut(Self::Counter) -> N,
    ) -> Result<Self, Error>
    where
        Self: KeyInsert<K, Blocking, C, N>,
        C: Executor<Blocking>,
    {
        drive(ops::start::<Self, K, Blocking, C, N>(conn, key, build))
    }

    /// Updates the live row of `key` with the changes `update` builds from it, or, when the
    /// key has no live row, inserts the row `insert` builds (as [`start`](Self::start) does),
    /// in one transaction; returns the live row.
    ///
    /// The portable form of `INSERT ... ON CONFLICT (<key>) WHERE <live> DO UPDATE`: it works on
    /// every backend, takes the same locks as [`retry`](Self::retry), and a concurrent insert
    /// of the key's live row makes it update that row instead. The changes must leave the
    /// row live and on the key, or [`Error::InvalidNewRow`] is returned and nothing written.
    fn upsert<C, N, U>(
        conn: &mut C,
        key: Self::Value,
        insert: impl FnMut(Self::Counter) -> N,
        update: impl FnMut(&Self) -> U,
    ) -> Result<Self, Error>
    where
        Self: KeyInsert<K, Blocking, C, N> + KeyUpdate<K, Blocking, C, U>,
        C: Executor<Blocking>,
    {
        drive(ops::upsert::<Self, K, Blocking, C, N, U>(
            conn, key, insert, update,
        ))
    }

    /// Replaces the live row of `key` by a new one, in one transaction: locks the live row,
    /// retires it (soft delete: marker set to dead), inserts the row `build` returns from the
    /// retired row and the next counter value, and returns the new row.
    ///
    /// Rows that reference the retired row (answers, grades) keep referencing it: it stays in
    /// the table as history. Returns [`Error::NoLiveRow`] when `key` has no live row,
    /// [`Error::InvalidNewRow`] (writing nothing) when the new row is not a live row of
    /// `key`, and [`Error::Contended`] when concurrent writers won [`ATTEMPTS`] times in a
    /// row. `build` may run more than once; only the last run's row is kept.
    fn retry<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut(&Self, Self::Counter) -> N,
    ) -> Result<Self, Error>
    where
        Self: KeyInsert<K, Blocking, C, N>,
        C: Executor<Blocking>,
    {
        drive(ops::retry::<Self, K, Blocking, C, N>(conn, key, build))
    }

    /// [`retry`](Self::retry) in one statement, on PostgreSQL: retires the live row of `key`
    /// and inserts the row `build` returns, which does not depend on the retired row, with the
    /// next counter value, which the statement sets itself; returns the new row.
    ///
    /// Nothing is read first, so `build` gets nothing, and its row must not give the counter's
    /// column a value. A concurrent writer of the key, a key with no live row, or a new row that
    /// is not a live row of the key make the statement write nothing; a transaction like
    /// `retry`'s then runs (the live row locked, the same statement sent), which returns the
    /// errors `retry` returns: [`Error::NoLiveRow`], [`Error::InvalidNewRow`],
    /// [`Error::Contended`], the database's error for another constraint; a racing loser is
    /// retried. A row the statement cannot take is refused with [`Error::InvalidNewRow`] before
    /// it is sent: one that gives the counter a value, leaves a key column or a marker out, or
    /// writes any column `DEFAULT` (a `None` of a derived `Insertable`, unless it has
    /// `#[diesel(treat_none_as_default_value = false)]`). `build` may run more than once. A table in a named schema,
    /// or named like one of the statement's CTEs (`successor`, `locked`, `retired`, `updated`,
    /// `inserted`), returns [`Error::Unsupported`]. On SQLite and MySQL/MariaDB it does not compile: use
    /// `retry`.
    ///
    /// ```no_run
    /// # use diesel::prelude::*;
    /// # use soft_delete_runtime::prelude::*;
    /// # diesel::table! { attempts (id) { id -> Integer, exam_id -> Integer, learner_id -> Integer, active -> Bool, retry -> Integer } }
    /// # #[derive(Queryable, Selectable, Identifiable, SoftDelete)]
    /// # #[diesel(table_name = attempts)]
    /// # #[active_unique(fields = "exam_id, learner_id", counter = retry)]
    /// # struct Attempt { id: i32, exam_id: i32, learner_id: i32, #[soft_delete(marker = active)] active: bool, retry: i32 }
    /// # fn run(conn: &mut PgConnection) -> Result<(), soft_delete_runtime::Error> {
    /// // One statement: the live attempt retired, the next one inserted with `retry` + 1.
    /// let next = Attempt::retry_new(conn, (1, 7), || {
    ///     (attempts::exam_id.eq(1), attempts::learner_id.eq(7), attempts::active.eq(true))
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    fn retry_new<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut() -> N,
    ) -> Result<Self, Error>
    where
        C: Executor<Blocking>,
        BackendOf<Blocking, C>: OneStatementBackend,
        Self: KeyRenew<K, Blocking, C, N>,
    {
        drive(renew::retry_new::<Self, K, Blocking, C, N>(
            conn, key, build,
        ))
    }

    /// [`upsert`](Self::upsert) in one statement, on PostgreSQL: applies the changes `update`
    /// returns, which do not depend on the live row, to the live row of `key`, or, when the key
    /// has none, inserts the row `insert` returns with the counter one past the key's newest
    /// row's, which the statement sets itself; returns the row written.
    ///
    /// Nothing is read first, so both closures get nothing. The changes may use the row's own
    /// columns as SQL (`score.eq(score + 1)`), but not write or read the key's columns or the
    /// markers, and the new row must not give the counter a value: such changes and rows are
    /// refused with [`Error::InvalidNewRow`] before anything is sent, as are the rows
    /// [`retry_new`](Self::retry_new) refuses (a key column or a marker left out, any column
    /// written `DEFAULT`). A concurrent update of the live row makes the statement wait, then
    /// apply the changes to the row as updated. A concurrent writer that retires the row, or
    /// inserts the key's first row, or a new row that is not a live row of the key when the
    /// key has none, make the statement write nothing (or fail); a transaction like `upsert`'s
    /// then runs (the live row locked, the same statement sent), which returns `upsert`'s
    /// errors, and updates a first row another writer inserted. Changes that set nothing (every
    /// field of a changeset `None`) insert the new row when the key has no live row, and return
    /// Diesel's `EmptyChangeset` error when it has one, as in `upsert`.
    /// Both closures may run more than once. A table in a named schema, or named like one of the
    /// statement's CTEs (`successor`, `locked`, `retired`, `updated`, `inserted`), returns
    /// [`Error::Unsupported`]. On SQLite and MySQL/MariaDB it does not compile: use `upsert`.
    ///
    /// ```no_run
    /// # use diesel::prelude::*;
    /// # use soft_delete_runtime::prelude::*;
    /// # diesel::table! { attempts (id) { id -> Integer, exam_id -> Integer, learner_id -> Integer, active -> Bool, retry -> Integer, score -> Integer } }
    /// # #[derive(Queryable, Selectable, Identifiable, SoftDelete)]
    /// # #[diesel(table_name = attempts)]
    /// # #[active_unique(fields = "exam_id, learner_id", counter = retry)]
    /// # struct Attempt { id: i32, exam_id: i32, learner_id: i32, #[soft_delete(marker = active)] active: bool, retry: i32, score: i32 }
    /// # fn run(conn: &mut PgConnection) -> Result<(), soft_delete_runtime::Error> {
    /// use attempts::{active, exam_id, learner_id, score};
    /// // One statement: the live attempt's score raised, or a first attempt inserted.
    /// let live = Attempt::upsert_new(
    ///     conn,
    ///     (1, 7),
    ///     || (exam_id.eq(1), learner_id.eq(7), active.eq(true), score.eq(1)),
    ///     || score.eq(score + 1),
    /// )?;
    /// # Ok(())
    /// # }
    /// ```
    fn upsert_new<C, N, U>(
        conn: &mut C,
        key: Self::Value,
        insert: impl FnMut() -> N,
        update: impl FnMut() -> U,
    ) -> Result<Self, Error>
    where
        C: Executor<Blocking>,
        BackendOf<Blocking, C>: OneStatementBackend,
        Self: KeyMerge<K, Blocking, C, N, U>,
    {
        drive(merge::upsert_new::<Self, K, Blocking, C, N, U>(
            conn, key, insert, update,
        ))
    }

    /// [`start`](Self::start) in one statement, on PostgreSQL, also for a key with history:
    /// inserts the row `build` returns, which does not get the counter, as the key's first live
    /// row, with the counter one past the key's newest row's (or its first value), which the
    /// statement sets itself; returns the new row.
    ///
    /// Nothing is read first, so `build` gets nothing, and its row must not give the counter's
    /// column a value. It is [`upsert_new`](Self::upsert_new)'s statement with nothing to
    /// update: when it writes nothing (the key has a live row, a concurrent writer inserted one,
    /// the new row is not a live row of the key), a transaction like `start`'s runs, which
    /// returns the errors `start` returns: [`Error::Conflict`] with the live row's id,
    /// [`Error::InvalidNewRow`], [`Error::Contended`]. The rows and tables it refuses before
    /// anything is sent are `retry_new`'s. `build` may run more than once. On SQLite and
    /// MySQL/MariaDB it does not compile: use `start`.
    ///
    /// ```no_run
    /// # use diesel::prelude::*;
    /// # use soft_delete_runtime::prelude::*;
    /// # diesel::table! { attempts (id) { id -> Integer, exam_id -> Integer, learner_id -> Integer, active -> Bool, retry -> Integer } }
    /// # #[derive(Queryable, Selectable, Identifiable, SoftDelete)]
    /// # #[diesel(table_name = attempts)]
    /// # #[active_unique(fields = "exam_id, learner_id", counter = retry)]
    /// # struct Attempt { id: i32, exam_id: i32, learner_id: i32, #[soft_delete(marker = active)] active: bool, retry: i32 }
    /// # fn run(conn: &mut PgConnection) -> Result<(), soft_delete_runtime::Error> {
    /// use attempts::{active, exam_id, learner_id};
    /// // One statement: the first live attempt, numbered after the key's retired ones.
    /// let first = Attempt::start_new(conn, (1, 7), || {
    ///     (exam_id.eq(1), learner_id.eq(7), active.eq(true))
    /// })?;
    /// # Ok(())
    /// # }
    /// ```
    fn start_new<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut() -> N,
    ) -> Result<Self, Error>
    where
        C: Executor<Blocking>,
        BackendOf<Blocking, C>: OneStatementBackend,
        Self: KeyMerge<K, Blocking, C, N, NoChanges<TableOf<Self>>>,
    {
        drive(merge::start_new::<Self, K, Blocking, C, N>(
            conn, key, build,
        ))
    }
}

/// The statements of key `K` of a model; implemented for every [`ActiveUnique<K>`] model
/// whose table can filter and order by the key.
pub trait KeyQueries<K>: ActiveUnique<K> {
    /// The statement selecting the live row of a key: [`LiveRow<Self, K>`].
    type LiveRows;
    /// The statement selecting the rows of a key, newest first: [`History<Self, K>`].
    type HistoryRows;
    /// See [`ActiveUnique::live_query`].
    fn live_rows(key: Self::Value) -> Self::LiveRows;
    /// See [`ActiveUnique::history_query`].
    fn history_rows(key: Self::Value) -> Self::HistoryRows;
}

impl<M, K> KeyQueries<K> for M
where
    M: ActiveUnique<K>,
    TableOf<M>: FilterDsl<M::Filter>,
    KeyRows<M, K>:
        FilterDsl<dsl::live<TableOf<M>>> + FilterDsl<WithDeletedTrace<dsl::live<TableOf<M>>>>,
    dsl::Filter<KeyRows<M, K>, WithDeletedTrace<dsl::live<TableOf<M>>>>: OrderDsl<M::HistoryOrder>,
{
    type LiveRows = LiveRow<M, K>;
    type HistoryRows = History<M, K>;

    fn live_rows(key: Self::Value) -> LiveRow<Self, K> {
        let rows = FilterDsl::filter(TableOf::<M>::default(), M::key_filter(key));
        FilterDsl::filter(rows, <TableOf<M> as SoftDeleteTable>::live())
    }

    fn history_rows(key: Self::Value) -> History<Self, K> {
        let rows = FilterDsl::filter(TableOf::<M>::default(), M::key_filter(key));
        let every_row = WithDeletedTrace(<TableOf<M> as SoftDeleteTable>::live());
        OrderDsl::order(FilterDsl::filter(rows, every_row), M::history_order())
    }
}

/// The type of a key's counter: an integer column numbering the rows of a key from `0`, or
/// [`NoCounter`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an active-unique counter",
    label = "a counter is an integer: `i16`, `i32`, `i64`, `u16`, `u32` or `u64`",
    note = "the counter numbers a key's rows 0, 1, 2, ...; `retry()` gives the next value to the new row"
)]
pub trait CounterValue: Clone + PartialEq + Debug + Send + Sync + 'static {
    /// Whether this is a real counter (`false` for [`NoCounter`]).
    const ENABLED: bool;
    /// The value of a key's first row.
    fn first() -> Self;
    /// The value after this one, or `None` past the type's maximum.
    fn next(&self) -> Option<Self>;
}

macro_rules! counters {
    ($($ty:ty),*) => {$(
        impl CounterValue for $ty {
            const ENABLED: bool = true;
            fn first() -> Self {
                0
            }
            fn next(&self) -> Option<Self> {
                self.checked_add(1)
            }
        }
    )*};
}
counters!(i16, i32, i64, u16, u32, u64);

/// The counter of a key declared without `counter = ...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct NoCounter;

impl CounterValue for NoCounter {
    const ENABLED: bool = false;
    fn first() -> Self {
        NoCounter
    }
    fn next(&self) -> Option<Self> {
        Some(NoCounter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_start_at_zero_and_stop_at_their_maximum() {
        assert_eq!(<i32 as CounterValue>::first(), 0);
        assert_eq!(41_i64.next(), Some(42));
        assert_eq!(i16::MAX.next(), None);
        assert_eq!(u64::MAX.next(), None);
        assert_eq!(NoCounter.next(), Some(NoCounter));
        const { assert!(i32::ENABLED && !NoCounter::ENABLED) };
    }
}
