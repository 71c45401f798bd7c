//! Cascade archive of a shop, on a fresh SQLite file: a user's orders, their items and the
//! user's comments (with every reply under them) are archived together, their reviews lose
//! their author, and an unpaid invoice refuses the whole thing until it is settled. One call
//! archives, one call restores exactly that, and an order archived earlier on its own stays
//! archived; it cannot come back while another live order holds its code. The archive log
//! lists every archive, who made it and why, and restores one by its id.
//!
//! Run with `cargo run --example shop_archive`. The README quotes its sections.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::collector::{check_schema, ArchiveList, Batch, Collector, Rule};
use soft_delete_runtime::ddl::{self, archive_log, journal};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/shop_archive");
const UP_SQL: &str =
    include_str!("../migrations/shop_archive/2026-11-23-000000_create_shop/up.sql");

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
    reviews (id) {
        id -> Integer,
        author_id -> Nullable<Integer>,
        body -> Text,
    }
}

diesel::table! {
    invoices (id) {
        id -> Integer,
        user_id -> Integer,
        total -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    comments (id) {
        id -> Integer,
        author_id -> Integer,
        parent_id -> Nullable<Integer>,
        body -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

// --- relations ---
// Each edge names the child's foreign-key column (a Diesel path, so a typo does not
// compile) and what archiving the parent does to the rows that reference it.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
#[soft_delete(children(
    orders::user_id = cascade,      // archive them too
    comments::author_id = cascade,
    reviews::author_id = set_null,  // keep them, without the author
    invoices::user_id = protect,    // refuse while a live invoice exists
))]
struct User {
    id: i32,
    name: String,
    deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = orders)]
#[soft_delete(children(order_items::order_id = cascade))]
#[active_unique(fields = "code", name = "one_live_order_code")] // a restore respects it too
struct Order {
    id: i32,
    user_id: i32,
    code: String,
    deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, SoftDelete)]
#[diesel(table_name = order_items)]
struct OrderItem {
    id: i32,
    order_id: i32,
    sku: String,
    deleted_at: Option<NaiveDateTime>,
}

// Replies reference the comment they answer: archiving a comment archives the whole thread
// under it, however deep.
#[derive(Debug, Queryable, SoftDelete)]
#[diesel(table_name = comments)]
#[soft_delete(children(comments::parent_id = cascade))]
struct Comment {
    id: i32,
    author_id: i32,
    parent_id: Option<i32>,
    body: String,
    deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = invoices)]
struct Invoice {
    id: i32,
    user_id: i32,
    total: i32,
    deleted_at: Option<NaiveDateTime>,
}
// --- end relations ---

fn setup() -> Result<SqliteConnection, Box<dyn std::error::Error + Send + Sync>> {
    let path = std::env::temp_dir().join("soft-delete-shop-archive.db");
    let _ = std::fs::remove_file(&path);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    conn.run_pending_migrations(MIGRATIONS)?;
    // The migration holds the index the library generates for the key; keep them in step.
    for statement in ddl::active_unique::<Order>(Dialect::Sqlite) {
        assert!(
            UP_SQL.contains(&statement),
            "the migration lacks: {statement}"
        );
    }
    // --- journal ---
    // `set_null` / `set_default` edges keep the links they cut in a journal table, so a
    // restore can put them back; its DDL comes from the library (put it in a migration).
    conn.batch_execute(&journal::create_table(Dialect::Sqlite))?;
    conn.batch_execute(&journal::create_link_index(Dialect::Sqlite))?;
    // --- end journal ---
    // --- archive log ---
    // Every archive takes its batch id and stamp from its row in the archive log, which also
    // records what it archived, when, by whom and why. Its DDL comes from the library too.
    conn.batch_execute(&archive_log::create_table(Dialect::Sqlite))?;
    // --- end archive log ---
    conn.batch_execute(
        "INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob');
         INSERT INTO orders (id, user_id, code) VALUES (1, 1, 'A-1'), (2, 1, 'A-2'), (3, 1, 'A-3'), (4, 2, 'B-1');
         INSERT INTO order_items (order_id, sku) VALUES (1, 'pen'), (1, 'ink'), (2, 'pad'), (3, 'mug'), (4, 'cup');
         INSERT INTO reviews (author_id, body) VALUES (1, 'great pens'), (1, 'slow delivery'), (2, 'ok');
         INSERT INTO invoices (id, user_id, total) VALUES (1, 1, 42);
         INSERT INTO comments (id, author_id, parent_id, body) VALUES
           (1, 1, NULL, 'where is my order?'), (2, 2, 1, 'mine came today'),
           (3, 1, 2, 'lucky you'), (4, 2, 3, ':)'), (5, 2, NULL, 'new pens soon?');",
    )?;
    println!("fresh database at {}", path.display());
    Ok(conn)
}

fn live_codes(conn: &mut SqliteConnection) -> QueryResult<Vec<String>> {
    orders::table
        .active()
        .order(orders::id)
        .select(orders::code)
        .load(conn)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let conn = &mut setup()?;

    // The declared relations agree with the database's foreign keys.
    let report = check_schema::<users::table, _>(conn)?;
    println!("schema check: {report}");
    assert!(report.is_clean());

    // An order cancelled on its own earlier: its own batch.
    let cancelled = Collector::new(orders::table.find(3)).archive(conn)?;
    println!("\nearlier, on its own:\n{}", cancelled.plan());

    // --- preview ---
    let ann: User = users::table.find(1).active().first(conn)?;
    let plan = Collector::new(&ann).preview(conn)?; // SELECTs only: writes and locks nothing
    println!("\npreview of archiving {}:\n{plan}", ann.name);
    // archive 1 row of `users`
    // ├── `orders`.`user_id` cascade: 2 rows archived
    // │   └── `order_items`.`order_id` cascade: 3 rows archived
    // ├── `comments`.`author_id` cascade: 2 rows archived
    // │   └── `comments`.`parent_id` cascade: 3 rows archived (cycle back to `comments`, every level counted)
    // ├── `reviews`.`author_id` set_null: 2 links cut
    // └── `invoices`.`user_id` protect: 1 live row refuses: 1
    // refused: 1 live row protects what this archive would hide
    assert_eq!(plan.blockers()[0].ids, ["1"]);
    // --- end preview ---

    // --- protect ---
    match Collector::new(&ann).archive(conn) {
        Err(Error::Protected { blockers }) => println!("\nrefused: {}", blockers[0]),
        other => panic!("the invoice protects ann: {other:?}"),
    }
    // nothing was written
    assert_eq!(users::table.active().count().get_result::<i64>(conn)?, 2);
    // --- end protect ---

    let invoice: Invoice = invoices::table.find(1).active().first(conn)?;
    println!(
        "\nsettling invoice {} of user {} ({})",
        invoice.id, invoice.user_id, invoice.total
    );
    // --- archive ---
    invoice.soft_delete(conn)?; // settled: no longer live, so no longer protecting

    let archived = Collector::new(&ann) // one transaction, one batch
        .by("support")
        .reason("account closed on request")
        .archive(conn)?;
    println!("\narchived:\n{}", archived.plan());
    assert_eq!(archived.plan().archived("order_items"), 3);
    assert_eq!(live_codes(conn)?, ["B-1"]);
    let authors: Vec<Option<i32>> = reviews::table.select(reviews::author_id).load(conn)?;
    assert_eq!(authors, [None, None, Some(2)]);
    // --- end archive ---

    // --- restore ---
    let restored = archived.batch().restore_by(conn, "support")?; // exactly that batch
    println!(
        "\nrestored {} rows and {} links",
        restored.total_rows(),
        restored.links_of("reviews", "author_id")
    );
    // A-3 was archived by another batch, on its own: it stays archived.
    assert_eq!(live_codes(conn)?, ["A-1", "A-2", "B-1"]);
    let authors: Vec<Option<i32>> = reviews::table.select(reviews::author_id).load(conn)?;
    assert_eq!(authors, [Some(1), Some(1), Some(2)]);
    // --- end restore ---

    // --- trash ---
    // The archive log, newest first, a page at a time: an admin "trash" page.
    for entry in ArchiveList::new().limit(20).load(conn)? {
        let rows: u64 = entry
            .counts()
            .iter()
            .filter(|(_, rule, _)| *rule == Rule::Cascade)
            .map(|(_, _, rows)| rows)
            .sum();
        println!(
            "#{} {} {} {}: {rows} rows, by {:?} ({:?}), restored: {:?}",
            entry.id(),
            entry.archived_at(),
            entry.root_table(),
            entry.root_key().unwrap_or("(several)"),
            entry.by(),
            entry.reason(),
            entry.restored(),
        );
    }
    // An id restores as a batch of its own root table only, and only once.
    let id = archived.batch().id();
    let wrong = Batch::<orders::table>::find(conn, id);
    assert!(matches!(wrong, Err(Error::WrongRoot { .. })));
    let again = Batch::<users::table>::find(conn, id)?.restore(conn);
    assert!(matches!(again, Err(Error::AlreadyRestored { .. })));
    // --- end trash ---
    let invoice: Invoice = invoices::table.find(1).with_deleted().first(conn)?;
    assert!(
        invoice.deleted_at.is_some(),
        "restoring ann's batch leaves the invoice settled by its own soft delete"
    );
    println!(
        "live orders: {:?} (A-3 is still archived)",
        live_codes(conn)?
    );

    // --- restore conflict ---
    // While A-3 was cancelled, bob ordered under the same code. Codes are unique among live
    // orders, so the cancelled order cannot come back: the restore names the live order that
    // holds the code, and writes nothing.
    diesel::insert_into(orders::table)
        .values((orders::user_id.eq(2), orders::code.eq("A-3")))
        .execute(conn)?;
    // Read by name (`as_select`), not by position: on MySQL/MariaDB the key is a generated
    // column of the table too (see `soft_delete_runtime::schema`).
    let bobs: Order = orders::table
        .active()
        .filter(orders::code.eq("A-3"))
        .select(Order::as_select())
        .first(conn)?;
    let err = cancelled.batch().restore(conn).unwrap_err();
    println!("\n{err}");
    let conflict = err.conflict().expect("a conflict on an active-unique key");
    // the ids read as the model's id type (the type of `Order::id`)
    assert_eq!(conflict.live_id().typed::<Order>(), Ok(bobs.id));
    // and the row that was to come back: the cancelled order
    let restored = conflict.restored_id().map(|id| id.typed::<Order>());
    assert_eq!(restored, Some(Ok(3)));
    // --- end restore conflict ---
    assert_eq!(live_codes(conn)?, ["A-1", "A-2", "B-1", "A-3"]);
    bobs.soft_delete(conn)?; // bob cancels his; the code is free again

    // The cancelled order's archive, found again by its id (e.g. from the trash page).
    Batch::<orders::table>::find(conn, cancelled.batch().id())?.restore(conn)?;
    println!("after restoring its own batch: {:?}", live_codes(conn)?);
    assert_eq!(live_codes(conn)?, ["A-1", "A-2", "A-3", "B-1"]);

    let comments: Vec<Comment> = comments::table.active().load(conn)?;
    let items: Vec<OrderItem> = order_items::table.active().load(conn)?;
    let orders: Vec<Order> = orders::table
        .active()
        .select(Order::as_select())
        .load(conn)?;
    println!("everything is back:");
    for order in &orders {
        let skus: Vec<&str> = items
            .iter()
            .filter(|item| item.order_id == order.id)
            .map(|item| item.sku.as_str())
            .collect();
        println!("  order {} of user {}: {skus:?}", order.code, order.user_id);
    }
    for comment in &comments {
        let to = comment
            .parent_id
            .map_or(String::new(), |p| format!(" (re #{p})"));
        println!(
            "  #{} by user {}{to}: {}",
            comment.id, comment.author_id, comment.body
        );
    }
    assert_eq!((comments.len(), orders.len(), items.len()), (5, 4, 5));
    let ann: User = users::table.find(1).with_deleted().first(conn)?;
    assert!(ann.deleted_at.is_none());
    assert!(orders.iter().all(|o| o.deleted_at.is_none()));
    assert!(items.iter().all(|i| i.deleted_at.is_none() && i.id > 0));
    assert!(comments.iter().all(|c| c.deleted_at.is_none()));
    Ok(())
}
