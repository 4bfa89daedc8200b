//! What fxb and its native backend plugins share (DESIGN.md, "Backends").
//!
//! A backend is a shared library fxb loads with `libloading`. The boundary is one C-ABI
//! entry table ([`abi::EntryTable`]) behind an ABI-version symbol the host reads first;
//! requests and replies cross it as JSON ([`messages`]); reply buffers are freed by the
//! backend's own `free`; every export catches panics, so a backend bug becomes an error
//! in fxb, never an abort. A backend implements [`Backend`] and exports it with
//! [`export_backend!`]; fxb's own host reference backend is the same trait linked in.
//!
//! A compiler backend writes each kernel × bucket to a file the host names, in the EDF
//! container ([`edf`], FORMAT.md §1.4), whose `signature` is what the compiled kernel
//! takes and gives. Writing to a file rather than returning bytes keeps multi-gigabyte
//! kernels out of memory and fits a backend that drives an external compiler process.

pub mod abi;
pub mod bucket;
pub mod edf;
#[doc(hidden)]
pub mod export;
pub mod messages;

pub use abi::{ABI_VERSION, ABI_VERSION_SYMBOL, ENTRY_SYMBOL};
pub use bucket::{BucketClass, BucketKey};
pub use messages::{
    Backend, BackendError, Cancel, CompileRequest, CompileResponse, Description, ErrorCode,
    Release, Role, RuntimeIdentity, TensorLine, ToolStatus, VerifyEntry, VerifyProblem,
    VerifyReport, VerifyRequest,
};
