//! [`upsert_new`](super::ActiveUnique::upsert_new): `upsert` in one statement on PostgreSQL,
//! for changes built without the live row and a new row built without the counter. Nothing is
//! read first: the statement updates the key's live row, or, when the key has none, inserts the
//! new row with the counter one past the key's newest row.
//!
//! ```sql
//! /* <the Insertable's own rendering, which registers its binds $1..$k> */
//! WITH "successor" AS (SELECT * FROM (VALUES ($1, .., $k)) AS "t" ("a", "b", ..)
//!                      WHERE <key> AND <live>),                 -- the new row, if it is valid
//!      "updated" AS (UPDATE "t" SET <changes> WHERE <key> AND <live> RETURNING <columns>),
//!      "inserted" AS (INSERT INTO "t" ("a", "b", .., "n")
//!                     SELECT "successor".*, (SELECT COALESCE(max("t"."n") + 1, 0) FROM "t"
//!                                            WHERE <key> AND <any row>)
//!                     FROM "successor"
//!                     WHERE NOT EXISTS (SELECT 1 FROM "t" WHERE <key> AND <live>)
//!                     RETURNING <columns>)
//! SELECT * FROM "updated" UNION ALL SELECT * FROM "inserted"
//! ```
//!
//! Changes that set nothing (every field of a changeset `None`) make `updated` a `SELECT` of no
//! row: the statement inserts the new row or writes nothing, and a locked live row gets
//! Diesel's `EmptyChangeset` error, as in `upsert`.
//!
//! The changes may not name the key's columns or the markers (refused before anything is sent:
//! a list of binds is read column by column, other SQL by every name in it): then the row
//! updated is still the key's live row without being read back. The `INSERT` runs only where
//! the statement's snapshot has no live row of the key, so at most one of the two writes.
//!
//! A concurrent writer of the key makes the `UPDATE` wait for the row's lock, then apply the
//! changes to the row as that writer left it, if it is still live; a row it retired in the
//! meantime is not updated, and the `INSERT` still sees it live, so nothing is written. A
//! concurrent insert of the key's first row makes the `INSERT` wait, then fail on the key's
//! unique index. A statement that returns no row (that race, a new row that is not a live row
//! of the key when the key has none) or fails changed nothing, and a transaction runs instead:
//! it locks the live row (or, when it has no live one, reads the key's newest row for its
//! counter and the versions of the key's rows), then sends the same statement, which updates
//! the row it locked or inserts the key's first; a unique violation there means a concurrent
//! writer inserted first. Nothing written with no live row locked is told apart by a
//! [`SuccessorProbe`] of the new row and the versions read again: an invalid new row is
//! refused; a valid one with the key's rows changed was beaten by a concurrent writer (it runs
//! again); a valid one with the rows as they were was kept from the table by a trigger (a
//! `BEFORE INSERT` trigger returning `NULL`), and is refused. The statement is sent as [`Replace`](super::Replace) is (autocommitted,
//! or in a savepoint of the caller's transaction); the async form sends it in a transaction of
//! its own, as the async `start` does: its `INSERT` can wait for a concurrent insert of the
//! key, which must not commit after a caller who dropped the future gave up.
//!
//! [`start_new`](super::ActiveUnique::start_new) sends the same statement with [`NoChanges`]:
//! its `updated` CTE selects no row, so it inserts the key's first live row after its history
//! or writes nothing; the transaction then finds the live row and returns [`Error::Conflict`],
//! as `start` does.

use std::future::Future;
use std::marker::PhantomData;

use diesel::backend::Backend;
use diesel::expression::Expression;
use diesel::query_builder::{AsChangeset, AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::SelectDsl;
use diesel::query_dsl::RunQueryDsl;
use diesel::result::EmptyChangeset;
use diesel::result::Error::QueryBuilderError;
use diesel::sql_types::BigInt;
use diesel::{Insertable, QueryResult, Selectable, SelectableHelper};

use super::one_statement::{
    cacheable, counted_successor, in_transaction_if, needed, quoted, sql_text, statement,
    written_alone, OneStatementBackend, Refusals, Successor, SuccessorOf, Version,
};
use super::ops::{
    check_new, check_written, conflict, contended, invalid, judge_replacement, judge_start,
    next_counter, refuse_null_part, run, Body, Failure, Lost, Params, Violation,
};
use super::{ActiveUnique, KeyOps, TableOf};
use crate::backend::SupportedBackend;
use crate::exec::{BackendOf, Executor, Load};
use crate::query::WithDeletedTrace;
use crate::table::SoftDeleteTable;
use crate::{dsl, Error};

/// `upsert_new`'s statement: the update of the key's (`Key`) live row (`Live`) with the
/// changes `Set` (a Diesel changeset, rendered after `SET`), or the insert of the successor
/// when the key has no live row, with the counter one past its newest row's; returns the row
/// written as `Ret` selects. Changes that set nothing (every field of a changeset `None`) update
/// no row: the statement inserts the successor or writes nothing.
#[derive(Debug, Clone)]
pub struct Merge<S, Set, Key, Live, Ret> {
    successor: S,
    changes: Set,
    /// The changes set nothing: `updated` selects no row (`WHERE <live> AND false`), where an
    /// `UPDATE` with an empty `SET` could not be written.
    sets_nothing: bool,
    key: Key,
    live: Live,
    any: WithDeletedTrace<Live>,
    counter: Option<&'static str>,
    returning: Ret,
}

impl<V, SKey, SLive, Set, Key, Live, Ret, DB> QueryFragment<DB>
    for Merge<Successor<V, SKey, SLive>, Set, Key, Live, Ret>
where
    DB: Backend,
    Successor<V, SKey, SLive>: QueryFragment<DB>,
    SKey: QueryFragment<DB>,
    SLive: QueryFragment<DB>,
    Set: QueryFragment<DB>,
    Key: QueryFragment<DB>,
    Live: QueryFragment<DB>,
    WithDeletedTrace<Live>: QueryFragment<DB>,
    Ret: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        let table = self.successor.table();
        self.successor.walk_ast(out.reborrow())?;
        if self.sets_nothing {
            out.push_sql(", \"updated\" AS (SELECT ");
            self.returning.walk_ast(out.reborrow())?;
            out.push_sql(" FROM ");
            out.push_identifier(table)?;
            // The live predicate states the read's visibility (the guard looks for it).
            out.push_sql(" WHERE ");
            self.live.walk_ast(out.reborrow())?;
            out.push_sql(" AND false");
        } else {
            out.push_sql(", \"updated\" AS (UPDATE ");
            out.push_identifier(table)?;
            out.push_sql(" SET ");
            self.changes.walk_ast(out.reborrow())?;
            out.push_sql(" WHERE ");
            self.key.walk_ast(out.reborrow())?;
            out.push_sql(" AND ");
            self.live.walk_ast(out.reborrow())?;
            out.push_sql(" RETURNING ");
            self.returning.walk_ast(out.reborrow())?;
        }
        out.push_sql("), \"inserted\" AS (");
        self.successor.walk_insert(self.counter, &mut out)?;
        if let Some(counter) = self.counter {
            out.push_sql(", (SELECT COALESCE(max(");
            out.push_identifier(table)?;
            out.push_sql(".");
            out.push_identifier(counter)?;
            out.push_sql(") + 1, 0) FROM ");
            out.push_identifier(table)?;
            out.push_sql(" WHERE ");
            self.key.walk_ast(out.reborrow())?;
            out.push_sql(" AND ");
            self.any.walk_ast(out.reborrow())?;
            out.push_sql(")");
        }
        out.push_sql(" FROM \"successor\" WHERE NOT EXISTS (SELECT 1 FROM ");
        out.push_identifier(table)?;
        out.push_sql(" WHERE ");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(" AND ");
        self.live.walk_ast(out.reborrow())?;
        out.push_sql(") RETURNING ");
        self.returning.walk_ast(out.reborrow())?;
        out.push_sql(") SELECT * FROM \"updated\" UNION ALL SELECT * FROM \"inserted\"");
        Ok(())
    }

    // See `cacheable`. Diesel calls every `UPDATE` unsafe to cache, for an `AsChangeset` whose
    // `None`s it skips: a bounded number of texts, as the new row's columns are. The changes
    // answer for the rest themselves (a list of values that varies in length says no).
    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        cacheable(
            &self.successor,
            &[
                &self.changes,
                &self.key,
                &self.live,
                &self.any,
                &self.returning,
            ],
            backend,
        )
    }
}

statement!(Merge<S, Set, Key, Live>);

/// Whether the new row is a live row of the key: the `successor` CTE of the statement alone,
/// counted (`WITH "successor" AS (..) SELECT COUNT(*) FROM "successor"`). Sent when the
/// statement wrote nothing and no live row was locked before it: the new row is then invalid,
/// or valid and beaten by another writer of the key (a row restored and retired again while
/// the `UPDATE` waited for it changes no row's state or counter, only its version), or valid
/// and kept from the table by a trigger.
#[derive(Debug, Clone)]
pub struct SuccessorProbe<S>(S);

impl<V, SKey, SLive, DB> QueryFragment<DB> for SuccessorProbe<Successor<V, SKey, SLive>>
where
    DB: Backend,
    Successor<V, SKey, SLive>: QueryFragment<DB>,
    SKey: QueryFragment<DB>,
    SLive: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out.reborrow())?;
        out.push_sql(" SELECT COUNT(*) FROM \"successor\"");
        Ok(())
    }

    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        cacheable(&self.0, &[], backend)
    }
}

impl<S> Query for SuccessorProbe<S> {
    type SqlType = BigInt;
}

// Cached by its SQL text, which differs with the new row's columns.
impl<S> QueryId for SuccessorProbe<S> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<S, Conn> RunQueryDsl<Conn> for SuccessorProbe<S> {}

/// The changes of [`start_new`](super::ActiveUnique::start_new)'s statement: none, so that it
/// only inserts (its `updated` CTE selects no row).
pub struct NoChanges<T>(PhantomData<fn() -> T>);

impl<T> Default for NoChanges<T> {
    fn default() -> Self {
        NoChanges(PhantomData)
    }
}

impl<T: diesel::QuerySource> AsChangeset for NoChanges<T> {
    type Target = T;
    type Changeset = ();

    fn as_changeset(self) {}
}

/// Which operation sends [`Merge`]: the errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeCall {
    /// [`upsert_new`](super::ActiveUnique::upsert_new): the key's live row is updated.
    Upsert,
    /// [`start_new`](super::ActiveUnique::start_new): a key with a live row gets
    /// [`Error::Conflict`].
    Start,
}

impl MergeCall {
    fn refusals(self) -> &'static Refusals {
        match self {
            MergeCall::Upsert => &UPSERT_REFUSALS,
            MergeCall::Start => &START_REFUSALS,
        }
    }
}

/// `upsert_new`'s statement for the new row `N` and changes `U` of `M`'s key `K` on `DB`.
type MergeOf<M, K, N, U, DB> = Merge<
    SuccessorOf<M, K, N>,
    <U as AsChangeset>::Changeset,
    <M as ActiveUnique<K>>::Filter,
    dsl::live<TableOf<M>>,
    dsl::AsSelect<M, DB>,
>;

/// Sending [`upsert_new`](super::ActiveUnique::upsert_new)'s statement for the new row `N` and
/// the changes `U` of key `K` on connection `C` in mode `Mo`; implemented for every model with an
/// active-unique key, on PostgreSQL ([`OneStatementBackend`]).
#[diagnostic::on_unimplemented(
    message = "`upsert_new` cannot insert `{N}` or apply `{U}` to a `{Self}` through `{C}`",
    note = "`upsert_new` needs a PostgreSQL connection, a new row that is `Insertable` into the model's table, and changes that are its `AsChangeset`"
)]
pub trait KeyMerge<K, Mo, C, N, U>: KeyOps<K, Mo, C> {
    /// The statement.
    type Statement;

    /// The statement `call` sends for `new` and `changes`, or [`Error::InvalidNewRow`] when it
    /// cannot take them.
    fn merger(
        call: MergeCall,
        key: Self::Value,
        new: N,
        changes: U,
    ) -> Result<Self::Statement, Error>;

    /// Whether the statement's changes set nothing (it can only insert).
    fn sets_nothing(statement: &Self::Statement) -> bool;

    /// Sends the statement: the row updated or inserted, or `None` when nothing was written.
    fn merge(
        conn: &mut C,
        statement: Self::Statement,
    ) -> impl Future<Output = Result<Option<Self>, Error>>;

    /// The [`SuccessorProbe`] of the new row.
    type Probe;

    /// The probe of `new`, for `call`.
    fn prober(call: MergeCall, key: Self::Value, new: N) -> Result<Self::Probe, Error>;

    /// Sends the probe: whether the new row is a live row of the key.
    fn probe(conn: &mut C, probe: Self::Probe) -> impl Future<Output = Result<bool, Error>>;

    /// The version (`xmin`) of every row of `key`, newest first: a writer of any of them
    /// changes the list (a row both inserted and removed between two reads leaves no trace).
    fn versions(conn: &mut C, key: Self::Value)
        -> impl Future<Output = Result<Vec<String>, Error>>;
}

impl<M, K, Mo, C, N, U> KeyMerge<K, Mo, C, N, U> for M
where
    C: Executor<Mo>,
    BackendOf<Mo, C>: OneStatementBackend + Default,
    <BackendOf<Mo, C> as Backend>::QueryBuilder: Default,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<BackendOf<Mo, C>>,
    U: AsChangeset<Target = TableOf<M>>,
    U::Changeset: QueryFragment<BackendOf<Mo, C>>,
    C: Load<Mo, MergeOf<M, K, N, U, BackendOf<Mo, C>>, M>,
    C: Load<Mo, SuccessorProbe<SuccessorOf<M, K, N>>, i64>,
    M::HistoryRows: SelectDsl<Version>,
    C: Load<Mo, dsl::Select<M::HistoryRows, Version>, String>,
{
    type Statement = MergeOf<M, K, N, U, BackendOf<Mo, C>>;
    type Probe = SuccessorProbe<SuccessorOf<M, K, N>>;

    fn merger(
        call: MergeCall,
        key: M::Value,
        new: N,
        changes: U,
    ) -> Result<Self::Statement, Error> {
        merger::<M, K, BackendOf<Mo, C>, N, U>(call, key, new, changes)
    }

    fn sets_nothing(statement: &Self::Statement) -> bool {
        statement.sets_nothing
    }

    async fn merge(conn: &mut C, statement: Self::Statement) -> Result<Option<M>, Error> {
        Ok(conn.load(statement).await?.into_iter().next())
    }

    fn prober(call: MergeCall, key: M::Value, new: N) -> Result<Self::Probe, Error> {
        let refusals = call.refusals();
        let (successor, _) = counted_successor::<M, K, BackendOf<Mo, C>, N>(&key, new, refusals)?;
        Ok(SuccessorProbe(successor))
    }

    async fn probe(conn: &mut C, probe: Self::Probe) -> Result<bool, Error> {
        let counts: Vec<i64> = conn.load(probe).await?;
        Ok(counts.first().is_some_and(|n| *n > 0))
    }

    async fn versions(conn: &mut C, key: M::Value) -> Result<Vec<String>, Error> {
        Ok(conn
            .load(SelectDsl::select(M::history_rows(key), Version))
            .await?)
    }
}

/// A changeset as Diesel renders it after `SET`, and its columns where it is only `"a" = $1,
/// "b" = $2`.
struct Changes<'a> {
    set: &'a str,
    columns: Option<Vec<String>>,
}

impl<'a> Changes<'a> {
    fn parse(set: &'a str) -> Self {
        Changes {
            set,
            columns: Self::binds(set),
        }
    }

    /// The columns of `"a" = $1, "b" = $2`, or `None` for another list.
    fn binds(set: &str) -> Option<Vec<String>> {
        let mut columns = Vec::new();
        let mut rest = set;
        loop {
            let (column, after) = quoted(rest)?;
            columns.push(column);
            let after = after.strip_prefix(" = $")?;
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            match &after[digits..] {
                "" => return Some(columns),
                more => rest = more.strip_prefix(", ")?,
            }
        }
    }

    /// Whether the changes may write `column`: it is one of the columns of a list of binds, or
    /// another list names it anywhere, quoted or not (`sql("0, active = false")` does), or has
    /// text whose names cannot be read by its words alone (a literal, a comment, dollar
    /// quoting, a Unicode escape).
    fn may_write(&self, column: &str) -> bool {
        match &self.columns {
            Some(columns) => columns.iter().any(|c| c == column),
            None if self.opaque() => true,
            None => names(self.set).any(|(name, quoted)| {
                if quoted {
                    name == column
                } else {
                    name.eq_ignore_ascii_case(column)
                }
            }),
        }
    }
}

impl Changes<'_> {
    /// Whether the list has a literal, a comment, dollar quoting (a `$` that does not start a
    /// bind `$1`) or a Unicode escape (`U&"..."`): Diesel writes values as binds, so only raw
    /// SQL has them.
    fn opaque(&self) -> bool {
        let set = self.set;
        let dollar = set
            .match_indices('$')
            .any(|(i, _)| !set[i + 1..].starts_with(|c: char| c.is_ascii_digit()));
        dollar
            || ["'", "--", "/*", "U&", "u&"]
                .iter()
                .any(|t| set.contains(t))
    }
}

/// The names in SQL text: each quoted identifier (quotes undone) and each bare word, with
/// whether it was quoted. Literals are not skipped: a word inside one counts too.
fn names(text: &str) -> impl Iterator<Item = (String, bool)> + '_ {
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut rest = text;
    std::iter::from_fn(move || loop {
        let c = rest.chars().next()?;
        if c == '"' {
            match quoted(rest) {
                Some((name, after)) => {
                    rest = after;
                    return Some((name, true));
                }
                None => rest = &rest[1..],
            }
        } else if word(c) {
            let end = rest.find(|c: char| !word(c)).unwrap_or(rest.len());
            let name = rest[..end].to_owned();
            rest = &rest[end..];
            return Some((name, false));
        } else {
            rest = &rest[c.len_utf8()..];
        }
    })
}

/// What `upsert_new` says of a table or a row its statement cannot take.
const UPSERT_REFUSALS: Refusals = Refusals {
    table: "`upsert_new` on a table in a named schema, or named like a CTE of the one-statement forms (`successor`, `locked`, `retired`, `updated`, `inserted`): use `upsert`",
    row: "cannot be sent in `upsert_new`'s statement: it must give the key's columns and the markers a value, and no column `DEFAULT` (an `Insertable` writes a `None` so unless it has `#[diesel(treat_none_as_default_value = false)]`)",
    counter: "gives the counter a value: `upsert_new` sets it to one past the key's newest row's",
};

/// What `start_new` says of a table or a row its statement cannot take.
const START_REFUSALS: Refusals = Refusals {
    table: "`start_new` on a table in a named schema, or named like a CTE of the one-statement forms (`successor`, `locked`, `retired`, `updated`, `inserted`): use `start`",
    row: "cannot be sent in `start_new`'s statement: it must give the key's columns and the markers a value, and no column `DEFAULT` (an `Insertable` writes a `None` so unless it has `#[diesel(treat_none_as_default_value = false)]`)",
    counter: "gives the counter a value: `start_new` sets it to one past the key's newest row's",
};

/// The statement `call` sends for `new` and `changes`, or why it cannot take them.
fn merger<M, K, DB, N, U>(
    call: MergeCall,
    key: M::Value,
    new: N,
    changes: U,
) -> Result<MergeOf<M, K, N, U, DB>, Error>
where
    DB: SupportedBackend + Default,
    DB::QueryBuilder: Default,
    M: ActiveUnique<K> + super::KeyTable<K> + Selectable<DB>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<DB>,
    U: AsChangeset<Target = TableOf<M>>,
    U::Changeset: QueryFragment<DB>,
{
    let (successor, counter) = counted_successor::<M, K, DB, N>(&key, new, call.refusals())?;
    let changes = changes.as_changeset();
    let text = sql_text::<DB, _>(&changes)?;
    let set = Changes::parse(&text);
    if needed::<M, K>(false)
        .iter()
        .any(|column| set.may_write(column))
    {
        return Err(Error::InvalidNewRow {
            table: M::table_name(),
            key: M::NAME,
            problem: "comes with changes that name a column of the key or a marker: `upsert_new` does not read the row back, so its changes must leave the key and the markers alone (`upsert` checks them)",
        });
    }
    let live = <TableOf<M> as SoftDeleteTable>::live;
    Ok(Merge {
        successor,
        changes,
        sets_nothing: text.is_empty(),
        key: M::key_filter(key),
        live: live(),
        any: WithDeletedTrace(live()),
        counter,
        returning: M::as_returning(),
    })
}

/// The transaction that runs when the statement alone wrote nothing: the live row locked, then
/// the same statement, which updates that row, or inserts the key's first live row. For
/// [`MergeCall::Start`], a live row is the [`Error::Conflict`] `start` returns.
struct Merging<M: ActiveUnique<K>, K, Mo, C, N, U, I, F> {
    call: MergeCall,
    key: M::Value,
    insert: I,
    update: F,
    /// The live row the last run locked (see [`judge_replacement`]).
    locked: Option<M::Id>,
    _params: Params<K, Mo, C, (N, U)>,
}

impl<M, K, Mo, C, N, U, I, F> Body<Mo, C> for Merging<M, K, Mo, C, N, U, I, F>
where
    M: KeyMerge<K, Mo, C, N, U>,
    I: FnMut() -> N,
    F: FnMut() -> U,
{
    type Output = M;

    async fn attempt(&mut self, conn: &mut C) -> Result<M, Failure> {
        let key = &self.key;
        let locked = M::lock_live(conn, key.clone()).await?;
        if let (Some(live), MergeCall::Start) = (&locked, self.call) {
            let error = conflict::<M, K, Mo, C>(conn, key, live, None).await?;
            return Err(Failure::Failed(error));
        }
        self.locked = locked.as_ref().map(|row| row.row_id());
        // Without a live row, the statement continues the counter of the key's newest row,
        // which must have a next value; the versions of the key's rows tell, if nothing is
        // written, whether another writer changed them meanwhile.
        let versions = match &locked {
            Some(_) => None,
            None => {
                if let Some(newest) = M::load_newest(conn, key.clone()).await? {
                    next_counter::<M, K>(&newest.counter())?;
                }
                Some(
                    M::versions(conn, key.clone())
                        .await
                        .map_err(Failure::Failed)?,
                )
            }
        };
        let statement = M::merger(self.call, key.clone(), (self.insert)(), (self.update)())
            .map_err(Failure::Failed)?;
        if locked.is_some() && M::sets_nothing(&statement) {
            // What Diesel, and so `upsert`, says of an update whose changeset sets nothing.
            return Err(Failure::Failed(
                QueryBuilderError(Box::new(EmptyChangeset)).into(),
            ));
        }
        match M::merge(conn, statement).await.map_err(Failure::Failed)? {
            Some(row) => check_written::<M, K, Mo, C>(conn, Some(row), key).await,
            // The changes leave the row live on the key, so only a trigger or a row-level
            // security policy can keep the `UPDATE` from the locked row: running again would not.
            None if locked.is_some() => Err(invalid::<M, K>(
                "was not needed: the key's live row, locked, was not updated (a trigger or a row-level security policy kept the `UPDATE` from it)",
            )),
            // No live row locked: an invalid new row, or a valid one beaten by another writer
            // of the key (a row it made live, seen by the statement, retired before the
            // `UPDATE` could take it, changes the key's rows: run again), or kept from the
            // table by a trigger (the key's rows as they were).
            None => {
                // For `start`, a live row the statement saw is the conflict `start` reports: one
                // a concurrent writer inserted since the lock, or the successor of a row a
                // concurrent `retry` held, which the lock waited for and then found retired (the
                // successor is invisible to that read).
                if self.call == MergeCall::Start {
                    if let Some(live) = M::load_live(conn, key.clone()).await? {
                        let error = conflict::<M, K, Mo, C>(conn, key, &live, None).await?;
                        return Err(Failure::Failed(error));
                    }
                }
                let probe = M::prober(self.call, key.clone(), (self.insert)())
                    .map_err(Failure::Failed)?;
                if !M::probe(conn, probe).await.map_err(Failure::Failed)? {
                    check_new::<M, K>(None, key)
                } else if Some(M::versions(conn, key.clone()).await.map_err(Failure::Failed)?)
                    != versions
                {
                    Err(Failure::Undo(Lost))
                } else {
                    Err(invalid::<M, K>(
                        "was not inserted, though it is a live row of the key and no other writer changed the key's rows (a trigger kept the `INSERT` from it)",
                    ))
                }
            }
        }
    }

    // As `upsert`'s: a concurrent writer inserted the key's live row first (`start`'s: that is
    // a conflict), or another constraint was broken.
    async fn judge(&mut self, conn: &mut C) -> Result<Violation, Error> {
        match self.call {
            MergeCall::Upsert => {
                judge_replacement::<M, K, Mo, C>(conn, &self.key, self.locked.as_ref()).await
            }
            MergeCall::Start => judge_start::<M, K, Mo, C>(conn, &self.key).await,
        }
    }

    fn contended(&self, attempts: u32) -> Error {
        contended::<M, K>(attempts)
    }
}

#[cfg_attr(feature = "tracing", tracing::instrument(name = "upsert_new", level = "debug", skip_all,
    fields(table = %M::table_name(), key = M::NAME, attempts = tracing::field::Empty)))]
pub(crate) async fn upsert_new<M, K, Mo, C, N, U>(
    conn: &mut C,
    key: M::Value,
    insert: impl FnMut() -> N,
    update: impl FnMut() -> U,
) -> Result<M, Error>
where
    M: KeyMerge<K, Mo, C, N, U>,
    C: Executor<Mo>,
{
    merge(MergeCall::Upsert, conn, key, insert, update).await
}

#[cfg_attr(feature = "tracing", tracing::instrument(name = "start_new", level = "debug", skip_all,
    fields(table = %M::table_name(), key = M::NAME, attempts = tracing::field::Empty)))]
pub(crate) async fn start_new<M, K, Mo, C, N>(
    conn: &mut C,
    key: M::Value,
    build: impl FnMut() -> N,
) -> Result<M, Error>
where
    M: KeyMerge<K, Mo, C, N, NoChanges<TableOf<M>>>,
    C: Executor<Mo>,
{
    merge(MergeCall::Start, conn, key, build, NoChanges::default).await
}

/// The statement alone, then, when it wrote nothing, the transaction of [`Merging`].
async fn merge<M, K, Mo, C, N, U>(
    call: MergeCall,
    conn: &mut C,
    key: M::Value,
    mut insert: impl FnMut() -> N,
    mut update: impl FnMut() -> U,
) -> Result<M, Error>
where
    M: KeyMerge<K, Mo, C, N, U>,
    C: Executor<Mo>,
{
    refuse_null_part::<M, K>(&key)?;
    // The `INSERT` can wait for a concurrent insert of the key: an abandonable caller sends the
    // statement in a transaction of its own, which a dropped future never commits.
    let wrap = C::ABANDONABLE || conn.in_transaction();
    let statement = M::merger(call, key.clone(), insert(), update())?;
    let alone = in_transaction_if(conn, wrap, async |conn: &mut C| {
        M::merge(conn, statement).await
    })
    .await;
    // Nothing written: the transaction tells why, or writes.
    if let Some(row) = written_alone(alone)? {
        return Ok(row);
    }
    let body = Merging::<M, K, Mo, C, N, U, _, _> {
        call,
        key,
        insert,
        update,
        locked: None,
        _params: Params::default(),
    };
    run(conn, body).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_that_are_binds_are_read_column_by_column() {
        let set = Changes::parse(r#""body" = $1, "we""ird" = $2"#);
        assert_eq!(
            set.columns,
            Some(vec!["body".to_owned(), "we\"ird".to_owned()])
        );
        assert!(set.may_write("we\"ird"));
        assert!(!set.may_write("we"));
    }

    #[test]
    fn other_changes_are_read_by_every_name_they_mention() {
        let set = Changes::parse(r#""n" = ("t"."n" + $1)"#);
        assert_eq!(set.columns, None);
        assert!(set.may_write("n"));
        assert!(!set.may_write("a"), "not a part of another name");
        let reads_key = Changes::parse(r#""n" = "t"."a""#);
        assert!(reads_key.may_write("a"));
        let raw = Changes::parse(r#""n" = 0, Active = false"#);
        assert!(raw.may_write("active"), "a bare name, in any case");
        let quoted = Changes::parse(r#""n" = "T"."Active""#);
        assert!(
            !quoted.may_write("active"),
            "a quoted name is that name exactly"
        );
        for opaque in [
            r#""n" = '"', active = false, "m" = 0"#,
            r#""n" = 0 /* " */, active = false"#,
            r#""n" = $q$"$q$, active = false"#,
            r#""n" = 0, U&"\0061ctive" = false"#,
        ] {
            assert!(Changes::parse(opaque).may_write("active"), "{opaque}");
        }
        assert!(!Changes::parse(r#""n" = ("t"."n" + $1)"#).opaque());
        for other in [r#""n" = $"#, r#""n" = $1,"#, r#""n" = $1, $2"#, r#"n = $1"#] {
            assert_eq!(Changes::parse(other).columns, None, "{other}");
        }
    }
}
