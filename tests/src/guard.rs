//! The visibility guard on every test connection, in panic mode.
//!
//! The test binary links the models of every test, and several tests name different tables
//! alike (a plain `tags` here, a soft-deletable `tags` there), so the registry alone would
//! report the plain table's reads. Each test's connections share what that test's database
//! holds: the harness reads the `CREATE TABLE`, `ALTER TABLE` and `DROP TABLE` statements they
//! run, and the guard checks the registered tables whose table and marker column exist there.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use soft_delete_runtime::backend::Dialect;
use soft_delete_runtime::guard::{self, Checker, Guard, Mode};
use sqlparser::dialect::{Dialect as SqlDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::tokenizer::{Token, Tokenizer};

/// The tables one test's database holds: lowercase name to the lowercase words of their
/// definitions (which include the column names).
#[derive(Debug, Default)]
pub struct Schema {
    tables: HashMap<String, HashSet<String>>,
    version: u64,
}

/// A [`Schema`] shared by the connections of one test.
pub type SharedSchema = Arc<Mutex<Schema>>;

impl Schema {
    /// Reads the table DDL in `sql`, if any.
    fn observe(&mut self, sql: &str, dialect: Dialect) {
        let upper = sql.to_ascii_uppercase();
        if !upper.contains("TABLE") {
            return;
        }
        let Ok(tokens) = Tokenizer::new(parser_dialect(dialect), sql).tokenize() else {
            return;
        };
        for piece in tokens.split(|token| *token == Token::SemiColon) {
            // Words, lowercased, with `a.b` kept as one word.
            let mut words: Vec<String> = Vec::new();
            let mut join = false;
            for token in piece {
                match token {
                    Token::Word(word) => {
                        let value = word.value.to_lowercase();
                        match words.last_mut() {
                            Some(last) if join => {
                                last.push('.');
                                last.push_str(&value);
                            }
                            _ => words.push(value),
                        }
                        join = false;
                    }
                    Token::Period => join = true,
                    Token::Whitespace(_) => {}
                    _ => join = false,
                }
            }
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            self.statement(&words);
        }
    }

    /// One statement's words: `CREATE [TEMPORARY] TABLE [IF NOT EXISTS] [schema.]name ...`,
    /// `ALTER TABLE name ...` or `DROP TABLE [IF EXISTS] a, b`.
    fn statement(&mut self, words: &[&str]) {
        match words {
            ["create", rest @ ..] => {
                let rest = skip(rest, &["temporary", "temp"]);
                if rest.first() != Some(&"table") {
                    return;
                }
                let rest = skip(&rest[1..], &["if", "not", "exists"]);
                if let Some(name) = rest.first() {
                    let definition = rest.iter().map(|w| (*w).to_owned()).collect();
                    self.tables.insert(unqualified(name), definition);
                    self.version += 1;
                }
            }
            ["alter", "table", name, rest @ ..] => {
                if let Some(definition) = self.tables.get_mut(&unqualified(name)) {
                    definition.extend(rest.iter().map(|w| (*w).to_owned()));
                    self.version += 1;
                }
            }
            ["drop", "table", rest @ ..] => {
                for name in skip(rest, &["if", "exists"]) {
                    if self.tables.remove(&unqualified(name)).is_some() {
                        self.version += 1;
                    }
                }
            }
            _ => {}
        }
    }

    /// The checker over the registered tables this database holds.
    fn checker(&self) -> Checker {
        Checker::new(
            guard::registered()
                .iter()
                .filter(|table| {
                    self.tables
                        .get(&table.table.name.to_lowercase())
                        .is_some_and(|definition| {
                            table
                                .markers
                                .iter()
                                .all(|marker| definition.contains(&marker.name.to_lowercase()))
                        })
                })
                .cloned(),
        )
    }
}

/// `words` without the leading ones in `noise`.
fn skip<'w>(mut words: &'w [&'w str], noise: &[&str]) -> &'w [&'w str] {
    while words.first().is_some_and(|w| noise.contains(w)) {
        words = &words[1..];
    }
    words
}

/// `schema.name` without its schema.
fn unqualified(name: &str) -> String {
    name.rsplit('.').next().unwrap_or(name).to_owned()
}

fn parser_dialect(dialect: Dialect) -> &'static dyn SqlDialect {
    match dialect {
        Dialect::Sqlite => &SQLiteDialect {},
        Dialect::Postgres => &PostgreSqlDialect {},
        Dialect::Mysql => &MySqlDialect {},
    }
}

/// What a [`TestGuard`] records on request ([`TestGuard::record`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// The SQL of every statement the connection runs
    /// ([`record_statements`](crate::record_statements)).
    Statements,
    /// The SQL of every statement the connection prepares and adds to its statement cache
    /// ([`record_cached_statements`](crate::record_cached_statements)).
    Cached,
}

/// The instrumentation of a test connection: the schema tracker, the guard in panic mode, and
/// an optional recorder of statements ([`record_statements`](crate::record_statements)).
pub struct TestGuard {
    dialect: Dialect,
    schema: SharedSchema,
    guard: Guard,
    built_for: u64,
    recorder: Option<Arc<Mutex<Vec<String>>>>,
    /// Records the SQL of every statement the connection adds to its prepared statement cache
    /// ([`record_cached_statements`](crate::record_cached_statements)).
    cached: Option<Arc<Mutex<Vec<String>>>>,
}

impl TestGuard {
    /// A guard for a connection of `dialect` to the database `schema` describes.
    pub fn new(dialect: Dialect, schema: SharedSchema) -> TestGuard {
        TestGuard {
            dialect,
            schema,
            guard: Guard::with_checker(dialect, Mode::Panic, Checker::new([])),
            built_for: 0,
            recorder: None,
            cached: None,
        }
    }

    /// Records `what` from now on, in the list returned (replacing any earlier list of it).
    pub fn record(&mut self, what: Record) -> Arc<Mutex<Vec<String>>> {
        let list = Arc::new(Mutex::new(Vec::new()));
        let slot = match what {
            Record::Statements => &mut self.recorder,
            Record::Cached => &mut self.cached,
        };
        *slot = Some(Arc::clone(&list));
        list
    }
}

impl Instrumentation for TestGuard {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        let query = match event {
            InstrumentationEvent::StartQuery { query, .. } => query,
            InstrumentationEvent::CacheQuery { sql, .. } => {
                if let Some(cached) = &self.cached {
                    let mut cached = cached.lock().unwrap_or_else(|e| e.into_inner());
                    cached.push(sql.to_owned());
                }
                return;
            }
            _ => return,
        };
        // A query Diesel cannot build (an update that sets nothing) is not sent: Diesel says so.
        let mut text = String::new();
        if write!(text, "{query}").is_err() {
            return;
        }
        {
            let mut schema = self.schema.lock().unwrap_or_else(|e| e.into_inner());
            schema.observe(&text, self.dialect);
            if schema.version != self.built_for {
                self.guard = Guard::with_checker(self.dialect, Mode::Panic, schema.checker());
                self.built_for = schema.version;
            }
        }
        if let Some(recorder) = &self.recorder {
            recorder
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(text.clone());
        }
        self.guard.inspect(&text);
    }
}
