//! The local side of a publish, before any request: which files go up under which names,
//! each bundle's facts for the card, and the honesty rule. Reads only: nothing local is
//! ever written.

use std::path::{Path, PathBuf};

use super::super::card::BundleFacts;
use super::{CARD, MAX_CARD, MAX_FILE_SIZE, PublishError, PublishRequest, RNGD_COMPILER};
use crate::bundle::{Bundle, Manifest, standard_file_name, summarize};

/// A local file of the publish, before hashing.
pub(super) struct Local {
    pub(super) path: PathBuf,
    pub(super) path_in_repo: String,
    pub(super) size: u64,
}

/// What the local side holds: the files, the bundles' facts, a card the directory brings.
pub(super) struct Prepared {
    pub(super) files: Vec<Local>,
    pub(super) bundles: Vec<BundleFacts>,
    /// The first bundle's `model.hub_repo_id`.
    pub(super) hub_repo_id: Option<String>,
    /// `README.md` of the model directory.
    pub(super) local_card: Option<String>,
}

/// The local files, the bundles' facts and the honesty check, before any request.
pub(super) fn prepare(request: &PublishRequest) -> Result<Prepared, PublishError> {
    let source = &request.source;
    let metadata = std::fs::metadata(source).map_err(|e| PublishError::Read {
        path: source.clone(),
        source: e,
    })?;
    let mut prepared = Prepared {
        files: Vec::new(),
        bundles: Vec::new(),
        hub_repo_id: None,
        local_card: None,
    };
    if metadata.is_dir() {
        let mut found = Vec::new();
        walk(source, "", &mut found)?;
        for (path, path_in_repo) in found {
            if path_in_repo == CARD {
                prepared.local_card = Some(read_card(&path)?);
                continue;
            }
            let size = file_size(&path)?;
            if !path_in_repo.contains('/') && path_in_repo.ends_with(".fxb") {
                let manifest = open_bundle(&path)?;
                add_bundle(&mut prepared, request, &path, &path_in_repo, &manifest)?;
            }
            prepared.files.push(Local {
                path,
                path_in_repo,
                size,
            });
        }
        if prepared.bundles.is_empty() {
            return Err(PublishError::NoBundle {
                dir: source.clone(),
            });
        }
    } else {
        let manifest = open_bundle(source)?;
        let name = standard_file_name(&manifest).map_err(|e| PublishError::NoStandardName {
            path: source.clone(),
            source: e,
        })?;
        add_bundle(&mut prepared, request, source, &name, &manifest)?;
        prepared.files.push(Local {
            path: source.clone(),
            size: metadata.len(),
            path_in_repo: name,
        });
    }
    for file in &prepared.files {
        if file.size > MAX_FILE_SIZE {
            return Err(PublishError::TooLarge {
                file: file.path.clone(),
                size: file.size,
                limit: MAX_FILE_SIZE,
            });
        }
    }
    Ok(prepared)
}

fn open_bundle(path: &Path) -> Result<Manifest, PublishError> {
    Bundle::open(path)
        .map(Bundle::into_manifest)
        .map_err(|e| PublishError::NotABundle {
            path: path.to_path_buf(),
            source: Box::new(e),
        })
}

/// A bundle's facts for the card, after the honesty check.
fn add_bundle(
    prepared: &mut Prepared,
    request: &PublishRequest,
    path: &Path,
    path_in_repo: &str,
    manifest: &Manifest,
) -> Result<(), PublishError> {
    let compiler = manifest.compiler_tool_name().to_string();
    let rngd = compiler == RNGD_COMPILER && manifest.tool(RNGD_COMPILER).is_some();
    if !rngd && !request.allow_non_rngd {
        return Err(PublishError::NotRngd {
            file: path.to_path_buf(),
            compiler,
        });
    }
    let summary = summarize(path_in_repo, manifest);
    let model = manifest.model.clone().unwrap_or_default();
    if prepared.hub_repo_id.is_none() {
        prepared.hub_repo_id = model.hub_repo_id.clone();
    }
    let b = &summary.buckets;
    let mut buckets = indexmap::IndexMap::new();
    for (class, count) in [
        ("tokenwise", b.tokenwise.len()),
        ("sampler", b.sampler.len()),
        ("vision_encoder", b.vision_encoder.len()),
        ("prefill", b.prefill.len()),
        ("decode", b.decode.len()),
        ("append", b.append.len()),
        ("linear_prefill", b.linear_prefill.len()),
        ("linear_decode", b.linear_decode.len()),
    ] {
        if count > 0 {
            buckets.insert(class.to_string(), count);
        }
    }
    buckets.insert("total".into(), b.count);
    let tool = manifest.tool(&compiler);
    prepared.bundles.push(BundleFacts {
        file: path_in_repo.to_string(),
        architecture: model.architecture.clone().unwrap_or_default(),
        rngd,
        compiler_version: tool.and_then(|t| t.version.clone()),
        compiler_revision: tool.and_then(|t| t.revision.clone()),
        compiler,
        tensor_parallel_size: manifest.tensor_parallel_size(),
        pipeline_parallel_size: manifest.pipeline_parallel_size(),
        fingerprint: model
            .fields
            .iter()
            .map(|(k, v)| (k.clone(), fxb_plugin_api::fingerprint::render(v)))
            .collect(),
        buckets,
        kernels: manifest.entry_count(),
    });
    Ok(())
}

/// Every file under `dir` with its path in the repository, sorted; `.git/` and `.cache/`
/// are left out, and symlinked directories are not followed (a link to a file is read).
fn walk(dir: &Path, prefix: &str, found: &mut Vec<(PathBuf, String)>) -> Result<(), PublishError> {
    let read = |e| PublishError::Read {
        path: dir.to_path_buf(),
        source: e,
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(read)?
        .collect::<Result<_, _>>()
        .map_err(read)?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            return Err(PublishError::BadName { path });
        };
        let kind = entry.file_type().map_err(|e| PublishError::Read {
            path: path.clone(),
            source: e,
        })?;
        let in_repo = format!("{prefix}{name}");
        if kind.is_dir() {
            if name != ".git" && name != ".cache" {
                walk(&path, &format!("{in_repo}/"), found)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            found.push((path, in_repo));
        }
    }
    Ok(())
}

fn file_size(path: &Path) -> Result<u64, PublishError> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| PublishError::Read {
            path: path.to_path_buf(),
            source: e,
        })
}

fn read_card(path: &Path) -> Result<String, PublishError> {
    let size = file_size(path)?;
    if size > MAX_CARD {
        return Err(PublishError::Read {
            path: path.to_path_buf(),
            source: std::io::Error::other(format!(
                "a model card of {size} bytes is over {MAX_CARD}"
            )),
        });
    }
    let bytes = std::fs::read(path).map_err(|e| PublishError::Read {
        path: path.to_path_buf(),
        source: e,
    })?;
    String::from_utf8(bytes).map_err(|_| PublishError::Read {
        path: path.to_path_buf(),
        source: std::io::Error::other("the model card is not UTF-8"),
    })
}
