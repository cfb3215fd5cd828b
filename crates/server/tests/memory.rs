//! What a request costs in memory, whatever its JSON's shape, measured on
//! the real server as the growth of its peak resident memory (`VmHWM` of
//! its `/proc/<pid>/status`, reset through `clear_refs` before each
//! request):
//!
//! - bodies within their byte limits, shaped to parse into many times
//!   their size, are refused, and the peak grows by less than 100 MiB
//!   while they are;
//! - answers that carry stored metadata of that shape cost about its bytes,
//!   not the tree it would parse into. This one runs on the database of
//!   `KG_TEST_DATABASE` (embedded SQLite by default).

// Shared with the signal and fault tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use common::{Server, create_editor, create_user, database_env};
use kg_persistence::testing::TestDatabase;
use serde_json::{Value, json};

/// The most the server's peak resident memory may grow by.
const GROWTH_MIB: u64 = 100;

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .ok_or_else(|| anyhow::anyhow!("no {field} in status"))?;
    Ok(line.trim().trim_end_matches("kB").trim().parse()?)
}

/// Resets the peak resident memory of `pid` to its current size, and
/// answers that size.
fn reset_peak(pid: u32) -> anyhow::Result<u64> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
    status_kib(pid, "VmHWM")
}

/// `n` copies of `item`, comma-separated.
fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(",")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_that_parse_into_many_times_their_size_are_refused_within_bounded_memory()
-> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    create_editor(dir.path(), &[], "m@example.org")?;
    let server = Server::start(dir.path(), &[]).await?;
    let token = server.token("m@example.org").await?;
    let client = reqwest::Client::new();
    let pid = server.child.id();

    // One ordinary write and batch first, so what they allocate once is
    // not counted as growth.
    let res = client
        .post(format!("{}/v1/batch", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({ "entities": [{ "type": "Doc", "name": "warm" }] }))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 200, "warm-up batch: {}", res.status());
    // Signing in hashed a password, which takes tens of MiB for a moment:
    // the peak is reset to the current resident size, so that growth is
    // measured from here.
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5")?;
    let before = status_kib(pid, "VmHWM")?;

    // Just under 16 MiB (the batch limit) of `{"b":0}`: about 2.3 million
    // items, which would take over a gigabyte once parsed.
    let tiny = "{\"b\":0}";
    let items = (16 * 1024 * 1024 - 64) / (tiny.len() + 1);
    let flood = format!("{{\"entities\":[{}]}}", repeat(tiny, items));
    // A thousand valid entities, each with metadata of 499 one-member
    // objects (1,000 values in all, about 4 KiB): each item is within every
    // rule, but the batch would take hundreds of megabytes once parsed.
    let records = format!(
        "{{\"type\":\"Doc\",\"name\":\"r\",\"metadata\":{{\"a\":[{}]}}}}",
        repeat(tiny, 499)
    );
    let costly_batch = format!("{{\"entities\":[{}]}}", repeat(&records, 1000));
    // Under 10 KiB of metadata as small numbers: 4,500 values in arrays of
    // 900, each array within the item limit.
    let arrays = (0..5)
        .map(|k| format!("\"a{k}\":[{}]", repeat("0", 900)))
        .collect::<Vec<_>>()
        .join(",");
    let many_values = format!("{{\"type\":\"Doc\",\"name\":\"v\",\"metadata\":{{{arrays}}}}}");
    // Just under 1 MiB (the general limit) of metadata objects in 100 keys
    // of 1,000 one-member objects each.
    let members = (0..100)
        .map(|k| format!("\"k{k}\":[{}]", repeat(tiny, 1000)))
        .collect::<Vec<_>>()
        .join(",");
    let costly_entity = format!("{{\"type\":\"Doc\",\"name\":\"o\",\"metadata\":{{{members}}}}}");

    // Just under 1 MiB of one object's short keys: about 90,000 members.
    let keys = (0..90_000)
        .map(|k| format!("\"{k:x}\":0"))
        .collect::<Vec<_>>()
        .join(",");
    let key_heavy = format!("{{\"type\":\"Doc\",\"name\":\"k\",\"metadata\":{{{keys}}}}}");

    let cases = [
        ("/v1/batch", flood, 422, "validation_failed", "entities"),
        ("/v1/batch", costly_batch, 413, "payload_too_large", ""),
        (
            "/v1/entities",
            many_values,
            422,
            "validation_failed",
            "metadata",
        ),
        ("/v1/entities", costly_entity, 413, "payload_too_large", ""),
        ("/v1/entities", key_heavy, 413, "payload_too_large", ""),
    ];
    for (path, body, status, code, field) in cases {
        let size = body.len();
        let res = client
            .post(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await?;
        anyhow::ensure!(
            res.status() == status,
            "{path} with {size} bytes: {} instead of {status}",
            res.status()
        );
        let problem: Value = res.json().await?;
        assert_eq!(problem["code"], code, "{problem}");
        if !field.is_empty() {
            let fields: Vec<_> = problem["errors"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|e| e["field"].as_str())
                .collect();
            assert_eq!(fields, [field], "{problem}");
        }
        let peak = status_kib(pid, "VmHWM")?;
        let grown_mib = peak.saturating_sub(before) / 1024;
        eprintln!("{path}, {size} bytes: {status}, peak memory grew by {grown_mib} MiB");
        assert!(
            grown_mib < GROWTH_MIB,
            "{path} with {size} bytes: peak memory grew by {grown_mib} MiB"
        );
    }

    // Nothing was written, and the server still serves.
    let res = client
        .get(format!("{}/v1/entities?type=Doc", server.base))
        .bearer_auth(&token)
        .send()
        .await?;
    let page: Value = res.json().await?;
    let names: Vec<_> = page["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["warm"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_carrying_costly_stored_metadata_cost_its_bytes_not_its_tree() -> anyhow::Result<()>
{
    const LEAVES: usize = 1000;
    const PER_BATCH: usize = 50;
    let database = TestDatabase::create().await?;
    let dir = tempfile::tempdir()?;
    let env = database_env(&database);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    // An admin, who may also read the audit log.
    create_user(dir.path(), &env, "r@example.org", "admin")?;
    let server = Server::start(dir.path(), &env).await?;
    let token = server.token("r@example.org").await?;
    let client = reqwest::Client::new();
    let pid = server.child.id();

    // Metadata of 499 one-member objects: 999 values, within every rule,
    // about 4 KiB as text and about 350 KiB as a `serde_json::Value`.
    let records: Vec<Value> = (0..499).map(|_| json!({ "b": 0 })).collect();
    let metadata = json!({ "a": records });
    let res = client
        .post(format!("{}/v1/entities", server.base))
        .bearer_auth(&token)
        .json(&json!({ "type": "Hub", "name": "hub" }))
        .send()
        .await?;
    anyhow::ensure!(res.status() == 201, "hub: {}", res.status());
    let hub: Value = res.json().await?;
    let hub_id = hub["id"].as_str().unwrap_or_default().to_owned();
    // A thousand leaves around the hub, each leaf and each edge carrying
    // that metadata, in batches small enough for the batch's parse budget.
    for first in (0..LEAVES).step_by(PER_BATCH) {
        let leaves = first..first + PER_BATCH;
        let entities: Vec<Value> = leaves
            .clone()
            .map(|i| json!({ "type": "Leaf", "name": format!("leaf {i}"), "external_id": format!("leaf:{i}"), "metadata": metadata }))
            .collect();
        let relationships: Vec<Value> = leaves
            .map(|i| json!({ "source_id": hub_id, "target_external_id": format!("leaf:{i}"), "type": "HAS", "metadata": metadata }))
            .collect();
        let res = client
            .post(format!("{}/v1/batch", server.base))
            .bearer_auth(&token)
            .json(&json!({ "entities": entities, "relationships": relationships }))
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200, "batch at {first}: {}", res.status());
    }

    // Each answer: its path, how many items it must hold (the hub is one of
    // the neighbourhood's 1,000 nodes), and the most the peak may grow by
    // while it is served. Parsed, the neighbourhood's
    // metadata alone would take about 700 MiB, and a page of 100 about
    // 35 MiB.
    let answers = [
        (
            format!("/v1/entities/{hub_id}/neighbors?max_nodes=1000"),
            "edges",
            LEAVES - 1,
            64,
        ),
        (
            "/v1/entities?type=Leaf&limit=100".to_owned(),
            "items",
            100,
            16,
        ),
        (
            format!("/v1/relationships?source_id={hub_id}&limit=100"),
            "items",
            100,
            16,
        ),
        ("/v1/changes?limit=100".to_owned(), "items", 100, 16),
        (
            "/v1/audit?target_type=entity&limit=100".to_owned(),
            "items",
            100,
            16,
        ),
    ];
    for (path, list, count, limit_mib) in answers {
        let before = reset_peak(pid)?;
        let res = client
            .get(format!("{}{path}", server.base))
            .bearer_auth(&token)
            .send()
            .await?;
        anyhow::ensure!(res.status() == 200, "{path}: {}", res.status());
        let body = res.bytes().await?;
        let grown_mib = status_kib(pid, "VmHWM")?.saturating_sub(before) / 1024;
        eprintln!(
            "{path}: {} KiB answered, peak memory grew by {grown_mib} MiB",
            body.len() / 1024
        );
        let answer: Value = serde_json::from_slice(&body)?;
        let items = answer[list]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default();
        assert_eq!(items.len(), count, "{path}");
        // A change carries the resource as its `data`, and an audit row
        // each created field's value as its `after`.
        let carried = |item: &Value| {
            item["metadata"] == metadata
                || item["data"]["metadata"] == metadata
                || item["changes"]["metadata"]["after"] == metadata
        };
        assert!(
            items.iter().any(carried),
            "{path}: no item carries the metadata"
        );
        assert!(
            grown_mib < limit_mib,
            "{path}: peak memory grew by {grown_mib} MiB"
        );
    }
    Ok(())
}

/// `kg_rate_limit_clients` from the server's `/metrics`.
async fn tracked_clients(client: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix("kg_rate_limit_clients "))
        .ok_or_else(|| anyhow::anyhow!("no kg_rate_limit_clients in /metrics"))?
        .trim()
        .parse()
        .map_err(Into::into)
}

/// SECURITY-MATRIX D2 on the real binary: 100,000 distinct clients (IPv6
/// /64s, through a trusted proxy's `X-Forwarded-For`), each counted on its
/// own, grow the peak by a bounded amount; once their buckets refill the
/// server drops them, and its resident memory stays near where it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_distinct_clients_costs_bounded_memory_and_is_forgotten() -> anyhow::Result<()> {
    const CLIENTS: u32 = 100_000;
    const CONNECTIONS: u32 = 16;
    let dir = tempfile::tempdir()?;
    let env = [
        ("KG_TRUSTED_PROXIES", "127.0.0.1"),
        // One request refills in a second.
        ("KG_RATE_LIMIT_AUTH_PER_MINUTE", "60"),
    ];
    let server = Server::start(dir.path(), &env).await?;
    let pid = server.child.id();
    let client = reqwest::Client::new();
    let before = reset_peak(pid)?;
    let rss_before = status_kib(pid, "VmRSS")?;

    // Each connection sends its share: half to an auth route, half
    // unauthenticated reads with a made-up key (a failed authentication),
    // so both per-client limits see every client.
    let mut senders = tokio::task::JoinSet::new();
    for c in 0..CONNECTIONS {
        let (client, base) = (client.clone(), server.base.clone());
        senders.spawn(async move {
            let mut refused = 0u32;
            for i in (c..CLIENTS).step_by(CONNECTIONS as usize) {
                let address = format!("2001:db8:{:x}:{:x}::1", i >> 16, i & 0xffff);
                let request = if i % 2 == 0 {
                    client
                        .post(format!("{base}/v1/auth/refresh"))
                        .json(&json!({}))
                } else {
                    client
                        .get(format!("{base}/v1/entities"))
                        .bearer_auth("kg_made-up")
                };
                let res = request.header("x-forwarded-for", &address).send().await?;
                if res.status() == 429 {
                    refused += 1;
                }
            }
            anyhow::Ok(refused)
        });
    }
    let mut refused = 0;
    while let Some(done) = senders.join_next().await {
        refused += done??;
    }
    // Each client sent one request, within its quotas; one client sending
    // more than its quota is refused, so each was counted on its own.
    assert_eq!(refused, 0, "clients were limited together");
    let mut limited = false;
    for _ in 0..70 {
        let res = client
            .post(format!("{}/v1/auth/refresh", server.base))
            .header("x-forwarded-for", "2001:db8:ffff:ffff::1")
            .json(&json!({}))
            .send()
            .await?;
        if res.status() == 429 {
            limited = true;
            break;
        }
    }
    assert!(
        limited,
        "one client's 61st request in a minute was answered"
    );
    let grown_mib = status_kib(pid, "VmHWM")?.saturating_sub(before) / 1024;
    let tracked = tracked_clients(&client, &server.base).await?;
    eprintln!("{CLIENTS} clients: peak memory grew by {grown_mib} MiB, {tracked} tracked after");
    assert!(grown_mib < 32, "peak memory grew by {grown_mib} MiB");
    assert!(tracked > 0, "the last clients are still tracked");

    // Their buckets refill within a second. The housekeeping runs every
    // 30 s, and sooner (at most once a second) when a request finds more
    // than 10,000 clients tracked: one client asking once a second wakes
    // it, and then only the last few seconds' clients are left.
    let mut tracked = tracked;
    for _ in 0..60 {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        client
            .post(format!("{}/v1/auth/refresh", server.base))
            .header("x-forwarded-for", "2001:db8:ffff:fffe::1")
            .json(&json!({}))
            .send()
            .await?;
        tracked = tracked_clients(&client, &server.base).await?;
        if tracked < 10 {
            break;
        }
    }
    let rss = status_kib(pid, "VmRSS")?;
    eprintln!(
        "resident memory: {} MiB before, {} MiB at the peak, {} MiB after",
        rss_before / 1024,
        status_kib(pid, "VmHWM")? / 1024,
        rss / 1024
    );
    assert!(tracked < 10, "{tracked} clients still tracked");
    // The allocator may keep what was freed for reuse, but not more than
    // the flood's peak.
    assert!(
        rss.saturating_sub(rss_before) < 16 * 1024,
        "resident memory stayed {} MiB above where it was",
        rss.saturating_sub(rss_before) / 1024
    );
    Ok(())
}
