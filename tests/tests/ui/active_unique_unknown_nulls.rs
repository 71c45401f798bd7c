use soft_delete_runtime::prelude::*;

diesel::table! {
    drafts (id) {
        id -> Integer,
        owner_id -> Integer,
        folder_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = drafts)]
#[active_unique(fields = "owner_id, folder_id", nulls = equal)]
struct Draft {
    id: i32,
    owner_id: i32,
    folder_id: Option<i32>,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
