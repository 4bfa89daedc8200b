//! What interrupted processes leave behind. fxb writes through temp files and staging
//! directories named with the creating process's id (`.x.fxb.<pid>.<random>.tmp`,
//! `.fxb-build-<pid>-<random>`), so a later run can tell a leftover of a killed process
//! (SIGKILL, power loss: no chance to clean up) from the work of one still running, and
//! remove only the former.

use std::path::Path;

/// The pid in `{prefix}{pid}…`, if `name` starts with `prefix` and digits follow.
pub fn owner(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Whether process `pid` is certainly gone. Without `/proc` nothing is certain: `false`.
fn gone(pid: u32) -> bool {
    pid != std::process::id()
        && Path::new("/proc/self").exists()
        && !Path::new("/proc").join(pid.to_string()).exists()
}

/// Remove the entries of `dir` named `{prefix}{pid}…` (files must end in `.tmp`) whose
/// process is gone. Best effort: what cannot be removed stays for the next run.
pub fn remove_dead(dir: &Path, prefixes: &[&str]) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = prefixes.iter().find_map(|prefix| owner(&name, prefix)) else {
            continue;
        };
        if !gone(pid) {
            continue;
        }
        let path = entry.path();
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        let removed = if is_dir {
            std::fs::remove_dir_all(&path)
        } else if name.ends_with(".tmp") {
            std::fs::remove_file(&path)
        } else {
            continue;
        };
        match removed {
            Ok(()) => tracing::info!(
                "removed `{}`, left by an interrupted process ({pid})",
                path.display()
            ),
            Err(e) => tracing::debug!("could not remove `{}`: {e}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_read_from_names() {
        assert_eq!(owner(".fxb-build-1234-abc", ".fxb-build-"), Some(1234));
        assert_eq!(owner(".x.fxb.77.Ab3.tmp", ".x.fxb."), Some(77));
        assert_eq!(owner(".x.fxb.Ab3.tmp", ".x.fxb."), None);
        assert_eq!(owner("model.fxb", ".fxb-build-"), None);
    }

    #[test]
    fn only_leftovers_of_dead_processes_go() {
        let dir = tempfile::tempdir().expect("dir");
        // pid 4294967 is beyond Linux's pid range: certainly gone.
        let dead = dir.path().join(".x.fxb.4294967.abc.tmp");
        let mine = dir
            .path()
            .join(format!(".x.fxb.{}.abc.tmp", std::process::id()));
        let not_temp = dir.path().join(".x.fxb.4294967.abc");
        for path in [&dead, &mine, &not_temp] {
            std::fs::write(path, b"x").expect("write");
        }
        std::fs::create_dir(dir.path().join(".fxb-build-4294967-q")).expect("dir");
        remove_dead(dir.path(), &[".x.fxb.", ".fxb-build-"]);
        assert!(!dead.exists());
        assert!(mine.exists() && not_temp.exists());
        assert!(!dir.path().join(".fxb-build-4294967-q").exists());
    }
}
