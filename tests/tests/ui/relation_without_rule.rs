use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    orders (id) {
        id -> Integer,
        user_id -> Integer,
    }
}

#[derive(SoftDelete)]
#[soft_delete(children(orders::user_id))]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
