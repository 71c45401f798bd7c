//! A primary key whose field is renamed: `#[diesel(primary_key(...))]` names columns, as Diesel's
//! own `Identifiable` reads it, and the derive finds the field of that column whatever the
//! field is called (`#[diesel(column_name = post_id)] id`), for the active-unique key's row
//! ids and the row a `retry` retires.

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::backend_tests;
use soft_delete_tests::stamp::Stamp;

diesel::table! {
    posts (post_id) {
        post_id -> Integer,
        legacy_id -> Integer,
        slug -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// The key column `post_id` is the field `id`; the field that reads `legacy_id` is called
/// `legacy` (a field named like the key column, but of another column, would be worse still).
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = posts, primary_key(post_id))]
#[active_unique(fields = "slug")]
struct Post {
    #[diesel(column_name = post_id)]
    id: i32,
    #[diesel(column_name = legacy_id)]
    legacy: i32,
    slug: String,
    deleted_at: Option<Stamp>,
}

backend_tests! {
    fn a_renamed_primary_key_field_names_the_rows(db) {
        db.create(
            "CREATE TABLE posts (post_id {pk}, legacy_id {int} NOT NULL, slug {text} NOT NULL,
                 deleted_at {ts} NULL);",
        );
        let conn = db.conn();
        // Every legacy id is another post's key: a row named by it would be the wrong one.
        diesel::insert_into(posts::table)
            .values((posts::post_id.eq(1), posts::legacy_id.eq(2), posts::slug.eq("a")))
            .execute(conn)?;
        diesel::insert_into(posts::table)
            .values((posts::post_id.eq(2), posts::legacy_id.eq(1), posts::slug.eq("b")))
            .execute(conn)?;

        let next = Post::retry(conn, "a".to_owned(), |old: &Post, _| {
            (posts::post_id.eq(3), posts::legacy_id.eq(old.legacy), posts::slug.eq("a"))
        })?;
        assert_eq!(next.id, 3);
        let live: Vec<i32> = posts::table.active().select(posts::post_id).order(posts::post_id).load(conn)?;
        assert_eq!(live, [2, 3], "post 1 was retired, post 2 left alone");

        let old = Post::history(conn, "a".to_owned())?.into_iter().find(|p| p.id == 1).expect("post 1");
        match old.restore(conn) {
            Err(Error::Conflict(conflict)) => assert_eq!(conflict.live_id().typed::<Post>(), Ok(3)),
            other => panic!("expected a conflict, got {other:?}"),
        }
        Ok(())
    }
}
