//! The SQL this crate builds at run time, and the catalog it reads: one layer that the
//! collector, the purge and the schema checks use, on either executor.
//!
//! - [`Sql`] is a statement built from parts: SQL text whose identifiers are quoted by
//!   [`Dialect::quote`], bound values (never spliced into the text), and the caller's roots (a
//!   Diesel query that brings its own binds). Diesel walks the parts as one
//!   [`QueryFragment`](diesel::query_builder::QueryFragment), so it numbers the placeholders.
//! - [`SqlBackend`] is where a backend's Rust types matter: how a timestamp, an integer or a
//!   text is bound.
//! - [`SqlConnection`] is what a connection must run and load for these statements, in
//!   [`Blocking`](crate::exec::Blocking) or [`NonBlocking`](crate::exec::NonBlocking) mode.
//! - [`catalog`] reads the database's catalog (foreign keys, indexes, column precision and
//!   defaults, whether a table exists, MySQL engines and the session's time zone), each
//!   question written once with one SQL text per dialect.
//! - [`Dialected`] holds the SQL text pieces that differ by dialect.

pub(crate) mod catalog;
mod connection;
pub(crate) mod constraints;
mod dialect;
mod statement;

use diesel::backend::Backend;
use diesel::query_builder::QueryFragment;
use diesel::sql_types::{BigInt, Nullable, Text};

#[cfg(doc)]
use crate::backend::Dialect;
use crate::backend::SupportedBackend;
use crate::Error;

pub use connection::SqlConnection;
pub(crate) use connection::{ClashRow, KeyRow, LogRow};
pub(crate) use dialect::Dialected;
pub(crate) use statement::{Bind, Sql};

/// The SQL type of a primary or foreign key, as far as the collector needs to know it: to
/// write a key into the journal as text and read it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `SMALLINT`.
    SmallInt,
    /// `INTEGER`.
    Integer,
    /// `BIGINT`.
    BigInt,
    /// An unsigned integer (MySQL).
    Unsigned,
    /// Text (`TEXT`, `VARCHAR`).
    Text,
    /// `UUID` (PostgreSQL).
    Uuid,
}

/// How a batch's timestamp is bound for a column: without time zone (`TIMESTAMP`,
/// `DATETIME`), or as an instant (`TIMESTAMPTZ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StampKind {
    /// A timestamp without time zone, written in UTC.
    Naive,
    /// An instant: a timestamp with time zone on PostgreSQL and SQLite. MySQL/MariaDB have no
    /// such type, and a column holding instants there (`DATETIME` in UTC, `TIMESTAMP`) gets the
    /// UTC wall-clock time, the session's time zone being UTC while an archive or restore runs.
    Utc,
}

/// A Diesel backend this crate's run-time SQL runs on: how each kind of value is bound.
/// Implemented for SQLite, PostgreSQL and MySQL/MariaDB.
pub trait SqlBackend: SupportedBackend + Sized + 'static {
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
impl SqlBackend for diesel::sqlite::Sqlite {
    common_binds!();

    fn bind_stamp(kind: StampKind, at: crate::Timestamp) -> Result<Bind<Self>, Error> {
        use diesel::sql_types::{Timestamp, TimestamptzSqlite};
        Ok(match kind {
            StampKind::Naive => {
                bind::<Self, Timestamp, _>(crate::timestamp::bound::Naive::from(at))
            }
            StampKind::Utc => {
                bind::<Self, TimestamptzSqlite, _>(crate::timestamp::bound::Instant::from(at))
            }
        })
    }
}

#[cfg(feature = "postgres")]
impl SqlBackend for diesel::pg::Pg {
    common_binds!();

    fn bind_stamp(kind: StampKind, at: crate::Timestamp) -> Result<Bind<Self>, Error> {
        use diesel::sql_types::{Timestamp, Timestamptz};
        Ok(match kind {
            StampKind::Naive => {
                bind::<Self, Timestamp, _>(crate::timestamp::bound::Naive::from(at))
            }
            StampKind::Utc => {
                bind::<Self, Timestamptz, _>(crate::timestamp::bound::Instant::from(at))
            }
        })
    }
}

#[cfg(feature = "mysql")]
impl SqlBackend for diesel::mysql::Mysql {
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
