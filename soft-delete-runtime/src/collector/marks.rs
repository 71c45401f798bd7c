//! What an archive writes on a row and how a restore finds it again: the `SET` lists that mark
//! and unmark a row, and the condition of a batch's rows.

use crate::relations::SoftInfo;
use crate::sql::{Dialected, Sql, SupportedBackend};
use crate::table::StrategyKind;
use crate::{Error, Timestamp};

/// The batch being written or restored: its timestamp and its id.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchValues {
    pub(crate) stamp: Timestamp,
    pub(crate) id: i64,
}

/// The `SET` list that archives a row of `soft` as part of `batch`.
pub(crate) fn mark<DB: SupportedBackend, R>(
    sql: &mut Sql<DB, R>,
    d: Dialected,
    soft: &SoftInfo,
    batch: BatchValues,
) -> Result<(), Error> {
    mark_as(sql, d, soft, batch.stamp, BatchId::Value(batch.id))
}

/// The id a mark writes in a batch column.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BatchId<'a> {
    /// The reserved id, bound.
    Value(i64),
    /// SQL that gives it: a statement that takes the id from the log's sequence itself.
    Sql(&'a str),
}

/// The `SET` list that archives a row of `soft` with `stamp` and batch `id`.
pub(crate) fn mark_as<DB: SupportedBackend, R>(
    sql: &mut Sql<DB, R>,
    d: Dialected,
    soft: &SoftInfo,
    stamp: Timestamp,
    id: BatchId<'_>,
) -> Result<(), Error> {
    let mut items = Vec::new();
    let marker = d.quote(soft.marker);
    match soft.strategy {
        StrategyKind::Timestamp => {}
        StrategyKind::DeletedFlag => items.push((format!("{marker} = TRUE"), None)),
        StrategyKind::ActiveFlag => items.push((format!("{marker} = FALSE"), None)),
    }
    if let Some(column) = soft.columns.stamp {
        items.push((
            format!("{} = ", d.quote(column.name)),
            Some(DB::bind_stamp(column.kind, stamp)?),
        ));
    }
    if let Some(column) = soft.columns.batch {
        match id {
            BatchId::Value(id) => {
                items.push((format!("{} = ", d.quote(column)), Some(DB::bind_i64(id))))
            }
            BatchId::Sql(id) => items.push((format!("{} = {id}", d.quote(column)), None)),
        }
    }
    for (i, (text, bind)) in items.into_iter().enumerate() {
        if i > 0 {
            sql.push(", ");
        }
        sql.push(&text);
        if let Some(bind) = bind {
            sql.bind(bind);
        }
    }
    Ok(())
}

/// The `SET` list that brings an archived row of `soft` back.
pub(crate) fn unmark(d: Dialected, soft: &SoftInfo) -> String {
    let marker = d.quote(soft.marker);
    let mut sets = Vec::new();
    match soft.strategy {
        StrategyKind::Timestamp => {}
        StrategyKind::DeletedFlag => sets.push(format!("{marker} = FALSE")),
        StrategyKind::ActiveFlag => sets.push(format!("{marker} = TRUE")),
    }
    if let Some(stamp) = soft.columns.stamp {
        sets.push(format!("{} = NULL", d.quote(stamp.name)));
    }
    if let Some(column) = soft.columns.batch {
        sets.push(format!("{} = NULL", d.quote(column)));
    }
    sets.join(", ")
}

/// The condition that holds for the rows of `soft` archived by `batch` and still archived
/// (unqualified), or `None` when the table cannot tell one batch's rows from another's.
pub(crate) fn in_batch<DB: SupportedBackend, R>(
    d: Dialected,
    soft: &SoftInfo,
    batch: BatchValues,
) -> Result<Option<Sql<DB, R>>, Error> {
    let mut sql = Sql::new();
    if let Some(column) = soft.columns.batch {
        // Only archived rows: a row of the batch brought back since (behind the library's
        // back, keeping its id) is not the batch's to restore again.
        sql.push(&format!(
            "{} AND {} = ",
            (soft.deleted)(d.0),
            d.quote(column)
        ));
        sql.bind(DB::bind_i64(batch.id));
        return Ok(Some(sql));
    }
    let Some(stamp) = soft.columns.stamp else {
        return Ok(None);
    };
    if soft.strategy != StrategyKind::Timestamp {
        sql.push(&format!("{} AND ", (soft.deleted)(d.0)));
    }
    sql.push(&format!("{} = ", d.quote(stamp.name)));
    sql.bind(DB::bind_stamp(stamp.kind, batch.stamp)?);
    Ok(Some(sql))
}
