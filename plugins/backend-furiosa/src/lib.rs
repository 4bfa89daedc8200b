//! fxb's `furiosa` backend (issue 16): RNGD kernels from the vendor toolchain the user
//! installed — TC text from `furiosa-kernels` (one Python process per build, [`tc`]),
//! compiled by one `furiosa-tcc` process per kernel × bucket ([`tcc`]).
//!
//! It **drives, never ships**: the vendor's packages, their kernels and the TC they
//! generate are proprietary without stated terms, so nothing of them is in fxb; this
//! crate finds what is installed ([`discovery`]) and says what is missing. The mapping
//! from a model to the vendor's registry entry is data (`rules/furiosa/registry.toml`,
//! [`registry`]).
//!
//! As a runtime backend it reports the installed compiler's identity (`furiosa-tcc
//! --version`), which `check`, `cache prune` and `resolve` measure bundles against.
//!
//! It is linked into fxb (like `host`), so `--backend furiosa` works without a library
//! on a path; the vendor toolchain itself is only ever found at run time.

pub mod discovery;
pub mod registry;
pub mod tc;
pub mod tcc;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fxb_backend_api::{
    Backend, BackendError, Cancel, CompileRequest, CompileResponse, Description, ErrorCode,
    Release, Role, RuntimeIdentity, TensorLine, ToolStatus, VerifyProblem, VerifyReport,
    VerifyRequest,
};

use discovery::{Found, TccVersion, Tool};
use registry::Registry;

pub const NAME: &str = "furiosa";
/// The `versions` key of the compiler: RNGD code from the vendor compiler.
pub const MANIFEST_TOOL: &str = "furiosa_compiler";
/// The `versions` key the reference writes for its own release (tcc's).
pub const LLM_TOOL: &str = "furiosa_llm";

/// The backend, with what discovery found when it was made.
pub struct FuriosaBackend {
    found: Found,
    registry: Registry,
    tc: tc::Generator,
}

/// What a compile needs, once everything was found.
struct Ready<'a> {
    python: &'a Path,
    tcc: &'a Path,
}

impl FuriosaBackend {
    /// Find the toolchain (a few short processes: `furiosa-tcc --version`, a Python probe).
    pub fn discover() -> FuriosaBackend {
        FuriosaBackend {
            found: Found::discover(),
            registry: Registry::embedded(),
            tc: tc::Generator::default(),
        }
    }

    /// Whether a `furiosa-tcc` is there to ask (no process started): the runtime default.
    pub fn present() -> bool {
        discovery::tcc_present()
    }

    pub fn found(&self) -> &Found {
        &self.found
    }

    pub fn tcc_version(&self) -> Option<&TccVersion> {
        self.found.tcc.found.as_ref().ok()
    }

    /// Everything found, or an error naming every missing piece and how to install it.
    fn ready(&self) -> Result<Ready<'_>, BackendError> {
        let missing = self.found.missing();
        if let (Some(python), Some(tcc), true) = (
            self.found.python.path.as_deref(),
            self.found.tcc.path.as_deref(),
            missing.is_empty(),
        ) {
            return Ok(Ready { python, tcc });
        }
        let problems: Vec<String> = missing.iter().map(|(_, m)| m.problem.clone()).collect();
        let names: Vec<&str> = missing.iter().map(|(name, _)| *name).collect();
        let mut hints: Vec<String> = Vec::new();
        if names.contains(&"furiosa-kernels") && names.contains(&"furiosa-tcc") {
            // One line for the usual case: nothing of the vendor's installed yet.
            hints.push(format!(
                "{} typing-extensions (into the Python fxb uses: FXB_FURIOSA_PYTHON, else python3 on PATH)",
                discovery::PIP_INSTALL
            ));
        }
        for (name, m) in &missing {
            let covered = !hints.is_empty() && *name != discovery::CROSS_COMPILER;
            if !covered && !m.hint.is_empty() && !hints.contains(&m.hint) {
                hints.push(m.hint.clone());
            }
        }
        Err(BackendError::unsupported(format!(
            "the furiosa toolchain is not installed: {}",
            problems.join("; ")
        ))
        .with_hint(hints.join("; ")))
    }

    /// The furiosa-kernels release must be one the registry mapping describes.
    fn check_release(&self) -> Result<(), BackendError> {
        let Ok(python) = &self.found.python.found else {
            return Ok(());
        };
        if self
            .registry
            .furiosa_kernels
            .contains(&python.kernels_version)
        {
            return Ok(());
        }
        Err(BackendError::unsupported(format!(
            "furiosa-kernels {} is installed; fxb's registry mapping describes {}",
            python.kernels_version,
            self.registry.furiosa_kernels.join(", ")
        ))
        .with_hint(discovery::PIP_INSTALL))
    }

    fn mapped(&self, request: &CompileRequest) -> Result<registry::Mapped, BackendError> {
        self.registry.map(
            &request.kernel,
            &request.bucket,
            &registry::Build {
                architecture: &request.architecture,
                model: &request.model,
                tensor_parallel_size: request.tensor_parallel_size,
                kv_cache_blocks: request.kv_cache_blocks,
                collective_dq: request.collective_dq,
            },
        )
    }

    fn tools(&self) -> Vec<ToolStatus> {
        fn status<T>(name: &str, tool: &Tool<T>, version: Option<String>) -> ToolStatus {
            let (problem, hint) = match &tool.found {
                Ok(_) => (None, None),
                Err(m) => (Some(m.problem.clone()), Some(m.hint.clone())),
            };
            ToolStatus {
                name: name.into(),
                path: tool.path.as_ref().map(|p| p.display().to_string()),
                version,
                problem,
                hint,
            }
        }
        let f = &self.found;
        vec![
            status(
                "furiosa-kernels",
                &f.python,
                f.python
                    .found
                    .as_ref()
                    .ok()
                    .map(|p| format!("{} (Python {})", p.kernels_version, p.version)),
            ),
            status(
                "furiosa-tcc",
                &f.tcc,
                f.tcc.found.as_ref().ok().map(|v| {
                    format!(
                        "tcc {} ({}), furiosa-compiler {} ({})",
                        v.llm_version, v.llm_revision, v.compiler_version, v.compiler_revision
                    )
                }),
            ),
            status(discovery::CROSS_COMPILER, &f.cross, None),
        ]
    }
}

fn dash() -> String {
    "-".into()
}

impl Backend for FuriosaBackend {
    fn describe(&self) -> Description {
        let version = self.tcc_version();
        let mut manifest_versions = BTreeMap::new();
        if let Some(v) = version {
            manifest_versions.insert(
                LLM_TOOL.to_string(),
                Release {
                    version: v.llm_version.clone(),
                    revision: v.llm_revision.clone(),
                },
            );
        }
        let missing = self.found.missing().len();
        let summary = if missing == 0 {
            "vendor toolchain: TC from furiosa-kernels, compiled by furiosa-tcc (RNGD kernels)"
                .to_string()
        } else {
            format!("vendor toolchain not installed ({missing} of 3 tools missing)")
        };
        Description {
            name: NAME.into(),
            version: version.map_or_else(dash, |v| v.compiler_version.clone()),
            revision: version.map_or_else(dash, |v| v.compiler_revision.clone()),
            target_npu: "rngd".into(),
            roles: vec![Role::Compiler, Role::Runtime],
            manifest_tool: MANIFEST_TOOL.into(),
            summary,
            tensor_parallel_sizes: self.registry.tensor_parallel_sizes(),
            tools: self.tools(),
            manifest_versions,
        }
    }

    fn check(&self, request: &CompileRequest) -> Result<(), BackendError> {
        self.ready()?;
        self.check_release()?;
        self.mapped(request).map(|_| ())
    }

    fn compile(
        &self,
        request: &CompileRequest,
        cancel: Cancel<'_>,
    ) -> Result<CompileResponse, BackendError> {
        cancel.check()?;
        let ready = self.ready()?;
        self.check_release()?;
        let mapped = self.mapped(request)?;
        // The reference passes config.json less a few keys (the registry's
        // `config-keys-not-passed`); a host that sends none gets the model fields without
        // the ones fxb derives.
        let config = if request.config.is_empty() {
            let mut fields = request.model.clone();
            for derived in ["quant_method", "format", "head_dim"] {
                fields.remove(derived);
            }
            fields
        } else {
            self.registry.overrides(&request.config)
        };
        let text = self.tc.generate(ready.python, &mapped, &config)?;
        if let Some(dir) = &request.dump_tc_dir {
            tc::dump(
                Path::new(dir),
                &request.kernel,
                &request.bucket.label(),
                &text,
            )?;
        }
        cancel.check()?;
        let output = PathBuf::from(&request.output);
        let cache_root = request
            .compiler_cache_dir
            .as_ref()
            .map(|dir| Path::new(dir).join("furiosa-tcc"));
        tcc::compile(
            &tcc::Compile {
                tcc: ready.tcc,
                target_npu: &mapped.target_npu,
                output: &output,
                cache_root: cache_root.as_deref(),
                tc: &text,
            },
            cancel,
        )?;
        signature(&output)
    }

    /// Kernels present and signatures those the model and TP imply, as the host backend
    /// judges them (its layouts are the real kernels'), at a TP this backend compiles for.
    fn verify(&self, request: &VerifyRequest) -> Result<VerifyReport, BackendError> {
        let sizes = self.registry.tensor_parallel_sizes();
        if !sizes.contains(&request.tensor_parallel_size) {
            return Ok(VerifyReport {
                loadable: false,
                checked_entries: 0,
                problems: vec![VerifyProblem {
                    kind: "unsupported_parallelism".into(),
                    kernel: None,
                    bucket: None,
                    message: format!(
                        "tensor-parallel size {} has no furiosa target (known: {sizes:?})",
                        request.tensor_parallel_size
                    ),
                }],
            });
        }
        fxb_backend_host::HostBackend.verify(request)
    }

    fn runtime(&self) -> Result<RuntimeIdentity, BackendError> {
        let v = self.found.tcc.found.as_ref().map_err(|m| {
            BackendError::unsupported(format!("no furiosa compiler: {}", m.problem))
                .with_hint(m.hint.clone())
        })?;
        let path = self
            .found
            .tcc
            .path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        Ok(RuntimeIdentity {
            name: NAME.into(),
            compiler_version: Some(v.compiler_version.clone()),
            compiler_revision: Some(v.compiler_revision.clone()),
            runtime_version: Some(v.llm_version.clone()),
            runtime_revision: Some(v.llm_revision.clone()),
            note: Some(format!("`{path} --version`")),
        })
    }
}

/// The compiled file's signature, rendered as the host checks it.
fn signature(path: &Path) -> Result<CompileResponse, BackendError> {
    let io = |e: std::io::Error| {
        BackendError::new(ErrorCode::Io, format!("reading `{}`: {e}", path.display()))
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    let mut reader = fxb_backend_api::edf::Seekable::new(file, bytes);
    let signature =
        fxb_backend_api::edf::read_signature(&mut reader, Some(bytes)).map_err(|e| {
            BackendError::new(
                ErrorCode::CompileFailed,
                format!(
                    "furiosa-tcc wrote `{}`, which is not an EDF: {e}",
                    path.display()
                ),
            )
        })?;
    let (inputs, outputs) = signature.render();
    let named = |lines: Vec<String>| {
        lines
            .into_iter()
            .map(|line| TensorLine {
                name: String::new(),
                line,
            })
            .collect()
    };
    Ok(CompileResponse {
        bytes,
        inputs: named(inputs),
        outputs: named(outputs),
    })
}
