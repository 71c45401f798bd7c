//! One of the processes of the multi-process archive test: archives its share of the roots
//! of [`archive_stress`](soft_delete_tests::archive_stress), one archive per root, each in its
//! own transaction, as fast as it can. A deadlock or lock timeout (MySQL/MariaDB under
//! concurrent archives) rolls the whole archive back, and the archive is tried again.
//!
//! `archive_worker <sqlite|postgres|mysql> <sync|async> <database url> <worker> <workers> <roots>`
//!
//! `async` archives with `archive_async` on the backend's diesel-async connection (feature
//! `async`), in the same transactions as `sync` does with `archive`.

use std::process::ExitCode;

use soft_delete_tests::archive_stress::{roots_of, stress_roots};

/// How often one root's archive is tried before the worker gives up.
const ATTEMPTS: u32 = 20;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [backend, executor, url, worker, workers, roots] = args.as_slice() else {
        eprintln!(
            "usage: archive_worker <sqlite|postgres|mysql> <sync|async> <url> <worker> <workers> <roots>"
        );
        return ExitCode::FAILURE;
    };
    let (Ok(worker), Ok(workers), Ok(roots)) = (
        worker.parse::<i32>(),
        workers.parse::<i32>(),
        roots.parse::<i32>(),
    ) else {
        eprintln!("worker, workers and roots are numbers");
        return ExitCode::FAILURE;
    };
    let result = match (backend.as_str(), executor.as_str()) {
        #[cfg(feature = "sqlite")]
        ("sqlite", "sync") => sqlite(url, worker, workers, roots),
        #[cfg(feature = "postgres")]
        ("postgres", "sync") => postgres(url, worker, workers, roots),
        #[cfg(feature = "mysql")]
        ("mysql", "sync") => mysql(url, worker, workers, roots),
        #[cfg(all(feature = "sqlite", feature = "async"))]
        ("sqlite", "async") => on_async::sqlite(url, worker, workers, roots),
        #[cfg(all(feature = "postgres", feature = "async"))]
        ("postgres", "async") => on_async::postgres(url, worker, workers, roots),
        #[cfg(all(feature = "mysql", feature = "async"))]
        ("mysql", "async") => on_async::mysql(url, worker, workers, roots),
        (backend, executor) => Err(format!("{backend} on {executor} is not compiled in")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("worker {worker}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Archives every root of this worker with `archive`, trying each up to [`ATTEMPTS`] times.
fn archive_all(
    worker: i32,
    workers: i32,
    roots: i32,
    mut archive: impl FnMut(i32) -> Result<(), soft_delete_runtime::Error>,
) -> Result<(), String> {
    for root in roots_of(worker, workers, roots) {
        let mut attempt = 1;
        while let Err(error) = archive(root) {
            if attempt == ATTEMPTS || !retryable(&error) {
                return Err(format!("root {root}, attempt {attempt}: {error}"));
            }
            attempt += 1;
        }
    }
    Ok(())
}

/// Whether `error` is the database giving up on a transaction that waited for another one
/// (a deadlock, a lock wait timeout, a serialization failure): the archive rolled back as a
/// whole and may be tried again. Anything else fails the worker.
fn retryable(error: &soft_delete_runtime::Error) -> bool {
    use diesel::result::{DatabaseErrorKind, Error as DieselError};
    match error {
        soft_delete_runtime::Error::Diesel(DieselError::DatabaseError(kind, info)) => {
            matches!(kind, DatabaseErrorKind::SerializationFailure)
                || [
                    "Deadlock found",
                    "Lock wait timeout",
                    "database is locked",
                    "deadlock detected",
                ]
                .iter()
                .any(|m| info.message().contains(m))
        }
        _ => false,
    }
}

#[cfg(feature = "sqlite")]
fn sqlite(url: &str, worker: i32, workers: i32, roots: i32) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    let mut conn = SqliteConnection::establish(url).map_err(|e| e.to_string())?;
    conn.batch_execute("PRAGMA busy_timeout = 30000")
        .map_err(|e| e.to_string())?;
    archive_all(worker, workers, roots, |root| {
        // SQLite: one writer at a time. An immediate transaction takes the write lock first,
        // so a reader is never asked to become a writer (which SQLite refuses without waiting).
        conn.immediate_transaction(|conn| {
            Collector::new(stress_roots::table.find(root))
                .by(format!("worker {worker}"))
                .archive(conn)
                .map(drop)
        })
    })
}

#[cfg(feature = "postgres")]
fn postgres(url: &str, worker: i32, workers: i32, roots: i32) -> Result<(), String> {
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    let mut conn = PgConnection::establish(url).map_err(|e| e.to_string())?;
    archive_all(worker, workers, roots, |root| {
        Collector::new(stress_roots::table.find(root))
            .by(format!("worker {worker}"))
            .archive(&mut conn)
            .map(drop)
    })
}

#[cfg(feature = "mysql")]
fn mysql(url: &str, worker: i32, workers: i32, roots: i32) -> Result<(), String> {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    let mut conn = MysqlConnection::establish(url).map_err(|e| e.to_string())?;
    // At REPEATABLE READ InnoDB locks every row an UPDATE's subquery reads (here: every root,
    // scanned for the batch's stamp), so concurrent archives deadlock on each other's roots.
    // At READ COMMITTED those reads take no locks (see the README).
    conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
        .map_err(|e| e.to_string())?;
    archive_all(worker, workers, roots, |root| {
        Collector::new(stress_roots::table.find(root))
            .by(format!("worker {worker}"))
            .archive(&mut conn)
            .map(drop)
    })
}

/// The same archives on diesel-async's connections, driven by a tokio runtime of one thread.
#[cfg(feature = "async")]
mod on_async {
    use diesel_async::{AsyncConnection, SimpleAsyncConnection};
    use soft_delete_runtime::collector::Collector;
    use soft_delete_tests::archive_stress::stress_roots;

    use super::archive_all;

    fn runtime() -> Result<tokio::runtime::Runtime, String> {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    }

    #[cfg(feature = "sqlite")]
    pub(super) fn sqlite(url: &str, worker: i32, workers: i32, roots: i32) -> Result<(), String> {
        use diesel::connection::{AnsiTransactionManager, TransactionManager};
        use diesel::prelude::*;
        use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
        let runtime = runtime()?;
        let mut conn = runtime
            .block_on(SyncConnectionWrapper::<SqliteConnection>::establish(url))
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(conn.batch_execute("PRAGMA busy_timeout = 30000"))
            .map_err(|e| e.to_string())?;
        archive_all(worker, workers, roots, |root| {
            runtime.block_on(async {
                // As the sync worker's `immediate_transaction`: the write lock first. The wrapper
                // keeps its transaction state in the inner connection, where this begins it; the
                // archive runs inside it (as a savepoint).
                conn.spawn_blocking(|conn| {
                    AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE")
                })
                .await?;
                let archived = Collector::new(stress_roots::table.find(root))
                    .by(format!("worker {worker}"))
                    .archive_async(&mut conn)
                    .await;
                match archived {
                    Ok(_) => {
                        conn.spawn_blocking(AnsiTransactionManager::commit_transaction)
                            .await?;
                        Ok(())
                    }
                    Err(error) => {
                        conn.spawn_blocking(AnsiTransactionManager::rollback_transaction)
                            .await?;
                        Err(error)
                    }
                }
            })
        })
    }

    #[cfg(feature = "postgres")]
    pub(super) fn postgres(url: &str, worker: i32, workers: i32, roots: i32) -> Result<(), String> {
        use diesel::prelude::*;
        let runtime = runtime()?;
        let mut conn = runtime
            .block_on(diesel_async::AsyncPgConnection::establish(url))
            .map_err(|e| e.to_string())?;
        archive_all(worker, workers, roots, |root| {
            runtime.block_on(
                Collector::new(stress_roots::table.find(root))
                    .by(format!("worker {worker}"))
                    .archive_async(&mut conn),
            )?;
            Ok(())
        })
    }

    #[cfg(feature = "mysql")]
    pub(super) fn mysql(url: &str, worker: i32, workers: i32, roots: i32) -> Result<(), String> {
        use diesel::prelude::*;
        let runtime = runtime()?;
        let mut conn = runtime
            .block_on(diesel_async::AsyncMysqlConnection::establish(url))
            .map_err(|e| e.to_string())?;
        // READ COMMITTED, as the sync worker.
        runtime
            .block_on(conn.batch_execute("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"))
            .map_err(|e| e.to_string())?;
        archive_all(worker, workers, roots, |root| {
            runtime.block_on(
                Collector::new(stress_roots::table.find(root))
                    .by(format!("worker {worker}"))
                    .archive_async(&mut conn),
            )?;
            Ok(())
        })
    }
}
