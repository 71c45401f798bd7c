use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Integer,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
    #[soft_delete(deleted_by)]
    deleted_by: i32,
}

fn main() {}
