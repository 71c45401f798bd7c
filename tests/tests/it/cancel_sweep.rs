//! Cancellation at every await point: an operation's future is dropped after its `k`-th
//! pending poll, for every `k` until it completes, and the same connection is used again.
//! Nothing partial is committed, nothing panics (not the drop, not the next use), and the
//! next use either works (its write is committed) or fails with a typed error.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::task::Poll;

use diesel::ExpressionMethods;
use soft_delete_runtime::asynchronous::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Error;
use soft_delete_tests::{async_backend_tests, asynchronous};

use crate::unique::{attempt, create_with_keys, ExamAttempt};

/// Polls `operation` until it is ready or has been pending `k` times; then drops it.
async fn cancel_after<F: Future>(k: usize, operation: F) -> Option<F::Output> {
    let mut operation = pin!(operation);
    let mut left = k;
    poll_fn(|cx| match operation.as_mut().poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => {
            left -= 1;
            if left == 0 {
                Poll::Ready(None)
            } else {
                Poll::Pending
            }
        }
    })
    .await
}

/// The connection used again after a cancelled operation: one more retry of `key`, its counter.
macro_rules! retry_again {
    ($conn:ident, $key:expr) => {
        ExamAttempt::retry_async(&mut $conn, $key, |old, n| {
            attempt(old.exam_id, old.learner_id, n)
        })
        .await
        .map(|a| a.retry)
    };
}

/// The key's rows as another connection sees them: `(retry, live)`, in retry order.
macro_rules! committed {
    ($db:ident, $key:expr) => {{
        let mut rows: Vec<(i32, bool)> = ExamAttempt::history($db.conn(), $key)?
            .iter()
            .map(|a| (a.retry, a.active))
            .collect();
        rows.sort_unstable();
        rows
    }};
}

async_backend_tests! {
    async fn a_retry_cancelled_at_every_await_point_leaves_no_partial_write_and_no_panic(db) {
        create_with_keys(db)?;
        let mut failures = Vec::new();
        for k in 1..=80usize {
            let key = (1000 + k as i32, 7);
            ExamAttempt::start(db.conn(), key, |n| attempt(key.0, key.1, n))?;
            let conn = asynchronous::connect::<Conn>(db).await;
            let task = tokio::spawn(async move {
                let mut conn = conn;
                let cancelled = cancel_after(
                    k,
                    ExamAttempt::retry_async(&mut conn, key, |old, n| {
                        attempt(old.exam_id, old.learner_id, n)
                    }),
                )
                .await;
                let done = cancelled.map(|outcome| outcome.map(|a| a.retry));
                let next = if done.is_none() { Some(retry_again!(conn, key)) } else { None };
                drop(conn);
                (done, next)
            })
            .await;
            let (done, next) = match task {
                Ok(outcome) => outcome,
                Err(join) => {
                    failures.push(format!("k={k}: panicked: {join:?}"));
                    continue;
                }
            };
            // Give a statement still running on SQLite's blocking pool time to end.
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let rows = committed!(db, key);
            match (done, next) {
                (Some(outcome), _) => {
                    assert_eq!(outcome?, 1);
                    assert_eq!(rows, [(0, false), (1, true)]);
                    break;
                }
                (None, Some(Ok(retry))) => {
                    // The next retry worked: it is committed, and the cancelled one
                    // committed all or nothing.
                    let ok = (retry == 1 && rows == [(0, false), (1, true)])
                        || (retry == 2 && rows == [(0, false), (1, false), (2, true)]);
                    if !ok {
                        failures.push(format!(
                            "k={k}: the next retry returned {retry} but the database holds {rows:?}"
                        ));
                    }
                }
                (None, Some(Err(error))) => {
                    let typed = matches!(
                        error,
                        Error::Diesel(diesel::result::Error::BrokenTransactionManager)
                    );
                    let ok = rows == [(0, true)] || rows == [(0, false), (1, true)];
                    if !typed || !ok {
                        failures.push(format!("k={k}: next use failed with {error:?}, rows {rows:?}"));
                    }
                }
                (None, None) => unreachable!(),
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        Ok(())
    }
}

/// What a sweep of one operation saw at `k`: the cancelled future's output if it completed,
/// the caller's own transaction's outcome (nested sweeps), and the next retry's.
type Seen<T> = (
    Option<Result<T, Error>>,
    Option<Result<bool, Error>>,
    Option<Result<i32, Error>>,
);

/// Checks one step of a sweep: no panic, all or nothing of the cancelled operation committed
/// (`rows` is what another connection sees, `before` and `after` the operation's whole
/// effect), and a next retry that either committed or was refused with a typed error.
fn judge<T: std::fmt::Debug>(
    k: usize,
    seen: Result<Seen<T>, tokio::task::JoinError>,
    rows: &[(i32, bool)],
    failures: &mut Vec<String>,
) -> bool {
    let (done, outer, next) = match seen {
        Ok(seen) => seen,
        Err(join) => {
            failures.push(format!("k={k}: panicked: {join:?}"));
            return false;
        }
    };
    if done.is_some() {
        return true;
    }
    let live = rows.iter().filter(|(_, live)| *live).count();
    if live != 1 {
        failures.push(format!(
            "k={k}: {live} live rows: {rows:?} (outer {outer:?})"
        ));
    }
    match next {
        Some(Ok(retry)) => {
            if !rows.contains(&(retry, true)) {
                failures.push(format!(
                    "k={k}: the next retry returned {retry} but the database holds {rows:?} (outer {outer:?})"
                ));
            }
        }
        Some(Err(Error::Diesel(diesel::result::Error::BrokenTransactionManager))) => {}
        other => failures.push(format!("k={k}: next use {other:?}, outer {outer:?}")),
    }
    false
}

/// Sweeps operation `$op` (an expression over `conn` and `key`), run inside the caller's own
/// `conn.transaction` when `$nested`.
macro_rules! sweep {
    ($db:ident, $base:expr, $nested:expr, |$conn:ident, $key:ident| $op:expr) => {{
        let mut failures = Vec::new();
        for k in 1..=80usize {
            let $key = ($base + k as i32, 7);
            ExamAttempt::start($db.conn(), $key, |n| attempt($key.0, $key.1, n))?;
            let conn = asynchronous::connect::<Conn>($db).await;
            let seen = tokio::spawn(async move {
                let mut conn = conn;
                let (done, outer) = if $nested {
                    let mut done = None;
                    let outer = diesel_async::AsyncConnection::transaction(
                        &mut conn,
                        async |$conn: &mut <Conn as asynchronous::AsyncTwin>::Async| {
                            done = Some(cancel_after(k, $op).await);
                            Ok::<_, Error>(done.as_ref().map_or(false, Option::is_none))
                        },
                    )
                    .await;
                    (done.flatten(), Some(outer))
                } else {
                    let $conn = &mut conn;
                    (cancel_after(k, $op).await, None)
                };
                let next = if done.is_none() {
                    Some(retry_again!(conn, $key))
                } else {
                    None
                };
                drop(conn);
                (done, outer, next)
            })
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let rows = committed!($db, $key);
            if judge(k, seen, &rows, &mut failures) {
                break;
            }
        }
        assert!(failures.is_empty(), "{failures:#?}");
        Ok(())
    }};
}

mod more {
    use super::*;

    async_backend_tests! {
        async fn a_retry_cancelled_inside_the_callers_transaction_at_every_await_point(db) {
            create_with_keys(db)?;
            sweep!(db, 2000, true, |conn, key| ExamAttempt::retry_async(conn, key, |old, n| {
                attempt(old.exam_id, old.learner_id, n)
            }))
        }

        async fn an_upsert_cancelled_at_every_await_point(db) {
            create_with_keys(db)?;
            sweep!(db, 3000, false, |conn, key| ExamAttempt::upsert_async(conn, key, move |n| attempt(key.0, key.1, n), |live: &ExamAttempt| {
                crate::unique::exam_attempts::retry.eq(live.retry + 10)
            }))
        }

        async fn an_upsert_cancelled_inside_the_callers_transaction_at_every_await_point(db) {
            create_with_keys(db)?;
            sweep!(db, 4000, true, |conn, key| ExamAttempt::upsert_async(conn, key, move |n| attempt(key.0, key.1, n), |live: &ExamAttempt| {
                crate::unique::exam_attempts::retry.eq(live.retry + 10)
            }))
        }
    }
}

mod archive {
    use diesel::prelude::*;
    use soft_delete_runtime::collector::Collector;
    use soft_delete_tests::{async_backend_tests, asynchronous};

    use super::cancel_after;
    use crate::collector_schema::*;
    use crate::shop_dump;

    async_backend_tests! {
        async fn an_archive_cancelled_at_every_await_point_commits_all_or_nothing(db) {
            seed(db)?;
            create_journal(db);
            let before = shop_dump!(db.conn());
            let mut failures = Vec::new();
            for k in 1..=200usize {
                let conn = asynchronous::connect::<Conn>(db).await;
                let seen = tokio::spawn(async move {
                    let mut conn = conn;
                    let collector = Collector::new(members::table.find(2));
                    let done = cancel_after(k, collector.archive_async(&mut conn)).await;
                    let next = match done {
                        Some(_) => None,
                        None => Some(collector.preview_async(&mut conn).await.map(|_| ())),
                    };
                    drop(conn);
                    (done.map(|d| d.map(|_| ())), next)
                })
                .await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let after = shop_dump!(db.conn());
                match seen {
                    Err(join) => failures.push(format!("k={k}: panicked: {join:?}")),
                    Ok((Some(done), _)) => {
                        done?;
                        break;
                    }
                    Ok((None, next)) => {
                        if after != before {
                            // Committed whole: the archive was cancelled during its COMMIT.
                            break;
                        }
                        // The next use works or fails (on MySQL with the protocol errors of
                        // a query abandoned half way); it does not panic.
                        if next.is_none() {
                            failures.push(format!("k={k}: no next use"));
                        }
                    }
                }
            }
            assert!(failures.is_empty(), "{failures:#?}");
            Ok(())
        }
    }
}
