//! A tour of the API, section by section; the README quotes these sections verbatim (a
//! test in `tests/` checks that it still does).
//!
//! Run with `cargo run --example tour`.

use chrono::NaiveDateTime;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::prelude::*;

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
        removed_on -> Nullable<Timestamp>,
    }
}

diesel::table! {
    attempts (id) {
        id -> Integer,
        learner_id -> Integer,
        active -> Bool,
    }
}

diesel::joinable!(posts -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(users, posts, attempts);

// --- models ---
// The timestamp strategy, found by the field's name: `deleted_at IS NULL` is live.
// Two optional audit columns record who deleted the row and why.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = users)]
struct User {
    id: i32,
    name: String,
    deleted_at: Option<NaiveDateTime>,
    #[soft_delete(deleted_by)]
    deleted_by: Option<i32>,
    #[soft_delete(reason)]
    deletion_reason: Option<String>,
}

// Any column name: mark the field. Diesel's `column_name` is honoured.
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = posts)]
struct Post {
    id: i32,
    user_id: i32,
    title: String,
    #[diesel(column_name = removed_on)]
    #[soft_delete(marker = timestamp)]
    archived_at: Option<NaiveDateTime>,
}

// A bool flag: `marker = active` (true = live) or `marker = deleted` (true = deleted).
#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = attempts)]
struct Attempt {
    id: i32,
    learner_id: i32,
    #[soft_delete(marker = active)]
    active: bool,
}
// --- end models ---

fn setup() -> QueryResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(":memory:")
        .map_err(|e| diesel::result::Error::QueryBuilderError(e.into()))?;
    conn.batch_execute(
        "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT NOT NULL, deleted_at TIMESTAMP,
                             deleted_by INTEGER, deletion_reason TEXT);
         CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, title TEXT NOT NULL,
                             removed_on TIMESTAMP);
         CREATE TABLE attempts (id INTEGER PRIMARY KEY, learner_id INTEGER NOT NULL,
                                active BOOLEAN NOT NULL DEFAULT TRUE);
         INSERT INTO users (id, name) VALUES (1, 'ann'), (2, 'bob'), (3, 'cat');
         INSERT INTO posts (id, user_id, title) VALUES (1, 1, 'hello'), (2, 1, 'again'), (3, 2, 'hi');
         INSERT INTO attempts (id, learner_id) VALUES (1, 7), (2, 8);",
    )?;
    Ok(conn)
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let conn = &mut setup()?;
    soft_delete_runtime::soft_delete(users::table.find(3)).execute(conn)?;
    soft_delete_runtime::soft_delete(posts::table.find(2)).execute(conn)?;

    // --- scopes ---
    // On a table, on a statement that already has clauses, before or after `into_boxed()`.
    let live_users: Vec<User> = users::table.active().load(conn)?;
    let gone: Vec<User> = users::table.only_deleted().load(conn)?;
    let every: Vec<User> = users::table.with_deleted().load(conn)?; // says "deleted rows too, on purpose"

    let names: Vec<String> = users::table
        .filter(users::name.like("%a%"))
        .order(users::name)
        .select(users::name)
        .limit(10)
        .active()
        .load(conn)?;

    let mut boxed = users::table.into_boxed().active();
    if let Some(first) = names.first() {
        boxed = boxed.filter(users::name.ne(first));
    }
    let others: Vec<User> = boxed.load(conn)?;
    // --- end scopes ---
    println!(
        "live {live_users:?}\ngone {gone:?}\nevery {every:?}\nnames {names:?}, others {others:?}"
    );
    assert_eq!(
        (live_users.len(), gone.len(), every.len(), others.len()),
        (2, 1, 3, 1)
    );

    // --- return types ---
    use soft_delete_runtime::dsl;

    fn live_posts_of(
        user: i32,
    ) -> dsl::Active<dsl::Filter<posts::table, dsl::Eq<posts::user_id, i32>>> {
        posts::table.filter(posts::user_id.eq(user)).active()
    }

    #[diesel::dsl::auto_type(dsl_path = "soft_delete_runtime::dsl")]
    fn deleted_titles() -> _ {
        posts::table.only_deleted().select(posts::title)
    }
    // --- end return types ---
    assert_eq!(live_posts_of(1).count().get_result::<i64>(conn)?, 1);
    assert_eq!(deleted_titles().load::<String>(conn)?, ["again"]);

    // --- joins ---
    use soft_delete_runtime::dsl::live;

    // Inner join: filter each table with its own predicate.
    let pairs: Vec<(String, String)> = users::table
        .inner_join(posts::table)
        .filter(live::<users::table>().and(live::<posts::table>()))
        .select((users::name, posts::title))
        .load(conn)?;

    // Left join: the child's predicate goes in `ON`. In `WHERE` it would drop the users
    // that have no live post, turning the left join into an inner join.
    let with_posts: Vec<(String, Option<String>)> = users::table
        .left_join(posts::table.on(posts::user_id.eq(users::id).and(live::<posts::table>())))
        .filter(live::<users::table>())
        .select((users::name, posts::title.nullable()))
        .load(conn)?;
    // --- end joins ---
    println!("pairs {pairs:?}; with posts {with_posts:?}");
    assert_eq!(pairs.len(), 2);
    assert_eq!(with_posts.len(), 2);

    // --- writes by value ---
    let bob: User = users::table.find(2).active().first(conn)?;
    bob.soft_delete(conn)?; // 1: hidden now
    bob.soft_delete(conn)?; // 0: already deleted, keeps its first time
    bob.restore(conn)?; // 1: live again, audit columns cleared
    bob.soft_delete_with(conn, Deletion::now().by(1).reason("spam"))?; // who and why
    bob.hard_delete(conn)?; // 1: gone for good
                            // --- end writes by value ---

    // --- bulk writes ---
    use soft_delete_runtime as sd;

    let hidden = sd::soft_delete(posts::table.filter(posts::user_id.eq(1))).execute(conn)?;
    let back = sd::restore(posts::table.filter(posts::title.eq("hello"))).execute(conn)?;
    let purged = sd::hard_delete(posts::table.only_deleted()).execute(conn)?;

    let closed = sd::soft_delete_with(
        attempts::table.filter(attempts::learner_id.eq(7)),
        Deletion::now(),
    )
    .execute(conn)?;
    // --- end bulk writes ---
    println!("hidden {hidden}, back {back}, purged {purged}, closed {closed}");
    assert_eq!((hidden, back, purged, closed), (1, 1, 1, 1));

    let attempt: Attempt = attempts::table.find(2).with_deleted().first(conn)?;
    let post: Post = posts::table.find(1).with_deleted().first(conn)?;
    println!(
        "attempt {} of learner {} live: {}",
        attempt.id, attempt.learner_id, attempt.active
    );
    println!(
        "post {} by {}: {:?} {:?}",
        post.id, post.user_id, post.title, post.archived_at
    );
    for user in users::table.with_deleted().load::<User>(conn)? {
        println!(
            "user {} {}: deleted at {:?} by {:?} because {:?}",
            user.id, user.name, user.deleted_at, user.deleted_by, user.deletion_reason
        );
    }
    Ok(())
}
