//! Command-line interface: argument parsing, logging set-up, dispatch, and the one place
//! that turns results into exit codes and errors into `error:` / `caused by:` / `hint:`.

mod diff;
mod inspect;
mod list;
mod output;
mod pack;
mod show;
mod unpack;
mod version;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fxb::bundle::BundleError;

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 a finding (bundles differ, files missing), 2 an error.
Where fxb differs from the reference `fxb` (furiosa-llm): it exits 2 on errors where the
reference exits 1; it prints kernels and tool versions in a stable (sorted) order where
the reference's order is random; every command takes `--json`.
Logging: -v / -vv, or FXB_LOG (e.g. FXB_LOG=debug) for full control.";

/// Build, fetch, cache, check and inspect FXB bundles.
#[derive(Debug, Parser)]
#[command(name = "fxb", version, about, after_help = AFTER_HELP, disable_version_flag = true)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); FXB_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show bundle metadata
    Show(show::Args),
    /// List files in the bundle
    List(list::Args),
    /// Inspect kernel I/O signatures
    Inspect(inspect::Args),
    /// Compare kernel I/O signatures and manifests of two bundles
    Diff(diff::Args),
    /// Extract a bundle into an artifact directory
    Unpack(unpack::Args),
    /// Pack an artifact directory into a bundle
    Pack(pack::Args),
    /// Show version information
    Version(version::Args),
}

/// What a command found, beyond success or failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing to report: exit 0.
    Clean,
    /// A finding the caller may act on (bundles differ, files missing): exit 1.
    Finding,
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => {
                    ExitCode::SUCCESS
                }
                _ => ExitCode::from(2),
            };
        }
    };
    init_logging(cli.verbose);
    let result = match cli.command {
        Command::Show(args) => show::run(args),
        Command::List(args) => list::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Unpack(args) => unpack::run(args),
        Command::Pack(args) => pack::run(args),
        Command::Version(args) => version::run(args),
    };
    match result {
        Ok(Outcome::Clean) => ExitCode::SUCCESS,
        Ok(Outcome::Finding) => ExitCode::from(1),
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            report(&error);
            ExitCode::from(2)
        }
    }
}

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("FXB_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(false)
        .try_init();
}

/// A closed stdout (`fxb inspect x | head`) ends the command quietly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn report(error: &anyhow::Error) {
    let mut chain = error.chain();
    if let Some(top) = chain.next() {
        eprintln!("error: {top}");
    }
    for cause in chain {
        eprintln!("  caused by: {cause}");
    }
    let hint = error
        .chain()
        .find_map(|cause| cause.downcast_ref::<BundleError>())
        .and_then(BundleError::hint)
        .or_else(|| {
            error
                .chain()
                .find_map(|c| c.downcast_ref::<Hinted>())
                .map(|h| h.hint.clone())
        });
    if let Some(hint) = hint {
        eprintln!("hint: {hint}");
    }
}

/// An error raised by the CLI itself, with a next step for the user.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct Hinted {
    pub message: String,
    pub hint: String,
}

impl Hinted {
    pub fn new(message: impl Into<String>, hint: impl Into<String>) -> Self {
        Hinted {
            message: message.into(),
            hint: hint.into(),
        }
    }
}
