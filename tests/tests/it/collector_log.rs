//! The archive log: who archived what and why, listed newest first and paged, found and
//! restored by id as a batch of its own root table only, restored once; an archive that rolls
//! back leaves no entry; without the log table an archive is refused with a typed error.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::{ArchiveList, Collector, Rule};
use soft_delete_runtime::ddl::archive_log;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::backend_tests;
use soft_delete_tests::exec::Exec;

use crate::collector_schema::*;

backend_tests! {
    fn the_log_lists_finds_and_restores_archives_by_id(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        let order = x.archive(conn, &Collector::new(orders::table.find(3)).by("alice").reason("cancelled"))?;
        let ann = x.archive(conn, &Collector::new(members::table.find(2)).by("bob"))?;
        let comment = x.archive(conn, &Collector::new(comments::table.find(5)))?;
        let ids = [comment.batch().id(), ann.batch().id(), order.batch().id()];
        assert!(ids[0] > ids[1] && ids[1] > ids[2], "{ids:?}");

        // Newest first, paged.
        let all: Vec<i64> = x.load_archives(conn, &ArchiveList::new())?.iter().map(|e| e.id()).collect();
        assert_eq!(all, ids);
        let first_page: Vec<i64> = x.load_archives(conn, &ArchiveList::new().limit(2))?.iter().map(|e| e.id()).collect();
        assert_eq!(first_page, ids[..2]);
        let next: Vec<i64> = x.load_archives(conn, &ArchiveList::new().limit(2).before(ids[1]))?.iter().map(|e| e.id()).collect();
        assert_eq!(next, ids[2..]);
        let members_only: Vec<i64> =
            x.load_archives(conn, &ArchiveList::new().of::<members::table>())?.iter().map(|e| e.id()).collect();
        assert_eq!(members_only, [ids[1]]);

        // What an entry says.
        let entry = x.find_archive(conn, ann.batch().id())?;
        assert_eq!((entry.root_table(), entry.root_key(), entry.roots()), ("members", Some("2"), 1));
        assert_eq!((entry.by(), entry.reason()), (Some("bob"), None));
        assert_eq!(entry.archived_at(), ann.batch().stamp());
        assert_eq!(entry.archived("orders"), 3);
        assert_eq!(entry.archived("comments"), 5);
        assert_eq!(entry.counts(), ann.plan().counts());
        assert!(entry.counts().iter().any(|(t, rule, n)| t.name == "reviews" && *rule == Rule::SetNull && *n == 2));
        assert_eq!(entry.restored(), None);
        let entry = x.find_archive(conn, order.batch().id())?;
        assert_eq!((entry.by(), entry.reason(), entry.root_key()), (Some("alice"), Some("cancelled"), Some("3")));

        // Restored by id, as its own root only, once.
        let error = x.find_archive(conn, ids[1])?.batch::<orders::table>().expect_err("a members archive");
        assert!(matches!(&error, Error::WrongRoot { found, .. } if found == "members"), "{error:?}");
        let batch = x.find_batch::<members::table>(conn, ids[1])?;
        let restored = x.restore_by(conn, batch, "carol")?;
        assert_eq!(restored.rows_of("orders"), 3);
        let entry = x.find_archive(conn, ids[1])?;
        let (at, by) = entry.restored().ok_or("restored")?;
        assert_eq!(by, Some("carol"));
        let batch = x.find_batch::<members::table>(conn, ids[1])?;
        let error = x.restore(conn, batch).expect_err("restored already");
        let Error::AlreadyRestored { id, at: when, by } = &error else {
            panic!("expected Error::AlreadyRestored, got {error:?}");
        };
        assert_eq!((*id, *when, by.as_deref()), (ids[1], at, Some("carol")));
        assert!(error.to_string().contains("by carol"), "{error}");
        let pending: Vec<i64> = x.load_archives(conn, &ArchiveList::new().not_restored())?.iter().map(|e| e.id()).collect();
        assert_eq!(pending, [ids[0], ids[2]]);
        let error = x.find_archive(conn, 999_999).expect_err("no such archive");
        assert!(matches!(error, Error::ArchiveNotFound { id: 999_999 }), "{error:?}");
        Ok(())
    }

    fn an_archive_that_rolls_back_leaves_no_entry(db, x) {
        seed(db)?;
        create_journal(db);
        let conn = db.conn();
        // Cat's order 4 has a live payment: protected at the second level, after the root and
        // the order were written.
        let error = x.archive(conn, &Collector::new(members::table.find(4)).by("dave")).expect_err("payment 1 protects order 4");
        assert!(matches!(error, Error::Protected { .. }), "{error:?}");
        assert_eq!(x.load_archives(conn, &ArchiveList::new())?, []);
        // And the next archive's entry is the only one.
        let ann = x.archive(conn, &Collector::new(members::table.find(2)))?;
        let all: Vec<i64> = x.load_archives(conn, &ArchiveList::new())?.iter().map(|e| e.id()).collect();
        assert_eq!(all, [ann.batch().id()]);
        Ok(())
    }

    fn without_the_log_table_archives_are_refused(db, x) {
        seed(db)?;
        create_journal(db);
        let dialect = dialect::<Conn>();
        let conn = db.conn();
        let ann = x.archive(conn, &Collector::new(members::table.find(2)))?;
        conn.batch_execute(&archive_log::drop_table(dialect))?;
        let error = x.archive(conn, &Collector::new(orders::table.find(3))).expect_err("no log");
        assert!(matches!(error, Error::NoArchiveLog), "{error:?}");
        assert!(error.to_string().contains("archive_log::create_table"), "{error}");
        let error = x.restore(conn, ann.batch()).expect_err("no log");
        assert!(matches!(error, Error::NoArchiveLog), "{error:?}");
        // Nothing was written: bob's order is live, ann still archived.
        assert_eq!(orders::table.active().count().get_result::<i64>(conn)?, 2);
        assert_eq!(members::table.active().count().get_result::<i64>(conn)?, 3);
        conn.batch_execute(&archive_log::create_table(dialect))?;
        assert!(x.load_archives(conn, &ArchiveList::new())?.is_empty());
        Ok(())
    }
}
