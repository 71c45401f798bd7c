//! What a purge reads from the catalog: the foreign keys into a table, the schema a name
//! resolves to, whether the journal exists, a MySQL table's engine; and the order of the
//! tables it follows from them.

use std::collections::HashSet;

use diesel::connection::LoadConnection;

use super::{Reference, Target};
use crate::backend::{Dialect, TableName};
use crate::collector::graph::Graph;
use crate::collector::sql::{CollectorBackend, Dialected, Sql};
use crate::ddl::journal;
use crate::purge::report::Via;
use crate::Error;

/// Adds the database's foreign keys into node `index` to its references: a key that matches
/// a declared edge is named on it, the others become references of their own. `resolved`
/// holds the graph's table names as the database resolves them.
pub(super) fn add_foreign_keys<C>(
    conn: &mut C,
    graph: &Graph,
    resolved: &[TableName],
    index: usize,
    references: &mut Vec<Reference>,
) -> Result<(), Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    let node = &graph.nodes[index];
    let keys = <C::Backend as CollectorBackend>::foreign_keys(conn, &node.name)?;
    let into_node: Vec<_> = keys
        .into_iter()
        .filter(|fk| fk.parent == resolved[index])
        .collect();
    let mut seen = HashSet::new();
    for fk in &into_node {
        if !seen.insert((fk.child.clone(), fk.constraint.clone())) {
            continue;
        }
        let mut columns: Vec<(i64, String, String)> = into_node
            .iter()
            .filter(|other| other.child == fk.child && other.constraint == fk.constraint)
            .map(|other| {
                let parent = other
                    .parent_column
                    .clone()
                    .unwrap_or_else(|| node.key.to_owned());
                (other.position, other.column.clone(), parent)
            })
            .collect();
        columns.sort();
        let columns: Vec<(String, String)> = columns.into_iter().map(|(_, c, p)| (c, p)).collect();
        let declared = references.iter_mut().find(|r| {
            r.via.foreign_key.is_none() && r.resolved == fk.child && r.columns == columns
        });
        match declared {
            Some(reference) => reference.via.foreign_key = Some(fk.constraint.clone()),
            None => references.push(Reference {
                child_soft: resolved
                    .iter()
                    .position(|name| *name == fk.child)
                    .and_then(|i| graph.nodes[i].soft),
                child: fk.child.clone(),
                resolved: fk.child.clone(),
                columns,
                via: Via {
                    rule: None,
                    foreign_key: Some(fk.constraint.clone()),
                },
            }),
        }
    }
    Ok(())
}

/// `name` as the database resolves it: with the schema an unqualified name stands for
/// (PostgreSQL: the first schema of the search path holding it; MySQL: the current
/// database). SQLite's catalog names tables of the main database without a schema, so a name
/// stays as it is there, and so does a table that does not exist.
pub(super) fn resolve<C>(conn: &mut C, d: Dialected, name: &TableName) -> Result<TableName, Error>
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
pub(super) fn journal_exists<C>(conn: &mut C, d: Dialected) -> Result<bool, Error>
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
    .bind(C::Backend::bind_text(Some(journal::TABLE.to_owned())))
    .push(if d.0 == Dialect::Postgres { "))" } else { "" });
    let rows = C::Backend::load_keys(conn, sql)?;
    Ok(rows.first().is_some_and(|(_, n)| *n > 0))
}

/// Orders the targets so that a table comes after every other target that references it
/// (children first); in a cycle the earlier-declared table goes first. Returns whether some
/// reference comes from a table purged later (a cycle between tables; a table referencing
/// itself repeats on its own), so that a pass can leave rows a later pass deletes.
pub(super) fn children_first(mut targets: Vec<Target>) -> (Vec<Target>, bool) {
    let references = |parent: &Target, child: &Target| {
        parent
            .references
            .iter()
            .any(|r| r.resolved == child.resolved)
    };
    let mut ordered = Vec::with_capacity(targets.len());
    while !targets.is_empty() {
        // A table no other remaining target references, or else (a cycle) the first one.
        let next = (0..targets.len())
            .find(|&i| (0..targets.len()).all(|j| j == i || !references(&targets[i], &targets[j])))
            .unwrap_or(0);
        ordered.push(targets.remove(next));
    }
    let repeats = ordered.iter().enumerate().any(|(i, parent)| {
        ordered[i + 1..]
            .iter()
            .any(|child| references(parent, child))
    });
    (ordered, repeats)
}
