//! `retry_async()` through diesel-async against the sync `retry()` on OS threads, doing the same
//! work in the same run on PostgreSQL: 64 keys retried `ROUNDS_PER_KEY` times each, by 64 tokio
//! tasks sharing a deadpool of 8 connections (a service's shape), and by 8 threads with a
//! connection each, 8 keys per thread. Prints a `RATIO` line (sync time / async time; 1.00 = the
//! async service does the work as fast as the thread pool).
//!
//! The machine is shared, so the two alternate (sync, async, async, sync, ...) over several
//! rounds and the medians are compared.
//!
//! The same work is also done without the library, by the two statements it sends written by
//! hand (`diesel::sql_query`: the live row read, then one data-modifying CTE), on the same
//! threads and the same pool, in the same rounds: a second `RATIO` line gives what the two
//! executors themselves make of the same two round trips, the floor the library's ratio is
//! read against.
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

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable, SoftDelete)]
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

/// The live row of a key (`$1`, `$2`), as the library reads it.
const READ: &str = "SELECT id, exam_id, learner_id, active, retry FROM attempts \
                    WHERE exam_id = $1 AND learner_id = $2 AND active";
/// The library's one statement by hand: retires row `$1` if still live, inserts its successor.
const REPLACE: &str =
    "WITH retired AS (UPDATE attempts SET active = false WHERE id = $1 AND active \
                       RETURNING 1) INSERT INTO attempts (exam_id, learner_id, active, retry) \
                       SELECT $2, $3, true, $4 WHERE EXISTS (SELECT 1 FROM retired) \
                       RETURNING id, exam_id, learner_id, active, retry";

fn read(
    exam: i32,
) -> diesel::query_builder::BoxedSqlQuery<'static, diesel::pg::Pg, diesel::query_builder::SqlQuery>
{
    diesel::sql_query(READ)
        .into_boxed()
        .bind::<diesel::sql_types::Integer, _>(exam)
        .bind::<diesel::sql_types::Integer, _>(1)
}

fn replace(
    old: &Attempt,
) -> diesel::query_builder::BoxedSqlQuery<'static, diesel::pg::Pg, diesel::query_builder::SqlQuery>
{
    diesel::sql_query(REPLACE)
        .into_boxed()
        .bind::<diesel::sql_types::Integer, _>(old.id)
        .bind::<diesel::sql_types::Integer, _>(old.exam_id)
        .bind::<diesel::sql_types::Integer, _>(old.learner_id)
        .bind::<diesel::sql_types::Integer, _>(old.retry + 1)
}

/// Who does the retries: the library or its two statements by hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Library,
    ByHand,
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
fn threads(schema: &BenchSchema, side: Side) -> Duration {
    let mut connections: Vec<PgConnection> = (0..THREADS).map(|_| schema.connect()).collect();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (thread, conn) in connections.iter_mut().enumerate() {
            scope.spawn(move || {
                for _ in 0..ROUNDS_PER_KEY {
                    for exam in (0..KEYS).filter(|k| k % THREADS == thread as i32) {
                        if side == Side::Library {
                            Attempt::retry(conn, (exam, 1), successor).expect("retry");
                        } else {
                            let old: Attempt = read(exam).get_result(conn).expect("read");
                            let _: Attempt = replace(&old).get_result(conn).expect("replace");
                        }
                    }
                }
            });
        }
    });
    start.elapsed()
}

/// 64 tasks, one per key, through a pool of 8 connections.
fn tasks(
    runtime: &tokio::runtime::Runtime,
    pool: &Pool<AsyncPgConnection>,
    side: Side,
) -> Duration {
    runtime.block_on(async {
        let start = Instant::now();
        let handles: Vec<_> = (0..KEYS)
            .map(|exam| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    for _ in 0..ROUNDS_PER_KEY {
                        let mut conn = pool.get().await.expect("a pooled connection");
                        if side == Side::Library {
                            Attempt::retry_async(&mut conn, (exam, 1), successor)
                                .await
                                .expect("retry");
                        } else {
                            let old: Attempt =
                                diesel_async::RunQueryDsl::get_result(read(exam), &mut conn)
                                    .await
                                    .expect("read");
                            let _: Attempt =
                                diesel_async::RunQueryDsl::get_result(replace(&old), &mut conn)
                                    .await
                                    .expect("replace");
                        }
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
    tasks(&runtime, &pool, Side::Library);
    threads(&schema, Side::Library);

    // times[side][is_async]
    let mut times: [[Vec<Duration>; 2]; 2] = Default::default();
    let runs = [
        (Side::Library, false),
        (Side::Library, true),
        (Side::ByHand, true),
        (Side::ByHand, false),
    ];
    for round in 0..ROUNDS {
        // Forward in even rounds, backward in odd ones: a load that rises or falls weighs on
        // every run alike.
        let mut order = runs;
        if round % 2 == 1 {
            order.reverse();
        }
        for (side, is_async) in order {
            reset(&schema);
            let time = if is_async {
                tasks(&runtime, &pool, side)
            } else {
                threads(&schema, side)
            };
            times[side as usize][usize::from(is_async)].push(time);
        }
    }
    let retries = KEYS as usize * ROUNDS_PER_KEY;
    for (side, label) in [
        (Side::Library, "retry_async"),
        (Side::ByHand, "the same two statements by hand"),
    ] {
        let [sync, asynchronous] = times[side as usize].clone().map(median);
        println!(
            "RATIO {label}: {retries} retries, 64 tasks on 8 pooled connections {:.1} ms vs 8 threads {:.1} ms (medians of {ROUNDS}) -> throughput ratio {:.2} (1.00 = as fast as the threads)",
            asynchronous.as_secs_f64() * 1e3,
            sync.as_secs_f64() * 1e3,
            sync.as_secs_f64() / asynchronous.as_secs_f64(),
        );
    }
}
