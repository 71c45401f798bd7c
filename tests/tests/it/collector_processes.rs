//! Several OS processes archive concurrently against one database (the worker binary
//! `archive_worker`, started four times, archiving on the test's executor: sync Diesel, or
//! diesel-async in the async copy), then every archive is restored one by one from the
//! archive log: no two archives share a batch id or a stamp, and each restore brings back
//! exactly its own root's rows and links, nothing else.

use std::collections::HashSet;
use std::process::{Command, Stdio};

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::ArchiveList;
use soft_delete_tests::archive_stress::stress_roots;
use soft_delete_tests::archive_stress::{census_sql, seed_statements, Census, DDL, SHAPE};
use soft_delete_tests::exec::{Exec, ExecKind};
use soft_delete_tests::{backend_tests, Backend};

use crate::collector_schema::{create_archive_log, create_journal};

const WORKERS: i32 = 4;

backend_tests! {
    fn several_processes_never_share_a_batch_and_each_restores_exactly_its_own(db, x) {
        // Bounded for CI: SQLite writes one archive at a time, so it gets fewer.
        let roots: i32 = if db.backend() == Backend::Sqlite { 400 } else { 1200 };
        db.create(DDL);
        create_archive_log(db);
        create_journal(db);
        if db.backend() == Backend::Sqlite {
            db.conn().batch_execute("PRAGMA journal_mode = WAL")?;
        }
        for statement in seed_statements(roots) {
            db.conn().batch_execute(&statement)?;
        }
        let backend = match db.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
            Backend::Mysql => "mysql",
        };

        let executor = if x.is_async() { "async" } else { "sync" };
        let workers: Vec<_> = (0..WORKERS)
            .map(|worker| {
                Command::new(env!("CARGO_BIN_EXE_archive_worker"))
                    .args([backend, executor, db.url(), &worker.to_string(), &WORKERS.to_string(), &roots.to_string()])
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        for worker in workers {
            let output = worker.wait_with_output()?;
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        }

        let conn = db.conn();
        // The log, a page at a time, newest first: one archive per root.
        let mut entries = Vec::new();
        let mut page = x.load_archives(conn, &ArchiveList::new().of::<stress_roots::table>().limit(300))?;
        while let Some(last) = page.last().map(|e| e.id()) {
            entries.append(&mut page);
            page = x.load_archives(conn, &ArchiveList::new().of::<stress_roots::table>().limit(300).before(last))?;
        }
        assert_eq!(entries.len(), roots as usize);
        assert!(entries.windows(2).all(|w| w[0].id() > w[1].id()), "newest first");
        let stamps: HashSet<_> = entries.iter().map(|e| e.archived_at()).collect();
        assert_eq!(stamps.len(), entries.len(), "no two archives share a stamp");
        let keys: HashSet<_> = entries.iter().map(|e| e.root_key().map(str::to_owned)).collect();
        assert_eq!(keys.len(), entries.len(), "one archive per root");
        for entry in &entries {
            assert_eq!((entry.roots(), entry.archived("stress_branches")), (1, 2), "{entry:?}");
        }
        let nothing: Census = diesel::sql_query(census_sql(0)).get_result(conn)?;
        assert_eq!((nothing.roots, nothing.branches, nothing.leaves, nothing.tags), (0, 0, 0, 0));

        // Restore every archive, oldest first, and look after each one.
        let (branches, leaves, tags) = SHAPE;
        for (i, entry) in entries.iter().rev().enumerate() {
            let root: i32 = entry.root_key().ok_or("a root key")?.parse()?;
            let restored = x.restore(conn, entry.batch::<stress_roots::table>()?)?;
            assert_eq!(
                (restored.rows_of("stress_roots"), restored.rows_of("stress_branches"), restored.rows_of("stress_leaves")),
                (1, branches as u64, leaves as u64),
                "archive {} of root {root}",
                entry.id()
            );
            assert_eq!(restored.links_of("stress_tags", "root_id"), tags as u64);
            let done = i as i64 + 1;
            let census: Census = diesel::sql_query(census_sql(root)).get_result(conn)?;
            assert_eq!(
                census,
                Census {
                    roots: done,
                    branches: done * branches,
                    leaves: done * leaves,
                    tags: done * tags,
                    its_branches: branches,
                    its_leaves: leaves,
                    its_tags: tags,
                },
                "after restoring archive {} of root {root}",
                entry.id()
            );
        }
        Ok(())
    }
}
