//! The migrations of a [`Schema`]: the [`ddl`](crate::ddl) module's statements, grouped as
//! `diesel migration` runs them.

use std::io;
use std::path::{Path, PathBuf};

use super::Schema;
use crate::backend::Dialect;
use crate::ddl::{archive_log, journal};
use crate::relations::Graph;
use crate::Error;

/// One migration: its name, and the SQL of its way up and down.
///
/// [`write`](Self::write) puts it where `diesel migration run` (and
/// `diesel_migrations::FileBasedMigrations`) finds it: `<dir>/<version>_<name>/up.sql` and
/// `down.sql`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// The name, after the version in the directory's name: `soft_delete_keys_users`.
    pub name: String,
    /// The statements of the way up, each ending with `;` on its own line.
    pub up: String,
    /// The statements of the way down, undoing the way up.
    pub down: String,
}

impl Migration {
    fn new(name: String, up: &[String], down: &[String]) -> Migration {
        Migration {
            name,
            up: script(up),
            down: script(down),
        }
    }

    /// Writes `<dir>/<version>_<name>/up.sql` and `down.sql` (creating the directories, and
    /// replacing the files of an earlier run), and returns the migration's directory.
    ///
    /// Diesel orders migrations by their version, the part of the directory's name before the
    /// first `_` (dashes dropped): a version of the form `2025-06-01-120000` sorts them by date.
    pub fn write(&self, dir: impl AsRef<Path>, version: &str) -> io::Result<PathBuf> {
        let path = dir.as_ref().join(format!("{version}_{}", self.name));
        std::fs::create_dir_all(&path)?;
        std::fs::write(path.join("up.sql"), &self.up)?;
        std::fs::write(path.join("down.sql"), &self.down)?;
        Ok(path)
    }
}

/// Writes `migrations` under `dir` ([`Migration::write`]), in order, with the versions
/// `<version>-0001`, `<version>-0002`, ...: all of them after a migration of an earlier
/// `version` (the one creating the tables), before a later one. Returns their directories.
///
/// ```no_run
/// # use soft_delete_runtime::schema::{write_migrations, Schema};
/// # use soft_delete_runtime::backend::Dialect;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let schema = Schema::new();
/// write_migrations("migrations", "2025-06-01-120000", &schema.migrations(Dialect::Postgres)?)?;
/// // migrations/2025-06-01-120000-0001_soft_delete_archive_log/up.sql, down.sql, ...
/// # Ok(())
/// # }
/// ```
pub fn write_migrations(
    dir: impl AsRef<Path>,
    version: &str,
    migrations: &[Migration],
) -> io::Result<Vec<PathBuf>> {
    migrations
        .iter()
        .enumerate()
        .map(|(i, migration)| migration.write(dir.as_ref(), &format!("{version}-{:04}", i + 1)))
        .collect()
}

/// See [`Schema::migrations`].
pub(super) fn of(schema: &Schema, dialect: Dialect) -> Result<Vec<Migration>, Error> {
    let mut journal_needed = false;
    for node in &schema.archives {
        journal_needed |= Graph::build(node())?.needs_journal();
    }
    let mut migrations = Vec::new();
    if !schema.archives.is_empty() {
        migrations.push(Migration::new(
            "soft_delete_archive_log".to_owned(),
            &[archive_log::create_table(dialect)],
            &[archive_log::drop_table(dialect)],
        ));
    }
    if journal_needed {
        migrations.push(Migration::new(
            "soft_delete_journal".to_owned(),
            &[
                journal::create_table(dialect),
                journal::create_link_index(dialect),
            ],
            &[journal::drop_table(dialect)],
        ));
    }
    for model in &schema.models {
        let up = (model.create)(dialect, model.form)?;
        if up.is_empty() {
            continue;
        }
        let mut down = (model.drop)(dialect, model.form)?;
        down.reverse();
        migrations.push(Migration::new(
            format!("soft_delete_keys_{}", file_name(&model.table.to_string())),
            &up,
            &down,
        ));
    }
    Ok(migrations)
}

/// The statements as a migration file: each ends with `;` and a new line.
fn script(statements: &[String]) -> String {
    statements.iter().map(|s| format!("{s};\n")).collect()
}

/// `name` with every character a directory name should not hold as `_`: `app.users` becomes
/// `app_users`.
fn file_name(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_end_each_with_a_semicolon_and_names_stay_file_names() {
        assert_eq!(
            script(&["CREATE A".to_owned(), "CREATE B; CREATE C".to_owned()]),
            "CREATE A;\nCREATE B; CREATE C;\n"
        );
        assert_eq!(file_name("app.Users-2"), "app_Users_2");
    }
}
