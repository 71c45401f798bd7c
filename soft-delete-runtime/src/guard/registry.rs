//! The registry of soft-deletable tables, filled by `#[derive(SoftDelete)]` at link time: each
//! table's name and every marker of it (column and strategy).
//!
//! Each derive submits one [`Registration`] through [`inventory`]: a static the linker collects
//! into a list that is complete before `main` runs, so there is no set-up call to forget and
//! no table a crate could leave out by not calling it. `inventory` was chosen over `linkme`
//! because its `submit!` is an ordinary macro that works through this crate's re-export (the
//! derive must not make users add a dependency), while `linkme`'s attribute needs its own
//! crate path spelled out; a generated function handed to the guard would be one more call a
//! user could forget, which is what this module exists to prevent.

use std::sync::OnceLock;

use diesel::query_builder::QueryFragment;
use diesel::{Column, QuerySource};

use crate::backend::{Dialect, RenderBackend, TableName};
use crate::ddl;
use crate::table::{MarkerInfo, SoftDeleteTable, StrategyKind};

/// A soft-deletable table as the guard sees it: its SQL name and its markers, each a column
/// and the way it tells live rows from deleted ones.
///
/// A row is live when every marker leaves it live, so a read states its visibility with the
/// live predicate of every marker (the conjunction `.active()` renders), or with a deleted
/// predicate of any of them (`.only_deleted()` renders their disjunction).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableInfo {
    /// The table's SQL name, with its schema when `table!` names one.
    pub table: TableName,
    /// Every marker of the table (one for most models), the primary one first.
    pub markers: Vec<MarkerInfo>,
}

impl TableInfo {
    /// A table with one marker.
    pub fn new(table: TableName, marker: &'static str, strategy: StrategyKind) -> TableInfo {
        TableInfo {
            table,
            markers: vec![MarkerInfo {
                name: marker,
                kind: strategy,
            }],
        }
    }

    /// The description of table `T`, read from its `SoftDeleteTable` impl and `table!`.
    ///
    /// ```
    /// # use soft_delete_runtime::prelude::*;
    /// use soft_delete_runtime::guard::TableInfo;
    /// use soft_delete_runtime::table::StrategyKind;
    /// # diesel::table! { posts (id) { id -> Integer, removed -> Bool } }
    /// # #[derive(diesel::Queryable, SoftDelete)]
    /// # struct Post { id: i32, #[soft_delete(marker = deleted)] removed: bool }
    /// let info = TableInfo::of::<posts::table>();
    /// assert_eq!((info.table.name.as_str(), info.markers[0].name), ("posts", "removed"));
    /// assert_eq!(info.markers[0].kind, StrategyKind::DeletedFlag);
    /// ```
    pub fn of<T>() -> TableInfo
    where
        T: SoftDeleteTable,
        <T as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    {
        let primary = <T::Marker as Column>::NAME;
        let mut markers = T::markers();
        // The primary marker first, the others in declaration order.
        markers.sort_by_key(|marker| marker.name != primary);
        TableInfo {
            table: TableName::of::<T>(),
            markers,
        }
    }
}

impl TableInfo {
    /// The `.with_deleted()` trace of this table, unqualified: `(<every marker live> OR TRUE)`,
    /// for a statement the library sends that reads every row of it on purpose (a purge's
    /// check for rows that still reference what it deletes).
    pub(crate) fn every_row(&self, dialect: Dialect) -> String {
        let live: Vec<String> = self
            .markers
            .iter()
            .map(|marker| ddl::marker_condition(dialect, *marker, true))
            .collect();
        let live = match live.len() {
            1 => live.join(""),
            _ => format!("({})", live.join(" AND ")),
        };
        crate::query::with_deleted_sql(&live)
    }
}

/// One derive's entry in the registry. Built by the code `#[derive(SoftDelete)]` generates;
/// read the registry with [`registered`].
#[derive(Debug)]
pub struct Registration {
    describe: fn() -> TableInfo,
}

impl Registration {
    /// The entry of table `T`. Not public API: the derive calls it.
    #[doc(hidden)]
    pub const fn of<T>() -> Registration
    where
        T: SoftDeleteTable,
        <T as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    {
        Registration {
            describe: TableInfo::of::<T>,
        }
    }
}

inventory::collect!(Registration);

/// Every table with a `#[derive(SoftDelete)]` model linked into this program, sorted, each once.
///
/// Read once, on first use; the list cannot change while the program runs.
pub fn registered() -> &'static [TableInfo] {
    static TABLES: OnceLock<Vec<TableInfo>> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut tables: Vec<TableInfo> = inventory::iter::<Registration>
            .into_iter()
            .map(|entry| (entry.describe)())
            .collect();
        tables.sort();
        tables.dedup();
        tables
    })
}
