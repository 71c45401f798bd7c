//! The migrations a service's models need, generated, and the check it runs at start-up.
//!
//! `cargo run --example migrations -- <dir> [sqlite|postgres|mysql] [version]` writes the
//! migrations of this example's models into `<dir>` in the layout `diesel migration run` reads
//! (`<dir>/<version>-0001_soft_delete_archive_log/up.sql`, ...): copy it into your service with
//! your models in place of these.
//!
//! Without arguments it shows the whole cycle on a fresh SQLite file: the tables' own
//! migration and the generated ones written side by side, run with `diesel_migrations`, the
//! start-up check clean, one migration reverted and the check naming what is missing.

use std::path::{Path, PathBuf};

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::schema::{write_migrations, Schema};

diesel::table! {
    users (id) {
        id -> Integer,
        email -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        author_id -> Nullable<Integer>,
        title -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, posts);

/// One live user per email; archiving a user keeps their posts and cuts the link (so its
/// archives need the journal, to put the link back on restore).
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
#[active_unique(fields = "email", name = "one_live_email")]
#[soft_delete(children(posts::author_id = set_null))]
struct User {
    id: i32,
    email: String,
    deleted_at: Option<NaiveDateTime>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
struct Post {
    id: i32,
    author_id: Option<i32>,
    title: String,
    deleted_at: Option<NaiveDateTime>,
}

/// What the service needs of its database: written once, used to generate the migrations and
/// to check the database at start-up.
fn schema() -> Schema {
    Schema::new()
        .model::<User>()
        .model::<Post>()
        .archives::<users::table>()
}

/// The service's own first migration: its tables, with the foreign key and the indexes the
/// archive reads by.
const CREATE_TABLES: &str = "\
CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, deleted_at TIMESTAMP);
CREATE INDEX users_deleted_at ON users (deleted_at);
CREATE TABLE posts (id INTEGER PRIMARY KEY, author_id INTEGER REFERENCES users (id), title TEXT NOT NULL, deleted_at TIMESTAMP);
CREATE INDEX posts_author_id ON posts (author_id);
";

fn dialect(name: &str) -> Result<Dialect, String> {
    match name {
        "sqlite" => Ok(Dialect::Sqlite),
        "postgres" => Ok(Dialect::Postgres),
        "mysql" => Ok(Dialect::Mysql),
        other => Err(format!(
            "unknown dialect `{other}`: sqlite, postgres or mysql"
        )),
    }
}

fn write(
    dir: &Path,
    dialect: Dialect,
    version: &str,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error + Send + Sync>> {
    let written = write_migrations(dir, version, &schema().migrations(dialect)?)?;
    for path in &written {
        println!("wrote {}", path.display());
    }
    Ok(written)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(dir) = args.first() {
        let dialect = dialect(args.get(1).map_or("postgres", String::as_str))?;
        let version = args.get(2).map_or("2025-06-01-120000", String::as_str);
        write(Path::new(dir), dialect, version)?;
        return Ok(());
    }

    let dir = std::env::temp_dir().join("soft-delete-migrations-example");
    let _ = std::fs::remove_dir_all(&dir);
    let tables = dir.join("2025-06-01-000000_create_tables");
    std::fs::create_dir_all(&tables)?;
    std::fs::write(tables.join("up.sql"), CREATE_TABLES)?;
    std::fs::write(
        tables.join("down.sql"),
        "DROP TABLE posts;\nDROP TABLE users;\n",
    )?;
    let written = write(&dir, Dialect::Sqlite, "2025-06-01-120000")?;
    let keys = written.last().ok_or("no migration written")?;
    println!(
        "\n{}/up.sql:\n{}",
        keys.display(),
        std::fs::read_to_string(keys.join("up.sql"))?
    );
    // MySQL and MariaDB have no partial index: the key is a generated column of the table
    // (which `diesel print-schema` lists; load with `as_select()`, as below).
    println!(
        "the same key on MySQL/MariaDB:\n{}\n",
        schema()
            .migrations(Dialect::Mysql)?
            .last()
            .ok_or("no migration")?
            .up
    );

    // A read that forgets to state its visibility panics here (CI runs every example).
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let db = dir.join("example.db");
    let conn = &mut SqliteConnection::establish(&db.to_string_lossy())?;
    let migrations = FileBasedMigrations::from_path(&dir)?;
    conn.run_pending_migrations(migrations.clone())?;
    let report = schema().verify(conn)?;
    println!("at start-up, after `diesel migration run`: {report}");
    assert!(report.is_clean(), "{report}");

    // The key holds: a second live user with the same email is refused by the database itself.
    let ann = User::start(conn, "ann@example.com".to_owned(), |_| {
        users::email.eq("ann@example.com")
    })?;
    assert!(diesel::insert_into(users::table)
        .values(users::email.eq("ann@example.com"))
        .execute(conn)
        .is_err());
    let live: Vec<User> = users::table.active().select(User::as_select()).load(conn)?;
    assert_eq!(live.len(), 1);
    println!("{} is the one live user of that email", ann.email);
    diesel::insert_into(posts::table)
        .values((posts::author_id.eq(ann.id), posts::title.eq("hello")))
        .execute(conn)?;
    let post: Post = posts::table
        .active()
        .select(Post::as_select())
        .first(conn)?;
    assert_eq!(post.author_id, Some(ann.id));
    println!("post {} \"{}\" by user {}", post.id, post.title, ann.id);

    // `diesel migration revert` of the keys' migration: the check names what is gone.
    conn.revert_last_migration(migrations)?;
    let report = schema().verify(conn)?;
    println!("after reverting the last migration:\n{report}");
    assert!(!report.is_clean());
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
