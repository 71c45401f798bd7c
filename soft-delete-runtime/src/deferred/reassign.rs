//! [`reassign`]: new values for a unique column, for a set of rows, on every backend.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use diesel::connection::LoadConnection;
use diesel::expression::{AppearsOnTable, Expression};
use diesel::query_builder::QueryFragment;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::BoolOrNullableBool;
use diesel::{Column, Connection, QuerySource, RunQueryDsl, Table};

use super::sql::{
    Assign, ColumnRange, CurrentValues, FromClauseOf, UniqueIndexLookup, WholeTable, Within,
};
use super::{finish_deferred, run_checked, set_constraints};
use crate::backend::{Dialect, RenderBackend, SupportedBackend, TableName};
use crate::table::SoftDeleteTable;
use crate::{ddl, Error, Result};

/// Rows per statement. Each row binds two values, so a statement stays far below the
/// smallest limit on bind parameters of the three backends (32766 on SQLite).
const CHUNK: usize = 8000;

/// Starts a reassignment of `column`: new values for some rows, applied so that no
/// intermediate state breaks a unique key on the column.
///
/// ```
/// use diesel::prelude::*;
/// use soft_delete_runtime::deferred::reassign;
///
/// diesel::table! {
///     players (id) { id -> Integer, team_id -> Integer, squad_number -> Integer }
/// }
///
/// # fn main() -> Result<(), soft_delete_runtime::Error> {
/// let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// diesel::sql_query("CREATE TABLE players (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL,
///     squad_number INTEGER NOT NULL, UNIQUE (team_id, squad_number))").execute(conn)?;
/// diesel::sql_query("INSERT INTO players VALUES (1, 1, 7), (2, 1, 10), (3, 1, 9)").execute(conn)?;
///
/// // players 1 and 2 swap their numbers; player 3 moves to the free 11
/// let done = reassign(players::squad_number)
///     .within(players::team_id.eq(1))
///     .run(conn, [(1, 10), (2, 7), (3, 11)])?;
/// assert_eq!(done.changed, 3);
///
/// let numbers: Vec<i32> = players::table.order(players::id).select(players::squad_number).load(conn)?;
/// assert_eq!(numbers, [10, 7, 11]);
/// # Ok(())
/// # }
/// ```
pub fn reassign<Col: Column>(column: Col) -> Reassign<Col> {
    Reassign {
        column,
        scope: WholeTable,
        live: None,
        method: Method::Auto,
    }
}

/// How [`reassign`] avoids an intermediate duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// PostgreSQL: ask the catalog which unique and exclusion indexes cover the column. If
    /// every one belongs to a `DEFERRABLE` constraint, defer those constraints and write the
    /// final values directly; if there is none, write them directly; otherwise use
    /// temporary values. SQLite, MySQL/MariaDB: temporary values.
    #[default]
    Auto,
    /// PostgreSQL only: `SET CONSTRAINTS ALL DEFERRED`, write the final values directly, and
    /// check at the end (without asking the catalog). A key that is not deferrable then
    /// fails the call. Elsewhere: [`Error::Unsupported`].
    Deferred,
    /// Move the rows that need it through temporary values first, on any backend.
    Temporaries,
}

/// What [`Reassign::run`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Reassigned {
    /// Rows whose value changed.
    pub changed: usize,
    /// Rows given the value they already had (left alone).
    pub unchanged: usize,
    /// Whether the final values were written directly while the key's constraints were
    /// deferred (PostgreSQL).
    pub deferred: bool,
    /// How many rows went through a temporary value.
    pub temporaries: usize,
}

/// A reassignment being set up; see [`reassign`]. Run it with [`run`](Self::run).
#[derive(Debug, Clone)]
pub struct Reassign<Col, S = WholeTable> {
    column: Col,
    scope: S,
    live: Option<fn(Dialect) -> String>,
    method: Method,
}

impl<Col: Column, S> Reassign<Col, S> {
    /// Limits the reassignment to the rows `filter` selects, e.g. one team:
    /// `players::team_id.eq(1)`. Usually the other columns of the unique key.
    ///
    /// Every row given to [`run`](Self::run) must be in the scope, and a new value held by
    /// a row of the scope that is not moved is a conflict ([`Error::ValueTaken`]). Replaces
    /// an earlier `within`.
    pub fn within<F>(self, filter: F) -> Reassign<Col, Within<F>>
    where
        F: Expression<SqlType: BoolOrNullableBool> + AppearsOnTable<Col::Table>,
    {
        Reassign {
            column: self.column,
            scope: Within(filter),
            live: self.live,
            method: self.method,
        }
    }

    /// The unique key binds live rows only (a partial unique index, a generated live-key
    /// column, or a `live_only` [`DeferrableUnique`](crate::ddl::unique::DeferrableUnique)):
    /// a soft-deleted row holding one of the new values is not a conflict.
    ///
    /// Without it every row of the scope counts, which is right for a plain `UNIQUE` key
    /// and merely stricter than needed for a live-only one.
    #[must_use]
    pub fn live_only(mut self) -> Self
    where
        Col::Table: SoftDeleteTable,
    {
        self.live = Some(ddl::live_condition::<Col::Table>);
        self
    }

    /// How to avoid intermediate duplicates; [`Method::Auto`] unless set.
    #[must_use]
    pub fn method(mut self, method: Method) -> Self {
        self.method = method;
        self
    }

    /// Gives each row in `moves` (`(primary key, new value)`) its new value, in one
    /// transaction: all of them or, on any error, none.
    ///
    /// Before touching the database, two rows with the same new value
    /// ([`Error::DuplicateTarget`]) or one row given twice ([`Error::DuplicateRow`]) are
    /// rejected. Then, in the transaction:
    ///
    /// 1. one `SELECT` (per 8000 rows) reads the moved rows' current values and the rows of
    ///    the scope already holding a new value: a moved row missing from the scope is
    ///    [`Error::NotInScope`], a new value held by a row that is not moved is
    ///    [`Error::ValueTaken`] (with [`live_only`](Self::live_only), soft-deleted holders
    ///    do not count);
    /// 2. rows given the value they have are left alone;
    /// 3. the rest is written, by the [`Method`]:
    ///    - deferred (PostgreSQL, deferrable key): `SET CONSTRAINTS ... DEFERRED`, one
    ///      `UPDATE` to the final values, then `SET CONSTRAINTS ... IMMEDIATE`, which checks
    ///      the key now; a violation is [`Error::DeferredViolation`];
    ///    - temporary values (SQLite, MySQL/MariaDB, PostgreSQL with a key that is not
    ///      deferrable): rows whose new value is held by another moved row (swaps,
    ///      rotations, any cycle) first take a temporary value, while rows moving to a free
    ///      value take their final one, in one `UPDATE`; a second `UPDATE` gives the first
    ///      group their final values. The temporaries are above the largest value of the
    ///      column in the whole table and of the new values (or, when the type has no room
    ///      there, below the smallest), read with one `SELECT MIN(..), MAX(..)`, so no row
    ///      anywhere holds one, none is a new value, and they collide with nothing. If the
    ///      type has no room on either side:
    ///      [`Error::NoTemporaryValues`]. When no row needs a temporary value there is only
    ///      the first `UPDATE`.
    ///
    /// Each `UPDATE` is set-based: joined to a bound table of `(key, value)` pairs, 8000
    /// rows per statement. Values are always bound.
    ///
    /// The database's own constraint stays the last word: a concurrent writer that takes a
    /// new value after the check makes the call fail with the database's unique violation
    /// (or [`Error::DeferredViolation`]), and the transaction is rolled back.
    ///
    /// A `CHECK` constraint that bounds the column (say `BETWEEN 1 AND 99`) rejects
    /// temporary values outside it: on PostgreSQL make the key deferrable, elsewhere leave
    /// the column room.
    pub fn run<'q, C, Id, V, I>(self, conn: &mut C, moves: I) -> Result<Reassigned>
    where
        C: LoadConnection,
        C::Backend: SupportedBackend,
        Col: Column<Table: Table<PrimaryKey: Column> + Default>,
        FromClauseOf<Col>: QueryFragment<RenderBackend>,
        I: IntoIterator<Item = (Id, V)>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
        CurrentValues<Col, Id, V, S>: LoadQuery<'q, C, (Id, V)>,
        ColumnRange<Col>: LoadQuery<'q, C, (Option<V>, Option<V>)>,
        UniqueIndexLookup: LoadQuery<'q, C, (Option<String>, Option<String>, Option<bool>)>,
        Assign<Col, Id, V, S>: ExecuteDsl<C>,
    {
        let dialect = <C::Backend as SupportedBackend>::DIALECT;
        let table = TableName::of::<Col::Table>();
        let moves = validate::<Col, Id, V>(&table, moves)?;
        if moves.is_empty() {
            return Ok(Reassigned::default());
        }
        if self.method == Method::Deferred && dialect != Dialect::Postgres {
            return Err(Error::Unsupported {
                feature: "reassign with deferred constraints",
                dialect,
            });
        }
        run_checked(conn, |conn| self.run_in_transaction(conn, &table, &moves))
    }

    fn run_in_transaction<'q, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        moves: &BTreeMap<Id, V>,
    ) -> Result<Reassigned>
    where
        C: LoadConnection,
        C::Backend: SupportedBackend,
        Col: Column<Table: Table<PrimaryKey: Column> + Default>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
        CurrentValues<Col, Id, V, S>: LoadQuery<'q, C, (Id, V)>,
        ColumnRange<Col>: LoadQuery<'q, C, (Option<V>, Option<V>)>,
        UniqueIndexLookup: LoadQuery<'q, C, (Option<String>, Option<String>, Option<bool>)>,
        Assign<Col, Id, V, S>: ExecuteDsl<C>,
    {
        let dialect = <C::Backend as SupportedBackend>::DIALECT;
        let plan = match (self.method, dialect) {
            (Method::Temporaries, _) | (Method::Auto, Dialect::Sqlite | Dialect::Mysql) => {
                Plan::Temporaries
            }
            (Method::Deferred, _) => Plan::Deferred("ALL".to_owned()),
            (Method::Auto, Dialect::Postgres) => ask_catalog::<Col, C>(conn, table)?,
        };

        let current = self.current_values(conn, table, moves)?;
        let changed: BTreeMap<Id, V> = moves
            .iter()
            .filter(|&(id, new)| current.get(id) != Some(new))
            .map(|(id, new)| (id.clone(), *new))
            .collect();
        let mut done = Reassigned {
            changed: changed.len(),
            unchanged: moves.len() - changed.len(),
            ..Reassigned::default()
        };
        if changed.is_empty() {
            return Ok(done);
        }

        match plan {
            Plan::Direct => self.assign(conn, table, changed)?,
            Plan::Deferred(constraints) => {
                set_constraints(conn, &constraints, "DEFERRED")?;
                self.assign(conn, table, changed)?;
                finish_deferred(conn, &constraints)?;
                done.deferred = true;
            }
            Plan::Temporaries => {
                // A row needs a temporary value when its new value is still held by another
                // moved row at the time of the first UPDATE.
                let vacating: BTreeSet<V> = changed.keys().map(|id| current[id]).collect();
                let (cycled, free): (BTreeMap<Id, V>, BTreeMap<Id, V>) = changed
                    .into_iter()
                    .partition(|(_, new)| vacating.contains(new));
                done.temporaries = cycled.len();
                if cycled.is_empty() {
                    self.assign(conn, table, free)?;
                } else {
                    let targets = (
                        free.values().chain(cycled.values()).min().copied(),
                        free.values().chain(cycled.values()).max().copied(),
                    );
                    let temporaries = self.temporaries(conn, table, targets, cycled.len())?;
                    let first = cycled
                        .keys()
                        .cloned()
                        .zip(temporaries)
                        .chain(free)
                        .collect();
                    self.assign(conn, table, first)?;
                    self.assign(conn, table, cycled)?;
                }
            }
        }
        Ok(done)
    }

    /// The current value of every moved row, after checking that all are in the scope and
    /// that no row outside the moved set holds a new value.
    fn current_values<'q, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        moves: &BTreeMap<Id, V>,
    ) -> Result<BTreeMap<Id, V>>
    where
        C: LoadConnection,
        Col: Column<Table: Default>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
        CurrentValues<Col, Id, V, S>: LoadQuery<'q, C, (Id, V)>,
    {
        let moves: Vec<(&Id, &V)> = moves.iter().collect();
        let mut current = BTreeMap::new();
        let mut taken: BTreeMap<V, Id> = BTreeMap::new();
        for chunk in moves.chunks(CHUNK) {
            let query = CurrentValues::<Col, Id, V, S> {
                from: Col::Table::default().from_clause(),
                ids: chunk.iter().map(|(id, _)| (*id).clone()).collect(),
                targets: chunk.iter().map(|(_, new)| **new).collect(),
                live: self.live,
                scope: self.scope.clone(),
            };
            for (id, value) in query.load::<(Id, V)>(conn)? {
                current.insert(id, value);
            }
        }
        let ids: BTreeSet<&Id> = moves.iter().map(|(id, _)| *id).collect();
        let targets: BTreeSet<&V> = moves.iter().map(|(_, new)| *new).collect();
        current.retain(|id, value| {
            if ids.contains(id) {
                return true;
            }
            if targets.contains(&*value) {
                taken.entry(*value).or_insert_with(|| id.clone());
            }
            false
        });
        if let Some((value, holder)) = taken.into_iter().next() {
            return Err(Error::ValueTaken {
                table: table.to_string(),
                column: Col::NAME,
                value: format!("{value:?}"),
                holder: format!("{holder:?}"),
            });
        }
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !current.contains_key(**id))
            .map(|id| format!("{id:?}"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::NotInScope {
                table: table.to_string(),
                rows: missing,
            });
        }
        Ok(current)
    }

    /// `count` values beyond the range of the column over the whole table and of the new
    /// values (`targets`: their smallest and largest), so that they collide neither with a
    /// row that stays nor with a row moving straight to its new value.
    fn temporaries<'q, C, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        targets: (Option<V>, Option<V>),
        count: usize,
    ) -> Result<Vec<V>>
    where
        C: LoadConnection,
        Col: Column<Table: Default>,
        V: ReassignValue,
        ColumnRange<Col>: LoadQuery<'q, C, (Option<V>, Option<V>)>,
    {
        let range = ColumnRange::<Col> {
            from: Col::Table::default().from_clause(),
        };
        // The moved rows exist, so the column has values; `None` only if they vanished.
        let (min, max) = range.get_result::<(Option<V>, Option<V>)>(conn)?;
        let (Some(min), Some(max)) = (
            min.into_iter().chain(targets.0).min(),
            max.into_iter().chain(targets.1).max(),
        ) else {
            // There is at least one target whenever temporaries are needed.
            return Ok(Vec::new());
        };
        V::temporaries(min, max, count).ok_or_else(|| Error::NoTemporaryValues {
            table: table.to_string(),
            column: Col::NAME,
            count,
            min: format!("{min:?}"),
            max: format!("{max:?}"),
        })
    }

    /// Writes `pairs`, [`CHUNK`] rows per statement, and checks that each row was found.
    fn assign<C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        pairs: BTreeMap<Id, V>,
    ) -> Result<()>
    where
        C: Connection,
        Col: Column<Table: Default>,
        Id: Clone + Debug,
        V: Copy,
        S: Clone,
        Assign<Col, Id, V, S>: ExecuteDsl<C>,
    {
        let pairs: Vec<(Id, V)> = pairs.into_iter().collect();
        for chunk in pairs.chunks(CHUNK) {
            let statement = Assign::<Col, Id, V, S> {
                from: Col::Table::default().from_clause(),
                pairs: chunk.to_vec(),
                scope: self.scope.clone(),
            };
            let written = statement.execute(conn)?;
            if written != chunk.len() {
                // Only a concurrent writer can get here: the rows were all found a moment ago.
                return Err(Error::NotInScope {
                    table: table.to_string(),
                    rows: chunk.iter().map(|(id, _)| format!("{id:?}")).collect(),
                });
            }
        }
        Ok(())
    }
}

/// How the final values get written.
enum Plan {
    /// No unique index covers the column: write them.
    Direct,
    /// Defer these constraints (a `SET CONSTRAINTS` list) and write them.
    Deferred(String),
    /// Through temporary values.
    Temporaries,
}

/// Decides the plan on PostgreSQL from the unique and exclusion indexes on the column.
fn ask_catalog<'q, Col, C>(conn: &mut C, table: &TableName) -> Result<Plan>
where
    Col: Column,
    C: LoadConnection,
    UniqueIndexLookup: LoadQuery<'q, C, (Option<String>, Option<String>, Option<bool>)>,
{
    let lookup = UniqueIndexLookup {
        table: Dialect::Postgres.quote_table(table),
        column: Col::NAME.to_owned(),
    };
    let indexes = lookup.load::<(Option<String>, Option<String>, Option<bool>)>(conn)?;
    if indexes.is_empty() {
        return Ok(Plan::Direct);
    }
    let mut deferrable = BTreeSet::new();
    for index in indexes {
        match index {
            (Some(schema), Some(name), Some(true)) => {
                let schema = TableName {
                    schema: Some(schema),
                    name,
                };
                deferrable.insert(Dialect::Postgres.quote_table(&schema));
            }
            // A plain unique index, or a constraint checked per row.
            _ => return Ok(Plan::Temporaries),
        }
    }
    Ok(Plan::Deferred(
        deferrable.into_iter().collect::<Vec<_>>().join(", "),
    ))
}

/// Rejects a row given twice and a value given to two rows, before the database is touched.
fn validate<Col, Id, V>(
    table: &TableName,
    moves: impl IntoIterator<Item = (Id, V)>,
) -> Result<BTreeMap<Id, V>>
where
    Col: Column,
    Id: Ord + Clone + Debug,
    V: ReassignValue,
{
    let mut by_row = BTreeMap::new();
    let mut by_value: BTreeMap<V, Id> = BTreeMap::new();
    for (id, new) in moves {
        if let Some(first) = by_value.insert(new, id.clone()) {
            return Err(Error::DuplicateTarget {
                table: table.to_string(),
                column: Col::NAME,
                value: format!("{new:?}"),
                first: format!("{first:?}"),
                second: format!("{id:?}"),
            });
        }
        if by_row.insert(id.clone(), new).is_some() {
            return Err(Error::DuplicateRow {
                table: table.to_string(),
                row: format!("{id:?}"),
            });
        }
    }
    Ok(by_row)
}

/// A value type [`reassign`] can move through temporary values: the integers.
///
/// A temporary value must be one no row of the table can hold, and for integers the values
/// beyond the column's current range are such values. Other types (text, uuids) have no
/// such values that every schema accepts, so they do not implement this trait and a
/// reassignment of them does not compile.
#[diagnostic::on_unimplemented(
    message = "`reassign` cannot move values of type `{Self}`",
    label = "the reassigned column's values must be integers",
    note = "`reassign` moves rows through temporary values beyond the column's current range, which exist for `i8`, `i16`, `i32`, `i64`, `u8`, `u16`, `u32` and `u64`"
)]
pub trait ReassignValue: Copy + Ord + Debug {
    /// `count` distinct values all above `max` or, when the type has no room there, all
    /// below `min`; `None` when it has room on neither side.
    fn temporaries(min: Self, max: Self, count: usize) -> Option<Vec<Self>>;
}

macro_rules! reassign_value {
    ($($int:ty),*) => {$(
        impl ReassignValue for $int {
            fn temporaries(min: Self, max: Self, count: usize) -> Option<Vec<Self>> {
                let n = <$int>::try_from(count).ok()?;
                if max.checked_add(n).is_some() {
                    Some((1..=n).map(|k| max + k).collect())
                } else if min.checked_sub(n).is_some() {
                    Some((1..=n).map(|k| min - k).collect())
                } else {
                    None
                }
            }
        }
    )*};
}

reassign_value!(i8, i16, i32, i64, u8, u16, u32, u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_lie_above_the_range_or_else_below_it() {
        assert_eq!(i32::temporaries(1, 9, 3), Some(vec![10, 11, 12]));
        assert_eq!(i8::temporaries(-5, 126, 2), Some(vec![-6, -7]));
        assert_eq!(u8::temporaries(0, 254, 1), Some(vec![255]));
        assert_eq!(u8::temporaries(0, 254, 2), None);
        assert_eq!(u8::temporaries(3, 255, 3), Some(vec![2, 1, 0]));
        assert_eq!(i16::temporaries(i16::MIN, i16::MAX, 1), None);
        assert_eq!(i8::temporaries(0, 0, 1000), None);
    }

    diesel::table! { players (id) { id -> Integer, squad_number -> Integer } }

    fn table() -> TableName {
        TableName::of::<players::table>()
    }

    #[test]
    fn a_value_given_twice_is_rejected() {
        let error = validate::<players::squad_number, i32, i32>(&table(), [(1, 7), (2, 8), (3, 7)])
            .unwrap_err();
        assert!(
            matches!(&error, Error::DuplicateTarget { value, first, second, .. }
                if value == "7" && first == "1" && second == "3"),
            "{error}"
        );
    }

    #[test]
    fn a_row_given_twice_is_rejected() {
        let error =
            validate::<players::squad_number, i32, i32>(&table(), [(1, 7), (1, 8)]).unwrap_err();
        assert!(
            matches!(&error, Error::DuplicateRow { row, .. } if row == "1"),
            "{error}"
        );
    }
}
