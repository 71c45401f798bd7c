//! PostgreSQL: batches by ranges of heap pages.
//!
//! A window of keys costs a second visit to every row a batch deletes (once to find the
//! window's end, once to delete), which on PostgreSQL is as much work as the delete itself.
//! There a batch is instead a range of physical pages, read by a TID range scan (PostgreSQL
//! 14 and later): one `DELETE` of the rows of pages `[first, first + span)` that the purge
//! is after. The first span cannot hold more rows than a batch may delete
//! (`batch size / 291` pages, 291 being the most rows an 8 kB page holds); later spans are
//! sized from the candidates per page the last batch found, aiming at 90% of the batch size,
//! at most doubling, and never spanning more than about twice the batch size in rows (by the
//! planner's rows per page). A batch that deletes more than the batch size anyway (the rows
//! got denser) is rolled back before it commits and tried again on fewer pages, so no
//! committed batch is larger than the batch size. Partitioned tables and tables with
//! inheritance children keep their rows in other tables' pages: they use key windows. Batches smaller than a page can hold use key windows
//! instead; a single page holding more candidates than a batch may delete (a build with
//! larger pages) is purged by key windows confined to that page.

use std::time::Instant;

use super::{refused_by_foreign_key, Callback, Run};
use crate::backend::Dialect;
use crate::exec::SqlConnection;
use crate::exec::{BackendOf, Begin, Rollback, Transaction};
use crate::purge::report::Progress;
use crate::relations::Node;
use crate::sql::{Dialected, Sql, SupportedBackend};
use crate::Error;

/// The most rows an 8 kB PostgreSQL heap page can hold (`MaxHeapTuplesPerPage`): a first
/// span of `batch size / 291` pages cannot hold more rows than a batch may delete.
const MAX_ROWS_PER_PAGE: u64 = 291;

/// The first PostgreSQL version with TID range scans (`server_version_num`).
const TID_RANGE_SCAN: i64 = 140_000;

/// The size of `node`'s table in heap pages, and the rows a page holds by the planner's
/// statistics (at most [`MAX_ROWS_PER_PAGE`] when there are none), when the purge batches
/// it by pages: a plain table (not partitioned, no inheritance children, whose rows are not
/// in its own pages) on PostgreSQL 14 or later, with batches of at least
/// [`MAX_ROWS_PER_PAGE`] rows. `None` otherwise.
pub(super) async fn table_pages<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    d: Dialected,
    node: &Node,
    batch_size: usize,
) -> Result<Option<(u64, u64)>, Error> {
    if d.0 != Dialect::Postgres || (batch_size as u64) < MAX_ROWS_PER_PAGE {
        return Ok(None);
    }
    let mut sql = Sql::<BackendOf<Mo, C>>::new();
    sql.push(&format!(
        "SELECT current_setting('server_version_num'), \
                CAST(CASE WHEN c.relpages > 0 AND c.reltuples > 0 \
                          THEN LEAST(ceil(c.reltuples / c.relpages), {MAX_ROWS_PER_PAGE}) \
                          ELSE {MAX_ROWS_PER_PAGE} END AS BIGINT)::text, '', \
                CASE WHEN c.relkind = 'r' AND NOT c.relhassubclass \
                     THEN pg_relation_size(c.oid) / CAST(current_setting('block_size') AS BIGINT) \
                     ELSE -1 END \
         FROM pg_class AS c WHERE c.oid = to_regclass("
    ))
    .bind(BackendOf::<Mo, C>::bind_text(Some(d.table(&node.name))))
    .push(")");
    let rows: Vec<(String, String, String, i64)> = conn.rows(sql).await?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|(version, per_page, _, pages)| {
            let version = version.parse::<i64>().ok()?;
            let per_page = per_page.parse::<u64>().ok()?.max(1);
            (version >= TID_RANGE_SCAN && pages >= 0).then_some((pages as u64, per_page))
        }))
}

/// `ctid >= '(first,0)' AND ctid < '(first + span,0)' AND `.
fn on_pages<DB: SupportedBackend>(sql: &mut Sql<DB>, first: u64, span: u64) {
    // Block numbers are 32-bit: no table has pages beyond.
    let block = |page: u64| page.min(u64::from(u32::MAX));
    sql.push("ctid >= CAST(")
        .bind(DB::bind_text(Some(format!("({},0)", block(first)))))
        .push(" AS tid) AND ctid < CAST(")
        .bind(DB::bind_text(Some(format!(
            "({},0)",
            block(first.saturating_add(span))
        ))))
        .push(" AS tid) AND ");
}

/// Confines a key window to page `page`, when given.
pub(super) fn on_page<DB: SupportedBackend>(sql: &mut Sql<DB>, page: Option<u64>) {
    if let Some(page) = page {
        on_pages(sql, page, 1);
    }
}

/// The span of pages that holds 90% of `limit` candidates, if `span` pages held `found`.
fn aim(span: u64, found: u64, limit: u64) -> u64 {
    if found == 0 {
        return u64::MAX;
    }
    (span as f64 * 0.9 * limit as f64 / found as f64) as u64
}

/// Why a page batch wrote nothing: it failed, or its pages held this many candidates
/// ([`Rollback::Undo`]), more than a batch may delete.
type PageBatch = Rollback<u64>;

impl Run {
    /// Purges table `i`, of `pages` heap pages, by page ranges. Returns the rows deleted.
    pub(super) async fn purge_pages<Mo, C, P>(
        &mut self,
        conn: &mut C,
        i: usize,
        (mut pages, per_page): (u64, u64),
        progress: Callback<'_, P>,
    ) -> Result<u64, Error>
    where
        C: SqlConnection<Mo>,
        P: FnMut(&Progress<'_>),
    {
        let limit = self.settings.batch_size as u64;
        let mut span = (limit / MAX_ROWS_PER_PAGE).max(1);
        // However sparse the candidates, a span holds at most about twice the batch size in
        // rows, so a batch that meets denser rows and is rolled back stays short too.
        let mut per_page = per_page;
        let widest = |per_page: u64, span: u64| (limit.saturating_mul(2) / per_page).max(span);
        let first_span = span;
        let (mut page, mut deleted) = (0, 0);
        loop {
            if page >= pages {
                // Rows written since the purge started may have added pages: go on to the end.
                let now = table_pages(
                    conn,
                    self.d,
                    &self.targets[i].node,
                    self.settings.batch_size,
                )
                .await?
                .map_or(0, |(now, _)| now);
                if now <= pages {
                    break;
                }
                pages = now;
            }
            let started = Instant::now();
            let mut attempt = 1;
            // A batch refused by a foreign key runs again (see `refused_by_foreign_key`).
            let outcome = loop {
                let mut tx = Transaction::begin(conn, Begin::Immediate).await?;
                let outcome = self.delete_pages(tx.conn(), i, page, span, limit).await;
                match tx.finish(outcome).await {
                    Ok(n) => break Ok(n),
                    Err(PageBatch::Undo(count)) => break Err(count),
                    Err(PageBatch::Failed(error)) if refused_by_foreign_key(&error, attempt) => {
                        attempt += 1;
                    }
                    Err(PageBatch::Failed(error)) => return Err(error),
                }
            };
            match outcome {
                Ok(n) => {
                    deleted += n;
                    self.record_batch(i, n, started.elapsed(), progress);
                    page = page.saturating_add(span);
                    let cap = span.saturating_mul(2).min(widest(per_page, first_span));
                    span = aim(span, n, limit).clamp(1, cap.max(1));
                }
                Err(count) => {
                    // Rolled back, but it held its locks while it ran.
                    let took = started.elapsed();
                    self.report.longest_batch = self.report.longest_batch.max(took);
                    // The statistics were stale: these pages hold at least this many rows each.
                    per_page = per_page.max(count.div_ceil(span));
                    if span > 1 {
                        span = aim(span, count, limit).clamp(1, span - 1);
                        continue;
                    }
                    // One page holds more candidates than a batch may delete.
                    deleted += self.purge_keys(conn, i, Some(page), progress).await?.0;
                    page += 1;
                }
            }
        }
        Ok(deleted)
    }

    /// Deletes the rows of pages `[first, first + span)` the purge is after. More than
    /// `limit` is [`Rollback::Undo`], which rolls the batch back.
    async fn delete_pages<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        i: usize,
        first: u64,
        span: u64,
        limit: u64,
    ) -> Result<u64, PageBatch> {
        self.begin_batch(conn).await?;
        let target = &self.targets[i];
        let mut delete = Sql::<BackendOf<Mo, C>>::new();
        delete.push(&format!(
            "DELETE FROM {} WHERE ",
            self.d.table(&target.node.name)
        ));
        on_pages(&mut delete, first, span);
        self.candidate(&mut delete, target)?;
        for reference in &target.references {
            delete.push(&format!(
                " AND NOT {}",
                self.referenced(target, reference, None)
            ));
        }
        match conn.run(delete).await? as u64 {
            deleted if deleted > limit => Err(PageBatch::Undo(deleted)),
            deleted => Ok(deleted),
        }
    }
}
