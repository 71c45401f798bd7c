//! `Schema::verify`, the start-up check: on a database with the generated DDL it is clean, and
//! what is dropped or changed afterwards comes back as typed issues, sync and async.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::{Dialect, SupportedBackend};
use soft_delete_runtime::collector::{Rule, SchemaIssue};
use soft_delete_runtime::ddl::{self, Deferral, KeyForm};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::schema::{IndexKind, Issue, KeyProblem, Report, Schema};
use soft_delete_runtime::Error;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend, TestConnection, TestDb, TestResult};

diesel::table! {
    vusers (id) {
        id -> Integer,
        email -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    vnotes (id) {
        id -> Integer,
        user_id -> Nullable<Integer>,
        folder_id -> Nullable<Integer>,
        topic -> Nullable<Text>,
        deleted -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(vusers, vnotes);

/// A timestamp marker, one key, and a `set_null` edge (so its archives need the journal).
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = vusers)]
#[active_unique(fields = "email", name = "one_live_vuser_email")]
#[soft_delete(children(vnotes::user_id = set_null))]
pub struct VUser {
    pub id: i32,
    pub email: String,
    pub deleted_at: Option<Stamp>,
}

/// A deleted flag, and a key whose `NULL`s are values (one index per pattern of `NULL`s on
/// SQLite and MySQL, `NULLS NOT DISTINCT` on PostgreSQL).
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = vnotes)]
#[active_unique(fields = "folder_id, topic", nulls = not_distinct, name = "one_live_vnote")]
pub struct VNote {
    pub id: i32,
    pub user_id: Option<i32>,
    pub folder_id: Option<i32>,
    pub topic: Option<String>,
    #[soft_delete(marker = deleted)]
    pub deleted: bool,
}

/// What the tests' service needs.
pub(crate) fn schema() -> Schema {
    Schema::new()
        .model::<VUser>()
        .model::<VNote>()
        .archives::<vusers::table>()
}

/// The models' tables, with the foreign key and the indexes the archive's relations need.
pub(crate) fn create_tables<C: TestConnection>(db: &mut TestDb<C>) {
    db.create(
        "CREATE TABLE vusers (id {pk}, email {text} NOT NULL, deleted_at {ts});
         CREATE INDEX vusers_deleted_at ON vusers (deleted_at);
         CREATE TABLE vnotes (id {pk}, user_id {int} NULL, folder_id {int} NULL, topic {text} NULL,
             deleted {bool} NOT NULL DEFAULT FALSE, FOREIGN KEY (user_id) REFERENCES vusers (id));
         CREATE INDEX vnotes_user_id ON vnotes (user_id)",
    );
}

/// The one issue of `VUser`'s key index, `problem`.
fn vuser_key_mismatch(problem: KeyProblem) -> Issue {
    Issue::KeyMismatch {
        table: "vusers".into(),
        key: "one_live_vuser_email",
        index: "one_live_vuser_email".into(),
        problem,
    }
}

/// The models' tables, then `schema`'s migrations for the connection's dialect.
fn migrated<C: TestConnection>(db: &mut TestDb<C>, schema: &Schema) -> TestResult {
    create_tables(db);
    for migration in schema.migrations(dialect_of::<C>())? {
        db.conn().batch_execute(&migration.up)?;
    }
    Ok(())
}

pub(crate) fn dialect_of<C: TestConnection>() -> Dialect {
    <C::Backend as SupportedBackend>::DIALECT
}

/// Creates the tables, checks `verify` finds nothing of the schema, runs the generated DDL,
/// then drops and changes pieces of it and checks each comes back as its issue.
fn reports_what_is_missing<C: TestConnection>(
    db: &mut TestDb<C>,
    mut verify: impl FnMut(&mut TestDb<C>) -> Result<Report, Error>,
) -> TestResult {
    create_tables(db);
    let dialect = dialect_of::<C>();
    let users = || "vusers".into();
    let key = |index: &str| Issue::MissingKey {
        table: users(),
        key: "one_live_vuser_email",
        index: index.into(),
    };

    let before = verify(db)?;
    assert!(
        before.issues.contains(&key("one_live_vuser_email")),
        "{before}"
    );
    assert!(
        before
            .issues
            .contains(&Issue::MissingArchiveLog { needed_by: users() }),
        "{before}"
    );
    assert!(
        before
            .issues
            .contains(&Issue::MissingJournal { needed_by: users() }),
        "{before}"
    );

    for migration in schema().migrations(dialect)? {
        db.conn().batch_execute(&migration.up)?;
    }
    let ready = verify(db)?;
    assert!(ready.is_clean(), "{ready}");

    // The key's index and the journal go.
    db.conn().batch_execute(match C::BACKEND {
        Backend::Mysql => "ALTER TABLE vusers DROP INDEX one_live_vuser_email",
        Backend::Sqlite | Backend::Postgres => "DROP INDEX one_live_vuser_email",
    })?;
    db.conn().batch_execute("DROP TABLE soft_delete_journal")?;
    let report = verify(db)?;
    assert_eq!(
        report.issues,
        [
            key("one_live_vuser_email"),
            Issue::MissingJournal { needed_by: users() }
        ],
        "{report}"
    );

    // An index of the key's name that does not do the key's work.
    let problem = match C::BACKEND {
        Backend::Mysql => {
            // The generated column stayed; the unique key leaves it out.
            db.conn()
                .batch_execute("ALTER TABLE vusers ADD UNIQUE KEY one_live_vuser_email (email)")?;
            KeyProblem::Columns {
                expected: vec!["email".into(), "one_live_vuser_email".into()],
                found: vec!["email".into()],
            }
        }
        Backend::Sqlite | Backend::Postgres => {
            db.conn()
                .batch_execute("CREATE INDEX one_live_vuser_email ON vusers (email)")?;
            KeyProblem::Kind {
                expected: IndexKind::Unique,
                found: IndexKind::NotUnique,
            }
        }
    };
    let mut expected = vec![Issue::KeyMismatch {
        table: users(),
        key: "one_live_vuser_email",
        index: "one_live_vuser_email".into(),
        problem,
    }];
    if C::BACKEND != Backend::Mysql {
        // Over every row: dead rows would block new live ones.
        expected.push(Issue::KeyMismatch {
            table: users(),
            key: "one_live_vuser_email",
            index: "one_live_vuser_email".into(),
            problem: KeyProblem::Condition {
                expected: ddl::live_condition::<vusers::table>(dialect),
                found: None,
            },
        });
    }
    expected.push(Issue::MissingJournal { needed_by: users() });
    let report = verify(db)?;
    assert_eq!(report.issues, expected, "{report}");

    // A column this version writes, gone from the archive log.
    db.conn()
        .batch_execute(&ddl::journal::create_table(dialect))?;
    db.conn()
        .batch_execute(&ddl::journal::create_link_index(dialect))?;
    db.conn()
        .batch_execute("ALTER TABLE soft_delete_archive_log DROP COLUMN restored_by")?;
    let report = verify(db)?;
    assert_eq!(
        report.issues[report.issues.len() - 1..],
        [Issue::MissingColumn {
            table: "soft_delete_archive_log".into(),
            column: "restored_by",
        }],
        "{report}"
    );
    Ok(())
}

backend_tests! {
    fn verify_reports_a_dropped_key_index_and_a_missing_journal(db, x) {
        reports_what_is_missing(db, |db| x.verify_schema(db.conn(), &schema()))
    }

    fn verify_tells_an_exclusion_constraint_from_a_unique_index(db, x) {
        // PostgreSQL alone has the deferrable form; elsewhere it is refused, typed.
        let deferred = KeyForm::Exclusion(Deferral::InitiallyDeferred);
        let exclusion = Schema::new().model_with::<VUser>(deferred).model_with::<VNote>(deferred);
        if db.backend() != Backend::Postgres {
            assert!(matches!(exclusion.migrations(dialect_of::<Conn>()), Err(Error::Unsupported { .. })));
            assert!(matches!(x.verify_schema(db.conn(), &exclusion), Err(Error::Unsupported { .. })));
            return Ok(());
        }
        migrated(db, &exclusion)?;
        let report = x.verify_schema(db.conn(), &exclusion)?;
        assert!(report.is_clean(), "{report}");
        // The same keys declared as unique indexes: the database has other objects.
        let report = x.verify_schema(db.conn(), &Schema::new().model::<VUser>())?;
        assert_eq!(
            report.issues,
            [vuser_key_mismatch(KeyProblem::Kind { expected: IndexKind::Unique, found: IndexKind::Exclusion })],
            "{report}"
        );
        Ok(())
    }

    /// PostgreSQL: an exclusion constraint checked at another time than the key declares (a
    /// key declared `INITIALLY DEFERRED` whose constraint is `INITIALLY IMMEDIATE` fails the
    /// statements that break it for a moment, which the declaration promised to allow).
    fn verify_reports_an_exclusion_constraint_deferred_otherwise(db, x) {
        if db.backend() != Backend::Postgres {
            return Ok(());
        }
        let immediate = Schema::new().model_with::<VUser>(KeyForm::Exclusion(Deferral::InitiallyImmediate));
        migrated(db, &immediate)?;
        assert!(x.verify_schema(db.conn(), &immediate)?.is_clean());
        let deferred = Schema::new().model_with::<VUser>(KeyForm::Exclusion(Deferral::InitiallyDeferred));
        let report = x.verify_schema(db.conn(), &deferred)?;
        assert_eq!(
            report.issues,
            [vuser_key_mismatch(KeyProblem::Deferral {
                    expected: Deferral::InitiallyDeferred,
                    found: Some(Deferral::InitiallyImmediate),
                })],
            "{report}"
        );
        assert!(report.to_string().contains("INITIALLY IMMEDIATE"), "{report}");
        Ok(())
    }

    /// PostgreSQL: a `CREATE UNIQUE INDEX CONCURRENTLY` that failed (here on two live rows
    /// with one key) leaves its index behind, `INVALID`: it may miss rows already in the
    /// table, so the key is not enforced on them, though its name, columns and condition are
    /// the key's.
    fn verify_reports_an_invalid_key_index(db, x) {
        if db.backend() != Backend::Postgres {
            return Ok(());
        }
        let users = Schema::new().model::<VUser>();
        migrated(db, &users)?;
        assert!(x.verify_schema(db.conn(), &users)?.is_clean());
        #[derive(QueryableByName)]
        struct Definition {
            #[diesel(sql_type = diesel::sql_types::Text)]
            definition: String,
        }
        let index: Definition = diesel::sql_query("SELECT pg_get_indexdef('one_live_vuser_email'::regclass) AS definition")
            .get_result(db.conn())?;
        let concurrently = index.definition.replacen("CREATE UNIQUE INDEX", "CREATE UNIQUE INDEX CONCURRENTLY", 1);
        db.conn().batch_execute(
            "DROP INDEX one_live_vuser_email;
             INSERT INTO vusers (id, email) VALUES (1, 'ann@x'), (2, 'ann@x')",
        )?;
        assert!(db.conn().batch_execute(&concurrently).is_err(), "two live rows of one key: {concurrently}");
        db.conn().batch_execute("DELETE FROM vusers WHERE id = 2")?;
        let report = x.verify_schema(db.conn(), &users)?;
        assert_eq!(
            report.issues,
            [vuser_key_mismatch(KeyProblem::Invalid)],
            "{report}"
        );
        assert!(report.to_string().contains("INVALID"), "{report}");
        Ok(())
    }

    /// The archive log's `UNIQUE (archived_at)` is what keeps two archives from taking one
    /// stamp; without it, a restore of one would bring back the other's rows too.
    fn verify_reports_an_archive_log_whose_stamp_is_not_unique(db, x) {
        migrated(db, &schema())?;
        let dialect = dialect_of::<Conn>();
        assert!(x.verify_schema(db.conn(), &schema())?.is_clean());
        let log = ddl::archive_log::create_table(dialect);
        let without_unique = match log.rfind(", CONSTRAINT ") {
            Some(at) => format!("{})", &log[..at]),
            None => panic!("the log's DDL declares its constraint last: {log}"),
        };
        db.conn().batch_execute(&format!("DROP TABLE soft_delete_archive_log; {without_unique}"))?;
        let report = x.verify_schema(db.conn(), &schema())?;
        assert_eq!(report.issues, [Issue::ArchiveStampNotUnique], "{report}");
        assert!(report.to_string().contains("archived_at"), "{report}");
        Ok(())
    }

    /// A journal without the link index (one created before it existed) works, but a
    /// restore's check of later cuts then reads the whole journal per link on MariaDB.
    fn verify_reports_a_journal_without_its_link_index(db, x) {
        migrated(db, &schema())?;
        assert!(x.verify_schema(db.conn(), &schema())?.is_clean());
        db.conn().batch_execute(match Conn::BACKEND {
            Backend::Mysql => "DROP INDEX soft_delete_journal_link ON soft_delete_journal",
            Backend::Sqlite | Backend::Postgres => "DROP INDEX soft_delete_journal_link",
        })?;
        let report = x.verify_schema(db.conn(), &schema())?;
        assert_eq!(
            report.issues,
            [Issue::MissingJournalLinkIndex { needed_by: "vusers".into() }],
            "{report}"
        );
        assert!(report.to_string().contains("create_link_index"), "{report}");

        // An index on the link's columns alone, without the batch, does not serve the check.
        db.conn()
            .batch_execute("CREATE INDEX by_link ON soft_delete_journal (table_name, column_name)")?;
        let report = x.verify_schema(db.conn(), &schema())?;
        assert_eq!(
            report.issues,
            [Issue::MissingJournalLinkIndex { needed_by: "vusers".into() }],
            "{report}"
        );
        // The index under another name does.
        let dialect = dialect_of::<Conn>();
        let renamed = ddl::journal::create_link_index(dialect)
            .replace(ddl::journal::LINK_INDEX, "journal_links");
        db.conn().batch_execute(&renamed)?;
        let report = x.verify_schema(db.conn(), &schema())?;
        assert!(report.is_clean(), "{report}");
        Ok(())
    }

    fn verify_is_clean_for_a_key_index_written_over_several_lines(db, x) {
        migrated(db, &schema())?;
        if db.backend() != Backend::Mysql {
            // The key's index as a migration written by hand lays it out, its `WHERE` starting
            // a line (SQLite keeps the text as written).
            db.conn().batch_execute(
                "DROP INDEX one_live_vuser_email;
                 CREATE UNIQUE INDEX one_live_vuser_email ON vusers (email)
WHERE\tdeleted_at IS NULL",
            )?;
        }
        let report = x.verify_schema(db.conn(), &schema())?;
        assert!(report.is_clean(), "{report}");
        Ok(())
    }

    fn verify_names_each_missing_table(db, x) {
        let report = x.verify_schema(db.conn(), &schema())?;
        assert_eq!(
            report.issues[..4],
            [
                Issue::MissingTable { table: "vusers".into() },
                Issue::MissingTable { table: "vnotes".into() },
                Issue::MissingArchiveLog { needed_by: "vusers".into() },
                Issue::MissingJournal { needed_by: "vusers".into() },
            ],
            "{report}"
        );
        // and the archive's relations, as `check_schema` reports them
        assert!(report.issues[4..].contains(&Issue::Relations(SchemaIssue::NoForeignKey {
            parent: "vusers".into(),
            child: "vnotes".into(),
            column: "user_id",
            rule: Rule::SetNull,
        })), "{report}");
        assert!(report.issues[4..].iter().all(|issue| matches!(issue, Issue::Relations(_))), "{report}");
        Ok(())
    }
}

diesel::table! {
    ledger.entries (id) {
        id -> Integer,
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// A model whose table lives in a schema: on SQLite, an attached database.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = entries)]
#[active_unique(fields = "code", name = "one_live_entry")]
pub struct Entry {
    pub id: i32,
    pub code: String,
    pub deleted_at: Option<Stamp>,
}

#[cfg(feature = "sqlite")]
mod attached {
    use super::*;
    use diesel::SqliteConnection;

    /// The key's migration creates its index in the attached database, beside the table, and
    /// verify reads it there.
    #[test]
    fn verify_is_clean_for_a_key_on_a_table_of_an_attached_database() {
        soft_delete_tests::run::<SqliteConnection>(
            module_path!(),
            |db: &mut TestDb<SqliteConnection>| {
                db.conn().batch_execute(
                "ATTACH DATABASE ':memory:' AS ledger;
                 CREATE TABLE ledger.entries (id INTEGER PRIMARY KEY, code TEXT NOT NULL, deleted_at TIMESTAMP)",
            )?;
                let schema = Schema::new().model::<Entry>();
                for migration in schema.migrations(Dialect::Sqlite)? {
                    db.conn().batch_execute(&migration.up)?;
                }
                let report = schema.verify(db.conn())?;
                assert!(report.is_clean(), "{report}");
                Ok(())
            },
        );
    }
}
