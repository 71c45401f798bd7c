//! The questions this crate asks the database's catalog, each written once, with one SQL text
//! per dialect, over either executor.
//!
//! Names are bound as values, never put into the SQL text.

use std::collections::HashMap;
use std::sync::Mutex;

use super::backend::{Dialect, TableName};
use super::dialect::Collation;
use super::rows::{ClashRow, ForeignKeyRow, IndexRow};
use super::statement::Sql;
use super::SupportedBackend;
use crate::exec::BackendOf;
use crate::exec::SqlConnection;
use crate::Error;

/// A foreign key read from the database's catalog, one row per column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CatalogForeignKey {
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

impl CatalogForeignKey {
    fn from_row(row: ForeignKeyRow) -> Self {
        let (
            constraint,
            child_schema,
            child,
            column,
            parent_schema,
            parent,
            parent_column,
            position,
        ) = row;
        CatalogForeignKey {
            constraint,
            child: TableName {
                schema: child_schema,
                name: child,
            },
            column,
            parent: TableName {
                schema: parent_schema,
                name: parent,
            },
            parent_column,
            position,
        }
    }
}

/// What `set_default` writes: the `DEFAULT` keyword, or the literal SQLite's catalog gives.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnDefault {
    /// `DEFAULT` in the statement (PostgreSQL, MySQL).
    Keyword,
    /// No default, or `DEFAULT NULL`.
    Null,
    /// An integer literal.
    Integer(i64),
    /// A string literal.
    Text(String),
}

fn dialect<Mo, R, C: SqlConnection<Mo, R>>() -> Dialect {
    <BackendOf<Mo, C> as SupportedBackend>::DIALECT
}

fn text<DB: SupportedBackend>(value: &str) -> super::Bind<DB> {
    DB::bind_text(Some(value.to_owned()))
}

/// `to_regclass(...)` of `table` on PostgreSQL: the table as the statements name it (through
/// the search path when it has no schema).
fn pg_regclass<DB: SupportedBackend, R>(sql: &mut Sql<DB, R>, table: &TableName) {
    sql.push("to_regclass(")
        .bind(text(&Dialect::Postgres.quote_table(table)))
        .push(")");
}

/// `COALESCE(<schema>, DATABASE())` on MySQL: the table's database.
fn mysql_schema<DB: SupportedBackend, R>(sql: &mut Sql<DB, R>, table: &TableName) {
    sql.push("COALESCE(")
        .bind(DB::bind_text(table.schema.clone()))
        .push(", DATABASE())");
}

/// The foreign keys whose referencing or referenced table is `table`.
pub(crate) async fn foreign_keys<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    table: &TableName,
) -> Result<Vec<CatalogForeignKey>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    match dialect::<Mo, R, C>() {
        // Every table's keys, through the table-valued pragma. SQLite matches table names
        // without regard to (ASCII) case and gives a key's referenced table as its
        // `REFERENCES` spelled it: the names are matched so, and given as the catalog spells
        // them (as [`resolve`] does).
        Dialect::Sqlite => {
            sql.push(
                "SELECT CAST(f.id AS TEXT), NULL, m.name, f.`from`, NULL, \
                        COALESCE((SELECT p.name FROM sqlite_schema AS p \
                                  WHERE p.type = 'table' AND p.name = f.`table` COLLATE NOCASE), f.`table`), \
                        f.`to`, f.seq \
                 FROM sqlite_schema AS m JOIN pragma_foreign_key_list(m.name) AS f \
                 WHERE m.type = 'table' AND (m.name = ",
            )
            .bind(text(&table.name))
            .push(" COLLATE NOCASE OR f.`table` = ")
            .bind(text(&table.name))
            .push(" COLLATE NOCASE) ORDER BY m.name, f.id, f.seq");
        }
        Dialect::Postgres => {
            sql.push(
                "SELECT con.conname::text, cn.nspname::text, c.relname::text, ca.attname::text, \
                        pn.nspname::text, p.relname::text, pa.attname::text, (k.ord - 1)::bigint \
                 FROM pg_constraint AS con \
                 JOIN pg_class AS c ON c.oid = con.conrelid \
                 JOIN pg_namespace AS cn ON cn.oid = c.relnamespace \
                 JOIN pg_class AS p ON p.oid = con.confrelid \
                 JOIN pg_namespace AS pn ON pn.oid = p.relnamespace \
                 CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(child_att, parent_att, ord) \
                 JOIN pg_attribute AS ca ON ca.attrelid = con.conrelid AND ca.attnum = k.child_att \
                 JOIN pg_attribute AS pa ON pa.attrelid = con.confrelid AND pa.attnum = k.parent_att \
                 WHERE con.contype = 'f' AND ",
            );
            pg_regclass(&mut sql, table);
            sql.push(
                " IN (con.conrelid, con.confrelid) ORDER BY cn.nspname, c.relname, con.conname, k.ord",
            );
        }
        // Only the keys of tables in the table's own database: with the referencing table's
        // schema a constant, MariaDB opens the tables of that database alone. A search by the
        // referenced table over every database opens every table of the server, and so waits
        // for any DDL pending anywhere on it (a `DROP DATABASE` queued behind an open
        // transaction holds every such read until that transaction ends).
        Dialect::Mysql => {
            sql.push(MYSQL_KEY_COLUMNS);
            sql.push("k.REFERENCED_TABLE_NAME IS NOT NULL AND k.TABLE_SCHEMA = ");
            mysql_schema(&mut sql, table);
            sql.push(" AND (k.TABLE_NAME = ")
                .bind(text(&table.name))
                .push(" OR (k.REFERENCED_TABLE_SCHEMA = ");
            mysql_schema(&mut sql, table);
            sql.push(" AND k.REFERENCED_TABLE_NAME = ")
                .bind(text(&table.name))
                .push("))")
                .push(MYSQL_KEY_ORDER);
        }
    }
    let rows: Vec<ForeignKeyRow> = conn.rows(sql).await?;
    Ok(rows.into_iter().map(CatalogForeignKey::from_row).collect())
}

/// The columns of `information_schema.KEY_COLUMN_USAGE` a [`ForeignKeyRow`] reads, up to the
/// `WHERE` of the condition that follows.
const MYSQL_KEY_COLUMNS: &str =
    "SELECT CONVERT(k.CONSTRAINT_NAME USING utf8mb4), CONVERT(k.TABLE_SCHEMA USING utf8mb4), \
            CONVERT(k.TABLE_NAME USING utf8mb4), CONVERT(k.COLUMN_NAME USING utf8mb4), \
            CONVERT(k.REFERENCED_TABLE_SCHEMA USING utf8mb4), \
            CONVERT(k.REFERENCED_TABLE_NAME USING utf8mb4), \
            CONVERT(k.REFERENCED_COLUMN_NAME USING utf8mb4), \
            CAST(k.ORDINAL_POSITION - 1 AS SIGNED) \
     FROM information_schema.KEY_COLUMN_USAGE AS k WHERE ";

/// The order of [`MYSQL_KEY_COLUMNS`]' rows: each key's columns together, in key order.
const MYSQL_KEY_ORDER: &str =
    " ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION";

/// MySQL/MariaDB: the foreign keys into `table` from tables of the server's other databases,
/// which [`foreign_keys`] leaves out. The search by the referenced table opens every table of
/// every database (and waits for any DDL pending on one), so it is read only when a foreign
/// key [`foreign_keys`] did not see has refused a write. Nothing on the other backends, where
/// a foreign key cannot cross databases.
pub(crate) async fn foreign_keys_from_other_databases<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    table: &TableName,
) -> Result<Vec<CatalogForeignKey>, Error> {
    if dialect::<Mo, R, C>() != Dialect::Mysql {
        return Ok(Vec::new());
    }
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    sql.push(MYSQL_KEY_COLUMNS);
    sql.push("k.REFERENCED_TABLE_SCHEMA = ");
    mysql_schema(&mut sql, table);
    sql.push(" AND k.REFERENCED_TABLE_NAME = ")
        .bind(text(&table.name))
        .push(" AND k.TABLE_SCHEMA <> ");
    mysql_schema(&mut sql, table);
    sql.push(MYSQL_KEY_ORDER);
    let rows: Vec<ForeignKeyRow> = conn.rows(sql).await?;
    Ok(rows.into_iter().map(CatalogForeignKey::from_row).collect())
}

/// The first column of every index of `table` that covers all its rows (its primary key,
/// unique keys and plain indexes; not a partial index), from the catalog: the columns a lookup
/// by value can be served by.
pub(crate) async fn leading_index_columns<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    table: &TableName,
) -> Result<Vec<String>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    match dialect::<Mo, R, C>() {
        // An `INTEGER PRIMARY KEY` is the rowid, listed by `table_info` but by no index.
        Dialect::Sqlite => {
            sql.push("SELECT i.name FROM pragma_index_list(")
                .bind(text(&table.name))
                .push(
                    ") AS l JOIN pragma_index_info(l.name) AS i WHERE i.seqno = 0 AND l.partial = 0 \
                     UNION ALL SELECT c.name FROM pragma_table_info(",
                )
                .bind(text(&table.name))
                .push(") AS c WHERE c.pk = 1");
        }
        Dialect::Postgres => {
            sql.push(
                "SELECT a.attname::text FROM pg_index AS i \
                 JOIN pg_attribute AS a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0] \
                 WHERE i.indpred IS NULL AND i.indisvalid AND i.indrelid = ",
            );
            pg_regclass(&mut sql, table);
        }
        // InnoDB indexes every foreign key's columns (creating an index when none leads with
        // them), so a foreign key's column is listed here.
        Dialect::Mysql => {
            sql.push(
                "SELECT CONVERT(s.COLUMN_NAME USING utf8mb4) FROM information_schema.STATISTICS AS s \
                 WHERE s.SEQ_IN_INDEX = 1 AND s.TABLE_SCHEMA = ",
            );
            mysql_schema(&mut sql, table);
            sql.push(" AND s.TABLE_NAME = ").bind(text(&table.name));
        }
    }
    let rows: Vec<Option<String>> = conn.rows(sql).await?;
    let mut columns: Vec<String> = Vec::new();
    for column in rows.into_iter().flatten() {
        if !columns.contains(&column) {
            columns.push(column);
        }
    }
    Ok(columns)
}

/// An index of a table (or the index of a constraint), read from the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CatalogIndex {
    /// Its name (a constraint's index takes the constraint's name).
    pub name: String,
    /// Whether it is unique (a primary key, a unique key or index).
    pub unique: bool,
    /// PostgreSQL: the index of an exclusion constraint.
    pub exclusion: bool,
    /// PostgreSQL 15+: `NULLS NOT DISTINCT`.
    pub nulls_not_distinct: bool,
    /// PostgreSQL: not valid (`NOT indisvalid`), as a `CREATE INDEX CONCURRENTLY` that failed
    /// leaves it: it may miss rows already in the table.
    pub invalid: bool,
    /// PostgreSQL: the index of a `DEFERRABLE` constraint, and whether it is `INITIALLY
    /// DEFERRED`: `(deferrable, initially deferred)`.
    pub deferrable: (bool, bool),
    /// What it is on, in order: a column's name, or an expression's text as the catalog
    /// writes it (`None` where it gives none: SQLite's expressions).
    pub elements: Vec<Option<String>>,
    /// Which rows it covers: a partial index's condition (PostgreSQL, SQLite); on
    /// MySQL/MariaDB the expression of the generated column named like the index, if any.
    pub condition: Option<String>,
}

/// The bits of an [`IndexRow`]'s kind.
struct IndexFlags;

impl IndexFlags {
    const UNIQUE: i64 = 1;
    const EXCLUSION: i64 = 2;
    const NULLS_NOT_DISTINCT: i64 = 4;
    const INVALID: i64 = 8;
    const DEFERRABLE: i64 = 16;
    const INITIALLY_DEFERRED: i64 = 32;
}

/// Every index of `table` (none when the table does not exist), elements in order.
pub(crate) async fn indexes<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    table: &TableName,
) -> Result<Vec<CatalogIndex>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    match dialect::<Mo, R, C>() {
        // The condition is the text after `WHERE` in the index's `CREATE` statement, which
        // SQLite keeps as it was written, in the schema (attached database) of the table.
        Dialect::Sqlite => {
            let schema = table.schema.as_deref().unwrap_or("main");
            sql.push(
                "SELECT l.name, CAST(l.\"unique\" AS INTEGER), CAST(x.seqno AS INTEGER), x.name, m.sql \
                 FROM pragma_index_list(",
            )
            .bind(text(&table.name))
            .push(", ")
            .bind(text(schema))
            .push(") AS l JOIN pragma_index_xinfo(l.name, ")
            .bind(text(schema))
            .push(&format!(
                ") AS x LEFT JOIN {}.sqlite_schema AS m ON m.type = 'index' AND m.name = l.name \
                 WHERE x.key = 1 ORDER BY l.name, x.seqno",
                Dialect::Sqlite.quote(schema)
            ));
        }
        // `indnullsnotdistinct` exists from PostgreSQL 15 on: read through the row as JSON, so
        // an older server reads `false`.
        Dialect::Postgres => {
            sql.push(
                "SELECT c.relname::text, \
                        (CASE WHEN i.indisunique THEN 1 ELSE 0 END \
                         + CASE WHEN i.indisexclusion THEN 2 ELSE 0 END \
                         + CASE WHEN COALESCE((to_jsonb(i) ->> 'indnullsnotdistinct')::boolean, false) \
                                THEN 4 ELSE 0 END \
                         + CASE WHEN i.indisvalid THEN 0 ELSE 8 END \
                         + CASE WHEN COALESCE(con.condeferrable, false) THEN 16 ELSE 0 END \
                         + CASE WHEN COALESCE(con.condeferred, false) THEN 32 ELSE 0 END)::bigint, \
                        k.n::bigint, pg_get_indexdef(i.indexrelid, k.n, true), \
                        pg_get_expr(i.indpred, i.indrelid, true) \
                 FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid \
                 LEFT JOIN pg_constraint AS con ON con.conindid = i.indexrelid \
                   AND con.conrelid = i.indrelid AND con.contype IN ('p', 'u', 'x') \
                 CROSS JOIN LATERAL generate_series(1, i.indnkeyatts::int) AS k(n) \
                 WHERE i.indrelid = ",
            );
            pg_regclass(&mut sql, table);
            sql.push(" ORDER BY c.relname, k.n");
        }
        Dialect::Mysql => {
            sql.push(
                "SELECT CONVERT(s.INDEX_NAME USING utf8mb4), CAST(1 - s.NON_UNIQUE AS SIGNED), \
                        CAST(s.SEQ_IN_INDEX AS SIGNED), CONVERT(s.COLUMN_NAME USING utf8mb4), \
                        CONVERT(NULLIF(c.GENERATION_EXPRESSION, '') USING utf8mb4) \
                 FROM information_schema.STATISTICS AS s \
                 LEFT JOIN information_schema.COLUMNS AS c ON c.TABLE_SCHEMA = s.TABLE_SCHEMA \
                   AND c.TABLE_NAME = s.TABLE_NAME AND c.COLUMN_NAME = s.INDEX_NAME \
                 WHERE s.TABLE_SCHEMA = ",
            );
            mysql_schema(&mut sql, table);
            sql.push(" AND s.TABLE_NAME = ")
                .bind(text(&table.name))
                .push(" ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX");
        }
    }
    let rows: Vec<IndexRow> = conn.rows(sql).await?;
    let sqlite = dialect::<Mo, R, C>() == Dialect::Sqlite;
    let mut indexes: Vec<CatalogIndex> = Vec::new();
    for (name, flags, _, element, condition) in rows {
        if indexes.last().is_none_or(|index| index.name != name) {
            indexes.push(CatalogIndex {
                name,
                unique: flags & IndexFlags::UNIQUE != 0,
                exclusion: flags & IndexFlags::EXCLUSION != 0,
                nulls_not_distinct: flags & IndexFlags::NULLS_NOT_DISTINCT != 0,
                invalid: flags & IndexFlags::INVALID != 0,
                deferrable: (
                    flags & IndexFlags::DEFERRABLE != 0,
                    flags & IndexFlags::INITIALLY_DEFERRED != 0,
                ),
                elements: Vec::new(),
                condition: match sqlite {
                    true => condition.as_deref().and_then(sqlite_index_condition),
                    false => condition,
                },
            });
        }
        if let Some(index) = indexes.last_mut() {
            index.elements.push(element);
        }
    }
    Ok(indexes)
}

/// The condition of a partial index from SQLite's `CREATE INDEX` text: what follows its
/// `WHERE` keyword, or `None` for an index over every row. SQLite keeps the text as the
/// migration wrote it, so the keyword is found as a word outside quoted names and strings,
/// whatever white space (a new line, a tab) or parenthesis stands around it.
fn sqlite_index_condition(create: &str) -> Option<String> {
    let bytes = create.as_bytes();
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
    let mut found = None;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'\'' | b'"' | b'`' | b'[') => {
                let close = if quote == b'[' { b']' } else { quote };
                // A doubled quote inside stays inside: the scan resumes after the pair.
                i += 1;
                while i < bytes.len() && bytes[i] != close {
                    i += 1;
                }
                i += 1;
            }
            b if word(b) => {
                let start = i;
                while i < bytes.len() && word(bytes[i]) {
                    i += 1;
                }
                if create[start..i].eq_ignore_ascii_case("where") {
                    found = Some(i);
                }
            }
            _ => i += 1,
        }
    }
    found.map(|at| create[at..].trim().to_owned())
}

/// The columns of `table`, in order; empty when the table does not exist.
pub(crate) async fn columns<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    table: &TableName,
) -> Result<Vec<String>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    match dialect::<Mo, R, C>() {
        Dialect::Sqlite => {
            sql.push("SELECT name FROM pragma_table_info(")
                .bind(text(&table.name))
                .push(", COALESCE(")
                .bind(BackendOf::<Mo, C>::bind_text(table.schema.clone()))
                .push(", 'main')) ORDER BY cid");
        }
        Dialect::Postgres => {
            sql.push(
                "SELECT a.attname::text FROM pg_attribute AS a \
                 WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid = ",
            );
            pg_regclass(&mut sql, table);
            sql.push(" ORDER BY a.attnum");
        }
        Dialect::Mysql => {
            sql.push(
                "SELECT CONVERT(COLUMN_NAME USING utf8mb4) FROM information_schema.COLUMNS \
                 WHERE TABLE_SCHEMA = ",
            );
            mysql_schema(&mut sql, table);
            sql.push(" AND TABLE_NAME = ")
                .bind(text(&table.name))
                .push(" ORDER BY ORDINAL_POSITION");
        }
    }
    let rows: Vec<Option<String>> = conn.rows(sql).await?;
    Ok(rows.into_iter().flatten().collect())
}

/// What the catalog says about the tables an operation is about to write, read with one query
/// ([`table_facts`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TableFacts {
    /// Whether one of the tables asked about is a MySQL table whose engine ignores a rollback
    /// (MyISAM, Aria, MEMORY, ...): its writes would stay when the operation rolls back.
    pub without_transactions: bool,
    /// For each stamp column asked about, in order, the fractional digits of a second it
    /// keeps; `None` when every value is kept as written (SQLite stores text) or the catalog
    /// does not know the column.
    pub precisions: Vec<Option<u32>>,
    /// Whether a precision came from the process's [cache](forget_table_facts) rather than
    /// from the catalog just now (MySQL/MariaDB).
    pub cached_precisions: bool,
    /// The MySQL/MariaDB session the facts were read on (`None` on other backends).
    pub session: Option<MysqlSession>,
}

/// What one `SELECT` of session variables tells of a MySQL/MariaDB session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MysqlSession {
    /// `host:port/database`: what its unqualified table names resolve in, and the key the
    /// facts of its database are kept under.
    key: String,
    /// Its time zone (`@@session.time_zone`), which [`enter_utc`] needs.
    pub zone: String,
    /// Whether the server is MariaDB (`@@version`), whose `SET STATEMENT ... FOR` sets a
    /// variable for one statement.
    pub mariadb: bool,
    /// The connection's collation (`@@collation_connection`): the one `CAST(... AS CHAR)`
    /// gives, which a text column in another one refuses to compare with.
    pub collation: String,
}

/// The time zone [`enter_utc`] sets.
const UTC: &str = "+00:00";

impl MysqlSession {
    /// Whether the session's time zone is UTC already.
    pub(crate) fn in_utc(&self) -> bool {
        self.zone == UTC
    }
}

/// The facts [`table_facts`] read on MySQL/MariaDB, per server and database
/// (`host:port/database`), kept for the life of the process: `information_schema` opens the
/// definition of every table it reports on, about 0.15 ms a table on MariaDB, which an archive
/// of a few tables would otherwise pay on every call. Cleared by [`forget_table_facts`].
static KNOWN: Mutex<Option<HashMap<String, Known>>> = Mutex::new(None);

/// What one database's catalog said.
#[derive(Debug, Default)]
struct Known {
    /// Per existing table: whether its engine ignores a rollback.
    engines: HashMap<TableName, bool>,
    /// Per `(table, column)` the catalog knows: the fractional digits the column keeps.
    precisions: HashMap<(TableName, String), u32>,
    /// Per `(table, column)` asked about: its character set and collation, `None` for a
    /// column that has none (not text) or that the catalog does not know.
    collations: HashMap<(TableName, String), Option<Collation>>,
}

fn known() -> std::sync::MutexGuard<'static, Option<HashMap<String, Known>>> {
    // A panic while holding the lock left a map that is still a map: keep using it.
    KNOWN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Forgets the catalog facts this process keeps about MySQL/MariaDB tables (see
/// [`table_facts`]), so the next operation reads them again.
pub(crate) fn forget_table_facts() {
    *known() = None;
}

/// The connection's MySQL/MariaDB session ([`mysql_session`]); `None` on the other backends.
pub(crate) async fn session<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
) -> Result<Option<MysqlSession>, Error> {
    if dialect::<Mo, R, C>() != Dialect::Mysql {
        return Ok(None);
    }
    mysql_session(conn).await.map(Some)
}

/// The connection's MySQL/MariaDB session, in one `SELECT` of its variables.
async fn mysql_session<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
) -> Result<MysqlSession, Error> {
    // The collation (a name without spaces) comes first in the version's column.
    let read = Sql::<BackendOf<Mo, C>, R>::text(
        "SELECT CONVERT(CONCAT(@@hostname, ':', @@port, '/', COALESCE(DATABASE(), '')) \
         USING utf8mb4), CONVERT(@@session.time_zone USING utf8mb4), \
         CONVERT(CONCAT(@@collation_connection, ' ', @@version) USING utf8mb4), CAST(0 AS SIGNED)",
    );
    let rows: Vec<ClashRow> = conn.rows(read).await?;
    Ok(rows
        .into_iter()
        .next()
        .map(|(key, zone, collation_version, _)| {
            let (collation, version) = collation_version
                .split_once(' ')
                .unwrap_or(("", &collation_version));
            MysqlSession {
                key,
                zone,
                mariadb: version.contains("MariaDB"),
                collation: collation.to_owned(),
            }
        })
        .unwrap_or_default())
}

/// The engines of `tables` (MySQL) and the precision of each timestamp column of `stamps`
/// (`(table, column)`), in at most one catalog query: nothing to ask on SQLite, the
/// precisions alone on PostgreSQL (one indexed catalog lookup each, every time).
///
/// On MySQL/MariaDB every table and column is its own branch of a `UNION ALL`, looked up by
/// its schema and name: `information_schema` then opens the definitions of those tables alone
/// ("Scanned 0 databases"), where a condition that names several tables at once (`IN`, `OR`)
/// makes it list a whole database, or every database of the server, and the cost of the query
/// grow with the server rather than with the graph. What it answers is kept per process
/// ([`KNOWN`], keyed by the session's server and database, read with one `SELECT` of session
/// variables), and only what is not known yet is asked. A kept fact can go stale when a
/// migration changes a table while the process runs:
///
/// - a stamp column made coarser: the archive checks, in the statement that records its
///   counts, that every table stamped by a kept precision finds its batch again, and when one
///   does not, forgets the facts, reads them again and refuses ([`Error::StampPrecision`],
///   rolled back);
/// - a table moved to an engine without transactions: not seen until the facts are forgotten
///   ([`crate::collector::forget_catalog`]) or the process restarts.
pub(crate) async fn table_facts<'t, Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    tables: impl IntoIterator<Item = &'t TableName>,
    stamps: &[(&TableName, &str)],
) -> Result<TableFacts, Error> {
    let d = dialect::<Mo, R, C>();
    let mut facts = TableFacts {
        without_transactions: false,
        precisions: vec![None; stamps.len()],
        cached_precisions: false,
        session: None,
    };
    // Diesel writes a timestamp as text with every fractional digit, and text keeps it;
    // every table rolls back.
    if d == Dialect::Sqlite {
        return Ok(facts);
    }
    let mut tables: Vec<&TableName> = match d {
        Dialect::Mysql => tables.into_iter().collect(),
        _ => Vec::new(),
    };
    let mut asked: Vec<usize> = (0..stamps.len()).collect();
    if d == Dialect::Mysql {
        facts.session = Some(mysql_session(conn).await?);
    }
    let session = facts.session.as_ref().map(|session| session.key.clone());
    if let Some(session) = &session {
        if let Some(known) = known().as_ref().and_then(|known| known.get(session)) {
            tables.retain(|table| match known.engines.get(*table) {
                Some(&without) => {
                    facts.without_transactions |= without;
                    false
                }
                None => true,
            });
            asked.retain(|&i| {
                let (table, column) = stamps[i];
                match known.precisions.get(&(table.clone(), column.to_owned())) {
                    Some(&digits) => {
                        facts.precisions[i] = Some(digits);
                        facts.cached_precisions = true;
                        false
                    }
                    None => true,
                }
            });
        }
    }
    if tables.is_empty() && asked.is_empty() {
        return Ok(facts);
    }

    // Each row is tagged: `t<i>` for the i-th table asked (1 when its engine ignores a
    // rollback), `<i>` for the i-th stamp (its digits, -1 when the catalog gives none).
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    let mut branches = 0;
    let mut union = |sql: &mut Sql<BackendOf<Mo, C>, R>| {
        if branches > 0 {
            sql.push(" UNION ALL ");
        }
        branches += 1;
    };
    for (t, table) in tables.iter().enumerate() {
        union(&mut sql);
        sql.push(&format!(
            "SELECT 't{t}', CAST(ENGINE IS NOT NULL AND ENGINE NOT IN ('InnoDB', 'RocksDB', 'TokuDB') AS SIGNED) \
             FROM information_schema.TABLES WHERE TABLE_SCHEMA = "
        ));
        mysql_schema(&mut sql, table);
        sql.push(" AND TABLE_NAME = ").bind(text(&table.name));
    }
    for &i in &asked {
        let (table, column) = stamps[i];
        union(&mut sql);
        match d {
            Dialect::Postgres => pg_precision(&mut sql, &i.to_string(), table, column),
            _ => {
                sql.push(&format!(
                    "SELECT '{i}', CAST(COALESCE(c.DATETIME_PRECISION, -1) AS SIGNED) \
                     FROM information_schema.COLUMNS AS c WHERE c.TABLE_SCHEMA = "
                ));
                mysql_schema(&mut sql, table);
                sql.push(" AND c.TABLE_NAME = ")
                    .bind(text(&table.name))
                    .push(" AND c.COLUMN_NAME = ")
                    .bind(text(column));
            }
        }
    }
    let rows: Vec<(String, i64)> = conn.rows(sql).await?;
    let mut guard = known();
    let mut keep = session.map(|session| {
        guard
            .get_or_insert_with(HashMap::new)
            .entry(session)
            .or_default()
    });
    for (tag, value) in rows {
        if let Some(t) = tag.strip_prefix('t').and_then(|t| t.parse::<usize>().ok()) {
            let Some(&table) = tables.get(t) else {
                continue;
            };
            facts.without_transactions |= value != 0;
            if let Some(keep) = keep.as_mut() {
                keep.engines.insert(table.clone(), value != 0);
            }
        } else if let Some(i) = tag.parse::<usize>().ok().filter(|&i| i < stamps.len()) {
            let digits = u32::try_from(value).ok();
            facts.precisions[i] = digits;
            if let (Some(keep), Some(digits)) = (keep.as_mut(), digits) {
                let (table, column) = stamps[i];
                keep.precisions
                    .insert((table.clone(), column.to_owned()), digits);
            }
        }
    }
    Ok(facts)
}

/// The collations of the text columns an operation compares with text read back from the
/// [journal](crate::ddl::journal), where they differ from the connection's (see
/// [`collations`]); empty on SQLite and PostgreSQL.
#[derive(Debug, Clone, Default)]
pub(crate) struct Collations(HashMap<(TableName, String), Collation>);

impl Collations {
    /// The collation of `table.column`, when it is a text column in a collation other than
    /// the connection's.
    pub(crate) fn of(&self, table: &TableName, column: &str) -> Option<&Collation> {
        self.0.get(&(table.clone(), column.to_owned()))
    }
}

/// MySQL/MariaDB: the character set and collation of each column of `columns` (text keys and
/// foreign keys), kept with the other [facts](table_facts) of the process (asked once per
/// column, one branch of a `UNION ALL` each), and returned for those whose collation is not
/// the connection's (`session`'s, read when `None`). Nothing on the other backends.
pub(crate) async fn collations<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    session: Option<MysqlSession>,
    columns: &[(&TableName, &str)],
) -> Result<Collations, Error> {
    let mut found = Collations::default();
    if dialect::<Mo, R, C>() != Dialect::Mysql || columns.is_empty() {
        return Ok(found);
    }
    let session = match session {
        Some(session) => session,
        None => mysql_session(conn).await?,
    };
    let mut known_now: Vec<((TableName, String), Option<Collation>)> = Vec::new();
    let mut asked: Vec<(&TableName, &str)> = Vec::new();
    {
        let guard = known();
        let kept = guard.as_ref().and_then(|known| known.get(&session.key));
        for &(table, column) in columns {
            let key = (table.clone(), column.to_owned());
            match kept.and_then(|kept| kept.collations.get(&key)) {
                Some(collation) => known_now.push((key, collation.clone())),
                None if !asked.contains(&(table, column)) => asked.push((table, column)),
                None => {}
            }
        }
    }
    if !asked.is_empty() {
        // Each row is tagged with the index of the column asked; a column without a
        // collation (not text) gives no row.
        let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
        for (i, &(table, column)) in asked.iter().enumerate() {
            if i > 0 {
                sql.push(" UNION ALL ");
            }
            sql.push(&format!(
                "SELECT '{i}', CONVERT(c.CHARACTER_SET_NAME USING utf8mb4), \
                 CONVERT(c.COLLATION_NAME USING utf8mb4), CAST(0 AS SIGNED) \
                 FROM information_schema.COLUMNS AS c WHERE c.TABLE_SCHEMA = "
            ));
            mysql_schema(&mut sql, table);
            sql.push(" AND c.TABLE_NAME = ")
                .bind(text(&table.name))
                .push(" AND c.COLUMN_NAME = ")
                .bind(text(column))
                .push(" AND c.COLLATION_NAME IS NOT NULL");
        }
        let rows: Vec<ClashRow> = conn.rows(sql).await?;
        let mut read: Vec<Option<Collation>> = vec![None; asked.len()];
        for (tag, charset, name, _) in rows {
            if let Some(slot) = tag.parse::<usize>().ok().and_then(|i| read.get_mut(i)) {
                *slot = Collation::checked(charset, name);
            }
        }
        let mut guard = known();
        let keep = guard
            .get_or_insert_with(HashMap::new)
            .entry(session.key.clone())
            .or_default();
        for (&(table, column), collation) in asked.iter().zip(read) {
            let key = (table.clone(), column.to_owned());
            keep.collations.insert(key.clone(), collation.clone());
            known_now.push((key, collation));
        }
    }
    for (key, collation) in known_now {
        if let Some(collation) = collation.filter(|c| c.name != session.collation) {
            found.0.insert(key, collation);
        }
    }
    Ok(found)
}

/// `SELECT '<tag>', <digits> FROM pg_attribute ...`: the fractional digits `table.column`
/// keeps on PostgreSQL (`atttypmod` of `timestamp(p)` is p, and -1, six digits, without one);
/// no row when there is no such column.
pub(crate) fn pg_precision<DB: SupportedBackend, R>(
    sql: &mut Sql<DB, R>,
    tag: &str,
    table: &TableName,
    column: &str,
) {
    sql.push(&format!(
        "SELECT '{tag}', CAST(CASE WHEN a.atttypmod < 0 THEN 6 ELSE a.atttypmod END AS BIGINT) \
         FROM pg_attribute AS a WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid = "
    ));
    pg_regclass(sql, table);
    sql.push(" AND a.attname = ").bind(text(column));
}

/// What `set_default` writes for `table.column`: the `DEFAULT` keyword on PostgreSQL and
/// MySQL; on SQLite, which has no `DEFAULT` in an `UPDATE`, the literal its catalog gives
/// (`PRAGMA table_info`), or [`Error::Unsupported`] for an expression.
pub(crate) async fn column_default<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    table: &TableName,
    column: &str,
) -> Result<ColumnDefault, Error> {
    if dialect::<Mo, R, C>() != Dialect::Sqlite {
        return Ok(ColumnDefault::Keyword);
    }
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    sql.push("SELECT dflt_value FROM pragma_table_info(")
        .bind(text(&table.name))
        .push(", COALESCE(")
        .bind(BackendOf::<Mo, C>::bind_text(table.schema.clone()))
        .push(", 'main')) WHERE name = ")
        .bind(text(column));
    let rows: Vec<Option<String>> = conn.rows(sql).await?;
    let literal = rows.into_iter().next().flatten();
    parse_sqlite_default(literal.as_deref()).ok_or(Error::Unsupported {
        feature: "`set_default` on a column whose default is not a literal",
        dialect: Dialect::Sqlite,
    })
}

/// Reads SQLite's `dflt_value`: the text of the default expression. Literals become values to
/// bind; anything else (an expression) is `None`.
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
/// them ([`table_facts`]); other backends always roll back. Returns the MySQL/MariaDB session
/// that query read (`None` on the other backends).
pub(crate) async fn refuse_without_transactions<'t, Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    tables: impl IntoIterator<Item = &'t TableName>,
    feature: &'static str,
) -> Result<Option<MysqlSession>, Error> {
    if dialect::<Mo, R, C>() != Dialect::Mysql {
        return Ok(None);
    }
    let facts = table_facts(conn, tables, &[]).await?;
    refuse_if(facts.without_transactions, feature)?;
    Ok(facts.session)
}

/// [`Error::Unsupported`] for `feature` on MySQL when a table it writes cannot roll back
/// ([`TableFacts::without_transactions`]).
pub(crate) fn refuse_if(without_transactions: bool, feature: &'static str) -> Result<(), Error> {
    if without_transactions {
        Err(Error::Unsupported {
            feature,
            dialect: Dialect::Mysql,
        })
    } else {
        Ok(())
    }
}

/// `name` as the database resolves it: with the schema an unqualified name stands for
/// (PostgreSQL: the first schema of the search path holding it; MySQL: the current database,
/// in the catalog's spelling, which differs from the model's under `lower_case_table_names`).
/// SQLite's catalog names tables of the main database without a schema, and matches their names
/// without regard to case: such a table gets the catalog's spelling, without a schema; a table of
/// an attached database stays as it is, and so does a table that does not exist.
pub(crate) async fn resolve<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    name: &TableName,
) -> Result<TableName, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    match dialect::<Mo, R, C>() {
        Dialect::Sqlite if name.schema.is_none() => {
            sql.push("SELECT m.name FROM sqlite_schema AS m WHERE m.type = 'table' AND m.name = ")
                .bind(text(&name.name))
                .push(" COLLATE NOCASE");
            let rows: Vec<Option<String>> = conn.rows(sql).await?;
            return Ok(TableName {
                schema: None,
                name: rows
                    .into_iter()
                    .flatten()
                    .next()
                    .unwrap_or_else(|| name.name.clone()),
            });
        }
        Dialect::Sqlite => return Ok(name.clone()),
        Dialect::Postgres => {
            sql.push(
                "SELECT n.nspname::text, c.relname::text FROM pg_class AS c \
                 JOIN pg_namespace AS n ON n.oid = c.relnamespace WHERE c.oid = ",
            );
            pg_regclass(&mut sql, name);
        }
        Dialect::Mysql => {
            sql.push(
                "SELECT CONVERT(TABLE_SCHEMA USING utf8mb4), CONVERT(TABLE_NAME USING utf8mb4) \
                 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ",
            );
            mysql_schema(&mut sql, name);
            sql.push(" AND TABLE_NAME = ").bind(text(&name.name));
        }
    }
    let rows: Vec<(String, String)> = conn.rows(sql).await?;
    Ok(match rows.into_iter().next() {
        Some((schema, table)) => TableName {
            schema: Some(schema),
            name: table,
        },
        None => name.clone(),
    })
}

/// Whether table `name` exists (on the connection's search path or database).
pub(crate) async fn table_exists<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    name: &str,
) -> Result<bool, Error> {
    let d = dialect::<Mo, R, C>();
    let mut sql = Sql::<BackendOf<Mo, C>, R>::new();
    sql.push(match d {
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
    .bind(text(name))
    .push(if d == Dialect::Postgres { "))" } else { "" });
    let rows: Vec<(String, i64)> = conn.rows(sql).await?;
    Ok(rows.first().is_some_and(|(_, n)| *n > 0))
}

/// On MySQL/MariaDB, sets the session's time zone to UTC and returns the zone to set back
/// ([`leave_utc`]); `None` elsewhere, or when the session is in UTC already. The zone is read
/// from the server unless `session` (read by [`table_facts`] on the same connection) gives it.
///
/// A batch's stamp is a UTC instant bound as a wall-clock time. A MySQL `DATETIME` keeps it as
/// it is, but a `TIMESTAMP` reads it in the session's time zone: in a zone with daylight saving
/// time a stamp in the spring-forward gap does not exist (MariaDB refuses it, MySQL shifts it,
/// and `deleted_at = ?` then misses the rows just archived), and two sessions in different
/// zones would store and look for different instants. In UTC every stamp exists and means one
/// instant. Called inside the operation's transaction: if the operation is abandoned half way,
/// the connection is marked broken and discarded with the zone it had.
pub(crate) async fn enter_utc<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    session: Option<&MysqlSession>,
) -> Result<Option<String>, Error> {
    if dialect::<Mo, R, C>() != Dialect::Mysql {
        return Ok(None);
    }
    let zone = match session {
        Some(session) => session.zone.clone(),
        None => {
            let read = Sql::<BackendOf<Mo, C>, R>::text(
                "SELECT CONVERT(@@session.time_zone USING utf8mb4), CAST(0 AS SIGNED)",
            );
            let rows: Vec<(String, i64)> = conn.rows(read).await?;
            rows.into_iter()
                .next()
                .map(|(zone, _)| zone)
                .unwrap_or_default()
        }
    };
    if zone == UTC {
        return Ok(None);
    }
    conn.run(Sql::text(&format!("SET time_zone = '{UTC}'")))
        .await?;
    Ok(Some(zone))
}

/// Sets the session's time zone back to what [`enter_utc`] found.
pub(crate) async fn leave_utc<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    zone: Option<String>,
) -> Result<(), Error> {
    if let Some(zone) = zone {
        let mut back = Sql::<BackendOf<Mo, C>, R>::text("SET time_zone = ");
        back.bind(BackendOf::<Mo, C>::bind_text(Some(zone)));
        conn.run(back).await?;
    }
    Ok(())
}

/// Runs `body` with the session's time zone set to UTC on MySQL/MariaDB (see
/// [`enter_utc`]; `session`, when the caller read it already, gives the zone), and
/// sets it back afterwards, also when `body` fails.
pub(crate) async fn in_utc<Mo, R, C, V>(
    conn: &mut C,
    session: Option<MysqlSession>,
    body: impl AsyncFnOnce(&mut C) -> Result<V, Error>,
) -> Result<V, Error>
where
    C: SqlConnection<Mo, R>,
{
    let zone = enter_utc(conn, session.as_ref()).await?;
    let outcome = body(conn).await;
    let restored = leave_utc(conn, zone).await;
    let value = outcome?;
    restored?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::{parse_sqlite_default, sqlite_index_condition, ColumnDefault};

    #[test]
    fn a_sqlite_index_condition_is_what_follows_its_where() {
        assert_eq!(
            sqlite_index_condition(
                "CREATE UNIQUE INDEX `k` ON `t` (`a`) WHERE `deleted_at` IS NULL"
            )
            .as_deref(),
            Some("`deleted_at` IS NULL")
        );
        assert_eq!(
            sqlite_index_condition(
                "create unique index k on t (a) where (d is null) and b is null"
            )
            .as_deref(),
            Some("(d is null) and b is null")
        );
        assert_eq!(
            sqlite_index_condition("CREATE INDEX `k` ON `t` (`a`)"),
            None
        );
        assert_eq!(
            sqlite_index_condition("CREATE INDEX k ON t (a)\nWHERE\td IS NULL").as_deref(),
            Some("d IS NULL")
        );
        assert_eq!(
            sqlite_index_condition("CREATE INDEX `where k` ON \"t where\" (a)where(d IS NULL)")
                .as_deref(),
            Some("(d IS NULL)")
        );
        assert_eq!(
            sqlite_index_condition("CREATE INDEX k ON t (`a where b`)"),
            None
        );
    }

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
