//! The archive log's rows, read and written: an archive's identity reserved before it writes
//! anything, its counts recorded when it is done, a restore claimed once, and the log listed
//! and searched (see [`ddl::archive_log`](crate::ddl::archive_log) for the table).
//!
//! # What is guaranteed
//!
//! - **Batch ids are unique across processes and hosts**: they are the log's primary key,
//!   handed out by the database's sequence, never by a clock.
//! - **Stamps are unique across processes and hosts**: each is reserved under the log's
//!   `UNIQUE (archived_at)` constraint by the archive's first statement (PostgreSQL and
//!   SQLite: `INSERT ... ON CONFLICT DO NOTHING`, so the transaction is not aborted; MySQL: a
//!   duplicate-key error, which rolls back only that statement). An archive whose stamp is
//!   taken tries the next microsecond. A concurrent archive that inserted the same stamp and
//!   has not committed yet makes the insert wait for its outcome, so two archives never both
//!   hold one stamp. Rows of tables without a `#[soft_delete(batch)]` column are found by the
//!   stamp, so no two archives' rows can be mistaken for each other's.
//! - **A restore happens once**: it first sets `restored_at` where it is still `NULL` (a
//!   conditional write, which a concurrent restore of the same archive waits on and then
//!   finds done); a second restore returns [`Error::AlreadyRestored`].
//!
//! What remains: a row hidden by a plain soft delete (not through the collector) in the very
//! microsecond an archive reserved, in a table that identifies batches by the stamp alone, is
//! indistinguishable from the archive's own rows and comes back with its restore. A
//! `#[soft_delete(batch)]` column rules that out for its table.

use super::marks::BatchValues;
use super::plan::Plan;
use super::Batch;
use crate::backend::{Dialect, SupportedBackend, TableName};
use crate::ddl::archive_log as log;
#[cfg(feature = "async")]
use crate::exec::NonBlocking;
use crate::exec::SqlConnection;
use crate::exec::{drive, Blocking};
use crate::relations::{ArchiveTable, GraphTable, Rule, StampKind};
use crate::sql::{DbError, Dialected, KeyRow, LogRow, Sql};
use crate::{Error, Timestamp};

/// How many microseconds an archive tries after its first stamp before giving up.
pub(crate) const STAMP_ATTEMPTS: u32 = 1000;

/// What the log row of a new archive records.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reservation<'a> {
    /// The archive's root table.
    pub(crate) root: &'a TableName,
    /// The first stamp to try.
    pub(crate) first: Timestamp,
    /// Who archives.
    pub(crate) by: Option<&'a str>,
    /// Why.
    pub(crate) reason: Option<&'a str>,
    /// MariaDB: the insert does not wait for another archive's transaction that inserted the
    /// same stamp and has not committed yet (`SET STATEMENT innodb_lock_wait_timeout = 0 FOR`);
    /// the stamp counts as taken, and the next one is tried at once. Elsewhere the insert waits
    /// for that transaction's end (two processes stamping the same microsecond), and on MySQL,
    /// which has no per-statement setting below a second, it still does.
    pub(crate) no_wait: bool,
}

/// Inserts the log row of a new archive of `root`, with the first free stamp from `first`
/// on, and returns the batch: that stamp and the row's id.
pub(crate) async fn reserve<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    reservation: Reservation<'_>,
) -> Result<BatchValues, Error> {
    let Reservation {
        root,
        first,
        by,
        reason,
        no_wait,
    } = reservation;
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
    for attempt in 0..STAMP_ATTEMPTS {
        let stamp = first + std::time::Duration::from_micros(u64::from(attempt));
        let mut insert = Sql::<C::Backend, R>::new();
        if no_wait && d.0 == Dialect::Mysql {
            insert.push("SET STATEMENT innodb_lock_wait_timeout = 0 FOR ");
        }
        insert.push(&format!(
            "INSERT INTO {} ({}, {}, {}, {}, {}, {}) VALUES (",
            d.quote(log::TABLE),
            d.quote(log::ARCHIVED_AT),
            d.quote(log::ROOT_TABLE),
            d.quote(log::ROOT_COUNT),
            d.quote(log::ARCHIVED_BY),
            d.quote(log::REASON),
            d.quote(log::COUNTS),
        ));
        insert
            .bind(C::Backend::bind_stamp(StampKind::Naive, stamp)?)
            .push(", ")
            .bind(C::Backend::bind_text(Some(root.to_string())))
            .push(", 0, ")
            .bind(C::Backend::bind_text(by.map(str::to_owned)))
            .push(", ")
            .bind(C::Backend::bind_text(reason.map(str::to_owned)))
            .push(", '')");
        let id = match d.0 {
            Dialect::Sqlite | Dialect::Postgres => {
                insert.push(&format!(
                    " ON CONFLICT ({}) DO NOTHING RETURNING {}, {}",
                    d.quote(log::ARCHIVED_AT),
                    d.cast_to_text(&d.quote(log::ID)),
                    d.quote(log::ID),
                ));
                conn.rows::<KeyRow>(insert)
                    .await?
                    .into_iter()
                    .next()
                    .map(|(_, id)| id)
            }
            Dialect::Mysql => match conn.run(insert).await {
                Ok(_) => {
                    let mut last = Sql::<C::Backend, R>::new();
                    last.push("SELECT '', CAST(LAST_INSERT_ID() AS SIGNED)");
                    conn.rows::<KeyRow>(last)
                        .await?
                        .into_iter()
                        .next()
                        .map(|(_, id)| id)
                }
                Err(error) if DbError::is_unique(&error) => None,
                // Another archive's uncommitted row holds this stamp (`no_wait`).
                Err(error) if no_wait && DbError::is_lock_wait_timeout(&error) => None,
                Err(error) => return Err(error.into()),
            },
        };
        if let Some(id) = id {
            return Ok(BatchValues { stamp, id });
        }
    }
    Err(Error::StampsTaken {
        attempts: STAMP_ATTEMPTS,
    })
}

/// Records what archive `id` did: its roots (the key, when there was one: `root_key` selects
/// it as text, read by this same statement) and its counts. With a `check` (a condition), the
/// row is only written when it holds: returns whether it was written (always `true` without).
pub(crate) async fn finish<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    id: i64,
    plan: &Plan,
    root_key: Option<Sql<C::Backend, R>>,
    check: Option<Sql<C::Backend, R>>,
) -> Result<bool, Error> {
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
    let mut update = Sql::<C::Backend, R>::new();
    update
        .push(&format!(
            "UPDATE {} SET {} = ",
            d.quote(log::TABLE),
            d.quote(log::ROOT_COUNT)
        ))
        .bind(C::Backend::bind_i64(
            i64::try_from(plan.roots()).unwrap_or(i64::MAX),
        ))
        .push(&format!(", {} = ", d.quote(log::ROOT_KEY)));
    match root_key {
        Some(select) => {
            update.push("(").append(select).push(")");
        }
        None => {
            update.bind(C::Backend::bind_text(None));
        }
    }
    update
        .push(&format!(", {} = ", d.quote(log::COUNTS)))
        .bind(C::Backend::bind_text(Some(encode_counts(&plan.counts()))))
        .push(&format!(" WHERE {} = ", d.quote(log::ID)))
        .bind(C::Backend::bind_i64(id));
    let checked = check.is_some();
    if let Some(check) = check {
        update.push(" AND ").append(check);
    }
    let written = conn.run(update).await?;
    Ok(!checked || written > 0)
}

/// Marks archive `batch` of root table `root` restored (by `by`, now), and returns the rows it
/// archived per table as its log counts them ([`ArchiveEntry::archived_counts`]), or says why
/// it cannot be: [`Error::ArchiveNotFound`], [`Error::WrongRoot`], [`Error::AlreadyRestored`].
/// The caller's transaction rolls the mark back if the restore fails.
pub(crate) async fn claim<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    batch: BatchValues,
    root: &TableName,
    by: Option<&str>,
) -> Result<Vec<(TableName, u64)>, Error> {
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
    let mut update = Sql::<C::Backend, R>::new();
    update
        .push(&format!(
            "UPDATE {} SET {} = ",
            d.quote(log::TABLE),
            d.quote(log::RESTORED_AT)
        ))
        .bind(C::Backend::bind_stamp(StampKind::Naive, Timestamp::now())?)
        .push(&format!(", {} = ", d.quote(log::RESTORED_BY)))
        .bind(C::Backend::bind_text(by.map(str::to_owned)))
        .push(&format!(" WHERE {} = ", d.quote(log::ID)))
        .bind(C::Backend::bind_i64(batch.id))
        .push(&format!(" AND {} = ", d.quote(log::ROOT_TABLE)))
        .bind(C::Backend::bind_text(Some(root.to_string())))
        .push(&format!(" AND {} IS NULL", d.quote(log::RESTORED_AT)));
    // The archive's counts come with the claim (MySQL has no `UPDATE ... RETURNING`: read
    // after it).
    let claimed = match d.0 {
        Dialect::Sqlite | Dialect::Postgres => {
            update.push(&format!(
                " RETURNING {}, {}",
                d.quote(log::COUNTS),
                d.quote(log::ID)
            ));
            conn.rows::<KeyRow>(update)
                .await?
                .into_iter()
                .next()
                .map(|(counts, _)| cascade_counts(&decode_counts(&counts)))
        }
        Dialect::Mysql => match conn.run(update).await? {
            1 => Some(find_entry(conn, batch.id).await?.archived_counts()),
            _ => None,
        },
    };
    if let Some(archived) = claimed {
        return Ok(archived);
    }
    let entry = find_entry(conn, batch.id).await?;
    if entry.root_table != root.to_string() {
        return Err(Error::WrongRoot {
            id: batch.id,
            expected: root.to_string(),
            found: entry.root_table,
        });
    }
    match entry.restored {
        Some((at, by)) => Err(Error::AlreadyRestored {
            id: batch.id,
            at,
            by,
        }),
        // Not reachable through the conditional update above; said plainly if it ever is.
        None => Err(Error::ArchiveNotFound { id: batch.id }),
    }
}

/// One archive, as the log recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveEntry {
    id: i64,
    archived_at: Timestamp,
    root_table: String,
    root_key: Option<String>,
    roots: u64,
    by: Option<String>,
    reason: Option<String>,
    counts: Vec<(TableName, Rule, u64)>,
    restored: Option<(Timestamp, Option<String>)>,
}

impl ArchiveEntry {
    fn from_row(row: LogRow) -> ArchiveEntry {
        let (id, at, root_table, root_key, roots, by, reason, counts, restored_at, restored_by) =
            row;
        ArchiveEntry {
            id,
            archived_at: at.into(),
            root_table,
            root_key,
            roots: u64::try_from(roots).unwrap_or(0),
            by,
            reason,
            counts: decode_counts(&counts),
            restored: restored_at.map(|at| (at.into(), restored_by)),
        }
    }

    /// The archive's id: its batch id.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// When it was archived: the batch's stamp.
    pub fn archived_at(&self) -> Timestamp {
        self.archived_at
    }

    /// The root table's SQL name (`schema.table` when `table!` names a schema).
    pub fn root_table(&self) -> &str {
        &self.root_table
    }

    /// The root's primary key, as text, when the archive had exactly one root.
    pub fn root_key(&self) -> Option<&str> {
        self.root_key.as_deref()
    }

    /// How many roots were archived.
    pub fn roots(&self) -> u64 {
        self.roots
    }

    /// Who archived ([`Collector::by`](super::Collector::by)).
    pub fn by(&self) -> Option<&str> {
        self.by.as_deref()
    }

    /// Why ([`Collector::reason`](super::Collector::reason)).
    pub fn reason(&self) -> Option<&str> {
        self.reason.as_deref()
    }

    /// Rows changed per table and rule, as [`Plan::counts`] gave them when the archive ran.
    pub fn counts(&self) -> &[(TableName, Rule, u64)] {
        &self.counts
    }

    /// Rows of `table` (its SQL name) the archive archived, roots included.
    pub fn archived(&self, table: &str) -> u64 {
        self.counts
            .iter()
            .filter(|(t, rule, _)| t.name == table && *rule == Rule::Cascade)
            .map(|(_, _, n)| n)
            .sum()
    }

    /// Rows archived per table (the `cascade` lines of [`counts`](Self::counts)).
    pub(crate) fn archived_counts(&self) -> Vec<(TableName, u64)> {
        cascade_counts(&self.counts)
    }

    /// When and by whom it was restored, once it is.
    pub fn restored(&self) -> Option<(Timestamp, Option<&str>)> {
        self.restored.as_ref().map(|(at, by)| (*at, by.as_deref()))
    }

    /// The batch, to restore it, if the archive's root table is `T`; otherwise
    /// [`Error::WrongRoot`].
    pub fn batch<T: ArchiveTable>(&self) -> Result<Batch<T>, Error> {
        let expected = <T as GraphTable>::sql_name().to_string();
        if self.root_table != expected {
            return Err(Error::WrongRoot {
                id: self.id,
                expected,
                found: self.root_table.clone(),
            });
        }
        Ok(Batch::new(BatchValues {
            stamp: self.archived_at,
            id: self.id,
        }))
    }
}

/// The archive with id `id`, or [`Error::ArchiveNotFound`].
pub fn find_archive<C: SqlConnection<Blocking>>(
    conn: &mut C,
    id: i64,
) -> Result<ArchiveEntry, Error> {
    drive(find_entry(conn, id))
}

/// [`find_archive`] on a diesel-async connection (feature `async`).
#[cfg(feature = "async")]
pub async fn find_archive_async<C: SqlConnection<NonBlocking>>(
    conn: &mut C,
    id: i64,
) -> Result<ArchiveEntry, Error> {
    find_entry(conn, id).await
}

pub(crate) async fn find_entry<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    id: i64,
) -> Result<ArchiveEntry, Error> {
    let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
    let mut select = select_entries::<C::Backend, R>(d);
    select
        .push(&format!(" WHERE {} = ", d.quote(log::ID)))
        .bind(C::Backend::bind_i64(id));
    conn.rows::<LogRow>(select)
        .await?
        .into_iter()
        .next()
        .map(ArchiveEntry::from_row)
        .ok_or(Error::ArchiveNotFound { id })
}

fn select_entries<DB: SupportedBackend, R>(d: Dialected) -> Sql<DB, R> {
    let columns = [
        log::ID,
        log::ARCHIVED_AT,
        log::ROOT_TABLE,
        log::ROOT_KEY,
        log::ROOT_COUNT,
        log::ARCHIVED_BY,
        log::REASON,
        log::COUNTS,
        log::RESTORED_AT,
        log::RESTORED_BY,
    ]
    .map(|c| d.quote(c))
    .join(", ");
    let mut sql = Sql::new();
    sql.push(&format!("SELECT {columns} FROM {}", d.quote(log::TABLE)));
    sql
}

/// The recent archives, newest first, a page at a time: an admin "trash" page.
///
/// ```text
/// let page = ArchiveList::new().of::<users::table>().limit(20).load(conn)?;
/// let next = ArchiveList::new().of::<users::table>().limit(20).before(page.last().unwrap().id()).load(conn)?;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchiveList {
    root: Option<String>,
    before: Option<i64>,
    limit: u32,
    pending: bool,
}

impl Default for ArchiveList {
    fn default() -> Self {
        ArchiveList::new()
    }
}

impl ArchiveList {
    /// Every archive, newest first, 50 per page.
    pub fn new() -> Self {
        ArchiveList {
            root: None,
            before: None,
            limit: 50,
            pending: false,
        }
    }

    /// Only archives whose root table is `T`.
    #[must_use]
    pub fn of<T: ArchiveTable>(mut self) -> Self {
        self.root = Some(<T as GraphTable>::sql_name().to_string());
        self
    }

    /// Only archives older than archive `id` (the last one of the previous page).
    #[must_use]
    pub fn before(mut self, id: i64) -> Self {
        self.before = Some(id);
        self
    }

    /// At most `limit` archives.
    #[must_use]
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = limit;
        self
    }

    /// Only archives not restored yet.
    #[must_use]
    pub fn not_restored(mut self) -> Self {
        self.pending = true;
        self
    }

    /// Reads the page.
    pub fn load<C: SqlConnection<Blocking>>(
        &self,
        conn: &mut C,
    ) -> Result<Vec<ArchiveEntry>, Error> {
        drive(self.read(conn))
    }

    /// [`load`](Self::load) on a diesel-async connection (feature `async`).
    #[cfg(feature = "async")]
    pub async fn load_async<C: SqlConnection<NonBlocking>>(
        &self,
        conn: &mut C,
    ) -> Result<Vec<ArchiveEntry>, Error> {
        self.read(conn).await
    }

    async fn read<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
    ) -> Result<Vec<ArchiveEntry>, Error> {
        let d = Dialected(<C::Backend as SupportedBackend>::DIALECT);
        let mut select = select_entries::<C::Backend, _>(d);
        select.push(" WHERE 1 = 1");
        if let Some(root) = &self.root {
            select
                .push(&format!(" AND {} = ", d.quote(log::ROOT_TABLE)))
                .bind(C::Backend::bind_text(Some(root.clone())));
        }
        if let Some(before) = self.before {
            select
                .push(&format!(" AND {} < ", d.quote(log::ID)))
                .bind(C::Backend::bind_i64(before));
        }
        if self.pending {
            select.push(&format!(" AND {} IS NULL", d.quote(log::RESTORED_AT)));
        }
        select
            .push(&format!(" ORDER BY {} DESC LIMIT ", d.quote(log::ID)))
            .bind(C::Backend::bind_i64(i64::from(self.limit)));
        Ok(conn
            .rows::<LogRow>(select)
            .await?
            .into_iter()
            .map(ArchiveEntry::from_row)
            .collect())
    }
}

/// One line per count: `rule TAB rows TAB schema TAB table`, with `\`, tab and newline in
/// names escaped.
fn encode_counts(counts: &[(TableName, Rule, u64)]) -> String {
    counts
        .iter()
        .map(|(table, rule, rows)| {
            let (before, after) = count_line(table, *rule);
            format!("{before}{rows}{after}")
        })
        .collect::<Vec<_>>()
        .join(COUNTS_SEPARATOR)
}

/// What separates the lines of the log's counts.
pub(crate) const COUNTS_SEPARATOR: &str = "\n";

/// The text of a line of the log's counts before and after its number:
/// `<rule>\t<rows>\t<schema>\t<table>`, tabs, newlines and backslashes in names escaped.
pub(crate) fn count_line(table: &TableName, rule: Rule) -> (String, String) {
    let escape = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('\t', "\\t")
            .replace('\n', "\\n")
    };
    (
        format!("{}\t", rule.name()),
        format!(
            "\t{}\t{}",
            table.schema.as_deref().map(escape).unwrap_or_default(),
            escape(&table.name)
        ),
    )
}

/// The rows archived per table in the log's `counts`: their `cascade` lines.
pub(crate) fn cascade_counts(counts: &[(TableName, Rule, u64)]) -> Vec<(TableName, u64)> {
    counts
        .iter()
        .filter(|(_, rule, _)| *rule == Rule::Cascade)
        .map(|(table, _, n)| (table.clone(), *n))
        .collect()
}

/// The counts [`encode_counts`] wrote; lines it did not write are skipped.
pub(crate) fn decode_counts(text: &str) -> Vec<(TableName, Rule, u64)> {
    let unescape = |s: &str| {
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('t') => out.push('\t'),
                    Some('n') => out.push('\n'),
                    Some(other) => out.push(other),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    };
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let rule = Rule::from_name(fields.next()?)?;
            let rows = fields.next()?.parse().ok()?;
            let schema = fields.next()?;
            let name = unescape(fields.next()?);
            let schema = (!schema.is_empty()).then(|| unescape(schema));
            Some((TableName { schema, name }, rule, rows))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_read_back_as_written() {
        let counts = vec![
            (
                TableName {
                    schema: None,
                    name: "users".into(),
                },
                Rule::Cascade,
                1,
            ),
            (
                TableName {
                    schema: Some("app".into()),
                    name: "we\tird\\na\nme".into(),
                },
                Rule::HardDelete,
                12,
            ),
            (
                TableName {
                    schema: None,
                    name: "reviews".into(),
                },
                Rule::SetNull,
                0,
            ),
        ];
        assert_eq!(decode_counts(&encode_counts(&counts)), counts);
        assert_eq!(decode_counts(""), []);
    }
}
