//! [`retry_new`](super::ActiveUnique::retry_new): `retry` in one statement on PostgreSQL, for a
//! successor built without the retired row. Nothing is read first: the statement retires the
//! live row, reads its counter as it retires it, and inserts the successor with the next one.
//!
//! ```sql
//! /* <the Insertable's own rendering, which registers its binds $1..$k> */
//! WITH "successor" AS (SELECT * FROM (VALUES ($1, .., $k)) AS "t" ("a", "b", ..)
//!                      WHERE <key> AND <live>),                 -- the new row, if it is valid
//!      "locked" AS (SELECT 1 FROM "t" WHERE <key> AND <live>
//!                   FOR NO KEY UPDATE NOWAIT),                  -- async only
//!      "retired" AS (UPDATE "t" SET <marker> = <dead>
//!                    WHERE <key> AND (EXISTS (SELECT 1 FROM "successor")
//!                      AND EXISTS (SELECT 1 FROM "locked")) -- async only
//!                    AND <live> RETURNING "t"."n")
//! INSERT INTO "t" ("a", "b", .., "n")
//! SELECT "successor".*, (SELECT max("n") FROM "retired") + 1 FROM "successor"
//! WHERE EXISTS (SELECT 1 FROM "retired") RETURNING <the model's columns>
//! ```
//!
//! The `UPDATE` finds the row by the key, not by an id read before, so the `INSERT` reads
//! `retired` through an aggregate: one new row even where a missing index let a key have
//! several live rows (all of them are retired then).
//!
//! A concurrent writer of the key makes the `UPDATE` wait for the row's lock; it then reads the
//! row again, finds it retired, and updates nothing, so nothing is inserted. A statement that
//! returns no row (that race, a key with no live row, a new row that is not a live row of the
//! key) or fails changed nothing, and a transaction runs instead: it locks the live row, then
//! sends the same statement, which can no longer lose a race; an empty answer there means the
//! new row is not valid. The counter is the retired row's plus one, so it stays gap-free. The
//! statement is sent as [`Replace`](super::Replace) is (autocommitted, or in a savepoint of the
//! caller's transaction; the async form takes the row's lock with `NOWAIT` first, so that what
//! an abandoned caller sent does not wait for another writer of the key; the waits it cannot
//! rule out are [`one_statement`](super::one_statement)'s: another unique index's uncommitted
//! value, a parent row's key lock).

use std::future::Future;

use diesel::backend::Backend;
use diesel::expression::Expression;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::FilterDsl;
use diesel::query_dsl::RunQueryDsl;
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Text};
use diesel::{Insertable, QueryResult, Selectable, SelectableHelper};

use super::one_statement::{
    cacheable, counted_successor, in_transaction_if, statement, written_alone, OneStatementBackend,
    Refusals, Replaceable, Successor, SuccessorOf,
};
use super::ops::{
    check_written, contended, judge_replacement, lock_current, next_counter, refuse_null_part, run,
    Body, Failure, Params, Violation,
};
use super::{ActiveUnique, KeyOps, KeyRows, TableOf};
use crate::backend::SupportedBackend;
use crate::exec::{BackendOf, Executor, Load};
use crate::write::{self, Deletion, SoftDeleteTarget};
use crate::{dsl, Error};

/// `retry_new`'s statement: retires the live row of the key (`Retire`, the soft delete of the
/// key's rows that are [`Replaceable`]) and inserts the successor with the retired row's
/// `counter` plus one, returning it as `Ret` selects. With `lock`, it first locks the key's live
/// row `FOR NO KEY UPDATE NOWAIT`.
#[derive(Debug, Clone)]
pub struct Renew<S, Retire, Ret> {
    successor: S,
    lock: bool,
    counter: Option<&'static str>,
    retire: Retire,
    returning: Ret,
}

impl<V, Key, Live, Retire, Ret, DB> QueryFragment<DB>
    for Renew<Successor<V, Key, Live>, Retire, Ret>
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
    Successor<V, Key, Live>: QueryFragment<DB>,
    Key: QueryFragment<DB>,
    Live: QueryFragment<DB>,
    Retire: QueryFragment<DB>,
    Ret: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let table = self.successor.table();
        self.successor.walk_ast(out.reborrow())?;
        if self.lock {
            self.successor.walk_locked(None, &mut out)?;
        }
        out.push_sql(", \"retired\" AS (");
        self.retire.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING ");
        match self.counter {
            Some(counter) => {
                out.push_identifier(table)?;
                out.push_sql(".");
                out.push_identifier(counter)?;
            }
            None => out.push_sql("1"),
        }
        out.push_sql(") ");
        self.successor.walk_insert(self.counter, &mut out)?;
        if let Some(counter) = self.counter {
            out.push_sql(", (SELECT max(");
            out.push_identifier(counter)?;
            out.push_sql(") FROM \"retired\") + 1");
        }
        out.push_sql(" FROM \"successor\" WHERE EXISTS (SELECT 1 FROM \"retired\") RETURNING ");
        self.returning.walk_ast(out.reborrow())
    }

    // See `cacheable`; the retire's `UPDATE` is the model's soft delete, whose text is fixed.
    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        cacheable(&self.successor, &[&self.returning], backend)
    }
}

statement!(Renew<S, Retire>);

/// The rows `retry_new` retires: the key's, when the new row is valid (the soft delete adds the
/// live predicate).
type RenewTarget<M, K> = dsl::Filter<KeyRows<M, K>, Replaceable>;
/// `retry_new`'s statement for the new row `N` of `M`'s key `K` on backend `DB`.
type RenewOf<M, K, N, DB> =
    Renew<SuccessorOf<M, K, N>, dsl::SoftDelete<RenewTarget<M, K>>, dsl::AsSelect<M, DB>>;

/// Sending [`retry_new`](super::ActiveUnique::retry_new)'s statement for the new row `N` of key
/// `K` on connection `C` in mode `Mo`; implemented for every model with an active-unique key,
/// on PostgreSQL ([`OneStatementBackend`](super::OneStatementBackend)).
#[diagnostic::on_unimplemented(
    message = "`retry_new` cannot insert `{N}` as the successor of a `{Self}` through `{C}`",
    note = "`retry_new` needs a PostgreSQL connection, and a new row that is `Insertable` into the model's table"
)]
pub trait KeyRenew<K, Mo, C, N>: KeyOps<K, Mo, C> {
    /// Sends the statement with the new row `new` (`lock`: the key's live row locked `FOR NO
    /// KEY UPDATE NOWAIT` first): the row inserted, `None` when nothing was written, or
    /// [`Error::InvalidNewRow`] when the statement cannot take `new`.
    fn renew(
        conn: &mut C,
        key: Self::Value,
        new: N,
        lock: bool,
    ) -> impl Future<Output = Result<Option<Self>, Error>>;
}

impl<M, K, Mo, C, N> KeyRenew<K, Mo, C, N> for M
where
    C: Executor<Mo>,
    BackendOf<Mo, C>: OneStatementBackend + Default,
    <BackendOf<Mo, C> as Backend>::QueryBuilder: Default,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<BackendOf<Mo, C>>,
    TableOf<M>: FilterDsl<M::Filter>,
    KeyRows<M, K>: FilterDsl<Replaceable>,
    RenewTarget<M, K>: SoftDeleteTarget<Table = TableOf<M>>,
    C: Load<Mo, RenewOf<M, K, N, BackendOf<Mo, C>>, M>,
{
    async fn renew(conn: &mut C, key: M::Value, new: N, lock: bool) -> Result<Option<M>, Error> {
        let statement = renewal::<M, K, BackendOf<Mo, C>, N>(key, new, lock)?;
        Ok(conn.load(statement).await?.into_iter().next())
    }
}

/// `retry_new`'s statement for `new`, or why it cannot take `new`.
fn renewal<M, K, DB, N>(key: M::Value, new: N, lock: bool) -> Result<RenewOf<M, K, N, DB>, Error>
where
    DB: SupportedBackend + Default,
    DB::QueryBuilder: Default,
    M: ActiveUnique<K> + super::KeyTable<K> + Selectable<DB>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<DB>,
    TableOf<M>: FilterDsl<M::Filter>,
    KeyRows<M, K>: FilterDsl<Replaceable>,
    RenewTarget<M, K>: SoftDeleteTarget<Table = TableOf<M>>,
{
    let (successor, counter) = counted_successor::<M, K, DB, N>(&key, new, &REFUSALS)?;
    let rows = FilterDsl::filter(TableOf::<M>::default(), M::key_filter(key));
    let retire = write::soft_delete_with(
        FilterDsl::filter(rows, Replaceable::new(None, lock)),
        Deletion::now(),
    );
    Ok(Renew {
        successor,
        lock,
        counter,
        retire,
        returning: M::as_returning(),
    })
}

/// What `retry_new` says of a table or a row its statement cannot take.
const REFUSALS: Refusals = Refusals {
    table: "`retry_new` on a table in a named schema, or named like a CTE of the one-statement forms (`successor`, `locked`, `retired`, `updated`, `inserted`): use `retry`",
    row: "cannot be sent in `retry_new`'s statement: it must give the key's columns and the markers a value, and no column `DEFAULT` (an `Insertable` writes a `None` so unless it has `#[diesel(treat_none_as_default_value = false)]`)",
    counter: "gives the counter a value: `retry_new` sets it to the retired row's plus one",
};

/// The transaction that runs when the statement alone wrote nothing: the live row locked,
/// then the same statement, which no concurrent writer can make miss it.
struct Renewal<M: ActiveUnique<K>, K, Mo, C, N, F> {
    key: M::Value,
    build: F,
    /// The row the last run locked (see [`judge_replacement`]).
    locked: Option<M::Id>,
    _params: Params<K, Mo, C, N>,
}

impl<M, K, Mo, C, N, F> Body<Mo, C> for Renewal<M, K, Mo, C, N, F>
where
    M: KeyRenew<K, Mo, C, N>,
    F: FnMut() -> N,
{
    type Output = M;

    async fn attempt(&mut self, conn: &mut C) -> Result<M, Failure> {
        let current = lock_current::<M, K, Mo, C>(conn, &self.key).await?;
        self.locked = Some(current.row_id());
        next_counter::<M, K>(&current.counter())?;
        match M::renew(conn, self.key.clone(), (self.build)(), false).await {
            // The live row is locked: only a new row that is not valid leaves it in place.
            Ok(new) => check_written::<M, K, Mo, C>(conn, new, &self.key).await,
            Err(error) => Err(Failure::Failed(error)),
        }
    }

    async fn judge(&mut self, conn: &mut C) -> Result<Violation, Error> {
        judge_replacement::<M, K, Mo, C>(conn, &self.key, self.locked.as_ref()).await
    }

    fn contended(&self, attempts: u32) -> Error {
        contended::<M, K>(attempts)
    }
}

/// The statement alone: autocommitted, or in a savepoint of the caller's transaction, which a
/// failed statement would otherwise doom.
async fn alone<M, K, Mo, C, N>(conn: &mut C, key: M::Value, new: N) -> Result<Option<M>, Error>
where
    M: KeyRenew<K, Mo, C, N>,
    C: Executor<Mo>,
{
    let wrap = conn.in_transaction();
    in_transaction_if(conn, wrap, async |conn: &mut C| {
        M::renew(conn, key, new, C::ABANDONABLE).await
    })
    .await
}

#[cfg_attr(feature = "tracing", tracing::instrument(name = "retry_new", level = "debug", skip_all,
    fields(table = %M::table_name(), key = M::NAME, attempts = tracing::field::Empty)))]
pub(crate) async fn retry_new<M, K, Mo, C, N>(
    conn: &mut C,
    key: M::Value,
    mut build: impl FnMut() -> N,
) -> Result<M, Error>
where
    M: KeyRenew<K, Mo, C, N>,
    C: Executor<Mo>,
{
    refuse_null_part::<M, K>(&key)?;
    let alone = alone::<M, K, Mo, C, N>(conn, key.clone(), build()).await;
    // Nothing written: the transaction tells why, or writes.
    if let Some(row) = written_alone(alone)? {
        return Ok(row);
    }
    let body = Renewal::<M, K, Mo, C, N, _> {
        key,
        build,
        locked: None,
        _params: Params::default(),
    };
    run(conn, body).await
}
