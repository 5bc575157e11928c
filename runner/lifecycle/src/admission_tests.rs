//! Admission: waves under the cap, a lone shard over it, lowering after a refusal and
//! growing back, and the per-provider defaults.

use std::time::{Duration, Instant};

use batchlabel_core::{CostBound, ShardState};
use batchlabel_ledger::ShardRecord;
use batchlabel_spec::ProviderKind;

use super::{Admission, Cap, Load, is_loopback};

/// Shard `number` in `state`, weighing `tokens` (by its estimate) and 10 requests.
fn shard(number: i64, tokens: u64, state: ShardState) -> ShardRecord {
    ShardRecord {
        id: number,
        attempt: 1,
        number,
        path: String::new(),
        requests: 10,
        bytes: 4,
        state,
        submits: 0,
        file_id: None,
        upload_intent_at: None,
        batch_id: None,
        create_intent_at: None,
        batch_status: None,
        completed: 0,
        failed: 0,
        submitted_at: None,
        output_path: None,
        error_path: None,
        note: None,
        id_set_hash: 0,
        estimate: CostBound {
            input_tokens: tokens,
            output_tokens_max: None,
            cost_usd_max: None,
        },
        reserved_at: None,
        actual: None,
        result_files: Vec::new(),
        remote_cleaned_at: None,
        cleanup_note: None,
        cleanup_failed_at: None,
    }
}

fn numbers(shards: &[ShardRecord]) -> Vec<i64> {
    shards.iter().map(|shard| shard.number).collect()
}

fn tokens(cap: u64) -> Cap {
    Cap {
        tokens: Some(cap),
        requests: None,
    }
}

fn planned(weights: &[u64]) -> Vec<ShardRecord> {
    weights
        .iter()
        .enumerate()
        .map(|(index, weight)| shard(index as i64 + 1, *weight, ShardState::Planned))
        .collect()
}

#[test]
fn shards_go_in_waves_under_the_cap() {
    let admission = Admission::new(tokens(100), Duration::from_secs(1));
    let now = Instant::now();
    let mut shards = planned(&[40, 40, 40, 10]);
    // 40 + 40 fit, the third would make 120: the wave ends there, in order.
    assert_eq!(numbers(&admission.select(&shards, now)), [1, 2]);
    shards[0].state = ShardState::Submitted;
    shards[1].state = ShardState::Submitted;
    assert!(admission.select(&shards, now).is_empty());
    // One batch ended: room for the third, then the fourth.
    shards[0].state = ShardState::Ingested;
    assert_eq!(numbers(&admission.select(&shards, now)), [3, 4]);
}

#[test]
fn a_shard_over_the_cap_goes_alone_when_nothing_is_in_flight() {
    let admission = Admission::new(tokens(100), Duration::from_secs(1));
    let now = Instant::now();
    let mut shards = planned(&[30, 500, 10]);
    assert_eq!(numbers(&admission.select(&shards, now)), [1]);
    shards[0].state = ShardState::Downloaded;
    assert_eq!(numbers(&admission.select(&shards, now)), [2]);
    shards[1].state = ShardState::Submitted;
    assert!(admission.select(&shards, now).is_empty());
}

#[test]
fn no_cap_sends_everything() {
    let cap = Cap {
        tokens: None,
        requests: None,
    };
    let admission = Admission::new(cap, Duration::from_secs(1));
    let shards = planned(&[u64::MAX / 2, u64::MAX / 2, 7]);
    assert_eq!(
        numbers(&admission.select(&shards, Instant::now())),
        [1, 2, 3]
    );
}

#[test]
fn a_request_cap_counts_requests() {
    let cap = Cap::default_for(ProviderKind::Anthropic);
    assert_eq!(cap.tokens, None);
    let admission = Admission::new(
        Cap {
            tokens: None,
            requests: Some(25),
        },
        Duration::from_secs(1),
    );
    let shards = planned(&[1, 1, 1]);
    assert_eq!(numbers(&admission.select(&shards, Instant::now())), [1, 2]);
}

#[test]
fn a_refusal_lowers_the_cap_to_what_was_in_flight_and_it_grows_back() {
    let mut admission = Admission::new(tokens(100), Duration::from_secs(1));
    let now = Instant::now();
    let mut shards = planned(&[40, 40, 20, 30]);
    assert_eq!(numbers(&admission.select(&shards, now)), [1, 2, 3]);
    shards[0].state = ShardState::Submitted;
    shards[1].state = ShardState::Submitted;
    // The third's batch failed for a full queue while 80 were in flight.
    let in_flight = Load::in_flight(&shards);
    admission.refused(in_flight, Load::of(&shards[2]), now);
    assert_eq!(admission.cap().tokens, Some(80));
    // Nothing more until batches end (not a blind retry every turn).
    assert!(admission.select(&shards, now).is_empty());
    shards[0].state = ShardState::Downloaded;
    admission.ended_well(Load::of(&shards[0]));
    assert_eq!(admission.cap().tokens, Some(85));
    // 40 in flight: the refused 20 fits again (60), the 30 after it does not (90 > 85).
    assert_eq!(numbers(&admission.select(&shards, now)), [3]);
    for _ in 0..10 {
        admission.ended_well(Load::of(&shards[0]));
    }
    assert_eq!(admission.cap().tokens, Some(100), "never above the ceiling");
}

#[test]
fn a_refusal_with_nothing_in_flight_pauses_longer_each_time() {
    let mut admission = Admission::new(tokens(100), Duration::from_secs(10));
    let now = Instant::now();
    let shards = planned(&[60]);
    admission.refused(Load::default(), Load::of(&shards[0]), now);
    assert_eq!(
        admission.cap().tokens,
        Some(60),
        "at least the refused shard"
    );
    assert!(
        admission
            .select(&shards, now + Duration::from_secs(9))
            .is_empty()
    );
    assert_eq!(
        numbers(&admission.select(&shards, now + Duration::from_secs(10))),
        [1]
    );
    admission.refused(Load::default(), Load::of(&shards[0]), now);
    assert!(
        admission
            .select(&shards, now + Duration::from_secs(19))
            .is_empty()
    );
    assert_eq!(
        numbers(&admission.select(&shards, now + Duration::from_secs(20))),
        [1]
    );
}

#[test]
fn a_shard_weighs_its_estimate_or_a_quarter_of_its_bytes() {
    let mut record = shard(1, 0, ShardState::Planned);
    record.bytes = 4001;
    assert_eq!(Load::of(&record).tokens, 1001);
    record.estimate.input_tokens = 5000;
    assert_eq!(Load::of(&record).tokens, 5000);
    assert_eq!(Load::of(&record).requests, 10);
}

#[test]
fn defaults_are_per_provider_and_not_for_loopback_servers() {
    assert_eq!(
        Cap::default_for(ProviderKind::Openai).tokens,
        Some(2_000_000)
    );
    assert_eq!(
        Cap::default_for(ProviderKind::AzureOpenai).tokens,
        Some(100_000_000)
    );
    assert_eq!(
        Cap::default_for(ProviderKind::Anthropic).requests,
        Some(100_000)
    );
    assert_eq!(Cap::default_for(ProviderKind::Local), Cap::NONE);
    for url in [
        "http://127.0.0.1:8080/v1",
        "http://localhost/v1",
        "http://[::1]:9/v1",
        "http://user:pw@127.0.0.1:1/v1",
    ] {
        assert!(is_loopback(url), "{url}");
    }
    for url in [
        "https://api.openai.com/v1",
        "https://x.openai.azure.com/openai",
        "garbage",
    ] {
        assert!(!is_loopback(url), "{url}");
    }
}

/// A job of `provider`, with `batch` under `batch:`.
fn job(provider: &str, batch: &str) -> batchlabel_spec::Job {
    let scratch = tempfile::tempdir().expect("temp dir");
    std::fs::write(scratch.path().join("rows.csv"), "id,text\n1,hi\n").expect("rows");
    let spec = format!(
        "name: cap-job\ninput:\n  csv: rows.csv\n  id: id\n  text: text\nprompt:\n  user: \"{{{{ text }}}}\"\nlabels:\n  sentiment:\n    one_of: [POSITIVE, NEGATIVE]\nmodel:\n  provider: {provider}\n  name: some-model\n  max_completion_tokens: 16\nbatch:\n  max_attempts: 1\n{batch}"
    );
    let path = scratch.path().join("job.yaml");
    std::fs::write(&path, spec).expect("spec");
    batchlabel_spec::load(&path)
        .unwrap_or_else(|diagnostics| panic!("{diagnostics:?}"))
        .job
}

#[test]
fn the_spec_cap_replaces_the_default_and_loopback_servers_get_none() {
    let hosted = "https://api.example.com/v1";
    assert_eq!(
        Cap::for_job(&job("openai", ""), hosted),
        Cap::default_for(ProviderKind::Openai)
    );
    assert_eq!(
        Cap::for_job(&job("openai", ""), "http://127.0.0.1:9/v1"),
        Cap::NONE
    );
    let capped = "  max_enqueued_tokens: 5000\n";
    assert_eq!(
        Cap::for_job(&job("anthropic", capped), hosted),
        tokens(5000)
    );
    assert_eq!(
        Cap::for_job(&job("openai", capped), "http://localhost:1/v1"),
        tokens(5000)
    );
}
