//! `upsert_new` (PostgreSQL only: it does not compile elsewhere): `upsert` in one statement, for
//! changes built without the live row and a new row built without the counter. The same
//! guarantees and errors as `upsert`, on both executors: the live row updated in place or the
//! key's first live row inserted after its history, nothing written on bad changes or a bad
//! row, racing writers neither lost nor doubled.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::{Exec, ExecKind, FindIn, KeysIn, MergeIn};
use soft_delete_tests::stamp::Stamp;

use crate::retry_new::next_attempt;
use crate::unique::{
    accounts, attempt, create_with_keys, exam_attempts, is_unique_violation, race, seat, seats,
    while_held, winners, Account, ExamAttempt, Seat, SeatKey,
};

diesel::table! {
    /// A table named like one of the statements' CTEs.
    updated (id) {
        id -> Integer,
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
        n -> Integer,
    }
}

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = updated)]
#[active_unique(fields = "code", counter = n)]
struct Updated {
    id: i32,
    code: String,
    deleted_at: Option<Stamp>,
    n: i32,
}

/// Changes that may set nothing: `None` leaves the counter as it is.
#[derive(AsChangeset)]
#[diesel(table_name = exam_attempts)]
struct RetryChange {
    retry: Option<i32>,
}

/// The changes the tests apply: the counter column raised by 10, computed by the statement.
fn bump(
) -> impl FnMut() -> diesel::dsl::Eq<exam_attempts::retry, diesel::dsl::Add<exam_attempts::retry, i32>>
{
    || exam_attempts::retry.eq(exam_attempts::retry + 10)
}

/// The statements `op` sent, without the async form's own `BEGIN` and `COMMIT`.
fn sent_by<X: ExecKind>(x: &X, sent: &[String]) -> Vec<String> {
    let control = |s: &String| x.is_async() && (s == "BEGIN" || s == "COMMIT");
    sent.iter().filter(|s| !control(s)).cloned().collect()
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    /// Makes every `statement` (`INSERT` or `UPDATE`) on `exam_attempts` change nothing: a
    /// `BEFORE` trigger that returns `NULL`.
    fn skip_every(conn: &mut diesel::PgConnection, statement: &str) -> QueryResult<()> {
        let name = format!("skip_{}", statement.to_lowercase());
        conn.batch_execute(&format!(
            "CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$;
             CREATE TRIGGER {name} BEFORE {statement} ON exam_attempts FOR EACH ROW EXECUTE FUNCTION {name}();"
        ))
    }

    backend_tests! {
        type Conn = diesel::PgConnection;

        fn upsert_new_updates_the_live_row_or_inserts_one_in_one_statement(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let seen = x.record_statements(conn);
            // No row: inserted, the counter at its first value.
            let inserted = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())?;
            assert_eq!((inserted.exam_id, inserted.learner_id, inserted.active, inserted.retry), (1, 7, true, 0));
            // A live row: updated in place, the change computed from the row by the statement.
            let updated = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())?;
            assert_eq!((updated.id, updated.retry, updated.active), (inserted.id, 10, true));
            let sent = seen.lock().unwrap().clone();
            let statements = sent_by(x, &sent);
            assert_eq!(statements.len(), 2, "one statement per call: {sent:#?}");
            if x.is_async() {
                assert_eq!(sent.len(), 6, "the async form's statement in a transaction of its own: {sent:#?}");
            }
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);

            // After a retirement, the counter continues after the history.
            updated.soft_delete(conn)?;
            let again = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())?;
            assert_eq!((again.retry, again.active), (11, true));
            assert_ne!(again.id, updated.id);
            let history = FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?;
            assert_eq!(history.iter().map(|a| (a.id, a.active)).collect::<Vec<_>>(), [(again.id, true), (updated.id, false)]);
            // `upsert` and `upsert_new` take turns on one key.
            let by_upsert = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), |live: &ExamAttempt| exam_attempts::retry.eq(live.retry + 1))?;
            let by_new = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())?;
            assert_eq!((by_upsert.id, by_new.id, by_upsert.retry, by_new.retry), (again.id, again.id, 12, 22));

            // A deleted flag and a 64-bit counter, on one of a model's two keys; changes that
            // are binds only.
            let seat_row = || (seats::room.eq("A"), seats::seat_no.eq(1), seats::holder.eq("ann"), seats::deleted.eq(false));
            let first = MergeIn::<_, Seat, SeatKey, _, _>::upsert_new(x, conn, ("A".into(), 1), seat_row, || seats::holder.eq("bob"))?;
            assert_eq!((first.revision, first.holder.as_str()), (0, "ann"));
            let moved = MergeIn::<_, Seat, SeatKey, _, _>::upsert_new(x, conn, ("A".into(), 1), seat_row, || seats::holder.eq("bob"))?;
            assert_eq!((moved.id, moved.revision, moved.holder.as_str()), (first.id, 0, "bob"));

            // A timestamp marker and no counter.
            let ann_row = || (accounts::email.eq("ann@x"), accounts::deleted_at.eq(None::<Stamp>));
            let same_id = || accounts::id.eq(accounts::id);
            let ann = MergeIn::<_, Account, _, _, _>::upsert_new(x, conn, "ann@x".into(), ann_row, same_id)?;
            let again = MergeIn::<_, Account, _, _, _>::upsert_new(x, conn, "ann@x".into(), ann_row, same_id)?;
            assert_eq!(ann, again);
            ann.soft_delete(conn)?;
            let new_ann = MergeIn::<_, Account, _, _, _>::upsert_new(x, conn, "ann@x".into(), ann_row, same_id)?;
            assert!(new_ann.id != ann.id && new_ann.deleted_at.is_none());
            Ok(())
        }

        fn upsert_new_refuses_what_it_cannot_check_and_writes_nothing(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let invalid = |e: &Error, needle: &str| matches!(e, Error::InvalidNewRow { problem, .. } if problem.contains(needle));
            // No live row and a new row of another key, or a dead one: the transaction says so.
            let other_key = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(2), bump()).unwrap_err();
            assert!(invalid(&other_key, "not a live row of the key"), "{other_key}");
            let dead = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), || {
                (exam_attempts::exam_id.eq(1), exam_attempts::learner_id.eq(7), exam_attempts::active.eq(false))
            }, bump())
            .unwrap_err();
            assert!(matches!(dead, Error::InvalidNewRow { .. }), "{dead}");
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 0, "nothing was written");

            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
            // Changes that write or read the key's columns or the marker, refused before anything is sent.
            let seen = x.record_statements(conn);
            let off_key = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), || exam_attempts::learner_id.eq(8)).unwrap_err();
            assert!(invalid(&off_key, "column of the key or a marker"), "{off_key}");
            let killed = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), || exam_attempts::active.eq(false)).unwrap_err();
            assert!(invalid(&killed, "column of the key or a marker"), "{killed}");
            let reads_key = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), || exam_attempts::retry.eq(exam_attempts::exam_id)).unwrap_err();
            assert!(invalid(&reads_key, "column of the key or a marker"), "{reads_key}");
            // The counter is the statement's to set.
            let counted = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), || attempt(1, 7, 9), bump()).unwrap_err();
            assert_eq!(
                counted.to_string(),
                "the new row for key `exam_attempts_exam_id_learner_id_live_key` of `exam_attempts` gives the counter a value: `upsert_new` sets it to one past the key's newest row's; nothing was written"
            );
            // The marker left to its default: the statement cannot check the row is live.
            let defaulted = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), || {
                (exam_attempts::exam_id.eq(1), exam_attempts::learner_id.eq(7))
            }, bump())
            .unwrap_err();
            assert!(invalid(&defaulted, "marker"), "{defaulted}");
            assert!(seen.lock().unwrap().is_empty(), "nothing was sent: {:?}", seen.lock().unwrap().clone());
            assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?, std::slice::from_ref(&first), "nothing was written");

            // Changes that break the model's other key are the database's error, unchanged.
            KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
            KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 2), |n| seat("A", 2, "bob", n))?;
            let seat_row = || (seats::room.eq("A"), seats::seat_no.eq(1), seats::holder.eq("ann"), seats::deleted.eq(false));
            let taken = MergeIn::<_, Seat, SeatKey, _, _>::upsert_new(x, conn, ("A".into(), 1), seat_row, || seats::holder.eq("bob")).unwrap_err();
            assert!(matches!(&taken, Error::Diesel(e) if is_unique_violation(e)), "{taken}");
            let holders: Vec<String> = seats::table.order(seats::seat_no).select(seats::holder).with_deleted().load(conn)?;
            assert_eq!(holders, ["ann", "bob"]);
            Ok(())
        }

        fn upsert_new_with_nothing_to_change_inserts_or_fails_as_upsert_does(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let nothing = || RetryChange { retry: None };
            let empty = |e: &Error| matches!(e, Error::Diesel(diesel::result::Error::QueryBuilderError(e)) if e.is::<diesel::result::EmptyChangeset>());
            // No live row: the new row is inserted, as `upsert` inserts it, in one statement.
            let seen = x.record_statements(conn);
            let first = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), nothing)?;
            assert_eq!((first.exam_id, first.learner_id, first.active, first.retry), (1, 7, true, 0));
            let sent = seen.lock().unwrap().clone();
            assert_eq!(sent_by(x, &sent).len(), 1, "{sent:#?}");
            let by_upsert = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (2, 7), |n| attempt(2, 7, n), |_| RetryChange { retry: None })?;
            assert_eq!((by_upsert.exam_id, by_upsert.retry), (2, 0));
            // A live row: Diesel's error for an update that sets nothing, as `upsert`'s, and
            // nothing written.
            let live = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), nothing).unwrap_err();
            assert!(empty(&live), "{live:?}");
            let live_by_upsert = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), |_| RetryChange { retry: None }).unwrap_err();
            assert!(empty(&live_by_upsert), "{live_by_upsert:?}");
            assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?, [first], "nothing was written");
            // A new row that is not a live row of the key is still refused, nothing written.
            let other_key = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (3, 7), next_attempt(2), nothing).unwrap_err();
            assert!(
                matches!(&other_key, Error::InvalidNewRow { problem, .. } if problem.contains("not a live row of the key")),
                "{other_key}"
            );
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 2, "nothing was written");
            // A changeset that sets something still updates.
            let set = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), || RetryChange { retry: Some(3) })?;
            assert_eq!(set.retry, 3);
            Ok(())
        }

        fn upsert_new_inside_a_transaction_is_part_of_it(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let rolled_back: Result<(), Error> = x.transaction(conn, |x, conn| {
                let first = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())?;
                assert_eq!(first.retry, 0);
                // A refused row, and a statement the database fails (the holder key: bob holds
                // seat A2), leave the caller's transaction usable: each ran in a savepoint.
                let refused = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (2, 7), next_attempt(3), bump());
                assert!(matches!(refused, Err(Error::InvalidNewRow { .. })), "{refused:?}");
                KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
                KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 2), |n| seat("A", 2, "bob", n))?;
                let seat_row = || (seats::room.eq("A"), seats::seat_no.eq(1), seats::holder.eq("ann"), seats::deleted.eq(false));
                let taken = MergeIn::<_, Seat, SeatKey, _, _>::upsert_new(x, conn, ("A".into(), 1), seat_row, || seats::holder.eq("bob"));
                assert!(matches!(&taken, Err(Error::Diesel(e)) if is_unique_violation(e)), "{taken:?}");
                let second = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())?;
                assert_eq!((second.id, second.retry), (first.id, 10));
                Err(Error::Diesel(diesel::result::Error::RollbackTransaction))
            });
            assert!(rolled_back.is_err());
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 0);
            x.transaction(conn, |x, conn| {
                MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump()).map(drop)
            })?;
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);
            Ok(())
        }

        /// A live row another transaction holds: the statement waits for it (the sync one
        /// alone, the async one in its own transaction), and updates it once it is free.
        fn a_held_row_makes_the_statement_wait_then_update_it(db, x) {
            create_with_keys(db)?;
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
            let seen = x.record_statements(db.conn());
            let held = format!("UPDATE exam_attempts SET retry = 5 WHERE id = {}", first.id);
            let updated = while_held(db, &held, |conn| {
                MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())
            })??;
            assert_eq!((updated.id, updated.retry), (first.id, 15), "the change applied to the row as committed");
            let sent = seen.lock().unwrap().clone();
            assert_eq!(sent_by(x, &sent).len(), 1, "the statement waited: {sent:#?}");
            Ok(())
        }

        /// The live row retired by another transaction while the statement waits for it: the
        /// statement writes nothing (its snapshot still saw the row live), and the transaction
        /// inserts the key's next row after it.
        fn a_row_retired_while_the_statement_waits_is_followed_by_a_new_one(db, x) {
            create_with_keys(db)?;
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
            let seen = x.record_statements(db.conn());
            let held = format!("UPDATE exam_attempts SET active = false WHERE id = {}", first.id);
            let next = while_held(db, &held, |conn| {
                MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump())
            })??;
            let conn = db.conn();
            assert_ne!(next.id, first.id);
            assert_eq!((next.retry, next.active), (1, true), "the counter continues after the retired row");
            let sent = seen.lock().unwrap().clone();
            assert!(sent_by(x, &sent).len() > 1, "the statement wrote nothing, the transaction ran: {sent:#?}");
            let history = FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?;
            assert_eq!(history.iter().map(|a| (a.id, a.active)).collect::<Vec<_>>(), [(next.id, true), (first.id, false)]);
            Ok(())
        }

        /// The key's retired row restored and retired again by other transactions while the
        /// statement waits for its lock, both in the statement alone and in the transaction's:
        /// the statement's snapshot saw the row live, so it wrote nothing, though the new row is
        /// valid. That is a racing writer, not an invalid row: the transaction runs again and
        /// inserts the key's next row.
        fn a_row_restored_and_retired_while_the_statement_waits_is_a_race(db, x) {
            use diesel::connection::InstrumentationEvent;
            use std::sync::{Arc, Mutex};
            create_with_keys(db)?;
            let retired = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
            retired.soft_delete(db.conn())?;
            let id = retired.id;
            // Before each of the first two statements: the row restored (committed), then
            // retired by a transaction that commits 300 ms later, while the statement waits.
            let mut restorer = db.connect();
            let mut holders = vec![db.connect(), db.connect()];
            let releases = Arc::new(Mutex::new(Vec::new()));
            let sink = Arc::clone(&releases);
            let conn = db.conn();
            x.set_instrumentation(conn, move |event: InstrumentationEvent<'_>| {
                let InstrumentationEvent::StartQuery { query, .. } = event else { return };
                if !query.to_string().contains("UNION ALL SELECT * FROM \"inserted\"") {
                    return;
                }
                let Some(mut holder) = holders.pop() else { return };
                restorer.batch_execute(&format!("UPDATE exam_attempts SET active = true WHERE id = {id}")).expect("restore");
                holder.batch_execute(&format!("BEGIN; UPDATE exam_attempts SET active = false WHERE id = {id}")).expect("retire");
                sink.lock().unwrap().push(std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(300));
                    holder.batch_execute("COMMIT")
                }));
            });
            let next = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump());
            x.set_instrumentation(conn, |_: InstrumentationEvent<'_>| {});
            let releases: Vec<_> = releases.lock().unwrap().drain(..).collect();
            assert_eq!(releases.len(), 2, "both statements raced");
            for release in releases {
                release.join().expect("the holder's thread")?;
            }
            let next = next?;
            assert_eq!((next.retry, next.active), (1, true), "the counter continues after the retired row");
            let history = FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?;
            assert_eq!(history.iter().map(|a| (a.id, a.active)).collect::<Vec<_>>(), [(next.id, true), (id, false)]);
            Ok(())
        }

        /// A trigger that keeps every `UPDATE` from the table: the statement writes nothing, and
        /// neither does the transaction's, which locked the live row; running again would not
        /// help, so the locked row's `InvalidNewRow` says why, and nothing was written.
        fn an_update_a_trigger_skips_is_reported_not_retried(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
            skip_every(conn, "UPDATE")?;
            let seen = x.record_statements(conn);
            let skipped = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump()).unwrap_err();
            assert!(
                matches!(&skipped, Error::InvalidNewRow { problem, .. } if problem.contains("a trigger or a row-level security policy")),
                "{skipped}"
            );
            let sent = seen.lock().unwrap().clone();
            assert_eq!(
                sent.iter().filter(|s| s.contains("UNION ALL SELECT * FROM \"inserted\"")).count(),
                2,
                "the statement alone, then once in the transaction, not again: {sent:#?}"
            );
            assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?, [first], "nothing was written");
            Ok(())
        }

        /// A trigger that keeps every `INSERT` from the table, on a key with no live row: the new
        /// row is valid, and no writer raced it (the key's rows are as they were), so the
        /// transaction says why at once, as `upsert` does, instead of running again.
        fn an_insert_a_trigger_skips_is_reported_not_retried(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            skip_every(conn, "INSERT")?;
            let seen = x.record_statements(conn);
            let skipped = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, (1, 7), next_attempt(1), bump()).unwrap_err();
            assert!(matches!(&skipped, Error::InvalidNewRow { .. }), "{skipped}");
            let by_upsert = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), |_| exam_attempts::retry.eq(3)).unwrap_err();
            assert!(matches!(&by_upsert, Error::InvalidNewRow { .. }), "{by_upsert}");
            let sent = seen.lock().unwrap().clone();
            assert_eq!(
                sent.iter().filter(|s| s.contains("UNION ALL SELECT * FROM \"inserted\"")).count(),
                2,
                "the statement alone, then once in the transaction, not again: {sent:#?}"
            );
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 0);
            Ok(())
        }

        /// A table named like one of the CTEs, which would hide it inside the statement: `start`
        /// and `retry` take their transaction, the `_new` forms say they cannot.
        fn a_table_named_like_a_cte_is_not_hidden(db, x) {
            use soft_delete_tests::exec::RenewIn;
            db.create("CREATE TABLE updated (id {pk}, code {text} NOT NULL, deleted_at {ts} NULL, n {int} NOT NULL);");
            for statement in soft_delete_runtime::ddl::active_unique::<Updated>(soft_delete_runtime::backend::Dialect::Postgres) {
                db.conn().batch_execute(&statement)?;
            }
            let conn = db.conn();
            let row = |n| (updated::code.eq("a"), updated::deleted_at.eq(None::<Stamp>), updated::n.eq(n));
            let first = KeysIn::<_, Updated, _, _>::start(x, conn, "a".into(), row)?;
            let second = KeysIn::<_, Updated, _, _>::retry(x, conn, "a".into(), |_, n| row(n))?;
            assert_eq!((first.n, second.n), (0, 1));
            let new_row = || (updated::code.eq("a"), updated::deleted_at.eq(None::<Stamp>));
            let renewed = RenewIn::<_, Updated, _, _>::retry_new(x, conn, "a".into(), new_row).unwrap_err();
            assert!(matches!(renewed, Error::Unsupported { feature, .. } if feature.contains("a CTE")), "{renewed}");
            let merged = MergeIn::<_, Updated, _, _, _>::upsert_new(x, conn, "a".into(), new_row, || updated::n.eq(updated::n + 1)).unwrap_err();
            assert!(matches!(merged, Error::Unsupported { feature, .. } if feature.contains("a CTE")), "{merged}");
            assert_eq!(updated::table.with_deleted().count().get_result::<i64>(conn)?, 2, "nothing else was written");
            Ok(())
        }

        /// 8 writers, 3 calls each, on a key with no row: one inserts, every other call updates
        /// the row it inserted, and no update is lost. The second round retires the live row
        /// between calls (`retry`), so that calls insert after the history too.
        fn upsert_new_racing_writers_insert_once_and_lose_no_update(db, x) {
            create_with_keys(db)?;
            let key = (300, 7);
            let outcomes = race(db, x, 8, 3, |x, conn| {
                MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, key, next_attempt(key.0), || {
                    exam_attempts::retry.eq(exam_attempts::retry + 1)
                })
                .map(|a| a.id)
            });
            let ids = winners(&outcomes, "upsert_new");
            assert!(ids.iter().all(|id| *id == ids[0]), "every call wrote one row: {ids:?}");
            let history = ExamAttempt::history(db.conn(), key)?;
            assert_eq!(history.len(), 1, "inserted once");
            assert_eq!(history[0].retry, ids.len() as i32 - 1, "one insert (0), one increment per other call");

            let key = (301, 7);
            let outcomes = race(db, x, 8, 3, |x, conn| {
                let live = MergeIn::<_, ExamAttempt, _, _, _>::upsert_new(x, conn, key, next_attempt(key.0), || {
                    exam_attempts::retry.eq(exam_attempts::retry + 1)
                })?;
                KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, key, |old: &ExamAttempt, n| attempt(old.exam_id, old.learner_id, n)).map(|_| live.id)
            });
            winners(&outcomes, "upsert_new or retry");
            let history = ExamAttempt::history(db.conn(), key)?;
            assert_eq!(history.iter().filter(|a| a.active).count(), 1, "exactly one live row");
            let succeeded = outcomes.iter().filter(|o| o.is_ok()).count();
            assert_eq!(history.len(), succeeded + 1, "one insert, and every retry's row kept");
            Ok(())
        }

        /// The line of the README's table under "Cost".
        #[cfg(feature = "async")]
        fn the_readme_states_the_statements_upsert_new_sends(db) {
            use crate::unique_statements::{assert_readme_line_on_postgres, Retired, hand_update};
            use soft_delete_runtime::asynchronous::ActiveUniqueAsync;
            assert_readme_line_on_postgres(
                db,
                "`upsert_new` (the key is live: an update)",
                Retired::None,
                10,
                |conn| ExamAttempt::upsert_new(conn, (1, 7), next_attempt(1), bump()),
                |hand, conn| hand_update(hand, conn, 2),
                async |conn| ExamAttempt::upsert_new_async(conn, (3, 7), next_attempt(3), bump()).await,
            )?;
            Ok(())
        }
    }
}
