//! Several reasons to hide a row. A post is hidden when its author deleted it or when a
//! moderator removed it; visible means neither. On an in-memory SQLite database: the scopes
//! test both flags, each write names the flag it sets, restoring one leaves the other, and a
//! cascade archive sets the primary flag only.
//!
//! Run with `cargo run --example moderation`.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{marker, restore, soft_delete_with};

diesel::table! {
    communities (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        community_id -> Integer,
        title -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamp>,
        removed -> Bool,
        removed_by -> Nullable<Integer>,
        removal_reason -> Nullable<Text>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(communities, posts);

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = communities)]
#[soft_delete(children(posts::community_id = cascade))]
struct Community {
    id: i32,
    deleted_at: Option<NaiveDateTime>,
}

// Two markers: `deleted` (by the author) is the primary one, the one plain writes and
// archives set; `removed` (by a moderator) has its own audit columns.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
struct Post {
    id: i32,
    community_id: i32,
    title: String,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(deleted_at(deleted))]
    deleted_at: Option<NaiveDateTime>,
    #[soft_delete(marker = deleted)]
    removed: bool,
    #[soft_delete(deleted_by(removed))]
    removed_by: Option<i32>,
    #[soft_delete(reason(removed))]
    removal_reason: Option<String>,
}

fn titles(conn: &mut SqliteConnection) -> QueryResult<Vec<String>> {
    posts::table
        .active()
        .order(posts::id)
        .select(posts::title)
        .load(conn)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let conn = &mut SqliteConnection::establish(":memory:")?;
    conn.batch_execute(
        "CREATE TABLE communities (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, community_id INTEGER NOT NULL,
             title TEXT NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at TIMESTAMP,
             removed BOOLEAN NOT NULL DEFAULT FALSE, removed_by INTEGER, removal_reason TEXT);
         INSERT INTO communities (id) VALUES (1);
         INSERT INTO posts (id, community_id, title) VALUES (1, 1, 'hello'), (2, 1, 'spam');",
    )?;
    conn.batch_execute(&soft_delete_runtime::ddl::archive_log::create_table(
        soft_delete_runtime::backend::Dialect::Sqlite,
    ))?;

    // A moderator removes post 2: `marker(column, target)` names the flag a write sets.
    let removal = Deletion::now().by(7).reason("spam");
    soft_delete_with(marker(posts::removed, posts::table.find(2)), removal).execute(conn)?;
    // `.active()` is every marker live; `.only_deleted()` is any marker hiding the row.
    assert_eq!(titles(conn)?, ["hello"]);
    let hidden: Vec<Post> = posts::table.only_deleted().load(conn)?;
    assert_eq!(hidden[0].hidden_by(), ["removed"]);

    // Its author deletes it too (a plain write sets the primary marker); the author's
    // restore clears `deleted` only, so the post stays hidden by the removal.
    let spam: Post = posts::table.find(2).first(conn)?;
    spam.soft_delete(conn)?;
    spam.restore(conn)?;
    assert_eq!(titles(conn)?, ["hello"]);
    // The moderator's restore, on the value, clears `removed` and its audit columns.
    spam.marker(posts::removed).restore(conn)?;
    assert_eq!(titles(conn)?, ["hello", "spam"]);

    // A cascade archive sets the primary marker; restoring the batch clears it where the
    // archive set it, and leaves a removal made in between.
    let rust: Community = communities::table.find(1).first(conn)?;
    let archived = Collector::new(&rust).archive(conn)?;
    soft_delete_with(
        marker(posts::removed, posts::table.find(1)),
        Deletion::now().by(7),
    )
    .execute(conn)?;
    archived.batch().restore(conn)?;
    assert_eq!(titles(conn)?, ["spam"]);
    let hello: Post = posts::table.find(1).first(conn)?;
    assert_eq!(hello.hidden_by(), ["removed"]);
    assert_eq!(
        (hello.deleted, hello.deleted_at, hello.removal_reason),
        (false, None, None)
    );
    // In bulk: `restore(marker(...))` on any target brings back what that marker hid.
    assert_eq!(
        restore(marker(posts::removed, posts::table)).execute(conn)?,
        1
    );
    println!(
        "visible: {:?}; post {} ({}) of community {} was removed by {:?}",
        titles(conn)?,
        hello.id,
        hello.title,
        hello.community_id,
        hello.removed_by
    );
    Ok(())
}
