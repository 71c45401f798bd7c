//! The purge's statements: which tables it deletes from, which references keep a row, and
//! the batches.
//!
//! One batch is one short transaction on one table. By key windows (SQLite, MySQL, and
//! PostgreSQL where page batches do not apply), two statements:
//!
//! ```text
//! SELECT CAST(MAX(sd_w.sd_k) AS TEXT), COUNT(*) FROM (
//!     SELECT key AS sd_k FROM t WHERE key > <last> AND <deleted> AND stamp < <cutoff>
//!     ORDER BY key LIMIT <batch size>) AS sd_w                 -- the window's last key
//! DELETE FROM t WHERE key > <last> AND key <= <window's last key>
//!     AND <deleted> AND stamp < <cutoff>
//!     AND NOT EXISTS (SELECT 1 FROM child AS sd_r WHERE sd_r.fk = t.key)   -- per reference
//! ```
//!
//! The window walks the table in key order, so each batch starts where the last one ended
//! and the whole purge reads every candidate once; a batch deletes at most the window's
//! rows. Rows a reference keeps are passed over and stay; tables are purged children first,
//! so a parent's dead children are gone before the parent's own turn. On PostgreSQL a batch
//! is one `DELETE` over a range of heap pages instead ([`pages`]).
//!
//! [`catalog_refs`] makes what the statements need to know of the catalog, [`conditions`] writes their shared
//! parts, [`journal_cleanup`] drops the archive journal's entries of purged rows.

use std::time::{Duration, Instant};

use super::report::{Progress, PurgeReport, TableReport, Via};
use crate::backend::{Dialect, SupportedBackend, TableName};
use crate::ddl::journal;
use crate::exec::SqlConnection;
use crate::exec::{BackendOf, Begin, Transaction};
use crate::relations::Rule;
use crate::relations::{Graph, Node, SoftInfo, StampColumn};
use crate::sql::{catalog, DbError, Dialected, KeyKind, Sql};
use crate::trace;
use crate::Error;

mod catalog_refs;
mod conditions;
mod journal_cleanup;
mod pages;

use catalog_refs::{add_foreign_keys, children_first};

/// How many times a batch refused by a foreign key (a referencing row written after the
/// batch's check) is tried again before the purge gives up.
const FOREIGN_KEY_ATTEMPTS: u32 = 3;

/// What a purge was asked to do.
pub(crate) struct Settings {
    pub(crate) cutoff: crate::Timestamp,
    pub(crate) batch_size: usize,
    pub(crate) skipped_ids: usize,
    /// PostgreSQL: each batch runs `SET LOCAL synchronous_commit = off` first.
    pub(crate) asynchronous_commit: bool,
}

/// Rows of a purged table that keep the rows they reference.
struct Reference {
    child: TableName,
    /// `child` as the database resolves it (with its schema).
    resolved: TableName,
    /// The child's soft-delete columns, when a model of the graph describes it.
    child_soft: Option<SoftInfo>,
    /// Otherwise, when a model linked into the program makes the child soft-deletable (the
    /// guard's registry) and the child has its markers: the `.with_deleted()` trace that says
    /// the check counts every referencing row, live or not.
    child_every_row: Option<String>,
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
    /// Whether the foreign keys into it from other databases (MySQL/MariaDB) were read.
    other_databases_read: bool,
    /// Whether rows of the table reference other rows of it.
    self_referencing: bool,
    report: TableReport,
}

/// A purge in progress: its targets, in the order they are purged, and its report.
///
/// The progress callback `P` is not part of it but passed to the methods that may call it,
/// so that the statements' futures borrow only this (which is `Sync`) and a callback that is
/// `Send` is all an async purge's future needs to be `Send`.
pub(crate) struct Run {
    d: Dialected,
    settings: Settings,
    targets: Vec<Target>,
    /// Whether a pass can leave rows that a later pass deletes: a reference into a target
    /// from a target purged after it (a cycle between tables).
    repeats: bool,
    /// The journal's `(child table, column)` pairs of `set_null`/`set_default` edges, by
    /// parent: links into a purged row are dropped from the journal.
    cut_links: Vec<(TableName, TableName, &'static str)>,
    /// The collations of the text keys the journal's cleanup compares with its text.
    collations: catalog::Collations,
    started: Instant,
    /// The candidates counted before the first batch (only for a progress callback).
    estimated: u64,
    /// The MySQL/MariaDB session: every statement that compares a stamp with the cutoff runs
    /// with its time zone set to UTC (see [`Run::in_utc`]).
    session: Option<catalog::MysqlSession>,
    pub(crate) report: PurgeReport,
}

/// The progress callback of a purge, if it has one.
pub(crate) type Callback<'p, P> = &'p mut Option<P>;

impl Run {
    /// Reads the graph and the catalog: the targets, their references and their order.
    pub(crate) async fn plan<Mo, C: SqlConnection<Mo>>(
        conn: &mut C,
        graph: &Graph,
        settings: Settings,
        dry_run: bool,
    ) -> Result<Self, Error> {
        let started = Instant::now();
        let d = Dialected(<BackendOf<Mo, C> as SupportedBackend>::DIALECT);
        let mut report = PurgeReport::new(settings.cutoff, dry_run);
        let session = catalog::session(conn).await?;
        // Names as the database resolves them, so that a table is told from a same-named one
        // in another schema.
        let mut resolved = Vec::with_capacity(graph.nodes.len());
        for node in &graph.nodes {
            resolved.push(catalog::resolve(conn, &node.name).await?);
        }
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
                        child_every_row: None,
                        columns: vec![(edge.column.to_owned(), node.key.to_owned())],
                        via: Via {
                            rule: Some(edge.rule),
                            foreign_key: None,
                        },
                    }
                })
                .collect();
            let keys = catalog::foreign_keys(conn, &node.name).await?;
            let soft_of = |name: &TableName| {
                let i = resolved.iter().position(|resolved| resolved == name)?;
                graph.nodes[i].soft
            };
            add_foreign_keys(keys, node, &resolved[index], soft_of, &mut references);
            for reference in references.iter_mut().filter(|r| r.child_soft.is_none()) {
                reference.child_every_row = registered_trace(conn, &reference.resolved).await?;
            }
            let self_referencing = references.iter().any(|r| r.resolved == resolved[index]);
            targets.push(Target {
                node: node.clone(),
                resolved: resolved[index].clone(),
                soft,
                stamp,
                references,
                other_databases_read: false,
                self_referencing,
                report: TableReport {
                    table: node.name.clone(),
                    deleted: 0,
                    kept: 0,
                    batches: 0,
                },
            });
        }
        if dry_run {
            catalog::refuse_without_transactions(
                conn,
                targets.iter().map(|t| &t.resolved),
                "a dry run of a purge on a table without transactions (MyISAM, Aria, MEMORY)",
            )
            .await?;
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
        let cut_links =
            if cut_links.is_empty() || catalog::table_exists(conn, journal::TABLE).await? {
                cut_links
            } else {
                Vec::new()
            };
        // The keys the journal's cleanup compares with the journal's text.
        let journal_keys: Vec<(&TableName, &str)> = targets
            .iter()
            .filter(|t| matches!(t.node.key_kind, KeyKind::Text | KeyKind::Uuid))
            .filter(|t| {
                let name = &t.node.name;
                cut_links.iter().any(|(p, c, _)| p == name || c == name)
            })
            .map(|t| (&t.node.name, t.node.key))
            .collect();
        let collations = catalog::collations(conn, session.clone(), &journal_keys).await?;
        Ok(Run {
            d,
            settings,
            targets,
            repeats,
            cut_links,
            collations,
            started,
            estimated: 0,
            session,
            report,
        })
    }

    /// Runs the batches, then reads what was kept and why.
    pub(crate) async fn execute<Mo, C, P>(
        &mut self,
        conn: &mut C,
        progress: Callback<'_, P>,
    ) -> Result<(), Error>
    where
        C: SqlConnection<Mo>,
        P: FnMut(&Progress<'_>),
    {
        // The estimate costs a count per table, so only a progress callback pays for it.
        if progress.is_some() {
            self.estimated = self
                .in_utc(conn, async |conn: &mut C, run: &mut Run| {
                    let mut estimated = 0;
                    for i in 0..run.targets.len() {
                        estimated += run.count_candidates(conn, i, false).await?;
                    }
                    Ok(estimated)
                })
                .await?;
        }
        loop {
            let (mut deleted, mut kept) = (0, 0);
            for i in 0..self.targets.len() {
                // A table referencing itself goes again while a pass frees rows: a chain of
                // replies goes one level per pass, leaves first.
                loop {
                    let (d, k) = self.purge_table(conn, i, progress).await?;
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
        self.in_utc(conn, async |conn: &mut C, run: &mut Run| {
            for i in 0..run.targets.len() {
                run.explain_kept(conn, i).await?;
            }
            Ok(())
        })
        .await?;
        self.finish();
        Ok(())
    }

    /// Copies the tables' figures into the report.
    pub(crate) fn finish(&mut self) {
        self.report.tables = self.targets.iter().map(|t| t.report.clone()).collect();
        self.report.elapsed = self.started.elapsed();
        trace::record!(rows = self.report.deleted(), batches = self.report.batches);
    }

    /// Purges table `i` in batches, from its first row to its last. Returns the rows deleted
    /// and the rows its batches passed over (still referenced).
    async fn purge_table<Mo, C, P>(
        &mut self,
        conn: &mut C,
        i: usize,
        progress: Callback<'_, P>,
    ) -> Result<(u64, u64), Error>
    where
        C: SqlConnection<Mo>,
        P: FnMut(&Progress<'_>),
    {
        let pages = pages::table_pages(
            conn,
            self.d,
            &self.targets[i].node,
            self.settings.batch_size,
        )
        .await?;
        let (deleted, kept) = match pages {
            Some(pages) => {
                let deleted = self.purge_pages(conn, i, pages, progress).await?;
                // Page batches do not count what they pass over: it is the candidates left.
                // Those are the ones still referenced, except in a table referencing itself,
                // where a batch also passes over rows whose only referrers it deleted
                // itself (its check saw them): they are passed over all the same, and the
                // next pass deletes them, so every candidate left counts (a count of the
                // referenced ones alone could reach 0 and stop the passes with them left).
                let target = &self.targets[i];
                let kept = if target.references.is_empty() {
                    0
                } else {
                    self.count_candidates(conn, i, !target.self_referencing)
                        .await?
                };
                (deleted, kept)
            }
            None => self.purge_keys(conn, i, None, progress).await?,
        };
        // What this pass passed over is what the table keeps (a later pass may still free it).
        self.targets[i].report.kept = kept;
        let mut tx = Transaction::begin(conn, Begin::Plain).await?;
        let cleaned = self.clean_journal(tx.conn(), i).await;
        tx.finish(cleaned).await?;
        Ok((deleted, kept))
    }

    /// Purges table `i` (or only its page `page`) in key order: each batch a window of the
    /// next candidates by key. Returns the rows deleted and passed over.
    async fn purge_keys<Mo, C, P>(
        &mut self,
        conn: &mut C,
        i: usize,
        page: Option<u64>,
        progress: Callback<'_, P>,
    ) -> Result<(u64, u64), Error>
    where
        C: SqlConnection<Mo>,
        P: FnMut(&Progress<'_>),
    {
        let (mut deleted, mut kept) = (0, 0);
        let mut last: Option<String> = None;
        loop {
            let started = Instant::now();
            let mut attempt = 1;
            // A batch refused by a foreign key runs again (see `refused_by_foreign_key`).
            let outcome = loop {
                let mut tx = Transaction::begin(conn, Begin::Immediate).await?;
                let session = self.session.clone();
                let outcome = catalog::in_utc(tx.conn(), session, async |conn: &mut C| {
                    self.batch(conn, i, last.as_deref(), page).await
                })
                .await;
                match tx.finish(outcome).await {
                    Err(error) if refused_by_foreign_key(&error, attempt) => attempt += 1,
                    Err(error) if self.may_read_other_databases(i, &error) => {
                        self.add_keys_from_other_databases(conn, i).await?;
                        attempt = 1;
                    }
                    outcome => break outcome?,
                }
            };
            let Some((end, window, n)) = outcome else {
                break;
            };
            deleted += n;
            // A row soft-deleted before the cutoff by another transaction during the batch can
            // join the delete and not the window.
            kept += window.saturating_sub(n);
            self.record_batch(i, n, started.elapsed(), progress);
            last = Some(end);
            if window < self.settings.batch_size as u64 {
                break;
            }
        }
        Ok((deleted, kept))
    }

    /// Whether a batch of table `i` that a foreign key refused every time may be refused by a
    /// key the plan did not read: on MySQL/MariaDB, one from another database, read once.
    fn may_read_other_databases(&self, i: usize, error: &Error) -> bool {
        self.d.0 == Dialect::Mysql
            && !self.targets[i].other_databases_read
            && matches!(error, Error::Diesel(error) if DbError::is_foreign_key(error))
    }

    /// Adds the foreign keys into table `i` from the server's other databases to its
    /// references, so that its batches keep the rows those keys reference.
    async fn add_keys_from_other_databases<Mo, C: SqlConnection<Mo>>(
        &mut self,
        conn: &mut C,
        i: usize,
    ) -> Result<(), Error> {
        let target = &self.targets[i];
        let keys = catalog::foreign_keys_from_other_databases(conn, &target.resolved).await?;
        let mut references = Vec::new();
        add_foreign_keys(
            keys,
            &target.node,
            &target.resolved,
            |_| None,
            &mut references,
        );
        for reference in &mut references {
            reference.child_every_row = registered_trace(conn, &reference.resolved).await?;
        }
        let target = &mut self.targets[i];
        target.references.extend(references);
        target.other_databases_read = true;
        Ok(())
    }

    /// Runs `body`, whose statements compare stamps with the cutoff, so that a MySQL/MariaDB
    /// `TIMESTAMP` stamp compares as the instant an archive wrote (in UTC) whatever the
    /// session's time zone: there, when the zone is not UTC, in a transaction of its own (a
    /// savepoint in a dry run's) with the zone set to UTC and back, so that a purge abandoned
    /// half way leaves the connection broken rather than in another zone ([`Transaction`]);
    /// elsewhere as it is.
    async fn in_utc<Mo, C, T>(
        &mut self,
        conn: &mut C,
        body: impl AsyncFnOnce(&mut C, &mut Run) -> Result<T, Error>,
    ) -> Result<T, Error>
    where
        C: SqlConnection<Mo>,
    {
        let Some(session) = self.session.clone().filter(|s| !s.in_utc()) else {
            return body(conn, self).await;
        };
        let mut tx = Transaction::begin(conn, Begin::Plain).await?;
        let outcome = catalog::in_utc(tx.conn(), Some(session), async |conn: &mut C| {
            body(conn, self).await
        })
        .await;
        tx.finish(outcome).await
    }

    /// Counts a committed batch of table `i` and tells the progress callback.
    fn record_batch<P: FnMut(&Progress<'_>)>(
        &mut self,
        i: usize,
        deleted: u64,
        took: Duration,
        progress: Callback<'_, P>,
    ) {
        let target = &mut self.targets[i];
        target.report.deleted += deleted;
        target.report.batches += 1;
        self.report.batches += 1;
        self.report.longest_batch = self.report.longest_batch.max(took);
        trace::event!(
            info,
            table = %self.targets[i].node.name,
            rows = deleted,
            batch = self.report.batches,
            took_ms = took.as_secs_f64() * 1000.0,
            "purge batch"
        );
        if let Some(callback) = progress.as_mut() {
            callback(&Progress {
                table: &self.targets[i].node.name,
                deleted: self.targets.iter().map(|t| t.report.deleted).sum(),
                estimated: self.estimated,
                batches: self.report.batches,
                elapsed: self.started.elapsed(),
            });
        }
    }

    /// One batch: the next window of candidates after `last` (on page `page` only, if given),
    /// and the delete. Returns the window's last key, its size and the rows deleted; `None`
    /// when no candidate is left.
    async fn batch<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        i: usize,
        last: Option<&str>,
        page: Option<u64>,
    ) -> Result<Option<(String, u64, u64)>, Error> {
        self.begin_batch(conn).await?;
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
        let mut window = Sql::<BackendOf<Mo, C>>::new();
        window.push(&format!(
            "SELECT COALESCE({end}, ''), COUNT(*) FROM (SELECT {key} AS sd_k FROM {} WHERE ",
            d.table(&target.node.name)
        ));
        self.after(&mut window, target, last);
        pages::on_page(&mut window, page);
        self.candidate(&mut window, target)?;
        window.push(&format!(" ORDER BY {key} LIMIT "));
        let size = i64::try_from(self.settings.batch_size).unwrap_or(i64::MAX);
        window.bind(BackendOf::<Mo, C>::bind_i64(size));
        window.push(") AS sd_w");
        let found: Vec<(String, i64)> = conn.rows(window).await?;
        let Some((end, count)) = found.into_iter().next().filter(|(_, count)| *count > 0) else {
            return Ok(None);
        };

        let mut delete = Sql::<BackendOf<Mo, C>>::new();
        delete.push(&format!(
            "DELETE FROM {} WHERE ",
            d.table(&target.node.name)
        ));
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
        let deleted = conn.run(delete).await? as u64;
        Ok(Some((end, count as u64, deleted)))
    }

    /// What a batch's transaction runs first: with [`asynchronous_commit`](
    /// super::Purge::asynchronous_commit) (PostgreSQL), `SET LOCAL synchronous_commit = off`;
    /// otherwise nothing, so the batch commits as durably as the server is set to.
    async fn begin_batch<Mo, C: SqlConnection<Mo>>(&self, conn: &mut C) -> Result<(), Error> {
        if self.settings.asynchronous_commit {
            conn.run(Sql::text("SET LOCAL synchronous_commit = off"))
                .await?;
        }
        Ok(())
    }
}

/// Whether a batch's `error` is a foreign key's refusal that earns it another try (the
/// `attempt`th failed): a referencing row was written after the batch's check, and the next
/// try keeps the row it references.
fn refused_by_foreign_key(error: &Error, attempt: u32) -> bool {
    attempt < FOREIGN_KEY_ATTEMPTS
        && matches!(error, Error::Diesel(error) if DbError::is_foreign_key(error))
}

/// The `.with_deleted()` trace of a table no model of the graph describes, when a model linked
/// into the program registers it as soft-deletable (the guard would otherwise report the
/// purge's read of it) and the table has that model's markers (a same-named table elsewhere
/// may not).
async fn registered_trace<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    table: &TableName,
) -> Result<Option<String>, Error> {
    let same_name = crate::guard::registered().iter().filter(|info| {
        info.table.name == table.name
            && (info.table.schema.is_none() || info.table.schema == table.schema)
    });
    for info in same_name {
        let columns = catalog::columns(conn, table).await?;
        if info
            .markers
            .iter()
            .all(|marker| columns.iter().any(|column| column == marker.name))
        {
            let dialect = <BackendOf<Mo, C> as SupportedBackend>::DIALECT;
            return Ok(Some(info.every_row(dialect)));
        }
    }
    Ok(None)
}
