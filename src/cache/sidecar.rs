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
        serialize_with = "rule_as_text",
        deserialize_with = "lenient_rule"
    )]
    pub rule: Option<crate::rules::RuleId>,
    /// The compiler that produced the kernels when it is not the vendor's (whose
    /// identity the index holds): fxb's host backend, a third-party backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compiler: Option<Compiler>,
}

/// The sidecar's form of a rule, `name version`, which every fxb reads.
fn rule_as_text<S: serde::Serializer>(
    rule: &Option<crate::rules::RuleId>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match rule {
        Some(rule) => serializer.collect_str(rule),
        None => serializer.serialize_none(),
    }
}

/// A rule that does not read is no rule (the entry's hash stays usable).
fn lenient_rule<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<crate::rules::RuleId>, D::Error> {
    let text: Option<serde_json::Value> = Option::deserialize(deserializer)?;
    Ok(match text {
        Some(serde_json::Value::String(text)) => text.parse().ok(),
        Some(other) => serde_json::from_value(other).ok(),
        None => None,
    })
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

/// A sidecar entry without its hash: what `check` and `prune` read (parsing a thousand
/// hashes and time stamps they never look at was a third of reading the sidecar).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Facts {
    pub size: u64,
    #[serde(default, deserialize_with = "lenient_rule")]
    pub rule: Option<crate::rules::RuleId>,
    #[serde(default)]
    pub compiler: Option<Compiler>,
}

impl Sidecar {
    /// Every entry's [`Facts`], by `rel_path`; unreadable is empty, as for [`Sidecar::load`].
    pub fn load_facts(dir: &Path) -> BTreeMap<String, Facts> {
        #[derive(Deserialize)]
        struct FactsOnly {
            #[serde(default)]
            entries: BTreeMap<String, Facts>,
        }
        std::fs::read(dir.join(SIDECAR_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice::<FactsOnly>(&bytes).ok())
            .map(|s| s.entries)
            .unwrap_or_default()
    }

    /// Read it; anything unreadable is an empty sidecar (everything "not yet hashed").
    pub fn load(dir: &Path) -> Sidecar {
        std::fs::read(dir.join(SIDECAR_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleId;

    /// Sidecars written before rules were typed hold `"name version"` strings; they still
    /// read, and are written back the same way (an older fxb reads what this one writes).
    #[test]
    fn rules_read_and_write_as_the_strings_every_fxb_wrote() {
        let old = r#"{"entries":{"models--local/snapshots/u/x.fxb":{"size":1,"mtime_ns":2,
            "sha256":"ab","hashed_at":"t","rule":"generic 1.0.0"}}}"#;
        let sidecar: Sidecar = serde_json::from_str(old).expect("reads");
        let entry = &sidecar.entries["models--local/snapshots/u/x.fxb"];
        assert_eq!(entry.rule, Some(RuleId::new("generic", "1.0.0")));
        let written = serde_json::to_string(&sidecar).expect("writes");
        assert!(written.contains(r#""rule":"generic 1.0.0""#), "{written}");
        // A rule that does not read costs only the rule, never the hash.
        let odd = old.replace("generic 1.0.0", "nonsense");
        let sidecar: Sidecar = serde_json::from_str(&odd).expect("reads");
        let entry = &sidecar.entries["models--local/snapshots/u/x.fxb"];
        assert_eq!((entry.rule.as_ref(), entry.sha256.as_str()), (None, "ab"));
    }
}
