//! Squad numbers are unique per team, and a coach reshuffles them. On an embedded SQLite
//! file: the naive swap (two `UPDATE`s in one transaction) fails on the unique key;
//! `reassign` swaps, rotates and moves numbers in one call; a soft-deleted player keeps
//! his number as history without blocking it; bad input is a typed error and writes
//! nothing. Last, the PostgreSQL DDL that lets a transaction defer the check instead.
//!
//! Run with `cargo run --example squad_numbers`.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::ddl::unique::DeferrableUnique;
use soft_delete_runtime::ddl::Deferral;
use soft_delete_runtime::deferred::{self, Constraints};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;

diesel::table! {
    players (id) {
        id -> Integer,
        team_id -> Integer,
        name -> Text,
        squad_number -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = players)]
struct Player {
    id: i32,
    team_id: i32,
    name: String,
    squad_number: i32,
    deleted_at: Option<NaiveDateTime>,
}

/// `name:number` of each live player of a team, by number.
fn squad(conn: &mut SqliteConnection, team: i32) -> QueryResult<Vec<String>> {
    let players: Vec<Player> = players::table
        .filter(players::team_id.eq(team))
        .active()
        .order(players::squad_number)
        .load(conn)?;
    Ok(players
        .iter()
        .map(|p| format!("{}:{}", p.name, p.squad_number))
        .collect())
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let path = std::env::temp_dir().join("soft-delete-squad-numbers.db");
    let _ = std::fs::remove_file(&path);
    let conn = &mut SqliteConnection::establish(&path.to_string_lossy())?;
    // A number is unique among a team's live players: a partial unique index.
    conn.batch_execute(
        "CREATE TABLE players (id INTEGER PRIMARY KEY, team_id INTEGER NOT NULL,
             name TEXT NOT NULL, squad_number INTEGER NOT NULL, deleted_at TIMESTAMP);
         CREATE UNIQUE INDEX players_squad_number_key ON players (team_id, squad_number)
             WHERE deleted_at IS NULL;
         INSERT INTO players (id, team_id, name, squad_number) VALUES
             (1, 1, 'ann', 7), (2, 1, 'bob', 10), (3, 1, 'cat', 9), (4, 1, 'dan', 11),
             (5, 2, 'eve', 7);",
    )?;
    println!("team 1: {:?}", squad(conn, 1)?);

    // --- naive swap ---
    // Two updates in one transaction: the first makes a duplicate 10, and SQLite (like
    // MySQL, and PostgreSQL unless the key is deferrable) checks every row at once.
    let naive = conn.transaction(|conn| {
        diesel::update(players::table.find(1))
            .set(players::squad_number.eq(10))
            .execute(conn)?;
        diesel::update(players::table.find(2))
            .set(players::squad_number.eq(7))
            .execute(conn)
    });
    // Err: UNIQUE constraint failed: players.team_id, players.squad_number
    assert!(naive.is_err());
    // --- end naive swap ---
    println!("naive swap: {}", naive.unwrap_err());
    assert_eq!(squad(conn, 1)?, ["ann:7", "cat:9", "bob:10", "dan:11"]);

    // --- reassign ---
    use soft_delete_runtime::deferred::reassign;

    // ann and bob swap; cat takes dan's 11 as dan moves to the free 23. One transaction,
    // and no duplicate at any point.
    let done = reassign(players::squad_number)
        .within(players::team_id.eq(1))
        .live_only()
        .run(conn, [(1, 10), (2, 7), (3, 11), (4, 23)])?;
    assert_eq!(done.changed, 4);
    // --- end reassign ---
    println!("reassign: {done:?}");
    println!("team 1: {:?}", squad(conn, 1)?);
    assert_eq!(squad(conn, 1)?, ["bob:7", "ann:10", "cat:11", "dan:23"]);
    assert_eq!(squad(conn, 2)?, ["eve:7"], "other teams are untouched");

    // --- reassign async ---
    // The same call on diesel-async (feature `async`): `run_async`, awaited. Here SQLite
    // behind `SyncConnectionWrapper` on a tokio runtime; `AsyncPgConnection`,
    // `AsyncMysqlConnection` and pooled connections (deadpool, bb8) take it alike.
    use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
    use diesel_async::AsyncConnection;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let done = runtime.block_on(async {
        let mut conn =
            SyncConnectionWrapper::<SqliteConnection>::establish(&path.to_string_lossy()).await?;
        // ann and bob swap back
        let done = reassign(players::squad_number)
            .within(players::team_id.eq(1))
            .live_only()
            .run_async(&mut conn, [(1, 7), (2, 10)])
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(done)
    })?;
    // --- end reassign async ---
    assert_eq!(done.changed, 2);
    assert_eq!(squad(conn, 1)?, ["ann:7", "bob:10", "cat:11", "dan:23"]);
    let done = reassign(players::squad_number)
        .within(players::team_id.eq(1))
        .live_only()
        .run(conn, [(1, 10), (2, 7)])?;
    assert_eq!(done.changed, 2);

    // --- soft-deleted numbers ---
    // dan leaves: soft-deleted, he keeps 23 as history; under a live-only key cat may take it.
    let dan: Player = players::table.find(4).active().first(conn)?;
    dan.soft_delete(conn)?;
    reassign(players::squad_number)
        .within(players::team_id.eq(1))
        .live_only()
        .run(conn, [(3, 23)])?;
    // --- end soft-deleted numbers ---
    let dan: Player = players::table.find(4).with_deleted().first(conn)?;
    println!(
        "{} of team {} left at {:?}",
        dan.name, dan.team_id, dan.deleted_at
    );
    assert_eq!(dan.squad_number, 23);
    println!("team 1 after dan left: {:?}", squad(conn, 1)?);
    assert_eq!(squad(conn, 1)?, ["bob:7", "ann:10", "cat:23"]);

    // --- reassign errors ---
    let by_team_1 = || reassign(players::squad_number).within(players::team_id.eq(1));

    // Two players given one number: refused before the database is touched.
    let twice = by_team_1().run(conn, [(1, 5), (2, 5)]);
    assert!(matches!(twice, Err(Error::DuplicateTarget { .. })));

    // A number held by a player who is not moving: refused, nothing written.
    let taken = by_team_1().live_only().run(conn, [(1, 7)]);
    assert!(matches!(taken, Err(Error::ValueTaken { .. })));
    // --- end reassign errors ---
    println!("{}\n{}", twice.unwrap_err(), taken.unwrap_err());
    assert_eq!(squad(conn, 1)?, ["bob:7", "ann:10", "cat:23"]);

    // --- postgres ddl ---
    // On PostgreSQL the key can be deferrable; for live rows only it is an exclusion
    // constraint (a partial unique index cannot be deferred).
    let key = DeferrableUnique::new(
        "players_squad_number_key",
        (players::team_id, players::squad_number),
    )
    .deferral(Deferral::InitiallyImmediate)
    .live_only();
    let up = key.create_sql(Dialect::Postgres)?;
    // ALTER TABLE "players" ADD CONSTRAINT "players_squad_number_key"
    //   EXCLUDE USING btree ("team_id" WITH =, "squad_number" WITH =)
    //   WHERE ("deleted_at" IS NULL) DEFERRABLE INITIALLY IMMEDIATE
    let down = key.drop_sql(Dialect::Postgres)?;
    // --- end postgres ddl ---
    println!("postgres up:   {up}\npostgres down: {down}");
    assert!(up.ends_with(r#"WHERE ("deleted_at" IS NULL) DEFERRABLE INITIALLY IMMEDIATE"#));
    assert!(matches!(
        key.create_sql(Dialect::Sqlite),
        Err(Error::Unsupported { .. })
    ));

    // --- deferred transaction ---
    // PostgreSQL only: inside, the key is checked once, at the end; a duplicate left over
    // is `Error::DeferredViolation { constraint, key }` and nothing is written.
    let swapped = deferred::transaction(conn, Constraints::from(&key), |conn| {
        diesel::update(players::table.find(1))
            .set(players::squad_number.eq(7))
            .execute(conn)?;
        diesel::update(players::table.find(2))
            .set(players::squad_number.eq(10))
            .execute(conn)?;
        Ok(())
    });
    // --- end deferred transaction ---
    assert!(matches!(swapped, Err(Error::Unsupported { .. })));
    println!("deferred transaction on SQLite: {}", swapped.unwrap_err());
    Ok(())
}
