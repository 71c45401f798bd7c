//! The archive journal's entries a purge makes useless: links of purged rows, and links into
//! purged rows, which a batch restore could no longer put back.

use super::{Run, Target};
use crate::backend::TableName;
use crate::ddl::journal;
use crate::exec::BackendOf;
use crate::exec::SqlConnection;
use crate::sql::{Sql, SupportedBackend};
use crate::Error;

impl Run {
    /// Drops the journal's entries that can no longer be restored: links of purged rows of
    /// table `i`, and links into purged rows of it through a column a foreign key ties to it.
    pub(super) async fn clean_journal<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        i: usize,
    ) -> Result<(), Error> {
        let target = &self.targets[i];
        let name = &target.node.name;
        if self.cut_links.iter().any(|(_, child, _)| child == name) {
            self.drop_entries(conn, target, name, None, journal::ROW_KEY)
                .await?;
        }
        // The journal does not record which table a cut link pointed at: only a foreign key
        // of the database says the column can point at this table alone (without one, a
        // column shared by two parents' `set_null` edges would lose the other's entries).
        for (_, child, column) in self.cut_links.iter().filter(|(parent, ..)| parent == name) {
            let tied_by_foreign_key = target.references.iter().any(|r| {
                r.child == *child
                    && r.via.foreign_key.is_some()
                    && matches!(r.columns.as_slice(), [(c, _)] if c == column)
            });
            if tied_by_foreign_key {
                self.drop_entries(conn, target, child, Some(column), journal::OLD_VALUE)
                    .await?;
            }
        }
        Ok(())
    }

    /// Deletes the journal's entries of `child` (and `column`) whose `value_column` names a
    /// row of `target` that is gone.
    pub(super) async fn drop_entries<Mo, C: SqlConnection<Mo>>(
        &self,
        conn: &mut C,
        target: &Target,
        child: &TableName,
        column: Option<&str>,
        value_column: &str,
    ) -> Result<(), Error> {
        let d = self.d;
        let journal_table = d.quote(journal::TABLE);
        let entries = |sql: &mut Sql<BackendOf<Mo, C>>| {
            sql.push(&format!(
                "{journal_table}.{} = ",
                d.quote(journal::TABLE_NAME)
            ))
            .bind(BackendOf::<Mo, C>::bind_text(Some(child.to_string())));
            if let Some(column) = column {
                sql.push(&format!(
                    " AND {journal_table}.{} = ",
                    d.quote(journal::COLUMN_NAME)
                ))
                .bind(BackendOf::<Mo, C>::bind_text(Some(column.to_owned())));
            }
        };
        // The value is cast to the key's type (not the key to text), so the lookup uses the
        // key's index; the CASE casts only this table's entries, whose values are its keys.
        let table = d.table(&target.node.name);
        let mut delete = Sql::<BackendOf<Mo, C>>::new();
        delete.push(&format!("DELETE FROM {journal_table} WHERE "));
        entries(&mut delete);
        delete.push(&format!(
            " AND NOT EXISTS (SELECT 1 FROM {table} WHERE {table}.{} = CASE WHEN ",
            d.quote(target.node.key)
        ));
        entries(&mut delete);
        // "Gone" means gone for good: a soft-deleted row still holds its links.
        delete.push(&format!(
            " THEN {} END AND {})",
            d.journal_value(
                &format!("{journal_table}.{}", d.quote(value_column)),
                target.node.key_kind,
                self.collations.of(&target.node.name, target.node.key)
            ),
            target.soft.every_row(d.0)
        ));
        conn.run(delete).await?;
        Ok(())
    }
}
