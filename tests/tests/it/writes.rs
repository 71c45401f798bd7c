//! Soft delete, restore and hard delete: by value and in bulk, with and without audit
//! columns, and what repeating them does.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{hard_delete, restore, soft_delete, soft_delete_with};
use soft_delete_tests::{backend_tests, per_backend};

use crate::schema::*;

/// Loads user `id`, live or not.
macro_rules! user {
    ($conn:expr, $id:expr) => {
        users::table.find($id).first::<User>($conn)
    };
}

fn at(h: u32, m: u32, s: u32, micro: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, 23)
        .and_then(|d| d.and_hms_micro_opt(h, m, s, micro))
        .expect("valid time")
        .and_utc()
}

backend_tests! {
    fn soft_delete_by_value_hides_the_row_and_reports_one(db) {
        seed(db)?;
        let conn = db.conn();
        let ann = user!(conn, 1)?;
        assert_eq!(ann.soft_delete(conn)?, 1);
        let ann = user!(conn, 1)?;
        assert!(ann.deleted_at.is_some());
        assert_eq!(ann.deleted_by, None);
        assert_eq!(users::table.active().count().get_result::<i64>(conn)?, 3);
        Ok(())
    }

    fn soft_deleting_a_dead_row_keeps_its_first_time_and_audit(db) {
        seed(db)?;
        let conn = db.conn();
        let first = Deletion::at(at(9, 0, 0, 123_456)).by(7).reason("spam");
        assert_eq!(user!(conn, 2)?.soft_delete_with(conn, first)?, 1);

        let later = Deletion::at(at(10, 0, 0, 0)).by(8).reason("again");
        assert_eq!(user!(conn, 2)?.soft_delete_with(conn, later)?, 0);
        assert_eq!(user!(conn, 2)?.soft_delete(conn)?, 0);
        assert_eq!(soft_delete(users::table.find(2)).execute(conn)?, 0);

        let bob = user!(conn, 2)?;
        assert_eq!(bob.deleted_at, Some(at(9, 0, 0, 123_456).naive_utc()));
        assert_eq!(bob.deleted_by, Some(7));
        assert_eq!(bob.deletion_reason.as_deref(), Some("spam"));
        Ok(())
    }

    fn restore_brings_the_row_back_and_clears_audit(db) {
        seed(db)?;
        let conn = db.conn();
        let bob = user!(conn, 2)?;
        bob.soft_delete_with(conn, Deletion::now().by(7).reason("spam"))?;
        assert_eq!(bob.restore(conn)?, 1);

        let bob = user!(conn, 2)?;
        assert_eq!((bob.deleted_at, bob.deleted_by, bob.deletion_reason), (None, None, None));
        assert_eq!(users::table.active().count().get_result::<i64>(conn)?, 4);
        Ok(())
    }

    fn restoring_a_live_row_changes_nothing(db) {
        seed(db)?;
        let conn = db.conn();
        let before: Vec<User> = users::table.order(users::id).load(conn)?;
        assert_eq!(user!(conn, 3)?.restore(conn)?, 0);
        assert_eq!(restore(users::table).execute(conn)?, 0);
        let after: Vec<User> = users::table.order(users::id).load(conn)?;
        assert_eq!(before, after);
        Ok(())
    }

    fn hard_delete_removes_live_and_dead_rows(db) {
        seed(db)?;
        let conn = db.conn();
        user!(conn, 1)?.soft_delete(conn)?;
        assert_eq!(user!(conn, 1)?.hard_delete(conn)?, 1);
        assert_eq!(user!(conn, 2)?.hard_delete(conn)?, 1);
        assert_eq!(hard_delete(users::table.filter(users::id.eq(1))).execute(conn)?, 0);
        let left: Vec<i32> = users::table.select(users::id).order(users::id).load(conn)?;
        assert_eq!(left, [3, 4]);
        Ok(())
    }

    fn bulk_writes_follow_the_target_filter_and_count_rows(db) {
        seed(db)?;
        let conn = db.conn();
        // three of four users match; one of them is already dead
        user!(conn, 1)?.soft_delete(conn)?;
        let target = users::table.filter(users::name.ne("dan"));
        assert_eq!(soft_delete(target).execute(conn)?, 2);
        assert_eq!(users::table.only_deleted().count().get_result::<i64>(conn)?, 3);

        assert_eq!(restore(users::table.filter(users::id.le(2))).execute(conn)?, 2);
        assert_eq!(users::table.only_deleted().count().get_result::<i64>(conn)?, 1);

        // bulk with audit, on a filtered table
        let n = soft_delete_with(
            users::table.filter(users::id.eq_any([1, 4])),
            Deletion::now().by(99).reason("cleanup"),
        )
        .execute(conn)?;
        assert_eq!(n, 2);
        let audited: Vec<User> = users::table.filter(users::deleted_by.eq(99)).order(users::id).load(conn)?;
        assert_eq!(audited.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 4]);
        assert!(audited.iter().all(|u| u.deletion_reason.as_deref() == Some("cleanup")));
        Ok(())
    }

    fn flag_writes_flip_the_flag_only_for_rows_that_need_it(db) {
        seed(db)?;
        let conn = db.conn();
        let post: Post = posts::table.find(1).first(conn)?;
        assert_eq!(post.soft_delete(conn)?, 1);
        assert_eq!(post.soft_delete(conn)?, 0);
        assert!(posts::table.find(1).first::<Post>(conn)?.deleted);
        assert_eq!(post.restore(conn)?, 1);
        assert_eq!(post.restore(conn)?, 0);
        assert!(!posts::table.find(1).first::<Post>(conn)?.deleted);

        let attempt: Attempt = attempts::table.find(2).first(conn)?;
        assert_eq!(attempt.soft_delete(conn)?, 1);
        assert!(!attempts::table.find(2).first::<Attempt>(conn)?.active);
        assert_eq!(restore(attempts::table).execute(conn)?, 1);
        assert!(attempts::table.find(2).first::<Attempt>(conn)?.active);
        Ok(())
    }

    fn a_flag_marker_records_and_clears_its_deletion_time_and_author(db) {
        seed(db)?;
        let conn = db.conn();
        let note: Note = notes::table.find(2).first(conn)?;
        let when = at(12, 30, 0, 5);
        note.soft_delete_with(conn, Deletion::at(when).by("moderator"))?;
        let hidden: Note = notes::table.find(2).first(conn)?;
        assert!(hidden.hidden);
        assert_eq!(hidden.hidden_at, Some(when.naive_utc()));
        assert_eq!(hidden.hidden_by.as_deref(), Some("moderator"));
        assert_eq!(notes::table.active().count().get_result::<i64>(conn)?, 2);

        note.restore(conn)?;
        let back: Note = notes::table.find(2).first(conn)?;
        assert_eq!((back.hidden, back.hidden_at, back.hidden_by), (false, None, None));
        Ok(())
    }

    fn the_deletion_time_written_is_the_time_read_back(db) {
        seed(db)?;
        let conn = db.conn();
        let deletion = Deletion::now();
        let when = deletion.timestamp();
        assert_eq!(when.timestamp_subsec_nanos() % 1_000, 0, "kept to whole microseconds");
        user!(conn, 4)?.soft_delete_with(conn, deletion)?;
        // every backend stores microseconds, so the row can be found by its exact time
        let found: Vec<i32> = users::table
            .filter(users::deleted_at.eq(when.naive_utc()))
            .select(users::id)
            .load(conn)?;
        assert_eq!(found, [4]);
        Ok(())
    }

    fn custom_marker_columns_are_written_through_their_field(db) {
        seed(db)?;
        let conn = db.conn();
        let doc: Document = documents::table.find(3).first(conn)?;
        assert_eq!(doc.soft_delete(conn)?, 1);
        let removed_on: Option<chrono::NaiveDateTime> =
            documents::table.find(3).select(documents::removed_on).first(conn)?;
        assert!(removed_on.is_some());
        assert_eq!(doc.restore(conn)?, 1);
        assert_eq!(documents::table.active().count().get_result::<i64>(conn)?, 3);
        Ok(())
    }
}

/// SQL text only: runs for every compiled backend, with or without a server.
mod sql {
    use super::*;

    per_backend! {
        fn write_sql_is_one_update_guarded_by_the_marker() {
            type Db = <Conn as Connection>::Backend;
            let stmt = soft_delete(users::table.filter(users::name.eq("ann")));
            let text = diesel::debug_query::<Db, _>(&stmt).to_string();
            let sql = text.split(" -- binds").next().unwrap_or_default();
            let expected = diesel::update(users::table.filter(users::name.eq("ann")))
                .set((
                    users::deleted_at.eq(Some(chrono::Utc::now().naive_utc())),
                    users::deleted_by.eq(None::<i32>),
                    users::deletion_reason.eq(None::<String>),
                ))
                .filter(users::deleted_at.is_null());
            let expected_text = diesel::debug_query::<Db, _>(&expected).to_string();
            assert_eq!(sql, expected_text.split(" -- binds").next().unwrap_or_default());
        }
    }
}
