//! Typed ids in errors: a row of a table whose model has a newtype id (`TopicId`) reads back as
//! that newtype through `RowId::typed::<Topic>()`, whichever operation named it: a
//! `protect` blocker, a batch restore's conflict, a by-value restore's conflict, a purge's
//! report. An id of another table is refused.
//!
//! ```text
//! forum  ── topic.forum_id   cascade
//! author ── topic.author_id  protect
//! topic (TopicId, key: (forum_id, slug)) ── answer.topic_id  cascade
//! ```

use std::num::ParseIntError;
use std::str::FromStr;

use diesel::backend::Backend as DieselBackend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;
use soft_delete_runtime::unique::KeyConflict;
use soft_delete_runtime::{ddl, Error, IdOf, RowId, Timestamp};
use soft_delete_tests::exec::{leak, Exec as _, RestoreIn};
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, TestConnection, TestDb};

use crate::collector_schema::dialect;

/// A topic's id, as `diesel-derive-newtype` writes it, with `FromStr` (which `typed` reads it
/// through) parsing what it wraps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
pub struct TopicId(pub i32);

impl FromStr for TopicId {
    type Err = ParseIntError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.parse().map(TopicId)
    }
}

impl<DB> ToSql<Integer, DB> for TopicId
where
    DB: DieselBackend,
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB> FromSql<Integer, DB> for TopicId
where
    DB: DieselBackend,
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        i32::from_sql(bytes).map(TopicId)
    }
}

diesel::table! {
    forum (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    author (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    topic (id) {
        id -> Integer,
        forum_id -> Integer,
        author_id -> Integer,
        slug -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    answer (id) {
        id -> Integer,
        topic_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(forum, author, topic, answer);

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = forum)]
#[soft_delete(children(topic::forum_id = cascade))]
pub struct Forum {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = author)]
#[soft_delete(children(topic::author_id = protect))]
pub struct Author {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

/// One visible topic per slug in a forum.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = topic)]
#[active_unique(fields = "forum_id, slug", name = "topic_live_slug")]
#[soft_delete(children(answer::topic_id = cascade))]
pub struct Topic {
    pub id: TopicId,
    pub forum_id: i32,
    pub author_id: i32,
    pub slug: String,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = answer)]
pub struct Answer {
    pub id: i32,
    pub topic_id: TopicId,
    pub deleted_at: Option<Stamp>,
}

/// Forum 1 `rust`; authors 1 `ann` and 2 `bob`; topic 7 `hello` by ann in forum 1, with
/// answer 1; the key's index and the archive log.
fn seed<C: TestConnection>(db: &mut TestDb<C>) -> QueryResult<()> {
    db.create(
        "
        CREATE TABLE forum (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
        CREATE TABLE author (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
        CREATE TABLE topic (id {pk}, forum_id {int} NOT NULL REFERENCES forum (id),
            author_id {int} NOT NULL REFERENCES author (id), slug {text} NOT NULL,
            deleted_at {ts} NULL);
        CREATE TABLE answer (id {pk}, topic_id {int} NOT NULL REFERENCES topic (id),
            deleted_at {ts} NULL);
        INSERT INTO forum (id, name) VALUES (1, 'rust');
        INSERT INTO author (id, name) VALUES (1, 'ann'), (2, 'bob');
        INSERT INTO topic (id, forum_id, author_id, slug) VALUES (7, 1, 1, 'hello');
        INSERT INTO answer (id, topic_id) VALUES (1, 7);
        ",
    );
    let conn = db.conn();
    for statement in ddl::active_unique::<Topic>(dialect::<C>()) {
        conn.batch_execute(&statement)?;
    }
    conn.batch_execute(&ddl::archive_log::create_table(dialect::<C>()))?;
    Ok(())
}

/// The holder and the restored row of a conflict, as topics' ids.
fn topic_ids(conflict: &KeyConflict) -> (IdOf<Topic>, Option<TopicId>) {
    let live = conflict.live_id().typed::<Topic>().expect("a topic's id");
    let restored = conflict
        .restored_id()
        .map(|id| id.typed::<Topic>().expect("a topic's id"));
    (live, restored)
}

backend_tests! {
    fn every_error_naming_a_topic_gives_back_its_topic_id(db, x) {
        seed(db)?;
        let conn = db.conn();

        // A protect blocker: ann's visible topic refuses her archive.
        let ann: &Author = leak(author::table.find(1).active().first(conn)?);
        let err = x.archive(conn, &Collector::new(ann)).expect_err("topic 7 protects ann");
        let Error::Protected { blockers } = &err else { panic!("{err}") };
        let blocker: Vec<TopicId> = blockers[0].ids.iter().map(RowId::typed::<Topic>).collect::<Result<_, _>>()?;
        assert_eq!(blocker, [TopicId(7)], "{err}");

        // A batch restore's conflict: the forum's archive hid topic 7, and topic 8 took its slug.
        let rust: &Forum = leak(forum::table.find(1).active().first(conn)?);
        let batch = x.archive(conn, &Collector::new(rust))?.batch();
        diesel::insert_into(topic::table)
            .values((topic::id.eq(TopicId(8)), topic::forum_id.eq(1), topic::author_id.eq(2), topic::slug.eq("hello")))
            .execute(conn)?;
        let err = x.restore(conn, batch).expect_err("topic 8 holds the slug");
        let by_batch = topic_ids(err.conflict().unwrap_or_else(|| panic!("a conflict: {err}")));
        assert_eq!(by_batch, (TopicId(8), Some(TopicId(7))), "{err}");

        // A by-value restore's conflict on the same rows gives the same ids, of the same type.
        let hello: Topic = topic::table.find(TopicId(7)).with_deleted().first(conn)?;
        let err = RestoreIn::<_, Topic, _>::restore_row(x, conn, &hello).expect_err("topic 8 holds the slug");
        let by_value = topic_ids(err.conflict().unwrap_or_else(|| panic!("a conflict: {err}")));
        assert_eq!(by_value, by_batch, "{err}");

        // A purge's report: topic 7, deleted long ago, is kept while a visible answer
        // references it (answer 1 went with the archive; answer 2 is new).
        diesel::update(topic::table.find(TopicId(7)))
            .set(topic::deleted_at.eq(Stamp::from(Timestamp::UNIX_EPOCH)))
            .execute(conn)?;
        diesel::insert_into(answer::table).values((answer::id.eq(2), answer::topic_id.eq(TopicId(7)))).execute(conn)?;
        let report = x.purge(conn, &mut Purge::before(topic::table, Timestamp::now()))?;
        let kept: Vec<TopicId> = report.skipped.iter()
            .filter(|skipped| skipped.table.name == "topic")
            .flat_map(|skipped| skipped.ids.iter().map(RowId::typed::<Topic>))
            .collect::<Result<_, _>>()?;
        assert_eq!(kept, [TopicId(7)], "{report}");

        // Another table's id is refused, whatever its Rust type: answer ids are `i32`s too.
        let topic_7 = &blockers[0].ids[0];
        let wrong = topic_7.typed::<Answer>().expect_err("a topic's id, not an answer's");
        assert_eq!(wrong.to_string(), "row id 7 is a key of `topic`, not of `answer`");
        assert_eq!(topic_7.table().map(|table| table.name.as_str()), Some("topic"));
        Ok(())
    }
}
