//! Where a build puts its kernels until the bundle is written: a directory beside the
//! output (so the final rename stays on one file system), removed when the build ends
//! however it ends. A build killed outright (SIGKILL, power loss) cannot clean up after
//! itself, so every build first removes what dead builds left in its output directory:
//! staging directories and bundle temp files carry the process id that made them.

use std::path::{Path, PathBuf};

const STAGING_PREFIX: &str = ".fxb-build-";

/// The output's directory (`.` for a bare file name).
pub fn output_dir(output: &Path) -> PathBuf {
    crate::fs::parent_dir(output).to_path_buf()
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

/// Remove staging directories and temp bundles of `output` whose process is gone.
pub fn remove_stale(dir: &Path, output: &Path) {
    let temp_prefix = output
        .file_name()
        .map(|n| format!(".{}.", n.to_string_lossy()))
        .unwrap_or_else(|| STAGING_PREFIX.to_string());
    crate::leftovers::remove_dead(dir, &[STAGING_PREFIX, &temp_prefix]);
}
