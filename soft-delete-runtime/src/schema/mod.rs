//! The schema the models need: their migrations, and a check a service runs at start-up.
//!
//! Every guarantee of this crate stands on DDL: an active-unique key holds because the database
//! has its index, an archive needs the archive log, a restore puts cut links back from the
//! journal. A [`Schema`] lists what a service uses, by type:
//!
//! - [`model::<M>()`](Schema::model): the model's active-unique keys;
//! - [`archives::<T>()`](Schema::archives): a root the service archives from, which needs the
//!   archive log, the journal when its graph cuts links (`set_null`, `set_default`), and
//!   foreign keys and indexes that match the declared relations.
//!
//! From it, [`migrations`](Schema::migrations) writes the up and down SQL of each piece in the
//! layout `diesel migration` runs ([`write_migrations`]), and [`verify`](Schema::verify) asks the
//! database's catalog whether it holds every piece, as the models declare it, and returns a
//! typed [`Report`].
//!
//! ```
//! use diesel::connection::SimpleConnection;
//! use diesel::prelude::*;
//! use soft_delete_runtime::backend::Dialect;
//! use soft_delete_runtime::prelude::*;
//! use soft_delete_runtime::schema::{Issue, Schema};
//!
//! diesel::table! {
//!     drafts (id) {
//!         id -> Integer,
//!         owner_id -> Integer,
//!         deleted_at -> Nullable<Timestamp>,
//!     }
//! }
//!
//! #[derive(Queryable, Selectable, Identifiable, SoftDelete)]
//! #[active_unique(fields = "owner_id", name = "one_live_draft")]
//! struct Draft {
//!     id: i32,
//!     owner_id: i32,
//!     deleted_at: Option<chrono::NaiveDateTime>,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let schema = Schema::new().model::<Draft>().archives::<drafts::table>();
//! let conn = &mut SqliteConnection::establish(":memory:")?;
//! diesel::sql_query("CREATE TABLE drafts (id INTEGER PRIMARY KEY, owner_id INTEGER NOT NULL, deleted_at TIMESTAMP)").execute(conn)?;
//! diesel::sql_query("CREATE INDEX drafts_deleted_at ON drafts (deleted_at)").execute(conn)?;
//!
//! // At start-up: nothing of it is there yet.
//! let report = schema.verify(conn)?;
//! assert!(report.issues.contains(&Issue::MissingKey {
//!     table: "drafts".into(),
//!     key: "one_live_draft",
//!     index: "one_live_draft".into(),
//! }));
//! assert!(report.issues.contains(&Issue::MissingArchiveLog { needed_by: "drafts".into() }));
//!
//! // The migrations, as `diesel migration run` would apply them.
//! let migrations = schema.migrations(Dialect::Sqlite)?;
//! assert_eq!(migrations[0].name, "soft_delete_archive_log");
//! assert_eq!(migrations[1].name, "soft_delete_keys_drafts");
//! for migration in &migrations {
//!     conn.batch_execute(&migration.up)?;
//! }
//! assert!(schema.verify(conn)?.is_clean());
//! # Ok(())
//! # }
//! ```
#![doc = include_str!("../docs/schema.md")]

mod migrations;
mod report;
mod verify;

use diesel::query_builder::QueryFragment;
use diesel::QuerySource;

pub use migrations::{write_migrations, Migration};
pub use report::{IndexKind, Issue, KeyProblem, Report};

use crate::backend::{Dialect, RenderBackend, TableName};
use crate::ddl::{self, KeyForm, KeyObject};
#[cfg(feature = "async")]
use crate::exec::NonBlocking;
use crate::exec::SqlConnection;
use crate::exec::{drive, Blocking};
use crate::model::SoftDelete;
use crate::relations::ArchiveTable;
use crate::relations::Node;
use crate::unique::KeyList;
use crate::Error;

/// What a service's database must hold for the models it uses: their active-unique keys, and
/// the tables and relations of the archives it runs. Built by type, once, and used both to
/// generate the migrations and to [`verify`](Self::verify) the database at start-up.
///
/// The list is explicit rather than read from the guard's registry of every
/// `#[derive(SoftDelete)]` linked into the program ([`guard::registered`](crate::guard::registered)):
/// a program links models it does not use against this database (another service's, a shared
/// crate's, test fixtures), which a start-up check must not require, and the registry knows
/// tables and markers, not keys or archive roots. The same value generates the migrations, so
/// what is checked is what was generated.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    models: Vec<ModelKeys>,
    archives: Vec<fn() -> Node>,
}

/// The keys of one model, in one form: how to create, drop and find them.
#[derive(Debug, Clone)]
struct ModelKeys {
    table: TableName,
    form: KeyForm,
    create: fn(Dialect, KeyForm) -> Result<Vec<String>, Error>,
    drop: fn(Dialect, KeyForm) -> Result<Vec<String>, Error>,
    objects: fn(Dialect, KeyForm) -> Result<Vec<KeyObject>, Error>,
}

impl Schema {
    /// An empty schema.
    pub fn new() -> Schema {
        Schema::default()
    }

    /// Model `M`: its table, and its active-unique keys as partial unique indexes (on MySQL
    /// and MariaDB generated columns and unique keys): what [`ddl::active_unique`] creates.
    #[must_use]
    pub fn model<M>(self) -> Schema
    where
        M: SoftDelete,
        M::ActiveUniqueKeys: KeyList<M>,
        <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    {
        self.model_with::<M>(KeyForm::Index)
    }

    /// Model `M` with its keys in `form` ([`ddl::active_unique_with`]): PostgreSQL's
    /// deferrable exclusion constraints with [`KeyForm::Exclusion`], which other dialects refuse
    /// with [`Error::Unsupported`] when the migrations are generated or the schema verified.
    #[must_use]
    pub fn model_with<M>(mut self, form: KeyForm) -> Schema
    where
        M: SoftDelete,
        M::ActiveUniqueKeys: KeyList<M>,
        <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    {
        self.models.push(ModelKeys {
            table: TableName::of::<M::Table>(),
            form,
            create: ddl::active_unique_with::<M>,
            drop: ddl::drop_active_unique::<M>,
            objects: ddl::key_objects::<M>,
        });
        self
    }

    /// A root the service archives from ([`Collector`](crate::collector::Collector) over `T`,
    /// or a [`Purge`](crate::purge::Purge) of it): it needs the
    /// [archive log](crate::ddl::archive_log), the [journal](crate::ddl::journal) when its graph
    /// has a `set_null` or `set_default` edge, and the foreign keys and indexes that
    /// [`check_schema`](crate::collector::check_schema) checks.
    #[must_use]
    pub fn archives<T: ArchiveTable>(mut self) -> Schema {
        self.archives.push(T::node);
        self
    }

    /// The migrations of this schema for `dialect`, in the order to run them: the archive log
    /// (`soft_delete_archive_log`) and the journal (`soft_delete_journal`) when an archive needs
    /// them, then one per model with keys (`soft_delete_keys_<table>`), each with its down.
    /// Every statement is the [`ddl`] module's.
    ///
    /// They assume the models' tables exist: give them versions after the migrations that
    /// create those ([`write_migrations`]).
    pub fn migrations(&self, dialect: Dialect) -> Result<Vec<Migration>, Error> {
        migrations::of(self, dialect)
    }

    /// Checks that the database has everything this schema needs, as its models declare it:
    /// each model's table and each key's index (or constraint, or MySQL generated column and
    /// unique key), on the key's columns, over the live rows; the archive log and the journal
    /// with their columns; and for each archive root what
    /// [`check_schema`](crate::collector::check_schema) checks. Reads the catalog only.
    ///
    /// Run it when a service starts, and refuse to start on the issues you cannot run without
    /// ([`Report::is_clean`], or a match on [`Issue`]): a missing key index means the database no
    /// longer stops a second live row, a missing journal fails every archive that cuts a link.
    pub fn verify<C: SqlConnection<Blocking>>(&self, conn: &mut C) -> Result<Report, Error> {
        drive(verify::run(self, conn))
    }

    /// [`verify`](Self::verify) on a diesel-async connection (feature `async`).
    #[cfg(feature = "async")]
    pub async fn verify_async<C: SqlConnection<NonBlocking>>(
        &self,
        conn: &mut C,
    ) -> Result<Report, Error> {
        verify::run(self, conn).await
    }
}
