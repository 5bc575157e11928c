//! All output goes through here: data to stdout, messages and progress to stderr.

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
        let _ = stdout.write_all(text.as_bytes());
        let _ = stdout.flush();
    }

    /// A message on stderr (always shown: errors, diagnostics).
    #[expect(
        clippy::unused_self,
        reason = "all output goes through the printer, whatever it needs"
    )]
    pub fn message(self, text: &str) {
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }

    /// A progress reporter for work over `what` (bytes of input).
    pub fn progress(self, what: &str) -> Option<std::sync::Arc<dyn batchlabel_compile::Progress>> {
        if self.quiet {
            return None;
        }
        Some(std::sync::Arc::new(ByteProgress::new(what)))
    }
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
