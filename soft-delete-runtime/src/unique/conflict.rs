//! What [`Error::Conflict`](crate::Error::Conflict) carries: the key and the live row
//! holding it.

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::backend::TableName;

/// The primary key of a row named in an error, of whatever type the model's is.
///
/// Read it back with its type: `conflict.live_id().get::<i32>()`.
#[derive(Clone)]
pub struct RowId {
    value: Arc<dyn Any + Send + Sync>,
    shown: String,
}

impl RowId {
    /// Wraps a primary key value.
    pub fn new<T: fmt::Debug + Send + Sync + 'static>(value: T) -> Self {
        RowId {
            shown: format!("{value:?}"),
            value: Arc::new(value),
        }
    }

    /// The value, if it is a `T` (the model's primary key type, e.g. `i32`, or a tuple of
    /// them for a composite key).
    pub fn get<T: 'static>(&self) -> Option<&T> {
        self.value.downcast_ref()
    }
}

impl fmt::Debug for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// A live row already holds an active-unique key: the key, its values and that row.
#[derive(Debug, Clone)]
pub struct KeyConflict {
    pub(crate) table: TableName,
    pub(crate) key: &'static str,
    pub(crate) columns: &'static [&'static str],
    pub(crate) values: String,
    pub(crate) live_id: RowId,
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

    /// The key's values, as `Debug` prints them.
    pub fn values(&self) -> &str {
        &self.values
    }

    /// The primary key of the live row holding the key.
    pub fn live_id(&self) -> &RowId {
        &self.live_id
    }
}

impl fmt::Display for KeyConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` already has a live row for key `{}` ({}) = {}: the row with id {}",
            self.table,
            self.key,
            self.columns.join(", "),
            self.values,
            self.live_id
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_id_is_read_back_with_its_type() {
        let id = RowId::new((7_i32, 12_i64));
        assert_eq!(id.get::<(i32, i64)>(), Some(&(7, 12)));
        assert_eq!(id.get::<i32>(), None);
        assert_eq!(id.to_string(), "(7, 12)");
    }

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
            live_id: RowId::new(3_i32),
        };
        assert_eq!(
            conflict.to_string(),
            "`attempts` already has a live row for key `one_active_attempt` (exam_id, learner_id) = (1, 7): the row with id 3"
        );
    }
}
