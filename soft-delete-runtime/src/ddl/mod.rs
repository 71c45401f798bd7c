//! SQL for migrations, generated from the models, for each backend.
//!
//! The database enforces what the library promises (one live row per key, deferred
//! checks, ...), and each backend needs different SQL to do it. The functions here return that
//! SQL for a given [`Dialect`], with every identifier quoted, for users to paste into or embed
//! in their migrations. They need no connection, and no backend feature beyond one to read
//! table names with: a PostgreSQL migration can be generated on a machine that only builds
//! SQLite.
//!
//! [`schema::Schema`](crate::schema::Schema) groups these statements into migrations for a
//! service's models (in `diesel migration`'s layout) and checks at start-up that the database
//! holds what they create.
//!
//! This module holds what the generators share; each capability's DDL lives in a submodule.

pub mod archive_log;
pub mod journal;

use diesel::query_builder::QueryFragment;
use diesel::Column;

mod active_unique;
pub mod marker_sync;
mod mysql;
pub mod unique;

pub use active_unique::{
    active_unique, active_unique_key, active_unique_with, drop_active_unique, KeyForm,
};
pub(crate) use active_unique::{key_objects, KeyObject};

pub use marker_sync::{drop_marker_sync, marker_sync};

pub use crate::query::conditions::{deleted_condition, live_condition, marker_condition};

use crate::backend::{Dialect, RenderBackend, TableName};

/// `table`'s name, quoted for `dialect`: `"users"`, `"app"."users"` (PostgreSQL), `` `users` ``
/// (SQLite, MySQL).
pub fn quoted_table<T>(dialect: Dialect) -> String
where
    T: diesel::Table + Default,
    T::FromClause: QueryFragment<RenderBackend>,
{
    dialect.quote_table(&TableName::of::<T>())
}

/// Column `C`'s name, unqualified and quoted for `dialect`.
pub fn quoted_column<C: Column>(dialect: Dialect) -> String {
    dialect.quote(C::NAME)
}

/// The longest identifier every backend keeps whole (PostgreSQL's limit; MySQL's is 64).
pub(crate) const MAX_IDENTIFIER: usize = 63;

/// The name of an object that belongs to the object `name`: `name` + `suffix`, or, past
/// [`MAX_IDENTIFIER`] bytes, `name` cut short, a hash of the whole and `suffix`, so two
/// long names stay apart. The hash (FNV-1a) is the same on every build.
pub(crate) fn derived_name(name: &str, suffix: &str) -> String {
    let full = format!("{name}{suffix}");
    if full.len() <= MAX_IDENTIFIER {
        return full;
    }
    let hash = full.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let mut cut = MAX_IDENTIFIER.saturating_sub(suffix.len() + 9);
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{:08x}{suffix}", &name[..cut], hash as u32)
}

/// When a PostgreSQL constraint declared `DEFERRABLE` is checked by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Deferral {
    /// `DEFERRABLE INITIALLY IMMEDIATE`: checked per statement unless a transaction says
    /// `SET CONSTRAINTS ... DEFERRED`.
    InitiallyImmediate,
    /// `DEFERRABLE INITIALLY DEFERRED`: checked at commit.
    InitiallyDeferred,
}

impl Deferral {
    /// The SQL clause.
    pub fn sql(self) -> &'static str {
        match self {
            Deferral::InitiallyImmediate => "DEFERRABLE INITIALLY IMMEDIATE",
            Deferral::InitiallyDeferred => "DEFERRABLE INITIALLY DEFERRED",
        }
    }
}

/// PostgreSQL's deferrable "unique among the rows matching `condition`":
/// `ALTER TABLE t ADD CONSTRAINT name EXCLUDE USING btree (a WITH =, b WITH =) WHERE (cond) DEFERRABLE ...`.
///
/// A partial unique *index* cannot be deferred; an exclusion constraint with `=` on every
/// column enforces the same rule and can. `table`, `name` and `columns` are quoted here;
/// `condition` is SQL (e.g. from [`live_condition`]).
pub fn postgres_exclude_unique(
    table: &TableName,
    name: &str,
    columns: &[&str],
    condition: Option<&str>,
    deferral: Deferral,
) -> String {
    let elements: Vec<String> = columns
        .iter()
        .map(|column| Dialect::Postgres.quote(column))
        .collect();
    exclude_unique(table, name, &elements, condition, deferral)
}

/// [`postgres_exclude_unique`] on `elements`: quoted columns, or expressions in parentheses.
pub(crate) fn exclude_unique(
    table: &TableName,
    name: &str,
    elements: &[String],
    condition: Option<&str>,
    deferral: Deferral,
) -> String {
    let dialect = Dialect::Postgres;
    let elements: Vec<String> = elements.iter().map(|e| format!("{e} WITH =")).collect();
    let condition = condition
        .map(|c| format!(" WHERE ({c})"))
        .unwrap_or_default();
    format!(
        "ALTER TABLE {} ADD CONSTRAINT {} EXCLUDE USING btree ({}){condition} {}",
        dialect.quote_table(table),
        dialect.quote(name),
        elements.join(", "),
        deferral.sql()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_stay_within_the_identifier_limit() {
        assert_eq!(derived_name("one_live_seat", "_fk"), "one_live_seat_fk");
        let long = "k".repeat(63);
        let derived = derived_name(&long, "_fk");
        assert_eq!(derived.len(), MAX_IDENTIFIER);
        assert!(derived.ends_with("_fk"));
        assert_ne!(derived, derived_name(&"k".repeat(62), "_fk"));
        assert_eq!(derived, derived_name(&long, "_fk"), "stable");
    }

    #[test]
    fn exclusion_constraints_quote_everything() {
        let table = TableName {
            schema: None,
            name: "players".into(),
        };
        assert_eq!(
            postgres_exclude_unique(
                &table,
                "one_number",
                &["team_id", "squad_number"],
                Some(r#""deleted_at" IS NULL"#),
                Deferral::InitiallyDeferred
            ),
            r#"ALTER TABLE "players" ADD CONSTRAINT "one_number" EXCLUDE USING btree ("team_id" WITH =, "squad_number" WITH =) WHERE ("deleted_at" IS NULL) DEFERRABLE INITIALLY DEFERRED"#
        );
    }
}
