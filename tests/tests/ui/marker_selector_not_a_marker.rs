use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        title -> Text,
        deleted -> Bool,
        removed -> Bool,
    }
}

#[derive(SoftDelete)]
struct Post {
    id: i32,
    title: String,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
}

fn main() {
    // `title` hides nothing
    let _ = soft_delete_runtime::restore(soft_delete_runtime::marker(posts::title, posts::table.find(1)));
}
