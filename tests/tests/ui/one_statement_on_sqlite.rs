use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        active -> Bool,
        retry -> Integer,
    }
}

#[derive(Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = attempts)]
#[active_unique(fields = "exam_id, learner_id", counter = retry)]
struct Attempt {
    id: i32,
    exam_id: i32,
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
    retry: i32,
}

// `retry_new`, `upsert_new` and `start_new` are one PostgreSQL statement: SQLite has no data-modifying CTEs.
fn next(conn: &mut SqliteConnection) -> Result<Attempt, soft_delete_runtime::Error> {
    Attempt::retry_new(conn, (1, 7), || {
        (attempts::exam_id.eq(1), attempts::learner_id.eq(7), attempts::active.eq(true))
    })
}

// `upsert_new` likewise.
fn bump(conn: &mut SqliteConnection) -> Result<Attempt, soft_delete_runtime::Error> {
    Attempt::upsert_new(
        conn,
        (1, 7),
        || (attempts::exam_id.eq(1), attempts::learner_id.eq(7), attempts::active.eq(true)),
        || attempts::retry.eq(attempts::retry + 1),
    )
}

// `start_new` likewise.
fn first(conn: &mut SqliteConnection) -> Result<Attempt, soft_delete_runtime::Error> {
    Attempt::start_new(conn, (1, 7), || {
        (attempts::exam_id.eq(1), attempts::learner_id.eq(7), attempts::active.eq(true))
    })
}

fn main() {}
