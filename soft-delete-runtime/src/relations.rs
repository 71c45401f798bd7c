//! The relation graph: which tables hang off which, by which foreign-key column, and what
//! archiving a parent does to them. The [`collector`](crate::collector) archives and restores
//! along it, [`purge`](crate::purge) deletes children before parents by it, and
//! [`schema`](crate::schema) and [`ddl`](crate::ddl) check and create what it needs; its public
//! items are re-exported from `collector`.
//!
//! Edges are declared on the parent's model with `#[soft_delete(children(...))]`, and
//! `#[derive(SoftDelete)]` turns them into an impl of [`Archivable`] on the parent's table.
//! Every name in a declaration is a Diesel path (`orders::user_id`), so a misspelled table
//! or column does not compile, and the rule's requirements are checked by the compiler
//! (a `cascade` child must be soft-deletable, a `set_null` column nullable, the key types
//! of both ends the same).
//!
//! At run time the graph is walked from a root through [`Node`]s: plain values holding the
//! SQL names the generated code read from Diesel's types (the table, its key, its marker
//! columns, and its model's active-unique keys, which a batch restore checks), and function
//! pointers to the children's nodes. A graph with cycles (a table referencing itself, two tables
//! referencing each other) is a finite set of nodes; `Graph::build` visits each once.

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::marker::PhantomData;

use diesel::expression::Expression;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::{BigInt, Nullable};
use diesel::{Column, Table};

use crate::backend::{Dialect, RenderBackend, TableName};
use crate::query::conditions;
pub use crate::sql::{KeyKind, StampKind};
use crate::table::{MarkerInfo, SoftDeleteMarker, SoftDeleteTable, Strategy, StrategyKind};
use crate::unique::KeyInfo;
use crate::Error;

/// What archiving a parent row does to the rows that reference it through one edge.
///
/// The names follow Django's `on_delete` options, applied to an archive instead of a delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rule {
    /// `cascade`: archive the child rows too (and, through their own edges, theirs).
    Cascade,
    /// `cascade(hard_delete)`: delete the child rows for good. They cannot be restored;
    /// for a child table that is not soft-deletable this is the only cascading rule.
    HardDelete,
    /// `protect`: refuse the whole archive while live child rows exist.
    Protect,
    /// `set_null`: cut the link (`fk = NULL`); a restore of the batch puts it back.
    SetNull,
    /// `set_default`: point the link at the column's default; a restore puts it back.
    SetDefault,
    /// `do_nothing`: leave the child rows as they are.
    DoNothing,
}

impl Rule {
    /// The rule as it is written in `#[soft_delete(children(...))]`.
    pub fn name(self) -> &'static str {
        match self {
            Rule::Cascade => "cascade",
            Rule::HardDelete => "cascade(hard_delete)",
            Rule::Protect => "protect",
            Rule::SetNull => "set_null",
            Rule::SetDefault => "set_default",
            Rule::DoNothing => "do_nothing",
        }
    }
}

impl Rule {
    /// The rule [`name`](Rule::name) gives, read back.
    pub fn from_name(name: &str) -> Option<Rule> {
        [
            Rule::Cascade,
            Rule::HardDelete,
            Rule::Protect,
            Rule::SetNull,
            Rule::SetDefault,
            Rule::DoNothing,
        ]
        .into_iter()
        .find(|rule| rule.name() == name)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A Diesel SQL type that can be a key of a table in the relation graph.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a key type the relation graph supports",
    label = "the primary key and the foreign keys of tables in a relation graph must have a key type",
    note = "supported: SmallInt, Integer, BigInt, Unsigned<_> (MySQL), Text, Uuid (PostgreSQL), and Nullable of these"
)]
pub trait KeySqlType {
    /// The kind of key.
    const KIND: KeyKind;
}

macro_rules! key_sql_type {
    ($($(#[$cfg:meta])* $ty:ty => $kind:ident,)*) => {$(
        $(#[$cfg])*
        impl KeySqlType for $ty {
            const KIND: KeyKind = KeyKind::$kind;
        }
    )*};
}

key_sql_type! {
    diesel::sql_types::SmallInt => SmallInt,
    diesel::sql_types::Integer => Integer,
    diesel::sql_types::BigInt => BigInt,
    diesel::sql_types::Text => Text,
    #[cfg(feature = "postgres")]
    diesel::sql_types::Uuid => Uuid,
    #[cfg(feature = "mysql")]
    diesel::sql_types::Unsigned<diesel::sql_types::SmallInt> => Unsigned,
    #[cfg(feature = "mysql")]
    diesel::sql_types::Unsigned<diesel::sql_types::Integer> => Unsigned,
    #[cfg(feature = "mysql")]
    diesel::sql_types::Unsigned<diesel::sql_types::BigInt> => Unsigned,
}

impl<ST: KeySqlType> KeySqlType for Nullable<ST> {
    const KIND: KeyKind = ST::KIND;
}

/// A Diesel SQL type that can hold the timestamp identifying a batch; a deletion time column
/// is `Nullable` of one.
///
/// Implemented for Diesel's `Timestamp`, `Timestamptz` (PostgreSQL), `TimestamptzSqlite` and
/// `Datetime` (MySQL). An application that declares its own SQL type for instants (one that
/// maps `DateTime<Utc>` on every backend, say) implements it with [`StampKind::Utc`]:
///
/// ```text
/// impl soft_delete_runtime::collector::StampSqlType for UtcTime {
///     const KIND: StampKind = StampKind::Utc;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold the timestamp of an archive batch",
    note = "a deletion time column must be `Nullable<Timestamp>`, `Nullable<Timestamptz>` or `Nullable<Datetime>`, \
            or `Nullable` of a SQL type of yours that implements `StampSqlType`"
)]
pub trait StampSqlType {
    /// How a stamp is bound for this type.
    const KIND: StampKind;
}

impl<ST: StampSqlType> StampSqlType for Nullable<ST> {
    const KIND: StampKind = ST::KIND;
}

impl StampSqlType for diesel::sql_types::Timestamp {
    const KIND: StampKind = StampKind::Naive;
}

#[cfg(feature = "postgres")]
impl StampSqlType for diesel::sql_types::Timestamptz {
    const KIND: StampKind = StampKind::Utc;
}

#[cfg(feature = "sqlite")]
impl StampSqlType for diesel::sql_types::TimestamptzSqlite {
    const KIND: StampKind = StampKind::Utc;
}

#[cfg(feature = "mysql")]
impl StampSqlType for diesel::sql_types::Datetime {
    const KIND: StampKind = StampKind::Naive;
}

/// The SQL type a `#[soft_delete(batch)]` column must have: `Nullable<BigInt>`.
#[diagnostic::on_unimplemented(
    message = "a batch column must be `Nullable<BigInt>`, not `{Self}`",
    label = "live rows have no batch, archived rows the id of the archive that hid them",
    note = "declare it as `archive_batch -> Nullable<BigInt>` in `table!` and `Option<i64>` on the model"
)]
pub trait BatchSqlType {}
impl BatchSqlType for Nullable<BigInt> {}

/// The column holding a batch's timestamp, and how to bind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StampColumn {
    /// The column's SQL name.
    pub name: &'static str,
    /// How a stamp is bound for it.
    pub kind: StampKind,
}

/// [`Archivable::Stamp`] of a table that records when a row was archived in column `C`.
#[derive(Debug, Clone, Copy)]
pub struct Stamped<C>(PhantomData<C>);

/// [`Archivable::Stamp`] of a table that does not record when a row was archived (a flag
/// marker without a `deleted_at` column).
#[derive(Debug, Clone, Copy)]
pub struct NoStamp;

/// What [`Archivable::Stamp`] may be: [`Stamped`] with a timestamp column, or [`NoStamp`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot hold the timestamp of an archive batch",
    note = "a deletion time column must be `Nullable<Timestamp>`, `Nullable<Timestamptz>` or `Nullable<Datetime>`"
)]
pub trait StampOf {
    /// The column and how to bind it, if there is one.
    fn column() -> Option<StampColumn>;
}

impl StampOf for NoStamp {
    fn column() -> Option<StampColumn> {
        None
    }
}

impl<C> StampOf for Stamped<C>
where
    C: Column,
    C::SqlType: StampSqlType,
{
    fn column() -> Option<StampColumn> {
        Some(StampColumn {
            name: C::NAME,
            kind: <C::SqlType as StampSqlType>::KIND,
        })
    }
}

/// The columns an archive writes besides the marker, which are also how the rows of one
/// batch are told from rows archived by another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArchiveColumns {
    /// The deletion time: the timestamp marker itself, or a flag model's `deleted_at`.
    pub stamp: Option<StampColumn>,
    /// A `#[soft_delete(batch)]` column (`Nullable<BigInt>`), holding the batch's id.
    pub batch: Option<&'static str>,
}

impl ArchiveColumns {
    /// The name of batch column `C`, checked to be `Nullable<BigInt>`.
    pub fn batch_column<C>() -> &'static str
    where
        C: Column,
        C::SqlType: BatchSqlType,
    {
        C::NAME
    }

    /// Whether a batch's rows can be found again (a stamp or a batch column).
    pub fn identifies_batch(&self) -> bool {
        self.stamp.is_some() || self.batch.is_some()
    }
}

/// A Diesel table that can be a node of the relation graph: one primary-key column of a
/// [`KeySqlType`]. Implemented for every such table.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a table of a relation graph",
    note = "a table in a relation graph needs a single-column primary key of a key type (integer, text or uuid)"
)]
pub trait GraphTable: Table + Default {
    /// The table's SQL name.
    fn sql_name() -> TableName;
    /// The primary key's column name and kind.
    fn key() -> (&'static str, KeyKind);
}

impl<T> GraphTable for T
where
    T: Table + Default,
    T::PrimaryKey: Column,
    <T::PrimaryKey as Expression>::SqlType: KeySqlType,
    T::FromClause: QueryFragment<RenderBackend>,
{
    fn sql_name() -> TableName {
        TableName::of::<T>()
    }

    fn key() -> (&'static str, KeyKind) {
        (
            <T::PrimaryKey as Column>::NAME,
            <<T::PrimaryKey as Expression>::SqlType as KeySqlType>::KIND,
        )
    }
}

/// A soft-deletable table whose rows can be archived by a [`Collector`](crate::collector::Collector),
/// with the edges to the tables that reference it.
///
/// Implemented by `#[derive(SoftDelete)]` for the model's table; the edges come from
/// `#[soft_delete(children(...))]`. A table in a graph must also be a [`GraphTable`] (one
/// primary-key column of a key type); that is asked where the graph is used, so a model with
/// a composite key still derives `SoftDelete`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not soft-deletable, so it cannot be archived",
    label = "no `#[derive(SoftDelete)]` model for this table",
    note = "derive `SoftDelete` on the table's model; a `cascade` edge into a table that stays \
            plain must ask to delete its rows for good: `cascade(hard_delete)`"
)]
pub trait Archivable: SoftDeleteTable {
    /// The column that records when a row was archived: [`Stamped`] with the timestamp
    /// marker, or a flag model's `deleted_at`; [`NoStamp`] if there is none.
    type Stamp;

    /// The model's active-unique keys (`#[active_unique(...)]`), which a
    /// [batch restore](crate::collector::Batch::restore) checks before it brings rows back; empty for a
    /// model without keys. The same keys the model's
    /// [`ActiveUniqueKeys`](crate::SoftDelete::ActiveUniqueKeys) lists.
    const ACTIVE_UNIQUE_KEYS: &'static [KeyInfo];

    /// The `#[soft_delete(batch)]` column, if the model declares one.
    fn batch_column() -> Option<&'static str>;

    /// Declares the edges from this table to the tables that reference it.
    fn relations(relations: &mut Relations<Self>);
}

/// A table a [`Collector`](crate::collector::Collector) can archive: an [`Archivable`] table that is a
/// [`GraphTable`] and whose [`Archivable::Stamp`] holds a timestamp. Implemented for every
/// such table.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be archived by a collector",
    label = "not an archivable table",
    note = "a collector's table needs a `#[derive(SoftDelete)]` model, a single-column primary key, \
            and (if it records when rows were deleted) a column of a timestamp type"
)]
pub trait ArchiveTable: Archivable + GraphTable {
    /// The table's node in the relation graph.
    fn node() -> Node;
}

impl<T> ArchiveTable for T
where
    T: Archivable + GraphTable,
    T::Stamp: StampOf,
{
    fn node() -> Node {
        Node::archivable::<T>()
    }
}

/// A foreign key's SQL type that can reference a primary key of SQL type `Key`: the same
/// type, or `Nullable` of it.
#[diagnostic::on_unimplemented(
    message = "a foreign key of SQL type `{Self}` cannot reference a primary key of type `{Key}`",
    label = "the column's type differs from the parent's primary key",
    note = "an edge's column must have the parent's primary-key type, or `Nullable` of it"
)]
pub trait References<Key> {}
impl<ST> References<ST> for ST {}
impl<ST> References<ST> for Nullable<ST> {}

/// The SQL type of a column a `set_null` edge may cut: a nullable one.
#[diagnostic::on_unimplemented(
    message = "`set_null` needs a nullable column, but this one is `{Self}`",
    label = "the column cannot hold NULL",
    note = "declare the column `Nullable<...>` in `table!` (and NULL in the DDL), or use another rule"
)]
pub trait NullableSqlType {}
impl<ST> NullableSqlType for Nullable<ST> {}

/// The SQL type of table `T`'s primary key.
pub type PrimaryKeySqlType<T> = <<T as Table>::PrimaryKey as Expression>::SqlType;

/// The edges of one parent table, filled by [`Archivable::relations`].
///
/// Each method checks, at compile time, what its rule needs of the child table and column.
/// The code `#[derive(SoftDelete)]` generates calls these; the `child` arguments come from
/// `probe`, which tells soft-deletable tables from plain ones.
pub struct Relations<P> {
    edges: Vec<Edge>,
    _parent: PhantomData<P>,
}

impl<P: GraphTable> Relations<P> {
    fn new() -> Self {
        Relations {
            edges: Vec::new(),
            _parent: PhantomData,
        }
    }

    fn push<Fk>(&mut self, child: fn() -> Node, rule: Rule)
    where
        Fk: Column,
        Fk::SqlType: KeySqlType,
    {
        self.edges.push(Edge {
            child,
            column: Fk::NAME,
            column_kind: <Fk::SqlType as KeySqlType>::KIND,
            rule,
        });
    }

    /// `cascade`: archive the rows of `C` whose `Fk` references an archived row.
    pub fn cascade<C, Fk>(&mut self)
    where
        C: Archivable + GraphTable,
        C::Stamp: StampOf,
        Fk: Column<Table = C>,
        Fk::SqlType: KeySqlType + References<PrimaryKeySqlType<P>>,
    {
        self.push::<Fk>(Node::archivable::<C>, Rule::Cascade);
    }

    /// `cascade(hard_delete)`: delete them for good.
    pub fn cascade_hard_delete<C, Fk>(&mut self, child: fn() -> Node)
    where
        C: GraphTable,
        Fk: Column<Table = C>,
        Fk::SqlType: KeySqlType + References<PrimaryKeySqlType<P>>,
    {
        self.push::<Fk>(child, Rule::HardDelete);
    }

    /// `protect`: refuse the archive while live rows of `C` reference an archived row.
    pub fn protect<C, Fk>(&mut self, child: fn() -> Node)
    where
        C: GraphTable,
        Fk: Column<Table = C>,
        Fk::SqlType: KeySqlType + References<PrimaryKeySqlType<P>>,
    {
        self.push::<Fk>(child, Rule::Protect);
    }

    /// `set_null`: set `Fk` to NULL where it references an archived row.
    pub fn set_null<C, Fk>(&mut self, child: fn() -> Node)
    where
        C: GraphTable,
        Fk: Column<Table = C>,
        Fk::SqlType: KeySqlType + NullableSqlType + References<PrimaryKeySqlType<P>>,
    {
        self.push::<Fk>(child, Rule::SetNull);
    }

    /// `set_default`: set `Fk` to its column default where it references an archived row.
    pub fn set_default<C, Fk>(&mut self, child: fn() -> Node)
    where
        C: GraphTable,
        Fk: Column<Table = C>,
        Fk::SqlType: KeySqlType + References<PrimaryKeySqlType<P>>,
    {
        self.push::<Fk>(child, Rule::SetDefault);
    }

    /// `do_nothing`: leave the rows of `C` alone (the edge is still part of the graph, so
    /// the schema check knows about it).
    pub fn do_nothing<C, Fk>(&mut self, child: fn() -> Node)
    where
        C: GraphTable,
        Fk: Column<Table = C>,
        Fk::SqlType: KeySqlType + References<PrimaryKeySqlType<P>>,
    {
        self.push::<Fk>(child, Rule::DoNothing);
    }
}

/// One declared edge: the child table, its foreign-key column and the rule.
#[derive(Clone, Copy)]
pub struct Edge {
    pub(crate) child: fn() -> Node,
    pub(crate) column: &'static str,
    pub(crate) column_kind: KeyKind,
    pub(crate) rule: Rule,
}

impl std::fmt::Debug for Edge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Edge")
            .field("child", &(self.child)().name)
            .field("column", &self.column)
            .field("rule", &self.rule)
            .finish()
    }
}

/// What the collector knows about a soft-deletable table.
///
/// An archive writes one marker of each table, its primary one ([`SoftDeleteTable::Marker`]):
/// `marker`, `strategy`, `columns`, `live` and `deleted` describe that marker, and decide which
/// rows an archive marks, follows and brings back. `visible`, `hidden` and `others_visible`
/// describe the row's visibility through all its markers, for the rows an archive only looks at
/// (the live rows that protect a parent or hold an active-unique key). For a model with one
/// marker, `live` and `visible` are the same condition.
#[derive(Clone, Copy)]
pub(crate) struct SoftInfo {
    pub(crate) marker: &'static str,
    pub(crate) strategy: StrategyKind,
    pub(crate) columns: ArchiveColumns,
    /// The archive marker leaves the row live (other markers may still hide it).
    pub(crate) live: fn(Dialect) -> String,
    /// The archive marker hides the row.
    pub(crate) deleted: fn(Dialect) -> String,
    /// Every marker leaves the row live: the row is visible.
    pub(crate) visible: fn(Dialect) -> String,
    /// Some marker hides the row.
    pub(crate) hidden: fn(Dialect) -> String,
    /// Every marker but the archive marker leaves the row live (`None` with one marker): a row
    /// the archive marker hides becomes visible when a restore clears it.
    pub(crate) others_visible: fn(Dialect) -> Option<String>,
    pub(crate) keys: &'static [KeyInfo],
}

impl SoftInfo {
    /// The `.with_deleted()` trace, unqualified: `(<visible> OR TRUE)`, for a statement that
    /// reads every row of the table on purpose (see [`crate::guard`]).
    pub(crate) fn every_row(&self, dialect: Dialect) -> String {
        crate::query::with_deleted_sql(&(self.visible)(dialect))
    }
}

/// The condition of `T`'s primary marker alone: live, or (`live == false`) deleted.
fn primary_condition<T: SoftDeleteTable>(dialect: Dialect, live: bool) -> String {
    let marker = MarkerInfo {
        name: <T::Marker as Column>::NAME,
        kind: <<T::Marker as SoftDeleteMarker>::Strategy as Strategy<T::Marker>>::KIND,
    };
    conditions::marker_condition(dialect, marker, live)
}

/// The primary marker's live condition. With several markers it reads rows other markers
/// hide, on purpose (an archive marks and follows them too), and says so with the
/// `.with_deleted()` trace for the visibility guard: `(<primary live> AND (<visible> OR TRUE))`.
fn primary_live<T: SoftDeleteTable>(dialect: Dialect) -> String {
    let live = primary_condition::<T>(dialect, true);
    if T::markers().len() > 1 {
        let every_row = crate::query::with_deleted_sql(&conditions::live_condition::<T>(dialect));
        format!("({live} AND {every_row})")
    } else {
        live
    }
}

fn primary_deleted<T: SoftDeleteTable>(dialect: Dialect) -> String {
    primary_condition::<T>(dialect, false)
}

/// A table of the relation graph, as plain values: its SQL name, its primary key, how its
/// rows are archived (for soft-deletable tables) and where its edges come from.
#[derive(Clone)]
pub struct Node {
    pub(crate) name: TableName,
    pub(crate) key: &'static str,
    pub(crate) key_kind: KeyKind,
    pub(crate) soft: Option<SoftInfo>,
    pub(crate) edges: fn() -> Vec<Edge>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("soft_deletable", &self.soft.is_some())
            .finish()
    }
}

fn no_edges() -> Vec<Edge> {
    Vec::new()
}

fn edges_of<T: Archivable + GraphTable>() -> Vec<Edge>
where
    T::Stamp: StampOf,
{
    let mut relations = Relations::<T>::new();
    T::relations(&mut relations);
    relations.edges
}

impl Node {
    /// The node of soft-deletable table `T`, with its declared edges and its model's
    /// active-unique keys ([`Archivable::ACTIVE_UNIQUE_KEYS`]).
    pub fn archivable<T>() -> Node
    where
        T: Archivable + GraphTable,
        T::Stamp: StampOf,
    {
        let (key, key_kind) = T::key();
        Node {
            name: T::sql_name(),
            key,
            key_kind,
            soft: Some(SoftInfo {
                marker: <T::Marker as Column>::NAME,
                strategy: <<T::Marker as SoftDeleteMarker>::Strategy as Strategy<T::Marker>>::KIND,
                columns: ArchiveColumns {
                    stamp: T::Stamp::column(),
                    batch: T::batch_column(),
                },
                live: primary_live::<T>,
                deleted: primary_deleted::<T>,
                visible: conditions::live_condition::<T>,
                hidden: conditions::deleted_condition::<T>,
                others_visible: conditions::others_live_condition::<T>,
                keys: T::ACTIVE_UNIQUE_KEYS,
            }),
            edges: edges_of::<T>,
        }
    }

    /// The node of a table that is not soft-deletable: every row is live, and it has no
    /// edges of its own.
    pub fn plain<T: GraphTable>() -> Node {
        let (key, key_kind) = T::key();
        Node {
            name: T::sql_name(),
            key,
            key_kind,
            soft: None,
            edges: no_edges,
        }
    }

    /// What differs between two declarations of one SQL table, if anything: the key, whether
    /// and how rows are soft-deleted, the active-unique keys, or the declared edges.
    fn differs_from(&self, other: &Node) -> Option<&'static str> {
        if (self.key, self.key_kind) != (other.key, other.key_kind) {
            return Some("the primary key");
        }
        match (&self.soft, &other.soft) {
            (None, None) => {}
            (Some(a), Some(b)) => {
                let shape = |s: &SoftInfo| {
                    (
                        s.marker,
                        s.strategy,
                        s.columns,
                        (s.live)(Dialect::Postgres),
                        (s.visible)(Dialect::Postgres),
                        s.keys
                            .iter()
                            .map(|k| (k.name, k.columns))
                            .collect::<Vec<_>>(),
                    )
                };
                if shape(a) != shape(b) {
                    return Some(
                        "how rows are soft-deleted (marker, archive columns or active-unique keys)",
                    );
                }
            }
            _ => return Some("whether the table is soft-deletable"),
        }
        let edges = |node: &Node| {
            (node.edges)()
                .into_iter()
                .map(|e| ((e.child)().name, e.column, e.rule))
                .collect::<Vec<_>>()
        };
        if edges(self) != edges(other) {
            return Some("the declared children");
        }
        None
    }

    /// The table's SQL name.
    pub fn name(&self) -> &TableName {
        &self.name
    }

    /// Whether the table is soft-deletable.
    pub fn is_soft_deletable(&self) -> bool {
        self.soft.is_some()
    }

    /// The table's active-unique keys, which a batch restore checks (empty for a table that
    /// has none, or is not soft-deletable).
    pub fn active_unique_keys(&self) -> &'static [KeyInfo] {
        self.soft.as_ref().map_or(&[], |soft| soft.keys)
    }
}

/// Picks [`Node::archivable`] for soft-deletable tables and [`Node::plain`] for the others,
/// by method resolution on a concrete table type (autoref specialisation): used by the code
/// `#[derive(SoftDelete)]` generates for edges whose child may be either.
#[doc(hidden)]
pub(crate) mod probe {
    use std::marker::PhantomData;

    use super::{Archivable, GraphTable, Node, StampOf};

    /// A table type, probed for how to describe it.
    pub struct Probe<T>(PhantomData<T>);

    impl<T> Probe<T> {
        /// The probe of `T`.
        #[allow(clippy::new_without_default)]
        pub fn new() -> Self {
            Probe(PhantomData)
        }
    }

    /// Chosen first: the table is soft-deletable.
    pub trait ViaArchivable {
        /// The node constructor.
        fn node(&self) -> fn() -> Node;
    }

    impl<T> ViaArchivable for Probe<T>
    where
        T: Archivable + GraphTable,
        T::Stamp: StampOf,
    {
        fn node(&self) -> fn() -> Node {
            Node::archivable::<T>
        }
    }

    /// Chosen otherwise (one auto-ref further): a plain table.
    pub trait ViaPlain {
        /// The node constructor.
        fn node(&self) -> fn() -> Node;
    }

    impl<T: GraphTable> ViaPlain for &Probe<T> {
        fn node(&self) -> fn() -> Node {
            Node::plain::<T>
        }
    }
}

/// An edge of a [`Graph`], between node indices.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GraphEdge {
    pub(crate) parent: usize,
    pub(crate) child: usize,
    pub(crate) column: &'static str,
    pub(crate) column_kind: KeyKind,
    pub(crate) rule: Rule,
}

/// The part of the relation graph reachable from a root: every table once, the edges of
/// the tables an archive can reach (the root and every `cascade` child) by index.
#[derive(Debug)]
pub(crate) struct Graph {
    pub(crate) nodes: Vec<Node>,
    /// For each node, the indices into `edges` of its outgoing edges (empty for tables an
    /// archive never reaches as a parent).
    pub(crate) outgoing: Vec<Vec<usize>>,
    pub(crate) edges: Vec<GraphEdge>,
    /// Whether the node is archived by a batch (the root and `cascade` children).
    pub(crate) archived: Vec<bool>,
}

impl Graph {
    /// Walks the declared graph from `root`, visiting each table once.
    ///
    /// Tables are told apart by their SQL name: two `table!` declarations of one table are one
    /// node when they agree (same key, same marker and archive columns, same edges), and
    /// [`Error::ConflictingDeclarations`] when they do not, since the walk could only follow
    /// one of them.
    pub(crate) fn build(root: Node) -> Result<Graph, Error> {
        let mut graph = Graph {
            nodes: Vec::new(),
            outgoing: Vec::new(),
            edges: Vec::new(),
            archived: Vec::new(),
        };
        let mut index: HashMap<TableName, usize> = HashMap::new();
        let root = graph.intern(&mut index, root)?;
        graph.archived[root] = true;
        let mut queue = VecDeque::from([root]);
        while let Some(parent) = queue.pop_front() {
            for edge in (graph.nodes[parent].edges)() {
                let child = graph.intern(&mut index, (edge.child)())?;
                let id = graph.edges.len();
                graph.edges.push(GraphEdge {
                    parent,
                    child,
                    column: edge.column,
                    column_kind: edge.column_kind,
                    rule: edge.rule,
                });
                graph.outgoing[parent].push(id);
                if edge.rule == Rule::Cascade && !graph.archived[child] {
                    graph.archived[child] = true;
                    queue.push_back(child);
                }
            }
        }
        Ok(graph)
    }

    fn intern(
        &mut self,
        index: &mut HashMap<TableName, usize>,
        node: Node,
    ) -> Result<usize, Error> {
        if let Some(&i) = index.get(&node.name) {
            if let Some(difference) = self.nodes[i].differs_from(&node) {
                return Err(Error::ConflictingDeclarations {
                    table: node.name.to_string(),
                    difference,
                });
            }
            return Ok(i);
        }
        let i = self.nodes.len();
        index.insert(node.name.clone(), i);
        self.nodes.push(node);
        self.outgoing.push(Vec::new());
        self.archived.push(false);
        Ok(i)
    }

    /// The soft-delete description of node `i`, which the graph archives (the root or a
    /// `cascade` child). [`Graph::build`] refuses a graph where such a node has none, so this
    /// only fails on a graph built by hand.
    pub(crate) fn soft(&self, i: usize) -> Result<&SoftInfo, Error> {
        self.nodes[i]
            .soft
            .as_ref()
            .ok_or_else(|| Error::ConflictingDeclarations {
                table: self.nodes[i].name.to_string(),
                difference: "whether the table is soft-deletable",
            })
    }

    /// Whether any edge needs the journal (links cut by `set_null` / `set_default`).
    pub(crate) fn needs_journal(&self) -> bool {
        self.edges
            .iter()
            .any(|e| matches!(e.rule, Rule::SetNull | Rule::SetDefault))
    }
}

impl AsRef<TableName> for Node {
    fn as_ref(&self) -> &TableName {
        &self.name
    }
}
