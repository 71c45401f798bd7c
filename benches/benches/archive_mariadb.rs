//! Cascade archive on MariaDB/MySQL (`MYSQL_DATABASE_URL`, default
//! `mysql://root@127.0.0.1:3306/test`), in a database of its own. Three parts:
//!
//! 1. **Against hand-written `UPDATE ... JOIN`.** One user's subtree (users -> orders ->
//!    order_items, a `protect` edge to invoices; ten items per order) with 1k and 100k items,
//!    in tables holding ten times as many rows of other users. The collector and the
//!    statements a developer would write by hand for the same work (each edge an
//!    `UPDATE child JOIN parent ON ... SET ... WHERE parent.deleted_at = <stamp>`, the protect
//!    check one `SELECT EXISTS`) are timed alternately, ABBA (collector first in odd rounds,
//!    second in even ones), each archive in a transaction rolled back untimed. It prints the
//!    median of the per-round throughput ratios (hand-written time / collector time; 1.00 = as
//!    fast as hand-written).
//! 2. **Concurrent archives.** A lending library (each member 2 loans and 4 fines, archived
//!    with the member; 1 review whose link `set_null` cuts into the journal) with 20,000
//!    members: OS processes (this binary, started again) each archive their own members one
//!    archive per member, first one process, then four. It prints the throughput of each,
//!    their ratio, and the delta of `Innodb_row_lock_waits` over each run.
//! 3. **All 20,000 members** of a fresh library archived by four processes: the time.
//!
//! `cargo bench -p soft-delete-benches --bench archive_mariadb`. `MARIADB_BENCH_SIZES=1000`,
//! `MARIADB_BENCH_ROUNDS=8` and `MARIADB_BENCH_MEMBERS=20000` change the sizes;
//! `MARIADB_BENCH_ONLY=ratio` or `=concurrent` runs one part, `=trace` times the statements of
//! one member's archive instead (see [`trace`]).

use std::process::Command;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
use soft_delete_benches::median;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl::{archive_log, journal};
use soft_delete_tests::TestConnection;

mod shop {
    use chrono::NaiveDateTime;
    use diesel::prelude::*;
    use soft_delete_runtime::prelude::*;

    diesel::table! {
        users (id) { id -> Integer, deleted_at -> Nullable<Timestamp>, }
    }
    diesel::table! {
        orders (id) { id -> Integer, user_id -> Integer, deleted_at -> Nullable<Timestamp>, }
    }
    diesel::table! {
        order_items (id) { id -> Integer, order_id -> Integer, deleted_at -> Nullable<Timestamp>, }
    }
    diesel::table! {
        invoices (id) { id -> Integer, user_id -> Integer, deleted_at -> Nullable<Timestamp>, }
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = users)]
    #[soft_delete(children(orders::user_id = cascade, invoices::user_id = protect))]
    pub(crate) struct User {
        id: i32,
        deleted_at: Option<NaiveDateTime>,
    }

    #[allow(dead_code)]
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = orders)]
    #[soft_delete(children(order_items::order_id = cascade))]
    pub(crate) struct Order {
        id: i32,
        user_id: i32,
        deleted_at: Option<NaiveDateTime>,
    }

    #[allow(dead_code)]
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = order_items)]
    pub(crate) struct OrderItem {
        id: i32,
        order_id: i32,
        deleted_at: Option<NaiveDateTime>,
    }

    #[allow(dead_code)]
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = invoices)]
    pub(crate) struct Invoice {
        id: i32,
        user_id: i32,
        deleted_at: Option<NaiveDateTime>,
    }
}

mod library {
    use chrono::NaiveDateTime;
    use diesel::prelude::*;
    use soft_delete_runtime::prelude::*;

    diesel::table! {
        members (id) { id -> Integer, name -> Text, deleted_at -> Nullable<Timestamp>, }
    }
    diesel::table! {
        loans (id) { id -> Integer, member_id -> Integer, deleted_at -> Nullable<Timestamp>, }
    }
    diesel::table! {
        fines (id) { id -> Integer, member_id -> Integer, deleted_at -> Nullable<Timestamp>, }
    }
    diesel::table! {
        reviews (id) { id -> Integer, member_id -> Nullable<Integer>, }
    }

    #[allow(dead_code)]
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = members)]
    #[soft_delete(children(
        loans::member_id = cascade,
        fines::member_id = cascade,
        reviews::member_id = set_null,
    ))]
    pub(crate) struct Member {
        id: i32,
        name: String,
        deleted_at: Option<NaiveDateTime>,
    }

    #[allow(dead_code)]
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = loans)]
    pub(crate) struct Loan {
        id: i32,
        member_id: i32,
        deleted_at: Option<NaiveDateTime>,
    }

    #[allow(dead_code)]
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = fines)]
    pub(crate) struct Fine {
        id: i32,
        member_id: i32,
        deleted_at: Option<NaiveDateTime>,
    }
}

use library::members;
use shop::users;

const ITEMS_PER_ORDER: i32 = 10;
const OTHER_USERS: i32 = 10;
const TARGET: i32 = 1;

/// `n` from 1 to 10^6 over a table of the ten digits.
const SEQ: &str = "(SELECT 1 + a.n + 10 * b.n + 100 * c.n + 1000 * d.n + 10000 * e.n + 100000 * f.n AS n \
                   FROM bench_digits a, bench_digits b, bench_digits c, bench_digits d, bench_digits e, bench_digits f) AS seq";

fn digits(conn: &mut MysqlConnection) -> QueryResult<()> {
    conn.batch_execute(
        "DROP TABLE IF EXISTS bench_digits;
         CREATE TABLE bench_digits (n INTEGER NOT NULL);
         INSERT INTO bench_digits VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9);",
    )
}

/// The shop with `items` items per user, for 1 + `OTHER_USERS` users.
fn fill_shop(conn: &mut MysqlConnection, items: i32) -> QueryResult<()> {
    let users = 1 + OTHER_USERS;
    let orders_per_user = items / ITEMS_PER_ORDER;
    let orders = users * orders_per_user;
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS order_items, orders, invoices, users, soft_delete_archive_log;
         {log};
         CREATE TABLE users (id INTEGER PRIMARY KEY, deleted_at DATETIME(6) NULL, KEY (deleted_at));
         CREATE TABLE orders (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, deleted_at DATETIME(6) NULL,
           FOREIGN KEY (user_id) REFERENCES users (id), KEY (deleted_at));
         CREATE TABLE order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL, deleted_at DATETIME(6) NULL,
           FOREIGN KEY (order_id) REFERENCES orders (id), KEY (deleted_at));
         CREATE TABLE invoices (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, deleted_at DATETIME(6) NULL,
           FOREIGN KEY (user_id) REFERENCES users (id));
         INSERT INTO users (id) SELECT n FROM {SEQ} WHERE n <= {users};
         INSERT INTO orders (id, user_id) SELECT n, 1 + (n - 1) % {users} FROM {SEQ} WHERE n <= {orders};
         INSERT INTO order_items (id, order_id) SELECT (o.id - 1) * {ITEMS_PER_ORDER} + k.n + 1, o.id FROM orders AS o, bench_digits AS k WHERE k.n < {ITEMS_PER_ORDER};
         INSERT INTO invoices (id, user_id) SELECT n, n FROM {SEQ} WHERE n <= {users} AND n <> {TARGET};
         ANALYZE TABLE users, orders, order_items, invoices;",
        log = archive_log::create_table(Dialect::Mysql),
    ))
}

fn collector(conn: &mut MysqlConnection) -> u64 {
    let archived = Collector::new(users::table.find(TARGET))
        .archive(conn)
        .expect("the collector archives");
    archived.plan().total_archived()
}

/// What a developer writes by hand on MariaDB for the same archive.
fn hand_written(conn: &mut MysqlConnection) -> u64 {
    conn.transaction::<u64, diesel::result::Error, _>(|conn| {
        let at: NaiveDateTime = chrono::Utc::now().naive_utc();
        let users = diesel::sql_query(
            "UPDATE users SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
        )
        .bind::<Timestamp, _>(at)
        .bind::<Integer, _>(TARGET)
        .execute(conn)?;
        #[derive(QueryableByName)]
        struct Found {
            #[diesel(sql_type = BigInt)]
            found: i64,
        }
        let protected: Found = diesel::sql_query(
            "SELECT CAST(EXISTS (SELECT 1 FROM invoices AS i JOIN users AS u ON i.user_id = u.id \
             WHERE u.deleted_at = ? AND i.deleted_at IS NULL) AS SIGNED) AS found",
        )
        .bind::<Timestamp, _>(at)
        .get_result(conn)?;
        assert_eq!(protected.found, 0, "the target's invoices are settled");
        let orders = diesel::sql_query(
            "UPDATE orders AS o JOIN users AS u ON o.user_id = u.id SET o.deleted_at = ? \
             WHERE u.deleted_at = ? AND o.deleted_at IS NULL",
        )
        .bind::<Timestamp, _>(at)
        .bind::<Timestamp, _>(at)
        .execute(conn)?;
        let items = diesel::sql_query(
            "UPDATE order_items AS i JOIN orders AS o ON i.order_id = o.id SET i.deleted_at = ? \
             WHERE o.deleted_at = ? AND i.deleted_at IS NULL",
        )
        .bind::<Timestamp, _>(at)
        .bind::<Timestamp, _>(at)
        .execute(conn)?;
        Ok((users + orders + items) as u64)
    })
    .expect("the hand-written statements run")
}

/// Runs `archive` in a transaction rolled back afterwards; only the archive is timed.
fn timed(conn: &mut MysqlConnection, archive: fn(&mut MysqlConnection) -> u64) -> (f64, u64) {
    let mut out = None;
    let _ = conn.transaction::<(), diesel::result::Error, _>(|conn| {
        let start = Instant::now();
        let rows = archive(conn);
        out = Some((start.elapsed().as_secs_f64() * 1e3, rows));
        Err(diesel::result::Error::RollbackTransaction)
    });
    out.expect("the archive ran")
}

fn env_list(name: &str, default: &[i32]) -> Vec<i32> {
    std::env::var(name)
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

fn against_hand_written(conn: &mut MysqlConnection) {
    let rounds = env_list("MARIADB_BENCH_ROUNDS", &[8])[0].max(2) as usize;
    for items in env_list("MARIADB_BENCH_SIZES", &[1_000, 100_000]) {
        fill_shop(conn, items).expect("fill the shop");
        let expected = (1 + items / ITEMS_PER_ORDER + items) as u64;
        // Same work, checked; and a warm-up of each.
        assert_eq!(timed(conn, collector).1, expected, "collector");
        assert_eq!(timed(conn, hand_written).1, expected, "hand_written");
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..rounds {
            let (o, h) = if round % 2 == 0 {
                let o = timed(conn, collector).0;
                (o, timed(conn, hand_written).0)
            } else {
                let h = timed(conn, hand_written).0;
                (timed(conn, collector).0, h)
            };
            ours.push(o);
            theirs.push(h);
            ratios.push(h / o);
        }
        println!(
            "PAIRED mariadb_archive_{items}_items: collector median {:.3} ms vs hand_written (UPDATE ... JOIN) \
             median {:.3} ms over {rounds} ABBA rounds -> median throughput ratio {:.2} (1.00 = hand-written)",
            median(ours),
            median(theirs),
            median(ratios)
        );
    }
}

/// The lending library: `members` members with 2 loans, 4 fines and 1 review each.
fn fill_library(conn: &mut MysqlConnection, members: i32) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS loans, fines, reviews, members, soft_delete_archive_log, soft_delete_journal;
         {log};
         {journal};
         CREATE TABLE members (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL, deleted_at DATETIME(6) NULL,
           KEY (deleted_at));
         CREATE TABLE loans (id INTEGER PRIMARY KEY, member_id INTEGER NOT NULL, deleted_at DATETIME(6) NULL,
           FOREIGN KEY (member_id) REFERENCES members (id), KEY (deleted_at));
         CREATE TABLE fines (id INTEGER PRIMARY KEY, member_id INTEGER NOT NULL, deleted_at DATETIME(6) NULL,
           FOREIGN KEY (member_id) REFERENCES members (id), KEY (deleted_at));
         CREATE TABLE reviews (id INTEGER PRIMARY KEY, member_id INTEGER NULL,
           FOREIGN KEY (member_id) REFERENCES members (id));
         INSERT INTO members (id, name) SELECT n, 'm' FROM {SEQ} WHERE n <= {members};
         INSERT INTO loans (id, member_id) SELECT n, 1 + (n - 1) % {members} FROM {SEQ} WHERE n <= 2 * {members};
         INSERT INTO fines (id, member_id) SELECT n, 1 + (n - 1) % {members} FROM {SEQ} WHERE n <= 4 * {members};
         INSERT INTO reviews (id, member_id) SELECT n, n FROM {SEQ} WHERE n <= {members};
         ANALYZE TABLE members, loans, fines, reviews;",
        log = archive_log::create_table(Dialect::Mysql),
        journal = journal::create_table(Dialect::Mysql),
    ))
}

/// In a worker process: archives members `from..=to`, one archive each, and prints the time.
fn worker(url: &str, from: i32, to: i32) {
    let mut conn = MysqlConnection::establish(url).expect("connect");
    conn.batch_execute(&format!(
        "SET SESSION TRANSACTION ISOLATION LEVEL {}",
        isolation()
    ))
    .expect("isolation");
    let start = Instant::now();
    for id in from..=to {
        let archived = Collector::new(members::table.find(id))
            .archive(&mut conn)
            .expect("the archive succeeds");
        assert_eq!(archived.plan().total_archived(), 7);
    }
    println!("{}", start.elapsed().as_secs_f64());
}

/// The workers' isolation level: `MARIADB_BENCH_ISOLATION` (`REPEATABLE READ`, the server's
/// default), or `READ COMMITTED`, which the README advises for archives on MySQL/MariaDB.
fn isolation() -> String {
    std::env::var("MARIADB_BENCH_ISOLATION").unwrap_or_else(|_| "READ COMMITTED".into())
}

fn row_lock_waits(conn: &mut MysqlConnection) -> i64 {
    #[derive(QueryableByName)]
    struct Status {
        #[diesel(sql_type = Text, column_name = "Value")]
        value: String,
    }
    let rows: Vec<Status> = diesel::sql_query("SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_waits'")
        .load(conn)
        .expect("the status");
    rows.first().and_then(|r| r.value.parse().ok()).unwrap_or(0)
}

/// Starts one worker process per range and waits for all; returns the wall time.
fn processes(url: &str, ranges: &[(i32, i32)]) -> Duration {
    let exe = std::env::current_exe().expect("this binary");
    let start = Instant::now();
    let children: Vec<_> = ranges
        .iter()
        .map(|(from, to)| {
            Command::new(&exe)
                .env("MARIADB_BENCH_WORKER", format!("{url} {from} {to}"))
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("start a worker")
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().expect("a worker");
        assert!(output.status.success(), "a worker failed");
    }
    start.elapsed()
}

fn concurrent(conn: &mut MysqlConnection, url: &str) {
    let members = env_list("MARIADB_BENCH_MEMBERS", &[20_000])[0];
    let per = (members / 20).max(1);
    fill_library(conn, members).expect("fill the library");
    let before = row_lock_waits(conn);
    let one = processes(url, &[(1, per)]);
    let waits_one = row_lock_waits(conn) - before;
    let ranges: Vec<(i32, i32)> = (1..=4).map(|k| (k * per + 1, (k + 1) * per)).collect();
    let before = row_lock_waits(conn);
    let four = processes(url, &ranges);
    let waits_four = row_lock_waits(conn) - before;
    let (t1, t4) = (
        per as f64 / one.as_secs_f64(),
        4.0 * per as f64 / four.as_secs_f64(),
    );
    println!(
        "CONCURRENT mariadb lending library ({members} members, {}): 1 process {t1:.0} archives/s \
         (Innodb_row_lock_waits +{waits_one}), 4 processes {t4:.0} archives/s \
         (Innodb_row_lock_waits +{waits_four}) -> {:.2}x",
        isolation(),
        t4 / t1
    );

    fill_library(conn, members).expect("fill the library again");
    let quarter = members / 4;
    let ranges: Vec<(i32, i32)> = (0..4)
        .map(|k| {
            (
                k * quarter + 1,
                if k == 3 { members } else { (k + 1) * quarter },
            )
        })
        .collect();
    let before = row_lock_waits(conn);
    let all = processes(url, &ranges);
    let waits = row_lock_waits(conn) - before;
    println!(
        "ALL mariadb lending library: {members} members archived by 4 processes in {:.1} s \
         ({:.0} archives/s, Innodb_row_lock_waits +{waits})",
        all.as_secs_f64(),
        members as f64 / all.as_secs_f64()
    );
}

/// `MARIADB_BENCH_ONLY=trace`: where the time of an archive of one member goes. Archives
/// `MARIADB_BENCH_MEMBERS` members (default 300) of a 20,000-member library one after the
/// other on one connection and prints, per statement (its SQL up to the first bound value or
/// 60 characters), how many ran per archive and their mean time as the client saw it, then
/// the time per archive outside any statement (the library's own work).
fn trace(conn: &mut MysqlConnection) {
    use diesel::connection::{Instrumentation, InstrumentationEvent};
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Times {
        started: Option<(String, Instant)>,
        per: BTreeMap<String, (u32, Duration)>,
    }
    struct Timer(Arc<Mutex<Times>>);
    impl Instrumentation for Timer {
        fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
            let mut times = self.0.lock().expect("not poisoned");
            match event {
                InstrumentationEvent::StartQuery { query, .. } => {
                    let sql = query.to_string();
                    let sql = sql.split("-- binds").next().unwrap_or("").trim();
                    let short: String = sql.chars().take(60).collect();
                    times.started = Some((short, Instant::now()));
                }
                InstrumentationEvent::FinishQuery { .. } => {
                    if let Some((sql, at)) = times.started.take() {
                        let entry = times.per.entry(sql).or_default();
                        entry.0 += 1;
                        entry.1 += at.elapsed();
                    }
                }
                _ => {}
            }
        }
    }

    let members = env_list("MARIADB_BENCH_MEMBERS", &[300])[0];
    fill_library(conn, 20_000).expect("fill the library");
    conn.batch_execute(&format!(
        "SET SESSION TRANSACTION ISOLATION LEVEL {}",
        isolation()
    ))
    .expect("isolation");
    // A warm-up archive, untimed: the statement cache fills.
    Collector::new(members::table.find(20_000))
        .archive(conn)
        .expect("an archive");
    let times = Arc::new(Mutex::new(Times::default()));
    conn.set_instrumentation(Timer(Arc::clone(&times)));
    let start = Instant::now();
    for id in 1..=members {
        Collector::new(members::table.find(id))
            .archive(conn)
            .expect("an archive");
    }
    let wall = start.elapsed();
    let times = times.lock().expect("not poisoned");
    let n = f64::from(members);
    let mut in_statements = Duration::ZERO;
    let mut statements = 0;
    for (sql, (count, total)) in &times.per {
        in_statements += *total;
        statements += count;
        println!(
            "{:>5.2} x {:>7.3} ms  {sql}",
            f64::from(*count) / n,
            total.as_secs_f64() * 1e3 / f64::from(*count)
        );
    }
    println!(
        "TRACE {members} archives: {:.3} ms each, {:.1} statements each taking {:.3} ms, {:.3} ms outside statements",
        wall.as_secs_f64() * 1e3 / n,
        f64::from(statements) / n,
        in_statements.as_secs_f64() * 1e3 / n,
        (wall - in_statements).as_secs_f64() * 1e3 / n,
    );
}

fn main() {
    if let Ok(work) = std::env::var("MARIADB_BENCH_WORKER") {
        let mut parts = work.split(' ');
        let (url, from, to) = (
            parts.next().expect("a url"),
            parts.next().and_then(|n| n.parse().ok()).expect("from"),
            parts.next().and_then(|n| n.parse().ok()).expect("to"),
        );
        worker(url, from, to);
        return;
    }
    // `cargo test --benches` runs this binary with `--bench` absent: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let server = std::env::var("MYSQL_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let url = MysqlConnection::create_isolated(&server, "bench_mariadb");
    let mut conn = MysqlConnection::establish(&url).expect("connect to the benchmark database");
    digits(&mut conn).expect("the digits");
    let only = std::env::var("MARIADB_BENCH_ONLY").unwrap_or_default();
    if only == "trace" {
        trace(&mut conn);
        return;
    }
    if only.is_empty() || only == "ratio" {
        against_hand_written(&mut conn);
    }
    if only.is_empty() || only == "concurrent" {
        concurrent(&mut conn, &url);
    }
    drop(conn);
    MysqlConnection::drop_isolated(&server, "bench_mariadb", &url);
}
