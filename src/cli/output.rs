//! Where output goes, decided in one place: data to stdout ([`Stdout`]: buffered, so a
//! large report costs few writes; JSON), everything for humans — notes, warnings,
//! errors, hints, prompts, progress — to stderr through the [`Printer`], which knows
//! `-q`, whether stderr is a terminal (bars, colour) and `NO_COLOR`.
//!
//! Messages follow STYLE.md (lowercase, no trailing period) except where they copy the
//! reference's own wording on purpose; those are marked "the reference's words".

use std::fmt::Display;
use std::io::{BufWriter, IsTerminal, StdoutLock, Write};
use std::sync::OnceLock;

use serde::Serialize;

/// The stderr side of the output.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    /// `-q`: no notes, warnings of fxb's own or progress (errors still print).
    quiet: bool,
    /// Colour on stderr: a terminal and no `NO_COLOR`.
    color: bool,
    /// Bars and prompts: stderr is a terminal.
    terminal: bool,
}

static PRINTER: OnceLock<Printer> = OnceLock::new();

/// Set the process's printer once, from the global options.
pub fn init_printer(quiet: bool) {
    let _ = PRINTER.set(Printer::detect(quiet));
}

/// The process's printer (quiet off before [`init_printer`]).
pub fn printer() -> Printer {
    *PRINTER.get_or_init(|| Printer::detect(false))
}

impl Printer {
    /// From stderr (a terminal or not) and `NO_COLOR`.
    fn detect(quiet: bool) -> Printer {
        let terminal = std::io::stderr().is_terminal();
        Printer {
            quiet,
            color: terminal && std::env::var_os("NO_COLOR").is_none(),
            terminal,
        }
    }

    /// `label: message` on stderr, the label coloured on a terminal.
    fn labelled(self, label: &str, ansi: &str, message: impl Display) {
        let label = if self.color {
            format!("\x1b[{ansi}m{label}\x1b[0m")
        } else {
            label.to_string()
        };
        eprintln!("{label}: {message}");
    }

    /// `note: …`, unless quiet.
    pub fn note(self, message: impl Display) {
        if !self.quiet {
            self.labelled("note", "1;36", message);
        }
    }

    /// `hint: …`, unless quiet.
    pub fn hint(self, message: impl Display) {
        if !self.quiet {
            self.labelled("hint", "1;32", message);
        }
    }

    /// `error: …` (always).
    pub fn error(self, message: impl Display) {
        self.labelled("error", "1;31", message);
    }

    /// `  caused by: …` (always).
    pub fn caused_by(self, message: impl Display) {
        eprintln!("  caused by: {message}");
    }

    /// A line for humans that is not a note (a completion line, a status), unless quiet.
    pub fn status(self, message: impl Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// A finding for humans on stderr, always (`file:line:col: message`).
    pub fn diagnostic(self, message: impl Display) {
        eprintln!("{message}");
    }

    /// A progress bar on stderr: drawn only on a terminal and when not quiet.
    pub fn progress_bar(self, total: Option<u64>, template: &str) -> indicatif::ProgressBar {
        if self.quiet || !self.terminal {
            return indicatif::ProgressBar::hidden();
        }
        let bar = indicatif::ProgressBar::with_draw_target(
            total,
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        bar
    }

    /// Ask `question [y/N]` on a terminal; `None` when stdin is not one (nobody to ask).
    pub fn confirm(self, question: &str) -> std::io::Result<Option<bool>> {
        if !std::io::stdin().is_terminal() {
            return Ok(None);
        }
        eprint!("{question} [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        Ok(Some(matches!(answer.trim(), "y" | "yes")))
    }
}

/// Buffered stdout. Call [`Stdout::finish`] to flush and surface a closed pipe.
pub struct Stdout {
    inner: BufWriter<StdoutLock<'static>>,
}

impl Stdout {
    pub fn new() -> Self {
        Stdout {
            inner: BufWriter::new(std::io::stdout().lock()),
        }
    }

    pub fn line(&mut self, text: &str) -> std::io::Result<()> {
        self.inner.write_all(text.as_bytes())?;
        self.inner.write_all(b"\n")
    }

    pub fn raw(&mut self, text: &str) -> std::io::Result<()> {
        self.inner.write_all(text.as_bytes())
    }

    /// Pretty JSON and a newline.
    pub fn json<T: Serialize>(&mut self, value: &T) -> anyhow::Result<()> {
        serde_json::to_writer_pretty(&mut self.inner, value)?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// ANSI colour on stdout: only on a terminal, never with `NO_COLOR` or `--no-color`.
pub fn stdout_color(disabled_by_flag: bool) -> bool {
    !disabled_by_flag && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// The `(architecture, served by)` pairs of a plugin or rule, as `--json` reports them.
pub fn shadowed(pairs: Vec<(String, String)>) -> Vec<fxb::schema::Shadowed> {
    pairs
        .into_iter()
        .map(|(architecture, by)| fxb::schema::Shadowed { architecture, by })
        .collect()
}

/// `note: {who} does not serve {architecture}: {by} does` on stderr, one line per
/// shadowed claim.
pub fn shadow_notes(who: &str, shadowed: &[fxb::schema::Shadowed]) {
    for shadow in shadowed {
        printer().note(format_args!(
            "{who} does not serve {}: {} does",
            shadow.architecture, shadow.by
        ));
    }
}
