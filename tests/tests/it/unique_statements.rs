//! How many statements `start`, `retry` and `upsert` send, per backend, against the
//! hand-written transaction that gives the same guarantees (lock the live row, retire it,
//! insert the successor, read it back). Counted with Diesel's instrumentation (every
//! `StartQuery`, `BEGIN` and `COMMIT` included); the README's table under "Cost" states these
//! numbers, and this test reads it: a change in either fails here.

use std::sync::{Arc, Mutex};

use diesel::prelude::*;
use diesel::query_builder::SqlQuery;
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use diesel::sql_types::Integer;
use soft_delete_runtime::asynchronous::*;
use soft_delete_runtime::prelude::*;
use soft_delete_tests::exec::{Exec, KeysIn, RestoreIn};
use soft_delete_tests::{asynchronous, backend_tests, record_statements, Backend};

use crate::unique::{attempt, create_with_keys, exam_attempts, ExamAttempt};

/// A row read back by the hand-written statements.
#[derive(QueryableByName)]
pub(crate) struct Row {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Integer)]
    pub(crate) retry: i32,
}

pub(crate) type Failure = Box<dyn std::error::Error + Send + Sync>;

/// The statements `op` sends on the connection that `seen` records.
pub(crate) fn count<T>(
    seen: &Arc<Mutex<Vec<String>>>,
    op: impl FnOnce() -> Result<T, Failure>,
) -> Result<(usize, T), Failure> {
    let before = seen.lock().expect("not poisoned").len();
    let value = op()?;
    Ok((seen.lock().expect("not poisoned").len() - before, value))
}

/// The hand-written statements, as one would write them on `backend`.
pub(crate) struct Hand {
    pub(crate) backend: Backend,
}

impl Hand {
    /// ` FOR UPDATE` where the backend has it (SQLite's transaction holds the write lock).
    fn lock(&self) -> &'static str {
        if self.backend == Backend::Sqlite {
            ""
        } else {
            " FOR UPDATE"
        }
    }

    /// The new row, read back: `RETURNING` where the backend has it, else a second read.
    fn insert<C>(&self, conn: &mut C, exam: i32, retry: i32) -> QueryResult<Row>
    where
        C: Connection,
        SqlQuery: ExecuteDsl<C> + for<'q> LoadQuery<'q, C, Row>,
    {
        let insert = format!(
            "INSERT INTO exam_attempts (exam_id, learner_id, active, retry) VALUES ({exam}, 7, TRUE, {retry})"
        );
        let live = format!(
            "SELECT id, retry FROM exam_attempts WHERE exam_id = {exam} AND learner_id = 7 AND active"
        );
        if self.backend == Backend::Mysql {
            diesel::sql_query(insert).execute(conn)?;
            diesel::sql_query(live).get_result(conn)
        } else {
            diesel::sql_query(format!("{insert} RETURNING id, retry")).get_result(conn)
        }
    }
}

pub(crate) fn hand_retry<C>(hand: &Hand, conn: &mut C, exam: i32) -> QueryResult<Row>
where
    C: Connection,
    SqlQuery: ExecuteDsl<C> + for<'q> LoadQuery<'q, C, Row>,
{
    conn.transaction(|conn| {
        let live: Row = diesel::sql_query(format!(
            "SELECT id, retry FROM exam_attempts WHERE exam_id = {exam} AND learner_id = 7 AND active{}",
            hand.lock()
        ))
        .get_result(conn)?;
        diesel::sql_query(format!(
            "UPDATE exam_attempts SET active = FALSE WHERE id = {} AND active",
            live.id
        ))
        .execute(conn)?;
        hand.insert(conn, exam, live.retry + 1)
    })
}

pub(crate) fn hand_start<C>(hand: &Hand, conn: &mut C, exam: i32) -> QueryResult<Row>
where
    C: Connection,
    SqlQuery: ExecuteDsl<C> + for<'q> LoadQuery<'q, C, Row>,
{
    conn.transaction(|conn| {
        let live: Vec<Row> = diesel::sql_query(format!(
            "SELECT id, retry FROM exam_attempts WHERE exam_id = {exam} AND learner_id = 7 AND active{}",
            hand.lock()
        ))
        .load(conn)?;
        assert!(live.is_empty(), "the key is free");
        // The counter goes on after the key's history: read the newest row, live or not.
        let newest: Vec<Row> = diesel::sql_query(format!(
            "SELECT id, retry FROM exam_attempts WHERE exam_id = {exam} AND learner_id = 7 AND (active OR TRUE) ORDER BY retry DESC LIMIT 1"
        ))
        .load(conn)?;
        hand.insert(conn, exam, newest.first().map_or(0, |row| row.retry + 1))
    })
}

pub(crate) fn hand_update<C>(hand: &Hand, conn: &mut C, exam: i32) -> QueryResult<Row>
where
    C: Connection,
    SqlQuery: ExecuteDsl<C> + for<'q> LoadQuery<'q, C, Row>,
{
    conn.transaction(|conn| {
        let live = format!(
            "SELECT id, retry FROM exam_attempts WHERE exam_id = {exam} AND learner_id = 7 AND active"
        );
        let row: Row = diesel::sql_query(format!("{live}{}", hand.lock())).get_result(conn)?;
        let update = format!(
            "UPDATE exam_attempts SET retry = {} WHERE id = {}",
            row.retry + 10,
            row.id
        );
        if hand.backend == Backend::Mysql {
            diesel::sql_query(update).execute(conn)?;
            diesel::sql_query(live).get_result(conn)
        } else {
            diesel::sql_query(format!("{update} RETURNING id, retry")).get_result(conn)
        }
    })
}

/// One line of the README's table:
/// `| operation | backend | library | library, async | hand-written |`.
pub(crate) fn line(
    operation: &str,
    backend: Backend,
    library: usize,
    by_async: usize,
    hand: usize,
) -> String {
    let backend = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
        Backend::Mysql => "MariaDB",
    };
    format!("| {operation} | {backend} | {library} | {by_async} | {hand} |")
}

/// Asserts that the README's table under "Cost" has each of `lines` (see [`line`]).
pub(crate) fn assert_in_readme(lines: &[String]) -> std::io::Result<()> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))?;
    let missing: Vec<&String> = lines
        .iter()
        .filter(|l| !readme.lines().any(|r| r == l.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "the README's table under \"Cost\" should have these lines:\n{}",
        missing
            .iter()
            .map(|l| l.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
    Ok(())
}

/// Whether the keys an operation measured by [`assert_readme_line_on_postgres`] runs on have a
/// live row (each key's first, counter 0) or only that row, retired.
#[cfg(feature = "postgres")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retired {
    /// The first row is live.
    None,
    /// The first row is retired: the key has history only.
    Every,
}

/// Asserts the README's line `operation` on PostgreSQL, for an operation on a key with a live
/// attempt (only a retired one with [`Retired::Every`]): the statements `library` sends on key (1, 7), the hand-written `hand` on exam 2
/// and `on_async` on key (3, 7), on a connection of their own; each leaves the live attempt's
/// `retry` at `retry`.
#[cfg(feature = "postgres")]
pub(crate) fn assert_readme_line_on_postgres(
    db: &mut soft_delete_tests::TestDb<diesel::PgConnection>,
    operation: &str,
    retired: Retired,
    retry: i32,
    library: impl FnOnce(&mut diesel::PgConnection) -> Result<ExamAttempt, soft_delete_runtime::Error>,
    hand: impl FnOnce(&Hand, &mut diesel::PgConnection) -> QueryResult<Row>,
    on_async: impl AsyncFnOnce(
        &mut <diesel::PgConnection as asynchronous::AsyncTwin>::Async,
    ) -> Result<ExamAttempt, soft_delete_runtime::Error>,
) -> Result<(), Failure> {
    create_with_keys(db)?;
    let backend = db.backend();
    let run = asynchronous::runtime();
    let (mut on_async_conn, seen_async) = run.block_on(asynchronous::connect_recording(
        db,
        asynchronous::Record::Statements,
    ));
    let conn = db.conn();
    for exam in 1..=3 {
        ExamAttempt::start(conn, (exam, 7), |n| attempt(exam, 7, n))?;
    }
    if retired == Retired::Every {
        diesel::update(exam_attempts::table)
            .set(exam_attempts::active.eq(false))
            .execute(conn)?;
    }
    let seen = record_statements(conn);
    let (by_library, first) = count(&seen, || Ok(library(conn)?))?;
    let (by_hand, row) = count(&seen, || Ok(hand(&Hand { backend }, conn)?))?;
    let (by_async, third) = count(&seen_async, || {
        Ok(run.block_on(on_async(&mut on_async_conn))?)
    })?;
    assert_eq!((first.retry, row.retry, third.retry), (retry, retry, retry));
    assert_in_readme(&[line(operation, backend, by_library, by_async, by_hand)])?;
    Ok(())
}

backend_tests! {
    fn the_readme_states_the_statements_each_operation_sends(db) {
        create_with_keys(db)?;
        let backend = db.backend();
        let hand = Hand { backend };
        let run = asynchronous::runtime();
        let (mut on_async, seen_async) = run.block_on(asynchronous::connect_recording(db, asynchronous::Record::Statements));
        let conn = db.conn();
        let seen = record_statements(conn);
        let mut lines = Vec::new();
        let new_attempt = |exam: i32| move |n| attempt(exam, 7, n);
        let successor = |old: &ExamAttempt, n| attempt(old.exam_id, old.learner_id, n);
        let bump = |live: &ExamAttempt| exam_attempts::retry.eq(live.retry + 6);

        // `start` of a key that has no row yet: exams 1 (sync), 2 (by hand), 3 (async).
        let (library, first) = count(&seen, || Ok(ExamAttempt::start(conn, (1, 7), new_attempt(1))?))?;
        let (by_hand, row) = count(&seen, || Ok(hand_start(&hand, conn, 2)?))?;
        let (by_async, third) = count(&seen_async, || {
            Ok(run.block_on(ExamAttempt::start_async(&mut on_async, (3, 7), new_attempt(3)))?)
        })?;
        assert_eq!((first.retry, row.retry, third.retry), (0, 0, 0));
        lines.push(line("`start` (a new key)", backend, library, by_async, by_hand));

        // `retry` of the live rows just inserted.
        let (library, first) = count(&seen, || Ok(ExamAttempt::retry(conn, (1, 7), successor)?))?;
        let (by_hand, row) = count(&seen, || Ok(hand_retry(&hand, conn, 2)?))?;
        let (by_async, third) = count(&seen_async, || {
            Ok(run.block_on(ExamAttempt::retry_async(&mut on_async, (3, 7), successor))?)
        })?;
        assert_eq!((first.retry, row.retry, third.retry), (1, 1, 1));
        lines.push(line("`retry`", backend, library, by_async, by_hand));
        // The same again and again: the statement is cached, and each call takes the same path.
        for n in 2..6 {
            let (again, first) = count(&seen, || Ok(ExamAttempt::retry(conn, (1, 7), successor)?))?;
            let (again_async, third) = count(&seen_async, || {
                Ok(run.block_on(ExamAttempt::retry_async(&mut on_async, (3, 7), successor))?)
            })?;
            assert_eq!((again, again_async, first.retry, third.retry), (library, by_async, n, n));
        }

        // `upsert` of a key with a live row: an update.
        let (library, first) = count(&seen, || Ok(ExamAttempt::upsert(conn, (1, 7), new_attempt(1), bump)?))?;
        let (by_hand, row) = count(&seen, || Ok(hand_update(&hand, conn, 2)?))?;
        let (by_async, third) = count(&seen_async, || {
            Ok(run.block_on(ExamAttempt::upsert_async(&mut on_async, (3, 7), new_attempt(3), bump))?)
        })?;
        assert_eq!((first.retry, row.retry, third.retry), (11, 11, 11));
        lines.push(line("`upsert` (the key is live: an update)", backend, library, by_async, by_hand));

        // `start` of a key whose rows are all retired: the counter goes on after them.
        diesel::update(exam_attempts::table.filter(exam_attempts::exam_id.le(3)))
            .set(exam_attempts::active.eq(false))
            .execute(conn)?;
        let (library, first) = count(&seen, || Ok(ExamAttempt::start(conn, (1, 7), new_attempt(1))?))?;
        let (by_hand, row) = count(&seen, || Ok(hand_start(&hand, conn, 2)?))?;
        let (by_async, third) = count(&seen_async, || {
            Ok(run.block_on(ExamAttempt::start_async(&mut on_async, (3, 7), new_attempt(3)))?)
        })?;
        assert_eq!((first.retry, row.retry, third.retry), (12, 12, 12));
        lines.push(line("`start` (a key with history)", backend, library, by_async, by_hand));

        assert_in_readme(&lines)?;
        Ok(())
    }

    /// A refused restore names the two rows by their ids, read as text: statements the
    /// connection prepares once, not at every refusal.
    fn a_refused_restore_reads_the_ids_with_prepared_statements(db, x) {
        create_with_keys(db)?;
        let conn = db.conn();
        let cached = x.record_cached_statements(conn);
        for exam in 1..=3 {
            let first = KeysIn::<_, ExamAttempt, _, _>::start(x, conn, (exam, 7), move |n| attempt(exam, 7, n))?;
            KeysIn::<_, ExamAttempt, _, _>::retry(x, conn, (exam, 7), |old: &ExamAttempt, n| attempt(old.exam_id, old.learner_id, n))?;
            let retired: ExamAttempt = exam_attempts::table.find(first.id).with_deleted().first(conn)?;
            let refused = RestoreIn::<_, ExamAttempt, _>::restore_row(x, conn, &retired).unwrap_err();
            assert!(refused.conflict().is_some(), "{refused}");
        }
        let cached = cached.lock().expect("not poisoned");
        let id_reads = cached.iter().filter(|sql| sql.starts_with("SELECT CAST(")).count();
        assert_eq!(id_reads, 1, "three refusals, one id read prepared: {cached:#?}");
        Ok(())
    }
}

/// PostgreSQL: `retry` and `start` are each one statement, and a connection parses and plans it
/// once. Diesel keeps a statement prepared unless a part of it says it cannot be (its `UPDATE`
/// and a derived `Insertable`'s values always do), and the server would otherwise parse and plan
/// the statement at every call.
#[cfg(feature = "postgres")]
mod postgres_only {
    use std::sync::{Arc, Mutex};

    use diesel::{ExpressionMethods, PgConnection};
    use soft_delete_runtime::asynchronous::*;
    use soft_delete_runtime::prelude::*;
    use soft_delete_tests::{asynchronous, record_cached_statements, TestDb};

    use crate::retry_new::next_attempt;
    use crate::unique::{attempt, create_with_keys, exam_attempts, ExamAttempt};

    /// How many statements of `seen` contain `part`.
    fn prepared(seen: &Arc<Mutex<Vec<String>>>, part: &str) -> usize {
        let seen = seen.lock().expect("not poisoned");
        seen.iter().filter(|sql| sql.contains(part)).count()
    }

    #[test]
    fn retry_start_and_the_new_forms_are_prepared_once_per_connection() {
        soft_delete_tests::run::<PgConnection>(module_path!(), |db: &mut TestDb<PgConnection>| {
            create_with_keys(db)?;
            let run = asynchronous::runtime();
            let (mut on_async, cached_async) = run.block_on(asynchronous::connect_recording(
                db,
                asynchronous::Record::Cached,
            ));
            let conn = db.conn();
            let cached = record_cached_statements(conn);
            let successor = |old: &ExamAttempt, n| attempt(old.exam_id, old.learner_id, n);

            for exam in 1..=3 {
                ExamAttempt::start(conn, (exam, 7), move |n| attempt(exam, 7, n))?;
                let other = exam + 10;
                run.block_on(ExamAttempt::start_async(
                    &mut on_async,
                    (other, 7),
                    move |n| attempt(other, 7, n),
                ))?;
            }
            for n in 1..=5 {
                let row = ExamAttempt::retry(conn, (1, 7), successor)?;
                let other =
                    run.block_on(ExamAttempt::retry_async(&mut on_async, (11, 7), successor))?;
                assert_eq!((row.retry, other.retry), (n, n));
            }
            for n in 6..=8 {
                let row = ExamAttempt::retry_new(conn, (1, 7), next_attempt(1))?;
                let other = run.block_on(ExamAttempt::retry_new_async(
                    &mut on_async,
                    (11, 7),
                    next_attempt(11),
                ))?;
                assert_eq!((row.retry, other.retry), (n, n));
            }
            let bump = || exam_attempts::retry.eq(exam_attempts::retry + 1);
            for n in 9..=11 {
                let row = ExamAttempt::upsert_new(conn, (1, 7), next_attempt(1), bump)?;
                let other = run.block_on(ExamAttempt::upsert_new_async(
                    &mut on_async,
                    (11, 7),
                    next_attempt(11),
                    bump,
                ))?;
                assert_eq!((row.retry, other.retry), (n, n));
            }

            let start = "SELECT \"successor\".* FROM \"successor\" WHERE NOT EXISTS";
            let retry = "RETURNING 1) INSERT";
            let retry_new = "FROM \"retired\") + 1";
            assert_eq!(
                [prepared(&cached, start), prepared(&cached_async, start)],
                [1, 1],
                "three starts: one statement, prepared once per connection"
            );
            assert_eq!(
                [prepared(&cached, retry), prepared(&cached_async, retry)],
                [1, 1],
                "five retries: one statement, prepared once per connection"
            );
            assert_eq!(
                [
                    prepared(&cached, retry_new),
                    prepared(&cached_async, retry_new)
                ],
                [1, 1],
                "three of `retry_new`: one statement, prepared once per connection"
            );
            let upsert_new = "UNION ALL SELECT * FROM \"inserted\"";
            assert_eq!(
                [
                    prepared(&cached, upsert_new),
                    prepared(&cached_async, upsert_new)
                ],
                [1, 1],
                "three of `upsert_new` with changes computed in SQL: one statement, prepared once per connection"
            );
            Ok(())
        });
    }
}
