//! `fxb rules check FILE`: validate a rule file before installing it.

use std::path::PathBuf;

use fxb::rules::check_file;

use super::Outcome;
use super::output::Stdout;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints `ok` and what the file serves, or every problem as \
`file:line:col: message` on stderr (exit 1). Checking installs nothing."
)]
pub struct Args {
    /// The rule file (.toml)
    file: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    match check_file(&args.file) {
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
