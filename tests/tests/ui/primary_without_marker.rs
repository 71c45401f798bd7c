use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
    }
}

#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted)]
    deleted: bool,
    #[soft_delete(primary)]
    removed: bool,
}

fn main() {}
