//! SQLite's own statement trace (`sqlite3_trace_v2`, `SQLITE_TRACE_STMT`): the text of each
//! statement a connection runs, as SQLite stored it when it prepared the statement.
//!
//! Diesel hands an instrumentation a statement only as a `Display` that renders the whole
//! query again at every execution, work SQLite's prepared-statement cache otherwise skips; on
//! an in-memory database that rendering costs as much as the query. SQLite keeps the text of
//! every prepared statement and passes it to a trace callback when the statement starts
//! running, so a guard that has its connection's [`Slot`] checks that text instead.
//!
//! A guard learns its connection's slot the only way a Diesel connection allows: when the
//! connection is opened. [`trace_new_connections`] registers an automatic extension, which
//! SQLite runs inside `sqlite3_open_v2` on every connection opened afterwards in the process;
//! it gives the connection a slot and leaves it in a thread local, from which a guard made by
//! `install_default` takes it at `FinishEstablishConnection` (Diesel opens the connection on
//! the thread that reports the events, between `StartEstablishConnection` and that event).
//! A connection no guard takes pays one flag read per statement.
//!
//! The callbacks run inside SQLite, so they never unwind: they record, and the guard reacts
//! (panics, logs) when Diesel reports the statement finished.
#![allow(unsafe_code)]

use std::cell::RefCell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};

use libsqlite3_sys as ffi;

/// What one connection's trace recorded since its guard armed it.
///
/// The connection's statements, its trace callbacks and its guard's events all run on the
/// thread that runs the connection at that moment, one at a time; the lock only makes that
/// safe to rely on, and is never contended.
#[derive(Debug, Default)]
pub(super) struct Slot {
    /// Whether a guard is waiting for the current statement's text.
    armed: AtomicBool,
    state: Mutex<Recorded>,
}

/// The text buffers a slot keeps between statements.
const KEPT_BUFFERS: usize = 8;

#[derive(Debug, Default)]
struct Recorded {
    /// A statement whose text could not be recorded (not UTF-8): the guard renders it.
    lost: bool,
    /// The texts recorded (the first `count` of `texts`, whose buffers are reused).
    count: usize,
    texts: Vec<String>,
}

impl Slot {
    fn state(&self) -> MutexGuard<'_, Recorded> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts recording: the guard's `StartQuery` (what an earlier statement recorded was
    /// cleared when it finished).
    pub(super) fn arm(&self) {
        self.armed.store(true, Ordering::Relaxed);
    }

    /// Stops recording and hands the texts recorded since [`arm`](Self::arm) to `check`:
    /// `None` when there is none to trust (the statement never ran, or a text was lost), and
    /// the guard must render the statement itself.
    pub(super) fn finish<R>(&self, check: impl FnOnce(Option<&[String]>) -> R) -> R {
        self.armed.store(false, Ordering::Relaxed);
        let mut state = self.state();
        let (count, lost) = (state.count, state.lost);
        state.count = 0;
        state.lost = false;
        if lost || count == 0 {
            drop(state);
            return check(None);
        }
        // Checked under the lock (nothing records while the guard reacts: the connection is
        // Diesel's until the event returns); a panic only poisons it, which `state` ignores.
        let result = check(Some(&state.texts[..count]));
        // A large batch (a migration) does not keep its buffers for the connection's life.
        state.texts.truncate(KEPT_BUFFERS);
        result
    }

    /// Records the text of a statement that starts running: the trace's `SQLITE_TRACE_STMT`.
    fn record(&self, text: &CStr) {
        if !self.armed.load(Ordering::Relaxed) {
            return;
        }
        let mut state = self.state();
        let Ok(text) = text.to_str() else {
            state.lost = true;
            return;
        };
        let count = state.count;
        // The same statement reported again (the trace of a trigger's program can carry its
        // statement's text); a batch's repeats are each recorded, and cost a cached lookup.
        if count > 0 && state.texts[count - 1] == text {
            return;
        }
        if let Some(buffer) = state.texts.get_mut(count) {
            buffer.clear();
            buffer.push_str(text);
        } else {
            state.texts.push(text.to_owned());
        }
        state.count += 1;
    }
}

thread_local! {
    /// The slot of the connection this thread opened last, until a guard takes it.
    static OPENED: RefCell<Option<Arc<Slot>>> = const { RefCell::new(None) };
}

/// Forgets the slot of a connection opened earlier on this thread: the guard's
/// `StartEstablishConnection`, so that the slot it takes next is its own connection's.
pub(super) fn forget_opened() {
    let _ = OPENED.try_with(|opened| opened.borrow_mut().take());
}

/// The slot of the connection this thread opened since [`forget_opened`], if it is traced.
pub(super) fn take_opened() -> Option<Arc<Slot>> {
    OPENED
        .try_with(|opened| opened.borrow_mut().take())
        .ok()
        .flatten()
}

/// Makes SQLite trace every connection opened from now on in this process (once; later
/// calls do nothing).
pub(super) fn trace_new_connections() {
    static REGISTER: Once = Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `on_open` has the signature SQLite calls an automatic extension with, and
        // stays valid for the life of the process.
        unsafe { ffi::sqlite3_auto_extension(Some(on_open)) };
    });
}

/// The automatic extension: gives the connection being opened a slot and its trace.
unsafe extern "C" fn on_open(
    db: *mut ffi::sqlite3,
    _error: *mut *mut c_char,
    _api: *const ffi::sqlite3_api_routines,
) -> c_int {
    let _ = std::panic::catch_unwind(|| {
        let slot = Arc::new(Slot::default());
        // The trace owns one reference, given back when the connection closes (`on_trace`).
        let context = Arc::into_raw(Arc::clone(&slot)).cast_mut().cast::<c_void>();
        let mask = ffi::SQLITE_TRACE_STMT | ffi::SQLITE_TRACE_CLOSE;
        // SAFETY: `db` is the connection SQLite is opening; `on_trace` matches the callback's
        // signature and reads `context` only as the `Slot` it is.
        let traced = unsafe { ffi::sqlite3_trace_v2(db, mask, Some(on_trace), context) };
        if traced == ffi::SQLITE_OK {
            let _ = OPENED.try_with(|opened| opened.replace(Some(slot)));
        } else {
            // SAFETY: the trace was not installed, so this is the only use of the reference.
            drop(unsafe { Arc::from_raw(context.cast::<Slot>().cast_const()) });
        }
    });
    // The connection opens whatever happened here: the guard renders what it was not given.
    ffi::SQLITE_OK
}

/// The trace callback: records a statement's text, or releases the slot when the connection
/// closes.
unsafe extern "C" fn on_trace(
    event: c_uint,
    context: *mut c_void,
    p: *mut c_void,
    x: *mut c_void,
) -> c_int {
    let _ = std::panic::catch_unwind(|| match event {
        ffi::SQLITE_TRACE_STMT => {
            // SAFETY: `context` is the `Slot` reference `on_open` gave the trace, alive until
            // the `SQLITE_TRACE_CLOSE` below.
            let slot = unsafe { &*context.cast::<Slot>().cast_const() };
            let statement = p.cast::<ffi::sqlite3_stmt>();
            // SAFETY: `p` is the statement starting to run; its text lives as long as it.
            let sql = unsafe { ffi::sqlite3_sql(statement) };
            // `x` is the statement's own text, or a comment naming a trigger whose program
            // starts (part of the statement already recorded).
            if !sql.is_null() && sql.cast::<c_void>() == x.cast_const().cast_mut() {
                // SAFETY: a NUL-terminated string SQLite owns, alive during this call.
                slot.record(unsafe { CStr::from_ptr(sql) });
            }
        }
        ffi::SQLITE_TRACE_CLOSE => {
            let db = p.cast::<ffi::sqlite3>();
            // SAFETY: `p` is the connection closing; uninstalling its trace first means no
            // callback can use `context` after it is released, even if the close fails.
            unsafe { ffi::sqlite3_trace_v2(db, 0, None, std::ptr::null_mut()) };
            // SAFETY: the trace's own reference, from `Arc::into_raw` in `on_open`.
            drop(unsafe { Arc::from_raw(context.cast::<Slot>().cast_const()) });
        }
        _ => {}
    });
    0
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::prelude::*;

    use super::*;

    fn traced_connection() -> (SqliteConnection, Arc<Slot>) {
        trace_new_connections();
        forget_opened();
        let conn = SqliteConnection::establish(":memory:").unwrap();
        let slot = take_opened().expect("the connection opened is traced");
        (conn, slot)
    }

    fn texts(slot: &Slot) -> Option<Vec<String>> {
        slot.finish(|texts| texts.map(<[String]>::to_vec))
    }

    #[test]
    fn an_armed_slot_records_each_statement_as_sqlite_prepared_it() {
        let (mut conn, slot) = traced_connection();
        conn.batch_execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .unwrap();
        // Not armed: nothing is kept.
        assert_eq!(texts(&slot), None);
        slot.arm();
        conn.batch_execute("SELECT id FROM t; SELECT  1;SELECT id FROM t;")
            .unwrap();
        // Each statement of a batch as written, its semicolon included.
        assert_eq!(
            texts(&slot),
            Some(vec![
                "SELECT id FROM t;".to_owned(),
                "SELECT  1;".to_owned(),
                "SELECT id FROM t;".to_owned()
            ])
        );
        // A batch of many statements is recorded whole; its buffers are not all kept.
        let batch: String = (0..50).map(|i| format!("SELECT {i};")).collect();
        slot.arm();
        conn.batch_execute(&batch).unwrap();
        assert_eq!(texts(&slot).map(|texts| texts.len()), Some(50));
        assert_eq!(slot.state().texts.len(), KEPT_BUFFERS);
        // A statement that does not run leaves nothing to trust.
        slot.arm();
        assert_eq!(texts(&slot), None);
    }

    #[test]
    fn a_trigger_program_is_part_of_its_statement() {
        let (mut conn, slot) = traced_connection();
        conn.batch_execute(
            "CREATE TABLE t (id INTEGER PRIMARY KEY); CREATE TABLE log (id INTEGER);
             CREATE TRIGGER t_log AFTER INSERT ON t BEGIN INSERT INTO log VALUES (new.id); END;",
        )
        .unwrap();
        slot.arm();
        conn.batch_execute("INSERT INTO t VALUES (1)").unwrap();
        assert_eq!(
            texts(&slot),
            Some(vec!["INSERT INTO t VALUES (1)".to_owned()])
        );
    }

    #[test]
    fn closing_the_connection_releases_its_slot() {
        let (conn, slot) = traced_connection();
        assert_eq!(Arc::strong_count(&slot), 2, "the trace holds one reference");
        drop(conn);
        assert_eq!(Arc::strong_count(&slot), 1);
    }

    #[test]
    fn a_connection_opened_before_forget_is_not_taken() {
        let (_conn, _slot) = traced_connection();
        let _other = SqliteConnection::establish(":memory:").unwrap();
        forget_opened();
        assert!(take_opened().is_none());
    }
}
