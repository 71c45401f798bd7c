//! The DDL that makes the database enforce a model's active-unique keys.
//!
//! | backend | form | SQL |
//! |---|---|---|
//! | PostgreSQL | [`KeyForm::Index`] | `CREATE UNIQUE INDEX "k" ON "t" ("a", "b") WHERE <live>` |
//! | PostgreSQL | [`KeyForm::Exclusion`] | `ALTER TABLE "t" ADD CONSTRAINT "k" EXCLUDE USING btree ("a" WITH =, "b" WITH =) WHERE (<live>) DEFERRABLE INITIALLY DEFERRED` |
//! | SQLite | [`KeyForm::Index`] | ``CREATE UNIQUE INDEX `k` ON `t` (`a`, `b`) WHERE <live>`` |
//! | MySQL/MariaDB | [`KeyForm::Index`] | ``ALTER TABLE `t` ADD COLUMN `k` TINYINT GENERATED ALWAYS AS (CASE WHEN <live> THEN 1 END) VIRTUAL, ADD UNIQUE KEY `k` (`a`, `b`, `k`)`` |
//!
//! MySQL and MariaDB have no partial indexes, so the key gets a generated column that is `1`
//! for a live row and `NULL` for a dead one, and a unique key over the key's columns and it:
//! `NULL`s never collide, so any number of dead rows share a key, and two live rows do not.
//! The column and the key both take the key's name. A partial unique index cannot be
//! deferred; the exclusion constraint enforces the same rule and can be checked at commit
//! (PostgreSQL only).

use diesel::query_builder::QueryFragment;
use diesel::QuerySource;

use super::{derived_name, live_condition, mysql, postgres_exclude_unique, Deferral};
use crate::backend::{Dialect, RenderBackend, TableName};
use crate::table::{SoftDelete, SoftDeleteTable};
use crate::unique::{ActiveUnique, KeyInfo, KeyList};
use crate::Error;

/// Which SQL enforces a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyForm {
    /// A partial unique index (PostgreSQL, SQLite), or a generated column in a unique key
    /// (MySQL/MariaDB). Checked at every statement; what `INSERT ... ON CONFLICT` can target.
    Index,
    /// PostgreSQL's deferrable exclusion constraint, `EXCLUDE USING btree (... WITH =) WHERE
    /// (<live>) DEFERRABLE ...`: for keys that may be broken inside a transaction and must
    /// hold at commit. Not on SQLite or MySQL ([`Error::Unsupported`]).
    Exclusion(Deferral),
}

/// The statements creating every active-unique key of model `M` for `dialect`, one per key,
/// in declaration order; empty for a model without keys.
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::ddl;
///
/// diesel::table! { users (id) { id -> Integer, email -> Text, deleted_at -> Nullable<Timestamp> } }
///
/// #[derive(Queryable, Selectable, SoftDelete)]
/// #[active_unique(fields = "email", name = "one_live_email")]
/// struct User { id: i32, email: String, deleted_at: Option<chrono::NaiveDateTime> }
///
/// assert_eq!(
///     ddl::active_unique::<User>(Dialect::Postgres),
///     [r#"CREATE UNIQUE INDEX "one_live_email" ON "users" ("email") WHERE "deleted_at" IS NULL"#]
/// );
/// assert_eq!(
///     ddl::active_unique::<User>(Dialect::Mysql),
///     ["ALTER TABLE `users` ADD COLUMN `one_live_email` TINYINT GENERATED ALWAYS AS \
///       (CASE WHEN `deleted_at` IS NULL THEN 1 END) VIRTUAL, \
///       ADD UNIQUE KEY `one_live_email` (`email`, `one_live_email`)"]
/// );
/// ```
pub fn active_unique<M>(dialect: Dialect) -> Vec<String>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    keys::<M>()
        .iter()
        .map(|key| create_index::<M::Table>(dialect, key))
        .collect()
}

/// Like [`active_unique`], in the form `form`: [`Error::Unsupported`] for
/// [`KeyForm::Exclusion`] outside PostgreSQL.
pub fn active_unique_with<M>(dialect: Dialect, form: KeyForm) -> Result<Vec<String>, Error>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    keys::<M>()
        .iter()
        .map(|key| create::<M::Table>(dialect, form, key))
        .collect()
}

/// The statement creating key `K` of model `M` alone.
pub fn active_unique_key<M, K>(dialect: Dialect, form: KeyForm) -> Result<String, Error>
where
    M: ActiveUnique<K>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    create::<M::Table>(dialect, form, &KeyInfo::of::<M, K>())
}

/// The statements dropping what [`active_unique_with`] creates, for a down migration.
///
/// On MySQL/MariaDB the generated unique key starts with the key's first column, so when that
/// column is a foreign key (`exam_id`), InnoDB drops the index it made for the foreign key
/// and uses the unique key instead, and a plain `DROP INDEX` would then fail ("Foreign key
/// constraint is incorrectly formed"). The statement for MySQL is therefore a short script,
/// to run with `batch_execute` or in a migration file: it reads the catalog and, when a
/// foreign key starts with the key's first column and the index `<key>_fk` does not exist
/// yet, adds `<key>_fk` on the key's columns in the same `ALTER TABLE` that drops the key.
/// That index stays for the foreign key; a later up and down leave it alone.
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::ddl::{self, KeyForm};
///
/// diesel::table! { users (id) { id -> Integer, email -> Text, deleted_at -> Nullable<Timestamp> } }
///
/// #[derive(Queryable, Selectable, SoftDelete)]
/// #[active_unique(fields = "email", name = "one_live_email")]
/// struct User { id: i32, email: String, deleted_at: Option<chrono::NaiveDateTime> }
///
/// assert_eq!(
///     ddl::drop_active_unique::<User>(Dialect::Sqlite, KeyForm::Index)?,
///     ["DROP INDEX `one_live_email`"]
/// );
/// let mysql = &ddl::drop_active_unique::<User>(Dialect::Mysql, KeyForm::Index)?[0];
/// assert!(mysql.starts_with("SET @sd_ddl = IF(EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE"));
/// assert!(mysql.contains("'ALTER TABLE `users` ADD INDEX `one_live_email_fk` (`email`), DROP INDEX `one_live_email`, DROP COLUMN `one_live_email`'"));
/// assert!(mysql.ends_with("EXECUTE sd_ddl; DEALLOCATE PREPARE sd_ddl"));
/// # Ok::<(), soft_delete_runtime::Error>(())
/// ```
pub fn drop_active_unique<M>(dialect: Dialect, form: KeyForm) -> Result<Vec<String>, Error>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    let table = TableName::of::<M::Table>();
    keys::<M>()
        .iter()
        .map(|key| {
            let name = dialect.quote(key.name);
            Ok(match (dialect, form) {
                (Dialect::Postgres | Dialect::Sqlite, KeyForm::Index) => {
                    format!("DROP INDEX {}", qualified_index(dialect, &table, key.name))
                }
                (Dialect::Postgres, KeyForm::Exclusion(_)) => format!(
                    "ALTER TABLE {} DROP CONSTRAINT {name}",
                    dialect.quote_table(&table)
                ),
                (Dialect::Mysql, KeyForm::Index) => mysql_drop(&table, key),
                (_, KeyForm::Exclusion(_)) => return Err(exclusion_unsupported(dialect)),
            })
        })
        .collect()
}

fn keys<M>() -> Vec<KeyInfo>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
{
    let mut keys = Vec::new();
    <M::ActiveUniqueKeys as KeyList<M>>::describe(&mut keys);
    keys
}

fn exclusion_unsupported(dialect: Dialect) -> Error {
    Error::Unsupported {
        feature: "a deferrable active-unique key (an exclusion constraint)",
        dialect,
    }
}

fn create<T>(dialect: Dialect, form: KeyForm, key: &KeyInfo) -> Result<String, Error>
where
    T: SoftDeleteTable,
    T::FromClause: QueryFragment<RenderBackend>,
{
    match (dialect, form) {
        (_, KeyForm::Index) => Ok(create_index::<T>(dialect, key)),
        (Dialect::Postgres, KeyForm::Exclusion(deferral)) => Ok(postgres_exclude_unique(
            &TableName::of::<T>(),
            key.name,
            key.columns,
            Some(&live_condition::<T>(dialect)),
            deferral,
        )),
        (_, KeyForm::Exclusion(_)) => Err(exclusion_unsupported(dialect)),
    }
}

fn create_index<T>(dialect: Dialect, key: &KeyInfo) -> String
where
    T: SoftDeleteTable,
    T::FromClause: QueryFragment<RenderBackend>,
{
    let table = TableName::of::<T>();
    let live = live_condition::<T>(dialect);
    let columns: Vec<String> = key.columns.iter().map(|c| dialect.quote(c)).collect();
    let columns = columns.join(", ");
    match dialect {
        Dialect::Postgres | Dialect::Sqlite => format!(
            "CREATE UNIQUE INDEX {} ON {} ({columns}) WHERE {live}",
            created_index(dialect, &table, key.name),
            index_table(dialect, &table),
        ),
        Dialect::Mysql => {
            let name = dialect.quote(key.name);
            format!(
                "ALTER TABLE {} ADD COLUMN {name} TINYINT GENERATED ALWAYS AS (CASE WHEN {live} THEN 1 END) VIRTUAL, \
                 ADD UNIQUE KEY {name} ({columns}, {name})",
                dialect.quote_table(&table)
            )
        }
    }
}

/// The MySQL/MariaDB down script of `key`: drops its unique key and generated column, and
/// gives a foreign key that starts with the key's first column an index of its own first
/// (see [`drop_active_unique`]).
fn mysql_drop(table: &TableName, key: &KeyInfo) -> String {
    let d = Dialect::Mysql;
    let name = d.quote(key.name);
    let drops = format!("DROP INDEX {name}, DROP COLUMN {name}");
    let helper = derived_name(key.name, "_fk");
    let columns: Vec<String> = key.columns.iter().map(|c| d.quote(c)).collect();
    let table_sql = d.quote_table(table);
    let first = key.columns.first().copied().unwrap_or_default();
    let catalog = mysql::catalog_table(table);
    let condition = format!(
        "EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE WHERE {catalog} \
         AND REFERENCED_TABLE_NAME IS NOT NULL AND ORDINAL_POSITION = 1 AND COLUMN_NAME = {}) \
         AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE {catalog} AND INDEX_NAME = {})",
        mysql::literal(first),
        mysql::literal(&helper),
    );
    mysql::choose(
        &condition,
        &format!(
            "ALTER TABLE {table_sql} ADD INDEX {} ({}), {drops}",
            d.quote(&helper),
            columns.join(", ")
        ),
        &format!("ALTER TABLE {table_sql} {drops}"),
    )
}

/// An index's name in `CREATE INDEX`: SQLite qualifies the index with the schema;
/// PostgreSQL puts it in the table's schema by itself and refuses a qualified name.
fn created_index(dialect: Dialect, table: &TableName, name: &str) -> String {
    match dialect {
        Dialect::Sqlite => qualified_index(dialect, table, name),
        _ => dialect.quote(name),
    }
}

/// An index's name in `DROP INDEX`: in the table's schema.
fn qualified_index(dialect: Dialect, table: &TableName, name: &str) -> String {
    match &table.schema {
        Some(schema) => format!("{}.{}", dialect.quote(schema), dialect.quote(name)),
        None => dialect.quote(name),
    }
}

/// The table in `CREATE INDEX ... ON <table>`: SQLite names it unqualified.
fn index_table(dialect: Dialect, table: &TableName) -> String {
    match dialect {
        Dialect::Sqlite => dialect.quote(&table.name),
        _ => dialect.quote_table(table),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_follow_each_backend_rules_for_schemas() {
        let table = TableName {
            schema: Some("app".into()),
            name: "attempts".into(),
        };
        assert_eq!(created_index(Dialect::Postgres, &table, "k"), r#""k""#);
        assert_eq!(created_index(Dialect::Sqlite, &table, "k"), "`app`.`k`");
        assert_eq!(
            qualified_index(Dialect::Postgres, &table, "k"),
            r#""app"."k""#
        );
        assert_eq!(
            index_table(Dialect::Postgres, &table),
            r#""app"."attempts""#
        );
        assert_eq!(index_table(Dialect::Sqlite, &table), "`attempts`");
        let plain = TableName {
            schema: None,
            name: "attempts".into(),
        };
        assert_eq!(qualified_index(Dialect::Sqlite, &plain, "k"), "`k`");
    }
}
