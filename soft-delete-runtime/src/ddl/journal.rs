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
//! let index = journal::create_link_index(Dialect::Postgres);
//! ```
//!
//! and its index, [`create_link_index`], which a restore reads a link's later cuts by.
//!
//! One row per cut link: the batch's id, the child table and column, the child row's key
//! and the value the link had (and, for `set_default`, the value it was given), all as
//! text so one table serves keys of every type. Restoring a batch deletes its rows.
//!
//! # Sizes on MySQL/MariaDB
//!
//! The primary key (batch, table, column, row key) is also the index a restore reads by, and
//! InnoDB keeps at most 3072 bytes in one (`DYNAMIC` rows), 4 bytes a character in `utf8mb4`.
//! `table_name` holds the longest `schema.table` (64 + 1 + 64 characters) and `column_name`
//! the longest column name (64), whole; the row key is `TEXT`, indexed on its first
//! [`MYSQL_ROW_KEY_CHARS`] characters, what is left of the 3072 bytes
//! (8 + 4 × (129 + 64 + 573) = 3072), and a `CHECK` constraint keeps it within them, so the
//! index is exact. A child row whose key is longer is refused whatever the `sql_mode` (strict
//! or not, nothing is truncated): the archive fails with
//! [`Error::JournalKeyTooLong`] and writes nothing. Integer
//! and UUID keys always fit; on SQLite and PostgreSQL every column is `TEXT`.
//!
//! A journal created by an earlier version (`table_name VARCHAR(128)`, `row_key VARCHAR(191)`)
//! truncates long names and keys on MySQL; create it again with this DDL.

use crate::backend::{Dialect, TableName};
use crate::Error;

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
/// Every column, in table order.
pub const COLUMNS: &[&str] = &[
    BATCH_ID,
    TABLE_NAME,
    COLUMN_NAME,
    ROW_KEY,
    OLD_VALUE,
    NEW_VALUE,
];

/// The longest row key, in characters, the journal keeps on MySQL/MariaDB.
pub const MYSQL_ROW_KEY_CHARS: usize = 573;
/// The `CHECK` constraint that keeps row keys within [`MYSQL_ROW_KEY_CHARS`] on MySQL/MariaDB.
pub const ROW_KEY_CHECK: &str = "soft_delete_journal_row_key_fits";

/// The longest `schema.table`, in characters, MySQL allows: two 64-character names and a dot.
const MYSQL_TABLE_NAME_CHARS: usize = 64 + 1 + 64;
/// The longest column name, in characters, MySQL allows.
const MYSQL_COLUMN_NAME_CHARS: usize = 64;
/// InnoDB's limit on one index's key, in bytes (`DYNAMIC` and `COMPRESSED` rows).
const INNODB_KEY_BYTES: usize = 3072;
/// `BIGINT`'s bytes, and `utf8mb4`'s bytes per character.
const BIGINT_BYTES: usize = 8;
const UTF8MB4_BYTES: usize = 4;

// The primary key takes InnoDB's limit exactly.
const _: () = assert!(
    BIGINT_BYTES
        + UTF8MB4_BYTES * (MYSQL_TABLE_NAME_CHARS + MYSQL_COLUMN_NAME_CHARS + MYSQL_ROW_KEY_CHARS)
        == INNODB_KEY_BYTES
);

/// `CREATE TABLE soft_delete_journal (...)` for `dialect`, every identifier quoted.
///
/// The primary key (batch, table, column, row) is also the index a restore reads by. On
/// MySQL/MariaDB see [Sizes on MySQL/MariaDB](self#sizes-on-mysqlmariadb).
///
/// ```
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::ddl::journal;
///
/// assert_eq!(
///     journal::create_table(Dialect::Mysql),
///     "CREATE TABLE `soft_delete_journal` (`batch_id` BIGINT NOT NULL, \
///      `table_name` VARCHAR(129) NOT NULL, `column_name` VARCHAR(64) NOT NULL, \
///      `row_key` TEXT NOT NULL, `old_value` TEXT NULL, `new_value` TEXT NULL, \
///      PRIMARY KEY (`batch_id`, `table_name`, `column_name`, `row_key`(573)), \
///      CONSTRAINT `soft_delete_journal_row_key_fits` CHECK (CHAR_LENGTH(`row_key`) <= 573)) \
///      ENGINE = InnoDB ROW_FORMAT = DYNAMIC CHARACTER SET utf8mb4 COLLATE utf8mb4_bin"
/// );
/// ```
pub fn create_table(dialect: Dialect) -> String {
    let q = |ident: &str| dialect.quote(ident);
    let columns = format!(
        "{} BIGINT NOT NULL, {} {} NOT NULL, {} {} NOT NULL, {} TEXT NOT NULL, {} TEXT NULL, {} TEXT NULL",
        q(BATCH_ID),
        q(TABLE_NAME),
        match dialect {
            Dialect::Mysql => format!("VARCHAR({MYSQL_TABLE_NAME_CHARS})"),
            Dialect::Sqlite | Dialect::Postgres => "TEXT".to_owned(),
        },
        q(COLUMN_NAME),
        match dialect {
            Dialect::Mysql => format!("VARCHAR({MYSQL_COLUMN_NAME_CHARS})"),
            Dialect::Sqlite | Dialect::Postgres => "TEXT".to_owned(),
        },
        q(ROW_KEY),
        q(OLD_VALUE),
        q(NEW_VALUE),
    );
    let (key, check, options) = match dialect {
        Dialect::Mysql => (
            format!("{}({MYSQL_ROW_KEY_CHARS})", q(ROW_KEY)),
            format!(
                ", CONSTRAINT {} CHECK (CHAR_LENGTH({}) <= {MYSQL_ROW_KEY_CHARS})",
                q(ROW_KEY_CHECK),
                q(ROW_KEY)
            ),
            " ENGINE = InnoDB ROW_FORMAT = DYNAMIC CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        ),
        Dialect::Sqlite | Dialect::Postgres => (q(ROW_KEY), String::new(), ""),
    };
    format!(
        "CREATE TABLE {} ({columns}, PRIMARY KEY ({}, {}, {}, {key}){check}){options}",
        q(TABLE),
        q(BATCH_ID),
        q(TABLE_NAME),
        q(COLUMN_NAME),
    )
}

/// The name of the index [`create_link_index`] creates.
pub const LINK_INDEX: &str = "soft_delete_journal_link";

/// `CREATE INDEX soft_delete_journal_link ON soft_delete_journal (table_name, column_name,
/// row_key, batch_id)`: the journal's rows of one link, by batch. Run it after
/// [`create_table`], in the same migration.
///
/// A restore leaves a link alone when a later archive, not restored yet, cut it again (the
/// application gave it another value in between): it looks for the link's rows in later
/// batches, which the primary key (batch first) cannot find. Without this index that lookup
/// reads the journal once per link on MySQL/MariaDB (51 s for 1,000 links under 200,000
/// rows of later batches, against 5 ms with it) and skip-scans every later batch on SQLite.
/// On MySQL/MariaDB it takes InnoDB's 3072 bytes exactly, like the primary key.
///
/// ```
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::ddl::journal;
///
/// assert_eq!(
///     journal::create_link_index(Dialect::Mysql),
///     "CREATE INDEX `soft_delete_journal_link` ON `soft_delete_journal` \
///      (`table_name`, `column_name`, `row_key`(573), `batch_id`)"
/// );
/// ```
pub fn create_link_index(dialect: Dialect) -> String {
    let q = |ident: &str| dialect.quote(ident);
    let row_key = match dialect {
        Dialect::Mysql => format!("{}({MYSQL_ROW_KEY_CHARS})", q(ROW_KEY)),
        Dialect::Sqlite | Dialect::Postgres => q(ROW_KEY),
    };
    format!(
        "CREATE INDEX {} ON {} ({}, {}, {row_key}, {})",
        q(LINK_INDEX),
        q(TABLE),
        q(TABLE_NAME),
        q(COLUMN_NAME),
        q(BATCH_ID)
    )
}

/// `DROP TABLE soft_delete_journal`, for a migration's way down (it drops the index too).
pub fn drop_table(dialect: Dialect) -> String {
    format!("DROP TABLE {}", dialect.quote(TABLE))
}

/// The error for a write of journal rows for the links of `table`.`column`: the typed
/// [`Error::JournalKeyTooLong`] when the database refused it through [`ROW_KEY_CHECK`] (a row
/// key longer than the journal keeps), else the database's error unchanged. The write wrote
/// nothing: the statement failed as a whole.
pub(crate) fn write_error(error: diesel::result::Error, table: &TableName, column: &str) -> Error {
    // MySQL 3819 "Check constraint '...' is violated", MariaDB 4025 "CONSTRAINT `...` failed".
    if crate::sql::errors::refused_by(&error, ROW_KEY_CHECK) {
        Error::JournalKeyTooLong {
            table: table.to_string(),
            column: column.to_owned(),
            limit: MYSQL_ROW_KEY_CHARS,
        }
    } else {
        Error::Diesel(error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use diesel::result::{DatabaseErrorKind, Error as DieselError};

    #[test]
    fn journal_ddl_quotes_every_identifier() {
        let sqlite = create_table(Dialect::Sqlite);
        assert!(sqlite.contains("`row_key` TEXT NOT NULL"), "{sqlite}");
        assert!(
            sqlite.ends_with("PRIMARY KEY (`batch_id`, `table_name`, `column_name`, `row_key`))"),
            "{sqlite}"
        );
        assert!(create_table(Dialect::Postgres)
            .starts_with(r#"CREATE TABLE "soft_delete_journal" ("batch_id" BIGINT NOT NULL"#));
    }

    #[test]
    fn a_refusal_by_the_row_key_check_is_typed() {
        let table = TableName {
            schema: Some("app".into()),
            name: "tags".into(),
        };
        let refused = DieselError::DatabaseError(
            DatabaseErrorKind::Unknown,
            Box::new(format!(
                "CONSTRAINT `{ROW_KEY_CHECK}` failed for `db`.`soft_delete_journal`"
            )),
        );
        assert!(matches!(
            write_error(refused, &table, "owner_id"),
            Error::JournalKeyTooLong { table, column, limit: MYSQL_ROW_KEY_CHARS }
                if table == "app.tags" && column == "owner_id"
        ));
        let other = DieselError::DatabaseError(
            DatabaseErrorKind::UniqueViolation,
            Box::new("dup".to_owned()),
        );
        assert!(matches!(
            write_error(other, &table, "owner_id"),
            Error::Diesel(_)
        ));
    }
}
