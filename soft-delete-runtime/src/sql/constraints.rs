//! The catalog's questions about constraints (PostgreSQL), for deferred checks: which named
//! constraints exist and can be deferred, and which unique or exclusion indexes cover a column.
//!
//! Names are bound as values, never put into the SQL text.

use super::backend::{Dialect, TableName};
use super::statement::Sql;
use super::SupportedBackend;
use crate::exec::BackendOf;
use crate::exec::SqlConnection;
use crate::Error;

/// A constraint (or an index no constraint owns) found by [`named`] or [`covering`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FoundConstraint {
    /// Its schema (only [`covering`] reads it).
    pub(crate) schema: String,
    /// Its name.
    pub(crate) name: String,
    /// Whether it is `DEFERRABLE`.
    pub(crate) deferrable: bool,
}

/// PostgreSQL: the constraints named `names` in the schemas of the `search_path`, and whether
/// each is `DEFERRABLE` (a name may be found in several schemas, or not at all).
///
/// `SELECT conname, condeferrable FROM pg_constraint ... WHERE conname IN ($1, ...)`
pub(crate) async fn named<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    names: &[String],
) -> Result<Vec<FoundConstraint>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>>::text(
        "SELECT c.conname::text, CAST(CAST(c.condeferrable AS INTEGER) AS BIGINT) FROM pg_catalog.pg_constraint c \
         JOIN pg_catalog.pg_namespace n ON n.oid = c.connamespace \
         WHERE n.nspname = ANY (current_schemas(true)) AND c.conname IN (",
    );
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.bind(BackendOf::<Mo, C>::bind_text(Some(name.clone())));
    }
    sql.push(")");
    let rows: Vec<(String, i64)> = conn.rows(sql).await?;
    Ok(rows
        .into_iter()
        .map(|(name, deferrable)| FoundConstraint {
            schema: String::new(),
            name,
            deferrable: deferrable != 0,
        })
        .collect())
}

/// PostgreSQL: the unique and exclusion indexes of `table` that cover `column`: for each, its
/// schema, the name of the constraint behind it (of the index itself for a plain
/// `CREATE UNIQUE INDEX`, which no constraint owns) and whether that constraint is
/// `DEFERRABLE` (never, for a plain index).
pub(crate) async fn covering<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    table: &TableName,
    column: &str,
) -> Result<Vec<FoundConstraint>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>>::text(
        "SELECT n.nspname::text, COALESCE(c.conname, ic.relname)::text, '', \
                CAST(CAST(COALESCE(c.condeferrable, FALSE) AS INTEGER) AS BIGINT) \
         FROM pg_catalog.pg_index i \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
         JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) \
         LEFT JOIN pg_catalog.pg_constraint c ON c.conindid = i.indexrelid \
         AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x') \
         WHERE i.indrelid = to_regclass(",
    );
    sql.bind(BackendOf::<Mo, C>::bind_text(Some(
        Dialect::Postgres.quote_table(table),
    )))
    .push(") AND a.attname = ")
    .bind(BackendOf::<Mo, C>::bind_text(Some(column.to_owned())))
    .push(" AND (i.indisunique OR i.indisexclusion)");
    let rows: Vec<(String, String, String, i64)> = conn.rows(sql).await?;
    Ok(rows
        .into_iter()
        .map(|(schema, name, _, deferrable)| FoundConstraint {
            schema,
            name,
            deferrable: deferrable != 0,
        })
        .collect())
}
