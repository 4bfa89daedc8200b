//! The FXB bundle format: a zip archive (or its extracted directory) holding
//! `manifest.json` and one compiled kernel file (EDF) per kernel × shape bucket.
//!
//! Everything here follows `FORMAT.md`, the record of what the reference toolchain
//! (`furiosa-llm` 2026.4.0) reads and writes, so bundles move freely between the two
//! tools. The reader never trusts a name, a size or a length that comes from a file: every
//! one is checked before it touches memory or the disk. The writer never leaves a
//! half-written file at its output path.
//!
//! ```
//! use fxb::bundle::{BucketKey, Bundle, BundleWriter, KernelEntry, Manifest};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("tiny.fxb");
//!
//! // A manifest with one kernel entry, and the kernel file it names.
//! let mut manifest = Manifest::new();
//! manifest.kernels.insert(
//!     "first_tokenwise".into(),
//!     vec![KernelEntry {
//!         bucket: BucketKey::Tokenwise { input_size: 1 },
//!         file: "edfs/first_tokenwise_tw1.edf".into(),
//!         unknown: Default::default(),
//!     }],
//! );
//! let kernel = b"compiled kernel bytes";
//! let mut writer = BundleWriter::create(&path, chrono::Utc::now())?;
//! writer.add_entry("edfs/first_tokenwise_tw1.edf", &mut &kernel[..], kernel.len() as u64)?;
//! writer.finish(&manifest)?;
//!
//! // Reading it back touches only the zip central directory and the manifest.
//! let bundle = Bundle::open(&path)?;
//! assert_eq!(bundle.manifest(), &manifest);
//! assert_eq!(bundle.manifest().files(), ["edfs/first_tokenwise_tw1.edf"]);
//! # Ok(())
//! # }
//! ```

mod checksum;
mod diff;

mod entry_name;
mod error;
mod manifest;
mod name;
mod reader;
mod summary;
mod transfer;
mod writer;

pub use checksum::{ArchivedEntry, ChecksumMismatch, ChecksumStream};
pub use diff::{DiffLine, DiffSide, EntryDiff, FieldDiff, SignatureDiff, diff_bundles};
pub use entry_name::validate_entry_name;
pub use error::BundleError;
pub use fxb_backend_api::bucket::{BucketClass, BucketKey};
pub use fxb_backend_api::edf::{
    Axis, AxisList, AxisTag, DramShape, Edf, EdfBody, ElementType, IntraChipAxes, Label, NpuTensor,
    Signature, TensorSignature, read_signature,
};
pub use manifest::{
    FORMAT_VERSION, KernelEntry, Kernels, MANIFEST_FILE, Manifest, Model, ParallelConfig,
    ToolVersion, parse_manifest,
};
pub use name::{NameError, standard_file_name};
pub use reader::{Bundle, BundleKind, EntryInfo};
pub use summary::{BucketSummary, BundleSummary, ModelLine, model_lines, summarize};
pub use transfer::{PackReport, UnpackReport, pack, unpack};
pub use writer::{BundleWriter, WrittenBundle, canonical_entry_order, write_bundle};

/// The largest `manifest.json` fxb will read. Real manifests are a few KiB; a bundle with
/// ten thousand kernel entries stays under 4 MiB. Anything that declares more is refused
/// before a byte of it is read, so a hostile archive cannot exhaust memory.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024 * 1024;
