//! A cascade archive on PostgreSQL in one statement: every check, every write and the log row
//! as data-modifying CTEs, so that outside a transaction the archive is one round trip, atomic
//! as any statement is.
//!
//! ```text
//! WITH sd_r0 AS (SELECT key AS sd_k FROM root WHERE key IN (<roots>) AND <live>),   -- reach, read only,
//!      sd_r1 AS (SELECT key AS sd_k FROM orders WHERE fk IN (SELECT sd_k FROM sd_r0) AND <live>), -- as deep as a protect edge
//!      sd_b4 AS (SELECT key, COUNT(*) OVER () ... FROM invoices WHERE fk IN (SELECT sd_k FROM sd_r1) AND <visible> ...),
//!      sd_ok AS (SELECT NOT EXISTS (SELECT 1 FROM sd_b4) AS sd_ok),
//!      sd_id AS (SELECT nextval(<the log's sequence>) AS sd_id),
//!      sd_u0 AS (UPDATE root SET <mark> WHERE key IN (SELECT sd_k FROM sd_r0) AND <live> AND (SELECT sd_ok FROM sd_ok)
//!                RETURNING key AS sd_k, stamp AS sd_s),
//!      sd_u1 AS (UPDATE orders SET <mark> WHERE fk IN (SELECT sd_k FROM sd_u0) AND <live> RETURNING key AS sd_k, stamp AS sd_s),
//!      sd_c5 AS (UPDATE carts SET fk = NULL FROM sd_u1 AS sd_p, (SELECT key AS sd_k, fk AS sd_was FROM carts) AS sd_o
//!                WHERE carts.fk = sd_p.sd_k AND carts.key = sd_o.sd_k RETURNING <key, sd_o.sd_was, new>),
//!      sd_j5 AS (INSERT INTO <journal> SELECT <batch id>, ..., sd_k, sd_old, sd_new FROM sd_c5),
//!      sd_n AS (SELECT (SELECT COUNT(*) FROM sd_u0) AS sd_n0, ...),  -- every count, once
//!      sd_log AS (INSERT INTO <log> SELECT sd_id, <stamp>, ..., CASE WHEN EXISTS (SELECT 1 FROM sd_u0 WHERE sd_s
//!                   IS DISTINCT FROM <stamp>) OR ... THEN NULL ELSE <counts> END FROM sd_id, sd_n WHERE (SELECT sd_ok FROM sd_ok) RETURNING id)
//! SELECT <the counts in one row; the blockers; the log row's id>
//! ```
//!
//! The check that writes nothing (`protect` at every depth) reads the rows the archive would
//! reach, and every write is conditional on it: a refused archive writes nothing, and still takes
//! one statement. The stamp is checked where it is written, without reading the catalog: each
//! table found by its stamp alone returns the stamp it stored, and a row that did not keep it
//! as written (a column with fewer than six fractional digits rounds it) makes the log row's
//! counts `NULL`, which its `NOT NULL` refuses: the whole statement fails, nothing is written,
//! and the archive takes [the walk](super::archive), which reads the column's precision and
//! says why ([`Error::StampPrecision`]). A table the archive writes no row of has no stamp
//! to lose: it is not refused here (a [`preview`](super::Collector::preview), which reads the
//! catalog, still reports its precision). The writes follow each other through their
//! `RETURNING` lists (the rows a table's `UPDATE` archived are the parents of its children's),
//! so a root that a concurrent transaction archived first (re-checked under its row lock)
//! archives none of its children. A `set_null` / `set_default` cut returns the value it
//! replaced, and the journal records exactly the links cut. The batch id comes from the log's
//! sequence in the statement itself; the log row, written last with the counts, holds the
//! stamp under its `UNIQUE` constraint, and a stamp another archive holds fails the whole
//! statement, which is then sent again with the next microsecond.
//!
//! It needs a graph whose `cascade` edges have no cycle (a table archived by one `UPDATE`, after
//! every table it hangs from) and whose tables are each written once (PostgreSQL applies one
//! of two changes to a row written twice in a statement); other graphs, and the other
//! backends, take [the walk](super::archive).

use std::sync::Arc;

use super::archive::journal_insert;
use super::log::{self as archive_log, Reservation, COUNTS_SEPARATOR};
use super::marks::{self, BatchId, BatchValues};
use super::plan::{count_lines, Blocker, CountSource, Plan};
use crate::backend::Dialect;
use crate::ddl::archive_log as log_table;
use crate::exec::{Begin, SqlConnection, Transaction};
use crate::relations::{Graph, Rule, StampKind};
use crate::sql::{ClashRow, DbError, Dialected, Sql, SupportedBackend};
use crate::{Error, RowId};

/// The batch id, as the statement's writes read it.
const BATCH_ID: &str = "(SELECT sd_id FROM sd_id)";

/// What makes a graph fit for one statement: the archived tables in an order where every table
/// comes after each table it hangs from by `cascade`, and which of them the checks must read.
#[derive(Debug)]
pub(crate) struct Shape {
    order: Vec<usize>,
    /// Per node: the checks read the rows the archive would reach in it (it, or a table below
    /// it, has a `protect` edge).
    reach: Vec<bool>,
    /// Per node: how many `cascade` edges lead into it.
    ways: Vec<usize>,
}

impl Shape {
    /// The shape of `graph` on `dialect`, or `None` when the archive takes the walk: not
    /// PostgreSQL, a `cascade` cycle, a table written twice, or a `protect` edge into an
    /// archived table (whose own rows of the batch do not protect).
    pub(crate) fn of(graph: &Graph, dialect: Dialect) -> Option<Shape> {
        if dialect != Dialect::Postgres {
            return None;
        }
        let n = graph.nodes.len();
        let mut writes = vec![0usize; n];
        let mut ways = vec![0usize; n];
        for (i, archived) in graph.archived.iter().enumerate() {
            writes[i] += usize::from(*archived);
        }
        for edge in &graph.edges {
            match edge.rule {
                Rule::Cascade => ways[edge.child] += 1,
                Rule::SetNull | Rule::SetDefault | Rule::HardDelete => writes[edge.child] += 1,
                Rule::Protect if graph.archived[edge.child] => return None,
                Rule::Protect | Rule::DoNothing => {}
            }
        }
        if writes.iter().any(|&w| w > 1) || ways[0] > 0 {
            return None;
        }
        // Kahn's order over the `cascade` edges: a cycle leaves tables out.
        let mut waiting = ways.clone();
        let mut order = vec![0];
        let mut next = 0;
        while let Some(&node) = order.get(next) {
            next += 1;
            for &e in &graph.outgoing[node] {
                let edge = graph.edges[e];
                if edge.rule == Rule::Cascade {
                    waiting[edge.child] -= 1;
                    if waiting[edge.child] == 0 {
                        order.push(edge.child);
                    }
                }
            }
        }
        if order.len() != graph.archived.iter().filter(|a| **a).count() {
            return None;
        }
        let mut reach = vec![false; n];
        for &node in order.iter().rev() {
            reach[node] = graph.outgoing[node].iter().any(|&e| {
                let edge = graph.edges[e];
                edge.rule == Rule::Protect || (edge.rule == Rule::Cascade && reach[edge.child])
            });
        }
        Some(Shape { order, reach, ways })
    }
}

/// What the statement needs besides the graph.
pub(crate) struct Request<'a, R> {
    pub(crate) roots: &'a Arc<R>,
    pub(crate) reservation: Reservation<'a>,
    pub(crate) blocker_ids: usize,
}

/// Archives in one statement: bare when `C` runs it outside a transaction and cannot be
/// abandoned half way, else in a transaction of its own (a savepoint in the caller's, which a
/// failed statement would otherwise doom). Returns the plan and, unless `protect` refused, the
/// batch; the stamp is taken again from the next microsecond while another archive holds it.
/// `None` when a row did not keep the stamp as written: nothing was written, and the walk,
/// which reads the stamp columns' precision first, says why.
pub(crate) async fn run<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    shape: &Shape,
    request: &Request<'_, R>,
) -> Result<Option<(Plan, Option<BatchValues>)>, Error> {
    let wrap = <C as crate::exec::Executor<Mo>>::ABANDONABLE || conn.in_transaction();
    for attempt in 0..archive_log::STAMP_ATTEMPTS {
        let stamp = request.reservation.first + std::time::Duration::from_micros(attempt.into());
        let (sql, reported) = statement::<C::Backend, R>(graph, shape, request, stamp)?;
        let outcome = if wrap {
            let mut transaction = Transaction::begin(conn, Begin::Plain).await?;
            let outcome = transaction.conn().rows::<ClashRow>(sql).await;
            transaction.finish(outcome).await
        } else {
            conn.rows::<ClashRow>(sql).await
        };
        match outcome {
            Ok(rows) => return read(graph, request, &reported, stamp, rows).map(Some),
            Err(error) if stamp_taken(&error) => continue,
            Err(error) if stamp_rounded(&error) => return Ok(None),
            Err(error) => return Err(error.into()),
        }
    }
    Err(Error::StampsTaken {
        attempts: archive_log::STAMP_ATTEMPTS,
    })
}

/// Whether `error` is the log's refusal of a stamp another archive holds.
fn stamp_taken(error: &diesel::result::Error) -> bool {
    DbError::is_unique(error)
        && matches!(error, diesel::result::Error::DatabaseError(_, info)
            if info.table_name() == Some(log_table::TABLE))
}

/// Whether `error` is the log's refusal of the `NULL` counts the statement writes when a row did
/// not keep the stamp as written.
fn stamp_rounded(error: &diesel::result::Error) -> bool {
    DbError::is_null_in(error, log_table::TABLE, log_table::COUNTS)
}

/// The statement (see the module's documentation), and the numbers its first row lists.
fn statement<DB: SupportedBackend, R>(
    graph: &Graph,
    shape: &Shape,
    request: &Request<'_, R>,
    stamp: crate::Timestamp,
) -> Result<(Sql<DB, R>, Reported), Error> {
    let d = Dialected(Dialect::Postgres);
    let mut sql = Sql::<DB, R>::new();
    sql.push("WITH ");
    let mut first = true;
    let mut cte = |sql: &mut Sql<DB, R>, name: &str| {
        if !std::mem::take(&mut first) {
            sql.push(", ");
        }
        sql.push(&format!("{name} AS ("));
    };
    let roots = |sql: &mut Sql<DB, R>| {
        sql.push("SELECT * FROM (")
            .roots(request.roots)
            .push(") AS sd_roots");
    };
    let parents_of = |node: usize, prefix: &str| {
        graph
            .edges
            .iter()
            .filter(|edge| edge.rule == Rule::Cascade && edge.child == node)
            .map(|edge| {
                format!(
                    "{} IN (SELECT sd_k FROM {prefix}{})",
                    d.quote(edge.column),
                    edge.parent
                )
            })
            .collect::<Vec<_>>()
            .join(" OR ")
    };

    // The rows the archive would reach, read, as deep as a `protect` edge hangs.
    for &node in shape.order.iter().filter(|&&node| shape.reach[node]) {
        let table = &graph.nodes[node];
        cte(&mut sql, &format!("sd_r{node}"));
        sql.push(&format!(
            "SELECT {} AS sd_k FROM {} WHERE ",
            d.quote(table.key),
            d.table(table)
        ));
        if node == 0 {
            sql.push(&format!("{} IN (", d.quote(table.key)));
            roots(&mut sql);
            sql.push(")");
        } else {
            sql.push(&format!("({})", parents_of(node, "sd_r")));
        }
        sql.push(&format!(" AND {})", (graph.soft(node)?.live)(d.0)));
    }
    // The live rows that protect them.
    let protects: Vec<usize> = (0..graph.edges.len())
        .filter(|&e| graph.edges[e].rule == Rule::Protect && shape.reach[graph.edges[e].parent])
        .collect();
    let limit = i64::try_from(request.blocker_ids.max(1)).unwrap_or(i64::MAX);
    for &e in &protects {
        let edge = graph.edges[e];
        let child = &graph.nodes[edge.child];
        let key = d.quote(child.key);
        cte(&mut sql, &format!("sd_b{e}"));
        sql.push(&format!(
            "SELECT {} AS sd_key, COUNT(*) OVER () AS sd_n, ROW_NUMBER() OVER (ORDER BY {key}) AS sd_at \
             FROM {} WHERE {} IN (SELECT sd_k FROM sd_r{})",
            d.cast_to_text(&key),
            d.table(child),
            d.quote(edge.column),
            edge.parent
        ));
        if let Some(soft) = &child.soft {
            sql.push(&format!(" AND {}", (soft.visible)(d.0)));
        }
        sql.push(&format!(" ORDER BY {key} LIMIT "))
            .bind(DB::bind_i64(limit))
            .push(")");
    }
    cte(&mut sql, "sd_ok");
    let mut checks: Vec<String> = protects
        .iter()
        .map(|e| format!("NOT EXISTS (SELECT 1 FROM sd_b{e})"))
        .collect();
    if checks.is_empty() {
        checks.push("TRUE".to_owned());
    }
    sql.push(&format!("SELECT {} AS sd_ok)", checks.join(" AND ")));
    cte(&mut sql, "sd_id");
    sql.push("SELECT nextval(pg_get_serial_sequence(")
        .bind(DB::bind_text(Some(d.quote(log_table::TABLE))))
        .push(", ")
        .bind(DB::bind_text(Some(log_table::ID.to_owned())))
        .push(")) AS sd_id)");

    // The writes, each table's after those it hangs from.
    let mut stamped = Vec::new();
    for &node in &shape.order {
        let table = &graph.nodes[node];
        let soft = graph.soft(node)?;
        cte(&mut sql, &format!("sd_u{node}"));
        sql.push(&format!("UPDATE {} SET ", d.table(table)));
        marks::mark_as(&mut sql, d, soft, stamp, BatchId::Sql(BATCH_ID))?;
        sql.push(" WHERE ");
        if node == 0 {
            // The roots the checks read, when they read them: the roots query runs once, so
            // a query whose answer can change (`order(random())`, a `limit` without `order`)
            // archives the rows that were checked.
            sql.push(&format!("{} IN (", d.quote(table.key)));
            if shape.reach[0] {
                sql.push("SELECT sd_k FROM sd_r0");
            } else {
                roots(&mut sql);
            }
            sql.push(&format!(
                ") AND {} AND (SELECT sd_ok FROM sd_ok)",
                (soft.live)(d.0)
            ));
        } else {
            sql.push(&format!(
                "({}) AND {}",
                parents_of(node, "sd_u"),
                (soft.live)(d.0)
            ));
        }
        sql.push(&format!(" RETURNING {} AS sd_k", d.quote(table.key)));
        // A table found by its stamp alone returns the stamp as it stored it.
        if let Some(column) = soft.columns.stamp.filter(|_| soft.columns.batch.is_none()) {
            sql.push(&format!(", {} AS sd_s", d.quote(column.name)));
            stamped.push((node, column.kind));
        }
        if shape.ways[node] > 1 {
            for (e, edge) in graph.edges.iter().enumerate() {
                if edge.rule == Rule::Cascade && edge.child == node {
                    sql.push(&format!(", {} AS sd_f{e}", d.quote(edge.column)));
                }
            }
        }
        sql.push(")");
    }
    for (e, edge) in graph.edges.iter().enumerate() {
        let child = &graph.nodes[edge.child];
        let table = d.table(child);
        let fk = d.quote(edge.column);
        match edge.rule {
            Rule::HardDelete => {
                cte(&mut sql, &format!("sd_d{e}"));
                sql.push(&format!(
                    "DELETE FROM {table} WHERE {fk} IN (SELECT sd_k FROM sd_u{}) RETURNING 1)",
                    edge.parent
                ));
            }
            Rule::SetNull | Rule::SetDefault => {
                // The value the cut replaced is the row's own, read as the statement found it
                // (`sd_o`, joined by the key; `RETURNING` gives the new value), not the parent's
                // key the link matched (re-checked under the row's lock): under a collation
                // that ignores case the two may be spelled apart. The journal records exactly
                // the links cut.
                let (cut, became) = match edge.rule {
                    Rule::SetNull => ("NULL", "NULL".to_owned()),
                    _ => ("DEFAULT", d.cast_to_text(&format!("{table}.{fk}"))),
                };
                let key = d.quote(child.key);
                let every_row = child
                    .soft
                    .as_ref()
                    .map(|soft| format!(" WHERE {}", soft.every_row(d.0)))
                    .unwrap_or_default();
                cte(&mut sql, &format!("sd_c{e}"));
                sql.push(&format!(
                    "UPDATE {table} SET {fk} = {cut} FROM sd_u{} AS sd_p, \
                     (SELECT {key} AS sd_k, {fk} AS sd_was FROM {table}{every_row}) AS sd_o \
                     WHERE {table}.{fk} = sd_p.sd_k AND {table}.{key} = sd_o.sd_k",
                    edge.parent
                ));
                if let Some(soft) = &child.soft {
                    sql.push(&format!(" AND {}", soft.every_row(d.0)));
                }
                sql.push(&format!(
                    " RETURNING {} AS sd_k, {} AS sd_old, {became} AS sd_new)",
                    d.cast_to_text(&format!("{table}.{key}")),
                    d.cast_to_text("sd_o.sd_was"),
                ));
                cte(&mut sql, &format!("sd_j{e}"));
                sql.push(&format!("{}SELECT {BATCH_ID}, ", journal_insert(d)))
                    .bind(DB::bind_text(Some(child.name.to_string())))
                    .push(", ")
                    .bind(DB::bind_text(Some(edge.column.to_owned())))
                    .push(&format!(", sd_k, sd_old, sd_new FROM sd_c{e})"));
            }
            Rule::Cascade | Rule::Protect | Rule::DoNothing => {}
        }
    }

    // Every number the statement reports, each counted once.
    let mut numbers = Numbers::default();
    let mut reported = Vec::new();
    for &node in &shape.order {
        reported.push((
            Count::Table(node),
            numbers.column(rows(graph, shape, &CountSource::Node(node))),
        ));
    }
    for (e, edge) in graph.edges.iter().enumerate() {
        if !matches!(edge.rule, Rule::Protect | Rule::DoNothing) {
            let source = CountSource::Edges(vec![e]);
            reported.push((Count::Edge(e), numbers.column(rows(graph, shape, &source))));
        }
    }
    let lines: Vec<(String, String, usize)> = count_lines(graph)
        .into_iter()
        .map(|(node, rule, source)| {
            let (before, after) = archive_log::count_line(&graph.nodes[node].name, rule);
            (before, after, numbers.column(rows(graph, shape, &source)))
        })
        .collect();
    let root_count = numbers.column(rows(graph, shape, &CountSource::Node(0)));
    cte(&mut sql, "sd_n");
    sql.push(&format!("SELECT {})", numbers.select()));

    // The log row, with what the writes returned.
    let Reservation {
        root, by, reason, ..
    } = request.reservation;
    cte(&mut sql, "sd_log");
    sql.push(&format!(
        "INSERT INTO {} ({}, {}, {}, {}, {}, {}, {}, {}) SELECT sd_id, ",
        d.quote(log_table::TABLE),
        d.quote(log_table::ID),
        d.quote(log_table::ARCHIVED_AT),
        d.quote(log_table::ROOT_TABLE),
        d.quote(log_table::ROOT_COUNT),
        d.quote(log_table::ROOT_KEY),
        d.quote(log_table::ARCHIVED_BY),
        d.quote(log_table::REASON),
        d.quote(log_table::COUNTS),
    ))
    .bind(DB::bind_stamp(StampKind::Naive, stamp)?)
    .push(", ")
    .bind(DB::bind_text(Some(root.to_string())))
    .push(&format!(
        ", sd_n{root_count}, CASE WHEN sd_n{root_count} = 1 THEN (SELECT {} FROM sd_u0) END, ",
        d.cast_to_text("sd_k")
    ))
    .bind(DB::bind_text(by.map(str::to_owned)))
    .push(", ")
    .bind(DB::bind_text(reason.map(str::to_owned)))
    .push(", ");
    // No counts (refused by the column's `NOT NULL`) when a row did not keep the stamp.
    let checked = !stamped.is_empty();
    if checked {
        sql.push("CASE WHEN ");
        for (i, (node, kind)) in stamped.into_iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(&format!(
                "EXISTS (SELECT 1 FROM sd_u{node} WHERE sd_s IS DISTINCT FROM "
            ))
            .bind(DB::bind_stamp(kind, stamp)?)
            .push(")");
        }
        sql.push(" THEN NULL ELSE ");
    }
    sql.push("CONCAT_WS(")
        .bind(DB::bind_text(Some(COUNTS_SEPARATOR.to_owned())));
    for (before, after, column) in lines {
        sql.push(", ")
            .bind(DB::bind_text(Some(before)))
            .push(&format!(" || CAST(sd_n{column} AS TEXT) || "))
            .bind(DB::bind_text(Some(after)));
    }
    sql.push(&format!(
        "){} FROM sd_id, sd_n WHERE (SELECT sd_ok FROM sd_ok) RETURNING {})",
        if checked { " END" } else { "" },
        d.quote(log_table::ID)
    ));

    // What the statement did: the numbers in one row, then the blockers and the log row's id.
    let mut results = vec![format!(
        "SELECT 'c', {}, '', CAST(0 AS BIGINT) FROM sd_n",
        numbers.listed()
    )];
    for &e in &protects {
        results.push(format!(
            "SELECT 'b{e}', sd_key, CAST(sd_n AS TEXT), sd_at FROM sd_b{e}"
        ));
    }
    results.push(format!(
        "SELECT 'l', '', '', {} FROM sd_log",
        d.quote(log_table::ID)
    ));
    sql.push(&format!(" {}", results.join(" UNION ALL ")));
    Ok((sql, reported))
}

/// The numbers the statement's first row lists: what each counts, and its column in `sd_n`.
type Reported = Vec<(Count, usize)>;

/// A number the statement reports.
#[derive(Debug, Clone, Copy)]
enum Count {
    /// The rows a table's `UPDATE` archived.
    Table(usize),
    /// The rows an edge's rule changed.
    Edge(usize),
}

/// The counts of the `sd_n` CTE: each distinct expression once, as a column `sd_n<i>`.
#[derive(Default)]
struct Numbers(Vec<String>);

impl Numbers {
    /// The column counting `expression`.
    fn column(&mut self, expression: String) -> usize {
        match self.0.iter().position(|known| *known == expression) {
            Some(i) => i,
            None => {
                self.0.push(expression);
                self.0.len() - 1
            }
        }
    }

    /// The CTE's select list.
    fn select(&self) -> String {
        let columns: Vec<String> = self
            .0
            .iter()
            .enumerate()
            .map(|(i, expression)| format!("{expression} AS sd_n{i}"))
            .collect();
        columns.join(", ")
    }

    /// Every column, as one text of numbers separated by spaces.
    fn listed(&self) -> String {
        let columns: Vec<String> = (0..self.0.len()).map(|i| format!("sd_n{i}")).collect();
        format!("CONCAT_WS(' ', {})", columns.join(", "))
    }
}

/// The SQL of a count: the rows a table's `UPDATE` archived, or the sum of the rows of edges
/// (a `cascade` edge into a table more ways lead to counts the archived rows that reference
/// the parent's archived rows through it).
fn rows(graph: &Graph, shape: &Shape, source: &CountSource) -> String {
    let edges = match source {
        CountSource::Node(node) => return format!("(SELECT COUNT(*) FROM sd_u{node})"),
        CountSource::Edges(edges) => edges,
    };
    let terms: Vec<String> = edges
        .iter()
        .map(|&e| {
            let edge = graph.edges[e];
            match edge.rule {
                Rule::Cascade if shape.ways[edge.child] > 1 => format!(
                    "(SELECT COUNT(*) FROM sd_u{} WHERE sd_f{e} IN (SELECT sd_k FROM sd_u{}))",
                    edge.child, edge.parent
                ),
                Rule::Cascade => format!("(SELECT COUNT(*) FROM sd_u{})", edge.child),
                Rule::HardDelete => format!("(SELECT COUNT(*) FROM sd_d{e})"),
                Rule::SetNull | Rule::SetDefault => format!("(SELECT COUNT(*) FROM sd_c{e})"),
                Rule::Protect | Rule::DoNothing => "CAST(0 AS BIGINT)".to_owned(),
            }
        })
        .collect();
    match terms.len() {
        0 => "CAST(0 AS BIGINT)".to_owned(),
        _ => format!("({})", terms.join(" + ")),
    }
}

/// The plan and batch from the statement's rows, or the precision that refuses the archive.
fn read<R>(
    graph: &Graph,
    request: &Request<'_, R>,
    reported: &[(Count, usize)],
    stamp: crate::Timestamp,
    found: Vec<ClashRow>,
) -> Result<(Plan, Option<BatchValues>), Error> {
    let mut rows = vec![0u64; graph.edges.len()];
    let mut tables = vec![0u64; graph.nodes.len()];
    let mut blockers: Vec<Option<Blocker>> = vec![None; graph.edges.len()];
    let mut blocker_ids: Vec<Vec<(i64, String)>> = vec![Vec::new(); graph.edges.len()];
    let mut id = None;
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    for (tag, key, total, n) in found {
        let (kind, index) = tag.split_at(1);
        let index: usize = index.parse().unwrap_or(0);
        match kind {
            "c" => {
                let numbers: Vec<i64> = key.split(' ').map(|n| n.parse().unwrap_or(0)).collect();
                for &(what, column) in reported {
                    let n = count(numbers.get(column).copied().unwrap_or(0));
                    match what {
                        Count::Table(node) => tables[node] = n,
                        Count::Edge(e) => rows[e] = n,
                    }
                }
            }
            "b" => {
                let edge = graph.edges[index];
                let blocker = blockers[index].get_or_insert_with(|| Blocker {
                    parent: graph.nodes[edge.parent].name.clone(),
                    table: graph.nodes[edge.child].name.clone(),
                    column: edge.column,
                    count: total.parse().unwrap_or(0),
                    ids: Vec::new(),
                });
                blocker.count = blocker.count.max(total.parse().unwrap_or(0));
                blocker_ids[index].push((n, key));
            }
            "l" => id = Some(n),
            _ => {}
        }
    }
    for (e, blocker) in blockers.iter_mut().enumerate() {
        if let Some(blocker) = blocker {
            let table = Arc::new(graph.nodes[graph.edges[e].child].name.clone());
            let mut ids = std::mem::take(&mut blocker_ids[e]);
            ids.sort_unstable();
            blocker.ids = ids
                .into_iter()
                .take(request.blocker_ids)
                .map(|(_, key)| RowId::of(&table, key))
                .collect();
        }
    }
    let roots = tables[0];
    let plan = Plan::new(
        graph,
        roots,
        rows,
        tables,
        blockers.into_iter().flatten().collect(),
    );
    Ok((plan, id.map(|id| BatchValues { stamp, id })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TableName;
    use crate::relations::{GraphEdge, KeyKind, Node};

    /// A graph of `tables` (the first the root) and `(parent, child, rule)` edges; archived are
    /// the root and every `cascade` child.
    fn graph(tables: &[&str], edges: &[(usize, usize, Rule)]) -> Graph {
        let nodes: Vec<Node> = tables
            .iter()
            .map(|name| Node {
                name: TableName {
                    schema: None,
                    name: (*name).to_owned(),
                },
                key: "id",
                key_kind: KeyKind::Integer,
                soft: None,
                edges: Vec::new,
            })
            .collect();
        let mut outgoing = vec![Vec::new(); nodes.len()];
        let mut archived = vec![false; nodes.len()];
        archived[0] = true;
        let edges: Vec<GraphEdge> = edges
            .iter()
            .enumerate()
            .map(|(e, &(parent, child, rule))| {
                outgoing[parent].push(e);
                archived[child] |= rule == Rule::Cascade;
                GraphEdge {
                    parent,
                    child,
                    column: "fk",
                    column_kind: KeyKind::Integer,
                    rule,
                }
            })
            .collect();
        Graph {
            nodes,
            outgoing,
            edges,
            archived,
        }
    }

    #[test]
    fn a_tree_and_a_diamond_are_one_statement_parents_first() {
        use Rule::*;
        let tree = graph(
            &["users", "orders", "items", "invoices", "reviews"],
            &[
                (0, 1, Cascade),
                (1, 2, Cascade),
                (1, 3, Protect),
                (0, 4, SetNull),
            ],
        );
        let shape = Shape::of(&tree, Dialect::Postgres).expect("one statement");
        assert_eq!(shape.order, [0, 1, 2]);
        // The checks read users and orders (invoices protect orders), not items.
        assert_eq!(shape.reach, [true, true, false, false, false]);
        assert_eq!(Shape::of(&tree, Dialect::Mysql).map(|s| s.order), None);
        assert_eq!(Shape::of(&tree, Dialect::Sqlite).map(|s| s.order), None);

        let diamond = graph(
            &["users", "items", "orders", "carts"],
            &[
                (0, 2, Cascade),
                (0, 3, Cascade),
                (2, 1, Cascade),
                (3, 1, Cascade),
            ],
        );
        let shape = Shape::of(&diamond, Dialect::Postgres).expect("one statement");
        assert_eq!(shape.order, [0, 2, 3, 1], "items after both its parents");
        assert_eq!(shape.ways[1], 2);
    }

    #[test]
    fn cycles_and_tables_written_twice_take_the_walk() {
        use Rule::*;
        let cycle = graph(&["users", "comments"], &[(0, 1, Cascade), (1, 1, Cascade)]);
        assert!(Shape::of(&cycle, Dialect::Postgres).is_none());
        let back = graph(&["users", "teams"], &[(0, 1, Cascade), (1, 0, Cascade)]);
        assert!(Shape::of(&back, Dialect::Postgres).is_none());
        let cut_and_archived = graph(&["users", "posts"], &[(0, 1, Cascade), (0, 1, SetNull)]);
        assert!(Shape::of(&cut_and_archived, Dialect::Postgres).is_none());
        let cut_twice = graph(
            &["users", "reviews"],
            &[(0, 1, SetNull), (0, 1, SetDefault)],
        );
        assert!(Shape::of(&cut_twice, Dialect::Postgres).is_none());
        let protects_itself = graph(&["users", "posts"], &[(0, 1, Cascade), (1, 1, Protect)]);
        assert!(Shape::of(&protects_itself, Dialect::Postgres).is_none());
    }
}
