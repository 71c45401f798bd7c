//! `retry()` on PostgreSQL against a hand-written Diesel transaction doing the same statements
//! (`BEGIN`, `SELECT ... FOR UPDATE`, `UPDATE ... SET active = false`, `INSERT ... RETURNING`,
//! `COMMIT`), in the same run: on one connection, and on 8 threads retrying 8 distinct keys at
//! once. Prints `RATIO` lines (baseline time / library time; 1.00 = as fast as hand-written).
//!
//! The machine is shared, so each pair is measured in the order library, hand-written,
//! hand-written, library, and the ratio of the sums is the result: a load that rises or falls
//! during the run weighs on both sides alike.
//!
//! Run with `cargo bench -p soft-delete-benches --bench retry` (PostgreSQL at
//! `PG_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`).

use std::time::{Duration, Instant};

use criterion::Criterion;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_benches::{mean_nanos, ratio, BenchSchema};
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

const THREADS: usize = 8;

/// The library: one call.
fn library(conn: &mut PgConnection, exam: i32) -> Attempt {
    Attempt::retry(conn, (exam, 1), |old, retry| NewAttempt {
        exam_id: old.exam_id,
        learner_id: old.learner_id,
        active: true,
        retry,
    })
    .expect("retry")
}

/// The same statements, written by hand.
fn hand_written(conn: &mut PgConnection, exam: i32) -> Attempt {
    conn.transaction(|conn| {
        let current: Attempt = attempts::table
            .filter(attempts::exam_id.eq(exam))
            .filter(attempts::learner_id.eq(1))
            .filter(attempts::active)
            .select(Attempt::as_select())
            .for_update()
            .get_result(conn)?;
        diesel::update(attempts::table.find(current.id))
            .filter(attempts::active)
            .set(attempts::active.eq(false))
            .execute(conn)?;
        diesel::insert_into(attempts::table)
            .values(NewAttempt {
                exam_id: current.exam_id,
                learner_id: current.learner_id,
                active: true,
                retry: current.retry + 1,
            })
            .returning(Attempt::as_returning())
            .get_result(conn)
    })
    .expect("hand-written retry")
}

/// A fresh table with the key's index and one live attempt for each of `THREADS` exams.
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
    for exam in 0..THREADS as i32 {
        Attempt::start(&mut conn, (exam, 1), |retry| NewAttempt {
            exam_id: exam,
            learner_id: 1,
            active: true,
            retry,
        })
        .expect("first attempt");
    }
}

fn single(c: &mut Criterion, schema: &BenchSchema) {
    let group_name = "retry_single_thread";
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    let mut conn = schema.connect();
    for (name, op) in ABBA {
        reset(schema);
        group.bench_function(name, |b| b.iter(|| op(&mut conn, 0)));
    }
    group.finish();
    abba_ratio(group_name);
}

/// One retry of exam `i32`'s key on the connection.
type Op = fn(&mut PgConnection, i32) -> Attempt;

/// The measurement order: library, hand-written, hand-written, library.
const ABBA: [(&str, Op); 4] = [
    ("library", library),
    ("hand_written", hand_written),
    ("hand_written_again", hand_written),
    ("library_again", library),
];

/// Prints each pair's ratio and the ratio of the sums, the result.
fn abba_ratio(group: &str) {
    ratio(group, "library", "hand_written");
    ratio(group, "library_again", "hand_written_again");
    let mean = |name| mean_nanos(group, name).expect("criterion wrote its estimates");
    let ours = mean("library") + mean("library_again");
    let baseline = mean("hand_written") + mean("hand_written_again");
    println!(
        "RATIO {group} (ABBA): library {:.3} ms vs hand_written {:.3} ms -> throughput ratio {:.2} (1.00 = hand-written)",
        ours / 2e6,
        baseline / 2e6,
        baseline / ours
    );
}

/// `THREADS` threads, each retrying its own key `iters` times; the time of one round of
/// `THREADS` concurrent retries.
fn parallel(conns: &mut [PgConnection], iters: u64, op: Op) -> Duration {
    let start = Instant::now();
    std::thread::scope(|scope| {
        for (exam, conn) in conns.iter_mut().enumerate() {
            scope.spawn(move || {
                for _ in 0..iters {
                    op(conn, exam as i32);
                }
            });
        }
    });
    start.elapsed()
}

fn threads(c: &mut Criterion, schema: &BenchSchema) {
    let group_name = "retry_8_threads_distinct_keys";
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let mut conns: Vec<PgConnection> = (0..THREADS).map(|_| schema.connect()).collect();
    for (name, op) in ABBA {
        reset(schema);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| parallel(&mut conns, iters, op))
        });
    }
    group.finish();
    abba_ratio(group_name);
}

fn main() {
    let schema = BenchSchema::create("bench_retry");
    let mut c = Criterion::default().configure_from_args();
    single(&mut c, &schema);
    threads(&mut c, &schema);
    c.final_summary();
}
