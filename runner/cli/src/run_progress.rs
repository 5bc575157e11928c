//! Progress of `batchlabel run`: an indicatif bar of finished requests on a terminal, plain
//! lines otherwise (at most every few seconds), and one line per lifecycle event.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// Reports a run to stderr.
pub(crate) struct RunProgress {
    quiet: bool,
    bar: Option<ProgressBar>,
    last_plain: Mutex<(Instant, u64)>,
}

impl RunProgress {
    pub(crate) fn new(quiet: bool) -> Self {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "requests [{bar:30}] {pos}/{len} ({elapsed}, eta {eta})",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar
        });
        Self {
            quiet,
            bar,
            last_plain: Mutex::new((Instant::now(), u64::MAX)),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl batchlabel_lifecycle::RunObserver for RunProgress {
    fn event(&self, message: &str) {
        if self.quiet {
            return;
        }
        // Events quote batch ids and provider notes: shown, never obeyed by the terminal.
        let message = crate::printer::escape(message, crate::printer::Layout::Keep);
        match &self.bar {
            Some(bar) => bar.println(message.as_ref()),
            None => {
                let _ = writeln!(std::io::stderr(), "{message}");
            }
        }
    }

    fn progress(&self, finished: u64, total: u64) {
        if self.quiet {
            return;
        }
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(finished);
            return;
        }
        if let Ok(mut last) = self.last_plain.lock()
            && last.1 != finished
            && (last.0.elapsed() >= Duration::from_secs(5) || finished == total)
        {
            let _ = writeln!(
                std::io::stderr(),
                "progress: {finished}/{total} requests finished"
            );
            *last = (Instant::now(), finished);
        }
    }
}
