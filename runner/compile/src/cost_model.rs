//! The cost bounds of one job's requests: prompt tokens counted with the model's tokenizer
//! (plus the output schema, which structured outputs put in the prompt), output bounded by
//! the label schema and `max_completion_tokens`, priced at the batch rate. Used by the
//! pre-flight estimate, by the runner's budget reservations, and for retry files.

use batchlabel_spec::Job;

use crate::tokens::TokenCounter;
use batchlabel_providers::BatchPrice;

pub use batchlabel_core::CostBound;

/// Token counting and pricing for one job.
pub struct CostModel {
    counter: TokenCounter,
    /// Tokens of the output schema, counted once per request.
    pub schema_tokens_per_request: u64,
    /// Most output tokens of one answer.
    pub output_tokens_per_request_max: Option<u64>,
    /// The batch price; zero for the embedded local model.
    pub price: Option<BatchPrice>,
}

/// The price of a job's model, as its provider knows it.
pub fn job_price(job: &Job) -> Option<BatchPrice> {
    batchlabel_providers::price_for(job)
}

impl CostModel {
    /// The cost model of `job`.
    pub fn for_job(job: &Job) -> Self {
        let counter = TokenCounter::for_model(&job.model.name);
        let schema_tokens_per_request = counter.count(&job.structured_output.schema.to_string());
        let output_tokens_per_request_max = counter.output_bound(job);
        Self {
            counter,
            schema_tokens_per_request,
            output_tokens_per_request_max,
            price: job_price(job),
        }
    }

    /// The tokenizer.
    pub fn counter(&self) -> &TokenCounter {
        &self.counter
    }

    /// The bound of `requests` requests whose messages count `message_tokens` in all.
    pub fn bound(&self, requests: u64, message_tokens: u64) -> CostBound {
        let input_tokens = message_tokens + self.schema_tokens_per_request * requests;
        self.priced(input_tokens, requests)
    }

    /// `input_tokens` of prompt and at most `answers` answers as long as allowed, priced.
    fn priced(&self, input_tokens: u64, answers: u64) -> CostBound {
        let output_tokens_max = self
            .output_tokens_per_request_max
            .map(|bound| bound * answers);
        CostBound {
            input_tokens,
            output_tokens_max,
            cost_usd_max: self
                .price
                .zip(output_tokens_max)
                .map(|(price, output)| price.cost(input_tokens, output)),
        }
    }

    /// The bound of one compiled shard: of its packed file when it is packed (whose token
    /// count includes the schemas), else of its requests.
    pub fn shard_bound(&self, shard: &crate::ShardSummary) -> CostBound {
        let Some(packed) = &shard.packed else {
            return self.bound(shard.requests, shard.input_tokens);
        };
        // Each item's share of a packed answer is far below one answer's bound: the bound
        // stays an upper bound.
        self.priced(packed.input_tokens, shard.requests)
    }

    /// Prompt tokens of one batch-file line's messages (schema not included), e.g. a retry
    /// line that carries feedback turns. A line that is not a request counts 0.
    pub fn request_line_tokens(&self, line: &str) -> u64 {
        let Ok(request) = serde_json::from_str::<serde_json::Value>(line) else {
            return 0;
        };
        let Some(messages) = request["body"]["messages"].as_array() else {
            return 0;
        };
        let contents: Vec<&str> = messages
            .iter()
            .map(|message| message["content"].as_str().unwrap_or_default())
            .collect();
        self.counter.chat_prompt(&contents)
    }
}
