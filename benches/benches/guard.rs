//! The visibility guard's overhead on a read-heavy load: point and range queries through the
//! scopes (`.active()`, a join with `dsl::live`), on a connection without instrumentation and
//! on one with the guard in `log` mode, in the same run. Prints `RATIO` lines: the guarded
//! connection's throughput over the plain one's (1.00 = no overhead; the target is >= 0.95).
//!
//! The machine is shared, so the two sides take turns unit by unit: without the guard, with
//! it, with it again and without it again (ABBA) over the same queries, and the result is the
//! median of the rounds' ratios: a load that rises or falls weighs on both sides alike, and a
//! round disturbed anyway does not move the median. Each `_control` line measures two sides
//! without a guard the same way: how far from 1.00 this run's noise alone puts a ratio.
//!
//! Two backends: SQLite in memory, where a point query costs a few microseconds and the
//! guard's share is the largest it can be, on two connections (each with its database, seeded
//! alike), measured twice: with the guard `install_default` puts on a connection as it opens,
//! which reads SQLite's own statement trace, and with a guard put on an open connection by
//! `set_instrumentation`, which renders each statement. And PostgreSQL (`PG_DATABASE_URL`,
//! default `postgres://postgres@127.0.0.1:5432/test`), a server round trip per query, on one
//! connection whose instrumentation is switched before each unit (see `main`).
//!
//! `cargo bench -p soft-delete-benches --bench guard`. `GUARD_BENCH_ROUNDS` (default 21) sets
//! the rounds.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use diesel::connection::{InstrumentationEvent, SimpleConnection};
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

/// Runs one unit of the load on `conn` and returns the time.
fn timed<C>(conn: &mut C, unit: i32, run: fn(&mut C, i32) -> usize) -> Duration {
    let start = Instant::now();
    black_box(run(conn, unit));
    start.elapsed()
}

/// Rounds of `units` units on each side, alternated unit by unit in ABBA order (unit `u`
/// without the guard, then with it; unit `u + 1` with it, then without), so that a load on the
/// machine that comes and goes weighs on both sides alike even within a round. `time(guarded,
/// unit)` runs one unit on one side and returns its time. Prints each side's median time per
/// unit and the median of the rounds' throughput ratios, and returns it.
fn rounds(name: &str, units: i32, mut time: impl FnMut(bool, i32) -> Duration) -> f64 {
    let rounds: usize = std::env::var("GUARD_BENCH_ROUNDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(21);
    // Warm up both: the guard's cache, the statement caches, the server's buffers.
    for unit in 0..units {
        time(false, unit);
        time(true, unit);
    }
    let mut ratios = Vec::with_capacity(rounds);
    let (mut plain_times, mut guarded_times) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let offset = round as i32 * units;
        let (mut a, mut b) = (Duration::ZERO, Duration::ZERO);
        for unit in (offset..offset + units).step_by(2) {
            a += time(false, unit);
            b += time(true, unit);
            b += time(true, unit + 1);
            a += time(false, unit + 1);
        }
        let (a, b) = (a.as_secs_f64(), b.as_secs_f64());
        plain_times.push(a / f64::from(units));
        guarded_times.push(b / f64::from(units));
        ratios.push(a / b);
    }
    let ratio = median(&mut ratios);
    println!(
        "RATIO guard_{name} (ABBA by unit, median of {rounds} rounds): without {:.1} us vs with {:.1} us per unit -> throughput ratio {ratio:.3} (1.00 = no overhead)",
        median(&mut plain_times) * 1e6,
        median(&mut guarded_times) * 1e6,
    );
    ratio
}

/// [`rounds`] on two connections: `plain` without the guard, `guarded` with it.
fn on_two<C>(
    name: &str,
    plain: &mut C,
    guarded: &mut C,
    units: i32,
    run: fn(&mut C, i32) -> usize,
) -> f64 {
    rounds(name, units, |with, unit| {
        timed(if with { &mut *guarded } else { &mut *plain }, unit, run)
    })
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    // The connections without a guard are opened first: `install_default` puts it on every
    // connection opened after it, as an application does at start-up. SQLite in memory, where
    // a query costs least and the guard's share is the largest: a database per connection,
    // seeded alike (a file shared by the connections would add a file lock per statement,
    // and hide half of the guard's cost).
    let mut plain_sqlite = SqliteConnection::establish(":memory:").expect("sqlite");
    seed_sqlite(&mut plain_sqlite);
    let mut rendered_sqlite = SqliteConnection::establish(":memory:").expect("sqlite");
    seed_sqlite(&mut rendered_sqlite);

    // `log` mode, as in production, on every connection opened from here on.
    let counts = install_default(Mode::Log).expect("install the guard");

    // The guard of a SQLite connection opened after `install_default` reads each statement's
    // text from SQLite's trace.
    let mut guarded = SqliteConnection::establish(":memory:").expect("sqlite");
    allow(|| seed_sqlite(&mut guarded));
    on_two("sqlite", &mut plain_sqlite, &mut guarded, 400, sqlite_load);
    let statements = counts.statements();
    assert!(statements > 0, "the guard saw the statements");
    on_two(
        "sqlite_control",
        &mut plain_sqlite,
        &mut rendered_sqlite,
        400,
        sqlite_load,
    );
    assert_eq!(counts.statements(), statements, "no guard on either side");

    // A guard put on an open connection with `set_instrumentation` cannot reach SQLite's
    // trace and renders each statement through Diesel's `Display` instead.
    let guard = Guard::new(Dialect::Sqlite, Mode::Log).counting_into(Arc::clone(&counts));
    rendered_sqlite.set_instrumentation(guard);
    on_two(
        "sqlite_set_instrumentation",
        &mut plain_sqlite,
        &mut rendered_sqlite,
        400,
        sqlite_load,
    );

    // PostgreSQL: one connection, whose instrumentation is switched between a guard and one
    // that does nothing (Diesel cannot remove an instrumentation) before each unit. Two
    // connections are two server processes, whose turns the scheduler does not treat alike:
    // on this 2-core machine two unguarded connections measured 0.98 to 1.08 of each other
    // by blocks of units, and one four times the other unit by unit. A guard on PostgreSQL
    // renders each statement whether `install_default` or `set_instrumentation` put it there.
    let schema = BenchSchema::create("bench_guard");
    let mut pg = schema.connect();
    allow(|| seed_pg(&mut pg));
    let mut on_pg = |name: &str, guarded: bool| {
        rounds(name, 250, |with, unit| {
            if with && guarded {
                let guard = Guard::new(Dialect::Postgres, Mode::Log);
                pg.set_instrumentation(guard.counting_into(Arc::clone(&counts)));
            } else {
                pg.set_instrumentation(|_: InstrumentationEvent<'_>| {});
            }
            timed(&mut pg, unit, pg_load)
        })
    };
    on_pg("postgres", true);
    on_pg("postgres_control", false);
    assert_eq!(counts.leaky(), 0, "every statement states its visibility");
    assert_eq!(counts.unreadable(), 0, "every statement is read");
}
