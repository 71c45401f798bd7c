//! The visibility guard: a read of a soft-deletable table that does not state which rows it
//! means to see is refused in tests (panic mode) and logged or counted in production; the
//! `.with_deleted()` trace and `guard::allow` say "every row, on purpose".
//!
//! `cargo run --example guard`

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::guard::{self, Guard, Mode};
use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<NaiveDateTime>,
}

fn connect() -> Result<SqliteConnection, Box<dyn std::error::Error + Send + Sync>> {
    let mut conn = SqliteConnection::establish(":memory:")?;
    conn.batch_execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP);
         INSERT INTO users (name, deleted_at) VALUES ('ann', NULL), ('bob', '2026-01-01 00:00:00')",
    )?;
    Ok(conn)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // --- test set-up ---
    // Tests and CI: every connection opened from now on panics on a read that does not state
    // its visibility, naming the table and the statement.
    guard::install_default(Mode::Panic)?;
    // --- end test set-up ---
    let conn = &mut connect()?;

    // --- stated ---
    let live: Vec<User> = users::table.active().load(conn)?;
    let gone: Vec<User> = users::table.only_deleted().load(conn)?;
    // `WHERE (deleted_at IS NULL OR TRUE)`: every row, on purpose, at no cost to the plan
    let every: i64 = users::table.with_deleted().count().get_result(conn)?;
    // --- end stated ---
    assert_eq!((live.len(), gone.len(), every), (1, 1, 2));

    // --- allow ---
    // The rare intended raw read says so at its call site: a closure...
    let rows: i64 = guard::allow(|| users::table.count().get_result(conn))?;
    // ...or a guard value, until the end of its scope (`guard::allow_async` for a future).
    {
        let _dump = guard::Allow::here();
        let names: Vec<String> = users::table.select(users::name).load(conn)?;
        println!("{rows} rows: {names:?}");
    }
    // --- end allow ---

    // --- production ---
    // Production: log through `tracing` (feature "tracing": one warning per leaky statement
    // text, target `soft_delete_runtime::guard`), or only count, for metrics.
    let logged = &mut connect()?;
    logged.set_instrumentation(Guard::new(Dialect::Sqlite, Mode::Log));
    let counted = &mut connect()?;
    let guard = Guard::new(Dialect::Sqlite, Mode::Count);
    let counts = guard.counts();
    counted.set_instrumentation(guard);

    let forgot: i64 = users::table.count().get_result(counted)?; // reported, not refused
    println!("{forgot} users, {} leaky statements", counts.leaky());
    // --- end production ---
    users::table.count().get_result::<i64>(logged)?;
    assert_eq!((forgot, counts.statements(), counts.leaky()), (2, 1, 1));

    // The checker is a function too.
    let leaks = guard::check("SELECT name FROM users WHERE id = ?", Dialect::Sqlite)?;
    println!("{}", leaks[0]);
    assert_eq!(leaks[0].table.name, "users");
    Ok(())
}
