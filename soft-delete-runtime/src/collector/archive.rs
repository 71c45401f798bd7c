//! Executing an archive: set-based, one statement per edge per level, in one transaction.
//!
//! The roots' `protect` edges are checked first, against the live roots, so an archive their
//! own children refuse writes nothing. Then the roots are marked (`UPDATE root SET <archived
//! by this batch> WHERE key IN (<the query selecting the roots>) AND <live>`). From then on
//! the rows of a table that belong to this batch are found by the batch itself (its
//! timestamp, or its id in a batch column), so every edge is one statement over a subquery:
//!
//! ```text
//! UPDATE child SET <archived by this batch> WHERE fk IN (SELECT key FROM parent WHERE <in this batch>) AND <live>
//! ```
//!
//! On MySQL/MariaDB, whose single-table `UPDATE`/`DELETE` reads such a subquery's condition
//! row by row over the whole child table (MariaDB before 11.1 does not make it a semi-join),
//! the same statement is a multi-table one, which its optimizer joins by the indexes:
//!
//! ```text
//! UPDATE child JOIN (SELECT key AS sd_k FROM parent WHERE <in this batch>) AS sd_p ON child.fk = sd_p.sd_k
//!   SET <archived by this batch> WHERE <live>
//! ```
//!
//! A `set_null` / `set_default` edge first records the links it will cut in the
//! [journal](crate::ddl::journal) (`INSERT ... SELECT`), then cuts exactly the links the journal
//! recorded, still holding the recorded value: at READ COMMITTED the second statement sees rows
//! other transactions committed after the first, and such a row is left as it is (like a row
//! inserted after the archive) rather than cut with no journal row to put it back from. On
//! MySQL/MariaDB the cut is driven by the journal's rows (`UPDATE child JOIN journal ON
//! child.key = <the journal's row key>`), each finding its child by the primary key.
//!
//! The `cascade(hard_delete)` edges run last, once every level passed its `protect` checks: a
//! row the archive deletes for good still protects while the walk checks, as the preview and
//! PostgreSQL's one statement count it.
//!
//! A table whose batch grew is visited again (a queue of tables, not of rows), so a table
//! that references itself, or two tables that reference each other, are walked level by level
//! until an `UPDATE` finds nothing left: each pass only touches rows that are still live, so
//! every row is archived once and the walk ends. Nothing of the subtree is loaded into
//! memory; only the ids of `protect` blockers are read, capped.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use super::log::{self, Reservation};
use super::marks::{self, BatchValues};
use super::plan::{Blocker, Plan};
use crate::backend::{Dialect, TableName};
use crate::ddl::journal;
use crate::exec::SqlConnection;
use crate::relations::{Graph, GraphEdge, KeyKind, Node, Rule};
use crate::sql::catalog::{self, Collations, ColumnDefault, MysqlSession};
use crate::sql::{Dialected, KeyRow, Sql, SupportedBackend};
use crate::{Error, RowId};

/// A stamp for a new archive: now, to the microsecond, and later than every earlier one of
/// this process (so the archives of one process do not even try the same stamp). Unique across
/// processes only once [reserved](super::log::reserve) in the archive log.
pub(crate) fn next_stamp() -> crate::Timestamp {
    static LAST: AtomicI64 = AtomicI64::new(i64::MIN);
    let now = crate::Timestamp::now().unix_micros();
    let mut last = LAST.load(Ordering::Relaxed);
    let micros = loop {
        let next = now.max(last.saturating_add(1));
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => break next,
            Err(actual) => last = actual,
        }
    };
    crate::Timestamp::from_unix_micros(micros)
}

/// `SELECT <key as text> FROM <root> WHERE <in batch> LIMIT 1`: the key of the only root
/// archived by `batch` (use it when the plan has one root), as a subquery of the statement that
/// [records](log::finish) it; `None` when the root table cannot find its batch.
pub(crate) fn root_key<DB: SupportedBackend, R>(
    graph: &Graph,
    batch: BatchValues,
) -> Result<Option<Sql<DB, R>>, Error> {
    let d = Dialected(DB::DIALECT);
    let root = &graph.nodes[0];
    let Some(in_batch) = marks::in_batch::<DB, R>(d, graph.soft(0)?, batch)? else {
        return Ok(None);
    };
    let mut select = Sql::<DB, R>::new();
    select.push(&format!(
        "SELECT {} FROM {} WHERE ",
        d.cast_to_text(&d.quote(root.key)),
        d.table(root)
    ));
    select.append(in_batch);
    select.push(" LIMIT 1");
    Ok(Some(select))
}

/// Runs the archive's statements on `conn` (the caller holds the transaction, and has
/// [checked](check_batch_identity) the graph) and returns what they did.
///
/// The roots query runs once, in the `UPDATE` that marks the roots; every `protect` edge, the
/// root table's included, is checked against the rows this batch marked, when the walk reaches
/// its level, before that level's own children are written, and an archive stops there (its
/// transaction is then rolled back). Checking the root table's edges against the roots query
/// run a second time would check another pick of a query whose answer can change (an
/// `order(random())`, a `limit` without an `order`), and archive a protected row.
///
/// The batch is [reserved](log::reserve) (its [log](super::log) row inserted) before the roots
/// are marked; a refused archive's rollback takes it back.
pub(crate) async fn run<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    roots: &Arc<R>,
    reservation: Reservation<'_>,
    blocker_ids: usize,
    collations: &Collations,
) -> Result<(Plan, Option<BatchValues>), Error> {
    let d = Dialected(<C::Backend as crate::backend::SupportedBackend>::DIALECT);
    let mut walk = Walk {
        graph,
        d,
        collations,
        // Replaced by the reserved batch before the roots are marked.
        batch: BatchValues {
            stamp: crate::Timestamp::UNIX_EPOCH,
            id: 0,
        },
        blocker_ids,
        rows: vec![0; graph.edges.len()],
        tables: vec![0; graph.nodes.len()],
        blockers: vec![None; graph.edges.len()],
        defaults: HashMap::new(),
    };

    let root = &graph.nodes[0];
    let soft = graph.soft(0)?;
    let batch = log::reserve(conn, reservation).await?;
    walk.batch = batch;

    let mut update = Sql::<C::Backend, R>::new();
    update.push(&format!("UPDATE {} SET ", d.table(root)));
    marks::mark(&mut update, d, soft, batch)?;
    update.push(&format!(" WHERE {} IN (", d.quote(root.key)));
    push_roots(&mut update, roots);
    update.push(&format!(") AND {}", (soft.live)(d.0)));
    let root_rows = conn.run(update).await? as u64;
    walk.tables[0] = root_rows;

    let mut queue = VecDeque::new();
    let mut queued = vec![false; graph.nodes.len()];
    if root_rows > 0 {
        queue.push_back(0);
        queued[0] = true;
    }
    // `cascade(hard_delete)` edges, run once the walk is done: a row deleted for good before a
    // deeper level's `protect` check would not protect that level, though it was live.
    let mut hard_deletes = Vec::new();
    while let Some(parent) = queue.pop_front() {
        queued[parent] = false;
        // `protect` first: a refused level writes none of its children.
        let (protects, others): (Vec<usize>, Vec<usize>) = graph.outgoing[parent]
            .iter()
            .partition(|&&e| graph.edges[e].rule == Rule::Protect);
        for &e in &protects {
            walk.protect(conn, e).await?;
        }
        if walk.blocked() {
            break;
        }
        for e in others {
            if graph.edges[e].rule == Rule::HardDelete {
                if !hard_deletes.contains(&e) {
                    hard_deletes.push(e);
                }
                continue;
            }
            let grew = walk.edge(conn, e).await?;
            let child = graph.edges[e].child;
            if grew && !queued[child] {
                queued[child] = true;
                queue.push_back(child);
            }
        }
    }

    if !walk.blocked() {
        for e in hard_deletes {
            walk.edge(conn, e).await?;
        }
        walk.count_reach(conn).await?;
    }
    Ok((walk.into_plan(root_rows), Some(batch)))
}

/// `SELECT * FROM (<roots>) AS sd_roots`: the query selecting the roots, as it goes inside
/// `IN (...)` / `NOT IN (...)`, on every backend. As a derived table it may have a `LIMIT`
/// (MariaDB and MySQL refuse one directly inside `IN`) and may read the table being updated
/// (MySQL refuses a subquery on it otherwise).
fn push_roots<DB: SupportedBackend, R>(sql: &mut Sql<DB, R>, roots: &Arc<R>) {
    sql.push("SELECT * FROM (")
        .roots(roots)
        .push(") AS sd_roots");
}

/// Refuses, before anything is written, a graph with a table whose batch could not be found
/// again, of those an archive hides rows of (the root and every `cascade` child):
///
/// - one with neither a deletion time nor a batch column (a flag marker alone) cannot tell
///   this batch's rows from others', so neither the walk below it nor a restore could find
///   them: [`Error::BatchNotIdentifiable`];
/// - one that tells its batches apart by a deletion time alone, when its column keeps fewer
///   than six fractional digits: the rounded stamp would match none of the rows just
///   archived, and the walk would stop at that table (and a restore find nothing):
///   [`Error::StampPrecision`]. A batch column identifies the batch whatever the stamp keeps.
///
/// An archive also names the tables it writes (`writes`: the tables, and what to call the
/// archive in [`Error::Unsupported`] when one of them cannot roll back, checked first); a
/// preview names none. The engines and the precisions come from one catalog query
/// ([`catalog::table_facts`]).
///
/// Returns whether a precision came from the process's cache of catalog facts (MySQL/MariaDB):
/// the archive then checks that its batch is found again ([`found_again`]); and the
/// MySQL/MariaDB session the catalog query read, which spares the archive reading it again.
pub(crate) async fn check_batch_identity<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    writes: Option<(Vec<&TableName>, &'static str)>,
) -> Result<(bool, Option<MysqlSession>), Error> {
    let stamped = stamped(graph);
    let (tables, feature) = writes.unwrap_or_default();
    let facts = catalog::table_facts(conn, tables, &stamped).await?;
    catalog::refuse_if(facts.without_transactions, feature)?;
    identifiable(graph)?;
    for ((table, column), precision) in stamped.into_iter().zip(facts.precisions) {
        if let Some(precision) = precision.filter(|&digits| digits < 6) {
            return Err(Error::StampPrecision {
                table: table.to_string(),
                column,
                precision,
            });
        }
    }
    Ok((facts.cached_precisions, facts.session))
}

/// The tables an archive hides rows of that find their batch by the stamp alone, with the
/// stamp's column: their precision decides whether they find it again.
pub(crate) fn stamped(graph: &Graph) -> Vec<(&TableName, &'static str)> {
    let mut stamped = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(soft) = node.soft.as_ref().filter(|_| graph.archived[i]) else {
            continue;
        };
        if let Some(stamp) = soft.columns.stamp.filter(|_| soft.columns.batch.is_none()) {
            stamped.push((&node.name, stamp.name));
        }
    }
    stamped
}

/// [`Error::BatchNotIdentifiable`] for the first table an archive hides rows of that cannot
/// tell one batch's rows from another's.
pub(crate) fn identifiable(graph: &Graph) -> Result<(), Error> {
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(soft) = node.soft.as_ref().filter(|_| graph.archived[i]) else {
            continue;
        };
        if !soft.columns.identifies_batch() {
            return Err(Error::BatchNotIdentifiable {
                table: node.name.to_string(),
            });
        }
    }
    Ok(())
}

/// `EXISTS (SELECT 1 FROM <table> WHERE <in this batch>) AND ...` for every table of `plan`
/// that archived rows and finds its batch by the stamp alone: true when each still holds the
/// stamp as written. A column that keeps fewer digits than it did when its precision was
/// cached rounds every stamp it stores, and then finds none of them: one index probe per table
/// tells. `None` when no table finds its batch by the stamp.
pub(crate) fn found_again<DB: SupportedBackend, R>(
    graph: &Graph,
    batch: BatchValues,
    plan: &Plan,
) -> Result<Option<Sql<DB, R>>, Error> {
    let d = Dialected(DB::DIALECT);
    let mut check: Option<Sql<DB, R>> = None;
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(soft) = node.soft.as_ref().filter(|_| graph.archived[i]) else {
            continue;
        };
        if soft.columns.batch.is_some() || plan.archived(&node.name.name) == 0 {
            continue;
        }
        let Some(in_batch) = marks::in_batch::<DB, R>(d, soft, batch)? else {
            continue;
        };
        let sql = match check.as_mut() {
            Some(sql) => sql.push(" AND "),
            None => check.insert(Sql::new()),
        };
        sql.push(&format!("EXISTS (SELECT 1 FROM {} WHERE ", d.table(node)));
        sql.append(in_batch);
        sql.push(")");
    }
    Ok(check)
}

struct Walk<'g> {
    graph: &'g Graph,
    d: Dialected,
    /// The collations of the text columns compared with the journal's text ([`journal_columns`]).
    collations: &'g Collations,
    batch: BatchValues,
    blocker_ids: usize,
    /// Rows changed per edge, over all passes (for `cascade` edges, once the walk is done:
    /// the rows each edge reaches, see [`Walk::count_reach`]).
    rows: Vec<u64>,
    /// Rows archived per node, each once.
    tables: Vec<u64>,
    /// The blockers per `protect` edge, from its latest pass (each pass sees every parent
    /// of the batch so far, so the latest is the complete one).
    blockers: Vec<Option<Blocker>>,
    defaults: HashMap<usize, ColumnDefault>,
}

impl Walk<'_> {
    fn blocked(&self) -> bool {
        self.blockers.iter().any(Option::is_some)
    }

    fn into_plan(self, root_rows: u64) -> Plan {
        Plan::new(
            self.graph,
            root_rows,
            self.rows,
            self.tables,
            self.blockers.into_iter().flatten().collect(),
        )
    }

    /// Replaces the count of each `cascade` edge into a table that more than one way leads to
    /// (two edges, or the roots and an edge) with the rows that edge reaches: the rows of the
    /// batch whose key references a row of the batch, whichever edge's `UPDATE` marked them.
    /// One `SELECT` per such edge; an edge that is the only way into its table reached exactly
    /// the rows its `UPDATE`s marked.
    async fn count_reach<Mo, R, C: SqlConnection<Mo, R>>(
        &mut self,
        conn: &mut C,
    ) -> Result<(), Error> {
        let graph = self.graph;
        for (e, edge) in graph.edges.iter().enumerate() {
            if edge.rule != Rule::Cascade {
                continue;
            }
            let ways = graph
                .edges
                .iter()
                .filter(|other| other.rule == Rule::Cascade && other.child == edge.child)
                .count()
                + usize::from(edge.child == 0);
            if ways < 2 {
                continue;
            }
            let child = &graph.nodes[edge.child];
            let Some(in_batch) =
                marks::in_batch::<C::Backend, R>(self.d, graph.soft(edge.child)?, self.batch)?
            else {
                continue;
            };
            let mut select = Sql::<C::Backend, R>::new();
            select.push(&format!(
                "SELECT '', COUNT(*) FROM {} WHERE ",
                self.d.table(child)
            ));
            select.append(in_batch);
            select.push(" AND ");
            select.append(self.references(*edge)?);
            let found = conn.rows::<KeyRow>(select).await?;
            self.rows[e] = found
                .first()
                .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
        }
        Ok(())
    }

    /// Checks `protect` edge `e`: the live children of the parent's rows in this batch.
    async fn protect<Mo, R, C: SqlConnection<Mo, R>>(
        &mut self,
        conn: &mut C,
        e: usize,
    ) -> Result<(), Error> {
        let edge = self.graph.edges[e];
        let child = &self.graph.nodes[edge.child];
        let d = self.d;
        let table = d.table(child);
        let key = d.quote(child.key);
        let mut select = Sql::<C::Backend, R>::new();
        select.push(&format!(
            "SELECT {}, COUNT(*) OVER () FROM {table} WHERE ",
            d.cast_to_text(&key)
        ));
        select.append(self.references(edge)?);
        // Visible rows protect: a row some marker hides already does not.
        if let Some(soft) = &child.soft {
            select.push(&format!(" AND {}", (soft.visible)(d.0)));
        }
        select.push(&format!(" ORDER BY {key} LIMIT "));
        let limit = i64::try_from(self.blocker_ids.max(1)).unwrap_or(i64::MAX);
        select.bind(<C::Backend as SupportedBackend>::bind_i64(limit));
        let found = conn.rows::<KeyRow>(select).await?;
        let count = found.first().map_or(0, |(_, total)| *total as u64);
        let table = Arc::new(child.name.clone());
        self.blockers[e] = (count > 0).then(|| Blocker {
            parent: self.graph.nodes[edge.parent].name.clone(),
            table: child.name.clone(),
            column: edge.column,
            count,
            ids: found
                .into_iter()
                .take(self.blocker_ids)
                .map(|(id, _)| RowId::of(&table, id))
                .collect(),
        });
        Ok(())
    }

    /// Runs edge `e` over every row of its parent in this batch. Returns whether it archived
    /// rows whose own edges must now be followed.
    async fn edge<Mo, R, C: SqlConnection<Mo, R>>(
        &mut self,
        conn: &mut C,
        e: usize,
    ) -> Result<bool, Error> {
        let edge = self.graph.edges[e];
        let child = &self.graph.nodes[edge.child];
        let d = self.d;
        let table = d.table(child);
        let key = d.quote(child.key);
        let fk = d.quote(edge.column);
        match edge.rule {
            Rule::DoNothing => Ok(false),
            Rule::Protect => {
                self.protect(conn, e).await?;
                Ok(false)
            }
            Rule::Cascade => {
                let soft = self.graph.soft(edge.child)?;
                let mut update = Sql::<C::Backend, R>::new();
                if d.0 == Dialect::Mysql {
                    update.push(&format!("UPDATE {table} "));
                    update.append(self.join_parents(edge)?);
                    update.push(" SET ");
                    marks::mark(&mut update, d, soft, self.batch)?;
                    update.push(" WHERE ");
                } else {
                    update.push(&format!("UPDATE {table} SET "));
                    marks::mark(&mut update, d, soft, self.batch)?;
                    update.push(" WHERE ");
                    update.append(self.references(edge)?);
                    update.push(" AND ");
                }
                update.push(&(soft.live)(d.0));
                let n = conn.run(update).await? as u64;
                self.rows[e] += n;
                self.tables[edge.child] += n;
                Ok(n > 0)
            }
            Rule::HardDelete => {
                let mut delete = Sql::<C::Backend, R>::new();
                if d.0 == Dialect::Mysql {
                    delete.push(&format!("DELETE {table} FROM {table} "));
                    delete.append(self.join_parents(edge)?);
                } else {
                    delete.push(&format!("DELETE FROM {table} WHERE "));
                    delete.append(self.references(edge)?);
                }
                self.rows[e] += conn.run(delete).await? as u64;
                Ok(false)
            }
            Rule::SetNull | Rule::SetDefault => {
                let journal_table = d.quote(journal::TABLE);
                // Links are cut on every child row, live or not: a soft-deletable child says
                // so with the `.with_deleted()` trace.
                let every_row = child
                    .soft
                    .as_ref()
                    .map(|soft| format!(" AND {}", soft.every_row(d.0)))
                    .unwrap_or_default();
                // What the link was, kept for the restore.
                let mut keep = Sql::<C::Backend, R>::new();
                keep.push(&format!("{}SELECT ", journal_insert(d)));
                self.journal_key(&mut keep, child, edge);
                keep.push(&format!(
                    ", {}, {}, NULL FROM {table} WHERE ",
                    d.cast_to_text(&key),
                    d.cast_to_text(&fk)
                ));
                keep.append(self.references(edge)?);
                keep.push(&every_row);
                conn.run(keep)
                    .await
                    .map_err(|error| journal::write_error(error, &child.name, edge.column))?;

                // Only the links the journal just recorded, holding the value it recorded: at
                // READ COMMITTED this statement sees rows committed since the journal's
                // INSERT, and a link cut without a journal row would never come back.
                let mut update = Sql::<C::Backend, R>::new();
                let recorded = format!(
                    "sd_j.{} = {}",
                    d.quote(journal::OLD_VALUE),
                    d.cast_to_text(&format!("{table}.{fk}")),
                );
                if d.0 == Dialect::Mysql {
                    // Driven by the journal's rows (its primary key), each finding its row by
                    // the child's: MySQL/MariaDB read a single-table UPDATE's subquery
                    // condition row by row, over the whole child table.
                    update.push(&format!(
                        "UPDATE {table} JOIN {journal_table} AS sd_j ON {table}.{key} = {} SET {table}.{fk} = ",
                        d.journal_value(
                            &format!("sd_j.{}", d.quote(journal::ROW_KEY)),
                            child.key_kind,
                            self.collations.of(&child.name, child.key)
                        ),
                    ));
                    self.push_cut(conn, &mut update, e, child, edge).await?;
                    update.push(" WHERE ");
                    self.journal_match_as(&mut update, child, edge, "sd_j.");
                    update.push(&format!(" AND {recorded}"));
                } else {
                    update.push(&format!("UPDATE {table} SET {fk} = "));
                    self.push_cut(conn, &mut update, e, child, edge).await?;
                    update.push(" WHERE ");
                    update.append(self.references(edge)?);
                    update.push(&format!(
                        " AND EXISTS (SELECT 1 FROM {journal_table} AS sd_j WHERE "
                    ));
                    self.journal_match_as(&mut update, child, edge, "sd_j.");
                    update.push(&format!(
                        " AND sd_j.{} = {} AND {recorded})",
                        d.quote(journal::ROW_KEY),
                        d.cast_to_text(&format!("{table}.{key}")),
                    ));
                }
                let n = conn.run(update).await? as u64;
                self.rows[e] += n;

                if edge.rule == Rule::SetDefault && n > 0 {
                    // What the link became, so a restore only puts back links that still
                    // hold it.
                    let mut became = Sql::<C::Backend, R>::new();
                    became.push(&format!(
                        "UPDATE {journal_table} SET {} = (SELECT {} FROM {table} AS sd_row WHERE sd_row.{key} = {}{every_row}) WHERE ",
                        d.quote(journal::NEW_VALUE),
                        d.cast_to_text(&format!("sd_row.{fk}")),
                        d.journal_value(
                            &format!("{journal_table}.{}", d.quote(journal::ROW_KEY)),
                            child.key_kind,
                            self.collations.of(&child.name, child.key)
                        ),
                    ));
                    self.journal_match(&mut became, child, edge);
                    conn.run(became).await?;
                }
                Ok(false)
            }
        }
    }

    /// `JOIN (SELECT key AS sd_k FROM parent WHERE <in this batch>) AS sd_p ON child.fk =
    /// sd_p.sd_k`: the child's rows that reference the batch's parents, as MySQL/MariaDB join
    /// them in a multi-table `UPDATE` or `DELETE`: the parents by the stamp's (or batch
    /// column's) index, then the children by the foreign key's. (A single-table statement's
    /// `fk IN (SELECT ...)` is not a semi-join there before MariaDB 11.1: it reads every row
    /// of the child table, and at `REPEATABLE READ` locks them all.) The parents are a derived
    /// table, so a table referencing itself reads itself as it was before the statement, and
    /// the child's columns stay unambiguous in the rest of the statement.
    fn join_parents<DB: SupportedBackend, R>(&self, edge: GraphEdge) -> Result<Sql<DB, R>, Error> {
        let d = self.d;
        let parent = &self.graph.nodes[edge.parent];
        let child = &self.graph.nodes[edge.child];
        let mut sql = Sql::new();
        sql.push(&format!(
            "JOIN (SELECT {} AS sd_k FROM {} WHERE ",
            d.quote(parent.key),
            d.table(parent)
        ));
        sql.append(self.in_batch(parent)?);
        sql.push(&format!(
            ") AS sd_p ON {}.{} = sd_p.sd_k",
            d.table(child),
            d.quote(edge.column)
        ));
        Ok(sql)
    }

    /// The condition of `node`'s rows of this batch, or [`Error::BatchNotIdentifiable`].
    fn in_batch<DB: SupportedBackend, R>(&self, node: &Node) -> Result<Sql<DB, R>, Error> {
        node.soft
            .as_ref()
            .map(|soft| marks::in_batch::<DB, R>(self.d, soft, self.batch))
            .transpose()?
            .flatten()
            .ok_or_else(|| Error::BatchNotIdentifiable {
                table: node.name.to_string(),
            })
    }

    /// `fk IN (SELECT key FROM parent WHERE <in this batch>)`.
    fn references<DB: SupportedBackend, R>(&self, edge: GraphEdge) -> Result<Sql<DB, R>, Error> {
        let d = self.d;
        let parent = &self.graph.nodes[edge.parent];
        let in_batch = self.in_batch(parent)?;
        let key = d.quote(parent.key);
        let mut sql = Sql::new();
        sql.push(&format!("{} IN (", d.quote(edge.column)));
        let same_table = edge.parent == edge.child;
        if d.0 == Dialect::Mysql && same_table {
            sql.push(&format!(
                "SELECT {key} FROM (SELECT {key} FROM {} WHERE ",
                d.table(parent)
            ));
            sql.append(in_batch);
            sql.push(") AS sd_parents)");
        } else {
            sql.push(&format!("SELECT {key} FROM {} WHERE ", d.table(parent)));
            sql.append(in_batch);
            sql.push(")");
        }
        Ok(sql)
    }

    /// `?, ?, ?`: the batch id, table and column of an edge's journal rows.
    fn journal_key<DB: SupportedBackend, R>(
        &self,
        sql: &mut Sql<DB, R>,
        child: &Node,
        edge: GraphEdge,
    ) {
        sql.bind(DB::bind_i64(self.batch.id))
            .push(", ")
            .bind(DB::bind_text(Some(child.name.to_string())))
            .push(", ")
            .bind(DB::bind_text(Some(edge.column.to_owned())));
    }

    /// `batch_id = ? AND table_name = ? AND column_name = ?`.
    fn journal_match<DB: SupportedBackend, R>(
        &self,
        sql: &mut Sql<DB, R>,
        child: &Node,
        edge: GraphEdge,
    ) {
        self.journal_match_as(sql, child, edge, "");
    }

    /// [`journal_match`](Self::journal_match) on the journal aliased by `alias` (`"sd_j."`).
    fn journal_match_as<DB: SupportedBackend, R>(
        &self,
        sql: &mut Sql<DB, R>,
        child: &Node,
        edge: GraphEdge,
        alias: &str,
    ) {
        journal_match(sql, self.d, self.batch.id, child, edge.column, alias);
    }

    /// What a cut link becomes: `NULL` for `set_null`, the column's default for `set_default`.
    async fn push_cut<Mo, R, C: SqlConnection<Mo, R>>(
        &mut self,
        conn: &mut C,
        sql: &mut Sql<C::Backend, R>,
        e: usize,
        child: &Node,
        edge: GraphEdge,
    ) -> Result<(), Error> {
        if edge.rule == Rule::SetNull {
            sql.push("NULL");
            return Ok(());
        }
        let default = match self.defaults.get(&e) {
            Some(default) => default.clone(),
            None => {
                let default = catalog::column_default(conn, &child.name, edge.column).await?;
                self.defaults.insert(e, default.clone());
                default
            }
        };
        match default {
            ColumnDefault::Keyword => {
                sql.push("DEFAULT");
            }
            ColumnDefault::Null => {
                sql.push("NULL");
            }
            ColumnDefault::Integer(value) => {
                sql.bind(<C::Backend as SupportedBackend>::bind_i64(value));
            }
            ColumnDefault::Text(value) => {
                sql.bind(<C::Backend as SupportedBackend>::bind_text(Some(value)));
            }
        }
        Ok(())
    }
}

/// `INSERT INTO <journal> (batch_id, table_name, column_name, row_key, old_value, new_value) `,
/// for a `SELECT` of the links cut to follow.
pub(crate) fn journal_insert(d: Dialected) -> String {
    let columns: Vec<String> = journal::COLUMNS.iter().map(|c| d.quote(c)).collect();
    format!(
        "INSERT INTO {} ({}) ",
        d.quote(journal::TABLE),
        columns.join(", ")
    )
}

/// `<alias>batch_id = ? AND <alias>table_name = ? AND <alias>column_name = ?`.
pub(crate) fn journal_match<DB: SupportedBackend, R>(
    sql: &mut Sql<DB, R>,
    d: Dialected,
    batch_id: i64,
    child: &Node,
    column: &str,
    alias: &str,
) {
    sql.push(&format!("{alias}{} = ", d.quote(journal::BATCH_ID)))
        .bind(DB::bind_i64(batch_id))
        .push(&format!(" AND {alias}{} = ", d.quote(journal::TABLE_NAME)))
        .bind(DB::bind_text(Some(child.name.to_string())))
        .push(&format!(" AND {alias}{} = ", d.quote(journal::COLUMN_NAME)))
        .bind(DB::bind_text(Some(column.to_owned())));
}

/// The text columns a graph's cut links compare with text read back from the journal, whose
/// [collations](catalog::collations) the archive, its restore and a purge ask: per
/// `set_null` / `set_default` edge below an archived table, the child's key, the link's
/// column and the parent's key (a restore puts a link back only where its row is there).
pub(crate) fn journal_columns(graph: &Graph) -> Vec<(&TableName, &'static str)> {
    let text = |kind: KeyKind| matches!(kind, KeyKind::Text | KeyKind::Uuid);
    let mut columns = Vec::new();
    for edge in graph
        .edges
        .iter()
        .filter(|e| matches!(e.rule, Rule::SetNull | Rule::SetDefault) && graph.archived[e.parent])
    {
        let (child, parent) = (&graph.nodes[edge.child], &graph.nodes[edge.parent]);
        let wanted = [
            (text(child.key_kind), (&child.name, child.key)),
            (text(edge.column_kind), (&child.name, edge.column)),
            (text(parent.key_kind), (&parent.name, parent.key)),
        ];
        for (_, column) in wanted.into_iter().filter(|(text, _)| *text) {
            if !columns.contains(&column) {
                columns.push(column);
            }
        }
    }
    columns
}
