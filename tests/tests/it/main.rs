//! Integration tests on SQLite, PostgreSQL and MySQL/MariaDB: every test in these modules
//! runs once per backend enabled by the crate's features (see `soft_delete_tests::backend_tests!`).

mod aliases;
#[cfg(feature = "async")]
mod asynchronous;
#[cfg(feature = "async")]
mod cancel_sweep;
mod collector_archive;
#[cfg(feature = "async")]
mod collector_async;
mod collector_check;
mod collector_collation;
mod collector_graph;
mod collector_log;
mod collector_preview;
mod collector_processes;
mod collector_races;
mod collector_restore;
mod collector_schema;
mod collector_statements;
mod collector_time_zone;
mod collector_timestamptz;
mod collector_unique;
mod ddl;
mod deferred;
mod deferred_schema;
mod forum_schema;
mod guard_corpus;
mod joins;
mod journal;
mod marker_sync;
mod markers;
mod markers_schema;
mod odd_names;
mod plans;
mod purge;
mod purge_outside_graph;
mod purge_schema;
mod purge_settings;
mod reassign;
mod reassign_races;
mod renamed_key_field;
#[cfg(feature = "postgres")]
mod retry_new;
mod row_ids;
mod schema;
mod schema_migrations;
mod schema_verify;
mod scopes;
mod sqlite_writers;
#[cfg(feature = "postgres")]
mod start_new;
mod time_markers;
mod timestamptz;
#[cfg(feature = "tracing")]
mod tracing_spans;
mod typed_ids;
mod unique;
mod unique_collation;
mod unique_nullable;
#[cfg(feature = "async")]
mod unique_statements;
#[cfg(feature = "postgres")]
mod upsert_new;
mod writes;
