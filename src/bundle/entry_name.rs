//! Entry names come from files fxb did not write. Before a name is used as a path it must
//! be a plain relative path inside the bundle: no `..`, no root, no backslash, no NUL, no
//! drive letter. Every reader and writer path goes through [`validate_entry_name`].

/// Check that `name` is a safe relative entry path; on failure, say why.
pub fn validate_entry_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("the name is empty");
    }
    if name.contains('\0') {
        return Err("it contains a NUL byte");
    }
    if name.contains('\\') {
        return Err("it contains a backslash");
    }
    if name.starts_with('/') {
        return Err("it is an absolute path");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err("it starts with a drive letter");
    }
    // A trailing `/` marks a directory entry; the components before it must still be safe.
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for component in trimmed.split('/') {
        match component {
            "" => return Err("it has an empty path component"),
            "." | ".." => return Err("it has a `.` or `..` component"),
            c if c.chars().any(char::is_control) => {
                return Err("it contains a control character");
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::validate_entry_name;

    #[test]
    fn plain_names_pass() {
        for ok in [
            "manifest.json",
            "edfs/first_tokenwise_tw1.edf",
            "edfs/",
            "a/b/c.edf",
        ] {
            assert_eq!(validate_entry_name(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn hostile_names_fail() {
        for bad in [
            "",
            "../x",
            "edfs/../../x",
            "/etc/passwd",
            "edfs\\x.edf",
            "a\0b",
            "C:/x",
            "edfs//x",
            "./x",
            "x\n",
        ] {
            assert!(validate_entry_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
