use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    person (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    comment (id) {
        id -> Integer,
        removed_at -> Nullable<Timestamp>,
        updated_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = person)]
struct Person {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {
    let now = chrono::Utc::now().naive_utc();
    // the soft delete changes `person` rows; `comment::updated_at` is another table's column
    let _ = soft_delete_runtime::soft_delete_and_set(
        person::table,
        Deletion::now(),
        comment::updated_at.eq(Some(now)),
    );
}
