//! [`Blocking`] mode: Diesel's sync connections. Every method runs its statement at once and
//! returns a ready future.

use std::future::{ready, Future, Ready};
use std::time::Duration;

use diesel::connection::{AnsiTransactionManager, Connection, LoadConnection, TransactionManager};
use diesel::query_dsl::methods::ExecuteDsl;
use diesel::query_dsl::LoadQuery;
use diesel::QueryResult;

use super::{Begin, Blocking, Execute, Executor, Load};
use crate::backend::SupportedBackend;

/// A Diesel connection whose transactions Diesel's [`AnsiTransactionManager`] manages: the
/// connections the sync API runs on in [`Blocking`] mode.
///
/// Implemented for Diesel's `SqliteConnection`, `PgConnection` and `MysqlConnection` (per
/// backend feature). A connection type of your own with that transaction manager (a
/// `#[derive(MultiConnection)]` enum, a wrapper) opts in with an empty impl. For an r2d2
/// pooled connection pass the connection inside it: `&mut *pooled`.
pub trait AnsiConnection: Connection<TransactionManager = AnsiTransactionManager> {}

#[cfg(feature = "sqlite")]
impl AnsiConnection for diesel::SqliteConnection {}
#[cfg(feature = "postgres")]
impl AnsiConnection for diesel::PgConnection {}
#[cfg(feature = "mysql")]
impl AnsiConnection for diesel::MysqlConnection {}

impl<C> Executor<Blocking> for C
where
    C: AnsiConnection,
    C::Backend: SupportedBackend,
{
    type Backend = C::Backend;

    const ABANDONABLE: bool = false;

    fn begin(&mut self, begin: Begin) -> impl Future<Output = QueryResult<()>> {
        let sql = begin
            .sql::<C::Backend>()
            .filter(|_| !Executor::<Blocking>::in_transaction(self));
        ready(match sql {
            Some(sql) => AnsiTransactionManager::begin_transaction_sql(self, sql),
            None => AnsiTransactionManager::begin_transaction(self),
        })
    }

    fn commit(&mut self) -> impl Future<Output = QueryResult<()>> {
        ready(AnsiTransactionManager::commit_transaction(self))
    }

    fn rollback(&mut self) -> impl Future<Output = QueryResult<()>> {
        ready(AnsiTransactionManager::rollback_transaction(self))
    }

    fn in_transaction(&mut self) -> bool {
        in_transaction(AnsiTransactionManager::transaction_manager_status_mut(self))
    }

    fn is_broken(&mut self) -> bool {
        AnsiTransactionManager::transaction_manager_status_mut(self)
            .transaction_depth()
            .is_err()
    }

    fn mark_broken(&mut self) {
        AnsiTransactionManager::transaction_manager_status_mut(self).set_in_error();
    }

    fn batch_execute<'a>(&'a mut self, sql: &'a str) -> impl Future<Output = QueryResult<()>> + 'a {
        ready(diesel::connection::SimpleConnection::batch_execute(
            self, sql,
        ))
    }

    fn pause(&mut self, duration: Duration) -> impl Future<Output = ()> {
        std::thread::sleep(duration);
        ready(())
    }
}

impl<C, Q> Execute<Blocking, Q> for C
where
    C: Executor<Blocking> + Connection,
    Q: ExecuteDsl<C>,
{
    fn execute(&mut self, query: Q) -> impl Future<Output = QueryResult<usize>> {
        ready(ExecuteDsl::execute(query, self))
    }
}

// `'q` is any lifetime the query lives for (not `for<'q>`, which would ask `'static`): a sync
// caller's roots may borrow (`Collector::new(&model)`).
impl<'q, C, Q, U> Load<Blocking, Q, U> for C
where
    C: Executor<Blocking> + LoadConnection,
    Q: LoadQuery<'q, C, U>,
{
    // A named future type, not `impl Future`: that would capture `'q`, which only a
    // predicate constrains.
    #[allow(refining_impl_trait)]
    fn load(&mut self, query: Q) -> Ready<QueryResult<Vec<U>>> {
        ready(diesel::RunQueryDsl::load(query, self))
    }
}

/// Whether a transaction manager's status says a transaction is open (a broken one counts as
/// open: nothing may be begun on it).
pub(super) fn in_transaction(status: &mut diesel::connection::TransactionManagerStatus) -> bool {
    status
        .transaction_depth()
        .map_or(true, |depth| depth.is_some())
}
