//! Models shaped like those of a real application (a federated link aggregator): newtype ids,
//! `Instant` markers and `updated_at` columns, and a Diesel alias of `person` for "the
//! person replied to" beside `person` for "the author".
//!
//! Diesel maps `Instant` to `Timestamptz` on PostgreSQL and `TimestamptzSqlite` on SQLite
//! but to nothing on MySQL, so the columns use [`UtcTime`], a SQL type of this file that is
//! each backend's type for a UTC instant (what an application supporting MySQL would write).

use diesel::backend::Backend as DieselBackend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;
use soft_delete_runtime::prelude::*;
use soft_delete_tests::stamp::{instant, stamp, Instant, Stamp};
use soft_delete_tests::{Backend, TestConnection, TestDb};

/// A person's id, as `diesel-derive-newtype` would write it, read from an error's row id
/// through `FromStr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
pub struct PersonId(pub i32);

impl std::str::FromStr for PersonId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(PersonId)
    }
}

impl<DB> ToSql<Integer, DB> for PersonId
where
    DB: DieselBackend,
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB> FromSql<Integer, DB> for PersonId
where
    DB: DieselBackend,
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        i32::from_sql(bytes).map(PersonId)
    }
}

/// A UTC instant: `TIMESTAMPTZ` on PostgreSQL and SQLite, `DATETIME(6)` holding UTC on MySQL.
#[derive(
    Debug, Clone, Copy, Default, diesel::sql_types::SqlType, diesel::query_builder::QueryId,
)]
#[diesel(postgres_type(oid = 1184, array_oid = 1185))]
#[diesel(sqlite_type(name = "Text"))]
#[diesel(mysql_type(name = "DateTime"))]
pub struct UtcTime;

/// An archive stamps `UtcTime` deletion times with the batch's instant.
impl soft_delete_runtime::collector::StampSqlType for UtcTime {
    const KIND: soft_delete_runtime::collector::StampKind =
        soft_delete_runtime::collector::StampKind::Utc;
}

/// Defines `UtcTime` on `$backend` as Diesel's `$sql_type` for `Instant`.
macro_rules! utc_time_as {
    ($feature:literal, $backend:ty, $sql_type:ty) => {
        #[cfg(feature = $feature)]
        impl ToSql<UtcTime, $backend> for Instant {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, $backend>) -> serialize::Result {
                <Self as ToSql<$sql_type, $backend>>::to_sql(self, out)
            }
        }

        #[cfg(feature = $feature)]
        impl FromSql<UtcTime, $backend> for Instant {
            fn from_sql(
                bytes: <$backend as DieselBackend>::RawValue<'_>,
            ) -> deserialize::Result<Self> {
                <Self as FromSql<$sql_type, $backend>>::from_sql(bytes)
            }
        }
    };
}

utc_time_as!("postgres", diesel::pg::Pg, diesel::sql_types::Timestamptz);
utc_time_as!(
    "sqlite",
    diesel::sqlite::Sqlite,
    diesel::sql_types::TimestamptzSqlite
);

#[cfg(feature = "mysql")]
impl ToSql<UtcTime, diesel::mysql::Mysql> for Instant {
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, diesel::mysql::Mysql>) -> serialize::Result {
        let naive = stamp(*self);
        <Stamp as ToSql<diesel::sql_types::Datetime, diesel::mysql::Mysql>>::to_sql(
            &naive,
            &mut out.reborrow(),
        )
    }
}

#[cfg(feature = "mysql")]
impl FromSql<UtcTime, diesel::mysql::Mysql> for Instant {
    fn from_sql(bytes: diesel::mysql::MysqlValue<'_>) -> deserialize::Result<Self> {
        <Stamp as FromSql<diesel::sql_types::Datetime, diesel::mysql::Mysql>>::from_sql(bytes)
            .map(instant)
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::UtcTime;

    person (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<UtcTime>,
        updated_at -> Nullable<UtcTime>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use super::UtcTime;

    comment (id) {
        id -> Integer,
        creator_id -> Integer,
        recipient_id -> Integer,
        content -> Text,
        removed_at -> Nullable<UtcTime>,
        removed_by -> Nullable<Integer>,
        removal_reason -> Nullable<Text>,
        updated_at -> Nullable<UtcTime>,
        version -> Integer,
    }
}

diesel::joinable!(comment -> person (creator_id));
diesel::allow_tables_to_appear_in_same_query!(person, comment);

// The person a comment replies to, as the application declares it.
diesel::alias!(person as person1: Person1AliasType);

/// A person; `deleted_at IS NULL` is live, and a name belongs to one live person at a time.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = person)]
#[active_unique(fields = "name")]
pub struct Person {
    pub id: PersonId,
    pub name: String,
    pub deleted_at: Option<Instant>,
    pub updated_at: Option<Instant>,
}

/// A comment by `creator_id` replying to `recipient_id`; removed by a moderator, who is
/// recorded with the reason.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = comment)]
pub struct Comment {
    pub id: i32,
    pub creator_id: PersonId,
    pub recipient_id: PersonId,
    pub content: String,
    #[soft_delete(marker = timestamp)]
    pub removed_at: Option<Instant>,
    #[soft_delete(deleted_by)]
    pub removed_by: Option<PersonId>,
    #[soft_delete(reason)]
    pub removal_reason: Option<String>,
    pub updated_at: Option<Instant>,
    pub version: i32,
}

/// Creates the tables and: people 1..=3 (`ann`, `bob`, `cat`), comments 1..=4 (1: ann to bob,
/// 2: bob to cat, 3: cat to ann, 4: ann to cat). Everything live, never updated, version 1.
pub(crate) fn seed<C: TestConnection>(db: &mut TestDb<C>) -> QueryResult<()> {
    let utc = match db.backend() {
        Backend::Mysql => "DATETIME(6)",
        Backend::Sqlite | Backend::Postgres => "TIMESTAMPTZ",
    };
    db.create(
        &"
        CREATE TABLE person (id {pk}, name {text} NOT NULL, deleted_at {utc} NULL, updated_at {utc} NULL);
        CREATE TABLE comment (id {pk}, creator_id {int} NOT NULL, recipient_id {int} NOT NULL,
            content {text} NOT NULL, removed_at {utc} NULL, removed_by {int} NULL,
            removal_reason {text} NULL, updated_at {utc} NULL,
            version {int} NOT NULL DEFAULT 1);
        INSERT INTO person (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cat');
        INSERT INTO comment (id, creator_id, recipient_id, content)
            VALUES (1, 1, 2, 'hi bob'), (2, 2, 3, 'hi cat'), (3, 3, 1, 'hi ann'), (4, 1, 3, 'and cat');
        "
        .replace("{utc}", utc),
    );
    Ok(())
}
