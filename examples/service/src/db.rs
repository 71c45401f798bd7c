//! The database: PostgreSQL when `DATABASE_URL` says so, an embedded SQLite file otherwise;
//! the pools, and the migrations applied at start-up.
//!
//! Every handler runs on a diesel-async connection from a deadpool pool
//! ([`with_conn!`](crate::with_conn)); the migrations run once at start-up on a sync
//! connection (diesel_migrations is sync).

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncPgConnection, SimpleAsyncConnection};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use soft_delete_runtime::backend::Dialect;

/// The SQLite connection diesel-async drives (on tokio's blocking pool).
pub type AsyncSqlite = SyncConnectionWrapper<SqliteConnection>;

/// The migrations for PostgreSQL, the library's DDL included.
pub const PG_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
/// The migrations for SQLite, the library's DDL included.
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// What every SQLite connection runs first: wait for a writer instead of failing with
/// `database is locked`, let readers run beside the writer, enforce foreign keys.
const SQLITE_SETUP: &str =
    "PRAGMA busy_timeout = 10000; PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;";

/// How long a request waits for a pooled connection before it answers 503: without a bound
/// an exhausted pool would leave requests hanging until a connection frees up.
pub const POOL_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// A PostgreSQL advisory lock key: replicas starting together apply the migrations one at a
/// time (the second finds them applied).
const MIGRATION_LOCK: i64 = 0x5D_5E_4B_1C;

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// Connecting failed.
    #[error("cannot connect to {url}: {source}")]
    Connect {
        /// The URL (without password, as given).
        url: String,
        /// Why.
        source: diesel::ConnectionError,
    },
    /// A migration failed.
    #[error("migrations failed: {0}")]
    Migrate(String),
    /// A pool could not be built.
    #[error("pool: {0}")]
    Pool(String),
    /// A statement failed.
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// The pools of one backend.
#[derive(Clone)]
pub enum Db {
    /// PostgreSQL.
    Postgres {
        /// The async pool every handler uses.
        pool: Pool<AsyncPgConnection>,
    },
    /// SQLite.
    Sqlite {
        /// The async pool every handler uses.
        pool: Pool<AsyncSqlite>,
    },
}

/// The database a `DATABASE_URL` names: PostgreSQL for `postgres://` and `postgresql://`, a
/// SQLite file otherwise (`sqlite://` prefix optional), `soft-delete-service.db` when unset.
pub fn dialect_of(url: &str) -> Dialect {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Dialect::Postgres
    } else {
        Dialect::Sqlite
    }
}

impl Db {
    /// Opens the database `url` names (see [`dialect_of`]), applies the pending migrations
    /// and builds the pools (`size` connections each).
    pub async fn open(url: &str, size: usize) -> Result<Db, DbError> {
        let url = url.to_owned();
        match dialect_of(&url) {
            Dialect::Postgres => {
                let migrate_url = url.clone();
                run_blocking(move || migrate_postgres(&migrate_url)).await?;
                let manager = AsyncDieselConnectionManager::<AsyncPgConnection>::new(url.clone());
                let pool = Pool::builder(manager)
                    .max_size(size)
                    .wait_timeout(Some(POOL_WAIT))
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()
                    .map_err(|e| DbError::Pool(e.to_string()))?;
                Ok(Db::Postgres { pool })
            }
            _ => {
                let path = url.strip_prefix("sqlite://").unwrap_or(&url).to_owned();
                let migrate_path = path.clone();
                run_blocking(move || migrate_sqlite(&migrate_path)).await?;
                let mut config = ManagerConfig::<AsyncSqlite>::default();
                config.custom_setup = Box::new(|url| {
                    let url = url.to_owned();
                    Box::pin(async move {
                        let mut conn = AsyncSqlite::establish(&url).await?;
                        conn.batch_execute(SQLITE_SETUP)
                            .await
                            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                        Ok(conn)
                    })
                });
                let manager = AsyncDieselConnectionManager::<AsyncSqlite>::new_with_config(
                    path.clone(),
                    config,
                );
                let pool = Pool::builder(manager)
                    .max_size(size)
                    .wait_timeout(Some(POOL_WAIT))
                    .runtime(deadpool::Runtime::Tokio1)
                    .build()
                    .map_err(|e| DbError::Pool(e.to_string()))?;
                Ok(Db::Sqlite { pool })
            }
        }
    }

    /// The backend.
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Postgres { .. } => Dialect::Postgres,
            Db::Sqlite { .. } => Dialect::Sqlite,
        }
    }
}

async fn run_blocking(
    work: impl FnOnce() -> Result<(), DbError> + Send + 'static,
) -> Result<(), DbError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| DbError::Migrate(e.to_string()))?
}

fn migrate_postgres(url: &str) -> Result<(), DbError> {
    let mut conn = PgConnection::establish(url).map_err(|source| DbError::Connect {
        url: url.to_owned(),
        source,
    })?;
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let result = conn
        .run_pending_migrations(PG_MIGRATIONS)
        .map(drop)
        .map_err(|e| DbError::Migrate(e.to_string()));
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    result
}

/// How long a replica starting beside another waits for the SQLite file's lock.
const SQLITE_START_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

fn migrate_sqlite(path: &str) -> Result<(), DbError> {
    let mut conn = SqliteConnection::establish(path).map_err(|source| DbError::Connect {
        url: path.to_owned(),
        source,
    })?;
    // Switching the journal mode does not wait for the busy timeout: while a replica started
    // beside this one holds the file's lock it fails at once with "database is locked", so
    // it is tried again until the deadline.
    let deadline = std::time::Instant::now() + SQLITE_START_WAIT;
    loop {
        match conn.batch_execute(SQLITE_SETUP) {
            Ok(()) => break,
            Err(diesel::result::Error::DatabaseError(_, info))
                if info.message().contains("locked") && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(error) => return Err(error.into()),
        }
    }
    // One replica at a time, as PostgreSQL's advisory lock does: the write lock first (a
    // second replica waits for it, then finds the migrations applied), each migration a
    // savepoint inside.
    conn.immediate_transaction(|conn| {
        conn.run_pending_migrations(SQLITE_MIGRATIONS)
            .map(drop)
            .map_err(|e| DbError::Migrate(e.to_string()))
    })
}

/// Runs `$body` with `$conn` bound to a `&mut` diesel-async connection of `$db`'s pool
/// (`AsyncPgConnection` or the SQLite wrapper): the body is compiled once per backend, so it
/// is plain Diesel code with concrete types. Use inside an `async fn` returning
/// `Result<_, ApiError>`.
#[macro_export]
macro_rules! with_conn {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres { pool, .. } => {
                let mut pooled = pool.get().await?;
                let $conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
                $body
            }
            $crate::db::Db::Sqlite { pool, .. } => {
                let mut pooled = pool.get().await?;
                let $conn: &mut $crate::db::AsyncSqlite = &mut pooled;
                $body
            }
        }
    };
}

/// Runs `$body` (a `Result<_, ApiError>`) in a transaction that writes, with `$conn` bound to
/// the transaction's connection of `$db`'s pool, and answers its value (or its error through
/// `?`). On SQLite the transaction begins `IMMEDIATE`: one begun plainly that reads before it
/// writes cannot wait for another writer, and its first write fails at once with "database is
/// locked" whatever the busy timeout (the library's collector docs say the same of archives).
#[macro_export]
macro_rules! with_write_transaction {
    ($db:expr, $conn:ident => $body:expr) => {
        match $db {
            $crate::db::Db::Postgres { pool, .. } => {
                let mut pooled = pool.get().await?;
                let conn: &mut diesel_async::AsyncPgConnection = &mut pooled;
                diesel_async::AsyncConnection::transaction::<_, $crate::error::ApiError, _>(
                    conn,
                    async |$conn| $body,
                )
                .await?
            }
            $crate::db::Db::Sqlite { pool, .. } => {
                let mut pooled = pool.get().await?;
                let conn: &mut $crate::db::AsyncSqlite = &mut pooled;
                conn.immediate_transaction::<_, $crate::error::ApiError, _>(async |$conn| $body)
                    .await?
            }
        }
    };
}

/// The library's DDL the service needs, for `dialect`: the journal (links `set_null` cut),
/// the archive log, the active-unique indexes of members' emails and exam attempts. The
/// migrations hold these statements; a test checks they are exactly these.
pub fn library_ddl(dialect: Dialect) -> Vec<String> {
    use soft_delete_runtime::ddl;
    let mut statements = vec![
        ddl::journal::create_table(dialect),
        ddl::journal::create_link_index(dialect),
        ddl::archive_log::create_table(dialect),
    ];
    statements.extend(ddl::active_unique::<crate::models::Member>(dialect));
    statements.extend(ddl::active_unique::<crate::models::Attempt>(dialect));
    statements
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up_sql(dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Postgres => {
                include_str!("../migrations/postgres/2026-12-03-000000_create_service/up.sql")
            }
            _ => include_str!("../migrations/sqlite/2026-12-03-000000_create_service/up.sql"),
        }
    }

    #[test]
    fn database_url_picks_the_backend() {
        assert_eq!(dialect_of("postgres://u@h/db"), Dialect::Postgres);
        assert_eq!(dialect_of("postgresql://u@h/db"), Dialect::Postgres);
        assert_eq!(dialect_of("sqlite://app.db"), Dialect::Sqlite);
        assert_eq!(dialect_of("app.db"), Dialect::Sqlite);
    }

    #[test]
    fn the_migrations_hold_the_librarys_ddl() {
        for dialect in [Dialect::Postgres, Dialect::Sqlite] {
            let up = up_sql(dialect);
            let missing: Vec<String> = library_ddl(dialect)
                .into_iter()
                .filter(|statement| !up.contains(&format!("{statement};")))
                .collect();
            assert!(
                missing.is_empty(),
                "{dialect:?} migration lacks:\n{}",
                missing.join(";\n")
            );
        }
    }
}
