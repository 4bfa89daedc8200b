//! `fxb inspect <path>`: every kernel × bucket's input and output tensors (FORMAT.md §5.9).

use std::path::PathBuf;

use fxb::bundle::{Bundle, TensorSignature};
use fxb::schema::{InspectOutput, InspectedEntry, InspectedTensor};

use super::output::Stdout;
use super::{Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads only the signature of each kernel file, one file at a time. \
Blocks are ordered by kernel name, then in the manifest's order."
)]
pub struct Args {
    /// Path to an artifact directory or .fxb file
    path: PathBuf,
    /// Only this kernel (e.g. `first_tokenwise`)
    #[arg(long, value_name = "NAME")]
    kernel: Option<String>,
    /// Only this bucket label (e.g. `tw1`, `b1_a256_kv255`, `sampler1`)
    #[arg(long, value_name = "LABEL")]
    bucket: Option<String>,
    /// Print the signatures as JSON (schema: schemas/inspect.schema.json)
    #[arg(long)]
    json: bool,
}

pub fn run(args: Args) -> anyhow::Result<Outcome> {
    let mut bundle = Bundle::open(&args.path)?;
    let manifest = bundle.manifest().clone();
    if let Some(kernel) = &args.kernel
        && !manifest.kernels.contains_key(kernel)
    {
        let mut known: Vec<&str> = manifest.kernels.keys().map(String::as_str).collect();
        known.sort();
        return Err(Hinted::new(
            format!("`{}` has no kernel `{kernel}`", args.path.display()),
            format!("its kernels are: {}", known.join(", ")),
        )
        .into());
    }
    let mut selected: Vec<(&String, _)> = manifest
        .kernels
        .iter()
        .filter(|(name, _)| args.kernel.as_ref().is_none_or(|k| k == *name))
        .flat_map(|(name, entries)| entries.iter().map(move |e| (name, e)))
        .filter(|(_, e)| args.bucket.as_ref().is_none_or(|b| *b == e.bucket.label()))
        .collect();
    // Kernels by name; a kernel's buckets in the manifest's order, as the reference prints
    // them (the sort is stable).
    selected.sort_by(|a, b| a.0.cmp(b.0));
    if selected.is_empty() && args.bucket.is_some() {
        return Err(Hinted::new(
            format!(
                "`{}` has no entry with bucket `{}`",
                args.path.display(),
                args.bucket.as_deref().unwrap_or_default()
            ),
            "`fxb show` lists the buckets; labels look like `tw1`, `b1_a256_kv255`, `sampler1`",
        )
        .into());
    }

    // Everything is read before anything is printed, so a damaged kernel file leaves
    // stdout empty, as the reference does. Only rendered signatures are kept.
    let mut entries = Vec::with_capacity(selected.len());
    for (kernel, entry) in selected {
        let signature = bundle.read_signature(&entry.file)?;
        let tensor =
            |(index, t): (usize, &TensorSignature), in_place: Option<bool>| InspectedTensor {
                index,
                size: t.size_bytes().and_then(|s| u64::try_from(s).ok()),
                shape: t.shape(),
                dtype: t.element_type.short_name(),
                in_place,
            };
        entries.push((
            InspectedEntry {
                kernel: kernel.clone(),
                bucket: entry.bucket.label(),
                file: entry.file.clone(),
                inputs: signature
                    .inputs
                    .iter()
                    .enumerate()
                    .map(|(i, (t, in_place))| tensor((i, t), Some(*in_place)))
                    .collect(),
                outputs: signature
                    .outputs
                    .iter()
                    .enumerate()
                    .map(|p| tensor(p, None))
                    .collect(),
            },
            signature.render(),
        ));
    }

    let mut out = Stdout::new();
    if args.json {
        out.json(&InspectOutput {
            entries: entries.into_iter().map(|(e, _)| e).collect(),
        })?;
    } else {
        for (entry, (inputs, outputs)) in entries {
            out.line(&format!(
                "{} ({}):",
                fxb::report::printable(&entry.kernel),
                fxb::report::printable(&entry.bucket)
            ))?;
            out.line("  Inputs:")?;
            for line in inputs {
                out.line(&line)?;
            }
            out.line("  Outputs:")?;
            for line in outputs {
                out.line(&line)?;
            }
            out.line("")?;
        }
    }
    out.finish()?;
    Ok(Outcome::Clean)
}
