//! SQLite: an operation that reads before it writes waits for another connection's write
//! under a busy timeout, as any writer does. A transaction begun plainly that has read cannot
//! wait for the write lock (SQLite fails it at once with "database is locked", whatever the
//! timeout), so these operations begin `IMMEDIATE`.

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::thread::JoinHandle;
    use std::time::Duration;

    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::deferred::reassign;
    use soft_delete_runtime::prelude::*;
    use soft_delete_tests::exec::leak;
    use soft_delete_tests::TestDb;

    use crate::collector_schema::{create_journal, members, seed, Member};
    use crate::deferred_schema::{create_players, numbers_of, players, Key};

    /// Another connection that takes the write lock now and commits 300 ms later.
    fn another_writer(db: &TestDb<SqliteConnection>) -> QueryResult<JoinHandle<QueryResult<()>>> {
        let mut other = db.connect();
        other.batch_execute("BEGIN IMMEDIATE; INSERT INTO sd_other_writes (id) VALUES (NULL);")?;
        Ok(std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(300));
            other.batch_execute("COMMIT")
        }))
    }

    /// Runs `op` while another connection holds the write lock, and returns its result once
    /// that writer has committed.
    fn behind_a_writer<R>(
        db: &mut TestDb<SqliteConnection>,
        op: impl FnOnce(&mut SqliteConnection) -> R,
    ) -> QueryResult<R> {
        let writer = another_writer(db)?;
        let result = op(db.conn());
        writer.join().expect("the writer does not panic")?;
        Ok(result)
    }

    fn prepare(db: &mut TestDb<SqliteConnection>) -> QueryResult<()> {
        db.conn().batch_execute(
            "CREATE TABLE sd_other_writes (id INTEGER PRIMARY KEY AUTOINCREMENT); PRAGMA busy_timeout = 10000",
        )
    }

    #[test]
    fn an_archive_and_its_restore_wait_for_another_writer_under_a_busy_timeout() {
        let path = concat!(
            module_path!(),
            "::an_archive_and_its_restore_wait_for_another_writer"
        );
        soft_delete_tests::run::<SqliteConnection>(path, |db| {
            seed(db)?;
            create_journal(db);
            prepare(db)?;
            let ann: &Member = leak(members::table.find(2).with_deleted().first(db.conn())?);
            let archived = behind_a_writer(db, |conn| Collector::new(ann).archive(conn))??;
            assert_eq!(archived.plan().archived("members"), 1);
            let restored = behind_a_writer(db, |conn| archived.batch().restore(conn))??;
            assert_eq!(restored.rows_of("members"), 1);
            Ok(())
        });
    }

    #[test]
    fn a_reassign_waits_for_another_writer_under_a_busy_timeout() {
        let path = concat!(module_path!(), "::a_reassign_waits_for_another_writer");
        soft_delete_tests::run::<SqliteConnection>(path, |db| {
            create_players(db, Key::Plain)?;
            prepare(db)?;
            let done = behind_a_writer(db, |conn| {
                reassign(players::squad_number)
                    .with_deleted()
                    .within(players::team_id.eq(1))
                    .run(conn, [(1, 2), (2, 1)])
            })??;
            assert_eq!(done.changed, 2);
            assert_eq!(
                numbers_of!(db.conn(), 1)?,
                [(1, 2), (2, 1), (3, 3), (4, 4), (5, 5)]
            );
            Ok(())
        });
    }
}
