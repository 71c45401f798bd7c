//! A batch restore on PostgreSQL in one statement: the key checks, the claim of the batch in the
//! archive log and every table's `UPDATE`, as data-modifying CTEs, so that outside a
//! transaction a restore is one round trip.
//!
//! ```text
//! WITH sd_x0 AS (<the first pair of rows that would share an active-unique key, per key>),  -- read only
//!      sd_claim AS (UPDATE <log> SET restored_at = <now>, restored_by = <by>
//!                   WHERE id = <batch> AND root_table = <root> AND restored_at IS NULL
//!                   AND NOT EXISTS (SELECT 1 FROM sd_x0) ... RETURNING 1),
//!      sd_u0 AS (UPDATE root SET <unmark> WHERE <in the batch> AND EXISTS (SELECT 1 FROM sd_claim) RETURNING 1),
//!      sd_u1 AS (UPDATE orders SET <unmark> WHERE <in the batch> AND EXISTS (SELECT 1 FROM sd_claim) RETURNING 1),
//!      sd_n AS (SELECT (SELECT COUNT(*) FROM sd_u0) AS sd_n0, ..., (SELECT COUNT(*) FROM sd_claim) AS sd_claimed)
//! SELECT 'r', <the counts>, '', sd_claimed FROM sd_n
//! ```
//!
//! Every write hangs on the claim, and the claim on the checks: the statement brings the batch
//! back whole, or writes nothing. It writes nothing when the batch was restored already (also
//! by a concurrent restore, whose claim it waits for), when it belongs to another root table,
//! when a declared key would clash, and when it fails (a unique index the models do not
//! declare, a deferred constraint checked at the statement's end): then the restore runs again
//! as [the transaction](super::restore), which tells which it was with the same errors as
//! always. A graph with `set_null` or `set_default` edges has links to put back, checked
//! against the rows once they are back, and takes the transaction.
//!
//! The statement is sent bare when the caller has no transaction and cannot abandon it (sync
//! Diesel); otherwise in a transaction of its own (diesel-async, whose dropped future must not
//! commit it) or a savepoint in the caller's.

use super::keys;
use super::log::{cascade_counts, decode_counts};
use super::marks::{self, BatchValues};
use super::restore::Restored;
use crate::backend::{Dialect, TableName};
use crate::ddl::archive_log as log_table;
use crate::exec::{Begin, Executor, SqlConnection, Transaction};
use crate::relations::{Graph, StampKind};
use crate::sql::{ClashRow, Dialected, Sql, SupportedBackend};
use crate::{Error, Timestamp};

/// Whether a restore of `graph` on `dialect` can be one statement: PostgreSQL, and no links to
/// put back.
pub(crate) fn fits(graph: &Graph, dialect: Dialect) -> bool {
    dialect == Dialect::Postgres && !graph.needs_journal()
}

/// Restores `batch` of `graph` in one statement, recording `by` as who restored it: what came
/// back, or `None` when the statement wrote nothing, and the transaction is to run.
pub(crate) async fn run<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    batch: BatchValues,
    by: Option<&str>,
) -> Result<Option<Restored>, Error> {
    // A batch a table cannot tell apart is the transaction's to refuse, in its order.
    let Ok((sql, restored)) = statement::<C::Backend, R>(graph, batch, by) else {
        return Ok(None);
    };
    let outcome = if <C as Executor<Mo>>::ABANDONABLE || conn.in_transaction() {
        let mut transaction = Transaction::begin(conn, Begin::Plain).await?;
        let outcome = transaction.conn().rows::<ClashRow>(sql).await;
        transaction.finish(outcome).await
    } else {
        conn.rows::<ClashRow>(sql).await
    };
    let Ok(found) = outcome else {
        return Ok(None);
    };
    Ok(read(&restored, &found))
}

/// The statement (see the module's documentation), and the tables whose counts its row lists.
fn statement<DB: SupportedBackend, R>(
    graph: &Graph,
    batch: BatchValues,
    by: Option<&str>,
) -> Result<(Sql<DB, R>, Vec<TableName>), Error> {
    let d = Dialected(Dialect::Postgres);
    let mut sql = Sql::<DB, R>::new();
    sql.push("WITH ");
    let mut checks = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(soft) = node.soft.as_ref().filter(|_| graph.archived[i]) else {
            continue;
        };
        for key in soft.keys {
            let name = format!("sd_x{}", checks.len());
            sql.push(&format!("{name} AS ("))
                .append(keys::clashes(d, node, soft, key, batch)?)
                .push("), ");
            checks.push(format!(" AND NOT EXISTS (SELECT 1 FROM {name})"));
        }
    }
    // The rows of the batch in archived table `i`.
    let in_batch = |i: usize| -> Result<Sql<DB, R>, Error> {
        marks::in_batch::<DB, R>(d, graph.soft(i)?, batch)?.ok_or_else(|| {
            Error::BatchNotIdentifiable {
                table: graph.nodes[i].name.to_string(),
            }
        })
    };
    let archived: Vec<usize> = (0..graph.nodes.len())
        .filter(|&i| graph.archived[i])
        .collect();
    sql.push(&format!(
        "sd_claim AS (UPDATE {} SET {} = ",
        d.quote(log_table::TABLE),
        d.quote(log_table::RESTORED_AT)
    ))
    .bind(DB::bind_stamp(StampKind::Naive, Timestamp::now())?)
    .push(&format!(", {} = ", d.quote(log_table::RESTORED_BY)))
    .bind(DB::bind_text(by.map(str::to_owned)))
    .push(&format!(" WHERE {} = ", d.quote(log_table::ID)))
    .bind(DB::bind_i64(batch.id))
    .push(&format!(" AND {} = ", d.quote(log_table::ROOT_TABLE)))
    .bind(DB::bind_text(Some(graph.nodes[0].name.to_string())))
    .push(&format!(
        " AND {} IS NULL{} AND (",
        d.quote(log_table::RESTORED_AT),
        checks.concat()
    ));
    // The claim also needs a row of the batch still archived: a batch a purge deleted is the
    // transaction's to refuse ([`Error::ArchivePurged`]), and one that archived nothing its to
    // restore.
    for (n, &i) in archived.iter().enumerate() {
        if n > 0 {
            sql.push(" OR ");
        }
        sql.push(&format!(
            "EXISTS (SELECT 1 FROM {} WHERE ",
            d.table(&graph.nodes[i])
        ))
        .append(in_batch(i)?)
        .push(&format!(" AND {})", graph.soft(i)?.every_row(d.0)));
    }
    sql.push(&format!(") RETURNING {})", d.quote(log_table::COUNTS)));
    let mut restored = Vec::new();
    let mut counts = Vec::new();
    for &i in &archived {
        let node = &graph.nodes[i];
        let soft = graph.soft(i)?;
        let condition = in_batch(i)?;
        sql.push(&format!(
            ", sd_u{i} AS (UPDATE {} SET {} WHERE ",
            d.table(node),
            marks::unmark(d, soft)
        ))
        .append(condition)
        .push(" AND EXISTS (SELECT 1 FROM sd_claim) RETURNING 1)");
        counts.push(format!(
            "(SELECT COUNT(*) FROM sd_u{i}) AS sd_n{}",
            counts.len()
        ));
        restored.push(node.name.clone());
    }
    counts.push("(SELECT COUNT(*) FROM sd_claim) AS sd_claimed".to_owned());
    let listed: Vec<String> = (0..restored.len()).map(|n| format!("sd_n{n}")).collect();
    sql.push(&format!(
        ", sd_n AS (SELECT {}) SELECT 'r', CONCAT_WS(' ', '', {}), \
         COALESCE((SELECT {} FROM sd_claim), ''), sd_claimed FROM sd_n",
        counts.join(", "),
        listed.join(", "),
        d.quote(log_table::COUNTS)
    ));
    Ok((sql, restored))
}

/// What came back, from the statement's row (the rows per table, then the log's counts of
/// the archive): `None` when it claimed nothing.
fn read(restored: &[TableName], found: &[ClashRow]) -> Option<Restored> {
    let (_, counts, archived, claimed) = found.first()?;
    if *claimed != 1 {
        return None;
    }
    let numbers = counts.split_whitespace().map(|n| n.parse().unwrap_or(0));
    Some(Restored::of_rows(
        restored.iter().cloned().zip(numbers).collect(),
        cascade_counts(&decode_counts(archived)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_that_claimed_nothing_restored_nothing() {
        let tables = [TableName::from("orders"), TableName::from("items")];
        let row = |claimed| {
            let counts = "cascade\t1\t\torders\ncascade\t4\t\titems".to_owned();
            vec![("r".to_owned(), " 1 3".to_owned(), counts, claimed)]
        };
        assert_eq!(read(&tables, &row(0)), None);
        assert_eq!(read(&tables, &[]), None);
        let restored = read(&tables, &row(1)).expect("claimed");
        assert_eq!(
            (restored.rows_of("orders"), restored.rows_of("items")),
            (1, 3)
        );
        assert_eq!(restored.total_missing(), 1);
    }
}
