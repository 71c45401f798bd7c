//! The active-unique pattern through diesel-async: the exam of `exam_retries`, on SQLite
//! behind diesel-async's `SyncConnectionWrapper`, awaited on a tokio runtime. The same code
//! runs on `AsyncPgConnection`, `AsyncMysqlConnection` and their pooled connections.
//!
//! Run with `cargo run --example async_retries`.

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, RunQueryDsl, SimpleAsyncConnection};
use soft_delete_runtime::asynchronous::*;
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{ddl, Error};

diesel::table! {
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        started -> Timestamp,
        active -> Bool,
        retry -> Integer,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = attempts)]
#[active_unique(fields = "exam_id, learner_id", counter = retry, name = "one_active_attempt")]
struct Attempt {
    id: i32,
    exam_id: i32,
    learner_id: i32,
    started: NaiveDateTime,
    #[soft_delete(marker = active)]
    active: bool,
    retry: i32,
}

#[derive(Insertable)]
#[diesel(table_name = attempts)]
struct NewAttempt {
    exam_id: i32,
    learner_id: i32,
    started: NaiveDateTime,
    active: bool,
    retry: i32,
}

impl NewAttempt {
    fn live(exam_id: i32, learner_id: i32, retry: i32) -> Self {
        let started = chrono::Utc::now()
            .naive_utc()
            .with_nanosecond(0)
            .unwrap_or_default();
        NewAttempt {
            exam_id,
            learner_id,
            started,
            active: true,
            retry,
        }
    }
}

const ADA: i32 = 7;

async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection, diesel-async's included (they take Diesel's
    // default instrumentation): a read that states no visibility panics.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let path = std::env::temp_dir().join("soft-delete-async-retries.db");
    let _ = std::fs::remove_file(&path);
    let mut conn =
        SyncConnectionWrapper::<SqliteConnection>::establish(&path.to_string_lossy()).await?;
    conn.batch_execute(
        "CREATE TABLE attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, exam_id INTEGER NOT NULL, \
         learner_id INTEGER NOT NULL, started TIMESTAMP NOT NULL, \
         active BOOLEAN NOT NULL DEFAULT TRUE, retry INTEGER NOT NULL DEFAULT 0)",
    )
    .await?;
    for statement in ddl::active_unique::<Attempt>(Dialect::Sqlite) {
        conn.batch_execute(&statement).await?;
    }
    let conn = &mut conn;
    let exam_id = 1;

    // The first live attempt, then a second start refused with the live row's id.
    let first = Attempt::start_async(conn, (exam_id, ADA), |retry| {
        NewAttempt::live(exam_id, ADA, retry)
    })
    .await?;
    let again = Attempt::start_async(conn, (exam_id, ADA), |retry| {
        NewAttempt::live(exam_id, ADA, retry)
    })
    .await;
    assert!(matches!(again, Err(Error::Conflict(_))));
    println!(
        "1. started attempt {}; a second start is a conflict",
        first.id
    );

    // Two retries: each retires the live attempt and inserts the next, in one transaction.
    let mut latest = first.clone();
    for _ in 0..2 {
        latest = Attempt::retry_async(conn, (exam_id, ADA), |old: &Attempt, retry| {
            NewAttempt::live(old.exam_id, old.learner_id, retry)
        })
        .await?;
    }
    println!(
        "2. retried twice: attempt {} is live (retry {})",
        latest.id, latest.retry
    );

    // The history keeps every attempt; the scopes are plain Diesel statements.
    let history = Attempt::history_async(conn, (exam_id, ADA)).await?;
    let newest = &history[0];
    println!(
        "   newest: attempt {} started {}",
        newest.id, newest.started
    );
    let live: i64 = attempts::table.active().count().get_result(conn).await?;
    println!("3. {} attempts kept, {live} live", history.len());
    assert_eq!((history.len(), live), (3, 1));

    // A retired attempt cannot come back while the key has a live one.
    match first.restore_async(conn).await {
        Err(Error::Conflict(conflict)) => {
            println!(
                "4. restoring attempt {} refused: {} is live",
                first.id,
                conflict.live_id()
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
