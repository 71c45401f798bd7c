//! The collector on diesel-async's connections (feature `async`): preview, archive, the archive
//! log, restore and the schema check awaited on every backend, with the same results as the
//! sync API run on the same data; an archive spawned on the runtime (its future is `Send`); and,
//! on the servers, an archive cancelled half way that leaves the database unchanged and its
//! pooled connection usable.

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::collector::{
    check_schema, check_schema_async, find_archive_async, ArchiveList, Batch, Collector,
};
use soft_delete_runtime::Error;
use soft_delete_tests::asynchronous::{self, AsyncTwin};
use soft_delete_tests::{async_backend_tests, TestDb};

use crate::collector_schema::*;
use crate::shop_dump;

async_backend_tests! {
    async fn archive_log_and_restore_awaited_match_the_sync_api(db) {
        seed(db)?;
        create_journal(db);
        let before = shop_dump!(db.conn());
        let sync_plan = Collector::new(members::table.find(2)).preview(db.conn())?;

        let mut conn = asynchronous::connect::<Conn>(db).await;
        let collector = Collector::new(members::table.find(2)).by("admin").reason("async");
        let plan = collector.preview_async(&mut conn).await?;
        assert_eq!(plan.counts(), sync_plan.counts());
        assert_eq!(plan.archived("order_items"), 4);

        // The operation's future is `Send`: it runs as a task of the multi-threaded runtime.
        let (archived, mut conn) = tokio::spawn(async move {
            let archived = collector.archive_async(&mut conn).await;
            (archived, conn)
        })
        .await?;
        let archived = archived?;
        assert_eq!(archived.plan().counts(), plan.counts());
        assert_ne!(shop_dump!(db.conn()), before);

        let entry = find_archive_async(&mut conn, archived.batch().id()).await?;
        assert_eq!((entry.by(), entry.reason()), (Some("admin"), Some("async")));
        let page = ArchiveList::new().of::<members::table>().load_async(&mut conn).await?;
        assert_eq!(page.iter().map(|e| e.id()).collect::<Vec<_>>(), [entry.id()]);

        let batch = Batch::<members::table>::find_async(&mut conn, entry.id()).await?;
        let restored = batch.restore_by_async(&mut conn, "admin").await?;
        assert_eq!(restored.rows_of("members"), 1);
        // Everything but ann's sessions, which `cascade(hard_delete)` deleted.
        let kept: Vec<String> = before
            .iter()
            .filter(|row| !row.starts_with("sessions (1,") && !row.starts_with("sessions (2,"))
            .cloned()
            .collect();
        assert_eq!(shop_dump!(db.conn()), kept, "the restore put back exactly what was archived");
        let again = batch.restore_async(&mut conn).await.unwrap_err();
        assert!(matches!(again, Error::AlreadyRestored { .. }), "{again:?}");

        let report = check_schema_async::<members::table, _>(&mut conn).await?;
        assert_eq!(report, check_schema::<members::table, _>(db.conn())?);
        Ok(())
    }

    async fn a_protected_archive_awaited_writes_nothing(db) {
        seed(db)?;
        create_journal(db);
        let before = shop_dump!(db.conn());
        let mut conn = asynchronous::connect::<Conn>(db).await;
        // bob's invoice protects him
        let error = Collector::new(members::table.find(3)).archive_async(&mut conn).await.unwrap_err();
        let Error::Protected { blockers } = error else {
            panic!("expected Protected, got {error:?}");
        };
        assert_eq!(blockers[0].table.name, "invoices");
        assert_eq!(shop_dump!(db.conn()), before);
        assert!(ArchiveList::new().load_async(&mut conn).await?.is_empty());
        Ok(())
    }
}

/// Locks order `id` (FOR UPDATE) on `conn`, inside its open transaction.
fn lock_order(conn: &mut impl SimpleConnection, id: i32) -> diesel::QueryResult<()> {
    soft_delete_runtime::guard::allow(|| {
        conn.batch_execute(&format!("SELECT id FROM orders WHERE id = {id} FOR UPDATE"))
    })
}

macro_rules! cancellation_tests {
    ($feature:literal, $module:ident, $conn:ty) => {
        #[cfg(feature = $feature)]
        mod $module {
            use super::*;
            type Conn = $conn;
            type Async = <Conn as AsyncTwin>::Async;
            type Pooled = diesel_async::pooled_connection::deadpool::Object<Async>;

            /// Starts `operation` on the one connection of a pool of one while another
            /// connection holds order 1's lock, drops it after 500 ms (it must be waiting for the
            /// lock), releases the lock, and returns the pool's connection, which must come back
            /// within 10 s. `what` names the operation in the failure message.
            async fn cancelled_while_order_1_is_locked<T: std::fmt::Debug>(
                db: &mut TestDb<Conn>,
                what: &str,
                operation: impl AsyncFnOnce(&mut Pooled) -> T,
            ) -> Result<Pooled, Box<dyn std::error::Error + Send + Sync>> {
                let pool = diesel_async::pooled_connection::deadpool::Pool::<Async>::builder(
                    asynchronous::guarded_manager(db),
                )
                .max_size(1)
                .build()?;
                let mut holder = db.connect();
                holder.batch_execute("BEGIN")?;
                lock_order(&mut holder, 1)?;
                let mut conn = pool.get().await?;
                let waited =
                    tokio::time::timeout(Duration::from_millis(500), operation(&mut conn)).await;
                assert!(waited.is_err(), "the {what} waits for the lock: {waited:?}");
                drop(conn);
                holder.batch_execute("ROLLBACK")?;
                let conn = tokio::time::timeout(Duration::from_secs(10), pool.get())
                    .await
                    .expect("the pool hands out a connection")?;
                Ok(conn)
            }

            /// An archive whose future is dropped while it waits for an order's lock: the
            /// database is as before, the pool of one connection hands out a working
            /// connection again, and the archive then succeeds. `$root` is archived, `$table`
            /// then holds `$rows` of its rows.
            macro_rules! a_cancelled_archive {
                ($name:ident, $root:expr, $table:literal, $rows:literal) => {
                    #[test]
                    fn $name() {
                        soft_delete_tests::run::<Conn>(
                            concat!(module_path!(), "::", stringify!($name)),
                            |db: &mut TestDb<Conn>| {
                                asynchronous::runtime().block_on(async {
                                    seed(db)?;
                                    create_journal(db);
                                    let before = shop_dump!(db.conn());
                                    // Another connection holds a lock on one of ann's orders.
                                    let collector = Collector::new($root);
                                    let mut conn = cancelled_while_order_1_is_locked(
                                        db,
                                        "archive",
                                        async |conn: &mut Pooled| {
                                            collector.archive_async(conn).await
                                        },
                                    )
                                    .await?;
                                    assert_eq!(
                                        shop_dump!(db.conn()),
                                        before,
                                        "the cancelled archive left nothing"
                                    );
                                    assert!(ArchiveList::new()
                                        .load_async(&mut conn)
                                        .await?
                                        .is_empty());
                                    let archived = collector.archive_async(&mut conn).await?;
                                    assert_eq!(archived.plan().archived($table), $rows);
                                    Ok(())
                                })
                            },
                        );
                    }
                };
            }

            // Ann's archive walks the graph (comments reply to comments): it has marked ann
            // when it waits for her order.
            a_cancelled_archive!(
                a_cancelled_archive_changes_nothing_and_the_pool_stays_usable,
                members::table.find(2),
                "orders",
                3
            );
            // An order's graph has no cycle: on PostgreSQL one statement, which waits for the
            // order's lock; sent bare, it would commit once the lock is released.
            a_cancelled_archive!(
                a_cancelled_one_statement_archive_changes_nothing,
                orders::table.find(1),
                "order_items",
                2
            );

            /// A restore whose future is dropped while it waits for the lock of an order it
            /// brings back: nothing is back, the batch is not marked restored, and the restore
            /// then succeeds. On PostgreSQL the order's restore is one statement; sent bare, it
            /// would commit once the lock is released.
            #[test]
            fn a_cancelled_restore_changes_nothing_and_the_pool_stays_usable() {
                soft_delete_tests::run::<Conn>(
                    concat!(
                        module_path!(),
                        "::a_cancelled_restore_changes_nothing_and_the_pool_stays_usable"
                    ),
                    |db: &mut TestDb<Conn>| {
                        asynchronous::runtime().block_on(async {
                            seed(db)?;
                            create_journal(db);
                            let archived =
                                Collector::new(orders::table.find(1)).archive(db.conn())?;
                            let before = shop_dump!(db.conn());
                            let mut conn = cancelled_while_order_1_is_locked(
                                db,
                                "restore",
                                async |conn: &mut Pooled| {
                                    archived.batch().restore_async(conn).await
                                },
                            )
                            .await?;
                            assert_eq!(
                                shop_dump!(db.conn()),
                                before,
                                "the cancelled restore left nothing"
                            );
                            let restored = archived.batch().restore_async(&mut conn).await?;
                            assert_eq!(restored.rows_of("order_items"), 2);
                            Ok(())
                        })
                    },
                );
            }
        }
    };
}

cancellation_tests!("postgres", postgres_server, diesel::PgConnection);
cancellation_tests!("mysql", mysql_server, diesel::MysqlConnection);
