//! Compiled plugins on disk, so a plugin is compiled once per (module, engine) and later
//! loads in well under a millisecond.
//!
//! A cache file is `fxb-cwasm v1\n` + the sha256 of the payload + wasmtime's serialized
//! module, named by the wasm's sha256 and the engine's compatibility hash. Deserializing
//! is only safe on bytes wasmtime itself produced, so a file is deserialized only when its
//! checksum matches; anything else is recompiled and rewritten, never trusted.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

use super::host::compile;

const MAGIC: &[u8] = b"fxb-cwasm v1\n";

/// The compiled-module cache directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCache {
    dir: PathBuf,
}

impl CompiledCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CompiledCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The cache file for a module (by its sha256) under `engine`.
    pub fn path_for(&self, engine: &Engine, wasm_sha256: &str) -> PathBuf {
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{wasm_sha256}-{:016x}.cwasm", hasher.finish()))
    }

    /// The compiled module: from the cache when a valid entry exists, else compiled now
    /// and stored (a cache that cannot be written costs time, not correctness).
    pub fn module(
        &self,
        engine: &Engine,
        wasm_sha256: &str,
        wasm: &[u8],
    ) -> wasmtime::Result<Module> {
        let path = self.path_for(engine, wasm_sha256);
        if let Ok(bytes) = std::fs::read(&path) {
            match verified_payload(&bytes) {
                // SAFETY: the payload is byte for byte what `Module::serialize` wrote for
                // this engine configuration (checked against the stored sha256), in a
                // file under fxb's own cache directory.
                Some(payload) => match unsafe { Module::deserialize(engine, payload) } {
                    Ok(module) => return Ok(module),
                    Err(e) => tracing::warn!("recompiling `{}`: {e}", path.display()),
                },
                None => tracing::warn!(
                    "recompiling `{}`: the cache entry is corrupt",
                    path.display()
                ),
            }
        }
        let started = std::time::Instant::now();
        let module = compile(wasm)?;
        tracing::info!(
            "compiled plugin {wasm_sha256:.12} in {:.0?}",
            started.elapsed()
        );
        if let Err(e) = self.store(&path, &module.serialize()?) {
            tracing::warn!(
                "cannot write the compiled-plugin cache `{}`: {e}",
                path.display()
            );
        }
        Ok(module)
    }

    fn store(&self, path: &Path, payload: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let mut contents = Vec::with_capacity(MAGIC.len() + 32 + payload.len());
        contents.extend_from_slice(MAGIC);
        contents.extend_from_slice(&Sha256::digest(payload));
        contents.extend_from_slice(payload);
        let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
        std::io::Write::write_all(&mut temp, &contents)?;
        temp.persist(path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn verified_payload(bytes: &[u8]) -> Option<&[u8]> {
    let rest = bytes.strip_prefix(MAGIC)?;
    if rest.len() < 32 {
        return None;
    }
    let (digest, payload) = rest.split_at(32);
    (Sha256::digest(payload).as_slice() == digest).then_some(payload)
}
