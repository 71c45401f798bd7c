//! [`SqlConnection`]: what a connection must run for the statements of this module, in either
//! mode of [`crate::exec`].

use std::future::Future;

use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};
use diesel::QueryResult;

use super::statement::{NoRoots, Sql, Typed};
use super::SqlBackend;
use crate::exec::{BackendOf, Execute, Executor, Load};
use crate::timestamp::bound::Naive;

/// `(text, integer)` rows: a key read as text with a count, or a catalog's name and number.
pub(crate) type KeyRow = (String, i64);
/// Their SQL type.
pub(super) type KeySql = (Text, BigInt);

/// `(text, text)` rows: a table's schema and name.
pub(super) type NameRow = (String, String);
/// Their SQL type.
pub(super) type NameSql = (Text, Text);

/// `(text, text, text, integer)` rows: the pairs of rows an active-unique check finds on one
/// key, or a table's schema and name.
pub(crate) type ClashRow = (String, String, String, i64);
/// Their SQL type.
pub(super) type ClashSql = (Text, Text, Text, BigInt);

/// A row of the archive log.
pub(crate) type LogRow = (
    i64,
    Naive,
    String,
    Option<String>,
    i64,
    Option<String>,
    Option<String>,
    String,
    Option<Naive>,
    Option<String>,
);
/// Its SQL type.
pub(super) type LogSql = (
    BigInt,
    Timestamp,
    Text,
    Nullable<Text>,
    BigInt,
    Nullable<Text>,
    Nullable<Text>,
    Text,
    Nullable<Timestamp>,
    Nullable<Text>,
);

/// A foreign key's column, read from the catalog: constraint, child schema, child table, child
/// column, parent schema, parent table, parent column, position.
pub(super) type ForeignKeyRow = (
    String,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    Option<String>,
    i64,
);
/// Its SQL type.
pub(super) type ForeignKeySql = (
    Text,
    Nullable<Text>,
    Text,
    Text,
    Nullable<Text>,
    Text,
    Nullable<Text>,
    BigInt,
);

/// One element of an index, read from the catalog: the index's name, its kind (bits of
/// [`IndexFlags`](super::catalog)), the element's position, the element (a column, or an
/// expression's text; `NULL` where the catalog does not give it), and the index's condition.
pub(super) type IndexRow = (String, i64, i64, Option<String>, Option<String>);
/// Its SQL type.
pub(super) type IndexSql = (Text, BigInt, BigInt, Nullable<Text>, Nullable<Text>);

/// One nullable text column.
pub(super) type TextRow = Option<String>;
/// Its SQL type.
pub(super) type TextSql = Nullable<Text>;

/// One nullable integer column.
pub(super) type IntegerRow = Option<i64>;
/// Its SQL type.
pub(super) type IntegerSql = Nullable<BigInt>;

/// A connection in mode `Mo` that runs this crate's `Sql` statements over roots `R` and
/// loads every row shape they return.
///
/// Implemented for every [`Executor`] that can (Diesel's connections in
/// [`Blocking`](crate::exec::Blocking) mode, diesel-async's in
/// [`NonBlocking`](crate::exec::NonBlocking) mode); never implemented by hand. The row shapes
/// are a closed list so that code generic over the connection names one bound, not one per
/// statement.
pub trait SqlConnection<Mo, R = NoRoots>:
    Executor<Mo, Backend: SqlBackend>
    + Execute<Mo, Sql<BackendOf<Mo, Self>, R>>
    + Load<Mo, Typed<BackendOf<Mo, Self>, KeySql, R>, KeyRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, NameSql, R>, NameRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, ClashSql, R>, ClashRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, LogSql, R>, LogRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, ForeignKeySql, R>, ForeignKeyRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, IndexSql, R>, IndexRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, TextSql, R>, TextRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, IntegerSql, R>, IntegerRow>
{
    /// Runs `sql`; returns the rows it changed.
    fn run(
        &mut self,
        sql: Sql<BackendOf<Mo, Self>, R>,
    ) -> impl Future<Output = QueryResult<usize>> {
        self.execute(sql)
    }

    /// Runs `sql`, loading rows of shape `U` (one of the closed list above).
    fn rows<U: Row>(
        &mut self,
        sql: Sql<BackendOf<Mo, Self>, R>,
    ) -> impl Future<Output = QueryResult<Vec<U>>>
    where
        Self: Load<Mo, Typed<BackendOf<Mo, Self>, U::Sql, R>, U>,
    {
        Load::<Mo, Typed<BackendOf<Mo, Self>, U::Sql, R>, U>::load(self, sql.returning())
    }
}

/// A row shape [`SqlConnection::rows`] loads, and its SQL type.
pub trait Row: Sized + 'static {
    /// The SQL type of the row.
    type Sql: 'static;
}

macro_rules! rows {
    ($($row:ty => $sql:ty),* $(,)?) => {
        $(impl Row for $row {
            type Sql = $sql;
        })*
    };
}

rows! {
    KeyRow => KeySql,
    NameRow => NameSql,
    ClashRow => ClashSql,
    LogRow => LogSql,
    ForeignKeyRow => ForeignKeySql,
    IndexRow => IndexSql,
    TextRow => TextSql,
    IntegerRow => IntegerSql,
}

impl<Mo, R, C> SqlConnection<Mo, R> for C where
    C: Executor<Mo, Backend: SqlBackend>
        + Execute<Mo, Sql<BackendOf<Mo, Self>, R>>
        + Load<Mo, Typed<BackendOf<Mo, Self>, KeySql, R>, KeyRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, NameSql, R>, NameRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, ClashSql, R>, ClashRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, LogSql, R>, LogRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, ForeignKeySql, R>, ForeignKeyRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, IndexSql, R>, IndexRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, TextSql, R>, TextRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, IntegerSql, R>, IntegerRow>
{
}
