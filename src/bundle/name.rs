//! The standard bundle file name the reference's `fxb add` gives a bundle (FORMAT.md §3):
//! `{architecture lowercased}-{compiler revision}-{llm revision}-{yymmddHHMM}.fxb`, the
//! timestamp in the offset `created_at` was written in. Every part comes from the manifest,
//! so every part is checked before it becomes a path.

use chrono::DateTime;

use super::manifest::Manifest;

/// Why a manifest has no standard name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    #[error("manifest is missing the model architecture")]
    MissingArchitecture,
    #[error("manifest is missing the '{0}' revision")]
    MissingRevision(String),
    #[error("manifest is missing 'created_at'")]
    MissingCreatedAt,
    #[error("manifest created_at {0:?} is not an RFC 3339 time")]
    BadCreatedAt(String),
    #[error("manifest {field} {value:?} cannot be part of a file name ({reason})")]
    UnsafePart {
        field: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// The standard file name for a bundle, e.g.
/// `llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb`.
pub fn standard_file_name(manifest: &Manifest) -> Result<String, NameError> {
    let architecture = manifest
        .model
        .as_ref()
        .and_then(|m| m.architecture.as_deref())
        .ok_or(NameError::MissingArchitecture)?;
    let compiler = manifest.compiler_tool_name();
    let ir_revision = revision(manifest, compiler)?;
    let llm_revision = revision(manifest, manifest.builder_tool_name())?;
    let created_at = manifest
        .created_at
        .as_deref()
        .ok_or(NameError::MissingCreatedAt)?;
    let time = DateTime::parse_from_rfc3339(created_at)
        .map_err(|_| NameError::BadCreatedAt(created_at.to_string()))?;
    let name = architecture.to_lowercase();
    check_part("model.architecture", &name)?;
    check_part("compiler revision", ir_revision)?;
    check_part("furiosa_llm revision", llm_revision)?;
    Ok(format!(
        "{name}-{ir_revision}-{llm_revision}-{}.fxb",
        time.format("%y%m%d%H%M")
    ))
}

fn revision<'m>(manifest: &'m Manifest, tool: &str) -> Result<&'m str, NameError> {
    manifest
        .tool(tool)
        .and_then(|t| t.revision.as_deref())
        .ok_or_else(|| NameError::MissingRevision(tool.to_string()))
}

fn check_part(field: &'static str, value: &str) -> Result<(), NameError> {
    let reason = if value.is_empty() {
        Some("it is empty")
    } else if value.contains(['/', '\\', '\0']) {
        Some("it contains a path separator or NUL")
    } else if value.starts_with('.') {
        Some("it starts with a dot")
    } else if value.chars().any(char::is_control) {
        Some("it contains a control character")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(NameError::UnsafePart {
            field,
            value: value.to_string(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::parse_manifest;

    fn reference() -> Manifest {
        parse_manifest(include_bytes!(
            "../../tests/fixtures/manifest-llama-min.json"
        ))
        .expect("parses")
    }

    #[test]
    fn matches_the_reference_add_name() {
        assert_eq!(
            standard_file_name(&reference()).as_deref(),
            Ok("llamaforcausallm-ae27d44cd8-b1baffa75-2611230550.fxb")
        );
    }

    #[test]
    fn uses_the_offset_as_written_and_keeps_modified_suffixes() {
        let mut m = reference();
        m.created_at = Some("2026-11-23T05:50:50+09:00".into());
        if let Some(v) = m
            .versions
            .as_mut()
            .and_then(|v| v.get_mut("furiosa_compiler"))
        {
            v.revision = Some("ae27d44cd8-modified".into());
        }
        assert_eq!(
            standard_file_name(&m).as_deref(),
            Ok("llamaforcausallm-ae27d44cd8-modified-b1baffa75-2611230550.fxb")
        );
    }

    #[test]
    fn refuses_path_like_parts_and_missing_fields() {
        let mut m = reference();
        if let Some(model) = m.model.as_mut() {
            model.architecture = Some("../../evil".into());
        }
        assert!(matches!(
            standard_file_name(&m),
            Err(NameError::UnsafePart { .. })
        ));
        let mut m = reference();
        m.created_at = Some("yesterday".into());
        assert!(matches!(
            standard_file_name(&m),
            Err(NameError::BadCreatedAt(_))
        ));
        let mut m = reference();
        m.versions = None;
        assert_eq!(
            standard_file_name(&m),
            Err(NameError::MissingRevision("furiosa_compiler".into()))
        );
    }
}
