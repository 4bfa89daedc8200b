//! The backend side of the C ABI: what [`export_backend!`](crate::export_backend) expands
//! to calls. Every entry point catches panics: unwinding out of an `extern "C"` function
//! aborts the host process.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::AtomicBool;

use crate::abi::{Buffer, STATUS_ERROR, STATUS_OK, STATUS_PANIC};
use crate::messages::{Backend, BackendError, Cancel, ErrorCode};

/// Export a [`Backend`](crate::Backend) from a `cdylib`:
///
/// ```ignore
/// fxb_backend_api::export_backend!(MyBackend::new());
/// ```
///
/// The expression is evaluated once, on first use, inside the panic guard. The
/// `abi_version:` form exists for tests that need a library speaking another version.
#[macro_export]
macro_rules! export_backend {
    ($make:expr) => {
        $crate::export_backend!($make, abi_version: $crate::ABI_VERSION);
    };
    ($make:expr, abi_version: $version:expr) => {
        fn __fxb_backend_instance() -> &'static dyn $crate::Backend {
            static INSTANCE: ::std::sync::OnceLock<::std::boxed::Box<dyn $crate::Backend>> =
                ::std::sync::OnceLock::new();
            INSTANCE.get_or_init(|| ::std::boxed::Box::new($make)).as_ref()
        }

        /// The backend ABI version this library speaks.
        #[unsafe(no_mangle)]
        pub extern "C" fn fxb_backend_abi_version() -> u32 {
            $version
        }

        /// The entry table (ABI version 1).
        #[unsafe(no_mangle)]
        pub extern "C" fn fxb_backend_entry_v1() -> *const $crate::abi::EntryTable {
            static TABLE: $crate::abi::EntryTable = $crate::abi::EntryTable {
                abi_version: $crate::ABI_VERSION,
                call: __fxb_backend_call,
                free: $crate::export::free,
            };
            &TABLE
        }

        unsafe extern "C" fn __fxb_backend_call(
            op: *const u8,
            op_len: usize,
            input: *const u8,
            input_len: usize,
            cancel: *const ::std::sync::atomic::AtomicBool,
            out: *mut $crate::abi::Buffer,
        ) -> i32 {
            // SAFETY: the host passes valid pointers and lengths (abi.rs).
            unsafe {
                $crate::export::call(
                    __fxb_backend_instance,
                    op,
                    op_len,
                    input,
                    input_len,
                    cancel,
                    out,
                )
            }
        }
    };
}

/// Run one operation for the host.
///
/// # Safety
/// `op`/`input` point to `op_len`/`input_len` readable bytes (or are null with length 0),
/// `cancel` is null or points to an `AtomicBool` that outlives the call, and `out` points
/// to a writable [`Buffer`].
pub unsafe fn call(
    backend: fn() -> &'static dyn Backend,
    op: *const u8,
    op_len: usize,
    input: *const u8,
    input_len: usize,
    cancel: *const AtomicBool,
    out: *mut Buffer,
) -> i32 {
    let result = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: guaranteed by the caller.
        let (op, input, cancel) = unsafe {
            (
                bytes(op, op_len),
                bytes(input, input_len),
                cancel.as_ref().map_or(Cancel::never(), Cancel::new),
            )
        };
        dispatch(backend(), op, input, cancel)
    }));
    let (status, reply) = match result {
        Ok(Ok(reply)) => (STATUS_OK, reply),
        Ok(Err(error)) => (STATUS_ERROR, to_json(&error)),
        Err(panic) => (STATUS_PANIC, panic_message(&*panic).into_bytes()),
    };
    if out.is_null() {
        return status;
    }
    let mut reply = std::mem::ManuallyDrop::new(reply);
    // SAFETY: `out` is writable (caller); ownership passes to the host until `free`.
    unsafe {
        *out = Buffer {
            ptr: reply.as_mut_ptr(),
            len: reply.len(),
            capacity: reply.capacity(),
        };
    }
    status
}

/// Release a reply.
///
/// # Safety
/// `buffer` came from [`call`] and has not been freed.
pub unsafe extern "C" fn free(buffer: Buffer) {
    if !buffer.ptr.is_null() {
        // SAFETY: the parts of a Vec<u8> that `call` leaked.
        drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.capacity) });
    }
}

unsafe fn bytes<'a>(ptr: *const u8, len: usize) -> &'a [u8] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller of `call`.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

fn dispatch(
    backend: &dyn Backend,
    op: &[u8],
    input: &[u8],
    cancel: Cancel<'_>,
) -> Result<Vec<u8>, BackendError> {
    fn parse<T: serde::de::DeserializeOwned>(input: &[u8]) -> Result<T, BackendError> {
        serde_json::from_slice(input).map_err(|e| {
            BackendError::new(
                ErrorCode::InvalidRequest,
                format!("the request does not parse: {e}"),
            )
        })
    }
    match op {
        b"describe" => Ok(to_json(&backend.describe())),
        b"compile" => Ok(to_json(&backend.compile(&parse(input)?, cancel)?)),
        b"runtime" => Ok(to_json(&backend.runtime()?)),
        b"verify" => Ok(to_json(&backend.verify(&parse(input)?)?)),
        other => Err(BackendError::unsupported(format!(
            "unknown operation `{}`",
            String::from_utf8_lossy(other)
        ))),
    }
}

fn to_json(value: &impl serde::Serialize) -> Vec<u8> {
    // Serializing plain data structs cannot fail; an empty reply is reported by the host.
    serde_json::to_vec(value).unwrap_or_default()
}

/// The text of a caught panic.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}
