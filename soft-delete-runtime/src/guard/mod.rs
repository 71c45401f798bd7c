//! The visibility guard: a query that forgets `.active()` cannot ship.
//!
//! Diesel has no default scope, and this crate keeps it that way: a scope is explicit. The
//! price is the bug every soft-delete library's users report first, one query that forgets the
//! filter and shows deleted rows. The guard checks every statement instead:
//!
//! - [`registered`]: each `#[derive(SoftDelete)]` registers its table (name, schema, marker,
//!   strategy) at link time; there is no set-up call to forget.
//! - [`check()`]: parses one SQL text in its dialect and returns each read of a registered table
//!   that does not state its visibility (see [`check`](mod@check) for the rules): its live or
//!   deleted predicate, or the `.with_deleted()` trace.
//! - [`Guard`]: a Diesel `Instrumentation` that checks every statement a connection runs (once
//!   per distinct text) and, by [`Mode`], panics (tests), logs through `tracing` (production,
//!   feature `tracing`) or counts (metrics). [`install_default`] puts it on every new
//!   connection.
//! - [`allow`], [`Allow`], [`allow_async`]: the explicit allow for the rare raw read of every
//!   row.
//!
//! The guard is independent of the connection type: it sees statements as text, so a
//! diesel-async connection takes it through the same `set_instrumentation`.
#![doc = include_str!("../docs/guard.md")]

mod allow;
pub mod check;
mod instrument;
mod registry;
#[cfg(sqlite_trace)]
mod sqlite_trace;
mod text;
mod visibility;

pub use allow::{allow, allow_async, Allow, AllowFuture};
pub use check::{check, Checker, Leak, LeakKind, Unreadable};
pub use instrument::{install_default, Counts, Guard, Mode};
pub use registry::{registered, Registration, TableInfo};
