//! The conditions a purge's statements share: which rows it is after, which references keep
//! a row, and, at the end, what kept the rows it left.

use super::{Reference, Run, Target};
use crate::backend::Dialect;
use crate::exec::BackendOf;
use crate::exec::SqlConnection;
use crate::purge::report::{Referrer, Skipped};
use crate::sql::{Sql, SupportedBackend};
use crate::{Error, RowId};

impl Run {
    /// `key > CAST(<last> AS <key type>) AND `, when there is a last key.
    pub(super) fn after<DB: SupportedBackend>(
        &self,
        sql: &mut Sql<DB>,
        target: &Target,
        last: Option<&str>,
    ) {
        if let Some(last) = last {
            sql.push(&format!("{} > ", self.d.quote(target.node.key)));
            self.key_value(sql, target, last);
            sql.push(" AND ");
        }
    }

    /// A key read back as text, bound and cast to the key's type where it needs a cast
    /// ([`Dialected::bound_key_type`](crate::sql::Dialected::bound_key_type)).
    pub(super) fn key_value<DB: SupportedBackend>(
        &self,
        sql: &mut Sql<DB>,
        target: &Target,
        text: &str,
    ) {
        let value = DB::bind_text(Some(text.to_owned()));
        match self.d.bound_key_type(target.node.key_kind) {
            Some(key_type) => {
                sql.push("CAST(")
                    .bind(value)
                    .push(&format!(" AS {key_type})"));
            }
            None => {
                sql.bind(value);
            }
        }
    }

    /// `<deleted> AND stamp < <cutoff>`: the rows the purge is after, hidden by the table's
    /// primary marker (the one an archive sets) before the cutoff by that marker's deletion time.
    pub(super) fn candidate<DB: SupportedBackend>(
        &self,
        sql: &mut Sql<DB>,
        target: &Target,
    ) -> Result<(), Error> {
        // `stamp IS NOT NULL` bounds the range from below: with a flag marker, SQLite
        // otherwise walks the table in key order for the window's `ORDER BY key LIMIT`
        // instead of reading the few candidates by the stamp's index.
        let stamp = self.d.quote(target.stamp.name);
        sql.push(&format!(
            "{} AND {stamp} IS NOT NULL AND {stamp} < ",
            (target.soft.deleted)(self.d.0),
        ));
        sql.bind(DB::bind_stamp(target.stamp.kind, self.settings.cutoff)?);
        Ok(())
    }

    /// `EXISTS (SELECT 1 FROM child AS sd_r WHERE sd_r.fk = t.key [AND <referrer state>])`.
    pub(super) fn referenced(
        &self,
        target: &Target,
        reference: &Reference,
        referrer: Option<Referrer>,
    ) -> String {
        let d = self.d;
        // The state's columns are unqualified: inside the subquery they name the child's.
        // Every referencing row counts (a foreign key does not care whether it is live): a
        // soft-deletable child says so with the `.with_deleted()` trace.
        let state = match (referrer, &reference.child_soft) {
            (Some(Referrer::Live), Some(soft)) => format!(" AND {}", (soft.visible)(d.0)),
            (Some(Referrer::Archived), Some(soft)) => format!(" AND {}", (soft.hidden)(d.0)),
            (None | Some(Referrer::Row), Some(soft)) => format!(" AND {}", soft.every_row(d.0)),
            (_, None) => reference
                .child_every_row
                .as_ref()
                .map_or_else(String::new, |every_row| format!(" AND {every_row}")),
        };
        format!(
            "EXISTS (SELECT 1 FROM {} AS sd_r WHERE {}{state})",
            d.0.quote_table(&reference.child),
            self.matches(target, reference)
        )
    }

    /// `sd_r.fk = t.key [AND ...]`: the referencing row `sd_r` points at the row of `t`; in
    /// a table referencing itself, another row than `t`'s own (a row referencing itself does
    /// not keep itself, except on MySQL).
    pub(super) fn matches(&self, target: &Target, reference: &Reference) -> String {
        let d = self.d;
        let parent = d.0.quote_table(&target.node.name);
        let pairs: Vec<String> = reference
            .columns
            .iter()
            .map(|(child, parent_column)| {
                format!(
                    "sd_r.{} = {parent}.{}",
                    d.quote(child),
                    d.quote(parent_column)
                )
            })
            .collect();
        let mut matches = pairs.join(" AND ");
        // InnoDB checks a foreign key row by row, and refuses to delete a row that references
        // itself: there it keeps itself.
        if reference.resolved == target.resolved && d.0 != Dialect::Mysql {
            let key = d.quote(target.node.key);
            matches.push_str(&format!(" AND sd_r.{key} <> {parent}.{key}"));
        }
        matches
    }

    /// ` AND NOT EXISTS (...)` for a reference from the table being deleted from, on MySQL,
    /// which refuses a subquery on the table a `DELETE` deletes from unless it is a derived
    /// table: the referencing column is read into one, bounded by the window's keys when it
    /// references the primary key.
    pub(super) fn unreferenced_in_own_table<DB: SupportedBackend>(
        &self,
        sql: &mut Sql<DB>,
        target: &Target,
        reference: &Reference,
        last: Option<&str>,
        end: &str,
    ) {
        let d = self.d;
        let parent = d.0.quote_table(&target.node.name);
        let mut columns: Vec<String> = reference.columns.iter().map(|(c, _)| d.quote(c)).collect();
        let key = d.quote(target.node.key);
        if !columns.contains(&key) {
            columns.push(key);
        }
        sql.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM (SELECT {} FROM {parent} WHERE {}",
            columns.join(", "),
            target.soft.every_row(d.0)
        ));
        if let [(column, referenced)] = reference.columns.as_slice() {
            if referenced == target.node.key {
                let column = d.quote(column);
                sql.push(&format!(" AND {column} <= "));
                self.key_value(sql, target, end);
                if let Some(last) = last {
                    sql.push(&format!(" AND {column} > "));
                    self.key_value(sql, target, last);
                }
            }
        }
        sql.push(&format!(
            ") AS sd_r WHERE {})",
            self.matches(target, reference)
        ));
    }

    /// The candidates of table `i` (soft-deleted before the cutoff), counted; only those
    /// still referenced, if `referenced`.
    pub(super) async fn count_candidates<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        i: usize,
        referenced: bool,
    ) -> Result<u64, Error> {
        let target = &self.targets[i];
        let mut count = Sql::<BackendOf<Mo, C>>::new();
        count.push(&format!(
            "SELECT {}, COUNT(*) FROM {} WHERE ",
            self.d.cast_to_text("COUNT(*)"),
            self.d.table(&target.node.name)
        ));
        self.candidate(&mut count, target)?;
        if referenced {
            let any: Vec<String> = target
                .references
                .iter()
                .map(|reference| self.referenced(target, reference, None))
                .collect();
            count.push(&format!(" AND ({})", any.join(" OR ")));
        }
        let rows: Vec<(String, i64)> = conn.rows(count).await?;
        Ok(rows.first().map_or(0, |(_, n)| *n as u64))
    }

    /// Why the candidates left in table `i` were kept: per reference and state of the
    /// referencing rows, how many and which.
    pub(super) async fn explain_kept<Mo, C: SqlConnection<Mo>>(
        &mut self,
        conn: &mut C,
        i: usize,
    ) -> Result<(), Error> {
        let target = &self.targets[i];
        if target.report.kept == 0 {
            return Ok(());
        }
        let key = self.d.quote(target.node.key);
        let mut skipped = Vec::new();
        for reference in &target.references {
            let states: &[Referrer] = match &reference.child_soft {
                Some(_) => &[Referrer::Live, Referrer::Archived],
                None if reference.via.rule.is_some() => &[Referrer::Live],
                None => &[Referrer::Row],
            };
            for &state in states {
                let mut select = Sql::<BackendOf<Mo, C>>::new();
                select.push(&format!(
                    "SELECT {}, COUNT(*) OVER () FROM {} WHERE ",
                    self.d.cast_to_text(&key),
                    self.d.table(&target.node.name)
                ));
                self.candidate(&mut select, target)?;
                select.push(&format!(
                    " AND {} ORDER BY {key} LIMIT ",
                    self.referenced(target, reference, Some(state))
                ));
                let cap = i64::try_from(self.settings.skipped_ids.max(1)).unwrap_or(i64::MAX);
                select.bind(BackendOf::<Mo, C>::bind_i64(cap));
                let found: Vec<(String, i64)> = conn.rows(select).await?;
                let Some(&(_, count)) = found.first() else {
                    continue;
                };
                let table = std::sync::Arc::new(target.node.name.clone());
                skipped.push(Skipped {
                    table: target.node.name.clone(),
                    referenced_by: reference.child.clone(),
                    columns: reference.columns.iter().map(|(c, _)| c.clone()).collect(),
                    via: reference.via.clone(),
                    referrer: state,
                    count: count as u64,
                    ids: found
                        .into_iter()
                        .take(self.settings.skipped_ids)
                        .map(|(id, _)| RowId::of(&table, id))
                        .collect(),
                });
            }
        }
        self.report.skipped.extend(skipped);
        Ok(())
    }
}
