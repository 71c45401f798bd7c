use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
    }
}

// `primary` said twice on the same marker.
#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted, primary, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
}

fn main() {}
