use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
        removed_by -> Nullable<Integer>,
        removed_by_admin -> Nullable<Integer>,
    }
}

#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
    #[soft_delete(deleted_by(removed))]
    removed_by: Option<i32>,
    #[soft_delete(deleted_by(removed))]
    removed_by_admin: Option<i32>,
}

fn main() {}
