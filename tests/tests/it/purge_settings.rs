//! A purge's settings over time: its batches commit as durably as the server says unless
//! the caller opts out, and a purge kept and run again (a daily job) moves its cutoff.

use std::time::Duration;

use diesel::prelude::*;
use diesel::sql_types::Text;
use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
use soft_delete_runtime::purge::Purge;
use soft_delete_runtime::{soft_delete, Error};
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend, TestConnection, TestDb};

use crate::purge_schema::*;

/// PostgreSQL: every `DELETE` on `authors` records, in `seen`, the `synchronous_commit` its
/// transaction runs with.
fn watch_synchronous_commit<C: TestConnection>(db: &mut TestDb<C>) -> QueryResult<()> {
    db.conn().batch_execute(
        "CREATE TABLE seen (setting TEXT NOT NULL);
         CREATE FUNCTION record_synchronous_commit() RETURNS trigger AS $$
         BEGIN INSERT INTO seen VALUES (current_setting('synchronous_commit')); RETURN NULL; END $$
         LANGUAGE plpgsql;
         CREATE TRIGGER authors_seen AFTER DELETE ON authors
             FOR EACH STATEMENT EXECUTE FUNCTION record_synchronous_commit();",
    )
}

/// The settings `watch_synchronous_commit` recorded, and forgets them.
fn seen_settings<C: TestConnection>(conn: &mut C) -> QueryResult<Vec<String>>
where
    diesel::query_builder::SqlQuery: diesel::query_dsl::LoadQuery<'static, C, Setting>,
{
    let seen = diesel::sql_query("SELECT setting FROM seen").load::<Setting>(conn)?;
    conn.batch_execute("DELETE FROM seen")?;
    Ok(seen.into_iter().map(|s| s.setting).collect())
}

#[derive(QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    setting: String,
}

backend_tests! {
    fn batches_commit_with_the_servers_durability_by_default(db, x) {
        create(db);
        let postgres = db.backend() == Backend::Postgres;
        if postgres {
            watch_synchronous_commit(db)?;
            // what a DBA may set: wait for the synchronous standbys to apply each commit
        }
        let conn = db.conn();
        if postgres {
            x.batch_execute(conn, "SET synchronous_commit = remote_apply")?;
        }
        insert_authors!(&mut *conn, 1..=1000, old());
        let statements = x.record_statements(conn);

        // 300 rows a batch: PostgreSQL purges by page ranges
        let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(300))?;

        assert_eq!(report.deleted(), 1000);
        if postgres {
            let seen = seen_settings(conn)?;
            assert!(seen.len() as u64 >= report.batches, "{seen:?}");
            assert!(seen.iter().all(|s| s == "remote_apply"), "{seen:?}");
        }
        let relaxed: Vec<String> = statements
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|sql| sql.to_lowercase().contains("synchronous_commit"))
            .cloned()
            .collect();
        assert_eq!(relaxed, Vec::<String>::new(), "no batch changes the durability");
        Ok(())
    }

    fn asynchronous_commit_is_an_explicit_opt_in_on_postgres(db, x) {
        create(db);
        let backend = db.backend();
        if backend == Backend::Postgres {
            watch_synchronous_commit(db)?;
        }
        let conn = db.conn();
        insert_authors!(&mut *conn, 1..=1000, old());

        let outcome = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(300).asynchronous_commit());

        if backend == Backend::Postgres {
            let report = outcome?;
            assert_eq!(report.deleted(), 1000);
            let seen = seen_settings(conn)?;
            assert!(seen.len() as u64 >= report.batches, "{seen:?}");
            assert!(seen.iter().all(|s| s == "off"), "{seen:?}");
            // key windows too (batches below a page's worth of rows)
            insert_authors!(&mut *conn, 1001..=1010, old());
            let report = x.purge(conn, &mut Purge::before(authors::table, cutoff()).batch_size(4).asynchronous_commit())?;
            assert_eq!((report.deleted(), report.batches), (10, 3));
            let seen = seen_settings(conn)?;
            assert!(seen.len() >= 3 && seen.iter().all(|s| s == "off"), "{seen:?}");
            // and the session's own setting is untouched afterwards
            let after: Vec<Setting> = diesel::sql_query("SELECT current_setting('synchronous_commit') AS setting").load(conn)?;
            assert_eq!(after[0].setting, "on");
        } else {
            assert!(
                matches!(&outcome, Err(Error::Unsupported { dialect, .. }) if dialect.name() == if backend == Backend::Mysql { "mysql" } else { "sqlite" }),
                "{outcome:?}"
            );
            let dry = x.dry_run(conn, &mut Purge::before(authors::table, cutoff()).asynchronous_commit());
            assert!(matches!(dry, Err(Error::Unsupported { .. })), "{dry:?}");
            assert_eq!(authors::table.with_deleted().count().get_result::<i64>(conn)?, 1000, "nothing was deleted");
        }
        Ok(())
    }

    fn a_purge_kept_and_run_again_moves_its_cutoff(db, x) {
        create(db);
        let conn = db.conn();
        insert_authors!(&mut *conn, [1], old());
        insert_authors!(&mut *conn, [2], None::<Stamp>);
        // a daily job, in seconds: one purge value, run again and again
        let age = Duration::from_secs(3);
        let mut purge = Purge::older_than(authors::table, age);

        let first = x.purge(conn, &mut purge)?;
        assert_eq!(first.deleted(), 1);
        // author 2 is soft-deleted after the first run: not old enough yet
        assert_eq!(soft_delete(authors::table.find(2)).execute(conn)?, 1);
        assert_eq!(x.purge(conn, &mut purge)?.deleted(), 0, "deleted less than `age` ago");

        std::thread::sleep(std::time::Duration::from_millis(3_200));
        let later = x.purge(conn, &mut purge)?;
        assert_eq!(later.deleted(), 1, "older than `age` at this run");
        assert!(later.cutoff > first.cutoff, "{} then {}", first.cutoff, later.cutoff);
        assert_eq!(authors::table.with_deleted().count().get_result::<i64>(conn)?, 0);
        Ok(())
    }
}
