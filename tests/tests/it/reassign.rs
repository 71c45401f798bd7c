//! `reassign` on every backend: swaps, rotations, random permutations and moves to free
//! values land exactly; bad input and conflicts are typed errors with nothing written;
//! soft-deleted rows do not block a live-only key.

use std::cell::RefCell;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use soft_delete_runtime::ddl::Deferral;
use soft_delete_runtime::deferred::reassign;
use soft_delete_runtime::{soft_delete, Error};
use soft_delete_tests::exec::ReassignIn as _;
use soft_delete_tests::{backend_tests, Backend};

use crate::deferred_schema::{create_players, numbers_of, players, seats, Key};

const START: [(i32, i32); 5] = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)];
const TEAM_2: [(i32, i32); 3] = [(6, 1), (7, 2), (8, 3)];

/// For a few dozen random teams: random current numbers, a random subset of players, and
/// random new numbers for them, drawn from the numbers they leave and the free ones.
/// `reassign` must produce exactly the expected numbers, leave team 2 alone, and take the
/// deferred path exactly when `$deferred` says so. With `$live_only`, some players who keep
/// their numbers are soft-deleted, their numbers are free to take, and the call says
/// `.live_only()`. A macro, so each backend's connection type is concrete; `$x` is the test's
/// executor.
macro_rules! permutation_property {
    ($conn:expr, $x:expr, deferred: $deferred:expr, live_only: $live_only:expr) => {{
        let x = RefCell::new($x);
        let deferred: bool = $deferred;
        let live_only: bool = $live_only;
        let conn = RefCell::new($conn);
        let cases = (2usize..=10).prop_flat_map(|n| {
            (
                proptest::sample::subsequence((1..=20).collect::<Vec<i32>>(), n).prop_shuffle(),
                proptest::collection::vec(any::<bool>(), n),
                proptest::collection::vec(any::<u32>(), n),
                proptest::collection::vec(any::<bool>(), n),
            )
        });
        let mut runner = TestRunner::new(Config {
            cases: 24,
            failure_persistence: None,
            ..Config::default()
        });
        let result = runner.run(&cases, |(current, moved, picks, dead)| {
            let conn = &mut **conn.borrow_mut();
            let fail = |e: &dyn std::fmt::Display| TestCaseError::fail(e.to_string());
            let ids: Vec<i32> = (101..).take(current.len()).collect();
            // only players who keep their numbers may be dead
            let dead: Vec<bool> = dead
                .iter()
                .zip(&moved)
                .map(|(d, m)| live_only && *d && !*m)
                .collect();
            let rows: Vec<String> = ids
                .iter()
                .zip(&current)
                .zip(&dead)
                .map(|((id, number), dead)| {
                    let deleted_at = if *dead {
                        "'2026-01-01 00:00:00'"
                    } else {
                        "NULL"
                    };
                    format!("({id}, 1, 'x', {number}, {deleted_at})")
                })
                .collect();
            conn.batch_execute(&format!(
                "DELETE FROM players WHERE team_id = 1; \
                 INSERT INTO players (id, team_id, name, squad_number, deleted_at) VALUES {}",
                rows.join(", ")
            ))
            .map_err(|e| fail(&e))?;

            // new numbers: the ones the moved players leave, plus every number no live
            // player keeps
            let staying: Vec<i32> = current
                .iter()
                .zip(moved.iter().zip(&dead))
                .filter(|(_, (moved, dead))| !**moved && !**dead)
                .map(|(n, _)| *n)
                .collect();
            let mut pool: Vec<i32> = (1..=24).filter(|n| !staying.contains(n)).collect();
            let mut expected: Vec<(i32, i32)> =
                ids.iter().copied().zip(current.iter().copied()).collect();
            let mut moves = Vec::new();
            for ((slot, is_moved), pick) in expected.iter_mut().zip(&moved).zip(&picks) {
                if *is_moved {
                    let new = pool.remove(*pick as usize % pool.len());
                    moves.push((slot.0, new));
                    slot.1 = new;
                }
            }
            let by_team_1 = reassign(players::squad_number).within(players::team_id.eq(1));
            let by_team_1 = if live_only {
                by_team_1.live_only()
            } else {
                by_team_1.with_deleted()
            };
            let done = x
                .borrow_mut()
                .reassign(conn, by_team_1, moves.clone())
                .map_err(|e| fail(&e))?;
            prop_assert_eq!(done.changed + done.unchanged, moves.len());
            prop_assert_eq!(done.deferred, deferred && done.changed > 0);
            if deferred {
                prop_assert_eq!(done.temporaries, 0);
            }
            prop_assert_eq!(numbers_of!(conn, 1).map_err(|e| fail(&e))?, expected);
            prop_assert_eq!(numbers_of!(conn, 2).map_err(|e| fail(&e))?, TEAM_2.to_vec());
            Ok(())
        });
        result.map_err(|e| e.to_string())
    }};
}

backend_tests! {
    fn a_naive_swap_fails_and_reassign_swaps(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let naive = conn.transaction::<_, DieselError, _>(|conn| {
            diesel::update(players::table.find(1)).set(players::squad_number.eq(2)).execute(conn)?;
            diesel::update(players::table.find(2)).set(players::squad_number.eq(1)).execute(conn)
        });
        assert!(
            matches!(naive, Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))),
            "{naive:?}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START);

        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 2), (2, 1)])?;
        assert_eq!((done.changed, done.unchanged, done.temporaries, done.deferred), (2, 0, 2, false));
        assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]);
        assert_eq!(numbers_of!(conn, 2)?, TEAM_2, "another team's numbers are not touched");
        Ok(())
    }

    fn a_three_cycle_rotates(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 2), (2, 3), (3, 1)])?;
        assert_eq!((done.changed, done.temporaries), (3, 3));
        assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 3), (3, 1), (4, 4), (5, 5)]);
        assert_eq!(numbers_of!(conn, 2)?, TEAM_2);
        Ok(())
    }

    fn moves_to_free_values_need_temporaries_only_where_a_value_is_still_taken(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        // p4 moves to the free 9; p5 takes the 4 that p4 leaves: only p5 needs a detour
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(4, 9), (5, 4)])?;
        assert_eq!((done.changed, done.temporaries), (2, 1));
        assert_eq!(numbers_of!(conn, 1)?, [(1, 1), (2, 2), (3, 3), (4, 9), (5, 4)]);

        // only free values (team 2 holding 1..=3 does not matter to team 1)
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 20), (2, 21), (3, 5)])?;
        assert_eq!((done.changed, done.temporaries), (3, 0));
        assert_eq!(numbers_of!(conn, 1)?, [(1, 20), (2, 21), (3, 5), (4, 9), (5, 4)]);
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 1)])?;
        assert_eq!((done.changed, done.temporaries), (1, 0));
        assert_eq!(numbers_of!(conn, 2)?, TEAM_2);
        Ok(())
    }

    fn rows_given_their_own_value_are_left_alone(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 1), (2, 3), (3, 2)])?;
        assert_eq!((done.changed, done.unchanged, done.temporaries), (2, 1, 2));
        assert_eq!(numbers_of!(conn, 1)?, [(1, 1), (2, 3), (3, 2), (4, 4), (5, 5)]);

        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(4, 4)])?;
        assert_eq!((done.changed, done.unchanged), (0, 1));
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted(), Vec::<(i32, i32)>::new())?;
        assert_eq!((done.changed, done.unchanged), (0, 0));
        Ok(())
    }

    fn duplicate_input_is_rejected_before_the_database_is_touched(db, x) {
        // No table yet: had `reassign` sent anything, the database would have said so.
        let conn = db.conn();
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 7), (2, 8), (3, 7)])
            .unwrap_err();
        assert!(
            matches!(&error, Error::DuplicateTarget { table, column, value, first, second }
                if table == "players" && *column == "squad_number" && value == "7" && first == "1" && second == "3"),
            "{error}"
        );
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted(), [(1, 7), (1, 8)]).unwrap_err();
        assert!(matches!(&error, Error::DuplicateRow { row, .. } if row == "1"), "{error}");

        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 2), (2, 2)])
            .unwrap_err();
        assert!(matches!(error, Error::DuplicateTarget { .. }), "{error}");
        assert_eq!(numbers_of!(conn, 1)?, START);
        Ok(())
    }

    /// Rows are named by their primary key, so the key itself cannot be what moves: refused as
    /// an argument before anything is sent (it was a misleading `NotInScope`).
    fn the_primary_key_column_is_refused_before_the_database_is_touched(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let error = x.reassign(conn, reassign(players::id).with_deleted(), [(1, 2), (2, 1)]).unwrap_err();
        assert!(
            matches!(&error, Error::InvalidArgument { name: "column", problem } if problem.contains("primary key")),
            "{error}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START, "nothing was written");
        Ok(())
    }

    fn a_value_held_by_a_row_not_moved_is_a_conflict(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        // the swap alone would be fine; p3 -> 5 collides with p5, who stays
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 2), (2, 1), (3, 5)])
            .unwrap_err();
        assert!(
            matches!(&error, Error::ValueTaken { table, column, value, holder }
                if table == "players" && *column == "squad_number" && value == "5" && holder == "5"),
            "{error}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START, "nothing was written");

        // without a scope the whole table is one scope: p6 (team 2) holds 1 as well
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted(), [(2, 1), (1, 2)]).unwrap_err();
        assert!(matches!(&error, Error::ValueTaken { holder, .. } if holder == "6"), "{error}");
        assert_eq!(numbers_of!(conn, 1)?, START);
        Ok(())
    }

    fn a_scope_may_depend_on_the_reassigned_column(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        // the rows are chosen by their current numbers; the writes go by primary key
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1).and(players::squad_number.le(3)))
            , [(1, 3), (2, 1), (3, 2)])?;
        assert_eq!(done.changed, 3);
        assert_eq!(numbers_of!(conn, 1)?, [(1, 3), (2, 1), (3, 2), (4, 4), (5, 5)]);
        // p4 holds 4, outside this scope: not a conflict the check sees, so the database
        // has the last word, and nothing is written
        let outcome = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1).and(players::squad_number.le(3)))
            , [(1, 4)]);
        assert!(
            matches!(outcome, Err(Error::Diesel(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))),
            "{outcome:?}"
        );
        assert_eq!(numbers_of!(conn, 1)?, [(1, 3), (2, 1), (3, 2), (4, 4), (5, 5)]);
        Ok(())
    }

    fn rows_outside_the_scope_are_rejected(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(1, 2), (2, 1), (6, 9), (99, 10)])
            .unwrap_err();
        assert!(
            matches!(&error, Error::NotInScope { rows, .. } if *rows == ["6", "99"]),
            "{error}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START);
        assert_eq!(numbers_of!(conn, 2)?, TEAM_2);
        Ok(())
    }

    fn soft_deleted_rows_do_not_conflict_under_a_live_only_key(db, x) {
        create_players(db, Key::LiveOnly)?;
        let conn = db.conn();
        // p5 leaves the team: soft-deleted, keeping number 5 as history
        assert_eq!(soft_delete(players::table.find(5)).execute(conn)?, 1);

        // Without `live_only` every row of the scope counts: stricter than this key, refused.
        let error = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            , [(4, 5), (3, 4)])
            .unwrap_err();
        assert!(matches!(&error, Error::ValueTaken { value, holder, .. } if value == "5" && holder == "5"), "{error}");
        assert_eq!(numbers_of!(conn, 1)?, START);

        // With it, the dead p5 is no obstacle: p4 takes 5, p3 takes 4, p1 and p2 swap.
        let done = x.reassign(conn, reassign(players::squad_number)
            .within(players::team_id.eq(1))
            .live_only()
            , [(4, 5), (3, 4), (1, 2), (2, 1)])?;
        assert_eq!(done.changed, 4);
        assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 4), (4, 5), (5, 5)]);

        // A live holder is still a conflict under `live_only`.
        let error = x.reassign(conn, reassign(players::squad_number)
            .within(players::team_id.eq(1))
            .live_only()
            , [(1, 4)])
            .unwrap_err();
        assert!(matches!(&error, Error::ValueTaken { holder, .. } if holder == "3"), "{error}");

        // And the database agrees with both answers.
        let dup = conn.batch_execute("UPDATE players SET squad_number = 4 WHERE id = 1");
        assert!(dup.is_err(), "a second live 4 is refused");
        conn.batch_execute("UPDATE players SET squad_number = 4 WHERE id = 5")?;
        Ok(())
    }

    fn random_permutations_and_moves_land_exactly(db, x) {
        create_players(db, Key::Plain)?;
        permutation_property!(db.conn(), &mut *x, deferred: false, live_only: false)?;

        // under a live-only key, with soft-deleted players keeping numbers others take
        db.conn().batch_execute("DROP TABLE players")?;
        create_players(db, Key::LiveOnly)?;
        permutation_property!(db.conn(), &mut *x, deferred: false, live_only: true)?;

        if db.backend() == Backend::Postgres {
            // the same with deferrable keys: the final values are written directly
            for (key, live_only) in [
                (Key::Deferrable(Deferral::InitiallyImmediate), false),
                (Key::DeferrableLiveOnly(Deferral::InitiallyDeferred), true),
            ] {
                db.conn().batch_execute("DROP TABLE players")?;
                create_players(db, key)?;
                permutation_property!(db.conn(), &mut *x, deferred: true, live_only: live_only)?;
            }
        }
        Ok(())
    }

    fn a_rotation_larger_than_one_statement(db, x) {
        create_players(db, Key::Plain)?;
        let conn = db.conn();
        const N: i32 = 33_000; // above the rows per statement of every backend
        for start in (0..N).step_by(1000) {
            let rows: Vec<String> = (start..(start + 1000).min(N))
                .map(|k| format!("({}, 3, 'r', {})", 1000 + k, k + 1))
                .collect();
            conn.batch_execute(&format!(
                "INSERT INTO players (id, team_id, name, squad_number) VALUES {}",
                rows.join(", ")
            ))?;
        }
        let moves: Vec<(i32, i32)> = (0..N).map(|k| (1000 + k, (k + 1) % N + 1)).collect();
        let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(3))
            , moves.clone())?;
        assert_eq!((done.changed, done.temporaries), (N as usize, N as usize));
        assert_eq!(numbers_of!(conn, 3)?, moves);
        assert_eq!(numbers_of!(conn, 1)?, START);
        Ok(())
    }

    fn temporaries_go_below_the_range_when_there_is_no_room_above_and_fail_typed_without_either(db, x) {
        db.create("CREATE TABLE seats (id {pk}, seat SMALLINT NOT NULL UNIQUE)");
        let conn = db.conn();
        conn.batch_execute("INSERT INTO seats (id, seat) VALUES (1, 32767), (2, 32766), (3, 0)")?;
        let done = x.reassign(conn, reassign(seats::seat), [(1, 32766i16), (2, 32767)])?;
        assert_eq!(done.temporaries, 2);
        let seats_now = || seats::table.order(seats::id).select((seats::id, seats::seat));
        assert_eq!(seats_now().load::<(i32, i16)>(conn)?, [(1, 32766), (2, 32767), (3, 0)]);

        conn.batch_execute("UPDATE seats SET seat = -32768 WHERE id = 3")?;
        let error = x.reassign(conn, reassign(seats::seat), [(1, 32767i16), (2, 32766)]).unwrap_err();
        assert!(
            matches!(&error, Error::NoTemporaryValues { count: 2, min, max, .. } if min == "-32768" && max == "32767"),
            "{error}"
        );
        assert_eq!(seats_now().load::<(i32, i16)>(conn)?, [(1, 32766), (2, 32767), (3, -32768)]);
        Ok(())
    }
}

/// PostgreSQL: a unique key that covers the column through an expression, or through a
/// generated column computed from it, is a key the catalog must find too: without it the plan
/// is a direct `UPDATE`, whose swap the index refuses row by row.
#[cfg(feature = "postgres")]
mod postgres_derived_keys {
    use super::*;

    backend_tests! {
        type Conn = diesel::PgConnection;

        fn a_key_on_an_expression_or_a_generated_column_of_the_column_moves_through_temporaries(db, x) {
            create_players(db, Key::Plain)?;
            let conn = db.conn();
            conn.batch_execute(
                "ALTER TABLE players DROP CONSTRAINT players_squad_number_key;
                 CREATE UNIQUE INDEX players_number_expression ON players (team_id, COALESCE(squad_number, 0));",
            )?;
            let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
                .within(players::team_id.eq(1)), [(1, 2), (2, 1)])?;
            assert_eq!((done.changed, done.temporaries, done.deferred), (2, 2, false));
            assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]);

            conn.batch_execute(
                "DROP INDEX players_number_expression;
                 ALTER TABLE players ADD COLUMN shirt TEXT GENERATED ALWAYS AS ('#' || squad_number) STORED;
                 ALTER TABLE players ADD CONSTRAINT players_shirt UNIQUE (team_id, shirt);",
            )?;
            let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
                .within(players::team_id.eq(1)), [(1, 1), (2, 2)])?;
            assert_eq!((done.changed, done.temporaries, done.deferred), (2, 2, false));
            assert_eq!(numbers_of!(conn, 1)?, START);
            Ok(())
        }
    }
}
