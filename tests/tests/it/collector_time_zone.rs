//! MySQL/MariaDB `TIMESTAMP` stamp columns under a session time zone with daylight saving
//! time: an archive at a moment whose UTC wall-clock time does not exist in that zone (the
//! spring-forward gap) still finds its own rows again.
//!
//! The zone is made for the test: a zone of MariaDB's time zone tables whose clocks jumped two
//! hours forward one hour ago, so that the current UTC time, read as a local time, is in the
//! gap. (Named zones work only where the time zone tables are loaded; this one needs no
//! `mariadb-tzinfo-to-sql`, and is removed again at the end.)

#[cfg(feature = "mysql")]
mod mysql {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use diesel::MysqlConnection;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_runtime::prelude::*;
    use soft_delete_runtime::Error;
    use soft_delete_tests::backend_tests;
    use soft_delete_tests::exec::Exec;
    use soft_delete_tests::stamp::Stamp;

    use crate::collector_schema::create_archive_log;

    diesel::table! {
        folders (id) {
            id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        notes (id) {
            id -> Integer,
            folder_id -> Integer,
            deleted_at -> Nullable<Timestamp>,
        }
    }

    diesel::table! {
        pins (id) {
            id -> Integer,
            folder_id -> Integer,
        }
    }

    #[derive(Queryable, Identifiable, SoftDelete)]
    #[diesel(table_name = folders)]
    #[soft_delete(children(notes::folder_id = cascade, pins::folder_id = protect))]
    #[allow(dead_code)]
    struct Folder {
        id: i32,
        deleted_at: Option<Stamp>,
    }

    #[derive(Queryable, SoftDelete)]
    #[diesel(table_name = notes)]
    #[allow(dead_code)]
    struct Note {
        id: i32,
        folder_id: i32,
        deleted_at: Option<Stamp>,
    }

    /// A time zone in MariaDB's tables whose clocks jumped from UTC+0 to UTC+2 an hour ago;
    /// dropped again with the value.
    struct GapZone {
        url: String,
        name: String,
    }

    impl GapZone {
        fn create(conn: &mut MysqlConnection, url: &str) -> QueryResult<GapZone> {
            // One zone per test of the process (the sync and the async copy run side by side).
            static ZONES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let zone = ZONES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let name = format!("sd_gap_{}_{zone}", std::process::id());
            conn.batch_execute(&format!(
                "INSERT INTO mysql.time_zone (Use_leap_seconds) VALUES ('N');
                 SET @sd_zone = LAST_INSERT_ID();
                 INSERT INTO mysql.time_zone_name (Name, Time_zone_id) VALUES ('{name}', @sd_zone);
                 INSERT INTO mysql.time_zone_transition_type (Time_zone_id, Transition_type_id, `Offset`, Is_DST, Abbreviation)
                   VALUES (@sd_zone, 0, 0, 0, 'SDS'), (@sd_zone, 1, 7200, 1, 'SDD');
                 INSERT INTO mysql.time_zone_transition (Time_zone_id, Transition_time, Transition_type_id)
                   VALUES (@sd_zone, UNIX_TIMESTAMP(UTC_TIMESTAMP()) - 3600, 1);"
            ))?;
            Ok(GapZone {
                url: url.to_owned(),
                name,
            })
        }
    }

    impl Drop for GapZone {
        fn drop(&mut self) {
            if let Ok(mut conn) = MysqlConnection::establish(&self.url) {
                let name = &self.name;
                let _ = conn.batch_execute(&format!(
                    "SET @sd_zone = (SELECT Time_zone_id FROM mysql.time_zone_name WHERE Name = '{name}');
                     DELETE FROM mysql.time_zone_transition WHERE Time_zone_id = @sd_zone;
                     DELETE FROM mysql.time_zone_transition_type WHERE Time_zone_id = @sd_zone;
                     DELETE FROM mysql.time_zone_name WHERE Name = '{name}';
                     DELETE FROM mysql.time_zone WHERE Time_zone_id = @sd_zone;"
                ));
            }
        }
    }

    /// The session's time zone on the connection `x` archives on.
    macro_rules! session_zone {
        ($x:expr, $conn:expr) => {
            $x.select_text($conn, "CONVERT(@@session.time_zone USING utf8mb4)")
        };
    }

    backend_tests! {
        type Conn = MysqlConnection;

        fn an_archive_in_the_spring_forward_gap_archives_the_whole_tree(db, x) {
            db.create(
                "CREATE TABLE folders (id {pk}, deleted_at TIMESTAMP(6) NULL);
                 CREATE TABLE notes (id {pk}, folder_id {int} NOT NULL, deleted_at TIMESTAMP(6) NULL);
                 CREATE TABLE pins (id {pk}, folder_id {int} NOT NULL);
                 INSERT INTO folders (id) VALUES (1), (2);
                 INSERT INTO notes (id, folder_id) VALUES (1, 1), (2, 1), (3, 2);
                 INSERT INTO pins (id, folder_id) VALUES (1, 2);",
            );
            create_archive_log(db);
            let url = db.url().to_owned();
            let zone = GapZone::create(db.conn(), &url)?;
            let conn = db.conn();
            // The zone of the archiving session, and of the reads below.
            let in_gap_zone = format!("SET time_zone = '{}'", zone.name);
            x.batch_execute(conn, &in_gap_zone)?;
            conn.batch_execute(&in_gap_zone)?;
            // The current UTC wall-clock time does not exist in this zone.
            let gap: i64 = diesel::select(diesel::dsl::sql::<diesel::sql_types::BigInt>(
                "TIMESTAMPDIFF(MINUTE, UTC_TIMESTAMP(), NOW())",
            ))
            .get_result(conn)?;
            assert_eq!(gap, 120, "the zone is two hours ahead of UTC now");

            let archived = x.archive(conn, &Collector::new(folders::table.find(1)))?;
            assert_eq!(archived.plan().archived("folders"), 1);
            assert_eq!(
                archived.plan().archived("notes"),
                2,
                "the cascade reached the notes"
            );
            assert_eq!(notes::table.active().count().get_result::<i64>(conn)?, 1);
            // The session keeps its zone, and the stamp is the archive's instant.
            assert_eq!(session_zone!(x, conn)?, zone.name);
            let stamped: Vec<Option<Stamp>> = notes::table
                .filter(notes::folder_id.eq(1))
                .select(notes::deleted_at)
                .with_deleted()
                .load(conn)?;
            conn.batch_execute("SET time_zone = '+00:00'")?;
            let utc: Vec<Option<Stamp>> = notes::table
                .filter(notes::folder_id.eq(1))
                .select(notes::deleted_at)
                .with_deleted()
                .load(conn)?;
            assert_eq!(utc, [Some(Stamp::from(archived.batch().stamp())); 2]);
            assert_ne!(
                stamped, utc,
                "read in the gap zone, the same instant shows its local time"
            );
            conn.batch_execute(&in_gap_zone)?;

            // A refused archive leaves the session's zone as it was too.
            let error = x
                .archive(conn, &Collector::new(folders::table.find(2)))
                .expect_err("pin 1 protects folder 2");
            assert!(matches!(error, Error::Protected { .. }), "{error:?}");
            assert_eq!(session_zone!(x, conn)?, zone.name);

            let restored = x.restore(conn, archived.batch())?;
            assert_eq!(
                (restored.rows_of("folders"), restored.rows_of("notes")),
                (1, 2)
            );
            assert_eq!(notes::table.active().count().get_result::<i64>(conn)?, 3);
            assert_eq!(session_zone!(x, conn)?, zone.name);
            Ok(())
        }
    }
}
