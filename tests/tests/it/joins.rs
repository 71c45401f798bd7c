//! The live/deleted predicates as values: in `.filter()` on a join, and in a left join's
//! `ON` clause, where a `WHERE` would drop the users without live posts.

use diesel::prelude::*;
use soft_delete_runtime::dsl::{deleted, live};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::soft_delete;
use soft_delete_tests::backend_tests;

use crate::schema::*;

backend_tests! {
    fn inner_join_filters_both_tables_with_their_predicates(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(posts::table.find(2)).execute(conn)?; // ann's a2
        soft_delete(users::table.find(2)).execute(conn)?; // bob

        let rows: Vec<(String, String)> = users::table
            .inner_join(posts::table)
            .filter(live::<users::table>().and(live::<posts::table>()))
            .select((users::name, posts::title))
            .order(posts::id)
            .load(conn)?;
        assert_eq!(rows, [("ann".into(), "a1".into()), ("cat".into(), "c1".into())]);

        // the table-associated form is the same predicate
        // Users of every state, on purpose: the test is about the posts' predicate.
        let dead_posts: Vec<String> = soft_delete_runtime::guard::allow(|| {
            users::table
                .inner_join(posts::table)
                .filter(posts::table::deleted())
                .select(posts::title)
                .load(conn)
        })?;
        assert_eq!(dead_posts, ["a2"]);
        Ok(())
    }

    fn left_join_keeps_parents_when_the_predicate_is_in_on(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(posts::table.filter(posts::user_id.eq(2))).execute(conn)?; // bob's only post

        let with_on: Vec<(String, Option<String>)> = users::table
            .left_join(posts::table.on(posts::user_id.eq(users::id).and(live::<posts::table>())))
            .filter(live::<users::table>())
            .select((users::name, posts::title.nullable()))
            .order((users::id, posts::id))
            .load(conn)?;
        assert_eq!(
            with_on,
            [
                ("ann".into(), Some("a1".into())),
                ("ann".into(), Some("a2".into())),
                ("bob".into(), None),
                ("cat".into(), Some("c1".into())),
                ("dan".into(), None),
            ]
        );

        // the same predicate in WHERE turns the left join into an inner join: bob and dan vanish
        // The mistake the visibility guard reports, made on purpose to show what it does.
        let with_where: Vec<String> = soft_delete_runtime::guard::allow(|| {
            users::table
                .left_join(posts::table)
                .filter(live::<posts::table>().nullable().eq(true))
                .select(users::name)
                .order(users::id)
                .load(conn)
        })?;
        assert_eq!(with_where, ["ann", "ann", "cat"]);
        Ok(())
    }

    fn left_join_can_list_only_deleted_children(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(posts::table.find(1)).execute(conn)?;
        // Users of every state, on purpose: the test is about the posts' predicate.
        let rows: Vec<(i32, Option<i32>)> = soft_delete_runtime::guard::allow(|| {
            users::table
                .left_join(posts::table.on(posts::user_id.eq(users::id).and(deleted::<posts::table>())))
                .filter(users::id.le(2))
                .select((users::id, posts::id.nullable()))
                .order(users::id)
                .load(conn)
        })?;
        assert_eq!(rows, [(1, Some(1)), (2, None)]);
        Ok(())
    }
}
