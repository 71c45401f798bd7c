#![doc = include_str!("docs/crate.md")]
#![warn(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "async")]
pub mod asynchronous;
pub mod backend;
pub mod collector;
pub mod ddl;
pub mod deferred;
mod deletion;
pub mod dsl;
mod error;
pub mod exec;
pub mod guard;
#[cfg(test)]
mod layers;
mod model;
pub mod prelude;
pub mod purge;
pub mod query;
mod relations;
mod row_id;
pub mod schema;
mod sql;
pub mod table;
mod timestamp;
mod trace;
pub mod unique;
pub mod write;

pub use error::{Error, Result};
pub use model::SoftDelete;
pub use row_id::{IdOf, ParseId, RowId, RowIdError};
pub use table::SoftDeleteTable;
pub use timestamp::Timestamp;
pub use write::{
    hard_delete, marker, restore, restore_and_set, soft_delete, soft_delete_and_set,
    soft_delete_with, Deletion, DeletionOf, Marked,
};

#[doc = include_str!("docs/derive.md")]
#[cfg(feature = "derive")]
pub use soft_delete_derive::SoftDelete;

/// Items used by the code `#[derive(SoftDelete)]` generates. Not public API.
#[doc(hidden)]
pub mod __private {
    pub use diesel;
    pub use inventory;

    pub use crate::relations::probe::{Probe, ViaArchivable, ViaPlain};

    /// The bounds of the active-unique operations (`start`, `retry`, `upsert`, `find_live`,
    /// `history`, a guarded `restore`), for code generic over the model that must state them.
    pub mod unique {
        pub use crate::model::KeyGuard;
        pub use crate::unique::backend::{InsertNew, InsertOf, Locked, UpdateLive, UpdateOf};
        pub use crate::unique::merge::{KeyMerge, NoChanges};
        pub use crate::unique::ops::{KeyInsert, KeyOps, KeyTable, KeyUpdate};
        pub use crate::unique::renew::KeyRenew;
    }

    /// The relation graph's plumbing, for the code the derive generates.
    pub mod graph {
        pub use crate::relations::{
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
