//! Retention on PostgreSQL: purging 1M soft-deleted rows of a 2M-row table in batches of
//! 10k, against one hand-written `DELETE FROM events WHERE deleted_at < $cutoff` doing the
//! same work, in the same run.
//!
//! Each round loads the table afresh (every other row deleted before the cutoff), runs
//! `VACUUM ANALYZE` and a `CHECKPOINT` (none of it timed), and times one of the two; the
//! table's autovacuum is off, since it would start in the middle of the purge (whose batches
//! commit as they go) but only after the single DELETE, and weigh on one side only; the
//! rounds alternate which goes first, so neither always meets a warmer cache. It prints, per
//! round and as medians, the throughput ratio (DELETE time / purge time: 1.00 = as fast as
//! one statement) and the purge's longest batch, which is how long it held its locks at most
//! (the single DELETE holds them for its whole run).
//!
//! `cargo bench -p soft-delete-benches --bench purge` (needs `PG_DATABASE_URL` or a local
//! server at the default URL). `PURGE_BENCH_ROWS=2000000`, `PURGE_BENCH_BATCH=10000` and
//! `PURGE_BENCH_ROUNDS=3` change the size, the batch and the number of rounds.

use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_benches::BenchSchema;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;

diesel::table! {
    events (id) {
        id -> BigInt,
        payload -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = events)]
#[allow(dead_code)]
struct Event {
    id: i64,
    payload: String,
    deleted_at: Option<NaiveDateTime>,
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn cutoff() -> NaiveDateTime {
    NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}

/// Loads `rows` rows, every other one deleted before the cutoff (a spread of days in 2023),
/// and leaves the table vacuumed and flushed.
fn load(conn: &mut PgConnection, rows: usize) {
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS events;
         CREATE TABLE events (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL, deleted_at TIMESTAMP NULL)
             WITH (autovacuum_enabled = off);
         INSERT INTO events (payload, deleted_at)
         SELECT md5(g::text),
                CASE WHEN g % 2 = 0 THEN TIMESTAMP '2023-01-01' + (g % 365) * INTERVAL '1 day' END
         FROM generate_series(1, {rows}) AS g;"
    ))
    .expect("load the events");
    // One statement each: VACUUM cannot run in the implicit transaction of a batch.
    for sql in ["VACUUM ANALYZE events", "CHECKPOINT"] {
        conn.batch_execute(sql).expect(sql);
    }
}

fn dead(conn: &mut PgConnection) -> i64 {
    events::table
        .only_deleted()
        .count()
        .get_result(conn)
        .expect("count")
}

/// What one timed run took: its time, and for the purge its longest batch and batch count.
type Timing = (Duration, Duration, u64);

/// One purge.
fn purge(conn: &mut PgConnection, batch: usize, expected: u64) -> Timing {
    let started = Instant::now();
    let report = Purge::before(events::table, cutoff().and_utc())
        .batch_size(batch)
        .run(conn)
        .expect("purge");
    let took = started.elapsed();
    assert_eq!(report.deleted(), expected, "{report}");
    assert!(report.batches >= expected.div_ceil(batch as u64));
    (took, report.longest_batch, report.batches)
}

/// The hand-written baseline: one statement.
fn delete(conn: &mut PgConnection, expected: u64) -> Duration {
    let started = Instant::now();
    let n = diesel::delete(events::table.filter(events::deleted_at.lt(cutoff())))
        .execute(conn)
        .expect("delete");
    let took = started.elapsed();
    assert_eq!(n as u64, expected);
    took
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing and expects a
    // quick run.
    let quick = !std::env::args().any(|a| a == "--bench");
    let rows = env("PURGE_BENCH_ROWS", if quick { 20_000 } else { 2_000_000 });
    let batch = env("PURGE_BENCH_BATCH", if quick { 1_000 } else { 10_000 });
    let rounds = env("PURGE_BENCH_ROUNDS", if quick { 1 } else { 3 });
    let schema = BenchSchema::create("purge_bench");
    let conn = &mut schema.connect();
    let expected = (rows / 2) as u64;

    let (mut ratios, mut longest) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut time = |first_purge: bool| {
            load(conn, rows);
            assert_eq!(dead(conn) as u64, expected);
            if first_purge {
                purge(conn, batch, expected)
            } else {
                (delete(conn, expected), Duration::ZERO, 1)
            }
        };
        let purge_first = round % 2 == 0;
        let (a, b) = (time(purge_first), time(!purge_first));
        let ((purge_time, longest_batch, batches), (delete_time, ..)) =
            if purge_first { (a, b) } else { (b, a) };
        let ratio = delete_time.as_secs_f64() / purge_time.as_secs_f64();
        println!(
            "round {}: purge {:.2?} ({} batches of at most {batch} rows, longest {:.2?}) vs one DELETE {:.2?} -> throughput ratio {ratio:.2}",
            round + 1,
            purge_time,
            batches,
            longest_batch,
            delete_time
        );
        ratios.push(ratio);
        longest.push(longest_batch.as_secs_f64() * 1e3);
    }
    println!(
        "RATIO purge: {expected} of {rows} rows in batches of {batch}: median throughput ratio {:.2} \
         (1.00 = one hand-written DELETE), median longest batch {:.1} ms over {rounds} rounds",
        median(&mut ratios),
        median(&mut longest)
    );
}
