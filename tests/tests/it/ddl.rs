//! The conditions the DDL generators share select the same rows as the scopes, on every
//! strategy and backend.

use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use soft_delete_runtime::backend::SupportedBackend;
use soft_delete_runtime::ddl::{deleted_condition, live_condition};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::soft_delete;
use soft_delete_tests::backend_tests;

use crate::schema::*;

backend_tests! {
    fn live_and_deleted_conditions_match_the_scopes(db) {
        let dialect = <<Conn as Connection>::Backend as SupportedBackend>::DIALECT;
        seed(db)?;
        let conn = db.conn();
        soft_delete(users::table.find(1)).execute(conn)?;
        soft_delete(posts::table.filter(posts::id.le(2))).execute(conn)?;
        soft_delete(attempts::table.find(3)).execute(conn)?;

        macro_rules! same_rows {
            ($table:ident) => {{
                let live = sql::<Bool>(&live_condition::<$table::table>(dialect));
                let dead = sql::<Bool>(&deleted_condition::<$table::table>(dialect));
                let by_condition: (i64, i64) = (
                    $table::table.filter(live).count().get_result(conn)?,
                    $table::table.filter(dead).count().get_result(conn)?,
                );
                let by_scope: (i64, i64) = (
                    $table::table.active().count().get_result(conn)?,
                    $table::table.only_deleted().count().get_result(conn)?,
                );
                assert_eq!(by_condition, by_scope, "{}", stringify!($table));
                assert!(by_scope.0 > 0 && by_scope.1 > 0, "both sets are non-empty");
            }};
        }
        same_rows!(users);
        same_rows!(posts);
        same_rows!(attempts);
        Ok(())
    }
}
