// The model decides the type a row id is read as: a post's id is a `PostId`, not an `i32`.
use std::str::FromStr;

use soft_delete_runtime::prelude::*;
use soft_delete_runtime::RowId;

#[derive(Debug, Clone, Copy, PartialEq)]
struct PostId(i32);

impl FromStr for PostId {
    type Err = std::num::ParseIntError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(PostId)
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
struct Post {
    id: PostId,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn holder(id: &RowId) -> i32 {
    id.typed::<Post>().unwrap()
}

fn main() {
    let _ = holder(&RowId::from_text("4"));
}
