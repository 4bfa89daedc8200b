//! Where a build puts its kernels until the bundle is written: a directory beside the
//! output (so the final rename stays on one file system), removed when the build ends
//! however it ends. A build killed outright (SIGKILL, power loss) cannot clean up after
//! itself, so every build first removes what dead builds left in its output directory:
//! staging directories and bundle temp files carry the process id that made them.

use std::path::{Path, PathBuf};

const STAGING_PREFIX: &str = ".fxb-build-";

/// The output's directory (`.` for a bare file name).
pub fn output_dir(output: &Path) -> PathBuf {
    match output.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A staging directory, removed on drop.
pub struct Staging(tempfile::TempDir);

impl Staging {
    pub fn create(dir: &Path) -> std::io::Result<Staging> {
        let staging = tempfile::Builder::new()
            .prefix(&format!("{STAGING_PREFIX}{}-", std::process::id()))
            .tempdir_in(dir)?;
        std::fs::create_dir(staging.path().join("edfs"))?;
        Ok(Staging(staging))
    }

    pub fn path(&self) -> &Path {
        self.0.path()
    }
}

fn alive(pid: u32) -> bool {
    pid == std::process::id() || Path::new("/proc").join(pid.to_string()).exists()
}

/// The pid in `{prefix}{pid}-…` / `{prefix}{pid}.…`, if `name` starts with `prefix`.
fn owner(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Remove staging directories and temp bundles of `output` whose process is gone.
/// Best effort: what cannot be removed is left for the next run, with a debug log.
pub fn remove_stale(dir: &Path, output: &Path) {
    if !Path::new("/proc/self").exists() {
        // No way to tell a live build from a dead one: leave everything.
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let temp_prefix = output
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()));
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_staging = owner(&name, STAGING_PREFIX).filter(|pid| !alive(*pid));
        let stale_temp = temp_prefix
            .as_deref()
            .filter(|_| name.ends_with(".tmp"))
            .and_then(|prefix| owner(&name, prefix))
            .filter(|pid| !alive(*pid));
        let path = entry.path();
        let removed = if stale_staging.is_some() {
            std::fs::remove_dir_all(&path)
        } else if stale_temp.is_some() {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        match removed {
            Ok(()) => tracing::info!("removed `{}` left by an interrupted build", path.display()),
            Err(e) => tracing::debug!("could not remove `{}`: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner(".fxb-build-1234-abc", STAGING_PREFIX), Some(1234));
        assert_eq!(owner(".x.fxb.77.Ab3.tmp", ".x.fxb."), Some(77));
        assert_eq!(owner(".x.fxb.Ab3.tmp", ".x.fxb."), None);
        assert_eq!(owner("model.fxb", STAGING_PREFIX), None);
    }
}
