//! `reassign` of 10 000 rows (a full rotation: every player of a team takes the next
//! player's number) against hand-written statements doing the same, on SQLite and
//! PostgreSQL, measured in the same run.
//!
//! Baselines, written as a developer who knows the data would write them by hand:
//!
//! - `hand_written_pairs`: the same input as `reassign` (a list of `(id, new number)`
//!   pairs), applied with the fewest statements the backend allows. With a unique key
//!   checked per row (SQLite, PostgreSQL `NOT DEFERRABLE`): in a transaction,
//!   `UPDATE ... SET n = -n WHERE team_id = 1` (numbers are known to be positive), then one
//!   `UPDATE ... FROM (VALUES ...)` with all pairs bound. With a deferrable key
//!   (PostgreSQL): `SET CONSTRAINTS ... DEFERRED` and the one `UPDATE ... FROM (VALUES ...)`.
//! - `hand_written_arithmetic`: the lower bound, for a reader's scale: the rotation as
//!   arithmetic with no input at all (`SET n = n % 10000 + 1`), two statements or one as above.
//!
//! Each iteration rotates once more, so every iteration really changes every row. The
//! input pairs are built before the timed part; on PostgreSQL the table is vacuumed
//! (untimed) before every iteration, so no function pays for another's dead rows.
//! Run with `cargo bench -p soft-delete-benches --bench reassign`.

use std::cell::{Cell, RefCell};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use diesel::connection::SimpleConnection;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Integer;
use diesel::sqlite::Sqlite;
use soft_delete_benches::{ratio, BenchSchema};
use soft_delete_runtime::deferred::reassign;

diesel::table! {
    players (id) {
        id -> Integer,
        team_id -> Integer,
        squad_number -> Integer,
    }
}

const N: i32 = 10_000;

/// The rotation after `shift` earlier ones: row `k` (id `k + 1`) takes number
/// `(k + shift + 1) % N + 1`.
fn rotation(shift: i32) -> Vec<(i32, i32)> {
    (0..N).map(|k| (k + 1, (k + shift + 1) % N + 1)).collect()
}

fn seed(conn: &mut impl SimpleConnection, unique: &str) {
    let rows: Vec<String> = (0..N)
        .map(|k| format!("({}, 1, {})", k + 1, k + 1))
        .collect();
    conn.batch_execute(&format!(
        "DROP TABLE IF EXISTS players;
         CREATE TABLE players (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL,
                               squad_number INTEGER NOT NULL);
         {unique};
         INSERT INTO players (id, team_id, squad_number) VALUES {};",
        rows.join(", ")
    ))
    .expect("seed the players");
}

/// `UPDATE players SET squad_number = <pairs>.new FROM (VALUES ...)`: every pair bound.
fn pairs_update<DB>(
    pairs: &[(i32, i32)],
    postgres: bool,
) -> diesel::query_builder::BoxedSqlQuery<'static, DB, diesel::query_builder::SqlQuery>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Integer>,
    i32: diesel::serialize::ToSql<Integer, DB>,
{
    let mut sql = String::from("UPDATE players SET squad_number = v.");
    sql += if postgres {
        "n FROM (VALUES "
    } else {
        "column2 FROM (VALUES "
    };
    for (i, k) in (0..pairs.len()).enumerate() {
        if i > 0 {
            sql += ", ";
        }
        sql += &if postgres {
            format!("(${}, ${})", 2 * k + 1, 2 * k + 2)
        } else {
            "(?, ?)".to_owned()
        };
    }
    sql += if postgres {
        ") AS v (id, n) WHERE players.id = v.id"
    } else {
        ") AS v WHERE players.id = v.column1"
    };
    let mut query = diesel::sql_query(sql).into_boxed::<DB>();
    for &(id, new) in pairs {
        query = query.bind::<Integer, _>(id).bind::<Integer, _>(new);
    }
    query
}

fn sqlite(c: &mut Criterion) {
    let path = std::env::temp_dir().join("soft-delete-bench-reassign.db");
    let _ = std::fs::remove_file(&path);
    let conn = &mut SqliteConnection::establish(&path.to_string_lossy()).expect("sqlite file");
    seed(
        conn,
        "CREATE UNIQUE INDEX players_key ON players (team_id, squad_number)",
    );
    let shift = Cell::new(0);
    let next = || {
        let pairs = rotation(shift.get());
        shift.set(shift.get() + 1);
        pairs
    };

    let group_name = "reassign_rotation_10k_sqlite";
    let mut group = c.benchmark_group(group_name);
    group.bench_function("reassign", |b| {
        b.iter_batched(
            next,
            |pairs| {
                let done = reassign(players::squad_number)
                    .within(players::team_id.eq(1))
                    .run(conn, pairs)
                    .expect("reassign");
                assert_eq!(done.changed, N as usize);
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("hand_written_pairs", |b| {
        b.iter_batched(
            next,
            |pairs| {
                conn.transaction::<_, diesel::result::Error, _>(|conn| {
                    conn.batch_execute(
                        "UPDATE players SET squad_number = -squad_number WHERE team_id = 1",
                    )?;
                    let n = pairs_update::<Sqlite>(&pairs, false).execute(conn)?;
                    assert_eq!(n, N as usize);
                    Ok(())
                })
                .expect("hand-written rotation");
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("hand_written_arithmetic", |b| {
        b.iter(|| {
            shift.set(shift.get() + 1);
            conn.transaction::<_, diesel::result::Error, _>(|conn| {
                conn.batch_execute(&format!(
                    "UPDATE players SET squad_number = -squad_number WHERE team_id = 1;
                     UPDATE players SET squad_number = (-squad_number) % {N} + 1 WHERE team_id = 1"
                ))
            })
            .expect("arithmetic rotation");
        })
    });
    group.finish();
    check_rotation(conn, shift.get());
    ratio(group_name, "reassign", "hand_written_pairs");
    ratio(group_name, "reassign", "hand_written_arithmetic");
    let _ = std::fs::remove_file(&path);
}

fn postgres(c: &mut Criterion, deferrable: bool) {
    let schema = BenchSchema::create(if deferrable {
        "bench_reassign_deferrable"
    } else {
        "bench_reassign_immediate"
    });
    let conn = RefCell::new(schema.connect());
    let key = if deferrable {
        "ALTER TABLE players ADD CONSTRAINT players_key UNIQUE (team_id, squad_number) DEFERRABLE INITIALLY IMMEDIATE"
    } else {
        "ALTER TABLE players ADD CONSTRAINT players_key UNIQUE (team_id, squad_number)"
    };
    seed(&mut *conn.borrow_mut(), key);
    let shift = Cell::new(0);
    // Every iteration rewrites 10 000 rows. Untimed, before each: vacuum the dead row
    // versions away, so that whichever function runs later does not pay for the bloat the
    // earlier ones left.
    let vacuum = || {
        conn.borrow_mut()
            .batch_execute("VACUUM ANALYZE players")
            .expect("vacuum");
    };
    let next = || {
        vacuum();
        let pairs = rotation(shift.get());
        shift.set(shift.get() + 1);
        pairs
    };
    // The statements by hand: defer, or move everyone out of the way first.
    let prelude = if deferrable {
        "SET CONSTRAINTS players_key DEFERRED"
    } else {
        "UPDATE players SET squad_number = -squad_number WHERE team_id = 1"
    };

    let group_name = if deferrable {
        "reassign_rotation_10k_postgres_deferrable"
    } else {
        "reassign_rotation_10k_postgres_not_deferrable"
    };
    let mut group = c.benchmark_group(group_name);
    group.bench_function("reassign", |b| {
        b.iter_batched(
            next,
            |pairs| {
                let done = reassign(players::squad_number)
                    .within(players::team_id.eq(1))
                    .run(&mut *conn.borrow_mut(), pairs)
                    .expect("reassign");
                assert_eq!(done.deferred, deferrable);
                assert_eq!(done.changed, N as usize);
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("hand_written_pairs", |b| {
        b.iter_batched(
            next,
            |pairs| {
                conn.borrow_mut()
                    .transaction::<_, diesel::result::Error, _>(|conn| {
                        conn.batch_execute(prelude)?;
                        let n = pairs_update::<Pg>(&pairs, true).execute(conn)?;
                        assert_eq!(n, N as usize);
                        Ok(())
                    })
                    .expect("hand-written rotation");
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("hand_written_arithmetic", |b| {
        b.iter_batched(
            || {
                vacuum();
                shift.set(shift.get() + 1);
            },
            |()| {
                let sql = if deferrable {
                    format!("{prelude}; UPDATE players SET squad_number = squad_number % {N} + 1 WHERE team_id = 1")
                } else {
                    format!("{prelude}; UPDATE players SET squad_number = (-squad_number) % {N} + 1 WHERE team_id = 1")
                };
                conn.borrow_mut()
                    .transaction::<_, diesel::result::Error, _>(|conn| conn.batch_execute(&sql))
                    .expect("arithmetic rotation");
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
    check_rotation(&mut *conn.borrow_mut(), shift.get());
    ratio(group_name, "reassign", "hand_written_pairs");
    ratio(group_name, "reassign", "hand_written_arithmetic");
}

/// Every function rotated by one per iteration: the table is `rotation(shift - 1)`.
fn check_rotation<C>(conn: &mut C, shift: i32)
where
    C: Connection,
    players::table: diesel::query_dsl::LoadQuery<'static, C, (i32, i32, i32)>,
{
    let mut rows: Vec<(i32, i32, i32)> = players::table.load(conn).expect("load the players");
    rows.sort_unstable();
    let numbers: Vec<(i32, i32)> = rows.into_iter().map(|(id, _, n)| (id, n)).collect();
    assert_eq!(numbers, rotation(shift - 1), "every iteration rotated once");
}

fn benches(c: &mut Criterion) {
    sqlite(c);
    postgres(c, true);
    postgres(c, false);
}

criterion_group! {
    name = reassign_benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));
    targets = benches
}
criterion_main!(reassign_benches);
