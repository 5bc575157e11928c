//! Exit codes (DESIGN.md §9).

use std::process::ExitCode;

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Everything done.
    Success,
    /// Finished, but some rows failed.
    RowsFailed,
    /// Spec, input or runner error.
    Error,
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        match status {
            ExitStatus::Success => ExitCode::from(0),
            ExitStatus::RowsFailed => ExitCode::from(1),
            ExitStatus::Error => ExitCode::from(2),
        }
    }
}
