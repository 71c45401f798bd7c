//! A model's list of keys, as `SoftDelete::ActiveUniqueKeys` names it: `()` for a model
//! without keys, `(K1, (K2, ()))` for keys `K1` and `K2`. Walking it checks every key before
//! a restore ([`KeyGuard`]) and lists the keys for the DDL ([`KeyList`]).

use super::ops::{self, Failure, KeyOps, UniqueConnection, Violation};
use super::ActiveUnique;
use crate::Error;

/// Restores that respect a model's active-unique keys.
///
/// For `()` (no keys) the restore is the plain `UPDATE`. For a list of keys, the restore runs
/// in a write transaction that first reads, with a lock, the live row of each key of the row
/// being restored: when another row holds one, the transaction is rolled back and
/// [`Error::Conflict`] names it.
pub trait KeyGuard<M: ?Sized, C> {
    /// Runs `write` (which restores `row`) once every key of `row` is free.
    fn guard(
        row: &M,
        conn: &mut C,
        write: &mut dyn FnMut(&mut C) -> Result<usize, Error>,
    ) -> Result<usize, Error>;

    /// The conflict on the first key of `row` held by another live row, if any; `lock` reads
    /// the live rows with the backend's lock.
    fn held(row: &M, conn: &mut C, lock: bool) -> diesel::QueryResult<Option<Error>>;
}

impl<M: ?Sized, C> KeyGuard<M, C> for () {
    fn guard(
        _: &M,
        conn: &mut C,
        write: &mut dyn FnMut(&mut C) -> Result<usize, Error>,
    ) -> Result<usize, Error> {
        write(conn)
    }

    fn held(_: &M, _: &mut C, _: bool) -> diesel::QueryResult<Option<Error>> {
        Ok(None)
    }
}

impl<M, C, K, Rest> KeyGuard<M, C> for (K, Rest)
where
    M: KeyOps<K, C>,
    Rest: KeyGuard<M, C>,
    C: UniqueConnection,
{
    fn guard(
        row: &M,
        conn: &mut C,
        write: &mut dyn FnMut(&mut C) -> Result<usize, Error>,
    ) -> Result<usize, Error> {
        let body = |conn: &mut C| -> Result<usize, Failure> {
            if let Some(conflict) = Self::held(row, conn, true)? {
                return Err(Failure::Fatal(conflict));
            }
            Ok(write(conn)?)
        };
        // A live row appeared for one of the keys after it was checked.
        let on_violation = |conn: &mut C| -> Result<Violation, Error> {
            Ok(match Self::held(row, conn, false)? {
                Some(conflict) => Violation::Conflict(conflict),
                None => Violation::Raw,
            })
        };
        let contended = |attempts| Error::Contended {
            table: M::table_name(),
            key: M::NAME,
            attempts,
        };
        ops::run(conn, contended, body, on_violation)
    }

    fn held(row: &M, conn: &mut C, lock: bool) -> diesel::QueryResult<Option<Error>> {
        let key = row.key();
        if M::null_part(&key).is_some() {
            // Its `NULL`s are distinct: no other row holds this value of the key.
            return Rest::held(row, conn, lock);
        }
        let live = match lock {
            true => M::lock_live(conn, key.clone())?,
            false => M::load_live(conn, key.clone())?,
        };
        match live {
            Some(live) if live.row_id() != row.row_id() => Ok(Some(ops::conflict::<M, K, C>(
                conn,
                &key,
                &live,
                Some(row),
            )?)),
            _ => Rest::held(row, conn, lock),
        }
    }
}

/// One active-unique key, as the DDL and a [batch restore](crate::collector::Batch::restore)
/// need it: by its SQL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// The key's name: the index (or constraint, or MySQL generated column) name.
    pub name: &'static str,
    /// The key's columns, their SQL names.
    pub columns: &'static [&'static str],
    /// The key's columns in which `NULL` is a value of the key (`nulls = not_distinct`), in
    /// key order: two live rows with `NULL` in the same ones of them and equal values in the
    /// others collide. Empty when the key's `NULL`s are distinct, as in a unique index.
    pub nulls_not_distinct: &'static [&'static str],
    /// The counter's column, if the key has one.
    pub counter: Option<&'static str>,
}

impl KeyInfo {
    /// The description of key `K` of model `M`.
    pub fn of<M: ActiveUnique<K>, K>() -> KeyInfo {
        KeyInfo {
            name: M::NAME,
            columns: M::COLUMNS,
            nulls_not_distinct: M::NULLS_NOT_DISTINCT,
            counter: M::COUNTER_COLUMN,
        }
    }

    /// Whether `NULL` is a value of the key in `column`, equal to another `NULL` there.
    pub fn null_is_a_value(&self, column: &str) -> bool {
        self.nulls_not_distinct.contains(&column)
    }
}

/// The keys of a model, in declaration order.
pub trait KeyList<M: ?Sized> {
    /// Appends a [`KeyInfo`] for each key.
    fn describe(keys: &mut Vec<KeyInfo>);
}

impl<M: ?Sized> KeyList<M> for () {
    fn describe(_: &mut Vec<KeyInfo>) {}
}

impl<M, K, Rest> KeyList<M> for (K, Rest)
where
    M: ActiveUnique<K>,
    Rest: KeyList<M>,
{
    fn describe(keys: &mut Vec<KeyInfo>) {
        keys.push(KeyInfo::of::<M, K>());
        Rest::describe(keys);
    }
}
