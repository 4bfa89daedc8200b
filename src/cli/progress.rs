//! Progress of long work, drawn on stderr by the [`Printer`](super::output::Printer)
//! (a terminal, not quiet): the library reports events — a build's kernels, an add's
//! bytes — and these draw them. Nothing here polls.

use std::sync::OnceLock;
use std::time::Duration;

use fxb::build::BuildEvent;
use fxb::cache::AddReporter;
use fxb::hub::DownloadEvent;

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

/// A download's bar (the file, bytes, rate, ETA), one file at a time; its notes (the
/// revision used, waiting for another process, retries) are printed above it.
#[derive(Default)]
pub struct DownloadBar(OnceLock<indicatif::ProgressBar>);

impl DownloadBar {
    fn bar(&self) -> &indicatif::ProgressBar {
        self.0.get_or_init(|| {
            printer().progress_bar(
                Some(0),
                "{msg} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
            )
        })
    }

    pub fn event(&self, event: &DownloadEvent<'_>) {
        let note = |text: String| self.bar().suspend(|| printer().note(text));
        match event {
            DownloadEvent::Revision { revision, why } => {
                note(format!("revision {revision}: {why}"));
            }
            // The reference's words (its INFO line).
            DownloadEvent::Fallback {
                repo,
                tried,
                default,
            } => note(format!(
                "Revision '{tried}' not found for '{repo}'; falling back to the default branch ({default})"
            )),
            DownloadEvent::Waiting { file, lock, waited } => note(format!(
                "waiting for another process downloading `{file}` (it holds `{}`; {}s so far)",
                lock.display(),
                waited.as_secs()
            )),
            DownloadEvent::Retrying {
                what,
                reason,
                wait,
                attempt,
                attempts,
            } => self.bar().suspend(|| {
                let when = if wait.is_zero() {
                    String::new()
                } else {
                    format!(" in {}s", wait.as_secs())
                };
                tracing::warn!("{what}: {reason}; attempt {attempt} of {attempts}{when}")
            }),
            DownloadEvent::Started {
                file,
                size,
                resumed_from,
            } => {
                let bar = self.bar();
                bar.reset();
                bar.set_length(*size);
                bar.set_position(*resumed_from);
                bar.set_message(file.to_string());
            }
            DownloadEvent::Hashing { file, size } => {
                let bar = self.bar();
                bar.reset();
                bar.set_length(*size);
                bar.set_message(format!("hashing {file}"));
            }
            DownloadEvent::Progress { bytes } => self.bar().inc(*bytes),
            DownloadEvent::Finished { .. } => {
                if let Some(bar) = self.0.get() {
                    bar.set_position(bar.length().unwrap_or(0));
                }
            }
            _ => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = self.0.get() {
            bar.finish_and_clear();
        }
    }
}
