//! The contract between fxb and its architecture plugins.
//!
//! A plugin is a WebAssembly core module with no imports. It carries two custom sections
//! the host reads *before* compiling it: `fxb-abi` (the ABI version, `MAJOR.MINOR`) and
//! `fxb-plugin` (its metadata as JSON: name, version, architectures, operations). Each
//! operation is an export `fxb_<op>(ptr: i32, len: i32) -> i64` that takes a JSON request
//! in the module's memory and returns a pointer and length (`ptr << 32 | len`) of a JSON
//! reply, `{"ok": …}` or `{"err": …}`. The host writes requests through the export
//! `fxb_alloc(len) -> ptr`, and after a trap reads a panic message from
//! `fxb_panic_message() -> i64`. Every call runs in a fresh instance, so a plugin never
//! frees anything.
//!
//! Plugin authors use the [`plugin!`] macro, which writes all of that; see
//! `plugins/README.md` and `plugins/template/`.
//!
//! The message types of each published ABI version live in their own module ([`v1`]) and
//! are frozen: a test compares their schema with `frozen/`. A minor version may only add
//! optional fields; anything else is a new major.

pub mod config;
pub mod convert;
pub mod fingerprint;
pub mod guest;
pub mod kernels;
pub mod layers;
pub mod plan;
pub mod v1;

/// The ABI major version: a host refuses plugins of another major.
pub const ABI_MAJOR: u32 = 1;
/// The ABI minor version: additions that older hosts and plugins can ignore.
pub const ABI_MINOR: u32 = 2;

/// Custom section holding the ABI version as ASCII `MAJOR.MINOR`.
pub const ABI_SECTION: &str = "fxb-abi";
/// Custom section holding [`v1::PluginMetadata`] as JSON.
pub const METADATA_SECTION: &str = "fxb-plugin";

/// The ABI version as a string literal, for use in `concat!`.
#[macro_export]
macro_rules! abi_version {
    () => {
        "1.2"
    };
}

/// Comma-separated JSON strings from literals (helper for [`plugin!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __json_strings {
    () => { "" };
    ($first:expr $(, $rest:expr)* $(,)?) => {
        concat!("\"", $first, "\"" $(, ",\"", $rest, "\"")*)
    };
}

/// Declare a plugin: its sections, the allocation and panic exports, `describe`, and one
/// export per operation.
///
/// ```
/// use fxb_plugin_api::v1::{FingerprintRequest, FingerprintResponse, PluginError};
///
/// fxb_plugin_api::plugin! {
///     name: "my-arch",
///     architectures: ["MyArchForCausalLM"],
///     operations: { fingerprint => fingerprint },
/// }
///
/// fn fingerprint(request: FingerprintRequest) -> Result<FingerprintResponse, PluginError> {
///     let hidden = request.config.get("hidden_size").ok_or_else(|| PluginError::missing_field("hidden_size"))?;
///     Ok(FingerprintResponse {
///         architecture: "MyArchForCausalLM".into(),
///         fields: [("hidden_size".to_string(), hidden.to_string())].into(),
///     })
/// }
/// # fn main() {}
/// ```
///
/// Each handler is a `fn(Request) -> Result<Response, PluginError>` over serde types;
/// `raw: { op => handler }` takes `fn(&[u8]) -> Vec<u8>` for a plugin that writes its own
/// JSON. Names and architectures must be plain strings (no quotes or backslashes).
#[macro_export]
macro_rules! plugin {
    (
        name: $name:literal,
        architectures: [$($arch:literal),* $(,)?],
        operations: { $($op:ident => $handler:expr),* $(,)? }
        $(, raw: { $($raw_op:ident => $raw_handler:expr),* $(,)? })?
        $(,)?
    ) => {
        const _: () = {
            const ABI: &str = $crate::abi_version!();
            const METADATA: &str = concat!(
                "{\"name\":\"", $name,
                "\",\"version\":\"", env!("CARGO_PKG_VERSION"),
                "\",\"abi\":\"", $crate::abi_version!(),
                "\",\"architectures\":[", $crate::__json_strings!($($arch),*),
                "],\"operations\":[\"describe\"",
                $(",\"", stringify!($op), "\"",)*
                $($(",\"", stringify!($raw_op), "\"",)*)?
                "]}"
            );

            #[unsafe(link_section = "fxb-abi")]
            #[used]
            static ABI_SECTION: [u8; ABI.len()] = $crate::guest::bytes(ABI);

            #[unsafe(link_section = "fxb-plugin")]
            #[used]
            static METADATA_SECTION: [u8; METADATA.len()] = $crate::guest::bytes(METADATA);

            #[unsafe(export_name = "fxb_alloc")]
            pub extern "C" fn alloc(len: u32) -> u32 {
                $crate::guest::alloc(len)
            }

            #[unsafe(export_name = "fxb_panic_message")]
            pub extern "C" fn panic_message() -> u64 {
                $crate::guest::panic_message()
            }

            #[unsafe(export_name = "fxb_describe")]
            pub extern "C" fn describe(_ptr: u32, _len: u32) -> u64 {
                $crate::guest::describe(METADATA)
            }

            // One anonymous block per export, so an export never shadows its handler.
            $(
                const _: () = {
                    #[unsafe(export_name = concat!("fxb_", stringify!($op)))]
                    pub extern "C" fn export(ptr: u32, len: u32) -> u64 {
                        $crate::guest::dispatch(ptr, len, $handler)
                    }
                };
            )*

            $($(
                const _: () = {
                    #[unsafe(export_name = concat!("fxb_", stringify!($raw_op)))]
                    pub extern "C" fn export(ptr: u32, len: u32) -> u64 {
                        $crate::guest::dispatch_raw(ptr, len, $raw_handler)
                    }
                };
            )*)?
        };
    };
}

/// A family plugin whose own logic is its kernel list (`kernels`, a
/// [`kernels::FamilyKernels`]): `fingerprint` first checks that the config is one the
/// family can plan, `plan` plans with the family's kernels for the requested head, and
/// `convert` is the standard Hugging Face rewrite unless the family gives its own
/// (`convert: path`). Declares the plugin like [`plugin!`].
#[macro_export]
macro_rules! family_plugin {
    (name: $name:literal, architectures: [$($arch:literal),* $(,)?], kernels: $kernels:path $(,)?) => {
        /// `convert`: the standard Hugging Face head rewrite.
        pub fn convert(
            request: $crate::v1::ConvertRequest,
        ) -> Result<$crate::v1::ConvertResponse, $crate::v1::PluginError> {
            $crate::convert::standard(&request)
        }

        $crate::family_plugin! {
            name: $name,
            architectures: [$($arch),*],
            kernels: $kernels,
            convert: convert,
        }
    };
    (name: $name:literal, architectures: [$($arch:literal),* $(,)?], kernels: $kernels:path, convert: $convert:path $(,)?) => {
        /// `fingerprint`: the config must be one the family can plan, then the rule's
        /// standard fingerprint.
        pub fn fingerprint(
            request: $crate::v1::FingerprintRequest,
        ) -> Result<$crate::v1::FingerprintResponse, $crate::v1::PluginError> {
            $crate::kernels::family_fingerprint(request, $kernels)
        }

        /// `plan`: the family's kernels for the requested head, the shared planner.
        pub fn plan(
            request: $crate::v1::PlanRequest,
        ) -> Result<$crate::v1::PlanResponse, $crate::v1::PluginError> {
            $crate::kernels::family_plan(request, $kernels)
        }

        $crate::plugin! {
            name: $name,
            architectures: [$($arch),*],
            operations: { fingerprint => fingerprint, plan => plan, convert => $convert },
        }
    };
}
