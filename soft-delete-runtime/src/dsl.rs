//! Type aliases for what the scopes and writes return, and the live/deleted predicates.
//!
//! The aliases let a function that builds a query name its return type, as Diesel's own
//! `diesel::dsl` does:
//!
//! ```
//! # use diesel::prelude::*;
//! # use soft_delete_runtime::prelude::*;
//! # diesel::table! { users (id) { id -> Integer, name -> Text, deleted_at -> Nullable<Timestamp> } }
//! # #[derive(Queryable, SoftDelete)]
//! # struct User { id: i32, name: String, deleted_at: Option<chrono::NaiveDateTime> }
//! use soft_delete_runtime::dsl;
//!
//! fn live_users_named(name: &str) -> dsl::Active<dsl::Filter<users::table, dsl::Eq<users::name, &str>>> {
//!     users::table.filter(users::name.eq(name)).active()
//! }
//! ```
//!
//! This module also re-exports all of `diesel::dsl`, so it can serve as the `dsl_path` of
//! Diesel's `#[auto_type]`:
//!
//! ```
//! # use diesel::prelude::*;
//! # use soft_delete_runtime::prelude::*;
//! # diesel::table! { users (id) { id -> Integer, name -> Text, deleted_at -> Nullable<Timestamp> } }
//! # #[derive(Queryable, SoftDelete)]
//! # struct User { id: i32, name: String, deleted_at: Option<chrono::NaiveDateTime> }
//! #[diesel::dsl::auto_type(dsl_path = "soft_delete_runtime::dsl")]
//! fn deleted_names() -> _ {
//!     users::table.only_deleted().select(users::name)
//! }
//! ```
//!
//! For joins, [`live`](fn@live) and [`deleted`](fn@deleted) give the predicates as values. Put them in a left
//! join's `ON` clause, where a `WHERE` would turn the join into an inner join:
//!
//! ```
//! # use diesel::prelude::*;
//! # use soft_delete_runtime::prelude::*;
//! # diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
//! # diesel::table! { posts (id) { id -> Integer, user_id -> Integer, deleted -> Bool } }
//! # diesel::joinable!(posts -> users (user_id));
//! # diesel::allow_tables_to_appear_in_same_query!(users, posts);
//! # #[derive(Queryable, SoftDelete)] struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
//! # #[derive(Queryable, SoftDelete)] struct Post { id: i32, user_id: i32, deleted: bool }
//! use soft_delete_runtime::dsl::live;
//!
//! // every live user, with their live posts or NULL
//! let query = users::table
//!     .left_join(posts::table.on(posts::user_id.eq(users::id).and(live::<posts::table>())))
//!     .filter(live::<users::table>())
//!     .select((users::id, posts::id.nullable()));
//! let sql = diesel::debug_query::<diesel::sqlite::Sqlite, _>(&query).to_string();
//! assert!(sql.contains("ON ((`posts`.`user_id` = `users`.`id`) AND  NOT (`posts`.`deleted`))"), "{sql}");
//! ```

#[doc(no_inline)]
pub use diesel::dsl::*;

pub use crate::query::types::{deleted_in, live_in, Active, OnlyDeleted, WithDeleted};
pub use crate::table::types::{deleted, live, marker_deleted, marker_live};
pub use crate::write::types::{HardDelete, Restore, RestoreAndSet, SoftDelete, SoftDeleteAndSet};

use crate::query::SoftDeleteAlias;
use crate::table::{SoftDeleteMarker, SoftDeleteTable, Strategy};

/// The predicate that holds for live rows of table `T`, e.g. `"users"."deleted_at" IS NULL`:
/// every marker of `T` live (`NOT "posts"."deleted" AND NOT "posts"."removed"` for a model
/// with two).
///
/// The same as `T::live()` (with [`SoftDeleteTable`] in scope).
pub fn live<T: SoftDeleteTable>() -> live<T> {
    T::live()
}

/// The predicate that holds for soft-deleted rows of table `T`, e.g.
/// `"users"."deleted_at" IS NOT NULL`: any marker of `T` hiding the row.
pub fn deleted<T: SoftDeleteTable>() -> deleted<T> {
    T::deleted()
}

/// The predicate that holds for the rows marker `M` alone leaves live, whatever the table's
/// other markers say: `NOT "posts"."removed"`. For a model with one marker, the same as
/// [`live`](fn@live).
pub fn marker_live<M: SoftDeleteMarker>(marker: M) -> marker_live<M> {
    M::Strategy::live(marker)
}

/// The predicate that holds for the rows marker `M` hides, whatever the table's other
/// markers say: `"posts"."removed"` (the posts a moderator removed, deleted by their author
/// or not).
pub fn marker_deleted<M: SoftDeleteMarker>(marker: M) -> marker_deleted<M> {
    M::Strategy::deleted(marker)
}

/// The predicate that holds for live rows of an alias of a soft-deletable table, e.g.
/// `"person1"."deleted_at" IS NULL` for `diesel::alias!(person as person1)`.
///
/// The same as `alias.live()` (with [`SoftDeleteAliasDsl`](crate::query::SoftDeleteAliasDsl)
/// in scope); this form is the one `#[auto_type]` can name.
pub fn live_in<A: SoftDeleteAlias>(alias: A) -> live_in<A> {
    alias.live_predicate()
}

/// The predicate that holds for soft-deleted rows of an alias of a soft-deletable table, e.g.
/// `"person1"."deleted_at" IS NOT NULL`.
pub fn deleted_in<A: SoftDeleteAlias>(alias: A) -> deleted_in<A> {
    alias.deleted_predicate()
}
