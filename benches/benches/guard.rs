//! The visibility guard's overhead on a read-heavy load: point and range queries through the
//! scopes (`.active()`, a join with `dsl::live`), on a connection without instrumentation and
//! on one with the guard in `log` mode, in the same run. Prints `RATIO` lines: the guarded
//! connection's throughput over the plain one's (1.00 = no overhead; the target is >= 0.95).
//!
//! The machine is shared, so each round times the plain connection, the guarded one, the
//! guarded one again and the plain one again (ABBA) over the same queries, and the result is
//! the median of the rounds' ratios: a load that rises or falls during a round weighs on both
//! sides alike, and a round disturbed anyway does not move the median.
//!
//! Two backends: SQLite in memory, where a point query costs a few microseconds and the
//! guard's share is the largest it can be (measured twice: with the guard `install_default`
//! puts on a connection as it opens, which reads SQLite's own statement trace, and with a
//! guard put on an open connection by `set_instrumentation`, which renders each statement),
//! and PostgreSQL (`PG_DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`), a server round trip per query.
//!
//! `cargo bench -p soft-delete-benches --bench guard`. `GUARD_BENCH_ROUNDS` (default 21) sets
//! the rounds.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_benches::BenchSchema;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::dsl::live;
use soft_delete_runtime::guard::{allow, install_default, Guard, Mode};
use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        user_id -> Integer,
        title -> Text,
        deleted -> Bool,
    }
}

diesel::joinable!(posts -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, posts);

#[derive(Debug, Queryable, Selectable, SoftDelete)]
#[diesel(table_name = users)]
#[allow(dead_code)]
struct User {
    id: i32,
    name: String,
    deleted_at: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, SoftDelete)]
#[diesel(table_name = posts)]
#[allow(dead_code)]
struct Post {
    id: i32,
    user_id: i32,
    title: String,
    deleted: bool,
}

/// Users in the table; every tenth is soft-deleted. Each user has two posts.
const USERS: i32 = 10_000;

macro_rules! read_load {
    ($name:ident, $conn:ty) => {
        /// One unit of the load: four point queries, one range query of 50 users, and one
        /// join of a user's live posts; `seed` picks the rows.
        fn $name(conn: &mut $conn, seed: i32) -> usize {
            let mut rows = 0;
            for k in 0..4 {
                let id = (seed * 7 + k * 1_009) % USERS + 1;
                let user: Option<User> = users::table
                    .find(id)
                    .active()
                    .first(conn)
                    .optional()
                    .expect("point query");
                rows += usize::from(user.is_some());
            }
            let from = (seed * 13) % (USERS - 50) + 1;
            let range: Vec<User> = users::table
                .filter(users::id.between(from, from + 49))
                .active()
                .order(users::id)
                .load(conn)
                .expect("range query");
            rows += range.len();
            let titles: Vec<String> = users::table
                .inner_join(posts::table)
                .filter(users::id.eq(from))
                .filter(live::<users::table>().and(live::<posts::table>()))
                .select(posts::title)
                .load(conn)
                .expect("join");
            rows + titles.len()
        }
    };
}

read_load!(sqlite_load, SqliteConnection);
read_load!(pg_load, PgConnection);

const SEED: &str = "
    INSERT INTO users (id, name, deleted_at)
    SELECT i, 'user ' || i, CASE WHEN i % 10 = 0 THEN CURRENT_TIMESTAMP END FROM n;
    INSERT INTO posts (id, user_id, title, deleted)
    SELECT 2 * i - 1, i, 'first of ' || i, FALSE FROM n
    UNION ALL SELECT 2 * i, i, 'second of ' || i, i % 3 = 0 FROM n;";

fn seed_sqlite(conn: &mut SqliteConnection) {
    conn.batch_execute(&format!(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL,
                             deleted BOOLEAN NOT NULL);
         CREATE INDEX posts_user ON posts (user_id);
         CREATE TEMP TABLE n (i INTEGER PRIMARY KEY);
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {USERS})
         INSERT INTO n SELECT i FROM s;
         {SEED}
         DROP TABLE n;"
    ))
    .expect("seed sqlite");
}

fn seed_pg(conn: &mut PgConnection) {
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS posts; DROP TABLE IF EXISTS users;
         CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL,
                             deleted BOOLEAN NOT NULL);
         CREATE INDEX posts_user ON posts (user_id);
         CREATE TEMP TABLE n AS SELECT generate_series(1, {USERS}) AS i;
         {SEED}
         DROP TABLE n;
         ANALYZE users; ANALYZE posts;"
    ))
    .expect("seed postgres");
}

/// Runs `units` units of the load on `conn` and returns the time.
fn timed<C>(conn: &mut C, units: i32, offset: i32, run: fn(&mut C, i32) -> usize) -> Duration {
    let start = Instant::now();
    for unit in 0..units {
        black_box(run(conn, offset + unit));
    }
    start.elapsed()
}

/// ABBA rounds of `units` units on the plain and the guarded connection; prints each side's
/// median time per unit and the median of the rounds' throughput ratios, and returns it.
fn rounds<C>(
    name: &str,
    plain: &mut C,
    guarded: &mut C,
    units: i32,
    run: fn(&mut C, i32) -> usize,
) -> f64 {
    let rounds: usize = std::env::var("GUARD_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    // Warm up both: the guard's cache, the statement caches, the server's buffers.
    timed(plain, units, 0, run);
    timed(guarded, units, 0, run);
    let mut ratios = Vec::with_capacity(rounds);
    let (mut plain_times, mut guarded_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let offset = round as i32 * units;
        let a1 = timed(plain, units, offset, run);
        let b1 = timed(guarded, units, offset, run);
        let b2 = timed(guarded, units, offset, run);
        let a2 = timed(plain, units, offset, run);
        let (a, b) = ((a1 + a2).as_secs_f64(), (b1 + b2).as_secs_f64());
        plain_times.push(a / f64::from(2 * units));
        guarded_times.push(b / f64::from(2 * units));
        ratios.push(a / b);
    }
    let ratio = median(&mut ratios);
    println!(
        "RATIO guard_{name} (ABBA, median of {rounds} rounds): none {:.1} us vs log {:.1} us per unit -> throughput ratio {ratio:.3} (1.00 = no overhead)",
        median(&mut plain_times) * 1e6,
        median(&mut guarded_times) * 1e6,
    );
    ratio
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // The connections without a guard are opened first: `install_default` puts it on every
    // connection opened after it, as an application does at start-up.
    let mut plain_sqlite = SqliteConnection::establish(":memory:").expect("sqlite");
    seed_sqlite(&mut plain_sqlite);
    let mut rendered_sqlite = SqliteConnection::establish(":memory:").expect("sqlite");
    seed_sqlite(&mut rendered_sqlite);
    let schema = BenchSchema::create("bench_guard");
    let mut plain_pg = schema.connect();
    seed_pg(&mut plain_pg);

    // `log` mode, as in production, on every connection opened from here on.
    let counts = install_default(Mode::Log).expect("install the guard");

    // SQLite in memory, two databases with the same rows. The guard of a connection opened
    // after `install_default` reads each statement's text from SQLite's trace.
    let mut guarded = SqliteConnection::establish(":memory:").expect("sqlite");
    allow(|| seed_sqlite(&mut guarded));
    rounds("sqlite", &mut plain_sqlite, &mut guarded, 400, sqlite_load);
    assert!(counts.statements() > 0, "the guard saw the statements");

    // A guard put on an open connection with `set_instrumentation` cannot reach SQLite's
    // trace and renders each statement through Diesel's `Display` instead.
    let guard = Guard::new(Dialect::Sqlite, Mode::Log).counting_into(Arc::clone(&counts));
    rendered_sqlite.set_instrumentation(guard);
    rounds(
        "sqlite_set_instrumentation",
        &mut plain_sqlite,
        &mut rendered_sqlite,
        400,
        sqlite_load,
    );

    // PostgreSQL: two connections to one schema.
    let mut guarded = schema.connect();
    rounds("postgres", &mut plain_pg, &mut guarded, 250, pg_load);
    assert_eq!(counts.leaky(), 0, "every statement states its visibility");
    assert_eq!(counts.unreadable(), 0, "every statement is read");
}
