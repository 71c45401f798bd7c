//! Writes that bypass the library: a flag (or timestamp marker) set by a plain
//! `diesel::update` leaves the deletion time and the batch column as they were, so a row
//! undeleted and deleted again that way is revived by the restore of the archive that hid it
//! first; `ddl::marker_sync`'s trigger keeps them in step.
//!
//! ```text
//! blogs ─┬─ posts.blog_id  cascade   deleted flag + deleted_at (the time identifies the batch)
//!        ├─ notes.blog_id  cascade   active flag + deleted_at + batch column
//!        └─ tags.blog_id   cascade   timestamp marker + batch column
//! ```

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{ddl, soft_delete};
use soft_delete_tests::exec::{Exec, ExecuteIn, RestoreIn};
use soft_delete_tests::stamp::{now, stamp, utc, Stamp};
use soft_delete_tests::{backend_tests, Backend, TestConnection, TestDb, TestResult};

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

diesel::table! {
    notes (id) {
        id -> Integer,
        blog_id -> Integer,
        active -> Bool,
        deleted_at -> Nullable<Timestamp>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    tags (id) {
        id -> Integer,
        blog_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(blogs, posts, notes, tags);

/// The root: a timestamp marker, nothing to keep in step.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = blogs)]
#[soft_delete(children(posts::blog_id = cascade, notes::blog_id = cascade, tags::blog_id = cascade))]
pub struct Blog {
    pub id: i32,
    pub deleted_at: Option<Stamp>,
}

/// A deleted flag with a deletion time.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
pub struct Post {
    pub id: i32,
    pub blog_id: i32,
    #[soft_delete(marker = deleted)]
    pub deleted: bool,
    pub deleted_at: Option<Stamp>,
}

/// An active flag with a deletion time and a batch column.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = notes)]
pub struct Note {
    pub id: i32,
    pub blog_id: i32,
    #[soft_delete(marker = active)]
    pub active: bool,
    pub deleted_at: Option<Stamp>,
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A timestamp marker with a batch column.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = tags)]
pub struct Tag {
    pub id: i32,
    pub blog_id: i32,
    pub deleted_at: Option<Stamp>,
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

fn dialect(backend: Backend) -> Dialect {
    match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::Mysql => Dialect::Mysql,
    }
}

/// The trigger's statements for the three children (up, or down).
fn sync_ddl(dialect: Dialect, up: bool) -> Vec<String> {
    if up {
        [
            ddl::marker_sync::<posts::table>(dialect),
            ddl::marker_sync::<notes::table>(dialect),
            ddl::marker_sync::<tags::table>(dialect),
        ]
        .concat()
    } else {
        [
            ddl::drop_marker_sync::<posts::table>(dialect),
            ddl::drop_marker_sync::<notes::table>(dialect),
            ddl::drop_marker_sync::<tags::table>(dialect),
        ]
        .concat()
    }
}

/// Creates the blog (blog 1 with posts, notes and tags 1 and 2), with the triggers if asked.
fn seed<C: TestConnection>(db: &mut TestDb<C>, trigger: bool) -> TestResult {
    db.create(
        "CREATE TABLE blogs (id {pk}, deleted_at {ts} NULL);
         CREATE TABLE posts (id {pk}, blog_id {int} NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {ts} NULL);
         CREATE TABLE notes (id {pk}, blog_id {int} NOT NULL, active {bool} NOT NULL DEFAULT TRUE, deleted_at {ts} NULL,
             archive_batch BIGINT NULL);
         CREATE TABLE tags (id {pk}, blog_id {int} NOT NULL, deleted_at {ts} NULL, archive_batch BIGINT NULL);
         INSERT INTO blogs (id) VALUES (1);
         INSERT INTO posts (id, blog_id) VALUES (1, 1), (2, 1);
         INSERT INTO notes (id, blog_id) VALUES (1, 1), (2, 1);
         INSERT INTO tags (id, blog_id) VALUES (1, 1), (2, 1);",
    );
    let dialect = dialect(db.backend());
    db.conn()
        .batch_execute(&ddl::archive_log::create_table(dialect))?;
    if trigger {
        for statement in sync_ddl(dialect, true) {
            db.conn().batch_execute(&statement)?;
        }
    }
    Ok(())
}

/// Undeletes post, note and tag 1 with plain Diesel updates of the marker alone.
macro_rules! undelete_by_hand {
    ($conn:expr) => {{
        diesel::update(posts::table.find(1))
            .set(posts::deleted.eq(false))
            .execute($conn)?;
        diesel::update(notes::table.find(1))
            .set(notes::active.eq(true))
            .execute($conn)?;
        diesel::update(tags::table.find(1))
            .set(tags::deleted_at.eq(None::<Stamp>))
            .execute($conn)?;
    }};
}

/// Deletes post, note and tag 1 again with plain Diesel updates of the marker alone.
macro_rules! delete_by_hand {
    ($conn:expr) => {{
        diesel::update(posts::table.find(1))
            .set(posts::deleted.eq(true))
            .execute($conn)?;
        diesel::update(notes::table.find(1))
            .set(notes::active.eq(false))
            .execute($conn)?;
        let now = now();
        diesel::update(tags::table.find(1))
            .set(tags::deleted_at.eq(Some(now)))
            .execute($conn)?;
    }};
}

/// `(live, deletion time, batch)` of post, note and tag `$id`.
macro_rules! state_of {
    ($conn:expr, $id:expr) => {{
        let post: Post = posts::table.find($id).with_deleted().first($conn)?;
        let note: Note = notes::table.find($id).with_deleted().first($conn)?;
        let tag: Tag = tags::table.find($id).with_deleted().first($conn)?;
        [
            (!post.deleted, post.deleted_at, None),
            (note.active, note.deleted_at, note.archive_batch),
            (tag.deleted_at.is_none(), tag.deleted_at, tag.archive_batch),
        ]
    }};
}

backend_tests! {
    fn a_row_undeleted_and_deleted_again_by_hand_comes_back_with_its_batch_unless_the_trigger_syncs(db, x) {
        for trigger in [false, true] {
            seed(db, trigger)?;
            let conn = db.conn();
            let archived = x.archive(conn, &Collector::new(blogs::table.find(1)))?;
            let stamp = Stamp::from(archived.batch().stamp());
            let id = archived.batch().id();
            assert_eq!(
                state_of!(conn, 1),
                [(false, Some(stamp), None), (false, Some(stamp), Some(id)), (false, Some(stamp), Some(id))],
                "the archive's own writes are kept (trigger: {trigger})"
            );

            undelete_by_hand!(conn);
            if trigger {
                assert_eq!(state_of!(conn, 1), [(true, None, None), (true, None, None), (true, None, None)]);
            } else {
                // the hazard: live rows that still carry the archive's time and id
                assert_eq!(state_of!(conn, 1), [(true, Some(stamp), None), (true, Some(stamp), Some(id)), (true, None, Some(id))]);
            }
            delete_by_hand!(conn);
            let again = state_of!(conn, 1);
            let restored = x.restore(conn, archived.batch())?;

            // blog 1 and the rows the archive hid that nobody touched come back in any case
            assert_eq!(state_of!(conn, 2), [(true, None, None), (true, None, None), (true, None, None)]);
            let blog: Blog = blogs::table.find(1).with_deleted().first(conn)?;
            assert_eq!(blog.deleted_at, None);
            if trigger {
                // deleted on their own: a deletion time of their own, no batch, left hidden
                for (live, deleted_at, batch) in again {
                    assert!(!live && batch.is_none(), "{again:?}");
                    let at = deleted_at.expect("a deletion time");
                    assert!(at > stamp && at <= now() + std::time::Duration::from_secs(1), "{again:?}");
                }
                assert_eq!((restored.rows_of("posts"), restored.rows_of("notes"), restored.rows_of("tags")), (1, 1, 1));
                assert!(state_of!(conn, 1).iter().all(|(live, _, _)| !live), "{:?}", state_of!(conn, 1));
            } else {
                // the archive's restore revives rows deleted on their own since
                assert_eq!((restored.rows_of("posts"), restored.rows_of("notes"), restored.rows_of("tags")), (2, 2, 2));
                assert!(state_of!(conn, 1).iter().all(|(live, _, _)| *live), "{:?}", state_of!(conn, 1));
            }
            conn.batch_execute("DROP TABLE tags; DROP TABLE notes; DROP TABLE posts; DROP TABLE blogs; DROP TABLE soft_delete_archive_log")?;
        }
        Ok(())
    }

    fn under_the_trigger_writes_that_set_the_columns_keep_them_and_down_removes_it(db, x) {
        seed(db, true)?;
        let backend = db.backend();
        let conn = db.conn();
        // the library's soft delete and restore, by value
        let post: Post = posts::table.find(1).with_deleted().first(conn)?;
        x.execute(conn, soft_delete(&post))?;
        let deleted: Post = posts::table.find(1).with_deleted().first(conn)?;
        assert!(deleted.deleted && deleted.deleted_at.is_some());
        RestoreIn::<_, Post, _>::restore_row(x, conn, &deleted)?;
        let back: Post = posts::table.find(1).with_deleted().first(conn)?;
        assert!(!back.deleted && back.deleted_at.is_none());

        // a hand-written delete that gives its own time and batch keeps them
        let given = stamp(utc(2020, 5, 17, 8, 30, 0, 0));
        diesel::update(notes::table.find(1))
            .set((notes::active.eq(false), notes::deleted_at.eq(Some(given)), notes::archive_batch.eq(Some(7_i64))))
            .execute(conn)?;
        assert_eq!(state_of!(conn, 1)[1], (false, Some(given), Some(7)));
        // a write that leaves the marker alone fires nothing: the stale time stays
        diesel::update(posts::table.find(2)).set(posts::deleted_at.eq(Some(given))).execute(conn)?;
        assert_eq!(state_of!(conn, 2)[0], (true, Some(given), None));

        // down: plain writes are plain again
        for statement in sync_ddl(dialect(backend), false) {
            conn.batch_execute(&statement)?;
        }
        diesel::update(notes::table.find(1)).set(notes::active.eq(true)).execute(conn)?;
        assert_eq!(state_of!(conn, 1)[1], (true, Some(given), Some(7)));
        Ok(())
    }
}

#[test]
fn tables_with_nothing_to_keep_in_step_get_no_trigger() {
    for dialect in Dialect::ALL {
        assert!(ddl::marker_sync::<blogs::table>(dialect).is_empty());
        assert!(ddl::drop_marker_sync::<blogs::table>(dialect).is_empty());
        assert_eq!(
            ddl::marker_sync::<posts::table>(dialect).len(),
            if dialect == Dialect::Postgres { 2 } else { 1 }
        );
    }
}

#[test]
fn postgres_and_sqlite_sql() {
    assert_eq!(
        ddl::marker_sync::<notes::table>(Dialect::Postgres),
        [
            r#"CREATE FUNCTION "notes_marker_sync"() RETURNS trigger LANGUAGE plpgsql AS $sd$ BEGIN IF NOT NEW."active" THEN IF NEW."deleted_at" IS NULL OR NEW."deleted_at" = OLD."deleted_at" THEN NEW."deleted_at" := (statement_timestamp() AT TIME ZONE 'UTC'); END IF; IF NEW."archive_batch" = OLD."archive_batch" THEN NEW."archive_batch" := NULL; END IF; ELSE NEW."deleted_at" := NULL; NEW."archive_batch" := NULL; END IF; RETURN NEW; END $sd$"#,
            r#"CREATE TRIGGER "notes_marker_sync" BEFORE UPDATE OF "active" ON "notes" FOR EACH ROW WHEN ((NOT OLD."active") <> (NOT NEW."active")) EXECUTE FUNCTION "notes_marker_sync"()"#,
        ]
    );
    assert_eq!(
        ddl::drop_marker_sync::<notes::table>(Dialect::Postgres),
        [
            r#"DROP TRIGGER "notes_marker_sync" ON "notes""#,
            r#"DROP FUNCTION "notes_marker_sync"()"#
        ]
    );
    assert_eq!(
        ddl::marker_sync::<tags::table>(Dialect::Sqlite),
        [
            "CREATE TRIGGER `tags_marker_sync` AFTER UPDATE OF `deleted_at` ON `tags` FOR EACH ROW WHEN (OLD.`deleted_at` IS NOT NULL) <> (NEW.`deleted_at` IS NOT NULL) BEGIN UPDATE `tags` SET `archive_batch` = NULL WHERE `id` = NEW.`id` AND NOT (NEW.`deleted_at` IS NOT NULL); UPDATE `tags` SET `archive_batch` = NULL WHERE `id` = NEW.`id` AND NEW.`deleted_at` IS NOT NULL AND NEW.`archive_batch` = OLD.`archive_batch`; END"
        ]
    );
}

/// MySQL/MariaDB: the deletion time the trigger gives is the current instant in a session of
/// any time zone, for a `TIMESTAMP` column (which reads what it is given in the session's
/// zone) as for a `DATETIME` one (which keeps it as given: UTC, as this crate writes it),
/// whichever SQL type the schema declares.
#[cfg(feature = "mysql")]
mod mysql_session_zone {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::backend::Dialect;
    use soft_delete_runtime::ddl;
    use soft_delete_runtime::prelude::*;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::stamp::{now, Stamp};

    diesel::table! {
        zoned_posts (id) {
            id -> Integer,
            deleted -> Bool,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        wall_posts (id) {
            id -> Integer,
            deleted -> Bool,
            deleted_at -> Nullable<Datetime>,
        }
    }

    /// A flag model whose deletion time is a `TIMESTAMP(6)` column.
    #[derive(Queryable, Identifiable, SoftDelete)]
    #[diesel(table_name = zoned_posts)]
    struct ZonedPost {
        id: i32,
        #[soft_delete(marker = deleted)]
        deleted: bool,
        deleted_at: Option<Stamp>,
    }

    /// The same with a `DATETIME(6)` column.
    #[derive(Queryable, Identifiable, SoftDelete)]
    #[diesel(table_name = wall_posts)]
    struct WallPost {
        id: i32,
        #[soft_delete(marker = deleted)]
        deleted: bool,
        deleted_at: Option<Stamp>,
    }

    backend_tests! {
        type Conn = diesel::MysqlConnection;

        fn the_trigger_stamps_the_current_instant_in_a_session_east_of_utc(db) {
            let conn = db.conn();
            conn.batch_execute(
                "CREATE TABLE zoned_posts (id INTEGER PRIMARY KEY, deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at TIMESTAMP(6) NULL);
                 CREATE TABLE wall_posts (id INTEGER PRIMARY KEY, deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at DATETIME(6) NULL);
                 INSERT INTO zoned_posts (id) VALUES (1);
                 INSERT INTO wall_posts (id) VALUES (1);",
            )?;
            for statement in [
                ddl::marker_sync::<zoned_posts::table>(Dialect::Mysql),
                ddl::marker_sync::<wall_posts::table>(Dialect::Mysql),
            ]
            .concat()
            {
                conn.batch_execute(&statement)?;
            }
            let before = now();
            // another client, five hours east of UTC, deletes by hand
            conn.batch_execute(
                "SET time_zone = '+05:00';
                 UPDATE zoned_posts SET deleted = TRUE WHERE id = 1;
                 UPDATE wall_posts SET deleted = TRUE WHERE id = 1;
                 SET time_zone = '+00:00';",
            )?;
            let after = now();
            let zoned: ZonedPost = zoned_posts::table.find(1).with_deleted().first(conn)?;
            let wall: WallPost = wall_posts::table.find(1).with_deleted().first(conn)?;
            let slack = std::time::Duration::from_secs(60);
            for (column, at) in [("TIMESTAMP", zoned.deleted_at), ("DATETIME", wall.deleted_at)] {
                let at = at.expect("a deletion time");
                assert!(at + slack >= before && at <= after + slack, "{column}: {at} is not between {before} and {after}");
            }
            Ok(())
        }
    }
}
