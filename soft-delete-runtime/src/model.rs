//! The model trait `#[derive(SoftDelete)]` implements, [`SoftDelete`], with the by-value
//! writes of a row, and the hook through which its restores respect the model's active-unique
//! keys ([`KeyGuard`], implemented in [`unique`](crate::unique)).

use std::future::Future;

use diesel::connection::Connection;
use diesel::query_builder::IntoUpdateTarget;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::Column;

use crate::exec::{drive, Blocking, Execute};
use crate::table::{SoftDeleteMarker, SoftDeleteTable};
use crate::write::{self, AlsoSet, DeletionOf, Marked, SoftDeleteTarget};
use crate::{dsl, Error};

/// A model whose rows are soft-deleted; implemented by `#[derive(SoftDelete)]`.
///
/// The by-value writes need the model to be [`Identifiable`](diesel::Identifiable) (as
/// [`diesel::update`] does with a model); each returns the number of rows it changed, and
/// each is a single `UPDATE`/`DELETE` keyed by the primary key.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a soft-deletable model",
    label = "no `#[derive(SoftDelete)]` on this type",
    note = "add `#[derive(SoftDelete)]` to the model; a table without one has no Rust id type, \
            and its row ids are read as text (`id.parse::<i32>()`)"
)]
pub trait SoftDelete {
    /// The table the model is read from.
    type Table: SoftDeleteTable;

    /// The types of the model's primary-key fields, as a tuple: `(PostId,)` for `id: PostId`,
    /// `(i32, i32)` for a key of two fields; `()` when the struct has no field for a column
    /// of the key. A [`RowId`](crate::RowId) of the model's table is read as the id they make
    /// ([`IdOf<Self>`](crate::IdOf)) with [`RowId::typed`](crate::RowId::typed).
    type IdFields;

    /// The model's active-unique keys, which [`restore`](Self::restore) respects: `()` for a
    /// model without `#[active_unique(...)]`, `(K1, (K2, ()))` for keys `K1` and `K2`
    /// (see [`unique`](crate::unique)).
    type ActiveUniqueKeys;

    /// The markers that hide this row, as its fields say: the SQL names of their columns, in
    /// declaration order; empty for a live row. A model with several markers tells by it why a
    /// row is hidden (`["deleted", "removed"]`: by its author and by a moderator).
    fn hidden_by(&self) -> Vec<&'static str>;

    /// This row, with marker `marker` chosen for the writes on it: `post.marker(posts::removed)
    /// .soft_delete_with(conn, ...)` hides it as removed and leaves its other markers alone (see
    /// [`Marked`]). The plain writes of this trait set the table's primary marker.
    fn marker<M>(&self, marker: M) -> Marked<M, &Self>
    where
        M: SoftDeleteMarker<Table = Self::Table>,
    {
        Marked::new(marker, self)
    }

    /// Soft-deletes this row now. A row that is already deleted keeps its first
    /// timestamp and audit values (returns `0`).
    fn soft_delete<'a, C>(&'a self, conn: &mut C) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        dsl::SoftDelete<&'a Self>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(write::soft_delete(self), conn)?)
    }

    /// Soft-deletes this row, recording when, by whom and why (the table's
    /// `#[soft_delete(deleted_by)]` and `#[soft_delete(reason)]` columns).
    ///
    /// ```
    /// # use diesel::prelude::*;
    /// # use soft_delete_runtime::prelude::*;
    /// # diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp>, deleted_by -> Nullable<Integer>, deletion_reason -> Nullable<Text> } }
    /// # #[derive(Queryable, Identifiable, SoftDelete)]
    /// # struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime>,
    /// #   #[soft_delete(deleted_by)] deleted_by: Option<i32>, #[soft_delete(reason)] deletion_reason: Option<String> }
    /// # fn main() -> Result<(), soft_delete_runtime::Error> {
    /// # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
    /// # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP, deleted_by INTEGER, deletion_reason TEXT)").execute(conn)?;
    /// # diesel::sql_query("INSERT INTO users (id) VALUES (1), (2)").execute(conn)?;
    /// # let admin_id = 2;
    /// let user: User = users::table.find(1).first(conn)?;
    /// user.soft_delete_with(conn, Deletion::now().by(admin_id).reason("spam"))?;
    ///
    /// let user: User = users::table.find(1).first(conn)?;
    /// assert_eq!(user.deleted_by, Some(admin_id));
    /// assert_eq!(user.deletion_reason.as_deref(), Some("spam"));
    /// # Ok(())
    /// # }
    /// ```
    fn soft_delete_with<'a, C>(
        &'a self,
        conn: &mut C,
        deletion: DeletionOf<Self::Table>,
    ) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        dsl::SoftDelete<&'a Self>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(
            write::soft_delete_with(self, deletion),
            conn,
        )?)
    }

    /// Soft-deletes this row as `deletion` says and writes `changes` to other columns of it, in
    /// the same `UPDATE` (see [`soft_delete_and_set`](crate::soft_delete_and_set)). A row that is
    /// already deleted keeps its values, `changes` included (returns `0`).
    ///
    /// ```
    /// # use diesel::prelude::*;
    /// # use soft_delete_runtime::prelude::*;
    /// # diesel::table! { posts (id) { id -> Integer, deleted_at -> Nullable<Timestamp>, version -> Integer } }
    /// # #[derive(Queryable, Identifiable, SoftDelete)]
    /// # struct Post { id: i32, deleted_at: Option<chrono::NaiveDateTime>, version: i32 }
    /// # fn main() -> Result<(), soft_delete_runtime::Error> {
    /// # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
    /// # diesel::sql_query("CREATE TABLE posts (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP, version INTEGER NOT NULL)").execute(conn)?;
    /// # diesel::sql_query("INSERT INTO posts (id, version) VALUES (1, 1)").execute(conn)?;
    /// let post: Post = posts::table.find(1).first(conn)?;
    /// post.soft_delete_and_set(conn, Deletion::now(), posts::version.eq(posts::version + 1))?;
    /// post.restore_and_set(conn, posts::version.eq(posts::version + 1))?;
    ///
    /// let post: Post = posts::table.find(1).first(conn)?;
    /// assert_eq!((post.deleted_at, post.version), (None, 3));
    /// # Ok(())
    /// # }
    /// ```
    fn soft_delete_and_set<'a, C, Changes>(
        &'a self,
        conn: &mut C,
        deletion: DeletionOf<Self::Table>,
        changes: Changes,
    ) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        Changes: AlsoSet<&'a Self>,
        dsl::SoftDeleteAndSet<&'a Self, Changes>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(
            write::soft_delete_and_set(self, deletion, changes),
            conn,
        )?)
    }

    /// Brings this row back to life and clears its audit columns and its batch column (so a
    /// later restore of the archive that hid it leaves it alone). Restoring a live row changes
    /// nothing (returns `0`).
    ///
    /// For a model with active-unique keys, the restore runs in a transaction that first
    /// checks each key of the row: when another live row holds one, it returns
    /// [`Error::Conflict`] naming that row and changes nothing. A row that another of its
    /// markers still hides (as its fields say) does not become live, so its keys are not
    /// checked.
    fn restore<'a, C>(&'a self, conn: &mut C) -> Result<usize, Error>
    where
        Self: Sized,
        C: Execute<Blocking, dsl::Restore<&'a Self>>,
        &'a Self: SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        Self::ActiveUniqueKeys: KeyGuard<Self, Blocking, C>,
    {
        drive(guarded_restore(self, primary_name::<Self>(), conn, || {
            write::restore(self)
        }))
    }

    /// Restores this row as [`restore`](Self::restore) does (respecting its active-unique
    /// keys) and writes `changes` to other columns of it, in the same `UPDATE` (see
    /// [`restore_and_set`](crate::restore_and_set)). A live row keeps its values, `changes`
    /// included (returns `0`). `changes` is `Clone` because the active-unique check retries
    /// the restore when a concurrent writer made it fail.
    fn restore_and_set<'a, C, Changes>(
        &'a self,
        conn: &mut C,
        changes: Changes,
    ) -> Result<usize, Error>
    where
        Self: Sized,
        C: Execute<Blocking, dsl::RestoreAndSet<&'a Self, Changes>>,
        &'a Self: SoftDeleteTarget<Table = Self::Table, Marker = PrimaryMarker<Self>>,
        Changes: AlsoSet<&'a Self> + Clone,
        Self::ActiveUniqueKeys: KeyGuard<Self, Blocking, C>,
    {
        drive(guarded_restore(self, primary_name::<Self>(), conn, || {
            write::restore_and_set(self, changes.clone())
        }))
    }

    /// Deletes this row for good, live or not.
    fn hard_delete<'a, C>(&'a self, conn: &mut C) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: IntoUpdateTarget<Table = Self::Table>,
        dsl::HardDelete<&'a Self>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(write::hard_delete(self), conn)?)
    }
}

/// The primary marker of model `M`'s table.
pub(crate) type PrimaryMarker<M> = <<M as SoftDelete>::Table as SoftDeleteTable>::Marker;

/// The SQL name of model `M`'s primary marker.
pub(crate) fn primary_name<M: SoftDelete + ?Sized>() -> &'static str {
    <<M::Table as SoftDeleteTable>::Marker as Column>::NAME
}

/// Runs `write`, a restore of `row` through the marker named `marker`, behind the checks of the
/// model's active-unique keys when the restore makes the row live: when no other marker hides it,
/// as its fields say.
pub(crate) async fn guarded_restore<M, Mo, C, S>(
    row: &M,
    marker: &'static str,
    conn: &mut C,
    mut write: impl FnMut() -> S,
) -> Result<usize, Error>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyGuard<M, Mo, C>,
    C: Execute<Mo, S>,
{
    if row.hidden_by().iter().any(|other| *other != marker) {
        return Ok(conn.execute(write()).await?);
    }
    <M::ActiveUniqueKeys as KeyGuard<M, Mo, C>>::guard(row, conn, write).await
}

/// The writes of one row through a marker of its choice: `post.marker(posts::removed)`, from
/// [`SoftDelete::marker`]. Each is the by-value write of the same name on [`SoftDelete`], setting
/// or clearing marker `M` (and the columns that belong to it) instead of the primary one.
impl<M, Model> Marked<M, &Model>
where
    Model: SoftDelete,
    M: SoftDeleteMarker<Table = Model::Table>,
{
    /// Hides this row through marker `M` now; `0` if `M` hides it already (whatever the other
    /// markers say, which stay as they are).
    pub fn soft_delete<C>(self, conn: &mut C) -> Result<usize, Error>
    where
        C: Connection,
        Self: SoftDeleteTarget<Marker = M>,
        dsl::SoftDelete<Self>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(write::soft_delete(self), conn)?)
    }

    /// Hides this row through marker `M`, recording when, by whom and why in `M`'s own
    /// columns (`#[soft_delete(deleted_by(removed))]`, ...).
    pub fn soft_delete_with<C>(
        self,
        conn: &mut C,
        deletion: write::MarkerDeletion<M>,
    ) -> Result<usize, Error>
    where
        C: Connection,
        Self: SoftDeleteTarget<Marker = M>,
        dsl::SoftDelete<Self>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(
            write::soft_delete_with(self, deletion),
            conn,
        )?)
    }

    /// Hides this row through marker `M` and writes `changes` in the same `UPDATE`.
    pub fn soft_delete_and_set<C, Changes>(
        self,
        conn: &mut C,
        deletion: write::MarkerDeletion<M>,
        changes: Changes,
    ) -> Result<usize, Error>
    where
        C: Connection,
        Self: SoftDeleteTarget<Marker = M>,
        Changes: AlsoSet<Self>,
        dsl::SoftDeleteAndSet<Self, Changes>: ExecuteDsl<C>,
    {
        Ok(ExecuteDsl::execute(
            write::soft_delete_and_set(self, deletion, changes),
            conn,
        )?)
    }

    /// Takes marker `M` off this row (and clears `M`'s own columns); `0` if `M` does not hide
    /// it. The row is live again only if no other marker hides it; when it becomes live, its
    /// active-unique keys are checked first, as [`SoftDelete::restore`] does.
    pub fn restore<C>(self, conn: &mut C) -> Result<usize, Error>
    where
        C: Execute<Blocking, dsl::Restore<Self>>,
        Self: SoftDeleteTarget<Marker = M>,
        Model::ActiveUniqueKeys: KeyGuard<Model, Blocking, C>,
    {
        drive(guarded_restore(self.into_target(), M::NAME, conn, || {
            write::restore(self)
        }))
    }

    /// Takes marker `M` off this row as [`restore`](Self::restore) does and writes `changes` in
    /// the same `UPDATE`.
    pub fn restore_and_set<C, Changes>(self, conn: &mut C, changes: Changes) -> Result<usize, Error>
    where
        C: Execute<Blocking, dsl::RestoreAndSet<Self, Changes>>,
        Self: SoftDeleteTarget<Marker = M>,
        Changes: AlsoSet<Self> + Clone,
        Model::ActiveUniqueKeys: KeyGuard<Model, Blocking, C>,
    {
        drive(guarded_restore(self.into_target(), M::NAME, conn, || {
            write::restore_and_set(self, changes.clone())
        }))
    }
}

/// Restores that respect a model's active-unique keys, on connection `C` in mode `Mo`;
/// implemented for the model's list of keys ([`SoftDelete::ActiveUniqueKeys`]) in
/// [`unique`](crate::unique).
///
/// For `()` (no keys) the restore is the plain `UPDATE`. For a list of keys, the restore runs
/// in a write transaction that first reads, with a lock, the live row of each key of the row
/// being restored: when another row holds one, the transaction is rolled back and
/// [`Error::Conflict`] names it.
pub trait KeyGuard<M, Mo, C> {
    /// Runs the statement `write` builds (which restores `row`) once every key of `row` is
    /// free; `write` builds it again for each run of the transaction.
    fn guard<S>(
        row: &M,
        conn: &mut C,
        write: impl FnMut() -> S,
    ) -> impl Future<Output = Result<usize, Error>>
    where
        C: Execute<Mo, S>;
}
