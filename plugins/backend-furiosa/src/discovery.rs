//! Finding the vendor toolchain the user installed: a Python that imports
//! `furiosa.kernels` (`FXB_FURIOSA_PYTHON`, else `python3` on `PATH`), `furiosa-tcc`
//! (`FXB_FURIOSA_TCC`, else `PATH`) and the ARM cross compiler tcc calls through `PATH`.
//!
//! Discovery never installs anything and never fails: each tool is found (path, version)
//! or missing with the command that installs it, so `fxb backends ls` and a refused build
//! say exactly what to do.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The vendor release this backend's registry mapping was written against.
pub const VENDOR_VERSION: &str = "2026.4.0";
pub const PIP_INSTALL: &str = "pip install furiosa-kernels==2026.4.0 furiosa-tcc==2026.4.0";
const PIP_KERNELS: &str = "pip install furiosa-kernels==2026.4.0 typing-extensions";
const PIP_TCC: &str = "pip install furiosa-tcc==2026.4.0";
pub const APT_INSTALL: &str = "apt-get install gcc-aarch64-linux-gnu libc6-dev-arm64-cross";
pub const CROSS_COMPILER: &str = "aarch64-linux-gnu-gcc";

/// `furiosa-tcc --version`: `tcc v2026.4.0 (b1baffa75), furiosa-compiler 2026.4.0 (ae27d44cd8)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TccVersion {
    /// tcc's own release, which is the furiosa-llm release the manifest records.
    pub llm_version: String,
    pub llm_revision: String,
    pub compiler_version: String,
    pub compiler_revision: String,
}

impl TccVersion {
    /// Parse tcc's version line; `None` when it is not of that form.
    pub fn parse(text: &str) -> Option<TccVersion> {
        let line = text.lines().find(|l| l.trim_start().starts_with("tcc "))?;
        let (tcc, compiler) = line.trim().split_once(", ")?;
        let (llm_version, llm_revision) = release(tcc.strip_prefix("tcc ")?)?;
        let (compiler_version, compiler_revision) =
            release(compiler.strip_prefix("furiosa-compiler ")?)?;
        Some(TccVersion {
            llm_version: llm_version.trim_start_matches('v').to_string(),
            llm_revision,
            compiler_version,
            compiler_revision,
        })
    }
}

/// `2026.4.0 (ae27d44cd8)` → version and revision.
fn release(text: &str) -> Option<(String, String)> {
    let (version, rest) = text.trim().split_once(' ')?;
    let revision = rest.trim().strip_prefix('(')?.strip_suffix(')')?;
    if version.is_empty() || revision.is_empty() || revision.contains(char::is_whitespace) {
        return None;
    }
    Some((version.to_string(), revision.to_string()))
}

/// One tool: where it is and what it said, or why it cannot be used and how to fix that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool<T> {
    pub path: Option<PathBuf>,
    pub found: Result<T, Missing>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub problem: String,
    pub hint: String,
}

/// A Python with `furiosa.kernels`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Python {
    pub version: String,
    pub kernels_version: String,
}

/// Everything discovery found.
#[derive(Debug, Clone)]
pub struct Found {
    pub python: Tool<Python>,
    pub tcc: Tool<TccVersion>,
    pub cross: Tool<()>,
}

impl Found {
    pub fn discover() -> Found {
        Found {
            python: python(),
            tcc: tcc(),
            cross: cross_compiler(),
        }
    }

    /// Every problem, tool by tool (empty when the toolchain is complete).
    pub fn missing(&self) -> Vec<(&'static str, &Missing)> {
        let mut all = Vec::new();
        if let Err(m) = &self.python.found {
            all.push(("furiosa-kernels", m));
        }
        if let Err(m) = &self.tcc.found {
            all.push(("furiosa-tcc", m));
        }
        if let Err(m) = &self.cross.found {
            all.push((CROSS_COMPILER, m));
        }
        all
    }
}

/// `name` in the directories of `PATH`, as a shell would find it.
pub fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `FXB_FURIOSA_<VAR>` when set (an explicit choice, used even when it does not work),
/// else `name` on `PATH`.
fn locate(var: &str, name: &str) -> Result<PathBuf, Missing> {
    if let Some(given) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        let given = PathBuf::from(given);
        return if is_executable(&given) {
            Ok(given)
        } else {
            Err(Missing {
                problem: format!("{var} is `{}`, which is not an executable", given.display()),
                hint: format!("point {var} at one, or unset it to search PATH for `{name}`"),
            })
        };
    }
    on_path(name).ok_or_else(|| Missing {
        problem: format!("`{name}` is not on PATH"),
        hint: String::new(),
    })
}

/// Is the explicit variable or the tool on `PATH` there at all? (Cheap: no process.)
pub fn tcc_present() -> bool {
    locate("FXB_FURIOSA_TCC", "furiosa-tcc").is_ok()
}

fn tcc() -> Tool<TccVersion> {
    let path = match locate("FXB_FURIOSA_TCC", "furiosa-tcc") {
        Ok(path) => path,
        Err(mut missing) => {
            if missing.hint.is_empty() {
                missing.hint = format!("{PIP_TCC}, or point FXB_FURIOSA_TCC at it");
            }
            return Tool {
                path: None,
                found: Err(missing),
            };
        }
    };
    let found = match Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
    {
        Err(e) => Err(Missing {
            problem: format!("`{} --version` did not run: {e}", path.display()),
            hint: format!("reinstall it: {PIP_INSTALL}"),
        }),
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            TccVersion::parse(&text).ok_or_else(|| Missing {
                problem: format!(
                    "`{} --version` printed `{}`, not a tcc version line",
                    path.display(),
                    text.trim()
                ),
                hint: format!("reinstall it: {PIP_INSTALL}"),
            })
        }
    };
    Tool {
        path: Some(path),
        found,
    }
}

/// What the Python probe prints: one JSON line.
const PYTHON_PROBE: &str = r#"
import json, sys
out = {"python": sys.version.split()[0], "ok": sys.version_info >= (3, 10)}
try:
    import importlib.metadata, importlib.util
    if importlib.util.find_spec("furiosa.kernels") is None:
        raise ImportError("no module named 'furiosa.kernels'")
    out["kernels"] = importlib.metadata.version("furiosa-kernels")
except Exception as e:
    out["error"] = str(e)
print(json.dumps(out))
"#;

fn python() -> Tool<Python> {
    let path = match locate("FXB_FURIOSA_PYTHON", "python3") {
        Ok(path) => path,
        Err(mut missing) => {
            if missing.hint.is_empty() {
                missing.hint =
                    "install Python 3.10 or newer, or point FXB_FURIOSA_PYTHON at one".into();
            }
            return Tool {
                path: None,
                found: Err(missing),
            };
        }
    };
    let probe = Command::new(&path)
        .args(["-c", PYTHON_PROBE])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let shown = path.display().to_string();
    let found = match probe {
        Err(e) => Err(Missing {
            problem: format!("`{shown}` did not run: {e}"),
            hint: "point FXB_FURIOSA_PYTHON at a working Python 3.10 or newer".into(),
        }),
        Ok(out) => {
            let answer: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
            let text = |key: &str| answer.get(key).and_then(|v| v.as_str()).map(str::to_string);
            match (text("python"), text("kernels")) {
                (None, _) => Err(Missing {
                    problem: format!("`{shown}` does not answer as a Python"),
                    hint: "point FXB_FURIOSA_PYTHON at a working Python 3.10 or newer".into(),
                }),
                (Some(version), _) if answer.get("ok") != Some(&serde_json::Value::Bool(true)) => {
                    Err(Missing {
                        problem: format!(
                            "`{shown}` is Python {version}; furiosa-kernels needs 3.10 or newer"
                        ),
                        hint: "point FXB_FURIOSA_PYTHON at a newer Python".into(),
                    })
                }
                (Some(version), None) => Err(Missing {
                    problem: format!(
                        "`{shown}` (Python {version}) cannot import `furiosa.kernels`{}",
                        text("error").map(|e| format!(": {e}")).unwrap_or_default()
                    ),
                    hint: format!(
                        "{shown} -m {PIP_KERNELS}, or point FXB_FURIOSA_PYTHON at the Python that has it"
                    ),
                }),
                (Some(version), Some(kernels_version)) => Ok(Python {
                    version,
                    kernels_version,
                }),
            }
        }
    };
    Tool {
        path: Some(path),
        found,
    }
}

fn cross_compiler() -> Tool<()> {
    let Some(path) = on_path(CROSS_COMPILER) else {
        return Tool {
            path: None,
            found: Err(Missing {
                problem: format!("`{CROSS_COMPILER}` (furiosa-tcc runs it) is not on PATH"),
                hint: APT_INSTALL.into(),
            }),
        };
    };
    // Debian's cross compiler finds its C library here; without it tcc's link step fails.
    let debian_libc = Path::new("/usr/aarch64-linux-gnu/include/stdio.h");
    let found = if path.starts_with("/usr/bin") && !debian_libc.exists() {
        Err(Missing {
            problem: format!(
                "`{}` has no C library (`{}` is missing)",
                path.display(),
                debian_libc.display()
            ),
            hint: APT_INSTALL.into(),
        })
    } else {
        Ok(())
    };
    Tool {
        path: Some(path),
        found,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcc_version_line_gives_both_releases() {
        let v = TccVersion::parse(
            "tcc v2026.4.0 (b1baffa75), furiosa-compiler 2026.4.0 (ae27d44cd8)\n",
        )
        .expect("parses");
        assert_eq!(v.llm_version, "2026.4.0");
        assert_eq!(v.llm_revision, "b1baffa75");
        assert_eq!(v.compiler_version, "2026.4.0");
        assert_eq!(v.compiler_revision, "ae27d44cd8");
        assert_eq!(TccVersion::parse("tcc 1.0"), None);
        assert_eq!(TccVersion::parse("tcc v1 (), furiosa-compiler 2 (x)"), None);
    }
}
