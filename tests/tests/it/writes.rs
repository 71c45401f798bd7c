//! Soft delete, restore and hard delete: by value and in bulk, with and without audit
//! columns, and what repeating them does.

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{
    hard_delete, restore, restore_and_set, soft_delete, soft_delete_and_set, soft_delete_with,
};
use soft_delete_tests::exec::{Exec, ExecuteIn, RestoreAndSetIn, RestoreIn};
use soft_delete_tests::stamp::{instant, stamp, utc, Instant, Stamp};
use soft_delete_tests::{backend_tests, per_backend, verb, TestConnection};

use crate::forum_schema::{self as forum, comment, person, Comment, Person, PersonId};
use crate::schema::*;

/// Loads user `id`, live or not.
macro_rules! user {
    ($conn:expr, $id:expr) => {
        users::table.find($id).with_deleted().first::<User>($conn)
    };
}

fn at(h: u32, m: u32, s: u32, micro: u32) -> Instant {
    instant(utc(2026, 11, 23, h, m, s, micro))
}

backend_tests! {
    fn soft_delete_by_value_hides_the_row_and_reports_one(db, x) {
        seed(db)?;
        let conn = db.conn();
        let ann = user!(conn, 1)?;
        assert_eq!(x.execute(conn, soft_delete(&ann))?, 1);
        let ann = user!(conn, 1)?;
        assert!(ann.deleted_at.is_some());
        assert_eq!(ann.deleted_by, None);
        assert_eq!(users::table.active().count().get_result::<i64>(conn)?, 3);
        Ok(())
    }

    fn soft_deleting_a_dead_row_keeps_its_first_time_and_audit(db, x) {
        seed(db)?;
        let conn = db.conn();
        let first = Deletion::at(at(9, 0, 0, 123_456)).by(7).reason("spam");
        let bob = user!(conn, 2)?;
        assert_eq!(x.execute(conn, soft_delete_with(&bob, first))?, 1);

        let later = Deletion::at(at(10, 0, 0, 0)).by(8).reason("again");
        let dead = user!(conn, 2)?;
        assert_eq!(x.execute(conn, soft_delete_with(&dead, later))?, 0);
        assert_eq!(dead.soft_delete(conn)?, 0); // the model's own method: the same statement
        assert_eq!(x.execute(conn, soft_delete(users::table.find(2)))?, 0);

        let bob = user!(conn, 2)?;
        assert_eq!(bob.deleted_at, Some(stamp(at(9, 0, 0, 123_456))));
        assert_eq!(bob.deleted_by, Some(7));
        assert_eq!(bob.deletion_reason.as_deref(), Some("spam"));
        Ok(())
    }

    fn restore_brings_the_row_back_and_clears_audit(db, x) {
        seed(db)?;
        let conn = db.conn();
        let bob = user!(conn, 2)?;
        x.execute(conn, soft_delete_with(&bob, Deletion::now().by(7).reason("spam")))?;
        assert_eq!(RestoreIn::<_, User, _>::restore_row(x, conn, &bob)?, 1);

        let bob = user!(conn, 2)?;
        assert_eq!((bob.deleted_at, bob.deleted_by, bob.deletion_reason), (None, None, None));
        assert_eq!(users::table.active().count().get_result::<i64>(conn)?, 4);
        Ok(())
    }

    fn restoring_a_live_row_changes_nothing(db, x) {
        seed(db)?;
        let conn = db.conn();
        let before: Vec<User> = users::table.order(users::id).with_deleted().load(conn)?;
        let cat = user!(conn, 3)?;
        assert_eq!(RestoreIn::<_, User, _>::restore_row(x, conn, &cat)?, 0);
        assert_eq!(x.execute(conn, restore(users::table))?, 0);
        let after: Vec<User> = users::table.order(users::id).with_deleted().load(conn)?;
        assert_eq!(before, after);
        Ok(())
    }

    fn hard_delete_removes_live_and_dead_rows(db, x) {
        seed(db)?;
        let conn = db.conn();
        let ann = user!(conn, 1)?;
        x.execute(conn, soft_delete(&ann))?;
        assert_eq!(x.execute(conn, hard_delete(&ann))?, 1);
        // the model's own method: the same statement
        assert_eq!(user!(conn, 2)?.hard_delete(conn)?, 1);
        assert_eq!(x.execute(conn, hard_delete(users::table.filter(users::id.eq(1))))?, 0);
        let left: Vec<i32> = users::table.select(users::id).order(users::id).with_deleted().load(conn)?;
        assert_eq!(left, [3, 4]);
        Ok(())
    }

    fn bulk_writes_follow_the_target_filter_and_count_rows(db, x) {
        seed(db)?;
        let conn = db.conn();
        // three of four users match; one of them is already dead
        let ann = user!(conn, 1)?;
        x.execute(conn, soft_delete(&ann))?;
        let target = users::table.filter(users::name.ne("dan"));
        assert_eq!(x.execute(conn, soft_delete(target))?, 2);
        assert_eq!(users::table.only_deleted().count().get_result::<i64>(conn)?, 3);

        assert_eq!(x.execute(conn, restore(users::table.filter(users::id.le(2))))?, 2);
        assert_eq!(users::table.only_deleted().count().get_result::<i64>(conn)?, 1);

        // bulk with audit, on a filtered table
        let n = x.execute(
            conn,
            soft_delete_with(
                users::table.filter(users::id.eq_any([1, 4])),
                Deletion::now().by(99).reason("cleanup"),
            ),
        )?;
        assert_eq!(n, 2);
        let audited: Vec<User> = users::table.filter(users::deleted_by.eq(99)).order(users::id).with_deleted().load(conn)?;
        assert_eq!(audited.iter().map(|u| u.id).collect::<Vec<_>>(), [1, 4]);
        assert!(audited.iter().all(|u| u.deletion_reason.as_deref() == Some("cleanup")));
        Ok(())
    }

    fn flag_writes_flip_the_flag_only_for_rows_that_need_it(db, x) {
        seed(db)?;
        let conn = db.conn();
        let post: Post = posts::table.find(1).with_deleted().first(conn)?;
        assert_eq!(x.execute(conn, soft_delete(&post))?, 1);
        assert_eq!(x.execute(conn, soft_delete(&post))?, 0);
        assert!(posts::table.find(1).with_deleted().first::<Post>(conn)?.deleted);
        assert_eq!(RestoreIn::<_, Post, _>::restore_row(x, conn, &post)?, 1);
        assert_eq!(RestoreIn::<_, Post, _>::restore_row(x, conn, &post)?, 0);
        assert!(!posts::table.find(1).with_deleted().first::<Post>(conn)?.deleted);

        let attempt: Attempt = attempts::table.find(2).with_deleted().first(conn)?;
        assert_eq!(x.execute(conn, soft_delete(&attempt))?, 1);
        assert!(!attempts::table.find(2).with_deleted().first::<Attempt>(conn)?.active);
        assert_eq!(x.execute(conn, restore(attempts::table))?, 1);
        assert!(attempts::table.find(2).with_deleted().first::<Attempt>(conn)?.active);
        Ok(())
    }

    fn a_flag_marker_records_and_clears_its_deletion_time_and_author(db, x) {
        seed(db)?;
        let conn = db.conn();
        let note: Note = notes::table.find(2).with_deleted().first(conn)?;
        let when = at(12, 30, 0, 5);
        x.execute(conn, soft_delete_with(&note, Deletion::at(when).by("moderator")))?;
        let hidden: Note = notes::table.find(2).with_deleted().first(conn)?;
        assert!(hidden.hidden);
        assert_eq!(hidden.hidden_at, Some(stamp(when)));
        assert_eq!(hidden.hidden_by.as_deref(), Some("moderator"));
        assert_eq!(notes::table.active().count().get_result::<i64>(conn)?, 2);

        RestoreIn::<_, Note, _>::restore_row(x, conn, &note)?;
        let back: Note = notes::table.find(2).with_deleted().first(conn)?;
        assert_eq!((back.hidden, back.hidden_at, back.hidden_by), (false, None, None));
        Ok(())
    }

    fn the_deletion_time_written_is_the_time_read_back(db, x) {
        seed(db)?;
        let conn = db.conn();
        let deletion = Deletion::now();
        let when = deletion.timestamp();
        let dan = user!(conn, 4)?;
        x.execute(conn, soft_delete_with(&dan, deletion))?;
        // every backend stores microseconds, so the row can be found by its exact time
        let found: Vec<i32> = users::table
            .filter(users::deleted_at.eq(stamp(when)))
            .select(users::id)
            .load(conn)?;
        assert_eq!(found, [4]);
        Ok(())
    }

    fn custom_marker_columns_are_written_through_their_field(db, x) {
        seed(db)?;
        let conn = db.conn();
        let doc: Document = documents::table.find(3).with_deleted().first(conn)?;
        assert_eq!(x.execute(conn, soft_delete(&doc))?, 1);
        let removed_on: Option<Stamp> =
            documents::table.find(3).select(documents::removed_on).with_deleted().first(conn)?;
        assert!(removed_on.is_some());
        assert_eq!(RestoreIn::<_, Document, _>::restore_row(x, conn, &doc)?, 1);
        assert_eq!(documents::table.active().count().get_result::<i64>(conn)?, 3);
        Ok(())
    }
}

/// Other columns written by the soft delete's and the restore's own `UPDATE`.
mod and_set {
    use super::*;

    /// What `f` returned, and the verbs of the statements executor `x` ran meanwhile.
    fn verbs_of<C: TestConnection, X: Exec<C>, T>(
        x: &mut X,
        conn: &mut C,
        f: impl FnOnce(&mut X, &mut C) -> Result<T, Box<dyn std::error::Error + Send + Sync>>,
    ) -> Result<(T, Vec<String>), Box<dyn std::error::Error + Send + Sync>> {
        let seen = x.record_statements(conn);
        let out = f(x, conn)?;
        let verbs = seen
            .lock()
            .map_err(|e| e.to_string())?
            .iter()
            .map(|q| verb(q))
            .collect();
        Ok((out, verbs))
    }

    backend_tests! {
        fn soft_delete_and_set_writes_other_columns_in_the_same_update(db, x) {
            forum::seed(db)?;
            let conn = db.conn();
            let when = at(8, 0, 0, 250);
            let (n, verbs) = verbs_of(x, conn, |x, conn| {
                Ok(x.execute(conn, soft_delete_and_set(
                    comment::table.filter(comment::creator_id.eq(PersonId(1))),
                    Deletion::at(when).by(PersonId(3)).reason("spam"),
                    (comment::updated_at.eq(Some(when)), comment::version.eq(comment::version + 1)),
                ))?)
            })?;
            assert_eq!((n, verbs), (2, vec!["UPDATE".to_owned()]));

            let removed: Vec<Comment> = comment::table.only_deleted().order(comment::id).load(conn)?;
            assert_eq!(removed.iter().map(|c| c.id).collect::<Vec<_>>(), [1, 4]);
            for c in &removed {
                assert_eq!((c.removed_at, c.updated_at, c.version), (Some(when), Some(when), 2));
                assert_eq!((c.removed_by, c.removal_reason.as_deref()), (Some(PersonId(3)), Some("spam")));
            }
            let untouched: Vec<Comment> = comment::table.active().load(conn)?;
            assert!(untouched.iter().all(|c| c.updated_at.is_none() && c.version == 1));

            // the changes follow the live guard: a second soft delete changes nothing at all
            let again = x.execute(conn, soft_delete_and_set(
                comment::table.find(1),
                Deletion::now(),
                comment::version.eq(comment::version + 1),
            ))?;
            assert_eq!(again, 0);
            assert_eq!(comment::table.find(1).with_deleted().first::<Comment>(conn)?.version, 2);
            Ok(())
        }

        fn restore_and_set_writes_other_columns_only_on_the_rows_it_restores(db, x) {
            forum::seed(db)?;
            let conn = db.conn();
            x.execute(conn, soft_delete_with(comment::table.find(2), Deletion::now().by(PersonId(1))))?;
            let when = at(9, 30, 0, 0);
            let (n, verbs) = verbs_of(x, conn, |x, conn| {
                Ok(x.execute(conn, restore_and_set(
                    comment::table.filter(comment::id.le(3)),
                    (comment::updated_at.eq(Some(when)), comment::version.eq(comment::version + 1)),
                ))?)
            })?;
            assert_eq!((n, verbs), (1, vec!["UPDATE".to_owned()]));

            let all: Vec<Comment> = comment::table.order(comment::id).with_deleted().load(conn)?;
            let touched: Vec<(i32, Option<Instant>, i32)> =
                all.iter().map(|c| (c.id, c.updated_at, c.version)).collect();
            assert_eq!(touched, [(1, None, 1), (2, Some(when), 2), (3, None, 1), (4, None, 1)]);
            let back = &all[1];
            assert_eq!((back.removed_at, back.removed_by, back.removal_reason.clone()), (None, None, None));
            Ok(())
        }

        fn changes_that_read_the_marker_read_it_as_it_was_before_the_write(db, x) {
            // `SET removed_at = NULL, updated_at = removed_at` is NULL on MySQL/MariaDB, which
            // assign left to right; PostgreSQL and SQLite read every column as it was.
            forum::seed(db)?;
            let conn = db.conn();
            let removed = at(7, 45, 0, 120);
            x.execute(conn, soft_delete_with(comment::table.find(2), Deletion::at(removed).by(PersonId(1))))?;
            // keep the removal the restore undoes as the comment's last change
            let n = x.execute(conn, restore_and_set(
                comment::table.find(2),
                comment::updated_at.eq(comment::removed_at),
            ))?;
            assert_eq!(n, 1);
            let back: Comment = comment::table.find(2).with_deleted().first(conn)?;
            assert_eq!((back.removed_at, back.removed_by), (None, None));
            assert_eq!(back.updated_at, Some(removed));

            // the same for a soft delete's changes: the marker and audit columns as they were
            let n = x.execute(conn, soft_delete_and_set(
                comment::table.find(2),
                Deletion::at(at(8, 0, 0, 0)).by(PersonId(3)),
                comment::content.eq(
                    diesel::dsl::case_when::<_, _, diesel::sql_types::Text>(comment::removed_by.is_null(), "first removal")
                        .otherwise("removed again"),
                ),
            ))?;
            assert_eq!(n, 1);
            let gone: Comment = comment::table.find(2).with_deleted().first(conn)?;
            assert_eq!((gone.removed_by, gone.content.as_str()), (Some(PersonId(3)), "first removal"));
            Ok(())
        }

        fn by_value_writes_take_other_columns_in_their_one_statement(db, x) {
            forum::seed(db)?;
            let conn = db.conn();
            let reply: Comment = comment::table.find(3).with_deleted().first(conn)?;
            let removed_then = at(10, 0, 0, 0);
            let bump = || (comment::updated_at.eq(Some(removed_then)), comment::version.eq(comment::version + 1));
            let (n, verbs) = verbs_of(x, conn, |x, conn| {
                let deletion = Deletion::at(removed_then).by(PersonId(1)).reason("off topic");
                Ok(x.execute(conn, soft_delete_and_set(&reply, deletion, bump()))?)
            })?;
            assert_eq!((n, verbs), (1, vec!["UPDATE".to_owned()]));
            let removed: Comment = comment::table.find(3).with_deleted().first(conn)?;
            assert_eq!((removed.removed_at, removed.removed_by), (Some(removed_then), Some(PersonId(1))));
            assert_eq!((removed.updated_at, removed.version), (Some(removed_then), 2));

            // already removed: neither the marker nor the other columns change (the model's own
            // method: the same statement)
            assert_eq!(reply.soft_delete_and_set(conn, Deletion::now(), bump())?, 0);
            assert_eq!(comment::table.find(3).with_deleted().first::<Comment>(conn)?, removed);

            let restored_then = at(11, 0, 0, 0);
            let (n, verbs) = verbs_of(x, conn, |x, conn| {
                Ok(RestoreAndSetIn::<_, Comment, _, _>::restore_and_set_row(x, conn, &reply, (
                    comment::updated_at.eq(Some(restored_then)),
                    comment::version.eq(comment::version + 1),
                ))?)
            })?;
            assert_eq!((n, verbs), (1, vec!["UPDATE".to_owned()]));
            let back: Comment = comment::table.find(3).with_deleted().first(conn)?;
            assert_eq!((back.removed_at, back.removed_by, back.removal_reason.clone()), (None, None, None));
            assert_eq!((back.updated_at, back.version), (Some(restored_then), 3));
            assert_eq!(RestoreAndSetIn::<_, Comment, _, _>::restore_and_set_row(x, conn, &reply, comment::version.eq(0))?, 0);
            assert_eq!(comment::table.find(3).with_deleted().first::<Comment>(conn)?, back);
            Ok(())
        }

        fn a_restore_that_also_sets_respects_active_unique_keys(db, x) {
            forum::seed(db)?;
            let conn = db.conn();
            let bob: Person = person::table.find(PersonId(2)).with_deleted().first(conn)?;
            assert_eq!(x.execute(conn, soft_delete_and_set(&bob, Deletion::now(), person::updated_at.eq(Some(at(12, 0, 0, 0)))))?, 1);
            diesel::insert_into(person::table)
                .values((person::id.eq(PersonId(4)), person::name.eq("bob")))
                .execute(conn)?;
            let gone: Person = person::table.find(PersonId(2)).with_deleted().first(conn)?;

            let err = RestoreAndSetIn::<_, Person, _, _>::restore_and_set_row(x, conn, &bob, person::updated_at.eq(Some(at(13, 0, 0, 0))))
                .expect_err("another live bob holds the name");
            let holder = err.conflict().and_then(|c| c.live_id().typed::<Person>().ok());
            assert_eq!(holder, Some(PersonId(4)), "{err}");
            assert_eq!(person::table.find(PersonId(2)).with_deleted().first::<Person>(conn)?, gone, "nothing changed");

            // with the name free again, the restore and its changes go through together
            x.execute(conn, soft_delete(person::table.find(PersonId(4))))?;
            assert_eq!(RestoreAndSetIn::<_, Person, _, _>::restore_and_set_row(x, conn, &bob, person::updated_at.eq(Some(at(14, 0, 0, 0))))?, 1);
            let back: Person = person::table.find(PersonId(2)).with_deleted().first(conn)?;
            assert_eq!((back.deleted_at, back.updated_at), (None, Some(at(14, 0, 0, 0))));
            Ok(())
        }
    }
}

/// SQL text only: runs for every compiled backend, with or without a server.
mod sql {
    use super::*;

    /// The SQL of `query` on backend `DB`, without its bind values.
    fn text<DB, Q>(query: &Q) -> String
    where
        DB: diesel::backend::Backend + Default,
        DB::QueryBuilder: Default,
        Q: diesel::query_builder::QueryFragment<DB>,
    {
        let text = diesel::debug_query::<DB, _>(query).to_string();
        text.split(" -- binds")
            .next()
            .unwrap_or_default()
            .to_owned()
    }

    per_backend! {
        fn write_sql_is_one_update_guarded_by_the_marker() {
            type Db = <Conn as Connection>::Backend;
            let stmt = soft_delete(users::table.filter(users::name.eq("ann")));
            let text = diesel::debug_query::<Db, _>(&stmt).to_string();
            let sql = text.split(" -- binds").next().unwrap_or_default();
            let expected = diesel::update(users::table.filter(users::name.eq("ann")))
                .set((
                    users::deleted_at.eq(Some(soft_delete_tests::stamp::now())),
                    users::deleted_by.eq(None::<i32>),
                    users::deletion_reason.eq(None::<String>),
                ))
                .filter(users::deleted_at.is_null());
            let expected_text = diesel::debug_query::<Db, _>(&expected).to_string();
            assert_eq!(sql, expected_text.split(" -- binds").next().unwrap_or_default());
        }

        fn and_set_sql_is_one_update_with_the_changes_before_the_marker() {
            type Db = <Conn as Connection>::Backend;
            let target = || comment::table.filter(comment::creator_id.eq(PersonId(1)));
            let stmt = soft_delete_and_set(target(), Deletion::now(), comment::version.eq(comment::version + 1));
            let expected = diesel::update(target())
                .set((
                    comment::version.eq(comment::version + 1),
                    (
                        comment::removed_at.eq(Some(soft_delete_tests::stamp::instant_now())),
                        comment::removed_by.eq(None::<PersonId>),
                        comment::removal_reason.eq(None::<String>),
                    ),
                ))
                .filter(comment::removed_at.is_null());
            assert_eq!(text::<Db, _>(&stmt), text::<Db, _>(&expected));

            let stmt = restore_and_set(target(), comment::version.eq(comment::version + 1));
            let expected = diesel::update(target())
                .set((
                    comment::version.eq(comment::version + 1),
                    (
                        comment::removed_at.eq(None::<Instant>),
                        comment::removed_by.eq(None::<PersonId>),
                        comment::removal_reason.eq(None::<String>),
                    ),
                ))
                .filter(comment::removed_at.is_not_null());
            assert_eq!(text::<Db, _>(&stmt), text::<Db, _>(&expected));
        }
    }
}
