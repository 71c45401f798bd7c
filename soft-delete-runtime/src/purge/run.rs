//! The purge's statements: which tables it deletes from, which references keep a row, and
//! the batches.
//!
//! One batch is one short transaction of two statements on one table:
//!
//! ```text
//! SELECT CAST(sd_k AS TEXT), COUNT(*) OVER () FROM (
//!     SELECT key AS sd_k FROM t WHERE key > <last> AND <deleted> AND stamp < <cutoff>
//!     ORDER BY key LIMIT <batch size>) AS sd_w
//! ORDER BY sd_w.sd_k DESC LIMIT 1                         -- the window's last key
//! DELETE FROM t WHERE key > <last> AND key <= <window's last key>
//!     AND <deleted> AND stamp < <cutoff>
//!     AND NOT EXISTS (SELECT 1 FROM child AS sd_r WHERE sd_r.fk = t.key)   -- per reference
//! ```
//!
//! The window walks the table in key order, so each batch starts where the last one ended
//! and the whole purge reads every candidate once; a batch deletes at most the window's
//! rows. Rows a reference keeps are passed over and stay; tables are purged children first,
//! so a parent's dead children are gone before the parent's own turn.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::connection::LoadConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::RunQueryDsl;

use super::report::{Progress, PurgeReport, Referrer, Skipped, TableReport, Via};
use crate::backend::{Dialect, SupportedBackend, TableName};
use crate::collector::graph::{Graph, KeyKind, Node, SoftInfo, StampColumn};
use crate::collector::sql::{CollectorBackend, Dialected, Sql};
use crate::collector::Rule;
use crate::ddl::journal;
use crate::Error;

mod pages;

/// How many times a batch refused by a foreign key (a referencing row written after the
/// batch's check) is tried again before the purge gives up.
const FOREIGN_KEY_ATTEMPTS: u32 = 3;

/// What a purge was asked to do.
pub(crate) struct Settings<'s, 'a> {
    pub(crate) cutoff: DateTime<Utc>,
    pub(crate) batch_size: usize,
    pub(crate) skipped_ids: usize,
    pub(crate) progress: &'s mut Option<super::ProgressCallback<'a>>,
}

/// Rows of a purged table that keep the rows they reference.
struct Reference {
    child: TableName,
    /// `child` as the database resolves it (with its schema).
    resolved: TableName,
    /// The child's soft-delete columns, when a model of the graph describes it.
    child_soft: Option<SoftInfo>,
    /// `(referencing column, referenced column)` pairs.
    columns: Vec<(String, String)>,
    via: Via,
}

/// A table the purge deletes from.
struct Target {
    node: Node,
    /// The table's name as the database resolves it (with its schema).
    resolved: TableName,
    soft: SoftInfo,
    stamp: StampColumn,
    references: Vec<Reference>,
    /// Whether rows of the table reference other rows of it.
    self_referencing: bool,
    report: TableReport,
}

/// A purge in progress: its targets, in the order they are purged, and its report.
pub(crate) struct Run<'s, 'a> {
    d: Dialected,
    settings: Settings<'s, 'a>,
    targets: Vec<Target>,
    /// Whether a pass can leave rows that a later pass deletes: a reference into a target
    /// from a target purged after it (a cycle between tables).
    repeats: bool,
    /// The journal's `(child table, column)` pairs of `set_null`/`set_default` edges, by
    /// parent: links into a purged row are dropped from the journal.
    cut_links: Vec<(TableName, TableName, &'static str)>,
    started: Instant,
    /// The candidates counted before the first batch (only for a progress callback).
    estimated: u64,
    pub(crate) report: PurgeReport,
}

impl<'s, 'a> Run<'s, 'a> {
    /// Reads the graph and the catalog: the targets, their references and their order.
    pub(crate) fn plan<C>(
        conn: &mut C,
        graph: &Graph,
        settings: Settings<'s, 'a>,
        dry_run: bool,
    ) -> Result<Self, Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let started = Instant::now();
        let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
        let mut report = PurgeReport::new(settings.cutoff, dry_run);
        // Names as the database resolves them, so that a table is told from a same-named one
        // in another schema.
        let resolved = graph
            .nodes
            .iter()
            .map(|node| resolve::<C>(conn, d, &node.name))
            .collect::<Result<Vec<_>, _>>()?;
        let mut targets = Vec::new();
        for (index, node) in graph.nodes.iter().enumerate() {
            let Some(soft) = node.soft.filter(|_| graph.archived[index]) else {
                continue;
            };
            let Some(stamp) = soft.columns.stamp else {
                if index == 0 {
                    return Err(Error::NoDeletionTime {
                        table: node.name.clone(),
                    });
                }
                report.not_purged.push(node.name.clone());
                continue;
            };
            let mut references: Vec<Reference> = graph
                .edges
                .iter()
                .filter(|edge| edge.parent == index)
                .map(|edge| {
                    let child = &graph.nodes[edge.child];
                    Reference {
                        child: child.name.clone(),
                        resolved: resolved[edge.child].clone(),
                        child_soft: child.soft,
                        columns: vec![(edge.column.to_owned(), node.key.to_owned())],
                        via: Via {
                            rule: Some(edge.rule),
                            foreign_key: None,
                        },
                    }
                })
                .collect();
            add_foreign_keys::<C>(conn, graph, &resolved, index, &mut references)?;
            let self_referencing = references.iter().any(|r| r.resolved == resolved[index]);
            targets.push(Target {
                node: node.clone(),
                resolved: resolved[index].clone(),
                soft,
                stamp,
                references,
                self_referencing,
                report: TableReport {
                    table: node.name.clone(),
                    deleted: 0,
                    kept: 0,
                    batches: 0,
                },
            });
        }
        if dry_run && d.0 == Dialect::Mysql {
            for target in &targets {
                refuse_without_transactions::<C>(conn, &target.resolved)?;
            }
        }
        let (targets, repeats) = children_first(targets);
        let cut_links: Vec<_> = graph
            .edges
            .iter()
            .filter(|edge| matches!(edge.rule, Rule::SetNull | Rule::SetDefault))
            .map(|edge| {
                (
                    graph.nodes[edge.parent].name.clone(),
                    graph.nodes[edge.child].name.clone(),
                    edge.column,
                )
            })
            .collect();
        // A graph with such edges needs the journal only for archives; without one there is
        // nothing to clean.
        let cut_links = if cut_links.is_empty() || journal_exists::<C>(conn, d)? {
            cut_links
        } else {
            Vec::new()
        };
        Ok(Run {
            d,
            settings,
            targets,
            repeats,
            cut_links,
            started,
            estimated: 0,
            report,
        })
    }

    /// Runs the batches, then reads what was kept and why.
    pub(crate) fn execute<C>(&mut self, conn: &mut C) -> Result<(), Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        // The estimate costs a count per table, so only a progress callback pays for it.
        if self.settings.progress.is_some() {
            for i in 0..self.targets.len() {
                self.estimated += self.count_candidates(conn, i, false)?;
            }
        }
        loop {
            let (mut deleted, mut kept) = (0, 0);
            for i in 0..self.targets.len() {
                // A table referencing itself goes again while a pass frees rows: a chain of
                // replies goes one level per pass, leaves first.
                loop {
                    let (d, k) = self.purge_table(conn, i)?;
                    deleted += d;
                    kept += k;
                    if !self.targets[i].self_referencing || d == 0 || k == 0 {
                        break;
                    }
                }
            }
            if !self.repeats || deleted == 0 || kept == 0 {
                break;
            }
        }
        for i in 0..self.targets.len() {
            self.explain_kept(conn, i)?;
        }
        self.finish();
        Ok(())
    }

    /// Copies the tables' figures into the report.
    pub(crate) fn finish(&mut self) {
        self.report.tables = self.targets.iter().map(|t| t.report.clone()).collect();
        self.report.elapsed = self.started.elapsed();
    }

    /// Purges table `i` in batches, from its first row to its last. Returns the rows deleted
    /// and the rows its batches passed over (still referenced).
    fn purge_table<C>(&mut self, conn: &mut C, i: usize) -> Result<(u64, u64), Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let (deleted, kept) = match pages::table_pages(
            conn,
            self.d,
            &self.targets[i].node,
            self.settings.batch_size,
        )? {
            Some(pages) => {
                let deleted = self.purge_pages(conn, i, pages)?;
                // Page batches do not count what they pass over: what is kept is what is
                // still referenced.
                let kept = if self.targets[i].references.is_empty() {
                    0
                } else {
                    self.count_candidates(conn, i, true)?
                };
                (deleted, kept)
            }
            None => self.purge_keys(conn, i, None)?,
        };
        // What this pass passed over is what the table keeps (a later pass may still free it).
        self.targets[i].report.kept = kept;
        conn.transaction(|conn| self.clean_journal(conn, i))?;
        Ok((deleted, kept))
    }

    /// Purges table `i` (or only its page `page`) in key order: each batch a window of the
    /// next candidates by key. Returns the rows deleted and passed over.
    fn purge_keys<C>(
        &mut self,
        conn: &mut C,
        i: usize,
        page: Option<u64>,
    ) -> Result<(u64, u64), Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let (mut deleted, mut kept) = (0, 0);
        let mut last: Option<String> = None;
        loop {
            let started = Instant::now();
            let outcome = retry_foreign_key(|| {
                conn.transaction(|conn| self.batch(conn, i, last.as_deref(), page))
            })?;
            let Some((end, window, n)) = outcome else {
                break;
            };
            deleted += n;
            // A row soft-deleted before the cutoff by another transaction during the batch can
            // join the delete and not the window.
            kept += window.saturating_sub(n);
            self.record_batch(i, n, started.elapsed());
            last = Some(end);
            if window < self.settings.batch_size as u64 {
                break;
            }
        }
        Ok((deleted, kept))
    }

    /// Counts a committed batch of table `i` and tells the progress callback.
    fn record_batch(&mut self, i: usize, deleted: u64, took: Duration) {
        let target = &mut self.targets[i];
        target.report.deleted += deleted;
        target.report.batches += 1;
        self.report.batches += 1;
        self.report.longest_batch = self.report.longest_batch.max(took);
        self.notify(i);
    }

    /// One batch: the next window of candidates after `last` (on page `page` only, if given),
    /// and the delete. Returns the window's last key, its size and the rows deleted; `None`
    /// when no candidate is left.
    fn batch<C>(
        &self,
        conn: &mut C,
        i: usize,
        last: Option<&str>,
        page: Option<u64>,
    ) -> Result<Option<(String, u64, u64)>, Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let target = &self.targets[i];
        let d = self.d;
        let key = d.quote(target.node.key);
        // PostgreSQL has no MAX(uuid); a uuid's text in byte order sorts like the uuid.
        let end = match (d.0, target.node.key_kind) {
            (Dialect::Postgres, KeyKind::Uuid) => {
                "MAX(CAST(sd_w.sd_k AS TEXT) COLLATE \"C\")".to_owned()
            }
            _ => d.cast_to_text("MAX(sd_w.sd_k)"),
        };
        let mut window = Sql::<C::Backend>::new();
        window.push(&format!(
            "SELECT COALESCE({end}, ''), COUNT(*) FROM (SELECT {key} AS sd_k FROM {} WHERE ",
            d.table(&target.node)
        ));
        self.after(&mut window, target, last);
        pages::on_page(&mut window, page);
        self.candidate(&mut window, target)?;
        window.push(&format!(" ORDER BY {key} LIMIT "));
        let size = i64::try_from(self.settings.batch_size).unwrap_or(i64::MAX);
        window.bind(<C::Backend as CollectorBackend>::bind_i64(size));
        window.push(") AS sd_w");
        let found = <C::Backend as CollectorBackend>::load_keys(conn, window)?;
        let Some((end, count)) = found.into_iter().next().filter(|(_, count)| *count > 0) else {
            return Ok(None);
        };

        let mut delete = Sql::<C::Backend>::new();
        delete.push(&format!("DELETE FROM {} WHERE ", d.table(&target.node)));
        self.after(&mut delete, target, last);
        pages::on_page(&mut delete, page);
        delete.push(&format!("{key} <= "));
        self.key_value(&mut delete, target, &end);
        delete.push(" AND ");
        self.candidate(&mut delete, target)?;
        for reference in &target.references {
            if d.0 == Dialect::Mysql && reference.resolved == target.resolved {
                self.unreferenced_in_own_table(&mut delete, target, reference, last, &end);
            } else {
                delete.push(&format!(
                    " AND NOT {}",
                    self.referenced(target, reference, None)
                ));
            }
        }
        let deleted = delete.execute(conn)? as u64;
        Ok(Some((end, count as u64, deleted)))
    }

    /// `key > CAST(<last> AS <key type>) AND `, when there is a last key.
    fn after<DB: CollectorBackend>(
        &self,
        sql: &mut Sql<'_, DB>,
        target: &Target,
        last: Option<&str>,
    ) {
        if let Some(last) = last {
            sql.push(&format!("{} > ", self.d.quote(target.node.key)));
            self.key_value(sql, target, last);
            sql.push(" AND ");
        }
    }

    /// A key read back as text, bound and cast to the key's type.
    fn key_value<DB: CollectorBackend>(&self, sql: &mut Sql<'_, DB>, target: &Target, text: &str) {
        sql.push("CAST(")
            .bind(DB::bind_text(Some(text.to_owned())))
            .push(&format!(" AS {})", self.d.key_type(target.node.key_kind)));
    }

    /// `<deleted> AND stamp < <cutoff>`: the rows the purge is after.
    fn candidate<DB: CollectorBackend>(
        &self,
        sql: &mut Sql<'_, DB>,
        target: &Target,
    ) -> Result<(), Error> {
        sql.push(&format!(
            "{} AND {} < ",
            (target.soft.deleted)(self.d.0),
            self.d.quote(target.stamp.name)
        ));
        sql.bind(DB::bind_stamp(target.stamp.kind, self.settings.cutoff)?);
        Ok(())
    }

    /// `EXISTS (SELECT 1 FROM child AS sd_r WHERE sd_r.fk = t.key [AND <referrer state>])`.
    fn referenced(
        &self,
        target: &Target,
        reference: &Reference,
        referrer: Option<Referrer>,
    ) -> String {
        let d = self.d;
        // The state's columns are unqualified: inside the subquery they name the child's.
        let state = match (referrer, &reference.child_soft) {
            (Some(Referrer::Live), Some(soft)) => format!(" AND {}", (soft.live)(d.0)),
            (Some(Referrer::Archived), Some(soft)) => format!(" AND {}", (soft.deleted)(d.0)),
            _ => String::new(),
        };
        format!(
            "EXISTS (SELECT 1 FROM {} AS sd_r WHERE {}{state})",
            d.0.quote_table(&reference.child),
            self.matches(target, reference)
        )
    }

    /// `sd_r.fk = t.key [AND ...]`: the referencing row `sd_r` points at the row of `t`; in
    /// a table referencing itself, another row than `t`'s own (a row referencing itself does
    /// not keep itself, except on MySQL).
    fn matches(&self, target: &Target, reference: &Reference) -> String {
        let d = self.d;
        let parent = d.0.quote_table(&target.node.name);
        let pairs: Vec<String> = reference
            .columns
            .iter()
            .map(|(child, parent_column)| {
                format!(
                    "sd_r.{} = {parent}.{}",
                    d.quote(child),
                    d.quote(parent_column)
                )
            })
            .collect();
        let mut matches = pairs.join(" AND ");
        // InnoDB checks a foreign key row by row, and refuses to delete a row that references
        // itself: there it keeps itself.
        if reference.resolved == target.resolved && d.0 != Dialect::Mysql {
            let key = d.quote(target.node.key);
            matches.push_str(&format!(" AND sd_r.{key} <> {parent}.{key}"));
        }
        matches
    }

    /// ` AND NOT EXISTS (...)` for a reference from the table being deleted from, on MySQL,
    /// which refuses a subquery on the table a `DELETE` deletes from unless it is a derived
    /// table: the referencing column is read into one, bounded by the window's keys when it
    /// references the primary key.
    fn unreferenced_in_own_table<DB: CollectorBackend>(
        &self,
        sql: &mut Sql<'_, DB>,
        target: &Target,
        reference: &Reference,
        last: Option<&str>,
        end: &str,
    ) {
        let d = self.d;
        let parent = d.0.quote_table(&target.node.name);
        let mut columns: Vec<String> = reference.columns.iter().map(|(c, _)| d.quote(c)).collect();
        let key = d.quote(target.node.key);
        if !columns.contains(&key) {
            columns.push(key);
        }
        sql.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM (SELECT {} FROM {parent}",
            columns.join(", ")
        ));
        if let [(column, referenced)] = reference.columns.as_slice() {
            if referenced == target.node.key {
                let column = d.quote(column);
                sql.push(&format!(" WHERE {column} <= "));
                self.key_value(sql, target, end);
                if let Some(last) = last {
                    sql.push(&format!(" AND {column} > "));
                    self.key_value(sql, target, last);
                }
            }
        }
        sql.push(&format!(
            ") AS sd_r WHERE {})",
            self.matches(target, reference)
        ));
    }

    /// The candidates of table `i` (soft-deleted before the cutoff), counted; only those
    /// still referenced, if `referenced`.
    fn count_candidates<C>(&self, conn: &mut C, i: usize, referenced: bool) -> Result<u64, Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let target = &self.targets[i];
        let mut count = Sql::<C::Backend>::new();
        count.push(&format!(
            "SELECT {}, COUNT(*) FROM {} WHERE ",
            self.d.cast_to_text("COUNT(*)"),
            self.d.table(&target.node)
        ));
        self.candidate(&mut count, target)?;
        if referenced {
            let any: Vec<String> = target
                .references
                .iter()
                .map(|reference| self.referenced(target, reference, None))
                .collect();
            count.push(&format!(" AND ({})", any.join(" OR ")));
        }
        let rows = <C::Backend as CollectorBackend>::load_keys(conn, count)?;
        Ok(rows.first().map_or(0, |(_, n)| *n as u64))
    }

    /// Why the candidates left in table `i` were kept: per reference and state of the
    /// referencing rows, how many and which.
    fn explain_kept<C>(&mut self, conn: &mut C, i: usize) -> Result<(), Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let target = &self.targets[i];
        if target.report.kept == 0 {
            return Ok(());
        }
        let key = self.d.quote(target.node.key);
        let mut skipped = Vec::new();
        for reference in &target.references {
            let states: &[Referrer] = match &reference.child_soft {
                Some(_) => &[Referrer::Live, Referrer::Archived],
                None if reference.via.rule.is_some() => &[Referrer::Live],
                None => &[Referrer::Row],
            };
            for &state in states {
                let mut select = Sql::<C::Backend>::new();
                select.push(&format!(
                    "SELECT {}, COUNT(*) OVER () FROM {} WHERE ",
                    self.d.cast_to_text(&key),
                    self.d.table(&target.node)
                ));
                self.candidate(&mut select, target)?;
                select.push(&format!(
                    " AND {} ORDER BY {key} LIMIT ",
                    self.referenced(target, reference, Some(state))
                ));
                let cap = i64::try_from(self.settings.skipped_ids.max(1)).unwrap_or(i64::MAX);
                select.bind(<C::Backend as CollectorBackend>::bind_i64(cap));
                let found = <C::Backend as CollectorBackend>::load_keys(conn, select)?;
                let Some(&(_, count)) = found.first() else {
                    continue;
                };
                skipped.push(Skipped {
                    table: target.node.name.clone(),
                    referenced_by: reference.child.clone(),
                    columns: reference.columns.iter().map(|(c, _)| c.clone()).collect(),
                    via: reference.via.clone(),
                    referrer: state,
                    count: count as u64,
                    ids: found
                        .into_iter()
                        .take(self.settings.skipped_ids)
                        .map(|(id, _)| id)
                        .collect(),
                });
            }
        }
        self.report.skipped.extend(skipped);
        Ok(())
    }

    /// Drops the journal's entries that can no longer be restored: links of purged rows of
    /// table `i`, and links into purged rows of it.
    fn clean_journal<C>(&self, conn: &mut C, i: usize) -> Result<(), Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let target = &self.targets[i];
        let name = &target.node.name;
        if self.cut_links.iter().any(|(_, child, _)| child == name) {
            self.drop_entries(conn, target, name, None, journal::ROW_KEY)?;
        }
        for (_, child, column) in self.cut_links.iter().filter(|(parent, ..)| parent == name) {
            self.drop_entries(conn, target, child, Some(column), journal::OLD_VALUE)?;
        }
        Ok(())
    }

    /// Deletes the journal's entries of `child` (and `column`) whose `value_column` names a
    /// row of `target` that is gone.
    fn drop_entries<C>(
        &self,
        conn: &mut C,
        target: &Target,
        child: &TableName,
        column: Option<&str>,
        value_column: &str,
    ) -> Result<(), Error>
    where
        C: LoadConnection,
        C::Backend: CollectorBackend,
    {
        let d = self.d;
        let journal_table = d.quote(journal::TABLE);
        let entries = |sql: &mut Sql<'_, C::Backend>| {
            sql.push(&format!(
                "{journal_table}.{} = ",
                d.quote(journal::TABLE_NAME)
            ))
            .bind(C::Backend::bind_text(Some(child.to_string())));
            if let Some(column) = column {
                sql.push(&format!(
                    " AND {journal_table}.{} = ",
                    d.quote(journal::COLUMN_NAME)
                ))
                .bind(C::Backend::bind_text(Some(column.to_owned())));
            }
        };
        // The value is cast to the key's type (not the key to text), so the lookup uses the
        // key's index; the CASE casts only this table's entries, whose values are its keys.
        let table = d.table(&target.node);
        let mut delete = Sql::<C::Backend>::new();
        delete.push(&format!("DELETE FROM {journal_table} WHERE "));
        entries(&mut delete);
        delete.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.{} = CASE WHEN ",
            d.quote(target.node.key)
        ));
        entries(&mut delete);
        delete.push(&format!(
            " THEN {} END)",
            d.cast_from_text(
                &format!("{journal_table}.{}", d.quote(value_column)),
                target.node.key_kind
            )
        ));
        delete.execute(conn)?;
        Ok(())
    }

    fn notify(&mut self, i: usize) {
        if let Some(callback) = self.settings.progress.as_mut() {
            callback(&Progress {
                table: &self.targets[i].node.name,
                deleted: self.targets.iter().map(|t| t.report.deleted).sum(),
                estimated: self.estimated,
                batches: self.report.batches,
                elapsed: self.started.elapsed(),
            });
        }
    }
}

/// Runs `batch` again when a foreign key refused it: a referencing row was written after
/// the batch's check, and the next try keeps the row it references.
fn retry_foreign_key<T>(mut batch: impl FnMut() -> Result<T, Error>) -> Result<T, Error> {
    let mut attempt = 1;
    loop {
        match batch() {
            Err(Error::Diesel(DieselError::DatabaseError(
                DatabaseErrorKind::ForeignKeyViolation,
                _,
            ))) if attempt < FOREIGN_KEY_ATTEMPTS => attempt += 1,
            other => return other,
        }
    }
}

/// Adds the database's foreign keys into node `index` to its references: a key that matches
/// a declared edge is named on it, the others become references of their own. `resolved`
/// holds the graph's table names as the database resolves them.
fn add_foreign_keys<C>(
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
fn resolve<C>(conn: &mut C, d: Dialected, name: &TableName) -> Result<TableName, Error>
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
            sql.push("SELECT CONVERT(COALESCE(")
                .bind(C::Backend::bind_text(name.schema.clone()))
                .push(", DATABASE()) USING utf8mb4), CAST(0 AS SIGNED)");
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

/// Refuses a dry run on a MySQL table whose engine ignores a rollback (MyISAM, Aria,
/// MEMORY, ...): the dry run's deletes would stay.
fn refuse_without_transactions<C>(conn: &mut C, table: &TableName) -> Result<(), Error>
where
    C: LoadConnection,
    C::Backend: CollectorBackend,
{
    let mut sql = Sql::<C::Backend>::new();
    sql.push(
        "SELECT CONVERT(COALESCE(ENGINE, '') USING utf8mb4), CAST(0 AS SIGNED) \
         FROM information_schema.TABLES WHERE TABLE_SCHEMA = COALESCE(",
    )
    .bind(C::Backend::bind_text(table.schema.clone()))
    .push(", DATABASE()) AND TABLE_NAME = ")
    .bind(C::Backend::bind_text(Some(table.name.clone())));
    let rows = C::Backend::load_keys(conn, sql)?;
    let transactional = |engine: &str| {
        ["InnoDB", "RocksDB", "TokuDB"]
            .iter()
            .any(|e| e.eq_ignore_ascii_case(engine))
    };
    match rows.first() {
        Some((engine, _)) if !transactional(engine) => Err(Error::Unsupported {
            feature: "a dry run of a purge on a table without transactions (MyISAM, Aria, MEMORY)",
            dialect: Dialect::Mysql,
        }),
        _ => Ok(()),
    }
}

/// Whether the archive journal's table exists (on the connection's search path or database).
fn journal_exists<C>(conn: &mut C, d: Dialected) -> Result<bool, Error>
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
fn children_first(mut targets: Vec<Target>) -> (Vec<Target>, bool) {
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
