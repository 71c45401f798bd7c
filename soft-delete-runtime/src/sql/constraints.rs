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
///
/// An index covers the column when it is one of its keys, when its expressions or its
/// predicate read it (`pg_depend` records what an index's expressions depend on), or when
/// it does either to a stored generated column computed from it (whose expression depends on
/// the column: as a column before PostgreSQL 15, through its `pg_attrdef` row since): a
/// change of the column changes what each of these indexes holds.
pub(crate) async fn covering<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    table: &TableName,
    column: &str,
) -> Result<Vec<FoundConstraint>, Error> {
    let mut sql = Sql::<BackendOf<Mo, C>>::text("WITH sd_t AS (SELECT to_regclass(");
    sql.bind(BackendOf::<Mo, C>::bind_text(Some(
        Dialect::Postgres.quote_table(table),
    )))
    .push(
        ") AS sd_oid), \
         sd_c AS (SELECT a.attnum FROM pg_catalog.pg_attribute a JOIN sd_t ON a.attrelid = sd_t.sd_oid \
                  WHERE a.attname = ",
    )
    .bind(BackendOf::<Mo, C>::bind_text(Some(column.to_owned())))
    .push(
        "), \
         sd_a AS (SELECT attnum FROM sd_c \
                  UNION SELECT d.objsubid FROM pg_catalog.pg_depend d JOIN sd_t ON d.objid = sd_t.sd_oid \
                  AND d.refobjid = sd_t.sd_oid \
                  WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.refclassid = 'pg_catalog.pg_class'::regclass \
                  AND d.objsubid > 0 AND d.refobjsubid IN (SELECT attnum FROM sd_c) \
                  UNION SELECT ad.adnum FROM pg_catalog.pg_attrdef ad JOIN sd_t ON ad.adrelid = sd_t.sd_oid \
                  JOIN pg_catalog.pg_attribute g ON g.attrelid = ad.adrelid AND g.attnum = ad.adnum \
                  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_attrdef'::regclass AND d.objid = ad.oid \
                  AND d.refclassid = 'pg_catalog.pg_class'::regclass AND d.refobjid = sd_t.sd_oid \
                  WHERE g.attgenerated = 's' AND d.refobjsubid IN (SELECT attnum FROM sd_c)) \
         SELECT n.nspname::text, COALESCE(c.conname, ic.relname)::text, '', \
                CAST(CAST(COALESCE(c.condeferrable, FALSE) AS INTEGER) AS BIGINT) \
         FROM pg_catalog.pg_index i \
         JOIN sd_t ON i.indrelid = sd_t.sd_oid \
         JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid \
         JOIN pg_catalog.pg_namespace n ON n.oid = ic.relnamespace \
         LEFT JOIN pg_catalog.pg_constraint c ON c.conindid = i.indexrelid \
         AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u', 'x') \
         WHERE (i.indisunique OR i.indisexclusion) \
         AND (EXISTS (SELECT 1 FROM sd_a WHERE sd_a.attnum = ANY (i.indkey)) \
              OR EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::regclass \
                         AND d.objid = i.indexrelid AND d.refclassid = 'pg_catalog.pg_class'::regclass \
                         AND d.refobjid = i.indrelid AND d.refobjsubid IN (SELECT attnum FROM sd_a)))",
    );
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
