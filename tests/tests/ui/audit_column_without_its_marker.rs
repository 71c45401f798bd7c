use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
        removal_reason -> Nullable<Text>,
    }
}

// Whose reason: the author's delete or the moderator's removal?
#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
    #[soft_delete(reason)]
    removal_reason: Option<String>,
}

fn main() {}
