//! The C ABI between fxb and a backend library.
//!
//! ```c
//! uint32_t fxb_backend_abi_version(void);            // read first; must equal ABI_VERSION
//! const FxbEntryTable *fxb_backend_entry_v1(void);   // only looked up when it does
//!
//! typedef struct { uint8_t *ptr; size_t len; size_t capacity; } FxbBuffer;
//! typedef struct {
//!     uint32_t abi_version;
//!     // op and input are UTF-8 (input: JSON). *cancel turns non-zero when the host
//!     // wants the call to stop (Ctrl-C, another kernel failed); a long call polls it.
//!     // Returns a STATUS_* code; *out holds the JSON reply (or error) either way.
//!     int32_t (*call)(const uint8_t *op, size_t op_len, const uint8_t *input,
//!                     size_t input_len, const volatile uint8_t *cancel, FxbBuffer *out);
//!     void (*free)(FxbBuffer buffer);                // frees what `call` put in *out
//! } FxbEntryTable;
//! ```
//!
//! Operations: `describe`, `compile`, `runtime`, `verify` (see [`crate::messages`]).
//! `call` may run on several host threads at once (`--concurrency`).

use std::sync::atomic::AtomicBool;

/// The ABI this crate speaks. A change to the table, the buffer or the meaning of an
/// operation bumps it; the host refuses a library with another version, naming both.
pub const ABI_VERSION: u32 = 1;
/// `extern "C" fn() -> u32`.
pub const ABI_VERSION_SYMBOL: &[u8] = b"fxb_backend_abi_version\0";
/// `extern "C" fn() -> *const EntryTable`.
pub const ENTRY_SYMBOL: &[u8] = b"fxb_backend_entry_v1\0";

/// The reply holds the operation's JSON result.
pub const STATUS_OK: i32 = 0;
/// The reply holds a JSON [`crate::BackendError`].
pub const STATUS_ERROR: i32 = 1;
/// The backend panicked; the reply holds the panic message as UTF-8 text.
pub const STATUS_PANIC: i32 = 2;

/// Bytes owned by the backend until the host hands them back to its `free`.
#[repr(C)]
#[derive(Debug)]
pub struct Buffer {
    pub ptr: *mut u8,
    pub len: usize,
    pub capacity: usize,
}

impl Buffer {
    pub const fn empty() -> Self {
        Buffer {
            ptr: std::ptr::null_mut(),
            len: 0,
            capacity: 0,
        }
    }
}

/// `call`: see the module docs. `cancel` is an `AtomicBool` (one byte, like C's `bool`).
pub type CallFn = unsafe extern "C" fn(
    op: *const u8,
    op_len: usize,
    input: *const u8,
    input_len: usize,
    cancel: *const AtomicBool,
    out: *mut Buffer,
) -> i32;

/// `free`: releases a [`Buffer`] that `call` returned.
pub type FreeFn = unsafe extern "C" fn(buffer: Buffer);

/// The entry table a backend exports.
#[repr(C)]
pub struct EntryTable {
    pub abi_version: u32,
    pub call: CallFn,
    pub free: FreeFn,
}
