//! Comparing two bundles: the kernel I/O signatures entry by entry, the way the
//! reference's `fxb diff` does (FORMAT.md §5.10), plus the manifest fields that differ.
//!
//! Signatures are read one kernel file at a time; only the rendered lines of entries
//! that differ are kept.

use std::collections::BTreeSet;

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::{Map, Value};

use super::error::BundleError;
use super::manifest::Manifest;
use super::reader::Bundle;
use fxb_backend_api::bucket::BucketKey;

/// Which side a diff line belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DiffSide {
    /// In both (context).
    Both,
    Left,
    Right,
}

/// One printed line of an entry diff.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct DiffLine {
    pub side: DiffSide,
    pub text: String,
}

/// One kernel entry that is not identical on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, JsonSchema)]
pub struct EntryDiff {
    pub kernel: String,
    pub bucket: String,
    pub status: DiffSide,
    /// Empty for a left-only / right-only entry when the caller asked for common entries
    /// only.
    pub lines: Vec<DiffLine>,
}

/// A manifest field that differs (`model.hub_repo_id`, `parallel_config.tensor_parallel_size`, ...).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct FieldDiff {
    pub field: String,
    pub left: Option<Value>,
    pub right: Option<Value>,
}

/// The whole comparison. Also `fxb diff --json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(title = "fxb diff --json")]
pub struct SignatureDiff {
    /// Entries that differ: the changed ones, then the left-only ones, then the right-only
    /// ones, each group sorted by kernel name then bucket label (as text, so `kv1023`
    /// comes before `kv512`), as the reference prints them.
    pub entries: Vec<EntryDiff>,
    pub changed: usize,
    pub left_only: usize,
    pub right_only: usize,
    pub identical: usize,
    /// Manifest fields that differ. `uuid` and `created_at` identify a build and are not
    /// compared; `kernels` is compared entry by entry above.
    pub manifest: Vec<FieldDiff>,
}

impl SignatureDiff {
    /// True when the two bundles differ in anything compared.
    pub fn differs(&self) -> bool {
        self.changed + self.left_only + self.right_only > 0 || !self.manifest.is_empty()
    }
}

type EntryKey = (String, BucketKey);

/// The order the reference visits entries in: kernel name, then the bucket's label as text.
fn visit_order((kernel, bucket): &&EntryKey) -> (String, String) {
    (kernel.clone(), bucket.label())
}

/// Compare two open bundles. With `common_only`, entries present on one side only are
/// neither read nor counted.
pub fn diff_bundles(
    left: &mut Bundle,
    right: &mut Bundle,
    common_only: bool,
) -> Result<SignatureDiff, BundleError> {
    let left_keys = entry_keys(left.manifest());
    let right_keys = entry_keys(right.manifest());
    let mut all: Vec<&EntryKey> = left_keys
        .iter()
        .chain(right_keys.iter())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    all.sort_by_key(visit_order);
    let mut diff = SignatureDiff {
        manifest: manifest_differences(left.manifest(), right.manifest()),
        ..SignatureDiff::default()
    };
    for key in all {
        let (kernel, bucket) = key;
        let header = format!("{kernel} ({}):", bucket.label());
        let in_left = file_for(left.manifest(), key);
        let in_right = file_for(right.manifest(), key);
        match (in_left, in_right) {
            (Some(lf), Some(rf)) => {
                let (li, lo) = left.read_signature(&lf)?.render();
                let (ri, ro) = right.read_signature(&rf)?.render();
                if li == ri && lo == ro {
                    diff.identical += 1;
                    continue;
                }
                let mut lines = vec![context(header), context("  Inputs:".into())];
                lines.extend(pairwise(&li, &ri));
                lines.push(context("  Outputs:".into()));
                lines.extend(pairwise(&lo, &ro));
                diff.changed += 1;
                diff.entries.push(EntryDiff {
                    kernel: kernel.clone(),
                    bucket: bucket.label(),
                    status: DiffSide::Both,
                    lines,
                });
            }
            (Some(_), None) | (None, Some(_)) if common_only => {}
            (Some(file), None) => {
                let lines = one_sided(header, left.read_signature(&file)?.render(), DiffSide::Left);
                diff.left_only += 1;
                diff.entries.push(EntryDiff {
                    kernel: kernel.clone(),
                    bucket: bucket.label(),
                    status: DiffSide::Left,
                    lines,
                });
            }
            (None, Some(file)) => {
                let lines = one_sided(
                    header,
                    right.read_signature(&file)?.render(),
                    DiffSide::Right,
                );
                diff.right_only += 1;
                diff.entries.push(EntryDiff {
                    kernel: kernel.clone(),
                    bucket: bucket.label(),
                    status: DiffSide::Right,
                    lines,
                });
            }
            (None, None) => {}
        }
    }
    // Stable: each group keeps the visiting order.
    diff.entries.sort_by_key(|e| match e.status {
        DiffSide::Both => 0,
        DiffSide::Left => 1,
        DiffSide::Right => 2,
    });
    Ok(diff)
}

fn entry_keys(manifest: &Manifest) -> BTreeSet<EntryKey> {
    manifest
        .kernels
        .iter()
        .flat_map(|(name, entries)| entries.iter().map(move |e| (name.clone(), e.bucket)))
        .collect()
}

fn file_for(manifest: &Manifest, (kernel, bucket): &EntryKey) -> Option<String> {
    manifest
        .kernels
        .get(kernel)?
        .iter()
        .find(|e| e.bucket == *bucket)
        .map(|e| e.file.clone())
}

fn context(text: String) -> DiffLine {
    DiffLine {
        side: DiffSide::Both,
        text,
    }
}

/// Index by index: equal lines are context, different ones `-` then `+`, extra ones on
/// one side only.
fn pairwise(left: &[String], right: &[String]) -> Vec<DiffLine> {
    let mut lines = Vec::new();
    for i in 0..left.len().max(right.len()) {
        match (left.get(i), right.get(i)) {
            (Some(l), Some(r)) if l == r => lines.push(context(l.clone())),
            (l, r) => {
                if let Some(l) = l {
                    lines.push(DiffLine {
                        side: DiffSide::Left,
                        text: l.clone(),
                    });
                }
                if let Some(r) = r {
                    lines.push(DiffLine {
                        side: DiffSide::Right,
                        text: r.clone(),
                    });
                }
            }
        }
    }
    lines
}

fn one_sided(
    header: String,
    (inputs, outputs): (Vec<String>, Vec<String>),
    side: DiffSide,
) -> Vec<DiffLine> {
    std::iter::once(header)
        .chain(std::iter::once("  Inputs:".to_string()))
        .chain(inputs)
        .chain(std::iter::once("  Outputs:".to_string()))
        .chain(outputs)
        .map(|text| DiffLine { side, text })
        .collect()
}

/// Differences between the manifests, field by field, sorted by field path.
fn manifest_differences(left: &Manifest, right: &Manifest) -> Vec<FieldDiff> {
    let flatten = |m: &Manifest| -> Map<String, Value> {
        let mut out = Map::new();
        let Ok(Value::Object(top)) = serde_json::to_value(m) else {
            return out;
        };
        for (key, value) in top {
            match (key.as_str(), value) {
                ("uuid" | "created_at" | "kernels", _) => {}
                ("versions" | "model" | "parallel_config" | "extras", Value::Object(inner)) => {
                    for (sub, v) in inner {
                        out.insert(format!("{key}.{sub}"), v);
                    }
                }
                (_, value) => {
                    out.insert(key, value);
                }
            }
        }
        out
    };
    let (l, r) = (flatten(left), flatten(right));
    let fields: BTreeSet<&String> = l.keys().chain(r.keys()).collect();
    fields
        .into_iter()
        .filter(|f| l.get(*f) != r.get(*f))
        .map(|f| FieldDiff {
            field: f.clone(),
            left: l.get(f).cloned(),
            right: r.get(f).cloned(),
        })
        .collect()
}
