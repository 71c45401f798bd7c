//! The tables of the deferred-constraint and reassign tests: players with a squad number
//! unique per team (the seed article's model), soft-deletable, under each kind of key.

use diesel::prelude::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::ddl::unique::DeferrableUnique;
use soft_delete_runtime::ddl::Deferral;
use soft_delete_runtime::prelude::*;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{Backend, TestConnection, TestDb};

diesel::table! {
    players (id) {
        id -> Integer,
        team_id -> Integer,
        name -> Text,
        squad_number -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// A `SMALLINT` key, to run out of temporary values.
    seats (id) {
        id -> Integer,
        seat -> SmallInt,
    }
}

/// A player; `deleted_at` is the marker, so live-only keys skip soft-deleted players.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = players)]
pub struct Player {
    pub id: i32,
    pub team_id: i32,
    pub name: String,
    pub squad_number: i32,
    pub deleted_at: Option<Stamp>,
}

/// The name every test gives the squad-number key.
pub(crate) const KEY: &str = "players_squad_number_key";

/// The squad-number key as PostgreSQL DDL, deferrable.
pub(crate) fn deferrable_key(
    deferral: Deferral,
) -> DeferrableUnique<(players::team_id, players::squad_number)> {
    DeferrableUnique::new(KEY, (players::team_id, players::squad_number)).deferral(deferral)
}

/// The kinds of unique key on `(team_id, squad_number)` the tests run under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// `UNIQUE (team_id, squad_number)`, checked per row: every backend.
    Plain,
    /// Unique among live rows, checked per row: a partial unique index (SQLite,
    /// PostgreSQL), a generated live-key column inside a unique key (MySQL/MariaDB).
    LiveOnly,
    /// PostgreSQL: `UNIQUE (...) DEFERRABLE INITIALLY ...`, from [`DeferrableUnique`].
    Deferrable(Deferral),
    /// PostgreSQL: `EXCLUDE ... WHERE (live) DEFERRABLE INITIALLY ...`, from
    /// [`DeferrableUnique::live_only`].
    DeferrableLiveOnly(Deferral),
}

/// Creates `players` under `key`, with team 1 holding numbers 1..=5 (players 1..=5, named
/// `p1`..`p5`) and team 2 holding 1..=3 (players 6..=8).
pub(crate) fn create_players<C: TestConnection>(db: &mut TestDb<C>, key: Key) -> QueryResult<()> {
    let backend = db.backend();
    let live_key = if backend == Backend::Mysql && key == Key::LiveOnly {
        ", live_key TINYINT AS (CASE WHEN deleted_at IS NULL THEN 1 END) STORED"
    } else {
        ""
    };
    db.create(&format!(
        "CREATE TABLE players (id {{pk}}, team_id {{int}} NOT NULL, name {{text}} NOT NULL, \
         squad_number {{int}} NOT NULL, deleted_at {{ts}} NULL{live_key})"
    ));
    let dialect = match backend {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
        Backend::Mysql => Dialect::Mysql,
    };
    let ddl = match (key, backend) {
        // On PostgreSQL a constraint, so that `reassign` finds one that is not deferrable.
        (Key::Plain, Backend::Postgres) => {
            format!("ALTER TABLE players ADD CONSTRAINT {KEY} UNIQUE (team_id, squad_number)")
        }
        (Key::Plain, _) => format!("CREATE UNIQUE INDEX {KEY} ON players (team_id, squad_number)"),
        (Key::LiveOnly, Backend::Mysql) => {
            format!("CREATE UNIQUE INDEX {KEY} ON players (team_id, squad_number, live_key)")
        }
        (Key::LiveOnly, _) => format!(
            "CREATE UNIQUE INDEX {KEY} ON players (team_id, squad_number) WHERE {}",
            soft_delete_runtime::ddl::live_condition::<players::table>(dialect)
        ),
        (Key::Deferrable(deferral), _) => deferrable_key(deferral)
            .create_sql(dialect)
            .expect("deferrable keys are for PostgreSQL tests"),
        (Key::DeferrableLiveOnly(deferral), _) => deferrable_key(deferral)
            .live_only()
            .create_sql(dialect)
            .expect("deferrable keys are for PostgreSQL tests"),
    };
    let conn = db.conn();
    conn.batch_execute(&ddl)?;
    conn.batch_execute(
        "INSERT INTO players (id, team_id, name, squad_number) VALUES \
         (1, 1, 'p1', 1), (2, 1, 'p2', 2), (3, 1, 'p3', 3), (4, 1, 'p4', 4), (5, 1, 'p5', 5), \
         (6, 2, 'p6', 1), (7, 2, 'p7', 2), (8, 2, 'p8', 3)",
    )?;
    Ok(())
}

/// `(id, squad_number)` of every player of a team (live or not), by id.
macro_rules! numbers_of {
    ($conn:expr, $team:expr) => {
        // Every player of the team, live or not: the key binds them all.
        soft_delete_runtime::guard::allow(|| {
            $crate::deferred_schema::players::table
                .filter($crate::deferred_schema::players::team_id.eq($team))
                .order($crate::deferred_schema::players::id)
                .select((
                    $crate::deferred_schema::players::id,
                    $crate::deferred_schema::players::squad_number,
                ))
                .load::<(i32, i32)>($conn)
        })
    };
}
pub(crate) use numbers_of;
