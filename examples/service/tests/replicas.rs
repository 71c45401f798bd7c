//! Two replicas of the service (the built binary, spawned twice) on one PostgreSQL database,
//! with concurrent clients retrying exam attempts, archiving members and restoring archives
//! through both for a bounded time (`SERVICE_SOAK_SECS`, default 20). Then the database is
//! checked: one live attempt per key, gap-free retry counters, every archive restored
//! exactly what it archived, nothing lost. The figures are printed; any violation fails.

mod common;

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Backend, Replica, TestDb};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use reqwest::Client;
use serde_json::{json, Value};

const MEMBERS: i64 = 16;
const EXAMS: i64 = 2;
const CLIENTS: usize = 8;

#[derive(Default)]
struct Figures {
    requests: AtomicU64,
    contended: AtomicU64,
    already_restored: AtomicU64,
    retries: AtomicU64,
    archives: AtomicU64,
    restores: AtomicU64,
    not_found: AtomicU64,
    retries_refused: AtomicU64,
    violations: AtomicU64,
    per_replica: [AtomicU64; 2],
}

struct Shared {
    figures: Figures,
    /// Archives not restored yet, with the rows each archived.
    open: Mutex<HashMap<i64, u64>>,
    /// The first violations, to print.
    problems: Mutex<Vec<String>>,
}

impl Shared {
    fn violation(&self, what: String) {
        self.figures.violations.fetch_add(1, Ordering::SeqCst);
        let mut problems = self.problems.lock().expect("lock");
        if problems.len() < 20 {
            problems.push(what);
        }
    }
}

/// xorshift: a reproducible stream of choices per client, no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn send(
    client: &Client,
    base: &str,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let mut request = client
        .post(format!("{base}{path}"))
        .header("x-user", "soak")
        .header("x-role", "admin");
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.map_err(|e| format!("{path}: {e}"))?;
    let status = response.status().as_u16();
    let text = response.text().await.map_err(|e| format!("{path}: {e}"))?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn client(id: usize, bases: Arc<[String; 2]>, shared: Arc<Shared>, until: Instant) {
    let http = Client::new();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D));
    let f = &shared.figures;
    while Instant::now() < until {
        let replica = rng.below(2) as usize;
        let base = &bases[replica];
        f.per_replica[replica].fetch_add(1, Ordering::Relaxed);
        f.requests.fetch_add(1, Ordering::Relaxed);
        let choice = rng.below(10);
        let member = 1 + rng.below(MEMBERS as u64) as i64;
        let result = if choice < 6 {
            let exam = 1 + rng.below(EXAMS as u64);
            send(
                &http,
                base,
                &format!("/api/exams/{exam}/attempts/retry"),
                Some(json!({"member_id": member})),
            )
            .await
            .map(|(status, body)| match status {
                200 => drop(f.retries.fetch_add(1, Ordering::SeqCst)),
                409 => drop(f.contended.fetch_add(1, Ordering::SeqCst)),
                // the member is archived: no new attempt for them, as start answers
                404 if body["error"] == "not_found" => {
                    f.retries_refused.fetch_add(1, Ordering::SeqCst);
                }
                _ => shared.violation(format!("retry: {status} {body}")),
            })
        } else if choice < 8 {
            send(
                &http,
                base,
                &format!("/api/members/{member}/archive"),
                Some(json!({"reason": "soak"})),
            )
            .await
            .map(|(status, body)| match status {
                201 => {
                    f.archives.fetch_add(1, Ordering::SeqCst);
                    let id = body["archive_id"].as_i64().unwrap_or(-1);
                    let rows = body["plan"]["total_archived"].as_u64().unwrap_or(0);
                    shared.open.lock().expect("lock").insert(id, rows);
                }
                404 => drop(f.not_found.fetch_add(1, Ordering::SeqCst)),
                _ => shared.violation(format!("archive: {status} {body}")),
            })
        } else {
            let pick = {
                let open = shared.open.lock().expect("lock");
                let ids: Vec<(i64, u64)> = open.iter().map(|(k, v)| (*k, *v)).collect();
                (!ids.is_empty()).then(|| ids[rng.below(ids.len() as u64) as usize])
            };
            match pick {
                None => Ok(()),
                Some((id, rows)) => send(&http, base, &format!("/api/archives/{id}/restore"), None).await.map(|(status, body)| {
                    match status {
                        200 => {
                            f.restores.fetch_add(1, Ordering::SeqCst);
                            shared.open.lock().expect("lock").remove(&id);
                            if body["total_rows"].as_u64() != Some(rows) {
                                shared.violation(format!("archive {id} archived {rows} rows, its restore brought back {body}"));
                            }
                        }
                        409 if body["error"] == "already_restored" => drop(f.already_restored.fetch_add(1, Ordering::SeqCst)),
                        _ => shared.violation(format!("restore {id}: {status} {body}")),
                    }
                }),
            }
        };
        if let Err(e) = result {
            shared.violation(e);
        }
    }
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Link {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Nullable<Integer>)]
    author_id: Option<i32>,
}

#[derive(QueryableByName, Debug, PartialEq)]
struct Live {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = BigInt)]
    live: i64,
    #[diesel(sql_type = BigInt)]
    all: i64,
}

fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(conn)
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .n
}

fn snapshot(conn: &mut PgConnection) -> (Vec<Live>, Vec<Link>) {
    let live = diesel::sql_query(
        "SELECT 'members' AS table, count(*) FILTER (WHERE deleted_at IS NULL) AS live, count(*) AS all FROM members
         UNION ALL SELECT 'orders', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM orders
         UNION ALL SELECT 'order_items', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM order_items
         UNION ALL SELECT 'posts', count(*) FILTER (WHERE deleted_at IS NULL), count(*) FROM posts ORDER BY 1",
    )
    .load(conn)
    .expect("live counts");
    let links = diesel::sql_query("SELECT id, author_id FROM reviews ORDER BY id")
        .load(conn)
        .expect("links");
    (live, links)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_postgres_database() {
    let started = Instant::now();
    let Some(db) = TestDb::new(Backend::Postgres, "replicas") else {
        return;
    };
    // Both start at once: the migrations run once (an advisory lock), both serve.
    let (a, b) = (db.url.clone(), db.url.clone());
    let (first, second) = tokio::join!(
        tokio::task::spawn_blocking(move || Replica::spawn(&a)),
        tokio::task::spawn_blocking(move || Replica::spawn(&b))
    );
    let mut replicas = [first.expect("spawn"), second.expect("spawn")];
    let bases: Arc<[String; 2]> = Arc::new([replicas[0].base.clone(), replicas[1].base.clone()]);

    println!("replicas up after {:?}", started.elapsed());
    let http = Client::new();
    for m in 1..=MEMBERS {
        let body = json!({
            "name": format!("m{m}"), "email": format!("m{m}@example.com"),
            "orders": [{"code": format!("{m}-a"), "items": ["x", "y"]}, {"code": format!("{m}-b"), "items": ["z"]}],
            "posts": ["p1", "p2"], "reviews": ["r1", "r2"],
        });
        let (status, created) = send(&http, &bases[(m % 2) as usize], "/api/members", Some(body))
            .await
            .expect("seed");
        assert_eq!(
            (status, created["id"].as_i64()),
            (201, Some(m)),
            "{created}"
        );
        for exam in 1..=EXAMS {
            let (status, body) = send(
                &http,
                &bases[0],
                &format!("/api/exams/{exam}/attempts"),
                Some(json!({"member_id": m})),
            )
            .await
            .expect("start");
            assert_eq!(status, 201, "{body}");
        }
    }
    println!("seeded after {:?}", started.elapsed());
    let mut conn = db.pg();
    let before = snapshot(&mut conn);

    let secs: u64 = std::env::var("SERVICE_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let shared = Arc::new(Shared {
        figures: Figures::default(),
        open: Mutex::new(HashMap::new()),
        problems: Mutex::new(Vec::new()),
    });
    let until = Instant::now() + Duration::from_secs(secs);
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(client(id, bases.clone(), shared.clone(), until)))
        .collect();
    for task in tasks {
        task.await.expect("a client task");
    }
    assert!(replicas.iter_mut().all(Replica::running), "a replica died");

    // Restore what is still archived, through the API; each restore brings back what its
    // archive took.
    let open: Vec<(i64, u64)> = shared.open.lock().expect("lock").drain().collect();
    for (id, rows) in &open {
        let (status, body) = send(
            &http,
            &bases[0],
            &format!("/api/archives/{id}/restore"),
            None,
        )
        .await
        .expect("restore");
        if status != 200 || body["total_rows"].as_u64() != Some(*rows) {
            shared.violation(format!(
                "final restore of {id} ({rows} rows): {status} {body}"
            ));
        }
    }

    let f = &shared.figures;
    let attempts_made = f.retries.load(Ordering::SeqCst) as i64;
    let checks = [
        ("keys without exactly one live attempt", count(&mut conn, "SELECT count(*) AS n FROM (SELECT 1 FROM attempts GROUP BY exam_id, member_id HAVING count(*) FILTER (WHERE active) <> 1) k")),
        ("keys whose retry counters have a gap or a repeat", count(&mut conn, "SELECT count(*) AS n FROM (SELECT 1 FROM attempts GROUP BY exam_id, member_id HAVING min(retry) <> 0 OR max(retry) + 1 <> count(*) OR count(DISTINCT retry) <> count(*)) k")),
        ("live attempts that are not the latest", count(&mut conn, "SELECT count(*) AS n FROM attempts a WHERE active AND retry <> (SELECT max(retry) FROM attempts b WHERE b.exam_id = a.exam_id AND b.member_id = a.member_id)")),
        ("attempts lost or made beyond the answered retries", (count(&mut conn, "SELECT count(*) AS n FROM attempts") - (MEMBERS * EXAMS + attempts_made)).abs()),
        ("archives in the log not answered 201", (count(&mut conn, "SELECT count(*) AS n FROM soft_delete_archive_log") - f.archives.load(Ordering::SeqCst) as i64).abs()),
        ("archives not restored", count(&mut conn, "SELECT count(*) AS n FROM soft_delete_archive_log WHERE restored_at IS NULL")),
        ("rows still carrying an archive batch", count(&mut conn, "SELECT (SELECT count(*) FROM members WHERE archive_batch IS NOT NULL) + (SELECT count(*) FROM orders WHERE archive_batch IS NOT NULL) + (SELECT count(*) FROM order_items WHERE archive_batch IS NOT NULL) + (SELECT count(*) FROM posts WHERE archive_batch IS NOT NULL) AS n")),
        ("journal entries left", count(&mut conn, "SELECT count(*) AS n FROM soft_delete_journal")),
    ];
    let after = snapshot(&mut conn);
    // Straight to stderr, past the test harness's capture: CI's log shows the figures.
    let mut report = format!(
        "two replicas, {CLIENTS} clients, {secs} s: {} requests ({} / {} per replica), {} answered 409 ({} retries contended, {} restores of an archive restored meanwhile), {} retries, {} archives, {} restores ({} more at the end), {} archives of an archived member answered 404, {} retries of an archived member answered 404, {} violations",
        f.requests.load(Ordering::SeqCst),
        f.per_replica[0].load(Ordering::SeqCst),
        f.per_replica[1].load(Ordering::SeqCst),
        f.contended.load(Ordering::SeqCst) + f.already_restored.load(Ordering::SeqCst),
        f.contended.load(Ordering::SeqCst),
        f.already_restored.load(Ordering::SeqCst),
        f.retries.load(Ordering::SeqCst),
        f.archives.load(Ordering::SeqCst),
        f.restores.load(Ordering::SeqCst),
        open.len(),
        f.not_found.load(Ordering::SeqCst),
        f.retries_refused.load(Ordering::SeqCst),
        f.violations.load(Ordering::SeqCst),
    );
    for (what, n) in &checks {
        report.push_str(&format!("\n  {what}: {n}"));
    }
    let _ = writeln!(std::io::stderr(), "{report}");
    let problems = shared.problems.lock().expect("lock").clone();
    assert!(problems.is_empty(), "violations:\n{}", problems.join("\n"));
    assert!(
        checks.iter().all(|(_, n)| *n == 0),
        "invariants broken: {checks:?}"
    );
    assert_eq!(
        after, before,
        "after restoring every archive, every row and link is as before"
    );
    assert!(
        f.archives.load(Ordering::SeqCst) > 0
            && f.restores.load(Ordering::SeqCst) > 0
            && attempts_made > 0,
        "the run did each operation"
    );
}

/// Two replicas started at once on one fresh SQLite file (one host, one shared file): both
/// come up (the migrations run once), and creates sent through both at once all succeed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_one_sqlite_file() {
    for round in 0..4 {
        let db = TestDb::new(Backend::Sqlite, "replicas_sqlite").expect("a SQLite file");
        let (a, b) = (db.url.clone(), db.url.clone());
        let (first, second) = tokio::join!(
            tokio::task::spawn_blocking(move || Replica::spawn(&a)),
            tokio::task::spawn_blocking(move || Replica::spawn(&b))
        );
        let (Ok(first), Ok(second)) = (first, second) else {
            panic!("round {round}: a replica did not start on a fresh SQLite file (its stderr is above)");
        };
        let http = Client::new();
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let base = if i % 2 == 0 { &first.base } else { &second.base }.clone();
                let http = http.clone();
                tokio::spawn(async move {
                    let body = json!({"name": format!("m{i}"), "email": format!("m{i}@example.com"), "posts": ["p"]});
                    send(&http, &base, "/api/members", Some(body)).await
                })
            })
            .collect();
        for task in tasks {
            let (status, body) = task.await.expect("task").expect("answered");
            assert_eq!(status, 201, "round {round}: {body}");
        }
    }
}
