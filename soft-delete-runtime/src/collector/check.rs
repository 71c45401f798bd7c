//! The schema check: compares the declared relation graph with the foreign keys the
//! database really has, so a test in the application's suite keeps the two in step.
//!
//! The foreign keys are read from the catalog (`pg_constraint` on PostgreSQL,
//! `information_schema.KEY_COLUMN_USAGE` on MySQL/MariaDB, `PRAGMA foreign_key_list` on
//! SQLite), with the table names bound as values. Names read from the catalog are only
//! compared and reported (quoted, in backticks); they never become part of a SQL statement.
//!
//! Reported:
//! - a foreign key that references a table of the graph (the root, or a table a `cascade`
//!   reaches) but is not declared as an edge of it (an edge on one of its columns declares a
//!   multi-column key): the archive would leave those rows pointing at archived ones without
//!   a rule saying that is intended;
//! - a declared edge whose column has no foreign key in the database, or one to another
//!   table or column;
//! - a column the library reads rows by with no index leading with it
//!   ([`SchemaIssue::MissingIndex`]): the column of every edge but `do_nothing`, and the batch
//!   column (or else the deletion time) of every table an archive hides rows of. Without it
//!   each archive, restore or purge reads the whole table (and on MySQL/MariaDB locks it).

use std::fmt;

use crate::backend::TableName;
#[cfg(feature = "async")]
use crate::exec::NonBlocking;
use crate::exec::SqlConnection;
use crate::exec::{drive, Blocking};
use crate::relations::{ArchiveTable, Graph, Rule};
use crate::sql::catalog::{self, CatalogForeignKey};
use crate::Error;

/// A foreign key as the database declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKey {
    /// The constraint's name (SQLite: its number in `PRAGMA foreign_key_list`).
    pub constraint: String,
    /// The referencing table.
    pub child: TableName,
    /// The referencing columns, in key order.
    pub columns: Vec<String>,
    /// The referenced table.
    pub parent: TableName,
}

/// One difference between the declared graph and the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaIssue {
    /// The database has a foreign key into a table of the graph that no edge declares.
    Undeclared(ForeignKey),
    /// A declared edge's column has no foreign key in the database.
    NoForeignKey {
        /// The table the edge hangs off.
        parent: TableName,
        /// The edge's child table.
        child: TableName,
        /// The edge's column.
        column: &'static str,
        /// The edge's rule.
        rule: Rule,
    },
    /// A declared edge's column references another table, or another column than the
    /// parent's primary key.
    WrongTarget {
        /// The table the edge hangs off.
        parent: TableName,
        /// The edge's child table.
        child: TableName,
        /// The edge's column.
        column: &'static str,
        /// The edge's rule.
        rule: Rule,
        /// What the database says the column references: table, and column when named.
        references: (TableName, Option<String>),
    },
    /// No index of `table` (primary key, unique key or plain index; a partial index does
    /// not count) starts with `column`, and the library finds rows by it.
    MissingIndex {
        /// The table.
        table: TableName,
        /// The column an index should start with.
        column: &'static str,
        /// What reads rows by it.
        used_by: IndexUse,
    },
}

/// What reads rows by a column [`SchemaIssue::MissingIndex`] names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexUse {
    /// A declared edge: an archive, preview, restore or purge finds the children of a parent
    /// by it.
    Edge {
        /// The table the edge hangs off.
        parent: TableName,
        /// The edge's rule.
        rule: Rule,
    },
    /// The column that tells an archive's rows apart (the batch column, or else the
    /// deletion time): a restore finds the batch's rows by it, and a purge its candidates.
    Batch,
}

impl fmt::Display for SchemaIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaIssue::Undeclared(fk) => write!(
                f,
                "undeclared: `{}`.({}) references `{}` (constraint `{}`), but no edge of `{}` declares it; \
                 add `{}::{} = <rule>` to the `children(...)` of its model",
                fk.child,
                fk.columns.iter().map(|c| format!("`{c}`")).collect::<Vec<_>>().join(", "),
                fk.parent,
                fk.constraint,
                fk.parent,
                fk.child.name,
                fk.columns.first().map_or("?", String::as_str),
            ),
            SchemaIssue::NoForeignKey {
                parent,
                child,
                column,
                rule,
            } => write!(
                f,
                "declared `{child}`.`{column}` = {rule} under `{parent}`, but the database has no foreign key on `{child}`.`{column}`"
            ),
            SchemaIssue::WrongTarget {
                parent,
                child,
                column,
                rule,
                references: (table, referenced_column),
            } => {
                write!(
                    f,
                    "declared `{child}`.`{column}` = {rule} under `{parent}`, but the database says it references `{table}`"
                )?;
                if let Some(c) = referenced_column {
                    write!(f, ".`{c}`")?;
                }
                Ok(())
            }
            SchemaIssue::MissingIndex {
                table,
                column,
                used_by,
            } => {
                write!(f, "no index of `{table}` starts with `{column}`, ")?;
                match used_by {
                    IndexUse::Edge { parent, rule } => write!(
                        f,
                        "the column of `{}::{column} = {rule}` under `{parent}`",
                        table.name
                    )?,
                    IndexUse::Batch => write!(f, "by which a restore finds an archive's rows")?,
                }
                write!(
                    f,
                    "; without one each archive reads the whole table: add `CREATE INDEX ... ON {} ({column})`",
                    table.name
                )
            }
        }
    }
}

/// What [`check_schema`] found: empty when the declared graph and the database agree.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaReport {
    /// Every difference, undeclared foreign keys first.
    pub issues: Vec<SchemaIssue>,
}

impl SchemaReport {
    /// Whether the declared graph matches the database.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }
}

impl fmt::Display for SchemaReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.issues.is_empty() {
            return write!(
                f,
                "the declared relations match the database's foreign keys, and an index serves every column rows are found by"
            );
        }
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}

/// Same table: the names match, and the schemas too when the declaration names one (an
/// unqualified `table!` means the connection's default schema).
fn same_table(declared: &TableName, catalog: &TableName) -> bool {
    declared.name == catalog.name
        && declared
            .schema
            .as_ref()
            .is_none_or(|schema| catalog.schema.as_ref() == Some(schema))
}

/// Compares the relation graph reachable from `T` with the database's foreign keys, and
/// reports a column the library finds rows by that no index starts with.
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// # diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
/// # diesel::table! { posts (id) { id -> Integer, user_id -> Integer, deleted_at -> Nullable<Timestamp> } }
/// #[derive(Queryable, SoftDelete)]
/// #[soft_delete(children(posts::user_id = cascade))]
/// struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
/// #[derive(Queryable, SoftDelete)]
/// struct Post { id: i32, user_id: i32, deleted_at: Option<chrono::NaiveDateTime> }
///
/// # fn main() -> Result<(), soft_delete_runtime::Error> {
/// let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP)").execute(conn)?;
/// diesel::sql_query("CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id), deleted_at TIMESTAMP)").execute(conn)?;
/// diesel::sql_query("CREATE INDEX posts_user_id ON posts (user_id)").execute(conn)?;
/// diesel::sql_query("CREATE INDEX posts_deleted_at ON posts (deleted_at)").execute(conn)?;
/// diesel::sql_query("CREATE INDEX users_deleted_at ON users (deleted_at)").execute(conn)?;
/// let report = soft_delete_runtime::collector::check_schema::<users::table, _>(conn)?;
/// assert!(report.is_clean(), "{report}");
/// # Ok(())
/// # }
/// ```
pub fn check_schema<T, C>(conn: &mut C) -> Result<SchemaReport, Error>
where
    T: ArchiveTable,
    C: SqlConnection<Blocking>,
{
    drive(schema_report::<T, Blocking, C>(conn))
}

/// [`check_schema`] on a diesel-async connection (feature `async`).
#[cfg(feature = "async")]
pub async fn check_schema_async<T, C>(conn: &mut C) -> Result<SchemaReport, Error>
where
    T: ArchiveTable,
    C: SqlConnection<NonBlocking>,
{
    schema_report::<T, NonBlocking, C>(conn).await
}

async fn schema_report<T, Mo, C>(conn: &mut C) -> Result<SchemaReport, Error>
where
    T: ArchiveTable,
    C: SqlConnection<Mo>,
{
    graph_report(conn, &Graph::build(T::node())?).await
}

/// [`check_schema`] of the graph `graph`.
pub(crate) async fn graph_report<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    graph: &Graph,
) -> Result<SchemaReport, Error> {
    let mut keys: Vec<CatalogForeignKey> = Vec::new();
    for node in &graph.nodes {
        for key in catalog::foreign_keys(conn, &node.name).await? {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }

    // One entry per constraint, columns in order.
    let mut constraints: Vec<(ForeignKey, Vec<Option<String>>)> = Vec::new();
    for key in &keys {
        match constraints.iter_mut().find(|(fk, _)| {
            fk.constraint == key.constraint && fk.child == key.child && fk.parent == key.parent
        }) {
            Some((fk, referenced)) => {
                fk.columns.push(key.column.clone());
                referenced.push(key.parent_column.clone());
            }
            None => constraints.push((
                ForeignKey {
                    constraint: key.constraint.clone(),
                    child: key.child.clone(),
                    columns: vec![key.column.clone()],
                    parent: key.parent.clone(),
                },
                vec![key.parent_column.clone()],
            )),
        }
    }

    let mut report = SchemaReport::default();
    for (fk, _) in &constraints {
        let Some(parent) = graph
            .nodes
            .iter()
            .position(|n| same_table(&n.name, &fk.parent))
        else {
            continue;
        };
        if !graph.archived[parent] {
            continue;
        }
        // An edge on one of the key's columns declares it: of a multi-column key (a tenant
        // and an account, say) the edge names the column that references the parent's key,
        // and the check of the edges below reports one that references another column.
        let declared = graph.outgoing[parent].iter().any(|&e| {
            let edge = graph.edges[e];
            fk.columns.iter().any(|c| c == edge.column)
                && same_table(&graph.nodes[edge.child].name, &fk.child)
        });
        if !declared {
            report.issues.push(SchemaIssue::Undeclared(fk.clone()));
        }
    }

    for edge in &graph.edges {
        let parent = &graph.nodes[edge.parent];
        let child = &graph.nodes[edge.child];
        let on_column: Vec<&CatalogForeignKey> = keys
            .iter()
            .filter(|k| same_table(&child.name, &k.child) && k.column == edge.column)
            .collect();
        if on_column.is_empty() {
            report.issues.push(SchemaIssue::NoForeignKey {
                parent: parent.name.clone(),
                child: child.name.clone(),
                column: edge.column,
                rule: edge.rule,
            });
            continue;
        }
        let right = on_column.iter().any(|k| {
            same_table(&parent.name, &k.parent)
                && k.parent_column.as_deref().is_none_or(|c| c == parent.key)
        });
        if !right {
            let wrong = on_column[0];
            report.issues.push(SchemaIssue::WrongTarget {
                parent: parent.name.clone(),
                child: child.name.clone(),
                column: edge.column,
                rule: edge.rule,
                references: (wrong.parent.clone(), wrong.parent_column.clone()),
            });
        }
    }

    // The columns rows are found by, each once: the edges' (but `do_nothing`, which sends
    // nothing), then the batch identity of every table an archive hides rows of.
    let mut wanted: Vec<(usize, &'static str, IndexUse)> = Vec::new();
    for edge in graph.edges.iter().filter(|e| e.rule != Rule::DoNothing) {
        if !wanted
            .iter()
            .any(|(n, c, _)| *n == edge.child && *c == edge.column)
        {
            wanted.push((
                edge.child,
                edge.column,
                IndexUse::Edge {
                    parent: graph.nodes[edge.parent].name.clone(),
                    rule: edge.rule,
                },
            ));
        }
    }
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(soft) = node.soft.as_ref().filter(|_| graph.archived[i]) else {
            continue;
        };
        let column = soft.columns.batch.or(soft.columns.stamp.map(|s| s.name));
        if let Some(column) = column {
            if !wanted.iter().any(|(n, c, _)| *n == i && *c == column) {
                wanted.push((i, column, IndexUse::Batch));
            }
        }
    }
    let mut indexed: Vec<(usize, Vec<String>)> = Vec::new();
    for (node, column, used_by) in wanted {
        let columns = match indexed.iter().position(|(n, _)| *n == node) {
            Some(at) => &indexed[at].1,
            None => {
                let read = catalog::leading_index_columns(conn, &graph.nodes[node].name).await?;
                indexed.push((node, read));
                &indexed[indexed.len() - 1].1
            }
        };
        if !columns.iter().any(|c| c == column) {
            report.issues.push(SchemaIssue::MissingIndex {
                table: graph.nodes[node].name.clone(),
                column,
                used_by,
            });
        }
    }
    Ok(report)
}
