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

/// The lowercase hex sha256 of `bytes`.
fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// [`inspect_module`] without the hash, which costs more than the rest (a millisecond
/// for the embedded plugins, on every start of every command).
pub(crate) fn inspect_unhashed(bytes: &[u8]) -> Result<ModuleInfo, ModuleProblem> {
    inspect_skipping_code(bytes, Bodies::Check)
}

/// [`inspect_unhashed`] for a module built into this binary, whose function bodies are
/// not even framed: reading their sizes touched every page of every embedded module, a
/// millisecond of every start. The build made them, and a test checks each is read as a
/// full parse reads it.
pub(crate) fn inspect_embedded(bytes: &[u8]) -> Result<ModuleInfo, ModuleProblem> {
    inspect_skipping_code(bytes, Bodies::Trust)
}

/// Most of a module is code, which says nothing of what the plugin is, and walking its
/// function bodies was most of the time every command spent finding plugins. So the code
/// section is skipped (its bodies framed as `bodies` says); a module where anything fails
/// is parsed again in full, so that it is refused in the parser's own words.
fn inspect_skipping_code(bytes: &[u8], bodies: Bodies) -> Result<ModuleInfo, ModuleProblem> {
    if !bytes.starts_with(b"\0asm") {
        return Err(ModuleProblem::NotWasm);
    }
    let sections = match sections_skipping_code(bytes, bodies) {
        Some(sections) => sections,
        None => all_sections(bytes)?,
    };
    identify(sections)
}

/// What [`sections_skipping_code`] checks of the function bodies it skips.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bodies {
    /// That they fill the code section exactly, as the parser would.
    Check,
    /// Nothing: the module is this binary's own.
    Trust,
}

/// The sections [`inspect_unhashed`] reads.
#[derive(Default)]
struct Sections {
    abi: Option<Vec<u8>>,
    metadata: Option<Vec<u8>>,
    import: Option<(String, String)>,
}

impl Sections {
    fn take(&mut self, payload: Payload<'_>) -> Result<(), ModuleProblem> {
        match payload {
            Payload::CustomSection(section) if section.name() == ABI_SECTION => {
                self.abi = Some(section.data().to_vec());
            }
            Payload::CustomSection(section) if section.name() == METADATA_SECTION => {
                self.metadata = Some(section.data().to_vec());
            }
            Payload::ImportSection(reader) => {
                for item in reader.into_imports() {
                    let item =
                        item.map_err(|e| ModuleProblem::Malformed(e.message().to_string()))?;
                    self.import
                        .get_or_insert((item.module.to_string(), item.name.to_string()));
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// Every payload, function bodies included.
fn all_sections(bytes: &[u8]) -> Result<Sections, ModuleProblem> {
    let mut sections = Sections::default();
    for payload in Parser::new(0).parse_all(bytes) {
        sections.take(payload.map_err(|e| ModuleProblem::Malformed(e.message().to_string()))?)?;
    }
    Ok(sections)
}

/// The payloads with the code section skipped; `None` at the first thing that does not
/// parse (including function bodies that do not fill the code section exactly).
fn sections_skipping_code(mut bytes: &[u8], bodies: Bodies) -> Option<Sections> {
    let mut sections = Sections::default();
    let mut parser = Parser::new(0);
    loop {
        let Ok(Chunk::Parsed { consumed, payload }) = parser.parse(bytes, true) else {
            return None;
        };
        bytes = bytes.get(consumed..)?;
        match payload {
            Payload::CodeSectionStart { count, size, .. } => {
                let size = usize::try_from(size).ok()?;
                if bodies == Bodies::Check && !bodies_fill(bytes.get(..size)?, count) {
                    return None;
                }
                parser.skip_section();
                bytes = bytes.get(size..)?;
            }
            Payload::End(_) => return Some(sections),
            other => sections.take(other).ok()?,
        }
    }
}

/// Whether `section` is exactly `count` function bodies, each a LEB128 size and that
/// many bytes: what the parser checks of a code section when it walks it.
fn bodies_fill(mut section: &[u8], count: u32) -> bool {
    for _ in 0..count {
        let Some((size, used)) = var_u32(section) else {
            return false;
        };
        match usize::try_from(size)
            .ok()
            .and_then(|size| section.get(used.checked_add(size)?..))
        {
            Some(rest) => section = rest,
            None => return false,
        }
    }
    section.is_empty()
}

/// An unsigned LEB128 `u32` as wasmparser accepts it (at most five bytes, no bits past
/// the 32nd) and its length.
fn var_u32(bytes: &[u8]) -> Option<(u32, usize)> {
    let mut value = 0u32;
    for (index, &byte) in bytes.iter().take(5).enumerate() {
        if index == 4 && byte >= 0x10 {
            return None;
        }
        value |= u32::from(byte & 0x7f) << (7 * index);
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

/// The ABI version and metadata of a module's sections, checked.
fn identify(sections: Sections) -> Result<ModuleInfo, ModuleProblem> {
    let Sections {
        abi,
        metadata,
        import,
    } = sections;
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the full parse says, hash aside: the oracle for the fast path.
    fn full(bytes: &[u8]) -> Result<ModuleInfo, ModuleProblem> {
        if !bytes.starts_with(b"\0asm") {
            return Err(ModuleProblem::NotWasm);
        }
        identify(all_sections(bytes)?)
    }

    /// The hashes the build computed are the modules' (they key the compiled cache).
    #[test]
    fn the_embedded_plugins_build_time_hashes_are_their_hashes() {
        for (file, bytes, sha256) in super::super::embedded::EMBEDDED {
            assert_eq!(sha256_hex(bytes), *sha256, "{file}");
        }
    }

    #[test]
    fn skipping_the_code_changes_no_verdict() {
        let embedded = super::super::embedded::EMBEDDED;
        for (_, bytes, _) in embedded {
            assert!(sections_skipping_code(bytes, Bodies::Check).is_some());
            assert!(sections_skipping_code(bytes, Bodies::Trust).is_some());
            assert_eq!(inspect_unhashed(bytes), full(bytes));
            assert_eq!(inspect_embedded(bytes), full(bytes));
        }
        let (_, module, _) = embedded.first().expect("an embedded plugin");
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |bound: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % bound as u64) as usize
        };
        for _ in 0..300 {
            let mut bytes = module.to_vec();
            let at = next(bytes.len());
            bytes[at] = next(256) as u8;
            assert_eq!(inspect_unhashed(&bytes), full(&bytes), "byte {at} changed");
            let cut = next(bytes.len());
            assert_eq!(
                inspect_unhashed(&bytes[..cut]),
                full(&bytes[..cut]),
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn leb128_sizes_read_as_wasmparser_reads_them() {
        assert_eq!(var_u32(&[0x05]), Some((5, 1)));
        assert_eq!(var_u32(&[0x80, 0x01]), Some((128, 2)));
        assert_eq!(
            var_u32(&[0xff, 0xff, 0xff, 0xff, 0x0f]),
            Some((u32::MAX, 5))
        );
        assert_eq!(var_u32(&[0xff, 0xff, 0xff, 0xff, 0x10]), None);
        assert_eq!(var_u32(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), None);
        assert_eq!(var_u32(&[0x80]), None);
        assert!(bodies_fill(&[0x01, 0x0b, 0x00], 2));
        assert!(!bodies_fill(&[0x01, 0x0b, 0x00], 1));
        assert!(!bodies_fill(&[0x02, 0x0b], 1));
    }
}
