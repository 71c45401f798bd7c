//! What [`Schema::verify`](super::Schema::verify) found.

use std::fmt;

use crate::backend::TableName;
use crate::collector::SchemaIssue;
use crate::ddl::Deferral;

/// What [`Schema::verify`](super::Schema::verify) found: empty when the database holds
/// everything the schema needs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Every difference: the models' tables and keys in the order they were listed, then the
    /// archive log and the journal, then the archive roots' relations.
    pub issues: Vec<Issue>,
}

impl Report {
    /// Whether the database holds everything the schema needs.
    pub fn is_clean(&self) -> bool {
        self.issues.is_empty()
    }
}

/// One thing the database lacks, or holds otherwise than the models declare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Issue {
    /// A model's table does not exist.
    MissingTable {
        /// The table.
        table: TableName,
    },
    /// No index (or constraint) of the key's name: the database does not stop a second live
    /// row of the key.
    MissingKey {
        /// The model's table.
        table: TableName,
        /// The key's name.
        key: &'static str,
        /// The missing index's name: the key's, or `<key>_n<mask>` for a pattern of `NULL`s
        /// of a key declared `nulls = not_distinct`.
        index: String,
    },
    /// The key's index exists, but is not what the key's DDL makes.
    KeyMismatch {
        /// The model's table.
        table: TableName,
        /// The key's name.
        key: &'static str,
        /// The index's name.
        index: String,
        /// How it differs.
        problem: KeyProblem,
    },
    /// The archive log does not exist: every archive of `needed_by` is refused
    /// ([`Error::NoArchiveLog`](crate::Error::NoArchiveLog)).
    MissingArchiveLog {
        /// The first archive root that needs it.
        needed_by: TableName,
    },
    /// The archive log has no unique index on `archived_at` (its `UNIQUE` constraint): two
    /// archives could take one stamp, and restoring one would bring back the other's rows.
    ArchiveStampNotUnique,
    /// The journal does not exist: an archive of `needed_by` that cuts a link (`set_null`,
    /// `set_default`) fails.
    MissingJournal {
        /// The first archive root whose graph cuts links.
        needed_by: TableName,
    },
    /// The journal has no index on the link's columns, as
    /// [`journal::create_link_index`](crate::ddl::journal::create_link_index) makes it (a
    /// journal created before that index existed): restores of `needed_by` work, but their
    /// check of later cuts reads the whole journal once per link on MySQL/MariaDB.
    MissingJournalLinkIndex {
        /// The first archive root whose graph cuts links.
        needed_by: TableName,
    },
    /// The archive log or the journal lacks a column this version of the crate writes.
    MissingColumn {
        /// The table.
        table: TableName,
        /// The column.
        column: &'static str,
    },
    /// An archive root's relations and the database's foreign keys or indexes differ, as
    /// [`check_schema`](crate::collector::check_schema) reports it.
    /// [`SchemaIssue::MissingIndex`] costs time, not correctness.
    Relations(SchemaIssue),
}

/// How a key's index differs from what the key's DDL makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyProblem {
    /// It is another kind of index than the key's form makes.
    Kind {
        /// What the key's form makes.
        expected: IndexKind,
        /// What the database has.
        found: IndexKind,
    },
    /// It is on other columns or expressions, as the catalog writes them (on MySQL/MariaDB the
    /// key's columns and then its generated column; `?` for an expression SQLite does not
    /// write out).
    Columns {
        /// The key's.
        expected: Vec<String>,
        /// The index's.
        found: Vec<String>,
    },
    /// It covers other rows than the key's live ones: its condition (on MySQL/MariaDB the
    /// expression of the generated column of the key's name) is not the key's.
    Condition {
        /// The key's, as the DDL writes it.
        expected: String,
        /// The database's, as its catalog writes it; `None` for an index over every row (on
        /// MySQL/MariaDB: no generated column of that name).
        found: Option<String>,
    },
    /// PostgreSQL: the key counts `NULL` as a value (`nulls = not_distinct`) and the index
    /// does not say `NULLS NOT DISTINCT`, or the other way round.
    NullsNotDistinct {
        /// Whether the key's index should say it.
        expected: bool,
    },
    /// PostgreSQL: the key's exclusion constraint is checked at another time than the key
    /// declares (or cannot be deferred at all).
    Deferral {
        /// What the key declares.
        expected: Deferral,
        /// What the constraint says; `None`: not `DEFERRABLE`.
        found: Option<Deferral>,
    },
    /// PostgreSQL: the index is `INVALID`, as a `CREATE INDEX CONCURRENTLY` (or `REINDEX
    /// CONCURRENTLY`) that failed leaves it: it may miss rows already in the table, so the key
    /// is not enforced on them. Drop it and create it again.
    Invalid,
}

/// What kind of index enforces (or fails to enforce) a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IndexKind {
    /// A unique index (or unique key).
    Unique,
    /// A PostgreSQL exclusion constraint's index.
    Exclusion,
    /// An index that lets values repeat.
    NotUnique,
}

impl fmt::Display for IndexKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IndexKind::Unique => "a unique index",
            IndexKind::Exclusion => "an exclusion constraint",
            IndexKind::NotUnique => "an index that is not unique",
        })
    }
}

impl fmt::Display for KeyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyProblem::Kind { expected, found } => write!(f, "is {found}, not {expected}"),
            KeyProblem::Columns { expected, found } => write!(
                f,
                "is on ({}), not on the key's ({})",
                found.join(", "),
                expected.join(", ")
            ),
            KeyProblem::Condition {
                expected,
                found: Some(found),
            } => write!(
                f,
                "covers the rows where {found}, not the live rows ({expected})"
            ),
            KeyProblem::Condition {
                expected,
                found: None,
            } => write!(
                f,
                "covers every row, not only the live ones ({expected}): dead rows would block new ones"
            ),
            KeyProblem::NullsNotDistinct { expected: true } => f.write_str(
                "lets rows with NULL in the key repeat: the key is declared `nulls = not_distinct`",
            ),
            KeyProblem::NullsNotDistinct { expected: false } => f.write_str(
                "says NULLS NOT DISTINCT, which the key does not declare",
            ),
            KeyProblem::Deferral {
                expected,
                found: Some(found),
            } => write!(f, "is {}, not {}", found.sql(), expected.sql()),
            KeyProblem::Deferral {
                expected,
                found: None,
            } => write!(f, "is not DEFERRABLE, not {}", expected.sql()),
            KeyProblem::Invalid => f.write_str(
                "is INVALID, as a failed CREATE INDEX CONCURRENTLY leaves it: it may miss rows already in the table, so the key is not enforced on them; drop it and create it again",
            ),
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Issue::MissingTable { table } => write!(f, "table `{table}` does not exist"),
            Issue::MissingKey { table, key, index } => write!(
                f,
                "no index `{index}` on `{table}`: the database does not enforce the active-unique key \
                 `{key}`; run its migration (`ddl::active_unique`)"
            ),
            Issue::KeyMismatch {
                table,
                key,
                index,
                problem,
            } => write!(
                f,
                "index `{index}` on `{table}` (active-unique key `{key}`) {problem}; drop it and run the key's migration"
            ),
            Issue::MissingArchiveLog { needed_by } => write!(
                f,
                "the archive log `{}` does not exist, and archives of `{needed_by}` need it \
                 (`ddl::archive_log::create_table`)",
                crate::ddl::archive_log::TABLE
            ),
            Issue::ArchiveStampNotUnique => write!(
                f,
                "the archive log `{}` has no unique index on `archived_at`: two archives could take \
                 one stamp, and restoring one would bring back the other's rows \
                 (`ddl::archive_log::create_table` declares it)",
                crate::ddl::archive_log::TABLE
            ),
            Issue::MissingJournal { needed_by } => write!(
                f,
                "the journal `{}` does not exist, and archives of `{needed_by}` cut links into it \
                 (`ddl::journal::create_table`)",
                crate::ddl::journal::TABLE
            ),
            Issue::MissingJournalLinkIndex { needed_by } => write!(
                f,
                "the journal `{}` has no index on (table_name, column_name, row_key): restores of \
                 `{needed_by}` read it whole once per link they put back \
                 (`ddl::journal::create_link_index`)",
                crate::ddl::journal::TABLE
            ),
            Issue::MissingColumn { table, column } => write!(
                f,
                "`{table}` has no column `{column}`: it was created by another version; create it again with this version's DDL"
            ),
            Issue::Relations(issue) => issue.fmt(f),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.issues.is_empty() {
            return f
                .write_str("the database holds every table, key and relation the schema needs");
        }
        for (i, issue) in self.issues.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{issue}")?;
        }
        Ok(())
    }
}
