// A newtype id is read from a row id's text through `FromStr`, which this one lacks.
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::RowId;

#[derive(Debug, Clone, Copy, PartialEq)]
struct PostId(i32);

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

fn main() {
    let _ = RowId::from_text("4").typed::<Post>();
}
