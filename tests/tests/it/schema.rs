//! Tables and models shared by the tests: one per marker strategy, plus audit columns,
//! a custom column name and a flag marker with a separate deletion time.

use diesel::prelude::*;
use soft_delete_runtime::prelude::*;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::TestConnection;

diesel::table! {
    users (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
        deleted_by -> Nullable<Integer>,
        deletion_reason -> Nullable<Text>,
    }
}

diesel::table! {
    posts (id) {
        id -> Integer,
        user_id -> Integer,
        title -> Text,
        deleted -> Bool,
    }
}

diesel::table! {
    attempts (id) {
        id -> Integer,
        exam_id -> Integer,
        learner_id -> Integer,
        active -> Bool,
    }
}

diesel::table! {
    documents (id) {
        id -> Integer,
        title -> Text,
        removed_on -> Nullable<Timestamp>,
    }
}

diesel::table! {
    notes (id) {
        id -> Integer,
        body -> Text,
        hidden -> Bool,
        hidden_at -> Nullable<Timestamp>,
        hidden_by -> Nullable<Text>,
    }
}

diesel::joinable!(posts -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, posts, attempts, documents, notes);

/// Timestamp strategy found by name, with both audit columns.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
pub struct User {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<Stamp>,
    #[soft_delete(deleted_by)]
    pub deleted_by: Option<i32>,
    #[soft_delete(reason)]
    pub deletion_reason: Option<String>,
}

/// Deleted-flag strategy found by name (`deleted = true` is deleted).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
pub struct Post {
    pub id: i32,
    pub user_id: i32,
    pub title: String,
    pub deleted: bool,
}

/// Active-flag strategy (`active = true` is live), the active-unique pattern's shape.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = attempts)]
pub struct Attempt {
    pub id: i32,
    pub exam_id: i32,
    pub learner_id: i32,
    #[soft_delete(marker = active)]
    pub active: bool,
}

/// A marker under another name than its column, and another name than the conventions.
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = documents)]
pub struct Document {
    pub id: i32,
    pub title: String,
    #[diesel(column_name = removed_on)]
    #[soft_delete(marker = timestamp)]
    pub archived_at: Option<Stamp>,
}

/// A flag marker that also records when and by whom (a text audit column).
#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = notes)]
pub struct Note {
    pub id: i32,
    pub body: String,
    #[soft_delete(marker = deleted)]
    pub hidden: bool,
    #[soft_delete(deleted_at)]
    pub hidden_at: Option<Stamp>,
    #[soft_delete(deleted_by)]
    pub hidden_by: Option<String>,
}

/// The portable DDL of every table above.
pub(crate) const DDL: &str = "
CREATE TABLE users (id {pk}, name {text} NOT NULL, deleted_at {ts} NULL, deleted_by {int} NULL, deletion_reason {text} NULL);
CREATE TABLE posts (id {pk}, user_id {int} NOT NULL, title {text} NOT NULL, deleted {bool} NOT NULL DEFAULT FALSE);
CREATE TABLE attempts (id {pk}, exam_id {int} NOT NULL, learner_id {int} NOT NULL, active {bool} NOT NULL DEFAULT TRUE);
CREATE TABLE documents (id {pk}, title {text} NOT NULL, removed_on {ts} NULL);
CREATE TABLE notes (id {pk}, body {text} NOT NULL, hidden {bool} NOT NULL DEFAULT FALSE, hidden_at {ts} NULL, hidden_by {text} NULL);
";

/// Creates the tables and a known set of rows: users 1..=4 (`ann`, `bob`, `cat`, `dan`),
/// posts 1..=4 (two by ann, one by bob, one by cat), attempts 1..=3, documents 1..=3,
/// notes 1..=3. Everything live.
pub(crate) fn seed<C: TestConnection>(db: &mut soft_delete_tests::TestDb<C>) -> QueryResult<()> {
    db.create(DDL);
    let conn = db.conn();
    for (id, name) in [(1, "ann"), (2, "bob"), (3, "cat"), (4, "dan")] {
        conn.batch_execute(&format!(
            "INSERT INTO users (id, name) VALUES ({id}, '{name}')"
        ))?;
    }
    for (id, user_id, title) in [(1, 1, "a1"), (2, 1, "a2"), (3, 2, "b1"), (4, 3, "c1")] {
        conn.batch_execute(&format!(
            "INSERT INTO posts (id, user_id, title) VALUES ({id}, {user_id}, '{title}')"
        ))?;
    }
    conn.batch_execute(
        "INSERT INTO attempts (id, exam_id, learner_id) VALUES (1, 10, 100), (2, 10, 101), (3, 11, 100);
         INSERT INTO documents (id, title) VALUES (1, 'd1'), (2, 'd2'), (3, 'd3');
         INSERT INTO notes (id, body) VALUES (1, 'n1'), (2, 'n2'), (3, 'n3')",
    )?;
    Ok(())
}
