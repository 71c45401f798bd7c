use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted -> Bool,
        archive_batch -> Nullable<BigInt>,
    }
}

#[derive(SoftDelete)]
struct User {
    id: i32,
    deleted: bool,
    #[soft_delete(batch)]
    archive_batch: i64,
}

fn main() {}
