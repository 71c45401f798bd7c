//! One id type in errors: every error names a row by its key as the database writes it as
//! text ([`RowId`](soft_delete_runtime::RowId)), whichever operation found it, also for a model
//! whose id is a newtype (`PostId(6)` is named `6`), and reads it back as that newtype
//! (`typed_ids.rs` follows one row through every error).

use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::deferred::reassign;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;
use soft_delete_runtime::{ddl, marker, soft_delete, Error};
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::{leak, Exec as _, KeysIn, MarkedRestoreIn, ReassignIn as _};

use crate::collector_schema::dialect;
use crate::markers_schema::*;

/// The holder and the restored row of the conflict `err` carries, as text.
fn conflict_ids(err: &Error) -> (String, Option<String>) {
    let conflict = err
        .conflict()
        .unwrap_or_else(|| panic!("a conflict: {err}"));
    (
        conflict.live_id().to_string(),
        conflict.restored_id().map(ToString::to_string),
    )
}

backend_tests! {
    fn a_key_conflict_names_rows_alike_by_value_and_by_batch(db, x) {
        seed(db)?;
        for statement in ddl::active_unique::<Post>(dialect::<Conn>()) {
            diesel::sql_query(statement).execute(db.conn())?;
        }
        let conn = db.conn();
        diesel::insert_into(post::table)
            .values((post::id.eq(PostId(6)), post::community_id.eq(1), post::creator_id.eq(PersonId(2)), post::slug.eq("spam")))
            .execute(conn)?;

        // by value: the restore of a row whose key a live row holds
        let spam: Post = post::table.find(PostId(2)).with_deleted().first(conn)?;
        let err = MarkedRestoreIn::<_, Post, _, _>::restore_marked(x, conn, &spam, post::removed).expect_err("post 6 holds the slug");
        assert_eq!(conflict_ids(&err), ("6".to_owned(), Some("2".to_owned())), "{err}");
        let conflict = err.conflict().expect("a conflict");
        assert_eq!(conflict.live_id().typed::<Post>(), Ok(PostId(6)), "read as the model's newtype id");

        // by value: the start of a key that has a live row
        let err = KeysIn::<_, Post, _, _>::start(x, conn, (1, "hello".to_owned()), |_| {
            (post::id.eq(PostId(8)), post::community_id.eq(1), post::creator_id.eq(PersonId(1)), post::slug.eq("hello"))
        })
        .expect_err("post 1 holds the slug");
        assert_eq!(conflict_ids(&err), ("1".to_owned(), None), "{err}");

        // by batch: a restore that would make a second visible `hello`
        let rust: &Community = leak(community::table.find(1).with_deleted().first(conn)?);
        let batch = x.archive(conn, &Collector::new(rust))?.batch();
        diesel::insert_into(post::table)
            .values((post::id.eq(PostId(7)), post::community_id.eq(1), post::creator_id.eq(PersonId(3)), post::slug.eq("hello")))
            .execute(conn)?;
        let err = x.restore(conn, batch).expect_err("post 7 holds the slug");
        assert_eq!(conflict_ids(&err), ("7".to_owned(), Some("1".to_owned())), "{err}");
        let conflict = err.conflict().expect("a conflict");
        assert_eq!(conflict.live_id().typed::<Post>(), Ok(PostId(7)), "read the same way as by value");
        Ok(())
    }

    fn protect_purge_and_reassign_name_rows_the_same_way(db, x) {
        seed(db)?;
        let conn = db.conn();
        // the visible reply that protects a member
        let cat: &Member = leak(member::table.find(PersonId(3)).with_deleted().first(conn)?);
        let err = x.archive(conn, &Collector::new(cat)).expect_err("reply 4 protects cat");
        let Error::Protected { blockers } = &err else { panic!("{err}") };
        assert_eq!(blockers[0].ids, ["4"], "{err}");
        assert_eq!(blockers[0].ids[0].typed::<Reply>(), Ok(4));

        // the post a purge kept
        soft_delete(marker(reply::removed, reply::table.find(1))).execute(conn)?;
        diesel::update(post::table.find(PostId(3))).set(post::deleted_at.eq(Some(soft_delete_tests::stamp::instant(soft_delete_runtime::Timestamp::UNIX_EPOCH)))).execute(conn)?;
        diesel::insert_into(reply::table)
            .values((reply::id.eq(5), reply::post_id.eq(PostId(3)), reply::creator_id.eq(PersonId(1)), reply::content.eq("x")))
            .execute(conn)?;
        let report = x.purge(conn, &mut Purge::before(post::table, soft_delete_runtime::Timestamp::now()))?;
        assert_eq!(report.skipped[0].ids, ["3"]);
        assert_eq!(report.skipped[0].ids[0].typed::<Post>(), Ok(PostId(3)));

        // the rows a reassignment refused, given as newtype ids
        let err = x.reassign(conn, reassign(post::community_id).with_deleted(), [(PostId(1), 2), (PostId(1), 3)]).unwrap_err();
        assert!(matches!(&err, Error::DuplicateRow { row, .. } if row.typed::<Post>() == Ok(PostId(1))), "{err}");
        let err = x.reassign(conn, reassign(post::community_id).with_deleted(), [(PostId(1), 2), (PostId(4), 2)]).unwrap_err();
        assert!(matches!(&err, Error::DuplicateTarget { first, second, .. } if first == "1" && second == "4"), "{err}");
        let err = x.reassign(conn, reassign(post::community_id).with_deleted().within(post::slug.eq("hello")), [(PostId(1), 2)]).unwrap_err();
        assert!(matches!(&err, Error::ValueTaken { holder, .. } if holder == "4"), "{err}");
        let err = x.reassign(conn, reassign(post::community_id).with_deleted().within(post::community_id.eq(2)), [(PostId(1), 5)]).unwrap_err();
        assert!(matches!(&err, Error::NotInScope { rows, .. } if rows == &["1"]), "{err}");
        Ok(())
    }
}
