//! The local cache directory fxb shares with the reference toolchain (FORMAT.md §4):
//! where it is. Bundles, the index and its lock arrive with the cache issue; for now the
//! compiled-plugin cache lives under it.

use std::path::PathBuf;

/// `--cache-dir` when given, else `$XDG_CACHE_HOME/furiosa/llm/fxb`, else
/// `~/.cache/furiosa/llm/fxb` (the reference's default).
pub fn cache_dir(explicit: Option<PathBuf>) -> PathBuf {
    if let Some(dir) = explicit {
        return dir;
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("furiosa").join("llm").join("fxb")
}

/// Where compiled plugins are cached: `FXB_PLUGIN_CACHE_DIR`, else `<cache>/plugins`.
/// Content-keyed, so several caches may share one (the tests do).
pub fn compiled_plugin_dir(cache_dir: &std::path::Path) -> PathBuf {
    std::env::var_os("FXB_PLUGIN_CACHE_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| cache_dir.join("plugins"))
}
