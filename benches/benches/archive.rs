//! Cascade archive on PostgreSQL: one user's subtree (users -> orders -> order_items, with a
//! `protect` edge to invoices) with 1k, 10k and 100k order items, in tables that hold ten
//! times as many rows of other users. Three ways to do the same updates, in the same run:
//!
//! - `collector`: `Collector::new(users::table.find(id)).archive(conn)`;
//! - `hand_written`: the set-based statements written out with Diesel's DSL (one `UPDATE` per
//!   table, the protect check as one `SELECT`), which is what the collector should cost;
//! - `naive_loop`: load the orders, then each order's items, and update them one by one.
//!
//! Every iteration runs inside a transaction that is rolled back, after a `VACUUM` and a
//! `CHECKPOINT` (none of them timed), so each one archives the same live subtree from the same
//! table state: without them the dead row versions and dirty pages of earlier iterations slow
//! later ones down, and whichever function runs longer pays more. The machine is shared and noisy, so besides criterion's
//! ratios (`RATIO ...`) the collector and the hand-written SQL are also timed in alternating
//! pairs (`PAIRED ...`: medians over the rounds). Last, `MEMORY ...` lines give the memory one
//! archive of each kind needs: each is run in a fresh process (this binary, started again), so
//! its peak resident size (Linux `VmHWM`) above the size before the archive is the archive's
//! own, not hidden by memory an earlier run left to the allocator.
//!
//! `cargo bench -p soft-delete-benches --bench archive` (needs `PG_DATABASE_URL` or a local
//! server at the default URL). `ARCHIVE_BENCH_SIZES=1000,10000` picks the sizes.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use criterion::{criterion_group, criterion_main, Criterion};
use diesel::connection::SimpleConnection;
use diesel::dsl::exists;
use diesel::prelude::*;
use soft_delete_benches::{peak_memory_kib, ratio, reset_peak_memory, BenchSchema};
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    orders (id) {
        id -> Integer,
        user_id -> Integer,
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    order_items (id) {
        id -> Integer,
        order_id -> Integer,
        sku -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invoices (id) {
        id -> Integer,
        user_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, orders, order_items, invoices);

#[allow(dead_code)] // the models are here for their derive and the naive loop
#[derive(Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
#[soft_delete(children(orders::user_id = cascade, invoices::user_id = protect))]
struct User {
    id: i32,
    name: String,
    deleted_at: Option<NaiveDateTime>,
}

#[allow(dead_code)]
#[derive(Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = orders)]
#[soft_delete(children(order_items::order_id = cascade))]
struct Order {
    id: i32,
    user_id: i32,
    code: String,
    deleted_at: Option<NaiveDateTime>,
}

#[allow(dead_code)]
#[derive(Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = order_items)]
struct OrderItem {
    id: i32,
    order_id: i32,
    sku: String,
    deleted_at: Option<NaiveDateTime>,
}

#[allow(dead_code)]
#[derive(Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = invoices)]
struct Invoice {
    id: i32,
    user_id: i32,
    deleted_at: Option<NaiveDateTime>,
}

/// Items per order.
const ITEMS_PER_ORDER: i32 = 10;
/// Other users, each with as many items as the archived one.
const OTHER_USERS: i32 = 10;
/// The user whose subtree is archived.
const TARGET: i32 = 1;

/// Creates the tables with `items` order items per user for 1 + `OTHER_USERS` users.
fn fill(conn: &mut PgConnection, items: i32) -> QueryResult<()> {
    let users = 1 + OTHER_USERS;
    let orders_per_user = items / ITEMS_PER_ORDER;
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS order_items, orders, invoices, users, soft_delete_archive_log;
         {log};
         CREATE TABLE users (id SERIAL PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP);
         CREATE TABLE orders (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),
                              code TEXT NOT NULL, deleted_at TIMESTAMP);
         CREATE TABLE order_items (id SERIAL PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES orders (id),
                                   sku TEXT NOT NULL, deleted_at TIMESTAMP);
         CREATE TABLE invoices (id SERIAL PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users (id),
                                deleted_at TIMESTAMP);
         INSERT INTO users (name) SELECT 'user ' || u FROM generate_series(1, {users}) AS u;
         INSERT INTO orders (user_id, code)
           SELECT u, 'o-' || u || '-' || o FROM generate_series(1, {users}) AS u, generate_series(1, {orders_per_user}) AS o;
         INSERT INTO order_items (order_id, sku)
           SELECT id, 'sku-' || i FROM orders, generate_series(1, {ITEMS_PER_ORDER}) AS i;
         -- other users have invoices; the archived one's are settled
         INSERT INTO invoices (user_id) SELECT u FROM generate_series(2, {users}) AS u;
         INSERT INTO invoices (user_id, deleted_at) VALUES ({TARGET}, now());
         CREATE INDEX ON orders (user_id);
         CREATE INDEX ON order_items (order_id);
         CREATE INDEX ON invoices (user_id);
         -- an archive finds the rows of its batch by their stamp
         CREATE INDEX ON users (deleted_at);
         CREATE INDEX ON orders (deleted_at);
         CREATE INDEX ON order_items (deleted_at);",
        // every archive takes its batch from a row of the archive log
        log = soft_delete_runtime::ddl::archive_log::create_table(
            soft_delete_runtime::backend::Dialect::Postgres
        ),
    ))?;
    // VACUUM cannot share a multi-statement batch (an implicit transaction)
    conn.batch_execute("VACUUM ANALYZE users, orders, order_items, invoices")
}

/// What each way of archiving reports: rows archived.
type Archive = fn(&mut PgConnection) -> Result<u64, soft_delete_runtime::Error>;

fn collector(conn: &mut PgConnection) -> Result<u64, soft_delete_runtime::Error> {
    let archived = Collector::new(users::table.find(TARGET)).archive(conn)?;
    Ok(archived.plan().total_archived())
}

fn hand_written(conn: &mut PgConnection) -> Result<u64, soft_delete_runtime::Error> {
    conn.transaction(|conn| {
        let at = chrono::NaiveDateTime::from(
            soft_delete_runtime::DeletionOf::<users::table>::now().timestamp(),
        );
        let users = diesel::update(users::table.find(TARGET))
            .filter(users::deleted_at.is_null())
            .set(users::deleted_at.eq(at))
            .execute(conn)?;
        let protected: bool = diesel::select(exists(
            invoices::table
                .filter(invoices::user_id.eq(TARGET))
                .filter(invoices::deleted_at.is_null()),
        ))
        .get_result(conn)?;
        if protected {
            return Err(soft_delete_runtime::Error::Protected { blockers: vec![] });
        }
        let orders = diesel::update(orders::table.filter(orders::user_id.eq(TARGET)))
            .filter(orders::deleted_at.is_null())
            .set(orders::deleted_at.eq(at))
            .execute(conn)?;
        let archived_orders = orders::table
            .filter(orders::user_id.eq(TARGET))
            .filter(orders::deleted_at.eq(at))
            .select(orders::id);
        let items = diesel::update(
            order_items::table.filter(order_items::order_id.eq_any(archived_orders)),
        )
        .filter(order_items::deleted_at.is_null())
        .set(order_items::deleted_at.eq(at))
        .execute(conn)?;
        Ok((users + orders + items) as u64)
    })
}

fn naive_loop(conn: &mut PgConnection) -> Result<u64, soft_delete_runtime::Error> {
    conn.transaction(|conn| {
        let deletion = soft_delete_runtime::Deletion::now();
        let user: User = users::table.find(TARGET).first(conn)?;
        let invoices: Vec<Invoice> = invoices::table
            .filter(invoices::user_id.eq(user.id))
            .active()
            .load(conn)?;
        if !invoices.is_empty() {
            return Err(soft_delete_runtime::Error::Protected { blockers: vec![] });
        }
        let mut archived = user.soft_delete_with(conn, deletion.clone())? as u64;
        let orders: Vec<Order> = orders::table
            .filter(orders::user_id.eq(user.id))
            .active()
            .load(conn)?;
        for order in &orders {
            archived += order.soft_delete_with(conn, deletion.clone())? as u64;
            let items: Vec<OrderItem> = order_items::table
                .filter(order_items::order_id.eq(order.id))
                .active()
                .load(conn)?;
            for item in &items {
                archived += item.soft_delete_with(conn, deletion.clone())? as u64;
            }
        }
        Ok(archived)
    })
}

#[derive(Debug)]
struct RolledBack;

impl From<diesel::result::Error> for RolledBack {
    fn from(_: diesel::result::Error) -> Self {
        RolledBack
    }
}

/// Runs `archive` in a transaction that is rolled back; returns the time `archive` took
/// and the rows it archived.
fn once(conn: &mut PgConnection, archive: Archive) -> (Duration, u64) {
    let mut result = None;
    let _ = conn.transaction::<(), RolledBack, _>(|conn| {
        let start = Instant::now();
        let rows = archive(conn).expect("the archive succeeds");
        result = Some((start.elapsed(), rows));
        Err(RolledBack)
    });
    result.expect("the archive ran")
}

/// Puts the tables back in the same state before each archive: the dead row versions of the
/// previous (rolled back) one vacuumed, and the dirty pages written out, so no iteration pays
/// for its predecessor. `CHECKPOINT` needs a superuser; without one it is skipped.
fn vacuum(conn: &mut PgConnection) {
    conn.batch_execute("VACUUM users, orders, order_items")
        .expect("vacuum");
    let _ = conn.batch_execute("CHECKPOINT");
}

/// Runs `archive` after a vacuum; only the archive is timed.
fn timed(conn: &mut PgConnection, archive: Archive) -> Duration {
    vacuum(conn);
    once(conn, archive).0
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn sizes() -> Vec<i32> {
    std::env::var("ARCHIVE_BENCH_SIZES")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1_000, 10_000, 100_000])
}

fn current_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// In a child process started by [`memory_of`]: runs one archive and prints how far the
/// resident size rose above what it was before.
fn memory_child(url: &str, way: &str) {
    let mut conn = PgConnection::establish(url).expect("connect to the benchmark schema");
    let archive: Archive = match way {
        "collector" => collector,
        "hand_written" => hand_written,
        _ => naive_loop,
    };
    // warm the connection up: its buffers are not the archive's
    conn.batch_execute("SELECT 1").expect("a query");
    let before = current_rss_kib().unwrap_or(0);
    assert!(reset_peak_memory(), "cannot reset the peak resident size");
    once(&mut conn, archive);
    let peak = peak_memory_kib().unwrap_or(0);
    println!("{} {}", before, peak);
}

/// Runs one archive of `way` in a fresh process; returns (resident KiB before, peak KiB).
fn memory_of(url: &str, way: &str) -> Option<(u64, u64)> {
    let output = std::process::Command::new(std::env::current_exe().ok()?)
        .env("ARCHIVE_BENCH_MEMORY_CHILD", way)
        .env("ARCHIVE_BENCH_MEMORY_URL", url)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut numbers = text.lines().last()?.split(' ').map(str::parse::<u64>);
    Some((numbers.next()?.ok()?, numbers.next()?.ok()?))
}

fn bench(c: &mut Criterion) {
    if let (Ok(way), Ok(url)) = (
        std::env::var("ARCHIVE_BENCH_MEMORY_CHILD"),
        std::env::var("ARCHIVE_BENCH_MEMORY_URL"),
    ) {
        memory_child(&url, &way);
        std::process::exit(0);
    }
    let schema = BenchSchema::create("bench_archive");
    let mut conn = schema.connect();
    let conn = &mut conn;
    let ways: [(&str, Archive); 3] = [
        ("collector", collector),
        ("hand_written", hand_written),
        ("naive_loop", naive_loop),
    ];
    let mut memory = Vec::new();
    for items in sizes() {
        fill(conn, items).expect("fill the tables");
        let expected = 1 + (items / ITEMS_PER_ORDER) + items;
        let group_name = format!("archive_{items}_items");
        {
            let mut group = c.benchmark_group(&group_name);
            group.sample_size(10);
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(if items >= 100_000 { 20 } else { 5 }));
            for (name, archive) in ways {
                // same work, checked once per size
                assert_eq!(once(conn, archive).1, expected as u64, "{name}");
                group.bench_function(name, |b| {
                    b.iter_custom(|iters| (0..iters).map(|_| timed(conn, archive)).sum());
                });
            }
            group.finish();
        }
        ratio(&group_name, "collector", "hand_written");
        ratio(&group_name, "collector", "naive_loop");

        let rounds: usize = std::env::var("ARCHIVE_BENCH_PAIRS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(15);
        let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..rounds {
            let o = timed(conn, collector).as_secs_f64() * 1e3;
            let h = timed(conn, hand_written).as_secs_f64() * 1e3;
            ours.push(o);
            theirs.push(h);
            ratios.push(h / o);
        }
        println!(
            "PAIRED {group_name}: collector median {:.3} ms vs hand_written median {:.3} ms over {rounds} \
             alternating rounds -> median throughput ratio {:.2} (1.00 = hand-written)",
            median(ours),
            median(theirs),
            median(ratios)
        );

        for (name, _) in ways {
            vacuum(conn);
            if let Some((before, peak)) = memory_of(schema.url(), name) {
                memory.push((items, name, before, peak));
            }
        }
    }
    for (items, name, before, peak) in memory {
        println!(
            "MEMORY archive_{items}_items/{name}: {} KiB above the resident size before the archive \
             (peak {peak} KiB, fresh process)",
            peak.saturating_sub(before)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
