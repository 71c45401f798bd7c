//! Shared benchmark support.
//!
//! Every benchmark measures the library and a hand-written Diesel/SQL baseline doing the same
//! work, as two functions of one criterion group in the same run, and then prints
//! [`ratio`]: baseline time / library time (throughput ratio; 1.0 = as fast as hand-written,
//! above 1.0 = faster). The machine is shared and noisy, so the ratio, not the absolute
//! time, is the result.
//!
//! The PostgreSQL benchmarks connect to `PG_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/test`) and work in a schema of their own.

pub mod latency;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use diesel::connection::{Instrumentation, InstrumentationEvent};
use diesel::{Connection, PgConnection};
use soft_delete_tests::TestConnection;

/// The PostgreSQL server benchmarks run against.
pub fn pg_url() -> String {
    std::env::var("PG_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A schema of its own on the benchmark server, dropped on drop; connections made through
/// [`BenchSchema::connect`] have it as their `search_path`. The same isolation the tests
/// use ([`TestConnection::create_isolated`]), under a fixed name.
pub struct BenchSchema {
    server: String,
    name: String,
    url: String,
}

impl BenchSchema {
    /// Creates (or recreates) schema `name`.
    pub fn create(name: &str) -> BenchSchema {
        let server = pg_url();
        let url = PgConnection::create_isolated(&server, name);
        BenchSchema {
            server,
            name: name.to_owned(),
            url,
        }
    }

    /// A schema another process created, reached at `url`: not dropped on drop (for a child
    /// process of a benchmark, which reaches it through another address).
    pub fn attach(name: &str, url: &str) -> BenchSchema {
        BenchSchema {
            server: String::new(),
            name: name.to_owned(),
            url: url.to_owned(),
        }
    }

    /// A new connection whose `search_path` is this schema.
    pub fn connect(&self) -> PgConnection {
        PgConnection::establish(&self.url).expect("connect to the benchmark schema")
    }

    /// The URL of [`connect`](Self::connect), for other threads.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for BenchSchema {
    fn drop(&mut self) {
        if self.server.is_empty() {
            return;
        }
        PgConnection::drop_isolated(&self.server, &self.name, &self.url);
    }
}

/// Criterion's output directory, found the way criterion finds it (it writes there, this reads):
/// `$CRITERION_HOME`; else `$CARGO_TARGET_DIR/criterion`; else the target directory `cargo
/// metadata` names (a `build.target-dir` of a cargo config), `/criterion`; else
/// `target/criterion` under the working directory.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(metadata_target_dir);
    match target {
        Some(target) => target.join("criterion"),
        None => PathBuf::from("target/criterion"),
    }
}

/// The `target_directory` of `cargo metadata`, run with the cargo that runs the benchmark.
fn metadata_target_dir() -> Option<PathBuf> {
    let output = std::process::Command::new(std::env::var_os("CARGO")?)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .ok()?;
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).ok()?;
    metadata["target_directory"].as_str().map(PathBuf::from)
}

/// Criterion's point estimate of the mean time per iteration, in nanoseconds, of
/// `group/function` in the run that just finished.
pub fn mean_nanos(group: &str, function: &str) -> Option<f64> {
    let path = criterion_dir()
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// Prints and returns `baseline / ours` for two functions of a finished criterion group:
/// the library's throughput relative to the hand-written baseline.
pub fn ratio(group: &str, ours: &str, baseline: &str) -> Option<f64> {
    let (ours_ns, base_ns) = (mean_nanos(group, ours)?, mean_nanos(group, baseline)?);
    let ratio = base_ns / ours_ns;
    println!(
        "RATIO {group}: {ours} {:.3} ms vs {baseline} {:.3} ms -> throughput ratio {ratio:.2} (1.00 = hand-written)",
        ours_ns / 1e6,
        base_ns / 1e6
    );
    Some(ratio)
}

/// The process's peak resident memory in KiB since the last [`reset_peak_memory`]
/// (Linux `VmHWM`), or `None` where `/proc` is not available.
pub fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resets the peak resident memory counter (Linux: writing `5` to `/proc/self/clear_refs`).
pub fn reset_peak_memory() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The median of `values` (the mean of the two middle ones when there is an even number).
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

/// The statements a connection sends, as Diesel's instrumentation sees them: one per
/// `StartQuery` event, so `BEGIN`, `COMMIT` and savepoints count too. Each is kept as its SQL
/// text (with its binds), for [`StatementLog::take`].
#[derive(Clone, Default)]
pub struct StatementLog(Arc<Mutex<Vec<String>>>);

impl StatementLog {
    /// Records every statement `conn` sends from now on (replaces its instrumentation). Only
    /// for a connection that is not timed: each statement is formatted as it starts.
    pub fn attach<C: Connection>(conn: &mut C) -> StatementLog {
        let log = StatementLog::default();
        conn.set_instrumentation(log.clone());
        log
    }

    /// The statements sent since the last call, oldest first.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().expect("the statement log"))
    }
}

impl Instrumentation for StatementLog {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::StartQuery { query, .. } = event {
            let text = query.to_string();
            self.0.lock().expect("the statement log").push(text);
        }
    }
}
