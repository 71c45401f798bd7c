//! Writes that bypass the library. On an embedded SQLite file: a blog is archived with its
//! posts; a post is undeleted and deleted again by plain Diesel updates of its flag, which
//! leave the archive's deletion time on it, so restoring the archive revives it. Then the
//! trigger `ddl::marker_sync` generates keeps the deletion time in step with the flag, and the
//! same story leaves the post deleted. Last, the PostgreSQL migration of that trigger.
//!
//! Run with `cargo run --example bypass_writes`.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;

diesel::table! {
    blogs (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        blog_id -> Integer,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(blogs, posts);

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = blogs)]
#[soft_delete(children(posts::blog_id = cascade))]
struct Blog {
    id: i32,
    deleted_at: Option<NaiveDateTime>,
}

// A deleted flag with a deletion time, which tells an archive's rows from others.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
struct Post {
    id: i32,
    blog_id: i32,
    #[soft_delete(marker = deleted)]
    deleted: bool,
    deleted_at: Option<NaiveDateTime>,
}

/// Archives blog 1 with its posts, undeletes post 1 and deletes it again by hand, restores
/// the archive, and returns whether post 1 came back.
fn undelete_and_delete_by_hand(conn: &mut SqliteConnection) -> Result<bool, Error> {
    conn.batch_execute(
        "DELETE FROM posts; DELETE FROM blogs;
         INSERT INTO blogs (id) VALUES (1);
         INSERT INTO posts (id, blog_id) VALUES (1, 1), (2, 1);",
    )?;
    let archived = Collector::new(blogs::table.find(1)).archive(conn)?;

    // Undeleted by hand: live, but still carrying the archive's deletion time (and batch id).
    diesel::update(posts::table.find(1))
        .set(posts::deleted.eq(false))
        .execute(conn)?;
    // Deleted again by hand: the stale time and id are still there ...
    diesel::update(posts::table.find(1))
        .set(posts::deleted.eq(true))
        .execute(conn)?;
    // ... so restoring the archive revives the post, which was deleted on its own since.
    archived.batch().restore(conn)?;

    let post: Post = posts::table.find(1).with_deleted().first(conn)?;
    Ok(!post.deleted)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let path = std::env::temp_dir().join("soft-delete-bypass-writes.db");
    let _ = std::fs::remove_file(&path);
    let conn = &mut SqliteConnection::establish(&path.to_string_lossy())?;
    conn.batch_execute(
        "CREATE TABLE blogs (id INTEGER PRIMARY KEY, deleted_at TIMESTAMP);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, blog_id INTEGER NOT NULL REFERENCES blogs (id),
             deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at TIMESTAMP);",
    )?;
    // Every archive is recorded in the archive log.
    conn.batch_execute(&ddl::archive_log::create_table(Dialect::Sqlite))?;

    let revived = undelete_and_delete_by_hand(conn)?;
    println!("without the trigger, the archive's restore revives post 1: {revived}");
    assert!(revived);

    // The migration, for PostgreSQL here: a function and a trigger, and their removal.
    let up: Vec<String> = ddl::marker_sync::<posts::table>(Dialect::Postgres);
    let down: Vec<String> = ddl::drop_marker_sync::<posts::table>(Dialect::Postgres);
    println!(
        "\nup.sql:\n{};\n\ndown.sql:\n{};\n",
        up.join(";\n"),
        down.join(";\n")
    );

    // On this SQLite database: the same trigger in SQLite's form.
    for statement in ddl::marker_sync::<posts::table>(Dialect::Sqlite) {
        conn.batch_execute(&statement)?;
    }
    let revived = undelete_and_delete_by_hand(conn)?;
    println!("with the trigger, post 1 stays deleted: {}", !revived);
    assert!(!revived);
    let blog: Blog = blogs::table.find(1).with_deleted().first(conn)?;
    println!("blog {} is back: deleted_at {:?}", blog.id, blog.deleted_at);
    assert!(blog.deleted_at.is_none());
    let post: Post = posts::table.find(1).with_deleted().first(conn)?;
    println!(
        "post {} of blog {}: deleted {} at {:?}",
        post.id, post.blog_id, post.deleted, post.deleted_at
    );
    Ok(())
}
