//! `fxb pack <dir> <out.fxb>`: pack an artifact directory into a bundle.

use std::path::PathBuf;

use fxb::bundle::pack;
use fxb::schema::PackOutput;

use super::Outcome;
use super::output::Stdout;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Packs manifest.json and the files it names, stored uncompressed in the \
reference's order, with entry times from created_at (so packing is reproducible). Files \
the manifest does not name are left out, with a warning. The bundle is written to a \
temporary file and renamed into place. Prints the bundle path on stdout."
)]
pub struct Args {
    /// The artifact directory (with manifest.json)
    dir: PathBuf,
    /// The .fxb file to write (`.fxb` is appended when it has no extension)
    output: PathBuf,
    /// Print what was packed as JSON (schema: schemas/pack.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut output = args.output;
    if output.extension().is_none() {
        output.set_extension("fxb");
    }
    let report = pack(&args.dir, &output)?;
    for skipped in &report.skipped {
        tracing::warn!("left out `{skipped}`: the manifest does not name it");
    }
    let bundle = report.bundle.path.to_string_lossy().into_owned();
    let mut out = Stdout::new();
    if args.json {
        out.json(&PackOutput {
            bundle,
            entries: report.bundle.entries,
            bytes: report.bundle.size,
            skipped: report.skipped,
        })?;
    } else {
        super::output::printer().status(format_args!(
            "Packed {} entries, {} bytes, into {bundle}",
            report.bundle.entries, report.bundle.size
        ));
        out.line(&bundle)?;
    }
    out.finish()?;
    Ok(Outcome::Clean)
}
