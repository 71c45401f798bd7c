//! The archive journal: the table in which a cascade archive keeps the links it cut with
//! `set_null` or `set_default`, so that restoring the batch can put them back.
//!
//! A graph without `set_null` / `set_default` edges never touches it. A graph with them
//! needs the table to exist; create it in a migration with [`create_table`]:
//!
//! ```
//! use soft_delete_runtime::backend::Dialect;
//! use soft_delete_runtime::ddl::journal;
//!
//! let sql = journal::create_table(Dialect::Postgres);
//! assert!(sql.starts_with(r#"CREATE TABLE "soft_delete_journal" ("#));
//! ```
//!
//! One row per cut link: the batch's id, the child table and column, the child row's key
//! and the value the link had (and, for `set_default`, the value it was given), all as
//! text so one table serves keys of every type. Restoring a batch deletes its rows.

use crate::backend::Dialect;

/// The journal table's name.
pub const TABLE: &str = "soft_delete_journal";
/// The batch id column.
pub const BATCH_ID: &str = "batch_id";
/// The child table column (`schema.table` or `table`).
pub const TABLE_NAME: &str = "table_name";
/// The foreign-key column's name.
pub const COLUMN_NAME: &str = "column_name";
/// The child row's primary key, as text.
pub const ROW_KEY: &str = "row_key";
/// The link's value before the archive, as text.
pub const OLD_VALUE: &str = "old_value";
/// The link's value after the archive (`NULL` for `set_null`), as text.
pub const NEW_VALUE: &str = "new_value";

/// `CREATE TABLE soft_delete_journal (...)` for `dialect`, every identifier quoted.
///
/// The primary key (batch, table, column, row) is also the index a restore reads by. On
/// MySQL the key columns are `VARCHAR`s short enough for InnoDB's index limit.
pub fn create_table(dialect: Dialect) -> String {
    let q = |ident: &str| dialect.quote(ident);
    let (table_ty, column_ty, key_ty, value_ty) = match dialect {
        Dialect::Mysql => ("VARCHAR(128)", "VARCHAR(64)", "VARCHAR(191)", "TEXT"),
        Dialect::Sqlite | Dialect::Postgres => ("TEXT", "TEXT", "TEXT", "TEXT"),
    };
    format!(
        "CREATE TABLE {} ({} BIGINT NOT NULL, {} {table_ty} NOT NULL, {} {column_ty} NOT NULL, \
         {} {key_ty} NOT NULL, {} {value_ty} NULL, {} {value_ty} NULL, PRIMARY KEY ({}, {}, {}, {}))",
        q(TABLE),
        q(BATCH_ID),
        q(TABLE_NAME),
        q(COLUMN_NAME),
        q(ROW_KEY),
        q(OLD_VALUE),
        q(NEW_VALUE),
        q(BATCH_ID),
        q(TABLE_NAME),
        q(COLUMN_NAME),
        q(ROW_KEY),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_ddl_quotes_every_identifier() {
        assert_eq!(
            create_table(Dialect::Mysql),
            "CREATE TABLE `soft_delete_journal` (`batch_id` BIGINT NOT NULL, `table_name` VARCHAR(128) NOT NULL, \
             `column_name` VARCHAR(64) NOT NULL, `row_key` VARCHAR(191) NOT NULL, `old_value` TEXT NULL, \
             `new_value` TEXT NULL, PRIMARY KEY (`batch_id`, `table_name`, `column_name`, `row_key`))"
        );
        assert!(create_table(Dialect::Sqlite).contains("`row_key` TEXT NOT NULL"));
    }
}
