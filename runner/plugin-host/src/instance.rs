//! One sandboxed instance: its own store with a memory cap, no preopened folders, no
//! environment, no network, a fixed clock and seeded randomness, stdout dropped and stderr
//! captured (a panic's message). Every call gets a fresh CPU deadline; a trap poisons the
//! instance, so the pool drops it.

use wasmtime::component::ResourceTable;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::host::{EPOCH_TICK, Limits};

/// Bytes of a plugin's stderr kept for error messages.
const STDERR_BYTES: usize = 64 << 10;

/// Why one call did not give a result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The plugin rejected the input (its own message).
    Rejected(String),
    /// The plugin crashed, ran out of time or memory, or returned malformed data.
    Crashed(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rejected(message) | Self::Crashed(message) => formatter.write_str(message),
        }
    }
}

/// What a store holds.
pub(crate) struct State {
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
    stderr: MemoryOutputPipe,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// A wall clock stopped at the epoch: plugins get no real time, so they stay deterministic.
struct StoppedClock;

impl wasmtime_wasi::HostWallClock for StoppedClock {
    fn resolution(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
    fn now(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }
}

/// A monotonic clock that never moves.
struct StoppedMonotonicClock;

impl wasmtime_wasi::HostMonotonicClock for StoppedMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

/// A new store for one instance, with its limits.
pub(crate) fn new_store(engine: &wasmtime::Engine, limits: Limits) -> Store<State> {
    let stderr = MemoryOutputPipe::new(STDERR_BYTES);
    let mut builder = WasiCtxBuilder::new();
    builder
        .stderr(stderr.clone())
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .wall_clock(StoppedClock)
        .monotonic_clock(StoppedMonotonicClock)
        .secure_random(wasmtime_wasi::Deterministic::new(vec![7; 32]))
        .insecure_random(wasmtime_wasi::Deterministic::new(vec![7; 32]))
        .insecure_random_seed(7);
    let state = State {
        wasi: builder.build(),
        table: ResourceTable::new(),
        limits: StoreLimitsBuilder::new()
            .memory_size(limits.memory_bytes)
            .instances(32)
            .memories(8)
            .tables(32)
            .trap_on_grow_failure(true)
            .build(),
        stderr,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limits);
    set_deadline(&mut store, limits);
    store
}

/// Give the next call its CPU time (start functions run under it too).
pub(crate) fn set_deadline(store: &mut Store<State>, limits: Limits) {
    let ticks = (limits.timeout.as_millis() / EPOCH_TICK.as_millis()).max(1) as u64;
    store.set_epoch_deadline(ticks);
}

/// Say what a trap means, for the user.
pub(crate) fn describe_trap(
    store: &Store<State>,
    error: &wasmtime::Error,
    limits: Limits,
) -> String {
    let stderr = String::from_utf8_lossy(&store.data().stderr.contents()).into_owned();
    let panic = stderr
        .lines()
        .find(|line| line.contains("panicked at"))
        .map(|line| {
            let mut message = line.trim().to_string();
            // The panic message is on the next line in newer std versions.
            if let Some(next) = stderr
                .lines()
                .skip_while(|candidate| *candidate != line)
                .nth(1)
                && !next.trim().is_empty()
                && !next.starts_with("note:")
            {
                message = format!("{message} {}", next.trim());
            }
            message
        });
    let chain = format!("{error:#}");
    match error.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "timed out: still running after {} ms (the CPU limit per call)",
            limits.timeout.as_millis()
        ),
        Some(Trap::StackOverflow) => {
            "stack overflow: call stack exhausted (unbounded recursion?)".into()
        }
        _ if chain.contains("growing memory") || chain.contains("memory allocation") => format!(
            "exceeded its memory limit of {} MiB",
            limits.memory_bytes >> 20
        ),
        _ if panic.is_some() => format!("panicked: {}", panic.unwrap_or_default()),
        Some(Trap::OutOfFuel) => "ran out of fuel".into(),
        Some(trap) => format!("trapped: {trap}"),
        None => format!("failed: {}", chain.lines().next().unwrap_or_default()),
    }
}
