//! Progress of long work, drawn on stderr by the [`Printer`](super::output::Printer)
//! (a terminal, not quiet): the library reports events — a build's kernels, an add's
//! bytes — and these draw them. Nothing here polls.

use std::sync::OnceLock;
use std::time::Duration;

use fxb::build::BuildEvent;
use fxb::cache::AddReporter;

use super::output::printer;

/// A build's bar: kernels done of kernels planned; slow kernels warned above it.
#[derive(Clone)]
pub struct BuildBar(indicatif::ProgressBar);

impl BuildBar {
    pub fn new() -> BuildBar {
        let bar = printer().progress_bar(
            None,
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} kernels  {msg}",
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        BuildBar(bar)
    }

    pub fn event(&self, event: &BuildEvent) {
        let bar = &self.0;
        match event {
            BuildEvent::Started { jobs } => bar.set_length(*jobs as u64),
            BuildEvent::Finished { report, .. } => {
                bar.set_message(format!("{} ({})", report.kernel, report.bucket));
                bar.inc(1);
            }
            BuildEvent::Slow(kernels) => bar.suspend(|| {
                let list: Vec<String> = kernels
                    .iter()
                    .map(|k| format!("{} ({}) {}s", k.kernel, k.bucket, k.elapsed.as_secs()))
                    .collect();
                tracing::warn!("still compiling: {}", list.join(", "));
            }),
        }
    }

    pub fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }
}

/// Adds of less than this finish before a progress bar would be worth drawing.
const ADD_PROGRESS_FROM: u64 = 256 << 20;

/// An add's bar (bytes copied, rate, then "flushing to disk"), made when the add turns
/// out to be large.
#[derive(Default)]
pub struct AddBar(OnceLock<indicatif::ProgressBar>);

impl AddBar {
    pub fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}

impl AddReporter for AddBar {
    fn started(&self, total_bytes: u64) {
        if total_bytes >= ADD_PROGRESS_FROM {
            let bar = printer().progress_bar(
                Some(total_bytes),
                "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec}  {msg}",
            );
            bar.enable_steady_tick(Duration::from_millis(100));
            let _ = self.0.set(bar);
        }
    }

    fn copied(&self, bytes: u64) {
        if let Some(bar) = self.0.get() {
            bar.inc(bytes);
        }
    }

    fn flushing(&self) {
        if let Some(bar) = self.0.get() {
            bar.set_message("flushing to disk");
        }
    }
}
