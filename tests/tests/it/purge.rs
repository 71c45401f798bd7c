//! Retention: the cutoff is strictly before, live rows are never touched, referenced rows are
//! kept and reported, batches honour their size, a dry run writes nothing, and an interrupted
//! purge leaves earlier batches done and finishes when run again.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::{Collector, Rule};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::{Purge, Referrer, Skipped};
use soft_delete_runtime::{Error, RowId};
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, verb, Backend, TestConnection, TestDb, TestResult};

use crate::purge_schema::*;

/// The ids of every row of `$table` with their marker, in id order: what a purge may change.
macro_rules! rows {
    ($conn:expr, $table:ident, $marker:ident: $ty:ty) => {
        $table::table
            .select(($table::id, $table::$marker))
            .order($table::id)
            .with_deleted()
            .load::<(i32, $ty)>($conn)?
    };
}

/// Ids of the rows of `$table`, in order.
macro_rules! ids {
    ($conn:expr, $table:ident) => {
        // Every row, live or not, or of a table without soft delete.
        soft_delete_runtime::guard::allow(|| {
            $table::table
                .select($table::id)
                .order($table::id)
                .load::<i32>($conn)
        })?
    };
}

/// Every kind of reference that keeps a row, and a reply chain that goes leaves first.
fn seed_references<C: TestConnection>(db: &mut TestDb<C>) -> TestResult {
    create(db);
    // authors 1-7 deleted before the cutoff, 8 live, 9 deleted after it
    db.conn().batch_execute(&format!(
        "INSERT INTO authors (id, name, deleted_at) VALUES
            (1, 'a', '{old}'), (2, 'b', '{old}'), (3, 'c', '{old}'), (4, 'd', '{old}'),
            (5, 'e', '{old}'), (6, 'f', '{old}'), (7, 'g', '{old}'), (8, 'h', NULL), (9, 'i', '{recent}');
         INSERT INTO posts (id, author_id, title, deleted, deleted_at) VALUES
            (101, 1, 'live post of a deleted author', FALSE, NULL),
            (102, 2, 'old post', TRUE, '{old}'),
            (103, 3, 'recently deleted post', TRUE, '{recent}'),
            (104, 8, 'old post of a live author', TRUE, '{old}');
         INSERT INTO comments (id, post_id, parent_id, deleted_at) VALUES
            (201, 102, NULL, '{old}'), (202, 102, 201, '{old}'), (203, 102, 202, '{old}'),
            (204, 101, NULL, '{old}'), (205, 101, 204, NULL);
         INSERT INTO subscriptions (id, author_id) VALUES (1, 4);
         INSERT INTO tags (id, author_id) VALUES (1, 5);
         INSERT INTO drafts (id, author_id, deleted) VALUES (1, 6, TRUE);",
        old = sql_time(old()),
        recent = sql_time(recent()),
    ))?;
    Ok(())
}

/// The kept rows of `table` referenced by `by`, in the report.
fn skipped<'r>(
    skipped: &'r [Skipped],
    table: &str,
    by: &str,
    referrer: Referrer,
) -> Option<&'r Skipped> {
    skipped
        .iter()
        .find(|s| s.table.name == table && s.referenced_by.name == by && s.referrer == referrer)
}

backend_tests! {
    fn cutoff_is_strictly_before_and_live_rows_are_never_touched(db, x) {
        create(db);
        let conn = db.conn();
        let limit = soft_delete_tests::stamp::stamp(cutoff());
        let micro = Duration::from_micros(1);
        insert_authors!(&mut *conn, [1], Some(limit - micro));
        insert_authors!(&mut *conn, [2], Some(limit));
        insert_authors!(&mut *conn, [3], Some(limit + micro));
        insert_authors!(&mut *conn, [4], None::<Stamp>);
        // a live post with a deletion time left over, and a deleted one
        diesel::insert_into(posts::table)
            .values(&vec![
                (posts::id.eq(10), posts::author_id.eq(4), posts::title.eq("live"), posts::deleted.eq(false), posts::deleted_at.eq(old())),
                (posts::id.eq(11), posts::author_id.eq(4), posts::title.eq("gone"), posts::deleted.eq(true), posts::deleted_at.eq(old())),
            ])
            .execute(conn)?;

        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()))?;

        assert_eq!(report.deleted_from("authors"), 1);
        assert_eq!(report.deleted_from("posts"), 1);
        assert_eq!(report.kept(), 0);
        assert_eq!(ids!(conn, authors), [2, 3, 4]);
        assert_eq!(rows!(conn, posts, deleted: bool), [(10, false)]);
        assert_eq!(authors::table.find(2).select(authors::deleted_at).with_deleted().first::<Option<Stamp>>(conn)?, Some(limit));
        Ok(())
    }

    fn referenced_rows_are_kept_and_reported(db, x) {
        seed_references(db)?;
        let conn = db.conn();

        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()))?;

        // children first, and the reply chain 203 -> 202 -> 201 went leaves first
        let order: Vec<&str> = report.tables.iter().map(|t| t.table.name.as_str()).collect();
        assert_eq!(order, ["comments", "posts", "authors"]);
        assert_eq!(ids!(conn, comments), [204, 205]);
        assert_eq!(ids!(conn, posts), [101, 103]);
        assert_eq!(ids!(conn, authors), [1, 3, 4, 5, 6, 8, 9]);
        assert_eq!((report.deleted_from("authors"), report.kept_in("authors")), (2, 5));
        assert_eq!((report.deleted_from("posts"), report.kept_in("posts")), (2, 0));
        assert_eq!((report.deleted_from("comments"), report.kept_in("comments")), (3, 1));
        assert_eq!(report.not_purged.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["drafts"]);

        // why: a live post, a recently deleted post, a live subscription, a tag (foreign key
        // only), a deleted draft (declared only), a live reply
        let live_post = skipped(&report.skipped, "authors", "posts", Referrer::Live).expect("live post");
        assert_eq!((live_post.count, live_post.ids.clone()), (1, vec![RowId::from_text("1")]));
        assert_eq!(live_post.via.rule, Some(Rule::Cascade));
        assert!(live_post.via.foreign_key.is_some(), "{live_post:?}");
        assert_eq!(skipped(&report.skipped, "authors", "posts", Referrer::Archived).map(|s| s.ids.clone()), Some(vec![RowId::from_text("3")]));
        let subscription = skipped(&report.skipped, "authors", "subscriptions", Referrer::Live).expect("subscription");
        assert_eq!((subscription.ids.clone(), subscription.via.rule), (vec![RowId::from_text("4")], Some(Rule::Protect)));
        let tag = skipped(&report.skipped, "authors", "tags", Referrer::Row).expect("tag");
        assert_eq!((tag.ids.clone(), tag.via.rule), (vec![RowId::from_text("5")], None));
        assert!(tag.via.foreign_key.is_some());
        let draft = skipped(&report.skipped, "authors", "drafts", Referrer::Archived).expect("draft");
        assert_eq!((draft.ids.clone(), draft.via.foreign_key.clone()), (vec![RowId::from_text("6")], None));
        let reply = skipped(&report.skipped, "comments", "comments", Referrer::Live).expect("reply");
        assert_eq!((reply.ids.clone(), reply.columns.clone()), (vec![RowId::from_text("204")], vec!["parent_id".to_owned()]));
        assert_eq!(report.skipped.len(), 6, "{report}");
        assert!(report.to_string().contains("1 row of `authors` kept: referenced by live rows of `posts`"), "{report}");

        // nothing is left to do
        let again = x.purge(conn, &mut Purge::before(authors::table, cutoff()))?;
        assert_eq!((again.deleted(), again.kept()), (0, 6));
        Ok(())
    }

    fn batches_honour_the_batch_size(db, x) {
        create(db);
        let conn = db.conn();
        insert_authors!(&mut *conn, 1..=25, old());
        insert_authors!(&mut *conn, [26], None::<Stamp>);
        let statements = x.record_statements(conn);
        let progress = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&progress);

        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff())
            .batch_size(10)
            .on_progress(move |p| seen.lock().expect("not poisoned").push((p.deleted, p.estimated, p.batches)))
            )?;

        let deletes = statements
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|sql| verb(sql) == "DELETE")
            .count();
        assert_eq!(deletes, 3);
        assert_eq!(report.batches, 3);
        assert_eq!(report.table("authors").map(|t| t.batches), Some(3));
        assert_eq!(*progress.lock().expect("not poisoned"), [(10, 25, 1), (20, 25, 2), (25, 25, 3)]);
        assert_eq!(ids!(conn, authors), [26]);
        Ok(())
    }

    fn dry_run_writes_nothing_and_matches_the_run(db, x) {
        seed_references(db)?;
        let conn = db.conn();
        let before = (rows!(conn, authors, deleted_at: Option<Stamp>), rows!(conn, posts, deleted: bool), rows!(conn, comments, deleted_at: Option<Stamp>));

        let dry = x.dry_run(conn, &mut Purge::before(authors::table, cutoff()).batch_size(2))?;

        assert!(dry.dry_run);
        assert_eq!((rows!(conn, authors, deleted_at: Option<Stamp>), rows!(conn, posts, deleted: bool), rows!(conn, comments, deleted_at: Option<Stamp>)), before);
        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(2))?;
        assert!(!report.dry_run);
        assert_eq!(dry.tables, report.tables);
        assert_eq!(dry.skipped, report.skipped);
        assert_eq!(dry.deleted(), 7);
        Ok(())
    }

    fn interrupted_purge_keeps_earlier_batches_and_a_rerun_finishes(db, x) {
        create(db);
        let trigger = match db.backend() {
            Backend::Sqlite => "CREATE TRIGGER authors_fail BEFORE DELETE ON authors WHEN OLD.id = 25 \
                                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            Backend::Postgres => "CREATE FUNCTION injected_failure() RETURNS trigger AS $$ \
                                  BEGIN IF OLD.id = 25 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN OLD; END $$ \
                                  LANGUAGE plpgsql; \
                                  CREATE TRIGGER authors_fail BEFORE DELETE ON authors \
                                  FOR EACH ROW EXECUTE FUNCTION injected_failure();",
            Backend::Mysql => "CREATE TRIGGER authors_fail BEFORE DELETE ON authors FOR EACH ROW \
                               BEGIN IF OLD.id = 25 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'; END IF; END",
        };
        db.conn().batch_execute(trigger)?;
        let conn = db.conn();
        insert_authors!(&mut *conn, 1..=30, old());
        insert_authors!(&mut *conn, [31], None::<Stamp>);

        let error = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(10)).unwrap_err();

        let Error::PurgeInterrupted { report, source } = &error else {
            panic!("expected PurgeInterrupted, got {error:?}");
        };
        assert_eq!((report.deleted(), report.batches), (20, 2));
        assert!(source.to_string().contains("injected failure"), "{source}");
        assert!(error.to_string().contains("run it again"), "{error}");
        assert_eq!(ids!(conn, authors), (21..=31).collect::<Vec<_>>());
        assert_eq!(authors::table.active().select(authors::id).load::<i32>(conn)?, [31]);

        let drop = match db.backend() {
            Backend::Postgres => "DROP TRIGGER authors_fail ON authors",
            Backend::Sqlite | Backend::Mysql => "DROP TRIGGER authors_fail",
        };
        let conn = db.conn();
        conn.batch_execute(drop)?;
        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(10))?;
        assert_eq!((report.deleted(), report.batches), (10, 1));
        assert_eq!(ids!(conn, authors), [31]);
        Ok(())
    }

    fn a_table_without_deletion_time_is_refused(db, x) {
        create(db);
        let conn = db.conn();
        conn.batch_execute("INSERT INTO drafts (id, author_id, deleted) VALUES (1, 1, TRUE)")?;

        let error = x.purge(conn, &mut Purge::older_than(drafts::table, Duration::from_secs(30 * 86_400))).unwrap_err();

        assert!(matches!(&error, Error::NoDeletionTime { table } if table.name == "drafts"), "{error:?}");
        assert!(error.to_string().contains("#[soft_delete(deleted_at)]"), "{error}");
        assert_eq!(ids!(conn, drafts), [1]);
        let error = x.dry_run(conn, &mut Purge::before(authors::table, cutoff()).batch_size(0)).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { name: "batch_size", .. }), "{error:?}");
        Ok(())
    }

    fn journal_entries_of_purged_rows_are_dropped(db, x) {
        create(db);
        crate::collector_schema::create_journal(db);
        crate::collector_schema::create_archive_log(db);
        let conn = db.conn();
        conn.batch_execute(
            "INSERT INTO teams (id, name) VALUES (1, 'red'), (2, 'blue');
             INSERT INTO players (id, team_id) VALUES (1, 1), (2, 1), (3, 2);",
        )?;
        let red = x.archive(conn, &Collector::new(teams::table.find(1)))?;
        std::thread::sleep(std::time::Duration::from_millis(2)); // a later stamp
        let blue = x.archive(conn, &Collector::new(teams::table.find(2)))?;
        let journal = |conn: &mut Conn| {
            diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT COUNT(*) FROM soft_delete_journal")
                .get_result::<i64>(conn)
        };
        assert_eq!(journal(conn)?, 3);

        // red was archived before the cutoff, blue after it
        let stamp = red.batch().stamp();
        let report = x.purge(conn, &mut Purge::before(teams::table, stamp + Duration::from_micros(1)))?;
        assert!(blue.batch().stamp() > stamp + Duration::from_micros(1));
        assert_eq!(report.deleted_from("teams"), 1);
        assert_eq!(ids!(conn, teams), [2]);
        // red's two cut links went with it; blue's stays, and its batch restores
        assert_eq!(journal(conn)?, 1);
        // red has nothing left to restore, and its restore is refused, writing nothing
        let error = x.restore(conn, red.batch()).expect_err("red was purged");
        assert!(matches!(error, Error::ArchivePurged { archived: 1, .. }), "{error:?}");
        assert_eq!(x.find_archive(conn, red.batch().id())?.restored(), None);
        assert_eq!(x.restore(conn, blue.batch())?.links_of("players", "team_id"), 1);
        let links = players::table.select((players::id, players::team_id)).order(players::id).load::<(i32, Option<i32>)>(conn)?;
        assert_eq!(links, [(1, None), (2, None), (3, Some(2))]);
        Ok(())
    }

    fn a_row_referencing_itself_goes_but_a_cycle_of_deleted_rows_stays(db, x) {
        create(db);
        let conn = db.conn();
        conn.batch_execute(&format!(
            "INSERT INTO authors (id, name) VALUES (1, 'a');
             INSERT INTO posts (id, author_id, title) VALUES (1, 1, 'live');
             INSERT INTO comments (id, post_id, parent_id, deleted_at) VALUES
                 (1, 1, NULL, '{old}'), (2, 1, NULL, '{old}'), (3, 1, 2, '{old}');
             UPDATE comments SET parent_id = 1 WHERE id = 1;
             UPDATE comments SET parent_id = 3 WHERE id = 2;",
            old = sql_time(old()),
        ))?;

        let report = x.purge(conn, &mut Purge::before(comments::table, cutoff()))?;

        // 1 references only itself (which InnoDB's row-by-row key check refuses to delete);
        // 2 and 3 reference each other, so neither can go first
        let (gone, kept): (&[i32], &[&str]) = match db.backend() {
            Backend::Mysql => (&[], &["1", "2", "3"]),
            Backend::Sqlite | Backend::Postgres => (&[1], &["2", "3"]),
        };
        let conn = db.conn();
        assert_eq!(report.deleted_from("comments"), gone.len() as u64);
        assert_eq!(report.kept_in("comments"), kept.len() as u64);
        let cycle = skipped(&report.skipped, "comments", "comments", Referrer::Archived).expect("the cycle");
        assert_eq!(cycle.ids, kept);
        let left: Vec<i32> = (1..=3).filter(|id| !gone.contains(id)).collect();
        assert_eq!(ids!(conn, comments), left);
        Ok(())
    }

    fn a_reply_chain_with_nothing_else_kept_goes_down_to_its_root(db, x) {
        create(db);
        let conn = db.conn();
        // 3 replies to 2, which replies to 1: nothing but the chain itself keeps a comment
        conn.batch_execute(&format!(
            "INSERT INTO authors (id, name) VALUES (1, 'a');
             INSERT INTO posts (id, author_id, title) VALUES (1, 1, 'live');
             INSERT INTO comments (id, post_id, parent_id, deleted_at) VALUES
                 (1, 1, NULL, '{old}'), (2, 1, 1, '{old}'), (3, 1, 2, '{old}');",
            old = sql_time(old()),
        ))?;

        // the default batch size: page batches on PostgreSQL, key windows elsewhere
        let dry = x.dry_run(conn, &mut Purge::before(comments::table, cutoff()))?;
        let report = x.purge(conn, &mut Purge::before(comments::table, cutoff()))?;

        assert_eq!((report.deleted_from("comments"), report.kept_in("comments")), (3, 0), "{report}");
        assert_eq!(ids!(conn, comments), Vec::<i32>::new());
        assert_eq!(dry.tables, report.tables);
        Ok(())
    }

    fn a_link_column_shared_by_two_parents_keeps_the_other_parents_entries(db, x) {
        create(db);
        crate::collector_schema::create_journal(db);
        crate::collector_schema::create_archive_log(db);
        let conn = db.conn();
        conn.batch_execute(
            "INSERT INTO teams (id, name) VALUES (1, 'red');
             INSERT INTO clubs (id) VALUES (7);
             INSERT INTO labels (id, target_id) VALUES (1, 7);",
        )?;
        let club = x.archive(conn, &Collector::new(clubs::table.find(7)))?;

        // nothing of teams goes, and the club's cut link is none of its business
        x.purge(conn, &mut Purge::before(teams::table, club.batch().stamp() + Duration::from_secs(1)))?;

        assert_eq!(x.restore(conn, club.batch())?.links_of("labels", "target_id"), 1);
        let target: Option<i32> = labels::table.find(1).select(labels::target_id).first(conn)?;
        assert_eq!(target, Some(7));
        Ok(())
    }

    fn a_restore_does_not_link_back_to_a_purged_row(db, x) {
        create(db);
        crate::collector_schema::create_journal(db);
        crate::collector_schema::create_archive_log(db);
        let conn = db.conn();
        conn.batch_execute(
            "INSERT INTO teams (id, name) VALUES (1, 'red');
             INSERT INTO labels (id, target_id) VALUES (1, 1);",
        )?;
        let red = x.archive(conn, &Collector::new(teams::table.find(1)))?;
        // labels.target_id has no foreign key: the purge cannot tell its entry is red's
        let report = x.purge(conn, &mut Purge::before(teams::table, red.batch().stamp() + Duration::from_secs(1)))?;
        assert_eq!(report.deleted_from("teams"), 1);

        let error = x.restore(conn, red.batch()).expect_err("red was purged");

        assert!(matches!(error, Error::ArchivePurged { archived: 1, .. }), "{error:?}");
        assert_eq!(x.find_archive(conn, red.batch().id())?.restored(), None);
        let target: Option<i32> = labels::table.find(1).select(labels::target_id).first(conn)?;
        assert_eq!(target, None);
        Ok(())
    }

    fn a_restore_of_a_batch_a_purge_deleted_is_refused_and_writes_nothing(db, x) {
        create(db);
        crate::collector_schema::create_archive_log(db);
        let conn = db.conn();
        conn.batch_execute(
            "INSERT INTO authors (id, name) VALUES (1, 'a');
             INSERT INTO posts (id, author_id, title) VALUES (1, 1, 'one'), (2, 1, 'two');
             INSERT INTO comments (id, post_id, parent_id) VALUES (1, 1, NULL), (2, 1, 1), (3, 2, NULL);",
        )?;
        let one = x.archive(conn, &Collector::new(posts::table.find(1)))?;
        assert_eq!(one.plan().total_archived(), 3);
        // an archive of nothing is still restored, with nothing to bring back
        let none = x.archive(conn, &Collector::new(posts::table.find(99)))?;
        let report = x.purge(conn, &mut Purge::before(posts::table, one.batch().stamp() + Duration::from_secs(1)))?;
        assert_eq!((report.deleted_from("posts"), report.deleted_from("comments")), (1, 2));

        // (PostgreSQL: a graph without links to put back tries one statement first)
        let error = x.restore(conn, one.batch()).expect_err("nothing is left to restore");
        assert!(error.to_string().contains("purge"), "{error}");
        assert!(matches!(error, Error::ArchivePurged { id, archived: 3 } if id == one.batch().id()), "{error:?}");
        let error = x.restore_by(conn, one.batch(), "bob").expect_err("nothing is left to restore");
        assert!(matches!(error, Error::ArchivePurged { archived: 3, .. }), "{error:?}");
        assert_eq!(x.find_archive(conn, one.batch().id())?.restored(), None);
        assert_eq!(x.restore(conn, none.batch())?.total_rows(), 0);
        assert!(x.find_archive(conn, none.batch().id())?.restored().is_some());
        Ok(())
    }

    fn a_restore_of_a_partly_purged_batch_brings_back_the_rest_and_says_what_is_missing(db, x) {
        create(db);
        crate::collector_schema::create_archive_log(db);
        let conn = db.conn();
        conn.batch_execute(
            "INSERT INTO authors (id, name) VALUES (1, 'a');
             INSERT INTO posts (id, author_id, title) VALUES (1, 1, 'one');
             INSERT INTO comments (id, post_id, parent_id) VALUES (1, 1, NULL), (2, 1, 1);",
        )?;
        let one = x.archive(conn, &Collector::new(posts::table.find(1)))?;
        // a purge of comments alone deletes the archive's comments and keeps its post
        let report = x.purge(conn, &mut Purge::before(comments::table, one.batch().stamp() + Duration::from_secs(1)))?;
        assert_eq!(report.deleted_from("comments"), 2);

        let restored = x.restore(conn, one.batch())?;

        assert_eq!((restored.rows_of("posts"), restored.rows_of("comments")), (1, 0));
        let missing: Vec<(String, u64)> = restored.missing().into_iter().map(|(t, n)| (t.name, n)).collect();
        assert_eq!(missing, [("comments".to_owned(), 2)]);
        assert_eq!(restored.total_missing(), 2);
        assert!(x.find_archive(conn, one.batch().id())?.restored().is_some());
        Ok(())
    }

    fn a_set_null_edge_without_a_journal_table_does_not_stop_a_purge(db, x) {
        create(db);
        let conn = db.conn();
        conn.batch_execute(&format!(
            "INSERT INTO teams (id, name, deleted_at) VALUES (1, 'red', '{old}'), (2, 'blue', '{old}');
             INSERT INTO players (id, team_id) VALUES (1, NULL), (2, 2);",
            old = sql_time(old()),
        ))?;

        let dry = x.dry_run(conn, &mut Purge::before(teams::table, cutoff()))?;
        let report = x.purge(conn, &mut Purge::before(teams::table, cutoff()))?;

        assert_eq!(dry.tables, report.tables);
        assert_eq!((report.deleted_from("teams"), report.kept_in("teams")), (1, 1));
        assert_eq!(ids!(conn, teams), [2]);
        Ok(())
    }

    fn an_age_beyond_the_calendar_and_a_transaction_are_refused(db, x) {
        create(db);
        let conn = db.conn();
        insert_authors!(&mut *conn, [1], old());

        let error = x.purge(conn, &mut Purge::older_than(authors::table, Duration::MAX)).unwrap_err();
        assert!(matches!(error, Error::InvalidArgument { name: "age", .. }), "{error:?}");

        let inside = x.transaction(conn, |x, conn| {
            let dry = x.dry_run(conn, &mut Purge::before(authors::table, cutoff()))?;
            assert_eq!(dry.deleted(), 1);
            x.purge(conn, &mut Purge::before(authors::table, cutoff()))
        });
        assert!(matches!(inside, Err(Error::InTransaction { .. })), "{inside:?}");
        assert_eq!(ids!(conn, authors), [1]);

        // the largest batch size there is: one batch, nothing out of range
        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(usize::MAX))?;
        assert_eq!((report.deleted(), report.batches), (1, 1));
        Ok(())
    }

    fn text_keys_are_walked_in_key_order(db, x) {
        create(db);
        let conn = db.conn();
        conn.batch_execute(&format!(
            "INSERT INTO codes (code, deleted_at) VALUES
                 ('b', '{old}'), ('a', '{old}'), ('e', '{old}'), ('c', NULL), ('d', '{old}'), ('f', '{old}');",
            old = sql_time(old()),
        ))?;

        let report = x.purge(conn, &mut Purge::before(codes::table, cutoff()).batch_size(2))?;

        assert_eq!((report.deleted(), report.batches), (5, 3));
        assert_eq!(codes::table.select(codes::code).with_deleted().load::<String>(conn)?, ["c"]);
        Ok(())
    }

    fn a_cycle_between_two_tables_is_purged_in_passes(db, x) {
        create(db);
        let conn = db.conn();
        // a2 -> b1 -> a1: a1 cannot go before b1, nor b1 before a2
        conn.batch_execute(&format!(
            "INSERT INTO nodes_a (id, b_id, deleted_at) VALUES (1, NULL, '{old}');
             INSERT INTO nodes_b (id, a_id, deleted_at) VALUES (1, 1, '{old}');
             INSERT INTO nodes_a (id, b_id, deleted_at) VALUES (2, 1, '{old}'), (3, NULL, NULL);",
            old = sql_time(old()),
        ))?;

        let report = x.purge(conn, &mut Purge::before(nodes_a::table, cutoff()))?;

        assert_eq!((report.deleted_from("nodes_a"), report.deleted_from("nodes_b")), (2, 1));
        assert_eq!(report.kept(), 0);
        assert_eq!(ids!(conn, nodes_a), [3]);
        assert_eq!(ids!(conn, nodes_b), Vec::<i32>::new());
        Ok(())
    }

    fn a_reference_written_between_batches_keeps_its_row(db, x) {
        create(db);
        let mut other = db.connect();
        let conn = db.conn();
        insert_authors!(&mut *conn, 1..=30, old());
        let mut written = false;

        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff())
            .batch_size(10)
            .on_progress(move |_| {
                // After the first batch another connection gives author 25 a live post.
                if !written {
                    written = true;
                    diesel::insert_into(posts::table)
                        .values((posts::id.eq(1), posts::author_id.eq(25), posts::title.eq("late")))
                        .execute(&mut other)
                        .expect("another connection writes between batches");
                }
            })
            )?;

        assert_eq!((report.deleted_from("authors"), report.kept_in("authors")), (29, 1));
        assert_eq!(ids!(conn, authors), [25]);
        let kept = skipped(&report.skipped, "authors", "posts", Referrer::Live).expect("the late post");
        assert_eq!(kept.ids, ["25"]);
        Ok(())
    }

    fn no_committed_batch_exceeds_the_batch_size_when_deleted_rows_get_denser(db, x) {
        create(db);
        let conn = db.conn();
        // 3000 rows with every tenth deleted, then 1000 deleted rows in a row: on PostgreSQL
        // the page batches grow over the sparse rows and meet the dense ones with too many
        // pages, which must be rolled back and retried smaller.
        let rows: Vec<_> = (1..=4000)
            .map(|id| {
                let deleted = id > 3000 || id % 10 == 0;
                (authors::id.eq(id), authors::name.eq(format!("author {id}")), authors::deleted_at.eq(if deleted { old() } else { None }))
            })
            .collect();
        for chunk in rows.chunks(500) {
            diesel::insert_into(authors::table).values(chunk.to_vec()).execute(conn)?;
        }
        let statements = x.record_statements(conn);
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&sizes);
        let mut done = 0;

        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff())
            .batch_size(300)
            .on_progress(move |p| {
                seen.lock().expect("not poisoned").push(p.deleted - done);
                done = p.deleted;
            })
            )?;

        let sizes = sizes.lock().expect("not poisoned").clone();
        assert_eq!(report.deleted(), 1300);
        assert_eq!(sizes.iter().sum::<u64>(), 1300);
        assert!(sizes.iter().all(|&n| n <= 300), "{sizes:?}");
        assert_eq!(sizes.len() as u64, report.batches);
        assert_eq!(authors::table.with_deleted().count().get_result::<i64>(conn)?, 2700);
        assert_eq!(authors::table.active().count().get_result::<i64>(conn)?, 2700);
        let deletes = statements
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|sql| verb(sql) == "DELETE")
            .count() as u64;
        if db.backend() == Backend::Postgres {
            assert!(deletes > report.batches, "no batch was rolled back: {deletes} deletes, {sizes:?}");
        } else {
            assert_eq!(deletes, report.batches);
        }
        Ok(())
    }
}

/// PostgreSQL only: schemas and the search path, partitioned tables, and the page batches
/// with the default batch size.
#[cfg(feature = "postgres")]
mod postgres_only {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::sql_types::Text;
    use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
    use soft_delete_runtime::purge::{Purge, Referrer};
    use soft_delete_runtime::Error;
    use soft_delete_tests::TestDb;

    use crate::purge_schema::*;

    fn own_schema(conn: &mut PgConnection) -> QueryResult<String> {
        diesel::select(diesel::dsl::sql::<Text>("current_schema()")).get_result(conn)
    }

    /// Loads `rows` authors, every other one deleted before the cutoff.
    fn load(conn: &mut PgConnection, rows: i32) -> QueryResult<()> {
        conn.batch_execute(&format!(
            "INSERT INTO authors (id, name, deleted_at)
             SELECT g, 'author ' || g, CASE WHEN g % 2 = 0 THEN TIMESTAMP '2024-01-01' END
             FROM generate_series(1, {rows}) AS g;
             ANALYZE authors;"
        ))
    }

    /// A same-named table in another schema (one that sorts first) is another table: its
    /// foreign key keeps its rows, and does not stand in for the declared `posts`.
    #[test]
    fn a_same_named_table_in_another_schema_is_another_reference() {
        soft_delete_tests::run::<PgConnection>(module_path!(), |db: &mut TestDb<PgConnection>| {
            create(db);
            let conn = db.conn();
            let own = own_schema(conn)?;
            let other = format!("a{own}");
            conn.batch_execute(&format!(
                "CREATE SCHEMA {other};
                 CREATE TABLE {other}.posts (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES {own}.authors (id));
                 INSERT INTO authors (id, name, deleted_at) VALUES (1, 'a', '2024-01-01'), (2, 'b', '2024-01-01');
                 INSERT INTO {other}.posts (author_id) VALUES (1);"
            ))?;

            let outcome = Purge::before(authors::table, cutoff()).run(conn);

            conn.batch_execute(&format!("DROP SCHEMA {other} CASCADE"))?;
            let report = outcome?;
            assert_eq!(
                (report.deleted_from("authors"), report.kept_in("authors")),
                (1, 1)
            );
            let kept = report
                .skipped
                .iter()
                .find(|s| s.referenced_by.schema.as_deref() == Some(other.as_str()))
                .expect("the other schema's posts are reported");
            assert_eq!(
                (kept.referrer, kept.ids.clone()),
                (
                    Referrer::Row,
                    vec![soft_delete_runtime::RowId::from_text("1")]
                )
            );
            Ok(())
        });
    }

    /// A partitioned table has no pages of its own: its rows are purged by key windows.
    #[test]
    fn a_partitioned_table_is_purged() {
        soft_delete_tests::run::<PgConnection>(module_path!(), |db: &mut TestDb<PgConnection>| {
            let conn = db.conn();
            conn.batch_execute(
                "CREATE TABLE authors (id INTEGER NOT NULL, name TEXT NOT NULL, deleted_at TIMESTAMP NULL,
                     PRIMARY KEY (id)) PARTITION BY RANGE (id);
                 CREATE TABLE authors_low PARTITION OF authors FOR VALUES FROM (1) TO (2501);
                 CREATE TABLE authors_high PARTITION OF authors FOR VALUES FROM (2501) TO (5001);
                 CREATE TABLE posts (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL, title TEXT NOT NULL,
                     deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at TIMESTAMP NULL);
                 CREATE TABLE comments (id SERIAL PRIMARY KEY, post_id INTEGER NOT NULL, parent_id INTEGER NULL,
                     deleted_at TIMESTAMP NULL);
                 CREATE TABLE drafts (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE);
                 CREATE TABLE subscriptions (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL);",
            )?;
            load(conn, 5000)?;

            let report = Purge::before(authors::table, cutoff()).run(conn)?;

            assert_eq!(report.deleted_from("authors"), 2500);
            assert_eq!(
                authors::table
                    .with_deleted()
                    .count()
                    .get_result::<i64>(conn)?,
                2500
            );
            Ok(())
        });
    }

    /// With the default batch size the purge batches by pages: its dry run still matches
    /// the run, and a failing batch still leaves the earlier ones done.
    #[test]
    fn page_batches_dry_run_and_interrupted_purge() {
        soft_delete_tests::run::<PgConnection>(module_path!(), |db: &mut TestDb<PgConnection>| {
            create(db);
            let conn = db.conn();
            load(conn, 20_000)?;
            conn.batch_execute(
                "CREATE FUNCTION injected_failure() RETURNS trigger AS $$
                 BEGIN IF OLD.id = 15000 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN OLD; END $$
                 LANGUAGE plpgsql;
                 CREATE TRIGGER authors_fail BEFORE DELETE ON authors FOR EACH ROW EXECUTE FUNCTION injected_failure();",
            )?;

            let dry = Purge::before(authors::table, cutoff()).dry_run(conn);
            assert!(dry.is_err(), "the trigger fails the dry run too");
            let error = Purge::before(authors::table, cutoff())
                .run(conn)
                .unwrap_err();

            let Error::PurgeInterrupted { report, .. } = &error else {
                panic!("expected PurgeInterrupted, got {error:?}");
            };
            let done = report.deleted();
            assert!(report.batches > 1 && done > 0 && done < 10_000, "{report}");
            let dead: i64 = authors::table
                .filter(authors::deleted_at.is_not_null())
                .count()
                .get_result(conn)?;
            assert_eq!(dead as u64, 10_000 - done);
            assert_eq!(
                authors::table
                    .filter(authors::deleted_at.is_null())
                    .count()
                    .get_result::<i64>(conn)?,
                10_000
            );

            conn.batch_execute("DROP TRIGGER authors_fail ON authors")?;
            let dry = Purge::before(authors::table, cutoff()).dry_run(conn)?;
            let rest = Purge::before(authors::table, cutoff()).run(conn)?;
            assert_eq!(dry.tables, rest.tables);
            assert_eq!(done + rest.deleted(), 10_000);
            assert_eq!(
                authors::table
                    .with_deleted()
                    .count()
                    .get_result::<i64>(conn)?,
                10_000
            );
            Ok(())
        });
    }

    #[test]
    fn a_foreign_key_into_a_table_of_the_second_schema_keeps_its_rows() {
        soft_delete_tests::run::<PgConnection>(module_path!(), |db: &mut TestDb<PgConnection>| {
            let conn = db.conn();
            let own: String =
                diesel::select(diesel::dsl::sql::<Text>("current_schema()")).get_result(conn)?;
            let extra = format!("{own}_extra");
            conn.batch_execute(&format!(
                "CREATE SCHEMA {extra};
                 CREATE TABLE {extra}.authors (id SERIAL PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP NULL);
                 CREATE TABLE tags (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES {extra}.authors (id));
                 CREATE TABLE posts (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL, title TEXT NOT NULL,
                     deleted BOOLEAN NOT NULL DEFAULT FALSE, deleted_at TIMESTAMP NULL);
                 CREATE TABLE comments (id SERIAL PRIMARY KEY, post_id INTEGER NOT NULL, parent_id INTEGER NULL, deleted_at TIMESTAMP NULL);
                 CREATE TABLE drafts (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL, deleted BOOLEAN NOT NULL DEFAULT FALSE);
                 CREATE TABLE subscriptions (id SERIAL PRIMARY KEY, author_id INTEGER NOT NULL);
                 SET search_path = {own}, {extra};
                 INSERT INTO authors (id, name, deleted_at) VALUES (1, 'tagged', '2024-01-01'), (2, 'untagged', '2024-01-01');
                 INSERT INTO tags (author_id) VALUES (1);"
            ))?;

            let report = Purge::before(authors::table, cutoff()).run(conn);

            let outcome = report.map(|report| {
                let tag = report
                    .skipped
                    .iter()
                    .find(|s| s.referenced_by.name == "tags")
                    .cloned();
                (
                    report.deleted_from("authors"),
                    report.kept_in("authors"),
                    tag,
                )
            });
            conn.batch_execute(&format!("DROP SCHEMA {extra} CASCADE"))?;
            let (deleted, kept, tag) = outcome?;
            assert_eq!((deleted, kept), (1, 1));
            let tag = tag.expect("the tag is reported");
            assert_eq!(
                (tag.referrer, tag.ids),
                (
                    Referrer::Row,
                    vec![soft_delete_runtime::RowId::from_text("1")]
                )
            );
            Ok(())
        });
    }
}

/// SQLite only: locking between the purge's batches and other writers.
#[cfg(feature = "sqlite")]
mod sqlite_only {
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
    use soft_delete_runtime::purge::Purge;
    use soft_delete_tests::TestDb;

    use crate::purge_schema::*;

    /// Another connection is writing when a purge (or its dry run) starts: with a busy timeout
    /// its batches wait for the writer, as any writer does, rather than fail with "database is
    /// locked" (a transaction that has read cannot wait for the write lock: SQLite fails it at
    /// once).
    #[test]
    fn a_purge_waits_for_another_writer_under_a_busy_timeout() {
        soft_delete_tests::run::<SqliteConnection>(
            module_path!(),
            |db: &mut TestDb<SqliteConnection>| {
                create(db);
                // Another connection inserts a live author and commits 300 ms later.
                let writing = |db: &TestDb<SqliteConnection>, id: i32| -> QueryResult<_> {
                    let mut other = db.connect();
                    other.batch_execute(&format!(
                        "BEGIN IMMEDIATE; INSERT INTO authors (id, name) VALUES ({id}, 'live');"
                    ))?;
                    Ok(std::thread::spawn(move || {
                        std::thread::sleep(Duration::from_millis(300));
                        other.batch_execute("COMMIT")
                    }))
                };
                let conn = db.conn();
                insert_authors!(&mut *conn, 1..=3, old());
                conn.batch_execute("PRAGMA busy_timeout = 10000")?;

                let writer = writing(db, 100)?;
                let dry = Purge::before(authors::table, cutoff()).dry_run(db.conn());
                writer.join().expect("the writer does not panic")?;
                assert_eq!(dry?.deleted_from("authors"), 3);

                let writer = writing(db, 101)?;
                let report = Purge::before(authors::table, cutoff()).run(db.conn());
                writer.join().expect("the writer does not panic")?;
                let report = report?;
                assert_eq!(report.deleted_from("authors"), 3, "{report}");
                let ids: Vec<i32> = authors::table
                    .with_deleted()
                    .select(authors::id)
                    .order(authors::id)
                    .load(db.conn())?;
                assert_eq!(ids, [100, 101]);
                Ok(())
            },
        );
    }
}

/// MySQL only: an engine without transactions, under a dry run and a collector's preview.
#[cfg(feature = "mysql")]
mod mysql_only {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::backend::Dialect;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
    use soft_delete_runtime::purge::{Purge, Referrer};
    use soft_delete_runtime::{Error, RowId};
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;

    use crate::purge_schema::*;

    backend_tests! {
        type Conn = MysqlConnection;

        /// MyISAM ignores a rollback, so a dry run would delete for real: it is refused.
        fn a_dry_run_on_a_table_without_transactions_is_refused(db, x) {
            let conn = db.conn();
            conn.batch_execute(
                "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL,
                     parent_id INTEGER NULL, deleted_at DATETIME(6) NULL) ENGINE = MyISAM;
                 INSERT INTO comments (id, post_id, deleted_at) VALUES (1, 1, '2024-01-01'), (2, 1, '2024-01-01');",
            )?;

            let error = x.dry_run(conn, &mut Purge::before(comments::table, cutoff())).unwrap_err();

            assert!(matches!(error, Error::Unsupported { dialect: Dialect::Mysql, .. }), "{error:?}");
            assert_eq!(comments::table.with_deleted().count().get_result::<i64>(conn)?, 2);
            Ok(())
        }

        /// An archive refused half way could not be rolled back on MyISAM: it is refused. A
        /// preview only reads, so it works there.
        fn an_archive_on_a_table_without_transactions_is_refused_and_a_preview_reads(db, x) {
            let conn = db.conn();
            conn.batch_execute(
                "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL,
                     parent_id INTEGER NULL, deleted_at DATETIME(6) NULL) ENGINE = MyISAM;
                 INSERT INTO comments (id, post_id, parent_id) VALUES (1, 1, NULL), (2, 1, 1);",
            )?;

            let preview = x.preview(conn, &Collector::new(comments::table.find(1)))?;
            assert_eq!(preview.archived("comments"), 2);
            let error = x.archive(conn, &Collector::new(comments::table.find(1))).unwrap_err();
            assert!(matches!(error, Error::Unsupported { dialect: Dialect::Mysql, .. }), "{error:?}");
            let live: i64 = comments::table.filter(comments::deleted_at.is_null()).count().get_result(conn)?;
            assert_eq!(live, 2);
            Ok(())
        }

        /// The engines read from the catalog are kept per process; after a migration moves a
        /// table to an engine without transactions, `forget_catalog` makes the next archive read
        /// them again, and refuse.
        fn forget_catalog_makes_the_next_archive_read_the_engines_again(db, x) {
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            conn.batch_execute(
                "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL,
                     parent_id INTEGER NULL, deleted_at DATETIME(6) NULL) ENGINE = InnoDB;
                 INSERT INTO comments (id, post_id, parent_id) VALUES (1, 1, NULL), (2, 1, NULL);",
            )?;
            assert_eq!(x.archive(conn, &Collector::new(comments::table.find(1)))?.plan().archived("comments"), 1);

            conn.batch_execute("ALTER TABLE comments ENGINE = MyISAM")?;
            soft_delete_runtime::collector::forget_catalog();
            let error = x.archive(conn, &Collector::new(comments::table.find(2))).unwrap_err();
            assert!(matches!(error, Error::Unsupported { dialect: Dialect::Mysql, .. }), "{error:?}");
            let live: i64 = comments::table.filter(comments::deleted_at.is_null()).count().get_result(conn)?;
            assert_eq!(live, 1);
            Ok(())
        }

        /// A text key in a collation other than the connection's (`utf8mb4_general_ci`, which
        /// Diesel's `SET character_set_connection` gives) is compared with the values the
        /// batches bind without an "illegal mix of collations".
        fn a_text_key_in_another_collation_is_purged(db, x) {
            create(db);
            let conn = db.conn();
            conn.batch_execute(&format!(
                "ALTER TABLE codes MODIFY code VARCHAR(20) CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci NOT NULL;
                 INSERT INTO codes (code, deleted_at) VALUES ('b', '{old}'), ('a', '{old}'), ('c', NULL), ('d', '{old}');",
                old = sql_time(old()),
            ))?;

            let report = x.purge(conn, &mut Purge::before(codes::table, cutoff()).batch_size(2))?;

            assert_eq!((report.deleted(), report.batches), (3, 2), "{report}");
            assert_eq!(codes::table.select(codes::code).with_deleted().load::<String>(conn)?, ["c"]);
            Ok(())
        }

        /// A foreign key from a table in another database, which the plan does not read (a
        /// search of every database would open every table of the server): the batch it
        /// refuses reads the keys into the table from the other databases and runs again, so
        /// the row it references is kept and reported, not the purge failed.
        fn a_foreign_key_from_another_database_keeps_its_rows(db, x) {
            create(db);
            let conn = db.conn();
            let own: String = diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                "CONVERT(DATABASE() USING utf8mb4)",
            ))
            .get_result(conn)?;
            let other = format!("{own}_x");
            conn.batch_execute(&format!(
                "CREATE DATABASE `{other}`;
                 CREATE TABLE `{other}`.fans (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL,
                     FOREIGN KEY (author_id) REFERENCES `{own}`.authors (id)) ENGINE = InnoDB;
                 INSERT INTO authors (id, name, deleted_at) VALUES (1, 'followed', '{old}'), (2, 'alone', '{old}');
                 INSERT INTO `{other}`.fans (id, author_id) VALUES (1, 1);",
                old = sql_time(old()),
            ))?;

            let outcome = x.purge(conn, &mut Purge::before(authors::table, cutoff()));
            conn.batch_execute(&format!("DROP DATABASE `{other}`"))?;
            let report = outcome?;

            assert_eq!((report.deleted_from("authors"), report.kept_in("authors")), (1, 1), "{report}");
            let fans = report.skipped.iter().find(|s| s.referenced_by.name == "fans").expect("kept by fans");
            assert_eq!(fans.referenced_by.schema.as_deref(), Some(other.as_str()));
            assert_eq!((fans.referrer, fans.ids.clone()), (Referrer::Row, vec![RowId::from_text("1")]));
            Ok(())
        }

        /// A `TIMESTAMP` stamp is an instant (archives write it in UTC): the purge compares it
        /// with the cutoff as an instant, whatever the session's time zone, and leaves the
        /// session its zone.
        fn a_timestamp_stamp_is_compared_with_the_cutoff_in_any_session_zone(db) {
            let conn = db.conn();
            conn.batch_execute(
                "CREATE TABLE comments (id INTEGER PRIMARY KEY, post_id INTEGER NOT NULL,
                     parent_id INTEGER NULL, deleted_at TIMESTAMP(6) NULL);
                 SET time_zone = '+00:00';
                 INSERT INTO comments (id, post_id, deleted_at)
                     VALUES (1, 1, '2024-05-31 22:00:00'), (2, 1, '2024-06-01 02:00:00');",
            )?;
            let ids = |conn: &mut MysqlConnection| -> QueryResult<Vec<i32>> {
                comments::table.select(comments::id).order(comments::id).with_deleted().load(conn)
            };
            let zone = |conn: &mut MysqlConnection| -> QueryResult<String> {
                diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
                    "CONVERT(@@session.time_zone USING utf8mb4)",
                ))
                .get_result(conn)
            };

            // East of UTC comment 1, deleted two hours before the cutoff (midnight UTC), reads
            // 03:00 on the cutoff's day; it is purged all the same.
            conn.batch_execute("SET time_zone = '+05:00'")?;
            // The estimate a progress callback gets compares in UTC too: one row, not two.
            let mut estimated = Vec::new();
            let report = Purge::before(comments::table, cutoff())
                .on_progress(|progress| estimated.push(progress.estimated))
                .run(conn)?;
            assert_eq!(ids(conn)?, [2], "{report}");
            assert_eq!(zone(conn)?, "+05:00");
            assert!(!estimated.is_empty() && estimated.iter().all(|n| *n == 1), "{estimated:?}");

            // West of UTC comment 2, deleted two hours after the cutoff, reads 21:00 the day
            // before; it is kept.
            conn.batch_execute("SET time_zone = '-05:00'")?;
            let report = Purge::before(comments::table, cutoff()).dry_run(conn)?;
            assert_eq!(report.deleted_from("comments"), 0, "{report}");
            let report = Purge::before(comments::table, cutoff()).run(conn)?;
            assert_eq!(ids(conn)?, [2], "{report}");
            assert_eq!(zone(conn)?, "-05:00");
            Ok(())
        }
    }
}

/// A purge future dropped while a batch waits for a row lock (a request timeout): the batch's
/// transaction does not stay open on the pooled connection, nothing of the batch stays, and
/// the pool's one connection serves the purge run again to its end.
#[cfg(feature = "async")]
macro_rules! cancelled_purge_test {
    ($feature:literal, $module:ident, $conn:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use std::time::Duration as Wait;

            use super::*;
            use soft_delete_tests::asynchronous;

            type Conn = $conn;

            #[test]
            fn a_cancelled_purge_leaves_no_transaction_open_on_a_pooled_connection() {
                soft_delete_tests::run::<Conn>(
                    concat!(module_path!(), "::a_cancelled_purge"),
                    |db| {
                        asynchronous::runtime().block_on(async {
                            create(db);
                            let conn = db.conn();
                            insert_authors!(&mut *conn, 1..=20, old());
                            let pool = diesel_async::pooled_connection::deadpool::Pool::builder(
                                asynchronous::guarded_manager(db),
                            )
                            .max_size(1)
                            .build()?;

                            // Another connection holds a lock on a row the first batch deletes.
                            let mut holder = db.connect();
                            holder.batch_execute("BEGIN")?;
                            soft_delete_runtime::guard::allow(|| {
                                holder
                                    .batch_execute("SELECT id FROM authors WHERE id = 5 FOR UPDATE")
                            })?;

                            let mut pooled = pool.get().await?;
                            let mut purge = Purge::before(authors::table, cutoff());
                            let waited = tokio::time::timeout(
                                Wait::from_millis(500),
                                purge.run_async(&mut pooled),
                            )
                            .await;
                            assert!(waited.is_err(), "the batch waits for the lock: {waited:?}");
                            drop(pooled);
                            holder.batch_execute("ROLLBACK")?;

                            // Nothing of the cancelled batch stays.
                            assert_eq!(
                                authors::table
                                    .with_deleted()
                                    .count()
                                    .get_result::<i64>(db.conn())?,
                                20
                            );
                            // The pool hands out a connection outside any transaction, and the
                            // purge runs on it to its end.
                            let mut pooled = tokio::time::timeout(Wait::from_secs(10), pool.get())
                                .await
                                .expect("the pool hands out a connection")?;
                            let report = purge.run_async(&mut pooled).await?;
                            assert_eq!(report.deleted(), 20);
                            drop(pooled);
                            assert_eq!(
                                authors::table
                                    .with_deleted()
                                    .count()
                                    .get_result::<i64>(db.conn())?,
                                0
                            );
                            Ok(())
                        })
                    },
                );
            }
        }
    };
}

#[cfg(feature = "async")]
cancelled_purge_test!("postgres", postgres_cancelled, diesel::PgConnection);
#[cfg(feature = "async")]
cancelled_purge_test!("mysql", mysql_cancelled, diesel::MysqlConnection);
