//! A purge reads every table that references what it deletes, including soft-deletable tables
//! that no edge of the graph names (a foreign key only): such a read states that it counts
//! every row, so the visibility guard (panic mode on every test connection) lets it pass.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::{Purge, Referrer};
use soft_delete_runtime::RowId;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;

use crate::purge_schema::{cutoff, old, recent, sql_time};

diesel::table! {
    writers (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reviews (id) {
        id -> Integer,
        writer_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// The purged table: no edge names `reviews`.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = writers)]
pub struct Writer {
    pub id: i32,
    pub deleted_at: Option<Stamp>,
}

/// Soft-deletable, and referencing writers by a foreign key only.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = reviews)]
pub struct Review {
    pub id: i32,
    pub writer_id: i32,
    pub deleted_at: Option<Stamp>,
}

backend_tests! {
    fn a_soft_deletable_referrer_outside_the_graph_keeps_its_rows_under_the_guard(db, x) {
        db.create(
            "CREATE TABLE writers (id {pk}, deleted_at {ts} NULL);
             CREATE TABLE reviews (id {pk}, writer_id {int} NOT NULL, deleted_at {ts} NULL,
                 CONSTRAINT reviews_writer_fk FOREIGN KEY (writer_id) REFERENCES writers (id));",
        );
        let conn = db.conn();
        // writer 1 has a live review, 2 a deleted one, 3 none; 4 was deleted after the cutoff
        conn.batch_execute(&format!(
            "INSERT INTO writers (id, deleted_at) VALUES (1, '{old}'), (2, '{old}'), (3, '{old}'), (4, '{recent}');
             INSERT INTO reviews (id, writer_id, deleted_at) VALUES (1, 1, NULL), (2, 2, '{old}');",
            old = sql_time(old()),
            recent = sql_time(recent()),
        ))?;

        let report = x.purge(conn, &mut Purge::before(writers::table, cutoff()))?;

        assert_eq!((report.deleted_from("writers"), report.kept_in("writers")), (1, 2), "{report}");
        let ids: Vec<i32> = writers::table.select(writers::id).order(writers::id).with_deleted().load(conn)?;
        assert_eq!(ids, [1, 2, 4]);
        let kept = report.skipped.iter().find(|s| s.referenced_by.name == "reviews").expect("kept by reviews");
        assert_eq!((kept.referrer, kept.ids.clone()), (Referrer::Row, vec![RowId::from_text("1"), RowId::from_text("2")]));
        Ok(())
    }

    // SQLite matches table names without regard to case, and its catalog gives a foreign key's
    // table as the `REFERENCES` clause spelled it: a key into `Writers` is a key into `writers`.
    // (PostgreSQL folds the unquoted name; MySQL on Linux tells the cases apart, so it gets
    // the table's own spelling.)
    fn a_foreign_key_naming_the_table_in_another_case_keeps_its_rows(db, x) {
        let referenced = match db.backend() {
            soft_delete_tests::Backend::Mysql => "writers",
            _ => "Writers",
        };
        db.create(&format!(
            "CREATE TABLE writers (id {{pk}}, deleted_at {{ts}} NULL);
             CREATE TABLE Notes (id {{pk}}, writer_id {{int}} NOT NULL,
                 CONSTRAINT notes_writer_fk FOREIGN KEY (writer_id) REFERENCES {referenced} (id));",
        ));
        let conn = db.conn();
        conn.batch_execute(&format!(
            "INSERT INTO writers (id, deleted_at) VALUES (1, '{old}'), (2, '{old}');
             INSERT INTO Notes (id, writer_id) VALUES (1, 1);",
            old = sql_time(old()),
        ))?;

        let report = x.purge(conn, &mut Purge::before(writers::table, cutoff()))?;

        let ids: Vec<i32> = writers::table.select(writers::id).order(writers::id).with_deleted().load(conn)?;
        assert_eq!(ids, [1], "writer 1 is referenced by a note: {report}");
        assert_eq!((report.deleted_from("writers"), report.kept_in("writers")), (1, 1), "{report}");
        Ok(())
    }
}
