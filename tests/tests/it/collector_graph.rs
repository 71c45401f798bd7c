//! The relation graph as the collector builds it: two `table!` declarations of one SQL table
//! that disagree are refused with a typed error, not a panic; two that agree are one table.

use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;

use crate::collector_schema::create_archive_log;

diesel::table! {
    shelves (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    books (id) {
        id -> Integer,
        shelf_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

// The same SQL table, declared a second time as a plain table.
diesel::table! {
    #[sql_name = "books"]
    book_rows (id) {
        id -> Integer,
        shelf_id -> Integer,
    }
}

/// Reaches `books` first as the plain `book_rows`, then as the soft-deletable `books`.
#[derive(Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = shelves)]
#[soft_delete(children(book_rows::shelf_id = do_nothing, books::shelf_id = cascade))]
#[allow(dead_code)]
struct Shelf {
    id: i32,
    deleted_at: Option<Stamp>,
}

#[derive(Queryable, SoftDelete)]
#[diesel(table_name = books)]
#[allow(dead_code)]
struct Book {
    id: i32,
    shelf_id: i32,
    deleted_at: Option<Stamp>,
}

diesel::table! {
    racks (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

// `books` again, as a second soft-deletable declaration that agrees with the first.
diesel::table! {
    #[sql_name = "books"]
    rack_books (id) {
        id -> Integer,
        shelf_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Queryable, SoftDelete)]
#[diesel(table_name = rack_books)]
#[allow(dead_code)]
struct RackBook {
    id: i32,
    shelf_id: i32,
    deleted_at: Option<Stamp>,
}

/// Reaches `books` through both soft-deletable declarations: they agree, so it is one table.
#[derive(Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = racks)]
#[soft_delete(children(books::shelf_id = cascade, rack_books::shelf_id = cascade))]
#[allow(dead_code)]
struct Rack {
    id: i32,
    deleted_at: Option<Stamp>,
}

const DDL: &str = "
CREATE TABLE shelves (id {pk}, deleted_at {ts} NULL);
CREATE TABLE racks (id {pk}, deleted_at {ts} NULL);
CREATE TABLE books (id {pk}, shelf_id {int} NOT NULL, deleted_at {ts} NULL);
INSERT INTO shelves (id) VALUES (1);
INSERT INTO racks (id) VALUES (1);
INSERT INTO books (id, shelf_id) VALUES (1, 1), (2, 1);
";

backend_tests! {
    fn two_declarations_of_one_table_that_disagree_are_refused(db, x) {
        db.create(DDL);
        create_archive_log(db);
        let conn = db.conn();
        for result in [
            x.archive(conn, &Collector::new(shelves::table.find(1))).map(|_| ()),
            x.preview(conn, &Collector::new(shelves::table.find(1))).map(|_| ()),
        ] {
            let error = result.expect_err("book_rows and books disagree");
            let Error::ConflictingDeclarations { table, .. } = &error else {
                panic!("expected Error::ConflictingDeclarations, got {error:?}");
            };
            assert_eq!(table, "books");
            assert!(error.to_string().contains("`books`"), "{error}");
        }
        // Nothing was written.
        assert_eq!(shelves::table.active().count().get_result::<i64>(conn)?, 1);
        assert_eq!(books::table.active().count().get_result::<i64>(conn)?, 2);
        Ok(())
    }

    fn two_declarations_of_one_table_that_agree_are_one_table(db, x) {
        db.create(DDL);
        create_archive_log(db);
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(racks::table.find(1)))?;
        assert_eq!(archived.plan().archived("books"), 2);
        assert_eq!(books::table.active().count().get_result::<i64>(conn)?, 0);
        assert_eq!(x.restore(conn, archived.batch())?.rows_of("books"), 2);
        Ok(())
    }
}
