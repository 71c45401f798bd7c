//! Active-unique keys with `Option` fields. By default their `NULL`s are distinct, as in a
//! unique index: rows with one repeat freely, and `start`, `retry`, ... refuse such a key value
//! with a typed error on every backend. With `nulls = not_distinct`, `None` is a value of the
//! key like any other (`(1, None) == (1, None)`), so a key has at most one live row with a
//! `NULL` part: the key's queries, `start`, `retry`, `restore`, the DDL on every backend
//! (PostgreSQL's `NULLS NOT DISTINCT`; an index per `NULL` pattern on SQLite and MySQL) and a
//! batch restore's checks all treat it so.
//!
//! ```text
//! tickets: key (event_id, seat?)                nulls distinct (default)
//! drafts: key (owner_id, folder_id?)            nulls not_distinct, counter version
//! owners ── notes.owner_id  cascade   notes: key (folder_id?, topic?), nulls not_distinct
//! folders ─ notes.folder_id set_null
//! ```

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use soft_delete_runtime::backend::{Dialect, SupportedBackend};
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl::{self, archive_log, journal, Deferral, KeyForm};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::unique::Holder;
use soft_delete_runtime::Error;
use soft_delete_tests::exec::{Exec, FindIn, KeysIn, RestoreIn};
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, TestConnection, TestDb};

diesel::table! {
    drafts (id) {
        id -> Integer,
        owner_id -> Integer,
        folder_id -> Nullable<Integer>,
        body -> Text,
        deleted_at -> Nullable<Timestamp>,
        version -> Integer,
    }
}

diesel::table! {
    owners (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    folders (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notes (id) {
        id -> Integer,
        owner_id -> Integer,
        folder_id -> Nullable<Integer>,
        topic -> Nullable<Text>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tickets (id) {
        id -> Integer,
        event_id -> Integer,
        seat -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// One live ticket per seat of an event; standing tickets (no seat) as many as sold.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = tickets)]
#[active_unique(fields = "event_id, seat")]
pub struct Ticket {
    pub id: i32,
    pub event_id: i32,
    pub seat: Option<i32>,
    pub deleted_at: Option<Stamp>,
}

fn ticket(
    event_id: i32,
    seat: Option<i32>,
) -> (
    diesel::dsl::Eq<tickets::event_id, i32>,
    diesel::dsl::Eq<tickets::seat, Option<i32>>,
) {
    (tickets::event_id.eq(event_id), tickets::seat.eq(seat))
}

/// One live draft per owner and folder; `None` is the owner's top level.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = drafts)]
#[active_unique(fields = "owner_id, folder_id", counter = version, nulls = not_distinct)]
pub struct Draft {
    pub id: i32,
    pub owner_id: i32,
    pub folder_id: Option<i32>,
    pub body: String,
    pub deleted_at: Option<Stamp>,
    pub version: i32,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = drafts)]
pub struct NewDraft {
    pub owner_id: i32,
    pub folder_id: Option<i32>,
    pub body: String,
    pub version: i32,
}

fn draft(owner_id: i32, folder_id: Option<i32>, version: i32) -> NewDraft {
    NewDraft {
        owner_id,
        folder_id,
        body: format!("v{version}"),
        version,
    }
}

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = owners)]
#[soft_delete(children(notes::owner_id = cascade))]
pub struct Owner {
    pub id: i32,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = folders)]
#[soft_delete(children(notes::folder_id = set_null))]
pub struct Folder {
    pub id: i32,
    pub deleted_at: Option<Stamp>,
}

/// Every part of the key may be `NULL`: one live note per (folder, topic), `NULL`s included.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = notes)]
#[active_unique(fields = "folder_id, topic", name = "one_live_note", nulls = not_distinct)]
pub struct Note {
    pub id: i32,
    pub owner_id: i32,
    pub folder_id: Option<i32>,
    pub topic: Option<String>,
    pub deleted_at: Option<Stamp>,
}

const TABLES: &str = "
CREATE TABLE drafts (id {pk}, owner_id {int} NOT NULL, folder_id {int} NULL, body {text} NOT NULL, deleted_at {ts} NULL, version {int} NOT NULL);
CREATE TABLE owners (id {pk}, deleted_at {ts} NULL);
CREATE TABLE folders (id {pk}, deleted_at {ts} NULL);
CREATE TABLE notes (id {pk}, owner_id {int} NOT NULL, folder_id {int} NULL, topic {text} NULL, deleted_at {ts} NULL);
CREATE TABLE tickets (id {pk}, event_id {int} NOT NULL, seat {int} NULL, deleted_at {ts} NULL);
";

fn dialect<C: TestConnection>() -> Dialect
where
    C::Backend: SupportedBackend,
{
    <C::Backend as SupportedBackend>::DIALECT
}

fn create_with_keys<C>(db: &mut TestDb<C>) -> QueryResult<()>
where
    C: TestConnection,
    C::Backend: SupportedBackend,
{
    db.create(TABLES);
    let dialect = dialect::<C>();
    let conn = db.conn();
    conn.batch_execute(&journal::create_table(dialect))?;
    conn.batch_execute(&archive_log::create_table(dialect))?;
    for statement in ddl::active_unique::<Draft>(dialect)
        .iter()
        .chain(&ddl::active_unique::<Note>(dialect))
    {
        conn.batch_execute(statement)?;
    }
    Ok(())
}

fn is_unique_violation<T: std::fmt::Debug>(outcome: &QueryResult<T>) -> bool {
    matches!(
        outcome,
        Err(DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            _
        ))
    )
}

fn live_id_of(error: &Error) -> Option<i32> {
    error
        .conflict()
        .and_then(|c| c.live_id().parse::<i32>().ok())
}

fn note<C: Connection>(
    conn: &mut C,
    id: i32,
    owner: i32,
    folder: Option<i32>,
    topic: Option<&str>,
) -> QueryResult<usize>
where
    diesel::query_builder::InsertStatement<
        notes::table,
        <(
            diesel::dsl::Eq<notes::id, i32>,
            diesel::dsl::Eq<notes::owner_id, i32>,
            diesel::dsl::Eq<notes::folder_id, Option<i32>>,
            diesel::dsl::Eq<notes::topic, Option<String>>,
        ) as Insertable<notes::table>>::Values,
    >: diesel::query_dsl::methods::ExecuteDsl<C>,
{
    diesel::insert_into(notes::table)
        .values((
            notes::id.eq(id),
            notes::owner_id.eq(owner),
            notes::folder_id.eq(folder),
            notes::topic.eq(topic.map(str::to_owned)),
        ))
        .execute(conn)
}

backend_tests! {
    /// The default: a `NULL` equals nothing. The database lets standing tickets repeat, a
    /// restore of one never conflicts, and the operations that need one live row refuse a key
    /// value with `None` on every backend, before touching the database.
    fn with_distinct_nulls_a_none_part_has_no_live_row_and_is_refused(db, x) {
        create_with_keys(db)?;
        let dialect = dialect::<Conn>();
        assert_eq!(
            ddl::active_unique::<Ticket>(dialect),
            ddl::active_unique_key::<Ticket, (tickets::event_id, tickets::seat)>(dialect, KeyForm::Index).map(|s| vec![s])?,
        );
        assert!(!ddl::active_unique::<Ticket>(dialect)[0].contains("NULLS NOT DISTINCT"));
        let conn = db.conn();
        let refused = |error: Error| match error {
            Error::NullKeyPart { key, column, .. } => {
                assert_eq!((key, column), ("tickets_event_id_seat_live_key", "seat"));
            }
            other => panic!("expected NullKeyPart, got {other:?}"),
        };
        refused(KeysIn::<_, Ticket, _, _>::start(x, conn, (1, None), |_| ticket(1, None)).unwrap_err());
        refused(KeysIn::<_, Ticket, _, _>::retry(x, conn, (1, None), |_, _| ticket(1, None)).unwrap_err());
        refused(KeysIn::<_, Ticket, _, _>::upsert(x, conn, (1, None), |_| ticket(1, None), |_| tickets::seat.eq(None::<i32>)).unwrap_err());
        refused(FindIn::<_, Ticket, _>::find_live(x, conn, (1, None)).unwrap_err());
        refused(FindIn::<_, Ticket, _>::history(x, conn, (1, None)).unwrap_err());
        assert_eq!(tickets::table.with_deleted().count().get_result::<i64>(conn)?, 0, "nothing written");

        // Seated tickets are keyed; standing ones repeat, in the database too.
        let seated = KeysIn::<_, Ticket, _, _>::start(x, conn, (1, Some(3)), |_| ticket(1, Some(3)))?;
        let again = KeysIn::<_, Ticket, _, _>::start(x, conn, (1, Some(3)), |_| ticket(1, Some(3))).unwrap_err();
        assert_eq!(live_id_of(&again), Some(seated.id), "{again}");
        for _ in 0..3 {
            diesel::insert_into(tickets::table).values(ticket(1, None)).execute(conn)?;
        }
        // A standing ticket comes back beside the others: no conflict.
        let standing: Ticket = tickets::table.filter(tickets::seat.is_null()).with_deleted().first(conn)?;
        standing.soft_delete(conn)?;
        let standing: Ticket = tickets::table.find(standing.id).with_deleted().first(conn)?;
        assert_eq!(RestoreIn::<_, Ticket, _>::restore_row(x, conn, &standing)?, 1);
        assert_eq!(tickets::table.active().count().get_result::<i64>(conn)?, 4);
        Ok(())
    }

    fn a_none_part_is_a_value_of_the_key_for_start_retry_and_history(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let first = KeysIn::<_, Draft, _, _>::start(x, conn, (1, None), |n| draft(1, None, n))?;
        assert_eq!((first.folder_id, first.version), (None, 0));
        assert_eq!(FindIn::<_, Draft, _>::find_live(x, conn, (1, None))?.as_ref(), Some(&first));

        let again = KeysIn::<_, Draft, _, _>::start(x, conn, (1, None), |n| draft(1, None, n)).unwrap_err();
        assert_eq!(live_id_of(&again), Some(first.id), "{again}");

        let second = KeysIn::<_, Draft, _, _>::retry(x, conn, (1, None), |old: &Draft, n| draft(old.owner_id, old.folder_id, n))?;
        assert_eq!(second.version, 1);
        let history: Vec<i32> = FindIn::<_, Draft, _>::history(x, conn, (1, None))?.iter().map(|d| d.id).collect();
        assert_eq!(history, [second.id, first.id]);

        // Another folder, and another owner's top level, are other keys.
        let in_folder = KeysIn::<_, Draft, _, _>::start(x, conn, (1, Some(5)), |n| draft(1, Some(5), n))?;
        let other = KeysIn::<_, Draft, _, _>::start(x, conn, (2, None), |n| draft(2, None, n))?;
        assert_eq!(FindIn::<_, Draft, _>::find_live(x, conn, (1, Some(5)))?.map(|d| d.id), Some(in_folder.id));
        assert_eq!(FindIn::<_, Draft, _>::history(x, conn, (1, Some(5)))?.len(), 1);
        assert_eq!(FindIn::<_, Draft, _>::history(x, conn, (2, None))?.len(), 1);
        assert_eq!(FindIn::<_, Draft, _>::find_live(x, conn, (2, None))?.map(|d| d.id), Some(other.id));

        // A by-value restore of the retired top-level draft: the key is held.
        let retired: Draft = drafts::table.find(first.id).with_deleted().first(conn)?;
        let err = RestoreIn::<_, Draft, _>::restore_row(x, conn, &retired).unwrap_err();
        assert_eq!(live_id_of(&err), Some(second.id), "{err}");
        Ok(())
    }

    fn the_database_allows_one_live_row_per_key_with_null_parts(db) {
        create_with_keys(db)?;
        let conn = db.conn();
        // A mixed key: (owner, NULL) once among live rows, any number of dead ones.
        diesel::insert_into(drafts::table).values(draft(1, None, 0)).execute(conn)?;
        let second = diesel::insert_into(drafts::table).values(draft(1, None, 1)).execute(conn);
        assert!(is_unique_violation(&second), "{second:?}");
        diesel::insert_into(drafts::table).values(draft(1, Some(5), 0)).execute(conn)?;
        diesel::insert_into(drafts::table).values(draft(2, None, 0)).execute(conn)?;
        diesel::update(drafts::table.filter(drafts::owner_id.eq(1).and(drafts::folder_id.is_null())))
            .set(drafts::deleted_at.eq(Some(soft_delete_tests::stamp::now())))
            .execute(conn)?;
        diesel::insert_into(drafts::table).values(draft(1, None, 1)).execute(conn)?;

        // Every part nullable: each pattern of NULLs is a key value of its own.
        let patterns = [(1, None, None), (2, Some(5), None), (3, None, Some("a")), (4, Some(5), Some("a"))];
        for (id, folder, topic) in patterns {
            note(conn, id, 1, folder, topic)?;
        }
        for (id, folder, topic) in patterns {
            let twice = note(conn, id + 10, 1, folder, topic);
            assert!(is_unique_violation(&twice), "{folder:?}, {topic:?}: {twice:?}");
        }
        Ok(())
    }

    fn the_down_migration_drops_every_index_of_a_key_with_null_parts(db) {
        create_with_keys(db)?;
        let dialect = dialect::<Conn>();
        let conn = db.conn();
        for statement in ddl::drop_active_unique::<Note>(dialect, KeyForm::Index)? {
            conn.batch_execute(&statement)?;
        }
        for id in [1, 2] {
            note(conn, id, 1, None, None)?;
            note(conn, id + 10, 1, Some(5), None)?;
            note(conn, id + 20, 1, None, Some("a"))?;
        }
        for statement in ddl::active_unique::<Note>(dialect) {
            let refused = conn.batch_execute(&statement);
            assert!(refused.is_err(), "the duplicates refuse the key again: {statement}");
        }
        Ok(())
    }

    fn the_exclusion_form_counts_null_parts_as_equal_at_commit(db) {
        db.create(TABLES);
        let dialect = dialect::<Conn>();
        let form = KeyForm::Exclusion(Deferral::InitiallyDeferred);
        let statements = match ddl::active_unique_with::<Note>(dialect, form) {
            Ok(statements) => statements,
            Err(Error::Unsupported { dialect: d, .. }) => {
                assert_ne!(d, Dialect::Postgres);
                return Ok(());
            }
            Err(other) => return Err(other.into()),
        };
        let conn = db.conn();
        for statement in &statements {
            conn.batch_execute(statement)?;
        }
        for (folder, topic) in [(None, None), (Some(5), None), (None, Some("a"))] {
            let at_commit = conn.transaction(|conn| {
                note(conn, 1, 1, folder, topic)?;
                note(conn, 2, 1, folder, topic)?;
                QueryResult::Ok(())
            });
            assert!(
                matches!(at_commit, Err(DieselError::DatabaseError(DatabaseErrorKind::ExclusionViolation, _))),
                "{folder:?}, {topic:?}: {at_commit:?}"
            );
        }
        for statement in ddl::drop_active_unique::<Note>(dialect, form)? {
            conn.batch_execute(&statement)?;
        }
        note(conn, 1, 1, None, None)?;
        note(conn, 2, 1, None, None)?;
        Ok(())
    }

    /// Without the keys' DDL, so that the batch restore's own checks are what refuses.
    fn a_batch_restore_counts_null_parts_as_equal(db, x) {
        db.create(TABLES);
        let dialect = dialect::<Conn>();
        let conn = db.conn();
        conn.batch_execute(&journal::create_table(dialect))?;
        conn.batch_execute(&archive_log::create_table(dialect))?;
        conn.batch_execute("INSERT INTO owners (id) VALUES (1), (2); INSERT INTO folders (id) VALUES (5);")?;

        // A row of the batch against a live row: (NULL, 'a') is held again.
        note(conn, 1, 1, None, Some("a"))?;
        let archived = x.archive(conn, &Collector::new(owners::table.find(1)))?;
        note(conn, 2, 2, None, Some("a"))?;
        let err = x.restore(conn, archived.batch()).unwrap_err();
        let conflict = err.conflict().unwrap_or_else(|| panic!("a conflict, got {err:?}"));
        assert_eq!((conflict.holder(), live_id_of(&err)), (Holder::Live, Some(2)), "{err}");
        assert_eq!(notes::table.active().count().get_result::<i64>(conn)?, 1, "nothing restored");

        // A link put back into the key: (5, NULL) is held again.
        note(conn, 3, 2, Some(5), None)?;
        let cut = x.archive(conn, &Collector::new(folders::table.find(5)))?;
        note(conn, 4, 2, Some(5), None)?;
        let err = x.restore(conn, cut.batch()).unwrap_err();
        let conflict = err.conflict().unwrap_or_else(|| panic!("a conflict, got {err:?}"));
        assert_eq!((conflict.holder(), live_id_of(&err)), (Holder::Live, Some(4)), "{err}");
        let folder: Option<i32> = notes::table.find(3).select(notes::folder_id).with_deleted().first(conn)?;
        assert_eq!(folder, None, "nothing restored");
        Ok(())
    }
}
