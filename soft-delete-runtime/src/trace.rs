//! What the operations tell [`tracing`](https://docs.rs/tracing) (feature `tracing`).
//!
//! Each operation's shared body (written once for both executors, see [`crate::exec`]) opens
//! its span with `#[cfg_attr(feature = "tracing", tracing::instrument(...))]`, and records
//! what it learns on the way with [`record!`]; [`event!`] emits an event inside it. Without
//! the feature both expand to nothing: no field is computed and no call is made.

/// Records fields of the current span (the operation's): `trace::record!(rows = n, batch_id =
/// id)`. Nothing without the feature `tracing`, where the values are not evaluated.
macro_rules! record {
    ($($field:ident = $value:expr),+ $(,)?) => {
        #[cfg(feature = "tracing")]
        {
            let span = ::tracing::Span::current();
            $(span.record(stringify!($field), $value);)+
        }
    };
}

/// Emits an event at `level` (`debug`, `info`, ...) inside the current span, with
/// [`tracing`'s macro syntax](https://docs.rs/tracing/latest/tracing/index.html#using-the-macros).
/// Nothing without the feature `tracing`.
macro_rules! event {
    ($level:ident, $($arg:tt)+) => {
        #[cfg(feature = "tracing")]
        ::tracing::$level!($($arg)+);
    };
}

pub(crate) use {event, record};
