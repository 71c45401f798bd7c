//! The scopes: `.active()`, `.only_deleted()` and `.with_deleted()`.
//!
//! Each scope is one `.filter(...)` with the table's live or deleted predicate, so the SQL
//! is exactly what the hand-written filter produces. They work on
//!
//! - a table: `users::table.active()`;
//! - a statement that already has `filter`, `order`, `select`, `limit`, ...:
//!   `users::table.filter(users::name.eq("ann")).order(users::id).active()`;
//! - a boxed query, boxed before or after the scope:
//!   `users::table.into_boxed().active()` or `users::table.active().into_boxed()`.
//!
//! A join has more than one table, so it has no single marker to scope by; filter a join
//! with [`dsl::live`](fn@crate::dsl::live) and [`dsl::deleted`](fn@crate::dsl::deleted) instead.
//!
//! Diesel has no default scope, so a query without a scope sees every row.
//! `.with_deleted()` returns its input unchanged: it says, where the reader can see it,
//! that deleted rows are meant to be included.
//!
//! Finding the table from a statement needs Diesel's `SelectStatement`, `BoxedSelectStatement`
//! and `FromClause`, which Diesel 2.3 exports only under `diesel::internal` (the paths its
//! own `table!` expansion uses for `BoxedQuery`). That is why this crate pins `diesel = "~2.3"`.
//! The alternative, Diesel's `i-implement-a-third-party-backend-and-opt-into-breaking-changes`
//! feature, is documented as "do not use for any other use case" and would be switched on for
//! every crate in the user's build.

use diesel::internal::table_macro::{BoxedSelectStatement, FromClause, SelectStatement};
use diesel::query_dsl::methods::FilterDsl;

use crate::dsl;
use crate::table::SoftDeleteTable;

/// One trait per scope, with the type each returns, as in `diesel::query_dsl::methods`.
pub mod methods {
    /// The `.active()` scope: keep live rows only.
    #[diagnostic::on_unimplemented(
        message = "`.active()` needs a query on one soft-deletable table, not `{Self}`",
        note = "a scope applies to a table, a statement selecting from one table, or a boxed query of one; \
                for joins put `soft_delete_runtime::dsl::live::<T>()` in `.filter()` or the `ON` clause"
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
        note = "a scope applies to a table, a statement selecting from one table, or a boxed query of one; \
                for joins put `soft_delete_runtime::dsl::deleted::<T>()` in `.filter()` or the `ON` clause"
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
        /// The query, unchanged.
        type Output;
        /// See [`SoftDeleteQueryDsl::with_deleted`](super::SoftDeleteQueryDsl::with_deleted).
        fn with_deleted(self) -> Self::Output;
    }
}

use methods::{ActiveDsl, OnlyDeletedDsl, WithDeletedDsl};

/// The scopes, as methods on every query. Import it with the [`prelude`](crate::prelude).
pub trait SoftDeleteQueryDsl: Sized {
    /// Keeps live rows only: adds `AND <live>` (e.g. `deleted_at IS NULL`) to the `WHERE` clause.
    fn active(self) -> dsl::Active<Self>
    where
        Self: ActiveDsl,
    {
        ActiveDsl::active(self)
    }

    /// Keeps soft-deleted rows only: adds `AND <deleted>` (e.g. `deleted_at IS NOT NULL`).
    fn only_deleted(self) -> dsl::OnlyDeleted<Self>
    where
        Self: OnlyDeletedDsl,
    {
        OnlyDeletedDsl::only_deleted(self)
    }

    /// Keeps every row, live or deleted; the query is returned unchanged. Use it to say that
    /// a query on a soft-deletable table means to see deleted rows.
    fn with_deleted(self) -> dsl::WithDeleted<Self>
    where
        Self: WithDeletedDsl,
    {
        WithDeletedDsl::with_deleted(self)
    }
}

impl<Q> SoftDeleteQueryDsl for Q {}

/// Implements the three scope traits for one query shape whose table is `$table`.
macro_rules! impl_scopes {
    (impl[$($generics:tt)*] for $query:ty, table = $table:ty) => {
        impl<$($generics)*> ActiveDsl for $query
        where
            $table: SoftDeleteTable,
            Self: FilterDsl<dsl::live<$table>>,
        {
            type Output = dsl::Filter<Self, dsl::live<$table>>;

            fn active(self) -> Self::Output {
                FilterDsl::filter(self, <$table as SoftDeleteTable>::live())
            }
        }

        impl<$($generics)*> OnlyDeletedDsl for $query
        where
            $table: SoftDeleteTable,
            Self: FilterDsl<dsl::deleted<$table>>,
        {
            type Output = dsl::Filter<Self, dsl::deleted<$table>>;

            fn only_deleted(self) -> Self::Output {
                FilterDsl::filter(self, <$table as SoftDeleteTable>::deleted())
            }
        }

        impl<$($generics)*> WithDeletedDsl for $query
        where
            $table: SoftDeleteTable,
        {
            type Output = Self;

            fn with_deleted(self) -> Self::Output {
                self
            }
        }
    };
}

impl_scopes!(impl[T] for T, table = T);
impl_scopes!(
    impl[T, S, D, W, O, LOf, G, H, LC] for SelectStatement<FromClause<T>, S, D, W, O, LOf, G, H, LC>,
    table = T
);
impl_scopes!(
    impl['a, ST, T, DB, GB] for BoxedSelectStatement<'a, ST, FromClause<T>, DB, GB>,
    table = T
);
