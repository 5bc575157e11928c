//! batchlabel-test-support: what tests of the runner share, never shipped.
//!
//! - [`FakeProvider`]: an in-process [`BatchProvider`](batchlabel_providers::BatchProvider)
//!   without network, clock or threads. It stages inputs (their lines kept in memory),
//!   creates batches, and answers each request line by a script of fates: per batch
//!   ([`BatchFate`]: completes, fails as a whole — queue full or not —, expires or is
//!   cancelled half way), per call ([`Fault`]: the answer is lost after the call took
//!   effect, the request is lost before, or an HTTP error) and per line ([`LineFate`]: a
//!   schema-valid answer, fixed content, a malformed or missing line, an HTTP error, a
//!   refusal, a truncated answer). Result files are in OpenAI's batch output format and
//!   its codec is [`OpenAiCodec`](batchlabel_providers::OpenAiCodec). It counts every call
//!   ([`CallCounts`]) and shows the batches and inputs it holds, so a test can assert
//!   "created exactly once". Lifecycle tests run on it in milliseconds.
//! - [`contract`]: the provider contract suite, one public async function per case, that
//!   every provider's tests run (the fake here, the OpenAI client against an in-process
//!   `batchlabel serve` in batchlabel-providers).
//! - [`PostgresServer`]: a real, throwaway PostgreSQL cluster (initdb in a temporary folder,
//!   a free 127.0.0.1 port, password authentication) for the database source/sink tests,
//!   stopped and removed on drop; it panics naming `bash scripts/prerequisites.sh --with-postgres` when
//!   PostgreSQL is not installed.
//!
//! It depends on batchlabel-providers only (never on the lifecycle or the CLI), so any
//! crate's tests may use it without a dependency cycle.

mod answers;
pub mod contract;
mod fake;
mod fates;
pub mod postgres;

pub use batchlabel_serve::answer_for_schema;
pub use fake::FakeProvider;
pub use fates::{
    BatchFate, Call, CallCounts, Fault, HeldBatch, HeldInput, LineFate, LineView, NewBatch,
};
pub use postgres::PostgresServer;
