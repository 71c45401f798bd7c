//! `retry()` and `retry_new()` on PostgreSQL against a hand-written Diesel transaction doing the
//! work with today's statements (`BEGIN`, `SELECT ... FOR UPDATE`, `UPDATE ... SET active =
//! false`, `INSERT ... RETURNING`, `COMMIT`), in the same run: on one connection, and on 8
//! threads retrying 8 distinct keys at once. Prints `RATIO` lines (baseline time / library time;
//! 1.00 = as fast as hand-written) and the statements each side sends per call. `retry` reads
//! the live row for its closure, then writes (two statements); `retry_new`, whose new row does
//! not depend on the old one, is one statement. `upsert()` and `upsert_new()` of a live key
//! likewise, against the hand-written update (`BEGIN`, `SELECT ... FOR UPDATE`, `UPDATE ...
//! RETURNING`, `COMMIT`). A first argument that is not a flag keeps the forms whose name
//! contains it (`-- upsert`), as it keeps criterion's benchmarks.
//!
//! Two measurements:
//!
//! - criterion, on loopback: each pair measured in the order library, hand-written,
//!   hand-written, library, and the ratio of the sums;
//! - `PAIRED`: rounds of (library, hand-written, hand-written, library), each a fixed number of
//!   retries, and the median over rounds of each round's ratio; on loopback, and with 1 ms
//!   added to every round trip (see `soft_delete_benches::latency`: a network namespace with
//!   netem when the machine allows it, else a delaying proxy in user space; the output says
//!   which, and why); each with durable commits (the server's default: every commit waits for
//!   its WAL flush) and with `synchronous_commit = off` on both sides' connections, which takes
//!   the disk out of the figure and leaves the statements and round trips.
//!
//! Run with `cargo bench -p soft-delete-benches --bench retry` (PostgreSQL at
//! `PG_DATABASE_URL`, default `postgres://postgres@127.0.0.1:5432/test`; the netns needs root).

use std::time::{Duration, Instant};

use criterion::Criterion;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_benches::latency::{self, Added};
use soft_delete_benches::{mean_nanos, median, ratio, BenchSchema, StatementLog};
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

/// The library's one-statement form: the new row without the old one, the counter set by the
/// statement.
fn library_new(conn: &mut PgConnection, exam: i32) -> Attempt {
    Attempt::retry_new(conn, (exam, 1), || {
        (
            attempts::exam_id.eq(exam),
            attempts::learner_id.eq(1),
            attempts::active.eq(true),
        )
    })
    .expect("retry_new")
}

/// `upsert` of a live key: the counter column raised by one, from the live row read.
fn library_upsert(conn: &mut PgConnection, exam: i32) -> Attempt {
    let new = |retry| NewAttempt {
        exam_id: exam,
        learner_id: 1,
        active: true,
        retry,
    };
    Attempt::upsert(conn, (exam, 1), new, |live: &Attempt| {
        attempts::retry.eq(live.retry + 1)
    })
    .expect("upsert")
}

/// `upsert_new` of a live key: the same change, computed by the statement.
fn library_upsert_new(conn: &mut PgConnection, exam: i32) -> Attempt {
    let new = || {
        (
            attempts::exam_id.eq(exam),
            attempts::learner_id.eq(1),
            attempts::active.eq(true),
        )
    };
    Attempt::upsert_new(conn, (exam, 1), new, || {
        attempts::retry.eq(attempts::retry + 1)
    })
    .expect("upsert_new")
}

/// The live attempt of exam `exam`, locked: the hand-written transactions' first statement.
fn lock_live(conn: &mut PgConnection, exam: i32) -> QueryResult<Attempt> {
    attempts::table
        .filter(attempts::exam_id.eq(exam))
        .filter(attempts::learner_id.eq(1))
        .filter(attempts::active)
        .select(Attempt::as_select())
        .for_update()
        .get_result(conn)
}

/// The update of a live key, written by hand: the live row locked, then updated.
fn hand_written_update(conn: &mut PgConnection, exam: i32) -> Attempt {
    conn.transaction(|conn| {
        let current = lock_live(conn, exam)?;
        diesel::update(attempts::table.find(current.id))
            .set(attempts::retry.eq(current.retry + 1))
            .returning(Attempt::as_returning())
            .get_result(conn)
    })
    .expect("hand-written update")
}

/// The same statements, written by hand.
fn hand_written(conn: &mut PgConnection, exam: i32) -> Attempt {
    conn.transaction(|conn| {
        let current = lock_live(conn, exam)?;
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
    let mut conn = PgConnection::establish(schema.url()).expect("connect");
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

fn single(c: &mut Criterion, schema: &BenchSchema, form: Form) {
    let group_name = &format!("{}_single_thread", form.name);
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(8));
    let mut conn = schema.connect();
    for (name, op) in abba(form) {
        reset(schema);
        group.bench_function(name, |b| b.iter(|| op(&mut conn, 0)));
    }
    group.finish();
    abba_ratio(group_name);
}

/// One retry of exam `i32`'s key on the connection.
type Op = fn(&mut PgConnection, i32) -> Attempt;

/// One of the library's operations, and the hand-written transaction it is measured against.
#[derive(Clone, Copy)]
struct Form {
    name: &'static str,
    op: Op,
    baseline: Op,
}

const FORMS: [Form; 4] = [
    Form {
        name: "retry",
        op: library,
        baseline: hand_written,
    },
    Form {
        name: "retry_new",
        op: library_new,
        baseline: hand_written,
    },
    Form {
        name: "upsert",
        op: library_upsert,
        baseline: hand_written_update,
    },
    Form {
        name: "upsert_new",
        op: library_upsert_new,
        baseline: hand_written_update,
    },
];

/// The forms to measure: those whose name contains criterion's filter, the first argument that
/// is neither a flag nor the value of one of criterion's flags that take a value.
fn forms() -> Vec<Form> {
    const TAKE_A_VALUE: [&str; 15] = [
        "-c",
        "--color",
        "-s",
        "--save-baseline",
        "-b",
        "--baseline",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--profile-time",
    ];
    let mut args = std::env::args().skip(1);
    let mut filter = None;
    while let Some(arg) = args.next() {
        if TAKE_A_VALUE.contains(&arg.as_str()) {
            args.next();
        } else if !arg.starts_with('-') {
            filter = Some(arg);
            break;
        }
    }
    FORMS
        .into_iter()
        .filter(|form| {
            filter
                .as_ref()
                .is_none_or(|f| form.name.contains(f.as_str()))
        })
        .collect()
}

/// The measurement order: library, hand-written, hand-written, library.
fn abba(form: Form) -> [(&'static str, Op); 4] {
    [
        ("library", form.op),
        ("hand_written", form.baseline),
        ("hand_written_again", form.baseline),
        ("library_again", form.op),
    ]
}

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

fn threads(c: &mut Criterion, schema: &BenchSchema, form: Form) {
    let group_name = &format!("{}_8_threads_distinct_keys", form.name);
    let mut group = c.benchmark_group(group_name);
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(10));
    let mut conns: Vec<PgConnection> = (0..THREADS).map(|_| schema.connect()).collect();
    for (name, op) in abba(form) {
        reset(schema);
        group.bench_function(name, |b| {
            b.iter_custom(|iters| parallel(&mut conns, iters, op))
        });
    }
    group.finish();
    abba_ratio(group_name);
}

/// The statements one call of each side sends (noise cannot move these).
fn statements(url: &str) {
    let mut conn = PgConnection::establish(url).expect("connect");
    let sent = StatementLog::attach(&mut conn);
    let mut per_call = |op: Op| {
        sent.take();
        op(&mut conn, 0);
        sent.take().len()
    };
    let (ours, new, theirs) = (
        per_call(library),
        per_call(library_new),
        per_call(hand_written),
    );
    println!("STATEMENTS per retry: retry {ours}, retry_new {new}, hand_written {theirs}");
    let (ours, new, theirs) = (
        per_call(library_upsert),
        per_call(library_upsert_new),
        per_call(hand_written_update),
    );
    println!("STATEMENTS per upsert of a live key: upsert {ours}, upsert_new {new}, hand_written {theirs}");
}

/// How the paired runs commit.
#[derive(Clone, Copy)]
enum Commit {
    /// The server's default: each commit waits for its WAL flush (an `fdatasync`).
    Durable,
    /// `SET synchronous_commit = off` on both sides' connections: commits do not wait for the
    /// disk, so the figure shows the statements and round trips alone. Never the library's
    /// default; a crash may lose the last commits (never corrupts).
    NoFlushWait,
}

/// Rounds of (library, hand-written, hand-written, library), each `iters` retries per
/// connection, on `threads` connections to `url` (each retrying its own key); prints the median
/// time per retry of each side and the median of the rounds' throughput ratios.
fn paired(
    schema: &BenchSchema,
    url: &str,
    label: &str,
    (form, commit): (Form, Commit),
    threads: usize,
    iters: u64,
) {
    let (library, hand_written) = (form.op, form.baseline);
    const ROUNDS: usize = 9;
    reset(schema);
    let (commit_label, setting) = match commit {
        Commit::Durable => ("durable commits", "SET synchronous_commit = on"),
        Commit::NoFlushWait => ("synchronous_commit = off", "SET synchronous_commit = off"),
    };
    let mut conns: Vec<PgConnection> = (0..threads)
        .map(|_| {
            let mut conn = PgConnection::establish(url).expect("connect");
            conn.batch_execute(setting).expect("set synchronous_commit");
            conn
        })
        .collect();
    let mut time = |op: Op| parallel(&mut conns, iters, op).as_secs_f64();
    // Warm up both sides: connections, prepared statements, the table's pages.
    time(library);
    time(hand_written);
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let (a1, b1, b2, a2) = (
            time(library),
            time(hand_written),
            time(hand_written),
            time(library),
        );
        ours.push((a1 + a2) / 2.0);
        theirs.push((b1 + b2) / 2.0);
        ratios.push((b1 + b2) / (a1 + a2));
    }
    let per_retry = |seconds: f64| seconds * 1e3 / iters as f64;
    let spread = ratios
        .iter()
        .map(|r| format!("{r:.2}"))
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "PAIRED {}, {label}, {commit_label}, {threads} thread(s): library {:.3} ms vs hand_written {:.3} ms per call (medians) -> throughput ratio median {:.2} over {ROUNDS} rounds [{spread}]",
        form.name,
        per_retry(median(ours)),
        per_retry(median(theirs)),
        median(ratios),
    );
}

/// The paired measurements on one path to the server.
fn paired_suite(schema: &BenchSchema, url: &str, label: &str, slow: bool) {
    statements(url);
    let (single, eight) = if slow { (40, 10) } else { (300, 60) };
    for form in forms() {
        for commit in [Commit::Durable, Commit::NoFlushWait] {
            paired(schema, url, label, (form, commit), 1, single);
            paired(schema, url, label, (form, commit), THREADS, eight);
        }
    }
}

/// The environment variable that makes this program the client inside the namespace: the URL
/// of the benchmark schema through the proxy.
const CHILD_URL: &str = "SOFT_DELETE_RETRY_BENCH_URL";

/// The paired measurements with 1 ms added per round trip (see [`latency::with_latency`]).
fn delayed_suite(schema: &BenchSchema, url: &str, added: Added) {
    let label = match added {
        Added::Netem => "1 ms added per round trip (netns + netem)",
        Added::Proxy => "1 ms added per round trip (user-space proxy)",
    };
    paired_suite(schema, url, label, true);
}

fn main() {
    // The client inside the namespace: the schema exists already (the parent owns it).
    if latency::run_child(CHILD_URL, |url, added| {
        delayed_suite(&BenchSchema::attach("bench_retry", url), url, added)
    }) {
        return;
    }
    let schema = BenchSchema::create("bench_retry");
    let mut c = Criterion::default().configure_from_args();
    for form in forms() {
        single(&mut c, &schema, form);
        threads(&mut c, &schema, form);
    }
    c.final_summary();
    paired_suite(&schema, schema.url(), "loopback", false);
    latency::with_latency(schema.url(), CHILD_URL, |url, added| {
        delayed_suite(&schema, url, added)
    });
}
