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
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
#[soft_delete(children(orders::usr_id = cascade))]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

#[derive(SoftDelete)]
struct Order {
    id: i32,
    user_id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
