//! `fxb rules check FILE`: validate a rule file before installing it.

use std::path::PathBuf;

use fxb::rules::check_file;

use super::Outcome;
use super::output::Stdout;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints `ok` and what the file serves, or every problem as \
`file:line:col: message` on stderr (exit 1) — including a valid rule whose `fxb` range \
this fxb is outside of, which it would ignore. Checking installs nothing."
)]
pub struct Args {
    /// The rule file (.toml)
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match check_file(&args.file) {
        // Valid, but never loaded by this fxb (issue 13: it said `ok`).
        Ok(rule) if !rule.compatible_with_this_fxb() => {
            let text = std::fs::read_to_string(&args.file).unwrap_or_default();
            let line = text
                .lines()
                .position(|l| l.trim_start().starts_with("fxb") && l.contains('='))
                .map_or(1, |i| i + 1);
            super::output::printer().diagnostic(format_args!(
                "{}:{line}:1: `{}` {} is valid but this fxb ({}) would ignore it: its `fxb` range `{}` does not admit it",
                args.file.display(),
                rule.name,
                rule.version,
                env!("CARGO_PKG_VERSION"),
                rule.fxb
            ));
            Ok(Outcome::Finding)
        }
        Ok(rule) => {
            let mut out = Stdout::new();
            out.line(&format!(
                "ok: `{}` {} for {} (fxb {})",
                rule.name,
                rule.version,
                rule.architectures.join(", "),
                rule.fxb
            ))?;
            out.finish()?;
            Ok(Outcome::Clean)
        }
        Err(problems) => {
            for problem in problems {
                super::output::printer().diagnostic(format_args!(
                    "{}:{}:{}: {}",
                    args.file.display(),
                    problem.line,
                    problem.column,
                    problem.message
                ));
            }
            Ok(Outcome::Finding)
        }
    }
}
