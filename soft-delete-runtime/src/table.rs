//! The traits `#[derive(SoftDelete)]` implements, and the marker strategies.
//!
//! [`SoftDeleteTable`] is implemented on the Diesel table type (`users::table`): it names the
//! marker column, how to read it ([`Strategy`]) and how to write it. [`SoftDelete`] is
//! implemented on the model struct and carries the by-value writes.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::connection::Connection;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, NonAggregate, ValidGrouping};
use diesel::query_builder::{AsChangeset, IntoUpdateTarget, QueryId};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_source::{AliasSource, AliasedField};
use diesel::sql_types::{Bool, SingleValue};
use diesel::{Column, Table};

use crate::unique::KeyGuard;
use crate::write::{self, AlsoSet, Deletion, SoftDeleteTarget};
use crate::{dsl, Error};

/// A Diesel table whose rows are soft-deleted through a marker column.
///
/// Implemented by `#[derive(SoftDelete)]` on the table named by the model's
/// `#[diesel(table_name = ...)]`. Only one model per table derives it.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a soft-deletable table",
    label = "no `#[derive(SoftDelete)]` model for this table",
    note = "add `#[derive(SoftDelete)]` to the model whose `#[diesel(table_name = ...)]` names this table"
)]
pub trait SoftDeleteTable: Table + Default + Copy {
    /// The marker column.
    type Marker: Column<Table = Self> + Default + Copy;
    /// How the marker tells live rows from deleted ones.
    type Strategy: Strategy<Self::Marker>;
    /// The value type of the "deleted by" audit column, or [`NoDeletedByColumn`].
    type DeletedBy;
    /// The value type of the "deletion reason" audit column, or [`NoReasonColumn`].
    type Reason;
    /// What a soft delete writes: the marker, every audit column, and `NULL` into the batch
    /// column (`#[soft_delete(batch)]`) if there is one.
    type SoftDeleteChanges: AsChangeset<Target = Self>;
    /// What a restore writes: the marker back to live, the audit columns and the batch column
    /// cleared.
    type RestoreChanges: AsChangeset<Target = Self>;

    /// The changes that soft-delete a row as `deletion` describes.
    fn soft_delete_changes(
        deletion: Deletion<Self::DeletedBy, Self::Reason>,
    ) -> Self::SoftDeleteChanges;

    /// The changes that bring a row back to life.
    fn restore_changes() -> Self::RestoreChanges;

    /// The predicate that holds for live rows, e.g. `users.deleted_at IS NULL`.
    fn live() -> dsl::live<Self> {
        <Self::Strategy as Strategy<Self::Marker>>::live(Self::Marker::default())
    }

    /// The predicate that holds for soft-deleted rows, e.g. `users.deleted_at IS NOT NULL`.
    fn deleted() -> dsl::deleted<Self> {
        <Self::Strategy as Strategy<Self::Marker>>::deleted(Self::Marker::default())
    }
}

/// How a marker column tells live rows from soft-deleted ones.
///
/// The predicates are plain Diesel expressions, so a scope costs exactly what the
/// hand-written filter costs. Flag strategies compare against the column itself
/// (`"active"`, `NOT ("deleted")`) rather than a bound `= $1`, so the query planner can match
/// them against a partial index declared with the same condition.
///
/// Each predicate comes in two forms: on the column `C` of the table, and on the same column
/// of an alias `S` of the table (`diesel::alias!`), which reads `"person1"."deleted_at"`.
pub trait Strategy<C: Column> {
    /// The kind, for code that renders SQL itself (DDL).
    const KIND: StrategyKind;
    /// Predicate type for live rows.
    type Live: Expression<SqlType = Bool>
        + AppearsOnTable<C::Table>
        + NonAggregate
        + QueryId
        + Clone;
    /// Predicate type for soft-deleted rows.
    type Deleted: Expression<SqlType = Bool>
        + AppearsOnTable<C::Table>
        + NonAggregate
        + QueryId
        + Clone;
    /// The live predicate on `column`.
    fn live(column: C) -> Self::Live;
    /// The deleted predicate on `column`.
    fn deleted(column: C) -> Self::Deleted;

    /// Predicate type for live rows of the alias `S`.
    type LiveIn<S: AliasSource<Target = C::Table>>: Expression<SqlType = Bool> + NonAggregate;
    /// Predicate type for soft-deleted rows of the alias `S`.
    type DeletedIn<S: AliasSource<Target = C::Table>>: Expression<SqlType = Bool> + NonAggregate;
    /// The live predicate on `column` of an alias.
    fn live_in<S: AliasSource<Target = C::Table>>(column: AliasedField<S, C>) -> Self::LiveIn<S>;
    /// The deleted predicate on `column` of an alias.
    fn deleted_in<S: AliasSource<Target = C::Table>>(
        column: AliasedField<S, C>,
    ) -> Self::DeletedIn<S>;
}

/// The three marker strategies, as a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum StrategyKind {
    /// `NULL` = live, a timestamp = when it was deleted.
    Timestamp,
    /// `false` = live, `true` = deleted.
    DeletedFlag,
    /// `true` = live, `false` = deleted (the active-unique pattern's `active` column).
    ActiveFlag,
}

/// `deleted_at IS NULL` is live.
#[derive(Debug, Clone, Copy)]
pub enum Timestamp {}

/// `deleted = false` is live.
#[derive(Debug, Clone, Copy)]
pub enum DeletedFlag {}

/// `active = true` is live.
#[derive(Debug, Clone, Copy)]
pub enum ActiveFlag {}

impl<C> Strategy<C> for Timestamp
where
    C: Column + AppearsOnTable<<C as Column>::Table> + QueryId + Clone,
    C: ValidGrouping<(), IsAggregate = is_aggregate::No>,
    C::SqlType: NullableMarkerSqlType + SingleValue,
{
    const KIND: StrategyKind = StrategyKind::Timestamp;
    type Live = diesel::dsl::IsNull<C>;
    type Deleted = diesel::dsl::IsNotNull<C>;

    fn live(column: C) -> Self::Live {
        diesel::ExpressionMethods::is_null(column)
    }

    fn deleted(column: C) -> Self::Deleted {
        diesel::ExpressionMethods::is_not_null(column)
    }

    type LiveIn<S: AliasSource<Target = C::Table>> = diesel::dsl::IsNull<AliasedField<S, C>>;
    type DeletedIn<S: AliasSource<Target = C::Table>> = diesel::dsl::IsNotNull<AliasedField<S, C>>;

    fn live_in<S: AliasSource<Target = C::Table>>(column: AliasedField<S, C>) -> Self::LiveIn<S> {
        diesel::ExpressionMethods::is_null(column)
    }

    fn deleted_in<S: AliasSource<Target = C::Table>>(
        column: AliasedField<S, C>,
    ) -> Self::DeletedIn<S> {
        diesel::ExpressionMethods::is_not_null(column)
    }
}

impl<C> Strategy<C> for DeletedFlag
where
    C: Column<SqlType = Bool> + AppearsOnTable<<C as Column>::Table> + QueryId + Clone,
    C: ValidGrouping<(), IsAggregate = is_aggregate::No>,
{
    const KIND: StrategyKind = StrategyKind::DeletedFlag;
    type Live = diesel::dsl::not<C>;
    type Deleted = C;

    fn live(column: C) -> Self::Live {
        diesel::dsl::not(column)
    }

    fn deleted(column: C) -> Self::Deleted {
        column
    }

    type LiveIn<S: AliasSource<Target = C::Table>> = diesel::dsl::not<AliasedField<S, C>>;
    type DeletedIn<S: AliasSource<Target = C::Table>> = AliasedField<S, C>;

    fn live_in<S: AliasSource<Target = C::Table>>(column: AliasedField<S, C>) -> Self::LiveIn<S> {
        diesel::dsl::not(column)
    }

    fn deleted_in<S: AliasSource<Target = C::Table>>(
        column: AliasedField<S, C>,
    ) -> Self::DeletedIn<S> {
        column
    }
}

impl<C> Strategy<C> for ActiveFlag
where
    C: Column<SqlType = Bool> + AppearsOnTable<<C as Column>::Table> + QueryId + Clone,
    C: ValidGrouping<(), IsAggregate = is_aggregate::No>,
{
    const KIND: StrategyKind = StrategyKind::ActiveFlag;
    type Live = C;
    type Deleted = diesel::dsl::not<C>;

    fn live(column: C) -> Self::Live {
        column
    }

    fn deleted(column: C) -> Self::Deleted {
        diesel::dsl::not(column)
    }

    type LiveIn<S: AliasSource<Target = C::Table>> = AliasedField<S, C>;
    type DeletedIn<S: AliasSource<Target = C::Table>> = diesel::dsl::not<AliasedField<S, C>>;

    fn live_in<S: AliasSource<Target = C::Table>>(column: AliasedField<S, C>) -> Self::LiveIn<S> {
        column
    }

    fn deleted_in<S: AliasSource<Target = C::Table>>(
        column: AliasedField<S, C>,
    ) -> Self::DeletedIn<S> {
        diesel::dsl::not(column)
    }
}

/// The type a timestamp marker (or a flag model's deletion time) may have.
///
/// Implemented for `Option<NaiveDateTime>` and `Option<DateTime<Utc>>`; which of them a
/// backend accepts for which SQL type is Diesel's business (`DateTime<Utc>` needs a
/// `Timestamptz` column on PostgreSQL or SQLite and is not mapped on MySQL).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a deletion time",
    label = "a timestamp marker must be `Option<NaiveDateTime>` or `Option<DateTime<Utc>>`",
    note = "`None` means live; for a bool column use `#[soft_delete(marker = deleted)]` or `#[soft_delete(marker = active)]`"
)]
pub trait TimestampField: Sized {
    /// The value that records a deletion at `at`.
    fn deleted_at(at: DateTime<Utc>) -> Self;
    /// The value of a live row.
    fn live() -> Self;
}

impl TimestampField for Option<NaiveDateTime> {
    fn deleted_at(at: DateTime<Utc>) -> Self {
        Some(at.naive_utc())
    }
    fn live() -> Self {
        None
    }
}

impl TimestampField for Option<DateTime<Utc>> {
    fn deleted_at(at: DateTime<Utc>) -> Self {
        Some(at)
    }
    fn live() -> Self {
        None
    }
}

/// The type a flag marker may have: `bool`.
#[diagnostic::on_unimplemented(
    message = "a flag marker must be `bool`, not `{Self}`",
    label = "expected `bool`",
    note = "for a timestamp marker use `#[soft_delete(marker = timestamp)]` on an `Option<NaiveDateTime>` field"
)]
pub trait FlagField: Sized {
    /// The field's value for the flag `value`.
    fn flag(value: bool) -> Self;
}

impl FlagField for bool {
    fn flag(value: bool) -> Self {
        value
    }
}

/// The type an audit column (`deleted_by`, `reason`) may have: an `Option`, since live
/// rows carry no value.
#[diagnostic::on_unimplemented(
    message = "an audit column must be an `Option<_>`, not `{Self}`",
    label = "expected `Option<_>`: a live row has no value here"
)]
pub trait AuditField: Sized {
    /// The value inside the `Option`.
    type Value;
    /// The field's value when `value` is recorded (`None`: nothing recorded).
    fn recorded(value: Option<Self::Value>) -> Self;
}

impl<T> AuditField for Option<T> {
    type Value = T;
    fn recorded(value: Option<T>) -> Self {
        value
    }
}

/// The type a `#[soft_delete(batch)]` field may have: an `Option` (`Option<i64>` for the
/// column's `Nullable<BigInt>`), since only rows an archive hid carry a batch id.
#[diagnostic::on_unimplemented(
    message = "a batch column must be an `Option<_>`, not `{Self}`",
    label = "expected `Option<i64>`: live rows, and rows hidden or restored on their own, have no batch"
)]
pub trait BatchField: Sized {
    /// The value a plain soft delete and a restore write: no batch. A row hidden on its own
    /// is not part of an earlier archive, so restoring that archive leaves it hidden.
    fn detached() -> Self;
}

impl<T> BatchField for Option<T> {
    fn detached() -> Self {
        None
    }
}

/// The SQL type a timestamp marker's column may have: a nullable one, since `NULL` is live.
#[diagnostic::on_unimplemented(
    message = "a timestamp marker's column must be nullable, but its SQL type is `{Self}`",
    label = "`NULL` means live, so the column needs `Nullable<...>`",
    note = "declare the column as `deleted_at -> Nullable<Timestamp>` in `table!` (and `NULL` in the DDL)"
)]
pub trait NullableMarkerSqlType {}
impl<ST> NullableMarkerSqlType for diesel::sql_types::Nullable<ST> {}

/// [`SoftDeleteTable::DeletedBy`] of a table without a "deleted by" column.
///
/// It has no values, so [`Deletion::by`] cannot be called for such a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDeletedByColumn {}

/// [`SoftDeleteTable::Reason`] of a table without a "deletion reason" column.
///
/// It has no values, so [`Deletion::reason`] cannot be called for such a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReasonColumn {}

/// A model whose rows are soft-deleted; implemented by `#[derive(SoftDelete)]`.
///
/// The by-value writes need the model to be [`Identifiable`](diesel::Identifiable) (as
/// [`diesel::update`] does with a model); each returns the number of rows it changed, and
/// each is a single `UPDATE`/`DELETE` keyed by the primary key.
pub trait SoftDelete {
    /// The table the model is read from.
    type Table: SoftDeleteTable;

    /// The model's active-unique keys, which [`restore`](Self::restore) respects: `()` for a
    /// model without `#[active_unique(...)]`, `(K1, (K2, ()))` for keys `K1` and `K2`
    /// (see [`unique`](crate::unique)).
    type ActiveUniqueKeys;

    /// Soft-deletes this row now. A row that is already deleted keeps its first
    /// timestamp and audit values (returns `0`).
    fn soft_delete<'a, C>(&'a self, conn: &mut C) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table>,
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
        deletion: Deletion<
            <Self::Table as SoftDeleteTable>::DeletedBy,
            <Self::Table as SoftDeleteTable>::Reason,
        >,
    ) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table>,
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
        deletion: Deletion<
            <Self::Table as SoftDeleteTable>::DeletedBy,
            <Self::Table as SoftDeleteTable>::Reason,
        >,
        changes: Changes,
    ) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table>,
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
    /// [`Error::Conflict`] naming that row and changes nothing.
    fn restore<'a, C>(&'a self, conn: &mut C) -> Result<usize, Error>
    where
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table>,
        dsl::Restore<&'a Self>: ExecuteDsl<C>,
        Self::ActiveUniqueKeys: KeyGuard<Self, C>,
    {
        <Self::ActiveUniqueKeys as KeyGuard<Self, C>>::guard(self, conn, &mut |conn| {
            Ok(ExecuteDsl::execute(write::restore(self), conn)?)
        })
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
        C: Connection,
        &'a Self: SoftDeleteTarget<Table = Self::Table>,
        Changes: AlsoSet<&'a Self> + Clone,
        dsl::RestoreAndSet<&'a Self, Changes>: ExecuteDsl<C>,
        Self::ActiveUniqueKeys: KeyGuard<Self, C>,
    {
        <Self::ActiveUniqueKeys as KeyGuard<Self, C>>::guard(self, conn, &mut |conn| {
            let statement = write::restore_and_set(self, changes.clone());
            Ok(ExecuteDsl::execute(statement, conn)?)
        })
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
