//! What differs between SQLite, PostgreSQL and MySQL/MariaDB, in one place: the
//! [`Dialect`] of each Diesel backend, identifier quoting, and the SQL name of a table.
//!
//! Code that renders SQL itself (DDL, set-based statements over several tables) takes a
//! [`Dialect`] and quotes every identifier through [`Dialect::quote`]; nothing is spliced raw.
//!
//! [`SupportedBackend`] is sealed: this crate implements it for the three backends it
//! supports, each behind its cargo feature (`sqlite`, `postgres`, `mysql`).

pub use crate::sql::backend::{Dialect, RenderBackend, SupportedBackend, TableName};
