//! What a purge did (or, for a dry run, would do): per table, per reference that kept rows,
//! and in total.

use std::fmt;
use std::time::Duration;

use crate::backend::TableName;
use crate::relations::Rule;
use crate::Timestamp;

/// How far a purge has got, given to the [`on_progress`](super::Purge::on_progress)
/// callback after every batch.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Progress<'p> {
    /// The table the last batch deleted from.
    pub table: &'p TableName,
    /// Rows deleted so far, in every table.
    pub deleted: u64,
    /// Rows that were soft-deleted before the cutoff when the purge started, in every table
    /// (counted once, before the first batch, because a callback was given): what the purge
    /// would delete if nothing kept any. Rows kept because they are still referenced are
    /// counted here but never in [`deleted`](Self::deleted).
    pub estimated: u64,
    /// Batches run so far.
    pub batches: u64,
    /// Time since the purge started.
    pub elapsed: Duration,
}

/// What one table of a purge came to.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableReport {
    /// The table.
    pub table: TableName,
    /// Rows deleted (for a dry run: that would be deleted).
    pub deleted: u64,
    /// Rows soft-deleted before the cutoff that the purge's last pass over the table found
    /// still referenced, and left ([`PurgeReport::skipped`] says by what).
    pub kept: u64,
    /// Batches run on this table.
    pub batches: u64,
}

/// The state of the rows that keep a soft-deleted row from being purged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Referrer {
    /// Live rows of a soft-deletable table, or rows of a table without soft delete.
    Live,
    /// Soft-deleted rows that this purge does not delete (deleted after the cutoff, kept
    /// themselves, or in a table the purge does not cover).
    Archived,
    /// Rows of a table no model of the relation graph describes, found through a foreign
    /// key: the purge cannot tell live rows from deleted ones there, and either kind keeps
    /// the key satisfied.
    Row,
}

impl fmt::Display for Referrer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Referrer::Live => "live",
            Referrer::Archived => "soft-deleted",
            Referrer::Row => "",
        })
    }
}

/// Where a reference comes from: a declared relation, a foreign key of the database, or
/// both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Via {
    /// The rule of the edge declared with `#[soft_delete(children(...))]`, if there is one.
    pub rule: Option<Rule>,
    /// The foreign-key constraint's name (SQLite, whose foreign keys have no names: its
    /// number in `PRAGMA foreign_key_list`), if there is one.
    pub foreign_key: Option<String>,
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.rule, &self.foreign_key) {
            (Some(rule), Some(fk)) => write!(f, "declared `{rule}`, {}", ForeignKey(fk)),
            (Some(rule), None) => write!(f, "declared `{rule}`"),
            (None, Some(fk)) => write!(f, "{}", ForeignKey(fk)),
            (None, None) => f.write_str("reference"),
        }
    }
}

/// A foreign key by name; SQLite's have none, only a number, which is left out.
struct ForeignKey<'a>(&'a str);

impl fmt::Display for ForeignKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.bytes().all(|b| b.is_ascii_digit()) {
            f.write_str("foreign key")
        } else {
            write!(f, "foreign key `{}`", self.0)
        }
    }
}

/// Soft-deleted rows a purge kept because other rows still reference them: one entry per
/// reference and state of the referencing rows.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Skipped {
    /// The table whose rows were kept.
    pub table: TableName,
    /// The table of the rows that reference them.
    pub referenced_by: TableName,
    /// The referencing columns.
    pub columns: Vec<String>,
    /// The declared relation and/or foreign key the reference goes through.
    pub via: Via,
    /// The state of the referencing rows.
    pub referrer: Referrer,
    /// How many rows of `table` are referenced this way.
    pub count: u64,
    /// Their primary keys, in key order, at most as many as
    /// [`skipped_ids`](super::Purge::skipped_ids) asks for: read one as its model's id with
    /// `id.typed::<Post>()` ([`RowId`](crate::RowId)).
    pub ids: Vec<crate::RowId>,
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let referrer = match self.referrer {
            Referrer::Row => String::new(),
            state => format!("{state} "),
        };
        write!(
            f,
            "{} {} of `{}` kept: referenced by {referrer}rows of `{}` ({}; {})",
            self.count,
            if self.count == 1 { "row" } else { "rows" },
            self.table,
            self.referenced_by,
            self.columns.join(", "),
            self.via
        )?;
        if !self.ids.is_empty() {
            write!(f, ": {}", crate::RowId::list(&self.ids))?;
            if (self.ids.len() as u64) < self.count {
                f.write_str(", ...")?;
            }
        }
        Ok(())
    }
}

/// What a [`Purge`](super::Purge) did, or for a [dry run](super::Purge::dry_run) what it
/// would do. `Display` prints it as a short table.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PurgeReport {
    /// Rows soft-deleted strictly before this moment were purged.
    pub cutoff: Timestamp,
    /// Whether this was a dry run (everything was rolled back).
    pub dry_run: bool,
    /// The tables purged, in the order they were purged (children before parents).
    pub tables: Vec<TableReport>,
    /// Tables the purge reached through `cascade` edges but left alone, because their model
    /// records no deletion time (a flag marker without a `#[soft_delete(deleted_at)]`
    /// column). Their rows keep the rows they reference.
    pub not_purged: Vec<TableName>,
    /// Why rows were kept, per reference.
    pub skipped: Vec<Skipped>,
    /// Batches run: one short transaction each, deleting at most the batch size.
    pub batches: u64,
    /// The longest batch, from the start of its transaction to its commit.
    pub longest_batch: Duration,
    /// The whole purge, catalog reads and the final report's queries included.
    pub elapsed: Duration,
}

impl PurgeReport {
    pub(crate) fn new(cutoff: Timestamp, dry_run: bool) -> Self {
        PurgeReport {
            cutoff,
            dry_run,
            tables: Vec::new(),
            not_purged: Vec::new(),
            skipped: Vec::new(),
            batches: 0,
            longest_batch: Duration::ZERO,
            elapsed: Duration::ZERO,
        }
    }

    /// Rows deleted, in every table.
    pub fn deleted(&self) -> u64 {
        self.tables.iter().map(|t| t.deleted).sum()
    }

    /// Rows kept because they are still referenced, in every table.
    pub fn kept(&self) -> u64 {
        self.tables.iter().map(|t| t.kept).sum()
    }

    /// The report of table `name` (its SQL name, without schema).
    pub fn table(&self, name: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table.name == name)
    }

    /// Rows deleted from table `name` (0 if the purge did not cover it).
    pub fn deleted_from(&self, name: &str) -> u64 {
        self.table(name).map_or(0, |t| t.deleted)
    }

    /// Rows kept in table `name` because they are still referenced.
    pub fn kept_in(&self, name: &str) -> u64 {
        self.table(name).map_or(0, |t| t.kept)
    }
}

impl fmt::Display for PurgeReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} of rows soft-deleted before {}: {} deleted, {} kept, {} {} in {:.2?} (longest {:.2?})",
            if self.dry_run { "dry run of a purge" } else { "purge" },
            self.cutoff,
            self.deleted(),
            self.kept(),
            self.batches,
            if self.batches == 1 { "batch" } else { "batches" },
            self.elapsed,
            self.longest_batch,
        )?;
        for table in &self.tables {
            writeln!(
                f,
                "  {:<24} {:>10} deleted {:>8} kept {:>6} {}",
                table.table.to_string(),
                table.deleted,
                table.kept,
                table.batches,
                if table.batches == 1 {
                    "batch"
                } else {
                    "batches"
                }
            )?;
        }
        for table in &self.not_purged {
            writeln!(f, "  {table:<24} not purged: it records no deletion time")?;
        }
        for skipped in &self.skipped {
            writeln!(f, "  {skipped}")?;
        }
        Ok(())
    }
}
