//! Packing and the savings that work per row: duplicate rows share one packed item, a later
//! run takes earlier packed answers from the cross-run cache one row at a time (keeping the
//! pack that answered them), and a run in the other answer form (`pack_answer: codes`) never
//! reuses a `lists` answer.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::packing::packed;
use crate::run::{job, run, summary};

/// Per id, the results file's columns named in `wanted`.
fn columns(scratch: &Scratch, wanted: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut reader = csv::Reader::from_path(scratch.path().join("out/results.csv")).unwrap();
    let headers = reader.headers().unwrap().clone();
    let positions: Vec<usize> = wanted
        .iter()
        .map(|name| {
            headers
                .iter()
                .position(|header| header == *name)
                .unwrap_or_else(|| panic!("no `{name}` column in {headers:?}"))
        })
        .collect();
    reader
        .records()
        .map(Result::unwrap)
        .map(|row| {
            let values = positions.iter().map(|&at| row[at].to_string()).collect();
            (row[0].to_string(), values)
        })
        .collect()
}

#[test]
fn packed_rows_are_deduplicated_and_cached_one_by_one_and_codes_never_reuse_lists() {
    let scratch = Scratch::new();
    job(&scratch, 30, 100, 2);
    // Rows d0..d9 repeat the texts of t0..t9.
    let mut rows = std::fs::read_to_string(scratch.path().join("rows.csv")).unwrap();
    for index in 0..10 {
        let _ = writeln!(rows, "d{index},comment number {index} about the product");
    }
    scratch.write("rows.csv", rows);
    packed(&scratch, 10);
    crate::keep_remote_files(&scratch);
    let server = LocalServer::start(scratch.path(), &[]);

    let first = run(&scratch, &server, &[]);
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(summary(&first)["labeled_rows"], 40, "{first:?}");
    let packs: Vec<usize> = server
        .stored_files("batch")
        .iter()
        .map(|file| file.lines().count())
        .collect();
    assert_eq!(packs, [3], "30 distinct texts in packs of 10");
    let wanted = ["sentiment", "source", "packed_in"];
    let labeled = columns(&scratch, &wanted);
    for index in 0..10 {
        let (original, duplicate) = (
            &labeled[&format!("t{index}")],
            &labeled[&format!("d{index}")],
        );
        assert_eq!(duplicate[0], original[0], "d{index} has t{index}'s label");
        assert_eq!(duplicate[1], "duplicate", "{duplicate:?}");
    }
    assert!(labeled["t12"][2].starts_with("pk-"), "{labeled:?}");

    // The same spec again: every row from the cache, nothing sent, the pack still named.
    let again = run(&scratch, &server, &["--new-run"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(summary(&again)["cached_requests"], 30, "{again:?}");
    assert_eq!(
        server.stored_files("batch").len(),
        1,
        "nothing new was sent"
    );
    let cached = columns(&scratch, &wanted);
    assert_eq!(cached["t12"][1], "cache");
    assert_eq!(
        cached["t12"][2], labeled["t12"][2],
        "the answering pack is kept"
    );
    for (id, values) in &cached {
        assert_eq!(values[0], labeled[id][0], "{id}");
    }

    // The codes form asks again: its answers are not the lists form's.
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace("  pack: 10\n", "  pack: 10\n  pack_answer: codes\n"),
    );
    let codes = run(&scratch, &server, &["--new-run"]);
    assert_eq!(codes.code, 0, "{codes:?}");
    assert_eq!(summary(&codes)["cached_requests"], 0, "{codes:?}");
    assert_eq!(
        server.stored_files("batch").len(),
        2,
        "the codes run was sent"
    );
    let answered = columns(&scratch, &wanted);
    for (id, values) in &answered {
        assert_eq!(values[0], labeled[id][0], "{id}: the same labels in codes");
    }
}
