use soft_delete_runtime::prelude::*;

#[derive(SoftDelete)]
enum User {
    Live { id: i32 },
    Gone { id: i32 },
}

fn main() {}
