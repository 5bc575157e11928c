//! The planner's dedupe and id checks stay exact when the probabilistic filter saturates.
use super::*;

/// Plan `rows` (id, text) with a filter so small that almost every row is a suspect: the
/// answers must still be exact.
fn plan(rows: &[(String, String)], out_dir: &Path) -> Plan {
    let work = tempfile::tempdir().unwrap();
    let limits = BatchLimits {
        max_requests_per_file: 300,
        max_bytes_per_file: 1 << 20,
        max_attempts: 1,
    };
    let mut planner = Planner::new(
        Path::new("rows.csv"),
        work.path(),
        Some(out_dir),
        limits,
        9,
        Cache {
            salt: 0,
            labeled: Arc::default(),
        },
    )
    .unwrap();
    for (index, (id, text)) in rows.iter().enumerate() {
        let mut buffer = b"{\"custom_id\":\"".to_vec();
        let custom_id_start = buffer.len();
        let kind = crate::custom_id::write_custom_id(id, &mut buffer);
        let custom_id = custom_id_start..buffer.len();
        buffer.extend_from_slice(b"\",\"body\":");
        let body_start = buffer.len();
        buffer.extend_from_slice(serde_json::to_string(text).unwrap().as_bytes());
        let body = body_start..buffer.len();
        buffer.extend_from_slice(b"}\n");
        let request = RenderedRequest {
            line: index as u64 + 2,
            jsonl: 0..buffer.len(),
            custom_id,
            body: body.clone(),
            custom_id_kind: kind,
            body_hash: xxhash_rust::xxh3::xxh3_128(&buffer[body]),
            id_hash: xxhash_rust::xxh3::xxh3_128(id.as_bytes()),
            input_tokens: 0,
        };
        planner.add(&buffer, id, &request).unwrap();
    }
    planner.finish().unwrap()
}

#[test]
fn dedupe_is_exact_even_when_the_filter_is_saturated() {
    let out = tempfile::tempdir().unwrap();
    let rows: Vec<(String, String)> = (0..2000)
        .map(|i| (format!("id{i}"), format!("text {}", i % 700)))
        .collect();
    let plan = plan(&rows, out.path());
    assert_eq!(plan.problem_count, 0, "{:?}", plan.problems);
    assert_eq!(
        (plan.rows, plan.requests, plan.duplicate_rows),
        (2000, 700, 1300)
    );
    let mut bodies = std::collections::HashSet::new();
    for shard in &plan.shards {
        for line in std::fs::read_to_string(out.path().join(&shard.file))
            .unwrap()
            .lines()
        {
            let value: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(
                bodies.insert(value["body"].as_str().unwrap().to_string()),
                "{line} sent twice"
            );
        }
    }
    assert_eq!(bodies.len(), 700);
    let row_map = std::fs::read_to_string(out.path().join("row-map.csv")).unwrap();
    assert_eq!(row_map.lines().count(), 1 + 1300);
    // Each duplicate points at the request that carries its text.
    assert!(
        row_map.contains("\nid700,r-id0,duplicate\n"),
        "{}",
        &row_map[..200]
    );
}

#[test]
fn duplicate_ids_are_exact_even_when_the_filter_is_saturated() {
    let out = tempfile::tempdir().unwrap();
    let mut rows: Vec<(String, String)> = (0..1500)
        .map(|i| (format!("id{i}"), format!("text {i}")))
        .collect();
    rows.push(("id7".into(), "again".into()));
    rows.push(("id1499".into(), "again and again".into()));
    let plan = plan(&rows, out.path());
    let mut found: Vec<(u64, String)> = plan
        .problems
        .iter()
        .map(|problem| (problem.line, problem.message.clone()))
        .collect();
    found.sort();
    assert_eq!(plan.problem_count, 2, "{found:?}");
    assert_eq!(found[0].0, 1502);
    assert!(
        found[0]
            .1
            .starts_with("duplicate id `id7`: first seen on line 9"),
        "{found:?}"
    );
    assert_eq!(found[1].0, 1503);
    assert!(
        found[1]
            .1
            .starts_with("duplicate id `id1499`: first seen on line 1501"),
        "{found:?}"
    );
}
