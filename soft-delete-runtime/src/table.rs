//! The traits `#[derive(SoftDelete)]` implements, and the marker strategies.
//!
//! [`SoftDeleteTable`] is implemented on the Diesel table type (`users::table`): it names the
//! marker column, how to read it ([`Strategy`]) and how to write it. [`SoftDelete`](crate::SoftDelete) is
//! implemented on the model struct and carries the by-value writes (see [`crate::SoftDelete`]).
//!
//! The types of the live and deleted predicates are named in [`dsl`](crate::dsl)
//! ([`dsl::live`](type@crate::dsl::live), ...), where they are re-exported from here.

use diesel::expression::{is_aggregate, AppearsOnTable, Expression, NonAggregate, ValidGrouping};
use diesel::query_builder::{AsChangeset, QueryId};
use diesel::query_source::{Alias, AliasSource, AliasedField};
use diesel::sql_types::{Bool, SingleValue};
use diesel::{BoolExpressionMethods, Column, Table};

use crate::deletion::Deletion;
pub use crate::deletion::{NoDeletedByColumn, NoReasonColumn};

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
    fn live() -> types::live<Self> {
        <Self::Markers as MarkerList<Self>>::live()
    }

    /// The predicate that holds for soft-deleted rows: any marker hiding the row, e.g.
    /// `users.deleted_at IS NOT NULL`, or `posts.deleted OR posts.removed`.
    fn deleted() -> types::deleted<Self> {
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
/// ([`write::marker`](crate::write::marker())) and predicates
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

/// The types of the live and deleted predicates, named in [`dsl`](crate::dsl).
pub(crate) mod types {
    use super::{MarkerList, SoftDeleteMarker, SoftDeleteTable, Strategy};

    /// The type of [`live::<T>()`](fn@crate::dsl::live): the predicate that holds for live rows
    /// of `T`.
    #[allow(non_camel_case_types)] // named after the function, as `#[auto_type]` expects
    pub type live<T> = <<T as SoftDeleteTable>::Markers as MarkerList<T>>::Live;

    /// The type of [`deleted::<T>()`](fn@crate::dsl::deleted): the predicate that holds for
    /// soft-deleted rows of `T`.
    #[allow(non_camel_case_types)]
    pub type deleted<T> = <<T as SoftDeleteTable>::Markers as MarkerList<T>>::Deleted;

    /// The type of [`marker_live(column)`](fn@crate::dsl::marker_live).
    #[allow(non_camel_case_types)]
    pub type marker_live<M> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::Live;

    /// The type of [`marker_deleted(column)`](fn@crate::dsl::marker_deleted).
    #[allow(non_camel_case_types)]
    pub type marker_deleted<M> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::Deleted;
}
