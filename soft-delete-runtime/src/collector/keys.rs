//! Active-unique keys during a batch restore: found before anything is written, one query
//! per key per table, whatever the number of rows.
//!
//! The keys come with the graph: each soft-deletable table's [`Node`] carries the
//! [`KeyInfo`]s its model's `#[active_unique(...)]` attributes declare (the derive puts them in
//! [`Archivable::ACTIVE_UNIQUE_KEYS`](super::Archivable::ACTIVE_UNIQUE_KEYS)). A restore
//! breaks a key when, afterwards, two live rows would have the same values on all its columns
//! (`NULL` equals nothing, as in the database's unique index, except in the columns of a key
//! declared `nulls = not_distinct`, where it equals `NULL`, as that key's DDL makes the
//! database agree). Two checks say whether
//! it would:
//!
//! - [`rows`], before any row is brought back: each archived row of the batch against the live
//!   rows, and against the batch's other archived rows (two rows of one batch may have been
//!   given the same key after the archive);
//!
//!   ```text
//!   SELECT ... FROM (SELECT id, a, b FROM t WHERE <in this batch> AND <deleted>) AS sd_a
//!     JOIN (SELECT id, a, b FROM t WHERE <live>) AS sd_b ON sd_b.a = sd_a.a AND sd_b.b = sd_a.b
//!   UNION ALL <the same between two archived rows of the batch> ... LIMIT 1
//!   ```
//!
//! - [`link`], before each link a `set_null` / `set_default` edge cut is put back, when the
//!   link's column is part of a key of the child table: each live row whose link comes back,
//!   with the column's value from the journal, against the live rows and against the other
//!   rows whose link comes back. It runs after the rows are back, so they count as live.
//!
//! Either finds the first pair (a clash with a live row before one between two restored
//! rows) and [`Error::Conflict`] names it; the caller rolls back.

use std::sync::Arc;

use super::archive::journal_match;
use super::marks::{self, BatchValues};
use crate::backend::SupportedBackend;
use crate::ddl::journal;
use crate::exec::SqlConnection;
use crate::relations::{Graph, GraphEdge, Node, SoftInfo};
use crate::sql::catalog::Collations;
use crate::sql::{ClashRow, Dialected, Sql};
use crate::unique::{Holder, KeyConflict, KeyInfo};
use crate::{Error, RowId};

/// Two rows that would hold one key together: the row coming back, the one holding the key
/// (live, or coming back too), and the key's values as text.
struct Clash {
    restored: String,
    holder: String,
    values: String,
    holder_live: bool,
}

/// The first key of `node` that bringing back the batch's archived rows would break, as
/// [`Error::Conflict`]; `None` when every key stays unique. Writes nothing.
pub(crate) async fn rows<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    node: &Node,
    soft: &SoftInfo,
    batch: BatchValues,
) -> Result<Option<Error>, Error> {
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
    for key in soft.keys {
        if let Some(clash) = first(conn, clashes(d, node, soft, key, batch)?).await? {
            return Ok(Some(conflict(node, key, clash)));
        }
    }
    Ok(None)
}

/// The pairs of rows that would hold `key` of `node` together once the batch's archived rows
/// are back, a clash with a live row first (see [`rows`]): a query of [`ClashRow`]s, at most
/// one. Reads only.
pub(crate) fn clashes<DB: SupportedBackend, R>(
    d: Dialected,
    node: &Node,
    soft: &SoftInfo,
    key: &KeyInfo,
    batch: BatchValues,
) -> Result<Sql<DB, R>, Error> {
    let restored = || -> Result<Sql<DB, R>, Error> {
        let mut sql = Sql::new();
        sql.push(&format!(
            "(SELECT {} FROM {} WHERE ",
            columns(d, node, key),
            d.table(node)
        ));
        let in_batch =
            marks::in_batch(d, soft, batch)?.ok_or_else(|| Error::BatchNotIdentifiable {
                table: node.name.to_string(),
            })?;
        sql.append(in_batch);
        sql.push(&format!(" AND {}", (soft.deleted)(d.0)));
        // A row another marker still hides stays hidden: it holds no key.
        if let Some(others) = (soft.others_visible)(d.0) {
            sql.push(&format!(" AND {others}"));
        }
        sql.push(")");
        Ok(sql)
    };
    let live = format!(
        "(SELECT {} FROM {} WHERE {})",
        columns(d, node, key),
        d.table(node),
        (soft.visible)(d.0)
    );
    let pk = d.quote(node.key);
    let same_key = equal(d, key, "sd_a", "sd_b");

    let mut select = Sql::<DB, R>::new();
    select.push("SELECT sd_c.sd_restored, sd_c.sd_holder, sd_c.sd_values, sd_c.sd_live FROM (");
    // An archived row of the batch against a live row.
    select.push(&format!(
        "SELECT {} AS sd_restored, {} AS sd_holder, {} AS sd_values, {} AS sd_live FROM ",
        d.cast_to_text(&format!("sd_a.{pk}")),
        d.cast_to_text(&format!("sd_b.{pk}")),
        values(d, key, "sd_a", None),
        d.bigint(1),
    ));
    select.append(restored()?);
    select.push(&format!(" AS sd_a JOIN {live} AS sd_b ON {same_key}"));
    // Two archived rows of the batch against each other.
    select.push(&format!(
        " UNION ALL SELECT {}, {}, {}, {} FROM ",
        d.cast_to_text(&format!("sd_b.{pk}")),
        d.cast_to_text(&format!("sd_a.{pk}")),
        values(d, key, "sd_a", None),
        d.bigint(0),
    ));
    select.append(restored()?);
    select.push(" AS sd_a JOIN ");
    select.append(restored()?);
    select.push(&format!(
        " AS sd_b ON {same_key} AND sd_a.{pk} < sd_b.{pk}) AS sd_c ORDER BY sd_c.sd_live DESC LIMIT 1"
    ));
    Ok(select)
}

/// The first key of `edge`'s child table that putting back the links `edge` cut in this batch
/// would break, as [`Error::Conflict`]; `None` when the column is in no key, or every key
/// stays unique. Writes nothing; runs after the batch's rows are back.
pub(crate) async fn link<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    edge: &GraphEdge,
    batch: BatchValues,
    collations: &Collations,
) -> Result<Option<Error>, Error> {
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
    let child = &graph.nodes[edge.child];
    let Some(soft) = &child.soft else {
        return Ok(None);
    };
    for key in soft
        .keys
        .iter()
        .filter(|k| k.columns.contains(&edge.column))
    {
        let live = format!(
            "(SELECT {} FROM {} WHERE {})",
            columns(d, child, key),
            d.table(child),
            (soft.visible)(d.0)
        );
        let pk = d.quote(child.key);
        let fk = d.quote(edge.column);
        let others: Vec<&str> = key
            .columns
            .iter()
            .copied()
            .filter(|c| *c != edge.column)
            .collect();
        let journal_table = d.quote(journal::TABLE);
        let link = collations.of(&child.name, edge.column);
        let old = |alias: &str| {
            d.journal_value(
                &format!("{alias}.{}", d.quote(journal::OLD_VALUE)),
                edge.column_kind,
                link,
            )
        };
        // `alias` holds the live row `row` whose link comes back (and really changes).
        let comes_back = |sql: &mut Sql<C::Backend, R>, alias: &str, row: &str| {
            let new = d.journal_value(
                &format!("{alias}.{}", d.quote(journal::NEW_VALUE)),
                edge.column_kind,
                link,
            );
            let row_key = d.journal_value(
                &format!("{alias}.{}", d.quote(journal::ROW_KEY)),
                child.key_kind,
                collations.of(&child.name, child.key),
            );
            sql.push(&format!("{journal_table} AS {alias} ON "));
            journal_match(sql, d, batch.id, child, edge.column, &format!("{alias}."));
            sql.push(&format!(
                " AND {row}.{pk} = {row_key} AND {} AND NOT ({})",
                super::restore::still_cut(d, &format!("{row}.{fk}"), &new, alias),
                d.same(&old(alias), &new),
            ));
        };
        let old_text = format!("sd_j.{}", d.quote(journal::OLD_VALUE));
        let shown = values(d, key, "sd_a", Some((edge.column, &old_text)));

        let mut select = Sql::<C::Backend, R>::new();
        select.push("SELECT sd_c.sd_restored, sd_c.sd_holder, sd_c.sd_values, sd_c.sd_live FROM (");
        // A row whose link comes back against a live row holding the key already.
        select.push(&format!(
            "SELECT {} AS sd_restored, {} AS sd_holder, {shown} AS sd_values, {} AS sd_live \
             FROM {live} AS sd_a JOIN ",
            d.cast_to_text(&format!("sd_a.{pk}")),
            d.cast_to_text(&format!("sd_b.{pk}")),
            d.bigint(1),
        ));
        comes_back(&mut select, "sd_j", "sd_a");
        select.push(&format!(
            " JOIN {live} AS sd_b ON sd_b.{fk} = {} AND sd_b.{pk} <> sd_a.{pk}",
            old("sd_j")
        ));
        for column in &others {
            select.push(&format!(
                " AND {}",
                same_column(d, key, column, "sd_a", "sd_b")
            ));
        }
        // Two rows whose links come back with the same value.
        select.push(&format!(
            " UNION ALL SELECT {}, {}, {shown}, {} FROM {live} AS sd_a JOIN ",
            d.cast_to_text(&format!("sd_b.{pk}")),
            d.cast_to_text(&format!("sd_a.{pk}")),
            d.bigint(0),
        ));
        comes_back(&mut select, "sd_j", "sd_a");
        select.push(&format!(" JOIN {live} AS sd_b ON sd_a.{pk} < sd_b.{pk}"));
        for column in &others {
            select.push(&format!(
                " AND {}",
                same_column(d, key, column, "sd_a", "sd_b")
            ));
        }
        select.push(" JOIN ");
        comes_back(&mut select, "sd_k", "sd_b");
        select.push(&format!(
            " AND {} = {}) AS sd_c ORDER BY sd_c.sd_live DESC LIMIT 1",
            old("sd_k"),
            old("sd_j")
        ));
        if let Some(clash) = first(conn, select).await? {
            return Ok(Some(conflict(child, key, clash)));
        }
    }
    Ok(None)
}

/// The primary key and the key's columns, quoted, for a derived table's select list.
fn columns(d: Dialected, node: &Node, key: &KeyInfo) -> String {
    std::iter::once(node.key)
        .chain(key.columns.iter().copied().filter(|c| *c != node.key))
        .map(|c| d.quote(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `b.c1 = a.c1 AND b.c2 IS NOT DISTINCT FROM a.c2`: rows `a` and `b` have the same key.
fn equal(d: Dialected, key: &KeyInfo, a: &str, b: &str) -> String {
    key.columns
        .iter()
        .map(|c| same_column(d, key, c, a, b))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// `b.c = a.c`, or, for a column where `NULL` is a value of the key (`nulls = not_distinct`),
/// `b.c IS NOT DISTINCT FROM a.c` (`IS` on SQLite, `<=>` on MySQL).
fn same_column(d: Dialected, key: &KeyInfo, column: &str, a: &str, b: &str) -> String {
    let c = d.quote(column);
    let (left, right) = (format!("{b}.{c}"), format!("{a}.{c}"));
    if key.null_is_a_value(column) {
        d.same(&left, &right)
    } else {
        format!("{left} = {right}")
    }
}

/// The key's values of row `alias` as one text: `v` for one column, `(v1, v2)` for several,
/// `NULL` for a `NULL` that is a value of the key; `replace` gives one column's value as a text
/// expression instead.
fn values(d: Dialected, key: &KeyInfo, alias: &str, replace: Option<(&str, &str)>) -> String {
    let texts: Vec<String> = key
        .columns
        .iter()
        .map(|c| match replace {
            Some((column, text)) if column == *c => text.to_owned(),
            _ if key.null_is_a_value(c) => format!(
                "COALESCE({}, 'NULL')",
                d.cast_to_text(&format!("{alias}.{}", d.quote(c)))
            ),
            _ => d.cast_to_text(&format!("{alias}.{}", d.quote(c))),
        })
        .collect();
    if let [single] = texts.as_slice() {
        return single.clone();
    }
    let mut parts = vec!["'('".to_owned()];
    for (i, text) in texts.into_iter().enumerate() {
        if i > 0 {
            parts.push("', '".to_owned());
        }
        parts.push(text);
    }
    parts.push("')'".to_owned());
    d.concat(&parts)
}

async fn first<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    select: Sql<C::Backend, R>,
) -> Result<Option<Clash>, Error> {
    let rows = conn.rows::<ClashRow>(select).await?;
    Ok(rows
        .into_iter()
        .next()
        .map(|(restored, holder, values, live)| Clash {
            restored,
            holder,
            values,
            holder_live: live != 0,
        }))
}

fn conflict(node: &Node, key: &KeyInfo, clash: Clash) -> Error {
    let table = Arc::new(node.name.clone());
    Error::Conflict(Box::new(KeyConflict {
        table: node.name.clone(),
        key: key.name,
        columns: key.columns,
        values: clash.values,
        live_id: RowId::of(&table, clash.holder),
        holder: if clash.holder_live {
            Holder::Live
        } else {
            Holder::SameRestore
        },
        restored_id: Some(RowId::of(&table, clash.restored)),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::Dialect;

    fn key(columns: &'static [&'static str], nulls: &'static [&'static str]) -> KeyInfo {
        KeyInfo {
            name: "k",
            columns,
            nulls_not_distinct: nulls,
            counter: None,
        }
    }

    #[test]
    fn values_are_one_text_per_key() {
        let pg = Dialected(Dialect::Postgres);
        assert_eq!(
            values(pg, &key(&["email"], &[]), "sd_a", None),
            r#"CAST(sd_a."email" AS TEXT)"#
        );
        assert_eq!(
            values(pg, &key(&["a", "b"], &[]), "sd_a", Some(("b", "sd_j.old"))),
            r#"'(' || CAST(sd_a."a" AS TEXT) || ', ' || sd_j.old || ')'"#
        );
        let my = Dialected(Dialect::Mysql);
        assert_eq!(
            values(my, &key(&["a", "b"], &["b"]), "sd_a", None),
            "CONCAT('(', CAST(sd_a.`a` AS CHAR), ', ', COALESCE(CAST(sd_a.`b` AS CHAR), 'NULL'), ')')"
        );
        let key = key(&["a", "b"], &["b"]);
        assert_eq!(
            equal(pg, &key, "x", "y"),
            r#"y."a" = x."a" AND y."b" IS NOT DISTINCT FROM x."b""#
        );
    }
}
