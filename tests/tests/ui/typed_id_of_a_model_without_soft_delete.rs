// A row id is read as the id of a `#[derive(SoftDelete)]` model; a plain model has none to
// offer (its table's ids are read as text).
use diesel::prelude::*;
use soft_delete_runtime::RowId;

diesel::table! {
    invoices (id) {
        id -> Integer,
        total -> Integer,
    }
}

#[derive(Queryable)]
struct Invoice {
    id: i32,
    total: i32,
}

fn main() {
    let id = RowId::from_text("4");
    let _ = id.typed::<Invoice>();
}
