//! Deferrable unique constraints for PostgreSQL, generated from a table's typed columns.
//!
//! A unique constraint checked after every row makes a swap of two values fail even inside
//! one transaction. PostgreSQL can check a constraint declared `DEFERRABLE` at the end of
//! the transaction instead; [`DeferrableUnique`] writes that constraint for a key given as
//! Diesel columns, so a typo in a column is a compile error and the names in the SQL are
//! exactly the ones `table!` declares:
//!
//! ```
//! use soft_delete_runtime::backend::Dialect;
//! use soft_delete_runtime::ddl::unique::DeferrableUnique;
//!
//! diesel::table! {
//!     players (id) { id -> Integer, team_id -> Integer, squad_number -> Integer }
//! }
//!
//! let key = DeferrableUnique::new("players_squad_number_key", (players::team_id, players::squad_number));
//! assert_eq!(
//!     key.create_sql(Dialect::Postgres)?,
//!     r#"ALTER TABLE "players" ADD CONSTRAINT "players_squad_number_key" UNIQUE ("team_id", "squad_number") DEFERRABLE INITIALLY DEFERRED"#
//! );
//! # Ok::<(), soft_delete_runtime::Error>(())
//! ```
//!
//! On a soft-deletable table the key usually binds live rows only, so a soft-deleted row
//! keeps its value as history without blocking anyone. A partial unique *index* cannot be
//! deferred, so [`DeferrableUnique::live_only`] writes the equivalent exclusion constraint,
//! `EXCLUDE USING btree (team_id WITH =, squad_number WITH =) WHERE (<live>) DEFERRABLE ...`,
//! with the same live condition the `.active()` scope uses.
//!
//! SQLite and MySQL/MariaDB check unique keys per row or statement and cannot defer them:
//! there the functions return [`Error::Unsupported`]. [`reassign`](crate::deferred::reassign)
//! reorders values on those backends without deferral.

use diesel::query_builder::QueryFragment;
use diesel::{Column, Table};

use super::{live_condition, postgres_exclude_unique, Deferral};
use crate::backend::{Dialect, RenderBackend, TableName};
use crate::table::SoftDeleteTable;
use crate::{Error, Result};

/// The columns of a key: a tuple of one to six columns of the same `table!`, such as
/// `(players::team_id, players::squad_number)` or `(users::email,)`.
///
/// Columns of different tables in one tuple do not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a key of one table's columns",
    label = "expected a tuple of columns of one `table!`",
    note = "write the key as a tuple of columns, e.g. `(players::team_id, players::squad_number)`, or `(users::email,)` for one column"
)]
pub trait KeyColumns {
    /// The table the columns belong to.
    type Table: Table;

    /// The columns' SQL names, in order.
    fn names() -> Vec<&'static str>;
}

macro_rules! key_columns {
    ($first:ident $(, $rest:ident)*) => {
        impl<$first: Column $(, $rest: Column<Table = $first::Table>)*> KeyColumns for ($first, $($rest,)*) {
            type Table = $first::Table;

            fn names() -> Vec<&'static str> {
                vec![$first::NAME $(, $rest::NAME)*]
            }
        }
    };
}

key_columns!(A);
key_columns!(A, B);
key_columns!(A, B, C);
key_columns!(A, B, C, D);
key_columns!(A, B, C, D, E);
key_columns!(A, B, C, D, E, F);

/// A unique key that PostgreSQL checks at the end of the transaction rather than per row:
/// `UNIQUE (...) DEFERRABLE INITIALLY DEFERRED | IMMEDIATE`, or, for live rows only, an
/// `EXCLUDE ... WHERE (<live>) DEFERRABLE ...` constraint.
///
/// It renders the `up` and `down` SQL of a migration ([`create_sql`](Self::create_sql),
/// [`drop_sql`](Self::drop_sql)) and carries the constraint's [`name`](Self::name), which is
/// what [`deferred::transaction`](crate::deferred::transaction) and PostgreSQL's error
/// reports use.
#[derive(Debug, Clone)]
pub struct DeferrableUnique<K> {
    name: String,
    columns: K,
    deferral: Deferral,
    live: Option<fn(Dialect) -> String>,
}

impl<K> DeferrableUnique<K> {
    /// When the constraint is checked by default: [`Deferral::InitiallyImmediate`] keeps
    /// per-statement checks for ordinary transactions, and lets one that asks
    /// ([`deferred::transaction`](crate::deferred::transaction)) defer them.
    #[must_use]
    pub fn deferral(mut self, deferral: Deferral) -> Self {
        self.deferral = deferral;
        self
    }

    /// The constraint's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The key's columns.
    pub fn columns(&self) -> &K {
        &self.columns
    }

    /// When the constraint is checked by default.
    pub fn initial_deferral(&self) -> Deferral {
        self.deferral
    }

    /// Whether the key binds live rows only.
    pub fn is_live_only(&self) -> bool {
        self.live.is_some()
    }
}

impl<K> DeferrableUnique<K>
where
    K: KeyColumns,
    K::Table: Default,
    <K::Table as diesel::QuerySource>::FromClause: QueryFragment<RenderBackend>,
{
    /// A key on `columns` named `name`, `DEFERRABLE INITIALLY DEFERRED` (checked at commit
    /// unless a transaction says `SET CONSTRAINTS ... IMMEDIATE`).
    pub fn new(name: impl Into<String>, columns: K) -> Self {
        DeferrableUnique {
            name: name.into(),
            columns,
            deferral: Deferral::InitiallyDeferred,
            live: None,
        }
    }

    /// Binds live rows only: soft-deleted rows keep their values without counting as
    /// duplicates. Rendered as an exclusion constraint with the table's live condition,
    /// since a partial unique index cannot be deferred.
    ///
    /// Only for tables with a `#[derive(SoftDelete)]` model.
    #[must_use]
    pub fn live_only(mut self) -> Self
    where
        K::Table: SoftDeleteTable,
    {
        self.live = Some(live_condition::<K::Table>);
        self
    }

    /// The statement that adds the constraint (a migration's `up`).
    ///
    /// `ALTER TABLE "t" ADD CONSTRAINT "name" UNIQUE ("a", "b") DEFERRABLE INITIALLY ...`, or
    /// for [`live_only`](Self::live_only) keys
    /// `ALTER TABLE "t" ADD CONSTRAINT "name" EXCLUDE USING btree ("a" WITH =, "b" WITH =) WHERE (<live>) DEFERRABLE INITIALLY ...`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on SQLite and MySQL/MariaDB, which cannot defer a unique check.
    pub fn create_sql(&self, dialect: Dialect) -> Result<String> {
        Self::postgres_only(dialect)?;
        let table = TableName::of::<K::Table>();
        let names = K::names();
        Ok(match self.live {
            Some(live) => postgres_exclude_unique(
                &table,
                &self.name,
                &names,
                Some(&live(dialect)),
                self.deferral,
            ),
            None => {
                let columns: Vec<String> = names.iter().map(|c| dialect.quote(c)).collect();
                format!(
                    "ALTER TABLE {} ADD CONSTRAINT {} UNIQUE ({}) {}",
                    dialect.quote_table(&table),
                    dialect.quote(&self.name),
                    columns.join(", "),
                    self.deferral.sql()
                )
            }
        })
    }

    /// The statement that removes the constraint (a migration's `down`):
    /// `ALTER TABLE "t" DROP CONSTRAINT "name"`.
    ///
    /// # Errors
    ///
    /// [`Error::Unsupported`] on SQLite and MySQL/MariaDB.
    pub fn drop_sql(&self, dialect: Dialect) -> Result<String> {
        Self::postgres_only(dialect)?;
        Ok(format!(
            "ALTER TABLE {} DROP CONSTRAINT {}",
            dialect.quote_table(&TableName::of::<K::Table>()),
            dialect.quote(&self.name)
        ))
    }

    fn postgres_only(dialect: Dialect) -> Result<()> {
        match dialect {
            Dialect::Postgres => Ok(()),
            Dialect::Sqlite | Dialect::Mysql => Err(Error::Unsupported {
                feature: "deferrable unique constraints",
                dialect,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    diesel::table! {
        app.players (id) {
            id -> Integer,
            team_id -> Integer,
            #[sql_name = "number"]
            squad_number -> Integer,
        }
    }

    #[test]
    fn full_keys_are_unique_constraints_with_the_deferral_asked_for() {
        let key = DeferrableUnique::new("one_number", (players::team_id, players::squad_number))
            .deferral(Deferral::InitiallyImmediate);
        assert_eq!(
            key.create_sql(Dialect::Postgres).unwrap(),
            r#"ALTER TABLE "app"."players" ADD CONSTRAINT "one_number" UNIQUE ("team_id", "number") DEFERRABLE INITIALLY IMMEDIATE"#
        );
        assert_eq!(
            key.drop_sql(Dialect::Postgres).unwrap(),
            r#"ALTER TABLE "app"."players" DROP CONSTRAINT "one_number""#
        );
        assert!(!key.is_live_only());
        assert_eq!(key.name(), "one_number");
    }

    #[test]
    fn names_are_quoted() {
        let key = DeferrableUnique::new(r#"we"ird"#, (players::squad_number,));
        assert_eq!(
            key.create_sql(Dialect::Postgres).unwrap(),
            r#"ALTER TABLE "app"."players" ADD CONSTRAINT "we""ird" UNIQUE ("number") DEFERRABLE INITIALLY DEFERRED"#
        );
    }

    #[test]
    fn other_backends_cannot_defer() {
        let key = DeferrableUnique::new("k", (players::team_id, players::squad_number));
        for dialect in [Dialect::Sqlite, Dialect::Mysql] {
            assert!(matches!(
                key.create_sql(dialect),
                Err(Error::Unsupported { dialect: d, .. }) if d == dialect
            ));
            assert!(matches!(
                key.drop_sql(dialect),
                Err(Error::Unsupported { .. })
            ));
        }
    }
}
