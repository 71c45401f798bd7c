//! A batch restore and the active-unique keys of the graph's models: a row of the batch
//! colliding with a live row, two rows of the batch colliding with each other, links put
//! back into a key, a restore without collisions (one query per key per table), a plain
//! unique index the models do not declare, and a live row committed between the check and
//! the write.
//!
//! ```text
//! teams (timestamp, key: name) ─┬─ players.team_id       cascade  (active flag + batch column,
//!                               │                                  keys: (team_id, shirt) and nick)
//!                               ├─ sponsorships.team_id  set_null (deleted flag, key: (team_id, brand))
//!                               └─ profiles.team_id      set_null (plain table, UNIQUE (team_id))
//! ```

use diesel::connection::{InstrumentationEvent, SimpleConnection};
use diesel::prelude::*;
use soft_delete_runtime::backend::{Dialect, SupportedBackend};
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl::{self, journal};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::unique::{Holder, KeyConflict};
use soft_delete_runtime::Error;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend, TestConnection, TestDb};
use std::sync::{Arc, Mutex};

diesel::table! {
    teams (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    players (id) {
        id -> Integer,
        team_id -> Integer,
        shirt -> Integer,
        nick -> Text,
        active -> Bool,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    sponsorships (id) {
        id -> Integer,
        team_id -> Nullable<Integer>,
        brand -> Text,
        deleted -> Bool,
    }
}

diesel::table! {
    profiles (id) {
        id -> Integer,
        team_id -> Nullable<Integer>,
        bio -> Text,
    }
}

diesel::table! {
    soft_delete_journal (batch_id, table_name, column_name, row_key) {
        batch_id -> BigInt,
        table_name -> Text,
        column_name -> Text,
        row_key -> Text,
        old_value -> Nullable<Text>,
        new_value -> Nullable<Text>,
    }
}

/// The root: a team's name is unique among live teams.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = teams)]
#[active_unique(fields = "name", name = "one_live_team_name")]
#[soft_delete(children(
    players::team_id = cascade,
    sponsorships::team_id = set_null,
    profiles::team_id = set_null,
))]
pub struct Team {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

/// Two keys: one live player per shirt of a team, and a nick unique among live players.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = players)]
#[active_unique(fields = "team_id, shirt", name = "one_live_shirt")]
#[active_unique(fields = "nick", name = "one_live_nick")]
pub struct Player {
    pub id: i32,
    pub team_id: i32,
    pub shirt: i32,
    pub nick: String,
    #[soft_delete(marker = active)]
    pub active: bool,
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A key over the column a `set_null` edge cuts: one live sponsorship per brand of a team.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = sponsorships)]
#[active_unique(fields = "team_id, brand", name = "one_live_sponsor")]
pub struct Sponsorship {
    pub id: i32,
    pub team_id: Option<i32>,
    pub brand: String,
    #[soft_delete(marker = deleted)]
    pub deleted: bool,
}

const TABLES: &str = "
CREATE TABLE teams (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
CREATE TABLE players (id {pk}, team_id {int} NOT NULL, shirt {int} NOT NULL, nick {text} NOT NULL,
  active {bool} NOT NULL DEFAULT TRUE, archive_batch BIGINT NULL, FOREIGN KEY (team_id) REFERENCES teams (id));
CREATE TABLE sponsorships (id {pk}, team_id {int} NULL, brand {text} NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE,
  FOREIGN KEY (team_id) REFERENCES teams (id));
CREATE TABLE profiles (id {pk}, team_id {int} NULL, bio {text} NOT NULL, FOREIGN KEY (team_id) REFERENCES teams (id));
CREATE UNIQUE INDEX one_profile_per_team ON profiles (team_id);
";

/// Teams 1 `red` and 2 `blue`; players 1 (red #7 `ace`) and 2 (red #9 `bo`), 3 (blue #7
/// `cy`); sponsorships 1 (red, acme), 2 (blue, acme); profiles 1 (red), 2 (blue).
const ROWS: &str = "
INSERT INTO teams (id, name) VALUES (1, 'red'), (2, 'blue');
INSERT INTO players (id, team_id, shirt, nick) VALUES (1, 1, 7, 'ace'), (2, 1, 9, 'bo'), (3, 2, 7, 'cy');
INSERT INTO sponsorships (id, team_id, brand) VALUES (1, 1, 'acme'), (2, 2, 'acme');
INSERT INTO profiles (id, team_id, bio) VALUES (1, 1, 'the reds'), (2, 2, 'the blues');
";

fn dialect<C: TestConnection>() -> Dialect
where
    C::Backend: SupportedBackend,
{
    <C::Backend as SupportedBackend>::DIALECT
}

/// The tables, the journal, and, with `keys`, the active-unique keys' DDL; then the rows.
pub(crate) fn seed<C>(db: &mut TestDb<C>, keys: bool) -> QueryResult<()>
where
    C: TestConnection,
    C::Backend: SupportedBackend,
{
    db.create(TABLES);
    let dialect = dialect::<C>();
    let conn = db.conn();
    conn.batch_execute(&journal::create_table(dialect))?;
    conn.batch_execute(&soft_delete_runtime::ddl::archive_log::create_table(
        dialect,
    ))?;
    if keys {
        let statements = [
            ddl::active_unique::<Team>(dialect),
            ddl::active_unique::<Player>(dialect),
            ddl::active_unique::<Sponsorship>(dialect),
        ];
        for statement in statements.iter().flatten() {
            conn.batch_execute(statement)?;
        }
    }
    conn.batch_execute(ROWS)
}

/// Every row of every table, the journal included, as text.
macro_rules! dump {
    ($conn:expr) => {{
        let conn = $conn;
        // A dump reads every row, on purpose.
        let _every_row = soft_delete_runtime::guard::Allow::here();
        let mut dump: Vec<String> = Vec::new();
        for row in teams::table.order(teams::id).load::<Team>(conn)? {
            dump.push(format!("{row:?}"));
        }
        for row in players::table.order(players::id).load::<Player>(conn)? {
            dump.push(format!("{row:?}"));
        }
        for row in sponsorships::table
            .order(sponsorships::id)
            .load::<Sponsorship>(conn)?
        {
            dump.push(format!("{row:?}"));
        }
        for row in profiles::table
            .order(profiles::id)
            .load::<(i32, Option<i32>, String)>(conn)?
        {
            dump.push(format!("profiles {row:?}"));
        }
        for row in soft_delete_journal::table
            .order((
                soft_delete_journal::table_name,
                soft_delete_journal::row_key,
            ))
            .load::<(i64, String, String, String, Option<String>, Option<String>)>(conn)?
        {
            dump.push(format!("journal {row:?}"));
        }
        dump
    }};
}

/// The conflict inside `error`, or a panic saying what the error was instead.
fn conflict_of(error: &Error) -> &KeyConflict {
    error
        .conflict()
        .unwrap_or_else(|| panic!("expected Error::Conflict, got {error:?}"))
}

fn id(id: Option<&soft_delete_runtime::unique::RowId>) -> Option<i32> {
    id.and_then(|id| id.parse::<i32>().ok())
}

/// Archives team 1 (`red`): players 1 and 2, and cuts the links of its sponsorships and
/// profile.
macro_rules! archive_red {
    ($x:expr, $conn:expr) => {{
        let archived = $x.archive($conn, &Collector::new(teams::table.find(1)))?;
        assert_eq!(archived.plan().archived("players"), 2);
        assert_eq!(archived.plan().nulled("profiles", "team_id"), 1);
        archived
    }};
}

backend_tests! {
    fn a_row_colliding_with_a_live_row_names_it_and_changes_nothing(db, x) {
        seed(db, true)?;
        let conn = db.conn();
        let archived = archive_red!(x, conn);

        // A live player takes the nick of an archived one.
        conn.batch_execute("INSERT INTO players (id, team_id, shirt, nick) VALUES (4, 2, 8, 'ace')")?;
        let before = dump!(&mut *conn);
        let error = x.restore(conn, archived.batch()).expect_err("nick `ace` is live again");
        let conflict = conflict_of(&error);
        assert_eq!(conflict.table().name, "players");
        assert_eq!(conflict.key(), "one_live_nick");
        assert_eq!(conflict.columns(), ["nick"]);
        assert_eq!(conflict.values(), "ace");
        assert_eq!(conflict.holder(), Holder::Live);
        assert_eq!(id(Some(conflict.live_id())), Some(4));
        assert_eq!(id(conflict.restored_id()), Some(1));
        assert_eq!(
            error.to_string(),
            "`players` already has a live row for key `one_live_nick` (nick) = ace: the row with id 4; \
             restoring row 1 would make a second"
        );
        assert_eq!(dump!(&mut *conn), before, "nothing changed, the journal included");

        // The root's own key: a new live team is called `red`.
        conn.batch_execute("UPDATE players SET active = FALSE WHERE id = 4; INSERT INTO teams (id, name) VALUES (3, 'red')")?;
        let before = dump!(&mut *conn);
        let error = x.restore(conn, archived.batch()).expect_err("the name `red` is live again");
        let conflict = conflict_of(&error);
        assert_eq!((conflict.table().name.as_str(), conflict.key()), ("teams", "one_live_team_name"));
        assert_eq!(conflict.values(), "red");
        assert_eq!((id(Some(conflict.live_id())), id(conflict.restored_id())), (Some(3), Some(1)));
        assert_eq!(dump!(&mut *conn), before);

        // With both keys free again, the same batch restores.
        conn.batch_execute("UPDATE teams SET name = 'crimson' WHERE id = 3")?;
        let restored = x.restore(conn, archived.batch())?;
        assert_eq!((restored.rows_of("teams"), restored.rows_of("players")), (1, 2));
        assert_eq!(restored.links_of("sponsorships", "team_id"), 1);
        Ok(())
    }

    fn without_the_keys_ddl_the_check_alone_refuses(db, x) {
        // No index in the database: only the library's check stands between the restore and
        // a second live row.
        seed(db, false)?;
        let conn = db.conn();
        let archived = archive_red!(x, conn);
        conn.batch_execute("INSERT INTO players (id, team_id, shirt, nick) VALUES (4, 1, 9, 'dee')")?;
        let before = dump!(&mut *conn);
        let error = x.restore(conn, archived.batch()).expect_err("shirt 9 of team 1 is live again");
        let conflict = conflict_of(&error);
        assert_eq!((conflict.key(), conflict.values()), ("one_live_shirt", "(1, 9)"));
        assert_eq!(conflict.columns(), ["team_id", "shirt"]);
        assert_eq!((id(Some(conflict.live_id())), id(conflict.restored_id())), (Some(4), Some(2)));
        assert_eq!(dump!(&mut *conn), before);
        let live: i64 = players::table.active().filter(players::shirt.eq(9)).count().get_result(conn)?;
        assert_eq!(live, 1);
        Ok(())
    }

    fn two_rows_of_one_batch_with_the_same_key_are_a_conflict(db, x) {
        seed(db, true)?;
        let conn = db.conn();
        let archived = archive_red!(x, conn);
        // While archived, player 2 is given player 1's shirt: dead rows may share a key.
        conn.batch_execute("UPDATE players SET shirt = 7 WHERE id = 2")?;
        let before = dump!(&mut *conn);

        let error = x.restore(conn, archived.batch()).expect_err("two players of the batch wear #7");
        let conflict = conflict_of(&error);
        assert_eq!(conflict.holder(), Holder::SameRestore);
        assert_eq!((conflict.key(), conflict.values()), ("one_live_shirt", "(1, 7)"));
        assert_eq!((id(Some(conflict.live_id())), id(conflict.restored_id())), (Some(1), Some(2)));
        assert_eq!(
            error.to_string(),
            "restoring rows 1 and 2 of `players` would give key `one_live_shirt` (team_id, shirt) = (1, 7) two live rows"
        );
        assert_eq!(dump!(&mut *conn), before);
        Ok(())
    }

    fn a_restore_without_collisions_checks_each_key_with_one_query(db, x) {
        seed(db, true)?;
        let conn = db.conn();
        // History that shares keys with the batch's rows but stays archived: player 5 wore
        // red's #7 before `ace` and is archived by an earlier batch of its own; player 6 (a
        // plain soft delete) had the nick `bo`.
        conn.batch_execute(
            "INSERT INTO players (id, team_id, shirt, nick, active) VALUES (5, 1, 70, 'old seven', TRUE), (6, 2, 60, 'bo', FALSE);",
        )?;
        let earlier = x.archive(conn, &Collector::new(players::table.find(5)))?;
        conn.batch_execute("UPDATE players SET shirt = 7 WHERE id = 5")?;
        // Twenty more red players: the number of checks does not grow with the rows.
        let many: Vec<String> = (10..30)
            .map(|i| format!("({i}, 1, {i}, 'p{i}')"))
            .collect();
        conn.batch_execute(&format!(
            "INSERT INTO players (id, team_id, shirt, nick) VALUES {}",
            many.join(", ")
        ))?;
        let archived = x.archive(conn, &Collector::new(teams::table.find(1)))?;
        assert_eq!(archived.plan().archived("players"), 22);

        let seen = x.record_statements(conn);
        let restored = x.restore(conn, archived.batch())?;
        x.set_instrumentation(conn, |_: InstrumentationEvent<'_>| {});
        assert_eq!(restored.rows_of("teams"), 1);
        assert_eq!(restored.rows_of("players"), 22);
        assert_eq!(restored.links_of("sponsorships", "team_id"), 1);
        assert_eq!(restored.links_of("profiles", "team_id"), 1);
        // teams.name, players (team_id, shirt), players.nick, and sponsorships (team_id,
        // brand) for the link put back: four reads, whatever the number of rows.
        let reads: Vec<String> = seen
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|sql| soft_delete_tests::verb(sql) == "SELECT")
            // (MySQL also reads the tables' engines, once: not a key check.)
            .filter(|sql| !sql.contains("information_schema"))
            // (Nor is the session's time zone, read to set UTC around the restore.)
            .filter(|sql| !sql.contains("@@session.time_zone"))
            // (Nor the session's server and database, which the engines kept per process are
            // filed under.)
            .filter(|sql| !sql.contains("@@hostname"))
            // (Nor, on MySQL, the archive's counts in the log, read after its claim.)
            .filter(|sql| !sql.contains("soft_delete_archive_log"))
            .cloned()
            .collect();
        assert_eq!(reads.len(), 4, "{reads:#?}");

        // The history stayed where it was.
        let dead: Vec<i32> = players::table.only_deleted().select(players::id).order(players::id).load(conn)?;
        assert_eq!(dead, [5, 6]);
        let five: Player = players::table.find(5).with_deleted().first(conn)?;
        assert_eq!(five.archive_batch, Some(earlier.batch().id()));
        let team: Option<i32> = sponsorships::table.find(1).select(sponsorships::team_id).with_deleted().first(conn)?;
        assert_eq!(team, Some(1));
        Ok(())
    }

    fn a_link_put_back_into_a_key_is_checked_before_it_is_written(db, x) {
        seed(db, true)?;
        // Sponsorship 4 (red, acme) is old history: its link is cut by the archive too.
        db.conn().batch_execute("INSERT INTO sponsorships (id, team_id, brand, deleted) VALUES (4, 1, 'acme', TRUE)")?;
        let conn = db.conn();
        let archived = archive_red!(x, conn);
        assert_eq!(archived.plan().nulled("sponsorships", "team_id"), 2);
        let cut: Vec<Option<i32>> = sponsorships::table.select(sponsorships::team_id).order(sponsorships::id).with_deleted().load(conn)?;
        assert_eq!(cut, [None, Some(2), None]);

        // Red signs acme again while archived: putting sponsorship 1's link back would make two.
        conn.batch_execute("INSERT INTO sponsorships (id, team_id, brand) VALUES (3, 1, 'acme')")?;
        let before = dump!(&mut *conn);
        let error = x.restore(conn, archived.batch()).expect_err("red has a live acme sponsorship");
        let conflict = conflict_of(&error);
        assert_eq!(conflict.table().name, "sponsorships");
        assert_eq!((conflict.key(), conflict.values()), ("one_live_sponsor", "(1, acme)"));
        assert_eq!(conflict.holder(), Holder::Live);
        assert_eq!((id(Some(conflict.live_id())), id(conflict.restored_id())), (Some(3), Some(1)));
        assert_eq!(dump!(&mut *conn), before, "the rows restored before the links were rolled back");

        // Two links coming back to the same key: sponsorship 4 was revived by hand (its key,
        // without the link, was free).
        conn.batch_execute("UPDATE sponsorships SET deleted = TRUE WHERE id = 3; UPDATE sponsorships SET deleted = FALSE WHERE id = 4")?;
        let before = dump!(&mut *conn);
        let error = x.restore(conn, archived.batch()).expect_err("1 and 4 would both be red's acme");
        let conflict = conflict_of(&error);
        assert_eq!(conflict.holder(), Holder::SameRestore);
        assert_eq!((id(Some(conflict.live_id())), id(conflict.restored_id())), (Some(1), Some(4)));
        assert_eq!(dump!(&mut *conn), before);

        // A dead row's link comes back without a conflict: only live rows hold a key.
        conn.batch_execute("UPDATE sponsorships SET deleted = TRUE WHERE id = 4")?;
        let restored = x.restore(conn, archived.batch())?;
        assert_eq!(restored.links_of("sponsorships", "team_id"), 2);
        let teams: Vec<Option<i32>> = sponsorships::table.select(sponsorships::team_id).order(sponsorships::id).with_deleted().load(conn)?;
        assert_eq!(teams, [Some(1), Some(2), Some(1), Some(1)]);
        Ok(())
    }

    fn a_plain_unique_index_is_still_a_typed_error(db, x) {
        seed(db, true)?;
        let backend = db.backend();
        let conn = db.conn();
        let archived = archive_red!(x, conn);
        // `profiles` is a plain table with UNIQUE (team_id), which no model declares: red
        // gets a new profile while archived, so the old one's link cannot come back.
        conn.batch_execute("INSERT INTO profiles (id, team_id, bio) VALUES (3, 1, 'the new reds')")?;
        let before = dump!(&mut *conn);
        let error = x.restore(conn, archived.batch()).expect_err("red has a profile already");
        let Error::RestoreConflict { table, key, message } = &error else {
            panic!("expected Error::RestoreConflict, got {error:?}");
        };
        assert_eq!(table, "profiles");
        let expected = match backend {
            Backend::Sqlite => "profiles.team_id",
            Backend::Postgres | Backend::Mysql => "one_profile_per_team",
        };
        assert_eq!(key.as_deref(), Some(expected), "{message}");
        assert_eq!(dump!(&mut *conn), before);
        Ok(())
    }

    fn a_live_row_committed_after_the_check_is_named_too(db, x) {
        seed(db, true)?;
        let backend = db.backend();
        let mut other = db.connect();
        let conn = db.conn();
        let archived = archive_red!(x, conn);
        // Another connection inserts a live team `red` just before the restore's first write
        // to a table of the graph, after its check found the name free.
        let outcome: Arc<Mutex<Option<QueryResult<()>>>> = Arc::new(Mutex::new(None));
        let sink = Arc::clone(&outcome);
        x.set_instrumentation(conn, move |event: InstrumentationEvent<'_>| {
            if let InstrumentationEvent::StartQuery { query, .. } = event {
                let mut done = sink.lock().expect("not poisoned");
                let sql = query.to_string();
                if done.is_none() && sql.starts_with("UPDATE") && !sql.contains("soft_delete_archive_log") {
                    *done = Some(other.batch_execute("INSERT INTO teams (id, name) VALUES (3, 'red')"));
                }
            }
        });
        let result = x.restore(conn, archived.batch());
        x.set_instrumentation(conn, |_: InstrumentationEvent<'_>| {});
        let inserted = outcome.lock().expect("not poisoned").take().expect("the restore writes");
        match backend {
            Backend::Postgres | Backend::Mysql => {
                inserted?;
                // The database's index refused the row; after the rollback the check names the
                // new live team.
                let error = result.expect_err("team 3 took the name");
                let conflict = conflict_of(&error);
                assert_eq!((conflict.key(), conflict.values()), ("one_live_team_name", "red"));
                assert_eq!((id(Some(conflict.live_id())), id(conflict.restored_id())), (Some(3), Some(1)));
                let red: Team = teams::table.find(1).with_deleted().first(conn)?;
                assert!(red.deleted_at.is_some(), "rolled back");
            }
            Backend::Sqlite => {
                // SQLite has one writer at a time: the restore's transaction has read the
                // database, so the other connection cannot commit until it ends.
                let refused = inserted.expect_err("the restore holds the database");
                assert!(refused.to_string().contains("database is locked"), "{refused}");
                assert_eq!(result?.rows_of("teams"), 1);
            }
        }
        Ok(())
    }
}

/// The graph's nodes carry the keys the models declare: the same list the model's
/// `ActiveUniqueKeys` gives the DDL, not a second registry.
#[test]
fn the_graph_carries_the_keys_the_models_declare() {
    use soft_delete_runtime::__private::graph::Node;
    use soft_delete_runtime::collector::ArchiveTable;
    use soft_delete_runtime::unique::KeyList;

    let mut declared = Vec::new();
    <<Player as SoftDelete>::ActiveUniqueKeys as KeyList<Player>>::describe(&mut declared);
    let names: Vec<&str> = declared.iter().map(|key| key.name).collect();
    assert_eq!(names, ["one_live_shirt", "one_live_nick"]);
    assert_eq!(declared[0].columns, ["team_id", "shirt"]);
    assert_eq!(
        players::table::node().active_unique_keys(),
        declared.as_slice()
    );

    let mut declared = Vec::new();
    <<Team as SoftDelete>::ActiveUniqueKeys as KeyList<Team>>::describe(&mut declared);
    assert_eq!(
        teams::table::node().active_unique_keys(),
        declared.as_slice()
    );
    // A plain table has no keys the library knows of.
    assert!(Node::plain::<profiles::table>()
        .active_unique_keys()
        .is_empty());
}
