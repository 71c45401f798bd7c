//! The shop the collector tests archive, with real foreign keys:
//!
//! ```text
//! members ─┬─ orders.member_id        cascade ── order_items.order_id cascade ── item_events.item_id cascade
//!          │                                  └─ payments.order_id    protect
//!          ├─ comments.author_id      cascade ── comments.parent_id   cascade (replies)
//!          ├─ reviews.author_id       set_null      (plain table)
//!          ├─ badges.member_id        set_default   (plain table, DEFAULT 1)
//!          ├─ invoices.member_id      protect       (plain table)
//!          ├─ sessions.member_id      cascade(hard_delete) (plain table)
//!          └─ audit_log.member_id     do_nothing    (plain table)
//! ```
//!
//! One marker strategy per level: `members` and `comments` a timestamp, `orders` a deleted
//! flag with a deletion time, `order_items` an active flag with a batch column,
//! `item_events` a timestamp, `payments` a timestamp.

use diesel::prelude::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::ddl::{archive_log, journal};
use soft_delete_runtime::prelude::*;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{Backend, TestConnection, TestDb};

diesel::table! {
    members (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    orders (id) {
        id -> Integer,
        member_id -> Integer,
        code -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    order_items (id) {
        id -> Integer,
        order_id -> Integer,
        sku -> Text,
        active -> Bool,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    item_events (id) {
        id -> Integer,
        item_id -> Integer,
        kind -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    payments (id) {
        id -> Integer,
        order_id -> Integer,
        amount -> Integer,
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

diesel::table! {
    reviews (id) {
        id -> Integer,
        author_id -> Nullable<Integer>,
        body -> Text,
    }
}

diesel::table! {
    badges (id) {
        id -> Integer,
        member_id -> Integer,
        title -> Text,
    }
}

diesel::table! {
    invoices (id) {
        id -> Integer,
        member_id -> Integer,
        total -> Integer,
    }
}

diesel::table! {
    sessions (id) {
        id -> Integer,
        member_id -> Integer,
        token -> Text,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Integer,
        member_id -> Integer,
        entry -> Text,
    }
}

/// Timestamp marker; the root of most tests.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = members)]
#[soft_delete(children(
    orders::member_id = cascade,
    comments::author_id = cascade,
    reviews::author_id = set_null,
    badges::member_id = set_default,
    invoices::member_id = protect,
    sessions::member_id = cascade(hard_delete),
    audit_log::member_id = do_nothing,
))]
pub struct Member {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

/// A deleted flag with a deletion time, which identifies the batch.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = orders)]
#[soft_delete(children(order_items::order_id = cascade, payments::order_id = protect))]
pub struct Order {
    pub id: i32,
    pub member_id: i32,
    pub code: String,
    #[soft_delete(marker = deleted)]
    pub deleted: bool,
    pub deleted_at: Option<Stamp>,
}

/// An active flag with a batch column, which identifies the batch.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = order_items)]
#[soft_delete(children(item_events::item_id = cascade))]
pub struct OrderItem {
    pub id: i32,
    pub order_id: i32,
    pub sku: String,
    #[soft_delete(marker = active)]
    pub active: bool,
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// The third level below the root.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = item_events)]
pub struct ItemEvent {
    pub id: i32,
    pub item_id: i32,
    pub kind: String,
    pub deleted_at: Option<Stamp>,
}

/// A soft-deletable child that protects its order while live.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = payments)]
pub struct Payment {
    pub id: i32,
    pub order_id: i32,
    pub amount: i32,
    pub deleted_at: Option<Stamp>,
}

/// Replies reference their parent comment: a self-referencing cascade.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = comments)]
#[soft_delete(children(comments::parent_id = cascade))]
pub struct Comment {
    pub id: i32,
    pub author_id: i32,
    pub parent_id: Option<i32>,
    pub body: String,
    pub deleted_at: Option<Stamp>,
}

/// A plain (not soft-deletable) table: the rest are read as tuples.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable)]
#[diesel(table_name = reviews)]
pub struct Review {
    pub id: i32,
    pub author_id: Option<i32>,
    pub body: String,
}

/// The shop's tables, with foreign keys (`badges.member_id` defaults to member 1, the
/// "ghost" account links are reset to).
pub(crate) const DDL: &str = "
CREATE TABLE members (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
CREATE TABLE orders (id {pk}, member_id {int} NOT NULL, code {text} NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {ts} NULL,
  FOREIGN KEY (member_id) REFERENCES members (id));
CREATE TABLE order_items (id {pk}, order_id {int} NOT NULL, sku {text} NOT NULL, active {bool} NOT NULL DEFAULT TRUE, archive_batch BIGINT NULL,
  FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE TABLE item_events (id {pk}, item_id {int} NOT NULL, kind {text} NOT NULL, deleted_at {ts} NULL,
  FOREIGN KEY (item_id) REFERENCES order_items (id));
CREATE TABLE payments (id {pk}, order_id {int} NOT NULL, amount {int} NOT NULL, deleted_at {ts} NULL,
  FOREIGN KEY (order_id) REFERENCES orders (id));
CREATE TABLE comments (id {pk}, author_id {int} NOT NULL, parent_id {int} NULL, body {text} NOT NULL, deleted_at {ts} NULL,
  FOREIGN KEY (author_id) REFERENCES members (id), FOREIGN KEY (parent_id) REFERENCES comments (id));
CREATE TABLE reviews (id {pk}, author_id {int} NULL, body {text} NOT NULL, FOREIGN KEY (author_id) REFERENCES members (id));
CREATE TABLE badges (id {pk}, member_id {int} NOT NULL DEFAULT 1, title {text} NOT NULL, FOREIGN KEY (member_id) REFERENCES members (id));
CREATE TABLE invoices (id {pk}, member_id {int} NOT NULL, total {int} NOT NULL, FOREIGN KEY (member_id) REFERENCES members (id));
CREATE TABLE sessions (id {pk}, member_id {int} NOT NULL, token {text} NOT NULL, FOREIGN KEY (member_id) REFERENCES members (id));
CREATE TABLE audit_log (id {pk}, member_id {int} NOT NULL, entry {text} NOT NULL, FOREIGN KEY (member_id) REFERENCES members (id));
";

/// The rows every test starts from:
///
/// - members 1 `ghost`, 2 `ann`, 3 `bob` (has invoice 1), 4 `cat` (order 4 has live payment 1);
/// - orders 1, 2, 5 of ann (order 2's payment 2 is already archived), 3 of bob, 4 of cat;
/// - items 1, 2 of order 1; 3 of order 2; 4 of order 3; 5 of order 4; 6 of order 5;
/// - events of items 1, 3, 4, 6;
/// - comments: 1 by ann, 2 (bob) replies to 1, 3 (cat) to 2, 4 (bob) to 3; 5 by bob, 6 (ann) replies to 5;
/// - reviews 1, 2 by ann, 3 by bob, 4 by nobody; badges 1 ann, 2 bob, 3 ghost;
/// - sessions 1, 2 of ann, 3 of bob; audit entries 1 of ann, 2 of cat.
pub(crate) fn seed<C: TestConnection>(db: &mut TestDb<C>) -> QueryResult<()> {
    create_shop(db);
    insert_shop_rows(db)
}

/// The shop's tables and the archive log, empty.
pub(crate) fn create_shop<C: TestConnection>(db: &mut TestDb<C>) {
    db.create(DDL);
    create_archive_log(db);
}

/// The rows [`seed`] describes.
pub(crate) fn insert_shop_rows<C: TestConnection>(db: &mut TestDb<C>) -> QueryResult<()> {
    db.conn().batch_execute(
        "INSERT INTO members (id, name) VALUES (1, 'ghost'), (2, 'ann'), (3, 'bob'), (4, 'cat');
         INSERT INTO orders (id, member_id, code) VALUES (1, 2, 'A-1'), (2, 2, 'A-2'), (3, 3, 'B-1'), (4, 4, 'C-1'), (5, 2, 'A-3');
         INSERT INTO order_items (id, order_id, sku) VALUES (1, 1, 'pen'), (2, 1, 'ink'), (3, 2, 'pad'), (4, 3, 'pen'), (5, 4, 'cup'), (6, 5, 'mug');
         INSERT INTO item_events (id, item_id, kind) VALUES (1, 1, 'shipped'), (2, 3, 'shipped'), (3, 4, 'returned'), (4, 6, 'shipped');
         INSERT INTO payments (id, order_id, amount) VALUES (1, 4, 10), (2, 2, 20);
         UPDATE payments SET deleted_at = '2026-01-01 00:00:00' WHERE id = 2;
         INSERT INTO comments (id, author_id, parent_id, body) VALUES (1, 2, NULL, 'first');
         INSERT INTO comments (id, author_id, parent_id, body) VALUES (2, 3, 1, 're: first');
         INSERT INTO comments (id, author_id, parent_id, body) VALUES (3, 4, 2, 're: re: first');
         INSERT INTO comments (id, author_id, parent_id, body) VALUES (4, 3, 3, 're: re: re: first');
         INSERT INTO comments (id, author_id, parent_id, body) VALUES (5, 3, NULL, 'second');
         INSERT INTO comments (id, author_id, parent_id, body) VALUES (6, 2, 5, 're: second');
         INSERT INTO reviews (id, author_id, body) VALUES (1, 2, 'good'), (2, 2, 'bad'), (3, 3, 'fine'), (4, NULL, 'anonymous');
         INSERT INTO badges (id, member_id, title) VALUES (1, 2, 'early'), (2, 3, 'helpful'), (3, 1, 'placeholder');
         INSERT INTO invoices (id, member_id, total) VALUES (1, 3, 99);
         INSERT INTO sessions (id, member_id, token) VALUES (1, 2, 't1'), (2, 2, 't2'), (3, 3, 't3');
         INSERT INTO audit_log (id, member_id, entry) VALUES (1, 2, 'joined'), (2, 4, 'joined');",
    )?;
    Ok(())
}

/// The dialect of the test's backend.
pub(crate) fn dialect<C: TestConnection>() -> Dialect {
    match C::BACKEND {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::Mysql => Dialect::Mysql,
    }
}

/// Creates the journal table the `set_null` / `set_default` edges need.
pub(crate) fn create_journal<C: TestConnection>(db: &mut TestDb<C>) {
    for statement in [
        journal::create_table(dialect::<C>()),
        journal::create_link_index(dialect::<C>()),
    ] {
        db.conn()
            .batch_execute(&statement)
            .expect("create the journal");
    }
}

/// Creates the archive log every archive needs (`seed` creates it with the shop).
pub(crate) fn create_archive_log<C: TestConnection>(db: &mut TestDb<C>) {
    db.conn()
        .batch_execute(&archive_log::create_table(dialect::<C>()))
        .expect("create the archive log");
}

/// Every row of every shop table, in key order, as text: two dumps are equal when the
/// tables hold exactly the same values.
#[macro_export]
macro_rules! shop_dump {
    ($conn:expr) => {{
        use $crate::collector_schema::*;
        let conn = $conn;
        let mut dump: Vec<String> = Vec::new();
        macro_rules! table {
            ($table:ident, $row:ty) => {
                // A dump reads every row, on purpose.
                let rows = soft_delete_runtime::guard::allow(|| {
                    $table::table.order($table::id).load::<$row>(conn)
                })?;
                for row in rows {
                    dump.push(format!("{} {:?}", stringify!($table), row));
                }
            };
        }
        table!(members, Member);
        table!(orders, Order);
        table!(order_items, OrderItem);
        table!(item_events, ItemEvent);
        table!(payments, Payment);
        table!(comments, Comment);
        table!(reviews, Review);
        table!(badges, (i32, i32, String));
        table!(invoices, (i32, i32, i32));
        table!(sessions, (i32, i32, String));
        table!(audit_log, (i32, i32, String));
        dump
    }};
}
