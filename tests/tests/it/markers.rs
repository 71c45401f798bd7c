//! Several reasons to hide a row: a model whose visibility is the conjunction of several
//! markers, through scopes, joins and aliases, the writes of each marker, active-unique keys, a
//! cascade archive and its restore, protect, and purge (see `markers_schema`).

use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::dsl::{self, live, marker_deleted, marker_live};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::{Purge, Referrer};
use soft_delete_runtime::{
    ddl, marker, restore, restore_and_set, soft_delete, soft_delete_and_set, soft_delete_with,
    Error,
};
use soft_delete_tests::exec::{
    leak, Exec, ExecuteIn, MarkedRestoreAndSetIn, MarkedRestoreIn, RestoreIn,
};
use soft_delete_tests::stamp::{instant, utc, Instant};
use soft_delete_tests::{backend_tests, per_backend, Backend};

use crate::collector_schema::dialect;
use crate::markers_schema::*;

/// The ids of the posts `$query` selects, in order.
macro_rules! posts {
    ($conn:expr, $query:expr) => {
        $query
            .select(post::id)
            .order(post::id)
            .load::<PostId>($conn)?
            .into_iter()
            .map(|id| id.0)
            .collect::<Vec<i32>>()
    };
}

/// The ids of the replies `$query` selects, in order.
macro_rules! replies {
    ($conn:expr, $query:expr) => {
        $query
            .select(reply::id)
            .order(reply::id)
            .load::<i32>($conn)?
    };
}

/// Post `id`, visible or not.
macro_rules! post {
    ($conn:expr, $id:expr) => {
        post::table
            .find(PostId($id))
            .with_deleted()
            .first::<Post>($conn)?
    };
}

fn at(h: u32) -> Instant {
    instant(utc(2026, 11, 23, h, 0, 0, 0))
}

/// The key of a conflict.
fn conflict_key(err: &Error) -> Option<&'static str> {
    err.conflict().map(|c| c.key())
}

backend_tests! {
    fn a_row_is_visible_when_no_marker_hides_it(db) {
        seed(db)?;
        let conn = db.conn();
        assert_eq!(posts!(conn, post::table.active()), [1, 4]);
        assert_eq!(posts!(conn, post::table.only_deleted()), [2, 3, 5]);
        assert_eq!(posts!(conn, post::table.with_deleted()), [1, 2, 3, 4, 5]);
        assert_eq!(posts!(conn, post::table.filter(post::community_id.eq(1)).active()), [1]);
        assert_eq!(posts!(conn, post::table.into_boxed().active()), [1, 4]);
        assert_eq!(posts!(conn, post::table.active().into_boxed().filter(post::slug.eq("hello"))), [1, 4]);
        assert_eq!(post::table.only_deleted().count().get_result::<i64>(conn)?, 3);

        // one marker alone, whatever the others say
        assert_eq!(posts!(conn, post::table.filter(marker_deleted(post::removed))), [2]);
        assert_eq!(posts!(conn, post::table.filter(marker_deleted(post::local_removed_at))), [5]);
        {
            // One marker's live rows include those another hides: the guard reports it, and
            // here it is the point.
            let _one_marker = soft_delete_runtime::guard::Allow::here();
            assert_eq!(posts!(conn, post::table.filter(marker_live(post::deleted))), [1, 2, 4, 5]);
        }

        // the model says which markers hide it
        let hidden: Vec<Vec<&str>> = post::table
            .order(post::id)
            .with_deleted()
            .load::<Post>(conn)?
            .iter()
            .map(|p| p.hidden_by())
            .collect();
        assert_eq!(hidden, [vec![], vec!["removed"], vec!["deleted"], vec![], vec!["local_removed_at"]]);
        Ok(())
    }

    fn joins_and_aliases_test_every_marker(db) {
        seed(db)?;
        let conn = db.conn();
        // Replies of every state, on purpose: the test is about the posts' predicates.
        let every_reply = soft_delete_runtime::guard::Allow::here();
        // each reply with its post if the post is visible: the predicate in `ON`
        let rows: Vec<(i32, Option<PostId>)> = reply::table
            .left_join(post::table.on(reply::post_id.eq(post::id).and(live::<post::table>())))
            .select((reply::id, post::id.nullable()))
            .order(reply::id)
            .load(conn)?;
        assert_eq!(rows, [(1, Some(PostId(1))), (2, Some(PostId(1))), (3, None), (4, Some(PostId(4)))]);

        // visible replies of visible posts in visible communities
        let visible: Vec<i32> = reply::table
            .inner_join(post::table.inner_join(community::table))
            .filter(live::<reply::table>().and(live::<post::table>()).and(live::<community::table>()))
            .select(reply::id)
            .order(reply::id)
            .load(conn)?;
        assert_eq!(visible, [1, 4]);

        // an alias of the post: its own predicates, and the scopes on it
        let parent = diesel::alias!(post as parent);
        let through_alias: Vec<i32> = reply::table
            .inner_join(parent.on(reply::post_id.eq(parent.field(post::id)).and(parent.live())))
            .select(reply::id)
            .order(reply::id)
            .load(conn)?;
        assert_eq!(through_alias, [1, 2, 4]);
        drop(every_reply);
        let hidden_parents: Vec<PostId> = parent
            .only_deleted()
            .select(parent.field(post::id))
            .order(parent.field(post::id))
            .load(conn)?;
        assert_eq!(hidden_parents, [PostId(2), PostId(3), PostId(5)]);
        let visible_parents: i64 = parent.active().count().get_result(conn)?;
        assert_eq!(visible_parents, 2);
        let by_function: Vec<PostId> = parent
            .filter(dsl::deleted_in(parent))
            .select(parent.field(post::id))
            .order(parent.field(post::id))
            .load(conn)?;
        assert_eq!(by_function, hidden_parents);
        Ok(())
    }

    fn each_write_sets_the_marker_it_names_and_restoring_one_leaves_the_others(db, x) {
        seed(db)?;
        let conn = db.conn();
        let one = || post::table.find(PostId(1));

        // a moderator removes post 1: `removed` and its own audit columns
        let removal = Deletion::at(at(9)).by(PersonId(3)).reason("off topic");
        assert_eq!(x.execute(conn, soft_delete_with(marker(post::removed, one()), removal))?, 1);
        let removed = post!(conn, 1);
        assert_eq!((removed.removed, removed.removed_by, removed.removal_reason.as_deref()), (true, Some(PersonId(3)), Some("off topic")));
        assert_eq!((removed.deleted, removed.deleted_at), (false, None));
        // removing it again changes nothing: the first removal's audit stays
        assert_eq!(x.execute(conn, soft_delete_with(marker(post::removed, one()), Deletion::at(at(10)).by(PersonId(2))))?, 0);
        assert_eq!(post!(conn, 1), removed);

        // its author deletes it too: the primary marker, with its time; the removal stays
        assert_eq!(x.execute(conn, soft_delete_with(one(), Deletion::at(at(11))))?, 1);
        let both = post!(conn, 1);
        assert_eq!((both.deleted, both.deleted_at, both.removed, both.removed_by), (true, Some(at(11)), true, Some(PersonId(3))));
        assert_eq!(both.hidden_by(), ["deleted", "removed"]);

        // the author's restore leaves the removal: the post stays hidden
        assert_eq!(x.execute(conn, restore(one()))?, 1);
        let still_removed = post!(conn, 1);
        assert_eq!((still_removed.deleted, still_removed.deleted_at), (false, None));
        assert_eq!(still_removed.removal_reason.as_deref(), Some("off topic"));
        assert_eq!(posts!(conn, post::table.active()), [4]);
        // restoring what is not hidden by that marker changes nothing
        assert_eq!(x.execute(conn, restore(one()))?, 0);

        // the moderator's restore clears the removal and its audit: visible again
        assert_eq!(x.execute(conn, restore(marker(post::removed, one())))?, 1);
        let back = post!(conn, 1);
        assert_eq!((back.removed, back.removed_by, back.removal_reason), (false, None, None));
        assert_eq!(posts!(conn, post::table.active()), [1, 4]);

        // a timestamp marker among flags: the local removal keeps its time
        assert_eq!(x.execute(conn, soft_delete_with(marker(post::local_removed_at, post::table.filter(post::slug.eq("hello"))), Deletion::at(at(12))))?, 2);
        assert_eq!(post!(conn, 4).local_removed_at, Some(at(12)));
        assert_eq!(posts!(conn, post::table.active()), Vec::<i32>::new());
        assert_eq!(x.execute(conn, restore(marker(post::local_removed_at, post::table)))?, 3);
        assert_eq!(posts!(conn, post::table.active()), [1, 4, 5], "post 5's local removal is off too");

        // in bulk on the whole table: only the rows that marker does not hide yet
        assert_eq!(x.execute(conn, soft_delete(marker(post::removed, post::table)))?, 4);
        assert_eq!(posts!(conn, post::table.active()), Vec::<i32>::new());
        {
            // One marker alone, on purpose.
            let _one_marker = soft_delete_runtime::guard::Allow::here();
            assert_eq!(posts!(conn, post::table.filter(marker_live(post::removed))), Vec::<i32>::new());
        }
        Ok(())
    }

    fn a_model_value_chooses_its_marker(db, x) {
        seed(db)?;
        let conn = db.conn();
        let hello = post!(conn, 1);

        // (the hiding writes are the model's own methods, statements on `conn` in both copies:
        // `each_write_sets_the_marker_it_names...` runs the same statements through `x`)
        assert_eq!(hello.marker(post::removed).soft_delete_with(conn, Deletion::now().by(PersonId(2)).reason("dup"))?, 1);
        assert_eq!(x.execute(conn, soft_delete(&hello))?, 1);
        assert_eq!(post!(conn, 1).hidden_by(), ["deleted", "removed"]);

        assert_eq!(MarkedRestoreIn::<_, Post, _, _>::restore_marked(x, conn, &hello, post::removed)?, 1);
        assert_eq!(MarkedRestoreIn::<_, Post, _, _>::restore_marked(x, conn, &hello, post::removed)?, 0);
        assert_eq!(post!(conn, 1).hidden_by(), ["deleted"]);
        assert_eq!(RestoreIn::<_, Post, _>::restore_row(x, conn, &hello)?, 1);
        assert!(post!(conn, 1).hidden_by().is_empty());

        // other columns in the same UPDATE, through a marker, by value and in bulk
        let n = hello.marker(post::removed).soft_delete_and_set(conn, Deletion::now(), post::updated_at.eq(Some(at(13))))?;
        assert_eq!((n, post!(conn, 1).updated_at), (1, Some(at(13))));
        let n = MarkedRestoreAndSetIn::<_, Post, _, _, _>::restore_marked_and_set(x, conn, &hello, post::removed, post::updated_at.eq(Some(at(14))))?;
        assert_eq!((n, post!(conn, 1).updated_at, post!(conn, 1).removed), (1, Some(at(14)), false));
        let n = x.execute(conn, soft_delete_and_set(marker(post::removed, post::table.find(PostId(4))), Deletion::now().by(PersonId(1)), post::updated_at.eq(Some(at(15)))))?;
        assert_eq!((n, post!(conn, 4).removed_by), (1, Some(PersonId(1))));
        let n = x.execute(conn, restore_and_set(marker(post::removed, post::table.find(PostId(4))), post::updated_at.eq(Some(at(16)))))?;
        assert_eq!((n, post!(conn, 4).updated_at, post!(conn, 4).removed_by), (1, Some(at(16)), None));

        // a row hidden by another marker is still written by this one
        let bye = post!(conn, 3);
        assert_eq!(bye.marker(post::removed).soft_delete(conn)?, 1);
        assert_eq!(post!(conn, 3).hidden_by(), ["deleted", "removed"]);
        Ok(())
    }

    fn an_active_unique_key_holds_among_visible_rows_only(db, x) {
        seed(db)?;
        for statement in ddl::active_unique::<Post>(dialect::<Conn>()) {
            diesel::sql_query(statement).execute(db.conn())?;
        }
        let conn = db.conn();
        // post 2 (`spam`) is removed: it does not hold the slug
        diesel::insert_into(post::table)
            .values((post::id.eq(PostId(6)), post::community_id.eq(1), post::creator_id.eq(PersonId(2)), post::slug.eq("spam")))
            .execute(conn)?;
        let live = Post::find_live(conn, (1, "spam".to_owned()))?.map(|p| p.id);
        assert_eq!(live, Some(PostId(6)));

        // taking the removal off would make a second visible `spam`: refused, nothing written
        let spam = post!(conn, 2);
        let err = MarkedRestoreIn::<_, Post, _, _>::restore_marked(x, conn, &spam, post::removed).expect_err("post 6 holds the slug");
        assert_eq!(conflict_key(&err), Some("post_live_slug"), "{err}");
        assert_eq!(post!(conn, 2), spam);

        // deleted by its author as well, it stays hidden when the removal comes off: no check
        x.execute(conn, soft_delete(&spam))?;
        let spam = post!(conn, 2);
        assert_eq!(MarkedRestoreIn::<_, Post, _, _>::restore_marked(x, conn, &spam, post::removed)?, 1);
        assert_eq!(post!(conn, 2).hidden_by(), ["deleted"]);
        // and the author's restore would make it visible: refused
        let spam = post!(conn, 2);
        let err = RestoreIn::<_, Post, _>::restore_row(x, conn, &spam).expect_err("post 6 holds the slug");
        assert_eq!(conflict_key(&err), Some("post_live_slug"), "{err}");

        // the database agrees: its index covers visible rows only
        let raw = diesel::update(post::table.find(PostId(2))).set(post::deleted.eq(false)).execute(conn);
        assert!(raw.is_err(), "the index refuses a second visible `spam`");
        let raw = diesel::update(post::table.find(PostId(2))).set(post::removed.eq(true)).execute(conn)?;
        assert_eq!(raw, 1, "a hidden row is free to change");
        Ok(())
    }

    fn an_archive_sets_the_primary_marker_and_its_restore_clears_only_that(db, x) {
        seed(db)?;
        let conn = db.conn();
        let rust: &Community = leak(community::table.find(1).with_deleted().first(conn)?);
        let preview = x.preview(conn, &Collector::new(rust))?;
        let archived = x.archive(conn, &Collector::new(rust))?;
        let plan = archived.plan();
        // posts 1, 2 (removed) and 5 (removed locally) get `deleted`; post 3 was deleted already
        assert_eq!((plan.archived("community"), plan.archived("post"), plan.archived("reply")), (1, 3, 3));
        assert_eq!(preview.counts(), plan.counts(), "the preview is the plan");
        let batch = archived.batch().id();
        let marked: Vec<i32> = posts!(conn, post::table.filter(post::archive_batch.eq(batch)).with_deleted());
        assert_eq!(marked, [1, 2, 5]);
        assert_eq!(post!(conn, 2).hidden_by(), ["deleted", "removed"]);
        assert_eq!(post!(conn, 3).deleted_at, Some(instant(utc(2026, 1, 1, 0, 0, 0, 0))));
        assert_eq!(replies!(conn, reply::table.filter(reply::deleted)), [1, 2, 3]);

        // after the archive, a moderator removes post 1 (hidden already: the marker is set all the same)
        assert_eq!(soft_delete(marker(post::removed, post::table.find(PostId(1)))).execute(conn)?, 1);

        let batch = x.find_batch::<community::table>(conn, batch)?;
        let restored = x.restore(conn, batch)?;
        assert_eq!(restored.rows_of("post"), 3);
        // the archive's marker is off everywhere it put it; every other reason stays
        assert_eq!(posts!(conn, post::table.filter(post::deleted)), [3]);
        assert_eq!(posts!(conn, post::table.filter(post::removed)), [1, 2]);
        assert_eq!(posts!(conn, post::table.active()), [4]);
        assert_eq!(replies!(conn, reply::table.active()), [1, 3, 4]);
        assert_eq!(replies!(conn, reply::table.filter(reply::removed)), [2]);
        assert!(!community::table.find(1).with_deleted().first::<Community>(conn)?.deleted);
        Ok(())
    }

    fn a_batch_restore_checks_the_keys_of_rows_it_makes_visible(db, x) {
        seed(db)?;
        for statement in ddl::active_unique::<Post>(dialect::<Conn>()) {
            diesel::sql_query(statement).execute(db.conn())?;
        }
        let conn = db.conn();
        let rust: &Community = leak(community::table.find(1).with_deleted().first(conn)?);
        let batch = x.archive(conn, &Collector::new(rust))?.batch();
        // a new `hello` in the archived community while its posts are hidden
        diesel::insert_into(post::table)
            .values((post::id.eq(PostId(7)), post::community_id.eq(1), post::creator_id.eq(PersonId(3)), post::slug.eq("hello")))
            .execute(conn)?;

        let err = x.restore(conn, batch).expect_err("post 1 would be a second visible `hello`");
        let conflict = err.conflict().expect("a conflict");
        assert_eq!((conflict.live_id().to_string(), conflict.restored_id().map(ToString::to_string)), ("7".to_owned(), Some("1".to_owned())), "{err}");
        assert_eq!(conflict_key(&err), Some("post_live_slug"));
        assert!(post!(conn, 1).deleted, "nothing was restored");

        // removed by a moderator, post 1 stays hidden when the archive comes off: no conflict
        soft_delete(marker(post::removed, post::table.find(PostId(1)))).execute(conn)?;
        x.restore(conn, batch)?;
        assert_eq!(post!(conn, 1).hidden_by(), ["removed"]);
        assert_eq!(posts!(conn, post::table.active()), [4, 7]);
        Ok(())
    }

    fn protect_counts_visible_rows_only(db, x) {
        seed(db)?;
        let conn = db.conn();
        // cat's replies: 2 (removed) and 4 (visible)
        let cat: &Member = leak(member::table.find(PersonId(3)).with_deleted().first(conn)?);
        let err = x.archive(conn, &Collector::new(cat)).expect_err("reply 4 protects cat");
        let Error::Protected { blockers } = &err else { panic!("{err}") };
        let ids: Vec<String> = blockers.iter().flat_map(|b| b.ids.iter().map(ToString::to_string)).collect();
        assert_eq!(ids, ["4"], "{err}");
        assert_eq!(x.preview(conn, &Collector::new(cat))?.blockers().len(), 1);

        // a moderator removes reply 4: nothing visible protects cat any more
        soft_delete(marker(reply::removed, reply::table.find(4))).execute(conn)?;
        let archived = x.archive(conn, &Collector::new(cat))?;
        assert_eq!(archived.plan().archived("member"), 1);
        assert_eq!(member::table.find(PersonId(3)).with_deleted().first::<Member>(conn)?.hidden_by(), ["deleted"]);
        Ok(())
    }

    fn purge_deletes_what_the_primary_marker_hid_before_the_cutoff(db, x) {
        seed(db)?;
        let conn = db.conn();
        // reply 5, removed (not deleted), references post 3 (deleted long ago)
        diesel::insert_into(reply::table)
            .values((reply::id.eq(5), reply::post_id.eq(PostId(3)), reply::creator_id.eq(PersonId(1)), reply::content.eq("x"), reply::removed.eq(true)))
            .execute(conn)?;
        let cutoff = at(0);

        let report = x.purge(conn, &mut Purge::before(post::table, cutoff))?;
        // post 2 is removed and post 5 removed locally, but only `deleted` makes a candidate
        assert_eq!(report.deleted(), 0);
        let kept = report.skipped.iter().find(|s| s.table.name == "post").expect("post 3 kept");
        assert_eq!((kept.referenced_by.name.as_str(), kept.referrer), ("reply", Referrer::Archived));
        assert_eq!(kept.ids.iter().map(ToString::to_string).collect::<Vec<_>>(), ["3"]);

        // its author deletes reply 5 too, long ago: both go
        diesel::update(reply::table.find(5))
            .set((reply::deleted.eq(true), reply::deleted_at.eq(Some(at(0) - std::time::Duration::from_secs(30 * 86_400)))))
            .execute(conn)?;
        let report = x.purge(conn, &mut Purge::before(post::table, cutoff))?;
        assert_eq!((report.deleted_from("post"), report.deleted_from("reply")), (1, 1));
        assert_eq!(posts!(conn, post::table.with_deleted()), [1, 2, 4, 5]);
        Ok(())
    }
}

/// SQL text only: runs for every compiled backend, with or without a server.
mod sql {
    use super::*;

    per_backend! {
        fn the_predicates_of_several_markers_are_one_filter() {
            let sql = diesel::debug_query::<<Conn as diesel::Connection>::Backend, _>(&post::table.active().select(post::id)).to_string();
            let q = |c: &str| match <Conn as soft_delete_tests::TestConnection>::BACKEND {
                Backend::Postgres => format!("\"post\".\"{c}\""),
                Backend::Sqlite | Backend::Mysql => format!("`post`.`{c}`"),
            };
            let expected = format!(
                "WHERE ( NOT ({}) AND ( NOT ({}) AND ({} IS NULL)))",
                q("deleted"), q("removed"), q("local_removed_at")
            );
            assert!(sql.contains(&expected), "{sql}\nexpected {expected}");
            let deleted = diesel::debug_query::<<Conn as diesel::Connection>::Backend, _>(&post::table.only_deleted().select(post::id)).to_string();
            assert!(deleted.contains(" OR "), "{deleted}");

            // DDL conditions: the same, unqualified
            assert_eq!(
                ddl::live_condition::<post::table>(soft_delete_runtime::backend::Dialect::Postgres),
                r#"(NOT "deleted" AND NOT "removed" AND "local_removed_at" IS NULL)"#
            );
            assert_eq!(
                ddl::deleted_condition::<post::table>(soft_delete_runtime::backend::Dialect::Postgres),
                r#"("deleted" OR "removed" OR "local_removed_at" IS NOT NULL)"#
            );
        }
    }
}
