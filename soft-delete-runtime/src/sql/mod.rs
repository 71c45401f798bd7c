//! The SQL this crate builds at run time, and the catalog it reads: one layer that the
//! collector, the purge and the schema checks use, on either executor.
//!
//! - [`Sql`] is a statement built from parts: SQL text whose identifiers are quoted by
//!   [`Dialect::quote`], bound values (never spliced into the text), and the caller's roots (a
//!   Diesel query that brings its own binds). Diesel walks the parts as one
//!   [`QueryFragment`](diesel::query_builder::QueryFragment), so it numbers the placeholders.
//! - [`backend`] holds what differs between backends: the sealed [`SupportedBackend`] trait
//!   (users see it as [`crate::backend`]), the [`Dialect`], quoting, a table's SQL name, and
//!   where a backend's Rust types matter (how a timestamp, an integer or a text is bound).
//! - [`rows`] lists the row shapes these statements load, which
//!   [`SqlConnection`](crate::exec::SqlConnection) (what a connection must run and load for
//!   them, in either mode) names in one bound.
//! - [`catalog`] reads the database's catalog (foreign keys, indexes, column precision and
//!   defaults, whether a table exists, MySQL engines and the session's time zone), each
//!   question written once with one SQL text per dialect.
//! - [`Dialected`] holds the SQL text pieces that differ by dialect.
//! - [`errors`] reads the database's errors: the one place that tells a unique violation
//!   from a foreign key's, contention from anything else, and reads what a violation names.

pub(crate) mod backend;
pub(crate) mod catalog;
pub(crate) mod constraints;
mod dialect;
pub(crate) mod errors;
pub(crate) mod rows;
mod statement;

#[cfg(doc)]
use backend::Dialect;
pub(crate) use backend::SupportedBackend;
pub(crate) use dialect::Dialected;
pub(crate) use errors::DbError;
pub(crate) use rows::{ClashRow, KeyRow, LogRow};
pub(crate) use statement::{Bind, NoRoots, Sql, Typed};

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
