use soft_delete_runtime::prelude::*;

diesel::table! {
    attempts (attempt_id) {
        attempt_id -> Integer,
        exam_id -> Integer,
        active -> Bool,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = attempts)]
#[active_unique(fields = "exam_id")]
struct Attempt {
    attempt_id: i32,
    exam_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
}

fn main() {}
