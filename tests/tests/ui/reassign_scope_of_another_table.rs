use diesel::prelude::*;
use soft_delete_runtime::deferred::reassign;

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
    let _ = reassign(players::squad_number).within(teams::id.eq(1));
}
