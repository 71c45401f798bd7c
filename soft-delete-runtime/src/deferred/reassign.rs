//! [`reassign`]: new values for a unique column, for a set of rows, on every backend.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use diesel::expression::{AppearsOnTable, Expression};
use diesel::query_builder::QueryFragment;
use diesel::sql_types::BoolOrNullableBool;
use diesel::{Column, QuerySource, Table};

use super::sql::{Assign, ColumnRange, CurrentValues, FromClauseOf, IdsAsText, Shift};
use super::{finish_checked, finish_deferred, set_constraints, WholeTable, Within};
use crate::backend::{Dialect, RenderBackend, SupportedBackend, TableName};
use crate::exec::SqlConnection;
use crate::exec::{drive, BackendOf, Begin, Blocking, Execute, Executor, Load, Transaction};
use crate::sql::constraints;
use crate::table::SoftDeleteTable;
use crate::{ddl, Error, Result, RowId};

/// What a connection in mode `Mo` ([`Blocking`], or
/// [`NonBlocking`](crate::exec::NonBlocking)) runs for a reassignment of column `Col` with
/// primary keys `Id`, values `V` and scope `S`: the bound of [`Reassign::run`] and
/// [`Reassign::run_async`]. Implemented for every connection that runs the statements; never
/// implemented by hand.
pub trait ReassignOn<Mo, Col: Column, Id, V, S>:
    SqlConnection<Mo>
    + Load<Mo, CurrentValues<Col, Id, V, S>, (Id, V)>
    + Load<Mo, ColumnRange<Col>, (Option<V>, Option<V>)>
    + Load<Mo, IdsAsText<Col, Id>, (i64, String)>
    + Execute<Mo, Shift<Col, Id, V>>
    + Execute<Mo, Assign<Col, Id, V>>
{
}

impl<Mo, Col: Column, Id, V, S, C> ReassignOn<Mo, Col, Id, V, S> for C where
    C: SqlConnection<Mo>
        + Load<Mo, CurrentValues<Col, Id, V, S>, (Id, V)>
        + Load<Mo, ColumnRange<Col>, (Option<V>, Option<V>)>
        + Load<Mo, IdsAsText<Col, Id>, (i64, String)>
        + Execute<Mo, Shift<Col, Id, V>>
        + Execute<Mo, Assign<Col, Id, V>>
{
}

/// Rows per statement on each backend. A row binds at most two values, which keeps a
/// statement below the backend's limit on bind parameters (32766 on SQLite, 65535 on
/// PostgreSQL and MySQL) with room for the scope's own. MySQL/MariaDB get smaller
/// statements: the table of pairs there is a `UNION ALL` of one-row `SELECT`s.
fn rows_per_statement(dialect: Dialect) -> usize {
    match dialect {
        Dialect::Sqlite => 16_000,
        Dialect::Postgres => 32_000,
        Dialect::Mysql => 8_000,
    }
}

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
        every_row: None,
        method: Method::Auto,
    }
}

/// How [`reassign`] avoids an intermediate duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Method {
    /// PostgreSQL: ask the catalog which unique and exclusion indexes cover the column (as
    /// a key, in an expression or a predicate, or through a stored generated column computed
    /// from it). If
    /// every one belongs to a `DEFERRABLE` constraint, defer those constraints and write the
    /// final values directly; if there is none, write them directly; otherwise use
    /// temporary values. SQLite, MySQL/MariaDB: temporary values.
    #[default]
    Auto,
    /// PostgreSQL only: defer the constraints of the unique and exclusion indexes covering the
    /// column (by name, read from the catalog as [`Auto`](Self::Auto) does), write the final
    /// values directly, and check them at the end. One that cannot be deferred (a constraint
    /// not declared `DEFERRABLE`, or a plain unique index) is [`Error::NotDeferrable`] naming
    /// it, before anything is written, rather than a fall back to temporary values. Elsewhere:
    /// [`Error::Unsupported`].
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
    /// The live condition of a soft-deletable table, for the `.with_deleted()` trace of the
    /// reads (which name rows by key whether live or not).
    every_row: Option<fn(Dialect) -> String>,
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
            every_row: self.every_row,
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
        self.every_row = self.live;
        self
    }

    /// The unique key binds every row, live or soft-deleted (a plain `UNIQUE` key), on a
    /// soft-deletable table: the default behaviour, said explicitly. The reads of the
    /// reassignment then carry the `.with_deleted()` trace, which the
    /// [visibility guard](crate::guard) requires of a read of a soft-deletable table; on a
    /// table without soft delete there is nothing to say.
    #[must_use]
    pub fn with_deleted(mut self) -> Self
    where
        Col::Table: SoftDeleteTable,
    {
        self.live = None;
        self.every_row = Some(ddl::live_condition::<Col::Table>);
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
    /// 1. one `SELECT ... FOR UPDATE` reads and locks the moved rows' current values and the
    ///    rows of the scope already holding a new value: a moved row missing from the scope is
    ///    [`Error::NotInScope`], a new value held by a row that is not moved is
    ///    [`Error::ValueTaken`] (with [`live_only`](Self::live_only), soft-deleted holders
    ///    do not count);
    /// 2. rows given the value they have are left alone;
    /// 3. the rest is written, by the [`Method`]:
    ///    - deferred (PostgreSQL, deferrable key): `SET CONSTRAINTS <the key's constraints>
    ///      DEFERRED`, one `UPDATE` to the final values, then `SET CONSTRAINTS <the same>
    ///      IMMEDIATE`, which checks the key now; a violation is [`Error::DeferredViolation`].
    ///      The constraints are named (schema-qualified), never `ALL`: the caller's other
    ///      deferred constraints (a foreign key checked at commit) keep their mode and their
    ///      pending checks. Inside an outer transaction the key's own constraints stay
    ///      `IMMEDIATE` for the rest of it;
    ///    - temporary values (SQLite, MySQL/MariaDB, PostgreSQL with a key that is not
    ///      deferrable): the rows whose value is another row's new value (in swaps and
    ///      rotations every row, in a chain of moves ending on a free value all but the
    ///      last) first move out of the way, then one `UPDATE` gives every row its final
    ///      value. Out of the way is beyond the range of the column over the whole table
    ///      and of the new values, read with one `SELECT MIN(..), MAX(..)`: no row
    ///      anywhere holds such a value and none is a new value, so nothing can collide.
    ///      They get there by one offset, `UPDATE ... SET col = col + d WHERE pk IN (...)`
    ///      (or `- d` when the type has no room above), which keeps the values the key
    ///      tells apart distinct; if the column spans too much of its type for that, by
    ///      one distinct value each; if even that does not fit,
    ///      [`Error::NoTemporaryValues`]. When no row is in the way there is only the
    ///      final `UPDATE`.
    ///
    /// The writes name rows by primary key only (the check found them in the scope and locked
    /// them, in the same transaction), so a scope may depend on the reassigned column itself.
    /// The lock is what makes that safe against other writers: a row another transaction moves
    /// out of the scope is either moved before the check, which then reports it
    /// ([`Error::NotInScope`]), or waits until this transaction ends. On PostgreSQL and
    /// MySQL/MariaDB that is `FOR UPDATE` (on MySQL at `REPEATABLE READ`, an unindexed scope
    /// locks every row the read scans); SQLite has no row locks and needs none: the
    /// transaction begins `IMMEDIATE`, taking the database's write lock before it reads, so no
    /// other connection writes until it ends (under a busy timeout each side waits for the
    /// other's write instead of failing with `database is locked`).
    ///
    /// The final `UPDATE` is set-based: joined to a bound table of `(key, value)` pairs. A
    /// statement binds at most two values per row and takes up to 16 000 rows on SQLite,
    /// 32 000 on PostgreSQL and 8 000 on MySQL/MariaDB; more rows take more statements,
    /// in the same transaction. Values are always bound.
    ///
    /// The database's own constraint stays the last word: a concurrent writer that takes a
    /// new value after the check makes the call fail with the database's unique violation
    /// (or [`Error::DeferredViolation`]), and the transaction is rolled back.
    ///
    /// A `CHECK` constraint that bounds the column (say `BETWEEN 1 AND 99`) rejects
    /// temporary values outside it: on PostgreSQL make the key deferrable, elsewhere leave
    /// the column room.
    pub fn run<C, Id, V, I>(self, conn: &mut C, moves: I) -> Result<Reassigned>
    where
        C: ReassignOn<Blocking, Col, Id, V, S>,
        Col: Column<Table: Table<PrimaryKey: Column> + Default>,
        FromClauseOf<Col>: QueryFragment<RenderBackend>,
        I: IntoIterator<Item = (Id, V)>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
    {
        drive(self.run_on(conn, moves))
    }

    /// [`run`](Self::run) on a diesel-async connection (feature `async`), awaited: the same
    /// statements in the same one transaction, with the same errors. The primary keys, values
    /// and scope are sent to the connection as they are, so they must be owned (`'static`);
    /// the future is `Send` when they are `Send` and `Sync`. Dropped half way, the transaction
    /// is abandoned with the connection (marked broken, which a pool discards): nothing of it
    /// stays.
    #[cfg(feature = "async")]
    pub async fn run_async<C, Id, V, I>(self, conn: &mut C, moves: I) -> Result<Reassigned>
    where
        C: ReassignOn<crate::exec::NonBlocking, Col, Id, V, S>,
        Col: Column<Table: Table<PrimaryKey: Column> + Default>,
        FromClauseOf<Col>: QueryFragment<RenderBackend>,
        I: IntoIterator<Item = (Id, V)>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
    {
        self.run_on(conn, moves).await
    }

    /// [`run`](Self::run) and [`run_async`](Self::run_async), in mode `Mo`.
    #[cfg_attr(feature = "tracing", tracing::instrument(name = "reassign", level = "info", skip_all,
        fields(table = %TableName::of::<Col::Table>(), column = Col::NAME, rows = tracing::field::Empty)))]
    async fn run_on<Mo, C, Id, V, I>(self, conn: &mut C, moves: I) -> Result<Reassigned>
    where
        C: ReassignOn<Mo, Col, Id, V, S>,
        Col: Column<Table: Table<PrimaryKey: Column> + Default>,
        FromClauseOf<Col>: QueryFragment<RenderBackend>,
        I: IntoIterator<Item = (Id, V)>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
    {
        if Col::NAME == <<Col::Table as Table>::PrimaryKey as Column>::NAME {
            return Err(Error::InvalidArgument {
                name: "column",
                problem: "is the table's primary key, by which `reassign` names the rows it moves: a primary key cannot be reassigned",
            });
        }
        let dialect = <BackendOf<Mo, C> as SupportedBackend>::DIALECT;
        let table = TableName::of::<Col::Table>();
        let moves = match validate::<Id, V>(moves) {
            Ok(moves) => moves,
            Err(refusal) => return Err(refusal.into_error::<Mo, Col, _>(conn, &table).await?),
        };
        if moves.is_empty() {
            return Ok(Reassigned::default());
        }
        if self.method == Method::Deferred && dialect != Dialect::Postgres {
            return Err(Error::Unsupported {
                feature: "reassign with deferred constraints",
                dialect,
            });
        }
        let mut tx = Transaction::begin(conn, Begin::Immediate).await?;
        let outcome = self.run_in_transaction(tx.conn(), &table, &moves).await;
        let reassigned = finish_checked(tx, outcome).await?;
        crate::trace::record!(rows = reassigned.changed);
        Ok(reassigned)
    }

    async fn run_in_transaction<Mo, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        moves: &BTreeMap<Id, V>,
    ) -> Result<Reassigned>
    where
        C: ReassignOn<Mo, Col, Id, V, S>,
        Col: Column<Table: Table<PrimaryKey: Column> + Default>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
    {
        let dialect = <BackendOf<Mo, C> as SupportedBackend>::DIALECT;
        let plan = match (self.method, dialect) {
            (Method::Temporaries, _) | (Method::Auto, Dialect::Sqlite | Dialect::Mysql) => {
                Plan::Temporaries
            }
            (Method::Deferred | Method::Auto, _) => {
                ask_catalog::<Mo, Col, C>(conn, table, self.method).await?
            }
        };

        let current = self.current_values(conn, table, moves).await?;
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
            Plan::Direct => self.assign(conn, table, changed).await?,
            Plan::Deferred(constraints) => {
                set_constraints(conn, &constraints, "DEFERRED").await?;
                self.assign(conn, table, changed).await?;
                finish_deferred(conn, &constraints).await?;
                done.deferred = true;
            }
            Plan::Temporaries => {
                // A row must be out of the way before the final UPDATE when its value is
                // another row's new value (in a swap or rotation: every row; in a chain of
                // moves ending on a free value: all but the last).
                let targets: BTreeSet<V> = changed.values().copied().collect();
                let in_the_way: Vec<Id> = changed
                    .keys()
                    .filter(|&id| targets.contains(&current[id]))
                    .cloned()
                    .collect();
                done.temporaries = in_the_way.len();
                if !in_the_way.is_empty() {
                    self.out_of_the_way(conn, table, &current, in_the_way, &changed)
                        .await?;
                }
                self.assign(conn, table, changed).await?;
            }
        }
        Ok(done)
    }

    /// The current value of every moved row, after checking that all are in the scope and
    /// that no row outside the moved set holds a new value.
    async fn current_values<Mo, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        moves: &BTreeMap<Id, V>,
    ) -> Result<BTreeMap<Id, V>>
    where
        C: ReassignOn<Mo, Col, Id, V, S>,
        Col: Column<Table: Default>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
    {
        let moves: Vec<(&Id, &V)> = moves.iter().collect();
        let mut current = BTreeMap::new();
        let mut taken: BTreeMap<V, Id> = BTreeMap::new();
        for chunk in moves.chunks(rows_per_statement(
            <BackendOf<Mo, C> as SupportedBackend>::DIALECT,
        )) {
            let query = CurrentValues::<Col, Id, V, S> {
                from: Col::Table::default().from_clause(),
                ids: chunk.iter().map(|(id, _)| (*id).clone()).collect(),
                targets: chunk.iter().map(|(_, new)| **new).collect(),
                live: self.live,
                every_row: self.every_row,
                scope: self.scope.clone(),
            };
            let rows: Vec<(Id, V)> = conn.load(query).await?;
            for (id, value) in rows {
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
            let refusal = Refusal::ValueTaken {
                value: format!("{value:?}"),
                holder,
            };
            return Err(refusal.into_error::<Mo, Col, _>(conn, table).await?);
        }
        let missing: Vec<Id> = ids
            .iter()
            .filter(|id| !current.contains_key(**id))
            .map(|id| (*id).clone())
            .collect();
        if !missing.is_empty() {
            return Err(Refusal::NotInScope { rows: missing }
                .into_error::<Mo, Col, _>(conn, table)
                .await?);
        }
        Ok(current)
    }

    /// Moves the rows `in_the_way` to temporary values: beyond the range of the column over
    /// the whole table and of the new values (`changed`), so that no row anywhere holds one
    /// and none is a new value.
    ///
    /// Preferably by one offset for all (`col + d`, or `col - d` when the type has no room
    /// above): rows that the key tells apart by this column stay apart when all move by the
    /// same `d`. When the column spans too much of its type for that, one distinct value
    /// per row instead.
    async fn out_of_the_way<Mo, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        current: &BTreeMap<Id, V>,
        in_the_way: Vec<Id>,
        changed: &BTreeMap<Id, V>,
    ) -> Result<()>
    where
        C: ReassignOn<Mo, Col, Id, V, S>,
        Col: Column<Table: Default>,
        Id: Ord + Clone + Debug,
        V: ReassignValue,
        S: Clone,
    {
        let column = ColumnRange::<Col> {
            from: Col::Table::default().from_clause(),
            every_row: self.every_row,
        };
        let range: Vec<(Option<V>, Option<V>)> = conn.load(column).await?;
        let (min, max) = range.into_iter().next().unwrap_or((None, None));
        let values = || min.into_iter().chain(max).chain(changed.values().copied());
        let moving = || in_the_way.iter().map(|id| current[id]);
        // Neither `changed` nor `in_the_way` is empty, so none of these is `None`.
        let (Some(lo), Some(hi), Some(lo_moving), Some(hi_moving)) = (
            values().min(),
            values().max(),
            moving().min(),
            moving().max(),
        ) else {
            return Ok(());
        };
        if let Some(offset) = V::offset((lo_moving, hi_moving), (lo, hi)) {
            return self.shift(conn, table, in_the_way, offset).await;
        }
        let Some(temporaries) = V::temporaries((lo, hi), in_the_way.len()) else {
            return Err(Error::NoTemporaryValues {
                table: table.to_string(),
                column: Col::NAME,
                count: in_the_way.len(),
                min: format!("{lo:?}"),
                max: format!("{hi:?}"),
            });
        };
        self.assign(
            conn,
            table,
            in_the_way.into_iter().zip(temporaries).collect(),
        )
        .await
    }

    /// Moves the rows `ids` by `offset`, a statement per [`rows_per_statement`] rows.
    async fn shift<Mo, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        ids: Vec<Id>,
        offset: Offset<V>,
    ) -> Result<()>
    where
        C: ReassignOn<Mo, Col, Id, V, S>,
        Col: Column<Table: Default>,
        Id: Clone + Debug,
        V: Copy,
    {
        let (offset, up) = match offset {
            Offset::Up(by) => (by, true),
            Offset::Down(by) => (by, false),
        };
        for chunk in ids.chunks(rows_per_statement(
            <BackendOf<Mo, C> as SupportedBackend>::DIALECT,
        )) {
            let statement = Shift::<Col, Id, V> {
                from: Col::Table::default().from_clause(),
                ids: chunk.to_vec(),
                offset,
                up,
            };
            let written = conn.execute(statement).await?;
            check_written::<Mo, Col, _, _>(conn, table, written, chunk.iter()).await?;
        }
        Ok(())
    }

    /// Writes `pairs`, a statement per [`rows_per_statement`] rows, and checks that each
    /// row was found.
    async fn assign<Mo, C, Id, V>(
        &self,
        conn: &mut C,
        table: &TableName,
        pairs: BTreeMap<Id, V>,
    ) -> Result<()>
    where
        C: ReassignOn<Mo, Col, Id, V, S>,
        Col: Column<Table: Default>,
        Id: Clone + Debug,
        V: Copy,
    {
        let pairs: Vec<(Id, V)> = pairs.into_iter().collect();
        for chunk in pairs.chunks(rows_per_statement(
            <BackendOf<Mo, C> as SupportedBackend>::DIALECT,
        )) {
            let statement = Assign::<Col, Id, V> {
                from: Col::Table::default().from_clause(),
                pairs: chunk.to_vec(),
            };
            let written = conn.execute(statement).await?;
            check_written::<Mo, Col, _, _>(conn, table, written, chunk.iter().map(|(id, _)| id))
                .await?;
        }
        Ok(())
    }
}

/// Fails unless a statement wrote every row it named. Only a concurrent writer can make it
/// fail: the rows were all found in the scope a moment before.
async fn check_written<'a, Mo, Col, C, Id>(
    conn: &mut C,
    table: &TableName,
    written: usize,
    ids: impl ExactSizeIterator<Item = &'a Id>,
) -> Result<()>
where
    Col: Column,
    C: Executor<Mo> + Load<Mo, IdsAsText<Col, Id>, (i64, String)>,
    Id: Clone + 'a,
{
    if written == ids.len() {
        return Ok(());
    }
    let rows = ids.cloned().collect();
    Err(Refusal::NotInScope { rows }
        .into_error::<Mo, Col, _>(conn, table)
        .await?)
}

/// A refusal naming rows by the caller's ids, before they are read back as text for the
/// [`Error`] (as every error names rows: [`RowId`]).
enum Refusal<Id> {
    DuplicateTarget {
        value: String,
        first: Id,
        second: Id,
    },
    DuplicateRow {
        row: Id,
    },
    ValueTaken {
        value: String,
        holder: Id,
    },
    NotInScope {
        rows: Vec<Id>,
    },
}

impl<Id> Refusal<Id> {
    /// The error, with the ids as the database writes them as text (one `SELECT` of the bound
    /// ids, which reads no table).
    async fn into_error<Mo, Col, C>(self, conn: &mut C, table: &TableName) -> Result<Error>
    where
        Col: Column,
        C: Executor<Mo> + Load<Mo, IdsAsText<Col, Id>, (i64, String)>,
    {
        let of = Arc::new(table.clone());
        let table = table.to_string();
        let column = Col::NAME;
        Ok(match self {
            Refusal::DuplicateTarget {
                value,
                first,
                second,
            } => {
                let mut ids = row_ids::<Mo, Col, _, _>(conn, &of, vec![first, second])
                    .await?
                    .into_iter();
                let (Some(first), Some(second)) = (ids.next(), ids.next()) else {
                    return Err(missing_id());
                };
                Error::DuplicateTarget {
                    table,
                    column,
                    value,
                    first,
                    second,
                }
            }
            Refusal::DuplicateRow { row } => Error::DuplicateRow {
                table,
                row: one_row_id::<Mo, Col, _, _>(conn, &of, row).await?,
            },
            Refusal::ValueTaken { value, holder } => Error::ValueTaken {
                table,
                column,
                value,
                holder: one_row_id::<Mo, Col, _, _>(conn, &of, holder).await?,
            },
            Refusal::NotInScope { rows } => Error::NotInScope {
                table,
                rows: row_ids::<Mo, Col, _, _>(conn, &of, rows).await?,
            },
        })
    }
}

/// `ids` of `table` as the database writes them as text, in order, a statement per
/// [`rows_per_statement`] ids.
async fn row_ids<Mo, Col, C, Id>(
    conn: &mut C,
    table: &Arc<TableName>,
    ids: Vec<Id>,
) -> Result<Vec<RowId>>
where
    Col: Column,
    C: Executor<Mo> + Load<Mo, IdsAsText<Col, Id>, (i64, String)>,
{
    let per_statement = rows_per_statement(<BackendOf<Mo, C> as SupportedBackend>::DIALECT);
    let mut ids = ids.into_iter().peekable();
    let mut texts = Vec::new();
    while ids.peek().is_some() {
        let chunk: Vec<Id> = ids.by_ref().take(per_statement).collect();
        let query = IdsAsText::<Col, Id> {
            ids: chunk,
            _column: PhantomData,
        };
        let mut rows: Vec<(i64, String)> = conn.load(query).await?;
        rows.sort_by_key(|(i, _)| *i);
        texts.extend(rows.into_iter().map(|(_, text)| RowId::of(table, text)));
    }
    Ok(texts)
}

async fn one_row_id<Mo, Col, C, Id>(conn: &mut C, table: &Arc<TableName>, id: Id) -> Result<RowId>
where
    Col: Column,
    C: Executor<Mo> + Load<Mo, IdsAsText<Col, Id>, (i64, String)>,
{
    row_ids::<Mo, Col, _, _>(conn, table, vec![id])
        .await?
        .pop()
        .ok_or_else(missing_id)
}

/// The database returned fewer ids than it was given: it never does.
fn missing_id() -> Error {
    Error::Diesel(diesel::result::Error::NotFound)
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

/// Decides the plan on PostgreSQL from the unique and exclusion indexes on the column: the
/// constraints to defer are named (schema-qualified), so the caller's other constraints keep
/// their mode. With [`Method::Auto`], an index that cannot be deferred means temporary
/// values; with [`Method::Deferred`], it is [`Error::NotDeferrable`].
async fn ask_catalog<Mo, Col, C>(conn: &mut C, table: &TableName, method: Method) -> Result<Plan>
where
    Col: Column,
    C: SqlConnection<Mo>,
{
    let indexes = constraints::covering(conn, table, Col::NAME).await?;
    if indexes.is_empty() {
        return Ok(Plan::Direct);
    }
    let mut deferrable = BTreeSet::new();
    for constraints::FoundConstraint {
        schema,
        name,
        deferrable: is_deferrable,
    } in indexes
    {
        if is_deferrable {
            let constraint = TableName {
                schema: Some(schema),
                name,
            };
            deferrable.insert(Dialect::Postgres.quote_table(&constraint));
        } else if method == Method::Deferred {
            // A plain unique index, or a constraint checked per row: no way to defer it.
            return Err(Error::NotDeferrable { constraint: name });
        } else {
            return Ok(Plan::Temporaries);
        }
    }
    Ok(Plan::Deferred(
        deferrable.into_iter().collect::<Vec<_>>().join(", "),
    ))
}

/// Rejects a row given twice and a value given to two rows, before any row is read.
fn validate<Id, V>(
    moves: impl IntoIterator<Item = (Id, V)>,
) -> std::result::Result<BTreeMap<Id, V>, Refusal<Id>>
where
    Id: Ord + Clone + Debug,
    V: ReassignValue,
{
    let mut by_row = BTreeMap::new();
    let mut by_value: BTreeMap<V, Id> = BTreeMap::new();
    for (id, new) in moves {
        if by_row.insert(id.clone(), new).is_some() {
            return Err(Refusal::DuplicateRow { row: id });
        }
        if let Some(first) = by_value.insert(new, id.clone()) {
            return Err(Refusal::DuplicateTarget {
                value: format!("{new:?}"),
                first,
                second: id,
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
    /// An offset that takes every value in `moving` (smallest, largest) beyond `range`
    /// (smallest, largest): above it, or, when the type has no room there, below it.
    /// `None` when the type has room on neither side.
    fn offset(moving: (Self, Self), range: (Self, Self)) -> Option<Offset<Self>>;

    /// `count` distinct values all above `range` or, when the type has no room there, all
    /// below it; `None` when it has room on neither side.
    fn temporaries(range: (Self, Self), count: usize) -> Option<Vec<Self>>;
}

/// How [`ReassignValue::offset`] moves values out of the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offset<V> {
    /// `value + d`.
    Up(V),
    /// `value - d`.
    Down(V),
}

macro_rules! reassign_value {
    ($($int:ty),*) => {$(
        impl ReassignValue for $int {
            fn offset((lo_moving, hi_moving): (Self, Self), (lo, hi): (Self, Self)) -> Option<Offset<Self>> {
                // up: the smallest moving value lands just above `hi`
                let up = hi.checked_sub(lo_moving).and_then(|d| d.checked_add(1));
                if let Some(d) = up.filter(|&d| hi_moving.checked_add(d).is_some()) {
                    return Some(Offset::Up(d));
                }
                // down: the largest moving value lands just below `lo`
                let down = hi_moving.checked_sub(lo).and_then(|d| d.checked_add(1));
                down.filter(|&d| lo_moving.checked_sub(d).is_some()).map(Offset::Down)
            }

            fn temporaries((min, max): (Self, Self), count: usize) -> Option<Vec<Self>> {
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
        assert_eq!(i32::temporaries((1, 9), 3), Some(vec![10, 11, 12]));
        assert_eq!(i8::temporaries((-5, 126), 2), Some(vec![-6, -7]));
        assert_eq!(u8::temporaries((0, 254), 1), Some(vec![255]));
        assert_eq!(u8::temporaries((0, 254), 2), None);
        assert_eq!(u8::temporaries((3, 255), 3), Some(vec![2, 1, 0]));
        assert_eq!(i16::temporaries((i16::MIN, i16::MAX), 1), None);
        assert_eq!(i8::temporaries((0, 0), 1000), None);
    }

    #[test]
    fn an_offset_takes_the_moving_values_past_the_range() {
        // 3..=5 moving within 1..=9: +7 puts 3 at 10 and 5 at 12
        assert_eq!(i32::offset((3, 5), (1, 9)), Some(Offset::Up(7)));
        // no room above 120 for 110 + 11: -(110 - 100 + 1) puts 110 at 99
        assert_eq!(i8::offset((100, 110), (100, 120)), Some(Offset::Down(11)));
        assert_eq!(u8::offset((0, 200), (0, 255)), None);
        assert_eq!(i16::offset((0, 1), (i16::MIN, i16::MAX)), None);
        // the whole domain's width does not fit the type: no offset, maybe temporaries
        assert_eq!(i16::offset((0, 32767), (-1, 32767)), None);
    }

    #[test]
    fn a_value_given_twice_is_rejected() {
        let refusal = validate::<i32, i32>([(1, 7), (2, 8), (3, 7)]);
        assert!(
            matches!(&refusal, Err(Refusal::DuplicateTarget { value, first: 1, second: 3 }) if value == "7"),
        );
    }

    #[test]
    fn a_row_given_twice_is_rejected() {
        let refusal = validate::<i32, i32>([(1, 7), (1, 8)]);
        assert!(matches!(refusal, Err(Refusal::DuplicateRow { row: 1 })));
    }

    #[test]
    fn a_row_given_twice_the_same_value_is_a_row_given_twice() {
        let refusal = validate::<i32, i32>([(1, 7), (1, 7)]);
        assert!(matches!(refusal, Err(Refusal::DuplicateRow { row: 1 })));
    }
}
