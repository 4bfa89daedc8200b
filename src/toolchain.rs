//! The toolchain: the rule files, the plugins and the sandbox that runs them — what
//! every model operation (fingerprint, convert, plan, build, check) needs, discovered
//! once and passed whole, so a front end (CLI, registry, Python) builds it one way.
//!
//! Discovery never fails: an unreadable plugin or rule file is skipped and reported in
//! [`Toolchain::problems`], for the front end to show.

use std::path::PathBuf;

use crate::plugin::{CompiledCache, Limits, PluginHost, PluginSearch, PluginSet};
use crate::rules::RuleSet;

/// The rules, plugins and plugin host a model operation uses.
pub struct Toolchain {
    pub rules: RuleSet,
    pub plugins: PluginSet,
    pub host: PluginHost,
}

/// Where to look beyond the embedded rules and plugins.
#[derive(Debug, Clone, Default)]
pub struct ToolchainOptions {
    /// `--plugin-dir`, before `FXB_PLUGIN_PATH` and the user plugin directory.
    pub plugin_dirs: Vec<PathBuf>,
    /// `--rules-dir`, before `FXB_RULES_DIR`.
    pub rules_dirs: Vec<PathBuf>,
    /// Where compiled plugins are cached (default: [`CompiledCache::default_dir`], private
    /// to the user, never the bundle cache other users share).
    pub compiled_plugin_dir: Option<PathBuf>,
}

/// A plugin or rule file that was skipped, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// `plugin` or `rule file`.
    pub kind: &'static str,
    pub path: PathBuf,
    pub message: String,
}

impl Toolchain {
    /// The embedded rules and plugins plus those in the user's directories.
    pub fn discover(options: &ToolchainOptions) -> Toolchain {
        let compiled = options
            .compiled_plugin_dir
            .clone()
            .unwrap_or_else(CompiledCache::default_dir);
        Toolchain {
            rules: RuleSet::load(&crate::rules::search_dirs(&options.rules_dirs)),
            plugins: PluginSet::discover(&PluginSearch::from_env(&options.plugin_dirs)),
            host: PluginHost::new(CompiledCache::new(compiled), Limits::default()),
        }
    }

    /// The plugins and rule files discovery skipped.
    pub fn problems(&self) -> Vec<Skipped> {
        let plugins = self.plugins.problems().iter().map(|p| Skipped {
            kind: "plugin",
            path: p.path.clone(),
            message: p.message.clone(),
        });
        let rules = self.rules.problems().iter().map(|p| Skipped {
            kind: "rule file",
            path: p.path.clone(),
            message: p.message.clone(),
        });
        plugins.chain(rules).collect()
    }
}
