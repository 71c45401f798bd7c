#![allow(dead_code)] // The old layer: what the purge still uses of it, until it moves onto `crate::sql`.
//! The SQL the collector runs, and what each backend does differently.
//!
//! Statements are rendered as text over tables known only at run time, so they are built
//! from parts: SQL text whose identifiers are quoted by [`Dialect::quote`], bound values
//! (never spliced into the text), and Diesel fragments such as the query selecting the
//! roots, which bring their own binds. [`Sql`] walks the parts as one Diesel
//! [`QueryFragment`], so Diesel numbers the placeholders and caches the prepared statement.
//!
//! [`CollectorBackend`] is the one place where a backend's Rust types matter: how a batch's
//! timestamp is bound, how rows are loaded, and how the catalog is read. Catalog reads that
//! differ only in their SQL text (where a name resolves, whether the journal exists, whether
//! a MySQL table can roll back), used by the collector and the [purge](crate::purge) alike,
//! are functions here over `load_keys`.

use chrono::{DateTime, Utc};
use diesel::backend::Backend;
use diesel::connection::LoadConnection;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryResult, RunQueryDsl};

use super::graph::{KeyKind, Node, SoftInfo, StampKind};
use crate::backend::{Dialect, SupportedBackend, TableName};
use crate::table::StrategyKind;
use crate::Error;

/// A bound value, boxed as the Diesel fragment that binds it.
pub(crate) type Bind<'a, DB> = Box<dyn QueryFragment<DB> + 'a>;

enum Part<'a, DB: Backend> {
    Text(String),
    Bind(Bind<'a, DB>),
    Fragment(&'a dyn QueryFragment<DB>),
}

/// A statement built from SQL text, binds and Diesel fragments, in order.
pub struct Sql<'a, DB: Backend> {
    parts: Vec<Part<'a, DB>>,
}

impl<'a, DB: Backend> Sql<'a, DB> {
    /// An empty statement.
    pub(crate) fn new() -> Self {
        Sql { parts: Vec::new() }
    }

    /// Appends SQL text (identifiers in it must already be quoted).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Text(text)) => text.push_str(sql),
            _ => self.parts.push(Part::Text(sql.to_owned())),
        }
        self
    }

    /// Appends a bound value's placeholder.
    pub(crate) fn bind(&mut self, bind: Bind<'a, DB>) -> &mut Self {
        self.parts.push(Part::Bind(bind));
        self
    }

    /// Appends a Diesel fragment, with its own binds.
    pub(crate) fn fragment(&mut self, fragment: &'a dyn QueryFragment<DB>) -> &mut Self {
        self.parts.push(Part::Fragment(fragment));
        self
    }

    /// Appends the parts of `other`.
    pub(crate) fn append(&mut self, other: Sql<'a, DB>) -> &mut Self {
        for part in other.parts {
            match part {
                Part::Text(text) => {
                    self.push(&text);
                }
                part => self.parts.push(part),
            }
        }
        self
    }
}

impl<DB: Backend> QueryFragment<DB> for Sql<'_, DB> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_sql(text),
                Part::Bind(bind) => bind.walk_ast(out.reborrow())?,
                Part::Fragment(fragment) => fragment.walk_ast(out.reborrow())?,
            }
        }
        Ok(())
    }
}

impl<DB: Backend> QueryId for Sql<'_, DB> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, Conn> RunQueryDsl<Conn> for Sql<'_, DB> {}

/// A [`Sql`] statement returning rows of SQL type `ST`, for loading.
pub(crate) struct Typed<'a, DB: Backend, ST> {
    sql: Sql<'a, DB>,
    _st: std::marker::PhantomData<ST>,
}

impl<'a, DB: Backend, ST> Typed<'a, DB, ST> {
    /// `sql`, returning rows of type `ST`.
    pub(crate) fn new(sql: Sql<'a, DB>) -> Self {
        Typed {
            sql,
            _st: std::marker::PhantomData,
        }
    }
}

impl<DB: Backend, ST> QueryFragment<DB> for Typed<'_, DB, ST> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.sql.walk_ast(out)
    }
}

impl<DB: Backend, ST> QueryId for Typed<'_, DB, ST> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, ST: 'static> Query for Typed<'_, DB, ST> {
    type SqlType = ST;
}

impl<DB: Backend, ST, Conn> RunQueryDsl<Conn> for Typed<'_, DB, ST> {}

/// A foreign key read from the database's catalog, one row per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogForeignKey {
    /// The constraint's name (SQLite: its index in `PRAGMA foreign_key_list`).
    pub constraint: String,
    /// The referencing table.
    pub child: TableName,
    /// The referencing column.
    pub column: String,
    /// The referenced table.
    pub parent: TableName,
    /// The referenced column, when the catalog names it (SQLite leaves it out for a key
    /// that references the primary key).
    pub parent_column: Option<String>,
    /// The column's position in a multi-column key (0 for the first).
    pub position: i64,
}

/// What `set_default` writes: the `DEFAULT` keyword, or the literal SQLite's catalog gives.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnDefault {
    /// `DEFAULT` in the statement (PostgreSQL, MySQL).
    Keyword,
    /// No default, or `DEFAULT NULL`.
    Null,
    /// An integer literal.
    Integer(i64),
    /// A string literal.
    Text(String),
}

/// A Diesel backend the collector runs on: SQLite, PostgreSQL and MySQL/MariaDB.
///
/// Its methods are the collector's internals (binding a stamp, loading rows, reading the
/// catalog), implemented once per backend.
pub trait CollectorBackend: SupportedBackend + Sized + 'static {
    /// Binds a batch's timestamp for a column of `kind`.
    #[doc(hidden)]
    fn bind_stamp<'a>(kind: StampKind, at: DateTime<Utc>) -> Result<Bind<'a, Self>, Error>;

    /// Binds an integer.
    #[doc(hidden)]
    fn bind_i64<'a>(value: i64) -> Bind<'a, Self>;

    /// Binds a text value (or NULL).
    #[doc(hidden)]
    fn bind_text<'a>(value: Option<String>) -> Bind<'a, Self>;

    /// Loads `(key as text, total count)` rows.
    #[doc(hidden)]
    fn load_keys<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        sql: Sql<'_, Self>,
    ) -> QueryResult<Vec<(String, i64)>>;

    /// Loads `(text, text, text, integer)` rows: the pairs of rows an active-unique check
    /// finds on one key.
    #[doc(hidden)]
    fn load_clashes<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        sql: Sql<'_, Self>,
    ) -> QueryResult<Vec<(String, String, String, i64)>>;

    /// Loads rows of the archive log.
    #[doc(hidden)]
    fn load_log<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        sql: Sql<'_, Self>,
    ) -> QueryResult<Vec<crate::sql::LogRow>>;

    /// Reads the default of `table.column` (SQLite: from `PRAGMA table_info`).
    #[doc(hidden)]
    fn column_default<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
        column: &str,
    ) -> Result<ColumnDefault, Error>;

    /// The foreign keys whose referencing or referenced table is `table`.
    #[doc(hidden)]
    fn foreign_keys<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<CatalogForeignKey>>;

    /// The first column of every index of `table` that covers all its rows (its primary
    /// key, unique keys and plain indexes; not a partial index), from the catalog: the
    /// columns a lookup by value can be served by.
    #[doc(hidden)]
    fn leading_index_columns<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<String>>;

    /// The fractional digits of a second that timestamp column `table.column` keeps, from the
    /// catalog; `None` when every value is kept as written (SQLite stores text) or the catalog
    /// does not know the column.
    #[doc(hidden)]
    fn stamp_precision<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
        column: &str,
    ) -> QueryResult<Option<u32>>;
}

fn bind<'a, DB, ST, V>(value: V) -> Bind<'a, DB>
where
    DB: Backend + diesel::sql_types::HasSqlType<ST>,
    ST: diesel::sql_types::SqlType + diesel::sql_types::SingleValue,
    V: diesel::expression::AsExpression<ST>,
    V::Expression: QueryFragment<DB> + 'a,
{
    Box::new(value.as_expression())
}

macro_rules! common_binds {
    ($db:ty) => {
        fn bind_i64<'a>(value: i64) -> Bind<'a, Self> {
            bind::<$db, BigInt, _>(value)
        }

        fn bind_text<'a>(value: Option<String>) -> Bind<'a, Self> {
            bind::<$db, Nullable<Text>, _>(value)
        }

        fn load_keys<C: LoadConnection<Backend = Self>>(
            conn: &mut C,
            sql: Sql<'_, Self>,
        ) -> QueryResult<Vec<(String, i64)>> {
            Typed::<Self, (Text, BigInt)>::new(sql).load(conn)
        }

        fn load_clashes<C: LoadConnection<Backend = Self>>(
            conn: &mut C,
            sql: Sql<'_, Self>,
        ) -> QueryResult<Vec<(String, String, String, i64)>> {
            Typed::<Self, (Text, Text, Text, BigInt)>::new(sql).load(conn)
        }

        fn load_log<C: LoadConnection<Backend = Self>>(
            conn: &mut C,
            sql: Sql<'_, Self>,
        ) -> QueryResult<Vec<crate::sql::LogRow>> {
            use diesel::sql_types::Timestamp;
            Typed::<
                Self,
                (
                    BigInt,
                    Timestamp,
                    Text,
                    Nullable<Text>,
                    BigInt,
                    Nullable<Text>,
                    Nullable<Text>,
                    Text,
                    Nullable<Timestamp>,
                    Nullable<Text>,
                ),
            >::new(sql)
            .load(conn)
        }
    };
}

#[derive(diesel::QueryableByName)]
struct CatalogRow {
    #[diesel(sql_type = Text)]
    constraint_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    child_schema: Option<String>,
    #[diesel(sql_type = Text)]
    child_table: String,
    #[diesel(sql_type = Text)]
    child_column: String,
    #[diesel(sql_type = Nullable<Text>)]
    parent_schema: Option<String>,
    #[diesel(sql_type = Text)]
    parent_table: String,
    #[diesel(sql_type = Nullable<Text>)]
    parent_column: Option<String>,
    #[diesel(sql_type = BigInt)]
    position: i64,
}

impl CatalogRow {
    fn into_foreign_key(self) -> CatalogForeignKey {
        CatalogForeignKey {
            constraint: self.constraint_name,
            child: TableName {
                schema: self.child_schema,
                name: self.child_table,
            },
            column: self.child_column,
            parent: TableName {
                schema: self.parent_schema,
                name: self.parent_table,
            },
            parent_column: self.parent_column,
            position: self.position,
        }
    }
}

/// A column read from the catalog (NULL for an expression's part of an index).
#[derive(diesel::QueryableByName)]
struct IndexColumnRow {
    #[diesel(sql_type = Nullable<Text>)]
    column_name: Option<String>,
}

/// The columns of `rows`, once each.
fn index_columns(rows: Vec<IndexColumnRow>) -> Vec<String> {
    let mut columns: Vec<String> = Vec::new();
    for column in rows.into_iter().filter_map(|r| r.column_name) {
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    columns
}

#[derive(diesel::QueryableByName)]
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
struct PrecisionRow {
    #[diesel(sql_type = Nullable<BigInt>)]
    digits: Option<i64>,
}

/// The first row's digits, if any, as a count of digits.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
fn digits(rows: Vec<PrecisionRow>) -> Option<u32> {
    rows.into_iter()
        .next()
        .and_then(|row| row.digits)
        .and_then(|digits| u32::try_from(digits).ok())
}

#[derive(diesel::QueryableByName)]
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
struct DefaultRow {
    #[diesel(sql_type = Nullable<Text>)]
    dflt_value: Option<String>,
}

#[cfg(feature = "sqlite")]
impl CollectorBackend for diesel::sqlite::Sqlite {
    fn bind_stamp<'a>(kind: StampKind, at: DateTime<Utc>) -> Result<Bind<'a, Self>, Error> {
        use diesel::sql_types::{Timestamp, TimestamptzSqlite};
        Ok(match kind {
            StampKind::Naive => bind::<Self, Timestamp, _>(at.naive_utc()),
            StampKind::Utc => bind::<Self, TimestamptzSqlite, _>(at),
        })
    }

    common_binds!(diesel::sqlite::Sqlite);

    fn column_default<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
        column: &str,
    ) -> Result<ColumnDefault, Error> {
        // The table and column are bound, not spliced: pragma_table_info takes them as values.
        let rows: Vec<DefaultRow> = diesel::sql_query(
            "SELECT dflt_value FROM pragma_table_info(?, COALESCE(?, 'main')) WHERE name = ?",
        )
        .bind::<Text, _>(&table.name)
        .bind::<Nullable<Text>, _>(&table.schema)
        .bind::<Text, _>(column)
        .load(conn)?;
        let literal = rows.into_iter().next().and_then(|row| row.dflt_value);
        parse_sqlite_default(literal.as_deref()).ok_or(Error::Unsupported {
            feature: "`set_default` on a column whose default is not a literal",
            dialect: Dialect::Sqlite,
        })
    }

    fn foreign_keys<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<CatalogForeignKey>> {
        // Every table's keys, through the table-valued pragma: the names come from the
        // catalog as values and are never put into the SQL text.
        let rows: Vec<CatalogRow> = diesel::sql_query(
            "SELECT CAST(f.id AS TEXT) AS constraint_name, NULL AS child_schema, \
                    m.name AS child_table, f.`from` AS child_column, \
                    NULL AS parent_schema, f.`table` AS parent_table, \
                    f.`to` AS parent_column, f.seq AS position \
             FROM sqlite_schema AS m JOIN pragma_foreign_key_list(m.name) AS f \
             WHERE m.type = 'table' AND (m.name = ? OR f.`table` = ?) \
             ORDER BY m.name, f.id, f.seq",
        )
        .bind::<Text, _>(&table.name)
        .bind::<Text, _>(&table.name)
        .load(conn)?;
        Ok(rows.into_iter().map(CatalogRow::into_foreign_key).collect())
    }

    fn leading_index_columns<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<String>> {
        // An `INTEGER PRIMARY KEY` is the rowid, listed by `table_info` but by no index.
        let rows: Vec<IndexColumnRow> = diesel::sql_query(
            "SELECT i.name AS column_name \
             FROM pragma_index_list(?) AS l JOIN pragma_index_info(l.name) AS i \
             WHERE i.seqno = 0 AND l.partial = 0 \
             UNION ALL \
             SELECT c.name AS column_name FROM pragma_table_info(?) AS c WHERE c.pk = 1",
        )
        .bind::<Text, _>(&table.name)
        .bind::<Text, _>(&table.name)
        .load(conn)?;
        Ok(index_columns(rows))
    }

    fn stamp_precision<C: LoadConnection<Backend = Self>>(
        _: &mut C,
        _: &TableName,
        _: &str,
    ) -> QueryResult<Option<u32>> {
        // Diesel writes a timestamp as text with every fractional digit, and text keeps it.
        Ok(None)
    }
}

#[cfg(feature = "postgres")]
impl CollectorBackend for diesel::pg::Pg {
    fn bind_stamp<'a>(kind: StampKind, at: DateTime<Utc>) -> Result<Bind<'a, Self>, Error> {
        use diesel::sql_types::{Timestamp, Timestamptz};
        Ok(match kind {
            StampKind::Naive => bind::<Self, Timestamp, _>(at.naive_utc()),
            StampKind::Utc => bind::<Self, Timestamptz, _>(at),
        })
    }

    common_binds!(diesel::pg::Pg);

    fn column_default<C: LoadConnection<Backend = Self>>(
        _: &mut C,
        _: &TableName,
        _: &str,
    ) -> Result<ColumnDefault, Error> {
        Ok(ColumnDefault::Keyword)
    }

    fn foreign_keys<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<CatalogForeignKey>> {
        let rows: Vec<CatalogRow> = diesel::sql_query(
            "SELECT con.conname::text AS constraint_name, \
                    cn.nspname::text AS child_schema, c.relname::text AS child_table, \
                    ca.attname::text AS child_column, \
                    pn.nspname::text AS parent_schema, p.relname::text AS parent_table, \
                    pa.attname::text AS parent_column, (k.ord - 1)::bigint AS position \
             FROM pg_constraint AS con \
             JOIN pg_class AS c ON c.oid = con.conrelid \
             JOIN pg_namespace AS cn ON cn.oid = c.relnamespace \
             JOIN pg_class AS p ON p.oid = con.confrelid \
             JOIN pg_namespace AS pn ON pn.oid = p.relnamespace \
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord) \
             JOIN pg_attribute AS ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att \
             JOIN pg_attribute AS pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_att \
             WHERE con.contype = 'f' \
               AND to_regclass(CASE WHEN $2 IS NULL THEN quote_ident($1) \
                                    ELSE quote_ident($2) || '.' || quote_ident($1) END) \
                   IN (con.conrelid, con.confrelid) \
             ORDER BY cn.nspname, c.relname, con.conname, k.ord",
        )
        .bind::<Text, _>(&table.name)
        .bind::<Nullable<Text>, _>(&table.schema)
        .load(conn)?;
        Ok(rows.into_iter().map(CatalogRow::into_foreign_key).collect())
    }

    fn leading_index_columns<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<String>> {
        let rows: Vec<IndexColumnRow> = diesel::sql_query(
            "SELECT a.attname::text AS column_name \
             FROM pg_index AS i \
             JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
             WHERE i.indrelid = to_regclass(CASE WHEN $2 IS NULL THEN quote_ident($1) \
                                          ELSE quote_ident($2) || '.' || quote_ident($1) END) \
               AND i.indpred IS NULL AND i.indisvalid",
        )
        .bind::<Text, _>(&table.name)
        .bind::<Nullable<Text>, _>(&table.schema)
        .load(conn)?;
        Ok(index_columns(rows))
    }

    fn stamp_precision<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
        column: &str,
    ) -> QueryResult<Option<u32>> {
        // The table is resolved as the statements name it (through the search path when it has
        // no schema); `atttypmod` of `timestamp(p)` is p, and -1 (six digits) without one.
        let rows: Vec<PrecisionRow> = diesel::sql_query(
            "SELECT CAST(CASE WHEN a.atttypmod < 0 THEN 6 ELSE a.atttypmod END AS BIGINT) AS digits \
             FROM pg_attribute AS a \
             WHERE a.attrelid = to_regclass(CASE WHEN $2 IS NULL THEN quote_ident($1) \
                                             ELSE quote_ident($2) || '.' || quote_ident($1) END) \
               AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind::<Text, _>(&table.name)
        .bind::<Nullable<Text>, _>(&table.schema)
        .bind::<Text, _>(column)
        .load(conn)?;
        Ok(digits(rows))
    }
}

#[cfg(feature = "mysql")]
impl CollectorBackend for diesel::mysql::Mysql {
    fn bind_stamp<'a>(kind: StampKind, at: DateTime<Utc>) -> Result<Bind<'a, Self>, Error> {
        // MySQL has no type for an instant: a column of one holds the UTC wall-clock time
        // (`DATETIME`), or reads it in the session's time zone, UTC while a batch is written
        // or restored (`TIMESTAMP`).
        match kind {
            StampKind::Naive | StampKind::Utc => {
                Ok(bind::<Self, diesel::sql_types::Datetime, _>(at.naive_utc()))
            }
        }
    }

    common_binds!(diesel::mysql::Mysql);

    fn column_default<C: LoadConnection<Backend = Self>>(
        _: &mut C,
        _: &TableName,
        _: &str,
    ) -> Result<ColumnDefault, Error> {
        Ok(ColumnDefault::Keyword)
    }

    fn foreign_keys<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<CatalogForeignKey>> {
        // Only the keys of tables in the table's own database: with the referencing table's
        // schema a constant, MariaDB opens the tables of that database alone. A search by
        // the referenced table over every database opens every table of the server, and so
        // waits for any DDL pending anywhere on it (a `DROP DATABASE` queued behind an open
        // transaction holds every such read until that transaction ends).
        let rows: Vec<CatalogRow> = diesel::sql_query(
            "SELECT CONVERT(k.CONSTRAINT_NAME USING utf8mb4) AS constraint_name, \
                    CONVERT(k.TABLE_SCHEMA USING utf8mb4) AS child_schema, \
                    CONVERT(k.TABLE_NAME USING utf8mb4) AS child_table, \
                    CONVERT(k.COLUMN_NAME USING utf8mb4) AS child_column, \
                    CONVERT(k.REFERENCED_TABLE_SCHEMA USING utf8mb4) AS parent_schema, \
                    CONVERT(k.REFERENCED_TABLE_NAME USING utf8mb4) AS parent_table, \
                    CONVERT(k.REFERENCED_COLUMN_NAME USING utf8mb4) AS parent_column, \
                    CAST(k.ORDINAL_POSITION - 1 AS SIGNED) AS position \
             FROM information_schema.KEY_COLUMN_USAGE AS k \
             WHERE k.REFERENCED_TABLE_NAME IS NOT NULL \
               AND k.TABLE_SCHEMA = COALESCE(?, DATABASE()) \
               AND (k.TABLE_NAME = ? \
                 OR (k.REFERENCED_TABLE_SCHEMA = COALESCE(?, DATABASE()) AND k.REFERENCED_TABLE_NAME = ?)) \
             ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
        )
        .bind::<Nullable<Text>, _>(&table.schema)
        .bind::<Text, _>(&table.name)
        .bind::<Nullable<Text>, _>(&table.schema)
        .bind::<Text, _>(&table.name)
        .load(conn)?;
        Ok(rows.into_iter().map(CatalogRow::into_foreign_key).collect())
    }

    fn leading_index_columns<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
    ) -> QueryResult<Vec<String>> {
        // InnoDB indexes every foreign key's columns (creating an index when none leads
        // with them), so a foreign key's column is listed here.
        let rows: Vec<IndexColumnRow> = diesel::sql_query(
            "SELECT CONVERT(s.COLUMN_NAME USING utf8mb4) AS column_name \
             FROM information_schema.STATISTICS AS s \
             WHERE s.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND s.TABLE_NAME = ? \
               AND s.SEQ_IN_INDEX = 1",
        )
        .bind::<Nullable<Text>, _>(&table.schema)
        .bind::<Text, _>(&table.name)
        .load(conn)?;
        Ok(index_columns(rows))
    }

    fn stamp_precision<C: LoadConnection<Backend = Self>>(
        conn: &mut C,
        table: &TableName,
        column: &str,
    ) -> QueryResult<Option<u32>> {
        let rows: Vec<PrecisionRow> = diesel::sql_query(
            "SELECT CAST(c.DATETIME_PRECISION AS SIGNED) AS digits \
             FROM information_schema.COLUMNS AS c \
             WHERE c.TABLE_SCHEMA = COALESCE(?, DATABASE()) AND c.TABLE_NAME = ? AND c.COLUMN_NAME = ?",
        )
        .bind::<Nullable<Text>, _>(&table.schema)
        .bind::<Text, _>(&table.name)
        .bind::<Text, _>(column)
        .load(conn)?;
        Ok(digits(rows))
    }
}

/// Reads SQLite's `dflt_value`: the text of the default expression. Literals become
/// values to bind; anything else (an expression) is `None`.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
fn parse_sqlite_default(text: Option<&str>) -> Option<ColumnDefault> {
    let Some(text) = text.map(str::trim) else {
        return Some(ColumnDefault::Null);
    };
    let unparenthesised = text
        .strip_prefix('(')
        .and_then(|t| t.strip_suffix(')'))
        .map_or(text, str::trim);
    if unparenthesised.eq_ignore_ascii_case("null") {
        return Some(ColumnDefault::Null);
    }
    if let Ok(value) = unparenthesised.parse::<i64>() {
        return Some(ColumnDefault::Integer(value));
    }
    let inner = unparenthesised
        .strip_prefix('\'')
        .and_then(|t| t.strip_suffix('\''))?;
    // Inside a string literal a quote is doubled; a lone quote means this was not one literal.
    let mut value = String::with_capacity(inner.len());
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' && chars.next() != Some('\'') {
            return None;
        }
        value.push(c);
    }
    Some(ColumnDefault::Text(value))
}

/// Refuses `feature` (something that must roll back as a whole: a preview, an archive, a
/// restore, a dry run) when one of `tables` is a MySQL table whose engine ignores a rollback
/// (MyISAM, Aria, MEMORY, ...), where its writes would stay. One catalog query for all of
/// them; other backends always roll back.
pub(crate) fn refuse_without_transactions<'t, C>(
    conn: &mut C,
    tables: impl IntoIterator<Item = &'t TableName>,
    feature: &'static str,
) -> Result<(), Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    if C::Backend::DIALECT != Dialect::Mysql {
        return Ok(());
    }
    let mut sql = Sql::<C::Backend>::new();
    sql.push(
        "SELECT CONVERT(TABLE_NAME USING utf8mb4), CAST(0 AS SIGNED) \
         FROM information_schema.TABLES WHERE ENGINE IS NOT NULL \
         AND ENGINE NOT IN ('InnoDB', 'RocksDB', 'TokuDB') AND (FALSE",
    );
    for table in tables {
        sql.push(" OR (TABLE_SCHEMA = COALESCE(")
            .bind(C::Backend::bind_text(table.schema.clone()))
            .push(", DATABASE()) AND TABLE_NAME = ")
            .bind(C::Backend::bind_text(Some(table.name.clone())))
            .push(")");
    }
    sql.push(")");
    if C::Backend::load_keys(conn, sql)?.is_empty() {
        Ok(())
    } else {
        Err(Error::Unsupported {
            feature,
            dialect: Dialect::Mysql,
        })
    }
}

/// Runs `f` with the session's time zone set to UTC on MySQL/MariaDB, and sets it back
/// afterwards, also when `f` fails; on other backends just runs `f`.
///
/// A batch's stamp is a UTC instant bound as a wall-clock time. A MySQL `DATETIME` keeps it
/// as it is, but a `TIMESTAMP` reads it in the session's time zone: in a zone with daylight
/// saving time a stamp in the spring-forward gap does not exist (MariaDB refuses it, MySQL
/// shifts it, and `deleted_at = ?` then misses the rows just archived), and two sessions in
/// different zones would store and look for different instants. In UTC every stamp exists
/// and means one instant.
pub(crate) fn in_utc<C, R>(
    conn: &mut C,
    f: impl FnOnce(&mut C) -> Result<R, Error>,
) -> Result<R, Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    if C::Backend::DIALECT != Dialect::Mysql {
        return f(conn);
    }
    let mut read = Sql::<C::Backend>::new();
    read.push("SELECT CONVERT(@@session.time_zone USING utf8mb4), CAST(0 AS SIGNED)");
    let zone = C::Backend::load_keys(conn, read)?
        .into_iter()
        .next()
        .map(|(zone, _)| zone)
        .unwrap_or_default();
    if zone == "+00:00" {
        return f(conn);
    }
    let mut utc = Sql::<C::Backend>::new();
    utc.push("SET time_zone = '+00:00'");
    utc.execute(conn)?;
    let result = f(conn);
    let mut back = Sql::<C::Backend>::new();
    back.push("SET time_zone = ")
        .bind(C::Backend::bind_text(Some(zone)));
    let restored = back.execute(conn);
    let value = result?;
    restored?;
    Ok(value)
}

/// `name` as the database resolves it: with the schema an unqualified name stands for
/// (PostgreSQL: the first schema of the search path holding it; MySQL: the current
/// database). SQLite's catalog names tables of the main database without a schema, so a name
/// stays as it is there, and so does a table that does not exist.
pub(crate) fn resolve<C>(conn: &mut C, d: Dialected, name: &TableName) -> Result<TableName, Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    let mut sql = Sql::<C::Backend>::new();
    match d.0 {
        Dialect::Sqlite => return Ok(name.clone()),
        Dialect::Postgres => {
            sql.push(
                "SELECT n.nspname::text, 0::bigint FROM pg_class AS c \
                 JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = to_regclass(",
            )
            .bind(C::Backend::bind_text(Some(d.0.quote_table(name))))
            .push(")");
        }
        Dialect::Mysql => {
            // The catalog's spelling: with `lower_case_table_names` it differs from the
            // model's, and the foreign keys are read in the catalog's.
            sql.push(
                "SELECT CONVERT(TABLE_SCHEMA USING utf8mb4), CONVERT(TABLE_NAME USING utf8mb4), \
                 '', CAST(0 AS SIGNED) FROM information_schema.TABLES \
                 WHERE TABLE_SCHEMA = COALESCE(",
            )
            .bind(C::Backend::bind_text(name.schema.clone()))
            .push(", DATABASE()) AND TABLE_NAME = ")
            .bind(C::Backend::bind_text(Some(name.name.clone())));
            let rows = C::Backend::load_clashes(conn, sql)?;
            return Ok(match rows.into_iter().next() {
                Some((schema, table, ..)) => TableName {
                    schema: Some(schema),
                    name: table,
                },
                None => name.clone(),
            });
        }
    }
    let rows = C::Backend::load_keys(conn, sql)?;
    Ok(match rows.into_iter().next() {
        Some((schema, _)) => TableName {
            schema: Some(schema),
            name: name.name.clone(),
        },
        None => name.clone(),
    })
}

/// Whether the archive journal's table exists (on the connection's search path or database).
pub(crate) fn journal_exists<C>(conn: &mut C, d: Dialected) -> Result<bool, Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    table_exists(conn, d, crate::ddl::journal::TABLE)
}

/// Whether table `name` exists (on the connection's search path or database).
pub(crate) fn table_exists<C>(conn: &mut C, d: Dialected, name: &str) -> Result<bool, Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    let mut sql = Sql::<C::Backend>::new();
    sql.push(match d.0 {
        Dialect::Sqlite => {
            "SELECT '', COUNT(*) FROM sqlite_schema WHERE type = 'table' AND name = "
        }
        Dialect::Postgres => {
            "SELECT '', COUNT(*) FROM pg_class WHERE oid = to_regclass(quote_ident("
        }
        Dialect::Mysql => {
            "SELECT '', COUNT(*) FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = "
        }
    })
    .bind(C::Backend::bind_text(Some(name.to_owned())))
    .push(if d.0 == Dialect::Postgres { "))" } else { "" });
    let rows = C::Backend::load_keys(conn, sql)?;
    Ok(rows.first().is_some_and(|(_, n)| *n > 0))
}

/// SQL text pieces for one dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialected(pub(crate) Dialect);

impl Dialected {
    pub(crate) fn quote(self, ident: &str) -> String {
        self.0.quote(ident)
    }

    pub(crate) fn table(self, node: &Node) -> String {
        self.0.quote_table(&node.name)
    }

    /// `CAST(expr AS TEXT)`.
    pub(crate) fn cast_to_text(self, expr: &str) -> String {
        self.0.cast_to_text(expr)
    }

    /// The text expressions `parts` joined into one: `a || b` (`CONCAT(a, b)` on MySQL).
    pub(crate) fn concat(self, parts: &[String]) -> String {
        match self.0 {
            Dialect::Mysql => format!("CONCAT({})", parts.join(", ")),
            Dialect::Sqlite | Dialect::Postgres => parts.join(" || "),
        }
    }

    /// The integer literal `value`, typed `BIGINT`.
    pub(crate) fn bigint(self, value: i64) -> String {
        match self.0 {
            Dialect::Mysql => format!("CAST({value} AS SIGNED)"),
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({value} AS BIGINT)"),
        }
    }

    /// `CAST(expr AS <key type>)`, for text read back from the journal.
    pub(crate) fn cast_from_text(self, expr: &str, kind: KeyKind) -> String {
        format!("CAST({expr} AS {})", self.key_type(kind))
    }

    /// The type a key of `kind` is cast to from text.
    pub(crate) fn key_type(self, kind: KeyKind) -> &'static str {
        match (self.0, kind) {
            (Dialect::Postgres, KeyKind::SmallInt) => "SMALLINT",
            (Dialect::Postgres, KeyKind::Integer) => "INTEGER",
            (Dialect::Postgres, KeyKind::BigInt | KeyKind::Unsigned) => "BIGINT",
            (Dialect::Postgres, KeyKind::Text) => "TEXT",
            (Dialect::Postgres, KeyKind::Uuid) => "UUID",
            (Dialect::Sqlite, KeyKind::Text | KeyKind::Uuid) => "TEXT",
            (Dialect::Sqlite, _) => "INTEGER",
            (Dialect::Mysql, KeyKind::Text | KeyKind::Uuid) => "CHAR",
            (Dialect::Mysql, KeyKind::Unsigned) => "UNSIGNED",
            (Dialect::Mysql, _) => "SIGNED",
        }
    }

    /// `a IS NOT DISTINCT FROM b`: equal, with NULL equal to NULL.
    pub(crate) fn same(self, a: &str, b: &str) -> String {
        match self.0 {
            Dialect::Postgres => format!("{a} IS NOT DISTINCT FROM {b}"),
            Dialect::Sqlite => format!("{a} IS {b}"),
            Dialect::Mysql => format!("{a} <=> {b}"),
        }
    }
}

/// The batch being written or restored: its timestamp and its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchValues {
    pub(crate) stamp: DateTime<Utc>,
    pub(crate) id: i64,
}

/// The `SET` list that archives a row of `soft` as part of `batch`.
pub(crate) fn mark<DB: CollectorBackend>(
    sql: &mut Sql<'_, DB>,
    d: Dialected,
    soft: &SoftInfo,
    batch: BatchValues,
) -> Result<(), Error> {
    let mut items = Vec::new();
    let marker = d.quote(soft.marker);
    match soft.strategy {
        StrategyKind::Timestamp => {}
        StrategyKind::DeletedFlag => items.push((format!("{marker} = TRUE"), None)),
        StrategyKind::ActiveFlag => items.push((format!("{marker} = FALSE"), None)),
    }
    if let Some(stamp) = soft.columns.stamp {
        items.push((
            format!("{} = ", d.quote(stamp.name)),
            Some(DB::bind_stamp(stamp.kind, batch.stamp)?),
        ));
    }
    if let Some(column) = soft.columns.batch {
        items.push((
            format!("{} = ", d.quote(column)),
            Some(DB::bind_i64(batch.id)),
        ));
    }
    for (i, (text, bind)) in items.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&text);
        if let Some(bind) = bind {
            sql.bind(bind);
        }
    }
    Ok(())
}

/// The `SET` list that brings an archived row of `soft` back.
pub(crate) fn unmark(d: Dialected, soft: &SoftInfo) -> String {
    let marker = d.quote(soft.marker);
    let mut sets = Vec::new();
    match soft.strategy {
        StrategyKind::Timestamp => {}
        StrategyKind::DeletedFlag => sets.push(format!("{marker} = FALSE")),
        StrategyKind::ActiveFlag => sets.push(format!("{marker} = TRUE")),
    }
    if let Some(stamp) = soft.columns.stamp {
        sets.push(format!("{} = NULL", d.quote(stamp.name)));
    }
    if let Some(column) = soft.columns.batch {
        sets.push(format!("{} = NULL", d.quote(column)));
    }
    sets.join(", ")
}

/// The condition that holds for the rows of `soft` archived by `batch` and still archived
/// (unqualified), or `None` when the table cannot tell one batch's rows from another's.
pub(crate) fn in_batch<'a, DB: CollectorBackend>(
    d: Dialected,
    soft: &SoftInfo,
    batch: BatchValues,
) -> Result<Option<Sql<'a, DB>>, Error> {
    let mut sql = Sql::new();
    if let Some(column) = soft.columns.batch {
        // Only archived rows: a row of the batch brought back since (behind the library's
        // back, keeping its id) is not the batch's to restore again.
        sql.push(&format!(
            "{} AND {} = ",
            (soft.deleted)(d.0),
            d.quote(column)
        ));
        sql.bind(DB::bind_i64(batch.id));
        return Ok(Some(sql));
    }
    let Some(stamp) = soft.columns.stamp else {
        return Ok(None);
    };
    if soft.strategy != StrategyKind::Timestamp {
        sql.push(&format!("{} AND ", (soft.deleted)(d.0)));
    }
    sql.push(&format!("{} = ", d.quote(stamp.name)));
    sql.bind(DB::bind_stamp(stamp.kind, batch.stamp)?);
    Ok(Some(sql))
}

#[cfg(test)]
mod tests {
    use super::{parse_sqlite_default, ColumnDefault};

    #[test]
    fn sqlite_defaults_are_read_as_literals_only() {
        assert_eq!(parse_sqlite_default(None), Some(ColumnDefault::Null));
        assert_eq!(
            parse_sqlite_default(Some("NULL")),
            Some(ColumnDefault::Null)
        );
        assert_eq!(
            parse_sqlite_default(Some("1")),
            Some(ColumnDefault::Integer(1))
        );
        assert_eq!(
            parse_sqlite_default(Some("(-7)")),
            Some(ColumnDefault::Integer(-7))
        );
        assert_eq!(
            parse_sqlite_default(Some("'it''s'")),
            Some(ColumnDefault::Text("it's".to_owned()))
        );
        assert_eq!(parse_sqlite_default(Some("'a'||'b'")), None);
        assert_eq!(parse_sqlite_default(Some("CURRENT_TIMESTAMP")), None);
    }
}
