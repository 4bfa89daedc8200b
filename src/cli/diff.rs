//! `fxb diff <left> <right>`: kernel signatures entry by entry in the reference's format
//! (FORMAT.md §5.10), then the manifest fields that differ.

use std::path::PathBuf;

use fxb::bundle::{Bundle, DiffSide, SignatureDiff, diff_bundles};

use super::Outcome;
use fxb::report::printable;

use super::output::{Stdout, stdout_color};

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Exits 1 when the bundles differ and 0 when they do not (the reference \
always exits 0). After the reference's summary, fxb lists the manifest fields that differ; \
uuid and created_at identify a build and are not compared. Colour only on a terminal, \
never with NO_COLOR."
)]
pub struct Args {
    /// Path to the left artifact directory or .fxb
    left: PathBuf,
    /// Path to the right artifact directory or .fxb
    right: PathBuf,
    /// Only show entries in both bundles
    #[arg(long)]
    common_only: bool,
    /// Disable colored output (same as --color never)
    #[arg(long)]
    no_color: bool,
    /// When to colour: auto (a terminal, and NO_COLOR unset), always, never
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    color: ColorChoice,
    /// Print the comparison as JSON (schema: schemas/diff.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut left = Bundle::open(&args.left)?;
    let mut right = Bundle::open(&args.right)?;
    let diff = diff_bundles(&mut left, &mut right, args.common_only)?;
    let mut out = Stdout::new();
    if args.json {
        out.json(&diff)?;
    } else {
        let color = match args.color {
            ColorChoice::Always => !args.no_color,
            ColorChoice::Never => false,
            ColorChoice::Auto => stdout_color(args.no_color),
        };
        out.raw(&render(&args, &diff, color))?;
    }
    out.finish()?;
    Ok(if diff.differs() {
        Outcome::Finding
    } else {
        Outcome::Clean
    })
}

fn render(args: &Args, diff: &SignatureDiff, color: bool) -> String {
    let paint = |code: &str, text: &str| {
        if color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    };
    let mut lines = vec![
        paint(RED, &format!("--- {}", args.left.display())),
        paint(GREEN, &format!("+++ {}", args.right.display())),
        String::new(),
    ];
    for entry in &diff.entries {
        for (i, line) in entry.lines.iter().enumerate() {
            // Kernel names come from the bundles: a terminal must not obey them.
            let text = printable(&line.text);
            lines.push(match line.side {
                DiffSide::Left => paint(RED, &format!("-{text}")),
                DiffSide::Right => paint(GREEN, &format!("+{text}")),
                DiffSide::Both if i == 0 => format!(" {}", paint(BOLD, &text)),
                DiffSide::Both => format!(" {text}"),
            });
        }
        lines.push(String::new());
    }
    lines.push(paint(
        DIM,
        &format!(
            "Summary: {} changed, {} left-only, {} right-only, {} identical",
            diff.changed, diff.left_only, diff.right_only, diff.identical
        ),
    ));
    if !diff.manifest.is_empty() {
        let count = diff.manifest.len();
        lines.push(String::new());
        lines.push(format!(
            "Manifest ({count} field{} differ{}):",
            if count == 1 { "" } else { "s" },
            if count == 1 { "s" } else { "" }
        ));
        let value = |v: &Option<serde_json::Value>| {
            v.as_ref()
                .map_or_else(|| "(absent)".to_string(), |v| v.to_string())
        };
        for field in &diff.manifest {
            // Field names come from the manifests (values are JSON, escaped already).
            let name = printable(&field.field);
            lines.push(paint(RED, &format!("- {name} = {}", value(&field.left))));
            lines.push(paint(GREEN, &format!("+ {name} = {}", value(&field.right))));
        }
    }
    let mut text = lines.join("\n");
    text.push('\n');
    text
}
