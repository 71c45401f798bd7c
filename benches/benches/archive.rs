//! Cascade archive on PostgreSQL: one user's subtree (users -> orders -> order_items, with a
//! `protect` edge to invoices), in tables that hold ten times as many rows of other users. Sizes:
//! `small` (3 orders, 10 order items: a typical delete request), and 1k, 10k, 100k order items
//! (ten per order). Three ways to do the same updates, in the same run:
//!
//! - `collector`: `Collector::new(users::table.find(id)).archive(conn)`;
//! - `hand_written`: the set-based statements written out with Diesel's DSL (the protect check
//!   as one `SELECT`, then one `UPDATE` per table), which is what the collector should cost;
//! - `naive_loop`: load the orders, then each order's items, and update them one by one.
//!
//! Every iteration runs inside a transaction that is rolled back, after a `VACUUM` and a
//! `CHECKPOINT` (none of them timed), so each one archives the same live subtree from the same
//! table state: without them the dead row versions and dirty pages of earlier iterations slow
//! later ones down, and whichever function runs longer pays more. The machine is shared and noisy, so besides criterion's
//! ratios (`RATIO ...`) the collector and the hand-written SQL are also timed in alternating
//! pairs (`PAIRED archive_...`: medians over the rounds). `MEMORY ...` lines give the memory one
//! archive of each kind needs: each is run in a fresh process (this binary, started again), so
//! its peak resident size (Linux `VmHWM`) above the size before the archive is the archive's
//! own, not hidden by memory an earlier run left to the allocator.
//!
//! Last, **autocommit** (`PAIRED autocommit ...`, see [`autocommit_pairs`]): each archive the way
//! a service runs it, on its own, with no transaction open (the library then runs it in a
//! transaction of its own, or as one statement), committed, not rolled back; against
//! [`hand_written_logged`], the hand-written statements in a Diesel `conn.transaction` plus the
//! archive log row the library writes. Between two archives the subtree is made live again and
//! the log emptied, untimed; from two states ([`Plans`]): `warm`, the plans cached as in a
//! service, and `cold`, after a `VACUUM` (which makes every statement be planned again) and a
//! `CHECKPOINT`. ABBA rounds, on loopback (every size) and with 1 ms added per
//! round trip (`small` and 1k; netem, else a delaying proxy, see
//! `soft_delete_benches::latency`). `STATEMENTS autocommit ...` gives the statements each side
//! sends per archive.
//!
//! `cargo bench -p soft-delete-benches --bench archive` (needs `PG_DATABASE_URL` or a local
//! server at the default URL). Environment:
//!
//! - `ARCHIVE_BENCH_SIZES=small,1000,10000` (the default) picks the sizes; 100k only when
//!   asked (`...,100000`): it alone takes minutes;
//! - `ARCHIVE_BENCH_LATENCY_SIZES=small,1000` (the default) the sizes measured with 1 ms added
//!   (empty: none);
//! - `ARCHIVE_BENCH_PAIRS=15` the rounds of each paired measurement;
//! - `ARCHIVE_BENCH_ONLY=autocommit` runs the autocommit pairings alone;
//! - `ARCHIVE_BENCH_SHOW_SQL=1` prints the statements each autocommit side sends.

use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use criterion::{Criterion, SamplingMode};
use diesel::connection::{AnsiTransactionManager, SimpleConnection, TransactionManager};
use diesel::dsl::exists;
use diesel::prelude::*;
use soft_delete_benches::latency::{self, Added};
use soft_delete_benches::{
    median, peak_memory_kib, ratio, reset_peak_memory, BenchSchema, StatementLog,
};
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

diesel::table! {
    /// The library's archive log (`soft_delete_runtime::ddl::archive_log`), the columns the
    /// hand-written archive writes.
    soft_delete_archive_log (id) {
        id -> BigInt,
        archived_at -> Timestamp,
        root_table -> Text,
        root_key -> Nullable<Text>,
        root_count -> BigInt,
        counts -> Text,
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

/// Items per order, but in the `small` size.
const ITEMS_PER_ORDER: i32 = 10;
/// Other users, each with as many items as the archived one.
const OTHER_USERS: i32 = 10;
/// The user whose subtree is archived.
const TARGET: i32 = 1;

/// One user's subtree: its orders and their order items (spread evenly over the orders).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Size {
    orders: i32,
    items: i32,
}

impl Size {
    /// A typical delete request: 3 orders, 10 order items.
    const SMALL: Size = Size {
        orders: 3,
        items: 10,
    };

    /// `small` (or `10`), else a number of order items, ten per order.
    fn parse(text: &str) -> Option<Size> {
        match text.trim() {
            "small" | "10" => Some(Size::SMALL),
            n => n.parse().ok().map(|items: i32| Size {
                orders: (items / ITEMS_PER_ORDER).max(1),
                items,
            }),
        }
    }

    /// `small`, or the number of order items.
    fn name(self) -> String {
        if self == Size::SMALL {
            "small".into()
        } else {
            self.items.to_string()
        }
    }

    /// The criterion group of this size.
    fn group(self) -> String {
        if self == Size::SMALL {
            "archive_small".into()
        } else {
            format!("archive_{}_items", self.items)
        }
    }

    /// The rows one archive of the subtree changes: the user, its orders and their items.
    fn archived(self) -> u64 {
        (1 + self.orders + self.items) as u64
    }
}

/// The sizes in `variable` (comma-separated), else `default`.
fn sizes(variable: &str, default: &str) -> Vec<Size> {
    std::env::var(variable)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .filter(|s| !s.trim().is_empty())
        .map(|s| Size::parse(s).unwrap_or_else(|| panic!("{variable}: not a size: {s:?}")))
        .collect()
}

/// Creates the tables with `size` (orders and order items) per user for 1 + `OTHER_USERS` users.
fn fill(conn: &mut PgConnection, size: Size) -> QueryResult<()> {
    let users = 1 + OTHER_USERS;
    let Size {
        orders: orders_per_user,
        items,
    } = size;
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
         -- item i of a user goes to order (i - 1) % orders + 1, each order's items stored together
         INSERT INTO order_items (order_id, sku)
           SELECT orders.id, 'sku-' || ((i - 1) / {orders_per_user} + 1)
           FROM generate_series(1, {users}) AS u CROSS JOIN generate_series(1, {items}) AS i
           JOIN orders ON orders.user_id = u AND orders.code = 'o-' || u || '-' || ((i - 1) % {orders_per_user} + 1)
           ORDER BY orders.id, i;
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

/// A stamp for a hand-written archive: now, as the library's deletions take it.
fn now_stamp() -> NaiveDateTime {
    NaiveDateTime::from(soft_delete_runtime::DeletionOf::<users::table>::now().timestamp())
}

/// The hand-written archive's statements, in the caller's transaction: the protect check (one
/// `SELECT EXISTS`), then one `UPDATE` per table, each stamping `at`. Returns the rows archived
/// in users, orders and order items.
fn hand_statements(
    conn: &mut PgConnection,
    at: NaiveDateTime,
) -> Result<[u64; 3], soft_delete_runtime::Error> {
    let protected: bool = diesel::select(exists(
        invoices::table
            .filter(invoices::user_id.eq(TARGET))
            .filter(invoices::deleted_at.is_null()),
    ))
    .get_result(conn)?;
    if protected {
        return Err(soft_delete_runtime::Error::Protected { blockers: vec![] });
    }
    let users = diesel::update(users::table.find(TARGET))
        .filter(users::deleted_at.is_null())
        .set(users::deleted_at.eq(at))
        .execute(conn)?;
    let orders = diesel::update(orders::table.filter(orders::user_id.eq(TARGET)))
        .filter(orders::deleted_at.is_null())
        .set(orders::deleted_at.eq(at))
        .execute(conn)?;
    let archived_orders = orders::table
        .filter(orders::user_id.eq(TARGET))
        .filter(orders::deleted_at.eq(at))
        .select(orders::id);
    let items =
        diesel::update(order_items::table.filter(order_items::order_id.eq_any(archived_orders)))
            .filter(order_items::deleted_at.is_null())
            .set(order_items::deleted_at.eq(at))
            .execute(conn)?;
    Ok([users, orders, items].map(|rows| rows as u64))
}

fn hand_written(conn: &mut PgConnection) -> Result<u64, soft_delete_runtime::Error> {
    conn.transaction(|conn| Ok(hand_statements(conn, now_stamp())?.iter().sum()))
}

/// [`hand_written`] plus the archive log row the collector writes (its stamp, root, and rows
/// per table), inserted once the counts are known: `BEGIN`, the protect `SELECT`, three
/// `UPDATE`s, one `INSERT`, `COMMIT`.
fn hand_written_logged(conn: &mut PgConnection) -> Result<u64, soft_delete_runtime::Error> {
    conn.transaction(|conn| {
        let at = now_stamp();
        let rows = hand_statements(conn, at)?;
        let counts = ["users", "orders", "order_items"]
            .iter()
            .zip(rows)
            .map(|(table, n)| format!("cascade\t{n}\t\t{table}"))
            .collect::<Vec<_>>()
            .join("\n");
        diesel::insert_into(soft_delete_archive_log::table)
            .values((
                soft_delete_archive_log::archived_at.eq(at),
                soft_delete_archive_log::root_table.eq("users"),
                soft_delete_archive_log::root_key.eq(TARGET.to_string()),
                soft_delete_archive_log::root_count.eq(1_i64),
                soft_delete_archive_log::counts.eq(counts),
            ))
            .execute(conn)?;
        Ok(rows.iter().sum())
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
/// previous one vacuumed (the archive log's too: an archive inserts a row even when it is
/// rolled back), and the dirty pages written out, so no iteration pays for its predecessor.
/// `CHECKPOINT` needs a superuser; without one it is skipped.
fn vacuum(conn: &mut PgConnection) {
    conn.batch_execute("VACUUM users, orders, order_items, soft_delete_archive_log")
        .expect("vacuum");
    let _ = conn.batch_execute("CHECKPOINT");
}

/// Runs `archive` after a vacuum; only the archive is timed.
fn timed(conn: &mut PgConnection, archive: Archive) -> Duration {
    vacuum(conn);
    once(conn, archive).0
}

/// The rounds of each paired measurement.
fn rounds() -> usize {
    std::env::var("ARCHIVE_BENCH_PAIRS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(15)
}

/// Undoes a committed archive of the target's subtree, untimed: its rows live again, the
/// archive log emptied (this graph has no `set_null` / `set_default` edge, so an archive writes
/// no journal rows), then, from [`Plans::Cold`], [`vacuum`]ed, so the next archive sees the
/// state the previous one did.
fn unarchive(conn: &mut PgConnection, state: Plans) {
    conn.batch_execute(&format!(
        "UPDATE users SET deleted_at = NULL WHERE id = {TARGET} AND deleted_at IS NOT NULL;
         UPDATE orders SET deleted_at = NULL WHERE user_id = {TARGET} AND deleted_at IS NOT NULL;
         UPDATE order_items SET deleted_at = NULL
           WHERE order_id IN (SELECT id FROM orders WHERE user_id = {TARGET}) AND deleted_at IS NOT NULL;
         DELETE FROM soft_delete_archive_log;"
    ))
    .expect("make the subtree live again");
    if state == Plans::Cold {
        vacuum(conn);
    }
}

/// The state each autocommit archive starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plans {
    /// As in a service between two runs of autovacuum: the statements' plans cached on the
    /// connection (after its first runs, PostgreSQL keeps a generic plan for a prepared
    /// statement), no vacuum between archives. The tables grow by the dead row versions of
    /// every archive and its undoing; the ABBA order spreads that growth over both sides.
    Warm,
    /// Each archive after a [`vacuum`] and a `CHECKPOINT`: the same table state every time, but
    /// a `VACUUM` invalidates every plan that reads the tables, so each statement is planned
    /// again (a large one costs more to plan than a small one), and every page the archive
    /// writes is the first written since the checkpoint (a full-page image in the WAL).
    Cold,
}

impl Plans {
    fn name(self) -> &'static str {
        match self {
            Plans::Warm => "warm",
            Plans::Cold => "cold",
        }
    }
}

/// One archive the way a service runs it: on its own, no transaction open, committed. The
/// subtree is [`unarchive`]d first, untimed; returns the archive's time in milliseconds.
fn autocommit(conn: &mut PgConnection, archive: Archive, expected: u64, state: Plans) -> f64 {
    unarchive(conn, state);
    let depth = AnsiTransactionManager::transaction_manager_status_mut(conn).transaction_depth();
    assert_eq!(depth.ok(), Some(None), "no transaction is open");
    let start = Instant::now();
    let rows = archive(conn).expect("the archive succeeds");
    let time = start.elapsed().as_secs_f64() * 1e3;
    assert_eq!(rows, expected, "the archive archived the whole subtree");
    time
}

/// Autocommit archives of `size` (the tables filled) on `conn`, in ABBA rounds (`collector`,
/// `hand_written_logged`, `hand_written_logged`, `collector`), each archive [`autocommit`]ted
/// on its own:
///
/// - the library sends what `Collector::archive` sends when no transaction is open: today its
///   catalog check (the stamp columns' precision), then a transaction of its own (`BEGIN`, the
///   protect check, the log row's `INSERT`, one `UPDATE` per table, the `UPDATE` of the log
///   row's counts, `COMMIT`): 9 statements; with a one-statement path, that statement;
/// - the hand-written side sends `BEGIN`, the protect `SELECT`, one `UPDATE` per table, the log
///   row's `INSERT`, `COMMIT` ([`hand_written_logged`]).
///
/// Prints `PAIRED autocommit <size> <path> <state> ratio=<r>`: `r` is the median over the rounds of
/// library time / hand-written time (1.00 = as fast; above 1.00 = the library is slower).
fn autocommit_pairs(conn: &mut PgConnection, size: Size, path: &str, how: &str, state: Plans) {
    let expected = size.archived();
    let mut time = |archive: Archive| autocommit(conn, archive, expected, state);
    // Warm up both sides: the connection's prepared statements, the tables' pages. PostgreSQL
    // plans a prepared statement afresh for its first five runs before it weighs a generic plan.
    for _ in 0..6 {
        time(collector);
        time(hand_written_logged);
    }
    let rounds = rounds();
    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (a1, b1, b2, a2) = (
            time(collector),
            time(hand_written_logged),
            time(hand_written_logged),
            time(collector),
        );
        ours.push((a1 + a2) / 2.0);
        theirs.push((b1 + b2) / 2.0);
        ratios.push((a1 + a2) / (b1 + b2));
    }
    let mut sorted = ratios.clone();
    sorted.sort_by(f64::total_cmp);
    let (low, high) = (sorted[rounds / 4], sorted[(rounds * 3).div_ceil(4) - 1]);
    println!(
        "PAIRED autocommit {} {path} {} ratio={:.2} (time ratio: library time / hand-written time, median over {rounds} \
         ABBA rounds, middle half {low:.2}..{high:.2}; 1.00 = as fast, above = library slower): library median {:.3} ms \
         vs hand_written median {:.3} ms per archive ({how}; {} rows)",
        size.name(),
        state.name(),
        median(ratios),
        median(ours),
        median(theirs),
        expected,
    );
}

/// Prints the statements each side of [`autocommit_pairs`] sends per archive (Diesel's
/// `StartQuery` events on a connection of their own, `BEGIN` and `COMMIT` included), counted on
/// an archive after a first one on the connection; with `ARCHIVE_BENCH_SHOW_SQL`, the
/// statements too.
fn autocommit_statements(url: &str, size: Size) {
    let mut conn = PgConnection::establish(url).expect("connect to the benchmark schema");
    let log = StatementLog::attach(&mut conn);
    let mut sent = |archive: Archive| {
        autocommit(&mut conn, archive, size.archived(), Plans::Cold);
        unarchive(&mut conn, Plans::Cold);
        log.take();
        archive(&mut conn).expect("the archive succeeds");
        log.take()
    };
    let (ours, theirs) = (sent(collector), sent(hand_written_logged));
    println!(
        "STATEMENTS autocommit library={} hand={} (per archive of size {}, no transaction open; \
         Diesel StartQuery events, BEGIN and COMMIT included)",
        ours.len(),
        theirs.len(),
        size.name()
    );
    if std::env::var_os("ARCHIVE_BENCH_SHOW_SQL").is_some() {
        for (side, statements) in [("library", ours), ("hand", theirs)] {
            for (n, sql) in statements.iter().enumerate() {
                println!("SQL autocommit {side} {}: {sql}", n + 1);
            }
        }
    }
}

/// The environment variable that makes this program the client inside the netem namespace:
/// the URL of the benchmark schema through the proxy.
const CHILD_URL: &str = "SOFT_DELETE_ARCHIVE_BENCH_URL";

/// The autocommit pairings with 1 ms added per round trip, through `url`, for the sizes of
/// `ARCHIVE_BENCH_LATENCY_SIZES`.
fn delayed(url: &str, added: Added) {
    let how = match added {
        Added::Netem => "1 ms added per round trip by netns + netem",
        Added::Proxy => "1 ms added per round trip by a user-space proxy",
    };
    let mut conn = PgConnection::establish(url).expect("connect to the benchmark schema");
    for size in sizes("ARCHIVE_BENCH_LATENCY_SIZES", "small,1000") {
        for state in [Plans::Warm, Plans::Cold] {
            fill(&mut conn, size).expect("fill the tables");
            autocommit_pairs(&mut conn, size, "+1ms", how, state);
        }
    }
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

/// For one size: criterion's measurements of the three ways in rolled-back transactions,
/// then the rolled-back pairs, and the memory of each way (pushed to `memory`).
fn rolled_back(
    c: &mut Criterion,
    schema: &BenchSchema,
    conn: &mut PgConnection,
    size: Size,
    memory: &mut Vec<(String, &'static str, u64, u64)>,
) {
    let ways: [(&str, Archive); 3] = [
        ("collector", collector),
        ("hand_written", hand_written),
        ("naive_loop", naive_loop),
    ];
    let group_name = size.group();
    {
        let mut group = c.benchmark_group(&group_name);
        group.sample_size(10);
        if size.items < 1_000 {
            // About a millisecond per archive: criterion would run thousands of them to fill
            // five seconds, each after its untimed vacuum and checkpoint (several times the
            // archive's own time). Some hundreds, in equal samples, do.
            group.sampling_mode(SamplingMode::Flat);
            group.warm_up_time(Duration::from_millis(200));
            group.measurement_time(Duration::from_secs(1));
        } else {
            group.warm_up_time(Duration::from_millis(500));
            group.measurement_time(Duration::from_secs(if size.items >= 100_000 {
                20
            } else {
                5
            }));
        }
        for (name, archive) in ways {
            // same work, checked once per size
            assert_eq!(once(conn, archive).1, size.archived(), "{name}");
            group.bench_function(name, |b| {
                b.iter_custom(|iters| (0..iters).map(|_| timed(conn, archive)).sum());
            });
        }
        group.finish();
    }
    ratio(&group_name, "collector", "hand_written");
    ratio(&group_name, "collector", "naive_loop");

    let rounds = rounds();
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
            memory.push((group_name.clone(), name, before, peak));
        }
    }
}

fn main() {
    if let (Ok(way), Ok(url)) = (
        std::env::var("ARCHIVE_BENCH_MEMORY_CHILD"),
        std::env::var("ARCHIVE_BENCH_MEMORY_URL"),
    ) {
        memory_child(&url, &way);
        return;
    }
    if latency::run_child(CHILD_URL, delayed) {
        return;
    }
    let only_autocommit =
        std::env::var("ARCHIVE_BENCH_ONLY").is_ok_and(|only| only == "autocommit");
    let schema = BenchSchema::create("bench_archive");
    let mut conn = schema.connect();
    let conn = &mut conn;
    let mut c = Criterion::default().configure_from_args();
    let mut memory = Vec::new();
    for size in sizes("ARCHIVE_BENCH_SIZES", "small,1000,10000") {
        fill(conn, size).expect("fill the tables");
        if !only_autocommit {
            rolled_back(&mut c, &schema, conn, size, &mut memory);
        }
        autocommit_statements(schema.url(), size);
        for state in [Plans::Warm, Plans::Cold] {
            fill(conn, size).expect("fill the tables");
            autocommit_pairs(conn, size, "loopback", "loopback", state);
        }
    }
    c.final_summary();
    for (group, name, before, peak) in memory {
        println!(
            "MEMORY {group}/{name}: {} KiB above the resident size before the archive \
             (peak {peak} KiB, fresh process)",
            peak.saturating_sub(before)
        );
    }
    if !sizes("ARCHIVE_BENCH_LATENCY_SIZES", "small,1000").is_empty() {
        latency::with_latency(schema.url(), CHILD_URL, delayed);
    }
}
