//! The provider's queue as `status` shows it: the tokens of the batches in flight, counted
//! against `batch.max_enqueued_tokens`, and of the shards waiting for room.

use serde_json::Value;

use crate::Scratch;
use crate::local_server::LocalServer;
use crate::run::{job, run, status, summary};

#[test]
fn status_shows_the_tokens_in_the_providers_queue_and_those_waiting_to_enter_it() {
    let scratch = Scratch::new();
    job(&scratch, 100, 25, 1);
    let estimate = scratch.run(&["estimate", "job.yaml", "--json"]);
    let estimate: Value = serde_json::from_str(&estimate.stdout).expect("estimate JSON");
    let shard_tokens = estimate["estimate"]["shards"][0]["input_tokens"]
        .as_u64()
        .expect("shard tokens");
    // Room for one shard in the queue at a time: the other three wait.
    let spec = std::fs::read_to_string(scratch.path().join("job.yaml")).unwrap();
    scratch.write(
        "job.yaml",
        spec.replace(
            "\nbatch:\n",
            &format!(
                "\nbatch:\n  max_enqueued_tokens: {}\n",
                shard_tokens * 3 / 2
            ),
        ),
    );
    let server = LocalServer::start(scratch.path(), &["--step-delay-ms", "1000"]);
    let submitted = run(&scratch, &server, &["--no-wait"]);
    assert_eq!(submitted.code, 0, "{submitted:?}");
    let queue = status(&scratch)["queue"].clone();
    assert_eq!(queue["in_flight_batches"], 1, "{queue:#}");
    assert!(
        queue["in_flight_tokens"].as_u64().unwrap() >= shard_tokens,
        "{queue:#}"
    );
    assert_eq!(queue["queued_shards"], 3, "{queue:#}");
    assert!(
        queue["queued_tokens"].as_u64().unwrap() >= 3 * shard_tokens - 3,
        "{queue:#}"
    );
    let text = scratch.run(&["status", "job.yaml"]);
    assert!(
        text.stdout.contains("tokens in flight (1 batches")
            && text.stdout.contains("in 3 shard(s) not sent yet"),
        "{text:?}"
    );
    // The rest enters the queue as room frees up; at the end nothing is queued.
    let outcome = run(&scratch, &server, &[]);
    assert_eq!(outcome.code, 0, "{outcome:?}");
    assert_eq!(summary(&outcome)["labeled_rows"], 100);
    let queue = status(&scratch)["queue"].clone();
    assert_eq!(queue["in_flight_batches"], 0, "{queue:#}");
    assert_eq!(queue["queued_shards"], 0, "{queue:#}");
}
