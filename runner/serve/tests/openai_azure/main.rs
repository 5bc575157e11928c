//! `batchlabel serve`'s front ends over real HTTP on 127.0.0.1: OpenAI's, driven by the
//! official Python SDK ([`openai_sdk`]) and by plain requests ([`openai_http`]), and Azure
//! OpenAI's ([`azure`]). One test binary, so the crate links once.

mod azure;
mod common;
mod openai_http;
mod openai_sdk;
mod queue;
#[path = "../support/sdk_runner.rs"]
mod sdk_runner;
