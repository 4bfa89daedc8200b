//! Guest-side helpers behind [`crate::plugin!`]: memory hand-off, JSON dispatch and the
//! panic hook. They compile on every target (so plugin crates build and test natively)
//! but only mean something inside a wasm32 module, where pointers are 32 bits.

use std::sync::Mutex;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::v1::{Envelope, PluginError};

/// The message of the last panic, for the host to read after the trap.
static LAST_PANIC: Mutex<String> = Mutex::new(String::new());

/// A string's bytes as an array, for custom sections built at compile time.
pub const fn bytes<const N: usize>(text: &str) -> [u8; N] {
    let source = text.as_bytes();
    let mut out = [0u8; N];
    let mut i = 0;
    while i < N {
        out[i] = source[i];
        i += 1;
    }
    out
}

/// `fxb_alloc`: a buffer of `len` bytes the host writes a request into. Never freed: the
/// instance lives for one call.
pub fn alloc(len: u32) -> u32 {
    let mut buffer = Vec::<u8>::with_capacity(len as usize);
    let ptr = buffer.as_mut_ptr();
    std::mem::forget(buffer);
    ptr as usize as u32
}

/// Hand bytes to the host: `ptr << 32 | len`.
pub fn output(bytes: Vec<u8>) -> u64 {
    let bytes = bytes.into_boxed_slice();
    let len = bytes.len() as u64;
    let ptr = Box::into_raw(bytes) as *mut u8 as usize as u64;
    (ptr << 32) | len
}

/// `fxb_panic_message`: the last panic's message (empty if none).
pub fn panic_message() -> u64 {
    let message = LAST_PANIC.lock().map(|m| m.clone()).unwrap_or_default();
    output(message.into_bytes())
}

/// Keep panic messages for [`panic_message`]; the panic itself then aborts (a trap).
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = info.to_string();
        }
    }));
}

/// `fxb_describe`: the metadata JSON, wrapped as `{"ok": …}`.
pub fn describe(metadata: &str) -> u64 {
    output(format!("{{\"ok\":{metadata}}}").into_bytes())
}

/// The request bytes the host wrote at `ptr`.
///
/// # Safety
/// `ptr..ptr+len` must be a buffer from [`alloc`] that the host filled.
unsafe fn input<'a>(ptr: u32, len: u32) -> &'a [u8] {
    // SAFETY: the host wrote exactly `len` bytes into a buffer it got from `alloc(len)`.
    unsafe { std::slice::from_raw_parts(ptr as usize as *const u8, len as usize) }
}

/// Run a typed operation: JSON request in, `{"ok": …}` / `{"err": …}` out.
pub fn dispatch<Req, Resp, F>(ptr: u32, len: u32, handler: F) -> u64
where
    Req: DeserializeOwned,
    Resp: Serialize,
    F: Fn(Req) -> Result<Resp, PluginError>,
{
    install_panic_hook();
    // SAFETY: called from an export the host invokes with a buffer it filled.
    let request = unsafe { input(ptr, len) };
    let reply = match serde_json::from_slice::<Req>(request) {
        Ok(request) => match handler(request) {
            Ok(response) => Envelope::Ok(response),
            Err(error) => Envelope::Err(error),
        },
        Err(error) => Envelope::Err(PluginError::invalid_input(format!(
            "the request does not match this plugin's ABI: {error}"
        ))),
    };
    let bytes = serde_json::to_vec(&reply).unwrap_or_else(|e| {
        format!(
            "{{\"err\":{{\"code\":\"internal\",\"message\":\"cannot encode the reply: {e}\"}}}}"
        )
        .into_bytes()
    });
    output(bytes)
}

/// Run an operation that reads and writes raw bytes.
pub fn dispatch_raw(ptr: u32, len: u32, handler: impl Fn(&[u8]) -> Vec<u8>) -> u64 {
    install_panic_hook();
    // SAFETY: as in `dispatch`.
    let request = unsafe { input(ptr, len) };
    output(handler(request))
}
