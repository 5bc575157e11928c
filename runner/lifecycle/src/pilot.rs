//! `batchlabel pilot`: a few rows through the provider's synchronous chat-completions
//! endpoint, rendered, validated (and calibrated) exactly as a batch run would, with bounded
//! concurrency and the client's rate-limit handling; then the full job's tokens and cost
//! projected from what the pilot observed. Nothing is written to the ledger.

use std::collections::{BTreeMap, BinaryHeap, HashMap};
use std::io::BufRead;
use std::path::Path;
use std::time::Instant;

use batchlabel_compile::{BatchPrice, CompileOptions};
use batchlabel_providers::{BatchProvider, Codec};
use batchlabel_spec::Job;
use futures_util::StreamExt;
use serde::Serialize;

use crate::{LifecycleError, ProviderFailure, RunObserver};
use batchlabel_core::Outcome;

/// Which rows a pilot sends, and how.
#[derive(Debug, Clone)]
pub struct PilotOptions {
    /// How many rows.
    pub rows: u64,
    /// Sample rows reproducibly with this seed; `None` takes the first rows.
    pub seed: Option<u64>,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// The job's plugins.
    pub plugins: crate::Plugins,
}

/// One pilot row.
#[derive(Debug, Clone, Serialize)]
pub struct PilotRow {
    /// The row id (the first, when duplicate rows shared the request).
    pub id: String,
    /// Other rows with the same request.
    pub duplicate_rows: u64,
    /// The labels, when valid.
    pub labels: Option<serde_json::Value>,
    /// The failure reason, when not.
    pub reason: Option<String>,
    /// Its detail.
    pub detail: Option<String>,
    /// Prompt tokens the provider reported.
    pub input_tokens: u64,
    /// Completion tokens the provider reported.
    pub output_tokens: u64,
    /// Request time, in milliseconds.
    pub milliseconds: u64,
}

/// What the full batch run would take, projected from the pilot.
#[derive(Debug, Clone, Serialize)]
pub struct Projection {
    /// Rows in the input.
    pub rows: u64,
    /// Requests after dedupe.
    pub requests: u64,
    /// Prompt tokens, counted with the model's tokenizer (messages + schema).
    pub input_tokens: u64,
    /// Prompt tokens per request the provider reported in the pilot, times requests.
    pub input_tokens_observed: Option<u64>,
    /// Completion tokens per answer observed in the pilot, on average.
    pub output_tokens_per_request: Option<f64>,
    /// That average times requests.
    pub output_tokens: Option<u64>,
    /// Dollars at the batch price with the observed output length.
    pub cost_usd: Option<f64>,
    /// Dollars at the batch price with every answer as long as allowed (the budget's bound).
    pub cost_usd_max: Option<f64>,
    /// The batch price used.
    pub price: Option<BatchPrice>,
}

/// What a pilot found.
#[derive(Debug, Clone, Serialize)]
pub struct PilotReport {
    /// Rows sent (with their duplicates).
    pub rows: u64,
    /// Requests sent.
    pub requests: u64,
    /// Rows labeled.
    pub labeled: u64,
    /// Rows failed.
    pub failed: u64,
    /// Failed rows by reason.
    pub failures: BTreeMap<String, u64>,
    /// Prompt tokens reported.
    pub input_tokens: u64,
    /// Completion tokens reported.
    pub output_tokens: u64,
    /// Requests the client repeated (rate limits, server errors, dropped connections).
    pub retries: u64,
    /// Rows whose label calibration over the pilot's rows changed (local model).
    pub calibrated_changes: u64,
    /// Wall time.
    pub seconds: f64,
    /// The rows, in input order.
    pub results: Vec<PilotRow>,
    /// The full run, projected.
    pub projection: Projection,
}

/// The ids of `count` rows: the first ones, or a reproducible sample (the rows whose
/// seeded hash of the id is smallest, so the same seed picks the same rows on any machine).
fn sample_ids(job: &Job, count: u64, seed: u64) -> Result<Vec<String>, LifecycleError> {
    let mut source = batchlabel_compile::open_source(job)?;
    let mut heap: BinaryHeap<(u64, String)> = BinaryHeap::new();
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        let more = source
            .next_chunk(1024, &mut chunk)
            .map_err(batchlabel_compile::CompileError::from)?;
        for row in chunk.drain(..).flatten() {
            let hash = xxhash_rust::xxh3::xxh3_64_with_seed(row.id.as_bytes(), seed);
            if (heap.len() as u64) < count {
                heap.push((hash, row.id));
            } else if heap.peek().is_some_and(|top| hash < top.0) {
                heap.pop();
                heap.push((hash, row.id));
            }
        }
        if !more {
            break;
        }
    }
    Ok(heap.into_iter().map(|(_, id)| id).collect())
}

struct PilotRequest {
    custom_id: String,
    /// The request line, as the codec wrote it.
    line: String,
    /// The custom_ids of its items, when it is a pack.
    items: Option<Vec<String>>,
}

/// The requests as a batch run would send them: packed when the job packs.
fn read_requests(
    directory: &Path,
    report: &batchlabel_compile::CompileReport,
    codec: &dyn Codec,
) -> Result<Vec<PilotRequest>, LifecycleError> {
    let mut requests = Vec::new();
    for shard in &report.shards {
        let file = directory.join(shard.sent_file());
        let packs = batchlabel_compile::Packs::of_shard(&file.to_string_lossy())?;
        let reader = std::io::BufReader::new(
            std::fs::File::open(&file).map_err(|source| LifecycleError::io(&file, source))?,
        );
        for line in reader.lines() {
            let line = line.map_err(|source| LifecycleError::io(&file, source))?;
            let custom_id = codec.request_custom_id(line.as_bytes()).ok_or_else(|| {
                LifecycleError::Internal(format!("{}: unreadable request line", file.display()))
            })?;
            let items = packs
                .as_ref()
                .and_then(|packs| packs.items(&custom_id))
                .map(<[String]>::to_vec);
            requests.push(PilotRequest {
                custom_id,
                line,
                items,
            });
        }
    }
    Ok(requests)
}

/// Rows sharing each request (hashed ids and duplicates), from the compile's row map.
fn row_map(directory: &Path) -> Result<HashMap<String, Vec<String>>, LifecycleError> {
    let mut map: HashMap<String, Vec<String>> = HashMap::new();
    for entry in batchlabel_compile::row_map_entries(directory).map_err(LifecycleError::Internal)? {
        let entry = entry.map_err(LifecycleError::Internal)?;
        map.entry(entry.custom_id).or_default().push(entry.row_id);
    }
    Ok(map)
}

/// Send a pilot of `job` through `provider`'s synchronous endpoint.
pub async fn pilot(
    job: &Job,
    options: &PilotOptions,
    provider: &dyn BatchProvider,
    observer: &dyn RunObserver,
) -> Result<PilotReport, LifecycleError> {
    let started = Instant::now();
    let row_filter = match options.seed {
        Some(seed) => Some(std::sync::Arc::new(
            sample_ids(job, options.rows, seed)?.into_iter().collect(),
        )),
        None => None,
    };
    let scratch =
        tempfile::tempdir().map_err(|source| LifecycleError::io(Path::new("."), source))?;
    let directory = scratch.path().join("requests");
    let report = batchlabel_compile::compile(
        job,
        &CompileOptions {
            out_dir: Some(directory.clone()),
            row_limit: row_filter.is_none().then_some(options.rows),
            row_filter,
            request_hook: options.plugins.request.clone(),
            ..CompileOptions::default()
        },
    )?;
    let codec = provider.codec();
    let requests = read_requests(&directory, &report, codec.as_ref())?;
    let shared = row_map(&directory)?;
    let validator = crate::OutputChecks::new(
        codec,
        &job.output_schema,
        options.plugins.validators.clone(),
    )?;
    observer.event(&format!(
        "pilot: {} row(s) → {} request(s) to {}",
        report.rows,
        requests.len(),
        provider.describe()
    ));
    let total = requests.len() as u64;
    let fields = batchlabel_compile::pack_fields(job);
    let mut sent = futures_util::stream::iter(requests.into_iter().enumerate().map(
        |(index, request)| async move {
            let start = Instant::now();
            let answer = provider.answer_now(&request.line).await;
            (index, request, answer, start.elapsed())
        },
    ))
    .buffer_unordered(options.concurrency.max(1));
    let mut answers = Vec::new();
    let mut done = 0;
    while let Some((index, request, answer, elapsed)) = sent.next().await {
        let result = answer.map_err(|error| {
            LifecycleError::Provider(ProviderFailure {
                context: "pilot".into(),
                error,
            })
        })?;
        let judged = crate::unpack::judge_line(
            request.custom_id,
            request.items.as_deref(),
            result,
            &fields,
            &validator,
        );
        for (item, (custom_id, outcome)) in judged.into_iter().enumerate() {
            answers.push(((index, item), custom_id, outcome, elapsed));
        }
        done += 1;
        observer.progress(done, total);
    }
    drop(sent);
    answers.sort_by_key(|(index, ..)| *index);
    let mut pilot = summarize(job, &answers, &shared);
    add_plugin_failures(&mut pilot, &directory)?;
    pilot.retries = provider.retries_made();
    pilot.projection = crate::projection::project(job, &pilot, options.plugins.request.clone())?;
    pilot.seconds = started.elapsed().as_secs_f64();
    Ok(pilot)
}

/// (request, item) order, custom_id, outcome, request time.
type Answer = ((usize, usize), String, Outcome, std::time::Duration);

fn summarize(job: &Job, answers: &[Answer], shared: &HashMap<String, Vec<String>>) -> PilotReport {
    // Calibrate scored answers over the pilot's own rows, as a batch run does over its job.
    let raw: Vec<(String, Option<String>)> = answers
        .iter()
        .map(|(_, _, outcome, _)| match outcome {
            Outcome::Labeled { output, scores, .. } => (output.clone(), scores.clone()),
            Outcome::Failed { .. } => (String::new(), None),
        })
        .collect();
    let calibrated = crate::calibrate_outputs(job, &raw);
    let requests = answers
        .iter()
        .map(|((request, _), ..)| *request)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let mut pilot = PilotReport {
        rows: 0,
        requests: requests as u64,
        labeled: 0,
        failed: 0,
        failures: BTreeMap::new(),
        input_tokens: 0,
        output_tokens: 0,
        retries: 0,
        calibrated_changes: 0,
        seconds: 0.0,
        results: Vec::new(),
        projection: crate::projection::empty_projection(),
    };
    for (((_, custom_id, outcome, elapsed), (raw_output, _)), output) in
        answers.iter().zip(&raw).zip(calibrated)
    {
        let mut ids: Vec<String> = batchlabel_compile::row_id_of(custom_id)
            .into_iter()
            .collect();
        ids.extend(shared.get(custom_id).cloned().unwrap_or_default());
        let rows = ids.len().max(1) as u64;
        pilot.rows += rows;
        let (input_tokens, output_tokens) = outcome.tokens();
        pilot.input_tokens += input_tokens;
        pilot.output_tokens += output_tokens;
        let mut row = PilotRow {
            id: ids.first().cloned().unwrap_or_else(|| custom_id.clone()),
            duplicate_rows: rows - 1,
            labels: None,
            reason: None,
            detail: None,
            input_tokens,
            output_tokens,
            milliseconds: elapsed.as_millis() as u64,
        };
        match outcome {
            Outcome::Labeled { .. } => {
                pilot.labeled += rows;
                if output != *raw_output {
                    pilot.calibrated_changes += 1;
                }
                row.labels = serde_json::from_str(&output).ok();
            }
            Outcome::Failed { reason, detail, .. } => {
                pilot.failed += rows;
                *pilot
                    .failures
                    .entry(reason.as_str().to_string())
                    .or_default() += rows;
                row.reason = Some(reason.as_str().to_string());
                row.detail = Some(detail.clone());
            }
        }
        pilot.results.push(row);
    }
    pilot
}

/// Rows the request plugin failed on never became requests: they are failed pilot rows.
fn add_plugin_failures(pilot: &mut PilotReport, directory: &Path) -> Result<(), LifecycleError> {
    for failure in batchlabel_compile::failed_rows(directory).map_err(LifecycleError::Internal)? {
        let failure = failure.map_err(LifecycleError::Internal)?;
        pilot.rows += 1;
        pilot.failed += 1;
        *pilot.failures.entry(failure.reason.clone()).or_default() += 1;
        pilot.results.push(PilotRow {
            id: failure.row_id,
            duplicate_rows: 0,
            labels: None,
            reason: Some(failure.reason),
            detail: Some(failure.detail),
            input_tokens: 0,
            output_tokens: 0,
            milliseconds: 0,
        });
    }
    Ok(())
}
