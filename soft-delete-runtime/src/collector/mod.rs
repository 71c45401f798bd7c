//! Cascade archive: soft-delete a whole object graph by its relation rules, preview it, and
//! restore exactly what one archive changed.
//!
//! Django's deletion `Collector`, re-done for archiving and set-based:
//!
//! - the relations are declared on the models, with Diesel paths, so a typo does not compile
//!   (`graph`): `#[soft_delete(children(orders::user_id = cascade, reviews::author_id =
//!   set_null, invoices::user_id = protect))]`;
//! - a [`Collector`] starts from the roots (a model value, a filtered table, or any query
//!   selecting the root table's keys) and [previews](Collector::preview) the archive as a
//!   [`Plan`] that prints as a tree, or [archives](Collector::archive) it: one transaction,
//!   one statement per edge per level (on PostgreSQL one statement in all, for a graph without
//!   `cascade` cycles), nothing loaded into memory;
//! - every row one call archives shares one [`Batch`], which [restores](Batch::restore)
//!   exactly those rows and puts back the links `set_null`/`set_default` cut, refusing with
//!   [`Error::Conflict`] (before writing anything) when that would give an active-unique key
//!   a second live row (on PostgreSQL one statement, for a graph with no link to put back);
//! - [`check_schema`] compares the declared edges with the database's foreign keys, and
//!   reports a column rows are found by that no index starts with.
//!
//! # Concurrency
//!
//! - **Batch ids and stamps come from the database.** Every archive first inserts its row in
//!   the [archive log](crate::ddl::archive_log), in its own transaction: the row's id (a
//!   sequence) is the batch id, and its `archived_at`, reserved under a `UNIQUE` constraint, is
//!   the stamp written to deletion time columns. Two archives never share either, whatever the
//!   process, host or clock skew; a rolled-back archive leaves no row. A restore marks the row
//!   restored first, so it happens once ([`Error::AlreadyRestored`]); a concurrent second
//!   restore waits for the first and then finds it done. A stamp already reserved by another
//!   archive makes this one take the next microsecond (an uncommitted reservation makes it
//!   wait for that archive's outcome). What remains: a row hidden by a plain soft delete (not
//!   through the collector) in the very microsecond an archive reserved, in a table without a
//!   `#[soft_delete(batch)]` column, cannot be told from that archive's rows and comes back
//!   with its restore; a batch column rules that out for its table.
//! - **`set_null` / `set_default` cut what they journaled.** The links an edge cuts are
//!   recorded in the journal first, and the cut is driven from those journal rows, so a link
//!   committed by another transaction between the two statements (READ COMMITTED) is left as it
//!   is instead of cut without a record. In PostgreSQL's one statement the cut returns the value
//!   it replaced and the journal records exactly those rows.
//! - **Stamps are bound in UTC.** On MySQL/MariaDB the session's time zone is set to UTC around
//!   an archive and a restore (and set back after, also on error), so `TIMESTAMP` stamp columns
//!   hold the archive's instant even where the session's zone skips an hour.
//! - **MySQL/MariaDB under concurrent archives.** At `REPEATABLE READ` InnoDB share-locks every
//!   row an `UPDATE`'s subquery reads (the parent rows of the batch, found by a scan when the
//!   stamp is not indexed), so concurrent archives deadlock; run archives at `READ COMMITTED`
//!   (`SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED`), index the stamp and batch
//!   columns, and retry on a deadlock (the archive rolls back as a whole). On SQLite run
//!   concurrent archives in `immediate_transaction`.
//! - **`protect` sees what was committed before its check.** The checks run inside the
//!   archive's transaction, at its isolation level; a protecting row that another transaction
//!   commits after the check is not seen, and the archive hides its parent anyway (the
//!   database's foreign keys do not object: the parent is updated, not deleted). On PostgreSQL
//!   even the archive's own `UPDATE` of a parent does not stop such an insert, since it leaves
//!   the key alone. To close the window for the roots, lock them before archiving, in a
//!   transaction of yours around the call: an insert whose foreign key references a row locked
//!   `FOR UPDATE` waits until that transaction ends (PostgreSQL and MySQL/MariaDB);
//!
//!   ```text
//!   conn.transaction(|conn| {
//!       users::table.filter(users::id.eq(id)).select(users::id).for_update().load::<i32>(conn)?;
//!       Collector::new(users::table.find(id)).archive(conn)
//!   })
//!   ```
//!
//!   a `protect` edge deeper in the graph needs its parents locked the same way. On SQLite a
//!   writer cannot commit between the check and the archive's writes without one of the two
//!   failing with "database is locked", so there is no window.
//!
//! # The preview reads only
//!
//! [`Collector::preview`] does not run the archive: it writes the set of rows the archive would
//! reach down as SQL (nested subqueries, and a recursive common table expression for a cycle of
//! `cascade` edges) and counts through it, one `SELECT` per table and per edge. It takes no
//! locks, so it works in a `READ ONLY` transaction, on a replica, and next to writers. Its plan
//! is the plan the archive carries out (tested over every shape of graph), with one exception:
//! a `protect` edge into a table the same archive also cascades to; the preview excuses the
//! rows the archive hides, the archive counts those still live when it checks the level.
//!
//! # Counting
//!
//! A [`Step`] counts the rows its edge reaches, so a row reached through two edges (a comment
//! of a post of the community being archived, reached from the post and from the community)
//! counts under both; [`Plan::archived`], [`Plan::total_archived`] and [`Plan::counts`] count
//! each row once.
//!
//! ```
//! use diesel::prelude::*;
//! use soft_delete_runtime::collector::Collector;
//! use soft_delete_runtime::prelude::*;
//!
//! diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
//! diesel::table! { orders (id) { id -> Integer, user_id -> Integer, deleted_at -> Nullable<Timestamp> } }
//!
//! #[derive(Queryable, Identifiable, SoftDelete)]
//! #[soft_delete(children(orders::user_id = cascade))]
//! struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
//!
//! #[derive(Queryable, SoftDelete)]
//! struct Order { id: i32, user_id: i32, deleted_at: Option<chrono::NaiveDateTime> }
//!
//! # fn main() -> Result<(), soft_delete_runtime::Error> {
//! let conn = &mut SqliteConnection::establish(":memory:").unwrap();
//! # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP)").execute(conn)?;
//! # diesel::sql_query("CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, deleted_at TIMESTAMP)").execute(conn)?;
//! # diesel::sql_query(soft_delete_runtime::ddl::archive_log::create_table(soft_delete_runtime::backend::Dialect::Sqlite)).execute(conn)?;
//! # diesel::sql_query("INSERT INTO users (id) VALUES (1), (2)").execute(conn)?;
//! # diesel::sql_query("INSERT INTO orders (user_id) VALUES (1), (1), (2)").execute(conn)?;
//! let ann: User = users::table.find(1).first(conn)?;
//! let archived = Collector::new(&ann).archive(conn)?;
//! assert_eq!(archived.plan().archived("orders"), 2);
//! assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, 1);
//!
//! archived.batch().restore(conn)?;
//! assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, 3);
//! # Ok(())
//! # }
//! ```
#![doc = include_str!("../docs/collector.md")]

mod archive;
mod check;
mod keys;
mod log;
mod marks;
mod one_statement;
mod plan;
mod preview;
mod reach;
mod restore;
mod restore_statement;

use std::marker::PhantomData;
use std::sync::Arc;

use diesel::backend::Backend;
use diesel::expression::Expression;
use diesel::query_builder::{AstPass, IntoUpdateTarget, Query, QueryFragment};
use diesel::{QueryResult, QuerySource, Table};

pub use crate::relations::{
    Archivable, ArchiveTable, BatchSqlType, GraphTable, KeyKind, KeySqlType, Rule, StampKind,
    StampSqlType,
};
#[cfg(feature = "async")]
pub use check::check_schema_async;
pub(crate) use check::graph_report;
pub use check::{check_schema, ForeignKey, IndexUse, SchemaIssue, SchemaReport};
#[cfg(feature = "async")]
pub use log::find_archive_async;
pub use log::{find_archive, ArchiveEntry, ArchiveList};
pub use plan::{Blocker, Plan, Repeat, Step};
pub use restore::Restored;

use crate::relations::Graph;
use marks::BatchValues;

use crate::backend::SupportedBackend;
#[cfg(feature = "async")]
use crate::exec::NonBlocking;
use crate::exec::SqlConnection;
use crate::exec::{drive, Begin, Blocking, Transaction};
use crate::sql::catalog;
use crate::table::SoftDeleteTable;
use crate::trace;
use crate::Error;

/// How many ids of the rows that protect a root a plan lists per edge, unless
/// [`Collector::blocker_ids`] says otherwise.
pub const DEFAULT_BLOCKER_IDS: usize = 10;

/// Archives the rows a root selects, and through the declared relations everything that
/// hangs off them.
///
/// Build it from what [`diesel::update`] accepts ([`Collector::new`]: a table, a filtered
/// table, `&model`) or from any query selecting the root table's primary key
/// ([`Collector::from_query`]), then [`preview`](Self::preview) or
/// [`archive`](Self::archive).
#[derive(Debug, Clone)]
pub struct Collector<T, R> {
    roots: Arc<R>,
    blocker_ids: usize,
    by: Option<String>,
    reason: Option<String>,
    _table: PhantomData<fn() -> T>,
}

impl Collector<(), ()> {
    /// Roots: the live rows of `target`, which is what [`diesel::update`] takes (a table, a
    /// table with only `filter` applied, `&model` of an `Identifiable` model).
    pub fn new<Target>(
        target: Target,
    ) -> Collector<Target::Table, TargetRoots<Target::Table, Target::WhereClause>>
    where
        Target: IntoUpdateTarget,
    {
        let target = target.into_update_target();
        Collector {
            roots: Arc::new(TargetRoots {
                key: target.table.primary_key(),
                from: target.table.from_clause(),
                where_clause: target.where_clause,
            }),
            blocker_ids: DEFAULT_BLOCKER_IDS,
            by: None,
            reason: None,
            _table: PhantomData,
        }
    }
}

impl<T: Table> Collector<T, ()> {
    /// Roots: the live rows of `T` whose primary key `query` selects. Any query works (joins,
    /// `order`, `limit`, ...) as long as it selects keys of `T`:
    ///
    /// ```text
    /// Collector::<users::table, _>::from_query(users::table.filter(users::name.like("a%")).select(users::id))
    /// ```
    pub fn from_query<Q>(query: Q) -> Collector<T, QueryRoots<Q>>
    where
        Q: Query<SqlType = <T::PrimaryKey as Expression>::SqlType>,
    {
        Collector {
            roots: Arc::new(QueryRoots(query)),
            blocker_ids: DEFAULT_BLOCKER_IDS,
            by: None,
            reason: None,
            _table: PhantomData,
        }
    }
}

// The table's requirements are asked of each method rather than of the constructor, so a
// collector over a table that is not soft-deletable is reported once, where it is used.
impl<T, R> Collector<T, R> {
    /// Lists at most `cap` ids per `protect` edge in the plan and in [`Error::Protected`]
    /// (the count is always exact). The default is [`DEFAULT_BLOCKER_IDS`].
    #[must_use]
    pub fn blocker_ids(mut self, cap: usize) -> Self {
        self.blocker_ids = cap;
        self
    }

    /// Records who archives, in the [archive log](crate::ddl::archive_log).
    #[must_use]
    pub fn by(mut self, by: impl Into<String>) -> Self {
        self.by = Some(by.into());
        self
    }

    /// Records why, in the [archive log](crate::ddl::archive_log).
    #[must_use]
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// What [`archive`](Self::archive) would do, without doing it: the [`Plan`] an archive
    /// at this moment would carry out, found with `SELECT`s only (see
    /// [how](self#the-preview-reads-only)). It takes no lock and writes nothing, so it runs in a
    /// `READ ONLY` transaction or on a read replica, and never waits for a writer. A plan
    /// refused by `protect` is returned (not an error): see [`Plan::blockers`]; it lists the
    /// blockers of every level, where an archive stops at the first refused level.
    ///
    /// The statements run one after the other, each on the database as it is then: run the
    /// preview inside a transaction with one snapshot (`REPEATABLE READ`) for counts that
    /// agree with each other under concurrent writes. The same errors as
    /// [`archive`](Self::archive) are returned for graphs it would refuse before writing.
    pub fn preview<C>(&self, conn: &mut C) -> Result<Plan, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<Blocking, R>,
    {
        drive(self.plan(conn))
    }

    /// [`preview`](Self::preview) on a diesel-async connection (feature `async`).
    #[cfg(feature = "async")]
    pub async fn preview_async<C>(&self, conn: &mut C) -> Result<Plan, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<NonBlocking, R>,
    {
        self.plan(conn).await
    }

    #[cfg_attr(feature = "tracing", tracing::instrument(name = "preview", level = "info", skip_all,
        fields(table = %T::sql_name(), rows = tracing::field::Empty)))]
    async fn plan<Mo, C>(&self, conn: &mut C) -> Result<Plan, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<Mo, R>,
    {
        let graph = Graph::build(T::node())?;
        let plan = reach::preview(conn, &graph, &self.roots, self.blocker_ids).await?;
        plan.trace();
        Ok(plan)
    }

    /// Archives the roots and everything the relations cascade to, in one transaction:
    /// every row gets the same [`Batch`]. If live rows protect any of it, nothing is
    /// written and [`Error::Protected`] lists them; any other failure also rolls back
    /// everything.
    ///
    /// The batch comes from the archive's row in the
    /// [archive log](crate::ddl::archive_log), inserted in the same transaction once the
    /// checks that write nothing have passed, with who and why ([`by`](Self::by),
    /// [`reason`](Self::reason)) and, at the end, the plan's counts; without the log table the
    /// archive is refused with [`Error::NoArchiveLog`]. On MySQL/MariaDB the session's time
    /// zone is UTC for the transaction (and set back after).
    ///
    /// On MySQL a table it would write whose engine has no transactions (MyISAM, Aria,
    /// MEMORY) is refused with [`Error::Unsupported`] before anything is written: a
    /// rollback there would leave half an archive behind. The same holds for
    /// [`Batch::restore`].
    ///
    /// Before anything is written, each table the archive can hide rows of (the root and
    /// every `cascade` child) must be able to tell its batches apart, or the archive is
    /// refused with [`Error::BatchNotIdentifiable`]. One that tells them apart by the deletion
    /// time alone (no `#[soft_delete(batch)]` column) has its column's precision read from the
    /// catalog: one that keeps fewer than six fractional digits (MySQL `DATETIME`, PostgreSQL
    /// `timestamp(0)`) would round the batch's stamp, so the archive is refused with
    /// [`Error::StampPrecision`]. A [`preview`](Self::preview) returns the same errors.
    /// PostgreSQL's one statement checks the stamps it writes instead of reading the catalog
    /// first: a row that rounds it makes the statement write nothing, and the archive then reads
    /// the precision and is refused; a rounding table it writes no row of is not refused.
    ///
    /// A `protect` edge is checked when the walk reaches its level (the root table's once the
    /// roots are marked: the roots query runs once), which stops there and rolls back, so
    /// the error lists the blockers of the first level that has any (PostgreSQL's one
    /// statement for a graph without cycles checks every `protect` edge before it writes, and a
    /// [`preview`](Self::preview) walks on: both list them all).
    pub fn archive<C>(&self, conn: &mut C) -> Result<Archived<T>, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<Blocking, R>,
    {
        drive(self.run_archive(conn))
    }

    /// [`archive`](Self::archive) on a diesel-async connection (feature `async`). Dropped
    /// half way (a timeout, a cancelled request), it leaves the database unchanged: its
    /// transaction is abandoned and the connection marked broken, so a pool discards it (see
    /// [`crate::asynchronous`]).
    #[cfg(feature = "async")]
    pub async fn archive_async<C>(&self, conn: &mut C) -> Result<Archived<T>, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<NonBlocking, R>,
    {
        self.run_archive(conn).await
    }

    #[cfg_attr(feature = "tracing", tracing::instrument(name = "archive", level = "info", skip_all,
        fields(table = %T::sql_name(), batch_id = tracing::field::Empty, rows = tracing::field::Empty)))]
    async fn run_archive<Mo, C>(&self, conn: &mut C) -> Result<Archived<T>, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<Mo, R>,
    {
        let graph = Graph::build(T::node())?;
        let dialect = <C::Backend as SupportedBackend>::DIALECT;
        let (plan, batch) = match one_statement::Shape::of(&graph, dialect) {
            Some(shape) => match self.archive_in_one(conn, &graph, &shape).await? {
                Some(done) => done,
                // A row did not keep the stamp: the walk reads why, and refuses.
                None => self.archive_by_walk(conn, &graph).await?,
            },
            None => self.archive_by_walk(conn, &graph).await?,
        };
        trace::record!(batch_id = batch.id);
        plan.trace();
        Ok(Archived {
            batch: Batch::new(batch),
            plan,
        })
    }

    /// The archive as a walk over the graph, a statement per edge per level, in a transaction.
    async fn archive_by_walk<Mo, C>(
        &self,
        conn: &mut C,
        graph: &Graph,
    ) -> Result<(Plan, BatchValues), Error>
    where
        T: ArchiveTable,
        C: SqlConnection<Mo, R>,
    {
        // A refused or failed archive rolls back: a table that cannot would keep half of it.
        // Checked with the tables' batch identity, in one catalog query.
        let written = written_tables(graph);
        let (cached_precisions, session) = archive::check_batch_identity(
            conn,
            graph,
            Some((
                written.iter().collect(),
                "an archive on a table without transactions (MyISAM, Aria, MEMORY)",
            )),
        )
        .await?;
        let reservation = self.reservation(
            graph,
            session.as_ref().is_some_and(|session| session.mariadb),
        );
        let collations =
            catalog::collations(conn, session.clone(), &archive::journal_columns(graph)).await?;
        let mut transaction = match Transaction::begin(conn, Begin::Immediate).await {
            Ok(transaction) => transaction,
            Err(error) => return Err(error.into()),
        };
        let outcome = catalog::in_utc(transaction.conn(), session, async |conn: &mut C| {
            let (plan, batch) = archive::run(
                conn,
                graph,
                &self.roots,
                reservation,
                self.blocker_ids,
                &collations,
            )
            .await?;
            let batch = match batch {
                Some(batch) if !plan.is_blocked() => batch,
                _ => {
                    return Err(Error::Protected {
                        blockers: plan.blockers().to_vec(),
                    })
                }
            };
            let root_key = || match plan.roots() {
                1 => archive::root_key(graph, batch),
                _ => Ok(None),
            };
            let check = match cached_precisions {
                true => archive::found_again(graph, batch, &plan)?,
                false => None,
            };
            if !log::finish(conn, batch.id, &plan, root_key()?, check).await? {
                // A table did not find its batch again by the stamp: a precision the process
                // kept is stale. Read the catalog again, which refuses the archive (rolled
                // back) when a column now rounds the stamp.
                catalog::forget_table_facts();
                archive::check_batch_identity(conn, graph, None).await?;
                // The catalog says every stamp is kept (the row was found, but the driver
                // reports changed rows only and none changed): record it as it is.
                log::finish(conn, batch.id, &plan, root_key()?, None).await?;
            }
            Ok((plan, batch))
        })
        .await;
        match transaction.finish(outcome).await {
            Ok(done) => Ok(done),
            Err(error) => Err(missing_log(conn, error).await),
        }
    }

    /// The archive as [one statement](one_statement) (PostgreSQL, a graph without `cascade`
    /// cycles whose tables are each written once); `None` when a row did not keep the stamp
    /// as written (nothing written).
    async fn archive_in_one<Mo, C>(
        &self,
        conn: &mut C,
        graph: &Graph,
        shape: &one_statement::Shape,
    ) -> Result<Option<(Plan, BatchValues)>, Error>
    where
        T: ArchiveTable,
        C: SqlConnection<Mo, R>,
    {
        archive::identifiable(graph)?;
        let request = one_statement::Request {
            roots: &self.roots,
            reservation: self.reservation(graph, false),
            blocker_ids: self.blocker_ids,
        };
        let (plan, batch) = match one_statement::run(conn, graph, shape, &request).await {
            Ok(Some(done)) => done,
            Ok(None) => return Ok(None),
            Err(error) => return Err(missing_log(conn, error).await),
        };
        match batch {
            Some(batch) if !plan.is_blocked() => Ok(Some((plan, batch))),
            _ => Err(Error::Protected {
                blockers: plan.blockers().to_vec(),
            }),
        }
    }

    /// What the log row of an archive of `graph` records.
    fn reservation<'g>(&'g self, graph: &'g Graph, no_wait: bool) -> log::Reservation<'g> {
        log::Reservation {
            root: &graph.nodes[0].name,
            first: archive::next_stamp(),
            by: self.by.as_deref(),
            reason: self.reason.as_deref(),
            no_wait,
        }
    }
}

/// Forgets the catalog facts this process keeps about MySQL/MariaDB tables, so that the next
/// archive, restore or purge dry run reads them again.
///
/// Before it writes anything, an operation checks each table it writes for an engine that
/// ignores a rollback (MyISAM, Aria, MEMORY: [`Error::Unsupported`]), and an archive checks
/// each deletion time column it finds its batch by for fewer than six fractional digits
/// ([`Error::StampPrecision`]). On MySQL/MariaDB `information_schema` answers that at about
/// 0.15 ms a table, so the answers are kept for the life of the process, per server, database
/// and table (PostgreSQL reads its catalog every time, SQLite has nothing to read). A kept
/// precision is checked by every archive that uses it (the tables must find their batch again
/// by its stamp, or the archive reads the catalog again and is refused, rolled back). A kept
/// engine is not: after a migration that moves a table the library writes to an engine
/// without transactions while the process runs, call this (or restart the process). Nor is a
/// kept collation of a text key or foreign key that `set_null` / `set_default` links compare
/// with the journal's text: after a migration that changes one, call this too.
pub fn forget_catalog() {
    catalog::forget_table_facts();
}

/// `error`, or [`Error::NoArchiveLog`] when it is a database error and the log table does not
/// exist (asked after the transaction rolled back, as PostgreSQL refuses statements before).
async fn missing_log<Mo, R, C: SqlConnection<Mo, R>>(conn: &mut C, error: Error) -> Error {
    if !matches!(
        error,
        Error::Diesel(diesel::result::Error::DatabaseError(..))
    ) {
        return error;
    }
    match catalog::table_exists(conn, crate::ddl::archive_log::TABLE).await {
        Ok(false) => Error::NoArchiveLog,
        _ => error,
    }
}

/// The tables the archive or restore of `graph` writes: its archived tables, the children
/// whose links it cuts or whose rows it deletes, the journal (when an edge cuts links) and the
/// archive log.
fn written_tables(graph: &Graph) -> Vec<crate::backend::TableName> {
    let written = (0..graph.nodes.len()).filter(|&i| {
        graph.archived[i]
            || graph.edges.iter().any(|e| {
                e.child == i
                    && matches!(e.rule, Rule::HardDelete | Rule::SetNull | Rule::SetDefault)
            })
    });
    let journal = graph.needs_journal().then(|| crate::backend::TableName {
        schema: None,
        name: crate::ddl::journal::TABLE.to_owned(),
    });
    let log = crate::backend::TableName {
        schema: None,
        name: crate::ddl::archive_log::TABLE.to_owned(),
    };
    written
        .map(|i| graph.nodes[i].name.clone())
        .chain(journal)
        .chain(std::iter::once(log))
        .collect()
}

/// Refuses `feature` when a table the archive or restore of `graph` writes
/// ([`written_tables`]) is a MySQL table that cannot roll back; returns the MySQL/MariaDB
/// session the catalog query read.
async fn refuse_without_transactions<Mo, R, C: SqlConnection<Mo, R>>(
    conn: &mut C,
    graph: &Graph,
    feature: &'static str,
) -> Result<Option<catalog::MysqlSession>, Error> {
    catalog::refuse_without_transactions(conn, &written_tables(graph), feature).await
}

/// The roots of [`Collector::new`]: `SELECT <key> FROM <table> <the target's WHERE> AND
/// <live>`. The statements that use them keep to live rows anyway; the live predicate here says
/// so to the [visibility guard](crate::guard), which checks every read on its own.
pub struct TargetRoots<T: Table, W> {
    key: T::PrimaryKey,
    from: T::FromClause,
    where_clause: W,
}

impl<T, W, DB> QueryFragment<DB> for TargetRoots<T, W>
where
    DB: SupportedBackend,
    T: SoftDeleteTable,
    T::PrimaryKey: QueryFragment<DB>,
    <T as QuerySource>::FromClause: QueryFragment<DB>,
    W: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        out.push_sql("SELECT ");
        self.key.walk_ast(out.reborrow())?;
        out.push_sql(" FROM ");
        self.from.walk_ast(out.reborrow())?;
        let no_where = self.where_clause.is_noop(out.backend())?;
        self.where_clause.walk_ast(out.reborrow())?;
        out.push_sql(if no_where { " WHERE " } else { " AND " });
        out.push_sql(&crate::query::conditions::live_condition::<T>(DB::DIALECT));
        Ok(())
    }
}

/// The roots of [`Collector::from_query`]: the query, selecting keys.
#[derive(Debug, Clone)]
pub struct QueryRoots<Q>(Q);

impl<Q, DB> QueryFragment<DB> for QueryRoots<Q>
where
    DB: Backend,
    Q: QueryFragment<DB>,
{
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.0.walk_ast(out)
    }
}

/// One archive: the rows one [`Collector::archive`] call changed, identified by its id and
/// its timestamp (to the microsecond), both from its row in the
/// [archive log](crate::ddl::archive_log) and unique across processes.
///
/// Store the id and find the batch again later with [`Batch::find`], which refuses an id
/// archived from another root table.
pub struct Batch<T> {
    values: BatchValues,
    _table: PhantomData<fn() -> T>,
}

impl<T> Clone for Batch<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Batch<T> {}

impl<T> std::fmt::Debug for Batch<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("id", &self.values.id)
            .field("stamp", &self.values.stamp)
            .finish()
    }
}

impl<T> PartialEq for Batch<T> {
    fn eq(&self, other: &Self) -> bool {
        self.values.id == other.values.id
    }
}

impl<T> Eq for Batch<T> {}

impl<T> Batch<T> {
    pub(crate) fn new(values: BatchValues) -> Self {
        Batch {
            values,
            _table: PhantomData,
        }
    }
}

impl<T: ArchiveTable> Batch<T> {
    /// The archive with id `id` from the [archive log](crate::ddl::archive_log), as a batch of
    /// root table `T`: [`Error::ArchiveNotFound`] if the log has no such archive, and
    /// [`Error::WrongRoot`] if it was archived from another root table, so an id cannot be
    /// restored as the wrong root. (A restored archive is found too; restoring it again is
    /// [`Error::AlreadyRestored`].)
    pub fn find<C: SqlConnection<Blocking>>(conn: &mut C, id: i64) -> Result<Self, Error> {
        drive(log::find_entry(conn, id))?.batch::<T>()
    }

    /// [`find`](Self::find) on a diesel-async connection (feature `async`).
    #[cfg(feature = "async")]
    pub async fn find_async<C: SqlConnection<NonBlocking>>(
        conn: &mut C,
        id: i64,
    ) -> Result<Self, Error> {
        log::find_entry(conn, id).await?.batch::<T>()
    }

    /// [`restore`](Self::restore), recording who restored it in the archive log.
    pub fn restore_by<C: SqlConnection<Blocking>>(
        &self,
        conn: &mut C,
        by: impl Into<String>,
    ) -> Result<Restored, Error> {
        drive(self.run_restore(conn, Some(by.into())))
    }

    /// [`restore_by`](Self::restore_by) on a diesel-async connection (feature `async`).
    #[cfg(feature = "async")]
    pub async fn restore_by_async<C: SqlConnection<NonBlocking>>(
        &self,
        conn: &mut C,
        by: impl Into<String>,
    ) -> Result<Restored, Error> {
        self.run_restore(conn, Some(by.into())).await
    }

    /// Brings back exactly what this batch archived, and puts back the links it cut, in one
    /// transaction. Rows other batches archived stay archived; a link changed since the
    /// archive is left alone (also one a later archive cut again, which that archive's restore
    /// puts back); rows deleted by `cascade(hard_delete)` are gone.
    ///
    /// The restore is recorded in the [archive log](crate::ddl::archive_log) (when, and by whom
    /// with [`restore_by`](Self::restore_by)), in the same transaction, and happens once: a
    /// second restore of the batch, also a concurrent one, returns [`Error::AlreadyRestored`];
    /// a batch the log does not have, [`Error::ArchiveNotFound`].
    ///
    /// A [purge](crate::purge) deletes archived rows for good. A batch none of whose rows is
    /// left (the log counts what it archived) is refused with [`Error::ArchivePurged`]: nothing
    /// is written and the log does not call it restored. A batch purged in part (old children
    /// of a parent the purge kept) restores what is left, and [`Restored::missing`] lists per
    /// table the rows that did not come back. (A batch that archived nothing restores nothing,
    /// and is marked restored.)
    ///
    /// Active-unique keys (`#[active_unique(...)]` on the models of the graph) are checked
    /// before anything is written, with one query per key per table: when a row of the batch
    /// would become a second live row of a key, held by a live row or by another row of the
    /// batch, the restore returns [`Error::Conflict`] naming the table, key, values and that row
    /// ([`KeyConflict::live_id`](crate::unique::KeyConflict::live_id),
    /// [`holder`](crate::unique::KeyConflict::holder)), and changes nothing. A link put back
    /// into a key's column is checked the same way before it is written.
    ///
    /// A unique key no model declares (a plain unique index, a partial index without
    /// `#[active_unique]`, a PostgreSQL exclusion constraint) is left to the database: its
    /// violation rolls everything back and returns [`Error::RestoreConflict`] with the
    /// database's message, also when the constraint is `DEFERRABLE INITIALLY DEFERRED` and
    /// refuses at the restore's `COMMIT`. (Called inside a transaction of the caller's, the
    /// restore commits nothing itself: a deferred check then fails the caller's `COMMIT`, as a
    /// plain Diesel error.) If a declared key's
    /// index refuses a row anyway (a live row committed by another transaction after the
    /// check), the batch's rows are checked again after the rollback, and a live row found
    /// holding one of their keys is named in an [`Error::Conflict`].
    pub fn restore<C: SqlConnection<Blocking>>(&self, conn: &mut C) -> Result<Restored, Error> {
        drive(self.run_restore(conn, None))
    }

    /// [`restore`](Self::restore) on a diesel-async connection (feature `async`). Dropped half
    /// way, it leaves the database unchanged (see [`Collector::archive_async`]).
    #[cfg(feature = "async")]
    pub async fn restore_async<C: SqlConnection<NonBlocking>>(
        &self,
        conn: &mut C,
    ) -> Result<Restored, Error> {
        self.run_restore(conn, None).await
    }

    #[cfg_attr(feature = "tracing", tracing::instrument(name = "restore", level = "info", skip_all,
        fields(table = %T::sql_name(), batch_id = self.values.id, rows = tracing::field::Empty)))]
    async fn run_restore<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        by: Option<String>,
    ) -> Result<Restored, Error> {
        let graph = Graph::build(T::node())?;
        // A refused restore rolls back: a table that cannot would keep half of it.
        let session = refuse_without_transactions(
            conn,
            &graph,
            "a batch restore on a table without transactions (MyISAM, Aria, MEMORY)",
        )
        .await?;
        let collations =
            catalog::collations(conn, session, &archive::journal_columns(&graph)).await?;
        match self
            .restore_once(conn, &graph, by.as_deref(), &collations)
            .await
        {
            Ok(restored) => {
                trace::record!(rows = restored.total_rows());
                Ok(restored)
            }
            Err(error) => Err(missing_log(conn, error).await),
        }
    }

    async fn restore_once<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        graph: &Graph,
        by: Option<&str>,
        collations: &catalog::Collations,
    ) -> Result<Restored, Error> {
        let values = self.values;
        if restore_statement::fits(graph, <C::Backend as SupportedBackend>::DIALECT) {
            if let Some(restored) = restore_statement::run(conn, graph, values, by).await? {
                return Ok(restored);
            }
        }
        let mut transaction = Transaction::begin(conn, Begin::Plain).await?;
        let outcome = catalog::in_utc(transaction.conn(), None, async |conn: &mut C| {
            let archived = log::claim(conn, values, &graph.nodes[0].name, by).await?;
            restore::run(conn, graph, values, collations, archived).await
        })
        .await;
        // An error of the COMMIT is a deferred constraint's.
        let outcome = transaction
            .finish_or(outcome, |error| restore::commit_conflict(error, graph))
            .await;
        let error = match outcome {
            Err(error @ Error::RestoreConflict { .. }) => error,
            other => return other,
        };
        // Rolled back: the batch's rows are archived again, and a live row that a concurrent
        // transaction committed after the check is visible now.
        let mut transaction = Transaction::begin(conn, Begin::Plain).await?;
        let found = restore::rows_conflict(transaction.conn(), graph, values).await;
        match transaction.finish(found).await {
            Ok(Some(conflict)) => Err(conflict),
            Ok(None) | Err(_) => Err(error),
        }
    }
}

impl<T> Batch<T> {
    /// The batch's id (its archive log row's id), also written to `#[soft_delete(batch)]`
    /// columns and to the journal.
    pub fn id(&self) -> i64 {
        self.values.id
    }

    /// The batch's timestamp, written to every deletion time column it touched.
    pub fn stamp(&self) -> crate::Timestamp {
        self.values.stamp
    }
}

/// What [`Collector::archive`] did: its batch, and the plan it carried out.
#[derive(Debug)]
pub struct Archived<T> {
    batch: Batch<T>,
    plan: Plan,
}

impl<T> Archived<T> {
    /// The batch, to restore it.
    pub fn batch(&self) -> Batch<T> {
        self.batch
    }

    /// What was archived, nulled, reset and deleted.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }
}
