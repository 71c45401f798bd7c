//! The guard as a Diesel [`Instrumentation`]: every statement a connection starts is checked
//! (once per distinct text) and its leaks panic, are logged or are counted.

use std::collections::HashMap;
use std::fmt::{self, Write as _};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use diesel::connection::{Instrumentation, InstrumentationEvent};

use super::allow::allowed;
use super::check::{Checker, Leak, Unreadable};
#[cfg(sqlite_trace)]
use super::sqlite_trace::{self, Slot};
use crate::backend::Dialect;

/// What the guard does with a leak or an unreadable statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Panic, naming the table and the statement: for tests and CI, where a leak must fail
    /// the run. An unreadable statement panics too.
    Panic,
    /// Log a warning through `tracing` (target `soft_delete_runtime::guard`) with the table
    /// and the statement, the first time each statement text is seen: for production.
    #[cfg(feature = "tracing")]
    Log,
    /// Only count ([`Counts`]): for metrics.
    Count,
}

/// What a guard saw, counted since it was made (shared by every connection of a guard made by
/// [`install_default`]).
#[derive(Debug, Default)]
pub struct Counts {
    statements: AtomicU64,
    leaky: AtomicU64,
    unreadable: AtomicU64,
    allowed: AtomicU64,
}

impl Counts {
    /// Statements started and checked (allowed ones excluded).
    pub fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    /// Statements started that had at least one leak.
    pub fn leaky(&self) -> u64 {
        self.leaky.load(Ordering::Relaxed)
    }

    /// Statements started that the parser could not read.
    pub fn unreadable(&self) -> u64 {
        self.unreadable.load(Ordering::Relaxed)
    }

    /// Statements started inside an [`allow`](super::allow) and not checked.
    pub fn allowed(&self) -> u64 {
        self.allowed.load(Ordering::Relaxed)
    }
}

/// The checker's answer for one statement text, kept in the cache.
struct Verdict {
    outcome: Result<Vec<Leak>, Unreadable>,
    /// Whether `Mode::Log` has reported it already.
    #[cfg_attr(not(feature = "tracing"), allow(dead_code))]
    logged: AtomicBool,
}

/// The most statement texts a cache keeps; past that it starts over. Prepared statements
/// repeat their text, so a program's working set is far smaller; texts with inlined values
/// (raw SQL built with `format!`) would otherwise grow it without bound.
const CACHE_LIMIT: usize = 8192;

/// Verdicts by statement text. Hashed with foldhash: the lookup runs for every statement, and
/// SipHash over a statement's text cost more than the rest of the guard's work on a cached
/// statement; the cache's size is bounded, which limits what colliding texts could do.
type Verdicts = HashMap<Box<str>, Arc<Verdict>, foldhash::fast::RandomState>;

/// A checker and the verdicts it gave, by dialect and statement text.
struct Shared {
    checker: Option<Checker>,
    cache: [RwLock<Verdicts>; 3],
}

impl Shared {
    fn new(checker: Option<Checker>) -> Shared {
        Shared {
            checker,
            cache: Default::default(),
        }
    }

    /// The one for the registry, shared by every guard that checks against it.
    fn registry() -> Arc<Shared> {
        static REGISTRY: OnceLock<Arc<Shared>> = OnceLock::new();
        Arc::clone(REGISTRY.get_or_init(|| Arc::new(Shared::new(None))))
    }

    fn verdict(&self, dialect: Dialect, sql: &str) -> Arc<Verdict> {
        let slot = &self.cache[dialect as usize];
        if let Some(verdict) = slot.read().ok().and_then(|cache| cache.get(sql).cloned()) {
            return verdict;
        }
        let checker = self.checker.as_ref().unwrap_or_else(|| Checker::registry());
        let verdict = Arc::new(Verdict {
            outcome: checker.check(sql, dialect),
            logged: AtomicBool::new(false),
        });
        if let Ok(mut cache) = slot.write() {
            if cache.len() >= CACHE_LIMIT {
                cache.clear();
            }
            cache.insert(sql.into(), Arc::clone(&verdict));
        }
        verdict
    }
}

/// The visibility guard: a Diesel [`Instrumentation`] that checks every statement a connection
/// starts and reports each read of a soft-deletable table that does not state its visibility.
///
/// Install it on one connection with `conn.set_instrumentation(Guard::new(dialect, mode))`
/// (a diesel-async connection takes it the same way), or on every connection made from now on
/// with [`install_default`] (on SQLite the cheaper one: see there).
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::guard::{Guard, Mode};
/// # diesel::table! { users (id) { id -> Integer, deleted_at -> Nullable<Timestamp> } }
/// # #[derive(Queryable, SoftDelete)]
/// # struct User { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
///
/// let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// # diesel::sql_query("CREATE TABLE users (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP)").execute(conn)?;
/// let guard = Guard::new(Dialect::Sqlite, Mode::Count);
/// let counts = guard.counts();
/// conn.set_instrumentation(guard);
///
/// users::table.active().count().get_result::<i64>(conn)?; // states it
/// users::table.count().get_result::<i64>(conn)?; // forgets
/// assert_eq!((counts.statements(), counts.leaky()), (2, 1));
/// # Ok::<(), diesel::result::Error>(())
/// ```
pub struct Guard {
    /// `None` until the connection's URL tells it (a guard made by [`install_default`]).
    dialect: Option<Dialect>,
    mode: Mode,
    shared: Arc<Shared>,
    counts: Arc<Counts>,
    /// The trace of the SQLite connection this guard was installed on as it opened, whose
    /// texts it checks instead of rendering each statement (see `sqlite_trace`).
    #[cfg(sqlite_trace)]
    traced: Option<Arc<Slot>>,
    /// The verdicts this guard's connection needed, in front of the shared cache: a traced
    /// statement is then checked without a lock (`None` while in use).
    #[cfg(sqlite_trace)]
    memo: Option<Verdicts>,
    /// Whether the traced statement running now started inside an [`allow`](super::allow):
    /// what `StartQuery` saw, used when it is checked at `FinishQuery` (a cursor may be read
    /// to its end, and reported finished, after the allow it started in ended, or inside one
    /// it started before).
    #[cfg(sqlite_trace)]
    allowed_at_start: bool,
}

impl fmt::Debug for Guard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("dialect", &self.dialect)
            .field("mode", &self.mode)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl Guard {
    /// A guard for a connection of `dialect`, checking against every registered table.
    pub fn new(dialect: Dialect, mode: Mode) -> Guard {
        Guard::make(Some(dialect), mode, Shared::registry(), Arc::default())
    }

    /// A guard checking against `checker`'s tables instead of the registry (with a cache of
    /// its own).
    pub fn with_checker(dialect: Dialect, mode: Mode, checker: Checker) -> Guard {
        let shared = Arc::new(Shared::new(Some(checker)));
        Guard::make(Some(dialect), mode, shared, Arc::default())
    }

    /// The one place a guard is put together.
    fn make(
        dialect: Option<Dialect>,
        mode: Mode,
        shared: Arc<Shared>,
        counts: Arc<Counts>,
    ) -> Guard {
        Guard {
            dialect,
            mode,
            shared,
            counts,
            #[cfg(sqlite_trace)]
            traced: None,
            #[cfg(sqlite_trace)]
            memo: None,
            #[cfg(sqlite_trace)]
            allowed_at_start: false,
        }
    }

    /// What this guard has seen so far; the handle stays valid after the guard is moved into
    /// a connection.
    pub fn counts(&self) -> Arc<Counts> {
        Arc::clone(&self.counts)
    }

    /// Shares `counts` with other guards (those of one pool, or of [`install_default`]).
    pub fn counting_into(mut self, counts: Arc<Counts>) -> Guard {
        self.counts = counts;
        self
    }

    /// Checks one statement as a connection would report it and reacts as the mode says.
    /// `statement` is the text of `StartQuery`'s `query`: the SQL, optionally followed by
    /// Diesel's ` -- binds: [...]`, which is ignored.
    pub fn inspect(&self, statement: &str) {
        self.inspect_sql_allowed(allowed(), strip_binds(statement));
    }

    fn inspect_sql_allowed(&self, allowed: bool, sql: &str) {
        self.inspect_texts(allowed, &[sql], |dialect, sql| {
            self.shared.verdict(dialect, sql)
        });
    }

    /// Checks the texts of one statement (several when SQLite runs a batch one statement at a
    /// time), counted as one statement, with the verdicts `verdict` gives; `allowed` is whether
    /// the statement started inside an allow.
    fn inspect_texts<S: AsRef<str>>(
        &self,
        allowed: bool,
        texts: &[S],
        mut verdict: impl FnMut(Dialect, &str) -> Arc<Verdict>,
    ) {
        if allowed {
            self.counts.allowed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        self.counts.statements.fetch_add(1, Ordering::Relaxed);
        let Some(dialect) = self.dialect else {
            self.counts.unreadable.fetch_add(1, Ordering::Relaxed);
            if self.mode == Mode::Panic && !std::thread::panicking() {
                let sql = texts.first().map_or("", AsRef::as_ref);
                panic!("the visibility guard does not know this connection's dialect; install it with `Guard::new(dialect, mode)`\n  statement: {sql}");
            }
            return;
        };
        let (mut leaky, mut unreadable) = (false, false);
        for sql in texts {
            let sql = sql.as_ref();
            let verdict = verdict(dialect, sql);
            match &verdict.outcome {
                Ok(leaks) if leaks.is_empty() => {}
                Ok(leaks) => {
                    if !std::mem::replace(&mut leaky, true) {
                        self.counts.leaky.fetch_add(1, Ordering::Relaxed);
                    }
                    self.react(sql, |f| {
                        for leak in leaks {
                            writeln!(f, "{leak}")?;
                        }
                        Ok(())
                    });
                    #[cfg(feature = "tracing")]
                    if self.mode == Mode::Log && !verdict.logged.swap(true, Ordering::Relaxed) {
                        for leak in leaks {
                            tracing::warn!(
                                target: "soft_delete_runtime::guard",
                                table = %leak.table,
                                reference = %leak.reference,
                                kind = ?leak.kind,
                                statement = sql,
                                "{leak}"
                            );
                        }
                    }
                }
                Err(error) => {
                    if !std::mem::replace(&mut unreadable, true) {
                        self.counts.unreadable.fetch_add(1, Ordering::Relaxed);
                    }
                    self.react(sql, |f| writeln!(f, "{error}"));
                    #[cfg(feature = "tracing")]
                    if self.mode == Mode::Log && !verdict.logged.swap(true, Ordering::Relaxed) {
                        tracing::warn!(
                            target: "soft_delete_runtime::guard",
                            statement = sql,
                            "{error}"
                        );
                    }
                }
            }
        }
    }

    /// Panics in [`Mode::Panic`] with what `describe` writes and the statement (unless the
    /// thread is already unwinding: a statement reported finished while a panic drops it).
    fn react(&self, sql: &str, describe: impl Fn(&mut String) -> fmt::Result) {
        if self.mode == Mode::Panic && !std::thread::panicking() {
            let mut message = String::from("soft-delete visibility guard:\n");
            let _ = describe(&mut message);
            let _ = write!(message, "  statement: {sql}");
            panic!("{message}");
        }
    }
}

impl Instrumentation for Guard {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::StartEstablishConnection { url, .. } => {
                self.dialect.get_or_insert_with(|| dialect_of_url(url));
                #[cfg(sqlite_trace)]
                sqlite_trace::forget_opened();
            }
            #[cfg(sqlite_trace)]
            InstrumentationEvent::FinishEstablishConnection { error: None, .. }
                if self.dialect == Some(Dialect::Sqlite) =>
            {
                self.traced = sqlite_trace::take_opened();
            }
            #[cfg(sqlite_trace)]
            InstrumentationEvent::StartQuery { .. } if self.traced.is_some() => {
                // The text comes from SQLite's trace when the statement runs; checked below,
                // allowed or not as it is now.
                self.allowed_at_start = allowed();
                if let Some(slot) = &self.traced {
                    slot.arm();
                }
            }
            #[cfg(sqlite_trace)]
            InstrumentationEvent::FinishQuery { query, .. } if self.traced.is_some() => {
                let allowed = std::mem::take(&mut self.allowed_at_start);
                let mut memo = self.memo.take().unwrap_or_default();
                if let Some(slot) = &self.traced {
                    slot.finish(|texts| match texts {
                        Some(texts) => self.inspect_texts(allowed, texts, |dialect, sql| {
                            if let Some(verdict) = memo.get(sql) {
                                return Arc::clone(verdict);
                            }
                            let verdict = self.shared.verdict(dialect, sql);
                            if memo.len() >= CACHE_LIMIT {
                                memo.clear();
                            }
                            memo.insert(sql.into(), Arc::clone(&verdict));
                            verdict
                        }),
                        // Not run (a cursor dropped unread, a statement that failed to
                        // prepare) or not traced: the text Diesel renders.
                        None => self.inspect_rendered(allowed, query),
                    });
                }
                self.memo = Some(memo);
            }
            InstrumentationEvent::StartQuery { query, .. } => {
                self.inspect_rendered(allowed(), query);
            }
            _ => {}
        }
    }
}

impl Guard {
    /// Checks `query` as Diesel renders it (`allowed`: whether it started inside an allow).
    fn inspect_rendered(&self, allowed: bool, query: &(impl fmt::Display + ?Sized)) {
        SQL_BUFFER.with(|buffer| {
            let mut buffer = buffer.borrow_mut();
            // A query Diesel cannot build is not sent: Diesel reports why.
            if render_sql(&mut buffer, query) {
                self.inspect_sql_allowed(allowed, &buffer);
            }
        });
    }
}

thread_local! {
    /// The text of the statement being checked, reused so a cached statement costs no allocation.
    static SQL_BUFFER: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

#[cfg(test)]
thread_local! {
    /// How many statements this thread rendered: the tests see which path the guard took.
    static RENDERED: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

const BINDS: &str = " -- binds: ";

/// Writes the SQL of `query` into `buffer`, without Diesel's ` -- binds: [...]` (whose
/// rendering is skipped: the writer stops when it starts); `false` when the query cannot be
/// rendered (Diesel fails to build it, as an update whose changeset sets nothing).
fn render_sql(buffer: &mut String, query: &(impl fmt::Display + ?Sized)) -> bool {
    struct UntilBinds<'b> {
        sql: &'b mut String,
        at_binds: bool,
    }
    impl fmt::Write for UntilBinds<'_> {
        fn write_str(&mut self, s: &str) -> fmt::Result {
            if s.starts_with(BINDS) {
                self.at_binds = true;
                return Err(fmt::Error);
            }
            self.sql.push_str(s);
            Ok(())
        }
    }
    #[cfg(test)]
    RENDERED.with(|rendered| rendered.set(rendered.get() + 1));
    buffer.clear();
    let mut writer = UntilBinds {
        sql: buffer,
        at_binds: false,
    };
    if write!(writer, "{query}").is_err() && !writer.at_binds {
        return false;
    }
    let end = strip_binds(buffer).len();
    buffer.truncate(end);
    true
}

/// `sql -- binds: [...]` without its binds.
fn strip_binds(statement: &str) -> &str {
    match statement.rfind(BINDS) {
        Some(at) => &statement[..at],
        None => statement,
    }
}

/// The dialect of a connection URL: `postgres://` and `postgresql://` are PostgreSQL,
/// `mysql://` and `mariadb://` MySQL, anything else (a path, `:memory:`, `file:`) SQLite.
fn dialect_of_url(url: &str) -> Dialect {
    let scheme = url
        .split_once("://")
        .map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("postgres" | "postgresql") => Dialect::Postgres,
        Some("mysql" | "mariadb") => Dialect::Mysql,
        _ => Dialect::Sqlite,
    }
}

/// The mode of the guards [`install_default`] makes.
static DEFAULT: RwLock<Option<Mode>> = RwLock::new(None);
/// Their shared counts.
static DEFAULT_COUNTS: OnceLock<Arc<Counts>> = OnceLock::new();

fn default_counts() -> Arc<Counts> {
    Arc::clone(DEFAULT_COUNTS.get_or_init(Arc::default))
}

/// Installs the guard in `mode` on every Diesel connection established from now on, in this
/// process (through `diesel::connection::set_default_instrumentation`), and returns the counts
/// all of them share. Each connection's dialect is read from its URL. A connection may still
/// replace it with `set_instrumentation`.
///
/// On SQLite (feature `sqlite`) this also has SQLite trace every connection opened from now on
/// (`sqlite3_trace_v2`): the guard it puts on such a connection checks the text SQLite stored
/// when it prepared each statement, which costs nothing to get, instead of having Diesel render
/// the statement again at every execution (see the guide's "Cost"). A guard put on an open
/// connection with `set_instrumentation` cannot reach its trace and renders. A connection
/// without a guard only pays a flag read per statement.
///
/// ```
/// # use diesel::prelude::*;
/// use soft_delete_runtime::guard::{self, Mode};
/// let counts = guard::install_default(Mode::Count)?;
/// let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// diesel::sql_query("SELECT 1").execute(conn)?;
/// assert!(counts.statements() >= 1);
/// # Ok::<(), diesel::result::Error>(())
/// ```
pub fn install_default(mode: Mode) -> diesel::QueryResult<Arc<Counts>> {
    if let Ok(mut default) = DEFAULT.write() {
        *default = Some(mode);
    }
    #[cfg(sqlite_trace)]
    sqlite_trace::trace_new_connections();
    diesel::connection::set_default_instrumentation(make_default)?;
    Ok(default_counts())
}

fn make_default() -> Option<Box<dyn Instrumentation>> {
    let mode = (*DEFAULT.read().ok()?)?;
    Some(Box::new(Guard::make(
        None,
        mode,
        Shared::registry(),
        default_counts(),
    )))
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::result::{EmptyChangeset, Error::QueryBuilderError};

    use super::*;
    use crate::guard::Checker;

    diesel::table! {
        notes (id) {
            id -> Integer,
            body -> Text,
        }
    }

    #[derive(AsChangeset)]
    #[diesel(table_name = notes)]
    struct Body {
        body: Option<String>,
    }

    #[test]
    fn a_statement_diesel_cannot_build_is_left_to_diesel() {
        let mut conn = SqliteConnection::establish(":memory:").unwrap();
        conn.batch_execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
            .unwrap();
        let guard = Guard::with_checker(Dialect::Sqlite, Mode::Panic, Checker::new([]));
        let counts = guard.counts();
        conn.set_instrumentation(guard);
        // Diesel reports the update that sets nothing when it builds the statement; the guard,
        // which cannot render it either, must not panic in its place or count it.
        let error = diesel::update(notes::table)
            .set(Body { body: None })
            .execute(&mut conn)
            .unwrap_err();
        assert!(
            matches!(&error, QueryBuilderError(e) if e.is::<EmptyChangeset>()),
            "{error:?}"
        );
        assert_eq!((counts.statements(), counts.unreadable()), (0, 0));
        // A statement it can render is still checked.
        diesel::update(notes::table)
            .set(Body {
                body: Some("a".into()),
            })
            .execute(&mut conn)
            .unwrap();
        assert_eq!(counts.statements(), 1);
    }

    #[cfg(sqlite_trace)]
    mod traced {
        use diesel::connection::SimpleConnection;
        use diesel::prelude::*;

        use super::super::*;
        use crate::guard::TableInfo;
        use crate::sql::backend::TableName;
        use crate::table::StrategyKind;

        fn rendered() -> usize {
            RENDERED.with(std::cell::Cell::get)
        }

        thread_local! {
            /// The guard the next connection this thread opens gets as its default.
            static NEXT: std::cell::RefCell<Option<Guard>> = const { std::cell::RefCell::new(None) };
        }

        fn next_guard() -> Option<Box<dyn Instrumentation>> {
            let guard = NEXT.with(|next| next.borrow_mut().take())?;
            Some(Box::new(guard))
        }

        /// A connection opened as `install_default` opens one (its guard made as the
        /// connection's default instrumentation, on this thread only), with a table `t`.
        fn guarded(mode: Mode) -> (SqliteConnection, Arc<Counts>) {
            sqlite_trace::trace_new_connections();
            let checker = Checker::new([TableInfo::new(
                TableName {
                    schema: None,
                    name: "t".into(),
                },
                "deleted_at",
                StrategyKind::Timestamp,
            )]);
            let mut guard = Guard::with_checker(Dialect::Sqlite, mode, checker);
            guard.dialect = None;
            let counts = guard.counts();
            NEXT.with(|next| *next.borrow_mut() = Some(guard));
            diesel::connection::set_default_instrumentation(next_guard).unwrap();
            let mut conn = SqliteConnection::establish(":memory:").unwrap();
            let guard = conn.instrumentation().downcast_mut::<Guard>().unwrap();
            assert_eq!(guard.dialect, Some(Dialect::Sqlite), "read from the URL");
            assert!(
                guard.traced.is_some(),
                "the guard took its connection's trace"
            );
            crate::guard::allow(|| {
                conn.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY, deleted_at TEXT)")
            })
            .unwrap();
            (conn, counts)
        }

        #[derive(QueryableByName)]
        struct Id {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            id: i32,
        }

        diesel::table! {
            t (id) {
                id -> Integer,
                deleted_at -> Nullable<Text>,
            }
        }

        #[test]
        fn a_traced_connection_is_checked_from_sqlites_text_without_rendering() {
            let (mut conn, counts) = guarded(Mode::Count);
            crate::guard::allow(|| conn.batch_execute("INSERT INTO t VALUES (1, NULL)")).unwrap();
            let before = rendered();
            for _ in 0..3 {
                let ids: Vec<Id> = diesel::sql_query("SELECT id FROM t")
                    .load(&mut conn)
                    .unwrap();
                assert!(ids.iter().all(|row| row.id > 0));
                diesel::sql_query("SELECT id FROM t WHERE deleted_at IS NULL")
                    .execute(&mut conn)
                    .unwrap();
                // Prepared once and cached by Diesel; SQLite prepares a statement with a bound
                // `LIMIT` again at each run, and traces it each time.
                let first: Option<i32> = t::table
                    .select(t::id)
                    .filter(t::deleted_at.is_null())
                    .first(&mut conn)
                    .optional()
                    .unwrap();
                assert_eq!(first, Some(1));
                let all: Vec<i32> = t::table.select(t::id).load(&mut conn).unwrap();
                assert_eq!(all, [1]);
            }
            assert_eq!((counts.statements(), counts.leaky()), (12, 6));
            assert_eq!(
                rendered(),
                before,
                "the statements' texts came from the trace"
            );
        }

        #[test]
        fn a_batch_is_one_statement_and_each_of_its_statements_is_checked() {
            let (mut conn, counts) = guarded(Mode::Count);
            conn.batch_execute("SELECT 1; SELECT id FROM t; SELECT 2")
                .unwrap();
            assert_eq!((counts.statements(), counts.leaky()), (1, 1));
        }

        #[test]
        fn a_statement_that_never_runs_is_rendered_and_checked() {
            let (mut conn, counts) = guarded(Mode::Count);
            let before = rendered();
            // A cursor dropped unread: SQLite never starts the statement, so nothing traces it.
            drop(
                diesel::sql_query("SELECT id FROM t")
                    .load_iter::<Id, diesel::connection::DefaultLoadingMode>(&mut conn)
                    .unwrap(),
            );
            assert_eq!((counts.statements(), counts.leaky()), (1, 1));
            assert_eq!(rendered(), before + 1);
        }

        #[test]
        #[should_panic(expected = "statement: SELECT id FROM t")]
        fn a_leak_on_a_traced_connection_panics_when_diesel_reports_it_finished() {
            let (mut conn, _) = guarded(Mode::Panic);
            let _ = diesel::sql_query("SELECT id FROM t").execute(&mut conn);
        }

        #[test]
        fn a_cursor_is_allowed_or_checked_where_it_starts_as_on_an_untraced_connection() {
            use diesel::connection::DefaultLoadingMode;
            let (mut conn, counts) = guarded(Mode::Count);
            crate::guard::allow(|| conn.batch_execute("INSERT INTO t VALUES (1, NULL)")).unwrap();
            let (statements, allowed) = (counts.statements(), counts.allowed());
            // Started outside an allow and read to its end inside one: a leak all the same.
            let rows = diesel::sql_query("SELECT id FROM t")
                .load_iter::<Id, DefaultLoadingMode>(&mut conn)
                .unwrap();
            crate::guard::allow(|| assert_eq!(rows.count(), 1));
            assert_eq!(
                (counts.statements() - statements, counts.leaky()),
                (1, 1),
                "the cursor started outside the allow is checked"
            );
            // Started inside an allow and read outside it: allowed, as the untraced guard does.
            let rows = {
                let _allow = crate::guard::Allow::here();
                diesel::sql_query("SELECT id FROM t")
                    .load_iter::<Id, DefaultLoadingMode>(&mut conn)
                    .unwrap()
            };
            assert_eq!(rows.count(), 1);
            assert_eq!(
                (counts.statements() - statements, counts.allowed() - allowed),
                (1, 1),
                "the cursor started inside the allow is allowed"
            );
        }

        #[test]
        fn an_allowed_read_on_a_traced_connection_is_not_checked() {
            let (mut conn, counts) = guarded(Mode::Panic);
            crate::guard::allow(|| diesel::sql_query("SELECT id FROM t").execute(&mut conn))
                .unwrap();
            assert_eq!((counts.statements(), counts.allowed()), (0, 2));
        }
    }
}
