//! A cascade archive whose stamp columns hold `DateTime<Utc>` (`Timestamptz` on PostgreSQL,
//! `TimestamptzSqlite` on SQLite), next to a `NaiveDateTime` one: one batch, one instant, and
//! one purge cutoff for both.
//! (Diesel has no mapping of `DateTime<Utc>` for MySQL.) An application's own SQL type for instants
//! works on every backend, MySQL included.

macro_rules! collector_timestamptz_tests {
    ($feature:literal, $module:ident, $conn:ty, $sql_type:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use diesel::prelude::*;
            use soft_delete_runtime::collector::Collector;
            use soft_delete_runtime::prelude::*;
            use soft_delete_runtime::purge::Purge;
            use soft_delete_tests::exec::Exec;
            use soft_delete_tests::stamp::{Instant, Stamp};

            diesel::table! {
                use diesel::sql_types::*;
                events (id) {
                    id -> Integer,
                    cancelled_at -> Nullable<$sql_type>,
                }
            }

            diesel::table! {
                tickets (id) {
                    id -> Integer,
                    event_id -> Integer,
                    deleted_at -> Nullable<Timestamp>,
                }
            }

            #[derive(Debug, Queryable, Identifiable, SoftDelete)]
            #[diesel(table_name = events)]
            #[soft_delete(children(tickets::event_id = cascade))]
            struct Event {
                id: i32,
                #[soft_delete(marker = timestamp)]
                cancelled_at: Option<Instant>,
            }

            #[derive(Debug, Queryable, Identifiable, SoftDelete)]
            #[diesel(table_name = tickets)]
            struct Ticket {
                id: i32,
                event_id: i32,
                deleted_at: Option<Stamp>,
            }

            soft_delete_tests::backend_tests! {
                type Conn = $conn;

                fn a_utc_stamp_and_a_naive_one_are_one_batch(db, x) {
                    db.create(
                        "CREATE TABLE events (id {pk}, cancelled_at {tstz} NULL);
                         CREATE TABLE tickets (id {pk}, event_id {int} NOT NULL, deleted_at {ts} NULL);
                         INSERT INTO events (id) VALUES (1), (2);
                         INSERT INTO tickets (id, event_id) VALUES (1, 1), (2, 1), (3, 2);",
                    );
                    crate::collector_schema::create_archive_log(db);
                    let conn = db.conn();
                    let archived = x.archive(conn, &Collector::new(events::table.find(1)))?;
                    assert_eq!(archived.plan().archived("tickets"), 2);
                    let stamp = archived.batch().stamp();
                    let event: Event = events::table.find(1).with_deleted().first(conn)?;
                    assert_eq!(event.cancelled_at, Some(Instant::from(stamp)));
                    let tickets: Vec<Ticket> = tickets::table.only_deleted().order(tickets::id).load(conn)?;
                    assert_eq!(tickets.iter().map(|t| (t.id, t.event_id)).collect::<Vec<_>>(), [(1, 1), (2, 1)]);
                    assert!(tickets.iter().all(|t| t.deleted_at == Some(Stamp::from(stamp))));

                    let restored = x.restore(conn, archived.batch())?;
                    assert_eq!((restored.rows_of("events"), restored.rows_of("tickets")), (1, 2));
                    assert_eq!(tickets::table.active().count().get_result::<i64>(conn)?, 3);
                    Ok(())
                }

                fn a_purge_cuts_utc_and_naive_stamps_at_one_instant(db, x) {
                    db.create(
                        "CREATE TABLE events (id {pk}, cancelled_at {tstz} NULL);
                         CREATE TABLE tickets (id {pk}, event_id {int} NOT NULL, deleted_at {ts} NULL);
                         INSERT INTO events (id) VALUES (1), (2);
                         INSERT INTO tickets (id, event_id) VALUES (1, 1), (2, 1), (3, 2);",
                    );
                    crate::collector_schema::create_archive_log(db);
                    let conn = db.conn();
                    let first = x.archive(conn, &Collector::new(events::table.find(1)))?;
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    let second = x.archive(conn, &Collector::new(events::table.find(2)))?;

                    let report = x.purge(conn, &mut Purge::before(events::table, second.batch().stamp()))?;

                    assert!(first.batch().stamp() < second.batch().stamp());
                    assert_eq!((report.deleted_from("events"), report.deleted_from("tickets")), (1, 2));
                    assert_eq!(events::table.select(events::id).with_deleted().load::<i32>(conn)?, [2]);
                    assert_eq!(tickets::table.select(tickets::id).with_deleted().load::<i32>(conn)?, [3]);
                    Ok(())
                }
            }
        }
    };
}

collector_timestamptz_tests!(
    "sqlite",
    sqlite,
    diesel::SqliteConnection,
    TimestamptzSqlite
);
collector_timestamptz_tests!("postgres", postgres, diesel::PgConnection, Timestamptz);

/// An application's own SQL type for instants (`UtcTime`: `TIMESTAMPTZ` on PostgreSQL and
/// SQLite, `DATETIME(6)` in UTC on MySQL), on every backend.
mod own_utc_type {
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::purge::Purge;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::{leak, Exec};

    use crate::forum_schema::{person, seed, Person, PersonId};

    backend_tests! {
        fn an_archive_stamps_and_restores_a_utc_time_column_of_its_own_type(db, x) {
            seed(db)?;
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let bob: &Person = leak(person::table.find(PersonId(2)).active().first(conn)?);
            let archived = x.archive(conn, &Collector::new(bob))?;
            let gone: Person = person::table.find(PersonId(2)).with_deleted().first(conn)?;
            assert_eq!(gone.deleted_at, Some(archived.batch().stamp().into()));

            x.restore(conn, archived.batch())?;
            assert_eq!(person::table.active().count().get_result::<i64>(conn)?, 3);

            let again = x.archive(conn, &Collector::new(bob))?;
            let report = x.purge(conn, &mut Purge::before(person::table, again.batch().stamp() + std::time::Duration::from_secs(1)))?;
            assert_eq!(report.deleted_from("person"), 1);
            Ok(())
        }
    }
}
