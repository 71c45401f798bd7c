use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    #[soft_delete(marker = timestamp, colour)]
    deleted_at: Option<chrono::NaiveDateTime>,
}

// The derive's mistake is reported once: the code using the model still type-checks.
fn main() {
    let conn = &mut SqliteConnection::establish(":memory:").unwrap();
    let live: Vec<User> = users::table.active().load(conn).unwrap();
    for user in &live {
        user.soft_delete(conn).unwrap();
    }
    let _ = users::table.only_deleted().into_boxed::<diesel::sqlite::Sqlite>();
}
