use diesel::prelude::*;
use soft_delete_runtime::collector::Collector;

diesel::table! {
    users (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

fn main() {
    let conn = &mut SqliteConnection::establish(":memory:").unwrap();
    let _ = Collector::new(users::table.find(1)).archive(conn);
}
