//! Runs a batch through its statuses on its own thread: validating → in_progress (lines
//! answered by the engine, `request_counts` growing) → finalizing → completed, or failed,
//! expired or cancelled, writing the output and error files exactly as OpenAI does.
//! Unfinished batches are restarted when the server starts again.

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use batchlabel_protocol::{
    BatchError, BatchErrors, BatchStatus, BatchUsage, FileObject, RequestCounts,
};
use serde_json::json;

use crate::engine::{Answer, Engine};
use crate::faults::{BatchFate, LineFault};
use crate::file_check::{CheckedLine, check_file};
use crate::routes::AppState;
pub(crate) use crate::workers::WorkerSlots;

/// Lines between live `request_counts` updates and cancel checks.
const PROGRESS_EVERY: usize = 512;

pub(crate) fn start(state: &Arc<AppState>, batch_id: String) {
    let state = Arc::clone(state);
    let ticket = state.workers.ticket();
    std::thread::spawn(move || {
        if let Err(error) = process(&state, &batch_id, ticket) {
            tracing_line(&format!("batch {batch_id}: {error}"));
        }
        // Given up on (an error): its tokens leave the queue all the same.
        state.queue.release(&batch_id);
    });
}

#[expect(clippy::print_stderr, reason = "the server logs to stderr")]
fn tracing_line(message: &str) {
    eprintln!("batchlabel serve: {message}");
}

pub(crate) fn resume_unfinished(state: &Arc<AppState>) {
    // The store keeps batches in creation order: they resume in the order they were accepted.
    for batch in state.store.batches() {
        match batch.status {
            BatchStatus::Cancelling => {
                let _ = state.store.update_batch(&batch.id, true, |batch| {
                    batch.status = BatchStatus::Cancelled;
                    batch.cancelled_at = Some(crate::now());
                });
            }
            status if !status.is_terminal() => {
                // The queue is in memory: count what is still running again, in order.
                let tokens =
                    crate::queue::file_tokens(&state.store.content_path(&batch.input_file_id));
                state.queue.admit(&batch.id, tokens);
                start(state, batch.id);
            }
            _ => {}
        }
    }
}

fn set_status(
    state: &AppState,
    batch_id: &str,
    change: impl FnOnce(&mut batchlabel_protocol::Batch),
) -> std::io::Result<()> {
    state.store.update_batch(batch_id, true, change)?;
    Ok(())
}

fn process(state: &Arc<AppState>, batch_id: &str, ticket: u64) -> std::io::Result<()> {
    let Some(batch) = state.store.batch(batch_id) else {
        return Ok(());
    };
    std::thread::sleep(state.options.step_delay);
    // In ticket order even when refused: every ticket must be served, or later ones wait.
    let _slot = state.workers.acquire(ticket);
    if state.queue.refused(batch_id) {
        // Refused at create for a full queue: it fails validation, its input unread.
        return fail(state, batch_id, vec![queue_full()]);
    }
    let front = if state.store.is_azure(batch_id) {
        crate::routes::Front::Azure
    } else {
        crate::routes::Front::OpenAi
    };
    let checked = match std::fs::read(state.store.content_path(&batch.input_file_id)) {
        Ok(content) => check_file(
            &content,
            &batch.endpoint,
            // The Anthropic front end checked its own cap at create; Mistral's cap is its own.
            match batch.endpoint.as_str() {
                crate::anthropic::INTERNAL_ENDPOINT => u64::MAX,
                crate::mistral::INTERNAL_ENDPOINT => crate::mistral::MAX_REQUESTS,
                _ => state.options.max_requests_per_file,
            },
            front,
        )
        .map(|lines| (content, lines)),
        Err(_) => Err(vec![BatchError {
            code: "invalid_request".into(),
            message: format!("The input file `{}` no longer exists.", batch.input_file_id),
            param: Some("input_file_id".into()),
            line: None,
        }]),
    };
    // The Anthropic, Gemini and Mistral front ends drew their batch's fate at create.
    let fate = match batch.endpoint.as_str() {
        crate::mistral::INTERNAL_ENDPOINT => crate::mistral::batch_fate(state, batch_id),
        crate::gemini::INTERNAL_ENDPOINT => crate::gemini::batch_fate(&batch),
        _ => crate::anthropic::batch_fate(&state.options.faults, &batch),
    };
    let checked = match (checked, fate) {
        (Ok(_), Some(BatchFate::Failed)) => Err(vec![queue_full()]),
        (checked, _) => checked,
    };
    let (content, lines) = match checked {
        Ok(checked) => checked,
        Err(errors) => return fail(state, batch_id, errors),
    };
    let total = lines.len();
    // A cancel that arrived while validating wins: nothing runs. A batch the server had
    // accepted before it was stopped (in progress or finalizing) runs again from its
    // journaled input: accepted work is finished, never dropped.
    let started = state.store.update_batch(batch_id, true, |batch| {
        match batch.status {
            BatchStatus::Validating => {
                batch.status = BatchStatus::InProgress;
                batch.in_progress_at = Some(crate::now());
                batch.expires_at = Some(batch.created_at + 86_400);
            }
            BatchStatus::InProgress | BatchStatus::Finalizing => {
                batch.status = BatchStatus::InProgress;
                batch.finalizing_at = None;
            }
            _ => return false,
        }
        batch.request_counts = Some(RequestCounts {
            total: total as u64,
            ..RequestCounts::default()
        });
        true
    })?;
    let cancelled_early = !matches!(started, Some((true, _)));
    if !cancelled_early {
        std::thread::sleep(state.options.step_delay);
    }
    let cut = match fate {
        _ if cancelled_early => 0,
        Some(BatchFate::Expired | BatchFate::Cancelled) => total / 2,
        _ => total,
    };
    // A cancel may stop the work early; what was answered is still delivered.
    let (answers, stopped) = answer_lines(state, batch_id, &content, &lines[..cut]);
    let cancelled_by_user = cancelled_early || stopped;
    let mut output = Vec::new();
    let mut errors = Vec::new();
    let mut counts = RequestCounts {
        total: total as u64,
        ..RequestCounts::default()
    };
    let mut usage = BatchUsage::default();
    let mut model = None;
    let stop_code = match fate {
        Some(BatchFate::Expired) => "batch_expired",
        _ => "batch_cancelled",
    };
    for (index, line) in lines.iter().enumerate().rev() {
        let line_id = format!(
            "batch_req_{:016x}",
            xxhash_rust::xxh3::xxh3_64(format!("{batch_id}/{index}").as_bytes())
        );
        let custom_id = serde_json::to_string(&line.custom_id).unwrap_or_default();
        let Some(answer) = answers.get(index) else {
            counts.failed += 1;
            let message = if stop_code == "batch_expired" {
                "This request could not be executed before the completion window expired."
            } else {
                "This request was not executed because the batch was cancelled."
            };
            let value = json!({"id": line_id, "custom_id": line.custom_id, "response": null,
                "error": {"code": stop_code, "message": message}});
            writeln!(errors, "{value}")?;
            continue;
        };
        let fault = state.options.faults.next_line();
        if fault == LineFault::Missing {
            continue;
        }
        let server_error;
        let answer = if fault == LineFault::ServerError {
            server_error = Answer {
                status: 500,
                body: crate::engine::error_body(
                    "The server had an error while processing your request.",
                    "server_error",
                )
                .to_string(),
                prompt_tokens: 0,
                completion_tokens: 0,
                model: None,
            };
            &server_error
        } else {
            answer
        };
        let request_id = xxhash_rust::xxh3::xxh3_64(line_id.as_bytes());
        let text = format!(
            r#"{{"id":"{line_id}","custom_id":{custom_id},"response":{{"status_code":{},"request_id":"req_{request_id:016x}","body":{}}},"error":null}}"#,
            answer.status, answer.body
        );
        let target = if answer.status == 200 {
            counts.completed += 1;
            usage.input_tokens += answer.prompt_tokens;
            usage.output_tokens += answer.completion_tokens;
            if model.is_none() {
                model.clone_from(&answer.model);
            }
            &mut output
        } else {
            counts.failed += 1;
            &mut errors
        };
        if fault == LineFault::Malformed {
            let mut cut = text.len() / 2;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            writeln!(target, "{}", &text[..cut])?;
        } else {
            writeln!(target, "{text}")?;
        }
    }
    usage.total_tokens = usage.input_tokens + usage.output_tokens;
    let final_status = match fate {
        Some(BatchFate::Expired) => BatchStatus::Expired,
        Some(BatchFate::Cancelled) => BatchStatus::Cancelled,
        _ if cancelled_by_user => BatchStatus::Cancelled,
        _ => BatchStatus::Completed,
    };
    if final_status == BatchStatus::Completed {
        set_status(state, batch_id, |batch| {
            batch.status = BatchStatus::Finalizing;
            batch.finalizing_at = Some(crate::now());
            batch.request_counts = Some(counts);
        })?;
        std::thread::sleep(state.options.step_delay);
    }
    let output_file_id = write_result_file(state, batch_id, "output", &output, false)?;
    // Azure writes an error file for every batch that ran, 0 bytes when nothing failed.
    let always = front == crate::routes::Front::Azure;
    let error_file_id = write_result_file(state, batch_id, "error", &errors, always)?;
    state.queue.release(batch_id);
    set_status(state, batch_id, |batch| {
        let now = crate::now();
        batch.status = final_status;
        match final_status {
            BatchStatus::Expired => batch.expired_at = Some(now),
            BatchStatus::Cancelled => {
                batch.cancelling_at.get_or_insert(now);
                batch.cancelled_at = Some(now);
            }
            _ => batch.completed_at = Some(now),
        }
        batch.request_counts = Some(counts);
        batch.output_file_id = output_file_id;
        batch.error_file_id = error_file_id;
        batch.usage = Some(usage);
        // Set from the input file at create; the model that answered wins when it says.
        if model.is_some() {
            batch.model = model;
        }
    })
}

/// The error of a batch refused for a full queue, as OpenAI words it.
fn queue_full() -> BatchError {
    BatchError {
        code: "token_limit_exceeded".into(),
        message: "Enqueued token limit reached for this model in organization org-local. Please try again once some in_progress batches have been completed.".into(),
        param: None,
        line: None,
    }
}

/// The batch failed validation.
fn fail(state: &AppState, batch_id: &str, errors: Vec<BatchError>) -> std::io::Result<()> {
    // Freed before the status shows, so a client that saw it end finds room.
    state.queue.release(batch_id);
    set_status(state, batch_id, |batch| {
        batch.status = BatchStatus::Failed;
        batch.failed_at = Some(crate::now());
        batch.errors = Some(BatchErrors {
            object: "list".into(),
            data: errors,
        });
    })
}

/// Answer lines in order until done or cancelled: the answers of the lines run, and whether
/// a cancel was requested.
fn answer_lines(
    state: &Arc<AppState>,
    batch_id: &str,
    content: &[u8],
    lines: &[CheckedLine],
) -> (Vec<Answer>, bool) {
    let (threads, progress_every) = match state.options.engine {
        Engine::Scripted(_) => (1, PROGRESS_EVERY),
        Engine::Upstream { .. } => (8, 8),
        // A local model answers a few requests a second: show every one.
        Engine::InProcess(_) => (1, 1),
    };
    let next = AtomicUsize::new(0);
    let stopped = std::sync::atomic::AtomicBool::new(false);
    let slots: Vec<std::sync::Mutex<Option<Answer>>> =
        lines.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let done = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let client = reqwest::blocking::Client::new();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= lines.len() || stopped.load(Ordering::Relaxed) {
                        return;
                    }
                    let body =
                        std::str::from_utf8(&content[lines[index].body.clone()]).unwrap_or("{}");
                    let answer = state.options.engine.answer(body, &client);
                    if let Ok(mut slot) = slots[index].lock() {
                        *slot = Some(answer);
                    }
                    let finished = done.fetch_add(1, Ordering::Relaxed) + 1;
                    if finished.is_multiple_of(progress_every) {
                        let update = state.store.update_batch(batch_id, false, |batch| {
                            if let Some(counts) = &mut batch.request_counts {
                                counts.completed = finished as u64;
                            }
                            batch.status
                        });
                        if matches!(update, Ok(Some((BatchStatus::Cancelling, _)))) {
                            stopped.store(true, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    if let Ok(Some((BatchStatus::Cancelling, _))) =
        state
            .store
            .update_batch(batch_id, false, |batch| batch.status)
    {
        stopped.store(true, Ordering::Relaxed);
    }
    let mut answers = Vec::with_capacity(lines.len());
    for slot in slots {
        match slot.into_inner().ok().flatten() {
            Some(answer) => answers.push(answer),
            None => break,
        }
    }
    (answers, stopped.load(Ordering::Relaxed))
}

fn write_result_file(
    state: &AppState,
    batch_id: &str,
    kind: &str,
    content: &[u8],
    always: bool,
) -> std::io::Result<Option<String>> {
    if content.is_empty() && !always {
        return Ok(None);
    }
    let file_id = state.store.new_id("file-");
    std::fs::write(state.store.content_path(&file_id), content)?;
    let now = crate::now();
    state.store.add_file(FileObject {
        id: file_id.clone(),
        object: "file".into(),
        bytes: content.len() as u64,
        created_at: now,
        filename: format!("{batch_id}_{kind}.jsonl"),
        purpose: "batch_output".into(),
        status: Some("processed".into()),
        expires_at: Some(now + 2_592_000),
    })?;
    Ok(Some(file_id))
}
