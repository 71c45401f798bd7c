//! `retry_new` (PostgreSQL only: it does not compile elsewhere): `retry` in one statement for a
//! successor built without the retired row. The same guarantees and errors as `retry`, on both
//! executors: the old row kept as history, the counter one past it, nothing written on a bad
//! row, racing writers retried and gap-free.

use std::sync::atomic::{AtomicUsize, Ordering};

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::unique::NoCounter;
use soft_delete_runtime::Error;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::{Exec, ExecKind, FindIn, KeysIn, RenewIn};
use soft_delete_tests::stamp::Stamp;

use crate::unique::{
    account, accounts, answers, attempt, create_with_keys, exam_attempts, is_unique_violation,
    race, seat, seats, while_held, winners, Account, ExamAttempt, HolderKey, NewAttempt, Seat,
    SeatKey,
};

/// A new attempt, as `retry_new` takes it: no counter.
pub(crate) type AttemptRow = (
    diesel::dsl::Eq<exam_attempts::exam_id, i32>,
    diesel::dsl::Eq<exam_attempts::learner_id, i32>,
    diesel::dsl::Eq<exam_attempts::active, bool>,
);

/// A new seat, as `retry_new` takes it: no revision.
type SeatRow = (
    diesel::dsl::Eq<seats::room, &'static str>,
    diesel::dsl::Eq<seats::seat_no, i32>,
    diesel::dsl::Eq<seats::holder, &'static str>,
    diesel::dsl::Eq<seats::deleted, bool>,
);

/// A new attempt of `(exam, 7)` for `retry_new`: live, with no counter (the statement sets it).
pub(crate) fn next_attempt(exam: i32) -> impl FnMut() -> AttemptRow {
    move || {
        (
            exam_attempts::exam_id.eq(exam),
            exam_attempts::learner_id.eq(7),
            exam_attempts::active.eq(true),
        )
    }
}

/// The seat `(room, no)` held by `holder`, live, without its revision.
fn next_seat(room: &'static str, no: i32, holder: &'static str) -> impl FnMut() -> SeatRow {
    move || {
        (
            seats::room.eq(room),
            seats::seat_no.eq(no),
            seats::holder.eq(holder),
            seats::deleted.eq(false),
        )
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    backend_tests! {
        type Conn = diesel::PgConnection;

        fn retry_new_retires_the_live_row_and_inserts_the_next_in_one_statement(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
            diesel::insert_into(answers::table)
                .values((answers::attempt_id.eq(first.id), answers::body.eq("42")))
                .execute(conn)?;
            let seen = x.record_statements(conn);

            let second = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1))?;
            let sent = seen.lock().unwrap().clone();
            assert_eq!(sent.len(), 1, "one statement: {sent:?}");
            assert_ne!(second.id, first.id);
            assert_eq!((second.exam_id, second.learner_id, second.retry, second.active), (1, 7, 1, true));
            let retired: ExamAttempt = exam_attempts::table.find(first.id).with_deleted().first(conn)?;
            assert_eq!(retired, ExamAttempt { active: false, ..first.clone() }, "kept as history");
            let linked: Vec<String> = answers::table.filter(answers::attempt_id.eq(first.id)).select(answers::body).load(conn)?;
            assert_eq!(linked, ["42"], "its answers stay linked to it");

            // Again: one statement.
            let before = seen.lock().unwrap().len();
            let third = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1))?;
            let sent = seen.lock().unwrap()[before..].to_vec();
            assert_eq!(sent.len(), 1, "one statement again: {sent:?}");
            assert_eq!(third.retry, 2);
            let history = FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?;
            assert_eq!(history.iter().map(|a| (a.id, a.active)).collect::<Vec<_>>(), [(third.id, true), (second.id, false), (first.id, false)]);
            // `retry` and `retry_new` take turns on one key.
            let fourth = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |old, n| attempt(old.exam_id, old.learner_id, n))?;
            let fifth = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1))?;
            assert_eq!((fourth.retry, fifth.retry), (3, 4));

            // A timestamp marker and no counter.
            let ann = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".into(), |NoCounter| account("ann@x"))?;
            // `account("ann@x")`'s `None` marker is written `DEFAULT`, which the statement
            // cannot check: refused, nothing written.
            let defaulted = RenewIn::<_, Account, _, _>::retry_new(x, conn, "ann@x".into(), || account("ann@x")).unwrap_err();
            assert!(matches!(defaulted, Error::InvalidNewRow { problem, .. } if problem.contains("treat_none_as_default_value")), "{defaulted}");
            let ann2 = RenewIn::<_, Account, _, _>::retry_new(x, conn, "ann@x".into(), || {
                (accounts::email.eq("ann@x"), accounts::deleted_at.eq(None::<Stamp>))
            })?;
            let old: Account = accounts::table.find(ann.id).with_deleted().first(conn)?;
            assert!(old.deleted_at.is_some() && ann2.deleted_at.is_none());
            assert_ne!(ann2.id, ann.id);

            // A deleted flag and a 64-bit counter, on one of a model's two keys.
            let s0 = KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
            let s1 = RenewIn::<_, Seat, SeatKey, _>::retry_new(x, conn, ("A".into(), 1), next_seat("A", 1, "bob"))?;
            assert_eq!((s1.revision, s1.holder.as_str(), s1.deleted), (1, "bob", false));
            assert!(seats::table.find(s0.id).select(seats::deleted).with_deleted().first::<bool>(conn)?);
            let by_holder = <Seat as ActiveUnique<HolderKey>>::find_live(conn, "bob".into())?;
            assert_eq!(by_holder.map(|s| s.id), Some(s1.id));
            Ok(())
        }

        fn retry_new_fails_as_retry_does_and_writes_nothing(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let none = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1)).unwrap_err();
            assert!(
                matches!(&none, Error::NoLiveRow { key: "exam_attempts_exam_id_learner_id_live_key", values, .. } if values == "(1, 7)"),
                "{none}"
            );
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;

            let other_key = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(2)).unwrap_err();
            assert!(matches!(other_key, Error::InvalidNewRow { problem, .. } if problem.contains("not a live row of the key")), "{other_key}");
            let dead = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), || {
                (exam_attempts::exam_id.eq(1), exam_attempts::learner_id.eq(7), exam_attempts::active.eq(false))
            })
            .unwrap_err();
            assert!(matches!(dead, Error::InvalidNewRow { .. }), "{dead}");
            // The counter is the statement's to set.
            let counted = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), || attempt(1, 7, 9)).unwrap_err();
            assert_eq!(
                counted.to_string(),
                "the new row for key `exam_attempts_exam_id_learner_id_live_key` of `exam_attempts` gives the counter a value: `retry_new` sets it to the retired row's plus one; nothing was written"
            );
            // The marker left to its default: the statement cannot check the row is live.
            let defaulted = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), || {
                (exam_attempts::exam_id.eq(1), exam_attempts::learner_id.eq(7))
            })
            .unwrap_err();
            assert!(matches!(defaulted, Error::InvalidNewRow { problem, .. } if problem.contains("marker")), "{defaulted}");
            assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?, std::slice::from_ref(&first), "nothing was written");

            // A successor that breaks the model's other key is the database's error, unchanged.
            KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
            KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 2), |n| seat("A", 2, "bob", n))?;
            let taken = RenewIn::<_, Seat, SeatKey, _>::retry_new(x, conn, ("A".into(), 1), next_seat("A", 1, "bob")).unwrap_err();
            assert!(matches!(&taken, Error::Diesel(e) if is_unique_violation(e)), "{taken}");
            assert_eq!(seats::table.with_deleted().count().get_result::<i64>(conn)?, 2);
            assert_eq!(seats::table.active().count().get_result::<i64>(conn)?, 2);
            Ok(())
        }

        fn retry_new_inside_a_transaction_is_part_of_it(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
            let rolled_back: Result<(), Error> = x.transaction(conn, |x, conn| {
                let second = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1))?;
                assert_eq!(second.retry, 1);
                // A refused row, and a statement the database fails (the holder key: bob holds
                // seat A2), leave the caller's transaction usable: each ran in a savepoint.
                let refused = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(2));
                assert!(matches!(refused, Err(Error::InvalidNewRow { .. })), "{refused:?}");
                KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
                KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 2), |n| seat("A", 2, "bob", n))?;
                let taken = RenewIn::<_, Seat, SeatKey, _>::retry_new(x, conn, ("A".into(), 1), next_seat("A", 1, "bob"));
                assert!(matches!(&taken, Err(Error::Diesel(e)) if is_unique_violation(e)), "{taken:?}");
                let third = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1))?;
                assert_eq!(third.retry, 2);
                Err(Error::Diesel(diesel::result::Error::RollbackTransaction))
            });
            assert!(rolled_back.is_err());
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);
            x.transaction(conn, |x, conn| {
                RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1)).map(drop)
            })?;
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 2);
            Ok(())
        }

        /// A live row another transaction holds: the sync statement waits for it and is the
        /// only statement sent; the async one does not wait (`NOWAIT`: a dropped future must
        /// leave no statement waiting to commit), so it fails at once and the transaction, whose
        /// wait an abandoned caller never commits, waits instead.
        fn a_held_row_makes_only_the_async_statement_give_way(db, x) {
            create_with_keys(db)?;
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
            let seen = x.record_statements(db.conn());
            let held = format!("SELECT id FROM exam_attempts WHERE id = {} FOR UPDATE", first.id);
            let next = while_held(db, &held, |conn| {
                RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1))
            })??;
            assert_eq!(next.retry, 1);
            let sent = seen.lock().unwrap().clone();
            if x.is_async() {
                assert!(sent[0].contains("FOR NO KEY UPDATE NOWAIT"), "{sent:#?}");
                assert!(sent.len() >= 4, "the statement gave way to the transaction: {sent:#?}");
            } else {
                assert_eq!(sent.len(), 1, "the statement waited: {sent:#?}");
            }
            Ok(())
        }

        /// A child row being inserted (its foreign key holds the attempt `FOR KEY SHARE`) does
        /// not conflict with retiring the attempt, which changes no key: the async statements'
        /// `NOWAIT` lock must not give way to it, so `retry` and `retry_new` send their usual
        /// statements on both executors.
        fn a_child_row_being_inserted_does_not_stop_the_statement(db, x) {
            create_with_keys(db)?;
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
            let seen = x.record_statements(db.conn());
            let held = format!("INSERT INTO answers (attempt_id, body) VALUES ({}, 'x')", first.id);
            let next = while_held(db, &held, |conn| {
                let began = std::time::Instant::now();
                let next = RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, (1, 7), next_attempt(1));
                next.map(|row| (row, began.elapsed()))
            })??;
            let (next, took) = next;
            assert_eq!(next.retry, 1);
            assert!(took < std::time::Duration::from_millis(400), "it did not wait for the holder's commit: {took:?}");
            let sent = seen.lock().unwrap().clone();
            assert_eq!(sent.len(), 1, "retry_new: one statement: {sent:#?}");
            let held = format!("INSERT INTO answers (attempt_id, body) VALUES ({}, 'y')", next.id);
            let before = seen.lock().unwrap().len();
            let third = while_held(db, &held, |conn| {
                KeysIn::<_, ExamAttempt, _, NewAttempt>::retry(x, conn, (1, 7), |old, n| attempt(old.exam_id, old.learner_id, n))
            })??;
            assert_eq!(third.retry, 2);
            let sent = seen.lock().unwrap()[before..].to_vec();
            assert_eq!(sent.len(), 2, "retry: the read and one statement: {sent:#?}");
            Ok(())
        }

        /// The line of the README's table under "Cost".
        #[cfg(feature = "async")]
        fn the_readme_states_the_statements_retry_new_sends(db) {
            use crate::unique_statements::{assert_readme_line_on_postgres, Retired, hand_retry};
            use soft_delete_runtime::asynchronous::ActiveUniqueAsync;
            assert_readme_line_on_postgres(
                db,
                "`retry_new`",
                Retired::None,
                1,
                |conn| ExamAttempt::retry_new(conn, (1, 7), next_attempt(1)),
                |hand, conn| hand_retry(hand, conn, 2),
                async |conn| ExamAttempt::retry_new_async(conn, (3, 7), next_attempt(3)).await,
            )?;
            Ok(())
        }

        /// 8 writers, 5 calls each, on one key: every call either wins or is retried until it
        /// does; one live row, counters 0..k with no gap. The second round mixes `retry` in.
        fn retry_new_racing_writers_lose_nothing_and_leave_one_live_row(db, x) {
            create_with_keys(db)?;
            for (round, mixed) in [(0, false), (1, true)] {
                let key = (200 + round, 7);
                KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), key, |n| attempt(key.0, key.1, n))?;
                let calls = AtomicUsize::new(0);
                let outcomes = race(db, x, 8, 5, |x, conn| {
                    if mixed && calls.fetch_add(1, Ordering::Relaxed) % 2 == 1 {
                        KeysIn::<_, ExamAttempt, _, NewAttempt>::retry(x, conn, key, |old, n| attempt(old.exam_id, old.learner_id, n)).map(drop)
                    } else {
                        RenewIn::<_, ExamAttempt, _, _>::retry_new(x, conn, key, next_attempt(key.0)).map(drop)
                    }
                });
                let succeeded = outcomes.iter().filter(|o| o.is_ok()).count() as i32;
                winners(&outcomes, "retry_new");
                assert!(succeeded * 4 >= 40 * 3, "round {round}: only {succeeded} of 40 succeeded");
                let history = ExamAttempt::history(db.conn(), key)?;
                let live: Vec<&ExamAttempt> = history.iter().filter(|a| a.active).collect();
                assert_eq!(live.len(), 1, "round {round}: exactly one live row");
                assert_eq!(live[0].retry, succeeded, "round {round}: the live row is the newest");
                let mut counters: Vec<i32> = history.iter().map(|a| a.retry).collect();
                counters.sort_unstable();
                assert_eq!(counters, (0..=succeeded).collect::<Vec<_>>(), "round {round}: no gap, no duplicate");
            }
            Ok(())
        }
    }
}
