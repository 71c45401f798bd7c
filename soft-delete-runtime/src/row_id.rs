//! [`RowId`]: how every error and report of the crate names a row, and how it is read as its
//! model's id.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;
use std::sync::Arc;

use diesel::query_builder::QueryFragment;
use diesel::QuerySource;

use crate::backend::{RenderBackend, TableName};
use crate::model::SoftDelete;

/// The primary key of a row an error or a report names: the key as the database writes it as
/// text (`7`, `ann@example.com`, a UUID, `(1, 7)` for a key of two columns), and the table it
/// is a key of.
///
/// It is the one way the crate names a row, whatever found it: a conflict on an active-unique
/// key, by value or from a batch restore ([`KeyConflict::live_id`](crate::unique::KeyConflict::live_id),
/// [`restored_id`](crate::unique::KeyConflict::restored_id)); the rows that protect an archive
/// ([`Blocker::ids`](crate::collector::Blocker::ids), also in [`Error::Protected`](crate::Error::Protected));
/// the rows a purge kept ([`Skipped::ids`](crate::purge::Skipped::ids)); the rows a
/// [`reassign`](crate::deferred::reassign) refused ([`Error::DuplicateTarget`](crate::Error::DuplicateTarget),
/// [`Error::DuplicateRow`](crate::Error::DuplicateRow), [`Error::ValueTaken`](crate::Error::ValueTaken),
/// [`Error::NotInScope`](crate::Error::NotInScope)). A batch restore, a protect check and a
/// purge walk tables known only at run time, so the key comes from the database as text (a
/// cast of the key), the same whichever operation found the row, on every backend.
///
/// # As the model's id
///
/// [`typed::<Post>()`](Self::typed) reads it as the id of model `Post`, the type of its
/// primary-key field ([`IdOf<Post>`]): `PostId` for `id: PostId`, a tuple for a key of several
/// fields. The model (one per table) decides the type, so the same call gives the same type
/// whichever error named the row, and a caller cannot pick another. An id of another table than
/// the model's is refused ([`RowIdError`]): a reply's `4` and a post's `4` may both be `i32`s in
/// the database, but a `ReplyId` is not a `PostId`. Each field's type must implement `FromStr`
/// (integers, `String` and `uuid::Uuid` do); a newtype id implements it by parsing what it
/// wraps, as below.
///
/// ```
/// use std::str::FromStr;
/// use diesel::prelude::*;
/// use soft_delete_runtime::prelude::*;
/// use soft_delete_runtime::Error;
///
/// # use diesel::{backend::Backend, deserialize::{self, FromSql, FromSqlRow}, expression::AsExpression};
/// # use diesel::{serialize::{self, Output, ToSql}, sql_types::Integer};
/// #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
/// #[diesel(sql_type = Integer)]
/// struct PostId(i32); // with `ToSql`/`FromSql`, or `#[derive(DieselNewType)]`
/// # impl<DB: Backend> ToSql<Integer, DB> for PostId where i32: ToSql<Integer, DB> {
/// #     fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result { self.0.to_sql(out) }
/// # }
/// # impl<DB: Backend> FromSql<Integer, DB> for PostId where i32: FromSql<Integer, DB> {
/// #     fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> { i32::from_sql(bytes).map(PostId) }
/// # }
///
/// impl FromStr for PostId {
///     type Err = std::num::ParseIntError;
///     fn from_str(text: &str) -> Result<Self, Self::Err> {
///         text.parse().map(PostId)
///     }
/// }
///
/// diesel::table! {
///     posts (id) { id -> Integer, slug -> Text, deleted_at -> Nullable<Timestamp>, }
/// }
/// # diesel::table! { tags (id) { id -> Integer, deleted_at -> Nullable<Timestamp>, } }
/// # #[derive(Queryable, Selectable, Identifiable, SoftDelete)]
/// # struct Tag { id: i32, deleted_at: Option<chrono::NaiveDateTime> }
///
/// #[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
/// #[active_unique(fields = "slug")]
/// struct Post {
///     id: PostId,
///     slug: String,
///     deleted_at: Option<chrono::NaiveDateTime>,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let conn = &mut SqliteConnection::establish(":memory:")?;
/// # diesel::sql_query("CREATE TABLE posts (id INTEGER PRIMARY KEY, slug TEXT NOT NULL, deleted_at TIMESTAMP)").execute(conn)?;
/// diesel::insert_into(posts::table)
///     .values([(posts::id.eq(PostId(1)), posts::slug.eq("hello")), (posts::id.eq(PostId(2)), posts::slug.eq("hello"))])
///     .execute(conn)?; // (no unique index here; the restore's check reads the live rows)
/// let first: Post = posts::table.find(PostId(1)).first(conn)?;
/// first.soft_delete(conn)?;
///
/// let err = first.restore(conn).expect_err("post 2 holds the slug");
/// let Error::Conflict(conflict) = &err else { panic!("{err}") };
/// assert_eq!(conflict.live_id().typed::<Post>()?, PostId(2));
/// assert_eq!(conflict.live_id(), "2"); // it compares with text, and prints as `2`
///
/// // Another table's id is refused, whatever its type.
/// let wrong = conflict.live_id().typed::<Tag>().expect_err("a post's id");
/// assert_eq!(wrong.to_string(), "row id 2 is a key of `posts`, not of `tags`");
/// # Ok(())
/// # }
/// ```
///
/// A table without a `#[derive(SoftDelete)]` model (a plain table a `protect` edge or a purge
/// reaches) has no model to read its ids as: read them as text, with [`parse`](Self::parse)
/// (`id.parse::<i32>()`), or column by column ([`part`](Self::part),
/// [`parse_part`](Self::parse_part)). The model, not the table, names the type because a
/// `table!` is public and an id type may be private to a module, as a model's may.
///
/// A `RowId` compares (`==`, order, hash) by its text, also with a `&str`
/// (`assert_eq!(blocker.ids, ["4"])`), and displays as `7` or `(1, 7)`.
#[derive(Clone)]
pub struct RowId {
    /// The table the key is of; `None` for an id built from text alone
    /// ([`from_text`](RowId::from_text)).
    table: Option<Arc<TableName>>,
    parts: Box<[Box<str>]>,
}

impl RowId {
    /// A key of one column, `text` as the database writes it, of no table in particular (to
    /// compare with; [`typed`](Self::typed) refuses it).
    pub fn from_text(text: impl Into<String>) -> Self {
        Self::from_parts([text])
    }

    /// A key of several columns, each as the database writes it, in key order, of no table in
    /// particular (to compare with; [`typed`](Self::typed) refuses it).
    pub fn from_parts<I, S>(parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RowId {
            table: None,
            parts: parts
                .into_iter()
                .map(|part| part.into().into_boxed_str())
                .collect(),
        }
    }

    /// A key of one column of `table`, as the database writes it.
    pub(crate) fn of(table: &Arc<TableName>, text: impl Into<String>) -> Self {
        Self::parts_of(table, [text])
    }

    /// A key of several columns of `table`, each as the database writes it, in key order.
    pub(crate) fn parts_of<I, S>(table: &Arc<TableName>, parts: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        RowId {
            table: Some(Arc::clone(table)),
            ..Self::from_parts(parts)
        }
    }

    /// The table the key is of (`None` for one built with [`from_text`](Self::from_text) or
    /// [`from_parts`](Self::from_parts)).
    pub fn table(&self) -> Option<&TableName> {
        self.table.as_deref()
    }

    /// The key as model `M`'s id ([`IdOf<M>`]: the type of `M`'s primary-key field, or a
    /// tuple of them). [`RowIdError`] when the key is not of `M`'s table (or of no table), or
    /// its text is not a value of that type.
    pub fn typed<M>(&self) -> Result<IdOf<M>, RowIdError>
    where
        M: SoftDelete,
        M::IdFields: ParseId,
        <M::Table as QuerySource>::FromClause: QueryFragment<RenderBackend>,
    {
        let asked = TableName::of::<M::Table>();
        if self.table.as_deref() != Some(&asked) {
            return Err(self.error::<IdOf<M>>(Cause::Table { asked }));
        }
        <M::IdFields as ParseId>::parse_id(self)
    }

    /// The key as the type `T` (`i32`, `i64`, `String`, `uuid::Uuid`, or a type of yours that
    /// implements `FromStr`), for a table without a model; a table with one reads it as its id
    /// with [`typed`](Self::typed). [`RowIdError`] when the text is not a `T`, or the key has
    /// several columns.
    pub fn parse<T: FromStr>(&self) -> Result<T, RowIdError> {
        match &*self.parts {
            [only] => only
                .parse()
                .map_err(|_| self.error::<T>(Cause::Text { part: None })),
            _ => Err(self.error::<T>(Cause::Text { part: None })),
        }
    }

    /// Column `i` of the key, as text (`None` past the key's last column).
    pub fn part(&self, i: usize) -> Option<&str> {
        self.parts.get(i).map(|part| &**part)
    }

    /// Column `i` of the key as the type `T`.
    pub fn parse_part<T: FromStr>(&self, i: usize) -> Result<T, RowIdError> {
        self.part(i)
            .and_then(|part| part.parse().ok())
            .ok_or_else(|| self.error::<T>(Cause::Text { part: Some(i) }))
    }

    /// How many columns the key has.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    /// Whether the key has no column (never, for a key read from the database).
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// `ids` as text, separated by commas: `3, 7, 12`.
    pub(crate) fn list(ids: &[RowId]) -> String {
        let texts: Vec<String> = ids.iter().map(ToString::to_string).collect();
        texts.join(", ")
    }

    fn error<T>(&self, cause: Cause) -> RowIdError {
        RowIdError {
            id: self.clone(),
            cause,
            expected: std::any::type_name::<T>(),
        }
    }
}

/// Model `M`'s id, as [`RowId::typed`] reads it: the type of its primary-key field (`PostId`
/// for `id: PostId`), or a tuple of the fields' types for a key of several.
pub type IdOf<M> = <<M as SoftDelete>::IdFields as ParseId>::Id;

/// The types of a primary key's fields, as a tuple (`(PostId,)`, `(i32, i32)`), that a
/// [`RowId`] is read as: the id of one field is that field's type, the id of several a tuple.
/// Implemented for tuples of up to four types that implement `FromStr`.
///
/// The derive names it for each model ([`SoftDelete::IdFields`]); callers use
/// [`RowId::typed`].
#[diagnostic::on_unimplemented(
    message = "a row id cannot be read as the primary-key fields `{Self}`",
    label = "the model's primary-key fields",
    note = "each field's type must implement `FromStr` (a newtype id: parse what it wraps, \
            `text.parse().map(PostId)`); `()` means the model has no field for the table's primary key"
)]
pub trait ParseId {
    /// The id: the one field's type, or the tuple of them.
    type Id;

    /// `id` read column by column, each as its field's type.
    fn parse_id(id: &RowId) -> Result<Self::Id, RowIdError>;
}

impl<A: FromStr> ParseId for (A,) {
    type Id = A;

    fn parse_id(id: &RowId) -> Result<A, RowIdError> {
        id.parse()
    }
}

/// `ParseId` for a tuple of several fields: the key must have as many columns, each a value of
/// its field's type.
macro_rules! parse_id_tuple {
    ($(($($field:ident $i:tt),+))*) => {$(
        impl<$($field: FromStr),+> ParseId for ($($field,)+) {
            type Id = ($($field,)+);

            fn parse_id(id: &RowId) -> Result<Self::Id, RowIdError> {
                const COLUMNS: usize = [$($i),+].len();
                if id.len() != COLUMNS {
                    return Err(id.error::<Self::Id>(Cause::Text { part: None }));
                }
                Ok(($(id.parse_part::<$field>($i)?,)+))
            }
        }
    )*};
}

parse_id_tuple! {
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
}

impl PartialEq for RowId {
    fn eq(&self, other: &RowId) -> bool {
        self.parts == other.parts
    }
}

impl Eq for RowId {}

impl Hash for RowId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts.hash(state);
    }
}

impl PartialOrd for RowId {
    fn partial_cmp(&self, other: &RowId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RowId {
    fn cmp(&self, other: &RowId) -> std::cmp::Ordering {
        self.parts.cmp(&other.parts)
    }
}

impl fmt::Display for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &*self.parts {
            [only] => f.write_str(only),
            parts => write!(f, "({})", parts.join(", ")),
        }
    }
}

impl fmt::Debug for RowId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl PartialEq<str> for RowId {
    fn eq(&self, other: &str) -> bool {
        match &*self.parts {
            [only] => &**only == other,
            _ => {
                let shown = self.to_string();
                shown.as_str() == other
            }
        }
    }
}

impl PartialEq<&str> for RowId {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl PartialEq<String> for RowId {
    fn eq(&self, other: &String) -> bool {
        self == other.as_str()
    }
}

/// A [`RowId`] that could not be read as asked: its text is not a value of the type, or it is
/// not a key of the table asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowIdError {
    id: RowId,
    cause: Cause,
    expected: &'static str,
}

/// Why a [`RowId`] could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cause {
    /// The text (of column `part`, or of the whole key) is not a value of the type.
    Text { part: Option<usize> },
    /// The key is of another table (or of none) than the one asked for.
    Table { asked: TableName },
}

impl RowIdError {
    /// The id that could not be read.
    pub fn id(&self) -> &RowId {
        &self.id
    }

    /// The type it was read as.
    pub fn expected(&self) -> &'static str {
        self.expected
    }
}

impl fmt::Display for RowIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (id, expected) = (&self.id, self.expected);
        match (&self.cause, id.table()) {
            (Cause::Table { asked }, Some(table)) => {
                write!(f, "row id {id} is a key of `{table}`, not of `{asked}`")
            }
            (Cause::Table { asked }, None) => write!(
                f,
                "row id {id} was built from text alone, so it is not known to be a key of `{asked}`"
            ),
            (Cause::Text { part: Some(i) }, _) => {
                write!(f, "column {i} of row id {id} is not a `{expected}`")
            }
            (Cause::Text { part: None }, _) if id.len() == 1 => {
                write!(f, "row id {id} is not a `{expected}`")
            }
            (Cause::Text { part: None }, _) => write!(
                f,
                "row id {id} has {} columns, not as many as `{expected}`",
                id.len()
            ),
        }
    }
}

impl std::error::Error for RowIdError {}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::{ParseId, RowId};
    use crate::backend::TableName;

    fn table(name: &str) -> Arc<TableName> {
        Arc::new(TableName {
            schema: None,
            name: name.to_owned(),
        })
    }

    #[test]
    fn a_row_id_parses_as_the_callers_type_or_says_why_not() {
        let id = RowId::from_text("7");
        assert_eq!(id.parse::<i64>(), Ok(7));
        assert_eq!(id, "7");
        let err = id.parse::<bool>().expect_err("not a bool");
        assert_eq!(err.to_string(), "row id 7 is not a `bool`");

        let pair = RowId::from_parts(["1", "ann"]);
        assert_eq!(pair.to_string(), "(1, ann)");
        assert_eq!(pair, "(1, ann)");
        assert_eq!(pair.parse_part::<String>(1).as_deref(), Ok("ann"));
        assert_eq!(
            pair.parse::<i32>().expect_err("two columns").to_string(),
            "row id (1, ann) has 2 columns, not as many as `i32`"
        );
        assert_eq!(
            pair.parse_part::<i32>(1).expect_err("text").to_string(),
            "column 1 of row id (1, ann) is not a `i32`"
        );
        assert_eq!(pair.part(2), None);
    }

    #[test]
    fn a_key_of_several_fields_reads_as_a_tuple_of_as_many() {
        let pair = RowId::parts_of(&table("attempts"), ["1", "7"]);
        assert_eq!(<(i32, i64)>::parse_id(&pair), Ok((1, 7)));
        assert_eq!(
            <(i32, i64, i32)>::parse_id(&pair)
                .expect_err("two columns")
                .to_string(),
            "row id (1, 7) has 2 columns, not as many as `(i32, i64, i32)`"
        );
        assert_eq!(
            <(i32, bool)>::parse_id(&pair)
                .expect_err("not a bool")
                .to_string(),
            "column 1 of row id (1, 7) is not a `bool`"
        );
        assert_eq!(
            <(String,)>::parse_id(&pair).ok(),
            None,
            "one field, two columns"
        );
    }

    #[test]
    fn ids_compare_by_their_text_whatever_their_table() {
        let posts = table("posts");
        let of_posts = RowId::of(&posts, "4");
        assert_eq!(of_posts, RowId::from_text("4"));
        assert_eq!(of_posts, RowId::of(&table("replies"), "4"));
        assert_eq!(of_posts.table(), Some(&*posts));
        assert_eq!(RowId::from_text("4").table(), None);
    }
}
