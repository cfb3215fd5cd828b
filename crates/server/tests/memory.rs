//! What a body costs in memory, whatever its JSON's shape: bodies within
//! their byte limits, shaped to parse into many times their size, are
//! refused, and the real server's peak resident memory (`VmHWM` of its
//! `/proc/<pid>/status`, reset through `clear_refs` before they are sent)
//! grows by less than 100 MiB while they are.

// Shared with the signal and fault tests; this file needs only part of it.
#[allow(dead_code)]
mod common;

use common::{Server, create_editor};
use serde_json::Value;

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
