use soft_delete_runtime::prelude::*;

diesel::table! {
    person (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

fn main() {
    // no `#[derive(SoftDelete)]` model for `person`
    let person1 = diesel::alias!(person as person1);
    let _ = person1.live();
}
