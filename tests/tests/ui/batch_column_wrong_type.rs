use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted -> Bool,
        archive_batch -> Nullable<Text>,
    }
}

#[derive(SoftDelete)]
struct User {
    id: i32,
    deleted: bool,
    #[soft_delete(batch)]
    archive_batch: Option<String>,
}

fn main() {}
