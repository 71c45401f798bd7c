//! Key fields of type `Option<T>`. The filter of such a part is `col = $1` for `Some` and
//! `col IS NULL` for `None` ([`NullSafeEq`]), both of which an index on the column serves, so
//! the key's statements select the rows with exactly those values. What a `None` means is the
//! key's choice, as PostgreSQL's `NULLS [NOT] DISTINCT`:
//!
//! - `nulls = distinct` (the default, what every unique index does): a `NULL` equals nothing,
//!   so rows with one are not unique: the database lets them repeat, a restore never conflicts
//!   on them, and `start`, `retry`, `upsert`, `find_live` and `history` refuse such a value
//!   with [`Error::NullKeyPart`](crate::Error::NullKeyPart), since it has no one live row;
//! - `nulls = not_distinct`: `None` is a value of the key like any other (`(7, None)` has at
//!   most one live row), and the DDL makes the database agree.
//!
//! The derive asks every key field not spelled `Option<...>` for a `NOT NULL` column
//! ([`NotNullKeyColumn`]), so a nullable column behind an alias cannot slip into the key as
//! `col = NULL`, which matches nothing.

use diesel::backend::Backend;
use diesel::expression::{AppearsOnTable, Expression, SelectableExpression, ValidGrouping};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::sql_types::is_nullable::NotNull;
use diesel::{ExpressionMethods, QueryResult};

use crate::dsl;

/// One `Option` part of a key's filter: `col IS NULL` when the value is `None`, else
/// `col = $1`. `V` is the field's type, `Option<T>`.
///
/// ```
/// use soft_delete_runtime::unique::NullSafeEq;
/// diesel::table! { drafts (id) { id -> Integer, folder_id -> Nullable<Integer> } }
///
/// let top = NullSafeEq::new(drafts::folder_id, None::<i32>);
/// let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&top).to_string();
/// assert_eq!(sql, "(`drafts`.`folder_id` IS NULL) -- binds: []");
/// let five = NullSafeEq::new(drafts::folder_id, Some(5));
/// let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&five).to_string();
/// assert_eq!(sql, "(`drafts`.`folder_id` = ?) -- binds: [Some(5)]");
/// ```
pub enum NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
{
    /// `col IS NULL`: the value is `None`.
    IsNull(dsl::IsNull<C>),
    /// `col = $1`: the value is `Some`.
    Eq(dsl::Eq<C, V>),
}

impl<C, V> Clone for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::IsNull<C>: Clone,
    dsl::Eq<C, V>: Clone,
{
    fn clone(&self) -> Self {
        match self {
            NullSafeEq::IsNull(is_null) => NullSafeEq::IsNull(is_null.clone()),
            NullSafeEq::Eq(eq) => NullSafeEq::Eq(eq.clone()),
        }
    }
}

impl<C, V> std::fmt::Debug for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::IsNull<C>: std::fmt::Debug,
    dsl::Eq<C, V>: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NullSafeEq::IsNull(is_null) => f.debug_tuple("IsNull").field(is_null).finish(),
            NullSafeEq::Eq(eq) => f.debug_tuple("Eq").field(eq).finish(),
        }
    }
}

impl<C, T> NullSafeEq<C, Option<T>>
where
    C: ExpressionMethods,
    Option<T>: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
{
    /// The filter of column `column` for the key value `value`.
    pub fn new(column: C, value: Option<T>) -> Self {
        match value {
            None => NullSafeEq::IsNull(column.is_null()),
            some => NullSafeEq::Eq(column.eq(some)),
        }
    }
}

impl<C, V> Expression for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::Eq<C, V>: Expression,
{
    type SqlType = <dsl::Eq<C, V> as Expression>::SqlType;
}

impl<C, V, GB> ValidGrouping<GB> for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::Eq<C, V>: ValidGrouping<GB>,
{
    type IsAggregate = <dsl::Eq<C, V> as ValidGrouping<GB>>::IsAggregate;
}

impl<C, V, QS> AppearsOnTable<QS> for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::Eq<C, V>: AppearsOnTable<QS>,
    dsl::IsNull<C>: AppearsOnTable<QS>,
{
}

impl<C, V, QS> SelectableExpression<QS> for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::Eq<C, V>: SelectableExpression<QS>,
    dsl::IsNull<C>: SelectableExpression<QS>,
{
}

impl<C, V, DB> QueryFragment<DB> for NullSafeEq<C, V>
where
    DB: Backend,
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
    dsl::Eq<C, V>: QueryFragment<DB>,
    dsl::IsNull<C>: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        match self {
            NullSafeEq::IsNull(is_null) => is_null.walk_ast(out),
            NullSafeEq::Eq(eq) => eq.walk_ast(out),
        }
    }
}

/// The SQL differs between `None` and `Some`, so the statement is cached by its text.
impl<C, V> QueryId for NullSafeEq<C, V>
where
    C: ExpressionMethods,
    V: diesel::expression::AsExpression<C::SqlType>,
    C::SqlType: diesel::sql_types::SqlType,
{
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

/// Implemented for Diesel's [`NotNull`] only: the derive asks it of
/// `<<column as Expression>::SqlType as SqlType>::IsNull` for every key field whose type is
/// not spelled `Option<...>`, so a nullable column in a key needs an `Option` field.
#[diagnostic::on_unimplemented(
    message = "a nullable column is part of an active-unique key, but its field's type is not written `Option<...>`",
    label = "the column of this key field is nullable",
    note = "write the field's type as `Option<T>` (not through a type alias), and say with `nulls = distinct` or `nulls = not_distinct` whether its `None`s may repeat among live rows"
)]
pub trait NotNullKeyColumn {}

impl NotNullKeyColumn for NotNull {}
