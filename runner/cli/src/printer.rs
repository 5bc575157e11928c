//! All output goes through here: data to stdout, messages and progress to stderr.
//!
//! Ids, labels, model names and provider messages are the user's or a provider's text, and a
//! terminal obeys the escape sequences in them (retitle the window, hide lines, fake a
//! prompt). So everything printed passes through [`escape`]: control characters and the
//! bidirectional overrides are written as `\u001b`-style escapes. That form is also a valid
//! JSON string escape, so `--json` output stays valid JSON, decoding to the same text.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Writes data and messages.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// No progress or chatter.
    pub quiet: bool,
}

impl Printer {
    /// Data (results, tables, JSON) on stdout.
    #[expect(
        clippy::unused_self,
        reason = "all output goes through the printer, whatever it needs"
    )]
    pub fn data(self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        // A closed pipe (e.g. `| head`) is not an error worth reporting.
        let _ = stdout.write_all(escape(text, Layout::Keep).as_bytes());
        let _ = stdout.flush();
    }

    /// A message on stderr (always shown: errors, diagnostics).
    #[expect(
        clippy::unused_self,
        reason = "all output goes through the printer, whatever it needs"
    )]
    pub fn message(self, text: &str) {
        let _ = std::io::stderr()
            .lock()
            .write_all(escape(text, Layout::Keep).as_bytes());
    }

    /// A progress reporter for work over `what` (bytes of input).
    pub fn progress(self, what: &str) -> Option<std::sync::Arc<dyn batchlabel_compile::Progress>> {
        if self.quiet {
            return None;
        }
        Some(std::sync::Arc::new(ByteProgress::new(what)))
    }
}

/// Whether line breaks and tabs in the text are its layout, or part of one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// A whole message or table: `\n`, `\r\n` and `\t` are kept.
    Keep,
    /// One value (an id, a label): a line break in it would fake a new line of output.
    Escape,
}

/// One value for a line of terminal output: every control character escaped, line breaks
/// included. Use it for each id, label, model name or provider text put into a line.
pub(crate) fn field(text: &str) -> Cow<'_, str> {
    escape(text, Layout::Escape)
}

/// `text` with every control character (C0, DEL, C1) and bidirectional formatting character
/// written as `\uXXXX`, except the layout characters `layout` keeps.
pub(crate) fn escape(text: &str, layout: Layout) -> Cow<'_, str> {
    let unsafe_at = |index: usize, character: char| {
        let kept = layout == Layout::Keep
            && (character == '\n'
                || character == '\t'
                || (character == '\r' && text[index + 1..].starts_with('\n')));
        !kept && (character.is_control() || is_bidi_control(character))
    };
    if !text
        .char_indices()
        .any(|(index, character)| unsafe_at(index, character))
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for (index, character) in text.char_indices() {
        if unsafe_at(index, character) {
            let _ = write!(out, "\\u{:04x}", u32::from(character));
        } else {
            out.push(character);
        }
    }
    Cow::Owned(out)
}

/// Characters that reorder how the rest of a line is displayed (Trojan Source, CVE-2021-42574).
fn is_bidi_control(character: char) -> bool {
    matches!(
        character,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

/// A bar on a terminal; plain lines (every few seconds) otherwise.
struct ByteProgress {
    what: String,
    bar: Option<ProgressBar>,
    plain: Mutex<(Instant, u64)>,
}

impl ByteProgress {
    fn new(what: &str) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_message(what.to_string());
            bar
        });
        Self {
            what: what.to_string(),
            bar,
            plain: Mutex::new((Instant::now(), 0)),
        }
    }
}

impl batchlabel_compile::Progress for ByteProgress {
    fn start(&self, total_bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total_bytes);
        } else if let Ok(mut plain) = self.plain.lock() {
            *plain = (Instant::now(), total_bytes);
        }
    }

    fn update(&self, bytes_read: u64, _rows: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(bytes_read);
            return;
        }
        if let Ok(mut plain) = self.plain.lock()
            && plain.0.elapsed() >= Duration::from_secs(5)
        {
            let total = plain.1.max(1);
            let _ = writeln!(
                std::io::stderr(),
                "{}: {:.0}% ({} of {} bytes)",
                self.what,
                bytes_read as f64 * 100.0 / total as f64,
                bytes_read,
                plain.1
            );
            plain.0 = Instant::now();
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_obeyed() {
        let hostile = "id\u{1b}]0;owned\u{7}\r\u{9b}2J\u{202e}txt";
        assert_eq!(
            field(hostile),
            "id\\u001b]0;owned\\u0007\\u000d\\u009b2J\\u202etxt"
        );
        assert_eq!(field("a\nb\tc"), "a\\u000ab\\u0009c");
        assert_eq!(escape("a\r\nb\tc\n", Layout::Keep), "a\r\nb\tc\n");
        assert!(matches!(field("plain ünïcode"), Cow::Borrowed(_)));
    }

    #[test]
    fn escaped_json_is_still_the_same_json() {
        let value = serde_json::json!({"id": "a\u{9b}b\u{202e}c\u{1b}"});
        let text = format!("{value:#}");
        let shown = escape(&text, Layout::Keep);
        assert!(!shown.contains('\u{9b}') && !shown.contains('\u{202e}'));
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
    }
}
