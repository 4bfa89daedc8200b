//! Command-line interface: argument parsing, logging set-up, dispatch, and the one place
//! that turns results into exit codes and errors into `error:` / `caused by:` / `hint:`.

mod add;
mod backends;
mod build;
mod cache_ls;
mod cache_prune;
mod cache_rm;
mod cache_verify;
mod check;
mod diff;
mod download;
mod fingerprint;
mod inspect;
mod list;
mod output;
mod pack;
mod plugins_call;
mod plugins_ls;
mod progress;
mod publish;
mod resolve;
mod rules_check;
mod rules_ls;
mod show;
mod unpack;
mod version;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use fxb::Hint;

const AFTER_HELP: &str = "\
Exit codes: 0 success, 1 a finding (bundles differ, files missing), 2 an error.
Where fxb differs from the reference `fxb` (furiosa-llm): it exits 2 on errors where the
reference exits 1; it prints kernels and tool versions in a stable (sorted) order where
the reference's order is random; every command that prints a report takes `--json`.
Logging: -v / -vv, or FXB_LOG (e.g. FXB_LOG=debug) for full control.";

/// The heading global options are listed under in every command's help.
const GLOBAL: &str = "Global options";

/// Build, cache, check and inspect FXB bundles.
#[derive(Debug, Parser)]
#[command(name = "fxb", version, about, after_help = AFTER_HELP, disable_version_flag = true)]
struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace); FXB_LOG overrides.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, help_heading = GLOBAL)]
    verbose: u8,

    #[command(flatten)]
    globals: Globals,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build a model into a bundle (or plan it with --dry-run)
    Build(Box<build::Args>),
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
    /// Print a model's architecture fingerprint
    Fingerprint(fingerprint::Args),
    /// List and run architecture plugins
    #[command(subcommand)]
    Plugins(PluginsCommand),
    /// List and check rule files
    #[command(subcommand)]
    Rules(RulesCommand),
    /// List compiler/runtime backends and verify bundles on a runtime backend
    #[command(subcommand)]
    Backends(BackendsCommand),
    /// Download a Hub repository's bundles into the cache
    Download(download::Args),
    /// Publish a bundle, or a model directory with its bundle, to a Hub repository
    Publish(Box<publish::Args>),
    /// Copy bundles into the local cache under their standard names
    Add(add::Args),
    /// List, remove, prune and verify cached bundles
    #[command(subcommand)]
    Cache(CacheCommand),
    /// Which cached bundles fit a model, ranked as a server would load them
    Check(check::Args),
    /// Which bundle a server would load for a model, and why
    Resolve(resolve::Args),
}

#[derive(Debug, Subcommand)]
enum CacheCommand {
    /// List cached bundles (from the index)
    Ls(cache_ls::Args),
    /// Remove cached bundles by repo id or file name
    Rm(cache_rm::Args),
    /// Remove stale bundles (compiler revision) or old ones (--older-than)
    Prune(cache_prune::Args),
    /// Re-hash every cached bundle; report corrupt and missing ones
    Verify(cache_verify::Args),
}

#[derive(Debug, Subcommand)]
enum BackendsCommand {
    /// List backends: name, version, revision, target, roles, source
    Ls(backends::LsArgs),
    /// Would this bundle load? (kernels present, signatures, tensor-parallel size)
    Verify(backends::VerifyArgs),
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// List rule files: version, fxb range, architectures, source, and whether active
    Ls(rules_ls::Args),
    /// Validate a rule file (errors as file:line:col)
    Check(rules_check::Args),
}

#[derive(Debug, Subcommand)]
enum PluginsCommand {
    /// List plugins: version, ABI, architectures, operations, source, and whether active
    Ls(plugins_ls::Args),
    /// Call one plugin operation with a JSON request (for plugin authors)
    Call(plugins_call::Args),
}

/// Options every command understands.
#[derive(Debug, Clone, clap::Args)]
pub struct Globals {
    /// Print only data: no notes, warnings or progress on stderr (errors still print;
    /// `cache ls -q` prints paths only)
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,
    /// Also load plugins from this directory (repeatable; before FXB_PLUGIN_PATH and the
    /// user plugin dir)
    #[arg(long = "plugin-dir", value_name = "DIR", global = true, help_heading = GLOBAL)]
    pub plugin_dirs: Vec<std::path::PathBuf>,
    /// Also load rule files from this directory (repeatable; before FXB_RULES_DIR)
    #[arg(long = "rules-dir", value_name = "DIR", global = true, help_heading = GLOBAL)]
    pub rules_dirs: Vec<std::path::PathBuf>,
    /// The bundle cache directory [default: $XDG_CACHE_HOME/furiosa/llm/fxb] (not the
    /// compiler cache: `build --compiler-cache-dir`; nor the compiled plugins:
    /// FXB_PLUGIN_CACHE_DIR)
    #[arg(long, value_name = "DIR", global = true, help_heading = GLOBAL, env = "FXB_CACHE_DIR")]
    pub cache_dir: Option<std::path::PathBuf>,
}

impl Globals {
    /// The rules, plugins and plugin host, with what was skipped warned about.
    pub fn toolchain(&self) -> fxb::toolchain::Toolchain {
        let options = fxb::toolchain::ToolchainOptions {
            plugin_dirs: self.plugin_dirs.clone(),
            rules_dirs: self.rules_dirs.clone(),
            compiled_plugin_dir: None,
        };
        let tools = fxb::toolchain::Toolchain::discover(&options);
        for skipped in tools.problems() {
            warn_skipped(skipped.kind, &skipped.path, &skipped.message);
        }
        tools
    }

    /// Only the plugins (for `plugins ls`), with what was skipped warned about.
    pub fn plugin_set(&self) -> fxb::plugin::PluginSet {
        let set = fxb::plugin::PluginSet::discover(&fxb::plugin::PluginSearch::from_env(
            &self.plugin_dirs,
        ));
        for problem in set.problems() {
            warn_skipped("plugin", &problem.path, &problem.message);
        }
        set
    }

    /// Only the rule files (for `rules ls`), with what was skipped warned about.
    pub fn rule_set(&self) -> fxb::rules::RuleSet {
        let set = fxb::rules::RuleSet::load(&fxb::rules::search_dirs(&self.rules_dirs));
        for problem in set.problems() {
            warn_skipped("rule file", &problem.path, &problem.message);
        }
        set
    }

    /// The cache directory in use.
    pub fn cache_path(&self) -> std::path::PathBuf {
        fxb::cache::cache_dir(self.cache_dir.clone())
    }

    /// The cache, opened (created if needed).
    pub fn cache(&self) -> Result<fxb::cache::Cache, fxb::cache::CacheError> {
        let cache = fxb::cache::Cache::open(self.cache_path())?;
        if cache.is_read_only() {
            output::printer().note(format_args!(
                "the cache `{}` is read-only: it is read as it is, and nothing is recorded in it",
                cache.dir().display()
            ));
        }
        Ok(cache)
    }
}

/// `warning: skipped {kind} `{path}`: {message}` for a plugin or rule file not used.
fn warn_skipped(kind: &str, path: &std::path::Path, message: &str) {
    tracing::warn!("skipped {kind} `{}`: {message}", path.display());
}

/// The reference spells the parallelism options `-tp 8` / `-pp 2`: one dash, two letters,
/// which clap would read as `-t p`. Rewrite them (and `-tp=8`) to the long options.
fn reference_spellings(args: impl Iterator<Item = std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    args.map(|arg| {
        let Some(text) = arg.to_str() else {
            return arg;
        };
        for (short, long) in [
            ("-tp", "--tensor-parallel-size"),
            ("-pp", "--pipeline-parallel-size"),
        ] {
            if text == short {
                return long.into();
            }
            if let Some(value) = text.strip_prefix(short).and_then(|v| v.strip_prefix('=')) {
                return format!("{long}={value}").into();
            }
        }
        arg
    })
    .collect()
}

/// The serving build's identity, for `check`, `resolve` and `cache prune`: the flags,
/// else the runtime backend's report.
#[derive(Debug, Clone, clap::Args)]
pub struct RuntimeArgs {
    /// The compiler (FuriosaIR) revision the serving runtime runs
    #[arg(long, value_name = "REV", env = "FXB_RUNTIME_REVISION")]
    runtime_revision: Option<String>,
    /// The furiosa-llm revision the serving runtime runs
    #[arg(long, value_name = "REV", env = "FXB_LLM_REVISION")]
    llm_revision: Option<String>,
    /// The runtime backend to ask when no revision is given (default: furiosa when
    /// furiosa-tcc is installed, else host)
    #[arg(long = "runtime-backend", value_name = "NAME|PATH")]
    runtime_backend: Option<String>,
}

impl RuntimeArgs {
    /// The running identity, and why parts of it are unknown. When a runtime backend
    /// reported the compiler revision, a note on stderr says which (issue 16).
    pub fn running(&self) -> Result<(fxb::check::Running, String), fxb::backend::LoadError> {
        let found = fxb::check::Running::discover_from(
            self.runtime_revision.clone(),
            self.llm_revision.clone(),
            self.runtime_backend.as_deref(),
        )?;
        if let (Some(source), Some(revision)) = (&found.source, &found.running.compiler_revision) {
            output::printer().note(format_args!(
                "runtime compiler revision {revision}, reported by {source}"
            ));
        }
        Ok((found.running, found.why))
    }
}

/// Tell the user when a directory here was taken for a model name that could also be a
/// Hub repo id (issue 14: the path wins, as `transformers` reads it).
/// The model `name` names, its Hub files fetched (with a bar on a terminal) and what the
/// user should know about how it was read said on stderr.
pub fn locate_model(
    name: &str,
    revision: Option<&str>,
    cache: Option<&fxb::cache::Cache>,
    purpose: fxb::model::Purpose,
) -> Result<fxb::model::Located, fxb::model::ModelError> {
    if revision.is_some()
        && matches!(
            fxb::model::ModelName::parse(name),
            fxb::model::ModelName::Local(_)
        )
    {
        output::printer().note(format_args!(
            "--revision is for Hub ids: `{name}` is read as a local directory"
        ));
    }
    let env = fxb::hub::HubEnv::from_env();
    let bar = progress::DownloadBar::default();
    let events = |event: &fxb::hub::DownloadEvent<'_>| bar.event(event);
    let located = fxb::model::locate(
        name,
        fxb::model::HubAccess {
            env: &env,
            revision,
            cache,
            events: &events,
        },
        purpose,
    );
    bar.finish();
    let located = located?;
    for note in located.hub.iter().flat_map(|hub| &hub.notes) {
        output::printer().note(note);
    }
    Ok(located)
}

pub fn note_shadowed_hub_id(name: &str) {
    if fxb::model::shadows_hub_id(name) {
        output::printer().note(format_args!(
            "`{name}` is read as the directory here, not as the Hub repository of that name"
        ));
    }
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
    let cli = match Cli::try_parse_from(reference_spellings(std::env::args_os())) {
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
    init_logging(cli.verbose, cli.globals.quiet);
    output::init_printer(cli.globals.quiet);
    let result = match cli.command {
        Command::Show(args) => show::run(args),
        Command::List(args) => list::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Unpack(args) => unpack::run(args),
        Command::Pack(args) => pack::run(args),
        Command::Version(args) => version::run(args),
        Command::Plugins(PluginsCommand::Ls(args)) => plugins_ls::run(args, &cli.globals),
        Command::Plugins(PluginsCommand::Call(args)) => plugins_call::run(args, &cli.globals),
        Command::Fingerprint(args) => fingerprint::run(args, &cli.globals),
        Command::Build(args) => build::run(*args, &cli.globals),
        Command::Rules(RulesCommand::Ls(args)) => rules_ls::run(args, &cli.globals),
        Command::Rules(RulesCommand::Check(args)) => rules_check::run(args),
        Command::Backends(BackendsCommand::Ls(args)) => backends::ls(args),
        Command::Backends(BackendsCommand::Verify(args)) => backends::verify(args),
        Command::Add(args) => add::run(args, &cli.globals),
        Command::Cache(CacheCommand::Ls(args)) => cache_ls::run(args, &cli.globals),
        Command::Cache(CacheCommand::Rm(args)) => cache_rm::run(args, &cli.globals),
        Command::Cache(CacheCommand::Prune(args)) => cache_prune::run(args, &cli.globals),
        Command::Cache(CacheCommand::Verify(args)) => cache_verify::run(args, &cli.globals),
        Command::Check(args) => check::run(args, &cli.globals),
        Command::Resolve(args) => resolve::run(args, &cli.globals),
        Command::Download(args) => download::run(args, &cli.globals),
        Command::Publish(args) => publish::run(*args),
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

fn init_logging(verbose: u8, quiet: bool) {
    // `-q` keeps stderr to errors: warnings are logged, so they go too.
    let level = match verbose {
        0 if quiet => "error",
        0 => "warn",
        1 => "info",
        2 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("FXB_LOG")
        .ok()
        .and_then(|v| tracing_subscriber::EnvFilter::try_new(v).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(level));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(HumanFormat)
        .try_init();
}

/// Log lines as people read them: `warning: …`, `info: …`, lowercase, no timestamps
/// (`-vv` adds nothing but more lines; `FXB_LOG` picks what).
struct HumanFormat;

impl<S, N> tracing_subscriber::fmt::FormatEvent<S, N> for HumanFormat
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let level = match *event.metadata().level() {
            tracing::Level::ERROR => "error",
            tracing::Level::WARN => "warning",
            tracing::Level::INFO => "info",
            tracing::Level::DEBUG => "debug",
            tracing::Level::TRACE => "trace",
        };
        write!(writer, "{level}: ")?;
        ctx.field_format().format_fields(writer.by_ref(), event)?;
        writeln!(writer)
    }
}

/// A closed stdout (`fxb inspect x | head`) ends the command quietly.
fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// `error: …`, each `caused by: …`, then the first hint any error in the chain gives.
fn report(error: &anyhow::Error) {
    let printer = output::printer();
    let mut chain = error.chain();
    if let Some(top) = chain.next() {
        printer.error(top);
    }
    for cause in chain {
        printer.caused_by(cause);
    }
    if let Some(hint) = error.chain().find_map(hint_of) {
        printer.hint(hint);
    }
}

/// The hint of an error in a chain, through [`Hint`]: every library error type that
/// gives one is listed here, once.
fn hint_of(cause: &(dyn std::error::Error + 'static)) -> Option<String> {
    macro_rules! hint_from {
        ($($type:ty),* $(,)?) => {
            $(
                if let Some(error) = cause.downcast_ref::<$type>() {
                    return error.hint();
                }
            )*
        };
    }
    hint_from!(
        Hinted,
        fxb::bundle::BundleError,
        fxb::cache::CacheError,
        fxb::check::CheckError,
        fxb::model::ModelError,
        fxb::backend::LoadError,
        fxb::build::BuildError,
        fxb::resolve::ResolveError,
        fxb::hub::HubError,
        fxb::hub::PublishError,
    );
    None
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

impl Hint for Hinted {
    fn hint(&self) -> Option<String> {
        Some(self.hint.clone())
    }
}
