//! Active-unique writes the way each backend runs them (see [`SupportedBackend`]'s `LOCK`,
//! `CACHE_LOCKING_READ` and `Fetch`): the locking read of a key's live row, and how an inserted
//! or updated row is read back.

use std::future::Future;

use diesel::backend::Backend;
use diesel::query_builder::{
    AsChangeset, AsQuery, AstPass, InsertStatement, IntoUpdateTarget, Query, QueryFragment, QueryId,
};
use diesel::query_dsl::methods::FindDsl;
use diesel::query_dsl::RunQueryDsl;
use diesel::{Insertable, QueryResult};

use super::{ActiveUnique, KeyOps, TableOf};
use crate::backend::SupportedBackend;
use crate::dsl;
use crate::exec::Execute;
use crate::sql::backend::Reread;

/// A select statement with the backend's row lock appended ([`SupportedBackend::LOCK`]).
///
/// Diesel's own `.for_update()` needs a bound that cannot be written in generic code (its lock
/// type is private), so the lock is added as a fragment around the finished statement, which
/// keeps it a prepared statement, cached where [`SupportedBackend::CACHE_LOCKING_READ`] allows.
#[derive(Debug, Clone, Copy)]
pub struct Locked<Q>(pub Q);

impl<Q: Query> Query for Locked<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryId> QueryId for Locked<Q> {
    type QueryId = Locked<Q::QueryId>;
    const HAS_STATIC_QUERY_ID: bool = Q::HAS_STATIC_QUERY_ID;
}

impl<Q, DB> QueryFragment<DB> for Locked<Q>
where
    DB: Backend + SupportedBackend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        if !DB::CACHE_LOCKING_READ {
            out.unsafe_to_cache_prepared();
        }
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(DB::LOCK);
        Ok(())
    }
}

impl<Q, C> RunQueryDsl<C> for Locked<Q> {}

/// Inserts a new row and reads it back; see [`SupportedBackend::Fetch`]. And `retry` and `start`
/// in one statement where the backend can (`Returning`).
pub trait InsertNew<M: ActiveUnique<K>, K, Mo, C, N> {
    /// Inserts `new` and returns the row inserted, or `None` when it cannot be found as the
    /// live row of `key` (then it is not one, and the caller rolls back).
    fn insert_new(
        conn: &mut C,
        key: M::Value,
        new: N,
    ) -> impl Future<Output = QueryResult<Option<M>>>;

    /// `retry` of `key` without a transaction of its own: the live row read, then retired and
    /// its successor (built by `build`) inserted by one statement. `Some(row)` when done; `None`
    /// when nothing was written and the caller runs its transaction (the backend has no such
    /// statement, the row cannot go through it, a concurrent writer got there first, the new
    /// row is invalid, or the statement failed).
    fn retry_in_one<F: FnMut(&M, M::Counter) -> N>(
        conn: &mut C,
        key: M::Value,
        build: &mut F,
    ) -> impl Future<Output = Option<M>>;

    /// `start` of `key` in one statement: inserts the row `build` makes of the counter's first
    /// value when the key has no row yet (no live row, when it has no counter). `Some(row)`
    /// when done, `None` as for [`retry_in_one`](Self::retry_in_one).
    fn start_in_one<F: FnMut(M::Counter) -> N>(
        conn: &mut C,
        key: M::Value,
        build: &mut F,
    ) -> impl Future<Output = Option<M>>;
}

/// The `INSERT` statement of `N` into `M`'s table.
pub type InsertOf<M, N> = InsertStatement<TableOf<M>, <N as Insertable<TableOf<M>>>::Values>;

/// The update of `M`'s row `id` (key `K`) with changes `U`, as Diesel writes it.
pub type UpdateOf<M, K, U> = dsl::Update<dsl::Find<TableOf<M>, <M as ActiveUnique<K>>::Id>, U>;

/// Updates a key's live row and reads it back; see [`SupportedBackend::Fetch`].
pub trait UpdateLive<M: ActiveUnique<K>, K, Mo, C, U> {
    /// Applies `changes` to the row `id`, the live row of `key`; returns the key's live row
    /// after the update: that row, unless the changes retired it or moved it off the key
    /// (then `None`, and the caller rolls back).
    fn update_live(
        conn: &mut C,
        key: M::Value,
        id: M::Id,
        changes: U,
    ) -> impl Future<Output = QueryResult<Option<M>>>;
}

impl<M, K, Mo, C, U> UpdateLive<M, K, Mo, C, U> for Reread
where
    M: KeyOps<K, Mo, C>,
    C: Execute<Mo, UpdateOf<M, K, U>>,
    UpdateOf<M, K, U>: AsQuery,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: IntoUpdateTarget<Table = TableOf<M>>,
    U: AsChangeset<Target = TableOf<M>>,
{
    async fn update_live(
        conn: &mut C,
        key: M::Value,
        id: M::Id,
        changes: U,
    ) -> QueryResult<Option<M>> {
        let row = FindDsl::find(TableOf::<M>::default(), id);
        conn.execute(diesel::update(row).set(changes)).await?;
        M::lock_live(conn, key).await
    }
}

impl<M, K, Mo, C, N> InsertNew<M, K, Mo, C, N> for Reread
where
    M: KeyOps<K, Mo, C>,
    N: Insertable<TableOf<M>>,
    C: Execute<Mo, InsertOf<M, N>>,
{
    async fn insert_new(conn: &mut C, key: M::Value, new: N) -> QueryResult<Option<M>> {
        conn.execute(diesel::insert_into(TableOf::<M>::default()).values(new))
            .await?;
        M::lock_live(conn, key).await
    }

    async fn retry_in_one<F: FnMut(&M, M::Counter) -> N>(
        _: &mut C,
        _: M::Value,
        _: &mut F,
    ) -> Option<M> {
        None
    }

    async fn start_in_one<F: FnMut(M::Counter) -> N>(
        _: &mut C,
        _: M::Value,
        _: &mut F,
    ) -> Option<M> {
        None
    }
}
