//! What differs between SQLite, PostgreSQL and MySQL/MariaDB, in one place: the sealed
//! [`SupportedBackend`] trait (the [`Dialect`] of each Diesel backend, how a write transaction
//! begins, how values are bound, how a row is locked and read back), identifier quoting, and the
//! SQL name of a table. Users see it as [`crate::backend`].
//!
//! Code that renders SQL itself (DDL, set-based statements over several tables) takes a
//! [`Dialect`] and quotes every identifier through [`Dialect::quote`]; nothing is spliced raw.

use std::fmt;

use diesel::backend::Backend;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::QuerySource;

use super::statement::Bind;
use super::StampKind;
use crate::Error;

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// SQLite 3.
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Dialect {
    /// All dialects, for code that renders something for each.
    pub const ALL: [Dialect; 3] = [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql];

    /// A lowercase name, for messages: `sqlite`, `postgres`, `mysql`.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    /// `ident` quoted for this dialect, as Diesel's query builder quotes it: `"a""b"` on
    /// PostgreSQL, `` `a``b` `` on SQLite and MySQL.
    ///
    /// SQLite takes a double-quoted name that resolves to no column for a string literal, so
    /// `CREATE UNIQUE INDEX ... ON t ("no_such_column") WHERE "no_such_marker" IS NULL` would
    /// succeed and enforce nothing; a backquoted name is always an identifier, and a missing
    /// one is an error.
    ///
    /// ```
    /// use soft_delete_runtime::backend::Dialect;
    /// assert_eq!(Dialect::Postgres.quote("order"), r#""order""#);
    /// assert_eq!(Dialect::Sqlite.quote("order"), "`order`");
    /// assert_eq!(Dialect::Mysql.quote("we`ird"), "`we``ird`");
    /// ```
    pub fn quote(self, ident: &str) -> String {
        let q = match self {
            Dialect::Postgres => '"',
            Dialect::Sqlite | Dialect::Mysql => '`',
        };
        let mut out = String::with_capacity(ident.len() + 2);
        out.push(q);
        for c in ident.chars() {
            if c == q {
                out.push(q);
            }
            out.push(c);
        }
        out.push(q);
        out
    }

    /// `CAST(expr AS TEXT)` (`CAST(expr AS CHAR)` on MySQL): how a key is read as text, the
    /// text a [`RowId`](crate::RowId) holds.
    pub(crate) fn cast_to_text(self, expr: &str) -> String {
        match self {
            Dialect::Mysql => format!("CAST({expr} AS CHAR)"),
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({expr} AS TEXT)"),
        }
    }

    /// A possibly schema-qualified name, quoted: `"app"."users"` or `"users"`.
    pub fn quote_table(self, table: &TableName) -> String {
        match &table.schema {
            Some(schema) => format!("{}.{}", self.quote(schema), self.quote(&table.name)),
            None => self.quote(&table.name),
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Diesel backend this crate supports, and its [`Dialect`]: SQLite, PostgreSQL and
/// MySQL/MariaDB (each behind its cargo feature).
///
/// Sealed: implemented by this crate for those three backends only. Code generic over the
/// backend names it as a bound; the items it has besides [`DIALECT`](Self::DIALECT) and
/// [`BEGIN_WRITE`](Self::BEGIN_WRITE) are the crate's plumbing.
pub trait SupportedBackend: Backend + sealed::Sealed + Sized {
    /// The backend's dialect.
    const DIALECT: Dialect;
    /// The statement that starts a transaction that writes what it read (active-unique
    /// writes): `BEGIN` on PostgreSQL (which reads at `READ COMMITTED` by default); `BEGIN
    /// IMMEDIATE` on SQLite, which takes the database's write lock at once so two writers
    /// never both read the same live row; and on MySQL/MariaDB a `READ COMMITTED` transaction,
    /// in which a locking read locks the live row only, not the gaps beside the key's history
    /// rows, so racing writers deadlock far less often than at the default `REPEATABLE READ`.
    const BEGIN_WRITE: &'static str;

    /// What is appended to the statement reading a key's live row to lock it: ` FOR UPDATE`,
    /// or nothing on SQLite (the transaction holds the write lock already).
    #[doc(hidden)]
    const LOCK: &'static str;
    /// Whether the locking read may be a cached prepared statement. Not on MySQL/MariaDB:
    /// with Diesel 2.3 and MariaDB Connector/C, a cached statement whose execution failed with
    /// a deadlock hangs the next time it runs, so the locking read is prepared each time.
    #[doc(hidden)]
    const CACHE_LOCKING_READ: bool;
    /// How an inserted row is read back: [`Returning`] or [`Reread`].
    #[doc(hidden)]
    type Fetch;

    /// Binds a timestamp for a column of `kind`.
    #[doc(hidden)]
    fn bind_stamp(kind: StampKind, at: crate::Timestamp) -> Result<Bind<Self>, Error>;

    /// Binds an integer.
    #[doc(hidden)]
    fn bind_i64(value: i64) -> Bind<Self>;

    /// Binds a text value (or NULL).
    #[doc(hidden)]
    fn bind_text(value: Option<String>) -> Bind<Self>;
}

mod sealed {
    /// Implemented for the backends of [`SupportedBackend`](super::SupportedBackend) only.
    pub trait Sealed {}
}

/// `INSERT ... RETURNING <the model's columns>`: one round trip (PostgreSQL); and `retry` and
/// `start` as one statement each, with data-modifying CTEs (see `unique/one_statement.rs`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Returning {}

/// `INSERT`, then the key's live row is read in the same transaction (MySQL, which has no
/// `RETURNING`, and SQLite, where the read costs no round trip). The read is the locking
/// one: on MySQL/MariaDB a locking read sees the latest rows, where a plain read in a
/// `REPEATABLE READ` transaction could see an older snapshot.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum Reread {}

/// `bind_i64` and `bind_text`, the same text for every backend.
macro_rules! common_binds {
    () => {
        fn bind_i64(value: i64) -> Bind<Self> {
            bind::<Self, BigInt, _>(value)
        }

        fn bind_text(value: Option<String>) -> Bind<Self> {
            bind::<Self, Nullable<Text>, _>(value)
        }
    };
}

/// `bind_stamp` where the backend has a type for an instant (`instant`): a naive stamp as
/// `Timestamp`, an instant as `instant`.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
macro_rules! instant_binds {
    ($instant:ty) => {
        fn bind_stamp(kind: StampKind, at: crate::Timestamp) -> Result<Bind<Self>, Error> {
            Ok(match kind {
                StampKind::Naive => bind::<Self, diesel::sql_types::Timestamp, _>(
                    crate::timestamp::bound::Naive::from(at),
                ),
                StampKind::Utc => {
                    bind::<Self, $instant, _>(crate::timestamp::bound::Instant::from(at))
                }
            })
        }
    };
}

fn bind<DB, ST, V>(value: V) -> Bind<DB>
where
    DB: Backend + diesel::sql_types::HasSqlType<ST>,
    ST: diesel::sql_types::SqlType + diesel::sql_types::SingleValue,
    V: diesel::expression::AsExpression<ST>,
    V::Expression: QueryFragment<DB> + Send + 'static,
{
    Box::new(value.as_expression())
}

#[cfg(feature = "sqlite")]
impl sealed::Sealed for diesel::sqlite::Sqlite {}

#[cfg(feature = "sqlite")]
impl SupportedBackend for diesel::sqlite::Sqlite {
    const DIALECT: Dialect = Dialect::Sqlite;
    const BEGIN_WRITE: &'static str = "BEGIN IMMEDIATE";
    const LOCK: &'static str = "";
    const CACHE_LOCKING_READ: bool = true;
    type Fetch = Reread;

    common_binds!();

    instant_binds!(diesel::sql_types::TimestamptzSqlite);
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for diesel::pg::Pg {}

#[cfg(feature = "postgres")]
impl SupportedBackend for diesel::pg::Pg {
    const DIALECT: Dialect = Dialect::Postgres;
    const BEGIN_WRITE: &'static str = "BEGIN";
    const LOCK: &'static str = " FOR UPDATE";
    const CACHE_LOCKING_READ: bool = true;
    type Fetch = Returning;

    common_binds!();

    instant_binds!(diesel::sql_types::Timestamptz);
}

#[cfg(feature = "mysql")]
impl sealed::Sealed for diesel::mysql::Mysql {}

#[cfg(feature = "mysql")]
impl SupportedBackend for diesel::mysql::Mysql {
    const DIALECT: Dialect = Dialect::Mysql;
    const BEGIN_WRITE: &'static str = "SET TRANSACTION ISOLATION LEVEL READ COMMITTED; BEGIN";
    const LOCK: &'static str = " FOR UPDATE";
    const CACHE_LOCKING_READ: bool = false;
    type Fetch = Reread;

    common_binds!();

    fn bind_stamp(kind: StampKind, at: crate::Timestamp) -> Result<Bind<Self>, Error> {
        // MySQL has no type for an instant: a column of one holds the UTC wall-clock time
        // (`DATETIME`), or reads it in the session's time zone, UTC while a batch is written
        // or restored (`TIMESTAMP`).
        match kind {
            StampKind::Naive | StampKind::Utc => Ok(bind::<Self, diesel::sql_types::Datetime, _>(
                crate::timestamp::bound::Naive::from(at),
            )),
        }
    }
}

/// The SQL name of a table, as `table!` declares it (`#[sql_name]` and schema included).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableName {
    /// The schema (PostgreSQL) or database (MySQL), when `table!` names one.
    pub schema: Option<String>,
    /// The table's name.
    pub name: String,
}

impl TableName {
    /// The SQL name of table `T`.
    ///
    /// Read by rendering the table's `FROM` clause with an enabled backend and unquoting it,
    /// so it is exactly what Diesel writes in queries.
    ///
    /// ```
    /// use soft_delete_runtime::backend::TableName;
    /// diesel::table! { #[sql_name = "app_users"] users (id) { id -> Integer } }
    /// assert_eq!(TableName::of::<users::table>().name, "app_users");
    /// ```
    pub fn of<T>() -> TableName
    where
        T: QuerySource + Default,
        T::FromClause: QueryFragment<RenderBackend>,
    {
        let table = T::default();
        parse_quoted(&render::<RenderBackend, _>(&table.from_clause()))
    }
}

/// An unqualified table name: `TableName::from("users")`.
impl From<&str> for TableName {
    fn from(name: &str) -> TableName {
        TableName {
            schema: None,
            name: name.to_owned(),
        }
    }
}

impl AsRef<TableName> for TableName {
    fn as_ref(&self) -> &TableName {
        self
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.schema {
            Some(schema) => write!(f, "{schema}.{}", self.name),
            None => f.write_str(&self.name),
        }
    }
}

/// The backend used to render a table's name: the first one enabled. Every backend renders
/// `table!`'s `FROM` clause the same way up to quoting, which [`TableName::of`] undoes.
#[cfg(feature = "sqlite")]
pub type RenderBackend = diesel::sqlite::Sqlite;
/// The backend used to render a table's name: the first one enabled.
#[cfg(all(not(feature = "sqlite"), feature = "postgres"))]
pub type RenderBackend = diesel::pg::Pg;
/// The backend used to render a table's name: the first one enabled.
#[cfg(all(not(feature = "sqlite"), not(feature = "postgres"), feature = "mysql"))]
pub type RenderBackend = diesel::mysql::Mysql;

#[cfg(not(any(feature = "sqlite", feature = "postgres", feature = "mysql")))]
compile_error!(
    "soft-delete-runtime needs at least one backend feature: `sqlite`, `postgres` or `mysql`"
);

fn render<DB, F>(fragment: &F) -> String
where
    DB: Backend + Default,
    DB::QueryBuilder: Default,
    F: QueryFragment<DB>,
{
    // `debug_query` prints the SQL and then ` -- binds: [...]`; a FROM clause has no binds.
    let text = diesel::debug_query::<DB, _>(fragment).to_string();
    match text.rsplit_once(" -- binds:") {
        Some((sql, _)) => sql.to_owned(),
        None => text,
    }
}

/// Splits `"schema"."name"`, `` `name` `` or `name` into its parts, undoing doubled quotes.
fn parse_quoted(rendered: &str) -> TableName {
    let mut parts = Vec::new();
    let mut chars = rendered.trim().chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' | '`' => {
                let mut part = String::new();
                while let Some(d) = chars.next() {
                    if d == c {
                        if chars.peek() == Some(&c) {
                            chars.next();
                            part.push(c);
                        } else {
                            break;
                        }
                    } else {
                        part.push(d);
                    }
                }
                parts.push(part);
            }
            '.' => {}
            other => {
                let mut part = String::from(other);
                while let Some(&d) = chars.peek() {
                    if d == '.' {
                        break;
                    }
                    part.push(d);
                    chars.next();
                }
                parts.push(part);
            }
        }
    }
    let name = parts.pop().unwrap_or_default();
    TableName {
        schema: parts.pop(),
        name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    diesel::table! { plain (id) { id -> Integer } }
    diesel::table! { #[sql_name = "we\"ird"] renamed (id) { id -> Integer } }
    diesel::table! { app.accounts (id) { id -> Integer } }

    #[test]
    fn table_names_are_read_from_table_macro() {
        assert_eq!(
            TableName::of::<plain::table>(),
            TableName {
                schema: None,
                name: "plain".into()
            }
        );
        assert_eq!(TableName::of::<renamed::table>().name, "we\"ird");
        assert_eq!(
            TableName::of::<accounts::table>(),
            TableName {
                schema: Some("app".into()),
                name: "accounts".into()
            }
        );
    }

    #[test]
    fn quoting_doubles_the_quote_character() {
        assert_eq!(Dialect::Sqlite.quote(r#"a"b"#), r#"`a"b`"#);
        assert_eq!(Dialect::Sqlite.quote("a`b"), "`a``b`");
        assert_eq!(Dialect::Mysql.quote("a`b"), "`a``b`");
        let table = TableName {
            schema: Some("app".into()),
            name: "accounts".into(),
        };
        assert_eq!(Dialect::Postgres.quote_table(&table), r#""app"."accounts""#);
        assert_eq!(Dialect::Mysql.quote_table(&table), "`app`.`accounts`");
    }

    #[test]
    fn rendered_names_are_unquoted() {
        assert_eq!(parse_quoted("`db`.`t`").schema.as_deref(), Some("db"));
        assert_eq!(parse_quoted(r#""a""b""#).name, r#"a"b"#);
        assert_eq!(parse_quoted("bare").name, "bare");
    }
}
