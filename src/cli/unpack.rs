//! `fxb unpack <bundle> <dir>`: extract a bundle into an artifact directory.

use std::path::PathBuf;

use fxb::bundle::unpack;

use super::Outcome;
use super::output::Stdout;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The directory must not exist or be empty. Files are extracted into a \
temporary directory beside it and renamed into place, so it appears whole or not at all. \
Entry names that could escape the directory are refused. Prints the directory on stdout."
)]
pub struct Args {
    /// The .fxb bundle
    bundle: PathBuf,
    /// The directory to create
    dir: PathBuf,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let report = unpack(&args.bundle, &args.dir)?;
    eprintln!(
        "Unpacked {} file(s), {} bytes, into {}",
        report.files,
        report.bytes,
        report.directory.display()
    );
    let mut out = Stdout::new();
    out.line(&report.directory.to_string_lossy())?;
    out.finish()?;
    Ok(Outcome::Clean)
}
