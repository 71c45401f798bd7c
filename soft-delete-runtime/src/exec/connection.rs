//! [`SqlConnection`]: what a connection must run for the statements of [`crate::sql`], in
//! either mode.

use std::future::Future;

use diesel::QueryResult;

use super::{BackendOf, Execute, Executor, Load};
use crate::sql::rows::{
    ClashRow, ClashSql, ForeignKeyRow, ForeignKeySql, IndexRow, IndexSql, IntegerRow, IntegerSql,
    KeyRow, KeySql, LogRow, LogSql, NameRow, NameSql, Row, TextRow, TextSql,
};
use crate::sql::{NoRoots, Sql, SupportedBackend, Typed};

/// A connection in mode `Mo` that runs this crate's `Sql` statements over roots `R` and
/// loads every row shape they return.
///
/// Implemented for every [`Executor`] that can (Diesel's connections in
/// [`Blocking`](crate::exec::Blocking) mode, diesel-async's in
/// [`NonBlocking`](crate::exec::NonBlocking) mode); never implemented by hand. The row shapes
/// are a closed list so that code generic over the connection names one bound, not one per
/// statement.
pub trait SqlConnection<Mo, R = NoRoots>:
    Executor<Mo, Backend: SupportedBackend>
    + Execute<Mo, Sql<BackendOf<Mo, Self>, R>>
    + Load<Mo, Typed<BackendOf<Mo, Self>, KeySql, R>, KeyRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, NameSql, R>, NameRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, ClashSql, R>, ClashRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, LogSql, R>, LogRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, ForeignKeySql, R>, ForeignKeyRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, IndexSql, R>, IndexRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, TextSql, R>, TextRow>
    + Load<Mo, Typed<BackendOf<Mo, Self>, IntegerSql, R>, IntegerRow>
{
    /// Runs `sql`; returns the rows it changed.
    fn run(
        &mut self,
        sql: Sql<BackendOf<Mo, Self>, R>,
    ) -> impl Future<Output = QueryResult<usize>> {
        self.execute(sql)
    }

    /// Runs `sql`, loading rows of shape `U` (one of the closed list above).
    fn rows<U: Row>(
        &mut self,
        sql: Sql<BackendOf<Mo, Self>, R>,
    ) -> impl Future<Output = QueryResult<Vec<U>>>
    where
        Self: Load<Mo, Typed<BackendOf<Mo, Self>, U::Sql, R>, U>,
    {
        Load::<Mo, Typed<BackendOf<Mo, Self>, U::Sql, R>, U>::load(self, sql.returning())
    }
}

impl<Mo, R, C> SqlConnection<Mo, R> for C where
    C: Executor<Mo, Backend: SupportedBackend>
        + Execute<Mo, Sql<BackendOf<Mo, Self>, R>>
        + Load<Mo, Typed<BackendOf<Mo, Self>, KeySql, R>, KeyRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, NameSql, R>, NameRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, ClashSql, R>, ClashRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, LogSql, R>, LogRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, ForeignKeySql, R>, ForeignKeyRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, IndexSql, R>, IndexRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, TextSql, R>, TextRow>
        + Load<Mo, Typed<BackendOf<Mo, Self>, IntegerSql, R>, IntegerRow>
{
}
