//! Active-unique keys: the attribute on every marker strategy, the DDL on the real servers,
//! the queries for a key, `start`, `retry`, restores that respect the key, and racing writers.

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_tests::backend_tests;

diesel::table! {
    exam_attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        active -> Bool,
        retry -> Integer,
    }
}

/// The seed article's shape: an `active` flag, a two-field key and a counter.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = exam_attempts)]
#[active_unique(fields = "exam_id, learner_id", counter = retry)]
pub struct ExamAttempt {
    pub id: i32,
    pub exam_id: i32,
    pub learner_id: i32,
    #[soft_delete(marker = active)]
    pub active: bool,
    pub retry: i32,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = exam_attempts)]
pub struct NewAttempt {
    pub exam_id: i32,
    pub learner_id: i32,
    pub active: bool,
    pub retry: i32,
}

fn new_attempt(exam_id: i32, learner_id: i32, retry: i32) -> NewAttempt {
    NewAttempt {
        exam_id,
        learner_id,
        active: true,
        retry,
    }
}

const DDL: &str = "
CREATE TABLE exam_attempts (id {pk}, exam_id {int} NOT NULL, learner_id {int} NOT NULL, active {bool} NOT NULL DEFAULT TRUE, retry {int} NOT NULL DEFAULT 0);
";

backend_tests! {
    fn start_then_retry(db) {
        db.create(DDL);
        let conn = db.conn();
        let first = ExamAttempt::start(conn, (1, 7), |n| new_attempt(1, 7, n))?;
        let second = ExamAttempt::retry(conn, (1, 7), |old: &ExamAttempt, n| new_attempt(old.exam_id, old.learner_id, n))?;
        assert_eq!((first.retry, second.retry), (0, 1));
        let history = ExamAttempt::history(conn, (1, 7))?;
        assert_eq!(history.len(), 2);
        Ok(())
    }
}
