//! fxb's own facts about cached bundles, which the reference's index cannot hold (it drops
//! unknown fields when it rewrites `index.json`): the content hash, when it was last
//! verified, and the rule the bundle was fingerprinted with. Keyed by `rel_path`, and
//! trusted only while the file's size and mtime are what they were when hashed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub const SIDECAR_FILE: &str = "fxb-sidecar.json";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sidecar {
    #[serde(default)]
    pub entries: BTreeMap<String, SidecarEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SidecarEntry {
    pub size: u64,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: u128,
    pub sha256: String,
    pub hashed_at: String,
    /// The fingerprint rule, as `name version` (what every fxb so far wrote).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_rule"
    )]
    pub rule: Option<crate::rules::RuleId>,
    /// The compiler that produced the kernels when it is not the vendor's (whose
    /// identity the index holds): fxb's host backend, a third-party backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler: Option<Compiler>,
}

/// A rule that does not read is no rule (the entry's hash stays usable).
fn lenient_rule<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<crate::rules::RuleId>, D::Error> {
    let text: Option<String> = Option::deserialize(deserializer)?;
    Ok(text.and_then(|t| t.parse().ok()))
}

/// A compiler's identity, as a manifest's `versions` entry records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Compiler {
    /// The `versions` key (`fxb_host_backend`).
    pub tool: String,
    pub version: Option<String>,
    pub revision: Option<String>,
}

/// Size and mtime of a file, the sidecar's validity key.
pub fn stamp(path: &Path) -> Option<(u64, u128)> {
    let meta = std::fs::metadata(path).ok()?;
    let mtime = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((meta.len(), mtime))
}

impl Sidecar {
    /// Read it; anything unreadable is an empty sidecar (everything "not yet hashed").
    pub fn load(dir: &Path) -> Sidecar {
        std::fs::read(dir.join(SIDECAR_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}
