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
use soft_delete_tests::{async_backend_tests, asynchronous, Backend};

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
/// (`rows` is what another connection sees, holding a number of live rows in `lives`), and a
/// next use that either committed (its row is live) or was refused with a typed error.
fn judge<T: std::fmt::Debug>(
    k: usize,
    seen: Result<Seen<T>, tokio::task::JoinError>,
    rows: &[(i32, bool)],
    lives: std::ops::RangeInclusive<usize>,
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
    if !lives.contains(&live) {
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

/// Runs `$op` (an expression over `$conn`, the step's connection) dropped after its `k`-th
/// pending poll, alone or, when `$nested`, inside the caller's own `conn.transaction`, which
/// then asks to commit. Returns the operation's output if it completed first, and the
/// caller's transaction's outcome (nested).
macro_rules! cancelled {
    ($owned:ident, $k:ident, $nested:expr, |$conn:ident| $op:expr) => {
        if $nested {
            let mut done = None;
            let outer = diesel_async::AsyncConnection::transaction(
                &mut $owned,
                async |$conn: &mut <Conn as asynchronous::AsyncTwin>::Async| {
                    done = Some(cancel_after($k, $op).await);
                    Ok::<_, Error>(done.as_ref().map_or(false, Option::is_none))
                },
            )
            .await;
            (done.flatten(), Some(outer))
        } else {
            let $conn = &mut $owned;
            (cancel_after($k, $op).await, None)
        }
    };
}

/// Whether `error`, of the next use of a connection (of type `C`) whose operation was dropped,
/// says the connection is broken: its transaction manager (marked by the operation), or on
/// MySQL the protocol a query abandoned half way left out of step (documented in
/// `asynchronous`): an I/O error, or the abandoned query's rows read as the next one's.
fn broken<C: soft_delete_tests::TestConnection>(error: &Error) -> bool {
    use diesel::result::Error as Diesel;
    match error {
        Error::Diesel(Diesel::BrokenTransactionManager) => true,
        Error::Diesel(Diesel::DatabaseError(_, info)) if C::BACKEND == Backend::Mysql => {
            info.message().contains("Input/output error")
        }
        Error::Diesel(Diesel::DeserializationError(_)) => C::BACKEND == Backend::Mysql,
        _ => false,
    }
}

/// Sweeps operation `$op` (an expression over `conn` and `key`), run inside the caller's own
/// `conn.transaction` when `$nested`. Each step starts the key's first row; by default the
/// next use is one more retry, and the key must then hold one live row. `prepare` writes more
/// before the step (on the test's connection) and names what it returns for `$op`, `next` is
/// another next use (its row's counter, over the step's connection `&mut` and key), `lives`
/// the number of live rows allowed.
macro_rules! sweep {
    ($db:ident, $base:expr, $nested:expr, |$conn:ident, $key:ident| $op:expr) => {
        sweep!(
            $db, $base, $nested,
            prepare _nothing = |_c, _k| Ok::<(), Error>(()),
            next |c, k| ExamAttempt::retry_async(c, k, |old, n| attempt(old.exam_id, old.learner_id, n))
                .await
                .map(|a| a.retry),
            lives 1..=1,
            |$conn, $key| $op
        )
    };
    (
        $db:ident, $base:expr, $nested:expr,
        prepare $made:ident = |$pc:ident, $pk:ident| $prepare:expr,
        next |$nc:ident, $nk:ident| $next:expr,
        lives $lives:expr,
        |$conn:ident, $key:ident| $op:expr
    ) => {{
        let mut failures = Vec::new();
        for k in 1..=80usize {
            let $key = ($base + k as i32, 7);
            ExamAttempt::start($db.conn(), $key, |n| attempt($key.0, $key.1, n))?;
            let $made = {
                let ($pc, $pk) = ($db.conn(), $key);
                $prepare?
            };
            let conn = asynchronous::connect::<Conn>($db).await;
            let seen = tokio::spawn(async move {
                let mut conn = conn;
                let (done, outer) = cancelled!(conn, k, $nested, |$conn| $op);
                let next = if done.is_none() {
                    let ($nc, $nk) = (&mut conn, $key);
                    Some($next)
                } else {
                    None
                };
                drop(conn);
                (done, outer, next)
            })
            .await;
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            let rows = committed!($db, $key);
            if judge(k, seen, &rows, $lives, &mut failures) {
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

/// The next use that works whether the key has a live row or not: an upsert (a live row's
/// counter moved 10 on, or the key's next row inserted), its row's counter.
macro_rules! upsert_next {
    ($conn:ident, $key:ident) => {
        ExamAttempt::upsert_async(
            $conn,
            $key,
            move |n| attempt($key.0, $key.1, n),
            |live: &ExamAttempt| crate::unique::exam_attempts::retry.eq(live.retry + 10),
        )
        .await
        .map(|a| a.retry)
    };
}

/// Retires the key's rows (on the test's connection), so that the operation swept brings
/// one back or starts the next; returns the key's first row, retired.
macro_rules! retire_all {
    ($conn:ident, $key:ident) => {{
        use crate::unique::exam_attempts;
        use diesel::{QueryDsl, RunQueryDsl};
        diesel::update(exam_attempts::table.filter(exam_attempts::exam_id.eq($key.0)))
            .set(exam_attempts::active.eq(false))
            .execute(&mut *$conn)
            .map_err(Error::from)
            .and_then(|_| {
                Ok(ExamAttempt::history($conn, $key)?
                    .pop()
                    .expect("the first row"))
            })
    }};
}

mod single_row {
    use super::*;

    async_backend_tests! {
        /// A row's restore checks its key in a transaction of its own (`ops::run`): dropped
        /// anywhere, the row is back or not, and the connection serves the next write or says
        /// it is broken. Would catch a restore whose check and write were sent bare, or a
        /// savepoint of the caller's transaction released after the drop.
        async fn a_single_row_restore_cancelled_at_every_await_point(db) {
            create_with_keys(db)?;
            sweep!(db, 5000, false,
                prepare row = |c, k| retire_all!(c, k),
                next |c, k| upsert_next!(c, k),
                lives 0..=1,
                |conn, key| row.restore_async(conn))
        }

        async fn a_single_row_restore_cancelled_inside_the_callers_transaction(db) {
            create_with_keys(db)?;
            sweep!(db, 6000, true,
                prepare row = |c, k| retire_all!(c, k),
                next |c, k| upsert_next!(c, k),
                lives 0..=1,
                |conn, key| row.restore_async(conn))
        }
    }
}

/// The one-statement forms (PostgreSQL only): alone the statement is autocommitted
/// (`retry_new`) or sent in a transaction of its own (`start_new`, `upsert_new`), inside the
/// caller's transaction in a savepoint; when it writes nothing a transaction runs after it.
mod one_statement {
    use super::*;
    use crate::retry_new::next_attempt;

    macro_rules! one_statement_sweeps {
        ($($nested:literal => $base:literal, $retry:ident, $upsert:ident, $start:ident;)*) => {
            $(
            soft_delete_tests::async_backend_tests!(@backend "postgres", postgres, diesel::PgConnection,
                async fn $retry(db) {
                    create_with_keys(db)?;
                    sweep!(db, $base, $nested, |conn, key| ExamAttempt::retry_new_async(conn, key, next_attempt(key.0)))
                }

                async fn $upsert(db) {
                    create_with_keys(db)?;
                    sweep!(db, $base + 100, $nested, |conn, key| ExamAttempt::upsert_new_async(
                        conn,
                        key,
                        next_attempt(key.0),
                        || crate::unique::exam_attempts::retry.eq(crate::unique::exam_attempts::retry + 10),
                    ))
                }

                async fn $start(db) {
                    create_with_keys(db)?;
                    sweep!(db, $base + 200, $nested,
                        prepare _retired = |c, k| retire_all!(c, k),
                        next |c, k| upsert_next!(c, k),
                        lives 0..=1,
                        |conn, key| ExamAttempt::start_new_async(conn, key, next_attempt(key.0)))
                }
            );
            )*
        };
    }

    mod alone {
        use super::*;
        one_statement_sweeps! {
            false => 7000,
                a_retry_new_cancelled_at_every_await_point,
                an_upsert_new_cancelled_at_every_await_point,
                a_start_new_cancelled_at_every_await_point;
        }
    }

    mod nested {
        use super::*;
        one_statement_sweeps! {
            true => 8000,
                a_retry_new_cancelled_inside_the_callers_transaction,
                an_upsert_new_cancelled_inside_the_callers_transaction,
                a_start_new_cancelled_inside_the_callers_transaction;
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

/// A batch restore (`restore_async`, `restore_by_async`) dropped at every await point: the
/// rows and the archive log's mark are restored together or not at all, and the next restore
/// on the connection brings the batch back, finds it restored, or says the connection is
/// broken.
mod batch_restore {
    use diesel::prelude::*;
    use soft_delete_runtime::collector::{find_archive, Collector};
    use soft_delete_runtime::Error;
    use soft_delete_tests::{async_backend_tests, asynchronous};

    use super::{broken, cancel_after};
    use crate::collector_schema::*;
    use crate::shop_dump;

    /// Archives ann (member 2) and sweeps restore `$op` of her batch `$batch` (over `$conn`).
    macro_rules! restore_sweep {
        ($db:ident, $nested:expr, |$conn:ident, $batch:ident| $op:expr) => {{
            seed($db)?;
            create_journal($db);
            // An archive and its restore first: what a restore brings back (ann's sessions,
            // which `cascade(hard_delete)` deletes, stay deleted).
            let first = Collector::new(members::table.find(2)).archive($db.conn())?;
            first.batch().restore($db.conn())?;
            let restored = shop_dump!($db.conn());
            let mut failures: Vec<String> = Vec::new();
            for k in 1..=400usize {
                let $batch = Collector::new(members::table.find(2))
                    .archive($db.conn())?
                    .batch();
                let archived = shop_dump!($db.conn());
                let conn = asynchronous::connect::<Conn>($db).await;
                let seen = tokio::spawn(async move {
                    let mut conn = conn;
                    let (done, outer) = cancelled!(conn, k, $nested, |$conn| $op);
                    let next = match done {
                        Some(_) => None,
                        None => Some($batch.restore_async(&mut conn).await),
                    };
                    drop(conn);
                    let rows = |r: Result<soft_delete_runtime::collector::Restored, Error>| {
                        r.map(|r| r.total_rows())
                    };
                    (done.map(rows), outer, next.map(rows))
                })
                .await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let after = shop_dump!($db.conn());
                let logged = find_archive($db.conn(), $batch.id())?.restored().is_some();
                let (done, outer, next) = match seen {
                    Ok(seen) => seen,
                    Err(join) => {
                        failures.push(format!("k={k}: panicked: {join:?}"));
                        break;
                    }
                };
                let whole = after == restored && logged;
                let nothing = after == archived && !logged;
                if !whole && !nothing {
                    failures.push(format!(
                        "k={k}: half a restore: rows as restored {}, as archived {}, logged \
                         {logged}; outer {outer:?}, next {next:?}",
                        after == restored,
                        after == archived
                    ));
                    break;
                }
                if let Some(done) = done {
                    done?;
                    assert!(whole, "k={k}: the restore returned but is not committed");
                    break;
                }
                match next {
                    Some(Ok(_)) | Some(Err(Error::AlreadyRestored { .. })) if whole => {}
                    Some(Err(error)) if broken::<Conn>(&error) => {}
                    other => failures.push(format!(
                        "k={k}: next restore {other:?} (restored: {whole}), outer {outer:?}"
                    )),
                }
                if nothing {
                    $batch.restore($db.conn())?;
                }
            }
            assert!(failures.is_empty(), "{failures:#?}");
            Ok(())
        }};
    }

    async_backend_tests! {
        /// Would catch a restore whose statements outside its transaction (PostgreSQL's one
        /// statement, the log's claim) commit without the rest, or a next use on the
        /// connection that runs inside the abandoned transaction.
        async fn a_batch_restore_cancelled_at_every_await_point(db) {
            restore_sweep!(db, false, |conn, batch| batch.restore_async(conn))
        }

        async fn a_batch_restore_by_cancelled_at_every_await_point(db) {
            restore_sweep!(db, false, |conn, batch| batch.restore_by_async(conn, "admin"))
        }

        async fn a_batch_restore_cancelled_inside_the_callers_transaction(db) {
            restore_sweep!(db, true, |conn, batch| batch.restore_async(conn))
        }
    }
}

/// A purge dropped at every await point: every batch is deleted whole or not at all (ten old
/// authors, batches of three, in key order), and the next purge on the connection finishes the
/// work or says the connection is broken.
mod purge {
    use diesel::prelude::*;
    use soft_delete_runtime::prelude::SoftDeleteQueryDsl;
    use soft_delete_runtime::purge::Purge;
    use soft_delete_runtime::Error;
    use soft_delete_tests::{async_backend_tests, asynchronous};

    use super::{broken, cancel_after};
    use crate::purge_schema::*;

    async_backend_tests! {
        /// Would catch a batch half deleted, or a next purge refused with another error than
        /// a broken connection's (a connection left in the batch's transaction).
        async fn a_purge_cancelled_at_every_await_point(db) {
            create(db);
            let mut failures: Vec<String> = Vec::new();
            for k in 1..=400usize {
                Purge::before(authors::table, cutoff()).run(db.conn())?;
                let conn = db.conn();
                insert_authors!(&mut *conn, 1..=10, old());
                let conn = asynchronous::connect::<Conn>(db).await;
                let seen = tokio::spawn(async move {
                    let mut conn = conn;
                    let mut purge = Purge::before(authors::table, cutoff()).batch_size(3);
                    let (done, _) = cancelled!(conn, k, false, |conn| purge.run_async(conn));
                    let next = match done {
                        Some(_) => None,
                        None => Some(purge.run_async(&mut conn).await),
                    };
                    drop(conn);
                    (done.map(|d| d.map(|r| r.deleted())), next.map(|n| n.map(|r| r.deleted())))
                })
                .await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let left: Vec<i32> = soft_delete_runtime::guard::allow(|| {
                    authors::table.with_deleted().select(authors::id).order(authors::id).load(db.conn())
                })?;
                let (done, next) = match seen {
                    Ok(seen) => seen,
                    Err(join) => {
                        failures.push(format!("k={k}: panicked: {join:?}"));
                        break;
                    }
                };
                let whole_batches = [0, 1, 4, 7, 10].contains(&left.len())
                    && left.iter().copied().eq(11 - left.len() as i32..=10);
                if !whole_batches {
                    failures.push(format!("k={k}: half a batch: {left:?} left, next {next:?}"));
                }
                if let Some(done) = done {
                    assert_eq!(done?, 10);
                    break;
                }
                match next {
                    Some(Ok(_)) if left.is_empty() => {}
                    Some(Err(error)) if broken::<Conn>(&error) => {}
                    other => failures.push(format!("k={k}: next purge {other:?}, {left:?} left")),
                }
            }
            assert!(failures.is_empty(), "{failures:#?}");
            Ok(())
        }
    }
}

/// A reassign dropped at every await point, alone and inside the caller's transaction: team
/// 1's numbers are all rotated or none, and the next reassign (team 2's swap) is committed
/// or refused as on a broken connection.
mod reassign {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;
    use soft_delete_runtime::deferred::reassign;
    use soft_delete_runtime::Error;
    use soft_delete_tests::{async_backend_tests, asynchronous};

    use super::{broken, cancel_after};
    use crate::deferred_schema::{create_players, numbers_of, players, Key};

    const START: [(i32, i32); 5] = [(1, 1), (2, 2), (3, 3), (4, 4), (5, 5)];
    const ROTATED: [(i32, i32); 5] = [(1, 2), (2, 3), (3, 4), (4, 5), (5, 1)];

    macro_rules! reassign_sweep {
        ($db:ident, $nested:expr) => {{
            create_players($db, Key::Plain)?;
            let mut failures: Vec<String> = Vec::new();
            for k in 1..=400usize {
                $db.conn().batch_execute(
                    "DELETE FROM players; INSERT INTO players (id, team_id, name, squad_number) VALUES \
                     (1, 1, 'p1', 1), (2, 1, 'p2', 2), (3, 1, 'p3', 3), (4, 1, 'p4', 4), (5, 1, 'p5', 5), \
                     (6, 2, 'p6', 1), (7, 2, 'p7', 2)",
                )?;
                let conn = asynchronous::connect::<Conn>($db).await;
                let seen = tokio::spawn(async move {
                    let mut conn = conn;
                    let (done, outer) = cancelled!(conn, k, $nested, |conn| {
                        reassign(players::squad_number)
                            .with_deleted()
                            .within(players::team_id.eq(1))
                            .run_async(conn, ROTATED)
                    });
                    let next = match done {
                        Some(_) => None,
                        None => Some(
                            reassign(players::squad_number)
                                .with_deleted()
                                .within(players::team_id.eq(2))
                                .run_async(&mut conn, [(6, 2), (7, 1)])
                                .await,
                        ),
                    };
                    drop(conn);
                    (done.map(|d| d.map(|r| r.changed)), outer, next.map(|n| n.map(|r| r.changed)))
                })
                .await;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                let team_1 = numbers_of!($db.conn(), 1)?;
                let team_2 = numbers_of!($db.conn(), 2)?;
                let (done, outer, next) = match seen {
                    Ok(seen) => seen,
                    Err(join) => {
                        failures.push(format!("k={k}: panicked: {join:?}"));
                        break;
                    }
                };
                if team_1 != START && team_1 != ROTATED {
                    failures.push(format!("k={k}: half a reassign: {team_1:?}, outer {outer:?}"));
                }
                if let Some(done) = done {
                    assert_eq!(done?, 5);
                    assert_eq!(team_1, ROTATED, "k={k}: returned but not committed");
                    break;
                }
                match next {
                    Some(Ok(2)) if team_2 == [(6, 2), (7, 1)] => {}
                    Some(Err(error)) if broken::<Conn>(&error) && team_2 == [(6, 1), (7, 2)] => {}
                    other => failures.push(format!(
                        "k={k}: next reassign {other:?}, team 2 {team_2:?}, outer {outer:?}"
                    )),
                }
            }
            assert!(failures.is_empty(), "{failures:#?}");
            Ok(())
        }};
    }

    async_backend_tests! {
        /// Would catch a reassign whose moves through temporary values commit in part, or a
        /// next write on the connection lost inside the abandoned transaction.
        async fn a_reassign_cancelled_at_every_await_point(db) {
            reassign_sweep!(db, false)
        }

        async fn a_reassign_cancelled_inside_the_callers_transaction(db) {
            reassign_sweep!(db, true)
        }
    }
}
