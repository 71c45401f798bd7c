//! Feature `tracing`: the operations' spans and events, captured by a subscriber of the test's
//! own while a cascade archive, a `start` and a `retry` run, sync and async (each operation's
//! span is opened in its one body that both executors run).

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use soft_delete_runtime::backend::SupportedBackend;
use soft_delete_runtime::collector::Collector;
use soft_delete_runtime::ddl::{self, archive_log};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::Purge;
use soft_delete_runtime::unique::ATTEMPTS;
use soft_delete_tests::exec::Exec;
use soft_delete_tests::stamp::Stamp;
use soft_delete_tests::{backend_tests, Backend, TestConnection, TestDb};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

diesel::table! {
    traced_users (id) {
        id -> Integer,
        email -> Text,
        retry -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    traced_posts (id) {
        id -> Integer,
        user_id -> Integer,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(traced_users, traced_posts);

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = traced_users)]
#[active_unique(fields = "email", counter = retry, name = "one_live_traced_email")]
#[soft_delete(children(traced_posts::user_id = cascade))]
pub struct TracedUser {
    pub id: i32,
    pub email: String,
    pub retry: i32,
    pub deleted_at: Option<Stamp>,
}

#[derive(Debug, Queryable, Selectable, Identifiable, SoftDelete)]
#[diesel(table_name = traced_posts)]
pub struct TracedPost {
    pub id: i32,
    pub user_id: i32,
    pub deleted_at: Option<Stamp>,
}

type NewUser = (
    diesel::dsl::Eq<traced_users::email, String>,
    diesel::dsl::Eq<traced_users::retry, i32>,
);

fn new_user(retry: i32) -> NewUser {
    (
        traced_users::email.eq(EMAIL.to_owned()),
        traced_users::retry.eq(retry),
    )
}

const EMAIL: &str = "ann@example.com";

fn create<C: TestConnection>(db: &mut TestDb<C>) {
    db.create(
        "CREATE TABLE traced_users (id {pk}, email {text} NOT NULL, retry {int} NOT NULL, deleted_at {ts});
         CREATE TABLE traced_posts (id {pk}, user_id {int} NOT NULL REFERENCES traced_users (id), deleted_at {ts})",
    );
    let dialect = <C::Backend as SupportedBackend>::DIALECT;
    let mut ddl = ddl::active_unique::<TracedUser>(dialect);
    ddl.push(archive_log::create_table(dialect));
    db.conn()
        .batch_execute(&ddl.join(";\n"))
        .expect("the DDL runs");
}

/// The fields of a span or an event, as text (`Display` values as they display).
#[derive(Debug, Clone, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone)]
struct CapturedSpan {
    name: &'static str,
    fields: Fields,
}

#[derive(Debug, Clone)]
struct CapturedEvent {
    /// The index in `spans` of the span it happened in.
    span: Option<usize>,
    fields: Fields,
}

/// Where a span's captured record is, kept in the span's extensions.
#[derive(Debug, Clone, Copy)]
struct SpanIndex(usize);

/// The spans and events of this crate's runtime that one thread saw while it captured them
/// ([`Capture::during`]).
#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<CapturedSpan>>>,
    events: Arc<Mutex<Vec<CapturedEvent>>>,
}

thread_local! {
    /// The capture this thread records into, if any.
    static CAPTURING: RefCell<Option<Capture>> = const { RefCell::new(None) };
}

/// The test binary's global subscriber: hands each span and event to the capture of the thread
/// it happens on, and drops it when that thread captures nothing.
///
/// One global subscriber rather than one per test (`with_default`): `tracing` caches whether
/// a call site is enabled, and while a single subscriber is registered it asks only the thread
/// that reaches the call site first, which may be another test's thread without one; the call
/// site would then stay disabled for this test's subscriber too.
struct Router;

fn ours(target: &str) -> bool {
    target.starts_with("soft_delete_runtime")
}

fn capturing() -> Option<Capture> {
    CAPTURING.with(|c| c.borrow().clone())
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Router {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(capture) = capturing().filter(|_| ours(attrs.metadata().target())) else {
            return;
        };
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        let mut spans = capture.spans.lock().expect("not poisoned");
        spans.push(CapturedSpan {
            name: attrs.metadata().name(),
            fields,
        });
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanIndex(spans.len() - 1));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let (Some(capture), Some(span)) = (capturing(), ctx.span(id)) else {
            return;
        };
        let index = span.extensions().get::<SpanIndex>().copied();
        if let Some(SpanIndex(i)) = index {
            values.record(&mut capture.spans.lock().expect("not poisoned")[i].fields);
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let Some(capture) = capturing().filter(|_| ours(event.metadata().target())) else {
            return;
        };
        let mut fields = Fields::default();
        event.record(&mut fields);
        let span = ctx
            .event_span(event)
            .and_then(|span| span.extensions().get::<SpanIndex>().copied())
            .map(|SpanIndex(i)| i);
        capture
            .events
            .lock()
            .expect("not poisoned")
            .push(CapturedEvent { span, fields });
    }
}

impl Capture {
    /// Runs `f` on this thread, recording what it traces.
    fn during<T>(&self, f: impl FnOnce() -> T) -> T {
        static ROUTER: Once = Once::new();
        ROUTER.call_once(|| {
            tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Router))
                .expect("no other test of this binary sets a global subscriber");
        });
        CAPTURING.with(|c| *c.borrow_mut() = Some(self.clone()));
        let outcome = f();
        CAPTURING.with(|c| *c.borrow_mut() = None);
        outcome
    }

    /// The spans named `name`, in the order they were opened.
    fn spans(&self, name: &str) -> Vec<(usize, CapturedSpan)> {
        self.spans
            .lock()
            .expect("not poisoned")
            .iter()
            .enumerate()
            .filter(|(_, span)| span.name == name)
            .map(|(i, span)| (i, span.clone()))
            .collect()
    }

    /// The one span named `name`.
    fn span(&self, name: &str) -> (usize, CapturedSpan) {
        let mut found = self.spans(name);
        assert_eq!(found.len(), 1, "one `{name}` span: {:?}", self.spans);
        found.remove(0)
    }

    /// The events inside span `span` (by index) whose message is `message`.
    fn events_in(&self, span: usize, message: &str) -> Vec<Fields> {
        self.events
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|e| e.span == Some(span) && e.fields.get("message") == Some(message))
            .map(|e| e.fields.clone())
            .collect()
    }
}

/// What the spans of a `start`, a `retry` and an archive of the user (with one post) say.
fn assert_archive_and_retry_spans(capture: &Capture, user: &TracedUser, batch_id: i64) {
    for name in ["start", "retry"] {
        let (_, span) = capture.span(name);
        assert_eq!(span.fields.get("table"), Some("traced_users"), "{span:?}");
        assert_eq!(
            span.fields.get("key"),
            Some("one_live_traced_email"),
            "{span:?}"
        );
        assert_eq!(span.fields.get("attempts"), Some("1"), "{span:?}");
    }
    let (archive, span) = capture.span("archive");
    assert_eq!(span.fields.get("table"), Some("traced_users"), "{span:?}");
    assert_eq!(
        span.fields.get("batch_id"),
        Some(batch_id.to_string().as_str()),
        "{span:?}"
    );
    assert_eq!(
        span.fields.get("rows"),
        Some("2"),
        "the user and the post: {span:?}"
    );
    let steps = capture.events_in(archive, "step");
    assert_eq!(steps.len(), 1, "{steps:?}");
    let step = &steps[0];
    assert_eq!(
        (
            step.get("parent"),
            step.get("table"),
            step.get("column"),
            step.get("rule"),
            step.get("rows")
        ),
        (
            Some("traced_users"),
            Some("traced_posts"),
            Some("user_id"),
            Some("cascade"),
            Some("1")
        ),
        "{step:?}"
    );
    assert!(user.id > 0);
}

/// The span of a `retry` that lost `n - 1` attempts to a lock before it won: `attempts` is
/// `n`, and each lost attempt is an event in it, numbered.
fn assert_lost_attempts_are_events(capture: &Capture) {
    let (retry, span) = capture.span("retry");
    let attempts: u32 = span
        .fields
        .get("attempts")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("attempts recorded: {span:?}"));
    assert!(
        (2..ATTEMPTS).contains(&attempts),
        "lost at least once, then won: {span:?}"
    );
    let lost = capture.events_in(retry, "attempt rolled back: contention");
    let numbers: Vec<u32> = lost
        .iter()
        .map(|e| {
            e.get("attempt")
                .and_then(|n| n.parse().ok())
                .expect("numbered")
        })
        .collect();
    assert_eq!(numbers, (1..attempts).collect::<Vec<_>>(), "{lost:?}");
    assert!(lost.iter().all(|e| e.get("error").is_some()), "{lost:?}");
}

/// Another connection of the test's database holding the user's row (SQLite: the write lock),
/// released by a thread after a moment; the waiting side gives up on a lock at once, so its
/// `retry` loses attempts until then.
fn hold_then_release<C: TestConnection>(
    db: &mut TestDb<C>,
    user: i32,
) -> std::thread::JoinHandle<()> {
    let mut holder = db.connect();
    match C::BACKEND {
        Backend::Sqlite => holder.batch_execute("BEGIN IMMEDIATE"),
        Backend::Postgres | Backend::Mysql => soft_delete_runtime::guard::allow(|| {
            holder.batch_execute(&format!(
                "BEGIN; SELECT id FROM traced_users WHERE id = {user} FOR UPDATE"
            ))
        }),
    }
    .expect("the holder takes the lock");
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        holder
            .batch_execute("ROLLBACK")
            .expect("the holder lets go");
    })
}

/// What makes a waiting connection give up on a lock at once (SQLite does, without a busy
/// timeout).
fn no_lock_waits(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "SELECT 1",
        Backend::Postgres => "SET lock_timeout = '5ms'",
        // MariaDB fails at once with 0 (MySQL's shortest wait is a second).
        Backend::Mysql => "SET SESSION innodb_lock_wait_timeout = 0",
    }
}

backend_tests! {
    fn an_archive_and_a_retry_are_spans_with_their_fields(db) {
        create(db);
        let capture = Capture::default();
        let conn = db.conn();
        let (user, archived) = capture.during(|| -> Result<_, soft_delete_runtime::Error> {
            TracedUser::start(conn, EMAIL.to_owned(), new_user)?;
            let user = TracedUser::retry(conn, EMAIL.to_owned(), |_, n| new_user(n))?;
            diesel::insert_into(traced_posts::table).values(traced_posts::user_id.eq(user.id)).execute(conn)?;
            let archived = Collector::new(traced_users::table.filter(traced_users::id.eq(user.id))).archive(conn)?;
            Ok((user, archived))
        })?;
        assert_archive_and_retry_spans(&capture, &user, archived.batch().id());
        Ok(())
    }

    #[cfg(feature = "async")]
    fn an_async_archive_and_retry_are_the_same_spans(db) {
        use soft_delete_runtime::asynchronous::*;
        create(db);
        let mut on_async = soft_delete_tests::exec::OnAsync::<Conn>::open(db);
        let (runtime, conn) = on_async.parts();
        let capture = Capture::default();
        let (user, batch_id) = capture.during(|| {
            runtime.block_on(async {
                TracedUser::start_async(conn, EMAIL.to_owned(), new_user).await?;
                let user = TracedUser::retry_async(conn, EMAIL.to_owned(), |_, n| new_user(n)).await?;
                diesel_async::RunQueryDsl::execute(
                    diesel::insert_into(traced_posts::table).values(traced_posts::user_id.eq(user.id)),
                    conn,
                )
                .await?;
                let archived = Collector::new(traced_users::table.filter(traced_users::id.eq(user.id)))
                    .archive_async(conn)
                    .await?;
                Ok::<_, soft_delete_runtime::Error>((user, archived.batch().id()))
            })
        })?;
        assert_archive_and_retry_spans(&capture, &user, batch_id);
        Ok(())
    }

    fn a_purge_is_a_span_and_each_batch_an_event(db, x) {
        create(db);
        let conn = db.conn();
        let user = TracedUser::start(conn, EMAIL.to_owned(), new_user)?;
        diesel::insert_into(traced_posts::table).values(traced_posts::user_id.eq(user.id)).execute(conn)?;
        Collector::new(&user).archive(conn)?;
        let mut purge = Purge::before(traced_users::table, soft_delete_runtime::Timestamp::now() + std::time::Duration::from_secs(1));
        let capture = Capture::default();
        let report = capture.during(|| x.purge(conn, &mut purge))?;
        assert_eq!(report.deleted(), 2);
        let (purge, span) = capture.span("purge");
        assert_eq!(
            (span.fields.get("table"), span.fields.get("rows"), span.fields.get("batches")),
            (Some("traced_users"), Some("2"), Some("2")),
            "{span:?}"
        );
        // table, rows, batch number
        let batches: Vec<String> = capture
            .events_in(purge, "purge batch")
            .iter()
            .map(|e| ["table", "rows", "batch"].map(|f| e.get(f).unwrap_or("?")).join(" "))
            .collect();
        assert_eq!(batches, ["traced_posts 1 1", "traced_users 1 2"]);
        Ok(())
    }

    fn every_attempt_a_retry_loses_is_an_event(db) {
        create(db);
        let user = TracedUser::start(db.conn(), EMAIL.to_owned(), new_user)?;
        let waiter = &mut db.connect();
        waiter.batch_execute(no_lock_waits(db.backend()))?;
        let holder = hold_then_release(db, user.id);
        let capture = Capture::default();
        let retried = capture.during(|| TracedUser::retry(waiter, EMAIL.to_owned(), |_, n| new_user(n)));
        holder.join().expect("the holder's thread ends");
        assert_eq!(retried?.retry, 1);
        assert_lost_attempts_are_events(&capture);
        Ok(())
    }

    #[cfg(feature = "async")]
    fn every_attempt_an_async_retry_loses_is_an_event(db) {
        use soft_delete_runtime::asynchronous::*;
        create(db);
        let user = TracedUser::start(db.conn(), EMAIL.to_owned(), new_user)?;
        let mut on_async = soft_delete_tests::exec::OnAsync::<Conn>::open(db);
        let (runtime, conn) = on_async.parts();
        runtime.block_on(diesel_async::SimpleAsyncConnection::batch_execute(conn, no_lock_waits(db.backend())))?;
        let holder = hold_then_release(db, user.id);
        let capture = Capture::default();
        let retried = capture.during(|| {
            runtime.block_on(TracedUser::retry_async(conn, EMAIL.to_owned(), |_, n| new_user(n)))
        });
        holder.join().expect("the holder's thread ends");
        assert_eq!(retried?.retry, 1);
        assert_lost_attempts_are_events(&capture);
        Ok(())
    }
}
