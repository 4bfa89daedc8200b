//! The compiler cache: compiled kernel files keyed by everything that decides their bytes —
//! the backend's identity (name, version, revision, the versions of the tools it drives)
//! and the kernel spec (kernel, bucket,
//! architecture, model fields, tensor-parallel size, KV-cache blocks, collective dq). A hit is copied
//! instead of compiled. Entries are written temp-then-rename, so a reader never sees half
//! of one, and concurrent builds sharing the cache are safe.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::backend::{CompileRequest, Description};

/// `$XDG_CACHE_HOME/fxb/compiler`, else `~/.cache/fxb/compiler`. (The reference's
/// `$HOME/.cache/furiosa/compiler` belongs to the vendor compiler, whose entries fxb
/// cannot read; sharing the directory would only mix two formats.)
pub fn default_compiler_cache_dir() -> PathBuf {
    crate::fs::user_dirs::cache_home()
        .join("fxb")
        .join("compiler")
}

#[derive(Debug, Clone)]
pub struct CompilerCache {
    dir: PathBuf,
}

impl CompilerCache {
    pub fn new(dir: PathBuf) -> CompilerCache {
        CompilerCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The entry for `request` on `backend`.
    pub fn entry(&self, backend: &Description, request: &CompileRequest) -> PathBuf {
        let mut key = serde_json::json!({
            "backend": [backend.name, backend.version, backend.revision],
            "kernel": request.kernel,
            "bucket": request.bucket,
            "architecture": request.architecture,
            "model": request.model,
            "tensor_parallel_size": request.tensor_parallel_size,
            "kv_cache_blocks": request.kv_cache_blocks,
        });
        // Only when set, so the keys of every other build stay as they were.
        if request.collective_dq {
            key["collective_dq"] = true.into();
        }
        // A backend driving external tools keys on their versions too (issue 16: another
        // furiosa-kernels release generates other TC under the same compiler revision).
        if !backend.tools.is_empty() {
            key["tools"] = backend
                .tools
                .iter()
                .map(|t| serde_json::json!([t.name, t.version]))
                .collect();
        }
        let digest = Sha256::digest(key.to_string().as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        self.dir.join(&hex[..2]).join(format!("{hex}.edf"))
    }

    /// Copy a hit to `dest`; `false` on a miss (or an unreadable entry, which is a miss).
    pub fn fetch(&self, entry: &Path, dest: &Path) -> bool {
        entry.is_file() && std::fs::copy(entry, dest).is_ok()
    }

    /// Store a compiled kernel. Failures only cost a future recompile: logged, not raised.
    pub fn store(&self, entry: &Path, compiled: &Path) {
        let result = (|| -> Result<(), String> {
            let dir = entry.parent().unwrap_or(&self.dir);
            std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
            let mut temp = crate::fs::AtomicFile::create(entry, crate::fs::Durability::Cache)
                .map_err(|e| e.to_string())?;
            let mut source = std::fs::File::open(compiled).map_err(|e| e.to_string())?;
            // File to File: the kernel copies (copy_file_range), as `fs::copy` did.
            std::io::copy(&mut source, temp.as_file_mut()).map_err(|e| e.to_string())?;
            temp.commit().map_err(|e| e.to_string())?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::debug!("compiler cache: could not store `{}`: {e}", entry.display());
        }
    }
}
