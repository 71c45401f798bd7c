//! `.active()`, `.only_deleted()`, `.with_deleted()` on tables, statements and boxed
//! queries, for each strategy; and the SQL they produce, compared with the hand-written filter.

use diesel::dsl::not;
use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{dsl, soft_delete};
use soft_delete_tests::{backend_tests, per_backend};

use crate::schema::*;

/// The SQL text of a query on backend `DB`, without its bind values.
fn sql<DB, Q>(query: &Q) -> String
where
    DB: diesel::backend::Backend + Default,
    DB::QueryBuilder: Default,
    Q: QueryFragment<DB>,
{
    diesel::debug_query::<DB, _>(query).to_string()
}

backend_tests! {
    fn scopes_split_rows_by_timestamp_marker(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(users::table.filter(users::id.eq_any([2, 4]))).execute(conn)?;

        let live: Vec<i32> = users::table.active().select(users::id).order(users::id).load(conn)?;
        let dead: Vec<i32> = users::table.only_deleted().select(users::id).order(users::id).load(conn)?;
        let all: Vec<i32> = users::table.with_deleted().select(users::id).order(users::id).load(conn)?;
        assert_eq!(live, [1, 3]);
        assert_eq!(dead, [2, 4]);
        assert_eq!(all, [1, 2, 3, 4]);
        Ok(())
    }

    fn scopes_split_rows_by_deleted_flag(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(posts::table.find(3)).execute(conn)?;

        let live: Vec<i32> = posts::table.active().select(posts::id).order(posts::id).load(conn)?;
        let dead: Vec<i32> = posts::table.only_deleted().select(posts::id).load(conn)?;
        assert_eq!(live, [1, 2, 4]);
        assert_eq!(dead, [3]);
        assert_eq!(posts::table.with_deleted().count().get_result::<i64>(conn)?, 4);
        Ok(())
    }

    fn scopes_split_rows_by_active_flag(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(attempts::table.filter(attempts::exam_id.eq(10))).execute(conn)?;

        let live: Vec<Attempt> = attempts::table.active().load(conn)?;
        assert_eq!(live.iter().map(|a| a.id).collect::<Vec<_>>(), [3]);
        assert!(live.iter().all(|a| a.active));
        let dead: Vec<Attempt> = attempts::table.only_deleted().order(attempts::id).load(conn)?;
        assert_eq!(dead.iter().map(|a| a.id).collect::<Vec<_>>(), [1, 2]);
        assert!(dead.iter().all(|a| !a.active));
        Ok(())
    }

    fn scopes_work_on_a_custom_marker_column(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(documents::table.find(1)).execute(conn)?;

        let dead: Vec<Document> = documents::table.only_deleted().load(conn)?;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].id, 1);
        assert!(dead[0].archived_at.is_some());
        assert_eq!(documents::table.active().count().get_result::<i64>(conn)?, 2);
        Ok(())
    }

    fn scopes_compose_with_filter_order_select_and_limit(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(users::table.find(1)).execute(conn)?;

        // the scope after the other clauses...
        let after: Vec<String> = users::table
            .filter(users::id.gt(0))
            .order(users::name.desc())
            .select(users::name)
            .limit(2)
            .active()
            .load(conn)?;
        // ...and before them
        let before: Vec<String> = users::table
            .active()
            .filter(users::id.gt(0))
            .order(users::name.desc())
            .select(users::name)
            .limit(2)
            .load(conn)?;
        assert_eq!(after, ["dan", "cat"]);
        assert_eq!(before, after);

        let first_dead: User = users::table.only_deleted().order(users::id).first(conn)?;
        assert_eq!(first_dead.id, 1);
        Ok(())
    }

    fn scopes_work_on_boxed_queries_before_and_after_boxing(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(users::table.filter(users::name.eq("bob"))).execute(conn)?;

        let mut boxed_first = users::table.into_boxed().active();
        boxed_first = boxed_first.filter(users::id.ne(3)).order(users::id);
        let ids: Vec<i32> = boxed_first.select(users::id).load(conn)?;
        assert_eq!(ids, [1, 4]);

        let scoped_first = users::table.only_deleted().into_boxed();
        let dead: Vec<User> = scoped_first.load(conn)?;
        assert_eq!(dead.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(), ["bob"]);

        // a boxed query with a select clause keeps its scope too
        let names: Vec<String> = users::table
            .select(users::name)
            .order(users::id)
            .into_boxed()
            .active()
            .with_deleted()
            .load(conn)?;
        assert_eq!(names, ["ann", "cat", "dan"]);
        Ok(())
    }

    fn scopes_can_be_named_in_return_types(db) {
        fn live_named(name: &str) -> dsl::Active<dsl::Filter<users::table, dsl::Eq<users::name, &str>>> {
            users::table.filter(users::name.eq(name)).active()
        }
        fn dead_posts_of(user: i32) -> dsl::OnlyDeleted<dsl::Filter<posts::table, dsl::Eq<posts::user_id, i32>>> {
            posts::table.filter(posts::user_id.eq(user)).only_deleted()
        }
        seed(db)?;
        let conn = db.conn();
        soft_delete(posts::table.find(1)).execute(conn)?;
        assert_eq!(live_named("ann").count().get_result::<i64>(conn)?, 1);
        assert_eq!(dead_posts_of(1).select(posts::id).load::<i32>(conn)?, [1]);
        Ok(())
    }
}

/// SQL text only: runs for every compiled backend, with or without a server.
mod sql {
    use super::*;

    per_backend! {
        fn scope_sql_is_the_hand_written_filter() {
            type Db = <Conn as Connection>::Backend;

            // timestamp
            assert_eq!(
                sql::<Db, _>(&users::table.active()),
                sql::<Db, _>(&users::table.filter(users::deleted_at.is_null()))
            );
            assert_eq!(
                sql::<Db, _>(&users::table.only_deleted()),
                sql::<Db, _>(&users::table.filter(users::deleted_at.is_not_null()))
            );
            // `.with_deleted()` adds its trace, `(<live> OR TRUE)`, which planners fold away
            // (`with_deleted_keeps_the_plan` compares the plans).
            assert_eq!(
                sql::<Db, _>(&users::table.with_deleted()),
                sql::<Db, _>(&users::table.filter(users::deleted_at.is_null().or(diesel::dsl::sql::<diesel::sql_types::Bool>("TRUE"))))
            );
            assert_eq!(
                sql::<Db, _>(&posts::table.filter(posts::id.eq(1)).with_deleted()),
                sql::<Db, _>(&posts::table.filter(posts::id.eq(1)).filter(not(posts::deleted).or(diesel::dsl::sql::<diesel::sql_types::Bool>("TRUE"))))
            );
            // deleted flag
            assert_eq!(
                sql::<Db, _>(&posts::table.active()),
                sql::<Db, _>(&posts::table.filter(not(posts::deleted)))
            );
            assert_eq!(
                sql::<Db, _>(&posts::table.only_deleted()),
                sql::<Db, _>(&posts::table.filter(posts::deleted))
            );
            // active flag
            assert_eq!(
                sql::<Db, _>(&attempts::table.active()),
                sql::<Db, _>(&attempts::table.filter(attempts::active))
            );
            assert_eq!(
                sql::<Db, _>(&attempts::table.only_deleted()),
                sql::<Db, _>(&attempts::table.filter(not(attempts::active)))
            );
            // custom column
            assert_eq!(
                sql::<Db, _>(&documents::table.active()),
                sql::<Db, _>(&documents::table.filter(documents::removed_on.is_null()))
            );
            // a statement with every clause
            assert_eq!(
                sql::<Db, _>(
                    &users::table
                        .filter(users::name.eq("ann"))
                        .order(users::id.desc())
                        .select(users::name)
                        .limit(2)
                        .offset(1)
                        .active()
                ),
                sql::<Db, _>(
                    &users::table
                        .filter(users::name.eq("ann"))
                        .order(users::id.desc())
                        .select(users::name)
                        .limit(2)
                        .offset(1)
                        .filter(users::deleted_at.is_null())
                )
            );
            // boxed, before and after
            assert_eq!(
                sql::<Db, _>(&users::table.into_boxed::<Db>().only_deleted()),
                sql::<Db, _>(&users::table.into_boxed::<Db>().filter(users::deleted_at.is_not_null()))
            );
            assert_eq!(
                sql::<Db, _>(&users::table.active().into_boxed::<Db>()),
                sql::<Db, _>(&users::table.filter(users::deleted_at.is_null()).into_boxed::<Db>())
            );
            // and the SQL is what one expects to read
            let text = sql::<Db, _>(&users::table.active().select(users::id));
            assert!(text.contains("WHERE (") && text.contains("deleted_at") && text.contains("IS NULL"), "{text}");
        }
    }
}
