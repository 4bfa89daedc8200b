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
    let terminal = std::io::stderr().is_terminal();
    let _ = PRINTER.set(Printer {
        quiet,
        color: terminal && std::env::var_os("NO_COLOR").is_none(),
        terminal,
    });
}

/// The process's printer (quiet off, colour by the terminal, before [`init_printer`]).
pub fn printer() -> Printer {
    *PRINTER.get_or_init(|| {
        let terminal = std::io::stderr().is_terminal();
        Printer {
            quiet: false,
            color: terminal && std::env::var_os("NO_COLOR").is_none(),
            terminal,
        }
    })
}

impl Printer {
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

/// A plain table: columns padded to their widest cell, two spaces apart, no trailing
/// spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.to_vec())];
    out.extend(
        rows.iter()
            .map(|r| line(r.iter().map(String::as_str).collect())),
    );
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// Total width of a report's section header line, in characters (the reference's).
const HEADER_WIDTH: usize = 75;
const RULE_WIDTH: usize = 74;

/// `  ───…` — the rule line of the reference's reports.
pub fn report_rule() -> String {
    format!("  {}", "─".repeat(RULE_WIDTH))
}

/// `  ── {title} ───…` padded to the reference's width.
pub fn report_header(title: &str) -> String {
    let start = format!("  ── {title} ");
    let fill = HEADER_WIDTH.saturating_sub(start.chars().count());
    format!("{start}{}", "─".repeat(fill))
}

/// `    - {key:<20} {value}`.
pub fn report_item(key: &str, value: &str) -> String {
    format!("    - {key:<20} {value}")
}

/// `        - batch=1    attn=256      input_ids=1`.
pub fn attention_line(batch: u64, attention: u64, input_ids: impl std::fmt::Display) -> String {
    format!("        - batch={batch:<4} attn={attention:<8} input_ids={input_ids}")
}

/// The bucket lists of a report: `    - {title} ({n}):` and each bucket's line, for
/// every group that has buckets (`show`'s Buckets section and the build summary's).
pub fn bucket_groups(groups: Vec<(&str, Vec<String>)>) -> Vec<String> {
    let mut lines = Vec::new();
    for (title, buckets) in groups {
        if buckets.is_empty() {
            continue;
        }
        lines.push(format!("    - {title} ({}):", buckets.len()));
        lines.extend(buckets);
    }
    lines
}

/// `[1, 2, 4]`.
pub fn size_list(sizes: &[u64]) -> String {
    let joined: Vec<String> = sizes.iter().map(u64::to_string).collect();
    format!("[{}]", joined.join(", "))
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

/// `"{v} ({rev})"`, `v`, `rev` or `-`; an empty string counts as absent.
pub fn version_cell(version: Option<&str>, revision: Option<&str>) -> String {
    match (
        version.filter(|v| !v.is_empty()),
        revision.filter(|r| !r.is_empty()),
    ) {
        (Some(v), Some(r)) => format!("{v} ({r})"),
        (Some(v), None) => v.to_string(),
        (None, Some(r)) => r.to_string(),
        (None, None) => "-".to_string(),
    }
}

/// Python `tabulate(tablefmt="simple")`: widths = max(cell, header + 2), two spaces
/// between columns, a dash rule under the header, trailing spaces stripped.
pub fn simple_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count() + 2).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut lines = vec![
        line(header.iter().map(|h| h.to_string()).collect()),
        line(widths.iter().map(|w| "-".repeat(*w)).collect()),
    ];
    lines.extend(rows.iter().map(|r| line(r.clone())));
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
