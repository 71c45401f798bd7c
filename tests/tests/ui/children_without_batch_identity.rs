use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted -> Bool,
    }
}

diesel::table! {
    orders (id) {
        id -> Integer,
        user_id -> Integer,
    }
}

// A flag marker alone does not say which archive hid a row, so the archive cannot find
// the users it hid to follow their edges.
#[derive(SoftDelete)]
#[soft_delete(children(orders::user_id = cascade(hard_delete)))]
struct User {
    id: i32,
    deleted: bool,
}

fn main() {}
