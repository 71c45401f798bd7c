//! A trigger that keeps a table's deletion time and batch column in step with its marker when
//! a write bypasses the library.
//!
//! The library's writes set the marker and its companions together: a soft delete writes the
//! flag, the deletion time and `NULL` into the batch column; an archive the flag, the batch's
//! time and its id; a restore clears them all. Code that sets the flag through its own
//! `UPDATE` (`diesel::update(posts).set(posts::deleted.eq(false))`) leaves the companions as
//! they were. A post undeleted that way keeps the archive's time and batch id; deleted again
//! the same way it still carries them, so restoring that archive brings it back, although it
//! was deleted on its own since. The same holds for a timestamp marker with a
//! `#[soft_delete(batch)]` column: `deleted_at = NULL`, then `deleted_at = now`, keeps the id.
//!
//! [`marker_sync`] writes, for one table, a trigger that fires when a write moves a row
//! between live and hidden:
//!
//! - hidden → live: the deletion time (of a flag model) and the batch column become `NULL`;
//! - live → hidden, when the write gave no deletion time (left it unchanged, or `NULL`): the
//!   deletion time becomes the current time (UTC for a column without time zone, as this
//!   crate writes it); when it gave no batch id (left it unchanged): the batch column becomes
//!   `NULL`, as a soft delete writes it.
//!
//! A write that sets the companions itself (every write of this library does) keeps what it
//! wrote; a write that leaves the marker alone fires nothing.
//!
//! | backend | SQL |
//! |---|---|
//! | PostgreSQL | a `plpgsql` function and `CREATE TRIGGER ... BEFORE UPDATE OF <marker> ... FOR EACH ROW WHEN (<hidden before> <> <hidden after>)` that sets `NEW`'s columns |
//! | SQLite | `CREATE TRIGGER ... AFTER UPDATE OF <marker> ... FOR EACH ROW WHEN ...` whose `UPDATE`s, by primary key, set the row's columns (SQLite cannot change `NEW`) |
//! | MySQL/MariaDB | `CREATE TRIGGER ... BEFORE UPDATE ... FOR EACH ROW BEGIN IF ... SET NEW.<col> = ...; END IF; END` |
//!
//! The trigger is named after the table, `<table>_marker_sync` (PostgreSQL's function takes
//! the same name, in the table's schema); past 63 bytes the table's name is cut short and a
//! hash of the whole name added, as for the other names this module derives. [`drop_marker_sync`] writes the down migration.
//! On MySQL/MariaDB the current time is `UTC_TIMESTAMP(6)` for a `DATETIME` column and
//! `NOW(6)` for a `TIMESTAMP` one (which reads it in the session's time zone), so a client in
//! any time zone stamps the current instant; since Diesel's `Timestamp` maps either, the
//! trigger reads the column's type from `information_schema.COLUMNS` when it fires in a
//! session whose time zone is not UTC. Creating a trigger on MySQL/MariaDB with binary logging on needs the
//! `TRIGGER` privilege and, for a user without `SUPER`, `log_bin_trust_function_creators`.

use super::{derived_name, mysql};
use crate::backend::{Dialect, TableName};
use crate::relations::{Archivable, GraphTable, StampColumn, StampKind, StampOf};
use crate::table::{SoftDeleteMarker, SoftDeleteTable, Strategy, StrategyKind};

/// The statements creating the trigger that keeps `T`'s deletion time and batch column in
/// step with its marker (see the [module docs](self)), for `dialect`, in order: two on
/// PostgreSQL (the function, the trigger), one elsewhere.
///
/// Empty for a table with nothing to keep in step: a timestamp marker without a batch
/// column (the marker is the deletion time), or a flag without a deletion time or a batch
/// column.
///
/// ```
/// # use diesel::prelude::*;
/// # use soft_delete_runtime::prelude::*;
/// use soft_delete_runtime::backend::Dialect;
/// use soft_delete_runtime::ddl;
///
/// diesel::table! { posts (id) { id -> Integer, deleted -> Bool, deleted_at -> Nullable<Timestamp> } }
///
/// #[derive(Queryable, Identifiable, SoftDelete)]
/// struct Post { id: i32, #[soft_delete(marker = deleted)] deleted: bool, deleted_at: Option<chrono::NaiveDateTime> }
///
/// let up = ddl::marker_sync::<posts::table>(Dialect::Mysql);
/// assert_eq!(
///     up,
///     ["CREATE TRIGGER `posts_marker_sync` BEFORE UPDATE ON `posts` FOR EACH ROW BEGIN \
///       IF (OLD.`deleted`) <> (NEW.`deleted`) THEN \
///       IF NEW.`deleted` THEN \
///       IF NEW.`deleted_at` IS NULL OR NEW.`deleted_at` = OLD.`deleted_at` THEN SET NEW.`deleted_at` = \
///       IF(NOW(6) = UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), IF((SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'posts' \
///       AND COLUMN_NAME = 'deleted_at') = 'timestamp', NOW(6), UTC_TIMESTAMP(6))); END IF; \
///       ELSE SET NEW.`deleted_at` = NULL; \
///       END IF; END IF; END"]
/// );
/// let down = ddl::drop_marker_sync::<posts::table>(Dialect::Mysql);
/// assert_eq!(down, ["DROP TRIGGER `posts_marker_sync`"]);
/// ```
pub fn marker_sync<T>(dialect: Dialect) -> Vec<String>
where
    T: Archivable + GraphTable,
    T::Stamp: StampOf,
{
    let Some(sync) = Sync::of::<T>() else {
        return Vec::new();
    };
    match dialect {
        Dialect::Postgres => sync.postgres(),
        Dialect::Sqlite => vec![sync.sqlite()],
        Dialect::Mysql => vec![sync.mysql()],
    }
}

/// The statements dropping what [`marker_sync`] creates, for a down migration; empty where
/// it creates nothing.
pub fn drop_marker_sync<T>(dialect: Dialect) -> Vec<String>
where
    T: Archivable + GraphTable,
    T::Stamp: StampOf,
{
    let Some(sync) = Sync::of::<T>() else {
        return Vec::new();
    };
    let trigger = sync.trigger(dialect);
    match dialect {
        Dialect::Postgres => vec![
            format!(
                "DROP TRIGGER {trigger} ON {}",
                dialect.quote_table(&sync.table)
            ),
            format!("DROP FUNCTION {}()", sync.function()),
        ],
        Dialect::Sqlite | Dialect::Mysql => {
            vec![format!("DROP TRIGGER {}", sync.trigger_qualified(dialect))]
        }
    }
}

/// What the trigger of one table keeps in step.
struct Sync {
    table: TableName,
    key: &'static str,
    marker: &'static str,
    strategy: StrategyKind,
    /// A flag model's deletion time (a timestamp marker is its own).
    stamp: Option<StampColumn>,
    batch: Option<&'static str>,
}

impl Sync {
    fn of<T>() -> Option<Sync>
    where
        T: Archivable + GraphTable,
        T::Stamp: StampOf,
    {
        let strategy = <<T::Marker as SoftDeleteMarker>::Strategy as Strategy<T::Marker>>::KIND;
        let stamp = T::Stamp::column().filter(|_| strategy != StrategyKind::Timestamp);
        let batch = T::batch_column();
        if stamp.is_none() && batch.is_none() {
            return None;
        }
        Some(Sync {
            table: T::sql_name(),
            key: T::key().0,
            marker: <<T as SoftDeleteTable>::Marker as diesel::Column>::NAME,
            strategy,
            stamp,
            batch,
        })
    }

    /// `<table>_marker_sync`, unqualified (a long table name cut short with a hash, see
    /// [`derived_name`]).
    fn name(&self) -> String {
        derived_name(&self.table.name, "_marker_sync")
    }

    /// The trigger's name as `CREATE TRIGGER` and PostgreSQL's `DROP TRIGGER ... ON` take it.
    fn trigger(&self, dialect: Dialect) -> String {
        match dialect {
            // A PostgreSQL trigger lives in its table's schema, named without one.
            Dialect::Postgres => dialect.quote(&self.name()),
            Dialect::Sqlite | Dialect::Mysql => self.trigger_qualified(dialect),
        }
    }

    /// The trigger's name, in the table's schema (SQLite: attached database) when it has one.
    fn trigger_qualified(&self, dialect: Dialect) -> String {
        dialect.quote_table(&TableName {
            schema: self.table.schema.clone(),
            name: self.name(),
        })
    }

    /// PostgreSQL's trigger function, in the table's schema.
    fn function(&self) -> String {
        self.trigger_qualified(Dialect::Postgres)
    }

    /// Whether `row` (`OLD`, `NEW`) is hidden, as SQL.
    fn hidden(&self, dialect: Dialect, row: &str) -> String {
        let marker = format!("{row}.{}", dialect.quote(self.marker));
        match self.strategy {
            StrategyKind::Timestamp => format!("{marker} IS NOT NULL"),
            StrategyKind::DeletedFlag => marker,
            StrategyKind::ActiveFlag => format!("NOT {marker}"),
        }
    }

    /// The condition of a write that moves the row between live and hidden.
    fn moves(&self, dialect: Dialect) -> String {
        format!(
            "({}) <> ({})",
            self.hidden(dialect, "OLD"),
            self.hidden(dialect, "NEW")
        )
    }

    /// The statements of PostgreSQL: the function, then the trigger.
    fn postgres(&self) -> Vec<String> {
        let d = Dialect::Postgres;
        let mut hide = String::new();
        let mut show = String::new();
        if let Some(stamp) = self.stamp {
            let s = d.quote(stamp.name);
            hide.push_str(&format!(
                "IF NEW.{s} IS NULL OR NEW.{s} = OLD.{s} THEN NEW.{s} := {}; END IF; ",
                now(d, &self.table, stamp)
            ));
            show.push_str(&format!("NEW.{s} := NULL; "));
        }
        if let Some(batch) = self.batch {
            let b = d.quote(batch);
            hide.push_str(&format!(
                "IF NEW.{b} = OLD.{b} THEN NEW.{b} := NULL; END IF; "
            ));
            show.push_str(&format!("NEW.{b} := NULL; "));
        }
        let body = format!(
            "BEGIN IF {} THEN {hide}ELSE {show}END IF; RETURN NEW; END",
            self.hidden(d, "NEW")
        );
        let tag = dollar_tag(&body);
        vec![
            format!(
                "CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS {tag} {body} {tag}",
                self.function()
            ),
            format!(
                "CREATE TRIGGER {} BEFORE UPDATE OF {} ON {} FOR EACH ROW WHEN ({}) \
                 EXECUTE FUNCTION {}()",
                self.trigger(d),
                d.quote(self.marker),
                d.quote_table(&self.table),
                self.moves(d),
                self.function()
            ),
        ]
    }

    /// SQLite's trigger: `NEW` cannot be changed, so the trigger updates the row after the
    /// write, by primary key. Its `UPDATE`s leave the marker alone, so they fire nothing.
    fn sqlite(&self) -> String {
        let d = Dialect::Sqlite;
        // Inside a trigger the table is named without its schema.
        let table = d.quote(&self.table.name);
        let key = d.quote(self.key);
        let row = format!("{key} = NEW.{key}");
        let hidden = self.hidden(d, "NEW");
        let mut cleared = Vec::new();
        let mut statements = Vec::new();
        if let Some(stamp) = self.stamp {
            let s = d.quote(stamp.name);
            cleared.push(format!("{s} = NULL"));
            statements.push(format!(
                "UPDATE {table} SET {s} = {} WHERE {row} AND {hidden} \
                 AND (NEW.{s} IS NULL OR NEW.{s} = OLD.{s});",
                now(d, &self.table, stamp)
            ));
        }
        if let Some(batch) = self.batch {
            let b = d.quote(batch);
            cleared.push(format!("{b} = NULL"));
            statements.push(format!(
                "UPDATE {table} SET {b} = NULL WHERE {row} AND {hidden} AND NEW.{b} = OLD.{b};"
            ));
        }
        statements.insert(
            0,
            format!(
                "UPDATE {table} SET {} WHERE {row} AND NOT ({hidden});",
                cleared.join(", ")
            ),
        );
        format!(
            "CREATE TRIGGER {} AFTER UPDATE OF {} ON {table} FOR EACH ROW WHEN {} BEGIN {} END",
            self.trigger(d),
            d.quote(self.marker),
            self.moves(d),
            statements.join(" ")
        )
    }

    /// MySQL/MariaDB's trigger: `BEFORE UPDATE` fires for every update, so its body checks
    /// that the row moves between live and hidden.
    fn mysql(&self) -> String {
        let d = Dialect::Mysql;
        let mut hide = String::new();
        let mut show = String::new();
        if let Some(stamp) = self.stamp {
            let s = d.quote(stamp.name);
            hide.push_str(&format!(
                "IF NEW.{s} IS NULL OR NEW.{s} = OLD.{s} THEN SET NEW.{s} = {}; END IF; ",
                now(d, &self.table, stamp)
            ));
            show.push_str(&format!("SET NEW.{s} = NULL; "));
        }
        if let Some(batch) = self.batch {
            let b = d.quote(batch);
            hide.push_str(&format!(
                "IF NEW.{b} = OLD.{b} THEN SET NEW.{b} = NULL; END IF; "
            ));
            show.push_str(&format!("SET NEW.{b} = NULL; "));
        }
        format!(
            "CREATE TRIGGER {} BEFORE UPDATE ON {} FOR EACH ROW BEGIN \
             IF {} THEN IF {} THEN {hide}ELSE {show}END IF; END IF; END",
            self.trigger(d),
            d.quote_table(&self.table),
            self.moves(d),
            self.hidden(d, "NEW"),
        )
    }
}

/// The current time as the deletion time column `stamp` of `table` holds it: UTC for a
/// column without time zone, as this crate writes deletion times.
///
/// On MySQL/MariaDB the schema's SQL type does not tell the column's (Diesel's `Timestamp`
/// maps a `DATETIME` as well as a `TIMESTAMP`), so the trigger reads it from the catalog
/// when it fires: a `TIMESTAMP` takes `NOW(6)`, which it reads in the session's time zone,
/// so it holds the current instant whatever the zone of the session that wrote; a `DATETIME`
/// takes `UTC_TIMESTAMP(6)` as it is. A session in UTC, where the two agree, reads nothing.
fn now(dialect: Dialect, table: &TableName, stamp: StampColumn) -> String {
    match (dialect, stamp.kind) {
        (Dialect::Postgres, StampKind::Naive) => {
            "(statement_timestamp() AT TIME ZONE 'UTC')".to_owned()
        }
        (Dialect::Postgres, StampKind::Utc) => "statement_timestamp()".to_owned(),
        // Diesel's text forms: `2024-06-01 12:00:00.123` and `2024-06-01 12:00:00.123+00:00`.
        (Dialect::Sqlite, StampKind::Naive) => "strftime('%Y-%m-%d %H:%M:%f', 'now')".to_owned(),
        (Dialect::Sqlite, StampKind::Utc) => {
            "(strftime('%Y-%m-%d %H:%M:%f', 'now') || '+00:00')".to_owned()
        }
        // In a UTC session (every Diesel connection) both are the same, and the catalog is
        // not read.
        (Dialect::Mysql, _) => format!(
            "IF(NOW(6) = UTC_TIMESTAMP(6), UTC_TIMESTAMP(6), \
             IF((SELECT DATA_TYPE FROM information_schema.COLUMNS WHERE {} AND COLUMN_NAME = {}) = 'timestamp', \
             NOW(6), UTC_TIMESTAMP(6)))",
            mysql::catalog_table(table),
            mysql::literal(stamp.name)
        ),
    }
}

/// A dollar-quote tag for a PostgreSQL function body that does not occur in `body` (whose
/// quoted identifiers could, in principle, contain `$sd$`).
fn dollar_tag(body: &str) -> String {
    let mut tag = "$sd$".to_owned();
    let mut n = 0;
    while body.contains(&tag) {
        n += 1;
        tag = format!("$sd{n}$");
    }
    tag
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dollar_tag_avoids_the_body() {
        assert_eq!(dollar_tag("BEGIN END"), "$sd$");
        assert_eq!(dollar_tag(r#"NEW."a$sd$b""#), "$sd1$");
        assert_eq!(dollar_tag(r#"NEW."$sd$" NEW."$sd1$""#), "$sd2$");
    }

    /// PostgreSQL cuts a name at 63 bytes (two long tables' functions, named alike, would
    /// replace each other) and MySQL refuses one past 64.
    #[test]
    fn a_long_table_name_gives_a_name_within_the_identifier_limit() {
        let sync = |name: String| Sync {
            table: TableName { schema: None, name },
            key: "id",
            marker: "deleted",
            strategy: StrategyKind::DeletedFlag,
            stamp: None,
            batch: Some("batch"),
        };
        assert_eq!(sync("posts".into()).name(), "posts_marker_sync");
        let (a, b) = (
            sync(format!("{}_a", "t".repeat(58))),
            sync(format!("{}_b", "t".repeat(58))),
        );
        assert!(
            a.name().len() <= 63 && b.name().len() <= 63,
            "{} {}",
            a.name(),
            b.name()
        );
        assert_ne!(a.name(), b.name());
        assert!(a.name().ends_with("_marker_sync"), "{}", a.name());
    }
}
