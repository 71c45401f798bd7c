//! The conditions the DDL generators share select the same rows as the scopes, on every
//! strategy and backend.

use diesel::connection::SimpleConnection;
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use soft_delete_runtime::backend::SupportedBackend;
use soft_delete_runtime::ddl::{self, deleted_condition, live_condition};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::soft_delete;
use soft_delete_tests::backend_tests;
use soft_delete_tests::stamp::Stamp;

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

    /// SQLite reads an unresolved `"name"` as a string literal: with identifiers quoted that
    /// way, an index on a missing column, or whose condition names a missing marker, was
    /// created and enforced nothing. Every backend must refuse the statement instead.
    fn ddl_naming_a_missing_column_fails_instead_of_enforcing_nothing(db) {
        let dialect = <<Conn as Connection>::Backend as SupportedBackend>::DIALECT;
        db.create(
            "CREATE TABLE coupons (id {pk}, kode {text} NOT NULL, deleted_at {ts} NULL);
             CREATE TABLE vouchers (id {pk}, code {text} NOT NULL, removed_at {ts} NULL);",
        );
        let conn = db.conn();
        for statement in ddl::active_unique::<Coupon>(dialect)
            .into_iter()
            .chain(ddl::active_unique::<Voucher>(dialect))
        {
            let outcome = conn.batch_execute(&statement);
            assert!(outcome.is_err(), "accepted on {dialect}: {statement}");
        }
        // The conditions alone, as a migration might use them in its own index.
        for condition in [live_condition::<vouchers::table>(dialect), deleted_condition::<vouchers::table>(dialect)] {
            let outcome = conn.batch_execute(&format!("SELECT id FROM vouchers WHERE {condition}"));
            assert!(outcome.is_err(), "accepted on {dialect}: {condition}");
        }
        Ok(())
    }
}

diesel::table! {
    /// The table as the model believes it is: the database's has `kode`, not `code`.
    coupons (id) {
        id -> Integer,
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    /// The database's marker column is `removed_at`, not `deleted_at`.
    vouchers (id) {
        id -> Integer,
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = coupons)]
#[active_unique(fields = "code")]
pub struct Coupon {
    pub id: i32,
    pub code: String,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = vouchers)]
#[active_unique(fields = "code")]
pub struct Voucher {
    pub id: i32,
    pub code: String,
    pub deleted_at: Option<Stamp>,
}
