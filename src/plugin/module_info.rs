//! What a plugin file is, read straight from its bytes before any compilation: the
//! `fxb-abi` and `fxb-plugin` custom sections, and its imports (a plugin may have none).

use fxb_plugin_api::v1::PluginMetadata;
use fxb_plugin_api::{ABI_MAJOR, ABI_MINOR, ABI_SECTION, METADATA_SECTION};
use sha2::{Digest, Sha256};
use wasmparser::{Chunk, Parser, Payload};

/// A plugin module's identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleInfo {
    pub metadata: PluginMetadata,
    pub abi_major: u32,
    pub abi_minor: u32,
    /// Lowercase hex sha256 of the module bytes. Left empty for the plugins of a
    /// [`super::PluginSet`] until it lists them: use [`super::Discovered::sha256`].
    pub sha256: String,
}

/// Why a file is not a usable plugin.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleProblem {
    #[error("not a WebAssembly module")]
    NotWasm,
    #[error("malformed WebAssembly (truncated?): {0}")]
    Malformed(String),
    #[error("no `{ABI_SECTION}` section: not an fxb plugin")]
    NoAbi,
    #[error("unreadable ABI version {0:?} in the `{ABI_SECTION}` section")]
    BadAbi(String),
    #[error("built for plugin ABI {found}, but this fxb speaks ABI {ABI_MAJOR}.{ABI_MINOR}")]
    AbiMismatch { found: String },
    #[error("invalid `{METADATA_SECTION}` section: {0}")]
    BadMetadata(String),
    #[error("imports `{module}::{name}`; plugins may not import anything")]
    Imports { module: String, name: String },
}

/// Read a module's sections and imports and hash it. Cheap: no validation, no
/// compilation.
pub fn inspect_module(bytes: &[u8]) -> Result<ModuleInfo, ModuleProblem> {
    let mut info = inspect_unhashed(bytes)?;
    info.sha256 = sha256_hex(bytes);
    Ok(info)
}

/// [`inspect_module`] with the module's sha256 when it is already known (the embedded
/// plugins', computed when fxb was built), else hashed.
pub fn inspect_module_with_digest(
    bytes: &[u8],
    sha256: Option<&str>,
) -> Result<ModuleInfo, ModuleProblem> {
    let mut info = inspect_unhashed(bytes)?;
    info.sha256 = sha256.map_or_else(|| sha256_hex(bytes), str::to_string);
    Ok(info)
}

/// The lowercase hex sha256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// [`inspect_module`] without the hash, which costs more than the rest (a millisecond
/// for the embedded plugins, on every start of every command).
pub(crate) fn inspect_unhashed(bytes: &[u8]) -> Result<ModuleInfo, ModuleProblem> {
    if !bytes.starts_with(b"\0asm") {
        return Err(ModuleProblem::NotWasm);
    }
    let mut abi = None;
    let mut metadata = None;
    let mut import = None;
    let malformed =
        |e: wasmparser::BinaryReaderError| ModuleProblem::Malformed(e.message().to_string());
    let mut parser = Parser::new(0);
    let mut rest = bytes;
    loop {
        let (consumed, payload) = match parser.parse(rest, true).map_err(malformed)? {
            Chunk::Parsed { consumed, payload } => (consumed, payload),
            Chunk::NeedMoreData(_) => {
                return Err(ModuleProblem::Malformed("unexpected end-of-file".into()));
            }
        };
        rest = rest.get(consumed..).unwrap_or_default();
        match payload {
            Payload::CustomSection(section) if section.name() == ABI_SECTION => {
                abi = Some(section.data().to_vec());
            }
            Payload::CustomSection(section) if section.name() == METADATA_SECTION => {
                metadata = Some(section.data().to_vec());
            }
            Payload::ImportSection(reader) => {
                for item in reader.into_imports() {
                    let item = item.map_err(malformed)?;
                    import.get_or_insert((item.module.to_string(), item.name.to_string()));
                }
            }
            // Most of a module is code, which says nothing about what the plugin is:
            // jump over it instead of walking every function body.
            Payload::CodeSectionStart { size, .. } => {
                parser.skip_section();
                rest = usize::try_from(size)
                    .ok()
                    .and_then(|size| rest.get(size..))
                    .ok_or_else(|| ModuleProblem::Malformed("unexpected end-of-file".into()))?;
            }
            Payload::End(_) => break,
            _ => {}
        }
    }
    let abi = abi.ok_or(ModuleProblem::NoAbi)?;
    let abi = String::from_utf8(abi)
        .map_err(|e| ModuleProblem::BadAbi(String::from_utf8_lossy(e.as_bytes()).into_owned()))?;
    let (major, minor) = abi
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)))
        .ok_or_else(|| ModuleProblem::BadAbi(abi.clone()))?;
    if major != ABI_MAJOR {
        return Err(ModuleProblem::AbiMismatch { found: abi });
    }
    if let Some((module, name)) = import {
        return Err(ModuleProblem::Imports { module, name });
    }
    let metadata =
        metadata.ok_or_else(|| ModuleProblem::BadMetadata("the section is missing".into()))?;
    let metadata: PluginMetadata =
        serde_json::from_slice(&metadata).map_err(|e| ModuleProblem::BadMetadata(e.to_string()))?;
    if metadata.name.is_empty() || metadata.architectures.is_empty() {
        return Err(ModuleProblem::BadMetadata(
            "it names no plugin or no architecture".into(),
        ));
    }
    Ok(ModuleInfo {
        metadata,
        abi_major: major,
        abi_minor: minor,
        sha256: String::new(),
    })
}
