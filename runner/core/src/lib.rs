//! batchlabel-core: the vocabulary every other crate shares, without I/O — the states of runs,
//! shards and results, what happened to one request ([`Outcome`]), cost bounds, and the
//! clock. The ledger stores these; the lifecycle moves them; nothing here knows SQL or HTTP.

mod outcome;
mod states;

pub use outcome::{FailureReason, Outcome};
pub use states::{ResultState, RunState, ShardState, UnknownState};

/// What one batch file (or any group of requests) may cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct CostBound {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Most output tokens, when bounded.
    pub output_tokens_max: Option<u64>,
    /// Most dollars, when the price and the output bound are known.
    pub cost_usd_max: Option<f64>,
}

/// An input's identity for resume: a run continues only while all three are unchanged.
/// The ledger stores them as its `input_path`, `input_bytes` and `input_modified` columns.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InputIdentity {
    /// Where the input is: for a file, its path (lossily as UTF-8).
    pub location: String,
    /// Its size: for a file, its length in bytes.
    pub size: i64,
    /// Which version of it: for a file, its modification time in unix seconds (0 when the
    /// platform cannot say). A query source, which has no modification time, fills this with
    /// a digest of its rows computed while streaming them.
    pub version: i64,
}

/// Unix seconds now (0 if the clock is before 1970).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// Length of a custom_id's job scope, `s<8 hex>-`: written before the id for providers whose
/// batches carry no metadata, so a batch's results name the job they belong to.
pub const SCOPE_LENGTH: usize = 10;

/// `custom_id` without its job scope, if it has one.
pub fn unscoped(custom_id: &str) -> &str {
    let scoped = custom_id.len() > SCOPE_LENGTH
        && custom_id.as_bytes()[0] == b's'
        && custom_id.as_bytes()[SCOPE_LENGTH - 1] == b'-'
        && custom_id.as_bytes()[1..SCOPE_LENGTH - 1]
            .iter()
            .all(u8::is_ascii_hexdigit);
    if scoped {
        &custom_id[SCOPE_LENGTH..]
    } else {
        custom_id
    }
}

/// The row id a custom_id names, when it can be recovered without the row map (`r-<id>` for
/// ids that are already portable, `x-<hex>` for the rest; hashed ids need the row map). A job
/// scope (`s<8 hex>-`) in front is skipped.
pub fn row_id_of(custom_id: &str) -> Option<String> {
    let custom_id = unscoped(custom_id);
    if let Some(id) = custom_id.strip_prefix("r-") {
        return Some(id.to_string());
    }
    let hex = custom_id.strip_prefix("x-")?;
    let bytes: Option<Vec<u8>> = (0..hex.len())
        .step_by(2)
        .map(|at| u8::from_str_radix(hex.get(at..at + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}
