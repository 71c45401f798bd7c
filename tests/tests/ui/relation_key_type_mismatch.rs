use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

// `orders.user_id` is text, `users.id` an integer: the column cannot reference it.
diesel::table! {
    orders (id) {
        id -> Integer,
        user_id -> Text,
    }
}

#[derive(SoftDelete)]
#[soft_delete(children(orders::user_id = protect))]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
