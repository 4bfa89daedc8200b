//! Text reports in the reference's layouts (FORMAT.md §5): the section rules and items
//! of `show` and the build summary, `tabulate`-style tables, the bucket lines. Every front
//! end that prints text — the CLI, the Python package's `repr`s — renders through these,
//! so a layout is written once.

use std::borrow::Cow;
use std::path::Path;
use std::time::Duration;

use crate::build::{KernelReport, Prepared};
use crate::plan::ModelPlan;

/// A plain table: columns padded to their widest cell, two spaces apart, no trailing
/// spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows = drawn_rows(rows);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    widen(&mut widths, &rows);
    let mut text = String::with_capacity(rows.len() * 120 + 128);
    padded_line(
        &mut text,
        header.iter().map(|h| (*h, h.chars().count())),
        &widths,
    );
    for row in &rows {
        padded_line(
            &mut text,
            row.iter().map(|(c, n)| (c.as_ref(), *n)),
            &widths,
        );
    }
    text
}

/// Each cell as drawn, with its width in characters.
fn drawn_rows(rows: &[Vec<String>]) -> Vec<Vec<(Cow<'_, str>, usize)>> {
    rows.iter()
        .map(|r| r.iter().map(|c| drawn(c)).collect())
        .collect()
}

/// Widen `widths` to the cells of `rows`.
fn widen(widths: &mut [usize], rows: &[Vec<(Cow<'_, str>, usize)>]) {
    for row in rows {
        for (w, (_, n)) in widths.iter_mut().zip(row) {
            *w = (*w).max(*n);
        }
    }
}

/// The widest a table cell is drawn; the rest is cut to `…` (`--json` has it whole).
pub const MAX_CELL: usize = 120;

/// A value from a file, made safe to draw in a table: control characters and terminal
/// escape sequences shown escaped (`\u{1b}`), and cut at [`MAX_CELL`] characters.
pub fn cell(text: &str) -> String {
    drawn(text).0.into_owned()
}

/// [`cell`], borrowed when nothing needs escaping or cutting, with its width in
/// characters (a thousand-row table draws most cells as they are).
fn drawn(text: &str) -> (Cow<'_, str>, usize) {
    if text.len() <= MAX_CELL && text.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return (Cow::Borrowed(text), text.len());
    }
    // Not only printable ASCII (`—`, `✔`): still drawn as it is unless it has a control
    // character or is too wide, found in one pass.
    let (mut count, mut control) = (0, false);
    for c in text.chars() {
        count += 1;
        control |= c.is_control();
    }
    if !control && count <= MAX_CELL {
        return (Cow::Borrowed(text), count);
    }
    let mut out = printable(text);
    let mut count = out.chars().count();
    if count > MAX_CELL {
        out = out.chars().take(MAX_CELL - 1).collect();
        out.push('…');
        count = MAX_CELL;
    }
    (Cow::Owned(out), count)
}

/// A value from a file with its control characters escaped, whole.
pub fn printable(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_string();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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

/// `    - {key:<20} {value}`. Both may come from a file (a tool's name in `versions`), so
/// both are escaped.
pub fn report_item(key: &str, value: &str) -> String {
    format!("    - {:<20} {}", printable(key), printable(value))
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

/// `"{v} ({rev})"`, `v`, `rev` or `-`; an empty string counts as absent.
pub fn version_cell(version: Option<&str>, revision: Option<&str>) -> String {
    match (
        version.filter(|v| !v.is_empty()),
        revision.filter(|r| !r.is_empty()),
    ) {
        (Some(v), Some(r)) => [v, " (", r, ")"].concat(),
        (Some(v), None) => v.to_string(),
        (None, Some(r)) => r.to_string(),
        (None, None) => "-".to_string(),
    }
}

/// Python `tabulate(tablefmt="simple")`: widths = max(cell, header + 2), two spaces
/// between columns, a dash rule under the header, trailing spaces stripped.
pub fn simple_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows = drawn_rows(rows);
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count() + 2).collect();
    widen(&mut widths, &rows);
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    // Written into one buffer: a thousand-row `cache ls` formats no cell on its own.
    let mut text = String::with_capacity(rows.len() * 160 + 256);
    padded_line(
        &mut text,
        header.iter().map(|h| (*h, h.chars().count())),
        &widths,
    );
    padded_line(
        &mut text,
        rule.iter().map(|r| (r.as_str(), r.len())),
        &widths,
    );
    for row in &rows {
        padded_line(
            &mut text,
            row.iter().map(|(c, n)| (c.as_ref(), *n)),
            &widths,
        );
    }
    text
}

/// Cells (with their widths in characters) padded to their column's width, two spaces
/// apart, trailing spaces trimmed, and a newline; cells beyond the last column are dropped.
fn padded_line<'a>(
    text: &mut String,
    cells: impl Iterator<Item = (&'a str, usize)>,
    widths: &[usize],
) {
    let start = text.len();
    for (i, ((cell, count), width)) in cells.zip(widths).enumerate() {
        if i > 0 {
            text.push_str("  ");
        }
        text.push_str(cell);
        let pad = width.saturating_sub(count);
        text.extend(std::iter::repeat_n(' ', pad));
    }
    let end = text[start..].trim_end().len() + start;
    text.truncate(end);
    text.push('\n');
}

/// `--build-report`: one row per kernel × bucket, then the total.
pub fn build_report_table(report: &[KernelReport], total: Option<Duration>) -> String {
    let rows: Vec<Vec<String>> = report
        .iter()
        .map(|r| {
            vec![
                r.kernel.clone(),
                r.bucket.clone(),
                r.status.label().to_string(),
                format!("{:.3}s", r.seconds),
                r.status.message().unwrap_or("").to_string(),
            ]
        })
        .collect();
    let mut text = table(&["KERNEL", "BUCKET", "STATUS", "TIME", "ERROR"], &rows);
    let compile_time: f64 = report.iter().map(|r| r.seconds).sum();
    text.push_str(&format!(
        "{} kernel(s), {:.3}s compiling{}\n",
        report.len(),
        compile_time,
        total
            .map(|t| format!(", {:.3}s total", t.as_secs_f64()))
            .unwrap_or_default()
    ));
    text
}

/// The Parallelism section of `show` and the build summary, with its blank line after.
pub fn parallelism_section(tensor_parallel_size: u64, pipeline_parallel_size: u64) -> Vec<String> {
    vec![
        report_header("Parallelism"),
        report_item("tensor_parallel_size", &tensor_parallel_size.to_string()),
        report_item(
            "pipeline_parallel_size",
            &pipeline_parallel_size.to_string(),
        ),
        String::new(),
    ]
}

/// The build summary `build --dry-run` prints, in the reference's layout (its Buckets
/// section is the reference's, line for line).
pub fn build_plan_summary(
    model: &str,
    output: &Path,
    prepared: &Prepared,
    compiler: &str,
) -> String {
    let plan = &prepared.plan;
    let architecture = prepared.architecture.as_str();
    let fields = &prepared.summary_fields;
    let mut lines = vec![
        String::new(),
        report_rule(),
        format!(
            "  FXB Build Plan (dry run)  fxb v{}",
            env!("CARGO_PKG_VERSION")
        ),
        report_rule(),
        String::new(),
        report_header("Versions"),
        report_item(
            "fxb",
            &format!(
                "{} ({})",
                env!("CARGO_PKG_VERSION"),
                env!("FXB_GIT_REVISION")
            ),
        ),
        report_item(
            "plugin ABI",
            &format!(
                "{}.{}",
                fxb_plugin_api::ABI_MAJOR,
                fxb_plugin_api::ABI_MINOR
            ),
        ),
        report_item("compiler", compiler),
        String::new(),
        report_header("Config"),
        report_item("model", model),
        report_item("output_path", &output.display().to_string()),
        report_item("max_model_len", &plan.max_model_len.to_string()),
        report_item("optim_level", &plan.optimization),
        report_item(
            "rule",
            &plan
                .rule
                .as_ref()
                .map_or_else(|| "(none: generic preset)".into(), ToString::to_string),
        ),
        report_item("plugin", &plan.plugin.to_string()),
        report_item("preset", plan.preset.as_deref().unwrap_or("(generic)")),
        String::new(),
        report_header("Model"),
        report_item("architecture", architecture),
    ];
    lines.extend(
        crate::bundle::model_lines(fields)
            .iter()
            .map(|m| report_item(&m.key, &m.value)),
    );
    lines.push(String::new());
    lines.extend(parallelism_section(
        plan.tensor_parallel_size,
        plan.pipeline_parallel_size,
    ));
    lines.extend(bucket_section(plan));
    lines.push(report_rule());
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

/// The Buckets section exactly as the reference's build summary prints it.
pub fn bucket_section(plan: &ModelPlan) -> Vec<String> {
    let b = &plan.buckets;
    let mut lines = vec![
        report_header(&format!(
            "Buckets ({} total, {} kernels)",
            plan.total_buckets, plan.total_kernels
        )),
        report_item("kv_cache_blocks", &plan.kv_cache_blocks.to_string()),
        report_item("max_cache", "0"),
        report_item("mtp", "not included"),
        report_item(
            "sampler",
            if b.sampler.is_empty() {
                "not included"
            } else {
                "included"
            },
        ),
        report_item("tokenwise", &size_list(&b.tokenwise)),
    ];
    if !b.sampler.is_empty() {
        lines.push(report_item("sampler", &size_list(&b.sampler)));
    }
    let attention = |buckets: &[fxb_plugin_api::v1::AttentionBucket]| -> Vec<String> {
        buckets
            .iter()
            .map(|x| attention_line(x.batch, x.attention, x.input_ids))
            .collect()
    };
    lines.extend(bucket_groups(vec![
        ("prefill", attention(&b.prefill)),
        ("decode", attention(&b.decode)),
        ("append", attention(&b.append)),
    ]));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 13: a 70,000-character version string in one cached bundle made every
    /// table panic ("Formatting argument out of range").
    #[test]
    fn tables_draw_any_width_and_escape_what_a_terminal_would_obey() {
        let huge = "9".repeat(70_000);
        let text = simple_table(&["A", "B"], &[vec![huge.clone(), "\x1b[31mred".into()]]);
        let row = text.lines().nth(2).expect("row");
        assert!(row.contains('…'), "{row}");
        assert!(row.chars().count() < MAX_CELL + 20, "{}", row.len());
        assert!(
            row.contains("\\u{1b}[31mred") && !row.contains('\x1b'),
            "{row}"
        );
        let text = table(&["NAME"], &[vec![huge]]);
        assert!(text.lines().nth(1).is_some_and(|l| l.ends_with('…')));
        assert_eq!(
            report_item("tool", "a\nb"),
            "    - tool                 a\\u{a}b"
        );
        // The fuzzer's find: `show` printed a tool's name from `versions` raw.
        assert_eq!(
            report_item("\x1b[2Jtool", "1"),
            "    - \\u{1b}[2Jtool        1"
        );
    }

    #[test]
    fn ordinary_tables_are_unchanged() {
        assert_eq!(
            simple_table(&["ID", "SIZE"], &[vec!["local".into(), "1.8 MiB".into()]]),
            "ID     SIZE\n-----  -------\nlocal  1.8 MiB\n"
        );
        assert_eq!(
            table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]),
            "A    BB\nxyz  1\n"
        );
    }
}
