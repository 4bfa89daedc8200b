//! `fxb add` and `fxb cache ls|rm|prune|verify`: the local bundle cache, in the
//! reference's layout and index format (FORMAT.md §4, §5).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use fxb::cache::{Cache, CachedFile, VerifyStatus, human_size};

use super::output::{Stdout, simple_table, version_cell};
use super::{Globals, Hinted, Outcome};

fn open(globals: &Globals) -> anyhow::Result<Cache> {
    Ok(Cache::open(fxb::cache::cache_dir(
        globals.cache_dir.clone(),
    ))?)
}

/// Adds of less than this finish before a progress bar would be worth drawing.
const PROGRESS_FROM: u64 = 256 << 20;

/// A bar on stderr (a terminal) following the bytes copied, until `done`.
fn show_progress(total: u64, copied: &AtomicU64, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(total),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {bar:30} {bytes}/{total_bytes} {binary_bytes_per_sec}  {msg}",
    ) {
        bar.set_style(style);
    }
    while !done.load(Ordering::Relaxed) {
        let now = copied.load(Ordering::Relaxed);
        bar.set_position(now);
        if now >= total {
            bar.set_message("flushing to disk");
        }
        bar.tick();
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Each bundle is copied (never moved) to \
<cache>/models--local/snapshots/<uuid>/<standard name>, hashed in the same pass and on disk \
before it is indexed, and the index is written once for all of them. On a terminal, a progress \
bar follows adds of 256 MiB or more. Re-adding a bundle replaces its entry. Unlike \
the reference, a failure exits 2, and a uuid that is not a plain name is refused (the \
reference would write outside the cache).")]
pub struct AddArgs {
    /// Bundles (.fxb files) to add
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// Print the result as JSON
    #[arg(long)]
    json: bool,
}

pub fn add(args: AddArgs, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = open(globals)?;
    let copied = AtomicU64::new(0);
    let done = AtomicBool::new(false);
    let results = std::thread::scope(|scope| {
        let total: u64 = args
            .paths
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum();
        if total >= PROGRESS_FROM && std::io::stderr().is_terminal() {
            let (copied, done) = (&copied, &done);
            scope.spawn(move || show_progress(total, copied, done));
        }
        let results = cache.add_with_progress(&args.paths, &copied);
        done.store(true, Ordering::Relaxed);
        results
    })?;
    let mut out = Stdout::new();
    let mut report = fxb::schema::AddOutput::default();
    for (source, result) in args.paths.iter().zip(results) {
        match result {
            Ok(added) => {
                if !args.json {
                    out.line(&format!("Added {}/{}", added.repo_id, added.filename))?;
                    out.line(&format!("  {}", added.path.display()))?;
                }
                report.added.push(fxb::schema::AddedLine {
                    source: added.source,
                    repo_id: added.repo_id,
                    filename: added.filename,
                    path: added.path,
                    sha256: added.sha256,
                });
            }
            Err(e) => {
                let hint = e
                    .hint()
                    .map(|h| format!(" (hint: {h})"))
                    .unwrap_or_default();
                eprintln!("error: failed to add '{}': {e}{hint}", source.display());
                report.failed.push(fxb::schema::FailedLine {
                    source: source.clone(),
                    error: e.to_string(),
                });
            }
        }
    }
    if args.json {
        out.json(&report)?;
    } else if args.paths.len() > 1 || !report.failed.is_empty() {
        out.line("")?;
        out.line(&format!(
            "{} added, {} failed",
            report.added.len(),
            report.failed.len()
        ))?;
    }
    out.finish()?;
    if report.failed.is_empty() {
        Ok(Outcome::Clean)
    } else {
        Err(Hinted::new(
            format!(
                "{} of {} bundle(s) could not be added",
                report.failed.len(),
                args.paths.len()
            ),
            "the errors above name each file and why",
        )
        .into())
    }
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads the index, never the bundles (it is reconciled with the \
disk first: entries whose file is gone are dropped, bundles the index lacks are added). \
Rows are sorted by repo id, then file name. `(missing)` marks a snapshot whose blob is gone."
)]
pub struct LsArgs {
    /// Print only the paths of the cached bundles
    #[arg(short, long)]
    quiet: bool,
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn ls(args: LsArgs, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = open(globals)?;
    let files = cache.list()?;
    let mut out = Stdout::new();
    if args.json {
        let lines: Vec<fxb::schema::CacheLsLine> = files
            .iter()
            .map(|f| fxb::schema::CacheLsLine {
                repo_id: f.repo_id.clone(),
                path: f.path.clone(),
                missing: f.missing,
                entry: f.entry.clone(),
            })
            .collect();
        out.json(&lines)?;
    } else if args.quiet {
        for file in &files {
            out.line(&file.path.display().to_string())?;
        }
    } else if files.is_empty() {
        out.line("(empty cache)")?;
    } else {
        let rows: Vec<Vec<String>> = files
            .iter()
            .map(|f| {
                let e = &f.entry;
                vec![
                    f.repo_id.clone(),
                    e.architecture().unwrap_or("-").to_string(),
                    human_size(e.size_bytes),
                    version_cell(e.ir_version.as_deref(), e.ir_revision.as_deref()),
                    version_cell(e.llm_version.as_deref(), e.llm_revision.as_deref()),
                    if f.missing {
                        format!("{} (missing)", e.filename)
                    } else {
                        e.filename.clone()
                    },
                ]
            })
            .collect();
        out.raw(&simple_table(
            &[
                "REPO ID",
                "ARCH",
                "SIZE",
                "FuriosaIR",
                "FURIOSA-LLM",
                "FXB FILE",
            ],
            &rows,
        ))?;
        let total: u64 = files.iter().map(|f| f.entry.size_bytes).sum();
        out.line("")?;
        out.line(&format!("{} file(s), {}", files.len(), human_size(total)))?;
    }
    out.finish()?;
    // The process ends next: freeing thousands of entries one by one would only cost time.
    std::mem::forget(files);
    Ok(Outcome::Clean)
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "A selector is an exact repo id (`local`, `org/name`) or an exact \
cached file name (with .fxb); a file name matches in every repo and snapshot. Without -y, \
asks on a terminal and refuses when stdin is not one (exit 2, like every error here)."
)]
pub struct RmArgs {
    /// Repo ids or .fxb file names
    selectors: Vec<String>,
    /// Remove every cached bundle
    #[arg(long, conflicts_with = "selectors")]
    all: bool,
    /// Show what would be removed
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

pub fn rm(args: RmArgs, globals: &Globals) -> anyhow::Result<Outcome> {
    if args.selectors.is_empty() && !args.all {
        return Err(Hinted::new(
            "specify at least one repo id or .fxb filename, or pass --all",
            "`fxb cache ls` shows the repo ids and file names",
        )
        .into());
    }
    let cache = open(globals)?;
    let files = cache.list()?;
    let chosen: Vec<CachedFile> = files
        .iter()
        .filter(|f| {
            args.all
                || args
                    .selectors
                    .iter()
                    .any(|s| *s == f.repo_id || *s == f.entry.filename)
        })
        .cloned()
        .collect();
    for selector in &args.selectors {
        if !files
            .iter()
            .any(|f| *selector == f.repo_id || *selector == f.entry.filename)
        {
            tracing::warn!("no cached FXB matched '{selector}'");
        }
    }
    remove_confirmed(
        &cache,
        &chosen,
        "",
        args.dry_run,
        args.yes,
        "Nothing to remove.",
    )
}

/// The preview, the confirmation rules and the removal shared by `rm` and `prune`.
fn remove_confirmed(
    cache: &Cache,
    chosen: &[CachedFile],
    kind: &str,
    dry_run: bool,
    yes: bool,
    nothing: &str,
) -> anyhow::Result<Outcome> {
    let mut out = Stdout::new();
    if chosen.is_empty() {
        out.line(nothing)?;
        out.finish()?;
        return Ok(Outcome::Clean);
    }
    let bytes: u64 = chosen.iter().map(|f| f.entry.size_bytes).sum();
    let preview = |out: &mut Stdout, verb: &str| -> std::io::Result<()> {
        out.line(&format!(
            "{verb} {} {kind}file(s), freeing {}:",
            chosen.len(),
            human_size(bytes)
        ))?;
        for file in chosen {
            out.line(&format!("  {}", file.path.display()))?;
        }
        Ok(())
    };
    if dry_run {
        preview(&mut out, "Would remove")?;
        out.finish()?;
        return Ok(Outcome::Clean);
    }
    if !yes {
        preview(&mut out, "About to remove")?;
        out.finish()?;
        if !std::io::stdin().is_terminal() {
            return Err(Hinted::new(
                "Refusing to remove without confirmation; re-run with --yes.",
                "stdin is not a terminal, so fxb cannot ask; pass -y to confirm",
            )
            .into());
        }
        eprint!("Proceed? [y/N] ");
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "yes") {
            eprintln!("Aborted.");
            return Ok(Outcome::Clean);
        }
        out = Stdout::new();
    }
    let removal = cache.remove(chosen)?;
    out.line(&format!(
        "Removed {} {kind}file(s), freed {}",
        removal.files,
        human_size(removal.bytes)
    ))?;
    out.finish()?;
    Ok(Outcome::Clean)
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Default: remove bundles stale for the running build — compiler \
revision unknown, or not a prefix match of the runtime's (the reference's rule). The \
runtime's revision comes from --runtime-revision / FXB_RUNTIME_REVISION; the host backend is \
not an RNGD runtime and knows none, so without one prune refuses rather than call every \
bundle stale. --older-than V removes bundles whose FuriosaIR version is below V (`2026.3.0` \
or `<2026.3.0`) or at most V (`<=2026.3.0`), by semver precedence; bundles without a \
version are kept."
)]
pub struct PruneArgs {
    /// Remove by FuriosaIR version instead of by revision
    #[arg(long, value_name = "VERSION")]
    older_than: Option<String>,
    #[command(flatten)]
    runtime: super::RuntimeArgs,
    /// Show what would be removed
    #[arg(long)]
    dry_run: bool,
    /// Do not ask for confirmation
    #[arg(short = 'y', long = "yes")]
    yes: bool,
}

pub fn prune(args: PruneArgs, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = open(globals)?;
    let stale: Box<dyn Fn(&CachedFile) -> bool> = match &args.older_than {
        Some(bound) => {
            let bound = fxb::cache::VersionBound::parse(bound)?;
            Box::new(move |f: &CachedFile| bound.removes(f.entry.ir_version.as_deref()))
        }
        None => {
            let (running, note) = args.runtime.running()?;
            let Some(running) = running.compiler_revision else {
                return Err(Hinted::new(
                    "no runtime compiler revision is known, so no bundle can be called stale",
                    format!(
                        "{note}; pass --runtime-revision REV (or FXB_RUNTIME_REVISION), or use --older-than VERSION"
                    ),
                )
                .into());
            };
            // Bundles from another compiler (fxb's host backend) carry their revision in
            // fxb's sidecar, not in the shared index.
            let others = cache.recorded().compilers;
            Box::new(move |f: &CachedFile| {
                let revision = f.entry.ir_revision.as_deref().or_else(|| {
                    others
                        .get(&f.entry.rel_path)
                        .and_then(|c| c.revision.as_deref())
                });
                !fxb::cache::revisions_match(revision, &running)
            })
        }
    };
    let chosen: Vec<CachedFile> = cache.list()?.into_iter().filter(|f| stale(f)).collect();
    remove_confirmed(
        &cache,
        &chosen,
        "stale ",
        args.dry_run,
        args.yes,
        "No stale FXB to prune.",
    )
}

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Re-hashes every cached bundle: against the sha256 fxb recorded \
when it added the bundle, or — for bundles the reference added — checks that the archive \
reads and has the indexed size, and records its hash from then on. Exit 1 when any bundle \
is corrupt or missing."
)]
pub struct VerifyArgs {
    /// Print as JSON
    #[arg(long)]
    json: bool,
}

pub fn verify(args: VerifyArgs, globals: &Globals) -> anyhow::Result<Outcome> {
    let cache = open(globals)?;
    let results = cache.verify()?;
    let bad = results
        .iter()
        .filter(|r| matches!(r.status, VerifyStatus::Corrupt | VerifyStatus::Missing))
        .count();
    let mut out = Stdout::new();
    if args.json {
        let json: Vec<fxb::schema::CacheVerifyLine> = results
            .iter()
            .map(|r| fxb::schema::CacheVerifyLine {
                repo_id: r.file.repo_id.clone(),
                path: r.file.path.clone(),
                status: r.status,
                detail: r.detail.clone(),
            })
            .collect();
        out.json(&json)?;
    } else {
        for r in &results {
            let status = match r.status {
                VerifyStatus::Ok => "ok",
                VerifyStatus::Readable => "ok (hash recorded)",
                VerifyStatus::Missing => "MISSING",
                VerifyStatus::Corrupt => "CORRUPT",
            };
            let detail = r
                .detail
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            out.line(&format!(
                "{status:<18} {}/{}{detail}",
                r.file.repo_id, r.file.entry.filename
            ))?;
        }
        out.line(&format!(
            "{} file(s) checked, {bad} corrupt or missing",
            results.len()
        ))?;
    }
    out.finish()?;
    Ok(if bad == 0 {
        Outcome::Clean
    } else {
        Outcome::Finding
    })
}
