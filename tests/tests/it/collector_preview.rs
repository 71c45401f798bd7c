//! The preview: read-only (only SELECTs, so it runs in a read-only transaction, on a
//! read-only connection, and next to a row another connection holds locked), and the plan it
//! shows is the plan the archive then carries out, over every shape of graph: every rule,
//! three levels, a self-reference, two tables referencing each other, `protect` at the root
//! and below it, and a table reached through two `cascade` edges (counted per edge, and once
//! in the total).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::{Collector, Plan, Rule};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::exec::{Exec, ExecKind};
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, verb, Backend};

use crate::collector_schema::*;

diesel::table! {
    communities (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        community_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notes (id) {
        id -> Integer,
        community_id -> Integer,
        post_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    crews (id) {
        id -> Integer,
        captain_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    sailors (id) {
        id -> Integer,
        crew_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// Notes hang off their community and, when they are about a post, off the post too.
#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = communities)]
#[soft_delete(children(posts::community_id = cascade, notes::community_id = cascade))]
struct Community {
    id: i32,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = posts)]
#[soft_delete(children(notes::post_id = cascade))]
struct Post {
    id: i32,
    community_id: i32,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = notes)]
struct Note {
    id: i32,
    community_id: i32,
    post_id: Option<i32>,
    deleted_at: Option<Stamp>,
}

/// Crews and sailors reference each other: a cycle between two tables.
#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = crews)]
#[soft_delete(children(sailors::crew_id = cascade))]
struct Crew {
    id: i32,
    captain_id: Option<i32>,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = sailors)]
#[soft_delete(children(crews::captain_id = cascade))]
struct Sailor {
    id: i32,
    crew_id: i32,
    deleted_at: Option<Stamp>,
}

const MORE: &str = "
CREATE TABLE communities (id {pk}, deleted_at {ts} NULL);
CREATE TABLE posts (id {pk}, community_id {int} NOT NULL, deleted_at {ts} NULL);
CREATE TABLE notes (id {pk}, community_id {int} NOT NULL, post_id {int} NULL, deleted_at {ts} NULL);
CREATE TABLE crews (id {pk}, captain_id {int} NULL, deleted_at {ts} NULL);
CREATE TABLE sailors (id {pk}, crew_id {int} NOT NULL, deleted_at {ts} NULL);
INSERT INTO communities (id) VALUES (1), (2);
INSERT INTO posts (id, community_id) VALUES (1, 1), (2, 1), (3, 2);
INSERT INTO notes (id, community_id, post_id) VALUES (1, 1, 1), (2, 1, 1), (3, 1, 2), (4, 1, NULL), (5, 2, 3), (6, 2, NULL);
INSERT INTO crews (id, captain_id) VALUES (1, 3), (2, 2), (3, 3), (4, 6);
INSERT INTO sailors (id, crew_id) VALUES (1, 1), (2, 1), (3, 2), (4, 3), (5, 3), (6, 4);
";

diesel::table! {
    people (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    articles (id) {
        id -> Integer,
        author_id -> Integer,
        editor_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    replies (id) {
        id -> Integer,
        article_id -> Integer,
        parent_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tags (id) {
        id -> Integer,
        person_id -> Integer,
        article_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    flags (id) {
        id -> Integer,
        article_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// Two keys from `articles` to `people`: the author's archives the article, the editor's is
/// cut, in a soft-deletable table. Tags hang off their person and their article (a diamond),
/// replies off their article and their parent reply, and a live flag protects its article.
#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = people)]
#[soft_delete(children(
    articles::author_id = cascade,
    articles::editor_id = set_null,
    tags::person_id = cascade,
))]
struct Person {
    id: i32,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = articles)]
#[soft_delete(children(
    replies::article_id = cascade,
    tags::article_id = cascade,
    flags::article_id = protect,
))]
struct Article {
    id: i32,
    author_id: i32,
    editor_id: Option<i32>,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = replies)]
#[soft_delete(children(replies::parent_id = cascade))]
struct Reply {
    id: i32,
    article_id: i32,
    parent_id: Option<i32>,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = tags)]
struct Tag {
    id: i32,
    person_id: i32,
    article_id: Option<i32>,
    deleted_at: Option<Stamp>,
}

#[allow(dead_code)]
#[derive(Queryable, SoftDelete)]
#[diesel(table_name = flags)]
struct Flag {
    id: i32,
    article_id: i32,
    deleted_at: Option<Stamp>,
}

/// People 1, 2, 3. Articles 1, 2 by 1 (edited by 2 and 1), 3 by 2 (edited by 1), 4 by 1
/// (edited by 1, archived already), 5 by 3. Replies 1, 2 on article 1 (2 answers 1), 3 on
/// article 3 answering 2, 4 on article 4, 5 on article 2 (archived already), 6 on article 2
/// answering 5, 7 on article 5 answering 6. Tags 1 of person 1, 2 of person 2 on article 1,
/// 3 of person 1 on article 2, 4 of person 3 on article 4, 5 of person 1 on article 1
/// (archived already). Flag 1 on article 1 (archived already), 2 on article 5.
const PEOPLE: &str = "
CREATE TABLE people (id {pk}, deleted_at {ts} NULL);
CREATE TABLE articles (id {pk}, author_id {int} NOT NULL, editor_id {int} NULL, deleted_at {ts} NULL,
  FOREIGN KEY (author_id) REFERENCES people (id), FOREIGN KEY (editor_id) REFERENCES people (id));
CREATE TABLE replies (id {pk}, article_id {int} NOT NULL, parent_id {int} NULL, deleted_at {ts} NULL,
  FOREIGN KEY (article_id) REFERENCES articles (id), FOREIGN KEY (parent_id) REFERENCES replies (id));
CREATE TABLE tags (id {pk}, person_id {int} NOT NULL, article_id {int} NULL, deleted_at {ts} NULL,
  FOREIGN KEY (person_id) REFERENCES people (id), FOREIGN KEY (article_id) REFERENCES articles (id));
CREATE TABLE flags (id {pk}, article_id {int} NOT NULL, deleted_at {ts} NULL,
  FOREIGN KEY (article_id) REFERENCES articles (id));
INSERT INTO people (id) VALUES (1), (2), (3);
INSERT INTO articles (id, author_id, editor_id, deleted_at) VALUES (1, 1, 2, NULL), (2, 1, 1, NULL), (3, 2, 1, NULL),
  (4, 1, 1, '2025-01-01 00:00:00'), (5, 3, NULL, NULL);
INSERT INTO replies (id, article_id, parent_id, deleted_at) VALUES (1, 1, NULL, NULL), (2, 1, 1, NULL), (3, 3, 2, NULL),
  (4, 4, NULL, NULL), (5, 2, NULL, '2025-01-01 00:00:00'), (6, 2, 5, NULL), (7, 5, 6, NULL);
INSERT INTO tags (id, person_id, article_id, deleted_at) VALUES (1, 1, NULL, NULL), (2, 2, 1, NULL), (3, 1, 2, NULL),
  (4, 3, 4, NULL), (5, 1, 1, '2025-01-01 00:00:00');
INSERT INTO flags (id, article_id, deleted_at) VALUES (1, 1, '2025-01-01 00:00:00'), (2, 5, NULL);
";

/// The rows of `table` that `step`'s edge reached.
fn step_rows(plan: &Plan, table: &str, column: &str) -> u64 {
    plan.steps()
        .iter()
        .filter(|s| s.child.name == table && s.column == column)
        .map(|s| s.rows)
        .sum()
}

/// Previews, archives, and says whether the two agree; then restores.
macro_rules! preview_then_archive {
    ($x:expr, $conn:expr, $collector:expr) => {{
        let x = &mut *$x;
        let conn = $conn;
        let collector = $collector;
        let preview = x.preview(conn, &collector)?;
        match x.archive(conn, &collector) {
            Ok(archived) => {
                assert_eq!(&preview, archived.plan());
                x.restore(conn, archived.batch())?;
            }
            Err(Error::Protected { blockers }) => {
                // The archive stops at the first level that is refused; the preview walks on
                // and lists them all.
                assert!(preview.is_blocked());
                assert!(
                    blockers.iter().all(|b| preview.blockers().contains(b)),
                    "{blockers:?} {preview:?}"
                );
            }
            Err(other) => return Err(other.into()),
        }
        preview
    }};
}

backend_tests! {
    fn each_edge_shows_what_it_reaches_and_each_row_counts_once(db, x) {
        db.create(MORE);
        create_archive_log(db);
        let conn = db.conn();
        let plan = preview_then_archive!(x, conn, Collector::new(communities::table.find(1)));
        // Notes 1, 2, 3 are reached from their post and from their community; note 4 from
        // the community alone.
        assert_eq!(step_rows(&plan, "notes", "community_id"), 4);
        assert_eq!(step_rows(&plan, "notes", "post_id"), 3);
        assert_eq!(plan.archived("notes"), 4);
        assert_eq!(plan.total_archived(), 1 + 2 + 4);
        assert!(plan.counts().contains(&(soft_delete_runtime::backend::TableName::of::<notes::table>(), Rule::Cascade, 4)));
        let text = plan.to_string();
        assert!(text.contains("`notes`.`post_id` cascade: 3 rows archived"), "{text}");
        assert!(text.ends_with("7 rows archived in all"), "{text}");
        Ok(())
    }

    fn the_preview_is_the_plan_the_archive_carries_out_over_every_graph_shape(db, x) {
        seed(db)?;
        create_journal(db);
        db.create(MORE);
        let conn = db.conn();
        // Every rule, three levels, a self-reference: ann.
        let ann = preview_then_archive!(x, &mut *conn, Collector::new(members::table.find(2)));
        assert_eq!((ann.archived("comments"), ann.nulled("reviews", "author_id"), ann.deleted("sessions")), (5, 2, 2));
        // Protect at the root: bob's invoice.
        let bob = preview_then_archive!(x, &mut *conn, Collector::new(members::table.find(3)));
        assert_eq!(bob.blockers().len(), 1);
        // Protect below the root: cat's order's payment.
        let cat = preview_then_archive!(x, &mut *conn, Collector::new(members::table.find(4)));
        assert_eq!((cat.blockers().len(), cat.blockers()[0].table.name.as_str()), (1, "payments"));
        // Every member at once: refused at the root and below, every blocker listed.
        let all = preview_then_archive!(x, &mut *conn, Collector::new(members::table));
        assert_eq!(all.blockers().len(), 2);
        // A root below the top, and a reply thread as the root.
        preview_then_archive!(x, &mut *conn, Collector::new(orders::table.find(1)));
        let thread = preview_then_archive!(x, &mut *conn, Collector::new(comments::table.find(2)));
        assert_eq!(thread.archived("comments"), 3);
        // Two tables referencing each other: crew 1 -> sailors 1, 2 -> crew 2 (captain 2) ->
        // sailor 3 -> crews 1, 3 -> sailors 4, 5.
        let crews = preview_then_archive!(x, &mut *conn, Collector::new(crews::table.find(1)));
        assert_eq!((crews.archived("crews"), crews.archived("sailors")), (3, 5));
        // Roots that are archived already, or missing: nothing.
        conn.batch_execute("UPDATE posts SET deleted_at = '2026-01-01 00:00:00' WHERE id = 3")?;
        let none = preview_then_archive!(x, &mut *conn, Collector::new(posts::table.filter(posts::id.ge(3))));
        assert_eq!(none.total_archived(), 0);
        Ok(())
    }

    fn links_cut_in_a_soft_deletable_table_are_previewed_as_the_archive_cuts_them(db, x) {
        db.create(PEOPLE);
        create_archive_log(db);
        create_journal(db);
        let conn = db.conn();
        // Person 1: articles 1, 2 (4 is archived already); the editor links of articles 2,
        // 3 and 4, live, archived by this archive or before; replies 1, 2, 6 by their
        // article and 3, 7 by their parent; tags 1, 3 by the person and 2, 3 by the article.
        // Flag 1 is archived already, so it does not protect article 1.
        let one = preview_then_archive!(x, &mut *conn, Collector::new(people::table.find(1)));
        assert!(!one.is_blocked(), "{one}");
        assert_eq!(one.nulled("articles", "editor_id"), 3, "{one}");
        assert_eq!((one.archived("articles"), one.archived("replies"), one.archived("tags")), (2, 5, 3), "{one}");
        assert_eq!(one.total_archived(), 1 + 2 + 5 + 3);
        // Everyone, nobody, and a live flag on article 2.
        preview_then_archive!(x, &mut *conn, Collector::new(people::table));
        let nobody = preview_then_archive!(x, &mut *conn, Collector::new(people::table.filter(people::id.eq(99))));
        assert_eq!((nobody.total_archived(), nobody.nulled("articles", "editor_id")), (0, 0));
        conn.batch_execute("INSERT INTO flags (id, article_id) VALUES (3, 2)")?;
        let refused = preview_then_archive!(x, &mut *conn, Collector::new(people::table.find(1)));
        assert_eq!(refused.blockers().len(), 1, "{refused}");
        Ok(())
    }

    fn the_preview_only_reads(db, x) {
        seed(db)?;
        create_journal(db);
        let backend = db.backend();
        let url = db.url().to_owned();
        let conn = db.conn();
        let statements = x.record_statements(conn);
        let plan = x.preview(conn, &Collector::new(members::table.find(2)))?;
        assert_eq!(plan.archived("orders"), 3);
        let statements = statements.lock().expect("not poisoned").clone();
        assert!(
            statements.iter().all(|sql| ["SELECT", "WITH"].contains(&verb(sql).as_str())),
            "{statements:#?}"
        );

        // In a read-only transaction, or on a read-only connection.
        let plan = match backend {
            Backend::Sqlite => {
                let read_only_url = format!("file:{url}?mode=ro");
                let mut read_only = Conn::establish(&read_only_url)?;
                let mut on_read_only = x.elsewhere(&read_only_url);
                let plan = on_read_only.preview(&mut read_only, &Collector::new(members::table.find(2)))?;
                let refused = on_read_only.batch_execute(&mut read_only, "DELETE FROM audit_log");
                assert!(refused.is_err(), "the connection is read-only");
                plan
            }
            Backend::Mysql | Backend::Postgres => {
                x.batch_execute(conn, "START TRANSACTION READ ONLY")?;
                let plan = x.preview(conn, &Collector::new(members::table.find(2)));
                let refused = x.batch_execute(conn, "DELETE FROM audit_log");
                x.batch_execute(conn, "ROLLBACK")?;
                assert!(refused.is_err(), "the transaction is read-only");
                plan?
            }
        };
        assert_eq!(plan.archived("orders"), 3);
        Ok(())
    }

    fn the_preview_does_not_wait_for_a_row_another_connection_holds(db, x) {
        seed(db)?;
        create_journal(db);
        let backend = db.backend();
        let mut other = db.connect();
        let conn = db.conn();
        // Fail fast instead of waiting (SQLite's default busy timeout is zero already).
        match backend {
            Backend::Postgres => x.batch_execute(conn, "SET lock_timeout = '1s'")?,
            Backend::Mysql => x.batch_execute(conn, "SET SESSION innodb_lock_wait_timeout = 1")?,
            Backend::Sqlite => {}
        }
        // Another connection holds ann and one of her orders locked, mid-transaction (on
        // SQLite: holds the database's write lock).
        other.batch_execute(if backend == Backend::Sqlite { "BEGIN IMMEDIATE" } else { "BEGIN" })?;
        other.batch_execute("UPDATE members SET name = 'ann (editing)' WHERE id = 2")?;
        other.batch_execute("UPDATE orders SET code = 'A-1b' WHERE id = 1")?;
        let plan = x.preview(conn, &Collector::new(members::table.find(2)))?;
        assert_eq!((plan.roots(), plan.archived("orders")), (1, 3));
        other.batch_execute("ROLLBACK")?;
        Ok(())
    }
}
