//! `start` and `retry` in one statement (PostgreSQL, the `Returning`
//! strategy): data-modifying CTEs that retire the live row and insert its successor, or insert a
//! key's first row, atomically, without a transaction of their own.
//!
//! ```sql
//! /* <the Insertable's own rendering, which registers its binds $1..$k> */
//! WITH "successor" AS (SELECT * FROM (VALUES ($1, .., $k)) AS "t" ("a", "b", ..)
//!                      WHERE <key> AND <live>),                 -- the new row, if it is valid
//!      "locked" AS (SELECT 1 FROM "t" WHERE <key> AND <live>
//!                   AND CAST(xmin AS TEXT) = $xmin FOR NO KEY UPDATE NOWAIT), -- async retry only
//!      "retired" AS (UPDATE "t" SET <marker> = <dead>
//!                    WHERE "t"."id" = $id AND (CAST(xmin AS TEXT) = $xmin
//!                      AND EXISTS (SELECT 1 FROM "successor")
//!                      AND EXISTS (SELECT 1 FROM "locked")) AND <live> -- async retry only
//!                    RETURNING 1)                                 -- retry: the row read, unchanged
//! INSERT INTO "t" ("a", "b", ..) SELECT "successor".* FROM "successor"
//! WHERE EXISTS (SELECT 1 FROM "retired")                          -- retry
//! -- start: WHERE NOT EXISTS (SELECT 1 FROM "t" WHERE <key> AND (<live> OR TRUE))
//! -- start of a key whose rows are all retired, continuing its counter from the newest row
//! -- read: ... AND (<live> OR TRUE) AND (<live> OR "t"."n" >= (SELECT "n" FROM "successor"))
//! RETURNING <the model's columns>
//! ```
//!
//! The closure's row reaches the statement as Diesel renders it: its `Insertable` values are
//! rendered once to text (`("a", "b") VALUES ($1, $2)`), split into the column list and the
//! values, and the statement begins with the values' own walk inside a comment, so Diesel
//! registers their binds as `$1..$k`; the text refers to them again where it needs them. The
//! old row's columns are not copied by SQL: `retry` reads the live row first (one statement,
//! with its `xmin`, the id of the transaction that wrote this version of it), calls the closure
//! with it, and the update retires the row only if it is that same version and still live: a
//! row another writer retired or changed in between is not retired, and nothing is inserted.
//!
//! The statement stays prepared on the connection (see [`cacheable`]): Diesel would never keep
//! it, because of the `UPDATE` and a derived `Insertable`'s values inside it.
//!
//! The statement is sent alone (autocommitted) outside a transaction, and inside the caller's
//! transaction in a savepoint, which a failed statement would otherwise doom. An async caller
//! can drop the operation's future while the statement runs ([`Executor::ABANDONABLE`]), and
//! the server still commits an autocommitted statement it has received; so what the async API
//! sends must not wait for another writer, or the write could land long after the caller gave
//! up. The async `retry`'s statement takes the live row's lock first, with `NOWAIT`: a row
//! another transaction holds fails the statement at once (nothing written), and the
//! transaction of [`ops`](super::ops) runs instead, whose wait an abandoned caller never
//! commits. Dropped once the statement is on its way, the retry has happened or not, as when a
//! `COMMIT` is in flight; the statement waits for nobody in between. (A wait it cannot rule
//! out: the new row's foreign keys lock their parent rows `FOR KEY SHARE`, which waits only for
//! a transaction that deletes a parent or changes its key.) The async `start` keeps a
//! transaction of its own: its insert waits for a concurrent insert of the same key.
//!
//! Nothing is written unless everything is: the new row must be a live row of the key (or the
//! `successor` CTE is empty and the old row is not retired), the old row must be retired (or
//! nothing is inserted). A statement that returns no row, or fails (a unique violation of a
//! concurrent `start`, a lock timeout), changed nothing, and the caller runs the transaction of
//! [`ops`](super::ops), which tells the racing loser or the invalid row apart exactly as before.
//! Rows the statement cannot take (a value rendered as `DEFAULT`, a marker or key column left
//! to its default, a table in a named schema, whose columns the `VALUES` alias cannot stand
//! for, a table named like one of the CTEs, which would hide it) go to that transaction at once.

use diesel::backend::Backend;
use diesel::expression::{
    is_aggregate, AppearsOnTable, Expression, SelectableExpression, ValidGrouping,
};
use diesel::query_builder::{
    AsChangeset, AsQuery, AstPass, IntoUpdateTarget, Query, QueryFragment, QueryId,
};
use diesel::query_dsl::methods::{FilterDsl, FindDsl, SelectDsl};
use diesel::query_dsl::RunQueryDsl;
use diesel::serialize::ToSql;
use diesel::sql_types::{Bool, HasSqlType, Text};
use diesel::{Insertable, QueryResult, Selectable, SelectableHelper};

use super::backend::{InsertNew, InsertOf, UpdateLive, UpdateOf};
use super::ops::is_live_row_of;
use super::{ActiveUnique, CounterValue, KeyOps, KeyQueries, TableOf};
use crate::backend::{SupportedBackend, TableName};
use crate::dsl;
use crate::exec::{BackendOf, Begin, Executor, Load, Transaction};
use crate::query::WithDeletedTrace;
use crate::sql::backend::Returning;
use crate::table::SoftDeleteTable;
use crate::trace;
use crate::write::{self, Deletion, SoftDeleteTarget};
use crate::Error;

/// A backend that can run the one statement of [`retry_new`](super::ActiveUnique::retry_new),
/// [`upsert_new`](super::ActiveUnique::upsert_new) and
/// [`start_new`](super::ActiveUnique::start_new): PostgreSQL, whose data-modifying CTEs
/// write several rows of a key atomically in one statement. SQLite and MySQL/MariaDB have no
/// such statement; [`retry`](super::ActiveUnique::retry),
/// [`upsert`](super::ActiveUnique::upsert) and [`start`](super::ActiveUnique::start) do the same
/// there in one transaction.
#[diagnostic::on_unimplemented(
    message = "`retry_new`, `upsert_new` and `start_new` send one PostgreSQL statement, which `{Self}` cannot run",
    label = "this needs a PostgreSQL connection",
    note = "on SQLite and MySQL/MariaDB, `retry(conn, key, |old, counter| ...)`, `upsert(conn, key, |counter| ..., |live| ...)` and `start(conn, key, |counter| ...)` do the same in one transaction"
)]
pub trait OneStatementBackend: SupportedBackend {}

#[cfg(feature = "postgres")]
impl OneStatementBackend for diesel::pg::Pg {}

/// The `INSERT ... RETURNING` of `N` into `M`'s table, returning `M` on backend `DB`.
type InsertReturning<M, N, DB> = dsl::Returning<InsertOf<M, N>, dsl::AsSelect<M, DB>>;
/// The `UPDATE ... RETURNING` of `M`'s row with changes `U`, returning `M` on backend `DB`.
type UpdateReturning<M, K, U, DB> = dsl::Returning<UpdateOf<M, K, U>, dsl::AsSelect<M, DB>>;
/// The live row of a key and its version: `SELECT <M's columns>, CAST(xmin AS TEXT) ...`.
type ReadVersion<M, K, DB> =
    dsl::Select<<M as KeyQueries<K>>::LiveRows, (dsl::AsSelect<M, DB>, Version)>;
/// The rows [`Replace`] retires: one row by primary key, at the version read.
type RetireTarget<M, K> =
    dsl::Filter<dsl::Find<TableOf<M>, <M as ActiveUnique<K>>::Id>, Replaceable>;
/// The `successor` CTE of the new row `N` of `M`'s key `K`.
pub(super) type SuccessorOf<M, K, N> = Successor<
    <N as Insertable<TableOf<M>>>::Values,
    <M as ActiveUnique<K>>::Filter,
    dsl::live<TableOf<M>>,
>;
/// `retry`'s statement.
type ReplaceOf<M, K, N, DB> =
    Replace<SuccessorOf<M, K, N>, dsl::SoftDelete<RetireTarget<M, K>>, dsl::AsSelect<M, DB>>;
/// `start`'s statement.
type FreshOf<M, K, N, DB> = Fresh<
    SuccessorOf<M, K, N>,
    <M as ActiveUnique<K>>::Filter,
    Existing<dsl::live<TableOf<M>>>,
    dsl::AsSelect<M, DB>,
>;

impl<M, K, Mo, C, N> InsertNew<M, K, Mo, C, N> for Returning
where
    C: Executor<Mo>,
    BackendOf<Mo, C>: Default,
    <BackendOf<Mo, C> as Backend>::QueryBuilder: Default,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<BackendOf<Mo, C>>,
    InsertReturning<M, N, BackendOf<Mo, C>>: Query,
    dsl::AsSelect<M, BackendOf<Mo, C>>: Expression,
    M::LiveRows: SelectDsl<(dsl::AsSelect<M, BackendOf<Mo, C>>, Version)>,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: FilterDsl<Replaceable>,
    RetireTarget<M, K>: SoftDeleteTarget<Table = TableOf<M>>,
    C: Load<Mo, InsertReturning<M, N, BackendOf<Mo, C>>, M>
        + Load<Mo, ReadVersion<M, K, BackendOf<Mo, C>>, (M, String)>
        + Load<Mo, ReplaceOf<M, K, N, BackendOf<Mo, C>>, M>
        + Load<Mo, FreshOf<M, K, N, BackendOf<Mo, C>>, M>,
{
    async fn insert_new(conn: &mut C, _: M::Value, new: N) -> QueryResult<Option<M>> {
        let insert = diesel::insert_into(TableOf::<M>::default())
            .values(new)
            .returning(M::as_returning());
        Ok(conn.load(insert).await?.into_iter().next())
    }

    async fn retry_in_one<F: FnMut(&M, M::Counter) -> N>(
        conn: &mut C,
        key: M::Value,
        build: &mut F,
    ) -> Option<M> {
        // The retry's statement waits for no row lock (`NOWAIT` where the caller can abandon
        // it), so it runs autocommitted in both modes.
        let wrap = conn.in_transaction();
        in_transaction_if(conn, wrap, async |conn: &mut C| {
            replace::<M, K, Mo, C, N, F>(conn, key, build).await
        })
        .await
        // Nothing written (an error included): the caller's transaction path runs next.
        .ok()
        .flatten()
    }

    async fn start_in_one<F: FnMut(M::Counter) -> N>(
        conn: &mut C,
        key: M::Value,
        build: &mut F,
    ) -> Option<M> {
        // Its insert can wait for a concurrent insert of the key, which must not commit after
        // a caller who can abandon the operation gave up.
        let wrap = C::ABANDONABLE || conn.in_transaction();
        in_transaction_if(conn, wrap, async |conn: &mut C| {
            start::<M, K, Mo, C, N, F>(conn, key, build).await
        })
        .await
        // Nothing written (an error included): the caller's transaction path runs next.
        .ok()
        .flatten()
    }
}

/// Runs `body`'s statements as they are, or, when `wrap`, in a transaction of their own (a
/// savepoint in the caller's, which a failed statement would otherwise doom), committed when
/// `body` succeeds and rolled back when it fails; returns what `body` returned.
pub(super) async fn in_transaction_if<Mo, C: Executor<Mo>, T, E>(
    conn: &mut C,
    wrap: bool,
    body: impl AsyncFnOnce(&mut C) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    if !wrap {
        return body(conn).await;
    }
    let mut transaction = Transaction::begin(conn, Begin::Plain).await?;
    let outcome = body(transaction.conn()).await;
    transaction.finish(outcome).await
}

/// `start`'s statements: the key's first row when it has none; for a key with a counter and
/// only retired rows, the newest row read and then its successor inserted, continuing the
/// counter, unless a live row or a newer counter has appeared since (three statements, where
/// the transaction sends five). `None` when nothing was written.
async fn start<M, K, Mo, C, N, F>(
    conn: &mut C,
    key: M::Value,
    build: &mut F,
) -> QueryResult<Option<M>>
where
    C: Executor<Mo>,
    F: FnMut(M::Counter) -> N,
    BackendOf<Mo, C>: Default,
    <BackendOf<Mo, C> as Backend>::QueryBuilder: Default,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<BackendOf<Mo, C>>,
    C: Load<Mo, FreshOf<M, K, N, BackendOf<Mo, C>>, M>,
{
    let rows = Existing::new(<TableOf<M> as SoftDeleteTable>::live(), M::Counter::ENABLED);
    let Some(statement) = fresh::<M, K, Mo, C, N>(key.clone(), build(M::Counter::first()), rows)
    else {
        return Ok(None);
    };
    if let Some(row) = conn.load(statement).await?.into_iter().next() {
        return Ok(Some(row));
    }
    let Some(counter) = M::COUNTER_COLUMN.filter(|_| M::Counter::ENABLED) else {
        return Ok(None);
    };
    let Some(newest) = M::load_newest(conn, key.clone()).await? else {
        return Ok(None);
    };
    let Some(next) = newest.counter().next().filter(|_| !newest.is_live()) else {
        return Ok(None);
    };
    let rows = Existing::Newer {
        any: WithDeletedTrace(<TableOf<M> as SoftDeleteTable>::live()),
        live: <TableOf<M> as SoftDeleteTable>::live(),
        table: M::table_name().name,
        counter,
    };
    let Some(statement) = fresh::<M, K, Mo, C, N>(key, build(next), rows) else {
        return Ok(None);
    };
    Ok(conn.load(statement).await?.into_iter().next())
}

/// The update returns the row it wrote, which is still the key's live row when its key and
/// markers say so: one statement, where [`Reread`](crate::sql::backend::Reread) reads the
/// key's live row again after the update.
impl<M, K, Mo, C, U> UpdateLive<M, K, Mo, C, U> for Returning
where
    C: Executor<Mo>,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: IntoUpdateTarget<Table = TableOf<M>>,
    U: AsChangeset<Target = TableOf<M>>,
    UpdateOf<M, K, U>: AsQuery,
    UpdateReturning<M, K, U, BackendOf<Mo, C>>: Query,
    C: Load<Mo, UpdateReturning<M, K, U, BackendOf<Mo, C>>, M>,
{
    async fn update_live(
        conn: &mut C,
        key: M::Value,
        id: M::Id,
        changes: U,
    ) -> QueryResult<Option<M>> {
        let row = FindDsl::find(TableOf::<M>::default(), id);
        let update = diesel::update(row)
            .set(changes)
            .returning(M::as_returning());
        let updated = conn.load(update).await?.into_iter().next();
        let Some(row) = updated.filter(|row| row.is_live()) else {
            return Ok(None);
        };
        Ok(is_live_row_of::<M, K, Mo, C>(conn, &row, &key)
            .await?
            .then_some(row))
    }
}

/// The columns the new row must give a value: the key's and the markers', and the counter's
/// when `counter`.
pub(super) fn needed<M: ActiveUnique<K>, K>(counter: bool) -> Vec<&'static str> {
    let markers = <TableOf<M> as SoftDeleteTable>::markers();
    let mut columns: Vec<&'static str> = M::COLUMNS.to_vec();
    columns.extend(markers.iter().map(|marker| marker.name));
    columns.extend(M::COUNTER_COLUMN.filter(|_| counter && M::Counter::ENABLED));
    columns
}

/// The names the statements give their CTEs, which would hide a table of the same name.
const CTE_NAMES: [&str; 5] = ["successor", "locked", "retired", "updated", "inserted"];

/// What a statement that sets the counter itself says when it cannot take a new row.
pub(super) struct Refusals {
    /// The feature a table in a named schema, or named like one of the statement's CTEs,
    /// lacks.
    pub(super) table: &'static str,
    /// The problem of a row the statement cannot check.
    pub(super) row: &'static str,
    /// The problem of a row that gives the counter a value.
    pub(super) counter: &'static str,
}

/// A `successor` CTE for a statement that sets the counter itself, and the counter's column.
pub(super) type Counted<M, K, N> = (SuccessorOf<M, K, N>, Option<&'static str>);

/// The `successor` CTE of `new` for a statement that sets the counter itself
/// ([`retry_new`](super::ActiveUnique::retry_new),
/// [`upsert_new`](super::ActiveUnique::upsert_new)), and the counter's column (`None` for a key
/// without one); or why the statement cannot take `new`.
pub(super) fn counted_successor<M, K, DB, N>(
    key: &M::Value,
    new: N,
    refusals: &Refusals,
) -> Result<Counted<M, K, N>, Error>
where
    M: ActiveUnique<K> + super::KeyTable<K>,
    DB: SupportedBackend + Default,
    DB::QueryBuilder: Default,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<DB>,
{
    let table = M::table_name();
    if table.schema.is_some() || CTE_NAMES.contains(&table.name.as_str()) {
        return Err(Error::Unsupported {
            feature: refusals.table,
            dialect: DB::DIALECT,
        });
    }
    let refused = |problem| Error::InvalidNewRow {
        table,
        key: M::NAME,
        problem,
    };
    let Some(successor) = successor::<M, K, DB, N>(key, new, needed::<M, K>(false)) else {
        return Err(refused(refusals.row));
    };
    let counter = M::COUNTER_COLUMN.filter(|_| M::Counter::ENABLED);
    if counter.is_some_and(|counter| successor.gives(counter)) {
        return Err(refused(refusals.counter));
    }
    Ok((successor, counter))
}

/// What the statement sent alone leaves to do: the row it wrote; `None` when it wrote nothing
/// or failed (which changed nothing), and the transaction must run; or an error of its own.
pub(super) fn written_alone<M>(alone: Result<Option<M>, Error>) -> Result<Option<M>, Error> {
    match alone {
        Ok(Some(row)) => {
            trace::record!(attempts = 1);
            Ok(Some(row))
        }
        Ok(None) => Ok(None),
        Err(Error::Diesel(_error)) => {
            trace::event!(debug, error = %_error, "the statement failed; the transaction runs instead");
            Ok(None)
        }
        Err(error) => Err(error),
    }
}

/// The `successor` CTE of `new`, which must give the `needed` columns, or `None` when the
/// statement cannot take it (or it cannot be rendered: the transaction renders it again, and
/// reports why).
pub(super) fn successor<M, K, DB, N>(
    key: &M::Value,
    new: N,
    needed: Vec<&'static str>,
) -> Option<SuccessorOf<M, K, N>>
where
    M: ActiveUnique<K> + super::KeyTable<K>,
    DB: Backend + Default,
    DB::QueryBuilder: Default,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<DB>,
{
    let values = new.values();
    let text = sql_text::<DB, _>(&values).ok()?;
    Successor::new(
        values,
        &text,
        &M::table_name(),
        needed,
        M::key_filter(key.clone()),
        <TableOf<M> as SoftDeleteTable>::live(),
    )
}

/// `start`'s statement for the new row `new`, inserted when the key has none of `rows`.
fn fresh<M, K, Mo, C, N>(
    key: M::Value,
    new: N,
    rows: Existing<dsl::live<TableOf<M>>>,
) -> Option<FreshOf<M, K, N, BackendOf<Mo, C>>>
where
    C: Executor<Mo>,
    BackendOf<Mo, C>: Default,
    <BackendOf<Mo, C> as Backend>::QueryBuilder: Default,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<BackendOf<Mo, C>>,
{
    let successor = successor::<M, K, BackendOf<Mo, C>, N>(&key, new, needed::<M, K>(true))?;
    Some(Fresh::new(
        successor,
        M::key_filter(key),
        rows,
        M::as_returning(),
    ))
}

/// Reads the live row of `key` and its version, builds its successor and runs [`Replace`]:
/// the new row, or `None` when there was no live row or nothing was written.
async fn replace<M, K, Mo, C, N, F>(
    conn: &mut C,
    key: M::Value,
    build: &mut F,
) -> QueryResult<Option<M>>
where
    C: Executor<Mo>,
    F: FnMut(&M, M::Counter) -> N,
    BackendOf<Mo, C>: Default,
    <BackendOf<Mo, C> as Backend>::QueryBuilder: Default,
    M: KeyOps<K, Mo, C> + Selectable<BackendOf<Mo, C>>,
    N: Insertable<TableOf<M>>,
    N::Values: QueryFragment<BackendOf<Mo, C>>,
    dsl::AsSelect<M, BackendOf<Mo, C>>: Expression,
    M::LiveRows: SelectDsl<(dsl::AsSelect<M, BackendOf<Mo, C>>, Version)>,
    TableOf<M>: FindDsl<M::Id>,
    dsl::Find<TableOf<M>, M::Id>: FilterDsl<Replaceable>,
    RetireTarget<M, K>: SoftDeleteTarget<Table = TableOf<M>>,
    C: Load<Mo, ReadVersion<M, K, BackendOf<Mo, C>>, (M, String)>
        + Load<Mo, ReplaceOf<M, K, N, BackendOf<Mo, C>>, M>,
{
    let read = SelectDsl::select(M::live_rows(key.clone()), (M::as_select(), Version));
    let Some((old, version)) = conn.load(read).await?.into_iter().next() else {
        return Ok(None);
    };
    let Some(next) = old.counter().next() else {
        return Ok(None);
    };
    let new = build(&old, next);
    let Some(successor) = successor::<M, K, BackendOf<Mo, C>, N>(&key, new, needed::<M, K>(true))
    else {
        return Ok(None);
    };
    let lock = C::ABANDONABLE.then(|| version.clone());
    let row = FilterDsl::filter(
        FindDsl::find(TableOf::<M>::default(), old.row_id()),
        Replaceable::new(Some(version), lock.is_some()),
    );
    let retire = write::soft_delete_with(row, Deletion::now());
    let statement = Replace::new(successor, lock, retire, M::as_returning());
    Ok(conn.load(statement).await?.into_iter().next())
}

/// The condition on the row a one-statement retry retires, besides the row's filter and the live
/// predicate: `(CAST(xmin AS TEXT) = $1 AND EXISTS (SELECT 1 FROM "successor") AND EXISTS
/// (SELECT 1 FROM "locked"))`. The version check is [`Replace`]'s: the row is the version read
/// (PostgreSQL's system column `xmin` changes with every update of a row); `retry_new`'s
/// [`Renew`](super::Renew) reads nothing first and has none. The new row must be valid; with
/// `locked`, the statement took the row's lock without waiting.
#[derive(Debug, Clone)]
pub struct Replaceable {
    version: Option<String>,
    locked: bool,
}

impl Replaceable {
    /// The condition for the row at `version` (if one was read), locked by the statement when
    /// `locked`.
    pub(crate) fn new(version: Option<String>, locked: bool) -> Self {
        Replaceable { version, locked }
    }
}

/// The column read with a row to name its version: `CAST(xmin AS TEXT)`.
pub(crate) const XMIN: &str = "CAST(xmin AS TEXT)";

/// [`XMIN`] as an expression of a fixed text: the read that selects it stays a prepared
/// statement Diesel caches (a `diesel::dsl::sql` literal would be sent to be parsed and
/// planned again on every `retry`).
#[derive(Debug, Clone, Copy)]
pub struct Version;

impl Expression for Version {
    type SqlType = Text;
}

impl<QS: ?Sized> AppearsOnTable<QS> for Version {}

impl<QS: ?Sized> SelectableExpression<QS> for Version {}

impl<GB> ValidGrouping<GB> for Version {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Version {
    type QueryId = Version;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB: Backend> QueryFragment<DB> for Version {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql(XMIN);
        Ok(())
    }
}

impl Expression for Replaceable {
    type SqlType = Bool;
}

impl<QS: ?Sized> AppearsOnTable<QS> for Replaceable {}

impl<GB> ValidGrouping<GB> for Replaceable {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for Replaceable {
    type QueryId = Replaceable;
    const HAS_STATIC_QUERY_ID: bool = true;
}

impl<DB> QueryFragment<DB> for Replaceable
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("(");
        if let Some(version) = &self.version {
            out.push_sql(XMIN);
            out.push_sql(" = ");
            out.push_bind_param::<Text, String>(version)?;
            out.push_sql(" AND ");
        }
        out.push_sql("EXISTS (SELECT 1 FROM \"successor\")");
        if self.locked {
            out.push_sql(" AND EXISTS (SELECT 1 FROM \"locked\")");
        }
        out.push_sql(")");
        Ok(())
    }
}

/// The closure's row as text: `("a", "b") VALUES ($1, $2)` split into its parts.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rendered {
    /// The columns, unquoted, in order.
    columns: Vec<String>,
    /// `$1, $2`: the values, binds numbered from 1.
    values: String,
}

impl Rendered {
    /// Splits Diesel's rendering of an `Insertable`'s values, or `None` for a row the statement
    /// cannot take: `DEFAULT VALUES`, a value written `DEFAULT` (not allowed outside an
    /// `INSERT`'s own `VALUES`), or a comment marker (the rendering goes inside a comment).
    fn parse(text: &str) -> Option<Rendered> {
        let mut rest = text.trim().strip_prefix('(')?;
        let mut columns = Vec::new();
        loop {
            let (name, after) = quoted(rest)?;
            columns.push(name);
            if let Some(after) = after.strip_prefix(", ") {
                rest = after;
            } else {
                rest = after.strip_prefix(") VALUES (")?;
                break;
            }
        }
        let values = rest.strip_suffix(')')?;
        let unsafe_text = ["DEFAULT", "/*", "*/"];
        if unsafe_text.iter().any(|t| values.contains(t)) {
            return None;
        }
        Some(Rendered {
            columns,
            values: values.to_owned(),
        })
    }

    /// Whether every value is a bind (`$1, $2, ..`): then the text changes only with the
    /// columns given.
    fn binds_only(&self) -> bool {
        self.values.split(", ").all(|value| {
            value
                .strip_prefix('$')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
    }

    /// Whether `column` is given a value.
    fn gives(&self, column: &str) -> bool {
        self.columns.iter().any(|c| c == column)
    }

    /// Whether every column in `needed` is given a value.
    fn covers(&self, needed: impl IntoIterator<Item = &'static str>) -> bool {
        needed.into_iter().all(|column| self.gives(column))
    }
}

/// A double-quoted identifier at the start of `text` (doubled quotes undone), and the rest.
pub(super) fn quoted(text: &str) -> Option<(String, &str)> {
    let mut chars = text.strip_prefix('"')?.char_indices().peekable();
    let mut name = String::new();
    while let Some((i, c)) = chars.next() {
        if c != '"' {
            name.push(c);
        } else if chars.peek().map(|&(_, d)| d) == Some('"') {
            chars.next();
            name.push('"');
        } else {
            return Some((name, &text[i + 2..]));
        }
    }
    None
}

/// The `successor` CTE and what the statements around it need to know of the table.
#[derive(Debug, Clone)]
pub struct Successor<V, Key, Live> {
    values: V,
    rendered: Rendered,
    /// The table's name, which is also the alias of the `VALUES` list, so that the key's filter
    /// and the live predicate (rendered as `"t"."a"`) read the new row's values.
    table: String,
    key: Key,
    live: Live,
}

impl<V, Key, Live> Successor<V, Key, Live> {
    /// The new row `values` (rendered as `text`) of table `table`, checked to be a live row
    /// (`live`) of the key (`key`); `None` when the statement cannot take it (see the module's
    /// documentation). `needed` are the columns the two predicates read.
    pub(crate) fn new(
        values: V,
        text: &str,
        table: &TableName,
        needed: impl IntoIterator<Item = &'static str>,
        key: Key,
        live: Live,
    ) -> Option<Self> {
        let rendered = Rendered::parse(text)?;
        let hidden = CTE_NAMES.contains(&table.name.as_str());
        if table.schema.is_some() || hidden || !rendered.covers(needed) {
            return None;
        }
        Some(Successor {
            values,
            rendered,
            table: table.name.clone(),
            key,
            live,
        })
    }

    /// Whether the new row gives `column` a value.
    pub(super) fn gives(&self, column: &str) -> bool {
        self.rendered.gives(column)
    }

    /// The table's name.
    pub(super) fn table(&self) -> &str {
        &self.table
    }

    /// `, "locked" AS (SELECT 1 FROM "t" WHERE <key> AND <live> [AND CAST(xmin AS TEXT) = $v]
    /// FOR NO KEY UPDATE NOWAIT)`: the key's live row (at the version read, if one was) locked
    /// without waiting, or the statement fails at once. The lock is the one the soft delete's
    /// `UPDATE` takes when it changes no key (no column of a full unique index), so a child row being inserted, whose foreign key holds
    /// the row `FOR KEY SHARE`, does not make the statement give way.
    pub(super) fn walk_locked<'b, DB>(
        &'b self,
        version: Option<&'b String>,
        out: &mut AstPass<'_, 'b, DB>,
    ) -> QueryResult<()>
    where
        DB: Backend + HasSqlType<Text>,
        String: ToSql<Text, DB>,
        Key: QueryFragment<DB>,
        Live: QueryFragment<DB>,
    {
        out.push_sql(", \"locked\" AS (SELECT 1 FROM ");
        out.push_identifier(&self.table)?;
        out.push_sql(" WHERE ");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(" AND ");
        self.live.walk_ast(out.reborrow())?;
        if let Some(version) = version {
            out.push_sql(" AND ");
            out.push_sql(XMIN);
            out.push_sql(" = ");
            out.push_bind_param::<Text, String>(version)?;
        }
        out.push_sql(" FOR NO KEY UPDATE NOWAIT)");
        Ok(())
    }

    /// `INSERT INTO "t" ("a", "b", .., "n") SELECT "successor".*`: the new row, followed by the
    /// `counter` column (if any), whose value the caller writes next.
    pub(super) fn walk_insert<DB: Backend>(
        &self,
        counter: Option<&'static str>,
        out: &mut AstPass<'_, '_, DB>,
    ) -> QueryResult<()> {
        out.push_sql("INSERT INTO ");
        out.push_identifier(&self.table)?;
        out.push_sql(" (");
        self.walk_columns(out)?;
        if let Some(counter) = counter {
            out.push_sql(", ");
            out.push_identifier(counter)?;
        }
        out.push_sql(") SELECT \"successor\".*");
        Ok(())
    }

    /// The new row's columns, quoted, separated by commas.
    fn walk_columns<DB: Backend>(&self, out: &mut AstPass<'_, '_, DB>) -> QueryResult<()> {
        for (i, column) in self.rendered.columns.iter().enumerate() {
            if i > 0 {
                out.push_sql(", ");
            }
            out.push_identifier(column)?;
        }
        Ok(())
    }
}

impl<V, Key, Live, DB> QueryFragment<DB> for Successor<V, Key, Live>
where
    DB: Backend,
    V: QueryFragment<DB>,
    Key: QueryFragment<DB>,
    Live: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        // Registers the values' binds first, as $1..$k, which the text below refers to.
        out.push_sql("/* ");
        self.values.walk_ast(out.reborrow())?;
        out.push_sql(" */ WITH \"successor\" AS (SELECT * FROM (VALUES (");
        out.push_sql(&self.rendered.values);
        out.push_sql(")) AS ");
        out.push_identifier(&self.table)?;
        out.push_sql(" (");
        self.walk_columns(&mut out)?;
        out.push_sql(") WHERE ");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(" AND ");
        self.live.walk_ast(out.reborrow())?;
        out.push_sql(")");
        Ok(())
    }
}

/// `retry` in one statement: retires the row `Retire` updates (the soft delete of the row read,
/// at the version read) and inserts the successor, returning it as `Ret` selects. With a
/// `lock` (the version read), it first locks the live row of the key at that version `FOR NO
/// KEY UPDATE NOWAIT` (the `locked` CTE, which `Retire`'s [`Replaceable`] then requires).
#[derive(Debug, Clone)]
pub struct Replace<S, Retire, Ret> {
    successor: S,
    lock: Option<String>,
    retire: Retire,
    returning: Ret,
}

/// `start` in one statement: inserts the successor when the key has no row `Rows` selects (its
/// live row, or any row when the key has a counter, whose first value is right only then).
#[derive(Debug, Clone)]
pub struct Fresh<S, Key, Rows, Ret> {
    successor: S,
    key: Key,
    rows: Rows,
    returning: Ret,
}

impl<V, Key, Live, Retire, Ret> Replace<Successor<V, Key, Live>, Retire, Ret> {
    pub(crate) fn new(
        successor: Successor<V, Key, Live>,
        lock: Option<String>,
        retire: Retire,
        returning: Ret,
    ) -> Self {
        Replace {
            successor,
            lock,
            retire,
            returning,
        }
    }
}

impl<V, Key, Live, Key2, Rows, Ret> Fresh<Successor<V, Key, Live>, Key2, Rows, Ret> {
    pub(crate) fn new(
        successor: Successor<V, Key, Live>,
        key: Key2,
        rows: Rows,
        returning: Ret,
    ) -> Self {
        Fresh {
            successor,
            key,
            rows,
            returning,
        }
    }
}

/// The rows of a key that stop [`Fresh`]: the live one, or every one (with the `.with_deleted()`
/// trace, which says so to the visibility guard), or the live one and every one whose counter is
/// at least the new row's.
#[derive(Debug, Clone)]
pub enum Existing<Live> {
    /// Only a live row.
    Live(Live),
    /// Any row.
    Any(WithDeletedTrace<Live>),
    /// A live row, or a row whose counter is not below the new row's: `<any> AND (<live> OR
    /// "table"."counter" >= (SELECT "counter" FROM "successor"))`.
    Newer {
        /// The trace of the rows of every state.
        any: WithDeletedTrace<Live>,
        /// The live predicate.
        live: Live,
        /// The table's name.
        table: String,
        /// The counter's column.
        counter: &'static str,
    },
}

impl<Live> Existing<Live> {
    /// Any row when `any`, else the live one.
    pub(crate) fn new(live: Live, any: bool) -> Self {
        if any {
            Existing::Any(WithDeletedTrace(live))
        } else {
            Existing::Live(live)
        }
    }
}

impl<Live: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for Existing<Live> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        match self {
            Existing::Live(live) => live.walk_ast(out),
            Existing::Any(any) => any.walk_ast(out),
            Existing::Newer {
                any,
                live,
                table,
                counter,
            } => {
                any.walk_ast(out.reborrow())?;
                out.push_sql(" AND (");
                live.walk_ast(out.reborrow())?;
                out.push_sql(" OR ");
                out.push_identifier(table)?;
                out.push_sql(".");
                out.push_identifier(counter)?;
                out.push_sql(" >= (SELECT ");
                out.push_identifier(counter)?;
                out.push_sql(" FROM \"successor\"))");
                Ok(())
            }
        }
    }
}

impl<V, Key, Live, Retire, Ret, DB> QueryFragment<DB>
    for Replace<Successor<V, Key, Live>, Retire, Ret>
where
    DB: Backend + HasSqlType<Text>,
    String: ToSql<Text, DB>,
    Successor<V, Key, Live>: QueryFragment<DB>,
    Key: QueryFragment<DB>,
    Live: QueryFragment<DB>,
    Retire: QueryFragment<DB>,
    Ret: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.successor.walk_ast(out.reborrow())?;
        if let Some(version) = &self.lock {
            self.successor.walk_locked(Some(version), &mut out)?;
        }
        out.push_sql(", \"retired\" AS (");
        self.retire.walk_ast(out.reborrow())?;
        out.push_sql(" RETURNING 1) ");
        self.successor.walk_insert(None, &mut out)?;
        out.push_sql(" FROM \"successor\" WHERE EXISTS (SELECT 1 FROM \"retired\") RETURNING ");
        self.returning.walk_ast(out.reborrow())
    }
    // See `cacheable`; the retire's `UPDATE` is the model's soft delete, whose text is fixed.
    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        cacheable(&self.successor, &[&self.returning], backend)
    }
}

impl<V, Key, Live, Key2, Rows, Ret, DB> QueryFragment<DB>
    for Fresh<Successor<V, Key, Live>, Key2, Rows, Ret>
where
    DB: Backend,
    Successor<V, Key, Live>: QueryFragment<DB>,
    Key: QueryFragment<DB>,
    Live: QueryFragment<DB>,
    Key2: QueryFragment<DB>,
    Rows: QueryFragment<DB>,
    Ret: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.successor.walk_ast(out.reborrow())?;
        out.push_sql(" ");
        self.successor.walk_insert(None, &mut out)?;
        out.push_sql(" FROM \"successor\" WHERE NOT EXISTS (SELECT 1 FROM ");
        out.push_identifier(&self.successor.table)?;
        out.push_sql(" WHERE ");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(" AND ");
        self.rows.walk_ast(out.reborrow())?;
        out.push_sql(") RETURNING ");
        self.returning.walk_ast(out.reborrow())
    }
    // See `cacheable`.
    fn is_safe_to_cache_prepared(&self, backend: &DB) -> QueryResult<bool> {
        cacheable::<V, Key, Live, DB>(
            &self.successor,
            &[&self.key, &self.rows, &self.returning],
            backend,
        )
    }
}

/// Whether the statement around `successor` can stay prepared on the connection: Diesel caches
/// these statements by their SQL text (they have no static query id), so the question is only
/// whether the text can vary from call to call without bound, which would fill the cache. Diesel
/// says it can for every `UPDATE` (an `AsChangeset` with `Option` fields skips the `None`s) and
/// for a derived `Insertable`'s values (a `None` is written `DEFAULT`), so its own check would
/// never keep them, and the server would parse and plan the statement at every call. Here the
/// successor's values are binds (checked on their text, which [`Rendered::parse`] has refused
/// with a `DEFAULT` already): the text varies only with the columns the closure gives. The other
/// parts (`others`, the key's filter and the live predicate) answer for themselves.
pub(super) fn cacheable<V, Key, Live, DB>(
    successor: &Successor<V, Key, Live>,
    others: &[&dyn QueryFragment<DB>],
    backend: &DB,
) -> QueryResult<bool>
where
    DB: Backend,
    Key: QueryFragment<DB>,
    Live: QueryFragment<DB>,
{
    if !successor.rendered.binds_only() {
        return Ok(false);
    }
    let fixed = [&successor.key as &dyn QueryFragment<DB>, &successor.live];
    for part in fixed.into_iter().chain(others.iter().copied()) {
        if !part.is_safe_to_cache_prepared(backend)? {
            return Ok(false);
        }
    }
    Ok(true)
}

macro_rules! statement {
    ($ty:ident<$($p:ident),*>) => {
        impl<$($p),*, Ret: Expression> Query for $ty<$($p),*, Ret> {
            type SqlType = Ret::SqlType;
        }

        // Cached by its SQL text, which differs with the closure's columns.
        impl<$($p),*, Ret> QueryId for $ty<$($p),*, Ret> {
            type QueryId = ();
            const HAS_STATIC_QUERY_ID: bool = false;
        }

        impl<$($p),*, Ret, Conn> RunQueryDsl<Conn> for $ty<$($p),*, Ret> {}
    };
}

pub(super) use statement;

statement!(Replace<S, Retire>);
statement!(Fresh<S, Key, Rows>);

/// Renders `fragment` to SQL text on backend `DB`, binds as placeholders.
pub(crate) fn sql_text<DB, F>(fragment: &F) -> QueryResult<String>
where
    DB: Backend + Default,
    DB::QueryBuilder: Default,
    F: QueryFragment<DB>,
{
    let mut builder = DB::QueryBuilder::default();
    fragment.to_sql(&mut builder, &DB::default())?;
    Ok(diesel::query_builder::QueryBuilder::finish(builder))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_insertables_rendering_is_split_into_columns_and_values() {
        let rendered = Rendered::parse(r#"("exam_id", "we""ird", "retry") VALUES ($1, $2, $3)"#);
        assert_eq!(
            rendered,
            Some(Rendered {
                columns: vec!["exam_id".into(), "we\"ird".into(), "retry".into()],
                values: "$1, $2, $3".into(),
            })
        );
        let rendered = rendered.unwrap();
        assert!(rendered.covers(["retry", "exam_id"]));
        assert!(rendered.binds_only());
        let computed = Rendered::parse(r#"("a", "b") VALUES ($1, now())"#).unwrap();
        assert!(!computed.binds_only());
        assert!(!rendered.covers(["active"]));
    }

    #[test]
    fn rows_the_statement_cannot_take_are_refused() {
        for text in [
            "DEFAULT VALUES",
            r#"("a", "b") VALUES ($1, DEFAULT)"#,
            r#"("a") VALUES ($1 /* x */)"#,
            r#"("a" VALUES ($1)"#,
            r#"("a") VALUES ($1"#,
        ] {
            assert_eq!(Rendered::parse(text), None, "{text}");
        }
    }
}
