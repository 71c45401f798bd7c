//! How many statements a cascade archive and its restore send, per backend, against the
//! hand-written transaction that hides the same rows (the `protect` check, then an `UPDATE` per
//! table) or shows them again (an `UPDATE` per table).
//! Counted with Diesel's instrumentation (`BEGIN` and `COMMIT` included); the README's table
//! under "Cost" states these numbers, and this test reads it.
//!
//! The graph is an order's: `orders` -> `order_items` -> `item_events` (`cascade`), `payments`
//! (`protect`): no cycle, every table written once, so PostgreSQL archives it in one statement.

use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::{asynchronous, backend_tests, record_statements, Backend};

use crate::collector_schema::*;
use crate::unique_statements::{assert_in_readme, count, line};

/// The hand-written archive of order `id`: refused when a live payment references it, else its
/// items and their events hidden with it. Returns the rows hidden.
fn hand_archive<C>(conn: &mut C, id: i32) -> QueryResult<usize>
where
    C: Connection<Backend: diesel::backend::Backend>,
    C: ArchiveConn,
{
    conn.transaction(|conn| conn.hand_archive(id))
}

/// The statements of [`hand_archive`], on each backend's connection.
trait ArchiveConn {
    fn hand_archive(&mut self, id: i32) -> QueryResult<usize>;
    fn hand_restore(&mut self, id: i32) -> QueryResult<usize>;
}

macro_rules! archive_conn {
    ($($conn:ty),*) => {$(
        impl ArchiveConn for $conn {
            fn hand_archive(&mut self, id: i32) -> QueryResult<usize> {
                let conn = self;
                let blockers: i64 = payments::table
                    .filter(payments::order_id.eq(id))
                    .active()
                    .count()
                    .get_result(conn)?;
                if blockers > 0 {
                    return Err(diesel::result::Error::RollbackTransaction);
                }
                // The items' ids are read inside the first `UPDATE`, before they are hidden.
                let stamp = "'2026-01-01 00:00:00'";
                let events = diesel::sql_query(format!(
                    "UPDATE item_events SET deleted_at = {stamp} WHERE item_id IN \
                     (SELECT id FROM order_items WHERE order_id = {id} AND active) AND deleted_at IS NULL"
                ))
                .execute(conn)?;
                let items = diesel::sql_query(format!(
                    "UPDATE order_items SET active = FALSE WHERE order_id = {id} AND active"
                ))
                .execute(conn)?;
                let orders = diesel::sql_query(format!(
                    "UPDATE orders SET deleted = TRUE, deleted_at = {stamp} WHERE id = {id} AND NOT deleted"
                ))
                .execute(conn)?;
                Ok(orders + items + events)
            }

            fn hand_restore(&mut self, id: i32) -> QueryResult<usize> {
                let conn = self;
                let stamp = "'2026-01-01 00:00:00'";
                let orders = diesel::sql_query(format!(
                    "UPDATE orders SET deleted = FALSE, deleted_at = NULL WHERE id = {id} AND deleted"
                ))
                .execute(conn)?;
                let items = diesel::sql_query(format!(
                    "UPDATE order_items SET active = TRUE WHERE order_id = {id} AND NOT active"
                ))
                .execute(conn)?;
                let events = diesel::sql_query(format!(
                    "UPDATE item_events SET deleted_at = NULL WHERE item_id IN \
                     (SELECT id FROM order_items WHERE order_id = {id} AND active) AND deleted_at = {stamp}"
                ))
                .execute(conn)?;
                Ok(orders + items + events)
            }
        }
    )*};
}

#[cfg(feature = "sqlite")]
archive_conn!(diesel::SqliteConnection);
#[cfg(feature = "postgres")]
archive_conn!(diesel::PgConnection);
#[cfg(feature = "mysql")]
archive_conn!(diesel::MysqlConnection);

backend_tests! {
    fn the_readme_states_the_statements_an_archive_sends(db) {
        seed(db)?;
        create_journal(db);
        let backend = db.backend();
        let run = asynchronous::runtime();
        let (mut on_async, seen_async) = run.block_on(asynchronous::connect_recording(db, asynchronous::Record::Statements));
        let conn = db.conn();
        let seen = record_statements(conn);

        // Orders 1 (sync), 5 (async) and 3 (by hand): each with its items and their events.
        let (library, archived_1) = count(&seen, || Ok(Collector::new(orders::table.find(1)).archive(conn)?))?;
        assert_eq!(archived_1.plan().total_archived(), 1 + 2 + 1);
        let (by_async, archived_5) = count(&seen_async, || {
            Ok(run.block_on(Collector::new(orders::table.find(5)).archive_async(&mut on_async))?)
        })?;
        assert_eq!(archived_5.plan().total_archived(), 1 + 1 + 1);
        let (by_hand, hidden) = count(&seen, || Ok(hand_archive(conn, 3)?))?;
        assert_eq!(hidden, 1 + 1 + 1);
        let mut lines = vec![line("archive (an order, its items and their events)", backend, library, by_async, by_hand)];

        // Order 4, which a live payment protects: refused, nothing written.
        let (library, refused) = count(&seen, || Ok(Collector::new(orders::table.find(4)).archive(conn).unwrap_err()))?;
        assert!(matches!(refused, Error::Protected { .. }), "{refused:?}");
        let (by_async, refused) = count(&seen_async, || {
            Ok(run.block_on(Collector::new(orders::table.find(4)).archive_async(&mut on_async)).unwrap_err())
        })?;
        assert!(matches!(refused, Error::Protected { .. }), "{refused:?}");
        let (by_hand, refused) = count(&seen, || Ok(hand_archive(conn, 4).unwrap_err()))?;
        assert!(matches!(refused, diesel::result::Error::RollbackTransaction), "{refused:?}");
        lines.push(line("archive refused by `protect`", backend, library, by_async, by_hand));
        assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, 2, "orders 2 and 4 are live");

        // The three back: by their batches, and by hand.
        let (library, restored) = count(&seen, || Ok(archived_1.batch().restore(conn)?))?;
        assert_eq!(restored.total_rows(), 1 + 2 + 1);
        let (by_async, restored) = count(&seen_async, || Ok(run.block_on(archived_5.batch().restore_async(&mut on_async))?))?;
        assert_eq!(restored.total_rows(), 1 + 1 + 1);
        let (by_hand, shown) = count(&seen, || Ok(conn.transaction(|conn| conn.hand_restore(3))?))?;
        assert_eq!(shown, 1 + 1 + 1);
        lines.push(line("restore of that archive", backend, library, by_async, by_hand));
        assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, 5, "every order is live again");

        if backend == Backend::Postgres {
            assert_eq!(lines[0], line("archive (an order, its items and their events)", backend, 1, 3, 6));
            assert_eq!(lines[2], line("restore of that archive", backend, 1, 3, 5));
        }
        assert_in_readme(&lines)?;
        Ok(())
    }
}
