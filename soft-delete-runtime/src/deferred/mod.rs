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
mod sql;

use diesel::result::Error as DieselError;

pub use self::reassign::{
    reassign, Method, Offset, Reassign, ReassignOn, ReassignValue, Reassigned,
};
pub use self::sql::{WholeTable, Within};
use crate::backend::{Dialect, SupportedBackend};
use crate::ddl::unique::DeferrableUnique;
use crate::exec::SqlConnection;
use crate::exec::{drive, BackendOf, Begin, Blocking, Transaction};
use crate::sql::{constraints, DbError};
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
pub fn transaction<C, R, F>(conn: &mut C, constraints: Constraints, body: F) -> Result<R>
where
    C: SqlConnection<Blocking>,
    F: FnOnce(&mut C) -> Result<R>,
{
    drive(transaction_on(conn, constraints, async |conn: &mut C| {
        body(conn)
    }))
}

/// [`transaction`] on a diesel-async connection (feature `async`), with an `async` body:
/// the same statements, checks and errors.
///
/// `body` gets the connection to await its statements on. The future is `Send` when the
/// body's is, so it can be spawned. Dropped half way, the transaction is abandoned with the
/// connection (marked broken, which a pool discards): nothing `body` wrote stays.
///
/// ```no_run
/// # #[cfg(feature = "postgres")]
/// # async fn swap(conn: &mut diesel_async::AsyncPgConnection) -> Result<(), soft_delete_runtime::Error> {
/// use soft_delete_runtime::deferred::{self, Constraints};
///
/// deferred::transaction_async(conn, Constraints::All, async |conn| {
///     diesel_async::SimpleAsyncConnection::batch_execute(
///         conn,
///         "UPDATE players SET squad_number = 3 - squad_number WHERE team_id = 1",
///     )
///     .await?;
///     Ok(())
/// })
/// .await
/// # }
/// ```
#[cfg(feature = "async")]
pub async fn transaction_async<C, R, F>(
    conn: &mut C,
    constraints: Constraints,
    body: F,
) -> Result<R>
where
    C: SqlConnection<crate::exec::NonBlocking>,
    F: AsyncFnOnce(&mut C) -> Result<R>,
{
    transaction_on(conn, constraints, body).await
}

/// [`transaction`] and [`transaction_async`], in mode `Mo`.
async fn transaction_on<Mo, C, R, F>(conn: &mut C, constraints: Constraints, body: F) -> Result<R>
where
    C: SqlConnection<Mo>,
    F: AsyncFnOnce(&mut C) -> Result<R>,
{
    let dialect = <BackendOf<Mo, C> as SupportedBackend>::DIALECT;
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
    let mut tx = Transaction::begin(conn, Begin::Plain).await?;
    let outcome = async {
        let conn = tx.conn();
        if let Constraints::Named(names) = &constraints {
            check_deferrable(conn, names).await?;
        }
        if let Some(list) = &list {
            set_constraints(conn, list, "DEFERRED").await?;
        }
        let value = body(conn).await?;
        if let Some(list) = &list {
            finish_deferred(conn, list).await?;
        }
        Ok(value)
    }
    .await;
    finish_checked(tx, outcome).await
}

/// Fails unless every name is a `DEFERRABLE` constraint visible through the `search_path`.
async fn check_deferrable<Mo, C: SqlConnection<Mo>>(conn: &mut C, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Ok(());
    }
    let found = constraints::named(conn, names).await?;
    for name in names {
        let mut matching = found.iter().filter(|found| found.name == *name).peekable();
        if matching.peek().is_none() {
            return Err(Error::UnknownConstraint {
                constraint: name.clone(),
            });
        }
        if matching.any(|found| !found.deferrable) {
            return Err(Error::NotDeferrable {
                constraint: name.clone(),
            });
        }
    }
    Ok(())
}

/// `SET CONSTRAINTS <list> <mode>`; `list` is `ALL` or quoted names.
async fn set_constraints<Mo, C: SqlConnection<Mo>>(
    conn: &mut C,
    list: &str,
    mode: &str,
) -> Result<()> {
    conn.batch_execute(&format!("SET CONSTRAINTS {list} {mode}"))
        .await?;
    Ok(())
}

/// Runs the deferred checks now (`SET CONSTRAINTS <list> IMMEDIATE` checks retroactively),
/// turning a violation into [`Error::DeferredViolation`].
async fn finish_deferred<Mo, C: SqlConnection<Mo>>(conn: &mut C, list: &str) -> Result<()> {
    conn.batch_execute(&format!("SET CONSTRAINTS {list} IMMEDIATE"))
        .await
        .map_err(as_deferred_violation)
}

/// Commits `tx` when `outcome` is `Ok` (rolls back otherwise); a constraint violation reported
/// by the commit, after the body succeeded, becomes [`Error::DeferredViolation`].
async fn finish_checked<Mo, C: SqlConnection<Mo>, R>(
    tx: Transaction<'_, Mo, C>,
    outcome: Result<R>,
) -> Result<R> {
    tx.finish_or(outcome, as_deferred_violation).await
}

/// A unique, exclusion or foreign key violation as [`Error::DeferredViolation`]; any other
/// error unchanged.
fn as_deferred_violation(error: DieselError) -> Error {
    match DbError::deferrable(&error) {
        Some(violation) => Error::DeferredViolation {
            constraint: violation.constraint().unwrap_or("(unnamed)").to_owned(),
            key: violation.key(),
        },
        None => Error::Diesel(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_constraints_keep_their_order() {
        assert_eq!(
            Constraints::named(["b", "a"]),
            Constraints::Named(vec!["b".into(), "a".into()])
        );
    }
}
