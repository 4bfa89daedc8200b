//! Finding plugins and choosing one per architecture.
//!
//! Order: the plugins embedded in the binary, then `.wasm` files from `--plugin-dir`,
//! `FXB_PLUGIN_PATH` and the default user plugin directory, in that order. For an
//! architecture, the first user plugin that claims it wins, then an embedded one; a `*`
//! claim is the fallback for architectures nobody claims by name, again user before
//! embedded. A file that is not a usable plugin is reported and skipped: it can break
//! only the commands that would have needed it.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::embedded::EMBEDDED;
use super::module_info::{ModuleInfo, inspect_embedded, inspect_module};
use crate::source::{Source as PluginSource, files_with_extension};

/// A plugin found and inspected (not compiled).
#[derive(Debug, Clone)]
pub struct Discovered {
    /// What the module says about itself, and its sha256: an embedded plugin's computed
    /// when fxb was built, a file's when it is found (user plugins are few; hashing every
    /// embedded one at start-up was most of what a command spent finding plugins).
    pub info: ModuleInfo,
    pub source: PluginSource,
    bytes: Cow<'static, [u8]>,
}

impl Discovered {
    /// The module bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Lowercase hex sha256 of the module bytes.
    pub fn sha256(&self) -> &str {
        &self.info.sha256
    }

    /// `` `name` (source) `` for messages.
    pub fn label(&self) -> String {
        format!("`{}` ({})", self.info.metadata.name, self.source)
    }

    fn claims(&self, architecture: &str) -> bool {
        self.info
            .metadata
            .architectures
            .iter()
            .any(|a| a == architecture)
    }

    fn is_user(&self) -> bool {
        self.source.is_user()
    }
}

/// A plugin file that could not be used.
pub type PluginProblem = crate::source::Problem;

/// Where to look for user plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PluginSearch {
    pub dirs: Vec<PathBuf>,
}

impl PluginSearch {
    /// `--plugin-dir` directories, then `FXB_PLUGIN_PATH` (`:`-separated), then
    /// `$XDG_DATA_HOME/fxb/plugins` (or `~/.local/share/fxb/plugins`).
    pub fn from_env(plugin_dirs: &[PathBuf]) -> Self {
        let mut dirs = plugin_dirs.to_vec();
        if let Some(path) = std::env::var_os("FXB_PLUGIN_PATH") {
            dirs.extend(std::env::split_paths(&path).filter(|p| !p.as_os_str().is_empty()));
        }
        if let Some(default) = default_plugin_dir() {
            dirs.push(default);
        }
        PluginSearch { dirs }
    }
}

/// The default user plugin directory.
pub fn default_plugin_dir() -> Option<PathBuf> {
    Some(
        crate::fs::user_dirs::data_home()?
            .join("fxb")
            .join("plugins"),
    )
}

/// Every plugin found, and the files that were skipped.
#[derive(Debug, Clone, Default)]
pub struct PluginSet {
    plugins: Vec<Discovered>,
    problems: Vec<PluginProblem>,
}

/// One plugin's standing in a [`PluginSet`].
pub type PluginStatus<'a> = crate::source::Standing<'a, Discovered>;

impl PluginSet {
    /// Embedded plugins, then every `*.wasm` in the search directories (sorted by name
    /// within a directory). Missing directories are fine.
    pub fn discover(search: &PluginSearch) -> Self {
        let mut set = PluginSet::default();
        // The embedded plugins' hashes were computed when fxb was built.
        for (file, bytes, sha256) in EMBEDDED {
            match inspect_embedded(bytes).map(|info| ModuleInfo {
                sha256: sha256.to_string(),
                ..info
            }) {
                Ok(info) => set.plugins.push(Discovered {
                    info,
                    source: PluginSource::Embedded(file),
                    bytes: Cow::Borrowed(bytes),
                }),
                // A build that embeds a broken plugin is a bug, but still not fatal.
                Err(e) => set.problems.push(PluginProblem {
                    path: PathBuf::from(file),
                    message: e.to_string(),
                }),
            }
        }
        for dir in &search.dirs {
            set.scan_dir(dir);
        }
        set
    }

    fn scan_dir(&mut self, dir: &Path) {
        for path in files_with_extension(dir, "wasm") {
            let result = std::fs::read(&path)
                .map_err(|e| format!("cannot read it: {e}"))
                .and_then(|bytes| {
                    inspect_module(&bytes)
                        .map(|info| (info, bytes))
                        .map_err(|e| e.to_string())
                });
            match result {
                Ok((info, bytes)) => self.plugins.push(Discovered {
                    info,
                    source: PluginSource::File(path),
                    bytes: Cow::Owned(bytes),
                }),
                Err(message) => self.problems.push(PluginProblem { path, message }),
            }
        }
    }

    /// Every plugin, in discovery order.
    pub fn plugins(&self) -> &[Discovered] {
        &self.plugins
    }

    pub fn problems(&self) -> &[PluginProblem] {
        &self.problems
    }

    /// The plugin that serves `architecture`: a named claim beats `*`, a user plugin
    /// beats an embedded one.
    pub fn for_architecture(&self, architecture: &str) -> Option<&Discovered> {
        self.claimant(architecture).or_else(|| self.claimant("*"))
    }

    /// The plugin that claims `claim` literally, user plugins first.
    fn claimant(&self, claim: &str) -> Option<&Discovered> {
        claimant_in(&self.plugins, claim)
    }

    /// A plugin by name (the first found, user plugins first).
    pub fn by_name(&self, name: &str) -> Option<&Discovered> {
        let named = |p: &&Discovered| p.info.metadata.name == name;
        self.plugins
            .iter()
            .filter(|p| p.is_user())
            .find(named)
            .or_else(|| self.plugins.iter().find(named))
    }

    /// Each plugin with the architectures it serves and those taken by another.
    pub fn statuses(&self) -> Vec<PluginStatus<'_>> {
        let plugins = &self.plugins;
        crate::source::standings(
            plugins,
            |p| &p.info.metadata.architectures,
            |architecture| claimant_in(plugins, architecture),
            Discovered::label,
        )
    }
}

/// The plugin in `plugins` that claims `claim` literally, user plugins first.
fn claimant_in<'a>(plugins: &'a [Discovered], claim: &str) -> Option<&'a Discovered> {
    plugins
        .iter()
        .find(|p| p.is_user() && p.claims(claim))
        .or_else(|| plugins.iter().find(|p| !p.is_user() && p.claims(claim)))
}
