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

mod render;

use render::KeyDdl;
pub(crate) use render::KeyObject;

use super::{live_condition, Deferral};
use crate::backend::{Dialect, RenderBackend, TableName};
use crate::model::SoftDelete;
use crate::table::SoftDeleteTable;
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
/// in declaration order; empty for a model without keys. (A key with `Option` fields may need
/// several statements on SQLite and MySQL, joined by `; `: see below.)
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
///
/// # Keys with `Option` fields
///
/// By default (`nulls = distinct`) the `NULL`s of a key's `Option` fields are distinct, as in
/// any unique index, and the DDL is the same as for any key. With `nulls = not_distinct`,
/// `None` is a value of the key: a key has at most one live row with a `NULL` in a given
/// column, the library's reads select it with `col IS NULL`, and the DDL makes the database
/// agree, although unique indexes let `NULL`s repeat:
///
/// - PostgreSQL (15 or later): the index says `NULLS NOT DISTINCT`;
/// - SQLite, MySQL/MariaDB and PostgreSQL's exclusion form: each pattern of `NULL`s gets an
///   index (constraint, generated column and unique key) of its own, `<key>_n<mask>`, unique on
///   the key's other columns among the live rows with those columns `NULL`:
///   ``CREATE UNIQUE INDEX `k_n1` ON `t` (`a`) WHERE (<live>) AND `b` IS NULL``. A key with
///   `n` nullable columns has `2^n - 1` of them; the statement for such a key holds several,
///   joined by `; `: run it with `batch_execute`.
pub fn active_unique<M>(dialect: Dialect) -> Vec<String>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    keys::<M>()
        .iter()
        .map(|key| key_ddl::<M::Table>(dialect, key).create_index())
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
/// yet, adds `<key>_fk` on the key's columns, then drops the key. That index stays for the
/// foreign key; a later up and down leave it alone. (The same holds for the unique key of a
/// pattern of `NULL`s that starts with another column.)
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
/// assert!(mysql.contains("'ALTER TABLE `users` ADD INDEX `one_live_email_fk` (`email`)', 'DO 0')"));
/// assert!(mysql.ends_with("; ALTER TABLE `users` DROP INDEX `one_live_email`, DROP COLUMN `one_live_email`"));
/// # Ok::<(), soft_delete_runtime::Error>(())
/// ```
pub fn drop_active_unique<M>(dialect: Dialect, form: KeyForm) -> Result<Vec<String>, Error>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    keys::<M>()
        .iter()
        .map(|key| {
            let ddl = key_ddl::<M::Table>(dialect, key);
            match (dialect, form) {
                (_, KeyForm::Index) => Ok(ddl.drop_index()),
                (Dialect::Postgres, KeyForm::Exclusion(_)) => Ok(ddl.drop_exclusion()),
                (_, KeyForm::Exclusion(_)) => Err(exclusion_unsupported(dialect)),
            }
        })
        .collect()
}

/// The objects that enforce every active-unique key of model `M` in `form`, as
/// [`active_unique_with`] creates them: what the start-up check looks for.
pub(crate) fn key_objects<M>(dialect: Dialect, form: KeyForm) -> Result<Vec<KeyObject>, Error>
where
    M: SoftDelete,
    M::ActiveUniqueKeys: KeyList<M>,
    <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    if matches!(form, KeyForm::Exclusion(_)) && dialect != Dialect::Postgres {
        return Err(exclusion_unsupported(dialect));
    }
    Ok(keys::<M>()
        .iter()
        .flat_map(|key| key_ddl::<M::Table>(dialect, key).objects(form))
        .collect())
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

/// Key `key` of table `T`, ready to render for `dialect`.
fn key_ddl<T>(dialect: Dialect, key: &KeyInfo) -> KeyDdl<'_>
where
    T: SoftDeleteTable,
    T::FromClause: QueryFragment<RenderBackend>,
{
    KeyDdl {
        dialect,
        table: TableName::of::<T>(),
        live: live_condition::<T>(dialect),
        key,
    }
}

fn create<T>(dialect: Dialect, form: KeyForm, key: &KeyInfo) -> Result<String, Error>
where
    T: SoftDeleteTable,
    T::FromClause: QueryFragment<RenderBackend>,
{
    let ddl = key_ddl::<T>(dialect, key);
    match (dialect, form) {
        (_, KeyForm::Index) => Ok(ddl.create_index()),
        (Dialect::Postgres, KeyForm::Exclusion(deferral)) => Ok(ddl.create_exclusion(deferral)),
        (_, KeyForm::Exclusion(_)) => Err(exclusion_unsupported(dialect)),
    }
}
