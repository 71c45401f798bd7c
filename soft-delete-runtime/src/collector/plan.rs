//! What an archive does (or, previewed, would do), as data: per edge of the relation graph
//! how many rows it archived, nulled, reset to the default or deleted, and which live rows
//! protect the root.
//!
//! The steps are in the order of the tree [`Plan`]'s `Display` prints (see
//! [`preview`](super::preview)), each with its depth, so the data and the picture agree.

use crate::backend::TableName;
use crate::relations::{Graph, Rule};
use crate::RowId;

/// One edge of the relation graph, and what the archive did through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The referenced (parent) table.
    pub parent: TableName,
    /// The referencing (child) table.
    pub child: TableName,
    /// The child's foreign-key column.
    pub column: &'static str,
    /// The edge's rule.
    pub rule: Rule,
    /// The rows this edge reaches: archived (`cascade`; a row that two edges reach counts
    /// under both, and once in [`Plan::archived`]), deleted (`cascade(hard_delete)`), nulled
    /// (`set_null`) or reset (`set_default`). Always 0 for `protect` (see [`Plan::blockers`])
    /// and `do_nothing`.
    pub rows: u64,
    /// The depth in the tree: 1 for edges of the root table.
    pub depth: usize,
    /// For a `cascade` edge whose child's own edges are not listed under it: where they are.
    pub repeat: Option<Repeat>,
}

/// Why a `cascade` step's child is not expanded under it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// The child is the step's parent or one of its ancestors: a cycle, walked until no
    /// row was left; the rows of every level are counted in this step.
    Cycle,
    /// The child's edges are listed where the tree first reached it.
    ListedAbove,
}

/// Live rows that protect the root: they reference a row the archive would hide, through a
/// `protect` edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blocker {
    /// The table the archive would hide rows of.
    pub parent: TableName,
    /// The table of the live rows that refuse it.
    pub table: TableName,
    /// Their foreign-key column.
    pub column: &'static str,
    /// How many live rows refuse it.
    pub count: u64,
    /// Their primary keys, in key order, at most as many as the collector's
    /// [`blocker_ids`](super::Collector::blocker_ids) cap: read one as its model's id with
    /// `id.typed::<Reply>()` ([`RowId`]).
    pub ids: Vec<RowId>,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} live {} of `{}` (by `{}`)",
            self.count,
            if self.count == 1 { "row" } else { "rows" },
            self.table,
            self.column
        )?;
        if !self.ids.is_empty() {
            write!(f, ": {}", RowId::list(&self.ids))?;
            if (self.ids.len() as u64) < self.count {
                write!(f, ", ...")?;
            }
        }
        Ok(())
    }
}

/// What an archive does through the relation graph, as data.
///
/// [`Collector::preview`](super::Collector::preview) returns it without changing anything;
/// [`Collector::archive`](super::Collector::archive) returns it with the batch. It prints as a
/// tree with `{}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    root: TableName,
    roots: u64,
    steps: Vec<Step>,
    /// Rows archived per table (each row once), for the tables the archive can hide rows of.
    tables: Vec<(TableName, u64)>,
    blockers: Vec<Blocker>,
    /// What [`Plan::counts`] returns, computed with the steps.
    counts: Vec<(TableName, Rule, u64)>,
}

/// Where a line of [`Plan::counts`] takes its number from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CountSource {
    /// The rows archived in the graph's node, each once.
    Node(usize),
    /// The sum of the rows of these edges of the graph.
    Edges(Vec<usize>),
}

/// The lines of [`Plan::counts`] for `graph`, each with where its number comes from: per table
/// and rule, in tree order, the root table's first (as `cascade`), a table that `cascade`
/// reaches with its total, other rules with the sum of their edges. `protect` and
/// `do_nothing` have no line.
pub(crate) fn count_lines(graph: &Graph) -> Vec<(usize, Rule, CountSource)> {
    let mut steps = Vec::new();
    tree_order(
        graph,
        0,
        &mut vec![false; graph.nodes.len()],
        &mut Vec::new(),
        &mut |e, _, _| steps.push(e),
    );
    let mut lines = vec![(0, Rule::Cascade, CountSource::Node(0))];
    for e in steps {
        let edge = graph.edges[e];
        if matches!(edge.rule, Rule::Protect | Rule::DoNothing) {
            continue;
        }
        let same = |(child, rule, _): &&mut (usize, Rule, CountSource)| {
            graph.nodes[*child].name == graph.nodes[edge.child].name && *rule == edge.rule
        };
        match (lines.iter_mut().find(same), edge.rule) {
            (Some(_), Rule::Cascade) => {}
            (Some((_, _, CountSource::Edges(edges))), _) => edges.push(e),
            (Some(_), _) => {}
            (None, Rule::Cascade) => {
                lines.push((edge.child, Rule::Cascade, CountSource::Node(edge.child)))
            }
            (None, rule) => lines.push((edge.child, rule, CountSource::Edges(vec![e]))),
        }
    }
    lines
}

/// Calls `step(edge, depth, repeat)` for every edge reached from `node`, in the order of the
/// tree a [`Plan`] prints: a `cascade` child's edges under it, once (a cycle, or a child
/// listed above, is not expanded again).
fn tree_order(
    graph: &Graph,
    node: usize,
    expanded: &mut [bool],
    path: &mut Vec<usize>,
    step: &mut impl FnMut(usize, usize, Option<Repeat>),
) {
    expanded[node] = true;
    path.push(node);
    for &e in &graph.outgoing[node] {
        let edge = graph.edges[e];
        let repeat = match edge.rule {
            Rule::Cascade if path.contains(&edge.child) => Some(Repeat::Cycle),
            Rule::Cascade if expanded[edge.child] => Some(Repeat::ListedAbove),
            _ => None,
        };
        step(e, path.len(), repeat);
        if edge.rule == Rule::Cascade && repeat.is_none() {
            tree_order(graph, edge.child, expanded, path, step);
        }
    }
    path.pop();
}

impl Plan {
    /// Puts the per-edge counts of a run in tree order: `rows` per edge of the graph, `tables`
    /// the rows archived per node (each row once).
    pub(crate) fn new(
        graph: &Graph,
        roots: u64,
        rows: Vec<u64>,
        tables: Vec<u64>,
        blockers: Vec<Blocker>,
    ) -> Plan {
        let mut steps = Vec::new();
        tree_order(
            graph,
            0,
            &mut vec![false; graph.nodes.len()],
            &mut Vec::new(),
            &mut |e, depth, repeat| {
                let edge = graph.edges[e];
                steps.push(Step {
                    parent: graph.nodes[edge.parent].name.clone(),
                    child: graph.nodes[edge.child].name.clone(),
                    column: edge.column,
                    rule: edge.rule,
                    rows: rows[e],
                    depth,
                    repeat,
                });
            },
        );
        let lines = count_lines(graph)
            .into_iter()
            .map(|(node, rule, source)| {
                let rows = match source {
                    CountSource::Node(i) => tables[i],
                    CountSource::Edges(edges) => edges.iter().map(|&e| rows[e]).sum(),
                };
                (graph.nodes[node].name.clone(), rule, rows)
            })
            .collect();
        Plan {
            root: graph.nodes[0].name.clone(),
            roots,
            steps,
            tables: (0..graph.nodes.len())
                .filter(|&i| graph.archived[i])
                .map(|i| (graph.nodes[i].name.clone(), tables[i]))
                .collect(),
            blockers,
            counts: lines,
        }
    }

    /// Records the rows archived in the current span (an archive's or a preview's), and emits
    /// one `debug` event per step (feature `tracing`; nothing without it).
    pub(crate) fn trace(&self) {
        crate::trace::record!(rows = self.total_archived());
        #[cfg(feature = "tracing")]
        for step in &self.steps {
            tracing::debug!(
                parent = %step.parent,
                table = %step.child,
                column = step.column,
                rule = %step.rule,
                rows = step.rows,
                "step"
            );
        }
    }

    /// The root table.
    pub fn root(&self) -> &TableName {
        &self.root
    }

    /// How many rows of the root table the query selected that were live (and so are
    /// archived as roots).
    pub fn roots(&self) -> u64 {
        self.roots
    }

    /// Every edge reached, in tree order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The live rows that refuse the archive, one entry per `protect` edge that found some.
    pub fn blockers(&self) -> &[Blocker] {
        &self.blockers
    }

    /// Whether `protect` refuses the archive.
    pub fn is_blocked(&self) -> bool {
        !self.blockers.is_empty()
    }

    fn sum(&self, table: &str, column: Option<&str>, rule: Rule) -> u64 {
        self.steps
            .iter()
            .filter(|s| s.rule == rule && s.child.name == table)
            .filter(|s| column.is_none_or(|c| s.column == c))
            .map(|s| s.rows)
            .sum()
    }

    /// Rows of `table` (its SQL name) archived: as roots and through `cascade` edges, each
    /// row once however many edges reach it.
    pub fn archived(&self, table: &str) -> u64 {
        self.tables
            .iter()
            .filter(|(t, _)| t.name == table)
            .map(|(_, n)| n)
            .sum()
    }

    /// Rows of `table` deleted for good through `cascade(hard_delete)` edges.
    pub fn deleted(&self, table: &str) -> u64 {
        self.sum(table, None, Rule::HardDelete)
    }

    /// Links `table.column` set to NULL.
    pub fn nulled(&self, table: &str, column: &str) -> u64 {
        self.sum(table, Some(column), Rule::SetNull)
    }

    /// Links `table.column` reset to the column's default.
    pub fn defaulted(&self, table: &str, column: &str) -> u64 {
        self.sum(table, Some(column), Rule::SetDefault)
    }

    /// Rows archived in every table, roots included, each row once.
    pub fn total_archived(&self) -> u64 {
        self.tables.iter().map(|(_, n)| n).sum()
    }

    /// Per table and rule, the rows changed: `(table, rule, rows)` in tree order, the roots
    /// counted as `cascade` rows of the root table, and every archived row once (a table two
    /// `cascade` edges reach is listed with its total). Tables and rules with nothing to do are
    /// listed with 0, `protect` and `do_nothing` are not (see [`blockers`](Self::blockers)).
    pub fn counts(&self) -> Vec<(TableName, Rule, u64)> {
        self.counts.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::TableName;
    use crate::relations::{GraphEdge, KeyKind, Node};

    fn node(name: &str) -> Node {
        Node {
            name: TableName {
                schema: None,
                name: name.to_owned(),
            },
            key: "id",
            key_kind: KeyKind::Integer,
            soft: None,
            edges: Vec::new,
        }
    }

    /// users -> orders -> items, users -> carts -> items (a diamond), items -> items (a
    /// cycle), users -> invoices (protect).
    fn graph() -> Graph {
        let nodes = ["users", "orders", "carts", "items", "invoices"].map(node);
        let edge = |parent, child, column, rule| GraphEdge {
            parent,
            child,
            column,
            column_kind: KeyKind::Integer,
            rule,
        };
        let edges = vec![
            edge(0, 1, "user_id", Rule::Cascade),
            edge(0, 2, "user_id", Rule::Cascade),
            edge(0, 4, "user_id", Rule::Protect),
            edge(1, 3, "order_id", Rule::Cascade),
            edge(2, 3, "cart_id", Rule::Cascade),
            edge(3, 3, "bundle_id", Rule::Cascade),
        ];
        Graph {
            nodes: nodes.to_vec(),
            outgoing: vec![vec![0, 1, 2], vec![3], vec![4], vec![5], vec![]],
            edges,
            archived: vec![true, true, true, true, false],
        }
    }

    fn blocker(count: u64, ids: &[&str]) -> Blocker {
        Blocker {
            parent: node("users").name,
            table: node("invoices").name,
            column: "user_id",
            count,
            ids: ids.iter().map(|s| RowId::from_text(*s)).collect(),
        }
    }

    #[test]
    fn steps_follow_the_tree_and_mark_repeats() {
        let plan = Plan::new(
            &graph(),
            1,
            vec![2, 1, 0, 5, 3, 4],
            vec![1, 2, 1, 9, 0],
            vec![blocker(3, &["7", "9"])],
        );
        let steps: Vec<(&str, &str, usize, Option<Repeat>)> = plan
            .steps()
            .iter()
            .map(|s| (s.child.name.as_str(), s.column, s.depth, s.repeat))
            .collect();
        assert_eq!(
            steps,
            [
                ("orders", "user_id", 1, None),
                ("items", "order_id", 2, None),
                ("items", "bundle_id", 3, Some(Repeat::Cycle)),
                ("carts", "user_id", 1, None),
                ("items", "cart_id", 2, Some(Repeat::ListedAbove)),
                ("invoices", "user_id", 1, None),
            ]
        );
        // Items reached through three edges (5 + 3 + 4) are 9 rows: some through two.
        assert_eq!(plan.archived("items"), 9);
        assert_eq!(plan.archived("users"), 1);
        assert_eq!(plan.total_archived(), 1 + 2 + 1 + 9);
        assert!(plan.is_blocked());
    }

    #[test]
    fn the_tree_draws_branches_and_capped_blockers() {
        let plan = Plan::new(
            &graph(),
            1,
            vec![2, 1, 0, 5, 3, 4],
            vec![1, 2, 1, 9, 0],
            vec![blocker(3, &["7", "9"])],
        );
        assert_eq!(
            plan.to_string(),
            "archive 1 row of `users`
├── `orders`.`user_id` cascade: 2 rows archived
│   └── `items`.`order_id` cascade: 5 rows archived
│       └── `items`.`bundle_id` cascade: 4 rows archived (cycle back to `items`, every level counted)
├── `carts`.`user_id` cascade: 1 row archived
│   └── `items`.`cart_id` cascade: 3 rows archived (edges of `items` listed above)
└── `invoices`.`user_id` protect: 3 live rows refuse: 7, 9, ...
refused: 3 live rows protect what this archive would hide"
        );
        assert_eq!(
            blocker(3, &["7", "9"]).to_string(),
            "3 live rows of `invoices` (by `user_id`): 7, 9, ..."
        );
    }
}
