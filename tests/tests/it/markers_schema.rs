//! Models with several reasons to hide a row, shaped like a link aggregator's: a post is hidden
//! when its author deleted it, when a moderator removed it, or when an instance removed it
//! locally; visible means none of them. Newtype ids, `DateTime<Utc>` times (see
//! [`UtcTime`](crate::forum_schema::UtcTime)), a third marker of another strategy, audit columns
//! per marker, an active-unique key, cascade and protect edges.

use diesel::backend::Backend as DieselBackend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;
use soft_delete_runtime::prelude::*;
use soft_delete_tests::stamp::Instant;
use soft_delete_tests::{Backend, TestConnection, TestDb};

pub(crate) use crate::forum_schema::PersonId;

/// A post's id, as `diesel-derive-newtype` would write it, read from an error's row id
/// through `FromStr`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
pub struct PostId(pub i32);

impl std::str::FromStr for PostId {
    type Err = std::num::ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(PostId)
    }
}

impl<DB> ToSql<Integer, DB> for PostId
where
    DB: DieselBackend,
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB> FromSql<Integer, DB> for PostId
where
    DB: DieselBackend,
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        i32::from_sql(bytes).map(PostId)
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::forum_schema::UtcTime;

    community (id) {
        id -> Integer,
        name -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<UtcTime>,
        removed -> Bool,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::forum_schema::UtcTime;

    post (id) {
        id -> Integer,
        community_id -> Integer,
        creator_id -> Integer,
        slug -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<UtcTime>,
        removed -> Bool,
        removed_by -> Nullable<Integer>,
        removal_reason -> Nullable<Text>,
        local_removed_at -> Nullable<UtcTime>,
        updated_at -> Nullable<UtcTime>,
        archive_batch -> Nullable<BigInt>,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::forum_schema::UtcTime;

    reply (id) {
        id -> Integer,
        post_id -> Integer,
        creator_id -> Integer,
        content -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<UtcTime>,
        removed -> Bool,
    }
}

diesel::table! {
    use diesel::sql_types::*;
    use crate::forum_schema::UtcTime;

    member (id) {
        id -> Integer,
        name -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<UtcTime>,
        banned -> Bool,
    }
}

diesel::joinable!(post -> community (community_id));
diesel::joinable!(reply -> post (post_id));
diesel::joinable!(reply -> member (creator_id));
diesel::allow_tables_to_appear_in_same_query!(community, post, reply, member);

/// A community: deleted by its owner (the primary marker, which archives set) or removed by
/// an admin.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = community)]
#[soft_delete(children(post::community_id = cascade))]
pub struct Community {
    pub id: i32,
    pub name: String,
    #[soft_delete(marker = deleted, primary)]
    pub deleted: bool,
    #[soft_delete(deleted_at(deleted))]
    pub deleted_at: Option<Instant>,
    #[soft_delete(marker = deleted)]
    pub removed: bool,
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A post: deleted by its author (primary, with its time), removed by a moderator (who and
/// why), or removed locally by this instance (a timestamp). One visible post per slug in a
/// community.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = post)]
#[soft_delete(children(reply::post_id = cascade))]
#[active_unique(fields = "community_id, slug", name = "post_live_slug")]
pub struct Post {
    pub id: PostId,
    pub community_id: i32,
    pub creator_id: PersonId,
    pub slug: String,
    #[soft_delete(marker = deleted, primary)]
    pub deleted: bool,
    #[soft_delete(deleted_at(deleted))]
    pub deleted_at: Option<Instant>,
    #[soft_delete(marker = deleted)]
    pub removed: bool,
    #[soft_delete(deleted_by(removed))]
    pub removed_by: Option<PersonId>,
    #[soft_delete(reason(removed))]
    pub removal_reason: Option<String>,
    #[soft_delete(marker = timestamp)]
    pub local_removed_at: Option<Instant>,
    pub updated_at: Option<Instant>,
    #[soft_delete(batch)]
    pub archive_batch: Option<i64>,
}

/// A reply to a post, deleted by its author or removed by a moderator.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = reply)]
pub struct Reply {
    pub id: i32,
    pub post_id: PostId,
    pub creator_id: PersonId,
    pub content: String,
    #[soft_delete(marker = deleted, primary)]
    pub deleted: bool,
    #[soft_delete(deleted_at(deleted))]
    pub deleted_at: Option<Instant>,
    #[soft_delete(marker = deleted)]
    pub removed: bool,
}

/// A member, who deletes their account or is banned; their visible replies protect them from
/// an archive.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = member)]
#[soft_delete(children(reply::creator_id = protect))]
pub struct Member {
    pub id: PersonId,
    pub name: String,
    #[soft_delete(marker = deleted, primary)]
    pub deleted: bool,
    #[soft_delete(deleted_at(deleted))]
    pub deleted_at: Option<Instant>,
    #[soft_delete(marker = deleted)]
    pub banned: bool,
}

/// `2026-01-01 00:00:00 UTC` as an SQL literal: the time the seeded hidden rows were hidden.
pub(crate) const LONG_AGO: &str = "2026-01-01 00:00:00";

/// Creates the tables, the archive log and:
/// - communities 1 `rust` and 2 `go`, both visible;
/// - members 1 `ann`, 2 `bob`, 3 `cat`, all visible;
/// - posts in community 1: 1 `hello` by ann (visible), 2 `spam` by bob (removed by cat, "spam"),
///   3 `bye` by cat (deleted by its author long ago), 5 `local` by bob (removed locally long
///   ago); in community 2: 4 `hello` by ann (visible);
/// - replies: 1 by bob and 2 by cat (removed) to post 1, 3 by ann to post 2, 4 by cat to
///   post 4.
pub(crate) fn seed<C: TestConnection>(db: &mut TestDb<C>) -> QueryResult<()> {
    let utc = match db.backend() {
        Backend::Mysql => "DATETIME(6)",
        Backend::Sqlite | Backend::Postgres => "TIMESTAMPTZ",
    };
    let long_ago = match db.backend() {
        Backend::Postgres => format!("'{LONG_AGO}+00'"),
        Backend::Sqlite => format!("'{LONG_AGO}+00:00'"),
        Backend::Mysql => format!("'{LONG_AGO}'"),
    };
    db.create(
        &"
        CREATE TABLE community (id {pk}, name {text} NOT NULL,
            deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {utc} NULL,
            removed {bool} NOT NULL DEFAULT FALSE, archive_batch BIGINT NULL);
        CREATE TABLE member (id {pk}, name {text} NOT NULL,
            deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {utc} NULL,
            banned {bool} NOT NULL DEFAULT FALSE);
        CREATE TABLE post (id {pk}, community_id {int} NOT NULL REFERENCES community (id),
            creator_id {int} NOT NULL REFERENCES member (id), slug {text} NOT NULL,
            deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {utc} NULL,
            removed {bool} NOT NULL DEFAULT FALSE, removed_by {int} NULL, removal_reason {text} NULL,
            local_removed_at {utc} NULL, updated_at {utc} NULL, archive_batch BIGINT NULL);
        CREATE TABLE reply (id {pk}, post_id {int} NOT NULL REFERENCES post (id),
            creator_id {int} NOT NULL REFERENCES member (id), content {text} NOT NULL,
            deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {utc} NULL,
            removed {bool} NOT NULL DEFAULT FALSE);
        INSERT INTO community (id, name) VALUES (1, 'rust'), (2, 'go');
        INSERT INTO member (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cat');
        INSERT INTO post (id, community_id, creator_id, slug) VALUES (1, 1, 1, 'hello');
        INSERT INTO post (id, community_id, creator_id, slug, removed, removed_by, removal_reason)
            VALUES (2, 1, 2, 'spam', TRUE, 3, 'spam');
        INSERT INTO post (id, community_id, creator_id, slug, deleted, deleted_at)
            VALUES (3, 1, 3, 'bye', TRUE, {long_ago});
        INSERT INTO post (id, community_id, creator_id, slug) VALUES (4, 2, 1, 'hello');
        INSERT INTO post (id, community_id, creator_id, slug, local_removed_at)
            VALUES (5, 1, 2, 'local', {long_ago});
        INSERT INTO reply (id, post_id, creator_id, content) VALUES (1, 1, 2, 'hi ann');
        INSERT INTO reply (id, post_id, creator_id, content, removed) VALUES (2, 1, 3, 'rude', TRUE);
        INSERT INTO reply (id, post_id, creator_id, content) VALUES (3, 2, 1, 'not spam');
        INSERT INTO reply (id, post_id, creator_id, content) VALUES (4, 4, 3, 'hi');
        "
        .replace("{utc}", utc)
        .replace("{long_ago}", &long_ago),
    );
    db.conn()
        .batch_execute(&soft_delete_runtime::ddl::archive_log::create_table(
            crate::collector_schema::dialect::<C>(),
        ))?;
    Ok(())
}
