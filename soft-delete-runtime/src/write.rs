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

use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use diesel::associations::HasTable;
use diesel::query_builder::{AsQuery, IntoUpdateTarget, UpdateStatement};
use diesel::query_dsl::methods::FilterDsl;

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
        FilterDsl::filter(
            update(self).set(changes),
            <Target::Table as SoftDeleteTable>::live(),
        )
    }

    fn into_restore(self) -> Self::Restore {
        let changes = <Target::Table as SoftDeleteTable>::restore_changes();
        FilterDsl::filter(
            update(self).set(changes),
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

/// Deletes the rows of `target` for good, live or soft-deleted: Diesel's
/// [`delete`](diesel::delete), limited to soft-deletable tables so the intent is explicit.
pub fn hard_delete<Target>(target: Target) -> dsl::HardDelete<Target>
where
    Target: IntoUpdateTarget<Table: SoftDeleteTable>,
{
    diesel::delete(target)
}

fn update<Target: IntoUpdateTarget>(
    target: Target,
) -> UpdateStatement<<Target as HasTable>::Table, Target::WhereClause> {
    diesel::update(target)
}
