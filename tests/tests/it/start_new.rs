//! `start_new` (PostgreSQL only: it does not compile elsewhere): `start` in one statement, also
//! for a key with history, for a new row built without the counter. The same guarantees and
//! errors as `start`, on both executors: the counter one past the key's newest row, a key with a
//! live row refused with a conflict naming it, nothing written on a bad row, one winner among
//! racing writers.

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::{Exec, ExecKind, FindIn, FreshIn, KeysIn};
use soft_delete_tests::stamp::Stamp;

use crate::retry_new::next_attempt;
use crate::unique::{
    accounts, attempt, create_with_keys, exam_attempts, live_id_of, race, seats, while_held,
    Account, ExamAttempt, Seat, SeatKey,
};

/// The statements `op` sent, without the async form's own `BEGIN` and `COMMIT`.
fn sent_by<X: ExecKind>(x: &X, sent: &[String]) -> Vec<String> {
    let control = |s: &String| x.is_async() && (s == "BEGIN" || s == "COMMIT");
    sent.iter().filter(|s| !control(s)).cloned().collect()
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;

    backend_tests! {
        type Conn = diesel::PgConnection;

        fn start_new_inserts_the_first_live_row_in_one_statement_after_any_history(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let seen = x.record_statements(conn);
            // A new key: the counter at its first value.
            let first = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(1))?;
            assert_eq!((first.exam_id, first.learner_id, first.active, first.retry), (1, 7, true, 0));
            let sent = seen.lock().unwrap().clone();
            assert_eq!(sent_by(x, &sent).len(), 1, "one statement: {sent:#?}");

            // A key whose rows are all retired: one statement still, the counter after them.
            KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |old: &ExamAttempt, n| attempt(old.exam_id, old.learner_id, n))?;
            diesel::update(exam_attempts::table.filter(exam_attempts::exam_id.eq(1)))
                .set(exam_attempts::active.eq(false))
                .execute(conn)?;
            let before = seen.lock().unwrap().len();
            let again = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(1))?;
            let sent = seen.lock().unwrap()[before..].to_vec();
            assert_eq!(sent_by(x, &sent).len(), 1, "one statement with history: {sent:#?}");
            assert_eq!((again.retry, again.active), (2, true));
            let history = FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?;
            assert_eq!(history.iter().map(|a| (a.retry, a.active)).collect::<Vec<_>>(), [(2, true), (1, false), (0, false)]);

            // `start` and `start_new` agree: the key is live, a conflict naming the live row,
            // nothing written.
            for conflict in [
                FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(1)).unwrap_err(),
                KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n)).unwrap_err(),
            ] {
                assert_eq!(live_id_of(&conflict), Some(again.id), "{conflict}");
            }
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 3, "nothing else was written");

            // A deleted flag and a 64-bit counter, on one of a model's two keys.
            let seat_row = || (seats::room.eq("A"), seats::seat_no.eq(1), seats::holder.eq("ann"), seats::deleted.eq(false));
            let s0 = FreshIn::<_, Seat, SeatKey, _>::start_new(x, conn, ("A".into(), 1), seat_row)?;
            diesel::update(seats::table.find(s0.id)).set(seats::deleted.eq(true)).execute(conn)?;
            let s1 = FreshIn::<_, Seat, SeatKey, _>::start_new(x, conn, ("A".into(), 1), seat_row)?;
            assert_eq!((s0.revision, s1.revision, s1.deleted), (0, 1, false));

            // A timestamp marker and no counter.
            let ann_row = || (accounts::email.eq("ann@x"), accounts::deleted_at.eq(None::<Stamp>));
            let ann = FreshIn::<_, Account, _, _>::start_new(x, conn, "ann@x".into(), ann_row)?;
            let taken = FreshIn::<_, Account, _, _>::start_new(x, conn, "ann@x".into(), ann_row).unwrap_err();
            assert_eq!(live_id_of(&taken), Some(ann.id), "{taken}");
            ann.soft_delete(conn)?;
            let new_ann = FreshIn::<_, Account, _, _>::start_new(x, conn, "ann@x".into(), ann_row)?;
            assert!(new_ann.id != ann.id && new_ann.deleted_at.is_none());
            Ok(())
        }

        fn start_new_refuses_a_bad_row_and_writes_nothing(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let other_key = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(2)).unwrap_err();
            assert!(matches!(other_key, Error::InvalidNewRow { problem, .. } if problem.contains("not a live row of the key")), "{other_key}");
            let dead = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), || {
                (exam_attempts::exam_id.eq(1), exam_attempts::learner_id.eq(7), exam_attempts::active.eq(false))
            })
            .unwrap_err();
            assert!(matches!(dead, Error::InvalidNewRow { .. }), "{dead}");
            // The counter is the statement's to set.
            let counted = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), || attempt(1, 7, 9)).unwrap_err();
            assert_eq!(
                counted.to_string(),
                "the new row for key `exam_attempts_exam_id_learner_id_live_key` of `exam_attempts` gives the counter a value: `start_new` sets it to one past the key's newest row's; nothing was written"
            );
            // The marker left to its default: the statement cannot check the row is live.
            let defaulted = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), || {
                (exam_attempts::exam_id.eq(1), exam_attempts::learner_id.eq(7))
            })
            .unwrap_err();
            assert!(matches!(&defaulted, Error::InvalidNewRow { problem, .. } if problem.contains("`start_new`'s statement")), "{defaulted}");
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 0, "nothing was written");
            Ok(())
        }

        fn start_new_inside_a_transaction_is_part_of_it(db, x) {
            create_with_keys(db)?;
            let conn = db.conn();
            let rolled_back: Result<(), Error> = x.transaction(conn, |x, conn| {
                let first = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(1))?;
                assert_eq!(first.retry, 0);
                // A conflict inside the caller's transaction leaves it usable.
                let conflict = FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(1)).unwrap_err();
                assert_eq!(live_id_of(&conflict), Some(first.id), "{conflict}");
                assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?, [first]);
                Err(Error::Diesel(diesel::result::Error::RollbackTransaction))
            });
            assert!(rolled_back.is_err());
            assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 0, "rolled back with the caller's transaction");
            Ok(())
        }

        /// A concurrent `retry` holds the live row while `start_new` runs: its statement writes
        /// nothing (the row is live in its snapshot), and the transaction's lock waits for the
        /// retry, then finds the retired row and not its successor (invisible to that
        /// `SELECT ... FOR UPDATE`). The successor is the key's live row: a conflict naming it,
        /// as from `start`, not an invalid row. (From a second reading.)
        fn start_new_behind_a_concurrent_retry_is_a_conflict_naming_the_successor(db, x) {
            create_with_keys(db)?;
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
            let held = format!(
                "UPDATE exam_attempts SET active = false WHERE id = {};
                 INSERT INTO exam_attempts (exam_id, learner_id, active, retry) VALUES (1, 7, true, 1)",
                first.id
            );
            let (by_start_new, by_start) = (
                while_held(db, &held, |conn| FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, (1, 7), next_attempt(1)))?,
                {
                    let live = ExamAttempt::find_live(db.conn(), (1, 7))?.expect("the successor");
                    let again = format!("UPDATE exam_attempts SET active = false WHERE id = {};
                         INSERT INTO exam_attempts (exam_id, learner_id, active, retry) VALUES (1, 7, true, 2)", live.id);
                    while_held(db, &again, |conn| KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n)))?
                },
            );
            let history = ExamAttempt::history(db.conn(), (1, 7))?;
            let ids: Vec<i32> = history.iter().map(|a| a.id).collect();
            assert_eq!(history.iter().map(|a| (a.retry, a.active)).collect::<Vec<_>>(), [(2, true), (1, false), (0, false)], "neither wrote");
            let by_start_new = by_start_new.unwrap_err();
            assert_eq!(live_id_of(&by_start_new), Some(ids[1]), "start_new names the successor: {by_start_new}");
            let by_start = by_start.unwrap_err();
            assert_eq!(live_id_of(&by_start), Some(ids[0]), "as start does: {by_start}");
            Ok(())
        }

        /// 8 writers at once on a key with history: one inserts, every other one gets the
        /// conflict naming the winner's row; the counter goes on after the history.
        fn start_new_racing_writers_insert_once(db, x) {
            create_with_keys(db)?;
            let key = (400, 7);
            KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), key, |n| attempt(key.0, key.1, n))?;
            diesel::update(exam_attempts::table).set(exam_attempts::active.eq(false)).execute(db.conn())?;
            let outcomes = race(db, x, 8, 1, |x, conn| {
                FreshIn::<_, ExamAttempt, _, _>::start_new(x, conn, key, next_attempt(key.0)).map(|a| a.id)
            });
            let won: Vec<i32> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
            assert_eq!(won.len(), 1, "one winner: {outcomes:?}");
            for lost in outcomes.iter().filter_map(|o| o.as_ref().err()) {
                assert_eq!(live_id_of(lost), Some(won[0]), "a loser is told the winner's row: {lost}");
            }
            let history = ExamAttempt::history(db.conn(), key)?;
            assert_eq!(history.iter().map(|a| (a.retry, a.active)).collect::<Vec<_>>(), [(1, true), (0, false)]);
            Ok(())
        }

        /// The line of the README's table under "Cost".
        #[cfg(feature = "async")]
        fn the_readme_states_the_statements_start_new_sends(db) {
            use crate::unique_statements::{assert_readme_line_on_postgres, hand_start, Retired};
            use soft_delete_runtime::asynchronous::ActiveUniqueAsync;
            assert_readme_line_on_postgres(
                db,
                "`start_new` (a key with history)",
                Retired::Every,
                1,
                |conn| ExamAttempt::start_new(conn, (1, 7), next_attempt(1)),
                |hand, conn| hand_start(hand, conn, 2),
                async |conn| ExamAttempt::start_new_async(conn, (3, 7), next_attempt(3)).await,
            )?;
            Ok(())
        }
    }
}
