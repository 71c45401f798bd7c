//! What [`Error::Conflict`](crate::Error::Conflict) carries: the key, the row holding it,
//! and the row that was to be brought back.

use std::fmt;

use crate::backend::TableName;
pub use crate::row_id::RowId;

/// Who holds the key in a [`KeyConflict`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Holder {
    /// A live row: [`start`](super::ActiveUnique::start), a by-value
    /// [`restore`](crate::SoftDelete::restore), or a [batch restore](crate::collector::Batch::restore)
    /// bringing back a row whose key has a live row.
    Live,
    /// Another row the same [batch restore](crate::collector::Batch::restore) brings back: two
    /// archived rows of the batch have the same key, so restoring both would give it two live
    /// rows.
    SameRestore,
}

/// An active-unique key is held: the key, its values, the row holding it and, for a restore,
/// the row that was to be brought back.
#[derive(Debug, Clone)]
pub struct KeyConflict {
    pub(crate) table: TableName,
    pub(crate) key: &'static str,
    pub(crate) columns: &'static [&'static str],
    pub(crate) values: String,
    pub(crate) live_id: RowId,
    pub(crate) holder: Holder,
    pub(crate) restored_id: Option<RowId>,
}

impl KeyConflict {
    /// The table.
    pub fn table(&self) -> &TableName {
        &self.table
    }

    /// The key's name (its index name in the DDL).
    pub fn key(&self) -> &'static str {
        self.key
    }

    /// The key's columns.
    pub fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    /// The key's values: as `Debug` prints them for `start` and a by-value `restore`; as the
    /// database writes them as text for a batch restore, which never loads the rows
    /// (`7`, `ann@example.com`, `(1, 7)` for a key of two columns, `(1, NULL)` for a `NULL` in a
    /// nullable column).
    pub fn values(&self) -> &str {
        &self.values
    }

    /// The primary key of the row holding the key: the live row, or, when
    /// [`holder`](Self::holder) is [`Holder::SameRestore`], the other archived row of the batch
    /// that has the same key (the one with the smaller primary key).
    ///
    /// As every error of the crate names a row: a [`RowId`], read as the model's id with
    /// `live_id().typed::<Post>()` whichever operation returned the conflict.
    pub fn live_id(&self) -> &RowId {
        &self.live_id
    }

    /// Who holds the key: a live row, or another row of the same batch restore.
    pub fn holder(&self) -> Holder {
        self.holder
    }

    /// The primary key of the row a restore was to bring back (`None` for `start`). For a link a
    /// batch restore was to put back (`set_null`, `set_default`), the row holding that link.
    pub fn restored_id(&self) -> Option<&RowId> {
        self.restored_id.as_ref()
    }
}

impl fmt::Display for KeyConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (table, key, columns, values) =
            (&self.table, self.key, self.columns.join(", "), &self.values);
        match (self.holder, &self.restored_id) {
            (Holder::SameRestore, Some(restored)) => write!(
                f,
                "restoring rows {} and {restored} of `{table}` would give key `{key}` ({columns}) = {values} two live rows",
                self.live_id
            ),
            (_, restored) => {
                write!(
                    f,
                    "`{table}` already has a live row for key `{key}` ({columns}) = {values}: the row with id {}",
                    self.live_id
                )?;
                match restored {
                    Some(restored) => write!(f, "; restoring row {restored} would make a second"),
                    None => Ok(()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_conflict_names_the_key_and_the_live_row() {
        let conflict = KeyConflict {
            table: TableName {
                schema: None,
                name: "attempts".into(),
            },
            key: "one_active_attempt",
            columns: &["exam_id", "learner_id"],
            values: "(1, 7)".into(),
            live_id: RowId::from_text("3"),
            holder: Holder::Live,
            restored_id: None,
        };
        assert_eq!(
            conflict.to_string(),
            "`attempts` already has a live row for key `one_active_attempt` (exam_id, learner_id) = (1, 7): the row with id 3"
        );
        let restoring = KeyConflict {
            restored_id: Some(RowId::from_text("1")),
            ..conflict.clone()
        };
        assert_eq!(
            restoring.to_string(),
            "`attempts` already has a live row for key `one_active_attempt` (exam_id, learner_id) = (1, 7): the row with id 3; restoring row 1 would make a second"
        );
        let same_batch = KeyConflict {
            holder: Holder::SameRestore,
            restored_id: Some(RowId::from_text("5")),
            ..conflict
        };
        assert_eq!(
            same_batch.to_string(),
            "restoring rows 3 and 5 of `attempts` would give key `one_active_attempt` (exam_id, learner_id) = (1, 7) two live rows"
        );
    }
}
