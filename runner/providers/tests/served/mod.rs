//! A real in-process `batchlabel serve` on 127.0.0.1 (scripted engine, a required key) for the
//! contract tests, and the contract's cases as `#[tokio::test]`s for one way of building a
//! client against it.

use std::time::Duration;

use batchlabel_providers::RetryPolicy;
use batchlabel_serve::{Engine, Faults, Script, ServeOptions, Server};

/// The key the server requires.
pub const KEY: &str = "sk-contract-secret-0123456789abcdef";

/// A server with its own state folder, serving until the test's runtime ends.
pub struct Served {
    /// `http://127.0.0.1:<port>`.
    pub origin: String,
    scratch: tempfile::TempDir,
}

pub async fn serve(step_delay: Duration) -> Served {
    serve_adjusted(step_delay, |_| {}).await
}

/// [`serve`], with `adjust` setting the server up before it starts.
pub async fn serve_adjusted(step_delay: Duration, adjust: impl FnOnce(&Server)) -> Served {
    let scratch = tempfile::tempdir().expect("temp dir");
    let server = Server::bind(ServeOptions {
        address: ([127, 0, 0, 1], 0).into(),
        state_dir: scratch.path().join("serve"),
        engine: Engine::Scripted(std::sync::Arc::new(Script::default())),
        faults: Faults::default(),
        max_requests_per_file: 50_000,
        api_key: Some(KEY.into()),
        step_delay,
        azure_max_enqueued_tokens: batchlabel_serve::DEFAULT_AZURE_MAX_ENQUEUED_TOKENS,
        max_enqueued_tokens: None,
    })
    .await
    .expect("bind");
    adjust(&server);
    let origin = format!("http://{}", server.local_address());
    tokio::spawn(server.run());
    Served { origin, scratch }
}

impl Served {
    pub fn directory(&self) -> std::path::PathBuf {
        let directory = self.scratch.path().join("case");
        std::fs::create_dir_all(&directory).expect("mkdir");
        directory
    }
}

/// Few, fast retries: a contract case should fail fast.
pub fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_retries: 1,
        initial: Duration::from_millis(10),
        max_backoff: Duration::from_millis(20),
    }
}

/// Every contract case for clients made by `$client(&Served, key)`.
#[macro_export]
macro_rules! contract_cases {
    ($client:expr) => {
        use batchlabel_test_support::contract;
        use std::time::Duration;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn stage_then_find_by_name() {
            let served = served::serve(Duration::ZERO).await;
            contract::stage_then_find_by_name(&$client(&served, served::KEY), &served.directory())
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn create_then_find_by_tags() {
            let served = served::serve(Duration::ZERO).await;
            contract::create_then_find_by_tags(&$client(&served, served::KEY), &served.directory())
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn lost_create_is_found_by_looking() {
            let served = served::serve(Duration::ZERO).await;
            contract::lost_create_is_found_by_looking(
                &$client(&served, served::KEY),
                &$client(&served, served::KEY),
                &served.directory(),
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn poll_reaches_a_terminal_state() {
            let served = served::serve(Duration::ZERO).await;
            contract::poll_reaches_a_terminal_state(
                &$client(&served, served::KEY),
                &served.directory(),
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn results_join_every_request() {
            let served = served::serve(Duration::ZERO).await;
            contract::results_join_every_request(
                &$client(&served, served::KEY),
                &served.directory(),
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn cancel_a_live_batch() {
            // Each status change waits, so the cancel arrives while the batch is young.
            let served = served::serve(Duration::from_millis(500)).await;
            let ended =
                contract::cancel_a_live_batch(&$client(&served, served::KEY), &served.directory())
                    .await;
            assert_eq!(ended.state, batchlabel_providers::BatchState::Cancelled);
            assert_eq!(ended.counts.completed, 0, "{ended:?}");
            assert_eq!(ended.counts.total, 3, "{ended:?}");
            assert_eq!(ended.counts.failed, ended.counts.total, "{ended:?}");
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn unknown_batch_is_not_found() {
            let served = served::serve(Duration::ZERO).await;
            contract::unknown_batch_is_not_found(
                &$client(&served, served::KEY),
                &served.directory(),
            )
            .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn delete_input_twice() {
            let served = served::serve(Duration::ZERO).await;
            contract::delete_input_twice(&$client(&served, served::KEY), &served.directory()).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn delete_results_twice() {
            let served = served::serve(Duration::ZERO).await;
            contract::delete_results_twice(&$client(&served, served::KEY), &served.directory())
                .await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn errors_never_contain_the_key() {
            let served = served::serve(Duration::ZERO).await;
            contract::errors_never_contain(
                &$client(&served, served::KEY),
                &served.directory(),
                served::KEY,
            )
            .await;
            let wrong = "sk-wrong-key-fedcba9876543210";
            contract::errors_never_contain(&$client(&served, wrong), &served.directory(), wrong)
                .await;
        }
    };
}
