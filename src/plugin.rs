//! Architecture plugins: sandboxed WebAssembly modules that carry per-family logic
//! (fingerprint, bucket plan, convert), so a new architecture ships as a file.
//!
//! - [`inspect_module`] reads a module's ABI version, metadata and imports *without*
//!   compiling it; discovery and `plugins ls` never compile anything.
//! - [`PluginSet`] finds plugins (embedded, then user directories) and decides which one
//!   serves an architecture.
//! - [`PluginHost`] compiles (or loads from the compiled-module cache) only the plugin a
//!   command needs, and runs each call in a fresh instance under fuel and memory limits,
//!   with no imports at all. A plugin can fail; it can never take the host down.

mod cache;
mod discovery;
mod host;
mod module_info;

pub use crate::source::Source as PluginSource;

/// Which plugin, by name and version: what a bundle records read its config, as
/// `{name, version}` like a rule ([`crate::rules::RuleId`]).
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct PluginId {
    pub name: String,
    pub version: String,
}

impl std::fmt::Display for PluginId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.name, self.version)
    }
}
pub use cache::CompiledCache;
pub use discovery::{Discovered, PluginProblem, PluginSearch, PluginSet, PluginStatus};
pub use host::{CallFailure, Limits, LoadedPlugin, PluginCallError, PluginHost};
pub use module_info::{ModuleInfo, ModuleProblem, inspect_module};

/// Plugins compiled into this binary by the build script.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded_plugins.rs"));
}
