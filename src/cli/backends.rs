//! `fxb backends ls` and `fxb backends verify`: the compiler/runtime backends available,
//! and whether a bundle would load on a runtime backend.

use std::path::PathBuf;

use fxb::Hint as _;

use super::output::Stdout;
use super::{Hinted, Outcome};
use fxb::report::table;

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Backends: `host` (linked into fxb: fxb's reference backend, real \
kernel signatures but no RNGD code), `furiosa` (linked into fxb: drives the vendor toolchain \
the user installed — furiosa-kernels, furiosa-tcc, the aarch64 cross compiler — and lists \
each tool found or what to install), then shared libraries in FXB_BACKEND_PATH and \
$XDG_DATA_HOME/fxb/backends. A library that is not a usable backend (wrong ABI version, \
no entry table) is reported on stderr and makes the command exit 1."
)]
pub struct LsArgs {
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn ls(args: LsArgs) -> anyhow::Result<Outcome> {
    let mut output = fxb::schema::BackendsLsOutput {
        backends: Vec::new(),
        problems: Vec::new(),
    };
    for found in fxb::backend::available(&fxb::backend::search_dirs()) {
        match found {
            Ok(backend) => output.backends.push(fxb::schema::BackendLine {
                source: backend.source.to_string(),
                description: backend.description,
            }),
            Err(e) => {
                tracing::warn!(
                    "skipped backend: {e} (hint: {})",
                    e.hint().unwrap_or_default()
                );
                output.problems.push(e.to_string());
            }
        }
    }
    let mut out = Stdout::new();
    if args.json {
        out.json(&output)?;
    } else {
        let rows: Vec<Vec<String>> = output
            .backends
            .iter()
            .map(|line| {
                let b = &line.description;
                let roles: Vec<String> = b
                    .roles
                    .iter()
                    .map(|r| format!("{r:?}").to_lowercase())
                    .collect();
                vec![
                    b.name.clone(),
                    b.version.clone(),
                    b.revision.clone(),
                    b.target_npu.clone(),
                    roles.join(","),
                    line.source.clone(),
                ]
            })
            .collect();
        out.raw(&table(
            &["NAME", "VERSION", "REVISION", "TARGET", "ROLES", "SOURCE"],
            &rows,
        ))?;
        for line in &output.backends {
            out.raw(&tools_text(&line.description))?;
        }
    }
    out.finish()?;
    Ok(if output.problems.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}

/// The tools a backend drives, one block per backend that drives any: each found (path,
/// version) or what is wrong and how to fix it.
fn tools_text(backend: &fxb::backend::Description) -> String {
    if backend.tools.is_empty() {
        return String::new();
    }
    let mut text = format!("\n{}: {}\n", backend.name, backend.summary);
    let width = backend
        .tools
        .iter()
        .map(|t| t.name.len())
        .max()
        .unwrap_or(0);
    for tool in &backend.tools {
        let name = format!("{:width$}", tool.name);
        match &tool.problem {
            None => {
                let at = tool.path.as_deref().unwrap_or("-");
                let version = tool
                    .version
                    .as_ref()
                    .map(|v| format!("  {v}"))
                    .unwrap_or_default();
                text.push_str(&format!("  {name}  {at}{version}\n"));
            }
            Some(problem) => {
                text.push_str(&format!("  {name}  missing: {problem}\n"));
                if let Some(hint) = tool.hint.as_ref().filter(|h| !h.is_empty()) {
                    text.push_str(&format!("  {:width$}  fix: {hint}\n", ""));
                }
            }
        }
    }
    text
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Asks a runtime backend whether the bundle would load: every \
kernel a model needs is present, each entry's signature is what the model fields and the \
tensor-parallel size imply, and the TP is supported. Reads signatures only, never kernel \
payloads. Exit 0: loadable; 1: problems found; 2: could not verify."
)]
pub struct VerifyArgs {
    /// A bundle (.fxb) or an extracted bundle directory
    bundle: PathBuf,
    /// The runtime backend (`host`, a name from `fxb backends ls`, or a library path)
    #[arg(long, value_name = "NAME|PATH", env = "FXB_BACKEND")]
    backend: Option<String>,
    /// Kernels the model needs besides those every model needs (comma-separated)
    #[arg(long, value_name = "KERNELS", value_delimiter = ',')]
    require: Vec<String>,
    /// Print the report as JSON
    #[arg(long)]
    json: bool,
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<Outcome> {
    let backend = fxb::backend::select(args.backend.as_deref(), &fxb::backend::search_dirs())?;
    if !backend.has_role(fxb::backend::Role::Runtime) {
        return Err(Hinted::new(
            format!("backend `{}` is not a runtime", backend.description.name),
            "pick a runtime backend (`fxb backends ls`, ROLES)",
        )
        .into());
    }
    let report = fxb::backend::verify_bundle(&backend, &args.bundle, args.require.clone())?;
    let mut out = Stdout::new();
    if args.json {
        out.json(&report)?;
    } else {
        for problem in &report.problems {
            let at = match (&problem.kernel, &problem.bucket) {
                (Some(k), Some(b)) => format!("{k} ({b}): "),
                (Some(k), None) => format!("{k}: "),
                _ => String::new(),
            };
            out.line(&format!("{}: {at}{}", problem.kind, problem.message))?;
        }
        out.line(&format!(
            "{}: {} entries checked on backend {}, {} problem(s)",
            if report.loadable {
                "loadable"
            } else {
                "not loadable"
            },
            report.checked_entries,
            backend.label(),
            report.problems.len()
        ))?;
    }
    out.finish()?;
    Ok(if report.loadable {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}
