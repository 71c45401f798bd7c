use soft_delete_runtime::ddl::unique::DeferrableUnique;

diesel::table! {
    players (id) {
        id -> Integer,
        team_id -> Integer,
        squad_number -> Integer,
    }
}

diesel::table! {
    teams (id) {
        id -> Integer,
    }
}

fn main() {
    let _key = DeferrableUnique::new("one_number", (teams::id, players::squad_number));
}
