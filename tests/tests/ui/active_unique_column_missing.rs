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
#[active_unique(fields = "exam_id, learner_id")]
struct Attempt {
    id: i32,
    exam_id: i32,
    #[diesel(column_name = student_id)]
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
    retry: i32,
}

fn main() {}
