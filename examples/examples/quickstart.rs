//! Soft delete in five steps, on a fresh SQLite file:
//! hide a user, see it vanish from `.active()`, list it with `.only_deleted()`,
//! restore it, and finally delete another one for good.
//!
//! Run with `cargo run --example quickstart`.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use soft_delete_runtime::prelude::*;

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/quickstart");

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Integer>,
        deletion_reason -> Nullable<Text>,
    }
}

/// `deleted_at` is the marker (found by its name): `NULL` = live.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    name: String,
    deleted_at: Option<NaiveDateTime>,
    #[soft_delete(deleted_by)]
    deleted_by: Option<i32>,
    #[soft_delete(reason)]
    deletion_reason: Option<String>,
}

fn names(users: &[User]) -> Vec<&str> {
    users.iter().map(|u| u.name.as_str()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let path = std::env::temp_dir().join("soft-delete-quickstart.db");
    let _ = std::fs::remove_file(&path);
    let conn = &mut SqliteConnection::establish(&path.to_string_lossy())?;
    conn.run_pending_migrations(MIGRATIONS)?;
    println!("fresh database at {}", path.display());

    diesel::insert_into(users::table)
        .values(&vec![
            users::name.eq("ann"),
            users::name.eq("bob"),
            users::name.eq("cat"),
        ])
        .execute(conn)?;

    // 1. Soft-delete bob, recording who and why.
    let bob: User = users::table
        .filter(users::name.eq("bob"))
        .active()
        .first(conn)?;
    bob.soft_delete_with(conn, Deletion::now().by(1).reason("asked to leave"))?;
    println!("1. soft-deleted bob");

    // 2. He is hidden from the live scope...
    let live: Vec<User> = users::table.active().order(users::id).load(conn)?;
    println!("2. active users:  {:?}", names(&live));
    assert_eq!(names(&live), ["ann", "cat"]);

    // 3. ...and listed by the deleted one, with the audit columns.
    let gone: Vec<User> = users::table.only_deleted().load(conn)?;
    let bob = &gone[0];
    println!(
        "3. deleted users: {:?} (at {}, by user {}, because {:?})",
        names(&gone),
        bob.deleted_at.map_or("?".into(), |t| t.to_string()),
        bob.deleted_by.unwrap_or_default(),
        bob.deletion_reason.as_deref().unwrap_or_default(),
    );

    // 4. Restore him: the marker and the audit columns are cleared.
    bob.restore(conn)?;
    let everyone: Vec<User> = users::table.with_deleted().order(users::id).load(conn)?;
    println!(
        "4. restored bob:  {:?}",
        names(&users::table.active().order(users::id).load(conn)?)
    );
    assert!(everyone
        .iter()
        .all(|u| u.deleted_at.is_none() && u.deleted_by.is_none()));

    // 5. Hard delete is explicit and final.
    let cat: User = users::table
        .filter(users::name.eq("cat"))
        .active()
        .first(conn)?;
    cat.hard_delete(conn)?;
    let left: Vec<User> = users::table.with_deleted().order(users::id).load(conn)?;
    println!("5. hard-deleted cat; every row left: {:?}", names(&left));
    assert_eq!(names(&left), ["ann", "bob"]);
    Ok(())
}
