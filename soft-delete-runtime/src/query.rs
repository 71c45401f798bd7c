//! The scopes: `.active()`, `.only_deleted()` and `.with_deleted()`, and the predicates of an
//! alias.
//!
//! Each scope is one `.filter(...)` with the table's live or deleted predicate, so the SQL
//! is exactly what the hand-written filter produces. They work on
//!
//! - a table: `users::table.active()`;
//! - a statement that already has `filter`, `order`, `select`, `limit`, ...:
//!   `users::table.filter(users::name.eq("ann")).order(users::id).active()`;
//! - a boxed query, boxed before or after the scope:
//!   `users::table.into_boxed().active()` or `users::table.active().into_boxed()`;
//! - the same three shapes on an alias of the table (`diesel::alias!`): `person1.active()`
//!   filters on `"person1"."deleted_at"`.
//!
//! A join has more than one table, so it has no single marker to scope by; filter a join
//! with [`dsl::live`](fn@crate::dsl::live) and [`dsl::deleted`](fn@crate::dsl::deleted) instead,
//! and an alias in it with [`SoftDeleteAliasDsl::live`] and [`SoftDeleteAliasDsl::deleted`]
//! (`person1.live()`, or [`dsl::live_in(person1)`](fn@crate::dsl::live_in)).
//!
//! Diesel has no default scope, so a query without a scope sees every row.
//! `.with_deleted()` says, where the reader can see it, that deleted rows are meant to be
//! included, and leaves a trace in the SQL that the visibility guard ([`crate::guard`]) reads:
//! the conjunct `(<live predicate> OR TRUE)` ([`WithDeletedTrace`]), which every planner folds
//! away, so the plan is that of the query without it.
//!
//! Finding the table from a statement needs Diesel's `SelectStatement`, `BoxedSelectStatement`
//! and `FromClause`, which Diesel 2.3 exports only under `diesel::internal` (the paths its
//! own `table!` expansion uses for `BoxedQuery`). That is why this crate pins `diesel = "~2.3"`.
//! The alternative, Diesel's `i-implement-a-third-party-backend-and-opt-into-breaking-changes`
//! feature, is documented as "do not use for any other use case" and would be switched on for
//! every crate in the user's build. An alias needs nothing more: `Alias`, `AliasSource` and
//! `AliasedField` are public, and a statement reading an alias is the same `SelectStatement`
//! with `FromClause<Alias<S>>`.
#![doc = include_str!("docs/query.md")]

use diesel::backend::Backend;
use diesel::expression::{
    AppearsOnTable, Expression, NonAggregate, SelectableExpression, ValidGrouping,
};
use diesel::internal::table_macro::{BoxedSelectStatement, FromClause, SelectStatement};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::query_dsl::methods::FilterDsl;
use diesel::query_source::{Alias, AliasSource, QuerySource};
use diesel::sql_types::Bool;
use diesel::QueryResult;

use crate::table::{AliasMarkerList, SoftDeleteTable};

/// One trait per scope, with the type each returns, as in `diesel::query_dsl::methods`.
pub mod methods {
    /// The `.active()` scope: keep live rows only.
    #[diagnostic::on_unimplemented(
        message = "`.active()` needs a query on one soft-deletable table, not `{Self}`",
        note = "a scope applies to a table or an alias of one, a statement selecting from one, or a boxed query of one; \
                for joins put `soft_delete_runtime::dsl::live::<T>()` (`alias.live()` for an alias) in `.filter()` or the `ON` clause"
    )]
    pub trait ActiveDsl {
        /// The query with the live filter added.
        type Output;
        /// See [`SoftDeleteQueryDsl::active`](super::SoftDeleteQueryDsl::active).
        fn active(self) -> Self::Output;
    }

    /// The `.only_deleted()` scope: keep soft-deleted rows only.
    #[diagnostic::on_unimplemented(
        message = "`.only_deleted()` needs a query on one soft-deletable table, not `{Self}`",
        note = "a scope applies to a table or an alias of one, a statement selecting from one, or a boxed query of one; \
                for joins put `soft_delete_runtime::dsl::deleted::<T>()` (`alias.deleted()` for an alias) in `.filter()` or the `ON` clause"
    )]
    pub trait OnlyDeletedDsl {
        /// The query with the deleted filter added.
        type Output;
        /// See [`SoftDeleteQueryDsl::only_deleted`](super::SoftDeleteQueryDsl::only_deleted).
        fn only_deleted(self) -> Self::Output;
    }

    /// The `.with_deleted()` scope: keep every row.
    #[diagnostic::on_unimplemented(
        message = "`.with_deleted()` needs a query on one soft-deletable table, not `{Self}`"
    )]
    pub trait WithDeletedDsl {
        /// The query with the [`WithDeletedTrace`](super::WithDeletedTrace) conjunct added.
        type Output;
        /// See [`SoftDeleteQueryDsl::with_deleted`](super::SoftDeleteQueryDsl::with_deleted).
        fn with_deleted(self) -> Self::Output;
    }
}

use methods::{ActiveDsl, OnlyDeletedDsl, WithDeletedDsl};

/// The scopes, as methods on every query. Import it with the [`prelude`](crate::prelude).
pub trait SoftDeleteQueryDsl: Sized {
    /// Keeps live rows only: adds `AND <live>` (e.g. `deleted_at IS NULL`) to the `WHERE` clause.
    fn active(self) -> types::Active<Self>
    where
        Self: ActiveDsl,
    {
        ActiveDsl::active(self)
    }

    /// Keeps soft-deleted rows only: adds `AND <deleted>` (e.g. `deleted_at IS NOT NULL`).
    fn only_deleted(self) -> types::OnlyDeleted<Self>
    where
        Self: OnlyDeletedDsl,
    {
        OnlyDeletedDsl::only_deleted(self)
    }

    /// Keeps every row, live or deleted. Use it to say that a query on a soft-deletable table
    /// means to see deleted rows: it adds `AND (<live> OR TRUE)`, a trace the visibility guard
    /// ([`crate::guard`]) reads as that intent and every planner folds away (the plan is the
    /// one without it).
    fn with_deleted(self) -> types::WithDeleted<Self>
    where
        Self: WithDeletedDsl,
    {
        WithDeletedDsl::with_deleted(self)
    }
}

impl<Q> SoftDeleteQueryDsl for Q {}

/// The predicates of an alias (`diesel::alias!`) as methods: `person1.live()` and
/// `person1.deleted()`. Import it with the [`prelude`](crate::prelude).
///
/// A self-join reads the same table twice, so `dsl::live::<person::table>()` cannot tell the
/// two apart; the alias's predicate names the alias (`"person1"."deleted_at" IS NULL`). Put it
/// in `.filter()`, or in a left join's `ON` clause where a `WHERE` would drop the unmatched rows:
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// # diesel::table! { person (id) { id -> Integer, name -> Text, deleted_at -> Nullable<Timestamp> } }
/// # diesel::table! { comment (id) { id -> Integer, creator_id -> Integer, recipient_id -> Integer } }
/// # diesel::joinable!(comment -> person (creator_id));
/// # diesel::allow_tables_to_appear_in_same_query!(person, comment);
/// # #[derive(Queryable, SoftDelete)]
/// # #[diesel(table_name = person)]
/// # struct Person { id: i32, name: String, deleted_at: Option<chrono::NaiveDateTime> }
/// use soft_delete_runtime::dsl::live;
///
/// diesel::alias!(person as person1: RecipientAlias);
///
/// // each comment by a live author, with its recipient if the recipient is live
/// let query = comment::table
///     .inner_join(person::table)
///     .left_join(
///         person1.on(comment::recipient_id
///             .eq(person1.field(person::id))
///             .and(person1.live())),
///     )
///     .filter(live::<person::table>())
///     .select((person::name, person1.field(person::name).nullable()));
/// let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
/// assert!(sql.contains("AND (`person1`.`deleted_at` IS NULL)"), "{sql}");
/// ```
///
/// The scopes apply to the alias too: `person1.active()`.
pub trait SoftDeleteAliasDsl: Sized {
    /// The predicate that holds for live rows of this alias, e.g. `"person1"."deleted_at" IS NULL`.
    fn live(self) -> types::live_in<Self>
    where
        Self: SoftDeleteAlias,
    {
        SoftDeleteAlias::live_predicate(self)
    }

    /// The predicate that holds for soft-deleted rows of this alias, e.g.
    /// `"person1"."deleted_at" IS NOT NULL`.
    fn deleted(self) -> types::deleted_in<Self>
    where
        Self: SoftDeleteAlias,
    {
        SoftDeleteAlias::deleted_predicate(self)
    }
}

impl<S> SoftDeleteAliasDsl for Alias<S> {}

/// An alias of a soft-deletable table: the types of its predicates, and how to build them.
/// Implemented for every `Alias<S>` of a table with a `#[derive(SoftDelete)]` model; use it
/// through [`SoftDeleteAliasDsl`] or [`dsl::live_in`](fn@crate::dsl::live_in).
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not an alias of a soft-deletable table",
    label = "expected `Alias<_>` of a table with a `#[derive(SoftDelete)]` model",
    note = "declare it with `diesel::alias!(table as name)`; for the table itself use `soft_delete_runtime::dsl::live::<T>()`"
)]
pub trait SoftDeleteAlias: Sized {
    /// The aliased table.
    type Table: SoftDeleteTable;
    /// The type of the live predicate: [`dsl::live_in`](type@crate::dsl::live_in).
    type Live: Expression<SqlType = Bool> + NonAggregate;
    /// The type of the deleted predicate: [`dsl::deleted_in`](type@crate::dsl::deleted_in).
    type Deleted: Expression<SqlType = Bool> + NonAggregate;

    /// The live predicate on this alias's marker column.
    fn live_predicate(self) -> Self::Live;

    /// The deleted predicate on this alias's marker column.
    fn deleted_predicate(self) -> Self::Deleted;
}

impl<S> SoftDeleteAlias for Alias<S>
where
    S: AliasSource,
    S::Target: SoftDeleteTable,
    <S::Target as SoftDeleteTable>::Markers: AliasMarkerList<S>,
{
    type Table = S::Target;
    type Live = <<S::Target as SoftDeleteTable>::Markers as AliasMarkerList<S>>::Live;
    type Deleted = <<S::Target as SoftDeleteTable>::Markers as AliasMarkerList<S>>::Deleted;

    fn live_predicate(self) -> Self::Live {
        <<S::Target as SoftDeleteTable>::Markers as AliasMarkerList<S>>::live(&self)
    }

    fn deleted_predicate(self) -> Self::Deleted {
        <<S::Target as SoftDeleteTable>::Markers as AliasMarkerList<S>>::deleted(&self)
    }
}

/// The trace `.with_deleted()` leaves: `(<live predicate> OR TRUE)`, always true.
///
/// It names the reference's marker (through the live predicate, so an alias's trace names the
/// alias), which is how the visibility guard tells a read of every row on purpose from one that
/// forgot its scope. PostgreSQL, MySQL/MariaDB and SQLite fold `x OR TRUE` to true when they
/// plan the statement and drop the conjunct: the plan, and the use of a partial index, are those
/// of the query without it (a test compares the plans on every backend).
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// # diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
/// # #[derive(Queryable, SoftDelete)]
/// # struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
/// let query = users::table.with_deleted();
/// let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
/// assert!(sql.contains("WHERE ((`users`.`deleted_at` IS NULL) OR TRUE)"), "{sql}");
/// ```
#[derive(Debug, Clone, Copy, QueryId)]
pub struct WithDeletedTrace<P>(pub P);

impl<P: Expression<SqlType = Bool>> Expression for WithDeletedTrace<P> {
    type SqlType = Bool;
}

impl<P: AppearsOnTable<QS>, QS: ?Sized> AppearsOnTable<QS> for WithDeletedTrace<P> where
    Self: Expression
{
}

impl<P: SelectableExpression<QS>, QS: ?Sized> SelectableExpression<QS> for WithDeletedTrace<P> where
    Self: AppearsOnTable<QS>
{
}

impl<P: ValidGrouping<GB>, GB> ValidGrouping<GB> for WithDeletedTrace<P> {
    type IsAggregate = P::IsAggregate;
}

impl<P: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for WithDeletedTrace<P> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" OR TRUE)");
        Ok(())
    }
}

/// The same trace for SQL built by hand: `(<live> OR TRUE)` around an already rendered live
/// predicate. The library's own statements that read deleted rows on purpose (a purge's
/// reference checks, a restore's "does the parent still exist") carry it.
pub(crate) fn with_deleted_sql(live: &str) -> String {
    format!("({live} OR TRUE)")
}

/// Implements the three scope traits for one query shape, given the bounds under which it reads
/// one soft-deletable table or alias, and that source's predicates (their types and how to
/// build them).
macro_rules! impl_scopes {
    (
        impl[$($generics:tt)*] for $query:ty where [$($source:tt)*],
        live: $live:ty = $make_live:expr,
        deleted: $deleted:ty = $make_deleted:expr $(,)?
    ) => {
        impl<$($generics)*> ActiveDsl for $query
        where
            $($source)*
            Self: FilterDsl<$live>,
        {
            type Output = diesel::dsl::Filter<Self, $live>;

            fn active(self) -> Self::Output {
                FilterDsl::filter(self, $make_live)
            }
        }

        impl<$($generics)*> OnlyDeletedDsl for $query
        where
            $($source)*
            Self: FilterDsl<$deleted>,
        {
            type Output = diesel::dsl::Filter<Self, $deleted>;

            fn only_deleted(self) -> Self::Output {
                FilterDsl::filter(self, $make_deleted)
            }
        }

        impl<$($generics)*> WithDeletedDsl for $query
        where
            $($source)*
            Self: FilterDsl<WithDeletedTrace<$live>>,
        {
            type Output = diesel::dsl::Filter<Self, WithDeletedTrace<$live>>;

            fn with_deleted(self) -> Self::Output {
                FilterDsl::filter(self, WithDeletedTrace($make_live))
            }
        }
    };
}

/// The scopes of the queries that read table `$table` (a table type or a type parameter).
macro_rules! impl_table_scopes {
    (impl[$($generics:tt)*] for $query:ty, table = $table:ty) => {
        impl_scopes!(
            impl[$($generics)*] for $query where [$table: SoftDeleteTable,],
            live: crate::table::types::live<$table> = <$table as SoftDeleteTable>::live(),
            deleted: crate::table::types::deleted<$table> = <$table as SoftDeleteTable>::deleted(),
        );
    };
}

/// The scopes of the queries that read `Alias<$source>`. The alias is rebuilt from its
/// `Default` (which `diesel::alias!` implements): a statement does not hand it back.
macro_rules! impl_alias_scopes {
    (impl[$($generics:tt)*] for $query:ty, alias = $source:ty) => {
        impl_scopes!(
            impl[$($generics)*] for $query
            where [
                $source: AliasSource + Default,
                Alias<$source>: SoftDeleteAlias + QuerySource,
            ],
            live: types::live_in<Alias<$source>> =
                SoftDeleteAlias::live_predicate(Alias::<$source>::default()),
            deleted: types::deleted_in<Alias<$source>> =
                SoftDeleteAlias::deleted_predicate(Alias::<$source>::default()),
        );
    };
}

impl_table_scopes!(impl[T] for T, table = T);
impl_table_scopes!(
    impl[T, S, D, W, O, LOf, G, H, LC] for SelectStatement<FromClause<T>, S, D, W, O, LOf, G, H, LC>,
    table = T
);
impl_table_scopes!(
    impl['a, ST, T, DB, GB] for BoxedSelectStatement<'a, ST, FromClause<T>, DB, GB>,
    table = T
);

impl_alias_scopes!(impl[A] for Alias<A>, alias = A);
impl_alias_scopes!(
    impl[A, S, D, W, O, LOf, G, H, LC]
        for SelectStatement<FromClause<Alias<A>>, S, D, W, O, LOf, G, H, LC>,
    alias = A
);
impl_alias_scopes!(
    impl['a, ST, A, DB, GB] for BoxedSelectStatement<'a, ST, FromClause<Alias<A>>, DB, GB>,
    alias = A
);

/// The return types of the scopes and the types of an alias's predicates, named in
/// [`dsl`](crate::dsl).
pub(crate) mod types {
    use super::methods::{ActiveDsl, OnlyDeletedDsl, WithDeletedDsl};
    use super::SoftDeleteAlias;

    /// The type of [`live_in(alias)`](fn@crate::dsl::live_in): the predicate that holds for
    /// live rows of the alias `A` (`Alias<S>`, as `diesel::alias!` declares it).
    #[allow(non_camel_case_types)]
    pub type live_in<A> = <A as SoftDeleteAlias>::Live;

    /// The type of [`deleted_in(alias)`](fn@crate::dsl::deleted_in): the predicate that holds
    /// for soft-deleted rows of the alias `A`.
    #[allow(non_camel_case_types)]
    pub type deleted_in<A> = <A as SoftDeleteAlias>::Deleted;

    /// The return type of [`.active()`](crate::query::SoftDeleteQueryDsl::active).
    pub type Active<Q> = <Q as ActiveDsl>::Output;

    /// The return type of [`.only_deleted()`](crate::query::SoftDeleteQueryDsl::only_deleted).
    pub type OnlyDeleted<Q> = <Q as OnlyDeletedDsl>::Output;

    /// The return type of [`.with_deleted()`](crate::query::SoftDeleteQueryDsl::with_deleted).
    pub type WithDeleted<Q> = <Q as WithDeletedDsl>::Output;
}

/// The live and deleted predicates as SQL text, unqualified, for DDL and for the statements
/// built at run time; public through [`ddl`](crate::ddl).
pub(crate) mod conditions {
    use diesel::Column;

    use crate::backend::Dialect;
    use crate::table::{MarkerInfo, SoftDeleteTable, StrategyKind};

    /// The condition that holds for live rows of `T`, unqualified, as DDL needs it:
    /// `"deleted_at" IS NULL`, `NOT "deleted"`, `"active"` (quoted for `dialect`); for a model with
    /// several markers, every one of them live, in parentheses: `(NOT "deleted" AND NOT "removed")`.
    ///
    /// It is the same predicate the scopes put in queries (there qualified with the table), so
    /// a partial index declared with it serves `.active()`.
    pub fn live_condition<T: SoftDeleteTable>(dialect: Dialect) -> String {
        all_of(
            T::markers()
                .into_iter()
                .map(|marker| marker_condition(dialect, marker, true))
                .collect(),
            " AND ",
        )
    }

    /// The condition that holds for soft-deleted rows of `T`, unqualified:
    /// `"deleted_at" IS NOT NULL`, `"deleted"`, `NOT "active"`; for a model with several markers,
    /// any of them hiding the row, in parentheses: `("deleted" OR "removed")`.
    pub fn deleted_condition<T: SoftDeleteTable>(dialect: Dialect) -> String {
        all_of(
            T::markers()
                .into_iter()
                .map(|marker| marker_condition(dialect, marker, false))
                .collect(),
            " OR ",
        )
    }

    /// The condition that holds for the rows `T`'s markers other than its primary one leave live
    /// (what a restore through the primary marker needs for the row to be live), or `None` for a
    /// model with one marker.
    pub(crate) fn others_live_condition<T: SoftDeleteTable>(dialect: Dialect) -> Option<String> {
        let primary = <T::Marker as Column>::NAME;
        let others: Vec<String> = T::markers()
            .into_iter()
            .filter(|marker| marker.name != primary)
            .map(|marker| marker_condition(dialect, marker, true))
            .collect();
        (!others.is_empty()).then(|| all_of(others, " AND "))
    }

    /// The condition one marker alone makes, unqualified: live (`"deleted_at" IS NULL`, `NOT
    /// "deleted"`, `"active"`) or deleted (`"deleted_at" IS NOT NULL`, `"deleted"`, `NOT "active"`).
    pub fn marker_condition(dialect: Dialect, marker: MarkerInfo, live: bool) -> String {
        let column = dialect.quote(marker.name);
        match (marker.kind, live) {
            (StrategyKind::Timestamp, true) => format!("{column} IS NULL"),
            (StrategyKind::Timestamp, false) => format!("{column} IS NOT NULL"),
            (StrategyKind::DeletedFlag, true) | (StrategyKind::ActiveFlag, false) => {
                format!("NOT {column}")
            }
            (StrategyKind::DeletedFlag, false) | (StrategyKind::ActiveFlag, true) => column,
        }
    }

    /// `a`, or `(a <op> b ...)`.
    fn all_of(mut conditions: Vec<String>, operator: &str) -> String {
        match conditions.len() {
            1 => conditions.remove(0),
            _ => format!("({})", conditions.join(operator)),
        }
    }
}
