//! `start` and `retry`, the statements they run, and the write transaction both run in:
//! begun with the backend's [`UniqueBackend::BEGIN`], rolled back on any error, and run again
//! when a concurrent writer made it fail.

use std::cell::RefCell;
use std::hash::{BuildHasher, RandomState};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, Connection, TransactionManager};
use diesel::expression::SqlLiteral;
use diesel::query_builder::{AsChangeset, AsQuery, IntoUpdateTarget, QueryFragment};
use diesel::query_dsl::methods::{ExecuteDsl, FindDsl, LimitDsl, SelectDsl};
use diesel::query_dsl::{LoadQuery, RunQueryDsl};
use diesel::result::{DatabaseErrorKind, Error as DieselError, OptionalExtension};
use diesel::sql_types::Text;
use diesel::{Expression, QueryResult, QuerySource, Selectable, SelectableHelper};

use super::backend::{InsertNew, Locked, UniqueBackend};
use super::conflict::{Holder, KeyConflict, RowId};
use super::{ActiveUnique, CounterValue, KeyQueries, TableOf};
use crate::backend::{RenderBackend, SupportedBackend, TableName};
use crate::write::{self, Deletion, SoftDeleteTarget};
use crate::{dsl, Error};

/// How many times `start`, `retry` and a guarded `restore` run their transaction (and how
/// many times `retry` reads the live row again inside one) before giving up with
/// [`Error::Contended`].
pub const ATTEMPTS: u32 = 100;

/// A connection `start`, `retry` and guarded restores run on: one of Diesel's (they use
/// [`AnsiTransactionManager`]) for a backend with a [`UniqueBackend`] implementation.
///
/// A pooled connection (r2d2's `PooledConnection`) has a transaction manager of its own; pass
/// the connection inside it, `&mut *pooled`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot run active-unique writes",
    label = "expected `SqliteConnection`, `PgConnection` or `MysqlConnection`",
    note = "for a pooled connection pass the connection inside it: `&mut *pooled`"
)]
pub trait UniqueConnection:
    Connection<TransactionManager = AnsiTransactionManager, Backend: UniqueBackend>
{
}

impl<C> UniqueConnection for C
where
    C: Connection<TransactionManager = AnsiTransactionManager>,
    C::Backend: UniqueBackend,
{
}

/// The reads and the retire of key `K` on connection `C`; implemented for every
/// [`ActiveUnique<K>`] model that is [`Selectable`] on `C`'s backend.
pub trait KeyOps<K, C>: KeyQueries<K> {
    /// The live row of `key`, read without a lock.
    fn load_live(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>>;
    /// The live row of `key`, locked for the rest of the transaction
    /// ([`UniqueBackend::LOCK`]).
    fn lock_live(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>>;
    /// Every row of `key`, newest first.
    fn load_history(conn: &mut C, key: Self::Value) -> QueryResult<Vec<Self>>;
    /// The newest row of `key`, live or not.
    fn load_newest(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>>;
    /// Soft-deletes the row `id` if it is live; returns the rows changed.
    fn retire(conn: &mut C, id: Self::Id) -> QueryResult<usize>;
    /// The primary key of row `id` as the database writes it as text: how an error names it.
    fn id_text(conn: &mut C, id: Self::Id) -> QueryResult<RowId>;
    /// The table's SQL name, for errors.
    fn table_name() -> TableName;
}

/// The `SELECT` of a key's live row, as the model.
type SelectLive<M, K, DB> = dsl::Select<<M as KeyQueries<K>>::LiveRows, dsl::AsSelect<M, DB>>;
/// The `SELECT` of a key's history, as the model.
type SelectHistory<M, K, DB> = dsl::Select<<M as KeyQueries<K>>::HistoryRows, dsl::AsSelect<M, DB>>;
/// The soft delete of one row by primary key.
type RetireById<M, K> = dsl::SoftDelete<dsl::Find<TableOf<M>, <M as ActiveUnique<K>>::Id>>;
/// One column of the primary key of one row, as text.
type IdText<M, K> =
    dsl::Select<dsl::Find<TableOf<M>, <M as ActiveUnique<K>>::Id>, SqlLiteral<Text>>;

impl<M, K, C> KeyOps<K, C> for M
where
    C: UniqueConnection,
    M: KeyQueries<K> + Selectable<C::Backend>,
    dsl::AsSelect<M, C::Backend>: Expression,
    M::LiveRows: SelectDsl<dsl::AsSelect<M, C::Backend>>,
    SelectLive<M, K, C::Backend>: LoadQuery<'static, C, M>,
    Locked<SelectLive<M, K, C::Backend>>: LoadQuery<'static, C, M>,
    M::HistoryRows: SelectDsl<dsl::AsSelect<M, C::Backend>>,
    SelectHistory<M, K, C::Backend>: LoadQuery<'static, C, M> + LimitDsl,
    dsl::Limit<SelectHistory<M, K, C::Backend>>: LoadQuery<'static, C, M>,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: SoftDeleteTarget<Table = TableOf<M>>,
    RetireById<M, K>: ExecuteDsl<C>,
    dsl::Find<TableOf<M>, M::Id>: SelectDsl<SqlLiteral<Text>>,
    IdText<M, K>: LoadQuery<'static, C, String>,
    <TableOf<M> as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    fn load_live(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>> {
        SelectDsl::select(M::live_rows(key), M::as_select())
            .get_result(conn)
            .optional()
    }

    fn lock_live(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>> {
        Locked(SelectDsl::select(M::live_rows(key), M::as_select()))
            .get_result(conn)
            .optional()
    }

    fn load_history(conn: &mut C, key: Self::Value) -> QueryResult<Vec<Self>> {
        SelectDsl::select(M::history_rows(key), M::as_select()).load(conn)
    }

    fn load_newest(conn: &mut C, key: Self::Value) -> QueryResult<Option<Self>> {
        LimitDsl::limit(SelectDsl::select(M::history_rows(key), M::as_select()), 1)
            .get_result(conn)
            .optional()
    }

    fn retire(conn: &mut C, id: Self::Id) -> QueryResult<usize> {
        let row = FindDsl::find(TableOf::<M>::default(), id);
        ExecuteDsl::execute(write::soft_delete_with(row, Deletion::now()), conn)
    }

    fn id_text(conn: &mut C, id: Self::Id) -> QueryResult<RowId> {
        let dialect = <C::Backend as SupportedBackend>::DIALECT;
        let mut parts = Vec::with_capacity(M::ID_COLUMNS.len());
        for column in M::ID_COLUMNS {
            let text = diesel::dsl::sql::<Text>(&dialect.cast_to_text(&dialect.quote(column)));
            let row = FindDsl::find(TableOf::<M>::default(), id.clone());
            parts.push(SelectDsl::select(row, text).get_result::<String>(conn)?);
        }
        Ok(RowId::from_parts(parts))
    }

    fn table_name() -> TableName {
        TableName::of::<TableOf<M>>()
    }
}

/// Inserting a new row `N` for key `K` on connection `C` and reading it back, the way the
/// backend does it ([`UniqueBackend::Fetch`]).
pub trait KeyInsert<K, C, N>: KeyOps<K, C> {
    /// Inserts `new`; returns it as read back, or `None` when it is not the live row of `key`.
    fn insert_new(conn: &mut C, key: Self::Value, new: N) -> QueryResult<Option<Self>>;
}

impl<M, K, C, N> KeyInsert<K, C, N> for M
where
    M: KeyOps<K, C>,
    C: UniqueConnection,
    <C::Backend as UniqueBackend>::Fetch: InsertNew<M, K, C, N>,
{
    fn insert_new(conn: &mut C, key: Self::Value, new: N) -> QueryResult<Option<Self>> {
        <<C::Backend as UniqueBackend>::Fetch as InsertNew<M, K, C, N>>::insert_new(conn, key, new)
    }
}

/// Updating the row `id` of key `K` on connection `C` with changes `U`; implemented for every
/// model whose table takes `U` in `diesel::update(table.find(id)).set(U)`.
pub trait KeyUpdate<K, C, U>: KeyOps<K, C> {
    /// Applies `changes` to the row `id`; returns the rows changed.
    fn update_row(conn: &mut C, id: Self::Id, changes: U) -> QueryResult<usize>;
}

impl<M, K, C, U> KeyUpdate<K, C, U> for M
where
    C: UniqueConnection,
    M: KeyOps<K, C>,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: IntoUpdateTarget<Table = TableOf<M>>,
    U: AsChangeset<Target = TableOf<M>>,
    dsl::Update<dsl::Find<TableOf<M>, M::Id>, U>: AsQuery + ExecuteDsl<C>,
{
    fn update_row(conn: &mut C, id: Self::Id, changes: U) -> QueryResult<usize> {
        let row = FindDsl::find(TableOf::<M>::default(), id);
        ExecuteDsl::execute(diesel::update(row).set(changes), conn)
    }
}

/// Why one run of a transaction body did not succeed.
pub(crate) enum Failure {
    /// Return this error (after rolling back).
    Fatal(Error),
    /// A database error; whether to run again is decided after rolling back.
    Db(DieselError),
    /// A concurrent writer got there first without an error: run again.
    Lost,
}

impl From<DieselError> for Failure {
    fn from(error: DieselError) -> Self {
        Failure::Db(error)
    }
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        match error {
            Error::Diesel(error) => Failure::Db(error),
            other => Failure::Fatal(other),
        }
    }
}

/// What a unique violation means, judged after the rollback by reading the key again.
pub(crate) enum Violation {
    /// A live row holds the key: return this typed error.
    Conflict(Error),
    /// The key changed under us: run again.
    Retry,
    /// Not this key's doing (another constraint): return the database's error.
    Raw,
}

/// What class of database error ended a run.
enum Class {
    /// A unique or exclusion violation.
    Violation,
    /// A serialization failure, deadlock, lock timeout or busy database: run again.
    Contention,
    /// Anything else: return it.
    Other,
}

fn classify(error: &DieselError) -> Class {
    match error {
        DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ExclusionViolation,
            _,
        ) => Class::Violation,
        DieselError::DatabaseError(DatabaseErrorKind::SerializationFailure, _) => Class::Contention,
        // Diesel has no kinds for these; their messages are stable across versions.
        DieselError::DatabaseError(_, info) => {
            let message = info.message();
            let contention = [
                "deadlock detected",          // PostgreSQL 40P01
                "due to lock timeout",        // PostgreSQL 55P03, `lock_timeout`
                "Lock wait timeout exceeded", // MySQL/MariaDB 1205
                "database is locked",         // SQLite BUSY
                "database table is locked",   // SQLite LOCKED
            ];
            if contention.iter().any(|m| message.contains(m)) {
                Class::Contention
            } else {
                Class::Other
            }
        }
        _ => Class::Other,
    }
}

/// Runs `body` once in a write transaction: its own transaction begun with
/// [`UniqueBackend::BEGIN`] when the connection is not in one, else a savepoint. Returns the
/// result and whether it ran nested.
fn run_once<C, T>(
    conn: &mut C,
    body: &mut impl FnMut(&mut C) -> Result<T, Failure>,
) -> (Result<T, Failure>, bool)
where
    C: UniqueConnection,
{
    match AnsiTransactionManager::begin_transaction_sql(conn, <C::Backend as UniqueBackend>::BEGIN)
    {
        Ok(()) => {}
        Err(DieselError::AlreadyInTransaction) => {
            // Inside the caller's transaction: a savepoint, which Diesel manages.
            return (conn.transaction(|conn| body(conn)), true);
        }
        Err(error) => return (Err(Failure::Db(error)), false),
    }
    let result = match body(conn) {
        Ok(value) => AnsiTransactionManager::commit_transaction(conn)
            .map(|()| value)
            .map_err(Failure::Db),
        Err(failure) => match AnsiTransactionManager::rollback_transaction(conn) {
            Ok(()) | Err(DieselError::BrokenTransactionManager) => Err(failure),
            Err(error) => Err(Failure::Db(error)),
        },
    };
    (result, false)
}

/// Runs `body` in a write transaction until it succeeds, fails for a reason of its own, or
/// has run [`ATTEMPTS`] times. A unique violation is judged by `on_violation` after the
/// rollback; contention runs again after a short random pause, except inside the caller's
/// transaction, which the error may have doomed (MySQL rolls back the whole transaction on
/// a deadlock), so it returns [`Error::Contended`] for the caller to retry.
pub(crate) fn run<C, T>(
    conn: &mut C,
    contended: impl Fn(u32) -> Error,
    mut body: impl FnMut(&mut C) -> Result<T, Failure>,
    mut on_violation: impl FnMut(&mut C) -> Result<Violation, Error>,
) -> Result<T, Error>
where
    C: UniqueConnection,
{
    for attempt in 1..=ATTEMPTS {
        let (result, nested) = run_once(conn, &mut body);
        let error = match result {
            Ok(value) => return Ok(value),
            Err(Failure::Fatal(error)) => return Err(error),
            Err(Failure::Lost) => continue,
            Err(Failure::Db(error)) => error,
        };
        match classify(&error) {
            Class::Violation => match on_violation(conn)? {
                Violation::Conflict(typed) => return Err(typed),
                Violation::Retry => {}
                Violation::Raw => return Err(error.into()),
            },
            Class::Contention if nested => return Err(contended(attempt)),
            Class::Contention => pause(attempt),
            Class::Other => return Err(error.into()),
        }
    }
    Err(contended(ATTEMPTS))
}

/// Waits up to `min(2^attempt, 32)` ms, at random, so writers that collided spread out.
fn pause(attempt: u32) {
    let cap_ms = 1u64 << attempt.min(5);
    let random = RandomState::new().hash_one(std::thread::current().id());
    std::thread::sleep(Duration::from_micros(random % (cap_ms * 1000)));
}

fn contended<M: KeyOps<K, C>, K, C>(attempts: u32) -> Error {
    Error::Contended {
        table: M::table_name(),
        key: M::NAME,
        attempts,
    }
}

/// The typed error for a key held by `live`; `restored` is the row a restore was to bring
/// back. Reads the two rows' keys as text (the error path only).
pub(crate) fn conflict<M: KeyOps<K, C>, K, C>(
    conn: &mut C,
    key: &M::Value,
    live: &M,
    restored: Option<&M>,
) -> QueryResult<Error> {
    let live_id = M::id_text(conn, live.row_id())?;
    let restored_id = match restored {
        Some(row) => Some(M::id_text(conn, row.row_id())?),
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
pub(crate) fn refuse_null_part<M: KeyOps<K, C>, K, C>(key: &M::Value) -> Result<(), Error> {
    match M::null_part(key) {
        Some(column) => Err(Error::NullKeyPart {
            table: M::table_name(),
            key: M::NAME,
            column,
        }),
        None => Ok(()),
    }
}

fn invalid<M: KeyOps<K, C>, K, C>(problem: &'static str) -> Failure {
    Failure::Fatal(Error::InvalidNewRow {
        table: M::table_name(),
        key: M::NAME,
        problem,
    })
}

/// The inserted row, if it is a live row of `key`.
fn check_new<M: KeyOps<K, C>, K, C>(new: Option<M>, key: &M::Value) -> Result<M, Failure> {
    match new {
        None => Err(invalid::<M, K, C>(
            "is not a live row of the key: the closure must build a live row with the key's values",
        )),
        Some(new) if new.key() != *key => Err(invalid::<M, K, C>(
            "has other values for the key's fields than the key it was built for",
        )),
        Some(new) if !new.is_live() => Err(invalid::<M, K, C>(
            "is not live: the closure must build a row whose marker says live",
        )),
        Some(new) => Ok(new),
    }
}

fn next_counter<M: KeyOps<K, C>, K, C>(counter: &M::Counter) -> Result<M::Counter, Failure> {
    counter
        .next()
        .ok_or_else(|| invalid::<M, K, C>("would need a counter past its type's maximum"))
}

/// The counter of a key's new first live row: `0`, or one past its newest row's.
fn first_counter<M: KeyOps<K, C>, K, C>(
    conn: &mut C,
    key: &M::Value,
) -> Result<M::Counter, Failure> {
    if !M::Counter::ENABLED {
        return Ok(M::Counter::first());
    }
    match M::load_newest(conn, key.clone())? {
        Some(newest) => next_counter::<M, K, C>(&newest.counter()),
        None => Ok(M::Counter::first()),
    }
}

pub(crate) fn start<M, K, C, N>(
    conn: &mut C,
    key: M::Value,
    mut build: impl FnMut(M::Counter) -> N,
) -> Result<M, Error>
where
    M: KeyInsert<K, C, N>,
    C: UniqueConnection,
{
    refuse_null_part::<M, K, C>(&key)?;
    let body = |conn: &mut C| -> Result<M, Failure> {
        if let Some(live) = M::lock_live(conn, key.clone())? {
            return Err(Failure::Fatal(conflict::<M, K, C>(
                conn, &key, &live, None,
            )?));
        }
        let counter = first_counter::<M, K, C>(conn, &key)?;
        let new = M::insert_new(conn, key.clone(), build(counter))?;
        check_new::<M, K, C>(new, &key)
    };
    // A concurrent `start` inserted first: its row is live now.
    let on_violation = |conn: &mut C| -> Result<Violation, Error> {
        Ok(match M::load_live(conn, key.clone())? {
            Some(live) => Violation::Conflict(conflict::<M, K, C>(conn, &key, &live, None)?),
            None => Violation::Raw,
        })
    };
    run(conn, contended::<M, K, C>, body, on_violation)
}

pub(crate) fn upsert<M, K, C, N, U>(
    conn: &mut C,
    key: M::Value,
    mut insert: impl FnMut(M::Counter) -> N,
    mut update: impl FnMut(&M) -> U,
) -> Result<M, Error>
where
    M: KeyInsert<K, C, N> + KeyUpdate<K, C, U>,
    C: UniqueConnection,
{
    refuse_null_part::<M, K, C>(&key)?;
    let body = |conn: &mut C| -> Result<M, Failure> {
        let Some(live) = M::lock_live(conn, key.clone())? else {
            let counter = first_counter::<M, K, C>(conn, &key)?;
            let new = M::insert_new(conn, key.clone(), insert(counter))?;
            return check_new::<M, K, C>(new, &key);
        };
        M::update_row(conn, live.row_id(), update(&live))?;
        match M::lock_live(conn, key.clone())? {
            Some(updated) if updated.row_id() == live.row_id() => Ok(updated),
            _ => Err(invalid::<M, K, C>(
                "is no longer the key's live row after the update: the changes must keep the key's fields and the marker",
            )),
        }
    };
    // A concurrent writer inserted the key's live row first: update that one.
    let on_violation = |conn: &mut C| -> Result<Violation, Error> {
        Ok(match M::load_live(conn, key.clone())? {
            Some(_) => Violation::Retry,
            None => Violation::Raw,
        })
    };
    run(conn, contended::<M, K, C>, body, on_violation)
}

pub(crate) fn retry<M, K, C, N>(
    conn: &mut C,
    key: M::Value,
    mut build: impl FnMut(&M, M::Counter) -> N,
) -> Result<M, Error>
where
    M: KeyInsert<K, C, N>,
    C: UniqueConnection,
{
    refuse_null_part::<M, K, C>(&key)?;
    // The row the last run locked: if a unique violation leaves it live, nobody else changed
    // the key and the violation is the new row's own (another unique constraint).
    let locked: RefCell<Option<M::Id>> = RefCell::new(None);
    let body = |conn: &mut C| -> Result<M, Failure> {
        let current = lock_current::<M, K, C>(conn, &key)?;
        *locked.borrow_mut() = Some(current.row_id());
        let next = next_counter::<M, K, C>(&current.counter())?;
        if M::retire(conn, current.row_id())? != 1 {
            return Err(Failure::Lost);
        }
        let new = M::insert_new(conn, key.clone(), build(&current, next))?;
        check_new::<M, K, C>(new, &key)
    };
    let on_violation = |conn: &mut C| -> Result<Violation, Error> {
        Ok(match M::load_live(conn, key.clone())? {
            Some(live) if locked.borrow().as_ref() != Some(&live.row_id()) => Violation::Retry,
            _ => Violation::Raw,
        })
    };
    run(conn, contended::<M, K, C>, body, on_violation)
}

/// Locks the live row of `key`. On PostgreSQL a `SELECT ... FOR UPDATE` that waited for a
/// concurrent `retry` finds its row retired and returns nothing, while the successor, inserted
/// after the statement began, is invisible to it; a new statement sees it, so read again.
fn lock_current<M: KeyOps<K, C>, K, C>(conn: &mut C, key: &M::Value) -> Result<M, Failure> {
    for _ in 0..ATTEMPTS {
        if let Some(row) = M::lock_live(conn, key.clone())? {
            return Ok(row);
        }
        if M::load_live(conn, key.clone())?.is_none() {
            return Err(Failure::Fatal(Error::NoLiveRow {
                table: M::table_name(),
                key: M::NAME,
                values: format!("{key:?}"),
            }));
        }
    }
    Err(Failure::Fatal(contended::<M, K, C>(ATTEMPTS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn races_are_told_from_other_errors() {
        let violation = database_error(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(matches!(classify(&violation), Class::Violation));
        let exclusion = database_error(DatabaseErrorKind::ExclusionViolation, "conflicting key");
        assert!(matches!(classify(&exclusion), Class::Violation));
        for (kind, message) in [
            (
                DatabaseErrorKind::SerializationFailure,
                "could not serialize access",
            ),
            (DatabaseErrorKind::Unknown, "deadlock detected"),
            (
                DatabaseErrorKind::Unknown,
                "canceling statement due to lock timeout",
            ),
            (
                DatabaseErrorKind::Unknown,
                "Lock wait timeout exceeded; try restarting transaction",
            ),
            (DatabaseErrorKind::Unknown, "database is locked"),
        ] {
            assert!(
                matches!(classify(&database_error(kind, message)), Class::Contention),
                "{message}"
            );
        }
        let other = database_error(
            DatabaseErrorKind::ForeignKeyViolation,
            "violates foreign key",
        );
        assert!(matches!(classify(&other), Class::Other));
        assert!(matches!(classify(&DieselError::NotFound), Class::Other));
    }

    #[test]
    fn pauses_stay_short() {
        let start = std::time::Instant::now();
        for attempt in 1..=8 {
            pause(attempt);
        }
        assert!(start.elapsed() < Duration::from_millis(8 * 32 + 200));
    }
}
