use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

// `sessions` has no `#[derive(SoftDelete)]` model: `cascade` cannot archive its rows.
diesel::table! {
    sessions (id) {
        id -> Integer,
        user_id -> Integer,
    }
}

#[derive(SoftDelete)]
#[soft_delete(children(sessions::user_id = cascade))]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
