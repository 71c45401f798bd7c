//! A marker of an instant type (chrono's `Option<DateTime<Utc>>` or time's
//! `Option<OffsetDateTime>`, see `soft_delete_tests::stamp::Instant`) on the backends where
//! Diesel maps both: `Timestamptz` on PostgreSQL, `TimestamptzSqlite` on SQLite. (Diesel has no
//! mapping of `DateTime<Utc>` for MySQL; use `NaiveDateTime` there.)

macro_rules! timestamptz_tests {
    ($feature:literal, $module:ident, $conn:ty, $sql_type:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use diesel::prelude::*;
            use soft_delete_runtime::prelude::*;
            use soft_delete_tests::stamp::{instant, utc, Instant};
            use soft_delete_tests::TestDb;

            diesel::table! {
                use diesel::sql_types::*;
                events (id) {
                    id -> Integer,
                    title -> Text,
                    cancelled_at -> Nullable<$sql_type>,
                }
            }

            #[derive(Debug, Queryable, Identifiable, SoftDelete)]
            #[diesel(table_name = events)]
            struct Event {
                id: i32,
                title: String,
                #[soft_delete(marker = timestamp)]
                cancelled_at: Option<Instant>,
            }

            #[test]
            fn a_utc_marker_is_written_read_and_cleared() {
                soft_delete_tests::run::<$conn>(module_path!(), |db: &mut TestDb<$conn>| {
                    db.create(
                        "CREATE TABLE events (id {pk}, title {text} NOT NULL, cancelled_at {tstz} NULL);
                         INSERT INTO events (title) VALUES ('launch'), ('party')",
                    );
                    let conn = db.conn();
                    let launch: Event = events::table.filter(events::title.eq("launch")).active().first(conn)?;
                    let when = instant(utc(2026, 11, 23, 8, 15, 0, 0));
                    launch.soft_delete_with(conn, Deletion::at(when))?;

                    let cancelled: Vec<Event> = events::table.only_deleted().load(conn)?;
                    assert_eq!(cancelled.len(), 1);
                    assert_eq!(cancelled[0].title, "launch");
                    assert_eq!(cancelled[0].cancelled_at, Some(when));
                    assert_eq!(events::table.active().count().get_result::<i64>(conn)?, 1);

                    assert_eq!(launch.restore(conn)?, 1);
                    assert_eq!(events::table.active().count().get_result::<i64>(conn)?, 2);
                    Ok(())
                });
            }
        }
    };
}

timestamptz_tests!(
    "sqlite",
    sqlite,
    diesel::SqliteConnection,
    TimestamptzSqlite
);
timestamptz_tests!("postgres", postgres, diesel::PgConnection, Timestamptz);
