//! [`FakeProvider`]: an in-process [`BatchProvider`](batchlabel_providers::BatchProvider)
//! that holds staged inputs, batches and result files in memory and answers by a script of
//! fates. It is deterministic: there is no clock but the creation time, no sleep and no
//! thread. A batch moves one step per poll: it is created `validating`, each poll before the
//! last shows it `in_progress`, and poll number [`FakeProvider::polls_to_finish`] (2 unless
//! set) gives it its fate; with 0 it meets its fate as it is created. A batch asked to cancel
//! is `cancelling` until its next poll, which ends it `cancelled` with no line run; asking to
//! cancel a batch that ended is HTTP 400, as with OpenAI. Unknown batches and result handles
//! are HTTP 404; deleting an unknown input is fine.

mod batches;
mod provider;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use batchlabel_providers::{BatchFailure, ProviderError, RequestCounts, ResultKind};

use crate::fates::{
    BatchFate, Call, CallCounts, Fault, HeldBatch, HeldInput, LineFate, LineView, NewBatch,
};

type BatchPredicate = Box<dyn Fn(&NewBatch<'_>) -> bool + Send + Sync>;
type LinePredicate = Box<dyn Fn(&LineView<'_>) -> bool + Send + Sync>;

struct LineRule {
    fate: LineFate,
    matches: LinePredicate,
    times: Option<u64>,
    used: AtomicU64,
}

struct Batch {
    held: HeldBatch,
    created_at: i64,
    polls: u32,
    counts: RequestCounts,
    failure: Option<BatchFailure>,
    results: Vec<(ResultKind, String)>,
}

#[derive(Default)]
struct State {
    calls: CallCounts,
    faults: BTreeMap<Call, VecDeque<Fault>>,
    inputs: Vec<HeldInput>,
    batches: Vec<Batch>,
    files: HashMap<String, String>,
    next_id: u64,
}

impl State {
    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:04}", self.next_id)
    }
}

/// An in-process batch provider scripted by fates (see the crate documentation). Every
/// batch completes and every line gets a schema-valid answer unless a rule says otherwise;
/// the first matching rule wins.
pub struct FakeProvider {
    state: Mutex<State>,
    batch_rules: Vec<(BatchFate, BatchPredicate)>,
    line_rules: Vec<LineRule>,
    polls_to_finish: u32,
}

impl Default for FakeProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for FakeProvider {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("FakeProvider")
            .field("calls", &self.calls())
            .field("batch_rules", &self.batch_rules.len())
            .field("line_rules", &self.line_rules.len())
            .field("polls_to_finish", &self.polls_to_finish)
            .finish_non_exhaustive()
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

fn operation(call: Call) -> &'static str {
    match call {
        Call::Stage => "upload",
        Call::FindStaged => "list files",
        Call::Create => "create batch",
        Call::FindBatches => "list batches",
        Call::Poll => "retrieve batch",
        Call::Cancel => "cancel batch",
        Call::Fetch => "download",
        Call::Delete | Call::DeleteResults => "delete file",
        Call::AnswerNow => "chat completion",
    }
}

fn api(call: Call, status: u16, message: String) -> ProviderError {
    ProviderError::Api {
        operation: operation(call).into(),
        status,
        message,
        code: None,
    }
}

fn ambiguous(call: Call) -> ProviderError {
    ProviderError::Ambiguous {
        operation: operation(call).into(),
        message: "the fake lost the answer".into(),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> ProviderError {
    ProviderError::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl FakeProvider {
    /// A fake where every batch completes after two polls and every line is answered.
    pub fn new() -> Self {
        Self {
            state: Mutex::default(),
            batch_rules: Vec::new(),
            line_rules: Vec::new(),
            polls_to_finish: 2,
        }
    }

    /// The poll that gives a batch its fate (0: it meets it as it is created).
    #[must_use]
    pub fn polls_to_finish(mut self, polls: u32) -> Self {
        self.polls_to_finish = polls;
        self
    }

    /// Batches for which `matches` holds meet `fate`.
    #[must_use]
    pub fn batch_fate(
        mut self,
        fate: BatchFate,
        matches: impl Fn(&NewBatch<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.batch_rules.push((fate, Box::new(matches)));
        self
    }

    /// The `number`-th batch created (1-based) meets `fate`.
    #[must_use]
    pub fn nth_batch(self, number: usize, fate: BatchFate) -> Self {
        self.batch_fate(fate, move |batch| batch.number == number)
    }

    /// Lines for which `matches` holds are answered by `fate`.
    #[must_use]
    pub fn line_fate(
        self,
        fate: LineFate,
        matches: impl Fn(&LineView<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rule(fate, None, Box::new(matches))
    }

    /// The first `times` lines for which `matches` holds are answered by `fate`.
    #[must_use]
    pub fn line_fate_times(
        self,
        fate: LineFate,
        times: u64,
        matches: impl Fn(&LineView<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.rule(fate, Some(times), Box::new(matches))
    }

    /// Every line of request `custom_id`, in every batch, is answered by `fate`.
    #[must_use]
    pub fn custom_id_fate(self, custom_id: &str, fate: LineFate) -> Self {
        let custom_id = custom_id.to_string();
        self.line_fate(fate, move |line| line.custom_id == custom_id)
    }

    fn rule(mut self, fate: LineFate, times: Option<u64>, matches: LinePredicate) -> Self {
        self.line_rules.push(LineRule {
            fate,
            matches,
            times,
            used: AtomicU64::new(0),
        });
        self
    }

    /// The next `times` calls of `call` meet `fault` (after any faults already queued).
    #[must_use]
    pub fn fault(self, call: Call, fault: Fault, times: usize) -> Self {
        for _ in 0..times {
            self.inject(call, fault);
        }
        self
    }

    /// Queue `fault` for the next call of `call`, at any point of a test.
    pub fn inject(&self, call: Call, fault: Fault) {
        self.lock().faults.entry(call).or_default().push_back(fault);
    }

    /// Drop the faults still queued for `call` (the provider is well again).
    pub fn clear_faults(&self, call: Call) {
        self.lock().faults.remove(&call);
    }

    /// Faults still queued for `call`.
    pub fn pending_faults(&self, call: Call) -> usize {
        self.lock().faults.get(&call).map_or(0, VecDeque::len)
    }

    /// How many times each call was made so far.
    pub fn calls(&self) -> CallCounts {
        self.lock().calls
    }

    /// Every batch created so far, in creation order.
    pub fn batches(&self) -> Vec<HeldBatch> {
        self.lock()
            .batches
            .iter()
            .map(|batch| batch.held.clone())
            .collect()
    }

    /// Every input staged so far (deleted ones included), in staging order.
    pub fn inputs(&self) -> Vec<HeldInput> {
        self.lock().inputs.clone()
    }

    /// How many result files (output and error files of ended batches) it still holds.
    pub fn result_files_held(&self) -> usize {
        self.lock().files.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Count the call, draw its fault, and run `effect` unless the fault prevents it.
    fn call<T>(
        &self,
        call: Call,
        effect: impl FnOnce(&mut State) -> Result<T, ProviderError>,
    ) -> Result<T, ProviderError> {
        let mut state = self.lock();
        state.calls.count(call);
        let fault = state.faults.get_mut(&call).and_then(VecDeque::pop_front);
        match fault {
            Some(Fault::Api(status)) => {
                return Err(api(call, status, format!("injected HTTP {status}")));
            }
            Some(Fault::RequestLost) => return Err(ambiguous(call)),
            Some(Fault::AnswerLost) | None => {}
        }
        let value = effect(&mut state)?;
        if fault == Some(Fault::AnswerLost) {
            return Err(ambiguous(call));
        }
        Ok(value)
    }

    fn line_fate_of(&self, line: &LineView<'_>) -> LineFate {
        for rule in &self.line_rules {
            if !(rule.matches)(line) {
                continue;
            }
            if let Some(times) = rule.times
                && rule.used.fetch_add(1, Ordering::Relaxed) >= times
            {
                continue;
            }
            return rule.fate.clone();
        }
        LineFate::Answer
    }
}
