//! Markers of the `time` crate's types, in every build that turns the feature `time` on: next to
//! chrono's (`--all-features`, where the runtime binds its own stamps through chrono) and alone
//! (`.ci/test`'s second run, where everything goes through `time`). A `PrimitiveDateTime` marker
//! is written, read back, archived in a cascade, restored and purged; an `OffsetDateTime` one is
//! written and cleared on each backend's type for instants, MySQL's included (Diesel maps time's
//! instants there, unlike chrono's `DateTime<Utc>`).
#![cfg(feature = "time")]

use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;
use soft_delete_runtime::{soft_delete_with, Timestamp};
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::{Exec, ExecuteIn};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

diesel::table! {
    shelves (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    books (id) {
        id -> Integer,
        shelf_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = shelves)]
#[soft_delete(children(books::shelf_id = cascade))]
pub struct Shelf {
    pub id: i32,
    pub deleted_at: Option<PrimitiveDateTime>,
}

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = books)]
pub struct Book {
    pub id: i32,
    pub shelf_id: i32,
    pub deleted_at: Option<PrimitiveDateTime>,
}

/// 2023-11-14 22:13:20.123456 UTC, written at UTC+02:00.
fn when() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000)
        .expect("in range")
        .to_offset(UtcOffset::from_hms(2, 0, 0).expect("an offset"))
}

backend_tests! {
    fn a_primitive_date_time_marker_is_written_archived_restored_and_purged(db, x) {
        db.create(
            "CREATE TABLE shelves (id {pk}, deleted_at {ts} NULL);
             CREATE TABLE books (id {pk}, shelf_id {int} NOT NULL, deleted_at {ts} NULL);
             INSERT INTO shelves (id) VALUES (1), (2);
             INSERT INTO books (id, shelf_id) VALUES (1, 1), (2, 1);",
        );
        crate::collector_schema::create_archive_log(db);
        let conn = db.conn();

        // a deletion at a time-crate instant reads back as its wall-clock time in UTC
        let two: Shelf = shelves::table.find(2).active().first(conn)?;
        x.execute(conn, soft_delete_with(&two, Deletion::at(when())))?;
        let read: Shelf = shelves::table.find(2).with_deleted().first(conn)?;
        assert_eq!(read.deleted_at.map(PrimitiveDateTime::assume_utc), Some(when()));
        assert_eq!(read.deleted_at, Some(PrimitiveDateTime::from(Timestamp::from(when()))));

        // a cascade archive stamps the root and its children with the batch's time
        let archived = x.archive(conn, &Collector::new(shelves::table.find(1)))?;
        let stamp = Some(PrimitiveDateTime::from(archived.batch().stamp()));
        let shelf: Shelf = shelves::table.find(1).with_deleted().first(conn)?;
        assert_eq!(shelf.deleted_at, stamp);
        let books: Vec<Book> = books::table.only_deleted().order(books::id).load(conn)?;
        assert_eq!(books.iter().map(|b| (b.id, b.deleted_at)).collect::<Vec<_>>(), [(1, stamp), (2, stamp)]);
        let restored = x.restore(conn, archived.batch())?;
        assert_eq!((restored.rows_of("shelves"), restored.rows_of("books")), (1, 2));
        assert_eq!(books::table.active().count().get_result::<i64>(conn)?, 2);

        // a purge before a time-crate value: shelf 2, deleted in 2023, goes
        let report = x.purge(conn, &mut Purge::before(shelves::table, OffsetDateTime::now_utc()))?;
        assert_eq!((report.deleted_from("shelves"), report.cutoff < Timestamp::now()), (1, true));
        let left: Vec<i32> = shelves::table.with_deleted().select(shelves::id).load(conn)?;
        assert_eq!(left, [1]);
        Ok(())
    }
}

macro_rules! offset_marker_tests {
    ($feature:literal, $module:ident, $conn:ty, $sql_type:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use diesel::prelude::*;
            use soft_delete_runtime::prelude::*;
            use soft_delete_tests::TestDb;
            use time::OffsetDateTime;

            diesel::table! {
                use diesel::sql_types::*;
                alarms (id) {
                    id -> Integer,
                    snoozed_at -> Nullable<$sql_type>,
                }
            }

            #[derive(Debug, Queryable, Identifiable, SoftDelete)]
            #[diesel(table_name = alarms)]
            struct Alarm {
                id: i32,
                #[soft_delete(marker = timestamp)]
                snoozed_at: Option<OffsetDateTime>,
            }

            #[test]
            fn an_offset_date_time_marker_is_written_read_and_cleared() {
                soft_delete_tests::run::<$conn>(module_path!(), |db: &mut TestDb<$conn>| {
                    db.create(
                        "CREATE TABLE alarms (id {pk}, snoozed_at {tstz} NULL);
                         INSERT INTO alarms (id) VALUES (1), (2)",
                    );
                    let conn = db.conn();
                    let alarm: Alarm = alarms::table.find(1).active().first(conn)?;
                    alarm.soft_delete_with(conn, Deletion::at(super::when()))?;
                    let snoozed: Vec<Alarm> = alarms::table.only_deleted().load(conn)?;
                    let snoozed: Vec<_> = snoozed.iter().map(|a| (a.id, a.snoozed_at)).collect();
                    assert_eq!(snoozed, [(1, Some(super::when()))]);
                    assert_eq!(alarm.restore(conn)?, 1);
                    assert_eq!(alarms::table.active().count().get_result::<i64>(conn)?, 2);
                    Ok(())
                });
            }
        }
    };
}

offset_marker_tests!(
    "sqlite",
    sqlite_offset,
    diesel::SqliteConnection,
    TimestamptzSqlite
);
offset_marker_tests!(
    "postgres",
    postgres_offset,
    diesel::PgConnection,
    Timestamptz
);
offset_marker_tests!("mysql", mysql_offset, diesel::MysqlConnection, Datetime);
