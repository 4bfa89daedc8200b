//! Where output goes: data to stdout (buffered, so a large report costs few writes),
//! JSON in one place, and the colour decision (`NO_COLOR`, a terminal, `--no-color`).

use std::io::{BufWriter, IsTerminal, StdoutLock, Write};

use serde::Serialize;

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

/// `note: {who} does not serve {architecture}: {by} does`, one line per shadowed claim.
pub fn shadow_notes(
    out: &mut Stdout,
    who: &str,
    shadowed: &[fxb::schema::Shadowed],
) -> std::io::Result<()> {
    for shadow in shadowed {
        out.line(&format!(
            "note: {who} does not serve {}: {} does",
            shadow.architecture, shadow.by
        ))?;
    }
    Ok(())
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
