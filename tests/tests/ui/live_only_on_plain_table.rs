use soft_delete_runtime::deferred::reassign;

diesel::table! {
    players (id) {
        id -> Integer,
        squad_number -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

fn main() {
    let _ = reassign(players::squad_number).live_only();
}
