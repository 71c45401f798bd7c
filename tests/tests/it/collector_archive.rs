//! Cascade archive: every rule, three levels deep, protect at the root and below it,
//! cycles, the plan as data and as a tree, and a failure injected mid-archive.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::TableName;
use soft_delete_runtime::collector::{Collector, Repeat, Rule};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{Error, RowId};
use soft_delete_tests::exec::{leak, Exec};
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, verb, Backend};

use crate::collector_schema::*;
use crate::shop_dump;

/// Whether `sql` writes (ignoring transaction control).
fn writes(sql: &str) -> bool {
    matches!(verb(sql).as_str(), "UPDATE" | "INSERT" | "DELETE")
}

/// The ids of the rows of `$table` that `$filter` selects, in order.
macro_rules! ids_where {
    ($conn:expr, $table:ident, $filter:expr) => {
        // Rows of every state, or of a table without soft delete: the filter says which.
        soft_delete_runtime::guard::allow(|| {
            $table::table
                .filter($filter)
                .select($table::id)
                .order($table::id)
                .load::<i32>($conn)
        })?
    };
}

backend_tests! {
    fn archive_applies_every_rule_three_levels_deep(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let ann: &Member = leak(members::table.find(2).with_deleted().first(conn)?);
        let archived = x.archive(conn, &Collector::new(ann))?;
        let plan = archived.plan();
        let stamp = Stamp::from(archived.batch().stamp());

        // cascade: the root, and three levels below it
        assert_eq!(plan.archived("members"), 1);
        assert_eq!(ids_where!(conn, members, members::deleted_at.eq(stamp)), [2]);
        assert_eq!(plan.archived("orders"), 3);
        assert_eq!(ids_where!(conn, orders, orders::deleted.and(orders::deleted_at.eq(stamp))), [1, 2, 5]);
        assert_eq!(plan.archived("order_items"), 4);
        assert_eq!(
            ids_where!(conn, order_items, order_items::archive_batch.eq(archived.batch().id())),
            [1, 2, 3, 6]
        );
        assert_eq!(ids_where!(conn, order_items, order_items::active.eq(false)), [1, 2, 3, 6]);
        assert_eq!(plan.archived("item_events"), 3);
        assert_eq!(ids_where!(conn, item_events, item_events::deleted_at.eq(stamp)), [1, 2, 4]);
        // nothing else was touched: bob's and cat's trees are live
        assert_eq!(ids_where!(conn, orders, orders::deleted.eq(false)), [3, 4]);
        assert_eq!(ids_where!(conn, order_items, order_items::active.eq(true)), [4, 5]);
        assert_eq!(ids_where!(conn, item_events, item_events::deleted_at.is_null()), [3]);

        // set_null: ann's reviews lost their author, the others kept theirs
        assert_eq!(plan.nulled("reviews", "author_id"), 2);
        let authors: Vec<(i32, Option<i32>)> =
            reviews::table.select((reviews::id, reviews::author_id)).order(reviews::id).load(conn)?;
        assert_eq!(authors, [(1, None), (2, None), (3, Some(3)), (4, None)]);

        // set_default: ann's badge went to the column default, member 1
        assert_eq!(plan.defaulted("badges", "member_id"), 1);
        let holders: Vec<i32> = badges::table.select(badges::member_id).order(badges::id).load(conn)?;
        assert_eq!(holders, [1, 3, 1]);

        // cascade(hard_delete): ann's sessions are gone for good
        assert_eq!(plan.deleted("sessions"), 2);
        assert_eq!(ids_where!(conn, sessions, sessions::id.gt(0)), [3]);

        // do_nothing: ann's audit entry is as it was
        assert_eq!(ids_where!(conn, audit_log, audit_log::member_id.eq(2)), [1]);

        // protect: payment 2 of order 2 was already archived, so it does not protect
        assert!(!plan.is_blocked());
        assert_eq!(plan.total_archived(), 1 + 3 + 4 + 3 + 5);
        Ok(())
    }

    fn an_archive_reads_the_session_once(db, x) {
        seed(db)?;
        create_journal(db);
        let backend = db.backend();
        let conn = db.conn();
        let statements = x.record_statements(conn);
        let archived = x.archive(conn, &Collector::new(orders::table.find(3)))?;
        assert_eq!(archived.plan().archived("orders"), 1);
        let statements = statements.lock().expect("not poisoned").clone();
        let count = |needle: &str| statements.iter().filter(|sql| sql.contains(needle)).count();
        if backend == Backend::Mysql {
            // One `SELECT` of session variables gives the catalog's key and the time zone.
            assert_eq!(count("@@"), 1, "{statements:#?}");
        }
        Ok(())
    }

    fn on_mariadb_a_held_stamp_does_not_make_an_archive_wait(db, x) {
        seed(db)?;
        create_journal(db);
        let backend = db.backend();
        let mut holder = db.connect();
        let conn = db.conn();
        if backend != Backend::Mysql
            || !x.select_text(conn, "CONVERT(@@version USING utf8mb4)")?.contains("MariaDB")
        {
            return Ok(());
        }
        // Another transaction locks every stamp the log could take (the range scan's next-key
        // locks reach the end of the index), as an uncommitted archive holds its own stamp.
        let live_orders = orders::table.active().count().get_result::<i64>(conn)?;
        holder.batch_execute(
            "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; BEGIN; \
             SELECT id FROM soft_delete_archive_log WHERE archived_at > '2000-01-01' FOR UPDATE",
        )?;
        // Were the log's insert to wait, it would fail after 3 s with a lock wait timeout.
        x.batch_execute(conn, "SET SESSION innodb_lock_wait_timeout = 3")?;
        let started = std::time::Instant::now();
        let error = x
            .archive(conn, &Collector::new(orders::table.find(3)))
            .expect_err("every stamp is held");
        assert!(matches!(error, Error::StampsTaken { .. }), "{error:?}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "{:?}", started.elapsed());
        holder.batch_execute("ROLLBACK")?;
        assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, live_orders);
        Ok(())
    }

    fn a_self_referencing_cascade_archives_every_reply_once(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(members::table.find(2)))?;
        // ann's comments 1 and 6, and the replies under 1 at every depth: 2, 3, 4.
        // Bob's comment 5 (which ann replied to) stays.
        assert_eq!(archived.plan().archived("comments"), 5);
        let stamp = Stamp::from(archived.batch().stamp());
        assert_eq!(ids_where!(conn, comments, comments::deleted_at.eq(stamp)), [1, 2, 3, 4, 6]);
        assert_eq!(ids_where!(conn, comments, comments::deleted_at.is_null()), [5]);

        let replies = archived
            .plan()
            .steps()
            .iter()
            .find(|s| s.child.name == "comments" && s.column == "parent_id")
            .expect("the reply edge is in the plan");
        assert_eq!((replies.rows, replies.repeat), (3, Some(Repeat::Cycle)));
        Ok(())
    }

    fn protect_at_the_root_refuses_before_anything_changes(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let before = shop_dump!(&mut *conn);
        let bob: &Member = leak(members::table.find(3).with_deleted().first(conn)?);
        let statements = x.record_statements(conn);
        let error = x.archive(conn, &Collector::new(bob)).expect_err("invoice 1 protects bob");
        // the roots' own protect edges are checked against the roots the archive marked (the
        // roots query runs once, `random_roots`), then everything is rolled back
        let statements = statements.lock().expect("not poisoned").clone();
        assert!(statements.iter().any(|sql| sql.contains("invoices")), "{statements:#?}");
        let Error::Protected { blockers } = &error else {
            panic!("expected Error::Protected, got {error:?}");
        };
        assert_eq!(blockers.len(), 1);
        assert_eq!(blockers[0].table.name, "invoices");
        assert_eq!(blockers[0].parent.name, "members");
        assert_eq!(blockers[0].column, "member_id");
        assert_eq!((blockers[0].count, blockers[0].ids.clone()), (1, vec![RowId::from_text("1")]));
        assert_eq!(
            error.to_string(),
            "archive refused: 1 live row protects it: 1 live row of `invoices` (by `member_id`): 1"
        );
        assert_eq!(shop_dump!(&mut *conn), before);
        Ok(())
    }

    fn protect_at_the_second_level_rolls_back_the_first(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        // two more live payments on cat's order, and one more order of cat with one
        conn.batch_execute(
            "INSERT INTO orders (id, member_id, code) VALUES (6, 4, 'C-2');
             INSERT INTO payments (id, order_id, amount) VALUES (3, 4, 30), (4, 4, 40), (5, 6, 50)",
        )?;
        let before = shop_dump!(&mut *conn);
        let statements = x.record_statements(conn);
        let error = x
            .archive(conn, &Collector::new(members::table.find(4)).blocker_ids(2))
            .expect_err("payments protect cat's orders");
        // the walk stopped at the refused level: none of its children was written
        let statements = statements.lock().expect("not poisoned").clone();
        assert!(statements.iter().any(|sql| writes(sql) && sql.contains("orders")), "{statements:#?}");
        assert!(
            !statements.iter().any(|sql| writes(sql) && (sql.contains("order_items") || sql.contains("item_events"))),
            "{statements:#?}"
        );
        let Error::Protected { blockers } = &error else {
            panic!("expected Error::Protected, got {error:?}");
        };
        assert_eq!(blockers.len(), 1);
        assert_eq!((blockers[0].parent.name.as_str(), blockers[0].table.name.as_str()), ("orders", "payments"));
        // the count is exact, the ids capped
        assert_eq!(blockers[0].count, 4);
        assert_eq!(blockers[0].ids, ["1", "3"]);
        // cat, her orders, her reviews... nothing was written
        assert_eq!(shop_dump!(&mut *conn), before);
        Ok(())
    }

    fn a_failure_on_the_last_edge_leaves_every_table_as_it_was(db, x) {
        seed(db)?;
        create_journal(db);
        let trigger = match db.backend() {
            Backend::Sqlite => "CREATE TRIGGER item_events_fail BEFORE UPDATE ON item_events \
                                BEGIN SELECT RAISE(ABORT, 'injected failure'); END;",
            Backend::Postgres => "CREATE FUNCTION injected_failure() RETURNS trigger AS $$ \
                                  BEGIN RAISE EXCEPTION 'injected failure'; END $$ LANGUAGE plpgsql; \
                                  CREATE TRIGGER item_events_fail BEFORE UPDATE ON item_events \
                                  FOR EACH ROW EXECUTE FUNCTION injected_failure();",
            Backend::Mysql => "CREATE TRIGGER item_events_fail BEFORE UPDATE ON item_events FOR EACH ROW \
                               SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'injected failure'",
        };
        db.conn().batch_execute(trigger)?;
        let conn = db.conn();
        let before = shop_dump!(&mut *conn);
        let journal_before: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT COUNT(*) FROM soft_delete_journal",
        )
        .get_result(conn)?;

        let error = x.archive(conn, &Collector::new(members::table.find(2)))
            .expect_err("the trigger fails the update of item_events");
        assert!(error.to_string().contains("injected failure"), "{error}");

        // members, orders, items, comments, reviews, badges, sessions: all as before
        assert_eq!(shop_dump!(&mut *conn), before);
        let journal_after: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
            "SELECT COUNT(*) FROM soft_delete_journal",
        )
        .get_result(conn)?;
        assert_eq!(journal_after, journal_before);
        Ok(())
    }

    fn preview_is_the_plan_of_the_archive_and_changes_nothing(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let before = shop_dump!(&mut *conn);
        let collector = Collector::new(members::table.find(2));
        let preview = x.preview(conn, &collector)?;
        assert_eq!(shop_dump!(&mut *conn), before);

        let archived = x.archive(conn, &collector)?;
        assert_eq!(&preview, archived.plan());
        assert_eq!(
            preview.counts(),
            vec![
                (TableName::of::<members::table>(), Rule::Cascade, 1),
                (TableName::of::<orders::table>(), Rule::Cascade, 3),
                (TableName::of::<order_items::table>(), Rule::Cascade, 4),
                (TableName::of::<item_events::table>(), Rule::Cascade, 3),
                (TableName::of::<comments::table>(), Rule::Cascade, 5),
                (TableName::of::<reviews::table>(), Rule::SetNull, 2),
                (TableName::of::<badges::table>(), Rule::SetDefault, 1),
                (TableName::of::<sessions::table>(), Rule::HardDelete, 2),
            ]
        );
        Ok(())
    }

    fn a_refused_preview_lists_the_blockers_as_data(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let plan = x.preview(conn, &Collector::new(members::table.find(3)))?;
        assert!(plan.is_blocked());
        assert_eq!(plan.blockers().len(), 1);
        assert_eq!(plan.blockers()[0].ids, ["1"]);
        // the rest of the plan is still worked out: bob's order, item and event
        assert_eq!((plan.archived("orders"), plan.archived("order_items"), plan.archived("item_events")), (1, 1, 1));
        assert_eq!(members::table.active().count().get_result::<i64>(conn)?, 4);
        Ok(())
    }

    fn the_plan_prints_as_a_tree(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let plan = x.preview(conn, &Collector::new(members::table.find(2)))?;
        assert_eq!(
            plan.to_string(),
            "archive 1 row of `members`
├── `orders`.`member_id` cascade: 3 rows archived
│   ├── `order_items`.`order_id` cascade: 4 rows archived
│   │   └── `item_events`.`item_id` cascade: 3 rows archived
│   └── `payments`.`order_id` protect: no live rows
├── `comments`.`author_id` cascade: 2 rows archived
│   └── `comments`.`parent_id` cascade: 3 rows archived (cycle back to `comments`, every level counted)
├── `reviews`.`author_id` set_null: 2 links cut
├── `badges`.`member_id` set_default: 1 link reset to the default
├── `invoices`.`member_id` protect: no live rows
├── `sessions`.`member_id` cascade(hard_delete): 2 rows deleted for good
└── `audit_log`.`member_id` do_nothing: left as they are
16 rows archived in all"
        );

        let refused = x.preview(conn, &Collector::new(members::table.find(3)))?;
        let text = refused.to_string();
        assert!(text.contains("├── `invoices`.`member_id` protect: 1 live row refuses: 1\n"), "{text}");
        assert!(text.ends_with("refused: 1 live row protects what this archive would hide"), "{text}");
        Ok(())
    }

    fn roots_can_be_any_query_selecting_keys(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        // every member whose name starts with `a` or `g`
        let roots = members::table
            .filter(members::name.like("a%").or(members::name.like("g%")))
            .select(members::id)
            .active();
        let archived = x.archive(conn, &Collector::<members::table, _>::from_query(roots))?;
        assert_eq!(archived.plan().archived("members"), 2);
        assert_eq!(ids_where!(conn, members, members::deleted_at.is_null()), [3, 4]);
        // the ghost's badge pointed at the ghost: reset to the default, which is the ghost
        let holders: Vec<i32> = badges::table.select(badges::member_id).order(badges::id).load(conn)?;
        assert_eq!(holders, [1, 3, 1]);
        Ok(())
    }

    fn roots_can_be_an_ordered_query_with_a_limit(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        // The first two members by name, ann and bob (MariaDB refuses a LIMIT inside `IN (...)`
        // unless the query is a derived table).
        let first_two = || members::table.active().order(members::name.asc()).limit(2).select(members::id);
        // bob's invoice refuses, found against exactly those roots
        let error = x.archive(conn, &Collector::<members::table, _>::from_query(first_two()))
            .expect_err("invoice 1 protects bob");
        let Error::Protected { blockers } = &error else {
            panic!("expected Error::Protected, got {error:?}");
        };
        assert_eq!((blockers[0].table.name.as_str(), blockers[0].ids.clone()), ("invoices", vec![RowId::from_text("1")]));
        assert_eq!(ids_where!(conn, members, members::deleted_at.is_null()), [1, 2, 3, 4]);

        // settled: ann and bob are archived, with their subtrees
        conn.batch_execute("DELETE FROM invoices")?;
        let archived = x.archive(conn, &Collector::<members::table, _>::from_query(first_two()))?;
        assert_eq!(archived.plan().archived("members"), 2);
        assert_eq!(archived.plan().archived("orders"), 4);
        assert_eq!(ids_where!(conn, members, members::deleted_at.is_null()), [1, 4]);
        Ok(())
    }

    fn archived_roots_and_missing_roots_archive_nothing(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let first = x.archive(conn, &Collector::new(orders::table.find(1)))?;
        assert_eq!((first.plan().archived("orders"), first.plan().archived("order_items")), (1, 2));
        // again: the order is archived already, so nothing is
        let again = x.archive(conn, &Collector::new(orders::table.find(1)))?;
        assert_eq!(again.plan().total_archived(), 0);
        assert!(again.plan().steps().iter().all(|s| s.rows == 0));
        let none = x.archive(conn, &Collector::new(orders::table.find(99)))?;
        assert_eq!(none.plan().total_archived(), 0);
        Ok(())
    }
}

/// Teams and players reference each other: `teams.captain_id` and `players.team_id`.
mod mutual {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;

    diesel::table! {
        teams (id) {
            id -> Integer,
            captain_id -> Nullable<Integer>,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        players (id) {
            id -> Integer,
            team_id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    #[soft_delete(children(players::team_id = cascade))]
    struct Team {
        id: i32,
        captain_id: Option<i32>,
        deleted_at: Option<Stamp>,
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    #[soft_delete(children(teams::captain_id = cascade))]
    struct Player {
        id: i32,
        team_id: i32,
        deleted_at: Option<Stamp>,
    }

    backend_tests! {
        fn mutual_references_terminate_and_archive_each_row_once(db, x) {
            db.create(
                "CREATE TABLE teams (id {pk}, captain_id {int} NULL, deleted_at {ts} NULL);
                 CREATE TABLE players (id {pk}, team_id {int} NOT NULL, deleted_at {ts} NULL);",
            );
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            // team 1's player 2 captains team 2, whose player 3 captains team 1 (a loop)
            // and team 3, whose players are 4 and 5. Team 4 and player 6 are unrelated.
            conn.batch_execute(
                "INSERT INTO teams (id, captain_id) VALUES (1, 3), (2, 2), (3, 3), (4, 6);
                 INSERT INTO players (id, team_id) VALUES (1, 1), (2, 1), (3, 2), (4, 3), (5, 3), (6, 4);",
            )?;
            let archived = x.archive(conn, &Collector::new(teams::table.find(1)))?;
            let plan = archived.plan();
            assert_eq!(plan.archived("teams"), 3);
            assert_eq!(plan.archived("players"), 5);
            let stamp = Stamp::from(archived.batch().stamp());
            let teams: Vec<i32> = teams::table.filter(teams::deleted_at.eq(stamp)).select(teams::id).order(teams::id).load(conn)?;
            let players: Vec<i32> = players::table.filter(players::deleted_at.eq(stamp)).select(players::id).order(players::id).load(conn)?;
            assert_eq!((teams, players), (vec![1, 2, 3], vec![1, 2, 3, 4, 5]));
            assert_eq!(teams::table.active().count().get_result::<i64>(conn)?, 1);

            let restored = x.restore(conn, archived.batch())?;
            assert_eq!(restored.total_rows(), 8);
            assert_eq!(players::table.active().count().get_result::<i64>(conn)?, 6);
            Ok(())
        }
    }
}

/// Categories protect their parent while they are live: a self-referencing `protect`.
mod self_protect {
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;

    diesel::table! {
        categories (id) {
            id -> Integer,
            parent_id -> Nullable<Integer>,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    #[allow(dead_code)] // the model is here for its derive
    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = categories)]
    #[soft_delete(children(categories::parent_id = protect))]
    struct Category {
        id: i32,
        parent_id: Option<i32>,
        deleted_at: Option<Stamp>,
    }

    backend_tests! {
        fn a_root_is_not_protected_by_a_root_archived_with_it(db, x) {
            db.create(
                "CREATE TABLE categories (id {pk}, parent_id {int} NULL, deleted_at {ts} NULL);
                 INSERT INTO categories (id, parent_id) VALUES (1, NULL), (2, 1), (3, 2);",
            );
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            // 1 alone: its live child 2 refuses
            let error = x.archive(conn, &Collector::new(categories::table.find(1))).expect_err("2 protects 1");
            let Error::Protected { blockers } = &error else {
                panic!("expected Error::Protected, got {error:?}");
            };
            assert_eq!(blockers[0].ids, ["2"]);
            // 1 and 2 together: 2 goes with 1, and 3 still refuses (for 2)
            let both = categories::table.filter(categories::id.le(2)).select(categories::id).active();
            let error = x.archive(conn, &Collector::<categories::table, _>::from_query(both)).expect_err("3 protects 2");
            let Error::Protected { blockers } = &error else {
                panic!("expected Error::Protected, got {error:?}");
            };
            assert_eq!((blockers[0].count, blockers[0].ids.clone()), (1, vec![soft_delete_runtime::RowId::from_text("3")]));
            // the same roots as an ordered query with a limit
            let first_two = categories::table.active().order(categories::id.asc()).limit(2).select(categories::id);
            let error = x.archive(conn, &Collector::<categories::table, _>::from_query(first_two)).expect_err("3 protects 2");
            let Error::Protected { blockers } = &error else {
                panic!("expected Error::Protected, got {error:?}");
            };
            assert_eq!((blockers[0].count, blockers[0].ids.clone()), (1, vec![soft_delete_runtime::RowId::from_text("3")]));
            // the last one by id: a leaf, nothing refuses
            let last = categories::table.active().order(categories::id.desc()).limit(1).select(categories::id);
            let archived = x.archive(conn, &Collector::<categories::table, _>::from_query(last))?;
            assert_eq!(archived.plan().archived("categories"), 1);
            assert_eq!(categories::table.only_deleted().select(categories::id).load::<i32>(conn)?, [3]);
            // the whole chain: nothing left to refuse
            let archived = x.archive(conn, &Collector::new(categories::table))?;
            assert_eq!(archived.plan().archived("categories"), 2);
            Ok(())
        }
    }
}

/// Deletion times kept to fewer than six fractional digits (MySQL/MariaDB `DATETIME`,
/// PostgreSQL `timestamp(0)`) cannot hold a batch's microsecond stamp, so a table that
/// identifies its batch by that stamp alone is refused before anything is written; a batch
/// column identifies it whatever the stamp's precision. SQLite keeps the text as written.
mod stamp_precision {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;
    use soft_delete_tests::{backend_tests, Backend};

    use super::writes;

    diesel::table! {
        folders (id) {
            id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        notes (id) {
            id -> Integer,
            folder_id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        tags (id) {
            id -> Integer,
            folder_id -> Integer,
            deleted -> Bool,
            deleted_at -> Nullable<Timestamp>,
            archive_batch -> Nullable<BigInt>,
        }
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    #[soft_delete(children(notes::folder_id = cascade, tags::folder_id = cascade))]
    struct Folder {
        id: i32,
        deleted_at: Option<Stamp>,
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    struct Note {
        id: i32,
        folder_id: i32,
        deleted_at: Option<Stamp>,
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    struct Tag {
        id: i32,
        folder_id: i32,
        #[soft_delete(marker = deleted)]
        deleted: bool,
        deleted_at: Option<Stamp>,
        #[soft_delete(batch)]
        archive_batch: Option<i64>,
    }

    /// A timestamp column keeping `digits` fractional digits on `backend`.
    fn timestamp(backend: Backend, digits: u32) -> String {
        match backend {
            Backend::Sqlite => "TIMESTAMP".to_owned(),
            Backend::Postgres => format!("TIMESTAMP({digits})"),
            Backend::Mysql => format!("DATETIME({digits})"),
        }
    }

    /// The tables, with the deletion times of folders, notes and tags of the given types.
    fn ddl(folders: &str, notes: &str, tags: &str) -> String {
        format!(
            "CREATE TABLE folders (id {{pk}}, deleted_at {folders} NULL);
             CREATE TABLE notes (id {{pk}}, folder_id {{int}} NOT NULL, deleted_at {notes} NULL);
             CREATE TABLE tags (id {{pk}}, folder_id {{int}} NOT NULL, deleted {{bool}} NOT NULL DEFAULT FALSE,
               deleted_at {tags} NULL, archive_batch BIGINT NULL);
             INSERT INTO folders (id) VALUES (1), (2);
             INSERT INTO notes (id, folder_id) VALUES (1, 1), (2, 1), (3, 2);
             INSERT INTO tags (id, folder_id) VALUES (1, 1), (2, 2);"
        )
    }

    backend_tests! {
        fn a_child_stamped_to_the_second_is_refused_before_anything_is_written(db, x) {
            let backend = db.backend();
            db.create(&ddl("{ts}", &timestamp(backend, 0), "{ts}"));
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let statements = x.record_statements(conn);
            let result = x.archive(conn, &Collector::new(folders::table.find(1)));
            if backend == Backend::Sqlite {
                // Text keeps every digit: nothing to refuse.
                assert_eq!(result?.plan().archived("notes"), 2);
                return Ok(());
            }
            let error = result.expect_err("notes keep whole seconds");
            let Error::StampPrecision { table, column, precision } = &error else {
                panic!("expected Error::StampPrecision, got {error:?}");
            };
            assert_eq!((table.as_str(), *column, *precision), ("notes", "deleted_at", 0));
            assert!(error.to_string().contains("#[soft_delete(batch)]"), "{error}");
            let statements = statements.lock().expect("not poisoned").clone();
            assert!(!statements.iter().any(|sql| writes(sql)), "{statements:#?}");
            let counts = (
                folders::table.active().count().get_result::<i64>(conn)?,
                notes::table.active().count().get_result::<i64>(conn)?,
                tags::table.active().count().get_result::<i64>(conn)?,
            );
            assert_eq!(counts, (2, 3, 2));
            Ok(())
        }

        fn a_root_stamped_to_the_millisecond_is_refused_too(db, x) {
            let backend = db.backend();
            db.create(&ddl(&timestamp(backend, 3), "{ts}", "{ts}"));
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let result = x.preview(conn, &Collector::new(folders::table.find(1)));
            if backend == Backend::Sqlite {
                assert_eq!(result?.archived("folders"), 1);
                return Ok(());
            }
            let error = result.expect_err("folders keep milliseconds");
            let Error::StampPrecision { table, precision, .. } = &error else {
                panic!("expected Error::StampPrecision, got {error:?}");
            };
            assert_eq!((table.as_str(), *precision), ("folders", 3));
            Ok(())
        }

        fn a_batch_column_identifies_the_batch_whatever_the_stamp_keeps(db, x) {
            let backend = db.backend();
            db.create(&ddl("{ts}", "{ts}", &timestamp(backend, 0)));
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let archived = x.archive(conn, &Collector::new(folders::table.find(1)))?;
            assert_eq!(archived.plan().archived("tags"), 1);
            let restored = x.restore(conn, archived.batch())?;
            assert_eq!((restored.rows_of("folders"), restored.rows_of("notes"), restored.rows_of("tags")), (1, 2, 1));
            assert_eq!(tags::table.active().count().get_result::<i64>(conn)?, 2);
            Ok(())
        }

        /// PostgreSQL's one statement reads no catalog: each table found by its stamp alone
        /// returns the stamp it stored, and the statement fails (nothing written) when one
        /// differs from the stamp written.
        fn a_one_statement_archive_reads_no_catalog(db, x) {
            let backend = db.backend();
            db.create(&ddl("{ts}", "{ts}", "{ts}"));
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let statements = x.record_statements(conn);
            let archived = x.archive(conn, &Collector::new(folders::table.find(1)))?;
            assert_eq!(archived.plan().archived("notes"), 2);
            if backend != Backend::Postgres {
                return Ok(());
            }
            // The async executor wraps it in a transaction of its own (`BEGIN`, `COMMIT`).
            let statements = statements.lock().expect("not poisoned").clone();
            let sent: Vec<&String> = statements.iter().filter(|sql| !matches!(sql.as_str(), "BEGIN" | "COMMIT")).collect();
            assert_eq!(sent.len(), 1, "{statements:#?}");
            assert!(!sent[0].contains("pg_attribute"), "{}", sent[0]);
            Ok(())
        }

        /// A table whose stamp column rounds, which the archive writes no row of: on
        /// PostgreSQL the statement checks the stamps it writes, so it has nothing to refuse;
        /// the walk (MySQL/MariaDB) reads the column's precision first and refuses.
        fn a_coarse_table_the_archive_writes_no_row_of(db, x) {
            let backend = db.backend();
            db.create(&ddl("{ts}", &timestamp(backend, 0), "{ts}"));
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            conn.batch_execute("INSERT INTO folders (id) VALUES (3)")?;
            let result = x.archive(conn, &Collector::new(folders::table.find(3)));
            if backend == Backend::Mysql {
                let error = result.expect_err("the walk reads the precision first");
                assert!(matches!(error, Error::StampPrecision { .. }), "{error:?}");
                return Ok(());
            }
            let archived = result?;
            assert_eq!((archived.plan().archived("folders"), archived.plan().archived("notes")), (1, 0));
            let restored = x.restore(conn, archived.batch())?;
            assert_eq!((restored.rows_of("folders"), restored.rows_of("notes")), (1, 0));
            let live = (
                folders::table.active().count().get_result::<i64>(conn)?,
                notes::table.active().count().get_result::<i64>(conn)?,
            );
            assert_eq!(live, (3, 3));
            Ok(())
        }

        /// MySQL/MariaDB keep the precision they read per process: a column made coarser by a
        /// migration after one archive must still refuse the next one, which would otherwise
        /// stamp rows it cannot find again (the notes of folder 2 hidden for good, with a log
        /// row that restores nothing).
        fn a_stamp_column_made_coarser_between_two_archives_refuses_the_next(db, x) {
            let backend = db.backend();
            db.create(&ddl("{ts}", "{ts}", "{ts}"));
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let first = x.archive(conn, &Collector::new(folders::table.find(1)))?;
            assert_eq!(first.plan().archived("notes"), 2);
            conn.batch_execute(match backend {
                Backend::Sqlite => "SELECT 1",
                Backend::Postgres => "ALTER TABLE notes ALTER COLUMN deleted_at TYPE TIMESTAMP(0)",
                Backend::Mysql => "ALTER TABLE notes MODIFY deleted_at DATETIME(0) NULL",
            })?;
            let result = x.archive(conn, &Collector::new(folders::table.find(2)));
            if backend == Backend::Sqlite {
                // Text keeps every digit: nothing to refuse.
                assert_eq!(result?.plan().archived("notes"), 1);
                return Ok(());
            }
            let error = result.expect_err("notes keep whole seconds now");
            let Error::StampPrecision { table, column, precision } = &error else {
                panic!("expected Error::StampPrecision, got {error:?}");
            };
            assert_eq!((table.as_str(), *column, *precision), ("notes", "deleted_at", 0));
            // Rolled back: folder 2 and its note are live, and the log has the first archive alone.
            let live = (
                folders::table.active().count().get_result::<i64>(conn)?,
                notes::table.active().count().get_result::<i64>(conn)?,
            );
            assert_eq!(live, (1, 1));
            let logged: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "SELECT COUNT(*) FROM soft_delete_archive_log",
            )
            .get_result(conn)?;
            assert_eq!(logged, 1);
            // And the refusal is not a passing state: the next archive is refused up front.
            let again = x.archive(conn, &Collector::new(folders::table.find(2))).expect_err("still coarse");
            assert!(matches!(again, Error::StampPrecision { .. }), "{again:?}");
            Ok(())
        }
    }
}

/// A table whose rows an archive deletes for good through one edge (`cascade(hard_delete)`
/// from the root) and which protects a table deeper in the graph through another: a live row
/// there protects its parent as the preview says, whichever edge the walk reaches first.
mod deleted_protector {
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;

    diesel::table! {
        owners (id) {
            id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        devices (id) {
            id -> Integer,
            owner_id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        logins (id) {
            id -> Integer,
            owner_id -> Integer,
            device_id -> Integer,
        }
    }

    #[derive(Queryable, Identifiable, SoftDelete)]
    #[soft_delete(children(devices::owner_id = cascade, logins::owner_id = cascade(hard_delete)))]
    #[allow(dead_code)]
    struct Owner {
        id: i32,
        deleted_at: Option<Stamp>,
    }

    #[derive(Queryable, Identifiable, SoftDelete)]
    #[soft_delete(children(logins::device_id = protect))]
    #[allow(dead_code)]
    struct Device {
        id: i32,
        owner_id: i32,
        deleted_at: Option<Stamp>,
    }

    backend_tests! {
        fn a_row_the_archive_would_delete_for_good_still_protects_a_deeper_level(db, x) {
            db.create(
                "CREATE TABLE owners (id {pk}, deleted_at {ts} NULL);
                 CREATE TABLE devices (id {pk}, owner_id {int} NOT NULL, deleted_at {ts} NULL,
                   FOREIGN KEY (owner_id) REFERENCES owners (id));
                 CREATE TABLE logins (id {pk}, owner_id {int} NOT NULL, device_id {int} NOT NULL,
                   FOREIGN KEY (owner_id) REFERENCES owners (id), FOREIGN KEY (device_id) REFERENCES devices (id));
                 INSERT INTO owners (id) VALUES (1);
                 INSERT INTO devices (id, owner_id) VALUES (1, 1);
                 INSERT INTO logins (id, owner_id, device_id) VALUES (1, 1, 1);",
            );
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let preview = x.preview(conn, &Collector::new(owners::table.find(1)))?;
            assert!(preview.is_blocked(), "{preview}");

            let error = x
                .archive(conn, &Collector::new(owners::table.find(1)))
                .expect_err("login 1 protects device 1");
            let Error::Protected { blockers } = &error else {
                panic!("{error:?}");
            };
            assert_eq!(blockers, preview.blockers());
            // Nothing was written.
            assert_eq!(owners::table.active().count().get_result::<i64>(conn)?, 1);
            assert_eq!(devices::table.active().count().get_result::<i64>(conn)?, 1);
            assert_eq!(logins::table.count().get_result::<i64>(conn)?, 1);
            Ok(())
        }
    }
}

/// Roots chosen by a query whose answer can change between two runs (`order(random())`, or a
/// `limit` without `order` over a table PostgreSQL scans from where another scan is): the
/// `protect` check must look at the rows the archive hides, not at another pick of the same
/// query.
mod random_roots {
    use diesel::prelude::*;
    use diesel::sql_types::Double;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;
    use soft_delete_tests::{backend_tests, Backend};

    diesel::table! {
        folders (id) {
            id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        locks (id) {
            id -> Integer,
            folder_id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    #[derive(Queryable, Identifiable, SoftDelete)]
    #[soft_delete(children(locks::folder_id = protect))]
    #[allow(dead_code)]
    struct Folder {
        id: i32,
        deleted_at: Option<Stamp>,
    }

    #[derive(Queryable, Identifiable, SoftDelete)]
    #[allow(dead_code)]
    struct Lock {
        id: i32,
        folder_id: i32,
        deleted_at: Option<Stamp>,
    }

    backend_tests! {
        fn a_protected_root_is_never_archived_whichever_row_a_random_pick_returns(db, x) {
            db.create(
                "CREATE TABLE folders (id {pk}, deleted_at {ts} NULL);
                 CREATE TABLE locks (id {pk}, folder_id {int} NOT NULL, deleted_at {ts} NULL);
                 INSERT INTO folders (id) VALUES (1), (2), (3), (4);
                 INSERT INTO locks (id, folder_id) VALUES (1, 1);",
            );
            crate::collector_schema::create_archive_log(db);
            let random = match db.backend() {
                Backend::Mysql => "RAND()",
                Backend::Sqlite | Backend::Postgres => "random()",
            };
            let conn = db.conn();
            // Each archive picks one folder at random; folder 1 is locked (a live lock
            // protects it), so it is refused whenever it is the pick, and archived never.
            let (mut archived, mut refused) = (0, 0);
            for _ in 0..40 {
                let pick = folders::table
                    .active()
                    .select(folders::id)
                    .order(diesel::dsl::sql::<Double>(random))
                    .limit(1);
                match x.archive(conn, &Collector::<folders::table, ()>::from_query(pick)) {
                    Ok(done) => {
                        archived += 1;
                        let locked_live = folders::table.find(1).active().count().get_result::<i64>(conn)?;
                        assert_eq!(locked_live, 1, "the locked folder was archived: {:?}", done.plan());
                        x.restore(conn, done.batch())?;
                    }
                    Err(Error::Protected { blockers }) => {
                        refused += 1;
                        assert_eq!(blockers.len(), 1, "{blockers:?}");
                    }
                    Err(error) => return Err(error.into()),
                }
            }
            assert!(archived > 0 && refused > 0, "40 random picks: {archived} archived, {refused} refused");
            Ok(())
        }
    }
}
