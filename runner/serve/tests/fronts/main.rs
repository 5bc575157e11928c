//! The translated front ends over HTTP, against an in-process server.

mod common;
mod gemini;
mod mistral;
#[path = "../support/sdk_runner.rs"]
mod sdk_runner;
