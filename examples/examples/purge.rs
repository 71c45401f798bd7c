//! Retention on a generated billing database (SQLite file): customers, their invoices and
//! the invoices' lines, half of them soft-deleted over the last two years. Everything deleted
//! more than a year ago is purged in batches, with a progress bar, children first; invoices
//! that still have a payment (kept for the tax office) stay, and so do their customers, and
//! the report says why.
//!
//! Run with `cargo run --example purge`. `PURGE_CUSTOMERS=200000` makes a bigger database.
//! The README quotes its sections.

use chrono::{Duration, NaiveDateTime, Utc};
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use indicatif::{ProgressBar, ProgressStyle};
use soft_delete_runtime::prelude::*;
use soft_delete_runtime::purge::{Purge, Referrer};

const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/purge");

diesel::table! {
    customers (id) {
        id -> Integer,
        name -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invoices (id) {
        id -> Integer,
        customer_id -> Integer,
        total -> Integer,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invoice_lines (id) {
        id -> Integer,
        invoice_id -> Integer,
        item -> Text,
        deleted_at -> Nullable<Timestamp>,
    }
}

// --- models ---
// The purge follows the same `cascade` edges a cascade archive does: purging customers
// purges their invoices and the invoices' lines first.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = customers)]
#[soft_delete(children(invoices::customer_id = cascade))]
pub struct Customer {
    pub id: i32,
    pub name: String,
    pub deleted_at: Option<NaiveDateTime>,
}

// A deleted flag purges by its `deleted_at` column; without one, a purge is refused.
#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = invoices)]
#[soft_delete(children(invoice_lines::invoice_id = cascade))]
pub struct Invoice {
    pub id: i32,
    pub customer_id: i32,
    pub total: i32,
    #[soft_delete(marker = deleted)]
    pub deleted: bool,
    pub deleted_at: Option<NaiveDateTime>,
}
// --- end models ---

#[derive(Debug, Queryable, Identifiable, SoftDelete)]
#[diesel(table_name = invoice_lines)]
pub struct InvoiceLine {
    pub id: i32,
    pub invoice_id: i32,
    pub item: String,
    pub deleted_at: Option<NaiveDateTime>,
}

/// Customer `i` is deleted when `i` is even, `i % 730` days ago; so are its invoices and
/// their lines. Live customers' third invoices were deleted on their own, `i % 500` days
/// ago. Every 101st invoice has a payment.
fn generate(conn: &mut SqliteConnection, customers: u32) -> QueryResult<()> {
    conn.batch_execute(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {customers})
         INSERT INTO customers (id, name, deleted_at)
         SELECT i, 'customer ' || i,
                CASE WHEN i % 2 = 0 THEN datetime('now', '-' || (i % 730) || ' days') END
         FROM n;
         WITH RECURSIVE k(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM k WHERE j < 3)
         INSERT INTO invoices (id, customer_id, total, deleted, deleted_at)
         SELECT (c.id - 1) * 3 + k.j, c.id, 100 * k.j,
                c.deleted_at IS NOT NULL OR k.j = 3,
                COALESCE(c.deleted_at,
                         CASE WHEN k.j = 3 THEN datetime('now', '-' || (c.id % 500) || ' days') END)
         FROM customers AS c, k;
         INSERT INTO invoice_lines (id, invoice_id, item, deleted_at)
         SELECT 2 * i.id - 1, i.id, 'hours', i.deleted_at FROM invoices AS i
         UNION ALL SELECT 2 * i.id, i.id, 'travel', i.deleted_at FROM invoices AS i;
         INSERT INTO payments (id, invoice_id, amount)
         SELECT id, id, total FROM invoices WHERE id % 101 = 0;
         COMMIT;"
    ))
}

fn live_rows(conn: &mut SqliteConnection) -> QueryResult<(i64, i64, i64)> {
    Ok((
        customers::table.active().count().get_result(conn)?,
        invoices::table.active().count().get_result(conn)?,
        invoice_lines::table.active().count().get_result(conn)?,
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    // The visibility guard on every connection: a read that forgets to state its visibility
    // panics here, and CI runs every example. In production use `Mode::Log` or `Mode::Count`.
    soft_delete_runtime::guard::install_default(soft_delete_runtime::guard::Mode::Panic)?;
    let customers: u32 = std::env::var("PURGE_CUSTOMERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);
    let path = std::env::temp_dir().join("soft-delete-purge.db");
    let _ = std::fs::remove_file(&path);
    let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
    conn.run_pending_migrations(MIGRATIONS)?;
    // The generator copies rows of every state into the next table, on purpose.
    soft_delete_runtime::guard::allow(|| generate(&mut conn, customers))?;
    let live_before = live_rows(&mut conn)?;
    println!(
        "generated {customers} customers, {} invoices, {} lines at {}",
        3 * customers,
        6 * customers,
        path.display()
    );

    // --- dry run ---
    let cutoff = Utc::now() - Duration::days(365);
    let preview = Purge::before(customers::table, cutoff)
        .batch_size(5_000)
        .dry_run(&mut conn)?;
    println!(
        "a purge would delete {} rows and keep {}",
        preview.deleted(),
        preview.kept()
    );
    // --- end dry run ---

    // --- purge ---
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "purging {msg:<14} [{bar:40}] {pos}/{len} rows ({per_sec}, {eta} left)",
        )?
        .progress_chars("=> "),
    );
    let report = Purge::before(customers::table, cutoff)
        .batch_size(5_000)
        .on_progress(|progress| {
            bar.set_length(progress.estimated);
            bar.set_position(progress.deleted);
            bar.set_message(progress.table.to_string());
        })
        .run(&mut conn)?;
    bar.finish_and_clear();
    println!("{report}");
    // --- end purge ---

    // The dry run said exactly this; live rows were not touched; every invoice kept is
    // still paid for, and every customer kept still has such an invoice.
    assert_eq!(preview.tables, report.tables);
    assert_eq!(live_rows(&mut conn)?, live_before);
    let unpaid_kept: i64 = diesel::dsl::sql::<diesel::sql_types::BigInt>(
        "SELECT COUNT(*) FROM invoices AS i WHERE i.deleted AND i.deleted_at < ",
    )
    .bind::<diesel::sql_types::Timestamp, _>(cutoff.naive_utc())
    .sql(" AND NOT EXISTS (SELECT 1 FROM payments AS p WHERE p.invoice_id = i.id)")
    .get_result(&mut conn)?;
    assert_eq!(unpaid_kept, 0);
    let by_payments = report
        .skipped
        .iter()
        .find(|s| s.referenced_by.name == "payments" && s.referrer == Referrer::Row)
        .map_or(0, |s| s.count);
    assert_eq!(by_payments, report.kept_in("invoices"));
    // --- purge async ---
    // The same purge on diesel-async (feature `async`): `run_async` (and `dry_run_async`),
    // awaited. Here SQLite behind `SyncConnectionWrapper` on a tokio runtime;
    // `AsyncPgConnection`, `AsyncMysqlConnection` and pooled connections (deadpool, bb8) take
    // it alike. A progress callback must be `Send` there.
    use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
    use diesel_async::AsyncConnection;

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let again = runtime.block_on(async {
        let mut conn =
            SyncConnectionWrapper::<SqliteConnection>::establish(&path.to_string_lossy()).await?;
        let report = Purge::before(customers::table, cutoff)
            .batch_size(5_000)
            .run_async(&mut conn)
            .await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(report)
    })?;
    // --- end purge async ---
    assert_eq!(again.deleted(), 0);
    println!("a second run deletes nothing: the purge is done");
    Ok(())
}
