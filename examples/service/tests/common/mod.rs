//! Test support: a throwaway database per test (a SQLite file, or a PostgreSQL database made
//! on the server of `PG_DATABASE_URL` and dropped after), the service on `127.0.0.1:0`
//! (in-process, or the built binary), and a reqwest client.
//!
//! Without `PG_DATABASE_URL` the PostgreSQL tests are skipped with a printed reason, unless
//! `CI` is set: CI must run them.

#![allow(dead_code, unreachable_pub)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection};
use reqwest::{Client, Method, RequestBuilder, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// The two backends the service runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A database of one test, removed when dropped.
pub struct TestDb {
    /// The URL the service takes as `DATABASE_URL`.
    pub url: String,
    backend: Backend,
    /// PostgreSQL: the server's URL and the database's name, to drop it.
    admin: Option<(String, String)>,
}

impl TestDb {
    /// A fresh database, or `None` (printed) when the backend is not configured outside CI.
    pub fn new(backend: Backend, test: &str) -> Option<TestDb> {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let name = format!(
            "sd_service_{}_{}_{n}",
            std::process::id(),
            test.replace(['-', ':'], "_")
        );
        match backend {
            Backend::Sqlite => {
                let path = std::env::temp_dir().join(format!("{name}.db"));
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                Some(TestDb {
                    url: path.display().to_string(),
                    backend,
                    admin: None,
                })
            }
            Backend::Postgres => {
                let Ok(server) = std::env::var("PG_DATABASE_URL") else {
                    assert!(
                        std::env::var_os("CI").is_none(),
                        "CI is set but PG_DATABASE_URL is not"
                    );
                    eprintln!("skipped {test} on PostgreSQL: PG_DATABASE_URL is unset");
                    return None;
                };
                let mut conn =
                    PgConnection::establish(&server).expect("connect to PG_DATABASE_URL");
                // Two statements: PostgreSQL runs a batch as one transaction, which these refuse.
                conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .expect("drop a leftover test database");
                conn.batch_execute(&format!("CREATE DATABASE {name}"))
                    .expect("create the test database");
                let base = server
                    .rsplit_once('/')
                    .map_or(server.as_str(), |(base, _)| base);
                Some(TestDb {
                    url: format!("{base}/{name}"),
                    backend,
                    admin: Some((server.clone(), name)),
                })
            }
        }
    }

    /// A sync connection to the database, to check it directly.
    pub fn pg(&self) -> PgConnection {
        assert_eq!(self.backend, Backend::Postgres);
        PgConnection::establish(&self.url).expect("connect to the test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        match &self.admin {
            Some((server, name)) => {
                if let Ok(mut conn) = PgConnection::establish(server) {
                    let _ =
                        conn.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
            None => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", self.url));
                }
            }
        }
    }
}

/// The visibility guard in panic mode on every connection of this test process: a read of
/// a soft-deletable table that states no visibility panics the handler, and the request
/// fails.
pub fn guard() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)
            .expect("install the guard");
    });
}

/// The service, in this process, on `127.0.0.1:0`.
pub struct Server {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The client.
    pub client: Client,
    /// The database (dropped after the server stops).
    pub db: TestDb,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Server {
    /// Starts the service on a fresh database of `backend`; `None` when it is skipped.
    pub async fn start(backend: Backend, test: &str) -> Option<Server> {
        guard();
        let db = TestDb::new(backend, test)?;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let (stop, stopped) = oneshot::channel::<()>();
        let pool = soft_delete_service::db::Db::open(&db.url, 8)
            .await
            .expect("open and migrate the database");
        let task = tokio::spawn(async move {
            soft_delete_service::serve(listener, pool, async {
                let _ = stopped.await;
            })
            .await
            .expect("the service runs");
        });
        let server = Server {
            base,
            client: Client::new(),
            db,
            stop: Some(stop),
            task: Some(task),
        };
        server.wait_ready().await;
        Some(server)
    }

    async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self
                .client
                .get(format!("{}/openapi.json", self.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the service did not come up at {}", self.base);
    }

    /// A request to `path`.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the server task ends cleanly");
        }
    }
}

/// The status and the JSON body of a response (`Null` for an empty or non-JSON body).
pub async fn json(response: Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A copy of the service binary on `127.0.0.1:0`, on `url`, guard in panic mode.
pub struct Replica {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
}

impl Replica {
    /// Spawns the built binary and reads the address it prints.
    pub fn spawn(url: &str) -> Replica {
        let mut child = Command::new(env!("CARGO_BIN_EXE_soft-delete-service"))
            .env("DATABASE_URL", url)
            .env("BIND", "127.0.0.1:0")
            .env("SOFT_DELETE_GUARD", "panic")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the service binary");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the address line");
        let base = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_owned();
        Replica { child, base }
    }

    /// Whether it is still running (a handler's panic, e.g. the guard's, fails that request
    /// and leaves the process up; the test counts it as a violation).
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Stamps an async test body out once per backend: `backend_tests!(name, |server| async {..})`
/// gives `name::sqlite` and `name::postgres`.
#[macro_export]
macro_rules! backend_tests {
    ($name:ident, |$server:ident| $body:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            async fn run(backend: $crate::common::Backend) {
                let Some($server) = $crate::common::Server::start(backend, stringify!($name)).await
                else {
                    return;
                };
                let server_ref = &$server;
                {
                    let $server = server_ref;
                    $body.await;
                }
                $server.stop().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                run($crate::common::Backend::Sqlite).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                run($crate::common::Backend::Postgres).await;
            }
        }
    };
}
