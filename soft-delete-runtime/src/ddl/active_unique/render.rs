//! The SQL of one key, for each backend and form: what [`super`]'s functions return.
//!
//! A key declared `nulls = not_distinct` counts `NULL` as a value in its `Option` columns
//! (`(1, NULL)` twice is a duplicate), while unique indexes let `NULL`s repeat (the default,
//! `nulls = distinct`, which needs nothing more). PostgreSQL 15 says `NULLS NOT DISTINCT`.
//! Elsewhere, and for PostgreSQL's exclusion form, each pattern of `NULL`s gets an object of its
//! own, named `<key>_n<mask>` (bit `i` of the mask set when the `i`-th of those columns is `NULL`):
//! unique among the live rows with those columns `NULL`, on the key's other columns. A row
//! with more `NULL`s than the pattern has a `NULL` in those other columns and never collides
//! there, so each row is checked by exactly the object of its own pattern.

use super::super::{derived_name, exclude_unique, mysql, Deferral};
use super::KeyForm;
use crate::backend::{Dialect, TableName};
use crate::unique::KeyInfo;

/// One object of the database that enforces a key (an index, a constraint, or on MySQL a
/// generated column and its unique key), as the DDL creates it: what `CREATE` is rendered from,
/// and what [`schema`](crate::schema)'s start-up check looks for in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyObject {
    /// The key's name.
    pub(crate) key: &'static str,
    /// The object's name: the key's, or `<key>_n<mask>` for a pattern of `NULL`s.
    pub(crate) name: String,
    /// What it is on, in order, quoted: columns, or an expression in parentheses; on MySQL the
    /// generated column last.
    pub(crate) elements: Vec<String>,
    /// Which rows it binds: the partial index's or constraint's condition, or on MySQL the
    /// generated column's expression (`CASE WHEN <condition> THEN 1 END`).
    pub(crate) condition: String,
    /// PostgreSQL's `NULLS NOT DISTINCT` (the index form of a key with `nulls = not_distinct`).
    pub(crate) nulls_not_distinct: bool,
    /// A PostgreSQL exclusion constraint ([`KeyForm::Exclusion`]), checked when its deferral
    /// says, rather than a unique index (`None`).
    pub(crate) exclusion: Option<Deferral>,
}

/// One key of one table, rendered for one dialect.
pub(super) struct KeyDdl<'k> {
    pub(super) dialect: Dialect,
    pub(super) table: TableName,
    /// The table's live condition, unqualified.
    pub(super) live: String,
    pub(super) key: &'k KeyInfo,
}

/// The live rows of a key whose columns `null` are `NULL`.
struct NullPattern<'k> {
    /// The object's name: `<key>_n<mask>`.
    name: String,
    /// The columns that are `NULL`.
    null: Vec<&'k str>,
    /// The key's other columns, unique among those rows.
    rest: Vec<&'k str>,
}

impl<'k> KeyDdl<'k> {
    /// Every pattern of `NULL`s but none: one per non-empty subset of the columns where `NULL`
    /// is a value of the key.
    fn null_patterns(&self) -> Vec<NullPattern<'k>> {
        let nullable = self.key.nulls_not_distinct;
        (1..1_u64 << nullable.len())
            .map(|mask| {
                let null: Vec<&str> = (0..nullable.len())
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| nullable[i])
                    .collect();
                let rest = self
                    .key
                    .columns
                    .iter()
                    .copied()
                    .filter(|c| !null.contains(c))
                    .collect();
                NullPattern {
                    name: derived_name(self.key.name, &format!("_n{mask}")),
                    null,
                    rest,
                }
            })
            .collect()
    }

    fn q(&self, ident: &str) -> String {
        self.dialect.quote(ident)
    }

    fn columns(&self, columns: &[&str]) -> String {
        let quoted: Vec<String> = columns.iter().map(|c| self.q(c)).collect();
        quoted.join(", ")
    }

    /// `(<live>) AND "a" IS NULL AND ...`: the rows of `pattern`.
    fn pattern_condition(&self, pattern: &NullPattern<'_>) -> String {
        let mut condition = format!("({})", self.live);
        for column in &pattern.null {
            condition.push_str(&format!(" AND {} IS NULL", self.q(column)));
        }
        condition
    }

    /// What a pattern's index or constraint is on: the other columns, or, when every column
    /// of the key is `NULL` in it, the expression `("a" IS NULL)`, the same for all its rows.
    fn pattern_elements(&self, pattern: &NullPattern<'_>) -> Vec<String> {
        match pattern.rest.as_slice() {
            [] => vec![format!("({} IS NULL)", self.q(pattern.null[0]))],
            rest => rest.iter().map(|c| self.q(c)).collect(),
        }
    }

    /// The objects that enforce the key in `form` (PostgreSQL alone has
    /// [`KeyForm::Exclusion`]): the key's own, then one per pattern of `NULL`s where the
    /// backend needs them (see the module docs).
    pub(super) fn objects(&self, form: KeyForm) -> Vec<KeyObject> {
        let exclusion = match form {
            KeyForm::Exclusion(deferral) => Some(deferral),
            KeyForm::Index => None,
        };
        let object = |name: String, elements: Vec<String>, condition: String| KeyObject {
            key: self.key.name,
            name,
            elements,
            condition,
            nulls_not_distinct: false,
            exclusion,
        };
        let columns: Vec<String> = self.key.columns.iter().map(|c| self.q(c)).collect();
        if self.dialect == Dialect::Postgres && exclusion.is_none() {
            // One index: `NULLS NOT DISTINCT` counts `NULL` as a value.
            return vec![KeyObject {
                nulls_not_distinct: !self.key.nulls_not_distinct.is_empty(),
                ..object(self.key.name.to_owned(), columns, self.live.clone())
            }];
        }
        let mut objects = vec![object(self.key.name.to_owned(), columns, self.live.clone())];
        for pattern in self.null_patterns() {
            let (elements, condition) = match self.dialect {
                // The unique key is on the other columns; the condition is the column's.
                Dialect::Mysql => (
                    pattern.rest.iter().map(|c| self.q(c)).collect(),
                    self.pattern_condition(&pattern),
                ),
                Dialect::Sqlite | Dialect::Postgres => (
                    self.pattern_elements(&pattern),
                    self.pattern_condition(&pattern),
                ),
            };
            objects.push(object(pattern.name, elements, condition));
        }
        if self.dialect == Dialect::Mysql {
            // A generated column, `1` for the rows of the condition and `NULL` for the others,
            // named and keyed after the object: `NULL`s never collide.
            for object in &mut objects {
                object.elements.push(self.q(&object.name));
                object.condition = format!("CASE WHEN {} THEN 1 END", object.condition);
            }
        }
        objects
    }

    /// [`KeyForm::Index`](super::KeyForm::Index): the statement(s) creating the key, joined by
    /// `; ` when there are several.
    pub(super) fn create_index(&self) -> String {
        let objects = self.objects(KeyForm::Index);
        match self.dialect {
            Dialect::Postgres | Dialect::Sqlite => {
                let statements: Vec<String> = objects
                    .iter()
                    .map(|o| {
                        format!(
                            "CREATE UNIQUE INDEX {} ON {} ({}){} WHERE {}",
                            self.created_index(&o.name),
                            self.index_table(),
                            o.elements.join(", "),
                            if o.nulls_not_distinct {
                                " NULLS NOT DISTINCT"
                            } else {
                                ""
                            },
                            o.condition
                        )
                    })
                    .collect();
                statements.join("; ")
            }
            Dialect::Mysql => {
                let parts: Vec<String> = objects
                    .iter()
                    .map(|o| {
                        let name = self.q(&o.name);
                        format!(
                            "ADD COLUMN {name} TINYINT GENERATED ALWAYS AS ({}) VIRTUAL, \
                             ADD UNIQUE KEY {name} ({})",
                            o.condition,
                            o.elements.join(", ")
                        )
                    })
                    .collect();
                format!(
                    "ALTER TABLE {} {}",
                    self.dialect.quote_table(&self.table),
                    parts.join(", ")
                )
            }
        }
    }

    /// [`KeyForm::Exclusion`](super::KeyForm::Exclusion), PostgreSQL only: the constraint, and
    /// one per pattern of `NULL`s, joined by `; `.
    pub(super) fn create_exclusion(&self, deferral: Deferral) -> String {
        let statements: Vec<String> = self
            .objects(KeyForm::Exclusion(deferral))
            .iter()
            .map(|o| {
                exclude_unique(
                    &self.table,
                    &o.name,
                    &o.elements,
                    Some(&o.condition),
                    deferral,
                )
            })
            .collect();
        statements.join("; ")
    }

    /// The down of [`create_index`](Self::create_index).
    pub(super) fn drop_index(&self) -> String {
        match self.dialect {
            Dialect::Postgres => format!("DROP INDEX {}", self.qualified_index(self.key.name)),
            Dialect::Sqlite => {
                let mut statements = vec![format!(
                    "DROP INDEX {}",
                    self.qualified_index(self.key.name)
                )];
                for pattern in self.null_patterns() {
                    statements.push(format!(
                        "DROP INDEX {}",
                        self.qualified_index(&pattern.name)
                    ));
                }
                statements.join("; ")
            }
            Dialect::Mysql => self.mysql_drop(),
        }
    }

    /// The down of [`create_exclusion`](Self::create_exclusion).
    pub(super) fn drop_exclusion(&self) -> String {
        let mut drops = vec![format!("DROP CONSTRAINT {}", self.q(self.key.name))];
        for pattern in self.null_patterns() {
            drops.push(format!("DROP CONSTRAINT {}", self.q(&pattern.name)));
        }
        format!(
            "ALTER TABLE {} {}",
            self.dialect.quote_table(&self.table),
            drops.join(", ")
        )
    }

    /// The MySQL/MariaDB down script: for each column a unique key of the key starts with,
    /// when a foreign key starts with that column and the key's `<name>_fk` index does not exist
    /// yet, that index is added on the unique key's columns (InnoDB let the foreign key use the
    /// unique key, and dropped the index it had); then the unique keys and their generated
    /// columns are dropped.
    fn mysql_drop(&self) -> String {
        let table = self.dialect.quote_table(&self.table);
        let catalog = mysql::catalog_table(&self.table);
        let mut unique_keys = vec![(self.key.name.to_owned(), self.key.columns.to_vec())];
        unique_keys.extend(self.null_patterns().into_iter().map(|p| (p.name, p.rest)));

        let mut script = Vec::new();
        let mut leading: Vec<&str> = Vec::new();
        let mut drops = Vec::new();
        for (name, columns) in &unique_keys {
            drops.push(format!(
                "DROP INDEX {}, DROP COLUMN {}",
                self.q(name),
                self.q(name)
            ));
            let Some(first) = columns.first().copied() else {
                continue;
            };
            if leading.contains(&first) {
                continue;
            }
            leading.push(first);
            let helper = derived_name(name, "_fk");
            let condition = format!(
                "EXISTS (SELECT 1 FROM information_schema.KEY_COLUMN_USAGE WHERE {catalog} \
                 AND REFERENCED_TABLE_NAME IS NOT NULL AND ORDINAL_POSITION = 1 AND COLUMN_NAME = {}) \
                 AND NOT EXISTS (SELECT 1 FROM information_schema.STATISTICS WHERE {catalog} AND INDEX_NAME = {})",
                mysql::literal(first),
                mysql::literal(&helper),
            );
            script.push(mysql::when(
                &condition,
                &format!(
                    "ALTER TABLE {table} ADD INDEX {} ({})",
                    self.q(&helper),
                    self.columns(columns)
                ),
            ));
        }
        script.push(format!("ALTER TABLE {table} {}", drops.join(", ")));
        script.join("; ")
    }

    /// An index's name in `CREATE INDEX`: SQLite qualifies the index with the schema;
    /// PostgreSQL puts it in the table's schema by itself and refuses a qualified name.
    fn created_index(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Sqlite => self.qualified_index(name),
            _ => self.q(name),
        }
    }

    /// An index's name in `DROP INDEX`: in the table's schema.
    fn qualified_index(&self, name: &str) -> String {
        match &self.table.schema {
            Some(schema) => format!("{}.{}", self.q(schema), self.q(name)),
            None => self.q(name),
        }
    }

    /// The table in `CREATE INDEX ... ON <table>`: SQLite names it unqualified.
    fn index_table(&self) -> String {
        match self.dialect {
            Dialect::Sqlite => self.q(&self.table.name),
            _ => self.dialect.quote_table(&self.table),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: KeyInfo = KeyInfo {
        name: "k",
        columns: &["owner_id", "folder_id", "topic"],
        nulls_not_distinct: &["folder_id", "topic"],
        counter: None,
    };

    fn ddl(dialect: Dialect, schema: Option<&str>) -> KeyDdl<'static> {
        KeyDdl {
            dialect,
            table: TableName {
                schema: schema.map(str::to_owned),
                name: "notes".into(),
            },
            live: dialect.quote("deleted_at") + " IS NULL",
            key: &KEY,
        }
    }

    #[test]
    fn index_names_follow_each_backend_rules_for_schemas() {
        let pg = ddl(Dialect::Postgres, Some("app"));
        assert_eq!(pg.created_index("k"), r#""k""#);
        assert_eq!(pg.qualified_index("k"), r#""app"."k""#);
        assert_eq!(pg.index_table(), r#""app"."notes""#);
        let sqlite = ddl(Dialect::Sqlite, Some("app"));
        assert_eq!(sqlite.created_index("k"), "`app`.`k`");
        assert_eq!(sqlite.index_table(), "`notes`");
        assert_eq!(ddl(Dialect::Sqlite, None).qualified_index("k"), "`k`");
    }

    #[test]
    fn every_pattern_of_nulls_gets_its_own_object() {
        let patterns = ddl(Dialect::Sqlite, None).null_patterns();
        let shown: Vec<(String, Vec<&str>, Vec<&str>)> = patterns
            .into_iter()
            .map(|p| (p.name, p.null, p.rest))
            .collect();
        assert_eq!(
            shown,
            [
                (
                    "k_n1".to_owned(),
                    vec!["folder_id"],
                    vec!["owner_id", "topic"]
                ),
                (
                    "k_n2".to_owned(),
                    vec!["topic"],
                    vec!["owner_id", "folder_id"]
                ),
                (
                    "k_n3".to_owned(),
                    vec!["folder_id", "topic"],
                    vec!["owner_id"]
                ),
            ]
        );
        assert_eq!(
            ddl(Dialect::Postgres, None).create_index(),
            r#"CREATE UNIQUE INDEX "k" ON "notes" ("owner_id", "folder_id", "topic") NULLS NOT DISTINCT WHERE "deleted_at" IS NULL"#
        );
        let sqlite = ddl(Dialect::Sqlite, None).create_index();
        assert!(
            sqlite.ends_with("; CREATE UNIQUE INDEX `k_n3` ON `notes` (`owner_id`) WHERE (`deleted_at` IS NULL) AND `folder_id` IS NULL AND `topic` IS NULL"),
            "{sqlite}"
        );
        let mysql = ddl(Dialect::Mysql, None).create_index();
        assert!(
            mysql.contains(", ADD COLUMN `k_n1` TINYINT GENERATED ALWAYS AS (CASE WHEN (`deleted_at` IS NULL) AND `folder_id` IS NULL THEN 1 END) VIRTUAL, ADD UNIQUE KEY `k_n1` (`owner_id`, `topic`, `k_n1`)"),
            "{mysql}"
        );
    }

    #[test]
    fn a_pattern_with_every_column_null_is_on_an_expression() {
        const ALL: KeyInfo = KeyInfo {
            name: "k",
            columns: &["topic"],
            nulls_not_distinct: &["topic"],
            counter: None,
        };
        let pg = KeyDdl {
            key: &ALL,
            ..ddl(Dialect::Postgres, None)
        };
        assert_eq!(
            pg.create_exclusion(Deferral::InitiallyDeferred),
            r#"ALTER TABLE "notes" ADD CONSTRAINT "k" EXCLUDE USING btree ("topic" WITH =) WHERE ("deleted_at" IS NULL) DEFERRABLE INITIALLY DEFERRED; ALTER TABLE "notes" ADD CONSTRAINT "k_n1" EXCLUDE USING btree (("topic" IS NULL) WITH =) WHERE (("deleted_at" IS NULL) AND "topic" IS NULL) DEFERRABLE INITIALLY DEFERRED"#
        );
        assert_eq!(
            pg.drop_exclusion(),
            r#"ALTER TABLE "notes" DROP CONSTRAINT "k", DROP CONSTRAINT "k_n1""#
        );
        let mysql = KeyDdl {
            key: &ALL,
            ..ddl(Dialect::Mysql, None)
        };
        assert!(mysql
            .create_index()
            .ends_with("ADD UNIQUE KEY `k_n1` (`k_n1`)"));
        assert!(mysql
            .drop_index()
            .ends_with("; ALTER TABLE `notes` DROP INDEX `k`, DROP COLUMN `k`, DROP INDEX `k_n1`, DROP COLUMN `k_n1`"));
    }
}
