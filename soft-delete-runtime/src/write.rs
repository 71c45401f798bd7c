//! Soft delete, restore and hard delete, in bulk and by value.
//!
//! The bulk builders take a target as [`diesel::update`] does (a table, a table with only
//! `filter` applied, or `&Model` where `Model: Identifiable`) and return Diesel's own
//! statement, so it is `.execute(conn)`-ed, printed with `debug_query`, or given a
//! `.returning(...)` like any other update:
//!
//! ```
//! # use diesel::prelude::*;
//! # use soft_delete_runtime::prelude::*;
//! # diesel::table! { users (id) { id -> Integer, name -> Text, deleted_at -> Nullable<Timestamp> } }
//! # #[derive(Queryable, SoftDelete)]
//! # struct User { id: i32, name: String, deleted_at: Option<chrono::NaiveDateTime> }
//! # fn main() -> diesel::QueryResult<()> {
//! # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
//! # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP)").execute(conn)?;
//! # diesel::sql_query("INSERT INTO users (name) VALUES ('ann'), ('bob'), ('ada')").execute(conn)?;
//! use soft_delete_runtime as sd;
//!
//! let hidden = sd::soft_delete(users::table.filter(users::name.like("a%"))).execute(conn)?;
//! assert_eq!(hidden, 2);
//! // already deleted: nothing to do, the first deletion time stays
//! assert_eq!(sd::soft_delete(users::table).execute(conn)?, 1);
//! assert_eq!(sd::restore(users::table).execute(conn)?, 3);
//! assert_eq!(sd::hard_delete(users::table.filter(users::name.eq("bob"))).execute(conn)?, 1);
//! # Ok(())
//! # }
//! ```
#![doc = include_str!("docs/write.md")]

use std::marker::PhantomData;

use diesel::associations::HasTable;
use diesel::query_builder::{AsChangeset, AsQuery, IntoUpdateTarget, UpdateStatement};
use diesel::query_dsl::methods::FilterDsl;
use diesel::{Column, QuerySource};

pub use crate::deletion::Deletion;
use crate::table::{SoftDeleteMarker, SoftDeleteTable, Strategy};

/// The [`Deletion`] type of marker `M`: its own audit columns' value types.
pub type MarkerDeletion<M> =
    Deletion<<M as SoftDeleteMarker>::DeletedBy, <M as SoftDeleteMarker>::Reason>;

/// The [`Deletion`] type for table `T`: that of its primary marker.
pub type DeletionOf<T> = MarkerDeletion<<T as SoftDeleteTable>::Marker>;

/// The [`Deletion`] type of the writes on `Target`: that of the marker they set.
pub type DeletionFor<Target> = MarkerDeletion<<Target as SoftDeleteTarget>::Marker>;

/// A write target with the marker its writes set chosen: built by [`marker`] (or
/// [`SoftDelete::marker`](crate::SoftDelete::marker) on a model value).
///
/// Every write of this module takes it where it takes a plain target, and then sets and clears
/// that marker and the columns that belong to it (its deletion time, who and why) instead of the
/// table's primary marker; the table's other markers are left as they are. A soft delete through
/// a marker writes the rows that marker does not hide yet (whatever the others say); a restore,
/// the rows it hides; a row hidden by another marker as well stays hidden.
#[derive(Debug, Clone, Copy)]
pub struct Marked<M, Target> {
    marker: M,
    target: Target,
}

/// `target`, with the writes on it setting marker `marker`: the way a model with several
/// reasons to hide a row says which reason a write is for.
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// # diesel::table! { posts (id) { id -> Integer, deleted -> Bool, removed -> Bool } }
/// # #[derive(Queryable, Identifiable, SoftDelete)]
/// # struct Post {
/// #     id: i32,
/// #     #[soft_delete(marker = deleted, primary)] deleted: bool,
/// #     #[soft_delete(marker = deleted)] removed: bool,
/// # }
/// # fn main() -> diesel::QueryResult<()> {
/// # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// # diesel::sql_query("CREATE TABLE posts (id INTEGER PRIMARY KEY, deleted BOOLEAN NOT NULL DEFAULT 0, removed BOOLEAN NOT NULL DEFAULT 0)").execute(conn)?;
/// # diesel::sql_query("INSERT INTO posts (id) VALUES (1), (2)").execute(conn)?;
/// use soft_delete_runtime as sd;
///
/// // a moderator removes post 1, its author deletes it too
/// sd::soft_delete(sd::marker(posts::removed, posts::table.find(1))).execute(conn)?;
/// sd::soft_delete(posts::table.find(1)).execute(conn)?; // the primary marker: `deleted`
///
/// // the author's restore leaves the removal: still hidden
/// sd::restore(posts::table.find(1)).execute(conn)?;
/// assert_eq!(posts::table.active().select(posts::id).load::<i32>(conn)?, [2]);
/// sd::restore(sd::marker(posts::removed, posts::table.find(1))).execute(conn)?;
/// assert_eq!(posts::table.active().select(posts::id).load::<i32>(conn)?, [1, 2]);
/// # Ok(())
/// # }
/// ```
pub fn marker<M, Target>(marker: M, target: Target) -> Marked<M, Target>
where
    M: SoftDeleteMarker,
    Target: IntoUpdateTarget<Table = M::Table>,
{
    Marked { marker, target }
}

impl<M, Target> Marked<M, Target> {
    pub(crate) fn new(marker: M, target: Target) -> Self {
        Marked { marker, target }
    }

    /// The marker the writes set.
    pub fn marker_column(&self) -> &M {
        &self.marker
    }

    /// The target, without the marker.
    pub fn into_target(self) -> Target {
        self.target
    }
}

/// What [`soft_delete`], [`soft_delete_with`] and [`restore`] accept: anything
/// [`diesel::update`] accepts (a table, a table with only `filter` applied, `&Model` of an
/// `Identifiable` model), on a soft-deletable table, which writes the table's primary marker;
/// or the same in a [`Marked`], which writes the marker it names.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a target for a soft delete or restore",
    label = "expected a soft-deletable table, that table with only `.filter(...)` applied, or `&Model` of an `Identifiable` model",
    note = "these are the targets `diesel::update` accepts, on a table with a `#[derive(SoftDelete)]` model; `soft_delete_runtime::write::marker(column, target)` chooses another marker"
)]
pub trait SoftDeleteTarget: Sized {
    /// The table written.
    type Table: SoftDeleteTable;
    /// The marker the writes set and clear: the table's primary one unless [`Marked`] says
    /// otherwise.
    type Marker: SoftDeleteMarker<Table = Self::Table>;
    /// The rows, as [`diesel::update`] takes them.
    type Rows: IntoUpdateTarget<Table = Self::Table>;
    /// The soft delete statement: see [`dsl::SoftDelete`](crate::dsl::SoftDelete).
    type SoftDelete;
    /// The restore statement: see [`dsl::Restore`](crate::dsl::Restore).
    type Restore;

    /// See [`soft_delete_with`].
    fn into_soft_delete(self, deletion: MarkerDeletion<Self::Marker>) -> Self::SoftDelete;

    /// See [`restore`].
    fn into_restore(self) -> Self::Restore;

    /// The rows, without the marker.
    fn into_rows(self) -> Self::Rows;
}

/// The primary marker of `Target`'s table.
type PrimaryOf<Target> = <<Target as HasTable>::Table as SoftDeleteTable>::Marker;

/// `UPDATE <rows> SET <marker M deleted> WHERE ... AND <M live>`.
type MarkerSoftDelete<M, Rows> = diesel::dsl::Filter<
    diesel::dsl::Update<Rows, <M as SoftDeleteMarker>::SoftDeleteChanges>,
    crate::table::types::marker_live<M>,
>;

/// `UPDATE <rows> SET <marker M live> WHERE ... AND <M deleted>`.
type MarkerRestore<M, Rows> = diesel::dsl::Filter<
    diesel::dsl::Update<Rows, <M as SoftDeleteMarker>::RestoreChanges>,
    crate::table::types::marker_deleted<M>,
>;

impl<Target> SoftDeleteTarget for Target
where
    Target: IntoUpdateTarget<Table: SoftDeleteTable>,
    diesel::dsl::Update<Target, <PrimaryOf<Target> as SoftDeleteMarker>::SoftDeleteChanges>:
        AsQuery + FilterDsl<crate::table::types::marker_live<PrimaryOf<Target>>>,
    diesel::dsl::Update<Target, <PrimaryOf<Target> as SoftDeleteMarker>::RestoreChanges>:
        AsQuery + FilterDsl<crate::table::types::marker_deleted<PrimaryOf<Target>>>,
{
    type Table = <Target as HasTable>::Table;
    type Marker = PrimaryOf<Target>;
    type Rows = Target;
    type SoftDelete = MarkerSoftDelete<PrimaryOf<Target>, Target>;
    type Restore = MarkerRestore<PrimaryOf<Target>, Target>;

    fn into_soft_delete(self, deletion: MarkerDeletion<Self::Marker>) -> Self::SoftDelete {
        marker_soft_delete::<PrimaryOf<Target>, _>(self, deletion)
    }

    fn into_restore(self) -> Self::Restore {
        marker_restore::<PrimaryOf<Target>, _>(self)
    }

    fn into_rows(self) -> Target {
        self
    }
}

// Not offered as a fix when a plain target is not one: a `Marked` only chooses the marker.
#[diagnostic::do_not_recommend]
impl<M, Target> SoftDeleteTarget for Marked<M, Target>
where
    M: SoftDeleteMarker<Table: SoftDeleteTable>,
    Target: IntoUpdateTarget<Table = M::Table>,
    diesel::dsl::Update<Target, M::SoftDeleteChanges>:
        AsQuery + FilterDsl<crate::table::types::marker_live<M>>,
    diesel::dsl::Update<Target, M::RestoreChanges>:
        AsQuery + FilterDsl<crate::table::types::marker_deleted<M>>,
{
    type Table = M::Table;
    type Marker = M;
    type Rows = Target;
    type SoftDelete = MarkerSoftDelete<M, Target>;
    type Restore = MarkerRestore<M, Target>;

    fn into_soft_delete(self, deletion: MarkerDeletion<M>) -> Self::SoftDelete {
        marker_soft_delete::<M, _>(self.target, deletion)
    }

    fn into_restore(self) -> Self::Restore {
        marker_restore::<M, _>(self.target)
    }

    fn into_rows(self) -> Target {
        self.target
    }
}

fn marker_soft_delete<M, Rows>(rows: Rows, deletion: MarkerDeletion<M>) -> MarkerSoftDelete<M, Rows>
where
    M: SoftDeleteMarker,
    Rows: IntoUpdateTarget<Table = M::Table>,
    diesel::dsl::Update<Rows, M::SoftDeleteChanges>:
        AsQuery + FilterDsl<crate::table::types::marker_live<M>>,
{
    guarded_update(
        rows,
        M::soft_delete_changes(deletion),
        <M::Strategy as Strategy<M>>::live(M::default()),
    )
}

fn marker_restore<M, Rows>(rows: Rows) -> MarkerRestore<M, Rows>
where
    M: SoftDeleteMarker,
    Rows: IntoUpdateTarget<Table = M::Table>,
    diesel::dsl::Update<Rows, M::RestoreChanges>:
        AsQuery + FilterDsl<crate::table::types::marker_deleted<M>>,
{
    guarded_update(
        rows,
        M::restore_changes(),
        <M::Strategy as Strategy<M>>::deleted(M::default()),
    )
}

/// Changes that a soft delete or restore of `Target` also writes, in its own `UPDATE`: what
/// [`diesel::update(...).set(...)`](diesel::update) takes (`column.eq(value)`, a tuple of
/// those, an `AsChangeset` struct) on columns of the target's table. See
/// [`soft_delete_and_set`] and [`restore_and_set`].
pub trait AlsoSet<Target: SoftDeleteTarget>: Sized {
    /// The soft delete statement: see [`dsl::SoftDeleteAndSet`](crate::dsl::SoftDeleteAndSet).
    type SoftDelete;
    /// The restore statement: see [`dsl::RestoreAndSet`](crate::dsl::RestoreAndSet).
    type Restore;

    /// See [`soft_delete_and_set`].
    fn soft_delete(self, target: Target, deletion: DeletionFor<Target>) -> Self::SoftDelete;

    /// See [`restore_and_set`].
    fn restore(self, target: Target) -> Self::Restore;
}

/// Holds when `Self` and `T` are the same table: the changes a soft delete or restore also
/// writes must be to the table whose rows it writes.
#[diagnostic::on_unimplemented(
    message = "these changes are to `{Self}`, but the rows written are rows of `{T}`",
    label = "changes of another table",
    note = "a soft delete or restore of `{T}` can also set other columns of `{T}`, as `diesel::update(...).set(...)` would"
)]
pub trait SameTable<T> {}

impl<T> SameTable<T> for T {}

/// The caller's `Changes`, checked to be changes of table `T` (through [`SameTable`]), as the
/// second half of the changeset of [`soft_delete_and_set`] and [`restore_and_set`].
#[derive(Debug, Clone, Copy)]
pub struct SetAlso<Changes, T> {
    changes: Changes,
    table: PhantomData<T>,
}

impl<Changes, T> AsChangeset for SetAlso<Changes, T>
where
    Changes: AsChangeset,
    Changes::Target: SameTable<T>,
    T: QuerySource,
{
    type Target = T;
    type Changeset = Changes::Changeset;

    fn as_changeset(self) -> Self::Changeset {
        self.changes.as_changeset()
    }
}

/// The changeset of a soft delete through marker `M` that also writes `Changes`: the caller's
/// changes first. MySQL/MariaDB assign left to right, each assignment seeing the ones before
/// it; with the marker's own assignments (values, which read nothing) last, changes that read
/// the marker or its columns read them as they were before the statement, as PostgreSQL and
/// SQLite always do.
type SoftDeleteAnd<M, Changes> = (
    SetAlso<Changes, <M as Column>::Table>,
    <M as SoftDeleteMarker>::SoftDeleteChanges,
);

/// The changeset of a restore through marker `M` that also writes `Changes`, in the order of
/// [`SoftDeleteAnd`].
type RestoreAnd<M, Changes> = (
    SetAlso<Changes, <M as Column>::Table>,
    <M as SoftDeleteMarker>::RestoreChanges,
);

impl<Changes, Target> AlsoSet<Target> for Changes
where
    Target: SoftDeleteTarget,
    Changes: AsChangeset,
    Changes::Target: SameTable<Target::Table>,
    diesel::dsl::Update<Target::Rows, SoftDeleteAnd<Target::Marker, Changes>>:
        AsQuery + FilterDsl<crate::table::types::marker_live<Target::Marker>>,
    diesel::dsl::Update<Target::Rows, RestoreAnd<Target::Marker, Changes>>:
        AsQuery + FilterDsl<crate::table::types::marker_deleted<Target::Marker>>,
{
    type SoftDelete = diesel::dsl::Filter<
        diesel::dsl::Update<Target::Rows, SoftDeleteAnd<Target::Marker, Changes>>,
        crate::table::types::marker_live<Target::Marker>,
    >;
    type Restore = diesel::dsl::Filter<
        diesel::dsl::Update<Target::Rows, RestoreAnd<Target::Marker, Changes>>,
        crate::table::types::marker_deleted<Target::Marker>,
    >;

    fn soft_delete(self, target: Target, deletion: DeletionFor<Target>) -> Self::SoftDelete {
        let marker = <Target::Marker as SoftDeleteMarker>::soft_delete_changes(deletion);
        let also = SetAlso {
            changes: self,
            table: PhantomData,
        };
        guarded_update(
            target.into_rows(),
            (also, marker),
            <<Target::Marker as SoftDeleteMarker>::Strategy as Strategy<Target::Marker>>::live(
                Target::Marker::default(),
            ),
        )
    }

    fn restore(self, target: Target) -> Self::Restore {
        let marker = <Target::Marker as SoftDeleteMarker>::restore_changes();
        let also = SetAlso {
            changes: self,
            table: PhantomData,
        };
        guarded_update(
            target.into_rows(),
            (also, marker),
            <<Target::Marker as SoftDeleteMarker>::Strategy as Strategy<Target::Marker>>::deleted(
                Target::Marker::default(),
            ),
        )
    }
}

/// Soft-deletes the live rows of `target` now: `UPDATE t SET <marker> = <deleted>, <audit> = NULL
/// WHERE <target's filter> AND <live>`.
///
/// Rows already deleted are left alone, so they keep their first deletion time and audit
/// values. A `#[soft_delete(batch)]` column is set to `NULL`: a row hidden on its own belongs
/// to no [archive batch](crate::collector::Batch), so restoring an earlier batch leaves it
/// hidden. Returns Diesel's update statement; `.execute(conn)` gives the number of rows
/// deleted.
pub fn soft_delete<Target: SoftDeleteTarget>(target: Target) -> types::SoftDelete<Target> {
    target.into_soft_delete(Deletion::now())
}

/// Like [`soft_delete`], recording the time, who and why as `deletion` says.
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// # diesel::table! { users (id) { id -> Integer, org_id -> Integer, deleted_at -> Nullable<Timestamp>, deleted_by -> Nullable<Text> } }
/// # #[derive(Queryable, SoftDelete)]
/// # struct User { id: i32, org_id: i32, deleted_at: Option<chrono::NaiveDateTime>, #[soft_delete(deleted_by)] deleted_by: Option<String> }
/// # fn main() -> diesel::QueryResult<()> {
/// # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, deleted_at TIMESTAMP, deleted_by TEXT)").execute(conn)?;
/// # diesel::sql_query("INSERT INTO users (org_id) VALUES (7), (7), (8)").execute(conn)?;
/// use soft_delete_runtime as sd;
///
/// let closed = sd::soft_delete_with(
///     users::table.filter(users::org_id.eq(7)),
///     Deletion::now().by("billing job"),
/// )
/// .execute(conn)?;
/// assert_eq!(closed, 2);
/// # Ok(())
/// # }
/// ```
pub fn soft_delete_with<Target: SoftDeleteTarget>(
    target: Target,
    deletion: DeletionFor<Target>,
) -> types::SoftDelete<Target> {
    target.into_soft_delete(deletion)
}

/// Restores the soft-deleted rows of `target`: marker back to live, audit columns and the
/// `#[soft_delete(batch)]` column cleared:
/// `UPDATE t SET <marker> = <live>, <audit> = NULL WHERE <target's filter> AND <deleted>`.
///
/// Live rows are left alone. Returns Diesel's update statement.
pub fn restore<Target: SoftDeleteTarget>(target: Target) -> types::Restore<Target> {
    target.into_restore()
}

/// Like [`soft_delete_with`], writing `changes` to other columns of the same rows in the same
/// `UPDATE`: `UPDATE t SET <changes>, <marker> = <deleted>, <audit> = ... WHERE <target's filter>
/// AND <live>`.
///
/// The changes are what [`diesel::update(...).set(...)`](diesel::update) takes, on columns of
/// the target's table (anything else does not compile), typically an `updated_at` or a version
/// counter. They are written only to the rows the soft delete changes: a row that was already
/// deleted keeps its values. Columns they read (the marker and audit columns included) are read
/// as they were before the statement, on every backend. They must not set the marker or audit
/// columns, which the statement already sets (PostgreSQL refuses such a statement; SQLite and
/// MySQL keep the statement's own value, assigned last).
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// # diesel::table! { posts (id) { id -> Integer, deleted_at -> Nullable<Timestamp>, updated_at -> Timestamp, version -> Integer } }
/// # #[derive(Queryable, SoftDelete)]
/// # struct Post { id: i32, deleted_at: Option<chrono::NaiveDateTime>, updated_at: chrono::NaiveDateTime, version: i32 }
/// # fn main() -> diesel::QueryResult<()> {
/// # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// # diesel::sql_query("CREATE TABLE posts (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP, updated_at TIMESTAMP NOT NULL, version INTEGER NOT NULL)").execute(conn)?;
/// # diesel::sql_query("INSERT INTO posts (id, updated_at, version) VALUES (1, '2026-01-01 00:00:00', 1)").execute(conn)?;
/// use soft_delete_runtime as sd;
///
/// let deletion = Deletion::now();
/// let at = chrono::NaiveDateTime::from(deletion.timestamp());
/// let hidden = sd::soft_delete_and_set(
///     posts::table.find(1),
///     deletion,
///     (posts::updated_at.eq(at), posts::version.eq(posts::version + 1)),
/// )
/// .execute(conn)?;
/// assert_eq!(hidden, 1);
/// let (deleted_at, updated_at, version) = posts::table
///     .find(1)
///     .select((posts::deleted_at, posts::updated_at, posts::version))
///     .first::<(Option<chrono::NaiveDateTime>, chrono::NaiveDateTime, i32)>(conn)?;
/// assert_eq!((deleted_at, updated_at, version), (Some(at), at, 2));
/// # Ok(())
/// # }
/// ```
pub fn soft_delete_and_set<Target, Changes>(
    target: Target,
    deletion: DeletionFor<Target>,
    changes: Changes,
) -> types::SoftDeleteAndSet<Target, Changes>
where
    Target: SoftDeleteTarget,
    Changes: AlsoSet<Target>,
{
    changes.soft_delete(target, deletion)
}

/// Like [`restore`], writing `changes` to other columns of the restored rows in the same
/// `UPDATE`: `UPDATE t SET <changes>, <marker> = <live>, <audit> = NULL WHERE <target's filter>
/// AND <deleted>`. Live rows keep their values. See [`soft_delete_and_set`] for what `changes`
/// may be.
pub fn restore_and_set<Target, Changes>(
    target: Target,
    changes: Changes,
) -> types::RestoreAndSet<Target, Changes>
where
    Target: SoftDeleteTarget,
    Changes: AlsoSet<Target>,
{
    changes.restore(target)
}

/// Deletes the rows of `target` for good, live or soft-deleted: Diesel's
/// [`delete`](diesel::delete), limited to soft-deletable tables so the intent is explicit.
pub fn hard_delete<Target>(target: Target) -> types::HardDelete<Target>
where
    Target: IntoUpdateTarget<Table: SoftDeleteTable>,
{
    diesel::delete(target)
}

/// `UPDATE <target> SET <changes> WHERE <target's filter> AND <guard>`: every write of this
/// module, whose guard keeps it to the rows it is meant for (live ones for a soft delete,
/// deleted ones for a restore).
fn guarded_update<Target, Changes, Guard>(
    target: Target,
    changes: Changes,
    guard: Guard,
) -> diesel::dsl::Filter<diesel::dsl::Update<Target, Changes>, Guard>
where
    Target: IntoUpdateTarget,
    Changes: AsChangeset<Target = Target::Table>,
    diesel::dsl::Update<Target, Changes>: AsQuery + FilterDsl<Guard>,
{
    FilterDsl::filter(update(target).set(changes), guard)
}

fn update<Target: IntoUpdateTarget>(
    target: Target,
) -> UpdateStatement<<Target as HasTable>::Table, Target::WhereClause> {
    diesel::update(target)
}

/// The statements the writes build, named in [`dsl`](crate::dsl).
pub(crate) mod types {
    use super::{AlsoSet, SoftDeleteTarget};

    /// The statement [`soft_delete(target)`](crate::soft_delete) builds:
    /// `UPDATE ... SET <marker> = <deleted> ... WHERE <target's filter> AND <live>`.
    pub type SoftDelete<Target> = <Target as SoftDeleteTarget>::SoftDelete;

    /// The statement [`restore(target)`](crate::restore) builds.
    pub type Restore<Target> = <Target as SoftDeleteTarget>::Restore;

    /// The statement [`soft_delete_and_set(target, deletion, changes)`](crate::soft_delete_and_set)
    /// builds.
    pub type SoftDeleteAndSet<Target, Changes> = <Changes as AlsoSet<Target>>::SoftDelete;

    /// The statement [`restore_and_set(target, changes)`](crate::restore_and_set) builds.
    pub type RestoreAndSet<Target, Changes> = <Changes as AlsoSet<Target>>::Restore;

    /// The statement [`hard_delete(target)`](crate::hard_delete) builds.
    pub type HardDelete<Target> = diesel::dsl::delete<Target>;
}
