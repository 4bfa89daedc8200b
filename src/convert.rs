//! `--convert`: which task a model is built for, as a rewrite of its architecture
//! (`embed`: `XForCausalLM` → `XModel`; `score` / `classify`: → `XForSequenceClassification`;
//! `auto`: decided from the repository's sentence-transformers metadata). The rewrite is
//! the plugin's (family logic); this module gathers what the repository says and asks it.

use std::path::{Path, PathBuf};

use fxb_plugin_api::v1::{ConvertRequest, ConvertResponse, RepoMetadata};
use serde_json::Value;

use crate::plugin::{PluginCallError, PluginHost, PluginSet};

/// The tasks `--convert` takes.
pub const TASKS: &[&str] = &["auto", "embed", "score", "classify"];

/// Why a conversion failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConvertError {
    #[error("`{}` is not valid JSON: {detail}", path.display())]
    BadMetadata { path: PathBuf, detail: String },
    #[error("failed to read `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no plugin serves architecture `{0}`")]
    NoPlugin(String),
    #[error("`{}` has no `architectures` list to convert", path.display())]
    NoArchitecture { path: PathBuf },
    #[error("cannot convert `{architecture}` for `{task}`")]
    Plugin {
        architecture: String,
        task: String,
        #[source]
        source: Box<PluginCallError>,
    },
}

/// What the model directory says about its task: its config and, when present,
/// `modules.json` and `config_sentence_transformers.json`.
pub fn repo_metadata(
    model_dir: Option<&Path>,
    config: &Value,
) -> Result<RepoMetadata, ConvertError> {
    let read = |name: &str| -> Result<Option<Value>, ConvertError> {
        let Some(dir) = model_dir else {
            return Ok(None);
        };
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                serde_json::from_str(&text)
                    .map(Some)
                    .map_err(|e| ConvertError::BadMetadata {
                        path,
                        detail: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(ConvertError::Read { path, source }),
        }
    };
    Ok(RepoMetadata {
        config: Some(config.clone()),
        modules_json: read("modules.json")?,
        config_sentence_transformers: read("config_sentence_transformers.json")?,
    })
}

/// Ask the plugin serving `architecture` to rewrite it for `task`.
pub fn convert(
    architecture: &str,
    task: &str,
    metadata: RepoMetadata,
    plugins: &PluginSet,
    host: &PluginHost,
) -> Result<ConvertResponse, ConvertError> {
    let plugin = plugins
        .for_architecture(architecture)
        .ok_or_else(|| ConvertError::NoPlugin(architecture.to_string()))?;
    let failed = |source| ConvertError::Plugin {
        architecture: architecture.to_string(),
        task: task.to_string(),
        source: Box::new(source),
    };
    let loaded = host.load(plugin).map_err(failed)?;
    let request = ConvertRequest {
        architecture: architecture.to_string(),
        task: task.to_string(),
        metadata,
    };
    loaded.call("convert", &request).map_err(failed)
}

/// Convert a model's own architecture (config.json's first) for `task`, reading the
/// repository metadata from `model_dir` when there is one.
pub fn convert_model(
    config_path: &Path,
    model_dir: Option<&Path>,
    config: &Value,
    task: &str,
    plugins: &PluginSet,
    host: &PluginHost,
) -> Result<ConvertResponse, ConvertError> {
    let original = crate::fingerprint::config_architecture(config).ok_or_else(|| {
        ConvertError::NoArchitecture {
            path: config_path.to_path_buf(),
        }
    })?;
    let metadata = repo_metadata(model_dir, config)?;
    convert(original, task, metadata, plugins, host)
}
