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
// As the seed article writes it for Django, with the flag in the key.
#[active_unique(fields = "exam_id, learner_id, active")]
struct Attempt {
    id: i32,
    exam_id: i32,
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
    retry: i32,
}

fn main() {}
