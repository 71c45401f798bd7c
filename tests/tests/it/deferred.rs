//! Deferred constraints: the DDL, the transaction helper and `reassign`'s choice of method,
//! on PostgreSQL with deferrable and immediate keys; on SQLite and MySQL/MariaDB, the typed
//! `Unsupported` error.

use std::cell::Cell;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::ddl::unique::DeferrableUnique;
use soft_delete_runtime::ddl::Deferral;
use soft_delete_runtime::deferred::{self, reassign, Constraints, Method};
use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
use soft_delete_runtime::{soft_delete, Error};
use soft_delete_tests::exec::{Exec, ReassignIn as _};
use soft_delete_tests::{backend_tests, Backend};

use crate::deferred_schema::{create_players, deferrable_key, numbers_of, players, Key, KEY};

const START: [(i32, i32); 5] = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)];
const SWAPPED: [(i32, i32); 5] = [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)];

/// Swaps the numbers of players 1 and 2 the naive way: two `UPDATE`s.
macro_rules! naive_swap {
    ($conn:expr) => {{
        diesel::update(players::table.find(1))
            .set(players::squad_number.eq(2))
            .execute($conn)?;
        diesel::update(players::table.find(2))
            .set(players::squad_number.eq(1))
            .execute($conn)?;
    }};
}

/// The same swap as SQL, for the body of a deferred transaction on either executor.
const NAIVE_SWAP: [&str; 2] = [
    "UPDATE players SET squad_number = 2 WHERE id = 1",
    "UPDATE players SET squad_number = 1 WHERE id = 2",
];

/// Asserts `$outcome` is the `Unsupported` error of a backend without deferred checks.
macro_rules! assert_unsupported {
    ($outcome:expr, $backend:expr) => {{
        let outcome = $outcome;
        let dialect = match $backend {
            Backend::Sqlite => Dialect::Sqlite,
            Backend::Mysql => Dialect::Mysql,
            Backend::Postgres => unreachable!("PostgreSQL defers"),
        };
        assert!(
            matches!(&outcome, Err(Error::Unsupported { dialect: d, .. }) if *d == dialect),
            "{outcome:?}"
        );
    }};
}

#[test]
fn live_only_keys_are_exclusion_constraints_with_the_scopes_live_condition() {
    let key = DeferrableUnique::new(KEY, (players::team_id, players::squad_number))
        .deferral(Deferral::InitiallyImmediate)
        .live_only();
    assert!(key.is_live_only());
    assert_eq!(
        key.create_sql(Dialect::Postgres).unwrap(),
        r#"ALTER TABLE "players" ADD CONSTRAINT "players_squad_number_key" EXCLUDE USING btree ("team_id" WITH =, "squad_number" WITH =) WHERE ("deleted_at" IS NULL) DEFERRABLE INITIALLY IMMEDIATE"#
    );
    assert_eq!(
        Constraints::from(&key),
        Constraints::Named(vec![KEY.to_owned()])
    );
}

backend_tests! {
    fn a_swap_succeeds_inside_a_deferred_transaction(db, x) {
        let ran = Cell::new(0);
        if db.backend() != Backend::Postgres {
            create_players(db, Key::Plain)?;
            let outcome = x.deferred_transaction(db.conn(), Constraints::All, &NAIVE_SWAP, &ran);
            assert_unsupported!(outcome, db.backend());
            assert_eq!(ran.get(), 0, "the body does not run");
            assert_eq!(numbers_of!(db.conn(), 1)?, START);
            return Ok(());
        }
        // DEFERRABLE INITIALLY IMMEDIATE: checked per statement unless deferred
        create_players(db, Key::Deferrable(Deferral::InitiallyImmediate))?;
        let conn = db.conn();
        let plain = conn.transaction::<_, Error, _>(|conn| {
            naive_swap!(conn);
            Ok(())
        });
        assert!(
            matches!(plain, Err(Error::Diesel(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))),
            "{plain:?}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START);

        let key = deferrable_key(Deferral::InitiallyImmediate);
        x.deferred_transaction(conn, Constraints::from(&key), &NAIVE_SWAP, &ran)?;
        assert_eq!(numbers_of!(conn, 1)?, SWAPPED);

        // ... and with every deferrable constraint deferred
        // (sets 1 -> 2 and 2 -> 1 again: swaps back)
        x.deferred_transaction(conn, Constraints::All, &NAIVE_SWAP, &ran)?;
        assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]);
        assert_eq!(ran.get(), 4);
        Ok(())
    }

    fn a_violation_is_reported_at_the_end_with_constraint_and_key_and_nothing_is_written(db, x) {
        let ran = Cell::new(0);
        if db.backend() != Backend::Postgres {
            create_players(db, Key::Plain)?;
            let outcome = x.deferred_transaction(db.conn(), Constraints::named([KEY]), &[], &ran);
            assert_unsupported!(outcome, db.backend());
            return Ok(());
        }
        create_players(db, Key::Deferrable(Deferral::InitiallyDeferred))?;
        let conn = db.conn();
        // p1 takes 2 while p2 keeps it: accepted now, refused at the end
        let statements = [
            "UPDATE players SET name = 'renamed' WHERE id = 5",
            "UPDATE players SET squad_number = 2 WHERE id = 1",
        ];
        let outcome = x.deferred_transaction(conn, Constraints::named([KEY]), &statements, &ran);
        assert_eq!(ran.get(), 2, "the body ran to its end");
        assert!(
            matches!(&outcome, Err(Error::DeferredViolation { constraint, key })
                if constraint == KEY && key == "(team_id, squad_number)=(1, 2)"),
            "{outcome:?}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START, "nothing was written");
        let name: String = players::table.find(5).select(players::name).with_deleted().first(conn)?;
        assert_eq!(name, "p5", "nothing was written");

        // A constraint declared INITIALLY DEFERRED is checked by the commit itself when the
        // transaction does not name it: reported the same way.
        let outcome = x.deferred_transaction(
            conn,
            Constraints::named(Vec::<String>::new()),
            &["UPDATE players SET squad_number = 4 WHERE id = 3"],
            &ran,
        );
        assert!(
            matches!(&outcome, Err(Error::DeferredViolation { constraint, key })
                if constraint == KEY && key == "(team_id, squad_number)=(1, 4)"),
            "{outcome:?}"
        );
        assert_eq!(numbers_of!(conn, 1)?, START);
        Ok(())
    }

    fn a_constraint_that_is_not_deferrable_keeps_being_checked_per_row(db, x) {
        create_players(db, Key::Plain)?;
        let ran = Cell::new(0);
        if db.backend() != Backend::Postgres {
            assert_unsupported!(x.deferred_transaction(db.conn(), Constraints::named([KEY]), &[], &ran), db.backend());
            return Ok(());
        }
        let conn = db.conn();
        let outcome = x.deferred_transaction(conn, Constraints::named([KEY]), &NAIVE_SWAP, &ran);
        assert!(matches!(&outcome, Err(Error::NotDeferrable { constraint }) if constraint == KEY), "{outcome:?}");
        assert_eq!(ran.get(), 0, "the body does not run");

        let outcome = x.deferred_transaction(conn, Constraints::named(["no_such_constraint"]), &[], &ran);
        assert!(
            matches!(&outcome, Err(Error::UnknownConstraint { constraint }) if constraint == "no_such_constraint"),
            "{outcome:?}"
        );

        // `ALL` defers only deferrable constraints: this one still fails the first UPDATE,
        // and that error comes back from the body as it is.
        let outcome = x.deferred_transaction(conn, Constraints::All, &NAIVE_SWAP, &ran);
        assert!(
            matches!(outcome, Err(Error::Diesel(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)))),
            "{outcome:?}"
        );
        assert_eq!(ran.get(), 0, "the first UPDATE failed");
        assert_eq!(numbers_of!(conn, 1)?, START);
        Ok(())
    }

    fn a_live_only_exclusion_constraint_defers_and_ignores_soft_deleted_rows(db, x) {
        if db.backend() != Backend::Postgres {
            let key = deferrable_key(Deferral::InitiallyImmediate).live_only();
            let dialect = if db.backend() == Backend::Sqlite { Dialect::Sqlite } else { Dialect::Mysql };
            assert_unsupported!(key.create_sql(dialect), db.backend());
            assert_unsupported!(key.drop_sql(dialect), db.backend());
            return Ok(());
        }
        create_players(db, Key::DeferrableLiveOnly(Deferral::InitiallyImmediate))?;
        let conn = db.conn();
        let ran = Cell::new(0);
        soft_delete(players::table.find(5)).execute(conn)?;
        // the dead p5 keeps 5 as history; p4 may take it
        let [first, second] = NAIVE_SWAP;
        let statements = [first, second, "UPDATE players SET squad_number = 5 WHERE id = 4"];
        x.deferred_transaction(conn, Constraints::named([KEY]), &statements, &ran)?;
        assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 3), (4, 5), (5, 5)]);

        let outcome = x.deferred_transaction(
            conn,
            Constraints::named([KEY]),
            &["UPDATE players SET squad_number = 3 WHERE id = 1"],
            &ran,
        );
        assert!(
            matches!(&outcome, Err(Error::DeferredViolation { constraint, key })
                if constraint == KEY && key == "(team_id, squad_number)=(1, 3)"),
            "{outcome:?}"
        );
        assert_eq!(numbers_of!(conn, 1)?, [(1, 2), (2, 1), (3, 3), (4, 5), (5, 5)]);

        // the DDL's `down` removes it
        conn.batch_execute(&deferrable_key(Deferral::InitiallyImmediate).live_only().drop_sql(Dialect::Postgres)?)?;
        diesel::update(players::table.find(1)).set(players::squad_number.eq(3)).execute(conn)?;
        Ok(())
    }

    fn inside_an_outer_transaction_the_check_runs_when_the_body_ends(db, x) {
        let backend = db.backend();
        let postgres = backend == Backend::Postgres;
        create_players(db, if postgres { Key::Deferrable(Deferral::InitiallyDeferred) } else { Key::Plain })?;
        let conn = db.conn();
        let ran = Cell::new(0);
        x.transaction(conn, |x, conn| {
            x.batch_execute(conn, "UPDATE players SET name = 'kept' WHERE id = 5")?;
            let inner = x.deferred_transaction(conn, Constraints::All, &["UPDATE players SET squad_number = 2 WHERE id = 1"], &ran);
            if postgres {
                assert!(matches!(&inner, Err(Error::DeferredViolation { constraint, .. }) if constraint == KEY), "{inner:?}");
                // the savepoint is gone, the outer transaction goes on
                x.deferred_transaction(conn, Constraints::All, &NAIVE_SWAP, &ran)?;
            } else {
                assert_unsupported!(inner, backend);
            }
            Ok(())
        })?;
        let name: String = players::table.find(5).select(players::name).with_deleted().first(conn)?;
        assert_eq!(name, "kept");
        assert_eq!(numbers_of!(conn, 1)?, if postgres { SWAPPED } else { START });
        Ok(())
    }

    fn reassign_defers_a_deferrable_key_and_uses_temporaries_otherwise(db, x) {
        let backend = db.backend();
        let postgres = backend == Backend::Postgres;
        // (key, method asked for, expected: deferred?, rows through temporaries)
        let mut cases = vec![
            (Key::Plain, Method::Auto, false, 2),
            (Key::LiveOnly, Method::Auto, false, 2),
            (Key::Plain, Method::Temporaries, false, 2),
        ];
        if postgres {
            cases.extend([
                (Key::Deferrable(Deferral::InitiallyImmediate), Method::Auto, true, 0),
                (Key::Deferrable(Deferral::InitiallyDeferred), Method::Auto, true, 0),
                (Key::DeferrableLiveOnly(Deferral::InitiallyImmediate), Method::Auto, true, 0),
                (Key::Deferrable(Deferral::InitiallyImmediate), Method::Deferred, true, 0),
                (Key::Deferrable(Deferral::InitiallyImmediate), Method::Temporaries, false, 2),
            ]);
        }
        for (key, method, deferred, temporaries) in cases {
            create_players(db, key)?;
            let conn = db.conn();
            let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
                .within(players::team_id.eq(1))
                .method(method)
                , [(1, 2), (2, 1)])?;
            assert_eq!((done.deferred, done.temporaries), (deferred, temporaries), "{key:?} {method:?}");
            assert_eq!(numbers_of!(conn, 1)?, SWAPPED, "{key:?} {method:?}");
            conn.batch_execute("DROP TABLE players")?;
        }

        create_players(db, Key::Plain)?;
        let conn = db.conn();
        let outcome = x.reassign(conn, reassign(players::squad_number).with_deleted()
            .within(players::team_id.eq(1))
            .method(Method::Deferred)
            , [(1, 2), (2, 1)]);
        if postgres {
            // asked to defer a key that cannot be deferred: refused, naming it, before writing
            assert!(
                matches!(&outcome, Err(Error::NotDeferrable { constraint }) if constraint == KEY),
                "{outcome:?}"
            );
        } else {
            assert_unsupported!(outcome, backend);
        }
        assert_eq!(numbers_of!(conn, 1)?, START);
        if postgres {
            // a plain unique index is named the same way, and a key-less column is written
            conn.batch_execute(&format!(
                "DROP TABLE players; CREATE TABLE players (id SERIAL PRIMARY KEY, team_id INTEGER NOT NULL,
                     name TEXT NOT NULL, squad_number INTEGER NOT NULL, deleted_at TIMESTAMP NULL);
                 INSERT INTO players (id, team_id, name, squad_number) VALUES (1, 1, 'p1', 1), (2, 1, 'p2', 2);
                 CREATE UNIQUE INDEX {KEY} ON players (team_id, squad_number) WHERE deleted_at IS NULL"
            ))?;
            let outcome = x.reassign(conn, reassign(players::squad_number).with_deleted().method(Method::Deferred), [(1, 2), (2, 1)]);
            assert!(matches!(&outcome, Err(Error::NotDeferrable { constraint }) if constraint == KEY), "{outcome:?}");
            conn.batch_execute(&format!("DROP INDEX {KEY}"))?;
            let done = x.reassign(conn, reassign(players::squad_number).with_deleted().method(Method::Deferred), [(1, 2), (2, 1)])?;
            assert_eq!((done.changed, done.deferred, done.temporaries), (2, false, 0));
        }
        Ok(())
    }

    fn a_reassign_leaves_the_callers_other_deferred_constraints_deferred(db, x) {
        let backend = db.backend();
        if backend != Backend::Postgres {
            create_players(db, Key::Plain)?;
            let outcome = x.reassign(db.conn(), reassign(players::squad_number).with_deleted().method(Method::Deferred), [(1, 2), (2, 1)]);
            assert_unsupported!(outcome, backend);
            return Ok(());
        }
        for method in [Method::Deferred, Method::Auto] {
            create_players(db, Key::Deferrable(Deferral::InitiallyImmediate))?;
            let conn = db.conn();
            // Two constraints of the caller's that have nothing to do with squad numbers: a
            // foreign key checked at commit, and a unique name the caller defers for a while.
            conn.batch_execute(
                "CREATE TABLE rosters (id SERIAL PRIMARY KEY, player_id INTEGER NOT NULL
                     REFERENCES players (id) DEFERRABLE INITIALLY DEFERRED);
                 ALTER TABLE players ADD CONSTRAINT players_name_key UNIQUE (name) DEFERRABLE INITIALLY IMMEDIATE;",
            )?;
            x.transaction(conn, |x, conn| {
                x.batch_execute(
                    conn,
                    "SET CONSTRAINTS players_name_key DEFERRED;
                     INSERT INTO rosters (player_id) VALUES (99);
                     UPDATE players SET name = 'p4' WHERE id = 3;",
                )?;
                let done = x.reassign(conn, reassign(players::squad_number).with_deleted()
                    .within(players::team_id.eq(1))
                    .method(method), [(1, 2), (2, 1)])?;
                assert!(done.deferred, "{method:?}");
                // the caller's constraints are as the caller left them: still deferred
                x.batch_execute(
                    conn,
                    "UPDATE players SET name = 'p3' WHERE id = 4;
                     INSERT INTO players (id, team_id, name, squad_number) VALUES (99, 3, 'p99', 1);",
                )?;
                Ok(())
            })?;
            assert_eq!(numbers_of!(conn, 1)?, SWAPPED, "{method:?}");
            conn.batch_execute("DROP TABLE rosters; DROP TABLE players")?;
        }
        Ok(())
    }
}

/// The async forms, spawned on the runtime (which needs their futures to be `Send`): a
/// reassignment, and a deferred transaction whose body awaits its statements.
#[cfg(feature = "async")]
mod spawned {
    use soft_delete_tests::{async_backend_tests, asynchronous};

    use super::*;

    /// The naive swap back from [`SWAPPED`], awaited: two `UPDATE`s, the first making a
    /// duplicate.
    macro_rules! naive_swap_back_async {
        ($conn:expr) => {{
            let first = diesel::update(players::table.find(1)).set(players::squad_number.eq(1));
            diesel_async::RunQueryDsl::execute(first, &mut *$conn).await?;
            let second = diesel::update(players::table.find(2)).set(players::squad_number.eq(2));
            diesel_async::RunQueryDsl::execute(second, &mut *$conn).await?;
            Ok(())
        }};
    }

    async_backend_tests! {
        async fn a_spawned_reassign_and_deferred_transaction(db) {
            let postgres = db.backend() == Backend::Postgres;
            let key = Deferral::InitiallyImmediate;
            create_players(db, if postgres { Key::Deferrable(key) } else { Key::Plain })?;
            let conn = asynchronous::connect::<Conn>(db).await;
            let task = tokio::spawn(async move {
                let mut conn = conn;
                let done = reassign(players::squad_number)
                    .with_deleted()
                    .within(players::team_id.eq(1))
                    .run_async(&mut conn, vec![(1, 2), (2, 1)])
                    .await?;
                // swaps back, with the key deferred (PostgreSQL)
                let back = deferred::transaction_async(&mut conn, Constraints::from(&deferrable_key(key)), async |conn| {
                    naive_swap_back_async!(conn)
                })
                .await;
                Ok::<_, Error>((done, back))
            });
            let (done, back) = task.await??;
            assert_eq!((done.changed, done.deferred), (2, postgres));
            if postgres {
                back?;
                assert_eq!(numbers_of!(db.conn(), 1)?, START);
            } else {
                assert!(matches!(back, Err(Error::Unsupported { .. })), "{back:?}");
                assert_eq!(numbers_of!(db.conn(), 1)?, SWAPPED);
            }
            Ok(())
        }
    }
}
