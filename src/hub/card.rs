//! A repository's model card (`README.md`): the `base_model` its YAML front matter names,
//! which the cache index records for a downloaded repository (FORMAT.md §4.3). Only that
//! one key is read, from the front matter's top level; anything else in the card is left
//! alone, and a card without one is no error.
//!
//! `fxb publish` writes a card ([`publish_card`]): `base_model` and an `fxb:` key with each
//! bundle's facts in the front matter, and a section of the body between two markers. A
//! card already there keeps every other key and every other line of its body; only what
//! fxb wrote before is replaced, so publishing again never piles up copies.

/// `base_model` of the front matter: a string, or the first item of a list.
pub fn base_model(card: &str) -> Option<String> {
    let mut lines = card.lines();
    if lines.next()?.trim_end() != "---" {
        return None;
    }
    let mut lines = lines.take_while(|l| l.trim_end() != "---").peekable();
    while let Some(line) = lines.next() {
        let Some(value) = line.strip_prefix("base_model:") else {
            continue;
        };
        let value = value.trim();
        if !value.is_empty() {
            return scalar(value);
        }
        // A block list: `base_model:` then `- item` lines.
        while let Some(item) = lines.peek() {
            let item = item.trim_start();
            if let Some(first) = item.strip_prefix("- ") {
                return scalar(first.trim());
            }
            if !item.is_empty() {
                return None;
            }
            lines.next();
        }
        return None;
    }
    None
}

/// A plain or quoted YAML scalar (a flow list's first item), without a trailing comment.
fn scalar(value: &str) -> Option<String> {
    let value = value
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .map_or(value, |list| list.split(',').next().unwrap_or_default())
        .trim();
    let text = match value.chars().next()? {
        quote @ ('"' | '\'') => value[1..].split(quote).next()?.to_string(),
        _ => value
            .split(" #")
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
    };
    (!text.is_empty()).then_some(text)
}

/// The body section `fxb publish` owns starts and ends with these lines.
const SECTION_BEGIN: &str =
    "<!-- fxb:begin (written by `fxb publish`: edits between these markers are replaced) -->";
const SECTION_END: &str = "<!-- fxb:end -->";

/// What a card says about one published bundle.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct BundleFacts {
    /// Its path in the repository.
    pub file: String,
    pub architecture: String,
    /// Whether its kernels are RNGD code from the vendor compiler
    /// (`versions.furiosa_compiler`); a host-backend build's are not.
    pub rngd: bool,
    /// The `versions` entry of the compiler that made the kernels.
    pub compiler: String,
    pub compiler_version: Option<String>,
    pub compiler_revision: Option<String>,
    pub tensor_parallel_size: u64,
    pub pipeline_parallel_size: u64,
    /// The fingerprint fields, rendered as `check` renders them.
    pub fingerprint: indexmap::IndexMap<String, String>,
    /// Distinct buckets per class (`prefill: 3`, …) and in all.
    pub buckets: indexmap::IndexMap<String, usize>,
    /// Kernel entries in all.
    pub kernels: usize,
}

/// The card `existing` becomes (a new one when `None`): `base_model` set when given (an
/// existing one is kept otherwise), the `fxb:` key and the body section replaced or added,
/// everything else as it was.
pub fn publish_card(
    existing: Option<&str>,
    repo: &str,
    base_model: Option<&str>,
    bundles: &[BundleFacts],
) -> String {
    let (front, body) = match existing.map(split_front_matter) {
        Some((front, body)) => (front, body),
        None => (Vec::new(), String::new()),
    };
    // A `base_model` the card already names is left as it is written.
    let base_model =
        base_model.filter(|b| existing.and_then(self::base_model).as_deref() != Some(*b));
    let mut managed = vec!["fxb"];
    if base_model.is_some() {
        managed.push("base_model");
    }
    let mut lines = without_keys(&front, &managed);
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    if let Some(base) = base_model {
        lines.push(format!("base_model: {}", quoted(base)));
    }
    lines.push("fxb:".into());
    lines.push(format!(
        "  publisher: {}",
        quoted(&format!("fxb {}", env!("CARGO_PKG_VERSION")))
    ));
    lines.push("  bundles:".into());
    for facts in bundles {
        lines.push(format!("  - file: {}", quoted(&facts.file)));
        lines.push(format!("    architecture: {}", quoted(&facts.architecture)));
        lines.push(format!("    rngd: {}", facts.rngd));
        lines.push(format!("    compiler: {}", quoted(&facts.compiler)));
        for (key, value) in [
            ("compiler_version", &facts.compiler_version),
            ("compiler_revision", &facts.compiler_revision),
        ] {
            if let Some(value) = value {
                lines.push(format!("    {key}: {}", quoted(value)));
            }
        }
        lines.push(format!(
            "    tensor_parallel_size: {}",
            facts.tensor_parallel_size
        ));
        lines.push(format!(
            "    pipeline_parallel_size: {}",
            facts.pipeline_parallel_size
        ));
        lines.push(format!("    kernels: {}", facts.kernels));
        lines.push("    buckets:".into());
        for (class, count) in &facts.buckets {
            lines.push(format!("      {class}: {count}"));
        }
        lines.push("    fingerprint:".into());
        for (field, value) in &facts.fingerprint {
            lines.push(format!("      {}: {}", quoted(field), quoted(value)));
        }
    }
    let section = section(repo, bundles);
    let body = match (body.find(SECTION_BEGIN), body.find(SECTION_END)) {
        (Some(start), Some(end)) if end > start => format!(
            "{}{section}{}",
            &body[..start],
            &body[end + SECTION_END.len()..]
        ),
        _ if body.trim().is_empty() => {
            let name = repo.rsplit('/').next().unwrap_or(repo);
            format!("\n# {name}\n\n{section}\n")
        }
        _ => format!("{}\n\n{section}\n", body.trim_end()),
    };
    format!("---\n{}\n---\n{}", lines.join("\n"), body)
}

/// The front matter's lines and the rest of the card (all of it when it has none).
fn split_front_matter(card: &str) -> (Vec<String>, String) {
    let mut lines = card.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return (Vec::new(), card.to_string());
    }
    let mut front = Vec::new();
    let mut consumed = card.split_inclusive('\n').next().map_or(0, str::len);
    for line in lines {
        consumed += line.len();
        if line.trim_end() == "---" {
            return (front, card[consumed..].to_string());
        }
        front.push(line.trim_end_matches(['\n', '\r']).to_string());
    }
    // No closing line: not front matter after all.
    (Vec::new(), card.to_string())
}

/// `lines` without the top-level `keys` and the lines that continue them (indented, list
/// items, blank lines before the next key).
fn without_keys(lines: &[String], keys: &[&str]) -> Vec<String> {
    let mut kept = Vec::new();
    let mut skipping = false;
    for line in lines {
        let top_level =
            !line.is_empty() && !line.starts_with([' ', '\t', '-', '#']) && line.contains(':');
        if top_level {
            let key = line.split(':').next().unwrap_or_default().trim();
            skipping = keys.contains(&key);
        }
        if !skipping {
            kept.push(line.clone());
        }
    }
    kept
}

/// A YAML double-quoted scalar (JSON's escapes are YAML's).
fn quoted(text: &str) -> String {
    serde_json::Value::from(text).to_string()
}

/// The body section: what the bundles are, plainly, and how to use them.
fn section(repo: &str, bundles: &[BundleFacts]) -> String {
    let mut out = vec![
        SECTION_BEGIN.to_string(),
        "## Compiled bundles (FXB)".into(),
        String::new(),
    ];
    out.push("| file | architecture | TP | compiler | buckets | kernels |".into());
    out.push("|---|---|---|---|---|---|".into());
    for b in bundles {
        let compiler = [
            Some(b.compiler.as_str()),
            b.compiler_version.as_deref(),
            b.compiler_revision.as_deref().map(|r| r.trim()),
        ]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
        let buckets = b.buckets.get("total").copied().unwrap_or_default();
        out.push(format!(
            "| `{}` | {} | {} | {} | {} | {} |",
            b.file, b.architecture, b.tensor_parallel_size, compiler, buckets, b.kernels
        ));
    }
    out.push(String::new());
    for b in bundles.iter().filter(|b| !b.rngd) {
        out.push(format!(
            "**Not RNGD code.** `{}` was built by `{}`, not by the vendor compiler: its kernel files carry the kernels' signatures but no RNGD machine code, so it does not run on an NPU. It is for development and testing only.",
            b.file, b.compiler
        ));
        out.push(String::new());
    }
    out.push(format!(
        "Fetch with `fxb download {repo}`, then `fxb check <model>` tells which model it fits (the fingerprint above)."
    ));
    out.push(SECTION_END.into());
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_model_is_read_from_the_front_matter_in_every_spelling() {
        let card = |front: &str| {
            format!("---\nlicense: llama3.1\n{front}\ntags: [x]\n---\n# Model\nbase_model: no\n")
        };
        for front in [
            "base_model: meta-llama/Llama-3.1-8B-Instruct",
            "base_model: \"meta-llama/Llama-3.1-8B-Instruct\"",
            "base_model: 'meta-llama/Llama-3.1-8B-Instruct'  # the original",
            "base_model:\n- meta-llama/Llama-3.1-8B-Instruct\n- other/x",
            "base_model: [meta-llama/Llama-3.1-8B-Instruct, other/x]",
        ] {
            assert_eq!(
                base_model(&card(front)).as_deref(),
                Some("meta-llama/Llama-3.1-8B-Instruct"),
                "{front}"
            );
        }
        assert_eq!(base_model(&card("pipeline_tag: text-generation")), None);
        assert_eq!(base_model("# no front matter\nbase_model: x\n"), None);
        assert_eq!(base_model("---\nbase_model:\n---\n"), None);
    }

    fn facts(rngd: bool) -> BundleFacts {
        BundleFacts {
            file: "llamaforcausallm-a-b-2611230550.fxb".into(),
            architecture: "LlamaForCausalLM".into(),
            rngd,
            compiler: if rngd {
                "furiosa_compiler"
            } else {
                "fxb_host_backend"
            }
            .into(),
            compiler_version: Some("2026.4.0".into()),
            compiler_revision: Some("ae27d44cd8".into()),
            tensor_parallel_size: 8,
            pipeline_parallel_size: 1,
            fingerprint: [
                ("hidden_size".to_string(), "4096".to_string()),
                ("rms_norm_eps".into(), "1e-5".into()),
            ]
            .into_iter()
            .collect(),
            buckets: [("prefill".to_string(), 2usize), ("total".into(), 5)]
                .into_iter()
                .collect(),
            kernels: 9,
        }
    }

    #[test]
    fn a_published_card_carries_base_model_and_the_facts_and_merges_with_what_is_there() {
        let new = publish_card(
            None,
            "org/m",
            Some("meta-llama/Llama-3.1-8B"),
            &[facts(true)],
        );
        assert_eq!(base_model(&new).as_deref(), Some("meta-llama/Llama-3.1-8B"));
        assert!(
            new.starts_with("---\nbase_model: \"meta-llama/Llama-3.1-8B\"\nfxb:\n"),
            "{new}"
        );
        assert!(new.contains("    rngd: true\n"), "{new}");
        assert!(new.contains("# m\n"), "{new}");
        assert!(!new.contains("Not RNGD"), "{new}");

        // A card the user wrote: its keys and text stay, base_model too when none is given.
        let theirs = "---\nlicense: llama3.1\nbase_model:\n- other/base\ntags:\n- x\n---\n# Mine\n\nWords.\n";
        let merged = publish_card(Some(theirs), "org/m", None, &[facts(false)]);
        assert_eq!(base_model(&merged).as_deref(), Some("other/base"));
        assert!(
            merged.contains("license: llama3.1\n") && merged.contains("tags:\n- x\n"),
            "{merged}"
        );
        assert!(merged.contains("# Mine\n\nWords.\n"), "{merged}");
        assert!(merged.contains("**Not RNGD code.**"), "{merged}");
        // Publishing again replaces fxb's parts instead of adding more.
        let again = publish_card(Some(&merged), "org/m", Some("new/base"), &[facts(true)]);
        assert_eq!(again.matches("fxb:\n").count(), 1, "{again}");
        assert_eq!(again.matches(SECTION_BEGIN).count(), 1, "{again}");
        assert_eq!(again.matches("base_model").count(), 1, "{again}");
        assert_eq!(base_model(&again).as_deref(), Some("new/base"));
        assert!(!again.contains("Not RNGD"), "{again}");
        assert!(again.contains("# Mine\n\nWords.\n"), "{again}");
        // A card without front matter gets one; its text is kept.
        let plain = publish_card(Some("# Plain\n"), "org/m", None, &[facts(true)]);
        assert!(
            plain.starts_with("---\nfxb:\n") && plain.contains("# Plain\n"),
            "{plain}"
        );
    }
}
