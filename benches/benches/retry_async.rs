//! `retry_async()` through diesel-async against the sync `retry()` on OS threads, doing the same
//! work in the same run on PostgreSQL: 64 keys retried `ROUNDS_PER_KEY` times each, by 64 tokio
//! tasks sharing a deadpool of 8 connections (a service's shape), and by 8 threads with a
//! connection each, 8 keys per thread. Prints a `RATIO` line (sync time / async time; 1.00 = the
//! async service does the work as fast as the thread pool).
//!
//! The machine is shared, so the two alternate (sync, async, async, sync, ...) over several
//! rounds and the medians are compared.
//!
//! Run with `cargo bench -p soft-delete-benches --bench retry_async` (PostgreSQL at
//! `PG_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::AsyncPgConnection;
use soft_delete_benches::BenchSchema;
use soft_delete_runtime::asynchronous::ActiveUniqueAsync;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::prelude::*;

diesel::table! {
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        active -> Bool,
        retry -> Integer,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = attempts, check_for_backend(diesel::pg::Pg))]
#[active_unique(fields = "exam_id, learner_id", counter = retry)]
struct Attempt {
    id: i32,
    exam_id: i32,
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
    retry: i32,
}

#[derive(Insertable)]
#[diesel(table_name = attempts)]
struct NewAttempt {
    exam_id: i32,
    learner_id: i32,
    active: bool,
    retry: i32,
}

fn successor(old: &Attempt, retry: i32) -> NewAttempt {
    NewAttempt {
        exam_id: old.exam_id,
        learner_id: old.learner_id,
        active: true,
        retry,
    }
}

const KEYS: i32 = 64;
const THREADS: i32 = 8;
const CONNECTIONS: usize = 8;
const ROUNDS_PER_KEY: usize = 10;
const ROUNDS: usize = 9;

/// A fresh table with the key's index and one live attempt per key.
fn reset(schema: &BenchSchema) {
    let mut conn = schema.connect();
    conn.batch_execute(
        "DROP TABLE IF EXISTS attempts;
         CREATE TABLE attempts (id SERIAL PRIMARY KEY, exam_id INTEGER NOT NULL, learner_id INTEGER NOT NULL,
                                active BOOLEAN NOT NULL, retry INTEGER NOT NULL)",
    )
    .expect("create the table");
    for statement in soft_delete_runtime::ddl::active_unique::<Attempt>(Dialect::Postgres) {
        conn.batch_execute(&statement).expect("create the key");
    }
    for exam in 0..KEYS {
        Attempt::start(&mut conn, (exam, 1), |retry| NewAttempt {
            exam_id: exam,
            learner_id: 1,
            active: true,
            retry,
        })
        .expect("first attempt");
    }
}

/// 8 threads, a connection each, 8 keys each.
fn threads(schema: &BenchSchema) -> Duration {
    let mut connections: Vec<PgConnection> = (0..THREADS).map(|_| schema.connect()).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (thread, conn) in connections.iter_mut().enumerate() {
            scope.spawn(move || {
                for _ in 0..ROUNDS_PER_KEY {
                    for exam in (0..KEYS).filter(|k| k % THREADS == thread as i32) {
                        Attempt::retry(conn, (exam, 1), successor).expect("retry");
                    }
                }
            });
        }
    });
    start.elapsed()
}

/// 64 tasks, one per key, through a pool of 8 connections.
fn tasks(runtime: &tokio::runtime::Runtime, pool: &Pool<AsyncPgConnection>) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..KEYS)
            .map(|exam| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..ROUNDS_PER_KEY {
                        let mut conn = pool.get().await.expect("a pooled connection");
                        Attempt::retry_async(&mut conn, (exam, 1), successor)
                            .await
                            .expect("retry");
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.await.expect("a task");
        }
        start.elapsed()
    })
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn main() {
    let schema = BenchSchema::create("sd_bench_retry_async");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    // `Fast` recycling: a connection goes back into use without diesel-async's default
    // `SELECT 1` check, a round trip per `get()` that the threads do not pay.
    let mut config = ManagerConfig::default();
    config.recycling_method = RecyclingMethod::Fast;
    let manager =
        AsyncDieselConnectionManager::<AsyncPgConnection>::new_with_config(schema.url(), config);
    let pool = Pool::builder(manager)
        .max_size(CONNECTIONS)
        .build()
        .expect("a deadpool pool");

    // Warm-up, untimed: the pool opens its 8 connections, the runtime starts its workers.
    reset(&schema);
    tasks(&runtime, &pool);
    threads(&schema);

    let (mut sync_times, mut async_times) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        // sync, async, async, sync: a load that rises or falls weighs on both alike.
        let order: [bool; 2] = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for is_async in order {
            reset(&schema);
            if is_async {
                async_times.push(tasks(&runtime, &pool));
            } else {
                sync_times.push(threads(&schema));
            }
        }
    }
    let (sync, asynchronous) = (median(sync_times), median(async_times));
    let retries = KEYS as usize * ROUNDS_PER_KEY;
    println!(
        "RATIO retry_async: {retries} retries, 64 tasks on 8 pooled connections {:.1} ms vs 8 threads {:.1} ms (medians of {ROUNDS}) -> throughput ratio {:.2} (1.00 = as fast as the threads)",
        asynchronous.as_secs_f64() * 1e3,
        sync.as_secs_f64() * 1e3,
        sync.as_secs_f64() / asynchronous.as_secs_f64(),
    );
}
