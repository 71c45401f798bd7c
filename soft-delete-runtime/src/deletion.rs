//! What a soft delete records: when, and (where the table has the columns) by whom and why.
//! Below the table traits, which take it, and the writes, which build it.

use crate::Timestamp;

/// When, by whom and why rows are soft-deleted.
///
/// `By` and `Reason` are the value types of the table's audit columns; they are inferred
/// from the table the deletion is applied to, so `Deletion::now().by(admin_id)` compiles only
/// when the table has a `#[soft_delete(deleted_by)]` column of a type `admin_id` converts to.
///
/// The time is a [`Timestamp`], kept to whole microseconds, the finest every backend stores, so
/// the value written is the value read back and rows deleted together can be found by it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion<By = NoDeletedByColumn, Reason = NoReasonColumn> {
    at: Timestamp,
    by: Option<By>,
    reason: Option<Reason>,
}

impl<By, Reason> Deletion<By, Reason> {
    /// A deletion happening now, by nobody in particular, for no recorded reason.
    pub fn now() -> Self {
        Self::at(Timestamp::now())
    }

    /// A deletion at the given time (kept to whole microseconds): a [`Timestamp`], or a
    /// chrono or time value that converts into one.
    pub fn at(at: impl Into<Timestamp>) -> Self {
        Deletion {
            at: at.into(),
            by: None,
            reason: None,
        }
    }

    /// Records who deleted the rows (the table's `#[soft_delete(deleted_by)]` column).
    #[must_use]
    pub fn by(mut self, by: impl Into<By>) -> Self {
        self.by = Some(by.into());
        self
    }

    /// Records why the rows were deleted (the table's `#[soft_delete(reason)]` column).
    #[must_use]
    pub fn reason(mut self, reason: impl Into<Reason>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// When the rows are deleted.
    pub fn timestamp(&self) -> Timestamp {
        self.at
    }

    /// Who deletes them, if recorded.
    pub fn deleted_by(&self) -> Option<&By> {
        self.by.as_ref()
    }

    /// Why, if recorded.
    pub fn deletion_reason(&self) -> Option<&Reason> {
        self.reason.as_ref()
    }

    /// The parts, for the code `#[derive(SoftDelete)]` generates.
    #[doc(hidden)]
    pub fn into_parts(self) -> (Timestamp, Option<By>, Option<Reason>) {
        (self.at, self.by, self.reason)
    }
}

impl<By, Reason> Default for Deletion<By, Reason> {
    fn default() -> Self {
        Self::now()
    }
}

/// [`SoftDeleteMarker::DeletedBy`](crate::table::SoftDeleteMarker::DeletedBy) of a marker without a "deleted by" column.
///
/// It has no values, so [`Deletion::by`] cannot be called for such a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoDeletedByColumn {}

/// [`SoftDeleteMarker::Reason`](crate::table::SoftDeleteMarker::Reason) of a marker without a "deletion reason" column.
///
/// It has no values, so [`Deletion::reason`] cannot be called for such a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoReasonColumn {}
