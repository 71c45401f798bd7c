//! `cargo run -p soft-delete-service`: serves the API, its OpenAPI document and the admin
//! page on `BIND` (default 127.0.0.1:3000), on PostgreSQL when `DATABASE_URL` is a
//! `postgres://` URL, on the SQLite file `DATABASE_URL` names otherwise (default
//! `soft-delete-service.db`). `SOFT_DELETE_GUARD` sets the visibility guard's mode: `log`
//! (default), `panic` (the tests), `count`.

use soft_delete_runtime::guard::{self, Mode};
use soft_delete_service::db::Db;
use tokio::net::TcpListener;

/// Connections per pool.
const POOL_SIZE: usize = 8;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    let mode = match std::env::var("SOFT_DELETE_GUARD").as_deref() {
        Ok("panic") => Mode::Panic,
        Ok("count") => Mode::Count,
        _ => Mode::Log,
    };
    guard::install_default(mode)?;
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "soft-delete-service.db".into());
    // Migrated before the address is printed: the tests (which bind port 0) read it and go.
    let db = Db::open(&url, POOL_SIZE).await?;
    let listener = TcpListener::bind(soft_delete_service::bind_address()?).await?;
    println!("listening on http://{}", listener.local_addr()?);
    soft_delete_service::serve(listener, db, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await
}
