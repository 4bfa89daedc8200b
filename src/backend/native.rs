//! Backend libraries loaded with `libloading` (DESIGN.md, "Backends"): the ABI-version
//! symbol is read before anything else, the entry table is checked again, every reply is
//! handed back to the library's own `free`, and a library is never unloaded (its code may
//! still be referenced by a thread or a leaked table).

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use fxb_backend_api::abi::{Buffer, EntryTable, STATUS_ERROR, STATUS_OK, STATUS_PANIC};
use fxb_backend_api::{
    ABI_VERSION, ABI_VERSION_SYMBOL, Backend, BackendError, Cancel, CompileRequest,
    CompileResponse, Description, ENTRY_SYMBOL, ErrorCode, RuntimeIdentity, VerifyReport,
    VerifyRequest,
};

use super::LoadError;

/// A backend in a shared library.
pub struct NativeBackend {
    path: PathBuf,
    table: &'static EntryTable,
    description: Description,
}

impl NativeBackend {
    pub fn load(path: &Path) -> Result<NativeBackend, LoadError> {
        let fail = |cause: String, hint: &str| LoadError::Library {
            path: path.to_path_buf(),
            cause,
            hint: hint.to_string(),
        };
        // SAFETY: loading a library runs its initialisers; a backend is trusted native code
        // the user chose (`--backend` / the backend path), as with any plugin system.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| {
            fail(
                e.to_string(),
                "a backend is a shared library (.so) built for this machine",
            )
        })?;
        // SAFETY: the symbol's type is fixed by the ABI (abi.rs).
        let version = unsafe { library.get::<extern "C" fn() -> u32>(ABI_VERSION_SYMBOL) }
            .map_err(|_| {
                fail(
                    "it exports no `fxb_backend_abi_version`: not an fxb backend".into(),
                    "build backends with fxb_backend_api::export_backend!",
                )
            })?();
        if version != ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path: path.to_path_buf(),
                found: version,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: as above; the table is a static of the library.
        let entry = unsafe { library.get::<extern "C" fn() -> *const EntryTable>(ENTRY_SYMBOL) }
            .map_err(|_| {
                fail(
                    "it exports no `fxb_backend_entry_v1`".into(),
                    "build backends with fxb_backend_api::export_backend!",
                )
            })?;
        let table = entry();
        // Never unloaded: the table and any thread the backend started live as long as fxb.
        std::mem::forget(library);
        // SAFETY: non-null pointers to a static in a library that is never unloaded.
        let Some(table) = (unsafe { table.as_ref() }) else {
            return Err(fail(
                "its entry table is null".into(),
                "the backend is broken",
            ));
        };
        if table.abi_version != ABI_VERSION {
            return Err(LoadError::AbiMismatch {
                path: path.to_path_buf(),
                found: table.abi_version,
                expected: ABI_VERSION,
            });
        }
        let mut backend = NativeBackend {
            path: path.to_path_buf(),
            table,
            description: Description {
                name: String::new(),
                version: String::new(),
                revision: String::new(),
                target_npu: String::new(),
                roles: Vec::new(),
                manifest_tool: String::new(),
                summary: String::new(),
                tensor_parallel_sizes: Vec::new(),
                tools: Vec::new(),
                manifest_versions: Default::default(),
            },
        };
        let reply = backend
            .call("describe", b"", Cancel::never())
            .map_err(|e| fail(format!("`describe` failed: {e}"), "the backend is broken"))?;
        backend.description = serde_json::from_slice(&reply)
            .map_err(|e| fail(format!("`describe` replied {e}"), "the backend is broken"))?;
        Ok(backend)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// One call across the ABI: the reply bytes, or the backend's error.
    fn call(&self, op: &str, input: &[u8], cancel: Cancel<'_>) -> Result<Vec<u8>, BackendError> {
        let mut out = Buffer::empty();
        let flag: *const AtomicBool = cancel.flag();
        // SAFETY: valid pointers and lengths for the duration of the call (abi.rs).
        let status = unsafe {
            (self.table.call)(
                op.as_ptr(),
                op.len(),
                input.as_ptr(),
                input.len(),
                flag,
                &mut out,
            )
        };
        let reply = if out.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: the backend filled `out` with `len` readable bytes.
            unsafe { std::slice::from_raw_parts(out.ptr, out.len) }.to_vec()
        };
        // SAFETY: `out` came from this library's `call` and is freed once, by its `free`.
        unsafe { (self.table.free)(out) };
        match status {
            STATUS_OK => Ok(reply),
            STATUS_ERROR => Err(serde_json::from_slice(&reply).unwrap_or_else(|_| {
                BackendError::new(
                    ErrorCode::Internal,
                    format!(
                        "the backend failed with an unreadable error: {}",
                        String::from_utf8_lossy(&reply)
                    ),
                )
            })),
            STATUS_PANIC => Err(BackendError::new(
                ErrorCode::Internal,
                format!("the backend panicked: {}", String::from_utf8_lossy(&reply)),
            )),
            other => Err(BackendError::new(
                ErrorCode::Internal,
                format!("the backend returned unknown status {other}"),
            )),
        }
    }

    fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        op: &str,
        input: &impl serde::Serialize,
        cancel: Cancel<'_>,
    ) -> Result<T, BackendError> {
        let input = serde_json::to_vec(input)
            .map_err(|e| BackendError::new(ErrorCode::InvalidRequest, e.to_string()))?;
        let reply = self.call(op, &input, cancel)?;
        serde_json::from_slice(&reply).map_err(|e| {
            BackendError::new(
                ErrorCode::Internal,
                format!("the backend's `{op}` reply does not parse: {e}"),
            )
        })
    }
}

impl Backend for NativeBackend {
    fn describe(&self) -> Description {
        self.description.clone()
    }

    fn compile(
        &self,
        request: &CompileRequest,
        cancel: Cancel<'_>,
    ) -> Result<CompileResponse, BackendError> {
        self.call_json("compile", request, cancel)
    }

    fn runtime(&self) -> Result<RuntimeIdentity, BackendError> {
        self.call_json("runtime", &serde_json::Value::Null, Cancel::never())
    }

    fn verify(&self, request: &VerifyRequest) -> Result<VerifyReport, BackendError> {
        self.call_json("verify", request, Cancel::never())
    }
}
