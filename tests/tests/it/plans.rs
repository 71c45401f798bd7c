//! Plan tests: the statements the library sends use the indexes it documents, on every
//! backend.
//!
//! Each test seeds its tables with thousands of rows (the few rows a scenario touches among
//! them), creates the indexes the README asks for (foreign-key columns, the batch's stamp or
//! batch column), refreshes the planner's statistics, records every statement a scenario
//! sends, and explains each with its binds (see `soft_delete_tests::plans`): a full scan of
//! a large table fails the test, listing the statement and its plan.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::{ArchiveList, Collector};
use soft_delete_runtime::deferred::reassign;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;
use soft_delete_tests::exec::{Exec, FindIn, KeysIn, ReassignIn, RestoreIn};
use soft_delete_tests::plans::{Explain, PlanCheck, Recorded};
use soft_delete_tests::{backend_tests, TestDb, TestResult};

use crate::collector_schema::*;

/// The shop's tables, every one of them large.
const SHOP: &[&str] = &[
    "members",
    "orders",
    "order_items",
    "item_events",
    "payments",
    "comments",
    "reviews",
    "badges",
    "invoices",
    "sessions",
    "audit_log",
];

/// The indexes the README asks for: every declared edge's column, and the stamp or batch
/// column of every table an archive hides rows of.
pub(crate) const SHOP_INDEXES: &str = "
CREATE INDEX members_deleted_at ON members (deleted_at);
CREATE INDEX orders_member_id ON orders (member_id);
CREATE INDEX orders_deleted_at ON orders (deleted_at);
CREATE INDEX order_items_order_id ON order_items (order_id);
CREATE INDEX order_items_archive_batch ON order_items (archive_batch);
CREATE INDEX item_events_item_id ON item_events (item_id);
CREATE INDEX item_events_deleted_at ON item_events (deleted_at);
CREATE INDEX payments_order_id ON payments (order_id);
CREATE INDEX comments_author_id ON comments (author_id);
CREATE INDEX comments_parent_id ON comments (parent_id);
CREATE INDEX comments_deleted_at ON comments (deleted_at);
CREATE INDEX reviews_author_id ON reviews (author_id);
CREATE INDEX badges_member_id ON badges (member_id);
CREATE INDEX invoices_member_id ON invoices (member_id);
CREATE INDEX sessions_member_id ON sessions (member_id);
CREATE INDEX audit_log_member_id ON audit_log (member_id);
";

/// The purge test's large tables.
const PURGE_LARGE: &[&str] = &[
    "authors",
    "posts",
    "comments",
    "subscriptions",
    "tags",
    "teams",
    "players",
    "labels",
];

/// The indexes the README asks for, for the purge test: every edge's and foreign key's
/// column, and the deletion time of every table a purge reads by its cutoff.
const PURGE_INDEXES: &str = "
CREATE INDEX authors_deleted_at ON authors (deleted_at);
CREATE INDEX posts_author_id ON posts (author_id);
CREATE INDEX posts_deleted_at ON posts (deleted_at);
CREATE INDEX comments_post_id ON comments (post_id);
CREATE INDEX comments_parent_id ON comments (parent_id);
CREATE INDEX comments_deleted_at ON comments (deleted_at);
CREATE INDEX drafts_author_id ON drafts (author_id);
CREATE INDEX subscriptions_author_id ON subscriptions (author_id);
CREATE INDEX tags_author_id ON tags (author_id);
CREATE INDEX teams_deleted_at ON teams (deleted_at);
CREATE INDEX players_team_id ON players (team_id);
CREATE INDEX labels_target_id ON labels (target_id);
";

/// `x` from 0 to `10^4 * limit / 10 - 1` over a table of the digits: `FROM <DIGITS> WHERE
/// d.n < limit` gives `limit` thousands of rows.
const DIGITS: &str = "plan_digits AS a, plan_digits AS b, plan_digits AS c, plan_digits AS d";
const X: &str = "(a.n + 10 * b.n + 100 * c.n + 1000 * d.n)";

/// 2,000 more members (ids 1001 to 3000), each with two orders of two items (one event each,
/// an archived payment each), a thread of three comments, two reviews, two badges, two
/// sessions and two audit entries; members whose id ends in 1 have no invoice and no live
/// payment (the rest have both, which protect them).
fn seed_large<C: Explain>(db: &mut TestDb<C>) -> TestResult {
    // The indexes before the rows: on PostgreSQL an index built over rows updated while
    // another session's snapshot is open is not used by older snapshots (`indcheckxmin`).
    create_shop(db);
    db.create(SHOP_INDEXES);
    insert_shop_rows(db)?;
    create_journal(db);
    digits(db)?;
    let mut sql = String::new();
    sql += &thousands(2, "members (id, name)", "1001 + {x}, 'm'");
    sql += &thousands(
        4,
        "orders (id, member_id, code)",
        "1001 + {x}, 1001 + ({x} % 2000), 'o'",
    );
    sql += &thousands(
        8,
        "order_items (id, order_id, sku)",
        "1001 + {x}, 1001 + ({x} % 4000), 's'",
    );
    sql += &thousands(
        8,
        "item_events (id, item_id, kind)",
        "1001 + {x}, 1001 + {x}, 'k'",
    );
    // Payments are live (protecting their order) but for members whose id ends in 1.
    sql += &thousands(
        4,
        "payments (id, order_id, amount)",
        "1001 + {x}, 1001 + {x}, 1",
    );
    sql +=
        "UPDATE payments SET deleted_at = '2020-01-01 00:00:00' WHERE id > 1000 AND id % 10 = 1;\n";
    sql += &thousands(
        2,
        "comments (id, author_id, parent_id, body)",
        "1001 + {x}, 1001 + {x}, NULL, 'c'",
    );
    sql += &thousands(
        2,
        "comments (id, author_id, parent_id, body)",
        "3001 + {x}, 1001 + {x}, 1001 + {x}, 'c'",
    );
    sql += &thousands(
        2,
        "comments (id, author_id, parent_id, body)",
        "5001 + {x}, 1001 + {x}, 3001 + {x}, 'c'",
    );
    sql += &thousands(
        4,
        "reviews (id, author_id, body)",
        "1001 + {x}, 1001 + ({x} % 2000), 'r'",
    );
    sql += &thousands(
        4,
        "badges (id, member_id, title)",
        "1001 + {x}, 1001 + ({x} % 2000), 'b'",
    );
    sql += &format!(
        "INSERT INTO invoices (id, member_id, total) SELECT 1001 + {X}, 1001 + {X}, 1 FROM {DIGITS} WHERE d.n < 2 AND a.n <> 0;\n"
    );
    sql += &thousands(
        4,
        "sessions (id, member_id, token)",
        "1001 + {x}, 1001 + ({x} % 2000), 't'",
    );
    sql += &thousands(
        4,
        "audit_log (id, member_id, entry)",
        "1001 + {x}, 1001 + ({x} % 2000), 'e'",
    );
    db.conn().batch_execute(&sql)?;
    db.conn().analyze(SHOP)?;
    Ok(())
}

/// `INSERT INTO plan_digits`: the ten digits the seeds cross-join.
fn digits<C: Explain>(db: &mut TestDb<C>) -> TestResult {
    db.create("CREATE TABLE plan_digits (n {int} NOT NULL)");
    db.conn().batch_execute(
        "INSERT INTO plan_digits (n) VALUES (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)",
    )?;
    Ok(())
}

/// `INSERT INTO <insert> SELECT <select> FROM` `limit` thousand rows, `x` counting from 0.
fn thousands(limit: i32, insert: &str, select: &str) -> String {
    let select = select.replace("{x}", X);
    format!("INSERT INTO {insert} SELECT {select} FROM {DIGITS} WHERE d.n < {limit};\n")
}

/// The statements recorded so far, leaving the recording running.
fn taken(recorded: &std::sync::Arc<std::sync::Mutex<Vec<String>>>) -> Vec<String> {
    std::mem::take(&mut *recorded.lock().expect("not poisoned"))
}

backend_tests! {
    fn with_deleted_keeps_the_plan(db) {
        seed_large(db)?;
        let conn = db.conn();
        // The plan, as the planner's own text, of a query with and without the trace.
        fn plan<C: Explain>(conn: &mut C, debug: String) -> Result<String, String> {
            let sql = Recorded::parse(&debug)?.render(C::BACKEND)?;
            // The query without the trace states no visibility: that is the comparison.
            soft_delete_runtime::guard::allow(|| conn.explain(&sql)).map(|(text, _)| text)
        }
        type Db = <Conn as diesel::Connection>::Backend;
        let by_id = members::table.filter(members::id.eq(1011));
        let by_name = members::table.filter(members::name.eq("m1011")).order(members::id);
        let pairs = [
            (
                diesel::debug_query::<Db, _>(&by_id).to_string(),
                diesel::debug_query::<Db, _>(&by_id.with_deleted()).to_string(),
            ),
            (
                diesel::debug_query::<Db, _>(&by_name).to_string(),
                diesel::debug_query::<Db, _>(&by_name.with_deleted()).to_string(),
            ),
        ];
        for (plain, traced) in pairs {
            assert!(traced.contains("OR TRUE"), "{traced}");
            assert_eq!(plan(conn, plain.clone())?, plan(conn, traced.clone())?, "{plain}\n{traced}");
        }
        Ok(())
    }

    fn an_archive_and_its_restore_use_the_indexes(db, x) {
        seed_large(db)?;
        let conn = db.conn();
        let recorded = x.record_statements(conn);

        let report = x.check_schema::<members::table>(conn)?;
        assert!(report.is_clean(), "{report}");
        // Member 1011: two orders, four items, three comments in a thread, two reviews, two
        // badges, two sessions, two audit entries, no invoice: every rule.
        let archived = x.archive(conn, &Collector::new(members::table.find(1011)))?;
        assert_eq!(archived.plan().archived("order_items"), 4);
        assert_eq!(archived.plan().archived("comments"), 3);
        assert_eq!(archived.plan().deleted("sessions"), 2);
        // Refused by its invoice, at the root; and by a live payment, one level down.
        assert!(x.archive(conn, &Collector::new(members::table.find(1012))).is_err());
        conn.batch_execute("DELETE FROM invoices WHERE member_id = 1012")?;
        assert!(x.archive(conn, &Collector::new(members::table.find(1012))).is_err());
        // Several roots, from a query.
        let several = x.archive(
            conn,
            &Collector::<members::table, _>::from_query(
                members::table.filter(members::id.eq_any([1021, 1031])).select(members::id).active(),
            ),
        )?;
        assert_eq!(several.plan().roots(), 2);

        let entries = x.load_archives(conn, &ArchiveList::new().of::<members::table>().limit(10))?;
        assert_eq!(entries.len(), 2);
        let batch = x.find_batch::<members::table>(conn, archived.batch().id())?;
        let restored = x.restore(conn, batch)?;
        assert_eq!(restored.rows_of("order_items"), 4);
        assert_eq!(restored.links_of("reviews", "author_id"), 2);
        // The batch of several roots, found in the log by its id and restored.
        let entry = x.find_archive(conn, several.batch().id())?;
        assert_eq!(entry.roots(), 2);
        let batch = x.find_batch::<members::table>(conn, entry.id())?;
        let both = x.restore(conn, batch)?;
        assert_eq!(both.rows_of("members"), 2);

        let statements = taken(&recorded);
        let explained = PlanCheck::new(SHOP).assert(conn, &statements)?;
        assert!(explained > 30, "{explained} statements explained");
        Ok(())
    }

    fn a_preview_uses_the_indexes(db, x) {
        seed_large(db)?;
        let conn = db.conn();
        let recorded = x.record_statements(conn);

        let plan = x.preview(conn, &Collector::new(members::table.find(1011)))?;
        assert!(!plan.is_blocked(), "{plan}");
        assert_eq!(plan.archived("comments"), 3);
        let refused = x.preview(conn, &Collector::new(members::table.find(1012)))?;
        assert_eq!(refused.blockers().len(), 2, "{refused}");

        let statements = taken(&recorded);
        PlanCheck::new(SHOP).assert(conn, &statements)?;
        Ok(())
    }

    fn a_restore_checks_its_keys_through_the_indexes(db, x) {
        use crate::collector_unique::*;
        seed(db, true)?;
        digits(db)?;
        db.create(
            "CREATE INDEX teams_deleted_at ON teams (deleted_at);
             CREATE INDEX players_team_id ON players (team_id);
             CREATE INDEX players_archive_batch ON players (archive_batch);
             CREATE INDEX sponsorships_team_id ON sponsorships (team_id);",
        );
        // 2,000 more teams (ids 1001 to 3000), four players each, two sponsorships, a profile.
        let mut sql = String::new();
        sql += &thousands(2, "teams (id, name)", "1001 + {x}, CAST(1001 + {x} AS CHAR(10))");
        sql += &thousands(
            8,
            "players (id, team_id, shirt, nick)",
            "1001 + {x}, 1001 + ({x} % 2000), {x} / 2000, CAST(1001 + {x} AS CHAR(10))",
        );
        sql += &thousands(4, "sponsorships (id, team_id, brand)", "1001 + {x}, 1001 + ({x} % 2000), CAST({x} / 2000 AS CHAR(10))");
        sql += &thousands(2, "profiles (id, team_id, bio)", "1001 + {x}, 1001 + {x}, 'p'");
        let sql = if db.backend() == soft_delete_tests::Backend::Mysql {
            sql
        } else {
            sql.replace("AS CHAR(10))", "AS VARCHAR(10))")
        };
        db.conn().batch_execute(&sql)?;
        db.conn().analyze(&["teams", "players", "sponsorships", "profiles"])?;
        let conn = db.conn();
        let recorded = x.record_statements(conn);

        let archived = x.archive(conn, &Collector::new(teams::table.find(1011)))?;
        assert_eq!(archived.plan().archived("players"), 4);
        let restored = x.restore(conn, archived.batch())?;
        assert_eq!(restored.rows_of("players"), 4);
        assert_eq!(restored.links_of("sponsorships", "team_id"), 2);

        let statements = taken(&recorded);
        PlanCheck::new(&["teams", "players", "sponsorships", "profiles"]).assert(conn, &statements)?;
        Ok(())
    }

    fn start_retry_and_upsert_use_the_key_index(db, x) {
        use crate::unique::*;
        create_with_keys(db)?;
        digits(db)?;
        // The history reads every row of a key, live or not: an index on the key's columns.
        db.create("CREATE INDEX exam_attempts_key ON exam_attempts (exam_id, learner_id)");
        // 2,000 learners of two exams, each with one retired attempt and a live one.
        let mut sql = thousands(
            8,
            "exam_attempts (id, exam_id, learner_id, active, retry)",
            "1001 + {x}, 1 + ({x} % 2), 1 + ({x} % 4000) / 2, {x} >= 4000, {x} / 4000",
        );
        if db.backend() == soft_delete_tests::Backend::Sqlite {
            sql = sql.replace(">= 4000,", ">= 4000 AND TRUE,");
        }
        db.conn().batch_execute(&sql)?;
        db.conn().analyze(&["exam_attempts"])?;
        let conn = db.conn();
        let recorded = x.record_statements(conn);

        let new = |exam_id: i32, learner_id: i32, retry: i32| NewAttempt {
            exam_id,
            learner_id,
            active: true,
            retry,
        };
        let started = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (1, 5000), |n| new(1, 5000, n))?;
        assert_eq!(started.retry, 0);
        let retried = KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (1, 7), |_, n| new(1, 7, n))?;
        assert_eq!(retried.retry, 2);
        let bump = |live: &ExamAttempt| exam_attempts::retry.eq(live.retry + 10);
        let upserted = KeysIn::<_, ExamAttempt, _, _>::upsert(x, conn, (2, 9), |n| new(2, 9, n), bump)?;
        assert_eq!(upserted.retry, 11);
        assert_eq!(FindIn::<_, ExamAttempt, _>::history(x, conn, (2, 9))?.len(), 2);
        let live = FindIn::<_, ExamAttempt, _>::find_live(x, conn, (1, 5000))?.expect("started");
        // A guarded restore: the keys are checked before the row comes back.
        live.clone().soft_delete(conn)?;
        assert_eq!(RestoreIn::<_, ExamAttempt, _>::restore_row(x, conn, &live)?, 1);
        let retired = exam_attempts::table.find(1013).with_deleted().first::<ExamAttempt>(conn)?;
        assert!(RestoreIn::<_, ExamAttempt, _>::restore_row(x, conn, &retired).is_err(), "learner 7 has a live attempt at exam 1");

        let statements = taken(&recorded);
        PlanCheck::new(&["exam_attempts"]).assert(conn, &statements)?;
        Ok(())
    }

    fn a_purge_and_its_journal_clean_up_use_the_indexes(db, x) {
        use crate::purge_schema::{authors, cutoff, old, sql_time, teams};
        crate::purge_schema::create(db);
        crate::collector_schema::create_journal(db);
        crate::collector_schema::create_archive_log(db);
        digits(db)?;
        db.create(PURGE_INDEXES);
        // 2,000 authors, 4,000 posts, 8,000 comments (two to a post); one author in a hundred (and their
        // posts and comments) deleted before the cutoff, the other authors subscribed and
        // tagged; 2,000 teams with four players and a label each.
        let old = sql_time(old());
        let mut sql = String::new();
        let deleted = |x: &str| format!("CASE WHEN {x} % 100 = 0 THEN '{old}' END");
        sql += &thousands(2, "authors (id, name, deleted_at)", &format!("1 + {{x}}, 'a', {}", deleted("{x}")));
        sql += &thousands(4, "posts (id, author_id, title, deleted, deleted_at)", &format!("1 + {{x}}, 1 + ({{x}} % 2000), 't', {{x}} % 100 = 0, {}", deleted("{x}")));
        // Comments 1 to 4,000 start threads, 4,001 to 8,000 reply to them.
        sql += &thousands(4, "comments (id, post_id, parent_id, deleted_at)", &format!("1 + {{x}}, 1 + {{x}}, NULL, {}", deleted("{x}")));
        sql += &thousands(4, "comments (id, post_id, parent_id, deleted_at)", &format!("4001 + {{x}}, 1 + {{x}}, 1 + {{x}}, {}", deleted("{x}")));
        sql += &format!("INSERT INTO subscriptions (id, author_id) SELECT 1 + {X}, 1 + {X} FROM {DIGITS} WHERE d.n < 2 AND a.n <> 0;\n");
        sql += &format!("INSERT INTO tags (id, author_id) SELECT 1 + {X}, 1 + {X} FROM {DIGITS} WHERE d.n < 2 AND a.n <> 0;\n");
        sql += &thousands(2, "teams (id, name)", "1 + {x}, 't'");
        sql += &thousands(8, "players (id, team_id)", "1 + {x}, 1 + ({x} % 2000)");
        sql += &thousands(2, "labels (id, target_id)", "1 + {x}, 1 + {x}");
        match db.backend() {
            soft_delete_tests::Backend::Sqlite => {
                sql = sql.replace("% 100 = 0, CASE", "% 100 = 0 AND TRUE, CASE");
            }
            soft_delete_tests::Backend::Postgres => sql = sql.replace("' END", "'::timestamp END"),
            soft_delete_tests::Backend::Mysql => {}
        }
        db.conn().batch_execute(&sql)?;
        db.conn().analyze(PURGE_LARGE)?;
        let conn = db.conn();
        let recorded = x.record_statements(conn);

        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(7))?;
        assert_eq!(report.deleted_from("authors"), 20, "{report}");
        assert_eq!(report.deleted_from("posts"), 40, "{report}");
        assert_eq!(report.deleted_from("comments"), 80, "{report}");
        // Two teams archived (their players' and labels' links cut into the journal), then
        // purged with their journal entries.
        let red = x.archive(conn, &Collector::new(teams::table.find(11)))?;
        x.archive(conn, &Collector::new(teams::table.find(21)))?;
        let journal = |conn: &mut _| {
            diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT COUNT(*) FROM soft_delete_journal")
                .get_result::<i64>(conn)
        };
        assert_eq!(journal(conn)?, 10);
        let stamp = red.batch().stamp() + std::time::Duration::from_secs(5);
        let report = x.purge(conn, &mut Purge::before(teams::table, stamp))?;
        assert_eq!(report.deleted_from("teams"), 2, "{report}");
        // The players' entries go with their teams; the labels' stay, as `labels.target_id`
        // also points at clubs (see the purge tests).
        assert_eq!(journal(conn)?, 2);

        let statements = taken(&recorded);
        PlanCheck::new(PURGE_LARGE).assert(conn, &statements)?;
        Ok(())
    }

    fn a_reassign_reads_its_scope_by_the_key(db, x) {
        use crate::deferred_schema::{create_players, players, Key};
        create_players(db, Key::Plain)?;
        digits(db)?;
        // 8,000 more players, in 2,000 more teams.
        let sql = thousands(
            8,
            "players (id, team_id, name, squad_number)",
            "1001 + {x}, 3 + ({x} % 2000), 'p', 1 + {x} / 2000",
        );
        db.conn().batch_execute(&sql)?;
        db.conn().analyze(&["players"])?;
        let conn = db.conn();
        let recorded = x.record_statements(conn);

        let done = x.reassign(
            conn,
            reassign(players::squad_number).with_deleted().within(players::team_id.eq(1)),
            [(1, 2), (2, 1), (3, 9)],
        )?;
        assert_eq!(done.changed, 3);

        let statements = taken(&recorded);
        PlanCheck::new(&["players"])
            .allow(
                "MIN(",
                "players",
                "temporary values lie beyond the column's range over the whole table, as the \
                 library does not know which other columns the key compares; an index led by \
                 the column serves it on PostgreSQL and MySQL",
            )
            .assert(conn, &statements)?;
        Ok(())
    }
}
