use soft_delete_runtime::prelude::*;

diesel::table! {
    drafts (id) {
        id -> Integer,
        owner_id -> Integer,
        folder_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

/// An `Option` the derive cannot see: the key's filter would be `folder_id = NULL`.
type Folder = Option<i32>;

#[derive(SoftDelete)]
#[diesel(table_name = drafts)]
#[active_unique(fields = "owner_id, folder_id")]
struct Draft {
    id: i32,
    owner_id: i32,
    folder_id: Folder,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
