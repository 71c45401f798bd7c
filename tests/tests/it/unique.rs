//! Active-unique keys: the attribute on every marker strategy, the DDL applied to the real
//! servers, the queries for a key, `start`, `retry`, restores that respect the keys, upserts
//! that target the live-only key, and writers racing on one key.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use soft_delete_runtime::backend::{Dialect, SupportedBackend};
use soft_delete_runtime::ddl::Deferral;
use soft_delete_runtime::ddl::{self, KeyForm};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::unique::NoCounter;
use soft_delete_runtime::{soft_delete, Error};
use soft_delete_tests::exec::{Exec, FindIn, KeysIn, RestoreIn};
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend};

diesel::table! {
    exam_attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        active -> Bool,
        retry -> Integer,
    }
}

diesel::table! {
    answers (id) {
        id -> Integer,
        attempt_id -> Integer,
        body -> Text,
    }
}

diesel::table! {
    accounts (id) {
        id -> Integer,
        email -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    seats (id) {
        id -> Integer,
        room -> Text,
        seat_no -> Integer,
        holder -> Text,
        revision -> BigInt,
        deleted -> Bool,
    }
}

/// The seed article's shape: an `active` flag, a two-field key and a counter.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = exam_attempts)]
#[active_unique(fields = "exam_id, learner_id", counter = retry)]
pub struct ExamAttempt {
    pub id: i32,
    pub exam_id: i32,
    pub learner_id: i32,
    #[soft_delete(marker = active)]
    pub active: bool,
    pub retry: i32,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = exam_attempts)]
pub struct NewAttempt {
    pub exam_id: i32,
    pub learner_id: i32,
    pub active: bool,
    pub retry: i32,
}

pub(crate) fn attempt(exam_id: i32, learner_id: i32, retry: i32) -> NewAttempt {
    NewAttempt {
        exam_id,
        learner_id,
        active: true,
        retry,
    }
}

/// "Email unique among live users": a timestamp marker, one field, no counter.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = accounts)]
#[active_unique(fields = "email")]
pub struct Account {
    pub id: i32,
    pub email: String,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = accounts)]
pub struct NewAccount {
    pub email: String,
    pub deleted_at: Option<Stamp>,
}

pub(crate) fn account(email: &str) -> NewAccount {
    NewAccount {
        email: email.into(),
        deleted_at: None,
    }
}

/// A deleted flag and two keys: one live seat per (room, number), numbered by a 64-bit
/// revision; one live seat per holder.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = seats)]
#[active_unique(fields = "room, seat_no", counter = revision, name = "one_live_seat")]
#[active_unique(fields = "holder", name = "one_seat_per_holder")]
pub struct Seat {
    pub id: i32,
    pub room: String,
    pub seat_no: i32,
    pub holder: String,
    pub revision: i64,
    pub deleted: bool,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = seats)]
pub struct NewSeat {
    pub room: String,
    pub seat_no: i32,
    pub holder: String,
    pub revision: i64,
    pub deleted: bool,
}

pub(crate) fn seat(room: &str, seat_no: i32, holder: &str, revision: i64) -> NewSeat {
    NewSeat {
        room: room.into(),
        seat_no,
        holder: holder.into(),
        revision,
        deleted: false,
    }
}

diesel::table! {
    #[sql_name = "it's a \\ table"]
    odd_keys (id) {
        id -> Integer,
        #[sql_name = "code's \\ part"]
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// Names with a quote and a backslash, which the MySQL down script writes in string literals.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = odd_keys)]
#[active_unique(fields = "code", name = "it's \\ key")]
pub struct OddKey {
    pub id: i32,
    pub code: String,
    pub deleted_at: Option<Stamp>,
}

pub(crate) type SeatKey = (seats::room, seats::seat_no);
pub(crate) type HolderKey = seats::holder;

const TABLES: &str = "
CREATE TABLE exam_attempts (id {pk}, exam_id {int} NOT NULL, learner_id {int} NOT NULL, active {bool} NOT NULL DEFAULT TRUE, retry {int} NOT NULL DEFAULT 0);
CREATE TABLE answers (id {pk}, attempt_id {int} NOT NULL REFERENCES exam_attempts (id), body {text} NOT NULL);
CREATE TABLE accounts (id {pk}, email {text} NOT NULL, deleted_at {ts} NULL);
CREATE TABLE seats (id {pk}, room {text} NOT NULL, seat_no {int} NOT NULL, holder {text} NOT NULL, revision BIGINT NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE);
";

fn dialect_of<C: Connection>() -> Dialect
where
    C::Backend: SupportedBackend,
{
    <C::Backend as SupportedBackend>::DIALECT
}

/// Creates the tables and the keys' DDL, generated for the backend.
pub(crate) fn create_with_keys<C>(db: &mut soft_delete_tests::TestDb<C>) -> QueryResult<()>
where
    C: soft_delete_tests::TestConnection,
    C::Backend: SupportedBackend,
{
    db.create(TABLES);
    let dialect = dialect_of::<C>();
    let statements = [
        ddl::active_unique::<ExamAttempt>(dialect),
        ddl::active_unique::<Account>(dialect),
        ddl::active_unique::<Seat>(dialect),
    ];
    for statement in statements.iter().flatten() {
        db.conn().batch_execute(statement)?;
    }
    Ok(())
}

pub(crate) fn is_unique_violation(error: &DieselError) -> bool {
    matches!(
        error,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

pub(crate) fn live_id_of(error: &Error) -> Option<i32> {
    error
        .conflict()
        .and_then(|c| c.live_id().parse::<i32>().ok())
}

fn now() -> Stamp {
    soft_delete_tests::stamp::now()
}

#[test]
fn ddl_for_every_backend_quotes_every_identifier() {
    assert_eq!(
        ddl::active_unique::<ExamAttempt>(Dialect::Postgres),
        [
            r#"CREATE UNIQUE INDEX "exam_attempts_exam_id_learner_id_live_key" ON "exam_attempts" ("exam_id", "learner_id") WHERE "active""#
        ]
    );
    assert_eq!(
        ddl::active_unique::<ExamAttempt>(Dialect::Sqlite),
        ["CREATE UNIQUE INDEX `exam_attempts_exam_id_learner_id_live_key` ON `exam_attempts` (`exam_id`, `learner_id`) WHERE `active`"]
    );
    assert_eq!(
        ddl::active_unique::<ExamAttempt>(Dialect::Mysql),
        ["ALTER TABLE `exam_attempts` ADD COLUMN `exam_attempts_exam_id_learner_id_live_key` TINYINT \
          GENERATED ALWAYS AS (CASE WHEN `active` THEN 1 END) VIRTUAL, \
          ADD UNIQUE KEY `exam_attempts_exam_id_learner_id_live_key` (`exam_id`, `learner_id`, `exam_attempts_exam_id_learner_id_live_key`)"]
    );
    assert_eq!(
        ddl::active_unique::<Account>(Dialect::Postgres),
        [
            r#"CREATE UNIQUE INDEX "accounts_email_live_key" ON "accounts" ("email") WHERE "deleted_at" IS NULL"#
        ]
    );
    assert_eq!(
        ddl::active_unique::<Seat>(Dialect::Sqlite),
        [
            "CREATE UNIQUE INDEX `one_live_seat` ON `seats` (`room`, `seat_no`) WHERE NOT `deleted`",
            "CREATE UNIQUE INDEX `one_seat_per_holder` ON `seats` (`holder`) WHERE NOT `deleted`",
        ]
    );
    assert_eq!(
        ddl::active_unique_with::<Seat>(
            Dialect::Postgres,
            KeyForm::Exclusion(Deferral::InitiallyDeferred)
        )
        .expect("PostgreSQL has exclusion constraints")[0],
        r#"ALTER TABLE "seats" ADD CONSTRAINT "one_live_seat" EXCLUDE USING btree ("room" WITH =, "seat_no" WITH =) WHERE (NOT "deleted") DEFERRABLE INITIALLY DEFERRED"#
    );
    for dialect in [Dialect::Sqlite, Dialect::Mysql] {
        let exclusion = KeyForm::Exclusion(Deferral::InitiallyDeferred);
        assert!(matches!(
            ddl::active_unique_with::<Seat>(dialect, exclusion),
            Err(Error::Unsupported { dialect: d, .. }) if d == dialect
        ));
        assert!(ddl::drop_active_unique::<Seat>(dialect, exclusion).is_err());
    }
    assert_eq!(
        ddl::active_unique_key::<Seat, HolderKey>(Dialect::Mysql, KeyForm::Index).unwrap(),
        "ALTER TABLE `seats` ADD COLUMN `one_seat_per_holder` TINYINT GENERATED ALWAYS AS \
         (CASE WHEN NOT `deleted` THEN 1 END) VIRTUAL, ADD UNIQUE KEY `one_seat_per_holder` (`holder`, `one_seat_per_holder`)"
    );
    assert_eq!(
        ddl::drop_active_unique::<Seat>(Dialect::Mysql, KeyForm::Index).unwrap()[0],
        "SET @sd_ddl = IF(EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'seats' AND REFERENCED_TABLE_NAME IS NOT NULL \
         AND ORDINAL_POSITION = 1 AND COLUMN_NAME = 'room') AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'seats' AND INDEX_NAME = 'one_live_seat_fk'), \
         'ALTER TABLE `seats` ADD INDEX `one_live_seat_fk` (`room`, `seat_no`)', 'DO 0'); \
         PREPARE sd_ddl FROM @sd_ddl; EXECUTE sd_ddl; DEALLOCATE PREPARE sd_ddl; \
         ALTER TABLE `seats` DROP INDEX `one_live_seat`, DROP COLUMN `one_live_seat`"
    );
    assert_eq!(
        ddl::drop_active_unique::<Account>(
            Dialect::Postgres,
            KeyForm::Exclusion(Deferral::InitiallyImmediate)
        )
        .unwrap(),
        [r#"ALTER TABLE "accounts" DROP CONSTRAINT "accounts_email_live_key""#]
    );
    // A model without keys needs nothing.
    assert!(ddl::active_unique::<crate::schema::User>(Dialect::Postgres).is_empty());
}

backend_tests! {
    fn the_database_rejects_a_second_live_row_and_keeps_any_number_of_dead_ones(db) {
        create_with_keys(db)?;
        let conn = db.conn();

        let dead = NewAttempt { active: false, ..attempt(1, 7, 0) };
        for _ in 0..3 {
            diesel::insert_into(exam_attempts::table).values(&dead).execute(conn)?;
        }
        diesel::insert_into(exam_attempts::table).values(attempt(1, 7, 3)).execute(conn)?;
        let second = diesel::insert_into(exam_attempts::table).values(attempt(1, 7, 4)).execute(conn);
        assert!(second.as_ref().is_err_and(is_unique_violation), "{second:?}");
        // Another key is free.
        diesel::insert_into(exam_attempts::table).values(attempt(1, 8, 0)).execute(conn)?;

        let gone = NewAccount { deleted_at: Some(now()), ..account("ann@example.com") };
        for _ in 0..3 {
            diesel::insert_into(accounts::table).values(&gone).execute(conn)?;
        }
        diesel::insert_into(accounts::table).values(account("ann@example.com")).execute(conn)?;
        let second = diesel::insert_into(accounts::table).values(account("ann@example.com")).execute(conn);
        assert!(second.as_ref().is_err_and(is_unique_violation), "{second:?}");

        let freed = NewSeat { deleted: true, ..seat("A", 1, "ann", 0) };
        for _ in 0..3 {
            diesel::insert_into(seats::table).values(&freed).execute(conn)?;
        }
        diesel::insert_into(seats::table).values(seat("A", 1, "ann", 3)).execute(conn)?;
        // Each key is enforced on its own: the seat, and the holder.
        let same_seat = diesel::insert_into(seats::table).values(seat("A", 1, "bob", 0)).execute(conn);
        assert!(same_seat.as_ref().is_err_and(is_unique_violation), "{same_seat:?}");
        let same_holder = diesel::insert_into(seats::table).values(seat("A", 2, "ann", 0)).execute(conn);
        assert!(same_holder.as_ref().is_err_and(is_unique_violation), "{same_holder:?}");

        // Retiring the live row frees the key, in the database too.
        let live: ExamAttempt = exam_attempts::table.active().filter(exam_attempts::learner_id.eq(7)).first(conn)?;
        live.soft_delete(conn)?;
        diesel::insert_into(exam_attempts::table).values(attempt(1, 7, 4)).execute(conn)?;
        assert_eq!(exam_attempts::table.filter(exam_attempts::learner_id.eq(7)).with_deleted().count().get_result::<i64>(conn)?, 5);
        Ok(())
    }

    fn the_exclusion_form_defers_the_check_to_commit_on_postgres_only(db) {
        db.create(TABLES);
        let dialect = dialect_of::<Conn>();
        let form = KeyForm::Exclusion(Deferral::InitiallyDeferred);
        let statements = match ddl::active_unique_with::<Seat>(dialect, form) {
            Ok(statements) => statements,
            Err(Error::Unsupported { dialect: d, .. }) => {
                assert_ne!(d, Dialect::Postgres);
                return Ok(());
            }
            Err(other) => return Err(other.into()),
        };
        assert_eq!(db.backend(), Backend::Postgres);
        let conn = db.conn();
        for statement in &statements {
            conn.batch_execute(statement)?;
        }
        // Two live rows for a moment, fixed before commit: accepted.
        conn.transaction(|conn| {
            diesel::insert_into(seats::table).values(seat("A", 1, "ann", 0)).execute(conn)?;
            diesel::insert_into(seats::table).values(seat("A", 1, "bob", 1)).execute(conn)?;
            soft_delete(seats::table.filter(seats::holder.eq("ann"))).execute(conn)?;
            QueryResult::Ok(())
        })?;
        // Still two at commit: rejected, by the constraint, at commit.
        let at_commit = conn.transaction(|conn| {
            diesel::insert_into(seats::table).values(seat("A", 1, "cat", 2)).execute(conn)?;
            QueryResult::Ok(())
        });
        assert!(
            matches!(at_commit, Err(DieselError::DatabaseError(DatabaseErrorKind::ExclusionViolation, _))),
            "{at_commit:?}"
        );
        assert_eq!(seats::table.active().select(seats::holder).load::<String>(conn)?, ["bob"]);
        for statement in ddl::drop_active_unique::<Seat>(dialect, form)? {
            conn.batch_execute(&statement)?;
        }
        diesel::insert_into(seats::table).values(seat("A", 1, "cat", 2)).execute(conn)?;
        Ok(())
    }

    fn dropping_the_keys_lets_duplicates_in_again(db) {
        create_with_keys(db)?;
        let dialect = dialect_of::<Conn>();
        let conn = db.conn();
        for statement in ddl::drop_active_unique::<Account>(dialect, KeyForm::Index)? {
            conn.batch_execute(&statement)?;
        }
        // Without a foreign key, the down leaves no index behind.
        if dialect == Dialect::Mysql {
            let helper: i64 = diesel::select(index_columns("accounts", "accounts_email_live_key_fk")).get_result(conn)?;
            assert_eq!(helper, 0);
        }
        diesel::insert_into(accounts::table).values(account("a@x")).execute(conn)?;
        diesel::insert_into(accounts::table).values(account("a@x")).execute(conn)?;
        Ok(())
    }

    /// A migration's up, down, up and down again, on a key whose first column is a real
    /// foreign key (the common case: `exam_id`). On MySQL/MariaDB the generated unique key
    /// can serve the foreign key, and InnoDB then drops the index it made for it, so a down
    /// that only drops the key must leave the foreign key another index.
    fn up_down_up_of_a_key_that_starts_with_a_foreign_key(db) {
        db.create(
            "CREATE TABLE exams (id {pk}, title {text} NOT NULL);
             CREATE TABLE exam_attempts (id {pk}, exam_id {int} NOT NULL, learner_id {int} NOT NULL,
                 active {bool} NOT NULL DEFAULT TRUE, retry {int} NOT NULL DEFAULT 0,
                 FOREIGN KEY (exam_id) REFERENCES exams (id));
             INSERT INTO exams (id, title) VALUES (1, 'algebra');",
        );
        let dialect = dialect_of::<Conn>();
        let sqlite = db.backend() == Backend::Sqlite;
        let conn = db.conn();
        if sqlite {
            conn.batch_execute("PRAGMA foreign_keys = ON")?;
        }
        let up = ddl::active_unique_with::<ExamAttempt>(dialect, KeyForm::Index)?;
        let down = ddl::drop_active_unique::<ExamAttempt>(dialect, KeyForm::Index)?;
        for round in 0..2 {
            for statement in &up {
                conn.batch_execute(statement)?;
            }
            diesel::insert_into(exam_attempts::table).values(attempt(1, 7, 0)).execute(conn)?;
            let second = diesel::insert_into(exam_attempts::table).values(attempt(1, 7, 1)).execute(conn);
            assert!(second.as_ref().is_err_and(is_unique_violation), "round {round}: {second:?}");
            for statement in &down {
                conn.batch_execute(statement)
                    .map_err(|e| format!("round {round}: down failed on {dialect}: {e}\n{statement}"))?;
            }
            if dialect == Dialect::Mysql {
                let helper = index_columns("exam_attempts", "exam_attempts_exam_id_learner_id_live_key_fk");
                let helper: i64 = diesel::select(helper).get_result(conn)?;
                assert_eq!(helper, 2, "round {round}: the foreign key keeps an index on the key's two columns");
            }
            // The key is gone, the foreign key is still enforced.
            diesel::insert_into(exam_attempts::table).values(attempt(1, 7, 1)).execute(conn)?;
            let orphan = diesel::insert_into(exam_attempts::table).values(attempt(2, 7, 0)).execute(conn);
            assert!(
                matches!(orphan, Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _))),
                "round {round}: {orphan:?}"
            );
            diesel::delete(exam_attempts::table).execute(conn)?;
        }
        Ok(())
    }

    /// The down script quotes names holding `'` and `\` whatever MySQL's backslash mode.
    fn up_and_down_of_a_key_with_quotes_and_backslashes_in_its_names(db) {
        let dialect = dialect_of::<Conn>();
        let q = |name: &str| dialect.quote(name);
        let table = format!(
            "CREATE TABLE {} (id {{pk}}, {} {{text}} NOT NULL, deleted_at {{ts}} NULL)",
            q("it's a \\ table"),
            q("code's \\ part")
        );
        db.create(&table);
        let mysql = db.backend() == Backend::Mysql;
        let conn = db.conn();
        for backslash_mode in [false, true] {
            if mysql {
                let mode = if backslash_mode { "CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')" } else { "REPLACE(@@sql_mode, 'NO_BACKSLASH_ESCAPES', '')" };
                conn.batch_execute(&format!("SET SESSION sql_mode = {mode}"))?;
            }
            for statement in ddl::active_unique::<OddKey>(dialect) {
                conn.batch_execute(&statement)?;
            }
            diesel::insert_into(odd_keys::table).values(odd_keys::code.eq("a")).execute(conn)?;
            let second = diesel::insert_into(odd_keys::table).values(odd_keys::code.eq("a")).execute(conn);
            assert!(second.as_ref().is_err_and(is_unique_violation), "{second:?}");
            for statement in ddl::drop_active_unique::<OddKey>(dialect, KeyForm::Index)? {
                conn.batch_execute(&statement)?;
            }
            diesel::insert_into(odd_keys::table).values(odd_keys::code.eq("a")).execute(conn)?;
            diesel::delete(odd_keys::table).execute(conn)?;
        }
        Ok(())
    }

    fn the_live_row_and_the_history_of_a_key(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        assert_eq!(FindIn::<_, ExamAttempt, _>::find_live(x, conn, (1, 7))?, None);
        assert!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?.is_empty());

        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        let second = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n))?;
        let third = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n))?;
        let other = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 8), |n| attempt(1, 8, n))?;

        assert_eq!(FindIn::<_, ExamAttempt, _>::find_live(x, conn, (1, 7))?.as_ref(), Some(&third));
        let history = FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 7))?;
        let ids: Vec<i32> = history.iter().map(|a| a.id).collect();
        assert_eq!(ids, [third.id, second.id, first.id], "newest first by the counter");
        assert_eq!(history.iter().map(|a| a.active).collect::<Vec<_>>(), [true, false, false]);
        assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (1, 8))?, [other]);

        // Without a counter, newest is the highest id.
        let ann = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".to_string(), |NoCounter| account("ann@x"))?;
        let ann2 = KeysIn::<_, Account, _, _>::retry(x, conn, "ann@x".to_string(), |_, NoCounter| account("ann@x"))?;
        let ids: Vec<i32> = FindIn::<_, Account, _>::history(x, conn, "ann@x".to_string())?.iter().map(|a| a.id).collect();
        assert_eq!(ids, [ann2.id, ann.id]);

        // The statements, to refine like any Diesel query.
        let live_retry: i32 = ExamAttempt::live_query((1, 7)).select(exam_attempts::retry).get_result(conn)?;
        assert_eq!(live_retry, 2);
        let counters: Vec<i32> = ExamAttempt::history_query((1, 7)).select(exam_attempts::retry).load(conn)?;
        assert_eq!(counters, [2, 1, 0]);
        let sql = diesel::debug_query::<<Conn as Connection>::Backend, _>(&ExamAttempt::live_query((1, 7))).to_string();
        assert!(sql.contains("exam_id") && sql.contains("learner_id") && sql.contains("active"), "{sql}");
        Ok(())
    }

    fn start_inserts_the_first_live_row_or_names_the_live_one(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| {
            assert_eq!(n, 0);
            attempt(1, 7, n)
        })?;
        assert_eq!((first.exam_id, first.learner_id, first.retry, first.active), (1, 7, 0, true));

        let again = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n)).unwrap_err();
        assert_eq!(live_id_of(&again), Some(first.id), "{again}");
        let conflict = again.conflict().expect("a conflict");
        assert_eq!(conflict.key(), "exam_attempts_exam_id_learner_id_live_key");
        assert_eq!(conflict.columns(), ["exam_id", "learner_id"]);
        assert_eq!(conflict.table().name, "exam_attempts");
        assert_eq!(
            again.to_string(),
            format!("`exam_attempts` already has a live row for key `exam_attempts_exam_id_learner_id_live_key` (exam_id, learner_id) = (1, 7): the row with id {}", first.id)
        );
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);

        // Once the live row is gone, a new start continues the counter after the history.
        first.soft_delete(conn)?;
        let restarted = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        assert_eq!(restarted.retry, 1);

        // The other strategies.
        let ann = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".into(), |_| account("ann@x"))?;
        let err = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".into(), |_| account("ann@x")).unwrap_err();
        assert_eq!(live_id_of(&err), Some(ann.id));
        let a1 = KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
        assert_eq!(a1.revision, 0);
        let err = KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "bob", n)).unwrap_err();
        assert_eq!(live_id_of(&err), Some(a1.id));
        Ok(())
    }

    fn start_refuses_a_row_that_is_not_a_live_row_of_the_key(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let wrong_key = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 8, n)).unwrap_err();
        assert!(matches!(wrong_key, Error::InvalidNewRow { .. }), "{wrong_key}");
        let dead = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| NewAttempt { active: false, ..attempt(1, 7, n) }).unwrap_err();
        assert!(matches!(dead, Error::InvalidNewRow { .. }), "{dead}");
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 0, "rolled back");
        Ok(())
    }

    fn retry_retires_the_live_row_and_inserts_its_successor(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        diesel::insert_into(answers::table)
            .values((answers::attempt_id.eq(first.id), answers::body.eq("42")))
            .execute(conn)?;

        let second = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |retired: &ExamAttempt, next| {
            assert_eq!(retired.id, first.id, "the closure gets the row being retired");
            assert_eq!(next, 1);
            attempt(retired.exam_id, retired.learner_id, next)
        })?;
        assert_ne!(second.id, first.id);
        assert_eq!((second.retry, second.active), (1, true));

        let retired: ExamAttempt = exam_attempts::table.find(first.id).with_deleted().first(conn)?;
        assert_eq!(retired, ExamAttempt { active: false, ..first.clone() }, "kept as history");
        // Its answers stay linked to it.
        let linked: Vec<String> = answers::table.filter(answers::attempt_id.eq(first.id)).select(answers::body).load(conn)?;
        assert_eq!(linked, ["42"]);

        let third = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |old, next| attempt(old.exam_id, old.learner_id, next))?;
        assert_eq!(third.retry, 2);
        assert_eq!(exam_attempts::table.active().count().get_result::<i64>(conn)?, 1);
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 3);
        Ok(())
    }

    fn retry_works_with_every_marker_strategy(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        // Timestamp marker: the retired row records when.
        let ann = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".into(), |_| account("ann@x"))?;
        let ann2 = KeysIn::<_, Account, _, _>::retry(x, conn, "ann@x".into(), |old, _| account(&old.email))?;
        let old: Account = accounts::table.find(ann.id).with_deleted().first(conn)?;
        assert!(old.deleted_at.is_some() && ann2.deleted_at.is_none());

        // Deleted flag, 64-bit counter, a second key on the same model.
        let s0 = KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
        let s1 = KeysIn::<_, Seat, SeatKey, _>::retry(x, conn, ("A".into(), 1), |old: &Seat, n| {
            seat(&old.room, old.seat_no, "bob", n)
        })?;
        assert_eq!((s1.revision, s1.holder.as_str(), s1.deleted), (1, "bob", false));
        assert!(seats::table.find(s0.id).select(seats::deleted).with_deleted().first::<bool>(conn)?);
        // The holder key, by name: ann's old seat is history, so she holds none.
        assert_eq!(<Seat as ActiveUnique<HolderKey>>::find_live(conn, "ann".into())?, None);
        let by_holder = <Seat as ActiveUnique<HolderKey>>::find_live(conn, "bob".into())?;
        assert_eq!(by_holder.map(|s| s.id), Some(s1.id));
        let h = KeysIn::<_, Seat, HolderKey, _>::retry(x, conn, "bob".into(), |old, NoCounter| {
            seat(&old.room, old.seat_no, "bob", old.revision + 1)
        })?;
        assert_eq!(h.revision, 2);
        assert_eq!(<Seat as ActiveUnique<SeatKey>>::history(conn, ("A".into(), 1))?.len(), 3);
        Ok(())
    }

    fn retry_without_a_live_row_is_a_typed_error(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let err = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n)).unwrap_err();
        assert!(
            matches!(&err, Error::NoLiveRow { key: "exam_attempts_exam_id_learner_id_live_key", values, .. } if values == "(1, 7)"),
            "{err}"
        );
        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        first.soft_delete(conn)?;
        let err = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n)).unwrap_err();
        assert!(matches!(err, Error::NoLiveRow { .. }), "{err}");
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);
        Ok(())
    }

    fn a_bad_successor_rolls_the_whole_retry_back(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        let other_key = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(2, 7, n)).unwrap_err();
        assert!(matches!(other_key, Error::InvalidNewRow { .. }), "{other_key}");
        let dead = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| NewAttempt { active: false, ..attempt(1, 7, n) }).unwrap_err();
        assert!(matches!(dead, Error::InvalidNewRow { .. }), "{dead}");
        // Nothing was written: the first attempt is still the live one, alone.
        assert_eq!(ExamAttempt::history(conn, (1, 7))?, [first]);
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);

        // A successor that breaks the model's other key is the database's error, unchanged:
        // it is not a race, and nothing is written.
        KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
        KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 2), |n| seat("A", 2, "bob", n))?;
        let taken = KeysIn::<_, Seat, SeatKey, _>::retry(x, conn, ("A".into(), 1), |_, n| seat("A", 1, "bob", n))
            .unwrap_err();
        assert!(matches!(&taken, Error::Diesel(e) if is_unique_violation(e)), "{taken}");
        assert_eq!(seats::table.with_deleted().count().get_result::<i64>(conn)?, 2);
        assert_eq!(seats::table.active().count().get_result::<i64>(conn)?, 2);
        Ok(())
    }

    fn upsert_updates_the_live_row_or_inserts_one(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let bump = |live: &ExamAttempt| exam_attempts::retry.eq(live.retry + 10);
        // No live row: inserted, as `start` would.
        let inserted = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), bump)?;
        assert_eq!(inserted.retry, 0);
        // A live row: updated in place.
        let updated = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), bump)?;
        assert_eq!((updated.id, updated.retry), (inserted.id, 10));
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);
        // After a retirement, the counter continues after the history.
        updated.soft_delete(conn)?;
        let again = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), bump)?;
        assert_eq!((again.retry, again.active), (11, true));

        // Changes that take the row off the key, or kill it, are refused and rolled back.
        let off_key = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), |_| exam_attempts::learner_id.eq(8))
            .unwrap_err();
        assert!(matches!(off_key, Error::InvalidNewRow { .. }), "{off_key}");
        let killed = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (1, 7), |n| attempt(1, 7, n), |_| exam_attempts::active.eq(false))
            .unwrap_err();
        assert!(matches!(killed, Error::InvalidNewRow { .. }), "{killed}");
        assert_eq!(ExamAttempt::find_live(conn, (1, 7))?.map(|a| a.id), Some(again.id));

        // Timestamp marker, no counter.
        let same_email = |a: &Account| accounts::email.eq(a.email.clone());
        let ann = KeysIn::<_, Account, _, _>::upsert(x, conn, "ann@x".into(), |_| account("ann@x"), same_email)?;
        let same = KeysIn::<_, Account, _, _>::upsert(x, conn, "ann@x".into(), |_| account("ann@x"), same_email)?;
        assert_eq!(ann, same);

        // Changes that break the model's other key are the database's error, unchanged: the
        // live row was locked, so no concurrent writer of this key caused it.
        KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
        KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 2), |n| seat("A", 2, "bob", n))?;
        let taken = KeysIn::<_, Seat, SeatKey, _>::upsert(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n), |_: &Seat| seats::holder.eq("bob"))
            .unwrap_err();
        assert!(matches!(&taken, Error::Diesel(e) if is_unique_violation(e)), "{taken}");
        let holders: Vec<String> = seats::table.order(seats::seat_no).select(seats::holder).with_deleted().load(conn)?;
        assert_eq!(holders, ["ann", "bob"]);
        Ok(())
    }

    fn retry_inside_a_transaction_is_part_of_it(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        let rolled_back: Result<(), Error> = x.transaction(conn, |x, conn| {
            let second = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n))?;
            assert_eq!(second.retry, 1);
            Err(Error::Diesel(DieselError::RollbackTransaction))
        });
        assert!(rolled_back.is_err());
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 1);
        x.transaction(conn, |x, conn| {
            KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n)).map(drop)
        })?;
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 2);
        Ok(())
    }

    fn a_writer_that_never_gets_the_lock_gives_up_with_a_typed_error(db, x) {
        create_with_keys(db)?;
        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), (1, 7), |n| attempt(1, 7, n))?;
        // Another connection holds the key's live row (SQLite: the database's write lock).
        let mut holder = db.connect();
        let waiter = &mut db.connect();
        let on_waiter = &mut x.beside(db);
        match db.backend() {
            Backend::Sqlite => holder.batch_execute("BEGIN IMMEDIATE")?,
            Backend::Postgres | Backend::Mysql => {
                soft_delete_runtime::guard::allow(|| holder.batch_execute(&format!("BEGIN; SELECT id FROM exam_attempts WHERE id = {} FOR UPDATE", first.id)))?
            }
        }
        // On its own, the writer runs its transaction `ATTEMPTS` times, then gives up. (Not on
        // MySQL, whose shortest lock wait is a second.)
        match db.backend() {
            Backend::Sqlite => {}
            Backend::Postgres => on_waiter.batch_execute(waiter, "SET lock_timeout = '5ms'")?,
            Backend::Mysql => on_waiter.batch_execute(waiter, "SET innodb_lock_wait_timeout = 1")?,
        }
        if db.backend() != Backend::Mysql {
            let err = KeysIn::<_, ExamAttempt, _, _>::retry(on_waiter, waiter, (1, 7), |_, n| attempt(1, 7, n)).unwrap_err();
            assert!(matches!(err, Error::Contended { attempts: soft_delete_runtime::unique::ATTEMPTS, .. }), "{err}");
        }
        // Inside the caller's transaction it gives up at once: that transaction has to go.
        let nested = on_waiter
            .transaction(waiter, |x, conn| {
                KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n)).map(drop)
            })
            .unwrap_err();
        assert!(matches!(nested, Error::Contended { attempts: 1, .. }), "{nested}");

        holder.batch_execute("ROLLBACK")?;
        let second = KeysIn::<_, ExamAttempt, _, _>::retry(on_waiter, waiter, (1, 7), |_, n| attempt(1, 7, n))?;
        assert_eq!(second.retry, 1);
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(db.conn())?, 2);
        Ok(())
    }

    fn restoring_a_row_whose_key_is_live_again_is_a_conflict(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 7), |n| attempt(1, 7, n))?;
        let second = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| attempt(1, 7, n))?;
        let retired: ExamAttempt = exam_attempts::table.find(first.id).with_deleted().first(conn)?;

        let err = RestoreIn::<_, ExamAttempt, _>::restore_row(x, conn, &retired).unwrap_err();
        assert_eq!(live_id_of(&err), Some(second.id), "{err}");
        let restoring = err.conflict().and_then(|c| c.restored_id()).and_then(|id| id.parse::<i32>().ok());
        assert_eq!(restoring, Some(first.id), "the conflict names the row being restored");
        let still: ExamAttempt = exam_attempts::table.find(first.id).with_deleted().first(conn)?;
        assert!(!still.active, "nothing changed");
        assert_eq!(exam_attempts::table.active().count().get_result::<i64>(conn)?, 1);

        // A live row restored is no conflict with itself.
        assert_eq!(RestoreIn::<_, ExamAttempt, _>::restore_row(x, conn, &second)?, 0);
        // With the key free, the restore goes through.
        second.soft_delete(conn)?;
        assert_eq!(RestoreIn::<_, ExamAttempt, _>::restore_row(x, conn, &retired)?, 1);
        assert_eq!(ExamAttempt::find_live(conn, (1, 7))?.map(|a| a.id), Some(first.id));

        // Every key is checked: the seat is free, but its holder has another live seat.
        let a1 = KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("A".into(), 1), |n| seat("A", 1, "ann", n))?;
        a1.soft_delete(conn)?;
        let b2 = KeysIn::<_, Seat, SeatKey, _>::start(x, conn, ("B".into(), 2), |n| seat("B", 2, "ann", n))?;
        let err = RestoreIn::<_, Seat, _>::restore_row(x, conn, &a1).unwrap_err();
        assert_eq!(err.conflict().map(|c| c.key()), Some("one_seat_per_holder"));
        assert_eq!(live_id_of(&err), Some(b2.id));

        // Timestamp marker.
        let ann = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".into(), |_| account("ann@x"))?;
        ann.soft_delete(conn)?;
        let ann2 = KeysIn::<_, Account, _, _>::start(x, conn, "ann@x".into(), |_| account("ann@x"))?;
        let err = RestoreIn::<_, Account, _>::restore_row(x, conn, &ann).unwrap_err();
        assert_eq!(live_id_of(&err), Some(ann2.id));
        Ok(())
    }

    fn retry_racing_retry_loses_nothing_and_leaves_one_live_row(db, x) {
        create_with_keys(db)?;
        for round in 0..3 {
            let key = (100 + round, 7);
            KeysIn::<_, ExamAttempt, _, _>::start(x, db.conn(), key, |n| attempt(key.0, key.1, n))?;
            let outcomes = race(db, x, 8, 5, |x, conn| {
                KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, key, |old, n| attempt(old.exam_id, old.learner_id, n)).map(|_| ())
            });
            let succeeded = outcomes.iter().filter(|o| o.is_ok()).count() as i32;
            winners(&outcomes, "retry");
            // Losers re-read and retry: giving up (`Contended`) is the exception, not the rule
            // (every one of the 40 succeeds in local runs).
            assert!(
                succeeded as usize * 4 >= outcomes.len() * 3,
                "round {round}: only {succeeded} of {} retries succeeded",
                outcomes.len()
            );

            let conn = db.conn();
            let history = ExamAttempt::history(conn, key)?;
            let live: Vec<&ExamAttempt> = history.iter().filter(|a| a.active).collect();
            assert_eq!(live.len(), 1, "round {round}: exactly one live row");
            assert_eq!(live[0].retry, succeeded, "round {round}: the live row is the newest");
            let mut counters: Vec<i32> = history.iter().map(|a| a.retry).collect();
            counters.sort_unstable();
            assert_eq!(counters, (0..=succeeded).collect::<Vec<_>>(), "round {round}: counters 0..k, no gap, no duplicate");
            assert_eq!(history.len() as i32, succeeded + 1, "round {round}: k+1 rows, nothing lost");
        }
        Ok(())
    }

    fn upsert_racing_upsert_inserts_once_and_updates_the_rest(db, x) {
        create_with_keys(db)?;
        for round in 0..3 {
            let key = (300 + round, 7);
            let outcomes = race(db, x, 8, 3, |x, conn| {
                KeysIn::<_, ExamAttempt, _, _>::upsert(
                    x,
                    conn,
                    key,
                    |n| attempt(key.0, key.1, n),
                    |live: &ExamAttempt| exam_attempts::retry.eq(live.retry + 1),
                )
                .map(|a| a.id)
            });
            let ids = winners(&outcomes, "upsert");
            assert!(ids.iter().all(|id| *id == ids[0]), "round {round}: every upsert saw one row: {ids:?}");
            let history = ExamAttempt::history(db.conn(), key)?;
            assert_eq!(history.len(), 1, "round {round}: inserted once");
            // One insert (retry 0) and one increment per other successful upsert.
            let succeeded = outcomes.iter().filter(|o| o.is_ok()).count() as i32;
            assert_eq!(history[0].retry, succeeded - 1, "round {round}: no update lost");
        }
        Ok(())
    }

    fn insert_unless_live_with_on_conflict_do_nothing(db) {
        create_with_keys(db)?;
        let conn = db.conn();
        diesel::insert_into(exam_attempts::table)
            .values(NewAttempt { active: false, ..attempt(1, 7, 0) })
            .execute(conn)?;
        // Dead rows do not collide: the first insert goes in, the second finds the live row.
        // (MySQL counts a row found by `ON DUPLICATE KEY UPDATE` as changed: count the rows.)
        for _ in 0..2 {
            diesel::insert_into(exam_attempts::table)
                .values(attempt(1, 7, 1))
                .on_conflict_do_nothing()
                .execute(conn)?;
        }
        assert_eq!(exam_attempts::table.active().count().get_result::<i64>(conn)?, 1);
        assert_eq!(exam_attempts::table.with_deleted().count().get_result::<i64>(conn)?, 2);
        Ok(())
    }

    fn start_racing_start_has_one_winner_and_typed_losers(db, x) {
        create_with_keys(db)?;
        for round in 0..3 {
            let key = (200 + round, 7);
            let outcomes = race(db, x, 8, 1, |x, conn| {
                KeysIn::<_, ExamAttempt, _, _>::start(x, conn, key, |n| attempt(key.0, key.1, n)).map(|a| a.id)
            });
            let winners: Vec<i32> = outcomes.iter().filter_map(|o| o.as_ref().ok().copied()).collect();
            assert_eq!(winners.len(), 1, "round {round}: one start wins: {outcomes:?}");
            for outcome in &outcomes {
                if let Err(error) = outcome {
                    assert_eq!(live_id_of(error), Some(winners[0]), "round {round}: {error:?}");
                }
            }
            let rows = exam_attempts::table.filter(exam_attempts::exam_id.eq(key.0)).with_deleted().count().get_result::<i64>(db.conn())?;
            assert_eq!(rows, 1);
        }
        Ok(())
    }
}

/// The query counting the columns of index `index` of `table` (0 when it does not exist), on
/// MySQL/MariaDB.
fn index_columns(
    table: &str,
    index: &str,
) -> diesel::expression::SqlLiteral<diesel::sql_types::BigInt> {
    diesel::dsl::sql(&format!(
        "(SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = '{table}' AND INDEX_NAME = '{index}')"
    ))
}

/// Runs `op` on the test's connection while another connection holds a transaction that ran
/// `held` (and the locks it took), committed from another thread 500 ms later; returns what
/// `op` returned, once the holder committed.
pub(crate) fn while_held<C, T>(
    db: &mut soft_delete_tests::TestDb<C>,
    held: &str,
    op: impl FnOnce(&mut C) -> T,
) -> QueryResult<T>
where
    C: soft_delete_tests::TestConnection,
{
    let mut holder = db.connect();
    soft_delete_runtime::guard::allow(|| holder.batch_execute(&format!("BEGIN; {held}")))?;
    let conn = db.conn();
    std::thread::scope(|scope| {
        let release = scope.spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(500));
            holder.batch_execute("COMMIT")
        });
        let done = op(conn);
        release.join().expect("the holder's thread").map(|()| done)
    })
}

/// What the calls of a race that won returned: a call that gave up (`Contended`) is left out,
/// and any other error fails the test, naming `what` raced.
pub(crate) fn winners<T: Clone>(outcomes: &[Result<T, Error>], what: &str) -> Vec<T> {
    let mut won = Vec::new();
    for outcome in outcomes {
        match outcome {
            Ok(value) => won.push(value.clone()),
            Err(Error::Contended { .. }) => {}
            Err(other) => panic!("a racing {what} failed with {other:?}"),
        }
    }
    won
}

/// Runs `op` `per_thread` times on each of `threads` threads, each on its own connection and
/// an executor like `x` for it (in the async copy, an async connection of its own), all
/// released at once; returns every outcome.
pub(crate) fn race<C, X, T>(
    db: &soft_delete_tests::TestDb<C>,
    x: &X,
    threads: usize,
    per_thread: usize,
    op: impl Fn(&mut X, &mut C) -> Result<T, Error> + Sync,
) -> Vec<Result<T, Error>>
where
    C: soft_delete_tests::TestConnection,
    X: Exec<C> + Send,
    T: Send,
{
    let mut connections: Vec<(X, C)> = (0..threads)
        .map(|_| {
            let mut conn = db.connect();
            let mut on = x.beside(db);
            if C::BACKEND == Backend::Sqlite {
                // One writer at a time: wait for the lock instead of failing at once.
                on.batch_execute(&mut conn, "PRAGMA busy_timeout = 10000")
                    .expect("set the busy timeout");
            }
            (on, conn)
        })
        .collect();
    let start = std::sync::Barrier::new(threads);
    std::thread::scope(|scope| {
        let handles: Vec<_> = connections
            .iter_mut()
            .map(|(on, conn)| {
                let (start, op) = (&start, &op);
                scope.spawn(move || {
                    start.wait();
                    (0..per_thread).map(|_| op(on, conn)).collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a racing thread panicked"))
            .collect()
    })
}

#[cfg(feature = "postgres")]
mod postgres_upsert {
    use super::*;

    /// The README's recipe: an upsert that targets the live-only key, so it updates the live
    /// row and never collides with history.
    #[test]
    fn on_conflict_with_the_live_predicate_updates_the_live_row() {
        soft_delete_tests::run::<PgConnection>(module_path!(), |db| {
            create_with_keys(db)?;
            let conn = db.conn();
            diesel::insert_into(exam_attempts::table)
                .values(NewAttempt {
                    active: false,
                    ..attempt(1, 7, 0)
                })
                .execute(conn)?;
            for _ in 0..2 {
                diesel::insert_into(exam_attempts::table)
                    .values(attempt(1, 7, 1))
                    .on_conflict((exam_attempts::exam_id, exam_attempts::learner_id))
                    .filter_target(soft_delete_runtime::dsl::live::<exam_attempts::table>())
                    .do_update()
                    .set(exam_attempts::retry.eq(exam_attempts::retry + 1))
                    .execute(conn)?;
            }
            let live = ExamAttempt::find_live(conn, (1, 7))?.expect("a live row");
            assert_eq!(live.retry, 2);
            assert_eq!(
                exam_attempts::table
                    .with_deleted()
                    .count()
                    .get_result::<i64>(conn)?,
                2
            );
            Ok(())
        });
    }
}

#[cfg(feature = "mysql")]
mod mysql_upsert {
    use super::*;
    use diesel::dsl::DuplicatedKeys;

    /// MySQL has no conflict target: `ON DUPLICATE KEY UPDATE` fires on any unique key, here
    /// the generated live key, and never for dead rows (their key column is `NULL`).
    #[test]
    fn on_duplicate_key_updates_the_live_row() {
        soft_delete_tests::run::<MysqlConnection>(module_path!(), |db| {
            create_with_keys(db)?;
            let conn = db.conn();
            diesel::insert_into(exam_attempts::table)
                .values(NewAttempt {
                    active: false,
                    ..attempt(1, 7, 0)
                })
                .execute(conn)?;
            for _ in 0..2 {
                diesel::insert_into(exam_attempts::table)
                    .values(attempt(1, 7, 1))
                    .on_conflict(DuplicatedKeys)
                    .do_update()
                    .set(exam_attempts::retry.eq(exam_attempts::retry + 1))
                    .execute(conn)?;
            }
            let live = ExamAttempt::find_live(conn, (1, 7))?.expect("a live row");
            assert_eq!(live.retry, 2);
            assert_eq!(
                exam_attempts::table
                    .with_deleted()
                    .count()
                    .get_result::<i64>(conn)?,
                2
            );
            Ok(())
        });
    }
}
