//! `reassign` against another connection writing between its check and its first write:
//! the outcome is always one of the two serial orders, never a value validated for a scope
//! written into a row that has left it.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use soft_delete_runtime::ddl::Deferral;
use soft_delete_runtime::deferred::reassign;
use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
use soft_delete_runtime::Error;
use soft_delete_tests::exec::{Exec, ReassignIn as _};
use soft_delete_tests::{backend_tests, verb, Backend, TestConnection};

use crate::deferred_schema::{create_players, numbers_of, players, Key};

/// How long the hook waits for the other connection's statement before letting the
/// reassignment go on (it waits longer only if the statement is blocked by a lock).
const PATIENCE: Duration = Duration::from_secs(2);

/// The other connection's statement, run on its own thread, and its outcome.
type Other = Arc<Mutex<Option<JoinHandle<QueryResult<usize>>>>>;

/// Runs `write` on `other` just before executor `x` (on `conn`, or its own async connection)
/// sends its first `UPDATE`, on a thread of its own, and waits for it up to [`PATIENCE`]: long
/// enough to commit unless a lock holds it back.
fn before_first_update<C, X, W>(x: &mut X, conn: &mut C, other: C, write: W) -> Other
where
    C: TestConnection,
    X: Exec<C>,
    W: FnOnce(&mut C) -> QueryResult<usize> + Send + 'static,
{
    let handle: Other = Arc::new(Mutex::new(None));
    let sink = Arc::clone(&handle);
    let mut other = Some((other, write));
    x.set_instrumentation(conn, move |event: InstrumentationEvent<'_>| {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            if verb(&query.to_string()) != "UPDATE" {
                return;
            }
            let Some((mut other, write)) = other.take() else {
                return;
            };
            let (done, finished) = mpsc::channel();
            let thread = std::thread::spawn(move || {
                let outcome = write(&mut other);
                let _ = done.send(());
                outcome
            });
            let _ = finished.recv_timeout(PATIENCE);
            *sink.lock().expect("not poisoned") = Some(thread);
        }
    });
    handle
}

/// The other connection's outcome, once it is done.
fn other_outcome(handle: &Other) -> QueryResult<usize> {
    let thread = handle
        .lock()
        .expect("not poisoned")
        .take()
        .expect("reassign wrote");
    thread
        .join()
        .expect("the other connection's thread does not panic")
}

/// `(team, number)` of player 2.
macro_rules! player_2 {
    ($conn:expr) => {
        players::table
            .find(2)
            .select((players::team_id, players::squad_number))
            .with_deleted()
            .first::<(i32, i32)>($conn)?
    };
}

backend_tests! {
    fn a_row_moved_out_of_the_scope_between_the_check_and_the_write_is_not_written(db, x) {
        let backend = db.backend();
        let mut keys = vec![Key::Plain];
        if backend == Backend::Postgres {
            // the deferred path too: its first write is the final one
            keys.push(Key::Deferrable(Deferral::InitiallyImmediate));
        }
        for key in keys {
            create_players(db, key)?;
            let other = db.connect();
            let conn = db.conn();
            // Players 1 and 2 of team 1 swap numbers. Meanwhile another connection transfers
            // "the player wearing number 2" to team 3.
            let transfer = before_first_update(x, conn, other, |other: &mut Conn| {
                diesel::update(players::table.filter(players::id.eq(2).and(players::squad_number.eq(2))))
                    .set(players::team_id.eq(3))
                    .execute(other)
            });
            let swapped = x.reassign(conn, reassign(players::squad_number).with_deleted()
                .within(players::team_id.eq(1)), [(1, 2), (2, 1)]);
            x.set_instrumentation(conn, |_: InstrumentationEvent<'_>| {});
            let transferred = other_outcome(&transfer);

            match backend {
                Backend::Postgres | Backend::Mysql => {
                    // The check locked what it read: the transfer waited for the swap, then
                    // found no player wearing number 2.
                    let done = swapped?;
                    assert_eq!(done.changed, 2, "{key:?}");
                    assert_eq!(player_2!(conn), (1, 1), "{key:?}");
                    assert_eq!(transferred?, 0, "{key:?}");
                }
                Backend::Sqlite => {
                    // One writer at a time: the swap's transaction has read the database, so
                    // the transfer cannot commit before it ends.
                    let refused = transferred.expect_err("the swap holds the database");
                    assert!(refused.to_string().contains("database is locked"), "{refused}");
                    assert_eq!(swapped?.changed, 2);
                    assert_eq!(player_2!(conn), (1, 1));
                }
            }
            assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]);
            conn.batch_execute("DROP TABLE players")?;
        }
        Ok(())
    }

    fn a_row_moved_out_of_the_scope_before_the_check_is_reported(db, x) {
        create_players(db, Key::Plain)?;
        let mut other = db.connect();
        let conn = db.conn();
        other.batch_execute("UPDATE players SET team_id = 3 WHERE id = 2")?;
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1)), [(1, 2), (2, 1)])
            .unwrap_err();
        assert!(matches!(&error, Error::NotInScope { rows, .. } if *rows == ["2"]), "{error}");
        assert_eq!(player_2!(conn), (3, 2));
        Ok(())
    }
}
