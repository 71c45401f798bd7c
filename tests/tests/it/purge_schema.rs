//! The blog the purge tests clean up, with real foreign keys where the comments say so:
//!
//! ```text
//! authors ─┬─ posts.author_id          cascade, FK ── comments.post_id   cascade, FK ── comments.parent_id cascade, FK (replies)
//!          ├─ drafts.author_id         cascade, no FK (a deleted flag without deletion time)
//!          ├─ subscriptions.author_id  protect, FK    (plain table)
//!          └─ tags.author_id           FK only, not declared (plain table)
//! ```
//!
//! `authors` and `comments` have a timestamp marker, `posts` a deleted flag with a deletion
//! time; `drafts` records no deletion time, so a purge leaves it alone.

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::Timestamp;
use soft_delete_tests::stamp::{stamp, utc, Stamp};
use soft_delete_tests::{TestConnection, TestDb};

diesel::table! {
    authors (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        author_id -> Integer,
        title -> Text,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    comments (id) {
        id -> Integer,
        post_id -> Integer,
        parent_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    drafts (id) {
        id -> Integer,
        author_id -> Integer,
        deleted -> Bool,
    }
}

diesel::table! {
    subscriptions (id) {
        id -> Integer,
        author_id -> Integer,
    }
}

diesel::table! {
    tags (id) {
        id -> Integer,
        author_id -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(
    authors,
    posts,
    comments,
    drafts,
    subscriptions,
    tags
);

diesel::table! {
    teams (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    players (id) {
        id -> Integer,
        team_id -> Nullable<Integer>,
    }
}

diesel::table! {
    codes (code) {
        code -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    nodes_a (id) {
        id -> Integer,
        b_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    nodes_b (id) {
        id -> Integer,
        a_id -> Nullable<Integer>,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    clubs (id) {
        id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    labels (id) {
        id -> Integer,
        target_id -> Nullable<Integer>,
    }
}

/// Labels point at a team or at a club (no foreign key): both cut the link when archived.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = clubs)]
#[soft_delete(children(labels::target_id = set_null))]
pub struct Club {
    pub id: i32,
    pub deleted_at: Option<Stamp>,
}

/// A text primary key.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = codes, primary_key(code))]
pub struct Code {
    pub code: String,
    pub deleted_at: Option<Stamp>,
}

/// Two tables referencing each other: a cycle of `cascade` edges.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = nodes_a)]
#[soft_delete(children(nodes_b::a_id = cascade))]
pub struct NodeA {
    pub id: i32,
    pub b_id: Option<i32>,
    pub deleted_at: Option<Stamp>,
}

/// The other half of the cycle.
#[derive(Debug, Clone, PartialEq, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = nodes_b)]
#[soft_delete(children(nodes_a::b_id = cascade))]
pub struct NodeB {
    pub id: i32,
    pub a_id: Option<i32>,
    pub deleted_at: Option<Stamp>,
}

/// The root of the purge tests.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = authors)]
#[soft_delete(children(
    posts::author_id = cascade,
    drafts::author_id = cascade,
    subscriptions::author_id = protect,
))]
pub struct Author {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

/// A deleted flag with a deletion time.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
#[soft_delete(children(comments::post_id = cascade))]
pub struct Post {
    pub id: i32,
    pub author_id: i32,
    pub title: String,
    #[soft_delete(marker = deleted)]
    pub deleted: bool,
    pub deleted_at: Option<Stamp>,
}

/// Replies reference their parent comment.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = comments)]
#[soft_delete(children(comments::parent_id = cascade))]
pub struct Comment {
    pub id: i32,
    pub post_id: i32,
    pub parent_id: Option<i32>,
    pub deleted_at: Option<Stamp>,
}

/// A deleted flag and no deletion time: a purge cannot tell how old its deletions are.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = drafts)]
pub struct Draft {
    pub id: i32,
    pub author_id: i32,
    pub deleted: bool,
}

/// Archiving a team cuts its players' links, which the journal keeps for a restore.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = teams)]
#[soft_delete(children(players::team_id = set_null, labels::target_id = set_null))]
pub struct Team {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
}

/// The purge tests' cutoff: 2024-06-01 00:00:00 UTC.
pub(crate) fn cutoff() -> Timestamp {
    utc(2024, 6, 1, 0, 0, 0, 0)
}

/// Midnight of a day.
pub(crate) fn at(year: i32, month: u32, day: u32) -> Stamp {
    stamp(utc(year, month, day, 0, 0, 0, 0))
}

/// A day before the cutoff.
pub(crate) fn old() -> Option<Stamp> {
    Some(at(2024, 1, 1))
}

/// A day after the cutoff.
pub(crate) fn recent() -> Option<Stamp> {
    Some(at(2024, 7, 1))
}

/// A time as an SQL literal's text, for seeding rows in SQL.
pub(crate) fn sql_time(time: Option<Stamp>) -> String {
    // `Timestamp` writes `2024-01-01 00:00:00.000000 UTC`: keep the whole seconds
    Timestamp::from(time.expect("a time")).to_string()[..19].to_owned()
}

/// Creates the tables.
pub(crate) fn create<C: TestConnection>(db: &mut TestDb<C>) {
    db.create(
        "CREATE TABLE authors (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
         CREATE TABLE posts (id {pk}, author_id {int} NOT NULL, title {text} NOT NULL,
             deleted {bool} NOT NULL DEFAULT FALSE, deleted_at {ts} NULL,
             CONSTRAINT posts_author_fk FOREIGN KEY (author_id) REFERENCES authors (id));
         CREATE TABLE comments (id {pk}, post_id {int} NOT NULL, parent_id {int} NULL, deleted_at {ts} NULL,
             CONSTRAINT comments_post_fk FOREIGN KEY (post_id) REFERENCES posts (id),
             CONSTRAINT comments_parent_fk FOREIGN KEY (parent_id) REFERENCES comments (id));
         CREATE TABLE drafts (id {pk}, author_id {int} NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE);
         CREATE TABLE subscriptions (id {pk}, author_id {int} NOT NULL,
             CONSTRAINT subscriptions_author_fk FOREIGN KEY (author_id) REFERENCES authors (id));
         CREATE TABLE tags (id {pk}, author_id {int} NOT NULL,
             CONSTRAINT tags_author_fk FOREIGN KEY (author_id) REFERENCES authors (id));
         CREATE TABLE codes (code {text} NOT NULL PRIMARY KEY, deleted_at {ts} NULL);
         CREATE TABLE nodes_a (id {pk}, b_id {int} NULL, deleted_at {ts} NULL);
         CREATE TABLE nodes_b (id {pk}, a_id {int} NULL, deleted_at {ts} NULL,
             CONSTRAINT nodes_b_a_fk FOREIGN KEY (a_id) REFERENCES nodes_a (id));
         CREATE TABLE teams (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL);
         CREATE TABLE clubs (id {pk}, deleted_at {ts} NULL);
         CREATE TABLE labels (id {pk}, target_id {int} NULL);
         CREATE TABLE players (id {pk}, team_id {int} NULL,
             CONSTRAINT players_team_fk FOREIGN KEY (team_id) REFERENCES teams (id));",
    );
}

/// Inserts authors `$ids`, all with deletion time `$deleted_at`.
macro_rules! insert_authors {
    ($conn:expr, $ids:expr, $deleted_at:expr) => {
        for id in $ids {
            diesel::insert_into(authors::table)
                .values((
                    authors::id.eq(id),
                    authors::name.eq(format!("author {id}")),
                    authors::deleted_at.eq($deleted_at),
                ))
                .execute($conn)?;
        }
    };
}
pub(crate) use insert_authors;
