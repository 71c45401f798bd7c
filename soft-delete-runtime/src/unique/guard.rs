//! A model's list of keys, as `SoftDelete::ActiveUniqueKeys` names it: `()` for a model
//! without keys, `(K1, (K2, ()))` for keys `K1` and `K2`. Walking it checks every key before
//! a restore ([`KeyGuard`], declared with the model trait) and lists the keys for the DDL
//! ([`KeyList`]).

use std::future::Future;

use super::ops::{self, Body, Failure, KeyOps, Violation};
use super::ActiveUnique;
use crate::exec::{Execute, Executor};
use crate::model::KeyGuard;
use crate::Error;

impl<M, Mo, C> KeyGuard<M, Mo, C> for () {
    async fn guard<S>(_: &M, conn: &mut C, mut write: impl FnMut() -> S) -> Result<usize, Error>
    where
        C: Execute<Mo, S>,
    {
        Ok(conn.execute(write()).await?)
    }
}

impl<M, Mo, C, K, Rest> KeyGuard<M, Mo, C> for (K, Rest)
where
    M: KeyOps<K, Mo, C>,
    Rest: KeysHeld<M, Mo, C>,
    C: Executor<Mo>,
{
    async fn guard<S>(row: &M, conn: &mut C, write: impl FnMut() -> S) -> Result<usize, Error>
    where
        C: Execute<Mo, S>,
    {
        let body = Guarded::<'_, M, K, Rest, _> {
            row,
            write,
            _keys: std::marker::PhantomData,
        };
        ops::run(conn, body).await
    }
}

/// The check behind [`KeyGuard`]: which key of a row another live row holds.
pub trait KeysHeld<M, Mo, C> {
    /// The conflict on the first key of `row` held by another live row, if any; `lock` reads
    /// the live rows with the backend's lock.
    fn held(
        row: &M,
        conn: &mut C,
        lock: bool,
    ) -> impl Future<Output = diesel::QueryResult<Option<Error>>>;
}

impl<M, Mo, C> KeysHeld<M, Mo, C> for () {
    async fn held(_: &M, _: &mut C, _: bool) -> diesel::QueryResult<Option<Error>> {
        Ok(None)
    }
}

impl<M, Mo, C, K, Rest> KeysHeld<M, Mo, C> for (K, Rest)
where
    M: KeyOps<K, Mo, C>,
    Rest: KeysHeld<M, Mo, C>,
    C: Executor<Mo>,
{
    async fn held(row: &M, conn: &mut C, lock: bool) -> diesel::QueryResult<Option<Error>> {
        let key = row.key();
        if M::null_part(&key).is_some() {
            // Its `NULL`s are distinct: no other row holds this value of the key.
            return Rest::held(row, conn, lock).await;
        }
        let live = match lock {
            true => M::lock_live(conn, key.clone()).await?,
            false => M::load_live(conn, key.clone()).await?,
        };
        match live {
            Some(live) if live.row_id() != row.row_id() => Ok(Some(
                ops::conflict::<M, K, Mo, C>(conn, &key, &live, Some(row)).await?,
            )),
            _ => Rest::held(row, conn, lock).await,
        }
    }
}

/// The restore of `row` under the keys `(K, Rest)`, as a [`Body`] of a write transaction.
struct Guarded<'r, M, K, Rest, W> {
    row: &'r M,
    write: W,
    _keys: std::marker::PhantomData<fn() -> (K, Rest)>,
}

impl<M, Mo, C, K, Rest, S, W> Body<Mo, C> for Guarded<'_, M, K, Rest, W>
where
    M: KeyOps<K, Mo, C>,
    Rest: KeysHeld<M, Mo, C>,
    C: Executor<Mo> + Execute<Mo, S>,
    W: FnMut() -> S,
{
    type Output = usize;

    async fn attempt(&mut self, conn: &mut C) -> Result<usize, Failure> {
        if let Some(conflict) = <(K, Rest)>::held(self.row, conn, true).await? {
            return Err(Failure::Failed(conflict));
        }
        Ok(conn.execute((self.write)()).await?)
    }

    // A live row appeared for one of the keys after it was checked.
    async fn judge(&mut self, conn: &mut C) -> Result<Violation, Error> {
        Ok(match <(K, Rest)>::held(self.row, conn, false).await? {
            Some(conflict) => Violation::Conflict(conflict),
            None => Violation::Raw,
        })
    }

    fn contended(&self, attempts: u32) -> Error {
        ops::contended::<M, K>(attempts)
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
