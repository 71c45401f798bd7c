//! Restoring a batch: exactly what it archived, with an earlier batch present; links cut
//! by `set_null` / `set_default` put back; two batches within one second; a restore that
//! would break a live-only unique key; a table that cannot tell its batches apart.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend};

use crate::collector_schema::*;
use crate::shop_dump;

backend_tests! {
    fn restore_brings_back_exactly_its_batch_and_leaves_an_earlier_one(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        // An earlier batch: order 5 on its own (with its item 6 and event 4).
        let earlier = x.archive(conn, &Collector::new(orders::table.find(5)))?;
        assert_eq!(earlier.plan().total_archived(), 3);
        let before = shop_dump!(&mut *conn);

        let ann = x.archive(conn, &Collector::new(members::table.find(2)))?;
        assert_eq!(ann.plan().archived("orders"), 2, "order 5 was archived already");
        assert_ne!(shop_dump!(&mut *conn), before);

        let restored = x.restore(conn, ann.batch())?;
        assert_eq!(restored.rows_of("members"), 1);
        assert_eq!(restored.rows_of("orders"), 2);
        assert_eq!(restored.rows_of("order_items"), 3);
        assert_eq!(restored.rows_of("item_events"), 2);
        assert_eq!(restored.rows_of("comments"), 5);
        assert_eq!(restored.links_of("reviews", "author_id"), 2);
        assert_eq!(restored.links_of("badges", "member_id"), 1);

        // Byte for byte what it was before ann's archive, except the sessions that
        // `cascade(hard_delete)` deleted for good: order 5, item 6 and event 4 are still
        // archived, with the earlier batch's stamp and id.
        let sessions_gone = |dump: Vec<String>| -> Vec<String> {
            dump.into_iter()
                .filter(|row| !row.starts_with("sessions (1, 2,") && !row.starts_with("sessions (2, 2,"))
                .collect()
        };
        assert_eq!(shop_dump!(&mut *conn), sessions_gone(before));
        let order5: Order = orders::table.find(5).with_deleted().first(conn)?;
        assert_eq!(order5.deleted_at, Some(Stamp::from(earlier.batch().stamp())));
        let item6: OrderItem = order_items::table.find(6).with_deleted().first(conn)?;
        assert_eq!((item6.active, item6.archive_batch), (false, Some(earlier.batch().id())));

        // Restoring twice is refused, saying when; the earlier batch restores its own rows.
        let error = x.restore_by(conn, ann.batch(), "bob").expect_err("restored already");
        assert!(matches!(error, Error::AlreadyRestored { id, by: None, .. } if id == ann.batch().id()), "{error:?}");
        assert_eq!(x.restore(conn, earlier.batch())?.total_rows(), 3);
        assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, 5);
        Ok(())
    }

    fn a_row_hidden_again_on_its_own_stays_hidden_when_its_batch_is_restored(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(members::table.find(2)))?;
        let batch = archived.batch();
        let in_batch = order_items::archive_batch.eq(batch.id());
        assert_eq!(
            order_items::table.filter(in_batch).select(order_items::id).order(order_items::id).with_deleted().load::<i32>(conn)?,
            [1, 2, 3, 6]
        );

        // Item 2 comes back on its own: a restore by value detaches it from the batch...
        let item: OrderItem = order_items::table.find(2).with_deleted().first(conn)?;
        assert_eq!(soft_delete_tests::exec::RestoreIn::<_, OrderItem, _>::restore_row(x, conn, &item)?, 1);
        let item: OrderItem = order_items::table.find(2).with_deleted().first(conn)?;
        assert_eq!((item.active, item.archive_batch), (true, None));
        // ...and is hidden again later, on its own.
        assert_eq!(item.soft_delete(conn)?, 1);
        // Item 3 was brought back behind the library's back, keeping the batch id, and is
        // hidden again by a plain soft delete, which detaches it from any earlier batch.
        conn.batch_execute("UPDATE order_items SET active = TRUE WHERE id = 3")?;
        assert_eq!(soft_delete_runtime::soft_delete(order_items::table.find(3)).execute(conn)?, 1);
        let item: OrderItem = order_items::table.find(3).with_deleted().first(conn)?;
        assert_eq!((item.active, item.archive_batch), (false, None));

        // The batch brings back what it still holds, items 1 and 6; items 2 and 3 were hidden
        // by plain soft deletes after it and stay hidden.
        let restored = x.restore(conn, batch)?;
        assert_eq!(restored.rows_of("order_items"), 2);
        let hidden: Vec<i32> =
            order_items::table.only_deleted().select(order_items::id).order(order_items::id).load(conn)?;
        assert_eq!(hidden, [2, 3]);
        Ok(())
    }

    fn a_row_of_the_batch_already_live_is_not_restored_again(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(members::table.find(2)))?;
        // Item 6 is brought back behind the library's back, keeping the batch id.
        conn.batch_execute("UPDATE order_items SET active = TRUE WHERE id = 6")?;
        let restored = x.restore(conn, archived.batch())?;
        // Items 1, 2 and 3 come back; item 6 was live already, so the batch leaves it alone.
        assert_eq!(restored.rows_of("order_items"), 3);
        let item: OrderItem = order_items::table.find(6).with_deleted().first(conn)?;
        assert_eq!((item.active, item.archive_batch), (true, Some(archived.batch().id())));
        Ok(())
    }

    fn set_null_and_set_default_links_come_back_unless_changed_since(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(members::table.find(2)))?;
        // After the archive the application gives review 2 to bob and badge 1 to cat.
        conn.batch_execute(
            "UPDATE reviews SET author_id = 3 WHERE id = 2; UPDATE badges SET member_id = 4 WHERE id = 1",
        )?;
        let restored = x.restore(conn, archived.batch())?;
        assert_eq!(restored.links_of("reviews", "author_id"), 1);
        assert_eq!(restored.links_of("badges", "member_id"), 0);
        let authors: Vec<Option<i32>> = reviews::table.select(reviews::author_id).order(reviews::id).load(conn)?;
        assert_eq!(authors, [Some(2), Some(3), Some(3), None]);
        let holders: Vec<i32> = badges::table.select(badges::member_id).order(badges::id).load(conn)?;
        assert_eq!(holders, [4, 3, 1]);
        // the journal keeps nothing of a restored batch
        let left: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>("SELECT COUNT(*) FROM soft_delete_journal")
            .get_result(conn)?;
        assert_eq!(left, 0);
        Ok(())
    }

    fn set_default_links_come_back(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(members::table.find(2)))?;
        let holders: Vec<i32> = badges::table.select(badges::member_id).order(badges::id).load(conn)?;
        assert_eq!(holders, [1, 3, 1]);
        assert_eq!(x.restore(conn, archived.batch())?.links_of("badges", "member_id"), 1);
        let holders: Vec<i32> = badges::table.select(badges::member_id).order(badges::id).load(conn)?;
        assert_eq!(holders, [2, 3, 1]);
        Ok(())
    }

    fn two_archives_within_one_second_are_two_batches(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let first = x.archive(conn, &Collector::new(orders::table.find(1)))?;
        let second = x.archive(conn, &Collector::new(orders::table.find(3)))?;
        assert_ne!(first.batch(), second.batch());
        assert!(second.batch().stamp() < first.batch().stamp() + std::time::Duration::from_secs(1));

        // Restoring the first brings back order 1 and its items only.
        let restored = x.restore(conn, first.batch())?;
        assert_eq!((restored.rows_of("orders"), restored.rows_of("order_items")), (1, 2));
        let archived: Vec<i32> = orders::table.only_deleted().select(orders::id).order(orders::id).load(conn)?;
        assert_eq!(archived, [3]);
        let items: Vec<i32> = order_items::table.only_deleted().select(order_items::id).order(order_items::id).load(conn)?;
        assert_eq!(items, [4]);
        Ok(())
    }

    fn a_batch_restored_later_from_its_id(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let id = x.archive(conn, &Collector::new(members::table.find(2)))?.batch().id();
        // e.g. stored in an "undo" table, read back in another request
        let batch = x.find_batch::<members::table>(conn, id)?;
        assert_eq!(x.restore(conn, batch)?.rows_of("members"), 1);
        assert_eq!(members::table.active().count().get_result::<i64>(conn)?, 4);
        // An id is a batch of its own root table only.
        let error = x.find_batch::<orders::table>(conn, id).expect_err("archived from members");
        let Error::WrongRoot { id: wrong, expected, found } = &error else {
            panic!("expected Error::WrongRoot, got {error:?}");
        };
        assert_eq!((*wrong, expected.as_str(), found.as_str()), (id, "orders", "members"));
        let error = x.find_batch::<members::table>(conn, id + 1000).expect_err("no such archive");
        assert!(matches!(error, Error::ArchiveNotFound { id: missing } if missing == id + 1000), "{error:?}");
        Ok(())
    }

    fn a_restore_that_would_break_a_live_only_unique_key_changes_nothing(db, x) {
        seed(db)?;
        create_journal(db);
        let key = match db.backend() {
            Backend::Sqlite | Backend::Postgres => {
                "CREATE UNIQUE INDEX orders_live_code ON orders (code) WHERE NOT deleted"
            }
            Backend::Mysql => {
                "ALTER TABLE orders ADD COLUMN live_code VARCHAR(255) AS (CASE WHEN deleted THEN NULL ELSE code END) VIRTUAL, \
                 ADD UNIQUE KEY orders_live_code (live_code)"
            }
        };
        db.conn().batch_execute(key)?;
        let backend = db.backend();
        let conn = db.conn();
        let archived = x.archive(conn, &Collector::new(orders::table.find(1)))?;
        // A new live order takes the archived one's code.
        conn.batch_execute("INSERT INTO orders (id, member_id, code) VALUES (6, 2, 'A-1')")?;
        let before = shop_dump!(&mut *conn);

        let error = x.restore(conn, archived.batch()).expect_err("code A-1 is live again");
        let Error::RestoreConflict { table, key, .. } = &error else {
            panic!("expected Error::RestoreConflict, got {error:?}");
        };
        assert_eq!(table, "orders");
        let expected = match backend {
            Backend::Sqlite => "orders.code",
            Backend::Postgres | Backend::Mysql => "orders_live_code",
        };
        assert_eq!(key.as_deref(), Some(expected));
        assert!(error.to_string().starts_with("restoring rows of `orders` conflicts with a live row on unique key"), "{error}");
        // items of order 1 are still archived: the whole restore was rolled back
        assert_eq!(shop_dump!(&mut *conn), before);
        Ok(())
    }

    fn an_older_batch_restored_first_leaves_a_link_a_newer_batch_cut(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        // Ann's archive cuts reviews 1, 2 and resets badge 1 to the ghost.
        let ann = x.archive(conn, &Collector::new(members::table.find(2)))?;
        // Then the application gives review 1 and badge 1 to bob, and bob is archived too,
        // which cuts them again (with review 3 and badge 2).
        conn.batch_execute(
            "UPDATE reviews SET author_id = 3 WHERE id = 1; UPDATE badges SET member_id = 3 WHERE id = 1; \
             DELETE FROM invoices WHERE id = 1",
        )?;
        let bob = x.archive(conn, &Collector::new(members::table.find(3)))?;
        let authors = |conn: &mut Conn| -> QueryResult<Vec<Option<i32>>> {
            reviews::table.select(reviews::author_id).order(reviews::id).load(conn)
        };
        let holders = |conn: &mut Conn| -> QueryResult<Vec<i32>> {
            badges::table.select(badges::member_id).order(badges::id).load(conn)
        };
        assert_eq!(authors(conn)?, [None, None, None, None]);
        assert_eq!(holders(conn)?, [1, 1, 1]);

        // Ann's batch first: review 1 and badge 1 changed hands after her archive, so they
        // are not hers to put back; review 2 is.
        let restored = x.restore(conn, ann.batch())?;
        assert_eq!(restored.links_of("reviews", "author_id"), 1);
        assert_eq!(restored.links_of("badges", "member_id"), 0);
        assert_eq!(authors(conn)?, [None, Some(2), None, None]);
        assert_eq!(holders(conn)?, [1, 1, 1]);

        // Bob's batch puts back what it cut: both end as they were before his archive.
        let restored = x.restore(conn, bob.batch())?;
        assert_eq!(restored.links_of("reviews", "author_id"), 2);
        assert_eq!(restored.links_of("badges", "member_id"), 2);
        assert_eq!(authors(conn)?, [Some(3), Some(2), Some(3), None]);
        assert_eq!(holders(conn)?, [3, 3, 1]);
        Ok(())
    }
}

/// A flag marker with neither a deletion time nor a batch column cannot tell one batch's
/// rows from another's, so an archive that would hide rows of it is refused.
mod unidentifiable {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;

    diesel::table! {
        boards (id) {
            id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        pins (id) {
            id -> Integer,
            board_id -> Integer,
            deleted -> Bool,
        }
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    #[soft_delete(children(pins::board_id = cascade))]
    struct Board {
        id: i32,
        deleted_at: Option<Stamp>,
    }

    #[allow(dead_code)] // the models are here for their derive
    #[derive(Queryable, SoftDelete)]
    struct Pin {
        id: i32,
        board_id: i32,
        deleted: bool,
    }

    backend_tests! {
        fn archiving_rows_that_cannot_be_told_apart_is_refused_before_writing(db, x) {
            db.create(
                "CREATE TABLE boards (id {pk}, deleted_at {ts} NULL);
                 CREATE TABLE pins (id {pk}, board_id {int} NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE);
                 INSERT INTO boards (id) VALUES (1);
                 INSERT INTO pins (id, board_id) VALUES (1, 1), (2, 1);",
            );
            crate::collector_schema::create_archive_log(db);
            let conn = db.conn();
            let not_identifiable = |error: Error| match error {
                Error::BatchNotIdentifiable { table } => Ok(table),
                other => Err(other),
            };
            // Through a cascade edge: the batch could be archived, but never restored.
            let error = x.archive(conn, &Collector::new(boards::table.find(1))).expect_err("pins cannot be told apart");
            assert_eq!(not_identifiable(error).map_err(|e| e.to_string())?, "pins");
            let error = x.preview(conn, &Collector::new(boards::table.find(1))).expect_err("the preview says so too");
            assert_eq!(not_identifiable(error).map_err(|e| e.to_string())?, "pins");
            // As the root.
            let error = x.archive(conn, &Collector::new(pins::table.find(1))).expect_err("pins cannot be told apart");
            assert_eq!(not_identifiable(error).map_err(|e| e.to_string())?, "pins");
            // Nothing was written, not even the board.
            assert_eq!(boards::table.active().count().get_result::<i64>(conn)?, 1);
            assert_eq!(pins::table.active().count().get_result::<i64>(conn)?, 2);

            // A batch found in the log (here written by hand) is refused by its restore too,
            // before writing.
            conn.batch_execute(
                "UPDATE boards SET deleted_at = '2026-01-01 00:00:00'; UPDATE pins SET deleted = TRUE;
                 INSERT INTO soft_delete_archive_log (id, archived_at, root_table, root_count, counts)
                   VALUES (7, '2026-01-01 00:00:00', 'boards', 1, '')",
            )?;
            let batch = x.find_batch::<boards::table>(conn, 7)?;
            let error = x.restore(conn, batch).expect_err("pins cannot be told apart");
            assert_eq!(not_identifiable(error).map_err(|e| e.to_string())?, "pins");
            assert_eq!(pins::table.active().count().get_result::<i64>(conn)?, 0);
            Ok(())
        }
    }
}

/// PostgreSQL's own ways to refuse a second live row that no model declares: an exclusion
/// constraint, and a unique constraint whose check is deferred to the commit.
#[cfg(feature = "postgres")]
mod postgres_constraints {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::Error;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;

    use crate::collector_schema::*;
    use crate::shop_dump;

    /// Archives order 1 (code A-1), gives a new live order its code, and checks that restoring
    /// the batch is refused by `orders_live_code` as a [`Error::RestoreConflict`], writing
    /// nothing.
    macro_rules! restore_is_refused_by {
        ($db:expr, $x:expr, $constraint:expr) => {{
            let db = $db;
            let x = $x;
            seed(db)?;
            create_journal(db);
            db.conn().batch_execute($constraint)?;
            let conn = db.conn();
            let archived = x.archive(conn, &Collector::new(orders::table.find(1)))?;
            conn.batch_execute("INSERT INTO orders (id, member_id, code) VALUES (6, 2, 'A-1')")?;
            let before = shop_dump!(&mut *conn);

            let error = x
                .restore(conn, archived.batch())
                .expect_err("code A-1 is live again");
            let Error::RestoreConflict { table, key, .. } = &error else {
                panic!("expected Error::RestoreConflict, got {error:?}");
            };
            assert_eq!(
                (table.as_str(), key.as_deref()),
                ("orders", Some("orders_live_code"))
            );
            assert_eq!(shop_dump!(&mut *conn), before);
            Ok(())
        }};
    }

    backend_tests! {
        type Conn = diesel::PgConnection;

        fn an_exclusion_constraint_refusing_a_restore_is_a_restore_conflict(db, x) {
            restore_is_refused_by!(
                db,
                x,
                "ALTER TABLE orders ADD CONSTRAINT orders_live_code \
                 EXCLUDE USING btree (code WITH =) WHERE (NOT deleted)"
            )
        }

        fn a_deferred_unique_constraint_refusing_at_commit_is_a_restore_conflict(db, x) {
            restore_is_refused_by!(
                db,
                x,
                "ALTER TABLE orders \
                 ADD COLUMN live_code TEXT GENERATED ALWAYS AS (CASE WHEN deleted THEN NULL ELSE code END) STORED, \
                 ADD CONSTRAINT orders_live_code UNIQUE (live_code) DEFERRABLE INITIALLY DEFERRED"
            )
        }

        fn a_deferred_exclusion_constraint_refusing_at_commit_is_a_restore_conflict(db, x) {
            restore_is_refused_by!(
                db,
                x,
                "ALTER TABLE orders ADD CONSTRAINT orders_live_code \
                 EXCLUDE USING btree (code WITH =) WHERE (NOT deleted) DEFERRABLE INITIALLY DEFERRED"
            )
        }
    }
}

/// A table whose rows reference rows of the same table, the link cut by `set_null`: the cut
/// rows and the archived rows are one table, and on MySQL the restore's check that the parent
/// is still there reads the table it updates.
mod self_set_null {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;

    diesel::table! {
        folders (id) {
            id -> Integer,
            parent_id -> Nullable<Integer>,
            name -> Text,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    #[derive(Debug, Queryable, Identifiable, SoftDelete)]
    #[diesel(table_name = folders)]
    #[soft_delete(children(folders::parent_id = set_null))]
    pub struct Folder {
        pub id: i32,
        pub parent_id: Option<i32>,
        pub name: String,
        pub deleted_at: Option<Stamp>,
    }

    fn seed<C: soft_delete_tests::TestConnection>(db: &mut soft_delete_tests::TestDb<C>) {
        db.create(
            "CREATE TABLE folders (id {pk}, parent_id {int} NULL, name {text} NOT NULL, deleted_at {ts} NULL,
               FOREIGN KEY (parent_id) REFERENCES folders (id));
             INSERT INTO folders (id, parent_id, name) VALUES (1, NULL, 'a');
             INSERT INTO folders (id, parent_id, name) VALUES (2, 1, 'b'), (3, 1, 'c');
             INSERT INTO folders (id, parent_id, name) VALUES (4, 2, 'd'), (5, NULL, 'e');",
        );
        crate::collector_schema::create_archive_log(db);
        crate::collector_schema::create_journal(db);
    }

    backend_tests! {
        fn a_self_reference_cut_by_set_null_comes_back_whole(db, x) {
            seed(db);
            let conn = db.conn();
            let dump = |conn: &mut Conn| -> QueryResult<Vec<(i32, Option<i32>, bool)>> {
                folders::table
                    .select((folders::id, folders::parent_id, folders::deleted_at.is_null()))
                    .order(folders::id)
                    .with_deleted()
                    .load::<(i32, Option<i32>, bool)>(conn)
            };
            let before = dump(conn)?;
            // Folder 1 and its child 2 in one batch: 2 is archived and cut, 3 and 4 cut.
            let archived = x.archive(
                conn,
                &Collector::<folders::table, _>::from_query(
                    folders::table.filter(folders::id.eq_any([1, 2])).select(folders::id).active(),
                ),
            )?;
            assert_eq!(archived.plan().archived("folders"), 2);
            let restored = x.restore(conn, archived.batch())?;
            assert_eq!(restored.rows_of("folders"), 2);
            assert_eq!(dump(conn)?, before);

            // Folder 1 alone, then deleted for good: its links cannot come back, folder 4's can.
            let first = x.archive(conn, &Collector::new(folders::table.find(2)))?;
            let second = x.archive(conn, &Collector::new(folders::table.find(1)))?;
            conn.batch_execute("DELETE FROM folders WHERE id = 1")?;
            // nothing of the second batch is left: refused, its links stay cut
            let error = x.restore(conn, second.batch()).expect_err("folder 1 is gone");
            assert!(matches!(error, Error::ArchivePurged { archived: 1, .. }), "{error:?}");
            let restored = x.restore(conn, first.batch())?;
            assert_eq!((restored.rows_of("folders"), restored.links_of("folders", "parent_id")), (1, 1));
            assert_eq!(dump(conn)?, [(2, None, true), (3, None, true), (4, Some(2), true), (5, None, true)]);
            Ok(())
        }
    }
}
