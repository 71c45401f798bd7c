//! The statements [`reassign`](super::reassign) runs on the reassigned table, as Diesel
//! queries typed by the table's columns (the catalog's questions are the SQL layer's:
//! [`crate::sql::constraints`]).
//!
//! The module is private; its types are `pub` because the bound of
//! [`Reassign::run`](super::Reassign::run) ([`ReassignOn`](super::ReassignOn)) names them, which
//! is how a generic function says "these statements can run on your connection". Every value
//! is bound, never spliced into the SQL, and every identifier comes from `table!` and is
//! quoted by Diesel.

use diesel::backend::Backend;
use diesel::expression::Expression;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::serialize::ToSql;
use diesel::sql_types::{HasSqlType, Nullable, Text};
use diesel::{Column, QueryResult, QuerySource, RunQueryDsl, Table};

use crate::backend::{Dialect, SupportedBackend};

/// The primary key column of the table of column `Col`.
pub(crate) type PrimaryKeyOf<Col> = <<Col as Column>::Table as Table>::PrimaryKey;
/// The SQL type of [`PrimaryKeyOf<Col>`].
pub(crate) type PrimaryKeySqlType<Col> = <PrimaryKeyOf<Col> as Expression>::SqlType;
/// The `FROM` clause of the table of column `Col`.
pub(crate) type FromClauseOf<Col> = <<Col as Column>::Table as QuerySource>::FromClause;

/// No restriction: [`reassign`](super::reassign) applies to the whole table.
#[derive(Debug, Clone, Copy, Default)]
pub struct WholeTable;

/// A restriction given to [`Reassign::within`](super::Reassign::within): rendered as
/// `AND (<filter>)` after the statements' own conditions.
#[derive(Debug, Clone, Copy)]
pub struct Within<F>(pub(crate) F);

impl<DB: Backend> QueryFragment<DB> for WholeTable {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        Ok(())
    }
}

impl<DB: Backend, F: QueryFragment<DB>> QueryFragment<DB> for Within<F> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(" AND (");
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// The rows being reassigned and the rows holding one of the new values, locked:
/// `SELECT pk, col FROM t WHERE (pk IN (...) OR [<live> AND] col IN (...)) AND (<scope>) FOR UPDATE`.
///
/// The lock keeps what the check found true until the writes, which name rows by primary key
/// only: another transaction cannot move a row out of the scope in between (PostgreSQL and
/// MySQL/MariaDB; a row moved before the lock is taken is read as it is now, out of the scope).
/// SQLite has no `FOR UPDATE` and needs none: the transaction's read keeps every other
/// connection from committing a write until it ends.
pub struct CurrentValues<Col: Column, Id, V, S> {
    pub(crate) from: FromClauseOf<Col>,
    pub(crate) ids: Vec<Id>,
    pub(crate) targets: Vec<V>,
    pub(crate) live: Option<fn(Dialect) -> String>,
    /// The live condition for the `.with_deleted()` trace, on a soft-deletable table.
    pub(crate) every_row: Option<fn(Dialect) -> String>,
    pub(crate) scope: S,
}

impl<Col: Column, Id, V, S> Query for CurrentValues<Col, Id, V, S>
where
    Col::Table: Table<PrimaryKey: Column>,
{
    type SqlType = (PrimaryKeySqlType<Col>, Col::SqlType);
}

impl<Col: Column, Id, V, S> QueryId for CurrentValues<Col, Id, V, S> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn, Col: Column, Id, V, S> RunQueryDsl<Conn> for CurrentValues<Col, Id, V, S> {}

impl<DB, Col, Id, V, S> QueryFragment<DB> for CurrentValues<Col, Id, V, S>
where
    DB: SupportedBackend + HasSqlType<PrimaryKeySqlType<Col>> + HasSqlType<Col::SqlType>,
    Col: Column<Table: Table<PrimaryKey: Column>>,
    FromClauseOf<Col>: QueryFragment<DB>,
    Id: ToSql<PrimaryKeySqlType<Col>, DB>,
    V: ToSql<Col::SqlType, DB>,
    S: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        let pk = <PrimaryKeyOf<Col> as Column>::NAME;
        out.push_sql("SELECT ");
        out.push_identifier(pk)?;
        out.push_sql(", ");
        out.push_identifier(Col::NAME)?;
        out.push_sql(" FROM ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" WHERE (");
        out.push_identifier(pk)?;
        out.push_sql(" IN (");
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<PrimaryKeySqlType<Col>, Id>(id)?;
        }
        out.push_sql(") OR ");
        if let Some(live) = self.live {
            out.push_sql("(");
            out.push_sql(&live(DB::DIALECT));
            out.push_sql(") AND ");
        }
        out.push_identifier(Col::NAME)?;
        out.push_sql(" IN (");
        for (i, value) in self.targets.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<Col::SqlType, V>(value)?;
        }
        out.push_sql("))");
        self.scope.walk_ast(out.reborrow())?;
        if let Some(live) = self.every_row {
            out.push_sql(" AND ");
            out.push_sql(&crate::query::with_deleted_sql(&live(DB::DIALECT)));
        }
        if DB::DIALECT != Dialect::Sqlite {
            out.push_sql(" FOR UPDATE");
        }
        Ok(())
    }
}

/// Primary keys given by the caller, read back as the database writes them as text: how an
/// error names them ([`RowId`](crate::RowId)). Touches no table:
/// `SELECT 0, CAST($1 AS TEXT) UNION ALL SELECT 1, CAST($2 AS TEXT) ...`, rows `(index, text)`.
pub struct IdsAsText<Col: Column, Id> {
    pub(crate) ids: Vec<Id>,
    pub(crate) _column: std::marker::PhantomData<Col>,
}

impl<Col: Column, Id> Query for IdsAsText<Col, Id> {
    type SqlType = (diesel::sql_types::BigInt, Text);
}

impl<Col: Column, Id> QueryId for IdsAsText<Col, Id> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn, Col: Column, Id> RunQueryDsl<Conn> for IdsAsText<Col, Id> {}

impl<DB, Col, Id> QueryFragment<DB> for IdsAsText<Col, Id>
where
    DB: SupportedBackend + HasSqlType<PrimaryKeySqlType<Col>>,
    Col: Column<Table: Table<PrimaryKey: Column>>,
    Id: ToSql<PrimaryKeySqlType<Col>, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        let (bigint, text) = match DB::DIALECT {
            Dialect::Mysql => ("SIGNED", "CHAR"),
            Dialect::Sqlite | Dialect::Postgres => ("BIGINT", "TEXT"),
        };
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                out.push_sql(" UNION ALL ");
            }
            out.push_sql(&format!("SELECT CAST({i} AS {bigint}), CAST("));
            out.push_bind_param::<PrimaryKeySqlType<Col>, Id>(id)?;
            out.push_sql(&format!(" AS {text})"));
        }
        Ok(())
    }
}

/// The smallest and largest value of a column over the whole table:
/// `SELECT MIN(col), MAX(col) FROM t [WHERE <trace>]`.
pub struct ColumnRange<Col: Column> {
    pub(crate) from: FromClauseOf<Col>,
    /// The live condition for the `.with_deleted()` trace, on a soft-deletable table.
    pub(crate) every_row: Option<fn(Dialect) -> String>,
}

impl<Col: Column> Query for ColumnRange<Col> {
    type SqlType = (Nullable<Col::SqlType>, Nullable<Col::SqlType>);
}

impl<Col: Column> QueryId for ColumnRange<Col> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn, Col: Column> RunQueryDsl<Conn> for ColumnRange<Col> {}

impl<DB, Col> QueryFragment<DB> for ColumnRange<Col>
where
    DB: SupportedBackend,
    Col: Column,
    FromClauseOf<Col>: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT MIN(");
        out.push_identifier(Col::NAME)?;
        out.push_sql("), MAX(");
        out.push_identifier(Col::NAME)?;
        out.push_sql(") FROM ");
        self.from.walk_ast(out.reborrow())?;
        if let Some(live) = self.every_row {
            out.push_sql(" WHERE ");
            out.push_sql(&crate::query::with_deleted_sql(&live(DB::DIALECT)));
        }
        Ok(())
    }
}

/// Sets `col` of each row named by its primary key to the value paired with it, in one
/// statement joined to a table of `(key, value)` pairs:
///
/// - PostgreSQL: `UPDATE t SET col = v.value FROM (VALUES ($1, $2), ...) AS v (key, value) WHERE t.pk = v.key`
/// - SQLite: `UPDATE t SET col = v.column2 FROM (VALUES (?, ?), ...) AS v WHERE t.pk = v.column1`
/// - MySQL/MariaDB: `UPDATE t INNER JOIN (SELECT ? AS key, ? AS value UNION ALL SELECT ?, ? ...) AS v ON t.pk = v.key SET t.col = v.value`
///
/// A join rather than `CASE pk WHEN ... END`, whose cost grows with the square of the
/// number of rows. The rows are named by primary key only: [`CurrentValues`] found them in
/// the scope, in the same transaction, and a scope may well depend on the value being
/// changed.
pub struct Assign<Col: Column, Id, V> {
    pub(crate) from: FromClauseOf<Col>,
    pub(crate) pairs: Vec<(Id, V)>,
}

impl<Col: Column, Id, V> QueryId for Assign<Col, Id, V> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn, Col: Column, Id, V> RunQueryDsl<Conn> for Assign<Col, Id, V> {}

const PAIRS: &str = "reassign";

impl<DB, Col, Id, V> QueryFragment<DB> for Assign<Col, Id, V>
where
    DB: SupportedBackend + HasSqlType<PrimaryKeySqlType<Col>> + HasSqlType<Col::SqlType>,
    Col: Column<Table: Table<PrimaryKey: Column>>,
    FromClauseOf<Col>: QueryFragment<DB>,
    Id: ToSql<PrimaryKeySqlType<Col>, DB>,
    V: ToSql<Col::SqlType, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        let pk = <PrimaryKeyOf<Col> as Column>::NAME;
        let (key, value) = match DB::DIALECT {
            Dialect::Sqlite => ("column1", "column2"),
            Dialect::Postgres | Dialect::Mysql => ("key", "value"),
        };
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        match DB::DIALECT {
            Dialect::Postgres | Dialect::Sqlite => {
                out.push_sql(" SET ");
                out.push_identifier(Col::NAME)?;
                out.push_sql(" = ");
                out.push_identifier(PAIRS)?;
                out.push_sql(".");
                out.push_identifier(value)?;
                out.push_sql(" FROM (VALUES ");
                for (i, (id, new)) in self.pairs.iter().enumerate() {
                    out.push_sql(if i == 0 { "(" } else { ", (" });
                    out.push_bind_param::<PrimaryKeySqlType<Col>, Id>(id)?;
                    out.push_sql(", ");
                    out.push_bind_param::<Col::SqlType, V>(new)?;
                    out.push_sql(")");
                }
                out.push_sql(") AS ");
                out.push_identifier(PAIRS)?;
                if DB::DIALECT == Dialect::Postgres {
                    out.push_sql(" (");
                    out.push_identifier(key)?;
                    out.push_sql(", ");
                    out.push_identifier(value)?;
                    out.push_sql(")");
                }
                out.push_sql(" WHERE ");
                self.from.walk_ast(out.reborrow())?;
                out.push_sql(".");
                out.push_identifier(pk)?;
                out.push_sql(" = ");
                out.push_identifier(PAIRS)?;
                out.push_sql(".");
                out.push_identifier(key)?;
            }
            Dialect::Mysql => {
                out.push_sql(" INNER JOIN (");
                for (i, (id, new)) in self.pairs.iter().enumerate() {
                    out.push_sql(if i == 0 {
                        "SELECT "
                    } else {
                        " UNION ALL SELECT "
                    });
                    out.push_bind_param::<PrimaryKeySqlType<Col>, Id>(id)?;
                    if i == 0 {
                        out.push_sql(" AS ");
                        out.push_identifier(key)?;
                    }
                    out.push_sql(", ");
                    out.push_bind_param::<Col::SqlType, V>(new)?;
                    if i == 0 {
                        out.push_sql(" AS ");
                        out.push_identifier(value)?;
                    }
                }
                out.push_sql(") AS ");
                out.push_identifier(PAIRS)?;
                out.push_sql(" ON ");
                self.from.walk_ast(out.reborrow())?;
                out.push_sql(".");
                out.push_identifier(pk)?;
                out.push_sql(" = ");
                out.push_identifier(PAIRS)?;
                out.push_sql(".");
                out.push_identifier(key)?;
                out.push_sql(" SET ");
                self.from.walk_ast(out.reborrow())?;
                out.push_sql(".");
                out.push_identifier(Col::NAME)?;
                out.push_sql(" = ");
                out.push_identifier(PAIRS)?;
                out.push_sql(".");
                out.push_identifier(value)?;
            }
        }
        Ok(())
    }
}

/// Moves `col` of each named row by a fixed offset, up or down:
/// `UPDATE t SET col = col + $1 WHERE pk IN (...)` (or `col - $1`).
///
/// The first phase of [`reassign`](super::reassign) through temporary values: one bound
/// offset instead of one bound value per row. Rows are named by primary key only, as in
/// [`Assign`].
pub struct Shift<Col: Column, Id, V> {
    pub(crate) from: FromClauseOf<Col>,
    pub(crate) ids: Vec<Id>,
    pub(crate) offset: V,
    pub(crate) up: bool,
}

impl<Col: Column, Id, V> QueryId for Shift<Col, Id, V> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Conn, Col: Column, Id, V> RunQueryDsl<Conn> for Shift<Col, Id, V> {}

impl<DB, Col, Id, V> QueryFragment<DB> for Shift<Col, Id, V>
where
    DB: Backend + HasSqlType<PrimaryKeySqlType<Col>> + HasSqlType<Col::SqlType>,
    Col: Column<Table: Table<PrimaryKey: Column>>,
    FromClauseOf<Col>: QueryFragment<DB>,
    Id: ToSql<PrimaryKeySqlType<Col>, DB>,
    V: ToSql<Col::SqlType, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.unsafe_to_cache_prepared();
        out.push_sql("UPDATE ");
        self.from.walk_ast(out.reborrow())?;
        out.push_sql(" SET ");
        out.push_identifier(Col::NAME)?;
        out.push_sql(" = ");
        out.push_identifier(Col::NAME)?;
        out.push_sql(if self.up { " + " } else { " - " });
        out.push_bind_param::<Col::SqlType, V>(&self.offset)?;
        out.push_sql(" WHERE ");
        out.push_identifier(<PrimaryKeyOf<Col> as Column>::NAME)?;
        out.push_sql(" IN (");
        for (i, id) in self.ids.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_bind_param::<PrimaryKeySqlType<Col>, Id>(id)?;
        }
        out.push_sql(")");
        Ok(())
    }
}
