use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
        deleted -> Bool,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    #[soft_delete(marker = timestamp)]
    deleted_at: Option<chrono::NaiveDateTime>,
    #[soft_delete(marker = deleted)]
    deleted: bool,
}

fn main() {}
