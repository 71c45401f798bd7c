use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted -> Bool,
        removed -> Bool,
    }
}

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
struct Post {
    id: i32,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    removed: bool,
}

#[derive(SoftDelete)]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {
    // a marker of `users` chosen for a write on `posts`
    let _ = soft_delete_runtime::soft_delete(soft_delete_runtime::marker(users::deleted_at, posts::table.find(1)));
}
