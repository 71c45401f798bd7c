use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    person (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(SoftDelete)]
#[diesel(table_name = person)]
struct Person {
    id: i32,
    deleted_at: Option<chrono::NaiveDateTime>,
}

fn live_ids(conn: &mut SqliteConnection) -> QueryResult<Vec<i32>> {
    let person1 = diesel::alias!(person as person1);
    // the query reads `person`, not the alias `person1`
    person::table.filter(person1.live()).select(person::id).load(conn)
}

fn main() {}
