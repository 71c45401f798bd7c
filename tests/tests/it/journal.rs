//! The archive journal's table holds every link a `set_null` edge cuts: the longest
//! `schema.table` a server allows, and text keys up to what the journal keeps; a longer key is
//! refused with a typed error before anything is written, whatever MySQL's `sql_mode`.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::SupportedBackend;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl::{archive_log, journal};
use soft_delete_runtime::prelude::*;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend};

diesel::table! {
    owners (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tags (code) {
        code -> Text,
        owner_id -> Nullable<Integer>,
    }
}

/// Archiving an owner cuts its tags' links, which the journal keeps by the tags' text keys.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = owners)]
#[soft_delete(children(tags::owner_id = set_null))]
pub struct Owner {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

fn journal_rows<C>(conn: &mut C) -> QueryResult<i64>
where
    C: Connection,
    diesel::dsl::select<diesel::expression::SqlLiteral<diesel::sql_types::BigInt>>:
        diesel::query_dsl::LoadQuery<'static, C, i64>,
{
    diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "(SELECT COUNT(*) FROM soft_delete_journal)",
    ))
    .get_result(conn)
}

backend_tests! {
    fn a_text_key_longer_than_the_journal_keeps_is_refused_before_anything_is_written(db, x) {
        let dialect = <<Conn as Connection>::Backend as SupportedBackend>::DIALECT;
        db.create(
            "CREATE TABLE owners (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
             CREATE TABLE tags (code VARCHAR(700) NOT NULL PRIMARY KEY, owner_id {int} NULL);
             INSERT INTO owners (id, name) VALUES (1, 'ann');",
        );
        let mysql = db.backend() == Backend::Mysql;
        let conn = db.conn();
        conn.batch_execute(&journal::create_table(dialect))?;
        conn.batch_execute(&archive_log::create_table(dialect))?;
        let fits = "y".repeat(journal::MYSQL_ROW_KEY_CHARS);
        let too_long = "x".repeat(journal::MYSQL_ROW_KEY_CHARS + 1);
        for code in ["short", fits.as_str(), too_long.as_str()] {
            diesel::insert_into(tags::table).values((tags::code.eq(code), tags::owner_id.eq(1))).execute(conn)?;
        }
        let linked = |conn: &mut Conn| -> QueryResult<i64> {
            tags::table.filter(tags::owner_id.eq(1)).count().get_result(conn)
        };

        if mysql {
            for mode in ["STRICT_TRANS_TABLES", ""] {
                x.batch_execute(conn, &format!("SET SESSION sql_mode = '{mode}'"))?;
                let outcome = x.archive(conn, &Collector::new(owners::table.find(1)));
                match &outcome {
                    Err(soft_delete_runtime::Error::JournalKeyTooLong { table, column, limit }) => {
                        assert_eq!((table.as_str(), column.as_str(), *limit), ("tags", "owner_id", journal::MYSQL_ROW_KEY_CHARS));
                    }
                    other => panic!("sql_mode '{mode}': expected JournalKeyTooLong, got {other:?}"),
                }
                // Nothing written: the owner is live, every tag linked, the journal empty.
                assert_eq!(owners::table.active().count().get_result::<i64>(conn)?, 1, "sql_mode '{mode}'");
                assert_eq!(linked(conn)?, 3, "sql_mode '{mode}'");
                assert_eq!(journal_rows(conn)?, 0, "sql_mode '{mode}'");
            }
            diesel::delete(tags::table.find(too_long.as_str())).execute(conn)?;
        }

        // What fits (everything, on SQLite and PostgreSQL) is cut and put back exactly.
        let archived = x.archive(conn, &Collector::new(owners::table.find(1)))?;
        assert_eq!(linked(conn)?, 0);
        x.restore(conn, archived.batch())?;
        let mut back: Vec<String> = tags::table.filter(tags::owner_id.eq(1)).select(tags::code).load(conn)?;
        back.sort();
        let mut expected = vec!["short".to_owned(), fits];
        if !mysql {
            expected.push(too_long);
        }
        expected.sort();
        assert_eq!(back, expected);
        assert_eq!(journal_rows(conn)?, 0, "a restore deletes its journal rows");
        Ok(())
    }
}

/// A cut link of a table whose schema and name take the longest names the server allows: the
/// journal's `table_name` holds `schema.table` whole, so the restore finds it.
macro_rules! long_names_test {
    ($conn:ty, $schema:ident, $table:ident, $create_schema:expr, $drop_schema:expr) => {
        diesel::table! {
            owners (id) {
                id -> Integer,
                name -> Text,
                deleted_at -> Nullable<Timestamp>,
            }
        }

        diesel::table! {
            $schema.$table (id) {
                id -> Integer,
                owner_id -> Nullable<Integer>,
            }
        }

        /// The parent of the long-named table.
        #[derive(Debug, Queryable, Identifiable, SoftDelete)]
        #[diesel(table_name = owners)]
        #[soft_delete(children($table::owner_id = set_null))]
        pub struct LongOwner {
            pub id: i32,
            pub name: String,
            pub deleted_at: Option<Stamp>,
        }

        /// Held by the test while it uses the long-named schema, whose name is the server's, not
        /// the test's: the sync and the async copy take turns.
        static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

        soft_delete_tests::backend_tests! {
            type Conn = $conn;

            fn a_link_of_the_longest_schema_and_table_name_is_journaled_and_restored(db, x) {
                let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
                let dialect = <<$conn as Connection>::Backend as SupportedBackend>::DIALECT;
                let schema = stringify!($schema);
                let table = format!(
                    "{}.{}",
                    dialect.quote(schema),
                    dialect.quote(stringify!($table))
                );
                db.create("CREATE TABLE owners (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL)");
                db.create("INSERT INTO owners (id, name) VALUES (1, 'ann')");
                let conn = db.conn();
                conn.batch_execute(&format!($drop_schema, schema))?;
                conn.batch_execute(&format!($create_schema, schema))?;
                let outcome = (|| -> soft_delete_tests::TestResult {
                    conn.batch_execute(&format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, owner_id INTEGER NULL)"))?;
                    conn.batch_execute(&format!("INSERT INTO {table} (id, owner_id) VALUES (1, 1), (2, 1)"))?;
                    conn.batch_execute(&journal::create_table(dialect))?;
                    conn.batch_execute(&archive_log::create_table(dialect))?;
                    assert!(schema.len() + 1 + stringify!($table).len() > 126);
                    let archived = x.archive(conn, &Collector::new(owners::table.find(1)))?;
                    assert_eq!(archived.plan().nulled(stringify!($table), "owner_id"), 2);
                    x.restore(conn, archived.batch())?;
                    let linked: i64 = $table::table
                        .filter($table::owner_id.eq(1))
                        .count()
                        .get_result(conn)?;
                    assert_eq!(linked, 2, "both links are back");
                    Ok(())
                })();
                conn.batch_execute(&format!($drop_schema, schema))?;
                outcome
            }
        }
    };
}

#[cfg(feature = "mysql")]
mod mysql_long_names {
    use super::*;

    long_names_test!(
        diesel::MysqlConnection,
        journal_schema_whose_name_fills_all_of_the_sixty_four_characters,
        child_table_whose_name_also_fills_all_of_the_sixty_four_charactr,
        "CREATE DATABASE `{}` CHARACTER SET utf8mb4",
        "DROP DATABASE IF EXISTS `{}`"
    );
}

#[cfg(feature = "postgres")]
mod postgres_long_names {
    use super::*;

    long_names_test!(
        diesel::PgConnection,
        journal_schema_whose_name_fills_all_sixty_three_bytes_postgres_,
        child_table_whose_name_also_fills_all_sixty_three_bytes_postgre,
        "CREATE SCHEMA \"{}\"",
        "DROP SCHEMA IF EXISTS \"{}\" CASCADE"
    );
}
