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

use std::marker::PhantomData;

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::associations::HasTable;
use diesel::query_builder::{AsChangeset, AsQuery, IntoUpdateTarget, UpdateStatement};
use diesel::query_dsl::methods::FilterDsl;
use diesel::QuerySource;

use crate::dsl;
use crate::table::{NoDeletedByColumn, NoReasonColumn, SoftDeleteTable};

/// When, by whom and why rows are soft-deleted.
///
/// `By` and `Reason` are the value types of the table's audit columns; they are inferred
/// from the table the deletion is applied to, so `Deletion::now().by(admin_id)` compiles only
/// when the table has a `#[soft_delete(deleted_by)]` column of a type `admin_id` converts to.
///
/// The time is kept to whole microseconds, the finest every backend stores, so the value
/// written is the value read back and rows deleted together can be found by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion<By = NoDeletedByColumn, Reason = NoReasonColumn> {
    at: DateTime<Utc>,
    by: Option<By>,
    reason: Option<Reason>,
}

/// The [`Deletion`] type for table `T`.
pub type DeletionOf<T> =
    Deletion<<T as SoftDeleteTable>::DeletedBy, <T as SoftDeleteTable>::Reason>;

impl<By, Reason> Deletion<By, Reason> {
    /// A deletion happening now, by nobody in particular, for no recorded reason.
    pub fn now() -> Self {
        Self::at(Utc::now())
    }

    /// A deletion at the given time (kept to whole microseconds).
    pub fn at(at: DateTime<Utc>) -> Self {
        Deletion {
            at: truncate_to_micros(at),
            by: None,
            reason: None,
        }
    }

    /// Records who deleted the rows (the table's `#[soft_delete(deleted_by)]` column).
    #[must_use]
    pub fn by(mut self, by: impl Into<By>) -> Self {
        self.by = Some(by.into());
        self
    }

    /// Records why the rows were deleted (the table's `#[soft_delete(reason)]` column).
    #[must_use]
    pub fn reason(mut self, reason: impl Into<Reason>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// When the rows are deleted.
    pub fn timestamp(&self) -> DateTime<Utc> {
        self.at
    }

    /// Who deletes them, if recorded.
    pub fn deleted_by(&self) -> Option<&By> {
        self.by.as_ref()
    }

    /// Why, if recorded.
    pub fn deletion_reason(&self) -> Option<&Reason> {
        self.reason.as_ref()
    }

    /// The parts, for the code `#[derive(SoftDelete)]` generates.
    pub fn into_parts(self) -> (DateTime<Utc>, Option<By>, Option<Reason>) {
        (self.at, self.by, self.reason)
    }
}

impl<By, Reason> Default for Deletion<By, Reason> {
    fn default() -> Self {
        Self::now()
    }
}

fn truncate_to_micros(at: DateTime<Utc>) -> DateTime<Utc> {
    // Only fails for times near the limits of DateTime's range; keep those as they are.
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}

/// What [`soft_delete`], [`soft_delete_with`] and [`restore`] accept: anything
/// [`diesel::update`] accepts (a table, a table with only `filter` applied, `&Model` of an
/// `Identifiable` model), on a soft-deletable table.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a target for a soft delete or restore",
    label = "expected a soft-deletable table, that table with only `.filter(...)` applied, or `&Model` of an `Identifiable` model",
    note = "these are the targets `diesel::update` accepts, on a table with a `#[derive(SoftDelete)]` model"
)]
pub trait SoftDeleteTarget: IntoUpdateTarget<Table: SoftDeleteTable> + Sized {
    /// The soft delete statement: see [`dsl::SoftDelete`].
    type SoftDelete;
    /// The restore statement: see [`dsl::Restore`].
    type Restore;

    /// See [`soft_delete_with`].
    fn into_soft_delete(self, deletion: DeletionOf<Self::Table>) -> Self::SoftDelete;

    /// See [`restore`].
    fn into_restore(self) -> Self::Restore;
}

impl<Target> SoftDeleteTarget for Target
where
    Target: IntoUpdateTarget<Table: SoftDeleteTable>,
    dsl::Update<Target, <Target::Table as SoftDeleteTable>::SoftDeleteChanges>:
        AsQuery + FilterDsl<dsl::live<Target::Table>>,
    dsl::Update<Target, <Target::Table as SoftDeleteTable>::RestoreChanges>:
        AsQuery + FilterDsl<dsl::deleted<Target::Table>>,
{
    type SoftDelete = dsl::Filter<
        dsl::Update<Target, <Target::Table as SoftDeleteTable>::SoftDeleteChanges>,
        dsl::live<Target::Table>,
    >;
    type Restore = dsl::Filter<
        dsl::Update<Target, <Target::Table as SoftDeleteTable>::RestoreChanges>,
        dsl::deleted<Target::Table>,
    >;

    fn into_soft_delete(self, deletion: DeletionOf<Self::Table>) -> Self::SoftDelete {
        let changes = <Target::Table as SoftDeleteTable>::soft_delete_changes(deletion);
        guarded_update(self, changes, <Target::Table as SoftDeleteTable>::live())
    }

    fn into_restore(self) -> Self::Restore {
        let changes = <Target::Table as SoftDeleteTable>::restore_changes();
        guarded_update(self, changes, <Target::Table as SoftDeleteTable>::deleted())
    }
}

/// Changes that a soft delete or restore of `Target` also writes, in its own `UPDATE`: what
/// [`diesel::update(...).set(...)`](diesel::update) takes (`column.eq(value)`, a tuple of
/// those, an `AsChangeset` struct) on columns of the target's table. See
/// [`soft_delete_and_set`] and [`restore_and_set`].
pub trait AlsoSet<Target: SoftDeleteTarget>: Sized {
    /// The soft delete statement: see [`dsl::SoftDeleteAndSet`].
    type SoftDelete;
    /// The restore statement: see [`dsl::RestoreAndSet`].
    type Restore;

    /// See [`soft_delete_and_set`].
    fn soft_delete(self, target: Target, deletion: DeletionOf<Target::Table>) -> Self::SoftDelete;

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

/// The changeset of a soft delete of `T` that also writes `Changes`.
type SoftDeleteAnd<T, Changes> = (
    <T as SoftDeleteTable>::SoftDeleteChanges,
    SetAlso<Changes, T>,
);

/// The changeset of a restore of `T` that also writes `Changes`.
type RestoreAnd<T, Changes> = (<T as SoftDeleteTable>::RestoreChanges, SetAlso<Changes, T>);

impl<Changes, Target> AlsoSet<Target> for Changes
where
    Target: SoftDeleteTarget,
    Changes: AsChangeset,
    Changes::Target: SameTable<Target::Table>,
    dsl::Update<Target, SoftDeleteAnd<Target::Table, Changes>>:
        AsQuery + FilterDsl<dsl::live<Target::Table>>,
    dsl::Update<Target, RestoreAnd<Target::Table, Changes>>:
        AsQuery + FilterDsl<dsl::deleted<Target::Table>>,
{
    type SoftDelete = dsl::Filter<
        dsl::Update<Target, SoftDeleteAnd<Target::Table, Changes>>,
        dsl::live<Target::Table>,
    >;
    type Restore = dsl::Filter<
        dsl::Update<Target, RestoreAnd<Target::Table, Changes>>,
        dsl::deleted<Target::Table>,
    >;

    fn soft_delete(self, target: Target, deletion: DeletionOf<Target::Table>) -> Self::SoftDelete {
        let marker = <Target::Table as SoftDeleteTable>::soft_delete_changes(deletion);
        let also = SetAlso {
            changes: self,
            table: PhantomData,
        };
        guarded_update(
            target,
            (marker, also),
            <Target::Table as SoftDeleteTable>::live(),
        )
    }

    fn restore(self, target: Target) -> Self::Restore {
        let marker = <Target::Table as SoftDeleteTable>::restore_changes();
        let also = SetAlso {
            changes: self,
            table: PhantomData,
        };
        guarded_update(
            target,
            (marker, also),
            <Target::Table as SoftDeleteTable>::deleted(),
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
pub fn soft_delete<Target: SoftDeleteTarget>(target: Target) -> dsl::SoftDelete<Target> {
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
    deletion: DeletionOf<Target::Table>,
) -> dsl::SoftDelete<Target> {
    target.into_soft_delete(deletion)
}

/// Restores the soft-deleted rows of `target`: marker back to live, audit columns and the
/// `#[soft_delete(batch)]` column cleared:
/// `UPDATE t SET <marker> = <live>, <audit> = NULL WHERE <target's filter> AND <deleted>`.
///
/// Live rows are left alone. Returns Diesel's update statement.
pub fn restore<Target: SoftDeleteTarget>(target: Target) -> dsl::Restore<Target> {
    target.into_restore()
}

/// Like [`soft_delete_with`], writing `changes` to other columns of the same rows in the same
/// `UPDATE`: `UPDATE t SET <marker> = <deleted>, <audit> = ..., <changes> WHERE <target's filter>
/// AND <live>`.
///
/// The changes are what [`diesel::update(...).set(...)`](diesel::update) takes, on columns of
/// the target's table (anything else does not compile), typically an `updated_at` or a version
/// counter. They are written only to the rows the soft delete changes: a row that was already
/// deleted keeps its values. They must not set the marker or audit columns, which the
/// statement already sets (PostgreSQL refuses such a statement; SQLite and MySQL keep the
/// last value).
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
/// let at = deletion.timestamp().naive_utc();
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
    deletion: DeletionOf<Target::Table>,
    changes: Changes,
) -> dsl::SoftDeleteAndSet<Target, Changes>
where
    Target: SoftDeleteTarget,
    Changes: AlsoSet<Target>,
{
    changes.soft_delete(target, deletion)
}

/// Like [`restore`], writing `changes` to other columns of the restored rows in the same
/// `UPDATE`: `UPDATE t SET <marker> = <live>, <audit> = NULL, <changes> WHERE <target's filter>
/// AND <deleted>`. Live rows keep their values. See [`soft_delete_and_set`] for what `changes`
/// may be.
pub fn restore_and_set<Target, Changes>(
    target: Target,
    changes: Changes,
) -> dsl::RestoreAndSet<Target, Changes>
where
    Target: SoftDeleteTarget,
    Changes: AlsoSet<Target>,
{
    changes.restore(target)
}

/// Deletes the rows of `target` for good, live or soft-deleted: Diesel's
/// [`delete`](diesel::delete), limited to soft-deletable tables so the intent is explicit.
pub fn hard_delete<Target>(target: Target) -> dsl::HardDelete<Target>
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
) -> dsl::Filter<dsl::Update<Target, Changes>, Guard>
where
    Target: IntoUpdateTarget,
    Changes: AsChangeset<Target = Target::Table>,
    dsl::Update<Target, Changes>: AsQuery + FilterDsl<Guard>,
{
    FilterDsl::filter(update(target).set(changes), guard)
}

fn update<Target: IntoUpdateTarget>(
    target: Target,
) -> UpdateStatement<<Target as HasTable>::Table, Target::WhereClause> {
    diesel::update(target)
}
