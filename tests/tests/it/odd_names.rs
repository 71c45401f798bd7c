//! Identifiers that need quoting (spaces, capitals, the quote characters themselves) in the
//! table and column names: the generated DDL, the scopes, a cascade archive, its restore and
//! a purge all quote them for each backend.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use soft_delete_runtime::backend::{Dialect, SupportedBackend};
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;

diesel::table! {
    #[sql_name = "Order \"Lines\""]
    order_lines (id) {
        id -> Integer,
        #[sql_name = "sku `code`"]
        sku -> Text,
        #[sql_name = "Deleted At"]
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    #[sql_name = "line notes"]
    line_notes (id) {
        id -> Integer,
        #[sql_name = "Line \"Id\""]
        line_id -> Integer,
        #[sql_name = "Deleted At"]
        deleted_at -> Nullable<Timestamp>,
    }
}

/// One live line per SKU, with notes archived along.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = order_lines)]
#[active_unique(fields = "sku", name = "one live \"sku\"")]
#[soft_delete(children(line_notes::line_id = cascade))]
pub struct OrderLine {
    pub id: i32,
    pub sku: String,
    pub deleted_at: Option<Stamp>,
}

/// A note on a line.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = line_notes)]
pub struct LineNote {
    pub id: i32,
    pub line_id: i32,
    pub deleted_at: Option<Stamp>,
}

diesel::table! {
    tickets (id) {
        id -> Integer,
        r#type -> Text,
        r#match -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// Columns named like Rust keywords, both ways Diesel reads them: a raw field `r#type`, and a
/// field renamed to `match` by a string `column_name`. Both are in the active-unique key.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = tickets)]
#[active_unique(fields = "r#type, game")]
pub struct Ticket {
    pub id: i32,
    pub r#type: String,
    #[diesel(column_name = "match")]
    pub game: i32,
    pub deleted_at: Option<Stamp>,
}

fn tables(dialect: Dialect) -> String {
    let q = |name: &str| dialect.quote(name);
    let (pk, ts, text) = match dialect {
        Dialect::Sqlite => ("INTEGER PRIMARY KEY", "TIMESTAMP", "TEXT"),
        Dialect::Postgres => ("INTEGER PRIMARY KEY", "TIMESTAMP", "TEXT"),
        Dialect::Mysql => ("INTEGER PRIMARY KEY", "DATETIME(6)", "VARCHAR(64)"),
    };
    format!(
        "CREATE TABLE {lines} ({id} {pk}, {sku} {text} NOT NULL, {deleted} {ts} NULL);
         CREATE TABLE {notes} ({id} {pk}, {line} INTEGER NOT NULL REFERENCES {lines} ({id}), {deleted} {ts} NULL);",
        lines = q("Order \"Lines\""),
        notes = q("line notes"),
        id = q("id"),
        sku = q("sku `code`"),
        line = q("Line \"Id\""),
        deleted = q("Deleted At"),
    )
}

backend_tests! {
    fn quoted_names_work_through_ddl_scopes_archive_restore_and_purge(db, x) {
        let dialect = <<Conn as Connection>::Backend as SupportedBackend>::DIALECT;
        db.conn().batch_execute(&tables(dialect))?;
        db.conn().batch_execute(&soft_delete_runtime::ddl::archive_log::create_table(dialect))?;
        for statement in ddl::active_unique::<OrderLine>(dialect) {
            db.conn().batch_execute(&statement)?;
        }
        let conn = db.conn();
        diesel::insert_into(order_lines::table)
            .values((order_lines::id.eq(1), order_lines::sku.eq("A")))
            .execute(conn)?;
        diesel::insert_into(line_notes::table)
            .values(&vec![
                (line_notes::id.eq(1), line_notes::line_id.eq(1)),
                (line_notes::id.eq(2), line_notes::line_id.eq(1)),
            ])
            .execute(conn)?;

        // the key: a second live "A" is refused by the database itself
        let second = diesel::insert_into(order_lines::table)
            .values((order_lines::id.eq(2), order_lines::sku.eq("A")))
            .execute(conn);
        assert!(
            matches!(second, Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))),
            "{second:?}"
        );

        // archive and restore through the quoted names
        let archived = x.archive(conn, &Collector::new(order_lines::table.find(1)))?;
        assert_eq!(archived.plan().archived("line notes"), 2);
        assert_eq!(line_notes::table.active().count().get_result::<i64>(conn)?, 0);
        x.restore(conn, archived.batch())?;
        assert_eq!(line_notes::table.active().count().get_result::<i64>(conn)?, 2);

        // archive again, then purge everything archived before now
        let archived = x.archive(conn, &Collector::new(order_lines::table.find(1)))?;
        let report = x.purge(
            conn,
            &mut Purge::before(order_lines::table, archived.batch().stamp() + std::time::Duration::from_secs(1)),
        )?;
        assert_eq!((report.deleted_from("Order \"Lines\""), report.deleted_from("line notes")), (1, 2));
        assert_eq!(order_lines::table.with_deleted().count().get_result::<i64>(conn)?, 0);
        Ok(())
    }

    fn keyword_columns_make_an_active_unique_key(db) {
        let dialect = <<Conn as Connection>::Backend as SupportedBackend>::DIALECT;
        let q = |name: &str| dialect.quote(name);
        let ts = match dialect {
            Dialect::Mysql => "DATETIME(6)",
            Dialect::Sqlite | Dialect::Postgres => "TIMESTAMP",
        };
        let text = match dialect {
            Dialect::Mysql => "VARCHAR(64)",
            Dialect::Sqlite | Dialect::Postgres => "TEXT",
        };
        db.conn().batch_execute(&format!(
            "CREATE TABLE {t} ({id} INTEGER PRIMARY KEY, {ty} {text} NOT NULL, {m} INTEGER NOT NULL, {d} {ts} NULL);",
            t = q("tickets"),
            id = q("id"),
            ty = q("type"),
            m = q("match"),
            d = q("deleted_at"),
        ))?;
        // the key's default name is made of the SQL column names, not the Rust spellings
        assert_eq!(<Ticket as ActiveUnique<(tickets::r#type, tickets::r#match)>>::NAME, "tickets_type_match_live_key");
        assert_eq!(<Ticket as ActiveUnique<(tickets::r#type, tickets::r#match)>>::COLUMNS, ["type", "match"]);
        for statement in ddl::active_unique::<Ticket>(dialect) {
            db.conn().batch_execute(&statement)?;
        }
        let conn = db.conn();
        let row = |id: i32| (tickets::id.eq(id), tickets::r#type.eq("adult"), tickets::r#match.eq(7));
        diesel::insert_into(tickets::table).values(row(1)).execute(conn)?;
        let second = diesel::insert_into(tickets::table).values(row(2)).execute(conn);
        assert!(
            matches!(second, Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _))),
            "{second:?}"
        );
        let first: Ticket = tickets::table.find(1).active().select(Ticket::as_select()).first(conn)?;
        first.soft_delete(conn)?;
        diesel::insert_into(tickets::table).values(row(2)).execute(conn)?;
        Ok(())
    }
}
