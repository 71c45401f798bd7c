//! The migrations `Schema::migrations` generates, written in `diesel migration`'s layout and run
//! by `diesel_migrations`: up, `verify` clean, down, `verify` finds every piece gone, up again.

use diesel::prelude::*;
use diesel_migrations::{FileBasedMigrations, MigrationHarness};
use soft_delete_runtime::schema::{write_migrations, Issue};
use soft_delete_tests::exec::{Exec, ExecKind};
use soft_delete_tests::{backend_tests, Backend};

use crate::schema_verify::{create_tables, dialect_of, schema, vusers};

backend_tests! {
    fn generated_migrations_apply_and_revert(db, x) {
        create_tables(db);
        // (one directory per copy: the sync and async copies run at the same time)
        let dir = std::env::temp_dir().join(format!(
            "soft-delete-migrations-{}-{:?}-{}",
            std::process::id(),
            db.backend(),
            if x.is_async() { "async" } else { "sync" }
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let schema = schema();
        let written = write_migrations(&dir, "2025-06-01-120000", &schema.migrations(dialect_of::<Conn>())?)?;
        let names: Vec<String> = written
            .iter()
            .map(|path| path.file_name().unwrap_or_default().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "2025-06-01-120000-0001_soft_delete_archive_log",
                "2025-06-01-120000-0002_soft_delete_journal",
                "2025-06-01-120000-0003_soft_delete_keys_vusers",
                "2025-06-01-120000-0004_soft_delete_keys_vnotes",
            ]
        );
        assert!(written.iter().all(|path| path.join("up.sql").is_file() && path.join("down.sql").is_file()));

        let migrations = FileBasedMigrations::from_path(&dir)?;
        let conn = db.conn();
        assert_eq!(conn.run_pending_migrations(migrations.clone())?.len(), 4);
        let applied = x.verify_schema(conn, &schema)?;
        assert!(applied.is_clean(), "{applied}");
        // The database enforces the key now.
        diesel::insert_into(vusers::table).values(vusers::email.eq("ann@example.com")).execute(conn)?;
        assert!(diesel::insert_into(vusers::table).values(vusers::email.eq("ann@example.com")).execute(conn).is_err());

        conn.revert_all_migrations(migrations.clone())?;
        let reverted = x.verify_schema(conn, &schema)?;
        let gone: Vec<String> = reverted
            .issues
            .iter()
            .map(|issue| match issue {
                Issue::MissingKey { index, .. } => index.clone(),
                Issue::MissingArchiveLog { .. } => "archive log".to_owned(),
                Issue::MissingJournal { .. } => "journal".to_owned(),
                other => panic!("not something the migrations made: {other}"),
            })
            .collect();
        let mut expected = vec!["one_live_vuser_email", "one_live_vnote"];
        if db.backend() != Backend::Postgres {
            // one index per pattern of NULLs in (folder_id, topic)
            expected.extend(["one_live_vnote_n1", "one_live_vnote_n2", "one_live_vnote_n3"]);
        }
        expected.extend(["archive log", "journal"]);
        assert_eq!(gone, expected, "{reverted}");

        // The way down left nothing that stops the way up.
        db.conn().run_pending_migrations(migrations)?;
        let again = x.verify_schema(db.conn(), &schema)?;
        assert!(again.is_clean(), "{again}");
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
