//! [`Dialected`]: the SQL text pieces that differ by dialect.

use super::backend::{Dialect, TableName};
use super::KeyKind;

/// A MySQL/MariaDB text column's character set and collation, as the catalog names them:
/// plain identifiers (checked when read), written into the SQL as they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Collation {
    pub charset: String,
    pub name: String,
}

impl Collation {
    /// The pair, when both are plain names (letters, digits, `_`), as every collation is.
    pub(crate) fn checked(charset: String, name: String) -> Option<Collation> {
        let plain =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        (plain(&charset) && plain(&name)).then_some(Collation { charset, name })
    }
}

/// SQL text pieces for one dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dialected(pub(crate) Dialect);

impl Dialected {
    pub(crate) fn quote(self, ident: &str) -> String {
        self.0.quote(ident)
    }

    /// A table's quoted name (of a [`TableName`], or of anything that has one).
    pub(crate) fn table(self, name: &impl AsRef<TableName>) -> String {
        self.0.quote_table(name.as_ref())
    }

    /// `CAST(expr AS TEXT)`.
    pub(crate) fn cast_to_text(self, expr: &str) -> String {
        self.0.cast_to_text(expr)
    }

    /// The text expressions `parts` joined into one: `a || b` (`CONCAT(a, b)` on MySQL).
    pub(crate) fn concat(self, parts: &[String]) -> String {
        match self.0 {
            Dialect::Mysql => format!("CONCAT({})", parts.join(", ")),
            Dialect::Sqlite | Dialect::Postgres => parts.join(" || "),
        }
    }

    /// The integer literal `value`, typed `BIGINT`.
    pub(crate) fn bigint(self, value: i64) -> String {
        match self.0 {
            Dialect::Mysql => format!("CAST({value} AS SIGNED)"),
            Dialect::Sqlite | Dialect::Postgres => format!("CAST({value} AS BIGINT)"),
        }
    }

    /// `CAST(expr AS <key type>)`, for text read back from the journal.
    pub(crate) fn cast_from_text(self, expr: &str, kind: KeyKind) -> String {
        format!("CAST({expr} AS {})", self.key_type(kind))
    }

    /// Text read back from the journal as a value of a column of `kind` in `collation`, to
    /// compare with (or write to) that column: [`cast_from_text`](Self::cast_from_text), but
    /// for a MySQL/MariaDB text or uuid column in a collation other than the connection's
    /// ([`Collations`](super::catalog::Collations)), `CONVERT(expr USING <its set>) COLLATE
    /// <its collation>` (what `CAST(expr AS CHAR CHARACTER SET <its set>)` is, in a form the
    /// [visibility guard](crate::guard)'s parser reads): a plain cast takes the connection's
    /// collation, which the column refuses to compare with (an illegal mix of collations);
    /// the column's own compares as the column does (PAD SPACE or NO PAD) and keeps its
    /// index usable.
    pub(crate) fn journal_value(
        self,
        expr: &str,
        kind: KeyKind,
        collation: Option<&Collation>,
    ) -> String {
        match (self.0, kind, collation) {
            (Dialect::Mysql, KeyKind::Text | KeyKind::Uuid, Some(c)) => {
                format!("CONVERT({expr} USING {}) COLLATE {}", c.charset, c.name)
            }
            _ => self.cast_from_text(expr, kind),
        }
    }

    /// The type a key of `kind` bound as text is cast to, or `None` where the bound text
    /// compares with the key as it is: a MySQL/MariaDB text or uuid key, compared in its
    /// column's collation (a bound value gives way to it; a cast would take the connection's,
    /// and a column in another collation refuse the comparison as an illegal mix).
    pub(crate) fn bound_key_type(self, kind: KeyKind) -> Option<&'static str> {
        match (self.0, kind) {
            (Dialect::Mysql, KeyKind::Text | KeyKind::Uuid) => None,
            _ => Some(self.key_type(kind)),
        }
    }

    /// The type a key of `kind` is cast to from text.
    pub(crate) fn key_type(self, kind: KeyKind) -> &'static str {
        match (self.0, kind) {
            (Dialect::Postgres, KeyKind::SmallInt) => "SMALLINT",
            (Dialect::Postgres, KeyKind::Integer) => "INTEGER",
            (Dialect::Postgres, KeyKind::BigInt | KeyKind::Unsigned) => "BIGINT",
            (Dialect::Postgres, KeyKind::Text) => "TEXT",
            (Dialect::Postgres, KeyKind::Uuid) => "UUID",
            (Dialect::Sqlite, KeyKind::Text | KeyKind::Uuid) => "TEXT",
            (Dialect::Sqlite, _) => "INTEGER",
            (Dialect::Mysql, KeyKind::Text | KeyKind::Uuid) => "CHAR",
            (Dialect::Mysql, KeyKind::Unsigned) => "UNSIGNED",
            (Dialect::Mysql, _) => "SIGNED",
        }
    }

    /// `a IS NOT DISTINCT FROM b`: equal, with NULL equal to NULL.
    pub(crate) fn same(self, a: &str, b: &str) -> String {
        match self.0 {
            Dialect::Postgres => format!("{a} IS NOT DISTINCT FROM {b}"),
            Dialect::Sqlite => format!("{a} IS {b}"),
            Dialect::Mysql => format!("{a} <=> {b}"),
        }
    }
}
