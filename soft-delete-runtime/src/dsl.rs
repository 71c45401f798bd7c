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

use crate::query::methods::{ActiveDsl, OnlyDeletedDsl, WithDeletedDsl};
use crate::query::SoftDeleteAlias;
use crate::table::{MarkerList, SoftDeleteMarker, SoftDeleteTable, Strategy};
use crate::write::{AlsoSet, SoftDeleteTarget};

/// The type of [`live::<T>()`](live()): the predicate that holds for live rows of `T`.
#[allow(non_camel_case_types)] // named after the function, as `#[auto_type]` expects
pub type live<T> = <<T as SoftDeleteTable>::Markers as MarkerList<T>>::Live;

/// The type of [`deleted::<T>()`](deleted()): the predicate that holds for soft-deleted rows of `T`.
#[allow(non_camel_case_types)]
pub type deleted<T> = <<T as SoftDeleteTable>::Markers as MarkerList<T>>::Deleted;

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

/// The type of [`marker_live(column)`](marker_live()).
#[allow(non_camel_case_types)]
pub type marker_live<M> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::Live;

/// The type of [`marker_deleted(column)`](marker_deleted()).
#[allow(non_camel_case_types)]
pub type marker_deleted<M> = <<M as SoftDeleteMarker>::Strategy as Strategy<M>>::Deleted;

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

/// The type of [`live_in(alias)`](live_in()): the predicate that holds for live rows of the
/// alias `A` (`Alias<S>`, as `diesel::alias!` declares it).
#[allow(non_camel_case_types)]
pub type live_in<A> = <A as SoftDeleteAlias>::Live;

/// The type of [`deleted_in(alias)`](deleted_in()): the predicate that holds for soft-deleted
/// rows of the alias `A`.
#[allow(non_camel_case_types)]
pub type deleted_in<A> = <A as SoftDeleteAlias>::Deleted;

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

/// The return type of [`.active()`](crate::query::SoftDeleteQueryDsl::active).
pub type Active<Q> = <Q as ActiveDsl>::Output;

/// The return type of [`.only_deleted()`](crate::query::SoftDeleteQueryDsl::only_deleted).
pub type OnlyDeleted<Q> = <Q as OnlyDeletedDsl>::Output;

/// The return type of [`.with_deleted()`](crate::query::SoftDeleteQueryDsl::with_deleted).
pub type WithDeleted<Q> = <Q as WithDeletedDsl>::Output;

/// The statement [`soft_delete(target)`](crate::soft_delete) builds:
/// `UPDATE ... SET <marker> = <deleted> ... WHERE <target's filter> AND <live>`.
pub type SoftDelete<Target> = <Target as SoftDeleteTarget>::SoftDelete;

/// The statement [`restore(target)`](crate::restore) builds.
pub type Restore<Target> = <Target as SoftDeleteTarget>::Restore;

/// The statement [`soft_delete_and_set(target, deletion, changes)`](crate::soft_delete_and_set)
/// builds.
pub type SoftDeleteAndSet<Target, Changes> = <Changes as AlsoSet<Target>>::SoftDelete;

/// The statement [`restore_and_set(target, changes)`](crate::restore_and_set) builds.
pub type RestoreAndSet<Target, Changes> = <Changes as AlsoSet<Target>>::Restore;

/// The statement [`hard_delete(target)`](crate::hard_delete) builds.
pub type HardDelete<Target> = delete<Target>;
