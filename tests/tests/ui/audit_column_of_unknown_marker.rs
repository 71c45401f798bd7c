use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
        removed_by -> Nullable<Integer>,
    }
}

#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
    #[soft_delete(deleted_by(remover))]
    removed_by: Option<i32>,
}

fn main() {}
