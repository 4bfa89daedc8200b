//! `fxb plugins call`: run one operation of one plugin on a JSON request and print its
//! reply — how a plugin author tries a plugin against the real host and its limits.

use std::io::Read;
use std::path::PathBuf;

use anyhow::Context;
use fxb_plugin_api::v1;

use super::output::Stdout;
use super::{Globals, Hinted, Outcome};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "The reply's `ok` value is printed as JSON on stdout. A plugin error, \
trap, panic, endless loop (fuel), memory grab or malformed reply is an error naming the \
plugin and the cause (exit 2)."
)]
pub struct Args {
    /// The operation: describe, fingerprint, plan, convert
    operation: String,
    /// Use the plugin that serves this architecture (e.g. LlamaForCausalLM)
    #[arg(long, value_name = "ARCH", conflicts_with = "plugin")]
    arch: Option<String>,
    /// Use the plugin with this name
    #[arg(long, value_name = "NAME")]
    plugin: Option<String>,
    /// JSON request file, `-` for stdin [default: `{}`]
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<Outcome> {
    let tools = globals.toolchain();
    let (set, host) = (&tools.plugins, &tools.host);
    let chosen = match (&args.arch, &args.plugin) {
        (Some(arch), _) => set.for_architecture(arch).ok_or_else(|| {
            Hinted::new(
                format!("no plugin serves architecture `{arch}`"),
                "`fxb plugins ls` shows what is installed",
            )
        })?,
        (None, Some(name)) => set.by_name(name).ok_or_else(|| {
            Hinted::new(
                format!("no plugin named `{name}`"),
                "`fxb plugins ls` shows what is installed",
            )
        })?,
        (None, None) => {
            return Err(Hinted::new(
                "say which plugin to call",
                "pass --arch ARCH or --plugin NAME",
            )
            .into());
        }
    };
    let input = match &args.input {
        None => b"{}".to_vec(),
        Some(path) if path.as_os_str() == "-" => {
            let mut buffer = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buffer)
                .context("failed to read the request from stdin")?;
            buffer
        }
        Some(path) => {
            std::fs::read(path).with_context(|| format!("failed to read `{}`", path.display()))?
        }
    };
    let request: serde_json::Value =
        serde_json::from_slice(&input).context("the request is not valid JSON")?;
    let loaded = host.load(chosen)?;
    // Known operations are checked against their reply type, as fxb itself would.
    let reply = match args.operation.as_str() {
        "describe" => {
            serde_json::to_value(loaded.call::<_, v1::PluginMetadata>("describe", &request)?)?
        }
        "fingerprint" => serde_json::to_value(
            loaded.call::<_, v1::FingerprintResponse>("fingerprint", &request)?,
        )?,
        "plan" => serde_json::to_value(loaded.call::<_, v1::PlanResponse>("plan", &request)?)?,
        "convert" => {
            serde_json::to_value(loaded.call::<_, v1::ConvertResponse>("convert", &request)?)?
        }
        other => loaded.call::<_, serde_json::Value>(other, &request)?,
    };
    let mut out = Stdout::new();
    out.json(&reply)?;
    out.finish()?;
    Ok(Outcome::Clean)
}
