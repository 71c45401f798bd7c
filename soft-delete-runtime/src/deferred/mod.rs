//! Deferred unique checks, and reordering unique values on every backend.
//!
//! A unique key checked after every row (or statement) rejects a swap of two values even
//! inside one transaction: the first `UPDATE` makes a duplicate that the second would have
//! resolved. Two tools:
//!
//! - [`transaction`] (PostgreSQL): runs a closure with the named (or all) `DEFERRABLE`
//!   constraints deferred, so they are checked once, when the closure is done. A violation
//!   then is [`Error::DeferredViolation`], naming the constraint and the key, and nothing is
//!   written. Declare such constraints with
//!   [`DeferrableUnique`]. SQLite and MySQL/MariaDB
//!   have no deferred checks: [`Error::Unsupported`].
//! - [`reassign`] (every backend): gives a set of rows new values of a unique column
//!   (swaps, rotations, any permutation, moves to free values) in one transaction, without
//!   ever making a duplicate: deferred constraints where PostgreSQL has them, temporary
//!   values that cannot collide everywhere else.
//!
//! ```
//! use diesel::prelude::*;
//! use soft_delete_runtime::deferred::{self, Constraints};
//! use soft_delete_runtime::Error;
//!
//! # fn main() -> Result<(), Error> {
//! let conn = &mut SqliteConnection::establish(":memory:").unwrap();
//! let outcome = deferred::transaction(conn, Constraints::All, |_conn| Ok(()));
//! assert!(matches!(outcome, Err(Error::Unsupported { .. })));
//! # Ok(())
//! # }
//! ```
#![doc = include_str!("../docs/deferred.md")]

mod reassign;
pub mod sql;

use diesel::connection::LoadConnection;
use diesel::query_dsl::LoadQuery;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, RunQueryDsl};

pub use self::reassign::{reassign, Method, Offset, Reassign, ReassignValue, Reassigned};
use self::sql::ConstraintLookup;
use crate::backend::{Dialect, SupportedBackend};
use crate::ddl::unique::DeferrableUnique;
use crate::{Error, Result};

/// Which constraints [`transaction`] defers.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Constraints {
    /// Every `DEFERRABLE` constraint (`SET CONSTRAINTS ALL DEFERRED`). Constraints that are
    /// not deferrable keep being checked per row.
    All,
    /// The constraints with these names, in the schemas of the `search_path`. Each must
    /// exist ([`Error::UnknownConstraint`]) and be `DEFERRABLE` ([`Error::NotDeferrable`]).
    Named(Vec<String>),
}

impl Constraints {
    /// The constraints with these names.
    pub fn named<I>(names: I) -> Self
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        Constraints::Named(names.into_iter().map(Into::into).collect())
    }
}

impl<K> From<&DeferrableUnique<K>> for Constraints {
    /// The constraint `key` declares.
    fn from(key: &DeferrableUnique<K>) -> Self {
        Constraints::Named(vec![key.name().to_owned()])
    }
}

/// Runs `body` in a transaction with `constraints` deferred (PostgreSQL), and checks them
/// when `body` is done.
///
/// In order: `BEGIN` (or a savepoint inside an open transaction); for named constraints,
/// one catalog query checking that each exists and is `DEFERRABLE`; `SET CONSTRAINTS ...
/// DEFERRED`; `body`; `SET CONSTRAINTS ... IMMEDIATE`; `COMMIT`.
///
/// The deferred checks run at the end of the transaction. Setting the constraints back to
/// `IMMEDIATE` just before the commit is what makes PostgreSQL run them at that point,
/// so they also run when this is called inside an outer transaction (where "commit" only
/// releases a savepoint, which checks nothing). A row that breaks a constraint then
/// fails the call with [`Error::DeferredViolation`] naming the constraint and the key
/// (`(team_id, squad_number)=(1, 7)`), and the transaction (or savepoint) is rolled back:
/// nothing `body` wrote stays. A violation of some other constraint declared `INITIALLY
/// DEFERRED`, found by the commit itself, is reported the same way.
///
/// An error returned by `body` rolls back and is returned as it is.
///
/// Inside an outer transaction, the constraints stay `IMMEDIATE` for the rest of it.
///
/// # Errors
///
/// [`Error::Unsupported`] on SQLite and MySQL/MariaDB (`body` does not run): they check
/// unique keys per row or statement and cannot defer them. Use [`reassign`] to reorder
/// unique values there.
pub fn transaction<'q, C, R, F>(conn: &mut C, constraints: Constraints, body: F) -> Result<R>
where
    C: LoadConnection,
    C::Backend: SupportedBackend,
    F: FnOnce(&mut C) -> Result<R>,
    ConstraintLookup: LoadQuery<'q, C, (String, bool)>,
{
    let dialect = <C::Backend as SupportedBackend>::DIALECT;
    if dialect != Dialect::Postgres {
        return Err(Error::Unsupported {
            feature: "deferred constraints",
            dialect,
        });
    }
    let list = match &constraints {
        Constraints::All => Some("ALL".to_owned()),
        Constraints::Named(names) if names.is_empty() => None,
        Constraints::Named(names) => Some(
            names
                .iter()
                .map(|name| Dialect::Postgres.quote(name))
                .collect::<Vec<_>>()
                .join(", "),
        ),
    };
    run_checked(conn, |conn| {
        if let Constraints::Named(names) = &constraints {
            check_deferrable(conn, names)?;
        }
        if let Some(list) = &list {
            set_constraints(conn, list, "DEFERRED")?;
        }
        let value = body(conn)?;
        if let Some(list) = &list {
            finish_deferred(conn, list)?;
        }
        Ok(value)
    })
}

/// Fails unless every name is a `DEFERRABLE` constraint visible through the `search_path`.
fn check_deferrable<'q, C>(conn: &mut C, names: &[String]) -> Result<()>
where
    C: LoadConnection,
    ConstraintLookup: LoadQuery<'q, C, (String, bool)>,
{
    if names.is_empty() {
        return Ok(());
    }
    let found = ConstraintLookup {
        names: names.to_vec(),
    }
    .load::<(String, bool)>(conn)?;
    for name in names {
        let mut matching = found.iter().filter(|(found, _)| found == name).peekable();
        if matching.peek().is_none() {
            return Err(Error::UnknownConstraint {
                constraint: name.clone(),
            });
        }
        if matching.any(|(_, deferrable)| !deferrable) {
            return Err(Error::NotDeferrable {
                constraint: name.clone(),
            });
        }
    }
    Ok(())
}

/// `SET CONSTRAINTS <list> <mode>`; `list` is `ALL` or quoted names.
fn set_constraints<C: Connection>(conn: &mut C, list: &str, mode: &str) -> Result<()> {
    conn.batch_execute(&format!("SET CONSTRAINTS {list} {mode}"))?;
    Ok(())
}

/// Runs the deferred checks now (`SET CONSTRAINTS <list> IMMEDIATE` checks retroactively),
/// turning a violation into [`Error::DeferredViolation`].
fn finish_deferred<C: Connection>(conn: &mut C, list: &str) -> Result<()> {
    set_constraints(conn, list, "IMMEDIATE").map_err(as_deferred_violation)
}

/// `conn.transaction(body)`, where a constraint violation reported after `body` succeeded
/// (by the commit) becomes [`Error::DeferredViolation`].
fn run_checked<C, R>(conn: &mut C, body: impl FnOnce(&mut C) -> Result<R>) -> Result<R>
where
    C: Connection,
{
    let mut body_succeeded = false;
    let outcome = conn.transaction(|conn| {
        let value = body(conn)?;
        body_succeeded = true;
        Ok(value)
    });
    outcome.map_err(|error| {
        if body_succeeded {
            as_deferred_violation(error)
        } else {
            error
        }
    })
}

/// A unique, exclusion or foreign key violation as [`Error::DeferredViolation`]; any other
/// error unchanged.
fn as_deferred_violation(error: Error) -> Error {
    match error {
        Error::Diesel(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation
            | DatabaseErrorKind::ExclusionViolation
            | DatabaseErrorKind::ForeignKeyViolation,
            info,
        )) => Error::DeferredViolation {
            constraint: info.constraint_name().unwrap_or("(unnamed)").to_owned(),
            key: key_of(info.details().unwrap_or(info.message())),
        },
        other => other,
    }
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
    fn named_constraints_keep_their_order() {
        assert_eq!(
            Constraints::named(["b", "a"]),
            Constraints::Named(vec!["b".into(), "a".into()])
        );
    }
}
