//! Which revision of a repository a download uses, and why (FORMAT.md §5.6): an explicit
//! revision as given, never replaced; otherwise, for the furiosa-ai repositories, the
//! release tag of the furiosa-llm version being served (`v2026.4` for 2026.4.0, the whole
//! version for a pre-release: `v2026.1.0b6`), falling back to the default branch when the
//! repository has no such tag; for other repositories, or when no version is known, the
//! default branch.

use super::error::HubError;
use super::repo::RepoId;

/// The default branch, as the Hub's clients name it.
pub const DEFAULT_BRANCH: &str = "main";
/// The organization whose repositories are tagged per furiosa-llm release.
pub const RELEASE_ORG: &str = "furiosa-ai";

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevisionChoice {
    /// `--revision`: used as given, never replaced by another.
    Given(String),
    /// No `--revision`: chosen as the module docs say.
    Default(LlmVersion),
}

/// The furiosa-llm version being served, or why none is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmVersion {
    pub version: Option<String>,
    /// Where the version came from, or why there is none.
    pub why: String,
}

impl LlmVersion {
    /// The version given (`--llm-version`, `FXB_LLM_VERSION`), else what the runtime
    /// backend (`backend`, default the host one) reports.
    pub fn discover(
        given: Option<String>,
        backend: Option<&str>,
    ) -> Result<LlmVersion, crate::backend::LoadError> {
        if let Some(version) = given {
            return Ok(LlmVersion {
                version: Some(version),
                why: "--llm-version or FXB_LLM_VERSION".into(),
            });
        }
        let backend = crate::backend::select(backend, &crate::backend::search_dirs())?;
        let name = backend.description.name.clone();
        let identity = backend.backend().runtime().ok();
        Ok(
            match identity.as_ref().and_then(|i| i.runtime_version.clone()) {
                Some(version) => LlmVersion {
                    version: Some(version),
                    why: format!("reported by backend `{name}`"),
                },
                None => LlmVersion {
                    version: None,
                    why: identity.and_then(|i| i.note).unwrap_or_else(|| {
                        format!("backend `{name}` reports no furiosa-llm version")
                    }),
                },
            },
        )
    }
}

/// The revisions to try, in order, each with why; the later ones are fallbacks.
pub fn candidates(
    repo: &RepoId,
    choice: &RevisionChoice,
) -> Result<Vec<(String, String)>, HubError> {
    let default = |why: String| (DEFAULT_BRANCH.to_string(), why);
    Ok(match choice {
        RevisionChoice::Given(revision) => vec![(revision.clone(), "as given (--revision)".into())],
        RevisionChoice::Default(_) if repo.owner() != Some(RELEASE_ORG) => vec![default(format!(
            "the default branch (not a {RELEASE_ORG} repository)"
        ))],
        RevisionChoice::Default(LlmVersion {
            version: Some(version),
            why,
        }) => vec![
            (
                release_tag(version)?,
                format!("the tag of furiosa-llm {version} ({why})"),
            ),
            default(format!(
                "the default branch (the repository has no tag for furiosa-llm {version})"
            )),
        ],
        RevisionChoice::Default(LlmVersion { version: None, why }) => vec![default(format!(
            "the default branch (no furiosa-llm version is known: {why}; --llm-version sets it)"
        ))],
    })
}

/// `v{YYYY}.{minor}` of a release (`2026.4.0`, `2026.4`, `2026.4.0.post1`), `v{version}`
/// of a pre-release (`2026.1.0b6`, `2026.1.0rc1`, `2026.1.0.dev3`).
pub fn release_tag(version: &str) -> Result<String, HubError> {
    let bad = || HubError::BadLlmVersion(version.to_string());
    let trimmed = version.trim().trim_start_matches('v');
    let parts: Vec<&str> = trimmed.split('.').collect();
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if parts.len() < 2 || !digits(parts[0]) || !digits(parts[1]) {
        return Err(bad());
    }
    let rest = &parts[2..];
    if rest
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_alphanumeric()))
    {
        return Err(bad());
    }
    let release = rest
        .iter()
        .enumerate()
        .all(|(i, part)| digits(part) || (i > 0 && part.starts_with("post")));
    Ok(if release {
        format!("v{}.{}", parts[0], parts[1])
    } else {
        format!("v{trimmed}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_tags_are_year_and_minor_and_pre_releases_keep_their_version() {
        assert_eq!(release_tag("2026.4.0").expect("tag"), "v2026.4");
        assert_eq!(release_tag("2026.4").expect("tag"), "v2026.4");
        assert_eq!(release_tag("2026.4.1").expect("tag"), "v2026.4");
        assert_eq!(release_tag("2026.4.0.post1").expect("tag"), "v2026.4");
        assert_eq!(release_tag("2026.1.0b6").expect("tag"), "v2026.1.0b6");
        assert_eq!(release_tag("2026.1.0rc1").expect("tag"), "v2026.1.0rc1");
        assert_eq!(release_tag("2026.1.0.dev3").expect("tag"), "v2026.1.0.dev3");
        for bad in ["", "2026", "x.4.0", "2026.4.0-rc1", "2026..4", "2026.4/0"] {
            assert!(release_tag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn only_furiosa_repositories_with_a_known_version_try_a_tag() {
        let known = RevisionChoice::Default(LlmVersion {
            version: Some("2026.4.0".into()),
            why: "given".into(),
        });
        let furiosa = RepoId::parse("furiosa-ai/Llama-3.1-8B-Instruct").expect("id");
        let other = RepoId::parse("meta-llama/Llama-3.1-8B-Instruct").expect("id");
        let revisions = |repo, choice| -> Vec<String> {
            candidates(repo, choice)
                .expect("candidates")
                .into_iter()
                .map(|(r, _)| r)
                .collect()
        };
        assert_eq!(revisions(&furiosa, &known), ["v2026.4", "main"]);
        assert_eq!(revisions(&other, &known), ["main"]);
        let unknown = RevisionChoice::Default(LlmVersion {
            version: None,
            why: "no runtime".into(),
        });
        assert_eq!(revisions(&furiosa, &unknown), ["main"]);
        let given = RevisionChoice::Given("v1".into());
        assert_eq!(revisions(&furiosa, &given), ["v1"]);
    }
}
