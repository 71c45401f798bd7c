//! [`NonBlocking`] mode: diesel-async's connections and their pooled connections.

use std::future::Future;
use std::time::Duration;

use diesel::QueryResult;
use diesel_async::{AsyncConnection, TransactionManager};

use super::blocking::in_transaction;
use super::{Begin, Execute, Executor, Load, NonBlocking};
use crate::backend::SupportedBackend;

/// A diesel-async connection this crate runs on, reached through what the caller holds: the
/// connection itself, or a pooled connection that derefs to it.
///
/// Implemented for `AsyncPgConnection`, `AsyncMysqlConnection` and
/// `SyncConnectionWrapper<SqliteConnection>` (per backend feature), and for the connections of
/// diesel-async's deadpool (`Object<C>`, feature `deadpool`) and bb8 (`PooledConnection<'_, C>`,
/// feature `bb8`) pools over them.
pub trait AsyncTarget: Send {
    /// The connection underneath.
    type Target: AsyncConnection<Backend: SupportedBackend> + Send;

    /// The connection underneath.
    fn target(&mut self) -> &mut Self::Target;

    /// Begins a transaction with the statement `sql` (the connection is in none).
    fn begin_with(
        target: &mut Self::Target,
        sql: &'static str,
    ) -> impl Future<Output = QueryResult<()>> + Send;
}

macro_rules! ansi_target {
    ($feature:literal, $conn:ty) => {
        #[cfg(feature = $feature)]
        impl AsyncTarget for $conn {
            type Target = Self;

            fn target(&mut self) -> &mut Self {
                self
            }

            fn begin_with(
                target: &mut Self,
                sql: &'static str,
            ) -> impl Future<Output = QueryResult<()>> + Send {
                diesel_async::AnsiTransactionManager::begin_transaction_sql(target, sql)
            }
        }
    };
}

ansi_target!("postgres", diesel_async::AsyncPgConnection);
ansi_target!("mysql", diesel_async::AsyncMysqlConnection);

#[cfg(feature = "sqlite")]
impl AsyncTarget
    for diesel_async::sync_connection_wrapper::SyncConnectionWrapper<diesel::SqliteConnection>
{
    type Target = Self;

    fn target(&mut self) -> &mut Self {
        self
    }

    fn begin_with(
        target: &mut Self,
        sql: &'static str,
    ) -> impl Future<Output = QueryResult<()>> + Send {
        // The wrapper's transaction manager keeps its state in the inner connection's: begin
        // there, on the blocking pool the wrapper runs every statement on.
        target.spawn_blocking(move |conn| {
            diesel::connection::AnsiTransactionManager::begin_transaction_sql(conn, sql)
        })
    }
}

/// A pool's connection over a diesel-async connection `C`: the connection it derefs to.
macro_rules! pooled_target {
    ($feature:literal, $pooled:ty, $manager_bound:path) => {
        #[cfg(feature = $feature)]
        impl<C> AsyncTarget for $pooled
        where
            C: AsyncTarget<Target = C>
                + diesel_async::pooled_connection::PoolableConnection
                + 'static,
            C: AsyncConnection<Backend: SupportedBackend>,
            diesel_async::pooled_connection::AsyncDieselConnectionManager<C>: $manager_bound,
        {
            type Target = C;

            fn target(&mut self) -> &mut C {
                self
            }

            fn begin_with(
                target: &mut C,
                sql: &'static str,
            ) -> impl Future<Output = QueryResult<()>> + Send {
                C::begin_with(target, sql)
            }
        }
    };
}

pooled_target!(
    "deadpool",
    deadpool::managed::Object<diesel_async::pooled_connection::AsyncDieselConnectionManager<C>>,
    deadpool::managed::Manager<Type = C>
);
pooled_target!(
    "bb8",
    bb8::PooledConnection<'_, diesel_async::pooled_connection::AsyncDieselConnectionManager<C>>,
    bb8::ManageConnection<Connection = C>
);

type Manager<C> = <<C as AsyncTarget>::Target as AsyncConnection>::TransactionManager;

impl<C: AsyncTarget> Executor<NonBlocking> for C {
    type Backend = <C::Target as diesel_async::AsyncConnectionCore>::Backend;

    const ABANDONABLE: bool = true;

    async fn begin(&mut self, begin: Begin) -> QueryResult<()> {
        let sql = begin
            .sql::<Self::Backend>()
            .filter(|_| !Executor::<NonBlocking>::in_transaction(self));
        let target = self.target();
        match sql {
            Some(sql) => C::begin_with(target, sql).await,
            None => Manager::<C>::begin_transaction(target).await,
        }
    }

    fn commit(&mut self) -> impl Future<Output = QueryResult<()>> {
        Manager::<C>::commit_transaction(self.target())
    }

    fn rollback(&mut self) -> impl Future<Output = QueryResult<()>> {
        Manager::<C>::rollback_transaction(self.target())
    }

    fn in_transaction(&mut self) -> bool {
        Manager::<C>::is_broken_transaction_manager(self.target())
            || in_transaction(Manager::<C>::transaction_manager_status_mut(self.target()))
    }

    fn is_broken(&mut self) -> bool {
        // Not `is_broken_transaction_manager`, which is also true inside a transaction.
        Manager::<C>::transaction_manager_status_mut(self.target())
            .transaction_depth()
            .is_err()
    }

    fn mark_broken(&mut self) {
        Manager::<C>::transaction_manager_status_mut(self.target()).set_in_error();
    }

    fn batch_execute<'a>(&'a mut self, sql: &'a str) -> impl Future<Output = QueryResult<()>> + 'a {
        diesel_async::SimpleAsyncConnection::batch_execute(self.target(), sql)
    }

    fn pause(&mut self, duration: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(duration)
    }
}

impl<C, Q> Execute<NonBlocking, Q> for C
where
    C: AsyncTarget,
    Q: 'static,
    Q: diesel_async::methods::ExecuteDsl<C::Target>,
{
    fn execute(&mut self, query: Q) -> impl Future<Output = QueryResult<usize>> {
        diesel_async::RunQueryDsl::execute(query, self.target())
    }
}

impl<C, Q, U> Load<NonBlocking, Q, U> for C
where
    C: AsyncTarget,
    Q: 'static,
    Q: for<'q> diesel_async::methods::LoadQuery<'q, C::Target, U>,
    U: Send + 'static,
{
    fn load(&mut self, query: Q) -> impl Future<Output = QueryResult<Vec<U>>> {
        diesel_async::RunQueryDsl::load(query, self.target())
    }
}
