use soft_delete_runtime::prelude::*;

diesel::table! {
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        started -> Text,
        active -> Bool,
        retry -> Integer,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = attempts)]
#[active_unique(fields = "exam_id, lerner_id", counter = retry)]
struct Attempt {
    id: i32,
    exam_id: i32,
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
    retry: i32,
}

fn main() {}
