//! A repository's model card (`README.md`): the `base_model` its YAML front matter names,
//! which the cache index records for a downloaded repository (FORMAT.md §4.3). Only that
//! one key is read, from the front matter's top level; anything else in the card is left
//! alone, and a card without one is no error.

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
}
