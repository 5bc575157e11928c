//! The Anthropic Message Batches front end, over HTTP, against an in-process server.

mod batches;
mod common;
mod faults;
mod sdk;
#[path = "../support/sdk_runner.rs"]
mod sdk_runner;
