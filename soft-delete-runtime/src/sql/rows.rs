//! The row shapes the statements of this module load, each with its SQL type: a closed list,
//! which [`SqlConnection`](crate::exec::SqlConnection) names in one bound.

use crate::timestamp::bound::Naive;
use diesel::sql_types::{BigInt, Nullable, Text, Timestamp};

/// `(text, integer)` rows: a key read as text with a count, or a catalog's name and number.
pub(crate) type KeyRow = (String, i64);
/// Their SQL type.
pub(crate) type KeySql = (Text, BigInt);

/// `(text, text)` rows: a table's schema and name.
pub(crate) type NameRow = (String, String);
/// Their SQL type.
pub(crate) type NameSql = (Text, Text);

/// `(text, text, text, integer)` rows: the pairs of rows an active-unique check finds on one
/// key, or a table's schema and name, or a MySQL session's key, time zone and server version.
pub(crate) type ClashRow = (String, String, String, i64);
/// Their SQL type.
pub(crate) type ClashSql = (Text, Text, Text, BigInt);

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
pub(crate) type LogSql = (
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
pub(crate) type ForeignKeyRow = (
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
pub(crate) type ForeignKeySql = (
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
pub(crate) type IndexRow = (String, i64, i64, Option<String>, Option<String>);
/// Its SQL type.
pub(crate) type IndexSql = (Text, BigInt, BigInt, Nullable<Text>, Nullable<Text>);

/// One nullable text column.
pub(crate) type TextRow = Option<String>;
/// Its SQL type.
pub(crate) type TextSql = Nullable<Text>;

/// One nullable integer column.
pub(crate) type IntegerRow = Option<i64>;
/// Its SQL type.
pub(crate) type IntegerSql = Nullable<BigInt>;

/// A row shape [`SqlConnection::rows`](crate::exec::SqlConnection::rows) loads, and its SQL
/// type.
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
