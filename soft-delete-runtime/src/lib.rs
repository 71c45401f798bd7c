//! Delete that keeps history, for Diesel 2.3.
//!
//! `#[derive(SoftDelete)]` on a Diesel model marks a column as the *marker* of a row's
//! visibility (or several, for several reasons to hide a row: see below). The crate then gives
//! every query on that table three scopes and the writes that go with them:
//!
//! - [`.active()`](query::SoftDeleteQueryDsl::active), [`.only_deleted()`](query::SoftDeleteQueryDsl::only_deleted)
//!   and [`.with_deleted()`](query::SoftDeleteQueryDsl::with_deleted) on a table, a filtered or
//!   ordered statement, or a boxed query;
//! - [`dsl::live`](fn@dsl::live) and [`dsl::deleted`](fn@dsl::deleted): the same predicates
//!   as plain Diesel expressions, for joins (a left join's `ON` clause) and hand-built filters;
//!   for an alias of the table (`diesel::alias!`), `person1.live()` and `person1.deleted()`
//!   ([`query::SoftDeleteAliasDsl`]), and the scopes on the alias (`person1.active()`);
//! - [`soft_delete`], [`soft_delete_with`], [`restore`] and [`hard_delete`]: statement builders
//!   that are `.execute(conn)`-ed like [`diesel::update`], and the same writes on a model value
//!   through the [`SoftDelete`] trait; [`soft_delete_and_set`] and [`restore_and_set`] write
//!   other columns (`updated_at`) in the same statement;
//! - [`unique`]: active-unique keys (`#[active_unique(fields = "exam_id, learner_id")]`): one
//!   live row per key, every earlier row kept as history, with
//!   [`start`](unique::ActiveUnique::start) and an atomic [`retry`](unique::ActiveUnique::retry),
//!   and the DDL each backend needs to enforce the key ([`ddl::active_unique`]).
//! - [`collector`]: a cascade archive of a whole object graph by declared relation rules,
//!   previewed as a plan, restored by batch.
//! - [`purge`]: retention: hard-delete what was soft-deleted before a cutoff, in short
//!   batches, children first, keeping (and reporting) rows something still references.
//!
//! # Several reasons to hide
//!
//! A model may declare several markers (`deleted` by the author, `removed` by a moderator), each
//! of any strategy, one of them `#[soft_delete(marker = deleted, primary)]`. A row is live when
//! every marker is: `.active()` and [`dsl::live`](fn@dsl::live) test them all, `.only_deleted()`
//! any. Plain writes, cascade archives and purges set and read the primary marker;
//! [`marker(column, target)`](marker()) and [`SoftDelete::marker`] write another one, and
//! restoring one marker leaves the others. [`dsl::marker_live`](fn@dsl::marker_live) and
//! [`SoftDelete::hidden_by`] tell one marker from another.
//!
//! # Rows named in errors
//!
//! Every error and report that names rows (key conflicts, protect blockers, purge reports,
//! refused reassignments) names them as a [`RowId`]: the primary key as the database writes it as
//! text, read back with the key's type, `id.parse::<i32>()`.
//!
//! # Marker strategies
//!
//! | strategy | field type | live when |
//! |---|---|---|
//! | timestamp | `Option<NaiveDateTime>` or `Option<DateTime<Utc>>` | `marker IS NULL` |
//! | deleted flag | `bool` | `NOT marker` |
//! | active flag | `bool` | `marker` |
//!
//! ```
//! use diesel::prelude::*;
//! use soft_delete_runtime::prelude::*;
//!
//! diesel::table! {
//!     users (id) {
//!         id -> Integer,
//!         name -> Text,
//!         deleted_at -> Nullable<Timestamp>,
//!     }
//! }
//!
//! #[derive(Queryable, Identifiable, SoftDelete)]
//! struct User {
//!     id: i32,
//!     name: String,
//!     deleted_at: Option<chrono::NaiveDateTime>,
//! }
//!
//! # fn main() -> Result<(), soft_delete_runtime::Error> {
//! let conn = &mut SqliteConnection::establish(":memory:").unwrap();
//! # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP)").execute(conn)?;
//! # diesel::sql_query("INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob')").execute(conn)?;
//! let ann: User = users::table.find(1).first(conn)?;
//! ann.soft_delete(conn)?;
//!
//! let live: Vec<String> = users::table.active().select(users::name).load(conn)?;
//! assert_eq!(live, ["bob"]);
//! let gone: i64 = users::table.only_deleted().count().get_result(conn)?;
//! assert_eq!(gone, 1);
//!
//! ann.restore(conn)?;
//! assert_eq!(users::table.active().count().get_result::<i64>(conn)?, 2);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
pub mod asynchronous;
pub mod backend;
pub mod collector;
pub mod ddl;
pub mod deferred;
pub mod dsl;
mod error;
pub mod exec;
pub mod guard;
pub mod prelude;
pub mod purge;
pub mod query;
mod sql;
pub mod table;
pub mod unique;
pub mod write;

pub use error::{Error, Result, RowId, RowIdError};
pub use table::{SoftDelete, SoftDeleteTable};
pub use write::{
    hard_delete, marker, restore, restore_and_set, soft_delete, soft_delete_and_set,
    soft_delete_with, Deletion, DeletionOf, Marked,
};

/// Derives [`SoftDelete`] for a model, and [`SoftDeleteTable`] and
/// [`collector::Archivable`] for its table.
///
/// See the crate's README for the attribute grammar; in short:
///
/// ```text
/// #[derive(SoftDelete)]
/// #[diesel(table_name = users)]          // read like Diesel does; default: `users` for `User`
/// #[active_unique(fields = "email")]     // optional, repeatable: unique among live rows
/// #[soft_delete(children(orders::user_id = cascade, reviews::author_id = set_null))]
/// struct User {                          // ^ the relations a cascade archive follows
///     #[soft_delete(marker = timestamp)]  // or `marker = deleted`, `marker = active`;
///     removed_on: Option<NaiveDateTime>,  // a field named `deleted_at` or `deleted` needs no attribute
///     #[soft_delete(deleted_by)]
///     removed_by: Option<i32>,           // who (any type Diesel binds)
///     #[soft_delete(reason)]
///     why: Option<String>,               // why
///     email: String,
///     #[soft_delete(batch)]
///     archive_batch: Option<i64>,        // which cascade archive hid the row (optional)
/// }
/// ```
#[cfg(feature = "derive")]
pub use soft_delete_derive::SoftDelete;

/// Items used by the code `#[derive(SoftDelete)]` generates. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use chrono;
    pub use diesel;
    pub use inventory;

    pub use crate::collector::graph::probe::{Probe, ViaArchivable, ViaPlain};

    /// The relation graph's plumbing, for the code the derive generates.
    pub mod graph {
        pub use crate::collector::graph::{
            ArchiveColumns, Edge, NoStamp, Node, NullableSqlType, PrimaryKeySqlType, References,
            Relations, StampColumn, StampOf, Stamped,
        };
    }

    use std::marker::PhantomData;

    use diesel::backend::Backend;
    use diesel::expression::{is_aggregate, AppearsOnTable, ValidGrouping};
    use diesel::query_builder::{AsChangeset, AstPass, QueryFragment, QueryId};
    use diesel::query_source::{AliasSource, AliasedField};
    use diesel::{Column, QueryResult, Table};

    use crate::table::{Strategy, StrategyKind};

    /// The strategy of the stub impl the derive emits next to its errors. Never run: the
    /// crate does not compile while the derive reports an error.
    #[derive(Debug, Clone, Copy)]
    pub enum Fallback {}

    impl<C> Strategy<C> for Fallback
    where
        C: Column + AppearsOnTable<<C as Column>::Table> + QueryId + Clone,
        C: ValidGrouping<(), IsAggregate = is_aggregate::No>,
        C::SqlType: diesel::sql_types::SingleValue,
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
        type DeletedIn<S: AliasSource<Target = C::Table>> =
            diesel::dsl::IsNotNull<AliasedField<S, C>>;

        fn live_in<S: AliasSource<Target = C::Table>>(
            column: AliasedField<S, C>,
        ) -> Self::LiveIn<S> {
            diesel::ExpressionMethods::is_null(column)
        }

        fn deleted_in<S: AliasSource<Target = C::Table>>(
            column: AliasedField<S, C>,
        ) -> Self::DeletedIn<S> {
            diesel::ExpressionMethods::is_not_null(column)
        }
    }

    /// The changeset of the stub impl; see [`Fallback`].
    #[derive(Debug, Clone, Copy)]
    pub struct FallbackChanges<T>(PhantomData<T>);

    impl<T> Default for FallbackChanges<T> {
        fn default() -> Self {
            FallbackChanges(PhantomData)
        }
    }

    impl<T: Table> AsChangeset for FallbackChanges<T> {
        type Target = T;
        type Changeset = Self;

        fn as_changeset(self) -> Self {
            self
        }
    }

    impl<T> QueryId for FallbackChanges<T> {
        type QueryId = ();
        const HAS_STATIC_QUERY_ID: bool = false;
    }

    impl<T, DB: Backend> QueryFragment<DB> for FallbackChanges<T> {
        fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, DB>) -> QueryResult<()> {
            Err(diesel::result::Error::QueryBuilderError(
                "#[derive(SoftDelete)] reported an error for this table".into(),
            ))
        }
    }
}
