//! Races between an archive and other connections, made deterministic: a hook on the
//! archiving connection (Diesel's `Instrumentation`, on the sync connection or on the async
//! one) runs the other connection's statement at an exact point of the archive.

use std::sync::{Arc, Mutex};

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::{backend_tests, Backend, TestConnection};

use crate::collector_schema::*;

/// Runs `other`'s `sql` once, right after the connection `x` archives on (`conn`, or the async
/// one) finishes its first statement whose SQL satisfies `after`; returns whether it succeeded
/// (`None` until it ran).
fn run_once_after<C, X, O>(
    x: &mut X,
    conn: &mut C,
    mut other: O,
    after: fn(&str) -> bool,
    sql: &'static str,
) -> Arc<Mutex<Option<Result<(), String>>>>
where
    C: TestConnection,
    X: Exec<C>,
    O: SimpleConnection + Send + 'static,
{
    let outcome = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&outcome);
    x.set_instrumentation(conn, move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::FinishQuery { query, .. } = event {
            let mut done = sink.lock().expect("not poisoned");
            if done.is_none() && after(&query.to_string()) {
                *done = Some(other.batch_execute(sql).map_err(|e| e.to_string()));
            }
        }
    });
    outcome
}

backend_tests! {
    fn a_link_committed_between_the_journal_and_the_cut_keeps_its_journal(db, x) {
        seed(db)?;
        create_journal(db);
        let backend = db.backend();
        let mut other = db.connect();
        if backend == Backend::Mysql {
            // The new review's foreign key check waits for the archive's lock on ann's row.
            other.batch_execute("SET SESSION innodb_lock_wait_timeout = 1")?;
        }
        let conn = db.conn();
        if backend == Backend::Mysql {
            // At READ COMMITTED InnoDB takes no gap locks: only the foreign key can block.
            x.batch_execute(conn, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")?;
        }
        // Right after the journal has recorded ann's reviews, another connection commits a
        // new review by ann.
        let raced = run_once_after(
            x,
            conn,
            other,
            |sql| sql.starts_with("INSERT INTO") && sql.contains("soft_delete_journal"),
            "INSERT INTO reviews (id, author_id, body) VALUES (5, 2, 'racing')",
        );
        let archived = x.archive(conn, &Collector::new(members::table.find(2)))?;
        let raced = raced.lock().expect("not poisoned").clone().expect("the hook ran");
        x.set_instrumentation(conn, |_: InstrumentationEvent<'_>| {});
        match backend {
            // SQLite lets one writer in at a time: the insert fails, there is no race.
            Backend::Sqlite => assert!(raced.is_err(), "{raced:?}"),
            // InnoDB's foreign key check locks ann's row in share mode, which the archive's
            // update holds: the insert waits for the archive, there is no race either.
            Backend::Mysql => assert!(
                raced.as_ref().is_err_and(|e| e.contains("Lock wait timeout")),
                "{raced:?}"
            ),
            // PostgreSQL's foreign key check takes a KEY SHARE lock, which an update of a
            // non-key column does not block: the review commits in the middle of the archive.
            Backend::Postgres => raced.map_err(|e| format!("the racing insert failed: {e}"))?,
        }

        x.restore(conn, archived.batch())?;
        // Every review that was ann's is ann's again: the racing one was either left pointing
        // at her (it was not journaled, so it was not cut) or cut and put back.
        let ann: Vec<i32> = reviews::table
            .filter(reviews::author_id.eq(2))
            .select(reviews::id)
            .order(reviews::id)
            .load(conn)?;
        let expected: &[i32] = if backend == Backend::Postgres { &[1, 2, 5] } else { &[1, 2] };
        assert_eq!(ann, expected);
        Ok(())
    }

    /// The archive's `UPDATE` of a root waits for another transaction that hides the root
    /// itself; once that commits, the root is no longer live, so the archive hides nothing:
    /// its children follow the roots it updated (PostgreSQL: the `RETURNING` of the same
    /// statement), not the roots it read before.
    fn a_root_hidden_while_the_archive_waits_for_it_takes_none_of_its_children(db, x) {
        seed(db)?;
        create_journal(db);
        if db.backend() == Backend::Sqlite {
            // One writer at a time: the other transaction cannot hold the row meanwhile.
            return Ok(());
        }
        let mut holder = db.connect();
        holder.batch_execute(
            "BEGIN; UPDATE orders SET deleted = TRUE, deleted_at = '2026-01-01 00:00:00' WHERE id = 1",
        )?;
        let commit = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            holder.batch_execute("COMMIT")
        });
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(orders::table.find(1)))?;
        commit.join().expect("the committing thread")?;
        assert_eq!(archived.plan().total_archived(), 0, "{}", archived.plan());
        let live_items: i64 = order_items::table
            .filter(order_items::order_id.eq(1))
            .active()
            .count()
            .get_result(conn)?;
        assert_eq!(live_items, 2, "order 1's items stay live");
        Ok(())
    }

    /// Two restores of one batch at once: the second waits for the first's claim of the batch
    /// (its log row), and once the first commits it finds the batch restored and writes
    /// nothing (PostgreSQL: its one statement claims nothing, then the transaction says why).
    fn a_restore_waiting_for_a_concurrent_restore_of_its_batch_finds_it_restored(db, x) {
        seed(db)?;
        create_journal(db);
        if db.backend() == Backend::Sqlite {
            // One writer at a time: the other transaction cannot hold the row meanwhile.
            return Ok(());
        }
        let archived = Collector::new(orders::table.find(1)).archive(db.conn())?;
        let mut other = db.connect();
        other.batch_execute("BEGIN")?;
        let first = archived.batch().restore(&mut other)?;
        assert_eq!(first.rows_of("order_items"), 2);
        let commit = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            other.batch_execute("COMMIT")
        });
        let conn = db.conn();
        let second = x.restore(conn, archived.batch());
        commit.join().expect("the committing thread")?;
        assert!(matches!(second, Err(Error::AlreadyRestored { .. })), "{second:?}");
        let live_items: i64 = order_items::table
            .filter(order_items::order_id.eq(1))
            .active()
            .count()
            .get_result(conn)?;
        assert_eq!(live_items, 2, "order 1's items are back, once");
        Ok(())
    }
}
