use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
        removed_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
    #[soft_delete(deleted_at)]
    removed_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
