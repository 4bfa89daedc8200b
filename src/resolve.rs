//! Which bundle a server would load for a model, and why — the reference's serve-time
//! order (FORMAT.md §3 and §5.2): (1) `--fxb` as given; (2) a `.fxb` inside the model
//! directory; (3) for a Hub id only, the cache's recommended compatible bundle, and only
//! if its compiler revision matches the runtime's. A local path never consults the cache.
//!
//! Where the reference's rule is fragile fxb does the right thing and says what the
//! reference would do: it picks model-directory bundles by the compiler revision in their
//! manifests, where the reference parses file names (`stem.rsplit("-", 3)`), which a
//! `-modified` revision breaks.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::bundle::Bundle;
use crate::cache::{CachedFile, revisions_match};
use crate::check::{Running, Target, check};

/// The model a server is asked to serve.
#[derive(Debug, Clone, Copy)]
pub enum ModelRef<'a> {
    /// A local model directory.
    Local(&'a Path),
    /// A Hub repository, with its fingerprint target and the bundles it ships.
    Hub {
        repo_id: &'a str,
        target: &'a Target,
        shipped: &'a [Shipped],
    },
}

/// A `.fxb` file in a model's own Hub repository: a server downloads it with the model to
/// `path`, and loads it before it consults the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shipped {
    pub name: String,
    /// Where it is (or would be) in the model's hub-cache snapshot.
    pub path: PathBuf,
}

/// Where the chosen bundle came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Explicit,
    ModelDir,
    /// Shipped in the model's own Hub repository.
    ModelRepo,
    Cache,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Resolution {
    pub path: PathBuf,
    pub source: Source,
    pub why: String,
    /// Where the reference would decide differently, what it would do.
    pub reference: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error("--fxb `{}` cannot be used: {cause}", path.display())]
    Explicit { path: PathBuf, cause: String },
    #[error("No FXB found in '{}' (a local path never consults the cache)", .0.display())]
    NothingInModelDir(PathBuf),
    #[error("No FXB in '{}' has the runtime's compiler revision {running}: {found}", dir.display())]
    NoMatchInModelDir {
        dir: PathBuf,
        running: String,
        found: String,
    },
    #[error(
        "No FXB found in '{model}', and the local cache only has FuriosaIR-revision-mismatched (stale) matches. Pass --fxb <path> to use one explicitly (e.g. {})",
        example.display()
    )]
    OnlyStale { model: String, example: PathBuf },
    #[error("No FXB found in '{0}', and no compatible bundle in the local cache")]
    NoCompatible(String),
    #[error(
        "the cache has compatible bundles for '{0}', but no runtime compiler revision is known to tell a usable one from a stale one"
    )]
    UnknownRuntime(String),
}

impl crate::Hint for ResolveError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            ResolveError::Explicit { .. } => "pass the path of a bundle (.fxb)".into(),
            ResolveError::NothingInModelDir(_) | ResolveError::NoCompatible(_) => {
                "build one (`fxb build`) or pass --fxb PATH".into()
            }
            ResolveError::NoMatchInModelDir { .. } | ResolveError::OnlyStale { .. } => {
                "rebuild for this runtime, or pass --fxb PATH to use a bundle anyway".into()
            }
            ResolveError::UnknownRuntime(_) => {
                "pass --runtime-revision REV (or FXB_RUNTIME_REVISION): the host backend is not an RNGD runtime".into()
            }
        })
    }
}

/// Decide. `cache` is the cached bundles (consulted for a Hub id only).
pub fn resolve(
    model: ModelRef<'_>,
    explicit: Option<&Path>,
    running: &Running,
    cache: &[CachedFile],
) -> Result<Resolution, ResolveError> {
    if let Some(path) = explicit {
        Bundle::open(path).map_err(|e| ResolveError::Explicit {
            path: path.to_path_buf(),
            cause: e.to_string(),
        })?;
        return Ok(Resolution {
            path: path.to_path_buf(),
            source: Source::Explicit,
            why: "--fxb as given (the cache is not consulted)".into(),
            reference: None,
        });
    }
    match model {
        ModelRef::Local(dir) => from_model_dir(dir, running),
        ModelRef::Hub {
            repo_id,
            target,
            shipped,
        } => match from_model_repo(shipped, running) {
            Some(found) => Ok(found),
            None => from_cache(repo_id, target, running, cache).map(|mut found| {
                if !shipped.is_empty() {
                    found.why = format!(
                        "{}; the model's repository ships {} .fxb file(s), none with the runtime's compiler revision",
                        found.why,
                        shipped.len()
                    );
                }
                found
            }),
        },
    }
}

/// A bundle the model's own repository ships, the reference's step before the cache:
/// chosen by the compiler revision its manifest records when it is downloaded, else by
/// the one its file name carries (as the reference reads names). None when the
/// repository ships none the runtime can load.
fn from_model_repo(shipped: &[Shipped], running: &Running) -> Option<Resolution> {
    let revision_of = |bundle: &Shipped| -> (Option<String>, bool) {
        match Bundle::open(&bundle.path) {
            Ok(b) => {
                let manifest = b.into_manifest();
                let revision = manifest
                    .tool(manifest.compiler_tool_name())
                    .and_then(|t| t.revision.clone());
                (revision, true)
            }
            Err(_) => (name_revision(&bundle.name), false),
        }
    };
    let candidates: Vec<(&Shipped, Option<String>, bool)> = shipped
        .iter()
        .map(|b| {
            let (revision, downloaded) = revision_of(b);
            (b, revision, downloaded)
        })
        .collect();
    let chosen = match running.compiler_revision.as_deref() {
        Some(running) => candidates
            .iter()
            .filter(|(_, r, _)| revisions_match(r.as_deref(), running))
            .max_by(|a, b| a.0.name.cmp(&b.0.name))?,
        None => candidates.iter().max_by(|a, b| a.0.name.cmp(&b.0.name))?,
    };
    let (bundle, revision, downloaded) = chosen;
    let how = match (running.compiler_revision.as_deref(), downloaded) {
        (None, _) => format!(
            "the greatest-named of {} .fxb file(s) the model's repository ships; no runtime compiler revision is known, so revisions were not checked",
            shipped.len()
        ),
        (Some(running), true) => format!(
            "a .fxb the model's repository ships, whose manifest's compiler revision matches the runtime's ({running})"
        ),
        (Some(running), false) => format!(
            "a .fxb the model's repository ships, whose file name carries the runtime's compiler revision ({running}, `{}`)",
            revision.as_deref().unwrap_or("?")
        ),
    };
    let why = if *downloaded {
        how
    } else {
        format!("{how}; not downloaded yet: serving the model downloads it here")
    };
    Some(Resolution {
        path: bundle.path.clone(),
        source: Source::ModelRepo,
        why,
        reference: None,
    })
}

/// The compiler revision a standard bundle name carries
/// (`name-<compiler>-<runtime>-<timestamp>.fxb`, read as the reference reads it).
fn name_revision(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".fxb").unwrap_or(name);
    let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
    (parts.len() == 4).then(|| parts[2].to_string())
}

/// `.fxb` files directly in `dir`, with the compiler revision their manifests record.
fn bundles_in(dir: &Path) -> Vec<(PathBuf, Option<String>)> {
    let mut found: Vec<(PathBuf, Option<String>)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "fxb") && p.is_file())
        .filter_map(|p| {
            let manifest = Bundle::open(&p).ok()?.into_manifest();
            let revision = manifest
                .tool(manifest.compiler_tool_name())
                .and_then(|t| t.revision.clone());
            Some((p, revision))
        })
        .collect();
    found.sort();
    found
}

/// The reference's pick (`discover_fxb`): parse `stem.rsplit("-", 3)` and keep names
/// whose second part starts with the running short revision; the greatest name wins.
fn reference_pick(candidates: &[(PathBuf, Option<String>)], running: &str) -> Option<PathBuf> {
    let short = running.trim_end_matches("-modified");
    candidates
        .iter()
        .filter(|(path, _)| {
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parts: Vec<&str> = stem.rsplitn(4, '-').collect();
            // rsplitn yields from the right: [timestamp, runtime, npu_tools, name].
            parts.len() == 4 && parts[2].starts_with(short)
        })
        .map(|(path, _)| path.clone())
        .max_by(|a, b| a.file_name().cmp(&b.file_name()))
}

fn from_model_dir(dir: &Path, running: &Running) -> Result<Resolution, ResolveError> {
    let candidates = bundles_in(dir);
    if candidates.is_empty() {
        return Err(ResolveError::NothingInModelDir(dir.to_path_buf()));
    }
    let greatest = |list: Vec<&(PathBuf, Option<String>)>| {
        list.into_iter()
            .map(|(p, _)| p.clone())
            .max_by(|a, b| a.file_name().cmp(&b.file_name()))
    };
    let Some(revision) = running.compiler_revision.as_deref() else {
        let chosen = greatest(candidates.iter().collect());
        let path = chosen.unwrap_or_else(|| dir.to_path_buf());
        return Ok(Resolution {
            path,
            source: Source::ModelDir,
            why: format!(
                "the greatest-named of {} .fxb file(s) in the model directory; no runtime compiler revision is known, so revisions were not checked",
                candidates.len()
            ),
            reference: Some(
                "the reference keeps only files whose name carries its own compiler revision"
                    .into(),
            ),
        });
    };
    let matching: Vec<&(PathBuf, Option<String>)> = candidates
        .iter()
        .filter(|(_, r)| revisions_match(r.as_deref(), revision))
        .collect();
    let Some(path) = greatest(matching) else {
        let found = candidates
            .iter()
            .map(|(p, r)| {
                format!(
                    "{} ({})",
                    p.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    r.as_deref().unwrap_or("no revision")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        return Err(ResolveError::NoMatchInModelDir {
            dir: dir.to_path_buf(),
            running: revision.to_string(),
            found,
        });
    };
    let reference = match reference_pick(&candidates, revision) {
        Some(theirs) if theirs == path => None,
        Some(theirs) => Some(format!(
            "the reference would load `{}`: it reads revisions from file names",
            theirs.display()
        )),
        None => Some(
            "the reference would find no bundle here: it reads revisions from file names (`stem.rsplit(\"-\", 3)`), which a `-modified` revision or a non-standard name defeats"
                .into(),
        ),
    };
    Ok(Resolution {
        path,
        source: Source::ModelDir,
        why: format!(
            "a .fxb in the model directory whose manifest's compiler revision matches the runtime's ({revision})"
        ),
        reference,
    })
}

fn from_cache(
    repo_id: &str,
    target: &Target,
    running: &Running,
    cache: &[CachedFile],
) -> Result<Resolution, ResolveError> {
    let report = check(target, cache, running, Some(repo_id));
    let Some(first) = report.matches.first() else {
        return Err(ResolveError::NoCompatible(repo_id.to_string()));
    };
    if running.compiler_revision.is_none() {
        return Err(ResolveError::UnknownRuntime(repo_id.to_string()));
    }
    match report
        .matches
        .iter()
        .find(|m| m.recommended && m.npu_tools_match == Some(true))
    {
        Some(chosen) => Ok(Resolution {
            path: chosen.path.clone(),
            source: Source::Cache,
            why: format!(
                "the recommended compatible cached bundle ({}/{}), compiler revision {} matching the runtime's",
                chosen.repo_id,
                chosen.filename,
                chosen.ir_revision.as_deref().unwrap_or("?")
            ),
            reference: None,
        }),
        None => Err(ResolveError::OnlyStale {
            model: repo_id.to_string(),
            example: first.path.clone(),
        }),
    }
}
