use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Queryable, SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn main() {
    let conn = &mut SqliteConnection::establish(":memory:").unwrap();
    let user: User = users::table.first(conn).unwrap();
    user.soft_delete(conn).unwrap();
}
