//! Compiler and runtime backends (DESIGN.md, "Backends"): the host reference backend and
//! the `furiosa` backend (which drives the vendor toolchain the user installed) linked
//! into fxb, and native backend libraries loaded from a path or found by name in
//! the backend directories (`FXB_BACKEND_PATH`, then `$XDG_DATA_HOME/fxb/backends`).

mod native;

use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use fxb_backend_api::{
    Backend, BackendError, Cancel, CompileRequest, CompileResponse, Description, ErrorCode, Role,
    RuntimeIdentity, VerifyEntry, VerifyProblem, VerifyReport, VerifyRequest,
};
pub use native::NativeBackend;

/// The name of the linked-in default.
pub const DEFAULT_BACKEND: &str = fxb_backend_host::NAME;
/// The linked backend that drives the vendor toolchain.
pub const FURIOSA_BACKEND: &str = fxb_backend_furiosa::NAME;

/// Why a backend could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    #[error("cannot load backend `{}`: {cause}", path.display())]
    Library {
        path: PathBuf,
        cause: String,
        hint: String,
    },
    #[error(
        "backend `{}` speaks backend ABI version {found}, this fxb speaks version {expected}",
        path.display()
    )]
    AbiMismatch {
        path: PathBuf,
        found: u32,
        expected: u32,
    },
    #[error("no backend named `{name}`")]
    Unknown {
        name: String,
        available: Vec<String>,
    },
}

impl crate::Hint for LoadError {
    fn hint(&self) -> Option<String> {
        Some(match self {
            LoadError::Library { hint, .. } => hint.clone(),
            LoadError::AbiMismatch { .. } => {
                "rebuild the backend against this fxb's fxb-backend-api, or use a matching fxb"
                    .into()
            }
            LoadError::Unknown { available, .. } => format!(
                "available: {} (`fxb backends ls`); pass a library path to load one directly",
                available.join(", ")
            ),
        })
    }
}

/// Where a backend came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendSource {
    /// Compiled into fxb.
    Linked,
    /// A shared library.
    Library(PathBuf),
}

impl std::fmt::Display for BackendSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackendSource::Linked => f.write_str("linked"),
            BackendSource::Library(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A usable backend.
#[derive(Clone)]
pub struct LoadedBackend {
    pub description: Description,
    pub source: BackendSource,
    backend: Arc<dyn Backend>,
}

impl std::fmt::Debug for LoadedBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedBackend")
            .field("description", &self.description)
            .field("source", &self.source)
            .finish()
    }
}

impl LoadedBackend {
    /// The host reference backend, linked in.
    pub fn host() -> LoadedBackend {
        let backend = fxb_backend_host::HostBackend;
        LoadedBackend {
            description: backend.describe(),
            source: BackendSource::Linked,
            backend: Arc::new(backend),
        }
    }

    /// The `furiosa` backend, linked in: discovers the vendor toolchain now (a few short
    /// processes), and says what is missing when it is not installed.
    pub fn furiosa() -> LoadedBackend {
        let backend = fxb_backend_furiosa::FuriosaBackend::discover();
        LoadedBackend {
            description: backend.describe(),
            source: BackendSource::Linked,
            backend: Arc::new(backend),
        }
    }

    /// A backend library at `path`.
    pub fn library(path: &Path) -> Result<LoadedBackend, LoadError> {
        let backend = NativeBackend::load(path)?;
        Ok(LoadedBackend {
            description: backend.describe(),
            source: BackendSource::Library(path.to_path_buf()),
            backend: Arc::new(backend),
        })
    }

    pub fn backend(&self) -> &dyn Backend {
        self.backend.as_ref()
    }

    pub fn has_role(&self, role: Role) -> bool {
        self.description.roles.contains(&role)
    }

    /// `name version (revision)` for messages.
    pub fn label(&self) -> String {
        format!(
            "{} {} ({})",
            self.description.name, self.description.version, self.description.revision
        )
    }
}

/// The directories searched for backend libraries by name.
pub fn search_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("FXB_BACKEND_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(data) = crate::fs::user_dirs::data_home() {
        dirs.push(data.join("fxb").join("backends"));
    }
    dirs
}

/// Shared-library files in `dirs`, sorted per directory.
fn library_files(dirs: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.extension()
                    .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
            })
            .collect();
        found.sort();
        files.extend(found);
    }
    files
}

/// What `fxb backends ls` shows: every backend, or why a library is not one.
pub fn available(dirs: &[PathBuf]) -> Vec<Result<LoadedBackend, LoadError>> {
    let mut all = vec![Ok(LoadedBackend::host()), Ok(LoadedBackend::furiosa())];
    all.extend(
        library_files(dirs)
            .iter()
            .map(|p| LoadedBackend::library(p)),
    );
    all
}

/// `--backend NAME|PATH`: a path (anything with a `/` or the library extension) is
/// loaded; a name is the linked `host` or the first library in `dirs` describing itself
/// with that name.
pub fn select(spec: Option<&str>, dirs: &[PathBuf]) -> Result<LoadedBackend, LoadError> {
    let spec = spec.unwrap_or(DEFAULT_BACKEND);
    let as_path = Path::new(spec);
    if spec.contains('/')
        || as_path
            .extension()
            .is_some_and(|e| e == std::env::consts::DLL_EXTENSION)
    {
        return LoadedBackend::library(as_path);
    }
    if spec == DEFAULT_BACKEND {
        return Ok(LoadedBackend::host());
    }
    if spec == FURIOSA_BACKEND {
        return Ok(LoadedBackend::furiosa());
    }
    let mut names = vec![DEFAULT_BACKEND.to_string(), FURIOSA_BACKEND.to_string()];
    for found in library_files(dirs)
        .iter()
        .map(|p| LoadedBackend::library(p))
    {
        match found {
            Ok(backend) if backend.description.name == spec => return Ok(backend),
            Ok(backend) => names.push(backend.description.name.clone()),
            Err(e) => tracing::warn!("skipped backend: {e}"),
        }
    }
    Err(LoadError::Unknown {
        name: spec.to_string(),
        available: names,
    })
}

/// The runtime backend `check`, `cache prune` and `resolve` ask when none is named:
/// `furiosa` when a `furiosa-tcc` is installed (`FXB_FURIOSA_TCC` or `PATH`), so they
/// measure bundles against the compiler the user has; else the host backend.
pub fn default_runtime() -> LoadedBackend {
    if fxb_backend_furiosa::FuriosaBackend::present() {
        LoadedBackend::furiosa()
    } else {
        LoadedBackend::host()
    }
}

/// Blocks of the paged KV cache the kernels of a bundle address (the reference's builds
/// all use 8192).
pub const KV_CACHE_BLOCKS: u64 = crate::plan::KV_CACHE_BLOCKS;

/// Ask `backend` (a runtime) whether the bundle at `path` would load. The host reads the
/// manifest and each entry's signature (never kernel payloads); the backend judges.
/// `required_kernels` are the kernels the model needs beyond what the backend itself
/// requires of every bundle (e.g. from the model's plan).
pub fn verify_bundle(
    backend: &LoadedBackend,
    path: &Path,
    required_kernels: Vec<String>,
) -> Result<VerifyReport, VerifyError> {
    let mut bundle = crate::bundle::Bundle::open(path)?;
    let manifest = bundle.manifest().clone();
    let model = manifest.model.clone().unwrap_or_default();
    let mut entries = Vec::new();
    for (kernel, list) in &manifest.kernels {
        for entry in list {
            let (inputs, outputs, problem) = match bundle.read_signature(&entry.file) {
                Ok(signature) => {
                    let (inputs, outputs) = signature.render();
                    (Some(inputs), Some(outputs), None)
                }
                Err(e) => (None, None, Some(e.to_string())),
            };
            entries.push(VerifyEntry {
                kernel: kernel.clone(),
                bucket: entry.bucket,
                file: entry.file.clone(),
                inputs,
                outputs,
                problem,
            });
        }
    }
    let request = VerifyRequest {
        architecture: model.architecture.clone().unwrap_or_default(),
        model: model.fields.clone(),
        tensor_parallel_size: manifest.tensor_parallel_size(),
        kv_cache_blocks: KV_CACHE_BLOCKS,
        required_kernels,
        entries,
    };
    Ok(backend.backend().verify(&request)?)
}

/// Why a bundle could not be verified (as opposed to: verified and found wanting).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    #[error(transparent)]
    Bundle(#[from] crate::bundle::BundleError),
    #[error("the backend could not verify the bundle: {0}")]
    Backend(#[from] BackendError),
}
