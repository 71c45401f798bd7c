use diesel::prelude::*;
use soft_delete_runtime::deferred::reassign;

diesel::table! {
    users (id) {
        id -> Integer,
        email -> Text,
    }
}

fn main() -> Result<(), soft_delete_runtime::Error> {
    let conn = &mut SqliteConnection::establish(":memory:").unwrap();
    reassign(users::email).run(conn, [(1, String::from("a@x")), (2, String::from("b@x"))])?;
    Ok(())
}
