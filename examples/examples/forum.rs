//! Models shaped like a real application's (a link aggregator): a newtype id, `DateTime<Utc>`
//! markers, an `updated_at` column bumped on every change, and a Diesel alias for "the person a
//! comment replies to" beside `person` for its author. The README quotes its sections verbatim.
//!
//! Run with `cargo run --example forum`.

use chrono::{DateTime, Utc};
use diesel::backend::Backend;
use diesel::connection::SimpleConnection;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::prelude::*;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::Integer;
use soft_delete_runtime::prelude::*;

/// A person's id, as `diesel-derive-newtype` would write it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, AsExpression, FromSqlRow)]
#[diesel(sql_type = Integer)]
pub struct PersonId(i32);

impl<DB: Backend> ToSql<Integer, DB> for PersonId
where
    i32: ToSql<Integer, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        self.0.to_sql(out)
    }
}

impl<DB: Backend> FromSql<Integer, DB> for PersonId
where
    i32: FromSql<Integer, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        i32::from_sql(bytes).map(PersonId)
    }
}

diesel::table! {
    person (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<TimestamptzSqlite>,
        updated_at -> Nullable<TimestamptzSqlite>,
    }
}

diesel::table! {
    comment (id) {
        id -> Integer,
        creator_id -> Integer,
        recipient_id -> Integer,
        content -> Text,
        removed_at -> Nullable<TimestamptzSqlite>,
        removed_by -> Nullable<Integer>,
        updated_at -> Nullable<TimestamptzSqlite>,
    }
}

diesel::joinable!(comment -> person (creator_id));
diesel::allow_tables_to_appear_in_same_query!(person, comment);

// The person a comment replies to.
diesel::alias!(person as person1: Person1AliasType);

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = person)]
struct Person {
    id: PersonId,
    name: String,
    deleted_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = comment)]
struct Comment {
    id: i32,
    creator_id: PersonId,
    recipient_id: PersonId,
    content: String,
    #[soft_delete(marker = timestamp)]
    removed_at: Option<DateTime<Utc>>,
    #[soft_delete(deleted_by)]
    removed_by: Option<PersonId>,
    updated_at: Option<DateTime<Utc>>,
}

fn setup() -> QueryResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(":memory:")
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    conn.batch_execute(
        "CREATE TABLE person (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                              deleted_at TIMESTAMPTZ, updated_at TIMESTAMPTZ);
         CREATE TABLE comment (id INTEGER PRIMARY KEY, creator_id INTEGER NOT NULL,
                               recipient_id INTEGER NOT NULL, content TEXT NOT NULL,
                               removed_at TIMESTAMPTZ, removed_by INTEGER, updated_at TIMESTAMPTZ);
         INSERT INTO person (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cat');
         INSERT INTO comment (id, creator_id, recipient_id, content)
             VALUES (1, 1, 2, 'hi bob'), (2, 2, 3, 'hi cat'), (3, 3, 1, 'hi ann');",
    )?;
    Ok(conn)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let conn = &mut setup()?;
    let bob: Person = person::table.find(PersonId(2)).active().first(conn)?;
    bob.soft_delete(conn)?;

    // --- alias join ---
    use soft_delete_runtime::dsl::live;

    // Every live comment by a live author, with the person it replies to while that
    // person is live: the alias's predicate goes in its `ON` clause.
    let replies: Vec<(String, String, Option<String>)> = comment::table
        .inner_join(person::table)
        .left_join(
            person1.on(comment::recipient_id
                .eq(person1.field(person::id))
                .and(person1.live())),
        )
        .filter(live::<comment::table>().and(live::<person::table>()))
        .select((
            comment::content,
            person::name,
            person1.field(person::name).nullable(),
        ))
        .order(comment::id)
        .load(conn)?;

    // The scopes apply to the alias itself too.
    let recipients: Vec<Person> = person1.active().load(conn)?;
    // --- end alias join ---
    println!("replies {replies:?}\nlive recipients {recipients:?}");
    assert_eq!(
        replies,
        [
            ("hi bob".into(), "ann".into(), None),
            ("hi ann".into(), "cat".into(), Some("ann".into())),
        ]
    );
    assert_eq!(recipients.len(), 2);

    // --- and set ---
    use soft_delete_runtime as sd;

    let moderation = Deletion::now().by(PersonId(1));
    let now = moderation.timestamp().to_chrono();

    // Remove cat's comments and bump `updated_at`, in one UPDATE that only touches
    // comments still live.
    let removed = sd::soft_delete_and_set(
        comment::table.filter(comment::creator_id.eq(PersonId(3))),
        moderation,
        comment::updated_at.eq(Some(now)),
    )
    .execute(conn)?;

    // The same by value, and for restores.
    let back = sd::restore_and_set(comment::table, comment::updated_at.eq(Some(Utc::now())))
        .execute(conn)?;
    bob.restore_and_set(conn, person::updated_at.eq(Some(Utc::now())))?;
    // --- end and set ---
    println!("removed {removed}, back {back}");
    assert_eq!((removed, back), (1, 1));
    let comment: Comment = comment::table.find(3).with_deleted().first(conn)?;
    println!(
        "comment {} by {:?} to {:?}: {:?}, removed {:?} by {:?}, updated {:?}",
        comment.id,
        comment.creator_id,
        comment.recipient_id,
        comment.content,
        comment.removed_at,
        comment.removed_by,
        comment.updated_at
    );
    let bob: Person = person::table.find(PersonId(2)).with_deleted().first(conn)?;
    println!(
        "person {:?} {}: deleted {:?}, updated {:?}",
        bob.id, bob.name, bob.deleted_at, bob.updated_at
    );
    assert!(bob.deleted_at.is_none() && bob.updated_at.is_some());
    Ok(())
}
