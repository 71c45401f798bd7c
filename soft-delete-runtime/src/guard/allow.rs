//! The explicit allow: a read of every row, on purpose, at one call site.
//!
//! The allow is a counter of the current thread, which is where a connection reports the
//! statements it runs (a sync connection always; an async one while its future is polled, so
//! [`allow_async`] sets it around each poll).

use std::cell::Cell;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll};

thread_local! {
    static ALLOWED: Cell<usize> = const { Cell::new(0) };
}

/// Whether the current thread is inside an allow.
pub(super) fn allowed() -> bool {
    ALLOWED.with(|depth| depth.get() > 0)
}

/// Lets the statements run on this thread while it lives pass the guard unchecked (they are
/// counted as allowed). It is not `Send`: it cannot be held across an `.await` of a future
/// that may move between threads; use [`allow_async`] there.
///
/// ```
/// use soft_delete_runtime::guard::Allow;
///
/// let _every_row = Allow::here();
/// // ... a raw read of every row, which the guard lets pass ...
/// ```
#[derive(Debug)]
#[must_use = "the allow ends when this value is dropped"]
pub struct Allow {
    not_send: PhantomData<*const ()>,
}

impl Allow {
    /// Starts an allow that ends when the returned value is dropped.
    pub fn here() -> Allow {
        ALLOWED.with(|depth| depth.set(depth.get() + 1));
        Allow {
            not_send: PhantomData,
        }
    }
}

impl Drop for Allow {
    fn drop(&mut self) {
        ALLOWED.with(|depth| depth.set(depth.get().saturating_sub(1)));
    }
}

/// Runs `f` with the guard allowing every statement it runs on this thread: for the rare
/// read that means to see every row and cannot say so with `.with_deleted()` (raw SQL, a
/// report, an export).
///
/// ```
/// # use diesel::prelude::*;
/// use soft_delete_runtime::guard;
/// # let conn = &mut SqliteConnection::establish(":memory:").unwrap();
/// let rows = guard::allow(|| diesel::sql_query("SELECT 1").execute(conn))?;
/// # Ok::<(), diesel::result::Error>(())
/// ```
pub fn allow<R>(f: impl FnOnce() -> R) -> R {
    let _allow = Allow::here();
    f()
}

/// Wraps a future so that the guard allows every statement it runs, on whichever thread polls
/// it: the async form of [`allow`], for diesel-async connections that run their statements
/// while polled (`AsyncPgConnection`, `AsyncMysqlConnection`).
///
/// A statement is allowed when it starts inside the wrapped future's poll, so wrap an `async`
/// block that builds the query there: a diesel-async query future made outside may have
/// started its statement already. `SyncConnectionWrapper` (SQLite) runs its statements on
/// tokio's blocking pool, which no poll reaches: allow them there, with
/// `conn.spawn_blocking(|conn| guard::allow(|| ...))`.
///
/// ```no_run
/// # #[cfg(all(feature = "async", feature = "postgres"))]
/// # async fn run(conn: &mut diesel_async::AsyncPgConnection) -> diesel::QueryResult<()> {
/// use soft_delete_runtime::guard;
/// let rows = guard::allow_async(async {
///     let read = diesel::sql_query("SELECT 1");
///     diesel_async::RunQueryDsl::execute(read, conn).await
/// })
/// .await?;
/// # Ok(())
/// # }
/// ```
pub fn allow_async<F: Future>(future: F) -> AllowFuture<F> {
    AllowFuture {
        inner: Box::pin(future),
    }
}

/// The future [`allow_async`] returns.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct AllowFuture<F> {
    inner: Pin<Box<F>>,
}

impl<F: Future> Future for AllowFuture<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _allow = Allow::here();
        self.inner.as_mut().poll(cx)
    }
}
