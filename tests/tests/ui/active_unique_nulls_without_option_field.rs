use soft_delete_runtime::prelude::*;

diesel::table! {
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        active -> Bool,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = attempts)]
#[active_unique(fields = "exam_id, learner_id", nulls = not_distinct)]
struct Attempt {
    id: i32,
    exam_id: i32,
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
}

fn main() {}
