//! The one place that reads the database's errors: which kind each is, as the operations tell
//! them apart, and what a constraint violation names (the constraint or index, the key).
//!
//! Diesel gives a kind for some errors ([`DatabaseErrorKind`]); the others (deadlocks and lock
//! timeouts on PostgreSQL and MySQL/MariaDB, a busy SQLite database) are told by their
//! messages, which are stable across versions. What a violation names is read from the fields
//! PostgreSQL reports, or from the message where the backend reports nothing else (MySQL's
//! `Duplicate entry '...' for key 'k'`, SQLite's `UNIQUE constraint failed: t.a, t.b`).

use diesel::result::{DatabaseErrorInformation, DatabaseErrorKind, Error as DieselError};

/// What kind of error a statement (or its `COMMIT`) failed with.
pub(crate) enum DbError<'e> {
    /// A unique or exclusion violation.
    Unique(Violation<'e>),
    /// A foreign key violation.
    ForeignKey(Violation<'e>),
    /// Concurrent transactions got in each other's way: a serialization failure, a deadlock, a
    /// lock timeout, a busy or locked database. Running the transaction again may succeed.
    Contention,
    /// Anything else.
    Other,
}

impl<'e> DbError<'e> {
    /// The kind of `error`.
    pub(crate) fn of(error: &'e DieselError) -> Self {
        let DieselError::DatabaseError(kind, info) = error else {
            return DbError::Other;
        };
        match kind {
            DatabaseErrorKind::UniqueViolation | DatabaseErrorKind::ExclusionViolation => {
                DbError::Unique(Violation(info.as_ref()))
            }
            DatabaseErrorKind::ForeignKeyViolation => DbError::ForeignKey(Violation(info.as_ref())),
            DatabaseErrorKind::SerializationFailure => DbError::Contention,
            _ if is_contention(info.message()) => DbError::Contention,
            _ => DbError::Other,
        }
    }

    /// The violation, when `error` is one that a constraint checked at the end of the
    /// transaction can report (unique, exclusion, foreign key): a deferred check that failed
    /// at `COMMIT` or at `SET CONSTRAINTS ... IMMEDIATE`.
    pub(crate) fn deferrable(error: &'e DieselError) -> Option<Violation<'e>> {
        match DbError::of(error) {
            DbError::Unique(violation) | DbError::ForeignKey(violation) => Some(violation),
            DbError::Contention | DbError::Other => None,
        }
    }

    /// Whether `error` is a unique or exclusion violation.
    pub(crate) fn is_unique(error: &DieselError) -> bool {
        matches!(DbError::of(error), DbError::Unique(_))
    }

    /// Whether `error` is a foreign key violation.
    pub(crate) fn is_foreign_key(error: &DieselError) -> bool {
        matches!(DbError::of(error), DbError::ForeignKey(_))
    }

    /// Whether `error` is a `NOT NULL` violation of `table`.`column`, as PostgreSQL reports it
    /// (the table and column in fields of their own).
    pub(crate) fn is_null_in(error: &DieselError, table: &str, column: &str) -> bool {
        matches!(error, DieselError::DatabaseError(DatabaseErrorKind::NotNullViolation, info)
            if info.table_name() == Some(table) && info.column_name() == Some(column))
    }

    /// Whether `error` is MySQL/MariaDB's lock wait timeout (1205), which rolls back the
    /// statement alone (unlike a deadlock, which rolls back the transaction).
    pub(crate) fn is_lock_wait_timeout(error: &DieselError) -> bool {
        matches!(error, DieselError::DatabaseError(_, info) if info.message().contains(LOCK_WAIT_TIMEOUT))
    }
}

/// Whether `error` is the database's refusal by the constraint named `constraint`, as a
/// `CHECK` constraint's is reported (Diesel has no kind for those): its name in the message.
pub(crate) fn refused_by(error: &DieselError, constraint: &str) -> bool {
    matches!(error, DieselError::DatabaseError(_, info) if info.message().contains(constraint))
}

/// MySQL's and MariaDB's message for a lock wait that timed out (1205).
const LOCK_WAIT_TIMEOUT: &str = "Lock wait timeout exceeded";

/// The messages of contention errors that Diesel has no kind for.
fn is_contention(message: &str) -> bool {
    const CONTENTION: [&str; 6] = [
        "deadlock detected",        // PostgreSQL 40P01
        "due to lock timeout",      // PostgreSQL 55P03, `lock_timeout`
        LOCK_WAIT_TIMEOUT,          // MySQL/MariaDB 1205
        "Deadlock found",           // MySQL/MariaDB 1213 through mysql_async
        "database is locked",       // SQLite BUSY
        "database table is locked", // SQLite LOCKED
    ];
    CONTENTION.iter().any(|m| message.contains(m))
}

/// A constraint violation, as the database reported it.
#[derive(Clone, Copy)]
pub(crate) struct Violation<'e>(&'e dyn DatabaseErrorInformation);

impl<'e> Violation<'e> {
    /// The database's message.
    pub(crate) fn message(self) -> &'e str {
        self.0.message()
    }

    /// The constraint's name, where the backend reports it apart from the message
    /// (PostgreSQL).
    pub(crate) fn constraint(self) -> Option<&'e str> {
        self.0.constraint_name()
    }

    /// The table the backend names (PostgreSQL).
    pub(crate) fn table(self) -> Option<&'e str> {
        self.0.table_name()
    }

    /// The unique key (constraint or index) the violation names: the constraint PostgreSQL
    /// reports, else the one named in the message (MySQL's index, SQLite's columns).
    pub(crate) fn unique_key(self) -> Option<String> {
        self.constraint()
            .map(str::to_owned)
            .or_else(|| key_from_message(self.message()))
    }

    /// The key that broke the constraint, from PostgreSQL's detail line (`(a, b)=(1, 7)`), or
    /// the detail (the message, without one) whole.
    pub(crate) fn key(self) -> String {
        key_of(self.0.details().unwrap_or(self.message()))
    }
}

/// The key a unique violation names in its message, for backends that do not report the
/// constraint separately: MySQL's "Duplicate entry '...' for key 'k'", SQLite's
/// "UNIQUE constraint failed: t.a, t.b".
fn key_from_message(message: &str) -> Option<String> {
    if let Some(rest) = message.split("for key '").nth(1) {
        return rest.rsplit_once('\'').map(|(key, _)| key.to_owned());
    }
    message
        .split_once("UNIQUE constraint failed: ")
        .map(|(_, columns)| columns.trim().to_owned())
}

/// The key from PostgreSQL's detail line: `Key (a, b)=(1, 7) already exists.` gives
/// `(a, b)=(1, 7)`; so do the exclusion (`... conflicts with existing key ...`) and foreign
/// key (`... is not present in table ...`) forms. Anything else is kept whole.
fn key_of(detail: &str) -> String {
    const ENDINGS: [&str; 4] = [
        " already exists.",
        " conflicts with existing key",
        " is not present in table",
        " is still referenced from table",
    ];
    let Some(rest) = detail.strip_prefix("Key ") else {
        return detail.to_owned();
    };
    ENDINGS
        .iter()
        .filter_map(|ending| rest.find(ending))
        .min()
        .map_or_else(|| detail.to_owned(), |end| rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> DieselError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned()))
    }

    #[test]
    fn races_are_told_from_other_errors() {
        let violation = database_error(DatabaseErrorKind::UniqueViolation, "duplicate key");
        assert!(matches!(DbError::of(&violation), DbError::Unique(_)));
        let exclusion = database_error(DatabaseErrorKind::ExclusionViolation, "conflicting key");
        assert!(matches!(DbError::of(&exclusion), DbError::Unique(_)));
        for (kind, message) in [
            (
                DatabaseErrorKind::SerializationFailure,
                "could not serialize access",
            ),
            (DatabaseErrorKind::Unknown, "deadlock detected"),
            (
                DatabaseErrorKind::Unknown,
                "canceling statement due to lock timeout",
            ),
            (
                DatabaseErrorKind::Unknown,
                "Lock wait timeout exceeded; try restarting transaction",
            ),
            (DatabaseErrorKind::Unknown, "database is locked"),
        ] {
            assert!(
                matches!(
                    DbError::of(&database_error(kind, message)),
                    DbError::Contention
                ),
                "{message}"
            );
        }
        let foreign = database_error(
            DatabaseErrorKind::ForeignKeyViolation,
            "violates foreign key",
        );
        assert!(matches!(DbError::of(&foreign), DbError::ForeignKey(_)));
        assert!(DbError::is_foreign_key(&foreign) && !DbError::is_unique(&foreign));
        let other = database_error(DatabaseErrorKind::CheckViolation, "violates check");
        assert!(matches!(DbError::of(&other), DbError::Other));
        assert!(DbError::deferrable(&other).is_none());
        assert!(matches!(
            DbError::of(&DieselError::NotFound),
            DbError::Other
        ));
    }

    #[test]
    fn keys_are_read_from_messages() {
        assert_eq!(
            key_from_message("Duplicate entry 'A-1' for key 'live_code'").as_deref(),
            Some("live_code")
        );
        assert_eq!(
            key_from_message("UNIQUE constraint failed: orders.code").as_deref(),
            Some("orders.code")
        );
        assert_eq!(key_from_message("something else"), None);
    }

    #[test]
    fn the_key_is_read_from_each_kind_of_detail() {
        assert_eq!(
            key_of("Key (team_id, squad_number)=(1, 7) already exists."),
            "(team_id, squad_number)=(1, 7)"
        );
        assert_eq!(
            key_of("Key (team_id, squad_number)=(1, 7) conflicts with existing key (team_id, squad_number)=(1, 7)."),
            "(team_id, squad_number)=(1, 7)"
        );
        assert_eq!(
            key_of(r#"Key (team_id)=(9) is not present in table "teams"."#),
            "(team_id)=(9)"
        );
        assert_eq!(key_of("something else"), "something else");
    }

    #[test]
    fn a_check_constraint_is_known_by_its_name_in_the_message() {
        let refused = database_error(
            DatabaseErrorKind::Unknown,
            "CONSTRAINT `row_key_fits` failed for `db`.`t`",
        );
        assert!(refused_by(&refused, "row_key_fits"));
        assert!(!refused_by(&refused, "other_check"));
        assert!(!refused_by(&DieselError::NotFound, "row_key_fits"));
    }
}
