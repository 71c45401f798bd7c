//! The async API (feature `async`) on diesel-async's connection of each backend: every
//! active-unique operation and the guarded restore, writers racing through a deadpool and a
//! bb8 pool, and a cancelled operation that leaves the database as it was and its pool usable.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::asynchronous::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::asynchronous::{self, AsyncTwin};
use soft_delete_tests::{async_backend_tests, Backend, TestConnection, TestDb};

use crate::unique::{attempt, create_with_keys, exam_attempts, live_id_of, ExamAttempt};

async_backend_tests! {
    async fn every_key_operation_awaited(db) {
        create_with_keys(db)?;
        let mut conn = asynchronous::connect::<Conn>(db).await;
        let conn = &mut conn;

        let first = ExamAttempt::start_async(conn, (1, 7), |n| attempt(1, 7, n)).await?;
        assert_eq!(first.retry, 0);
        let err = ExamAttempt::start_async(conn, (1, 7), |n| attempt(1, 7, n)).await.unwrap_err();
        assert_eq!(live_id_of(&err), Some(first.id), "{err:?}");

        let second = ExamAttempt::retry_async(conn, (1, 7), |old, n| attempt(old.exam_id, old.learner_id, n)).await?;
        let third = ExamAttempt::retry_async(conn, (1, 7), |old, n| attempt(old.exam_id, old.learner_id, n)).await?;
        assert_eq!((second.retry, third.retry), (1, 2));

        let live = ExamAttempt::find_live_async(conn, (1, 7)).await?;
        assert_eq!(live.as_ref().map(|a| a.id), Some(third.id));
        let history = ExamAttempt::history_async(conn, (1, 7)).await?;
        assert_eq!(history.iter().map(|a| a.retry).collect::<Vec<_>>(), [2, 1, 0]);
        assert_eq!(history.iter().filter(|a| a.active).count(), 1);

        // upsert: updates the live row, or inserts the key's first one
        let bumped = ExamAttempt::upsert_async(conn, (1, 7), |n| attempt(1, 7, n), |live: &ExamAttempt| {
            exam_attempts::retry.eq(live.retry + 10)
        })
        .await?;
        assert_eq!((bumped.id, bumped.retry), (third.id, 12));
        let fresh = ExamAttempt::upsert_async(conn, (2, 7), |n| attempt(2, 7, n), |live: &ExamAttempt| {
            exam_attempts::retry.eq(live.retry + 10)
        })
        .await?;
        assert_eq!(fresh.retry, 0);

        // the guarded restore: a retired row cannot come back while its key has a live row
        let err = first.restore_async(conn).await.unwrap_err();
        assert_eq!(live_id_of(&err), Some(third.id), "{err:?}");
        diesel::update(exam_attempts::table.find(third.id))
            .set(exam_attempts::active.eq(false))
            .execute(db.conn())?;
        assert_eq!(first.restore_async(conn).await?, 1);
        let live = ExamAttempt::find_live_async(conn, (1, 7)).await?;
        assert_eq!(live.map(|a| a.id), Some(first.id));
        assert_eq!(
            first.restore_and_set_async(conn, exam_attempts::retry.eq(40)).await?,
            0,
            "a live row is not restored again"
        );
        Ok(())
    }

    async fn every_operation_runs_on_a_spawned_task(db) {
        create_with_keys(db)?;
        let conn = asynchronous::connect::<Conn>(db).await;
        // `tokio::spawn` (what an axum handler needs too) takes only `Send` futures: the
        // operations' futures are, on each backend.
        let task = tokio::spawn(async move {
            let mut conn = conn;
            let first = ExamAttempt::start_async(&mut conn, (3, 7), |n| attempt(3, 7, n)).await?;
            ExamAttempt::retry_async(&mut conn, (3, 7), |old, n| attempt(old.exam_id, old.learner_id, n)).await?;
            let live = ExamAttempt::upsert_async(&mut conn, (3, 7), |n| attempt(3, 7, n), |live: &ExamAttempt| {
                exam_attempts::retry.eq(live.retry + 1)
            })
            .await?;
            let refused = first.restore_async(&mut conn).await;
            // through a marker of its choice (here the primary one), by value, and setting
            let marker = exam_attempts::active;
            let refused_marked = first.marker(marker).restore_async(&mut conn).await;
            let refused_and_set = first
                .marker(marker)
                .restore_and_set_async(&mut conn, exam_attempts::retry.eq(40))
                .await;
            let found = ExamAttempt::find_live_async(&mut conn, (3, 7)).await?;
            let history = ExamAttempt::history_async(&mut conn, (3, 7)).await?;
            Ok::<_, Error>((live, [refused, refused_marked, refused_and_set], found, history))
        });
        let (live, refused, found, history) = task.await??;
        assert_eq!(live.retry, 2);
        for refused in refused {
            assert_eq!(live_id_of(&refused.unwrap_err()), Some(live.id));
        }
        assert_eq!(found.map(|a| a.id), Some(live.id));
        assert_eq!(history.len(), 2);
        Ok(())
    }

    /// The explicit allow on diesel-async: `allow_async` where the connection runs its
    /// statements on the thread that polls it (PostgreSQL, MySQL), `spawn_blocking` with `allow`
    /// for `SyncConnectionWrapper` (SQLite), whose statements run on the blocking pool.
    async fn a_raw_read_of_every_row_is_allowed_on_an_async_connection(db) {
        create_with_keys(db)?;
        ExamAttempt::start(db.conn(), (1, 7), |n| attempt(1, 7, n))?;
        let mut conn = asynchronous::connect::<Conn>(db).await;
        // Panics under the test's guard unless the read is allowed.
        let rows = <Conn as ReadEveryRow>::read_every_row(&mut conn).await?;
        assert_eq!(rows, 1);
        Ok(())
    }
}

/// Locks row `id` of `exam_attempts` for the rest of `conn`'s transaction: a raw read of
/// every state, allowed by the guard on purpose.
fn lock_row(conn: &mut impl SimpleConnection, id: i32) -> diesel::QueryResult<()> {
    soft_delete_runtime::guard::allow(|| {
        conn.batch_execute(&format!(
            "SELECT id FROM exam_attempts WHERE id = {id} FOR UPDATE"
        ))
    })
}

/// Retries of one key by 8 tasks through `$pool` (8 connections, each handed out by
/// `$pool.$get()` and passed to the operation as the pool's own connection type): exactly one
/// live row, no retired row lost, counters without gaps, and only typed outcomes. The tasks
/// run on a multi-threaded runtime (`tokio::spawn`).
macro_rules! retries_race {
    ($db:ident, $pool:ident, $get:ident) => {{
        let key = (100, 7);
        ExamAttempt::start($db.conn(), key, |n| attempt(key.0, key.1, n))?;
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let pool = $pool.clone();
                tokio::spawn(async move {
                    let mut outcomes = Vec::new();
                    for _ in 0..5 {
                        let mut conn = pool.$get().await.expect("a pooled connection");
                        let retried = ExamAttempt::retry_async(&mut conn, key, |old, n| {
                            attempt(old.exam_id, old.learner_id, n)
                        })
                        .await;
                        outcomes.push(retried.map(|_| ()));
                    }
                    outcomes
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for task in tasks {
            outcomes.extend(task.await?);
        }
        drop($pool);
        for outcome in &outcomes {
            match outcome {
                Ok(()) | Err(Error::Contended { .. }) => {}
                Err(other) => panic!("a racing retry failed with {other:?}"),
            }
        }
        let succeeded = outcomes.iter().filter(|o| o.is_ok()).count() as i32;
        assert!(
            succeeded * 4 >= 40 * 3,
            "only {succeeded} of 40 retries succeeded"
        );
        let history = ExamAttempt::history($db.conn(), key)?;
        assert_eq!(
            history.iter().filter(|a| a.active).count(),
            1,
            "exactly one live row"
        );
        let mut counters: Vec<i32> = history.iter().map(|a| a.retry).collect();
        counters.sort_unstable();
        assert_eq!(
            counters,
            (0..=succeeded).collect::<Vec<_>>(),
            "counters 0..k, nothing lost"
        );
        Ok(())
    }};
}

/// The tests that need a server: writers racing through pools, and cancellation.
macro_rules! server_tests {
    ($feature:literal, $module:ident, $conn:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use super::*;
            type Conn = $conn;
            type Async = <Conn as AsyncTwin>::Async;

            /// A deadpool pool of at most `size` guarded connections to the test's database.
            fn deadpool(
                db: &TestDb<Conn>,
                size: usize,
            ) -> diesel_async::pooled_connection::deadpool::Pool<Async> {
                let manager = asynchronous::guarded_manager(db);
                diesel_async::pooled_connection::deadpool::Pool::builder(manager)
                    .max_size(size)
                    .build()
                    .expect("a deadpool pool")
            }

            /// A bb8 pool of at most `size` guarded connections to the test's database.
            async fn bb8(
                db: &TestDb<Conn>,
                size: u32,
            ) -> diesel_async::pooled_connection::bb8::Pool<Async> {
                diesel_async::pooled_connection::bb8::Pool::builder()
                    .max_size(size)
                    .build(asynchronous::guarded_manager(db))
                    .await
                    .expect("a bb8 pool")
            }

            fn run(
                name: &str,
                body: impl FnOnce(&mut TestDb<Conn>) -> soft_delete_tests::TestResult,
            ) {
                soft_delete_tests::run::<Conn>(&format!("{}::{name}", module_path!()), body);
            }

            #[test]
            fn retries_race_through_a_deadpool_pool() {
                run("retries_race_through_a_deadpool_pool", |db| {
                    asynchronous::runtime().block_on(async {
                        create_with_keys(db)?;
                        let pool = deadpool(db, 8);
                        retries_race!(db, pool, get)
                    })
                });
            }

            #[test]
            fn retries_race_through_a_bb8_pool() {
                run("retries_race_through_a_bb8_pool", |db| {
                    asynchronous::runtime().block_on(async {
                        create_with_keys(db)?;
                        let pool = bb8(db, 8).await;
                        retries_race!(db, pool, get_owned)
                    })
                });
            }

            /// A retry whose future is dropped while it waits for a row lock (a request
            /// timeout): nothing it did stays, and its pool of one connection hands out a
            /// working connection again rather than the one with the abandoned transaction.
            #[test]
            fn a_cancelled_retry_changes_nothing_and_the_pool_stays_usable() {
                run(
                    "a_cancelled_retry_changes_nothing_and_the_pool_stays_usable",
                    |db| {
                        asynchronous::runtime().block_on(async {
                            create_with_keys(db)?;
                            let key = (5, 7);
                            let live =
                                ExamAttempt::start(db.conn(), key, |n| attempt(key.0, key.1, n))?;
                            let pool = deadpool(db, 1);

                            // Another connection holds the live row's lock.
                            let mut holder = db.connect();
                            holder.batch_execute("BEGIN")?;
                            lock_row(&mut holder, live.id)?;

                            let mut conn = pool.get().await?;
                            let retry = ExamAttempt::retry_async(&mut conn, key, |old, n| {
                                attempt(old.exam_id, old.learner_id, n)
                            });
                            let waited =
                                tokio::time::timeout(Duration::from_millis(300), retry).await;
                            assert!(waited.is_err(), "the retry waits for the lock: {waited:?}");
                            drop(conn);
                            holder.batch_execute("ROLLBACK")?;

                            // The pool's one connection comes back usable, with no transaction.
                            let mut conn =
                                tokio::time::timeout(Duration::from_secs(10), pool.get())
                                    .await
                                    .expect("the pool hands out a connection")?;
                            let history = ExamAttempt::history_async(&mut conn, key).await?;
                            assert_eq!(
                                history.len(),
                                1,
                                "the cancelled retry left nothing: {history:?}"
                            );
                            let next = ExamAttempt::retry_async(&mut conn, key, |old, n| {
                                attempt(old.exam_id, old.learner_id, n)
                            })
                            .await?;
                            assert_eq!(next.retry, 1);
                            drop(conn);

                            // Seen from another connection: one retired row, one live one, and no
                            // lock left behind (a `FOR UPDATE` of the row does not wait).
                            let mut check = db.connect();
                            if Conn::BACKEND == Backend::Postgres {
                                check.batch_execute("SET lock_timeout = '2s'")?;
                            } else {
                                check.batch_execute("SET innodb_lock_wait_timeout = 2")?;
                            }
                            check.transaction(|check| lock_row(check, next.id))?;
                            let rows = exam_attempts::table
                                .with_deleted()
                                .count()
                                .get_result::<i64>(&mut check)?;
                            assert_eq!(rows, 2);
                            Ok(())
                        })
                    },
                );
            }

            /// A connection held outside a pool whose operation was cancelled mid-transaction
            /// refuses the next operation with a typed error instead of running it inside the
            /// abandoned transaction.
            #[test]
            fn a_held_connection_refuses_work_after_a_cancelled_operation() {
                run(
                    "a_held_connection_refuses_work_after_a_cancelled_operation",
                    |db| {
                        asynchronous::runtime().block_on(async {
                            create_with_keys(db)?;
                            let key = (6, 7);
                            let live =
                                ExamAttempt::start(db.conn(), key, |n| attempt(key.0, key.1, n))?;
                            let mut holder = db.connect();
                            holder.batch_execute("BEGIN")?;
                            lock_row(&mut holder, live.id)?;
                            let mut conn = asynchronous::connect::<Conn>(db).await;
                            let retry = ExamAttempt::retry_async(&mut conn, key, |old, n| {
                                attempt(old.exam_id, old.learner_id, n)
                            });
                            assert!(tokio::time::timeout(Duration::from_millis(300), retry)
                                .await
                                .is_err());
                            holder.batch_execute("ROLLBACK")?;
                            let refused = ExamAttempt::retry_async(&mut conn, key, |old, n| {
                                attempt(old.exam_id, old.learner_id, n)
                            })
                            .await
                            .unwrap_err();
                            assert!(
                                matches!(
                                    refused,
                                    Error::Diesel(diesel::result::Error::BrokenTransactionManager)
                                ),
                                "{refused:?}"
                            );
                            assert_eq!(ExamAttempt::history(db.conn(), key)?.len(), 1);
                            Ok(())
                        })
                    },
                );
            }
        }
    };
}

server_tests!("postgres", postgres_pools, diesel::PgConnection);
server_tests!("mysql", mysql_pools, diesel::MysqlConnection);

#[derive(QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    #[allow(dead_code)]
    id: i32,
}

/// A raw read of every row of `exam_attempts`, allowed, the way each async connection allows it.
trait ReadEveryRow: AsyncTwin {
    async fn read_every_row(conn: &mut Self::Async) -> diesel::QueryResult<usize>;
}

#[cfg(feature = "sqlite")]
impl ReadEveryRow for diesel::SqliteConnection {
    async fn read_every_row(conn: &mut Self::Async) -> diesel::QueryResult<usize> {
        conn.spawn_blocking(|conn| {
            soft_delete_runtime::guard::allow(|| {
                diesel::sql_query("SELECT id FROM exam_attempts").load::<Id>(conn)
            })
        })
        .await
        .map(|rows| rows.len())
    }
}

/// `allow_async` around an `async` block: the statement starts when the block runs, inside
/// the allow (a query future made outside may have started it already).
macro_rules! read_every_row_while_polled {
    ($($feature:literal => $conn:ty),*) => {$(
        #[cfg(feature = $feature)]
        impl ReadEveryRow for $conn {
            async fn read_every_row(conn: &mut Self::Async) -> diesel::QueryResult<usize> {
                soft_delete_runtime::guard::allow_async(async {
                    let read = diesel::sql_query("SELECT id FROM exam_attempts");
                    diesel_async::RunQueryDsl::load::<Id>(read, conn).await
                })
                .await
                .map(|rows| rows.len())
            }
        }
    )*};
}

read_every_row_while_polled!("postgres" => diesel::PgConnection, "mysql" => diesel::MysqlConnection);
