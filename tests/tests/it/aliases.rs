//! Diesel aliases of a soft-deletable table: the predicates of the alias in `.filter()` and in
//! a join's `ON` clause, and the scopes on the alias and on statements that read from it, on
//! models with a newtype id and `DateTime<Utc>` markers.

use diesel::prelude::*;
use diesel::query_builder::QueryFragment;
use soft_delete_runtime::dsl::{self, deleted_in, live, live_in};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::soft_delete;
use soft_delete_tests::{backend_tests, per_backend};

use crate::forum_schema::*;

backend_tests! {
    fn an_inner_join_filters_author_and_recipient_each_by_its_own_marker(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(person::table.find(PersonId(2))).execute(conn)?; // bob

        // the recipient's predicate in `ON`, the author's in `WHERE`
        let rows: Vec<(i32, String, String)> = comment::table
            .inner_join(person::table)
            .inner_join(
                person1.on(comment::recipient_id
                    .eq(person1.field(person::id))
                    .and(person1.live())),
            )
            .filter(live::<person::table>().and(live::<comment::table>()))
            .select((comment::id, person::name, person1.field(person::name)))
            .order(comment::id)
            .load(conn)?;
        assert_eq!(
            rows,
            [(3, "cat".into(), "ann".into()), (4, "ann".into(), "cat".into())]
        );

        // the function form, in `WHERE`
        // Comments of every state, on purpose: the test is about the person's predicates.
        let to_live: Vec<i32> = soft_delete_runtime::guard::allow(|| {
            comment::table
                .inner_join(person1.on(comment::recipient_id.eq(person1.field(person::id))))
                .filter(live_in(person1))
                .select(comment::id)
                .order(comment::id)
                .load(conn)
        })?;
        assert_eq!(to_live, [2, 3, 4]);

        // two aliases of one table, declared in a function
        let (author, recipient) = diesel::alias!(person as author, person as recipient);
        // Comments of every state, on purpose: the test is about the person's predicates.
        let between_live: Vec<(String, String)> = soft_delete_runtime::guard::allow(|| {
            comment::table
                .inner_join(author.on(comment::creator_id.eq(author.field(person::id)).and(author.live())))
                .inner_join(
                    recipient.on(comment::recipient_id.eq(recipient.field(person::id)).and(recipient.live())),
                )
                .select((author.field(person::name), recipient.field(person::name)))
                .order(comment::id)
                .load(conn)
        })?;
        assert_eq!(between_live, [("cat".into(), "ann".into()), ("ann".into(), "cat".into())]);
        assert_eq!(author.only_deleted().select(author.field(person::name)).load::<String>(conn)?, ["bob"]);
        Ok(())
    }

    fn a_left_join_with_the_alias_predicate_in_on_keeps_unmatched_rows(db) {
        seed(db)?;
        let conn = db.conn();
        soft_delete(person::table.find(PersonId(3))).execute(conn)?; // cat

        // Comments of every state, on purpose: the test is about the person's predicates.
        let rows: Vec<(i32, Option<PersonId>)> = soft_delete_runtime::guard::allow(|| {
            comment::table
                .left_join(
                    person1.on(comment::recipient_id
                        .eq(person1.field(person::id))
                        .and(person1.live())),
                )
                .select((comment::id, person1.field(person::id).nullable()))
                .order(comment::id)
                .load(conn)
        })?;
        assert_eq!(
            rows,
            [
                (1, Some(PersonId(2))),
                (2, None),
                (3, Some(PersonId(1))),
                (4, None),
            ]
        );

        // the deleted predicate: only the recipients that are gone
        // Comments of every state, on purpose: the test is about the person's predicates.
        let gone: Vec<(i32, Option<String>)> = soft_delete_runtime::guard::allow(|| {
            comment::table
                .left_join(
                    person1.on(comment::recipient_id
                        .eq(person1.field(person::id))
                        .and(deleted_in(person1))),
                )
                .select((comment::id, person1.field(person::name).nullable()))
                .order(comment::id)
                .load(conn)
        })?;
        assert_eq!(
            gone,
            [(1, None), (2, Some("cat".into())), (3, None), (4, Some("cat".into()))]
        );
        Ok(())
    }

    fn the_scopes_apply_to_an_alias_and_to_statements_reading_from_it(db) {
        seed(db)?;
        let conn = db.conn();
        let bob: Person = person::table.find(PersonId(2)).with_deleted().first(conn)?;
        bob.soft_delete(conn)?;

        let live: Vec<Person> = person1.active().order(person1.field(person::id)).load(conn)?;
        assert_eq!(live.iter().map(|p| p.id).collect::<Vec<_>>(), [PersonId(1), PersonId(3)]);
        let dead: Vec<Person> = person1.only_deleted().load(conn)?;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].name, "bob");
        assert!(dead[0].deleted_at.is_some());
        assert_eq!(person1.with_deleted().count().get_result::<i64>(conn)?, 3);

        // a statement with clauses, the scope last
        let names: Vec<String> = person1
            .filter(person1.field(person::id).ne(PersonId(3)))
            .order(person1.field(person::name).desc())
            .select(person1.field(person::name))
            .active()
            .load(conn)?;
        assert_eq!(names, ["ann"]);

        // boxed, before and after the scope
        let mut boxed = person1.into_boxed().active();
        boxed = boxed.order(person1.field(person::id));
        assert_eq!(boxed.select(person1.field(person::name)).load::<String>(conn)?, ["ann", "cat"]);
        let dead_ids: Vec<PersonId> = person1
            .only_deleted()
            .into_boxed()
            .select(person1.field(person::id))
            .load(conn)?;
        assert_eq!(dead_ids, [PersonId(2)]);
        Ok(())
    }

    fn alias_scopes_and_predicates_can_be_named_in_return_types(db) {
        fn live_recipients() -> dsl::Active<person1> {
            person1.active()
        }
        fn recipient_is_live() -> dsl::live_in<person1> {
            person1.live()
        }
        #[diesel::dsl::auto_type(dsl_path = "soft_delete_runtime::dsl")]
        fn replies_to_the_gone() -> _ {
            comment::table
                .inner_join(person1.on(comment::recipient_id.eq(person1.field(person::id))))
                .filter(deleted_in(person1))
                .select(comment::id)
        }
        seed(db)?;
        let conn = db.conn();
        soft_delete(person::table.find(PersonId(1))).execute(conn)?;
        assert_eq!(live_recipients().count().get_result::<i64>(conn)?, 2);
        assert_eq!(
            person1.filter(recipient_is_live()).count().get_result::<i64>(conn)?,
            2
        );
        // Comments of every state, on purpose: the test is about the person's predicates.
        let replies = soft_delete_runtime::guard::allow(|| replies_to_the_gone().load::<i32>(conn))?;
        assert_eq!(replies, [3]);
        Ok(())
    }
}

/// The SQL text of a query on backend `DB`.
fn sql<DB, Q>(query: &Q) -> String
where
    DB: diesel::backend::Backend + Default,
    DB::QueryBuilder: Default,
    Q: QueryFragment<DB>,
{
    diesel::debug_query::<DB, _>(query).to_string()
}

/// SQL text only: runs for every compiled backend, with or without a server.
mod sql {
    use super::*;

    per_backend! {
        fn alias_sql_is_the_hand_written_filter_on_the_aliased_marker() {
            type Db = <Conn as Connection>::Backend;
            let marker = person1.field(person::deleted_at);
            assert_eq!(sql::<Db, _>(&person1.active()), sql::<Db, _>(&person1.filter(marker.is_null())));
            assert_eq!(
                sql::<Db, _>(&person1.only_deleted()),
                sql::<Db, _>(&person1.filter(marker.is_not_null()))
            );
            // `.with_deleted()` adds its trace, `(<live> OR TRUE)`, which planners fold away.
            let live = sql::<Db, _>(&person1.active());
            let (_, live_predicate) = live.split_once(" WHERE ").expect("a WHERE clause");
            let live_predicate = live_predicate.trim_end_matches(" -- binds: []");
            assert_eq!(
                sql::<Db, _>(&person1.with_deleted()),
                live.replace(live_predicate, &format!("({live_predicate} OR TRUE)"))
            );
            assert_eq!(
                sql::<Db, _>(&person1.select(person1.field(person::name)).active()),
                sql::<Db, _>(&person1.select(person1.field(person::name)).filter(marker.is_null()))
            );
            assert_eq!(
                sql::<Db, _>(&person1.into_boxed::<Db>().only_deleted()),
                sql::<Db, _>(&person1.into_boxed::<Db>().filter(marker.is_not_null()))
            );

            let on_live = comment::table
                .left_join(person1.on(comment::recipient_id.eq(person1.field(person::id)).and(person1.live())))
                .select(comment::id);
            let by_hand = comment::table
                .left_join(person1.on(comment::recipient_id.eq(person1.field(person::id)).and(marker.is_null())))
                .select(comment::id);
            let text = sql::<Db, _>(&on_live);
            assert_eq!(text, sql::<Db, _>(&by_hand));
            assert!(text.contains("person1") && text.contains("deleted_at") && text.contains("IS NULL"), "{text}");
        }
    }
}
