//! [`Sql`]: a statement built at run time from SQL text, bound values and the caller's roots.

use std::marker::PhantomData;
use std::sync::Arc;

use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{QueryResult, RunQueryDsl};

/// A bound value, boxed as the Diesel fragment that binds it. It owns its value, so a
/// statement holding it can be sent to another task.
pub(crate) type Bind<DB> = Box<dyn QueryFragment<DB> + Send>;

/// The roots of a statement that has none: its type parameter `R` when no part of it is a
/// query of the caller's.
#[derive(Debug, Clone, Copy)]
pub enum NoRoots {}

impl<DB: Backend> QueryFragment<DB> for NoRoots {
    fn walk_ast<'b>(&'b self, _: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        match *self {}
    }
}

enum Part<DB: Backend, R> {
    Text(String),
    Bind(Bind<DB>),
    Roots(Arc<R>),
}

/// A statement built from SQL text (identifiers quoted by
/// [`Dialect::quote`](crate::backend::Dialect::quote)), bound values (never spliced into the
/// text) and, where it reads them, the caller's roots `R` (a Diesel query with its own binds,
/// shared by every statement of an operation). Diesel walks the parts as one
/// [`QueryFragment`], so it numbers the placeholders.
///
/// It owns all it holds: an operation's statements go to diesel-async's connections by value,
/// and are `Send` when the roots are `Send + Sync`.
pub struct Sql<DB: Backend, R = NoRoots> {
    parts: Vec<Part<DB, R>>,
}

impl<DB: Backend, R> Default for Sql<DB, R> {
    fn default() -> Self {
        Sql { parts: Vec::new() }
    }
}

impl<DB: Backend, R> Sql<DB, R> {
    /// An empty statement.
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// A statement of SQL text alone.
    pub(crate) fn text(sql: &str) -> Self {
        let mut statement = Self::new();
        statement.push(sql);
        statement
    }

    /// Appends SQL text (identifiers in it must already be quoted).
    pub(crate) fn push(&mut self, sql: &str) -> &mut Self {
        match self.parts.last_mut() {
            Some(Part::Text(text)) => text.push_str(sql),
            _ => self.parts.push(Part::Text(sql.to_owned())),
        }
        self
    }

    /// Appends a bound value's placeholder.
    pub(crate) fn bind(&mut self, bind: Bind<DB>) -> &mut Self {
        self.parts.push(Part::Bind(bind));
        self
    }

    /// Appends the roots query (with its binds).
    pub(crate) fn roots(&mut self, roots: &Arc<R>) -> &mut Self {
        self.parts.push(Part::Roots(Arc::clone(roots)));
        self
    }

    /// Appends the parts of `other`.
    pub(crate) fn append(&mut self, other: Sql<DB, R>) -> &mut Self {
        for part in other.parts {
            match part {
                Part::Text(text) => {
                    self.push(&text);
                }
                part => self.parts.push(part),
            }
        }
        self
    }

    /// This statement, loading rows of SQL type `ST`.
    pub(crate) fn returning<ST>(self) -> Typed<DB, ST, R> {
        Typed {
            sql: self,
            _st: PhantomData,
        }
    }
}

impl<DB: Backend, R: QueryFragment<DB>> QueryFragment<DB> for Sql<DB, R> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_sql(text),
                Part::Bind(bind) => bind.walk_ast(out.reborrow())?,
                Part::Roots(roots) => roots.walk_ast(out.reborrow())?,
            }
        }
        Ok(())
    }
}

impl<DB: Backend, R> QueryId for Sql<DB, R> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, R, Conn> RunQueryDsl<Conn> for Sql<DB, R> {}

/// A [`Sql`] statement returning rows of SQL type `ST`, for loading.
pub struct Typed<DB: Backend, ST, R = NoRoots> {
    sql: Sql<DB, R>,
    _st: PhantomData<fn() -> ST>,
}

impl<DB: Backend, ST, R: QueryFragment<DB>> QueryFragment<DB> for Typed<DB, ST, R> {
    fn walk_ast<'b>(&'b self, out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.sql.walk_ast(out)
    }
}

impl<DB: Backend, ST, R> QueryId for Typed<DB, ST, R> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: Backend, ST: 'static, R> Query for Typed<DB, ST, R> {
    type SqlType = ST;
}

impl<DB: Backend, ST, R, Conn> RunQueryDsl<Conn> for Typed<DB, ST, R> {}
