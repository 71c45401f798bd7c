use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

// With one flag marker a field named `deleted_at` is its deletion time; with two it must say whose.
#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
