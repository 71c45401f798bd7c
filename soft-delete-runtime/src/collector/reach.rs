//! The read-only preview: what an archive would do, found with `SELECT`s only.
//!
//! An archive hides, per table, the live rows reachable from the roots through `cascade`
//! edges (a least fixed point: the roots, then every live row whose foreign key references a
//! row already reached). The preview writes that set down as SQL, table by table, and counts
//! through it:
//!
//! - a table reached only from tables above it (no cycle through it) is a nested subquery,
//!   `SELECT key FROM t WHERE <live> AND (fk IN (<reach of the parent>) OR ...)`;
//! - the tables of a cycle of `cascade` edges (a table referencing itself, two tables
//!   referencing each other) are walked by one recursive common table expression over
//!   `(table, key as text)` pairs, entered from the rows the tables above reach; each level
//!   joins the next level's rows by the foreign key's index, the key read back from text.
//!
//! Every count is one `SELECT`: per table the rows reached, per edge the rows it reaches
//! (a row reached through two edges counts under both, and once in its table), the links
//! `set_null` / `set_default` would change, the rows `cascade(hard_delete)` would delete, and
//! per `protect` edge the live rows that would refuse (rows the same archive hides excepted).
//! Nothing is written and no row is locked, so the preview runs in a `READ ONLY` transaction,
//! on a replica, and next to writers without waiting for them. It opens no transaction of its
//! own: call it inside one (e.g. `REPEATABLE READ`) for counts from a single snapshot.

use std::marker::PhantomData;
use std::sync::Arc;

use super::archive::check_batch_identity;
use super::plan::{Blocker, Plan};
use crate::backend::{Dialect, SupportedBackend};
use crate::exec::SqlConnection;
use crate::relations::{Graph, GraphEdge, KeyKind, Rule};
use crate::sql::{Dialected, KeyRow, Sql};
use crate::{Error, RowId};

/// The plan an archive of `roots` over `graph` would carry out now.
pub(crate) async fn preview<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    roots: &Arc<R>,
    blocker_ids: usize,
) -> Result<Plan, Error> {
    check_batch_identity(conn, graph, None).await?;
    let reach = Reach::new(
        graph,
        Dialected(<C::Backend as SupportedBackend>::DIALECT),
        roots,
    );
    let d = reach.d;

    let root = &graph.nodes[0];
    let mut select = Sql::<C::Backend, R>::new();
    select.push(&format!(
        "SELECT '', COUNT(*) FROM {} WHERE {} AND ",
        d.table(root),
        (graph.soft(0)?.live)(d.0)
    ));
    select.append(reach.roots_condition());
    let root_rows = count(conn.rows::<KeyRow>(select).await?);

    let mut tables = vec![0; graph.nodes.len()];
    for (t, total) in tables.iter_mut().enumerate() {
        if graph.archived[t] {
            let mut select = Sql::<C::Backend, R>::new();
            select.push("SELECT '', COUNT(*) FROM (");
            select.append(reach.set(t)?);
            select.push(") AS sd_t");
            *total = count(conn.rows::<KeyRow>(select).await?);
        }
    }

    let mut rows = vec![0; graph.edges.len()];
    let mut blockers = Vec::new();
    for (e, edge) in graph.edges.iter().enumerate() {
        let child = &graph.nodes[edge.child];
        let mut select = Sql::<C::Backend, R>::new();
        match edge.rule {
            Rule::DoNothing => {}
            Rule::Cascade | Rule::SetNull | Rule::SetDefault | Rule::HardDelete => {
                select.push(&format!(
                    "SELECT '', COUNT(*) FROM {} WHERE ",
                    d.table(child)
                ));
                // A cascade archives the live rows; the other rules change every row, live or
                // not, which a soft-deletable child says with the `.with_deleted()` trace.
                if let Some(soft) = &child.soft {
                    let rows = if edge.rule == Rule::Cascade {
                        (soft.live)(d.0)
                    } else {
                        soft.every_row(d.0)
                    };
                    select.push(&format!("{rows} AND "));
                }
                select.append(reach.references(*edge)?);
                rows[e] = count(conn.rows::<KeyRow>(select).await?);
            }
            Rule::Protect => {
                let key = d.quote(child.key);
                select.push(&format!(
                    "SELECT {}, COUNT(*) OVER () FROM {} WHERE ",
                    d.cast_to_text(&key),
                    d.table(child)
                ));
                select.append(reach.references(*edge)?);
                // Visible rows protect: a row some marker hides already does not.
                if let Some(soft) = &child.soft {
                    select.push(&format!(" AND {}", (soft.visible)(d.0)));
                }
                if graph.archived[edge.child] {
                    // What the same archive hides does not refuse it.
                    select.push(&format!(" AND {key} NOT IN ("));
                    select.append(reach.set(edge.child)?);
                    select.push(")");
                }
                select.push(&format!(" ORDER BY {key} LIMIT "));
                let limit = i64::try_from(blocker_ids.max(1)).unwrap_or(i64::MAX);
                select.bind(<C::Backend as SupportedBackend>::bind_i64(limit));
                let found = conn.rows::<KeyRow>(select).await?;
                let total = found
                    .first()
                    .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0));
                if total > 0 {
                    let table = Arc::new(child.name.clone());
                    blockers.push(Blocker {
                        parent: graph.nodes[edge.parent].name.clone(),
                        table: child.name.clone(),
                        column: edge.column,
                        count: total,
                        ids: found
                            .into_iter()
                            .take(blocker_ids)
                            .map(|(id, _)| RowId::of(&table, id))
                            .collect(),
                    });
                }
            }
        }
    }
    Ok(Plan::new(graph, root_rows, rows, tables, blockers))
}

/// The count a `SELECT '', COUNT(*)` read.
fn count(rows: Vec<KeyRow>) -> u64 {
    rows.first()
        .map_or(0, |(_, n)| u64::try_from(*n).unwrap_or(0))
}

/// The sets of rows an archive reaches, per table, as SQL.
struct Reach<'g, 'r, DB: SupportedBackend, R> {
    graph: &'g Graph,
    d: Dialected,
    roots: &'r Arc<R>,
    _backend: PhantomData<DB>,
    /// Per node, its strongly connected component over the `cascade` edges.
    component: Vec<usize>,
    /// Per component, whether a `cascade` edge runs inside it (a cycle).
    cyclic: Vec<bool>,
}

impl<'r, DB: SupportedBackend, R> Reach<'_, 'r, DB, R> {
    fn new<'g>(graph: &'g Graph, d: Dialected, roots: &'r Arc<R>) -> Reach<'g, 'r, DB, R> {
        let n = graph.nodes.len();
        // Which nodes each node reaches through cascade edges (the graphs are small).
        let mut reaches = vec![vec![false; n]; n];
        for (i, row) in reaches.iter_mut().enumerate() {
            row[i] = true;
            let mut stack = vec![i];
            while let Some(p) = stack.pop() {
                for edge in graph
                    .edges
                    .iter()
                    .filter(|e| e.parent == p && e.rule == Rule::Cascade)
                {
                    if !row[edge.child] {
                        row[edge.child] = true;
                        stack.push(edge.child);
                    }
                }
            }
        }
        let mut component = vec![usize::MAX; n];
        let mut cyclic = Vec::new();
        for i in 0..n {
            if component[i] != usize::MAX {
                continue;
            }
            let c = cyclic.len();
            for j in i..n {
                if reaches[i][j] && reaches[j][i] {
                    component[j] = c;
                }
            }
            cyclic.push(false);
        }
        for edge in graph.edges.iter().filter(|e| e.rule == Rule::Cascade) {
            if component[edge.parent] == component[edge.child] {
                cyclic[component[edge.child]] = true;
            }
        }
        Reach {
            graph,
            d,
            roots,
            _backend: PhantomData,
            component,
            cyclic,
        }
    }

    /// `fk IN (<the rows of the parent the archive reaches>)`.
    fn references(&self, edge: GraphEdge) -> Result<Sql<DB, R>, Error> {
        let mut sql = Sql::new();
        sql.push(&format!("{} IN (", self.d.quote(edge.column)));
        sql.append(self.set(edge.parent)?);
        sql.push(")");
        Ok(sql)
    }

    /// `key IN (SELECT * FROM (<roots>) AS sd_roots)`.
    fn roots_condition(&self) -> Sql<DB, R> {
        let mut sql = Sql::new();
        sql.push(&format!(
            "{} IN (SELECT * FROM (",
            self.d.quote(self.graph.nodes[0].key)
        ))
        .roots(self.roots)
        .push(") AS sd_roots)");
        sql
    }

    /// `SELECT key FROM t WHERE ...`: the rows of archived table `t` the archive reaches.
    fn set(&self, t: usize) -> Result<Sql<DB, R>, Error> {
        let d = self.d;
        let node = &self.graph.nodes[t];
        let live = (self.graph.soft(t)?.live)(d.0);
        let key = d.quote(node.key);
        let mut sql = Sql::new();
        sql.push(&format!(
            "SELECT {key} FROM {} WHERE {live} AND ",
            d.table(node)
        ));
        let c = self.component[t];
        if !self.cyclic[c] {
            sql.append(self.entry(t)?);
            return Ok(sql);
        }
        let cte = format!("sd_r{c}");
        let members: Vec<usize> = (0..self.graph.nodes.len())
            .filter(|&u| self.component[u] == c)
            .collect();
        sql.push(&self.equals_text(&key, node.key_kind, "sd_k", true));
        sql.push(&format!(" IN (WITH RECURSIVE {cte} (sd_n, sd_k) AS ("));
        for (i, &u) in members.iter().enumerate() {
            let member = &self.graph.nodes[u];
            // UNION, not UNION ALL, throughout the expression: MariaDB refuses a mix.
            if i > 0 {
                sql.push(" UNION ");
            }
            sql.push(&format!(
                "SELECT {}, {} FROM {} WHERE {} AND ",
                d.bigint(u as i64),
                self.key_text(&d.quote(member.key)),
                d.table(member),
                (self.graph.soft(u)?.live)(d.0),
            ));
            sql.append(self.entry(u)?);
        }
        let inner: Vec<&GraphEdge> = self
            .graph
            .edges
            .iter()
            .filter(|e| {
                e.rule == Rule::Cascade
                    && self.component[e.parent] == c
                    && self.component[e.child] == c
            })
            .collect();
        // Each level: the live children of the rows the last level reached, found by the
        // foreign key's index from the reached keys. PostgreSQL allows one recursive
        // reference, so there the edges are a lateral union; SQLite and MySQL/MariaDB take
        // one recursive SELECT per edge.
        let step = |edge: &GraphEdge, lateral: bool| -> Result<String, Error> {
            let child = &self.graph.nodes[edge.child];
            let table = d.table(child);
            let references = self.equals_text(
                &format!("{table}.{}", d.quote(edge.column)),
                edge.column_kind,
                &format!("{cte}.sd_k"),
                false,
            );
            let from = if lateral {
                format!("{table} WHERE {references} AND")
            } else {
                format!("{cte} JOIN {table} ON {references} WHERE")
            };
            Ok(format!(
                "SELECT {} AS sd_n, {} AS sd_k FROM {from} {cte}.sd_n = {} AND {}",
                d.bigint(edge.child as i64),
                self.key_text(&format!("{table}.{}", d.quote(child.key))),
                d.bigint(edge.parent as i64),
                (self.graph.soft(edge.child)?.live)(d.0),
            ))
        };
        if d.0 == Dialect::Postgres && inner.len() > 1 {
            sql.push(&format!(
                " UNION SELECT sd_e.sd_n, sd_e.sd_k FROM {cte} CROSS JOIN LATERAL ("
            ));
            for (i, edge) in inner.iter().enumerate() {
                if i > 0 {
                    sql.push(" UNION ALL ");
                }
                sql.push(&step(edge, true)?);
            }
            sql.push(") AS sd_e");
        } else {
            for edge in &inner {
                sql.push(" UNION ");
                sql.push(&step(edge, false)?);
            }
        }
        sql.push(&format!(
            ") SELECT {} FROM {cte} WHERE sd_n = {})",
            self.key_of_text("sd_k", node.key_kind),
            d.bigint(t as i64)
        ));
        Ok(sql)
    }

    /// `column = CAST(text AS <its type>)`, so the column's index finds the rows a key read
    /// back from the recursive expression's text names. For a text or UUID column on
    /// MySQL/MariaDB the column is compared as text instead (`CAST(column AS CHAR(255)) =
    /// text`): the cast text has the connection's collation, which may not be the column's.
    /// With `outer`, the text side is the select list of a subquery (`column IN (...)`), and
    /// only the column's side is written.
    fn equals_text(&self, column: &str, kind: KeyKind, text: &str, outer: bool) -> String {
        let as_text = self.d.0 == Dialect::Mysql && matches!(kind, KeyKind::Text | KeyKind::Uuid);
        match (outer, as_text) {
            (true, true) => self.key_text(column),
            (true, false) => column.to_owned(),
            (false, true) => format!("{} = {text}", self.key_text(column)),
            (false, false) => format!("{column} = {}", self.d.cast_from_text(text, kind)),
        }
    }

    /// The recursive expression's text `column` as the key `kind` it names: the same text for
    /// a text or UUID key on MySQL/MariaDB (see [`equals_text`](Self::equals_text)).
    fn key_of_text(&self, column: &str, kind: KeyKind) -> String {
        if self.d.0 == Dialect::Mysql && matches!(kind, KeyKind::Text | KeyKind::Uuid) {
            column.to_owned()
        } else {
            self.d.cast_from_text(column, kind)
        }
    }

    /// How rows of `t` are reached from outside its component: as roots, or through a
    /// `cascade` edge from a table above. `(a OR b ...)`, or `1 = 0` when nothing leads there.
    fn entry(&self, t: usize) -> Result<Sql<DB, R>, Error> {
        let mut sql = Sql::new();
        sql.push("(");
        let mut first = true;
        if t == 0 {
            sql.append(self.roots_condition());
            first = false;
        }
        for edge in self.graph.edges.iter().filter(|e| {
            e.rule == Rule::Cascade && e.child == t && self.component[e.parent] != self.component[t]
        }) {
            if !first {
                sql.push(" OR ");
            }
            first = false;
            sql.push(&format!("{} IN (", self.d.quote(edge.column)));
            sql.append(self.set(edge.parent)?);
            sql.push(")");
        }
        if first {
            sql.push("1 = 0");
        }
        sql.push(")");
        Ok(sql)
    }

    /// A key as text of one type on every row of a recursive expression (MySQL types its
    /// columns by the first rows, so a longer text later would not fit).
    fn key_text(&self, expr: &str) -> String {
        match self.d.0 {
            Dialect::Mysql => format!("CAST({expr} AS CHAR(255))"),
            Dialect::Sqlite | Dialect::Postgres => self.d.cast_to_text(expr),
        }
    }
}
