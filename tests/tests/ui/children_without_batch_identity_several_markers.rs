use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted -> Bool,
        banned -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    orders (id) {
        id -> Integer,
        user_id -> Integer,
    }
}

// Two flag markers; the deletion time belongs to `banned`, not to the primary marker an
// archive sets, so the archive still cannot tell which rows it hid: the help names the
// primary marker's own form, `deleted_at(deleted)`.
#[derive(SoftDelete)]
#[soft_delete(children(orders::user_id = cascade))]
struct User {
    id: i32,
    #[soft_delete(marker = deleted, primary)]
    deleted: bool,
    #[soft_delete(marker = deleted)]
    banned: bool,
    #[soft_delete(deleted_at(banned))]
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {}
