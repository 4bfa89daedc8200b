//! `fxb unpack <bundle> <dir>`: extract a bundle into an artifact directory.

use std::path::PathBuf;

use fxb::bundle::unpack;
use fxb::schema::UnpackOutput;

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
    /// Print what was extracted as JSON (schema: schemas/unpack.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let report = unpack(&args.bundle, &args.dir)?;
    let directory = report.directory.to_string_lossy().into_owned();
    let mut out = Stdout::new();
    if args.json {
        out.json(&UnpackOutput {
            directory,
            files: report.files,
            bytes: report.bytes,
        })?;
    } else {
        super::output::printer().status(format_args!(
            "Unpacked {} file(s), {} bytes, into {directory}",
            report.files, report.bytes
        ));
        out.line(&directory)?;
    }
    out.finish()?;
    Ok(Outcome::Clean)
}
