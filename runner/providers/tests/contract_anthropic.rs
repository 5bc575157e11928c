//! The provider contract on the Anthropic client against a real in-process `batchlabel serve`
//! (its Message Batches front end) on 127.0.0.1, in both structured-output forms.

mod served;

use batchlabel_providers::{AnthropicClient, AnthropicCodec, ApiKey};
use batchlabel_spec::AnthropicOutput;

fn client(served: &served::Served, key: &str) -> AnthropicClient {
    AnthropicClient::new(
        &served.origin,
        Some(ApiKey::new(key.into())),
        served::quick_retry(),
        AnthropicCodec::default(),
    )
}

contract_cases!(client);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tool_form_answers_every_request_too() {
    let served = served::serve(Duration::ZERO).await;
    let tool = AnthropicClient::new(
        &served.origin,
        Some(ApiKey::new(served::KEY.into())),
        served::quick_retry(),
        AnthropicCodec {
            output: AnthropicOutput::Tool,
        },
    );
    contract::results_join_every_request(&tool, &served.directory()).await;
}
