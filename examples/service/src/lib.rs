//! The soft-delete guide's web API as a real service: axum on tokio, diesel-async with a
//! deadpool pool, PostgreSQL when `DATABASE_URL` says so and an embedded SQLite file
//! otherwise. See the README's "See it all working: the service".
//!
//! - [`api`]: the JSON endpoints and the OpenAPI document (`/openapi.json`);
//! - [`admin`]: the server-rendered admin page (`/admin`);
//! - [`db`]: pools and migrations; [`models`] and [`schema`]: the tables;
//! - [`error`]: one error type, library errors mapped to status codes;
//! - [`identity`]: who calls (`x-user`, `x-role`).
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod db;
pub mod dto;
pub mod error;
pub mod identity;
pub mod models;
#[allow(missing_docs)] // the columns `diesel::table!` generates
pub mod schema;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: db::Db,
}

/// The whole service: API, OpenAPI document, admin page.
pub fn app(state: AppState) -> Router {
    api::routes()
        .merge(admin::routes())
        .route(
            "/",
            axum::routing::get(|| async { axum::response::Redirect::to("/admin") }),
        )
        // The framework's own answers, as every other error: an ErrorBody.
        .fallback(|uri: axum::http::Uri| async move {
            error::ApiError::NotFound(format!("no route {}", uri.path()))
        })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            error::ApiError::Rejected {
                status: axum::http::StatusCode::METHOD_NOT_ALLOWED,
                message: format!("{method} is not allowed here"),
            }
        })
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves, on `db` (see [`db::Db::open`]).
pub async fn serve(
    listener: TcpListener,
    db: db::Db,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    axum::serve(listener, app(AppState { db }))
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// The address to listen on: `BIND` (default `127.0.0.1:3000`).
pub fn bind_address() -> Result<SocketAddr, std::net::AddrParseError> {
    std::env::var("BIND")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()
}
