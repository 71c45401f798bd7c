//! Test support: one isolated database per test on each backend, DDL written once for all
//! backends, and [`backend_tests!`], which stamps a test body out once per backend.
//!
//! - SQLite: a fresh database file per test (so extra connections can open it too).
//! - PostgreSQL: a schema per test on `PG_DATABASE_URL`, selected through `search_path`.
//! - MySQL/MariaDB: a database per test on the server of `MYSQL_DATABASE_URL`.
//!
//! A backend whose URL is unset is skipped with a printed reason, unless `CI` is set, in
//! which case the test fails: CI must run every backend.
//!
//! Every connection a test gets from [`TestDb`] runs the visibility guard in panic mode
//! ([`guard`]): a read of a soft-deletable table that states no visibility fails the test,
//! unless it is allowed (`soft_delete_runtime::guard::allow`) or says `.with_deleted()`.

pub mod guard;

pub mod archive_stress;
#[cfg(feature = "async")]
pub mod asynchronous;
pub mod exec;
pub mod plans;
pub mod stamp;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::Connection;
use soft_delete_runtime::backend::SupportedBackend;

use crate::guard::{Record, SharedSchema, TestGuard};

/// What a test body returns; `?` works on Diesel's and the runtime's errors.
pub type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// The three backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite (bundled).
    Sqlite,
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
}

impl Backend {
    /// The environment variable holding the server URL, if the backend has a server.
    pub fn url_var(self) -> Option<&'static str> {
        match self {
            Backend::Sqlite => None,
            Backend::Postgres => Some("PG_DATABASE_URL"),
            Backend::Mysql => Some("MYSQL_DATABASE_URL"),
        }
    }

    /// Rewrites portable DDL for this backend. Placeholders:
    /// `{pk}` an auto-increment integer primary key, `{ts}` a timestamp without time zone
    /// (microseconds), `{tstz}` a timestamp with time zone, `{bool}`, `{text}` (indexable
    /// text), `{int}`.
    pub fn ddl(self, portable: &str) -> String {
        let (pk, ts, tstz, text) = match self {
            Backend::Sqlite => (
                "INTEGER PRIMARY KEY AUTOINCREMENT",
                "TIMESTAMP",
                "TIMESTAMPTZ",
                "TEXT",
            ),
            Backend::Postgres => ("SERIAL PRIMARY KEY", "TIMESTAMP", "TIMESTAMPTZ", "TEXT"),
            Backend::Mysql => (
                "INTEGER PRIMARY KEY AUTO_INCREMENT",
                "DATETIME(6)",
                "TIMESTAMP(6)",
                "VARCHAR(255)",
            ),
        };
        portable
            .replace("{pk}", pk)
            .replace("{ts}", ts)
            .replace("{tstz}", tstz)
            .replace("{bool}", "BOOLEAN")
            .replace("{text}", text)
            .replace("{int}", "INTEGER")
    }
}

/// A connection type the tests run on.
pub trait TestConnection:
    Connection<Backend: SupportedBackend> + SimpleConnection + Sized + Send + 'static
{
    /// Which backend it is.
    const BACKEND: Backend;

    /// Creates an isolated database named after `name` on `server` (unused for SQLite) and
    /// returns the URL to connect to it.
    fn create_isolated(server: &str, name: &str) -> String;

    /// Drops what [`create_isolated`](Self::create_isolated) made.
    fn drop_isolated(server: &str, name: &str, url: &str);
}

#[cfg(feature = "sqlite")]
impl TestConnection for diesel::SqliteConnection {
    const BACKEND: Backend = Backend::Sqlite;

    fn create_isolated(_: &str, name: &str) -> String {
        let dir = std::env::temp_dir().join("soft-delete-tests");
        std::fs::create_dir_all(&dir).expect("temp dir is writable");
        let path = dir.join(format!("{name}.db"));
        let _ = std::fs::remove_file(&path);
        path.to_string_lossy().into_owned()
    }

    fn drop_isolated(_: &str, _: &str, url: &str) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let _ = std::fs::remove_file(format!("{url}{suffix}"));
        }
    }
}

#[cfg(feature = "postgres")]
impl TestConnection for diesel::PgConnection {
    const BACKEND: Backend = Backend::Postgres;

    fn create_isolated(server: &str, name: &str) -> String {
        let mut admin = establish::<Self>(server);
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .unwrap_or_else(|e| panic!("cannot create schema {name}: {e}"));
        let separator = if server.contains('?') { '&' } else { '?' };
        format!("{server}{separator}options=-csearch_path%3D{name}")
    }

    fn drop_isolated(server: &str, name: &str, _: &str) {
        if let Ok(mut admin) = Self::establish(server) {
            // As on MySQL below: a leaked connection in a transaction must not hold the DROP.
            let _ = admin.batch_execute(&format!(
                "SET lock_timeout = '20s'; DROP SCHEMA IF EXISTS {name} CASCADE"
            ));
        }
    }
}

#[cfg(feature = "mysql")]
impl TestConnection for diesel::MysqlConnection {
    const BACKEND: Backend = Backend::Mysql;

    fn create_isolated(server: &str, name: &str) -> String {
        let mut admin = establish::<Self>(server);
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {name}; CREATE DATABASE {name} CHARACTER SET utf8mb4"
            ))
            .unwrap_or_else(|e| panic!("cannot create database {name}: {e}"));
        replace_database(server, name)
    }

    fn drop_isolated(server: &str, name: &str, _: &str) {
        if let Ok(mut admin) = Self::establish(server) {
            // A connection of the test still open in a transaction (a test that failed half
            // way and leaked it) holds metadata locks: the DROP would wait for it forever, and
            // every later query of `information_schema` on the server would queue behind the
            // DROP. Give up after a while instead and leave the database behind.
            let _ = admin.batch_execute(&format!(
                "SET SESSION lock_wait_timeout = 20; DROP DATABASE IF EXISTS {name}"
            ));
        }
    }
}

/// `mysql://user@host:port/db?x` with `db` replaced by `name`.
#[cfg_attr(not(feature = "mysql"), allow(dead_code))]
fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{name}", &base[..host_end]);
    if let Some(query) = query {
        let _ = write!(out, "?{query}");
    }
    out
}

fn establish<C: Connection>(url: &str) -> C {
    C::establish(url).unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"))
}

/// A connection to `url` with the visibility guard of the test whose database `schema` describes.
fn guarded<C: TestConnection>(url: &str, schema: &SharedSchema) -> C {
    let mut conn = establish::<C>(url);
    conn.set_instrumentation(TestGuard::new(
        <C::Backend as SupportedBackend>::DIALECT,
        Arc::clone(schema),
    ));
    conn
}

/// Records the SQL of every statement `conn` runs from now on (until its instrumentation is
/// replaced). On a test connection the guard keeps checking them.
pub fn record_statements<C: Connection>(conn: &mut C) -> Arc<Mutex<Vec<String>>> {
    if let Some(test_guard) = conn.instrumentation().downcast_mut::<TestGuard>() {
        return test_guard.record(Record::Statements);
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    conn.set_instrumentation(move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            sink.lock().expect("not poisoned").push(query.to_string());
        }
    });
    seen
}

/// Records the SQL of every statement the test connection `conn` prepares and adds to Diesel's
/// statement cache from now on (Diesel's `CacheQuery` event): a statement sent again after
/// that is not parsed and planned again. Panics on a connection without the test guard.
pub fn record_cached_statements<C: Connection>(conn: &mut C) -> Arc<Mutex<Vec<String>>> {
    conn.instrumentation()
        .downcast_mut::<TestGuard>()
        .expect("a test connection, with the test guard")
        .record(Record::Cached)
}

/// The statement's verb, upper-cased: `SELECT`, `DELETE`, ...
pub fn verb(sql: &str) -> String {
    sql.split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

/// Whether this run is CI, where every backend must run.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// One test's isolated database and its main connection.
pub struct TestDb<C: TestConnection> {
    /// `None` only while the database is dropped: the connection closes first, so that a
    /// transaction a failed test left open on it cannot hold the DROP up.
    conn: Option<C>,
    url: String,
    server: String,
    name: String,
    schema: SharedSchema,
}

impl<C: TestConnection> TestDb<C> {
    /// Creates the isolated database for test `test_path`, or `None` (with a printed reason)
    /// when the backend is not configured and this is not CI.
    pub fn open(test_path: &str) -> Option<Self> {
        let server = match C::BACKEND.url_var() {
            None => String::new(),
            Some(var) => match std::env::var(var) {
                Ok(url) if !url.is_empty() => url,
                _ if under_ci() => panic!("{var} is unset, and CI must run every backend"),
                _ => {
                    // Written to the process's stderr, not through `eprintln!`, which the test
                    // harness captures: a skip must be visible in the output.
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stderr(), "skipped {test_path}: {var} is unset");
                    return None;
                }
            },
        };
        let name = isolated_name(test_path);
        let url = C::create_isolated(&server, &name);
        let schema = SharedSchema::default();
        let conn = guarded::<C>(&url, &schema);
        Some(TestDb {
            conn: Some(conn),
            url,
            server,
            name,
            schema,
        })
    }

    /// The test's main connection.
    pub fn conn(&mut self) -> &mut C {
        self.conn
            .as_mut()
            .expect("the main connection is open until the database is dropped")
    }

    /// A further connection to the same isolated database, guarded like the main one.
    pub fn connect(&self) -> C {
        guarded::<C>(&self.url, &self.schema)
    }

    /// The visibility guard for another connection to this database (a diesel-async one, say):
    /// in panic mode, knowing the tables this test created.
    pub fn test_guard(&self) -> TestGuard {
        TestGuard::new(
            <C::Backend as SupportedBackend>::DIALECT,
            Arc::clone(&self.schema),
        )
    }

    /// The URL of the isolated database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        C::BACKEND
    }

    /// Runs portable DDL (see [`Backend::ddl`]) on the main connection.
    pub fn create(&mut self, portable_ddl: &str) {
        let sql = C::BACKEND.ddl(portable_ddl);
        self.conn()
            .batch_execute(&sql)
            .unwrap_or_else(|e| panic!("DDL failed on {:?}: {e}\n{sql}", C::BACKEND));
    }
}

impl<C: TestConnection> Drop for TestDb<C> {
    fn drop(&mut self) {
        drop(self.conn.take());
        C::drop_isolated(&self.server, &self.name, &self.url);
    }
}

/// A database name unique to this test, process and call, within identifier limits.
fn isolated_name(test_path: &str) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut short: String = test_path
        .rsplit("::")
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("_")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    short.truncate(40);
    format!(
        "sdt_{short}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `body` on a fresh isolated database of backend `C`. Used by [`backend_tests!`].
pub fn run<C: TestConnection>(test_path: &str, body: impl FnOnce(&mut TestDb<C>) -> TestResult) {
    let Some(mut db) = TestDb::<C>::open(test_path) else {
        return;
    };
    if let Err(e) = body(&mut db) {
        panic!("{test_path} on {:?} failed: {e}", C::BACKEND);
    }
}

/// Stamps each test body out once per enabled backend, in modules `sqlite`, `postgres` and
/// `mysql`, with `Conn` the backend's connection type:
///
/// ```text
/// backend_tests! {
///     fn scope_hides_deleted_rows(db) {
///         db.create("CREATE TABLE ...");
///         let conn = db.conn();
///         ...
///         Ok(())
///     }
///
///     fn purge_deletes_old_rows(db, x) {
///         ...
///         let report = x.purge(conn, &mut Purge::before(authors::table, cutoff))?;
///         ...
///     }
/// }
/// ```
///
/// A body that names a second parameter, the executor `x` ([`exec::Exec`]), is stamped out
/// twice per backend: as it is, with `x` running the operations on the sync connection
/// ([`exec::Blocking`]), and (feature `async`) in the backend's module `on_async`, with `x`
/// running them awaited on an async connection to the same database ([`exec::OnAsync`]).
///
/// A test of one backend only names the backend's connection first, in a module compiled with
/// the backend's feature; its tests are stamped out in that module (and its `on_async`):
///
/// ```text
/// #[cfg(feature = "postgres")]
/// mod postgres {
///     backend_tests! {
///         type Conn = diesel::PgConnection;
///
///         fn an_exclusion_constraint_refuses_a_restore(db, x) { ... }
///     }
/// }
/// ```
#[macro_export]
macro_rules! backend_tests {
    ($($(#[$attr:meta])* fn $name:ident($db:ident $(, $x:ident)?) $body:block)*) => {
        $crate::backend_tests!(@backend "sqlite", sqlite, diesel::SqliteConnection, $($(#[$attr])* fn $name($db $(, $x)?) $body)*);
        $crate::backend_tests!(@backend "postgres", postgres, diesel::PgConnection, $($(#[$attr])* fn $name($db $(, $x)?) $body)*);
        $crate::backend_tests!(@backend "mysql", mysql, diesel::MysqlConnection, $($(#[$attr])* fn $name($db $(, $x)?) $body)*);
    };
    (@backend $feature:literal, $module:ident, $conn:ty, $($(#[$attr:meta])* fn $name:ident($db:ident $(, $x:ident)?) $body:block)*) => {
        #[cfg(feature = $feature)]
        $crate::backend_tests!(@module $module, $conn, $($(#[$attr])* fn $name($db $(, $x)?) $body)*);
    };
    (@module $module:ident, $conn:ty, $($(#[$attr:meta])* fn $name:ident($db:ident $(, $x:ident)?) $body:block)*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $crate::backend_tests!(type Conn = $conn; $($(#[$attr])* fn $name($db $(, $x)?) $body)*);
        }
    };
    (type Conn = $conn:ty; $($(#[$attr:meta])* fn $name:ident($db:ident $(, $x:ident)?) $body:block)*) => {
        #[allow(dead_code)]
        type Conn = $conn;
        $(
            $crate::backend_tests!(@sync $(#[$attr])* fn $name($db $(, $x)?) $body);
        )*

        /// The async copies of the bodies that run their operations through `x`.
        #[cfg(feature = "async")]
        mod on_async {
            #[allow(unused_imports)]
            use super::*;
            $(
                $crate::backend_tests!(@async $(#[$attr])* fn $name($db $(, $x)?) $body);
            )*
        }
    };
    (@sync $(#[$attr:meta])* fn $name:ident($db:ident $(, $x:ident)?) $body:block) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            $crate::run::<Conn>(
                concat!(module_path!(), "::", stringify!($name)),
                |$db: &mut $crate::TestDb<Conn>| -> $crate::TestResult {
                    $(let $x = &mut $crate::exec::Blocking;)?
                    $body
                },
            );
        }
    };
    (@async $(#[$attr:meta])* fn $name:ident($db:ident) $body:block) => {};
    (@async $(#[$attr:meta])* fn $name:ident($db:ident, $x:ident) $body:block) => {
        #[test]
        $(#[$attr])*
        fn $name() {
            $crate::run::<Conn>(
                concat!(module_path!(), "::", stringify!($name)),
                |$db: &mut $crate::TestDb<Conn>| -> $crate::TestResult {
                    let mut on_async = $crate::exec::OnAsync::<Conn>::open($db);
                    let $x = &mut on_async;
                    $body
                },
            );
        }
    };
}

/// Stamps each test out once per compiled backend, like [`backend_tests!`], for tests that
/// need no database (e.g. comparing the SQL two queries render): they run wherever the
/// backend's feature is on, with or without a server.
#[macro_export]
macro_rules! per_backend {
    ($($(#[$attr:meta])* fn $name:ident() $body:block)*) => {
        $crate::per_backend!(@backend "sqlite", sqlite, diesel::SqliteConnection, $($(#[$attr])* fn $name() $body)*);
        $crate::per_backend!(@backend "postgres", postgres, diesel::PgConnection, $($(#[$attr])* fn $name() $body)*);
        $crate::per_backend!(@backend "mysql", mysql, diesel::MysqlConnection, $($(#[$attr])* fn $name() $body)*);
    };
    (@backend $feature:literal, $module:ident, $conn:ty, $($(#[$attr:meta])* fn $name:ident() $body:block)*) => {
        #[cfg(feature = $feature)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[allow(dead_code)]
            type Conn = $conn;
            $(
                #[test]
                $(#[$attr])*
                fn $name() $body
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn replaces_the_database_of_a_mysql_url() {
        assert_eq!(
            super::replace_database("mysql://root@127.0.0.1:3306/test", "x"),
            "mysql://root@127.0.0.1:3306/x"
        );
        assert_eq!(
            super::replace_database("mysql://root:pw@h/test?ssl_mode=disabled", "x"),
            "mysql://root:pw@h/x?ssl_mode=disabled"
        );
        assert_eq!(
            super::replace_database("mysql://root@h", "x"),
            "mysql://root@h/x"
        );
    }
}
