//! Restoring one batch: exactly the rows it archived and the links it cut, nothing else.
//!
//! A batch's rows are found by the batch itself (its timestamp or batch id), so rows that an
//! earlier archive (or a plain soft delete) hid stay hidden. Links cut by `set_null` or
//! `set_default` are read back from the [journal](crate::ddl::journal), and only put back
//! where the row still holds what the archive left there (a link the application changed
//! since is the application's), no later archive not restored yet cut it again from another
//! value (the application changed it in between, and that archive's restore puts it back: a
//! batch restored before a newer one that overlaps it does not undo the newer one's cut), and
//! the row it pointed at is still there (a [purge](crate::purge) may have deleted it). Rows
//! deleted by `cascade(hard_delete)` are gone.
//!
//! The restore runs in one transaction (on PostgreSQL, for a graph with no link to put back,
//! [one statement](super::restore_statement) first). Before it brings back any row it checks the
//! active-unique keys the models declare ([`keys`](super::keys)): if a row of the batch would
//! become a second live row of a key, it returns [`Error::Conflict`] naming the live row (or
//! the other row of the batch with the same key), having written nothing. Links are checked
//! the same way before each is put back. A unique key the models do not declare (a plain
//! unique index, a partial one without `#[active_unique]`, a PostgreSQL exclusion
//! constraint) is the database's to enforce: its violation is returned as
//! [`Error::RestoreConflict`] with the database's message, and the caller rolls everything
//! back; so is one a deferred constraint reports at the `COMMIT` ([`commit_conflict`]).

use diesel::result::Error as DieselError;

use super::archive::journal_match;
use super::keys;
use super::marks::{self, BatchValues};
use crate::backend::{Dialect, SupportedBackend, TableName};
use crate::ddl::journal;
use crate::exec::SqlConnection;
use crate::relations::{Graph, Rule};
use crate::sql::catalog::Collations;
use crate::sql::{DbError, Dialected, Sql};
use crate::Error;

/// What a restore brought back.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Restored {
    rows: Vec<(TableName, u64)>,
    links: Vec<(TableName, &'static str, u64)>,
    /// Rows the batch archived, per table, as the archive log counts them.
    archived: Vec<(TableName, u64)>,
}

impl Restored {
    /// Rows brought back, per table, and no link, of a batch that archived `archived`.
    pub(super) fn of_rows(
        rows: Vec<(TableName, u64)>,
        archived: Vec<(TableName, u64)>,
    ) -> Restored {
        Restored {
            rows,
            links: Vec::new(),
            archived,
        }
    }

    /// [`Error::ArchivePurged`] when the batch archived rows and none came back.
    pub(super) fn refuse_if_purged(self, id: i64) -> Result<Restored, Error> {
        let archived: u64 = self.archived.iter().map(|(_, n)| n).sum();
        if archived > 0 && self.total_rows() == 0 {
            return Err(Error::ArchivePurged { id, archived });
        }
        Ok(self)
    }

    /// Rows brought back, per table (every table the batch could have archived rows of).
    pub fn rows(&self) -> &[(TableName, u64)] {
        &self.rows
    }

    /// Links put back, per child table and column.
    pub fn links(&self) -> &[(TableName, &'static str, u64)] {
        &self.links
    }

    /// Rows of `table` (its SQL name) brought back.
    pub fn rows_of(&self, table: &str) -> u64 {
        self.rows
            .iter()
            .filter(|(t, _)| t.name == table)
            .map(|(_, n)| n)
            .sum()
    }

    /// Links `table.column` put back.
    pub fn links_of(&self, table: &str, column: &str) -> u64 {
        self.links
            .iter()
            .filter(|(t, c, _)| t.name == table && *c == column)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Rows brought back in all.
    pub fn total_rows(&self) -> u64 {
        self.rows.iter().map(|(_, n)| n).sum()
    }

    /// Rows the batch archived that did not come back, per table (tables with none missing
    /// are left out): the archive log's count of the table's archived rows less the rows
    /// restored. A [purge](crate::purge) that deleted part of an archive (old children of a
    /// parent it kept) leaves them missing; so does a row of the batch brought back or hidden
    /// again on its own since. A batch with nothing left at all is refused instead, with
    /// [`Error::ArchivePurged`].
    pub fn missing(&self) -> Vec<(TableName, u64)> {
        self.archived
            .iter()
            .filter_map(|(table, archived)| {
                let back: u64 = self
                    .rows
                    .iter()
                    .filter(|(t, _)| t == table)
                    .map(|(_, n)| n)
                    .sum();
                let missing = archived.saturating_sub(back);
                (missing > 0).then(|| (table.clone(), missing))
            })
            .collect()
    }

    /// Rows the batch archived that did not come back, in all ([`missing`](Self::missing)).
    pub fn total_missing(&self) -> u64 {
        self.missing().iter().map(|(_, n)| n).sum()
    }
}

/// Restores `batch` over `graph` on `conn` (the caller holds the transaction).
pub(crate) async fn run<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    batch: BatchValues,
    collations: &Collations,
    archived: Vec<(TableName, u64)>,
) -> Result<Restored, Error> {
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);

    // Every table first: if one cannot tell its batch apart, nothing is written.
    let mut tables = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        if !graph.archived[i] {
            continue;
        }
        let soft = graph.soft(i)?;
        let condition = marks::in_batch::<C::Backend, R>(d, soft, batch)?.ok_or_else(|| {
            Error::BatchNotIdentifiable {
                table: node.name.to_string(),
            }
        })?;
        tables.push((node, soft, condition));
    }

    // Then every active-unique key, still before anything is written.
    if let Some(conflict) = rows_conflict(conn, graph, batch).await? {
        return Err(conflict);
    }

    let mut restored = Restored::default();
    for (node, soft, condition) in tables {
        let mut update = Sql::<C::Backend, R>::new();
        update.push(&format!(
            "UPDATE {} SET {} WHERE ",
            d.table(node),
            marks::unmark(d, soft)
        ));
        update.append(condition);
        let n = conn
            .run(update)
            .await
            .map_err(|e| conflict_or(e, &node.name))?;
        restored.rows.push((node.name.clone(), n as u64));
    }
    // None of the batch's rows left (a purge deleted them): refused before a link is put
    // back, and the caller rolls back the claim.
    restored.archived = archived;
    let mut restored = restored.refuse_if_purged(batch.id)?;

    if graph.needs_journal() {
        let mut seen = Vec::new();
        for edge in &graph.edges {
            if !matches!(edge.rule, Rule::SetNull | Rule::SetDefault)
                || !graph.archived[edge.parent]
                || seen.contains(&(edge.child, edge.column))
            {
                continue;
            }
            seen.push((edge.child, edge.column));
            if let Some(conflict) = keys::link(conn, graph, edge, batch, collations).await? {
                return Err(conflict);
            }
            let child = &graph.nodes[edge.child];
            let table = d.table(child);
            let journal_table = d.quote(journal::TABLE);
            let key = d.quote(child.key);
            let fk = d.quote(edge.column);
            let old_text = format!("sd_j.{}", d.quote(journal::OLD_VALUE));
            let old = d.journal_value(
                &old_text,
                edge.column_kind,
                collations.of(&child.name, edge.column),
            );
            let new = d.journal_value(
                &format!("sd_j.{}", d.quote(journal::NEW_VALUE)),
                edge.column_kind,
                collations.of(&child.name, edge.column),
            );
            let row_key = d.journal_value(
                &format!("sd_j.{}", d.quote(journal::ROW_KEY)),
                child.key_kind,
                collations.of(&child.name, child.key),
            );
            let still_cut = still_cut(d, &format!("sd_row.{fk}"), &new, "sd_j");
            // A link goes back only to a row that is still there (a purge may have deleted
            // it): a row of any parent whose cut links share this column.
            let parents: Vec<String> = graph
                .edges
                .iter()
                .filter(|e| {
                    e.child == edge.child
                        && e.column == edge.column
                        && matches!(e.rule, Rule::SetNull | Rule::SetDefault)
                        && graph.archived[e.parent]
                })
                .map(|e| {
                    let parent = &graph.nodes[e.parent];
                    let key = d.quote(parent.key);
                    // The old value, as a value of the parent's key.
                    let old = d.journal_value(
                        &old_text,
                        edge.column_kind,
                        collations.of(&parent.name, parent.key),
                    );
                    // Live or archived: the row is there (the `.with_deleted()` trace says
                    // so to the visibility guard).
                    let every_row = graph.soft(e.parent)?.every_row(d.0);
                    // MySQL refuses a subquery on the table being updated unless it is a
                    // derived table.
                    Ok(if d.0 == Dialect::Mysql && e.parent == edge.child {
                        format!(
                            "EXISTS (SELECT 1 FROM (SELECT {key} FROM {} WHERE {every_row}) AS sd_p WHERE sd_p.{key} = {old})",
                            d.table(parent)
                        )
                    } else {
                        format!(
                            "EXISTS (SELECT 1 FROM {} AS sd_p WHERE sd_p.{key} = {old} AND {every_row})",
                            d.table(parent)
                        )
                    })
                })
                .collect::<Result<_, Error>>()?;
            let parent_exists = format!("({})", parents.join(" OR "));
            let mut update = Sql::<C::Backend, R>::new();
            match d.0 {
                Dialect::Mysql => {
                    update.push(&format!(
                        "UPDATE {table} AS sd_row JOIN {journal_table} AS sd_j ON sd_row.{key} = {row_key} \
                         SET sd_row.{fk} = {old} WHERE "
                    ));
                    journal_match(&mut update, d, batch.id, child, edge.column, "sd_j.");
                    update.push(&format!(" AND {still_cut} AND {parent_exists}"));
                }
                Dialect::Sqlite | Dialect::Postgres => {
                    update.push(&format!(
                        "UPDATE {table} AS sd_row SET {fk} = {old} FROM {journal_table} AS sd_j WHERE "
                    ));
                    journal_match(&mut update, d, batch.id, child, edge.column, "sd_j.");
                    update.push(&format!(
                        " AND sd_row.{key} = {row_key} AND {still_cut} AND {parent_exists}"
                    ));
                }
            }
            let n = conn
                .run(update)
                .await
                .map_err(|e| conflict_or(e, &child.name))?;
            restored
                .links
                .push((child.name.clone(), edge.column, n as u64));
        }
        let mut forget = Sql::<C::Backend, R>::new();
        forget
            .push(&format!(
                "DELETE FROM {} WHERE {} = ",
                d.quote(journal::TABLE),
                d.quote(journal::BATCH_ID)
            ))
            .bind(<C::Backend as SupportedBackend>::bind_i64(batch.id));
        conn.run(forget).await?;
    }
    Ok(restored)
}

/// Whether the link of journal row `alias` is still as its archive left it, to be put back by
/// this batch's restore: the row's link `row_link` still holds the journal's new value `new`
/// (read as a value of the link's type), and no later archive cut the link from another value
/// since ([`cut_again_since`]).
pub(super) fn still_cut(d: Dialected, row_link: &str, new: &str, alias: &str) -> String {
    format!(
        "{} AND NOT {}",
        d.same(row_link, new),
        cut_again_since(d, alias)
    )
}

/// Whether a later archive than the one of the journal row `alias` (a higher batch id, not
/// restored yet: a restored batch's journal rows are gone) cut the same link again from a
/// value other than what `alias`'s archive left there: the application changed the link after
/// that archive, and the later archive's restore is the one to put it back. (A link a later
/// `set_default` reset from the very default it already held was not changed in between.)
fn cut_again_since(d: Dialected, alias: &str) -> String {
    let column = |alias: &str, name: &str| format!("{alias}.{}", d.quote(name));
    let later = "sd_later";
    // (MySQL allows this subquery in its multi-table `UPDATE`: the journal is joined there, not
    // updated.)
    let journal = d.quote(journal::TABLE);
    format!(
        "EXISTS (SELECT 1 FROM {journal} AS {later} WHERE {} = {} AND {} = {} AND {} = {} AND {} > {} AND NOT ({}))",
        column(later, journal::TABLE_NAME),
        column(alias, journal::TABLE_NAME),
        column(later, journal::COLUMN_NAME),
        column(alias, journal::COLUMN_NAME),
        column(later, journal::ROW_KEY),
        column(alias, journal::ROW_KEY),
        column(later, journal::BATCH_ID),
        column(alias, journal::BATCH_ID),
        d.same(
            &column(later, journal::OLD_VALUE),
            &column(alias, journal::NEW_VALUE)
        ),
    )
}

/// The first active-unique key that bringing back the archived rows of `batch` would break,
/// over every table of `graph` the batch can have rows of, as [`Error::Conflict`]. Writes
/// nothing: [`run`] calls it before its first write, and [`Batch::restore`](super::Batch::restore)
/// after a rollback, to tell whether a unique violation came from a declared key.
pub(crate) async fn rows_conflict<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    batch: BatchValues,
) -> Result<Option<Error>, Error> {
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(soft) = node.soft.as_ref().filter(|_| graph.archived[i]) else {
            continue;
        };
        if let Some(conflict) = keys::rows(conn, node, soft, batch).await? {
            return Ok(Some(conflict));
        }
    }
    Ok(None)
}

/// A unique or exclusion violation while bringing rows of `table` back (or putting its links
/// back) is a conflict with a live row on a unique key the models do not declare, since the
/// declared ones were checked before the write; anything else is passed on.
fn conflict_or(error: DieselError, table: &TableName) -> Error {
    match DbError::of(&error) {
        DbError::Unique(violation) => Error::RestoreConflict {
            table: table.to_string(),
            key: violation.unique_key(),
            message: violation.message().to_owned(),
        },
        _ => Error::Diesel(error),
    }
}

/// The error of the restore's `COMMIT`, after every statement succeeded: a unique or exclusion
/// constraint whose check is deferred (PostgreSQL's `DEFERRABLE INITIALLY DEFERRED`) refused
/// it there, which is a conflict like one refused by a statement. The table is the one the
/// database names (its node's name when it is in the graph).
pub(crate) fn commit_conflict(error: DieselError, graph: &Graph) -> Error {
    let table = match DbError::of(&error) {
        DbError::Unique(violation) => violation.table().map(|name| {
            graph
                .nodes
                .iter()
                .find(|node| node.name.name == name)
                .map_or_else(
                    || TableName {
                        schema: None,
                        name: name.to_owned(),
                    },
                    |node| node.name.clone(),
                )
        }),
        _ => None,
    };
    match table {
        Some(table) => conflict_or(error, &table),
        None => Error::Diesel(error),
    }
}
