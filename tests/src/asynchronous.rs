//! The harness of the async API's tests (feature `async`): each backend's diesel-async
//! connection, a tokio runtime, and [`async_backend_tests!`](crate::async_backend_tests).

use diesel_async::pooled_connection::PoolableConnection;
use diesel_async::AsyncConnection;

use crate::{TestConnection, TestDb};

/// A backend's test connection and its diesel-async counterpart.
pub trait AsyncTwin: TestConnection {
    /// diesel-async's connection of the backend.
    type Async: AsyncConnection + PoolableConnection + Send + 'static;
}

#[cfg(feature = "sqlite")]
impl AsyncTwin for diesel::SqliteConnection {
    type Async =
        diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>;
}

#[cfg(feature = "postgres")]
impl AsyncTwin for diesel::PgConnection {
    type Async = diesel_async::AsyncPgConnection;
}

#[cfg(feature = "mysql")]
impl AsyncTwin for diesel::MysqlConnection {
    type Async = diesel_async::AsyncMysqlConnection;
}

/// A multi-threaded tokio runtime, as a service runs one.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// An async connection to the test's database, running the visibility guard in panic mode
/// as the test's sync connections do.
pub async fn connect<C: AsyncTwin>(db: &TestDb<C>) -> C::Async {
    let mut conn = C::Async::establish(db.url())
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", db.url()));
    conn.set_instrumentation(db.test_guard());
    conn
}

pub use crate::guard::Record;

/// Like [`connect`], and records `what` from now on (as [`record_statements`](crate::record_statements)
/// and [`record_cached_statements`](crate::record_cached_statements) do for a sync connection).
pub async fn connect_recording<C: AsyncTwin>(
    db: &TestDb<C>,
    what: Record,
) -> (C::Async, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    let mut conn = connect(db).await;
    let mut guard = db.test_guard();
    let seen = guard.record(what);
    conn.set_instrumentation(guard);
    (conn, seen)
}

/// A connection manager for diesel-async's pools whose connections run the test's guard.
pub fn guarded_manager<C: AsyncTwin>(
    db: &TestDb<C>,
) -> diesel_async::pooled_connection::AsyncDieselConnectionManager<C::Async> {
    use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig};
    let guard = std::sync::Arc::new(std::sync::Mutex::new(db.test_guard()));
    let mut config = ManagerConfig::<C::Async>::default();
    config.custom_setup = Box::new(move |url| {
        let guard = std::sync::Arc::clone(&guard);
        Box::pin(async move {
            let mut conn = C::Async::establish(url).await?;
            conn.set_instrumentation(SharedGuard(guard));
            Ok(conn)
        })
    });
    AsyncDieselConnectionManager::new_with_config(db.url(), config)
}

/// One test guard shared by a pool's connections.
struct SharedGuard(std::sync::Arc<std::sync::Mutex<crate::guard::TestGuard>>);

impl diesel::connection::Instrumentation for SharedGuard {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .on_connection_event(event);
    }
}

/// Stamps each async test body out once per enabled backend, like
/// [`backend_tests!`](crate::backend_tests): the body is `async`, runs on [`runtime`], gets the
/// isolated database `db` (`TestDb<Conn>`, its main connection sync, for set-up and checks) and
/// connects with `asynchronous::connect::<Conn>(db.url())`.
#[macro_export]
macro_rules! async_backend_tests {
    ($($(#[$attr:meta])* async fn $name:ident($db:ident) $body:block)*) => {
        $crate::async_backend_tests!(@backend "sqlite", sqlite, diesel::SqliteConnection, $($(#[$attr])* async fn $name($db) $body)*);
        $crate::async_backend_tests!(@backend "postgres", postgres, diesel::PgConnection, $($(#[$attr])* async fn $name($db) $body)*);
        $crate::async_backend_tests!(@backend "mysql", mysql, diesel::MysqlConnection, $($(#[$attr])* async fn $name($db) $body)*);
    };
    (@backend $feature:literal, $module:ident, $conn:ty, $($(#[$attr:meta])* async fn $name:ident($db:ident) $body:block)*) => {
        #[cfg(feature = $feature)]
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            #[allow(dead_code)]
            type Conn = $conn;
            $(
                #[test]
                $(#[$attr])*
                fn $name() {
                    $crate::run::<Conn>(
                        concat!(module_path!(), "::", stringify!($name)),
                        |$db: &mut $crate::TestDb<Conn>| -> $crate::TestResult {
                            $crate::asynchronous::runtime().block_on(async move { $body })
                        },
                    );
                }
            )*
        }
    };
}
