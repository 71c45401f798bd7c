use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    reviews (id) {
        id -> Integer,
        author_id -> Integer,
    }
}

#[derive(SoftDelete)]
#[soft_delete(children(reviews::author_id = set_null))]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
