//! The workload of the multi-process archive test (`tests/it/collector_processes.rs`), shared
//! with the worker binary that test starts several times (`src/bin/archive_worker.rs`).
//!
//! ```text
//! stress_roots ─┬─ stress_branches.root_id cascade ── stress_leaves.branch_id cascade
//!               └─ stress_tags.root_id     set_null (plain table)
//! ```
//!
//! Roots and branches tell their batches apart by the stamp alone, leaves by a batch column:
//! both kinds of identity are exercised. Every row carries its root's id in `owner`, so a
//! check can tell whose rows came back.

use crate::stamp::Stamp;
use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

diesel::table! {
    stress_roots (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stress_branches (id) {
        id -> Integer,
        root_id -> Integer,
        owner -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    stress_leaves (id) {
        id -> Integer,
        branch_id -> Integer,
        owner -> Integer,
        active -> Bool,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    stress_tags (id) {
        id -> Integer,
        root_id -> Nullable<Integer>,
        owner -> Integer,
    }
}

/// A root: what each archive starts from.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = stress_roots)]
#[soft_delete(children(stress_branches::root_id = cascade, stress_tags::root_id = set_null))]
pub struct StressRoot {
    /// Its id.
    pub id: i32,
    /// When it was archived.
    pub deleted_at: Option<Stamp>,
}

/// Two per root.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = stress_branches)]
#[soft_delete(children(stress_leaves::branch_id = cascade))]
pub struct StressBranch {
    /// Its id.
    pub id: i32,
    /// Its root.
    pub root_id: i32,
    /// Its root, for checks.
    pub owner: i32,
    /// When it was archived.
    pub deleted_at: Option<Stamp>,
}

/// Two per branch, with a batch column.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = stress_leaves)]
pub struct StressLeaf {
    /// Its id.
    pub id: i32,
    /// Its branch.
    pub branch_id: i32,
    /// Its root, for checks.
    pub owner: i32,
    /// Live while true.
    #[soft_delete(marker = active)]
    pub active: bool,
    /// The archive that hid it.
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// The tables, in the portable DDL of [`Backend::ddl`](crate::Backend::ddl), with the indexes
/// on the batch's stamp and id that an application archiving often would have.
pub const DDL: &str = "
CREATE TABLE stress_roots (id {pk}, deleted_at {ts} NULL);
CREATE TABLE stress_branches (id {pk}, root_id {int} NOT NULL, owner {int} NOT NULL, deleted_at {ts} NULL,
  FOREIGN KEY (root_id) REFERENCES stress_roots (id));
CREATE TABLE stress_leaves (id {pk}, branch_id {int} NOT NULL, owner {int} NOT NULL, active {bool} NOT NULL DEFAULT TRUE,
  archive_batch BIGINT NULL, FOREIGN KEY (branch_id) REFERENCES stress_branches (id));
CREATE TABLE stress_tags (id {pk}, root_id {int} NULL, owner {int} NOT NULL,
  FOREIGN KEY (root_id) REFERENCES stress_roots (id));
CREATE INDEX stress_roots_deleted_at ON stress_roots (deleted_at);
CREATE INDEX stress_branches_deleted_at ON stress_branches (deleted_at);
CREATE INDEX stress_leaves_archive_batch ON stress_leaves (archive_batch);
";

/// Branches per root, leaves per root, tags per root.
pub const SHAPE: (i64, i64, i64) = (2, 4, 1);

/// `INSERT` statements for roots `1..=roots`, each with its branches, leaves and tag.
pub fn seed_statements(roots: i32) -> Vec<String> {
    let mut statements = Vec::new();
    let ids: Vec<i32> = (1..=roots).collect();
    for chunk in ids.chunks(500) {
        let list = |f: &dyn Fn(i32) -> Vec<String>| {
            chunk
                .iter()
                .flat_map(|&r| f(r))
                .collect::<Vec<_>>()
                .join(", ")
        };
        statements.push(format!(
            "INSERT INTO stress_roots (id) VALUES {}",
            list(&|r| vec![format!("({r})")])
        ));
        statements.push(format!(
            "INSERT INTO stress_branches (id, root_id, owner) VALUES {}",
            list(&|r| (0..2)
                .map(|b| format!("({}, {r}, {r})", 2 * r - 1 + b))
                .collect())
        ));
        statements.push(format!(
            "INSERT INTO stress_leaves (id, branch_id, owner) VALUES {}",
            list(&|r| {
                (0..4)
                    .map(|l| format!("({}, {}, {r})", 4 * r - 3 + l, 2 * r - 1 + l / 2))
                    .collect()
            })
        ));
        statements.push(format!(
            "INSERT INTO stress_tags (id, root_id, owner) VALUES {}",
            list(&|r| vec![format!("({r}, {r}, {r})")])
        ));
    }
    statements
}

/// The roots worker `worker` of `workers` archives: every `workers`-th one.
pub fn roots_of(worker: i32, workers: i32, roots: i32) -> impl Iterator<Item = i32> {
    (1..=roots).filter(move |r| r % workers == worker)
}

/// Live rows per table, linked tags, and the same for root `root` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, QueryableByName)]
pub struct Census {
    /// Live roots.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub roots: i64,
    /// Live branches.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub branches: i64,
    /// Live leaves.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub leaves: i64,
    /// Tags linked to their root.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub tags: i64,
    /// Live branches of the root.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub its_branches: i64,
    /// Live leaves of the root.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub its_leaves: i64,
    /// Tags linked to the root.
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub its_tags: i64,
}

/// One query: the [`Census`] with `root` as the root looked at.
pub fn census_sql(root: i32) -> String {
    format!(
        "SELECT (SELECT COUNT(*) FROM stress_roots WHERE deleted_at IS NULL) AS roots,
                (SELECT COUNT(*) FROM stress_branches WHERE deleted_at IS NULL) AS branches,
                (SELECT COUNT(*) FROM stress_leaves WHERE active) AS leaves,
                (SELECT COUNT(*) FROM stress_tags WHERE root_id = owner) AS tags,
                (SELECT COUNT(*) FROM stress_branches WHERE deleted_at IS NULL AND owner = {root}) AS its_branches,
                (SELECT COUNT(*) FROM stress_leaves WHERE active AND owner = {root}) AS its_leaves,
                (SELECT COUNT(*) FROM stress_tags WHERE root_id = {root} AND owner = {root}) AS its_tags"
    )
}
