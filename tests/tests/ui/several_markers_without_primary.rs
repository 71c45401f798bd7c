use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
    }
}

// Which one do `soft_delete`, `restore` and an archive set?
#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
}

fn main() {}
