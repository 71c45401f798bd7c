//! The operations on diesel-async's connections (feature `async`).
//!
//! The same operations as the sync API, with the same errors and guarantees (one transaction
//! per operation, typed conflicts, no raw constraint error): the sync API and this module run
//! one implementation (see [`crate::exec`]). Bring the traits into scope with
//! `use soft_delete_runtime::asynchronous::*;` and await:
//!
//! | sync (`prelude`) | async (this module) |
//! | --- | --- |
//! | `Attempt::retry(conn, key, build)` ([`ActiveUnique`]) | `Attempt::retry_async(conn, key, build).await` ([`ActiveUniqueAsync`]) |
//! | `start`, `upsert`, `find_live`, `history`, `retry_new`, `upsert_new`, `start_new` | `start_async`, `upsert_async`, `find_live_async`, `history_async`, `retry_new_async`, `upsert_new_async`, `start_new_async` |
//! | `row.restore(conn)`, `row.restore_and_set(conn, changes)` ([`SoftDelete`]) | `row.restore_async(conn)`, `row.restore_and_set_async(conn, changes)` ([`SoftDeleteAsync`]) |
//! | `row.marker(col).restore(conn)`, `restore_and_set` ([`Marked`]) | `row.marker(col).restore_async(conn)`, `restore_and_set_async` (inherent methods) |
//! | [`Collector`](crate::collector::Collector)`::preview`, `archive` | `preview_async`, `archive_async` (inherent methods) |
//! | [`Batch`](crate::collector::Batch)`::find`, `restore`, `restore_by` | `find_async`, `restore_async`, `restore_by_async` |
//! | [`find_archive`](crate::collector::find_archive), [`ArchiveList::load`](crate::collector::ArchiveList::load), [`check_schema`](crate::collector::check_schema) | `find_archive_async`, `load_async`, `check_schema_async` |
//!
//! The connection is any [`AsyncTarget`]: `AsyncPgConnection`, `AsyncMysqlConnection`,
//! `SyncConnectionWrapper<SqliteConnection>` (per backend feature), or a connection of
//! diesel-async's deadpool (feature `deadpool`) or bb8 (feature `bb8`) pool over one of them.
//! The scopes and bulk writes need nothing from here: they are Diesel statements, which
//! `diesel_async::RunQueryDsl` runs.
//!
//! The futures are `Send` when the connection is (every [`AsyncTarget`]), so they can be
//! spawned and awaited in an axum handler. What they send must be owned (`'static`): the
//! changes an `upsert_async` closure returns, and the primary key `restore_async` copies out of
//! the row.
//!
//! `retry` and friends wait between attempts with `tokio::time::sleep`, which yields to the
//! runtime rather than blocking its thread (diesel-async itself runs on tokio).
//!
//! **Cancellation.** An operation's future may be dropped at any `.await` (a request timeout,
//! `tokio::select!`). A transaction it had begun then is still open on the server: the
//! operation marks the connection's transaction manager broken, so diesel-async's pools drop
//! that connection instead of handing it out again (closing it rolls the transaction back),
//! and a connection you hold yourself refuses further transactions with
//! `BrokenTransactionManager` rather than running statements inside the abandoned one. That
//! holds from the `BEGIN` on: a future dropped while its `BEGIN` runs marks the connection too.
//! Only transactions are refused: a plain statement you send on a broken connection still runs,
//! inside the abandoned transaction, and is never committed, so drop such a connection. On
//! MySQL a future dropped in the middle of a query can leave the connection's protocol out of
//! step: the next use fails with an I/O error such as "packet out of order", or reads the
//! abandoned query's rows as its own (a deserialization error, or rows of the wrong query where
//! the types agree). A read outside a transaction (the catalog reads before an archive) does not
//! mark the connection broken, so drop a MySQL connection whose operation was cancelled. On SQLite,
//! diesel-async's `SyncConnectionWrapper` finishes a dropped statement with `block_in_place`,
//! which needs tokio's multi-threaded runtime.
//!
//! Each async method is its sync twin's name with `_async`: the sync traits are in
//! [`crate::prelude`], which async code imports too (for the scopes), and a second trait with
//! methods of the same names would make every call ambiguous (E0034) wherever both are in
//! scope. The suffix keeps both usable side by side and makes a blocking call easy to spot in
//! async code.
//!
//! ```no_run
//! # #[cfg(feature = "postgres")]
//! # mod example {
//! use diesel::prelude::*;
//! use soft_delete_runtime::asynchronous::*;
//! use soft_delete_runtime::SoftDelete;
//!
//! diesel::table! {
//!     attempts (id) {
//!         id -> Integer,
//!         exam_id -> Integer,
//!         learner_id -> Integer,
//!         retry_number -> Integer,
//!         deleted_at -> Nullable<Timestamp>,
//!     }
//! }
//!
//! #[derive(Queryable, Selectable, Identifiable, SoftDelete, Debug)]
//! #[diesel(table_name = attempts)]
//! #[active_unique(name = "one_active_attempt", fields = "exam_id, learner_id", counter = retry_number)]
//! pub struct Attempt {
//!     pub id: i32,
//!     pub exam_id: i32,
//!     pub learner_id: i32,
//!     pub retry_number: i32,
//!     pub deleted_at: Option<chrono::NaiveDateTime>,
//! }
//!
//! #[derive(Insertable)]
//! #[diesel(table_name = attempts)]
//! pub struct NewAttempt {
//!     pub exam_id: i32,
//!     pub learner_id: i32,
//!     pub retry_number: i32,
//! }
//!
//! async fn retake(
//!     pool: &diesel_async::pooled_connection::deadpool::Pool<diesel_async::AsyncPgConnection>,
//! ) -> Result<Attempt, Box<dyn std::error::Error + Send + Sync>> {
//!     let mut conn = pool.get().await?;
//!     let next = Attempt::retry_async(&mut conn, (1, 7), |_old: &Attempt, retry_number| NewAttempt {
//!         exam_id: 1,
//!         learner_id: 7,
//!         retry_number,
//!     })
//!     .await?;
//!     Ok(next)
//! }
//! # }
//! ```

use std::future::Future;

use diesel::query_dsl::methods::FindDsl;
use diesel::Identifiable;

use crate::exec::{BackendOf, Execute, NonBlocking};
use crate::model::{guarded_restore, KeyGuard, PrimaryMarker};
use crate::table::SoftDeleteMarker;
use crate::unique::{
    merge, ops, renew, ActiveUnique, KeyInsert, KeyMerge, KeyOps, KeyRenew, KeyUpdate, NoChanges,
    OneStatementBackend, TableOf,
};
use crate::write::{self, AlsoSet, Marked, SoftDeleteTarget};
use crate::{dsl, Error, SoftDelete};

pub use crate::exec::AsyncTarget;

/// The operations of [`ActiveUnique`] on a diesel-async connection `C` ([`AsyncTarget`]),
/// awaited. Implemented for every model with an active-unique key.
pub trait ActiveUniqueAsync<K>: ActiveUnique<K> {
    /// [`ActiveUnique::find_live`], awaited.
    fn find_live_async<C>(
        conn: &mut C,
        key: Self::Value,
    ) -> impl Future<Output = Result<Option<Self>, Error>>
    where
        Self: KeyOps<K, NonBlocking, C>;

    /// [`ActiveUnique::history`], awaited.
    fn history_async<C>(
        conn: &mut C,
        key: Self::Value,
    ) -> impl Future<Output = Result<Vec<Self>, Error>>
    where
        Self: KeyOps<K, NonBlocking, C>;

    /// [`ActiveUnique::start`], awaited.
    fn start_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut(Self::Counter) -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        Self: KeyInsert<K, NonBlocking, C, N>,
        C: AsyncTarget;

    /// [`ActiveUnique::upsert`], awaited.
    fn upsert_async<C, N, U>(
        conn: &mut C,
        key: Self::Value,
        insert: impl FnMut(Self::Counter) -> N,
        update: impl FnMut(&Self) -> U,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        Self: KeyInsert<K, NonBlocking, C, N> + KeyUpdate<K, NonBlocking, C, U>,
        C: AsyncTarget;

    /// [`ActiveUnique::retry`], awaited; waits between attempts with `tokio::time::sleep`.
    fn retry_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut(&Self, Self::Counter) -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        Self: KeyInsert<K, NonBlocking, C, N>,
        C: AsyncTarget;

    /// [`ActiveUnique::retry_new`], awaited: one statement on `AsyncPgConnection`, which takes
    /// the live row's lock with `NOWAIT` (a row another transaction holds sends it to the
    /// transaction at once), so that a dropped future does not leave a statement waiting for
    /// another writer of the key (the waits it cannot rule out are listed in
    /// [`unique`](crate::unique)'s "One statement on PostgreSQL").
    fn retry_new_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut() -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        C: AsyncTarget,
        BackendOf<NonBlocking, C>: OneStatementBackend,
        Self: KeyRenew<K, NonBlocking, C, N>;

    /// [`ActiveUnique::upsert_new`], awaited: one statement on `AsyncPgConnection`, sent in a
    /// transaction of its own (as `start_async`'s), since its insert can wait for a concurrent
    /// insert of the key, which a dropped future must not commit later.
    fn upsert_new_async<C, N, U>(
        conn: &mut C,
        key: Self::Value,
        insert: impl FnMut() -> N,
        update: impl FnMut() -> U,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        C: AsyncTarget,
        BackendOf<NonBlocking, C>: OneStatementBackend,
        Self: KeyMerge<K, NonBlocking, C, N, U>;

    /// [`ActiveUnique::start_new`], awaited: one statement on `AsyncPgConnection`, sent in a
    /// transaction of its own (as `start_async`'s), since its insert can wait for a concurrent
    /// insert of the key, which a dropped future must not commit later.
    fn start_new_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut() -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        C: AsyncTarget,
        BackendOf<NonBlocking, C>: OneStatementBackend,
        Self: KeyMerge<K, NonBlocking, C, N, NoChanges<TableOf<Self>>>;
}

impl<M: ActiveUnique<K>, K> ActiveUniqueAsync<K> for M {
    async fn find_live_async<C>(conn: &mut C, key: Self::Value) -> Result<Option<Self>, Error>
    where
        Self: KeyOps<K, NonBlocking, C>,
    {
        ops::refuse_null_part::<Self, K>(&key)?;
        Ok(<Self as KeyOps<K, NonBlocking, C>>::load_live(conn, key).await?)
    }

    async fn history_async<C>(conn: &mut C, key: Self::Value) -> Result<Vec<Self>, Error>
    where
        Self: KeyOps<K, NonBlocking, C>,
    {
        ops::refuse_null_part::<Self, K>(&key)?;
        Ok(<Self as KeyOps<K, NonBlocking, C>>::load_history(conn, key).await?)
    }

    fn start_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut(Self::Counter) -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        Self: KeyInsert<K, NonBlocking, C, N>,
        C: AsyncTarget,
    {
        ops::start::<Self, K, NonBlocking, C, N>(conn, key, build)
    }

    fn upsert_async<C, N, U>(
        conn: &mut C,
        key: Self::Value,
        insert: impl FnMut(Self::Counter) -> N,
        update: impl FnMut(&Self) -> U,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        Self: KeyInsert<K, NonBlocking, C, N> + KeyUpdate<K, NonBlocking, C, U>,
        C: AsyncTarget,
    {
        ops::upsert::<Self, K, NonBlocking, C, N, U>(conn, key, insert, update)
    }

    fn retry_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut(&Self, Self::Counter) -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        Self: KeyInsert<K, NonBlocking, C, N>,
        C: AsyncTarget,
    {
        ops::retry::<Self, K, NonBlocking, C, N>(conn, key, build)
    }

    fn retry_new_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut() -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        C: AsyncTarget,
        BackendOf<NonBlocking, C>: OneStatementBackend,
        Self: KeyRenew<K, NonBlocking, C, N>,
    {
        renew::retry_new::<Self, K, NonBlocking, C, N>(conn, key, build)
    }

    fn upsert_new_async<C, N, U>(
        conn: &mut C,
        key: Self::Value,
        insert: impl FnMut() -> N,
        update: impl FnMut() -> U,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        C: AsyncTarget,
        BackendOf<NonBlocking, C>: OneStatementBackend,
        Self: KeyMerge<K, NonBlocking, C, N, U>,
    {
        merge::upsert_new::<Self, K, NonBlocking, C, N, U>(conn, key, insert, update)
    }

    fn start_new_async<C, N>(
        conn: &mut C,
        key: Self::Value,
        build: impl FnMut() -> N,
    ) -> impl Future<Output = Result<Self, Error>>
    where
        C: AsyncTarget,
        BackendOf<NonBlocking, C>: OneStatementBackend,
        Self: KeyMerge<K, NonBlocking, C, N, NoChanges<TableOf<Self>>>,
    {
        merge::start_new::<Self, K, NonBlocking, C, N>(conn, key, build)
    }
}

/// The by-value restores of [`SoftDelete`] on a diesel-async connection, awaited: they check
/// the row's active-unique keys in the same transaction, as the sync ones do. Implemented for
/// every model.
///
/// The statement finds the row by its primary key, copied out of the model (`Id`, an `i32`,
/// a newtype, ...), so that the future owns what it sends: diesel-async's statements must be
/// `'static` here. A model whose primary key has several columns restores through
/// [`restore`](crate::restore) on `table.find((a, b))` instead.
pub trait SoftDeleteAsync: SoftDelete + Sized {
    /// [`SoftDelete::restore`], awaited.
    fn restore_async<'a, C, Id>(
        &'a self,
        conn: &mut C,
    ) -> impl Future<Output = Result<usize, Error>>
    where
        &'a Self: Identifiable<Id = &'a Id>,
        Id: Clone + 'a,
        Self::Table: FindDsl<Id> + Default,
        dsl::Find<Self::Table, Id>:
            SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        C: Execute<NonBlocking, dsl::Restore<dsl::Find<Self::Table, Id>>>,
        Self::ActiveUniqueKeys: KeyGuard<Self, NonBlocking, C>,
    {
        let id: Id = self.id().clone();
        guarded_restore(
            self,
            crate::model::primary_name::<Self>(),
            conn,
            move || write::restore(FindDsl::find(Self::Table::default(), id.clone())),
        )
    }

    /// [`SoftDelete::restore_and_set`], awaited.
    fn restore_and_set_async<'a, C, Id, Changes>(
        &'a self,
        conn: &mut C,
        changes: Changes,
    ) -> impl Future<Output = Result<usize, Error>>
    where
        &'a Self: Identifiable<Id = &'a Id>,
        Id: Clone + 'a,
        Self::Table: FindDsl<Id> + Default,
        dsl::Find<Self::Table, Id>:
            SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        Changes: AlsoSet<dsl::Find<Self::Table, Id>> + Clone,
        C: Execute<NonBlocking, dsl::RestoreAndSet<dsl::Find<Self::Table, Id>, Changes>>,
        Self::ActiveUniqueKeys: KeyGuard<Self, NonBlocking, C>,
    {
        let id: Id = self.id().clone();
        guarded_restore(
            self,
            crate::model::primary_name::<Self>(),
            conn,
            move || {
                write::restore_and_set(
                    FindDsl::find(Self::Table::default(), id.clone()),
                    changes.clone(),
                )
            },
        )
    }
}

impl<M: SoftDelete> SoftDeleteAsync for M {}

/// The restores of one row through a marker of its choice (`post.marker(posts::removed)`, see
/// [`Marked`]) on a diesel-async connection, awaited: like [`SoftDeleteAsync`]'s, they check the
/// row's active-unique keys in the same transaction when the restore makes the row live (when no
/// other marker hides it), and they find the row by its primary key, copied out of the model. A
/// model whose primary key has several columns restores through
/// [`restore`](crate::restore) on `marker(column, table.find((a, b)))` instead.
impl<'a, M, Model> Marked<M, &'a Model>
where
    Model: SoftDelete,
    M: SoftDeleteMarker<Table = Model::Table>,
{
    /// [`Marked::restore`], awaited.
    pub async fn restore_async<C, Id>(self, conn: &mut C) -> Result<usize, Error>
    where
        &'a Model: Identifiable<Id = &'a Id>,
        Id: Clone + 'a,
        Model::Table: FindDsl<Id> + Default,
        Marked<M, dsl::Find<Model::Table, Id>>: SoftDeleteTarget<Marker = M>,
        C: Execute<NonBlocking, dsl::Restore<Marked<M, dsl::Find<Model::Table, Id>>>>,
        Model::ActiveUniqueKeys: KeyGuard<Model, NonBlocking, C>,
    {
        let row = self.into_target();
        let id: Id = row.id().clone();
        guarded_restore(row, M::NAME, conn, move || {
            write::restore(Marked::new(
                M::default(),
                FindDsl::find(Model::Table::default(), id.clone()),
            ))
        })
        .await
    }

    /// [`Marked::restore_and_set`], awaited.
    pub async fn restore_and_set_async<C, Id, Changes>(
        self,
        conn: &mut C,
        changes: Changes,
    ) -> Result<usize, Error>
    where
        &'a Model: Identifiable<Id = &'a Id>,
        Id: Clone + 'a,
        Model::Table: FindDsl<Id> + Default,
        Marked<M, dsl::Find<Model::Table, Id>>: SoftDeleteTarget<Marker = M>,
        Changes: AlsoSet<Marked<M, dsl::Find<Model::Table, Id>>> + Clone,
        C: Execute<
            NonBlocking,
            dsl::RestoreAndSet<Marked<M, dsl::Find<Model::Table, Id>>, Changes>,
        >,
        Model::ActiveUniqueKeys: KeyGuard<Model, NonBlocking, C>,
    {
        let row = self.into_target();
        let id: Id = row.id().clone();
        guarded_restore(row, M::NAME, conn, move || {
            write::restore_and_set(
                Marked::new(
                    M::default(),
                    FindDsl::find(Model::Table::default(), id.clone()),
                ),
                changes.clone(),
            )
        })
        .await
    }
}
