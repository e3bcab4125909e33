//! Query plans on a realistic booth: every statement the store runs per request or per
//! job finds its rows through an index, never by reading a whole big table.
//!
//! Sorts are allowed: each sorts only the rows its index found (pending or due visitors,
//! voided serials, a visitor's jobs), never a table.
//!
//! The store prepares its statements once per connection, and PostgreSQL soon plans a
//! prepared statement generically (for any parameter value), so the generic plan is the
//! one checked: `plan_cache_mode = force_generic_plan`, then `EXPLAIN EXECUTE` with NULLs.

use serde_json::Value;
use tokio_postgres::{NoTls, SimpleQueryMessage};

use crate::store::Store;
use crate::store::tests::testserver;

/// Tables that grow with the booth; the others stay small by design (sessions, codes,
/// handoffs, printers, kept links dropped when opened) and a scan of them is cheap.
const BIG: &[&str] = &["visitors", "print_jobs", "guestbook"];

/// Statements allowed to walk an index in order and stop at their LIMIT (a filter on
/// what no index can find, e.g. part of a name), with why.
const BOUNDED: &[&str] = &[
    // Part of a name has no index: newest first, stopping once a page is full.
    "staff::SEARCH",
    // Nearly every job is done: newest first, the page is full after about as many rows.
    "staff::DONE_JOBS",
    // The guestbook's numbered pages: newest first up to the page asked for.
    "guestbook::BY_OFFSET",
];

/// 5000 visitors (issued, some pending, failed or voided), a printed ticket each and a
/// few waiting on two printers, a guestbook entry for most.
const SEED: &str = "
INSERT INTO visitors (id, conference, token_hash, token_pub, name, email, email_lc, state, issuer_kind,
    created_at, issued_at, retention_until, serial, fingerprint, show_on_wall, voided_at)
SELECT 'v' || lpad(i::text, 5, '0'), 'c', sha256(i::text::bytea), sha256(('p' || i)::bytea), 'Name ' || i,
    'e' || i || '@x.io', 'e' || i || '@x.io',
    CASE WHEN i % 50 = 0 THEN 'pending' WHEN i % 97 = 0 THEN 'failed' ELSE 'issued' END, 'local',
    1700000000 + i, 1700000000 + i, 1800000000 + i, to_hex(i), 'f' || i, i % 3 = 0,
    CASE WHEN i % 40 = 0 THEN 1700000000 + i END
FROM generate_series(1, 5000) AS i;
INSERT INTO print_jobs (visitor_id, origin, state, payload, created_at, updated_at, next_attempt_at, printed_at, printer)
SELECT id, 'visitor', 'printed', NULL, created_at, created_at, created_at, created_at,
    CASE WHEN seq % 2 = 0 THEN 'front' ELSE 'back' END
FROM visitors;
INSERT INTO print_jobs (visitor_id, origin, state, payload, created_at, updated_at, next_attempt_at, printer)
SELECT id, 'staff', 'queued', '\\x00', created_at, created_at, created_at, 'front'
FROM visitors WHERE seq % 500 = 0;
INSERT INTO guestbook (issuer, serial, name, message, created_at, signed_at)
SELECT 'issuer', serial, 'Name', 'hello from the booth', created_at, created_at FROM visitors WHERE state = 'issued';
ANALYZE;
";

/// Reads of a whole big table in `plan`: a sequential scan, or (unless `bounded`) a
/// full index walked end to end without a condition on it (a partial index holds only
/// the rows its predicate picks: open jobs, voided visitors).
fn whole_table_reads(plan: &Value, partial: &[String], bounded: bool, out: &mut Vec<String>) {
    let kind = plan["Node Type"].as_str().unwrap_or_default();
    let relation = plan["Relation Name"].as_str().unwrap_or_default();
    let index = plan["Index Name"].as_str().unwrap_or_default();
    if BIG.contains(&relation) {
        let index_walk =
            kind.starts_with("Index") && plan.get("Index Cond").is_none() && !partial.iter().any(|p| p == index);
        if kind == "Seq Scan" || (index_walk && !bounded) {
            out.push(format!("{kind} on {relation} {index}"));
        }
    }
    for child in plan["Plans"].as_array().into_iter().flatten() {
        whole_table_reads(child, partial, bounded, out);
    }
}

fn parameters(sql: &str) -> usize {
    (1..=20).filter(|i| sql.contains(&format!("${i}"))).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_hot_query_reads_a_whole_big_table() {
    let url = testserver::shared().fresh_database();
    drop(Store::connect(&url).await.unwrap()); // the schema
    let (client, connection) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client.batch_execute(SEED).await.unwrap();
    client
        .batch_execute("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let partial: Vec<String> = client
        .query(
            "SELECT indexrelid::regclass::text FROM pg_index WHERE indpred IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let statements = [
        super::visitors::STATEMENTS,
        super::jobs::STATEMENTS,
        super::staff::STATEMENTS,
        super::guestbook::STATEMENTS,
        &[("COUNTER", super::COUNTER)],
    ];
    let mut problems = Vec::new();
    for (i, (name, sql)) in statements.iter().flat_map(|s| s.iter()).enumerate() {
        client.batch_execute(&format!("PREPARE q{i} AS {sql}")).await.unwrap();
        let nulls = vec!["NULL"; parameters(sql)].join(", ");
        let args = if nulls.is_empty() {
            String::new()
        } else {
            format!("({nulls})")
        };
        let messages = client
            .simple_query(&format!("EXPLAIN (FORMAT JSON) EXECUTE q{i}{args}"))
            .await
            .unwrap();
        let Some(row) = messages.iter().find_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        }) else {
            panic!("{name}: no plan")
        };
        let plan: Value = serde_json::from_str(row.get(0).unwrap()).unwrap();
        let plan = &plan[0]["Plan"];
        let mut found = Vec::new();
        whole_table_reads(plan, &partial, BOUNDED.contains(name), &mut found);
        for f in found {
            problems.push(format!("{name}: {f}\n  {sql}"));
        }
    }
    assert!(
        problems.is_empty(),
        "plans that read a whole table:\n{}",
        problems.join("\n")
    );
}
