//! The states a run, a shard and a request's result move through, as the ledger stores them
//! (their text forms are the ledger's column values and never change).

use std::fmt;

/// A text the ledger holds that is not one of the known states (a ledger from a newer
/// version, or a damaged one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownState {
    /// Which kind of state.
    pub kind: &'static str,
    /// The text found.
    pub text: String,
}

impl fmt::Display for UnknownState {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "unknown {} state `{}`", self.kind, self.text)
    }
}

impl std::error::Error for UnknownState {}

macro_rules! state_enum {
    ($(#[$meta:meta])* $name:ident, $kind:literal { $($(#[$variant_meta:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$variant_meta])* $variant),+
        }

        impl $name {
            /// The ledger's text for it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }

            /// The state the ledger's text names.
            pub fn parse(text: &str) -> Result<Self, UnknownState> {
                match text {
                    $($text => Ok(Self::$variant),)+
                    _ => Err(UnknownState { kind: $kind, text: text.to_string() }),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str(self.as_str())
            }
        }
    };
}

state_enum! {
    /// Where a run is: compiling its requests, running its batches, or over.
    RunState, "run" {
        /// Its requests are being compiled and registered.
        Compiling => "compiling",
        /// Its shards are being sent, polled and ingested.
        Running => "running",
        /// Every shard is ingested and every result written.
        Finished => "finished",
        /// `batchlabel cancel` stopped it: what finished is kept, nothing is retried.
        Cancelled => "cancelled",
        /// A newer run (`--new-run`) took its place after collecting its batches.
        Superseded => "superseded",
    }
}

state_enum! {
    /// Where a shard (one batch file) is.
    ShardState, "shard" {
        /// Written, not yet sent (or sent again after its batch failed).
        Planned => "planned",
        /// Its batch exists at the provider.
        Submitted => "submitted",
        /// Its result files are on disk.
        Downloaded => "downloaded",
        /// Its results are in the ledger.
        Ingested => "ingested",
    }
}

state_enum! {
    /// How a request ended.
    ResultState, "result" {
        /// A schema-valid answer.
        Labeled => "labeled",
        /// Failed for good, with a reason.
        Failed => "failed",
    }
}

impl RunState {
    /// Whether nothing more happens to it.
    pub fn is_over(self) -> bool {
        matches!(self, Self::Finished | Self::Cancelled | Self::Superseded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_reads_back_from_its_ledger_text() {
        for state in [
            RunState::Compiling,
            RunState::Running,
            RunState::Finished,
            RunState::Cancelled,
            RunState::Superseded,
        ] {
            assert_eq!(RunState::parse(state.as_str()), Ok(state));
        }
        for state in [
            ShardState::Planned,
            ShardState::Submitted,
            ShardState::Downloaded,
            ShardState::Ingested,
        ] {
            assert_eq!(ShardState::parse(state.as_str()), Ok(state));
        }
        assert_eq!(ResultState::parse("labeled"), Ok(ResultState::Labeled));
        let unknown = RunState::parse("paused").unwrap_err();
        assert_eq!(unknown.to_string(), "unknown run state `paused`");
    }
}
