//! The active-unique pattern on an exam, on a fresh SQLite file: one live attempt per
//! (exam, learner), every retired attempt kept as history with its answers and grade.
//!
//! Start an attempt, submit it, retry twice, list the history with the answers still linked
//! to their attempt, and watch the database itself refuse a second live attempt.
//!
//! Run with `cargo run --example exam_retries`.

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::{ddl, Error};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/exam_retries");
const UP_SQL: &str =
    include_str!("../migrations/exam_retries/2026-11-24-000000_create_exams/up.sql");

diesel::table! {
    exams (id) {
        id -> Integer,
        title -> Text,
    }
}

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

diesel::table! {
    answers (id) {
        id -> Integer,
        attempt_id -> Integer,
        question -> Integer,
        answer -> Text,
    }
}

diesel::table! {
    grades (id) {
        id -> Integer,
        attempt_id -> Integer,
        score -> Integer,
    }
}

// One live attempt per (exam, learner); `retry` numbers a learner's attempts 0, 1, 2, ...
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
    /// A live attempt of `learner_id` at `exam_id`, starting now.
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

/// Saves the answers of `attempt` and its grade.
fn submit(
    conn: &mut SqliteConnection,
    attempt: &Attempt,
    given: &[&str],
    score: i32,
) -> QueryResult<()> {
    let rows: Vec<_> = (1..)
        .zip(given)
        .map(|(question, answer)| {
            (
                answers::attempt_id.eq(attempt.id),
                answers::question.eq(question),
                answers::answer.eq(*answer),
            )
        })
        .collect();
    diesel::insert_into(answers::table)
        .values(&rows)
        .execute(conn)?;
    diesel::insert_into(grades::table)
        .values((grades::attempt_id.eq(attempt.id), grades::score.eq(score)))
        .execute(conn)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let path = std::env::temp_dir().join("soft-delete-exam-retries.db");
    let _ = std::fs::remove_file(&path);
    let conn = &mut SqliteConnection::establish(&path.to_string_lossy())?;
    conn.run_pending_migrations(MIGRATIONS)?;
    println!("fresh database at {}", path.display());

    // The migration holds the index the library generates for the key; keep them in step.
    for statement in ddl::active_unique::<Attempt>(Dialect::Sqlite) {
        assert!(
            UP_SQL.contains(&statement),
            "the migration lacks: {statement}"
        );
        println!("0. the key's index: {statement}");
    }

    diesel::insert_into(exams::table)
        .values(exams::title.eq("Rust 101"))
        .execute(conn)?;
    let exam_id: i32 = exams::table.select(exams::id).first(conn)?;

    // 1. Ada starts the exam: the first live attempt for (exam, Ada), retry 0.
    let first = Attempt::start(conn, (exam_id, ADA), |retry| {
        NewAttempt::live(exam_id, ADA, retry)
    })?;
    println!("1. started attempt {} (retry {})", first.id, first.retry);

    // 2. Starting again while that attempt is live is a typed error naming it.
    match Attempt::start(conn, (exam_id, ADA), |retry| {
        NewAttempt::live(exam_id, ADA, retry)
    }) {
        Err(Error::Conflict(conflict)) => {
            println!(
                "2. cannot start twice: attempt {} is live",
                conflict.live_id()
            );
            assert_eq!(conflict.live_id().typed::<Attempt>(), Ok(first.id));
        }
        other => panic!("expected a conflict, got {other:?}"),
    }

    // 3. She submits it, and it is graded.
    submit(conn, &first, &["borrow", "move"], 40)?;
    println!("3. submitted attempt {}: graded 40", first.id);

    // 4. She retries twice. Each retry retires the live attempt and inserts the next one,
    //    in one transaction; the closure gets the retired attempt and the next counter.
    let second = Attempt::retry(conn, (exam_id, ADA), |old: &Attempt, retry| {
        NewAttempt::live(old.exam_id, old.learner_id, retry)
    })?;
    submit(conn, &second, &["borrow", "copy"], 70)?;
    let third = Attempt::retry(conn, (exam_id, ADA), |old: &Attempt, retry| {
        NewAttempt::live(old.exam_id, old.learner_id, retry)
    })?;
    println!(
        "4. retried twice: attempt {} (retry {}), then attempt {} (retry {})",
        second.id, second.retry, third.id, third.retry
    );
    assert_eq!((second.retry, third.retry), (1, 2));

    // 5. The history, newest first: retired attempts keep their answers and grades.
    println!("5. history of (exam {exam_id}, learner {ADA}):");
    for attempt in Attempt::history(conn, (exam_id, ADA))? {
        let given: Vec<String> = answers::table
            .filter(answers::attempt_id.eq(attempt.id))
            .order(answers::question)
            .select(answers::answer)
            .load(conn)?;
        let score: Option<i32> = grades::table
            .filter(grades::attempt_id.eq(attempt.id))
            .select(grades::score)
            .first(conn)
            .optional()?;
        let state = if attempt.active { "live" } else { "retired" };
        println!(
            "   attempt {} retry {} {state:7} answers {given:?} grade {score:?}",
            attempt.id, attempt.retry
        );
    }
    let kept: i64 = answers::table
        .filter(answers::attempt_id.eq_any([first.id, second.id]))
        .count()
        .get_result(conn)?;
    assert_eq!(kept, 4, "answers stay linked to the retired attempts");

    // 6. A second live attempt inserted by hand: the database itself refuses it.
    let by_hand = diesel::insert_into(attempts::table)
        .values(NewAttempt::live(exam_id, ADA, 99))
        .execute(conn);
    match by_hand {
        Err(DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, info)) => {
            println!(
                "6. the database refused a second live attempt: {}",
                info.message()
            );
        }
        other => panic!("expected a unique violation, got {other:?}"),
    }
    // Retired attempts are history: any number of them per key is fine.
    let retired = NewAttempt {
        active: false,
        ..NewAttempt::live(exam_id, ADA, 99)
    };
    diesel::insert_into(attempts::table)
        .values(&retired)
        .execute(conn)?;

    // 7. Restoring a retired attempt while another is live is refused, and changes nothing.
    let err = first.restore(conn).unwrap_err();
    println!("7. {err}");
    assert_eq!(
        err.conflict().map(|c| c.live_id().typed::<Attempt>()),
        Some(Ok(third.id))
    );

    // 8. Ada gets five more minutes: an upsert on the live-only key updates the live attempt
    //    (and would start one if none were live).
    let resumed = Attempt::upsert(
        conn,
        (exam_id, ADA),
        |retry| NewAttempt::live(exam_id, ADA, retry),
        |live: &Attempt| attempts::started.eq(live.started + chrono::Duration::minutes(5)),
    )?;
    println!(
        "8. upserted: attempt {} is still the live one, now started at {}",
        resumed.id, resumed.started
    );
    assert_eq!(resumed.id, third.id);
    Ok(())
}
