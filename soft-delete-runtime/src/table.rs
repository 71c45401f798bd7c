//! The traits `#[derive(SoftDelete)]` implements, and the marker strategies.
//!
//! [`SoftDeleteTable`] is implemented on the Diesel table type (`users::table`): it names the
//! marker column, how to read it ([`Strategy`]) and how to write it. [`SoftDelete`] is
//! implemented on the model struct and carries the by-value writes.

use diesel::connection::Connection;
use diesel::expression::{is_aggregate, AppearsOnTable, Expression, NonAggregate, ValidGrouping};
use diesel::query_builder::{AsChangeset, IntoUpdateTarget, QueryId};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_source::{Alias, AliasSource, AliasedField};
use diesel::sql_types::{Bool, SingleValue};
use diesel::{BoolExpressionMethods, Column, Table};

use crate::exec::{drive, Blocking, Execute};
use crate::unique::KeyGuard;
use crate::write::{self, AlsoSet, Deletion, DeletionOf, Marked, SoftDeleteTarget};
use crate::{dsl, Error};

/// A Diesel table whose rows are soft-deleted through one marker column, or several.
///
/// Implemented by `#[derive(SoftDelete)]` on the table named by the model's
/// `#[diesel(table_name = ...)]`. Only one model per table derives it.
///
/// A row is *live* when every marker says so, and *deleted* (hidden) when any marker hides it:
/// see [several reasons to hide](crate#several-reasons-to-hide). One of the markers is the
/// table's [`Marker`](Self::Marker), the primary one: what the plain writes
/// ([`soft_delete`](crate::soft_delete), [`restore`](crate::restore)), a cascade archive and a
/// purge set, clear and read. A model with one marker has only that one.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a soft-deletable table",
    label = "no `#[derive(SoftDelete)]` model for this table",
    note = "add `#[derive(SoftDelete)]` to the model whose `#[diesel(table_name = ...)]` names this table"
)]
pub trait SoftDeleteTable: Table + Default + Copy {
    /// The primary marker column: the only one of a model with one marker, the one declared
    /// `#[soft_delete(marker ..., primary)]` of a model with several.
    type Marker: SoftDeleteMarker<Table = Self>;

    /// Every marker column, as a list `(M1, (M2, ()))` in declaration order; a row is live
    /// when all of them say so.
    type Markers: MarkerList<Self>;

    /// The predicate that holds for live rows: every marker live, e.g. `users.deleted_at IS
    /// NULL`, or `NOT posts.deleted AND NOT posts.removed` for two markers.
    fn live() -> dsl::live<Self> {
        <Self::Markers as MarkerList<Self>>::live()
    }

    /// The predicate that holds for soft-deleted rows: any marker hiding the row, e.g.
    /// `users.deleted_at IS NOT NULL`, or `posts.deleted OR posts.removed`.
    fn deleted() -> dsl::deleted<Self> {
        <Self::Markers as MarkerList<Self>>::deleted()
    }

    /// Every marker, by SQL name and strategy, in declaration order.
    fn markers() -> Vec<MarkerInfo> {
        let mut markers = Vec::new();
        <Self::Markers as MarkerList<Self>>::describe(&mut markers);
        markers
    }
}

/// One marker column of a soft-deletable table: how it tells live rows from hidden ones, and
/// what hiding and bringing back a row through it writes (the marker and the columns that
/// belong to it: its deletion time, who and why).
///
/// Implemented by `#[derive(SoftDelete)]` on the column type of each marker (`posts::deleted`,
/// `posts::removed`). The column is the selector of the marker's own writes
/// ([`write::marker`]) and predicates
/// ([`dsl::marker_deleted`](fn@crate::dsl::marker_deleted)).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a marker column",
    label = "not a soft-delete marker",
    note = "a marker is a field marked `#[soft_delete(marker ...)]` (or named `deleted_at` or `deleted`) of a `#[derive(SoftDelete)]` model; pass its column, e.g. `posts::removed`"
)]
pub trait SoftDeleteMarker: Column + Default + Copy {
    /// How the marker tells live rows from deleted ones.
    type Strategy: Strategy<Self>;
    /// The value type of this marker's "deleted by" audit column, or [`NoDeletedByColumn`].
    type DeletedBy;
    /// The value type of this marker's "deletion reason" audit column, or [`NoReasonColumn`].
    type Reason;
    /// What hiding a row through this marker writes: the marker, its own deletion time and
    /// audit columns, and, for the primary marker, `NULL` into the batch column
    /// (`#[soft_delete(batch)]`) if there is one.
    type SoftDeleteChanges: AsChangeset<Target = Self::Table>;
    /// What bringing a row back through this marker writes: the marker back to live, its own
    /// columns cleared (and, for the primary marker, the batch column).
    type RestoreChanges: AsChangeset<Target = Self::Table>;

    /// The changes that hide a row as `deletion` describes.
    fn soft_delete_changes(
        deletion: Deletion<Self::DeletedBy, Self::Reason>,
    ) -> Self::SoftDeleteChanges;

    /// The changes that bring a row back through this marker.
    fn restore_changes() -> Self::RestoreChanges;
}

/// The marker columns of table `T`, as a list: `(M, ())` for one marker, `(M1, (M2, ()))` for
/// two, and so on; [`SoftDeleteTable::Markers`]. A row is live when every marker is.
///
/// Implemented for every such list of [`SoftDeleteMarker`] columns of `T`; the predicates of
/// one marker are exactly its strategy's, so a model with one marker queries as before.
pub trait MarkerList<T: Table> {
    /// The type of the live predicate: `live(M1) AND live(M2) ...`.
    type Live: Expression<SqlType = Bool> + AppearsOnTable<T> + NonAggregate + QueryId + Clone;
    /// The type of the deleted predicate: `deleted(M1) OR deleted(M2) ...`.
    type Deleted: Expression<SqlType = Bool> + AppearsOnTable<T> + NonAggregate + QueryId + Clone;

    /// Every marker live.
    fn live() -> Self::Live;
    /// Any marker hiding the row.
    fn deleted() -> Self::Deleted;
    /// Appends a [`MarkerInfo`] for each marker.
    fn describe(markers: &mut Vec<MarkerInfo>);
}

/// The live predicate of marker `M` alone.
type MarkerLive<M> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::Live;
/// The deleted predicate of marker `M` alone.
type MarkerDeleted<M> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::Deleted;

fn marker_info<M: SoftDeleteMarker>() -> MarkerInfo {
    MarkerInfo {
        name: M::NAME,
        kind: <M::Strategy as Strategy<M>>::KIND,
    }
}

impl<T, M> MarkerList<T> for (M, ())
where
    T: Table,
    M: SoftDeleteMarker<Table = T>,
{
    type Live = MarkerLive<M>;
    type Deleted = MarkerDeleted<M>;

    fn live() -> Self::Live {
        M::Strategy::live(M::default())
    }

    fn deleted() -> Self::Deleted {
        M::Strategy::deleted(M::default())
    }

    fn describe(markers: &mut Vec<MarkerInfo>) {
        markers.push(marker_info::<M>());
    }
}

impl<T, M, Next, Rest> MarkerList<T> for (M, (Next, Rest))
where
    T: Table,
    M: SoftDeleteMarker<Table = T>,
    (Next, Rest): MarkerList<T>,
    diesel::dsl::And<MarkerLive<M>, <(Next, Rest) as MarkerList<T>>::Live>:
        Expression<SqlType = Bool> + AppearsOnTable<T> + NonAggregate + QueryId + Clone,
    diesel::dsl::Or<MarkerDeleted<M>, <(Next, Rest) as MarkerList<T>>::Deleted>:
        Expression<SqlType = Bool> + AppearsOnTable<T> + NonAggregate + QueryId + Clone,
{
    type Live = diesel::dsl::And<MarkerLive<M>, <(Next, Rest) as MarkerList<T>>::Live>;
    type Deleted = diesel::dsl::Or<MarkerDeleted<M>, <(Next, Rest) as MarkerList<T>>::Deleted>;

    fn live() -> Self::Live {
        BoolExpressionMethods::and(
            M::Strategy::live(M::default()),
            <(Next, Rest) as MarkerList<T>>::live(),
        )
    }

    fn deleted() -> Self::Deleted {
        BoolExpressionMethods::or(
            M::Strategy::deleted(M::default()),
            <(Next, Rest) as MarkerList<T>>::deleted(),
        )
    }

    fn describe(markers: &mut Vec<MarkerInfo>) {
        markers.push(marker_info::<M>());
        <(Next, Rest) as MarkerList<T>>::describe(markers);
    }
}

/// The predicates of a [`MarkerList`] on an alias `S` of its table (`diesel::alias!`), which
/// read `"person1"."deleted_at"`. Implemented for every marker list whose table `S` aliases.
pub trait AliasMarkerList<S: AliasSource> {
    /// The type of the live predicate on the alias.
    type Live: Expression<SqlType = Bool> + NonAggregate;
    /// The type of the deleted predicate on the alias.
    type Deleted: Expression<SqlType = Bool> + NonAggregate;

    /// Every marker of the alias live.
    fn live(alias: &Alias<S>) -> Self::Live;
    /// Any marker of the alias hiding the row.
    fn deleted(alias: &Alias<S>) -> Self::Deleted;
}

/// The live predicate of marker `M` on alias `S`.
type MarkerLiveIn<M, S> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::LiveIn<S>;
/// The deleted predicate of marker `M` on alias `S`.
type MarkerDeletedIn<M, S> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::DeletedIn<S>;

impl<S, M> AliasMarkerList<S> for (M, ())
where
    S: AliasSource<Target = M::Table>,
    M: SoftDeleteMarker,
{
    type Live = MarkerLiveIn<M, S>;
    type Deleted = MarkerDeletedIn<M, S>;

    fn live(alias: &Alias<S>) -> Self::Live {
        M::Strategy::live_in(alias.field(M::default()))
    }

    fn deleted(alias: &Alias<S>) -> Self::Deleted {
        M::Strategy::deleted_in(alias.field(M::default()))
    }
}

impl<S, M, Next, Rest> AliasMarkerList<S> for (M, (Next, Rest))
where
    S: AliasSource<Target = M::Table>,
    M: SoftDeleteMarker,
    (Next, Rest): AliasMarkerList<S>,
    diesel::dsl::And<MarkerLiveIn<M, S>, <(Next, Rest) as AliasMarkerList<S>>::Live>:
        Expression<SqlType = Bool> + NonAggregate,
    diesel::dsl::Or<MarkerDeletedIn<M, S>, <(Next, Rest) as AliasMarkerList<S>>::Deleted>:
        Expression<SqlType = Bool> + NonAggregate,
{
    type Live = diesel::dsl::And<MarkerLiveIn<M, S>, <(Next, Rest) as AliasMarkerList<S>>::Live>;
    type Deleted =
        diesel::dsl::Or<MarkerDeletedIn<M, S>, <(Next, Rest) as AliasMarkerList<S>>::Deleted>;

    fn live(alias: &Alias<S>) -> Self::Live {
        BoolExpressionMethods::and(
            M::Strategy::live_in(alias.field(M::default())),
            <(Next, Rest) as AliasMarkerList<S>>::live(alias),
        )
    }

    fn deleted(alias: &Alias<S>) -> Self::Deleted {
        BoolExpressionMethods::or(
            M::Strategy::deleted_in(alias.field(M::default())),
            <(Next, Rest) as AliasMarkerList<S>>::deleted(alias),
        )
    }
}

/// One marker as plain values, for code that renders SQL itself (DDL, the collector, the
/// purge): its column's SQL name and its strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MarkerInfo {
    /// The marker column's SQL name.
    pub name: &'static str,
    /// How it tells live rows from deleted ones.
    pub kind: StrategyKind,
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
/// Implemented, with the feature `chrono`, for `Option<NaiveDateTime>` (the UTC wall-clock
/// time) and `Option<DateTime<Utc>>`; with the feature `time`, for `Option<PrimitiveDateTime>`
/// (the UTC wall-clock time) and `Option<OffsetDateTime>` (in UTC). Which of them a backend
/// accepts for which SQL type is Diesel's business (an instant needs a `Timestamptz` column on
/// PostgreSQL or SQLite; on MySQL chrono's `DateTime<Utc>` is not mapped, time's
/// `OffsetDateTime` is, as `Datetime`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold a deletion time",
    label = "a timestamp marker must be `Option<NaiveDateTime>` or `Option<DateTime<Utc>>` (feature `chrono`), or `Option<PrimitiveDateTime>` or `Option<OffsetDateTime>` (feature `time`)",
    note = "`None` means live; for a bool column use `#[soft_delete(marker = deleted)]` or `#[soft_delete(marker = active)]`"
)]
pub trait TimestampField: Sized {
    /// The value that records a deletion at `at`.
    fn deleted_at(at: crate::Timestamp) -> Self;
    /// The value of a live row.
    fn live() -> Self;
}

/// `TimestampField` for `Option<T>` of time types that convert from [`Timestamp`].
macro_rules! timestamp_fields {
    ($($ty:ty),* $(,)?) => {$(
        impl TimestampField for Option<$ty> {
            fn deleted_at(at: crate::Timestamp) -> Self {
                Some(at.into())
            }
            fn live() -> Self {
                None
            }
        }
    )*};
}

#[cfg(feature = "chrono")]
timestamp_fields!(chrono::NaiveDateTime, chrono::DateTime<chrono::Utc>);
#[cfg(feature = "time")]
timestamp_fields!(time::PrimitiveDateTime, time::OffsetDateTime);

/// The type a flag marker may have: `bool`.
#[diagnostic::on_unimplemented(
    message = "a flag marker must be `bool`, not `{Self}`",
    label = "expected `bool`",
    note = "for a timestamp marker use `#[soft_delete(marker = timestamp)]` on an `Option<NaiveDateTime>` or `Option<PrimitiveDateTime>` field"
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

/// [`SoftDeleteMarker::DeletedBy`] of a marker without a "deleted by" column.
///
/// It has no values, so [`Deletion::by`] cannot be called for such a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDeletedByColumn {}

/// [`SoftDeleteMarker::Reason`] of a marker without a "deletion reason" column.
///
/// It has no values, so [`Deletion::reason`] cannot be called for such a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReasonColumn {}

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
